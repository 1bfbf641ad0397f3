"""ARKit weights read straight from MediaPipe's dense mesh, relative to the clip's own neutral face.

Why: the 3DMM landmark fit reads expressions at a fraction of their size (smiles, blinks and
jawOpen at slope 0.2-0.3 on renders of known weights, bench/bench_track.py) because MediaPipe's
regressed mesh under-reports motion, and it bakes every difference between the person's neutral
face and the model's into false weights. Here each frame's (468,3) mesh is aligned (3D
similarity on points no expression moves) to the clip's neutral mesh, the displacement is divided
by the inter-ocular distance, and the weights solve displacement = J w with 0 <= w <= 1.

J is what MediaPipe *sees* when the model makes each expression: renders of the model at known
weights run through MediaPipe (`calibrate`), so a render at weight w reads back w. The default
model's J is the committed asset assets/morphable/default_mp_expression.npz (rebuild with
`python -m morphable.fit.mesh_expression --out ...`); other models are calibrated on first use.

The neutral is the clip's calmest frames: read against the median mesh, keep the frames with the
least total expression, and read again against their mean (`neutral_frames`).
"""
from __future__ import annotations

import argparse
import functools
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..arkit import ARKIT_NAMES
from ..errors import MorphableError
from ..model import MorphableModel, model_fingerprint

DEFAULT_TABLE = Path(__file__).resolve().parents[2] / "assets" / "morphable" / "default_mp_expression.npz"
#: MediaPipe rows of the outer eye corners (subject's right, left): the unit of displacement
EYE_CORNERS = (33, 263)
#: weights not read from the mesh: gaze comes from the irises (morphable.fit.gaze_read), the
#: tongue is not in the mesh
SKIPPED = tuple(n for n in ARKIT_NAMES if n.startswith("eyeLook")) + ("tongueOut",)
#: MediaPipe's eye contours, corners first: (outer, inner), upper lid (outer to inner), lower lid
#: (outer to inner); subject's left eye first (morphable.gaze.EYES order)
EYE_CONTOURS = (
    ((263, 362), (466, 388, 387, 386, 385, 384, 398), (249, 390, 373, 374, 380, 381, 382)),
    ((33, 133), (246, 161, 160, 159, 158, 157, 173), (7, 163, 144, 145, 153, 154, 155)),
)
#: lid weights read geometrically from the lid contours (eye_weights), not by the linear solve
LID_SHAPES = tuple(f"eye{k}{e}" for e in ("Left", "Right") for k in ("Blink", "Squint", "Wide"))
#: shapes MediaPipe barely sees (mesh response under 0.12 IOD at weight 1, a fifth of a smile's):
#: solved for, they soak up every other shape's leftovers (a smile read as cheekSquint 1), so they read 0
UNSEEN = ("cheekSquintLeft", "cheekSquintRight", "noseSneerLeft", "noseSneerRight", "jawForward")
#: eyeWide from the upper lid's rise above its rest, in shares of the neutral opening: from
#: WIDE_START (0) to WIDE_FULL (1). MediaPipe moves a rendered upper lid by 10-35% of the opening
#: when only the mouth moves, while the model's own eyeWide lifts it by 10% (within that noise), so
#: the reading is set by how far a widened real eye opens (sclera above the iris), not by the model
WIDE_START = 0.15
WIDE_FULL = 0.6
#: weight of the depth column of the displacement relative to x, y (MediaPipe's z is regressed)
DEPTH_WEIGHT = 0.5
#: ridge on the weights (in units of J's column norms squared); keeps look-alike shapes apart
RIDGE = 0.02
#: L1 pull toward 0 (in units of the mean column norm squared): small look-alike shapes stay off
L1 = 0.01
#: share of the mesh used to align frames: the points that the expressions move least
RIGID_SHARE = 0.3
#: share of the clip taken as its calm (neutral) frames
CALM_SHARE = 0.25
#: calm frames have both eyes' openings within this share of the clip's typical (upper-quartile) opening
OPEN_TOLERANCE = 0.15
#: frames tried as the first neutral reference (spread over the clip)
NEUTRAL_CANDIDATES = 24
#: calibration renders: identities (seeds), weight levels, render size
CAL_SEEDS = (0, 1, 2)
CAL_LEVELS = (0.5, 1.0)
CAL_SIZE = 256
#: clips of twice this many frames or more also lose the mesh bend that follows the head's pose
#: over their less expressive half
CLIP_POSE_FRAMES = 20
#: a pose feature takes part when its spread over the clip exceeds this (0.05 = 1.5 deg of yaw)
POSE_SPREAD = 0.05
#: the camera distance (m) of morphable.camera.Camera, for the head's place in the frame
CAMERA_DISTANCE = 1.2
#: ridge of that regression (per frame, in squared pose-feature units)
CLIP_POSE_RIDGE = 1e-3
#: MediaPipe rows of the inner lips' gap (upper, lower): beside, at and beside the middle
LIP_GAP = ((82, 87), (13, 14), (312, 317))
#: the lips' gap is read from this percentile of the clip's gaps up (its most closed mouth): a calm
#: neutral of a talking clip has the lips apart, and a mouth closing past it read 0 (weights are >= 0)
CLOSED_PERCENTILE = 5.0
#: head poses (yaw, pitch) of the neutral renders that measure how MediaPipe's mesh bends with pose
CAL_POSES = tuple((y, p) for y in (-30.0, -15.0, 0.0, 15.0, 30.0) for p in (-15.0, 0.0, 15.0))


