"""The eye stage: lids that close by sliding the photo's own lid skin and lashes, an iris that turns.

The 3DMM flow maps a closing lid onto the thin band of lid the open eye shows, a stretch so
strong that the lid had to be repainted with blurred skin (fill.stretch_layer). So the flow is
built for the target with the photo's own blink, wide and gaze weights (`flow_target`: the eyes
move with the head and the squint's cheek), and `eye_stage` then moves them in image space at the
photo's full resolution, per eye, in the eye's own axes (corner to corner, and up):
- lids: the band between the lid and a line above it (brow side) slides as a whole, the lash
  line landing where the mesh's closure fraction puts it (mildly stretched skin, the lashes
  kept); inside the target's opening the eyeball stays where it was (the lid covers it, nothing
  squeezed); an opening wider than the photo's spreads the eyeball's rows over it;
- iris: the iris disc (MediaPipe's iris on the photo, else the darkest iris-sized disc) moves by
  r * (sin target angle - sin photo angle), r the radius the tracker reads gaze with
  (morphable.fit.gaze_read), the turn (both angles) shared by both eyes, kept inside the opening; the sclera
  behind it is stretched from the sclera beside it, the one in front compressed.
The photo's lids are MediaPipe's lid contours (found once per photo: Scene.eyes), carried into the output by the
eye landmarks' affine motion; the fitted mesh's lids where MediaPipe finds no face.
"""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Sequence

import numba
import numpy as np
import torch
import torch.nn.functional as F

from morphable.arkit import expression_index
from morphable.fit.gaze_read import EYE_RADIUS
from morphable.gaze import EYES, LOOK_NAMES, eye_angles
from morphable.params import FaceParams

from .flow import Flow

if TYPE_CHECKING:
    from .scene import Scene

#: weights the eye stage draws (the flow gets the photo's own values of them); eyeSquint stays in the flow,
#: which raises the cheek and lower lid with it (drawn by the stage, it closed the eyes less than dlib saw)
LID_NAMES: tuple[str, ...] = tuple(f"eye{k}{e}" for e in EYES for k in ("Blink", "Wide"))
#: iBUG-68 landmarks of each eye, in EYES order (the subject's left eye is the image's right):
#: (first corner, upper 1, upper 2, second corner, lower 2, lower 1), lower k under upper k
EYE_POINTS = {"Left": (42, 43, 44, 45, 46, 47), "Right": (36, 37, 38, 39, 40, 41)}
#: the sliding band above the upper lid and below the lower lid, in eye widths
UPPER_BAND, LOWER_BAND = 0.4, 0.3
#: the upper lash band's height above the lid's margin and the lid's fold above the margin, in eye widths
LASH_BAND, CREASE = 0.12, 0.3
#: how much a shut lid's lash band is squeezed (its lashes fold over the margin into a dark line)
LID_SQUEEZE = 0.5
#: a shut lid's skin is the photo's lid skin this far under the fold (eye widths), stretched
LID_SKIN = 0.06
#: the lid's squeeze fades out over this share of the eye's width at each corner
CORNER_TAPER = 0.15
#: the lower lid's rim (waterline) hidden under a shut upper lid's lashes, in eye widths
LOWER_RIM = 0.08
#: the iris centre's distance from the eye's centre of rotation, in eye widths: the one the tracker reads
#: gaze with (so a read shift is drawn back as the same shift)
EYEBALL_RADIUS = EYE_RADIUS
#: the iris radius in eye widths (about 5.9 mm on a 30 mm wide eye), where MediaPipe gives none
IRIS_RADIUS = 0.19
#: an eye is opened to at most this multiple of the photo's opening (a photo's half-shut eye the driver opens): past
#: 1.5 a half-shut eye with no eyeball to show opened as a dark smeared band above the lashes (xportrait, looked at)
MAX_OPENING = 1.5
#: gaze changes below this many px are not drawn
MIN_SHIFT_PX = 0.3


#: the weights the eye stage draws: the flow keeps the photo's values of them
DRAWN: tuple[str, ...] = LID_NAMES + LOOK_NAMES


def flow_target(photo: FaceParams, target: FaceParams, names: Sequence[str] = DRAWN) -> FaceParams:
    """`target` with the photo's weights `names` (default: lids and gaze, so the 3DMM flow moves the eyes only
    rigidly and eye_stage draws them); `target` itself when there are none."""
    if not names:
        return target
    idx = torch.tensor([expression_index(n) for n in names])
    expr = target.expression.clone()
    expr[:, idx] = photo.expression[:1, idx].to(expr.dtype)
    return target.replace(expression=expr)


