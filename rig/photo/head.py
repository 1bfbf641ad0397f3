"""Head proxy: the rigid head motion beyond the face's fixed flow, a soft target for the smooth extension.

Only the face, eye and mouth triangles give fixed flow values, and those stop inside the fitted
outline (rig.photo.flow.OUTLINE_MARGIN_PX); the cheek band at the outline, the jaw line, ears and
hair followed a turn only through the harmonic extension, and the render showed ~0.6 of the turn
it was given (docs/tracking.md, "Head pose"). The proxy gives every target pixel outside the
fixed region a displacement: on the face region's band the mesh's own flow (expression included);
on the rest of the mesh (ears, scalp, the side of the head) the rigid source->target motion of
the mesh's depth, smoothed (the fitted ears and neck do not match the photo's; their own flow drew
torn, stretched ears); beyond the mesh's outline (hair) the motion of the head's centre (a round
head's outline stays where it is as it turns about its centre), and so does the mesh's own silhouette on
the side turning away, the mesh's motion falling to the centre's toward it. A weight says how strongly the
extension (rig.photo.extend) follows it: full on the head, fading over a hair margin beyond the
mesh, below the jaw (the neck turns less than the head) and toward the frame's still edge, and
scaled by how far the pose moves: with the pose unchanged there is no proxy, so an expression
edit is drawn as without it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from scipy.ndimage import distance_transform_edt

from morphable.camera import Camera

from .soft import blur

#: the proxy's weight at the working size S = 128 (the screened extension's data term against the
#: 5-point Laplacian's 4; at 1 the fill dragged the face's edge 2-3 px along with the cheek beside it,
#: at 4 it follows the proxy's step at the silhouette)
HEAD_WEIGHT = 4.0
#: beyond the mesh's outline the weight fades to 0 over this many px (S = 128): hair, then background
HAIR_PX = 14.0
#: the head's depth is the mesh's z-buffer blurred by this sigma (px at S = 128; ears and the silhouette's
#: step smoothed away), falling to the plane through the head's centre beyond the mesh
DEPTH_BLUR_PX = 4.0
#: below the jaw (rig.photo.head.JawPlane) the weight fades to 0 over this distance (metres): the neck turns
#: less than the head
NECK_FADE_M = 0.03
#: the weight fades to 0 over this many px (S = 128) toward the frame's edge, where the extension is held still
BORDER_PX = 8.0
#: the weight map is blurred by this sigma (px at S = 128)
WEIGHT_BLUR_PX = 3.0
#: the proxy's displacement is smoothed (weighted) by this sigma (px at S = 128)
DISP_BLUR_PX = 1.5
#: a rigid motion moving the head less than this (px at S = 128) gets a proportionally smaller weight
RAMP_PX = 1.0
#: on the side turning away, the mesh's motion falls to the head centre's over about this many px (S = 128)
#: inside its silhouette
SILHOUETTE_PX = 8.0


@dataclass(eq=False)
class HeadProxy:
    """Displacement (2,S,S) toward the source and its weight (S,S) for the extension; weight 0: no hint."""

    disp: torch.Tensor
    weight: torch.Tensor


def rigid_map(src_rot: torch.Tensor, src_t: torch.Tensor, tgt_rot: torch.Tensor,
              tgt_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(R, t) taking a posed target point to the same head point posed at the source: p_s = R p_t + t."""
    rot = src_rot @ tgt_rot.T
    return rot, src_t - rot @ tgt_t


def roll_part(rot: torch.Tensor) -> torch.Tensor:
    """(3,3) the turn of `rot` about the camera's axis (z) alone (its twist): a head's outline turns with a roll, but
    stays where it is as the head turns sideways or nods."""
    a = torch.atan2(rot[1, 0] - rot[0, 1], rot[0, 0] + rot[1, 1])
    c, s = torch.cos(a), torch.sin(a)
    z, o = torch.zeros_like(a), torch.ones_like(a)
    return torch.stack([torch.stack([c, -s, z]), torch.stack([s, c, z]), torch.stack([z, z, o])])