@dataclass(frozen=True)
class ExpressionBasis:
    """J (52,468,3) mesh displacement per unit weight (IOD units, aligned frame), rigid rows, read columns."""

    jacobian: np.ndarray
    rigid: np.ndarray
    read: np.ndarray      # (52,) bool: the weights solved for
    neutral: np.ndarray | None = None   # (468,3) the model's neutral mesh as MediaPipe sees it (IOD 1)
    #: (5,468,3) how MediaPipe's aligned mesh of a neutral face bends with head pose, per pose_features
    pose: np.ndarray | None = None

    @property
    def solved(self) -> np.ndarray:
        """(52,) bool: the weights of the linear solve (the read ones less the lid shapes)."""
        return self.read & ~np.isin(np.array(ARKIT_NAMES), LID_SHAPES + UNSEEN)

    @functools.cached_property
    def _solver_terms(self) -> tuple[np.ndarray, np.ndarray, float, float, np.ndarray]:
        """What every solve_weights call needs, computed once per basis: system()'s (A, H), the
        gradient step 1 / largest eigenvalue of H, the L1 pull and row_weights()."""
        a, h = self.system()
        return a, h, 1.0 / np.linalg.eigvalsh(h)[-1], L1 * np.diag(h).mean(), row_weights()

    def system(self) -> tuple[np.ndarray, np.ndarray]:
        """(K,1404) design rows of the solved weights (depth weighted, eye contours masked) and
        their (K,K) normal matrix plus the ridge."""
        j = self.jacobian[self.solved] * row_weights()
        a = j.reshape(j.shape[0], -1).astype(np.float64)
        h = a @ a.T
        h += RIDGE * np.diag(np.diag(h)).mean() * np.eye(len(h))
        return a, h


def row_weights() -> np.ndarray:
    """(468,3) weight of each displacement entry in the linear solve: eye contours 0, depth DEPTH_WEIGHT."""
    w = np.ones((468, 3))
    w[:, 2] = DEPTH_WEIGHT
    for corners, upper, lower in EYE_CONTOURS:
        w[list(corners + upper + lower)] = 0.0
    return w