def _polyline(t: torch.Tensor, knots: torch.Tensor) -> torch.Tensor:
    """Lid height at axis positions t (0..1) through (t, v) knots (K,2) sorted by t; 0 outside the corners."""
    tk, vk = knots[:, 0], knots[:, 1]
    if t.dtype == knots.dtype == torch.float32 and len(tk) >= 2:
        # one compiled loop (_polyline_loop): the same float32 steps as the tensor version below, without its
        # ~17 tensor ops per call (20 calls a frame on the eyes' boxes)
        out = np.empty(t.shape, np.float32)
        _polyline_loop(np.ascontiguousarray(t.numpy()).reshape(-1), np.ascontiguousarray(tk.numpy()),
                       np.ascontiguousarray(vk.numpy()), out.reshape(-1))
        return torch.from_numpy(out)
    tc = t.clamp(float(tk[0]), float(tk[-1]))
    i = torch.searchsorted(tk.contiguous(), tc.contiguous()).clamp(1, len(tk) - 1)
    t0, t1, v0, v1 = tk[i - 1], tk[i], vk[i - 1], vk[i]
    v = v0 + (v1 - v0) * ((tc - t0) / (t1 - t0).clamp_min(1e-6))
    return torch.where((t < tk[0]) | (t > tk[-1]), torch.zeros_like(v), v)


@numba.njit(cache=True, nogil=True)
def _polyline_loop(t, tk, vk, out):
    """_polyline over flat float32 `t` into `out`: searchsorted (left), interpolate, 0 outside [tk[0], tk[-1]]."""
    k = tk.shape[0]
    lo, hi = tk[0], tk[k - 1]
    tiny = np.float32(1e-6)
    for n in range(t.shape[0]):
        x = t[n]
        if x < lo or x > hi:
            out[n] = np.float32(0.0)
            continue
        i = 0
        while i < k and tk[i] < x:       # first knot >= x (k is a handful)
            i += 1
        i = min(max(i, 1), k - 1)
        gap = tk[i] - tk[i - 1]
        if gap < tiny:
            gap = tiny
        out[n] = vk[i - 1] + (vk[i] - vk[i - 1]) * ((x - tk[i - 1]) / gap)