def _smoothstep(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _blur_half(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """(C,n,n) maps blurred by `sigma` (px) on a half-size grid: a quarter of the cost, for maps that vary over
    many px."""
    n = x.shape[-1]
    small = blur(F.avg_pool2d(x[None], 2, ceil_mode=True)[0], sigma / 2.0)
    return F.interpolate(small[None], scale_factor=2, mode="bilinear", align_corners=False)[0, :, :n, :n]


def ray_points(camera: Camera, size: int, rows: torch.Tensor, cols: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """(P,3) points where the rays through pixel centres (rows, cols) reach model z `z` (P,)."""
    half = size / 2.0
    scale = (camera.distance - z) * camera.tan_half_fov / half
    x = (cols.float() + 0.5 - half) * scale
    y = (half - rows.float() - 0.5) * scale
    return torch.stack([x, y, z], -1)


@dataclass(frozen=True)
class JawPlane:
    """The plane through the jaw contour's ends and the chin (head coordinates): the neck lies below it and
    below the contour's ends (behind the ears the plane would cut through the head). It leans back from
    the chin, so the neck under the jaw is soon below it (a fade by height under the jaw line itself let
    the neck under the jaw's angle turn with the head and tore it from the neck below: looked at)."""

    point: torch.Tensor    # (3,)
    normal: torch.Tensor   # (3,) unit, toward the crown
    top: float             # model y of the contour's ends

    @classmethod
    def of(cls, left: torch.Tensor, right: torch.Tensor, chin: torch.Tensor) -> "JawPlane":
        """From the contour's ends and the chin (template, iBUG 0, 16 and 8), made left-right symmetric."""
        mirror = torch.tensor([-1.0, 1.0, 1.0])
        left, right = (left + right * mirror) / 2.0, (right + left * mirror) / 2.0
        chin = chin * torch.tensor([0.0, 1.0, 1.0])
        n = torch.linalg.cross(right - left, chin - left)
        n = n / n.norm()
        if float(n[1]) < 0:
            n = -n
        return cls(chin, n, float(left[1] + right[1]) / 2.0)

    def neck_fade(self, points: torch.Tensor) -> torch.Tensor:
        """(P,) 1 on the head, falling to 0 at NECK_FADE_M below the jaw."""
        h = torch.maximum((points - self.point) @ self.normal, points[:, 1] - self.top)
        return _smoothstep(1.0 + h / NECK_FADE_M)


#: mesh_flow(rows, cols) -> the source pixels (P,2) of the target mesh's surface points at those pixels and the
#: points in head coordinates (P,3)
MeshFlow = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def head_proxy(camera: Camera, size: int, hit: torch.Tensor, depth: torch.Tensor, free: torch.Tensor,
               band: torch.Tensor, mesh_flow: MeshFlow, src_pose: tuple[torch.Tensor, torch.Tensor],
               tgt_pose: tuple[torch.Tensor, torch.Tensor], jaw: JawPlane, head_points: torch.Tensor) -> HeadProxy:
    """The proxy at working size `size`: `hit` (S,S) the pixels the target mesh covers and `depth` its z-buffer;
    `free` the pixels the proxy may guide (outside the fixed face region), `band` those of them on the face
    region (the mesh's own flow `mesh_flow` there, expression included; on the rest of the mesh the rigid
    motion of its smoothed depth; beyond it the head centre's motion); the poses (R, t) of source and target; `head_points` (N,3) posed target points on
    the head (how far the rigid motion moves it)."""
    rot, t = rigid_map(*src_pose, *tgt_pose)
    moved = camera.project((head_points @ rot.T + t)[None], size)[0]
    shift = float((moved - camera.project(head_points[None], size)[0]).norm(dim=1).max())
    scale = size / 128.0
    ramp = min(1.0, shift / (RAMP_PX * scale))
    disp = torch.zeros(2, size, size)
    weight = torch.zeros(size, size)
    if ramp <= 0.0:
        return HeadProxy(disp, weight)
    # the distance and the depth on a half-size grid (a quarter of the cost; they vary over many px)
    zc = float(tgt_pose[1][2])      # model z of the head's centre
    rel = torch.where(hit, camera.distance - depth - zc, torch.zeros_like(depth))
    pooled = F.max_pool2d(hit.float()[None, None], 2, ceil_mode=True)[0, 0] > 0
    dist = 2.0 * torch.from_numpy(distance_transform_edt(~pooled.numpy())).float()    # px from the mesh
    dist = dist.repeat_interleave(2, 0).repeat_interleave(2, 1)[:size, :size]
    outside = _smoothstep(1.0 - dist / (HAIR_PX * scale))                   # 1 on the mesh
    zs = _blur_half(rel[None], DEPTH_BLUR_PX * scale)[0] + zc
    rows, cols = torch.nonzero(free & (outside > 0), as_tuple=True)
    on_band = band[rows, cols]
    uv = torch.empty(len(rows), 2)
    head = torch.empty(len(rows), 3)
    if bool(on_band.any()):          # the fitted face's own flow (cheek band, jaw line)
        uv[on_band], head[on_band] = mesh_flow(rows[on_band], cols[on_band])
    # every pixel's point at the smoothed depth, and where it goes with the head's centre alone: beyond the mesh
    # (hair, the head's outline) points move so (a round head's outline stays where it is as it turns about its
    # centre)
    pts = ray_points(camera, size, rows, cols, zs[rows, cols])
    still = camera.project((pts - tgt_pose[1] + src_pose[1])[None], size)[0]
    on = hit[rows, cols]
    rest = ~on_band & on               # the rest of the mesh: the smoothed head surface, moved rigidly
    uv[rest] = camera.project((pts[rest] @ rot.T + t)[None], size)[0]
    off = ~on_band & ~on
    uv[off] = still[off]
    head[~on_band] = (pts[~on_band] - tgt_pose[1]) @ tgt_pose[0]          # head coordinates: R^T (p - T)
    # on the side turning away, the head's outline stays where it is, as it does beyond the mesh: the surface
    # there turns out of view, so the cheek is squeezed against its outline. The mesh's own motion there (up to
    # 0.6 of the face's) dragged the face's edge 2-3 px (S = 128) outward over the background along with it, which
    # the grader read as a shift more than a turn (xportrait_driving at yaw -15: the jaw line's sides moved 10-17 px
    # with a nose moving 50). The side turning toward the camera keeps the mesh's motion: holding its outline
    # stretched the few source px at the edge into streaks (looked at, xportrait at yaw +-15). Which side: where the
    # turn's motion relative to the centre's points inward (the source point lies inside the outline). The fall is
    # over a blurred coverage, so the outline's steps at S do not print.
    cover = _blur_half(hit.float()[None], SILHOUETTE_PX * scale / 2.0)[0]
    near = on & (cover[rows, cols] < 1.0)
    if bool(near.any()):
        r_n, c_n = rows[near], cols[near]
        keep = _smoothstep(2.0 * cover[r_n, c_n] - 1.0)       # 0 at the silhouette (half covered), 1 well inside
        # the turn's part only: the surface point moved rigidly, against the centre's motion with the head's roll
        # (a tilt turns the outline with it; held, tpsmm_driving's 13 degree tilt lost 0.5 dB of face PSNR); an
        # expression's motion at the outline (the jaw's) is kept
        centred = pts[near] - tgt_pose[1]
        rolled = camera.project((centred @ roll_part(rot).T + src_pose[1])[None], size)[0]
        turn = camera.project((head[near] @ src_pose[0].T + src_pose[1])[None], size)[0] - rolled
        gy, gx = torch.gradient(cover)
        inward = torch.stack([gx[r_n, c_n], gy[r_n, c_n]], -1)
        inward = inward / inward.norm(dim=1, keepdim=True).clamp_min(1e-6)
        away = _smoothstep(0.5 + (turn * inward).sum(1) / (2.0 * scale))   # 1 where the source point lies inward
        uv[near] = uv[near] - (away * (1.0 - keep))[:, None] * turn
    disp[:, rows, cols] = (uv - torch.stack([cols.float() + 0.5, rows.float() + 0.5], -1)).T
    weight[rows, cols] = outside[rows, cols] * jaw.neck_fade(head)
    # blurred over the fixed face region too (1 there): where the jaw moves up or down over the neck, the
    # weight falls over a few px below it, not at once (an abrupt fall folded the warp: a second jaw line)
    weight = _blur_half(torch.where(free, weight, torch.ones_like(weight))[None], WEIGHT_BLUR_PX * scale)[0]
    idx = torch.arange(size)
    edge = torch.minimum(torch.minimum(idx, size - 1 - idx)[:, None], torch.minimum(idx, size - 1 - idx)[None]).float()
    region = torch.zeros(size, size)
    region[rows, cols] = 1.0
    weight = HEAD_WEIGHT * ramp * weight * region * _smoothstep(edge / (BORDER_PX * scale))
    # the displacement beyond the band smoothed too (weighted by the weight, the band included): the band's
    # mesh flow and the smoothed depth's motion differ by a px or two, and their steps printed a
    # stair-stepped, streaked cheek where a turn stretches it beside the ear (xportrait_source at yaw 20)
    num = _blur_half(torch.cat([disp * weight[None], weight[None]]), DISP_BLUR_PX * scale)
    disp = torch.where((weight > 0) & ~band, num[:2] / num[2:].clamp_min(1e-6), disp)   # the band's own flow kept
    return HeadProxy(disp, weight)