def eye_openings(aligned: np.ndarray) -> np.ndarray:
    """(T,2,2) [eye] x [upper lid height, lower lid depth] from the corner line, in units of that eye's width.

    `aligned` (T,468,3) meshes in one head frame (image axes: y down).
    """
    out = np.zeros((len(aligned), 2, 2))
    for e, (corners, upper, lower) in enumerate(EYE_CONTOURS):
        a, b = aligned[:, corners[0], :2], aligned[:, corners[1], :2]
        axis = b - a
        width = np.linalg.norm(axis, axis=1)
        normal = np.stack([axis[:, 1], -axis[:, 0]], 1) / width[:, None]   # points up (y down) for either eye
        normal *= np.sign(normal[:, 1:2] * -1.0 + 1e-12)
        for k, rows in enumerate((upper, lower)):
            h = ((aligned[:, list(rows), :2] - a[:, None]) * normal[:, None]).sum(2).mean(1) / width
            out[:, e, k] = h if k == 0 else -h
    return out


def eye_weights(basis: ExpressionBasis, aligned: np.ndarray, neutral: np.ndarray) -> dict[str, np.ndarray]:
    """Blink, squint and wide per eye (T,) from the lids relative to the clip's neutral opening.

    The lid heights are divided by the neutral's opening, so a full blink reads 1 whatever the
    person's eye size; blink's and squint's gains per unit weight are the model's own (its renders
    read back), eyeWide's is WIDE_START..WIDE_FULL.
    """
    now, rest = eye_openings(aligned), eye_openings(neutral[None])[0]
    model = eye_openings(basis.neutral[None])[0]
    out: dict[str, np.ndarray] = {}
    for e, eye in enumerate(("Left", "Right")):
        opening, model_opening = rest[e].sum(), model[e].sum()
        gain = {}
        for k in ("Blink", "Squint"):
            shape = basis.neutral + basis.jacobian[ARKIT_NAMES.index(f"eye{k}{eye}")]
            moved = eye_openings(shape[None])[0][e]
            gain[k] = (moved - model[e]) / model_opening      # [upper, lower] change per unit weight
        du = (now[:, e, 0] - rest[e, 0]) / opening
        dl = (now[:, e, 1] - rest[e, 1]) / opening
        # blink: the share of the opening left above the lower lid that the upper lid covers, so
        # squeezed-shut eyes read 1 whatever the squint
        rise = np.clip(-dl, 0.0, 0.95)
        blink = np.clip(np.clip(-du, 0.0, None) / (1.0 - rise) / -gain["Blink"][0], 0.0, 1.0)
        # squint: the lower lid's rise, less what the blink moved it
        squint = np.clip((dl - blink * gain["Blink"][1]) / gain["Squint"][1], 0.0, 1.0)
        upper = du - squint * gain["Squint"][0]
        out[f"eyeBlink{eye}"] = blink
        out[f"eyeSquint{eye}"] = squint
        out[f"eyeWide{eye}"] = np.clip((upper - WIDE_START) / (WIDE_FULL - WIDE_START), 0.0, 1.0)
    return out


def lip_gaps(meshes: np.ndarray) -> np.ndarray:
    """(T,) mean gap between the inner lips (LIP_GAP rows, x, y) of (T,468,3) meshes, in their own units."""
    m = np.asarray(meshes, np.float64)
    return np.mean([np.linalg.norm(m[:, lo, :2] - m[:, up, :2], axis=-1) for up, lo in LIP_GAP], 0)