class EyeFrame:
    """One eye's axes in photo px: origin at the corners' midpoint, `axis` corner to corner, `up`."""

    def __init__(self, corner_a: torch.Tensor, corner_b: torch.Tensor):
        a, b = (corner_a, corner_b) if float(corner_a[0]) <= float(corner_b[0]) else (corner_b, corner_a)
        self.origin = (a + b) / 2
        self.width = float(torch.linalg.norm(b - a))
        self.axis = (b - a) / max(self.width, 1e-6)
        self.up = torch.stack([self.axis[1], -self.axis[0]])

    def local(self, xy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(t in 0..1 from corner to corner, v in px up from the axis) of photo points (...,2)."""
        d = xy - self.origin
        return (d @ self.axis) / self.width + 0.5, d @ self.up

    def photo(self, t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Photo points (...,2) of local coordinates."""
        return self.origin + ((t - 0.5) * self.width)[..., None] * self.axis + v[..., None] * self.up

    def lids(self, pts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Upper and lower lid knots (4,2) in (t, v) from the six eye points (6,2) in EYE_POINTS order."""
        t, v = self.local(pts)
        up = torch.stack([t[[0, 1, 2, 3]], v[[0, 1, 2, 3]]], -1)
        lo = torch.stack([t[[0, 5, 4, 3]], v[[0, 5, 4, 3]]], -1)
        up, lo = up[up[:, 0].argsort()], lo[lo[:, 0].argsort()]
        up[[0, -1], 1] = 0.0
        lo[[0, -1], 1] = 0.0
        return up, lo


def iris_centre(image: torch.Tensor, eye: EyeFrame, upper: torch.Tensor, lower: torch.Tensor,
                radius: float) -> tuple[float, float] | None:
    """(t, v) of the darkest iris-sized disc whose centre lies inside the opening, or None when it is shut."""
    w = eye.width
    ts = torch.linspace(0.15, 0.85, max(8, int(w * 0.7)))
    vmax = float(upper[:, 1].max())
    vmin = float(lower[:, 1].min())
    if vmax - vmin < 0.12 * w:
        return None
    vs = torch.linspace(vmin, vmax, max(4, int(vmax - vmin) + 1))
    tt, vv = torch.meshgrid(ts, vs, indexing="ij")
    inside = (vv < _polyline(tt, upper)) & (vv > _polyline(tt, lower))
    if not bool(inside.any()):
        return None
    grey = image.mean(0)[None, None]
    h, wd = grey.shape[-2:]
    # mean grey over a disc of `radius` around each candidate (12 rim + centre samples)
    ang = torch.linspace(0, 2 * np.pi, 13)[:-1]
    offs = torch.cat([torch.zeros(1, 2), 0.6 * radius * torch.stack([ang.cos(), ang.sin()], -1)])
    centres = eye.photo(tt, vv)                                   # (T,V,2)
    pts = centres[None] + offs[:, None, None, :]                  # (13,T,V,2)
    g = torch.stack([pts[..., 0] / wd * 2 - 1, pts[..., 1] / h * 2 - 1], -1)
    vals = F.grid_sample(grey, g.reshape(1, -1, 1, 2), align_corners=False).reshape(pts.shape[:-1]).mean(0)
    vals = torch.where(inside, vals, torch.full_like(vals, float("inf")))
    k = int(vals.argmin())
    return float(tt.reshape(-1)[k]), float(vv.reshape(-1)[k])


def _eye_map(image: torch.Tensor, eye: EyeFrame, now: tuple[torch.Tensor, torch.Tensor],
             want: tuple[torch.Tensor, torch.Tensor], shift: torch.Tensor, iris: tuple[float, float],
             radius: float) -> tuple[slice, slice, torch.Tensor] | None:
    """The backward sample grid over one eye's box: lids from `now` (the image's lids) to `want`, the iris
    disc at `iris` (t, v) of `radius` px moved by `shift` (px along the eye's axis and up)."""
    h, wd = image.shape[-2:]
    w = eye.width
    up_o, lo_o = now
    up_b, lo_b = want
    top = float(torch.maximum(up_o[:, 1], up_b[:, 1]).max()) + UPPER_BAND * w
    bottom = float(torch.minimum(lo_o[:, 1], lo_b[:, 1]).min()) - LOWER_BAND * w
    corners = eye.photo(torch.tensor([-0.05, -0.05, 1.05, 1.05]), torch.tensor([bottom, top, bottom, top]))
    x0, y0 = (int(np.floor(float(c))) - 1 for c in corners.min(0).values)
    x1, y1 = (int(np.ceil(float(c))) + 1 for c in corners.max(0).values)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, wd), min(y1, h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    ys, xs = torch.meshgrid(torch.arange(y0, y1, dtype=torch.float32) + 0.5,
                            torch.arange(x0, x1, dtype=torch.float32) + 0.5, indexing="ij")
    t, v = eye.local(torch.stack([xs, ys], -1))
    uo, lo, ub, lb = (_polyline(t, k[:, :2]) for k in (up_o, lo_o, up_b, lo_b))
    ub = torch.maximum(ub, lb)            # a closed eye: the lids meet
    topv = torch.maximum(uo, ub) + UPPER_BAND * w
    botv = torch.minimum(lo, lb) - LOWER_BAND * w
    vs = v                                # (never written in place: each step below makes a new tensor)
    upper = (v >= ub) & (v <= topv)
    # the lash band (LASH_BAND above the lid's margin) moves with the margin, squeezed as the eye shuts
    # (LID_SQUEEZE: the lashes fold over the margin into a dark line); the lid's skin between it and the fold
    # (CREASE above the margin) unfolds (closing) or folds (opening), and the fold and the skin above it stay,
    # as a real lid's do. (Sliding the fold down with the lashes drew it as a second dark line that dlib took
    # for a shut eye's upper lid, squeezed with them it drew a roof-shaped line over the eye.)
    # how far the eye shuts, tapered to 0 over the last CORNER_TAPER of the width at each corner (nothing moves
    # beyond the corners)
    widest = max(float(up_o[:, 1].max() - lo_o[:, 1].min()), 1e-3)
    closure = float(np.clip(1.0 - float(torch.maximum(up_b[:, 1], lo_b[:, 1]).max() - lo_b[:, 1].min()) / widest,
                            0.0, 1.0))
    shut = closure * (torch.minimum(t, 1.0 - t) / CORNER_TAPER).clamp(0.0, 1.0)
    lash = LASH_BAND * w
    lash_out = lash * (1.0 - LID_SQUEEZE * shut)
    c_src = uo + CREASE * w
    c_out = torch.maximum(c_src, ub + lash_out + 0.05 * w)
    lash_v = uo + (v - ub) * lash / lash_out
    # the unfolded lid is drawn from the skin just under the fold (the band above the lashes, stretched, drew
    # the long lashes of some photos as streaks): its source starts lower the more the eye shuts
    s0 = uo + lash + shut * (c_src - LID_SKIN * w - uo - lash)
    skin_v = s0 + (v - ub - lash_out) * (c_src - s0) / (c_out - ub - lash_out).clamp_min(1e-3)
    brow_v = c_src + (v - c_out) * (topv - c_src) / (topv - c_out).clamp_min(1e-3)
    y = torch.where(v <= ub + lash_out, lash_v, torch.where(v <= c_out, skin_v, brow_v))
    vs = torch.where(upper, y, vs)
    lower = (v <= lb) & (v >= botv)
    # a closing eye's upper lashes cover the lower lid's rim (its bright waterline): the rows under the rim move up
    rim = LOWER_RIM * w * shut
    vs = torch.where(lower, botv + (v - botv) * (lo - rim - botv) / (lb - botv).clamp_min(1e-3), vs)
    opening = (v > lb) & (v < ub)
    # an opening wider than the image's: the eyeball's rows spread over it (rather than its edge repeated)
    wider = opening & ((ub - lb) > (uo - lo) + 0.5)
    vs = torch.where(wider, lo + (v - lb) * (uo - lo) / (ub - lb).clamp_min(1e-3), vs)
    ts = t
    if float(shift.norm()) >= MIN_SHIFT_PX and bool(opening.any()):
        # the iris disc reads from `shift` back; the weight falls to 0 toward the corners
        cen, r = iris, radius
        dist = torch.hypot((t - cen[0]) * w - shift[0], v - cen[1] - shift[1])
        reach = r + float(shift.norm()) + 0.2 * w
        wt = ((reach - dist) / max(reach - r, 1e-3)).clamp(0.0, 1.0) * opening.float()
        ts = torch.where(opening, ts - wt * shift[0] / w, ts)
        vs = torch.where(opening, vs - wt * shift[1], vs)
    # samples inside the opening stay inside the image's opening (never the lid's skin)
    uo_s, lo_s = _polyline(ts, up_o[:, :2]), _polyline(ts, lo_o[:, :2])
    inside_s = torch.minimum(torch.maximum(vs, lo_s + 0.5), uo_s - 0.5)
    vs = torch.where(opening & (uo_s - lo_s > 1.0), inside_s, vs)
    src = eye.photo(ts, vs)
    return slice(y0, y1), slice(x0, x1), src


#: MediaPipe mesh rows of each eye's lids, corner to corner (upper, lower), in EYES order
MP_LIDS = {"Left": ((362, 398, 384, 385, 386, 387, 388, 466, 263), (362, 382, 381, 380, 374, 373, 390, 249, 263)),
           "Right": ((33, 246, 161, 160, 159, 158, 157, 173, 133), (33, 7, 163, 144, 145, 153, 154, 155, 133))}


@lru_cache(maxsize=1)
def _mediapipe():
    """The one MediaPipe face mesh the eye stage reads photos with (made on first use)."""
    from morphable.landmarks_mp import MediaPipeBackend

    return MediaPipeBackend(max_faces=1)


def photo_eyes(pixels: np.ndarray) -> dict | None:
    """The photo's own lids and irises (MediaPipe) in the px of `pixels` (the warped window), or None
    when MediaPipe is missing or finds no face. Slow: the rig's Scene.eyes asks once per photo."""
    try:
        faces = _mediapipe().detect(pixels)
        if not faces or faces[0].mesh is None:
            return None
        det = faces[0]
        found = {}
        for k, name in enumerate(EYES):
            up, lo = MP_LIDS[name]
            iris = None
            if det.iris is not None:
                rim = det.iris[k, 1:] - det.iris[k, 0]
                iris = (torch.as_tensor(det.iris[k, 0], dtype=torch.float32),
                        float(np.linalg.norm(rim, axis=1).mean()))
            found[name] = (torch.as_tensor(det.mesh[list(up)], dtype=torch.float32),
                           torch.as_tensor(det.mesh[list(lo)], dtype=torch.float32), iris)
        return found
    except Exception:  # noqa: BLE001 -- no MediaPipe or no face: the mesh's own lids are used
        return None


def _affine(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """(2,3) least-squares affine map of points src (N,2) onto dst (N,2)."""
    a = torch.cat([src, torch.ones(len(src), 1)], 1).double()
    sol = torch.linalg.lstsq(a, dst.double()).solution          # (3,2)
    return sol.T.float()


def _apply(m: torch.Tensor, pts: torch.Tensor) -> torch.Tensor:
    return pts @ m[:, :2].T + m[:, 2]


def _knots(eye: EyeFrame, pts: torch.Tensor) -> torch.Tensor:
    """(K,2) (t, v) knots of a lid polyline (K,2) px, sorted, the ends pinned to the axis."""
    t, v = eye.local(pts)
    k = torch.stack([t, v], -1)
    k = k[k[:, 0].argsort()]
    k[[0, -1], 1] = 0.0
    return k


def landmark_basis(model, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The model's template, identity and expression basis at vertex `rows` (what _landmark_vertices reads;
    a Scene keeps them for the iBUG-68 rows)."""
    return model.template[rows], model.identity_basis[:, rows], model.expression_basis[:, rows]


def _landmark_vertices(model, params: FaceParams, rows: torch.Tensor,
                       basis: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Posed vertices (R,3) of the first params row at vertex `rows` only (model.vertices for a few rows);
    `basis`: landmark_basis(model, rows), when already taken."""
    from morphable.pose import euler_to_matrix

    template, identity_basis, expression_basis = landmark_basis(model, rows) if basis is None else basis
    ident = params.identity[:1] * model.identity_std
    shape = (template + torch.einsum("bk,kvc->bvc", ident, identity_basis)
             + torch.einsum("bk,kvc->bvc", params.expression[:1], expression_basis))
    rot = euler_to_matrix(params.yaw[:1], params.pitch[:1], params.roll[:1])
    return (shape @ rot.transpose(1, 2) + params.translation[:1, None, :])[0]


def eye_inputs(scene: Scene) -> tuple:
    """What eye_stage reads of the photo alone: the iBUG-68 rows, their landmark_basis, the photo's landmarks
    in window px and its eye angles (Scene.eye_inputs keeps them)."""
    builder = scene.builder
    model, s = builder.model, builder.size
    x0, y0, side = (float(v) for v in scene.frame)
    lm = model.landmarks.long()
    xy = scene.source.xy[lm]
    src_xy = torch.stack([x0 + xy[:, 0] * side / s, y0 + xy[:, 1] * side / s], -1)
    return lm, landmark_basis(model, lm), src_xy, eye_angles(scene.params.expression[:1].float())


def eye_stage(scene: Scene, image: torch.Tensor, target: FaceParams, flow: Flow, in_place: bool = False
              ) -> torch.Tensor:
    """(3,H,W) window warped for `flow_target` (flow: its rig.photo.flow.Flow) -> with `target`'s lids and gaze;
    `image` itself when nothing is drawn, else a copy (`in_place`: `image`, changed)."""
    builder = scene.builder
    model = builder.model
    s = builder.size
    x0, y0, side = (float(v) for v in scene.frame)
    lm, basis, src_xy, photo_angles = scene.eye_inputs

    def to_px(xy: torch.Tensor) -> torch.Tensor:
        return torch.stack([x0 + xy[:, 0] * side / s, y0 + xy[:, 1] * side / s], -1)

    now_xy = to_px(flow.target.xy[lm])
    p = target[0].to(dtype=torch.float32)
    want_xy = to_px(builder.camera.project(_landmark_vertices(model, p, lm, basis)[None], s)[0])
    d_ang = torch.deg2rad(eye_angles(target.expression[:1].float()) - photo_angles)[0]
    # the eyes turn together (no vergence): each eye's reading of one gaze is noisy (MediaPipe's irises on a driver
    # read one eye turning in while the other turns out by 4-10 degrees on aniportrait), so both take their mean
    d_ang[:] = d_ang.mean(0, keepdim=True)
    moves = False
    for name in EYES:
        idx = list(EYE_POINTS[name])
        lid_now, lid_want = now_xy[idx][[1, 2, 4, 5]], want_xy[idx][[1, 2, 4, 5]]
        moves = moves or float((lid_want - lid_now).norm(dim=1).max()) > 0.05
    if not moves and float(d_ang.abs().max()) < 1e-3:
        return image                                  # nothing to draw: no MediaPipe look at the photo
    seen = scene.eyes
    out = image
    for k, name in enumerate(EYES):
        idx = list(EYE_POINTS[name])
        mesh_eye = EyeFrame(now_xy[idx[0]], now_xy[idx[3]])
        if mesh_eye.width < 4:
            continue
        m_now, m_want = mesh_eye.lids(now_xy[idx]), mesh_eye.lids(want_xy[idx])
        iris = None
        if seen is not None:
            move = _affine(src_xy[idx], now_xy[idx])       # photo -> this output, the eye's rigid motion
            up_px, lo_px = _apply(move, seen[name][0]), _apply(move, seen[name][1])
            eye = EyeFrame(up_px[0], up_px[-1])
            now = (_knots(eye, up_px), _knots(eye, lo_px))
            if seen[name][2] is not None:
                c = _apply(move, seen[name][2][0][None])[0]
                scale = float(torch.linalg.det(move[:, :2]).abs().sqrt())
                t_i, v_i = eye.local(c)
                iris = (float(t_i), float(v_i)), seen[name][2][1] * scale
        else:
            eye, now = mesh_eye, m_now
        # the mesh says how much each lid closes: fraction f of the opening kept, the upper lid's share a
        o_now = float((m_now[0][1:-1, 1] - m_now[1][1:-1, 1]).mean())
        o_want = float((m_want[0][1:-1, 1] - m_want[1][1:-1, 1]).mean())
        du = float((m_want[0][1:-1, 1] - m_now[0][1:-1, 1]).mean())
        dl = float((m_want[1][1:-1, 1] - m_now[1][1:-1, 1]).mean())
        f = float(np.clip(o_want / max(o_now, 1e-3), 0.0, MAX_OPENING))
        a = float(np.clip(-du / (abs(du) + abs(dl) + 1e-6), 0.0, 1.0)) if f < 1 else \
            float(np.clip(du / (abs(du) + abs(dl) + 1e-6), 0.0, 1.0))
        up_k, lo_k = now
        gap_u = up_k[:, 1] - _polyline(up_k[:, 0], lo_k)
        gap_l = _polyline(lo_k[:, 0], up_k) - lo_k[:, 1]
        want = (torch.stack([up_k[:, 0], up_k[:, 1] - (1 - f) * gap_u * a], -1),
                torch.stack([lo_k[:, 0], lo_k[:, 1] + (1 - f) * gap_l * (1 - a)], -1))
        yaw, pitch = float(d_ang[k, 0]), float(d_ang[k, 1])
        rad = EYEBALL_RADIUS * eye.width
        # yaw > 0 turns toward image right, pitch > 0 looks up (morphable.gaze)
        shift = torch.tensor([rad * np.sin(yaw), rad * np.sin(pitch)])
        ri = IRIS_RADIUS * eye.width
        if float(shift.norm()) >= MIN_SHIFT_PX:
            if iris is None:
                found = iris_centre(out, eye, *now, ri)
            else:
                found, ri = iris
        else:
            found = None
        if found is None:
            shift = torch.zeros(2)
            found = (0.5, 0.0)
        else:
            # keep the moved centre inside the opening
            margin = min(ri / eye.width + 0.05, 0.45)
            tnew = float(np.clip(found[0] + float(shift[0]) / eye.width, margin, 1 - margin))
            hi = float(_polyline(torch.tensor([tnew]), now[0])[0])
            lo = float(_polyline(torch.tensor([tnew]), now[1])[0])
            vnew = float(np.clip(found[1] + float(shift[1]), min(lo, hi), max(lo, hi)))
            shift = torch.tensor([(tnew - found[0]) * eye.width, vnew - found[1]])
        if abs(1 - f) * float(gap_u.max()) < 0.3 and float(shift.norm()) < MIN_SHIFT_PX:
            continue
        got = _eye_map(out, eye, now, want, shift, found, ri)
        if got is None:
            continue
        rows, cols, src = got
        h, w = out.shape[-2:]
        g = torch.stack([src[..., 0] / w * 2 - 1, src[..., 1] / h * 2 - 1], -1)[None]
        patch = F.grid_sample(out[None], g, mode="bilinear", padding_mode="border", align_corners=False)[0]
        if out is image and not in_place:
            out = image.clone()
        out[:, rows, cols] = patch
    return out