def open_mouth(basis: ExpressionBasis, weights: np.ndarray, gaps: np.ndarray, closed: float) -> np.ndarray:
    """`weights` (T,52) with jawOpen set so that the weights open the lips by `gaps` - `closed` (IOD units).

    The linear solve spreads a real mouth's opening over look-alike shapes (brows, dimples, jaw
    sideways: at the widest openings of the bench clips jawOpen read 0.1-0.2 where the lips parted
    by 0.1-0.2 inter-ocular distances), so the lips' gap is read geometrically, like the lids: what
    the other weights already open (their calibrated gap per unit weight) is kept and jawOpen makes
    up the rest, from `closed`, the clip's most closed mouth, up.
    """
    i = ARKIT_NAMES.index("jawOpen")
    rest = lip_gaps(basis.neutral[None])[0]
    per_weight = lip_gaps(basis.neutral[None] + basis.jacobian) - rest          # (52,)
    out = np.array(weights, np.float64, copy=True)
    missing = (np.asarray(gaps, np.float64) - closed) - out @ per_weight
    out[:, i] = np.clip(out[:, i] + missing / per_weight[i], 0.0, 1.0)
    return out


def similarity_align(points: np.ndarray, reference: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(T,N,3) point sets moved by the 3D similarity that best maps their `rows` onto reference's (Umeyama)."""
    x = np.asarray(points, np.float64)
    y = np.asarray(reference, np.float64)
    xs, ys = x[:, rows], y[rows]
    mx, my = xs.mean(1, keepdims=True), ys.mean(0)
    xc, yc = xs - mx, ys - my
    cov = np.einsum("tni,nj->tij", xc, yc)                   # (T,3,3)
    u, s, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.ones((len(x), 3))
    fix[:, 2] = d
    rot = (u * fix[:, None, :]) @ vt                           # x @ rot ~ y
    scale = (s * fix).sum(1) / (xc ** 2).sum((1, 2))
    return scale[:, None, None] * ((x - mx) @ rot) + my


def mesh3d(mesh: np.ndarray, mesh_z: np.ndarray) -> np.ndarray:
    """(468,3) points from a Detection's mesh (468,2) px and mesh_z (468,) px."""
    return np.concatenate([np.asarray(mesh, np.float64), np.asarray(mesh_z, np.float64)[:, None]], 1)


def _iod(mesh: np.ndarray) -> np.ndarray:
    return np.linalg.norm(mesh[..., EYE_CORNERS[0], :2] - mesh[..., EYE_CORNERS[1], :2], axis=-1)


def displacements(meshes: np.ndarray, neutral: np.ndarray, rigid: np.ndarray) -> np.ndarray:
    """(T,468,3) displacement of each aligned mesh from `neutral` (468,3), in the neutral's IOD units."""
    aligned = similarity_align(meshes, neutral, rigid)
    return (aligned - neutral) / _iod(neutral)


def solve_weights(basis: ExpressionBasis, disp: np.ndarray, iterations: int = 300,
                  residual: bool = False, init: np.ndarray | None = None):
    """(T,52) weights in [0,1] minimising |J w - disp|^2 + ridge (accelerated projected gradient, all frames at once).

    With `residual` also the (T,) squared residual of each frame's displacement. `init` (T,52)
    warm-starts the solve (e.g. a live frame from the previous frame's weights); default zero.
    """
    a, h, step, l1, rows = basis._solver_terms
    d = (disp * rows).reshape(len(disp), -1)
    g = d @ a.T                                                # (T,K)
    w = np.zeros_like(g)
    if init is not None:
        w[:] = np.broadcast_to(init, (len(d), len(ARKIT_NAMES)))[:, basis.solved]
    z, t = w.copy(), 1.0
    for _ in range(iterations):
        w_new = np.clip(z - step * (z @ h - g + l1), 0.0, 1.0)
        t_new = (1.0 + np.sqrt(1.0 + 4.0 * t * t)) / 2.0
        z = w_new + ((t - 1.0) / t_new) * (w_new - w)
        w, t = w_new, t_new
    out = np.zeros((len(d), len(ARKIT_NAMES)))
    out[:, basis.solved] = w
    if residual:
        return out, ((d - w @ a) ** 2).sum(1)
    return out


def neutral_frames(basis: ExpressionBasis, meshes: np.ndarray, share: float = CALM_SHARE,
                   candidates: int = NEUTRAL_CANDIDATES) -> tuple[np.ndarray, np.ndarray]:
    """(neutral mesh (468,3), indices of the calm frames) of a clip.

    Expressions only add to the neutral face (weights >= 0), so a frame more neutral than the
    reference leaves displacements no weights explain: among `candidates` frames spread over the
    clip, the reference is the one that explains the whole clip with the least residual; the
    calm frames are then the `share` of frames with the least expression against it, and the
    neutral is their mean (aligned).
    """
    m = np.asarray(meshes, np.float64)
    picks = np.unique(np.linspace(0, len(m) - 1, min(candidates, len(m))).round().astype(int))
    costs = [solve_weights(basis, displacements(m, m[c], basis.rigid), 150, residual=True)[1].sum()
             for c in picks]
    neutral = m[picks[int(np.argmin(costs))]]
    k = max(1, int(round(share * len(m))))
    for _ in range(2):
        w = solve_weights(basis, displacements(m, neutral, basis.rigid), iterations=150)
        calm = np.sort(np.argsort(w.sum(1), kind="stable")[:k])
        neutral = similarity_align(m[calm], neutral, basis.rigid).mean(0)
    return neutral, calm


def pose_features(pose: np.ndarray) -> np.ndarray:
    """(T,5) [y, p, y^2, p^2, y p] of (T,2) yaw, pitch degrees (y = yaw / 30, p = pitch / 30)."""
    a = np.asarray(pose, np.float64).reshape(-1, 2) / 30.0
    y, p = a[:, 0], a[:, 1]
    return np.stack([y, p, y * y, p * p, y * p], 1)


def unbend(basis: ExpressionBasis, aligned: np.ndarray, neutral: np.ndarray, pose: np.ndarray | None,
           calm: np.ndarray, quiet: np.ndarray | None = None) -> np.ndarray:
    """Aligned meshes less the bend MediaPipe puts into a face turned away from the calm frames' pose.

    MediaPipe's mesh of one unmoving face changes shape (not only pose) as the head turns. First the
    bend measured on the model's renders (basis.pose) is removed; then, given the clip's `quiet`
    frames (its less expressive ones, at least CLIP_POSE_FRAMES of them), what is left that follows
    the head's pose across them (a ridge regression of every point on the pose features, fitted on
    the quiet frames only so that expressions made while the head moves stay, and applied with each
    feature held inside the range the quiet frames cover). `pose` is (T,2) yaw, pitch degrees, or FaceParams' (T,6), whose
    translation adds where the head sits (x, y over depth, depth ratio). Without `pose` the meshes
    come back unchanged.
    """
    if pose is None:
        return aligned
    calm = np.asarray(calm)
    pose = np.asarray(pose, np.float64)
    f = pose_features(pose[:, :2])
    f = f - f[calm].mean(0)
    out = aligned
    if basis.pose is not None:
        out = out - np.einsum("tk,kic->tic", f, basis.pose) * _iod(neutral)
    if pose.shape[1] >= 6:   # where the head sits: perspective bends the mesh too
        depth = CAMERA_DISTANCE - pose[:, 5]
        place = np.stack([pose[:, 3] / depth, pose[:, 4] / depth, depth / depth[calm].mean() - 1.0], 1)
        f = np.concatenate([f, 10.0 * (place - place[calm].mean(0))], 1)
    if quiet is None or len(quiet) < CLIP_POSE_FRAMES:
        return out
    q = np.asarray(quiet)
    spread = f[q].std(0) > POSE_SPREAD
    if spread.any():
        x = f[:, spread]
        xq = x[q]
        x = np.clip(x, xq.min(0), xq.max(0))
        d = (out[q] - out[q].mean(0)).reshape(len(q), -1)
        xc = xq - xq.mean(0)
        coef = np.linalg.solve(xc.T @ xc + CLIP_POSE_RIDGE * len(q) * np.eye(x.shape[1]), xc.T @ d)
        out = out - ((x - x[calm].mean(0)) @ coef).reshape(out.shape)   # calm frames stay the neutral
    return out


def calm_frames(basis: ExpressionBasis, meshes: np.ndarray, energy: np.ndarray, share: float = CALM_SHARE,
                tolerance: float = OPEN_TOLERANCE) -> np.ndarray:
    """Indices of the calm frames: eyes open within `tolerance` of the clip's typical opening, then least `energy`.

    The typical opening is the upper quartile over the clip (eyes are open most of the time, and a
    clip full of blinks still has its open frames above its median).

    `energy` (T,) ranks the frames by expression (e.g. the landmark fit's summed weights), which
    misses blinks: the eye test keeps closed or widened eyes out of the neutral.
    """
    m = np.asarray(meshes, np.float64)
    k = max(1, int(round(share * len(m))))
    o = eye_openings(similarity_align(m, m[0], basis.rigid)).sum(2)       # (T,2)
    dev = np.abs(o / np.quantile(o, 0.75, axis=0) - 1.0).max(1)
    open_ok = np.flatnonzero(dev <= tolerance)
    if len(open_ok) < k:
        open_ok = np.argsort(dev, kind="stable")[:k]
    return np.sort(open_ok[np.argsort(np.asarray(energy)[open_ok], kind="stable")[:k]])


def neutral_mesh(basis: ExpressionBasis, meshes: np.ndarray, calm: np.ndarray) -> np.ndarray:
    """(468,3) mean of the calm frames' meshes, aligned to the first of them."""
    m = np.asarray(meshes, np.float64)
    return similarity_align(m[calm], m[calm[0]], basis.rigid).mean(0)


def read_clip(basis: ExpressionBasis, meshes: np.ndarray, calm: np.ndarray | None = None,
              pose: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(T,52) weights of a clip's (T,468,3) meshes relative to its own neutral, and the calm frames' indices.

    `calm` gives a first guess of the neutral frames (e.g. the ones the 3DMM fit finds least
    expressive), refined twice by the mesh's own reading; without it they are found by
    neutral_frames. `pose` (T,6) (the fit's; or (T,2) yaw, pitch degrees) takes MediaPipe's pose bend out.
    """
    m = np.asarray(meshes, np.float64)
    if calm is None:
        neutral, calm = neutral_frames(basis, m)
    else:
        calm = np.asarray(calm, dtype=np.int64)
        for _ in range(2):   # re-rank the frames by what the mesh reads against the first neutral
            neutral = neutral_mesh(basis, m, calm)
            aligned = unbend(basis, similarity_align(m, neutral, basis.rigid), neutral, pose, calm)
            w = solve_weights(basis, (aligned - neutral) / _iod(neutral), iterations=150)
            calm = calm_frames(basis, m, w.sum(1), share=len(calm) / len(m))
        neutral = neutral_mesh(basis, m, calm)
    aligned = similarity_align(m, neutral, basis.rigid)
    # the lips' gap before the pose bend comes out: the clip regression took 50-60% of the mouth's
    # opening on talking clips, whose mouths move with the head (bench/bench_selfreenact.py)
    gaps = lip_gaps(aligned) / _iod(neutral)
    quiet = None
    if pose is not None and len(m) >= 2 * CLIP_POSE_FRAMES:   # the less expressive half
        first = unbend(basis, aligned, neutral, pose, calm)
        total = solve_weights(basis, (first - neutral) / _iod(neutral), iterations=150).sum(1) \
            + np.abs(eye_openings(first).sum(2) / eye_openings(neutral[None]).sum(2) - 1.0).sum(1)
        quiet = np.sort(np.argsort(total, kind="stable")[:len(m) // 2])
    aligned = unbend(basis, aligned, neutral, pose, calm, quiet)
    w = solve_weights(basis, (aligned - neutral) / _iod(neutral))
    for name, value in eye_weights(basis, aligned, neutral).items():
        w[:, ARKIT_NAMES.index(name)] = value
    if basis.read[ARKIT_NAMES.index("jawOpen")]:
        w = open_mouth(basis, w, gaps, float(np.percentile(gaps, CLOSED_PERCENTILE)))
    return w, calm


def read_against_calm(basis: ExpressionBasis, meshes: np.ndarray, fitted: np.ndarray, share: float = CALM_SHARE,
                      pose: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A tracker's mesh reading: (T,52) weights, the calm frames' indices and the neutral mesh (468,3).

    `fitted` (T,52) are the landmark fit's weights: they rank the frames for the first guess of the
    calm `share` (calm_frames), and the weights the mesh does not read (gaze, tongue) keep them;
    the rest are read_clip's against the calm frames' neutral. `pose` as in read_clip."""
    fit = np.asarray(fitted, np.float64)
    calm = calm_frames(basis, meshes, fit[:, basis.solved].sum(1), share=share)
    weights, calm = read_clip(basis, meshes, calm, pose)
    unread = ~basis.read
    weights[:, unread] = fit[:, unread]
    return weights, calm, neutral_mesh(basis, meshes, calm)


# ---- calibration ---------------------------------------------------------------------------
def calibrate(model: MorphableModel, backend, seeds=CAL_SEEDS, levels=CAL_LEVELS, size: int = CAL_SIZE,
              progress: bool = False) -> ExpressionBasis:
    """Render the model at each weight level of each expression and measure MediaPipe's mesh response."""
    import torch

    from .. import lighting
    from ..render import Renderer, to_uint8

    renderer = Renderer(model, size=size, background=0.35)
    present = model.expression_present.cpu().numpy().astype(bool)
    read = present & ~np.isin(np.array(ARKIT_NAMES), SKIPPED)

    def mesh_of(p) -> np.ndarray:
        img = np.ascontiguousarray(to_uint8(renderer(p).image))
        found = backend.detect(img)
        if not found or found[0].mesh is None:
            raise MorphableError("MediaPipe found no face on a calibration render")
        return mesh3d(found[0].mesh, found[0].mesh_z)

    per_seed = []
    for seed in seeds:
        base = model.random_params(1, seed=seed, identity_scale=0.7).replace(light=lighting.preset("front"))
        neutral = mesh_of(base)
        shots, which, level = [], [], []
        for k in np.flatnonzero(read):
            for lv in levels:
                e = torch.zeros(1, 52, dtype=base.expression.dtype)
                e[0, k] = lv
                shots.append(mesh_of(base.replace(expression=e)))
                which.append(k)
                level.append(lv)
        per_seed.append((neutral, np.stack(shots), np.array(which), np.array(level)))
        if progress:
            print(f"calibration seed {seed}: {len(shots)} renders")
    # rigid rows: first align on all points, keep the least-moved share, align again
    rigid = np.arange(per_seed[0][0].shape[0])
    for _ in range(2):
        moves = []
        for neutral, shots, _, _ in per_seed:
            moves.append(np.linalg.norm(displacements(shots, neutral, rigid), axis=2).max(0))
        score = np.max(moves, 0)
        rigid = np.sort(np.argsort(score)[:int(RIGID_SHARE * len(score))])
    jac = np.zeros((len(ARKIT_NAMES),) + per_seed[0][0].shape)
    ref = per_seed[0][0] / _iod(per_seed[0][0])
    mean_neutral = np.mean([similarity_align(n[None], ref, rigid)[0] for n, _, _, _ in per_seed], 0)
    for neutral, shots, which, level in per_seed:
        disp = displacements(shots, neutral, rigid)
        for k in np.unique(which):
            sel = which == k
            jac[k] += (disp[sel] * level[sel, None, None]).sum(0) / (level[sel] ** 2).sum()
    jac /= len(per_seed)
    pose = calibrate_pose(model, backend, rigid, seeds, size=size)
    return ExpressionBasis(jac.astype(np.float32), rigid, read, mean_neutral.astype(np.float32), pose.astype(np.float32))


def calibrate_pose(model: MorphableModel, backend, rigid: np.ndarray, seeds=CAL_SEEDS, poses=CAL_POSES,
                   size: int = CAL_SIZE) -> np.ndarray:
    """(5,468,3) least-squares bend of MediaPipe's aligned neutral mesh per pose feature (IOD units)."""
    from .. import lighting
    from ..render import Renderer, to_uint8

    renderer = Renderer(model, size=size, background=0.35)
    feats, disps = [], []
    for seed in seeds:
        base = model.random_params(1, seed=seed, identity_scale=0.7).replace(light=lighting.preset("front"))
        shots = []
        for yaw, pitch in poses:
            found = backend.detect(np.ascontiguousarray(to_uint8(renderer(base.with_pose(yaw=yaw, pitch=pitch)).image)))
            if not found or found[0].mesh is None:
                raise MorphableError("MediaPipe found no face on a pose calibration render")
            shots.append(mesh3d(found[0].mesh, found[0].mesh_z))
        shots = np.stack(shots)
        front = shots[[i for i, p in enumerate(poses) if p == (0.0, 0.0)][0]]
        disps.append(displacements(shots, front, rigid).reshape(len(poses), -1))
        feats.append(pose_features(np.array(poses)))
    coef, *_ = np.linalg.lstsq(np.concatenate(feats), np.concatenate(disps), rcond=None)
    return coef.reshape(5, -1, 3)


def save_basis(basis: ExpressionBasis, model: MorphableModel, path: str | Path) -> None:
    """Write a basis as npz (tied to the model's fingerprint)."""
    np.savez_compressed(path, jacobian=basis.jacobian.astype(np.float16), rigid=basis.rigid.astype(np.int16),
                        read=basis.read, neutral=basis.neutral.astype(np.float32),
                        pose=basis.pose.astype(np.float32), fingerprint=np.array(model_fingerprint(model)))


_LOCK = threading.Lock()
_BASES: dict[str, ExpressionBasis] = {}


def has_basis(model: MorphableModel) -> bool:
    """True when the model's basis is at hand without calibrating (the committed asset, or done this process)."""
    key = model_fingerprint(model)
    if key in _BASES:
        return True
    if not DEFAULT_TABLE.exists():
        return False
    with np.load(DEFAULT_TABLE) as z:
        return str(z["fingerprint"]) == key


def basis_for(model: MorphableModel, backend=None) -> ExpressionBasis:
    """The model's expression basis: the committed asset for the default model, else calibrated once per process."""
    key = model_fingerprint(model)
    with _LOCK:
        if key in _BASES:
            return _BASES[key]
        if DEFAULT_TABLE.exists():
            with np.load(DEFAULT_TABLE) as z:
                if str(z["fingerprint"]) == key:
                    _BASES[key] = ExpressionBasis(z["jacobian"].astype(np.float32), z["rigid"].astype(np.int64),
                                                  z["read"].astype(bool), z["neutral"].astype(np.float64),
                                                  z["pose"].astype(np.float64) if "pose" in z else None)
                    return _BASES[key]
        if backend is None:
            from ..landmarks_mp import MediaPipeBackend

            backend = MediaPipeBackend()
        _BASES[key] = calibrate(model, backend)
        return _BASES[key]


def main(argv: list[str] | None = None) -> None:
    """Build the default model's basis asset."""
    import torch

    from ..formats import load_model
    from ..landmarks_mp import MediaPipeBackend

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--out", default=str(DEFAULT_TABLE))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    model = load_model(args.model)
    basis = calibrate(model, MediaPipeBackend(), progress=True)
    save_basis(basis, model, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
