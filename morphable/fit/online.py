"""Causal, frame-by-frame face tracking for a live camera: each frame is read once, when it arrives.

The batch tracker (morphable.fit.track) sees the whole clip before it settles identity, the
neutral face and the smoothing; a camera has no future. Here:

1. The first `settle_frames` frames with a face are collected; from them, once: the identity
   (one joint landmark fit, as the batch tracker does), the calm frames and the person's neutral
   mesh (morphable.fit.mesh_expression.read_against_calm, as the batch tracker reads), and the reference
   (the calm frames' mean pose and expression: what "at rest" means for this person and camera).
2. Each later frame: landmarks (MediaPipe's mesh in video mode, which follows the face from the
   previous frame and runs its detector again by itself when the face is lost), pose by Gauss-Newton
   warm-started from the previous frame, expressions read from the mesh against the neutral and
   gaze from the irises (the same functions as the batch tracker), then the One-Euro filter online (the pose
   as rotation and face-centre position, as the batch tracker smooths it: morphable.fit.smoothing; the pose's
   settings are the live tracker's own, `live_filter`).
3. No face, or landmarks the fit cannot explain: the last good values are held and the frame is flagged.
"""
from __future__ import annotations

import collections
import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..arkit import ARKIT_NAMES
from ..camera import Camera
from ..errors import MorphableError
from ..gaze import with_gaze
from ..landmarks import Detection, LandmarkBackend, as_rgb_uint8
from ..model import MorphableModel
from ..params import FaceParams
from .batch import threshold_for
from .crop import choose_frame
from .gaze_read import CLOSED, frame_gaze, gaze_rest
from .geometry import face_centre, landmark_error_iod
from .landmark_fit import LandmarkFitter
from .landmark_set import set_for
from .mesh_expression import (CLOSED_PERCENTILE, EYE_CORNERS, basis_for, eye_weights, has_basis, lip_gaps, mesh3d,
                              open_mouth, read_against_calm, similarity_align, solve_weights)
from .smoothing import POSE_GROUPS, _alpha, cutoff, face_centred, origin_placed
from .track import EXPRESSION_SCALE, POSE_SCALE

#: the live reading's closed-mouth reference: the CLOSED_PERCENTILE of the lips' gaps seen since the neutral
#: settled, over at most this many frames (a minute of camera): a camera has no whole clip to rank
GAP_HISTORY = 1500
#: frames with a face that settle identity, neutral and reference (about half a second of camera)
SETTLE_FRAMES = 12
#: Gauss-Newton iterations per frame: warm-started from the previous frame / from scratch after a loss (2 warm
#: ones gave 4 ones' poses to 0.01 deg on tpsmm_driving at half the time)
WARM_ITERATIONS = 2
COLD_ITERATIONS = 8
#: frames without a face after which the next fit starts from scratch instead of the last pose
COLD_AFTER = 5
#: One-Euro settings and units (the batch tracker's: morphable.fit.smoothing, morphable.fit.track); the expressions
#: keep them
MIN_CUTOFF, BETA, D_CUTOFF = 1.0, 0.3, 1.0
#: the live pose's One-Euro, per block (rotation in degrees, the face centre's position in 5 mm; speeds a second):
#: min cut-off (Hz), beta, dead zone. Tuned the standard way on real clips graded by dlib (docs/live.md, "Steadiness,
#: 2026-12-08 night session"): a low min cut-off (0.3 Hz) steadies a held head, and a beta that opens it from the
#: first degrees a second on follows a turn with less lag than the batch settings (1 Hz, 0.3, dead zone 4: 0.4 frame
#: of yaw lag against 0.15). The position has a dead zone (30 mm/s): its speed is mostly the depth's noise (~2.5 mm a
#: frame on a held head), which held its cut-off open at ~3 Hz
POSE_MIN_CUTOFF = (0.3, 0.3)
POSE_BETA = (1.0, 3.0)
POSE_DEAD_ZONE = (0.0, 6.0)
#: share of the settle frames taken as calm (the batch tracker's CALM_SHARE is for whole clips)
CALM_SHARE = 0.5
#: projected-gradient steps of the per-frame weight solve (mesh_expression.solve_weights), warm-started from
#: the previous frame's weights (a clip's solve starts from zero and takes 300)
SOLVE_ITERATIONS = 60


class OneEuro:
    """The One-Euro filter (Casiez et al. 2012) one sample at a time; the same filter as smoothing.one_euro.

    `scale` (D,) puts columns in comparable units for the speed term, `groups` and `dead` as in
    smoothing.one_euro, `min_cutoff` and `beta` scalars or per column (D,); `dt` per sample may vary (a camera's frames do not arrive evenly, and dropped
    frames lengthen the step)."""

    def __init__(self, fps: float, scale: np.ndarray | None = None, min_cutoff: np.ndarray | float = MIN_CUTOFF,
                 beta: np.ndarray | float = BETA, d_cutoff: float = D_CUTOFF, groups: tuple[tuple[int, ...], ...] = (),
                 dead: np.ndarray | float = 0.0):
        if not fps > 0:
            raise MorphableError(f"fps must be positive, got {fps}")
        self.dt = 1.0 / fps
        self.scale = None if scale is None else np.asarray(scale, dtype=np.float64)
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.groups, self.dead = tuple(groups), dead
        self._out: np.ndarray | None = None
        self._dx: np.ndarray | None = None

    def reset(self) -> None:
        self._out = self._dx = None

    def __call__(self, x: np.ndarray, dt: float | None = None) -> np.ndarray:
        """The filtered value of sample `x` (D,) taken `dt` seconds after the previous one (default 1/fps)."""
        v = np.asarray(x, dtype=np.float64)
        if self.scale is not None:
            v = v / self.scale
        step = self.dt if dt is None or not dt > 0 else float(dt)
        if self._out is None:
            self._out, self._dx = v.copy(), np.zeros_like(v)
        else:
            a_d = _alpha(self.d_cutoff, step)
            self._dx = a_d * (v - self._out) / step + (1.0 - a_d) * self._dx
            a = _alpha(cutoff(self._dx, self.min_cutoff, self.beta, self.groups, self.dead), step)
            self._out = a * v + (1.0 - a) * self._out
        return self._out * self.scale if self.scale is not None else self._out.copy()


def live_filter(fps: float) -> OneEuro:
    """The live tracker's filter of (6 + 52,) face-centred pose and expression: the pose by block with POSE_MIN_CUTOFF,
    POSE_BETA and POSE_DEAD_ZONE, the expressions with the batch tracker's settings."""
    per_block = lambda v, rest: np.concatenate([np.full(3, v[0]), np.full(3, v[1]), np.full(52, rest)])  # noqa: E731
    return OneEuro(fps, np.concatenate([POSE_SCALE, np.full(52, EXPRESSION_SCALE)]),
                   min_cutoff=per_block(POSE_MIN_CUTOFF, MIN_CUTOFF), beta=per_block(POSE_BETA, BETA),
                   groups=POSE_GROUPS, dead=per_block(POSE_DEAD_ZONE, 0.0))


def video_mesh_backend(min_confidence: float = 0.5) -> LandmarkBackend:
    """MediaPipe's face mesh in video mode, one face, no padding: it follows the face from the previous
    frame (steadier and ~20% cheaper than detecting anew) and runs its detector again when it loses it.
    Without MediaPipe: the default backend (dlib; expressions then come from the landmark fit)."""
    from ..landmarks_mp import MediaPipeBackend, mediapipe_importable

    if not mediapipe_importable():
        from ..landmark_backends import auto_backend

        return auto_backend()
    return MediaPipeBackend(max_faces=1, min_confidence=min_confidence, pad=0.0, static_image_mode=False)


@dataclass
class OnlineFrame:
    """One camera frame's reading. `params` (batch 1, smoothed) is None until the tracker has settled."""

    index: int
    time: float
    params: FaceParams | None
    ok: bool
    state: str                       # "settling", "tracking" or "held" (no usable face: last good values)
    flags: list[str] = field(default_factory=list)
    landmark_error: float = float("nan")
    seconds: dict[str, float] = field(default_factory=dict)   # detect, fit, read


class OnlineTracker:
    """Track one face causally: `step(image)` per frame (see the module docstring)."""

    def __init__(self, model: MorphableModel, fps: float = 25.0, backend: LandmarkBackend | None = None,
                 settle_frames: int = SETTLE_FRAMES, camera: Camera | None = None, smooth: bool = True):
        if settle_frames < 2:
            raise MorphableError(f"settle_frames must be at least 2, got {settle_frames}")
        self.model = model
        self.fps = float(fps)
        self.camera = camera or Camera()
        self.backend = backend if backend is not None else video_mesh_backend()
        self.settle_frames = int(settle_frames)
        self.smooth = smooth
        self.reset()

    def reset(self) -> None:
        """Forget the person: the next frames settle identity, neutral and reference again."""
        self.index = 0
        self.identity: torch.Tensor | None = None
        self.reference: FaceParams | None = None   # the calm frames' mean pose and expression
        self._collected: list[tuple[Detection, torch.Tensor]] = []
        self._frame = None
        self._shape = None
        self._prev_fit: FaceParams | None = None
        self._last: FaceParams | None = None
        self._last_time: float | None = None
        self._lost = 0
        self._gaze = np.zeros((2, 2))
        # the pose as rotation and face-centre position, its speeds read as in the batch tracker (smoothing.smooth_pose)
        self._filter = live_filter(self.fps)
        self._centre = face_centre(self.model).numpy()

    @property
    def settled(self) -> bool:
        return self.identity is not None

    # ---- per frame ----------------------------------------------------------------------------
    def step(self, image: np.ndarray, t: float | None = None) -> OnlineFrame:
        """Read one frame (H,W,3) taken at time `t` seconds (default index / fps)."""
        img = as_rgb_uint8(image)
        index, self.index = self.index, self.index + 1
        t = index / self.fps if t is None else float(t)
        if self._shape != img.shape[:2]:
            h, w = img.shape[:2]
            self._shape, self._frame = img.shape[:2], choose_frame(img.shape, (0, 0, w, h), "image")
        t0 = time.perf_counter()
        faces = self.backend.detect(img)
        det = faces[0] if faces else None
        seconds = {"detect": time.perf_counter() - t0}
        flags = ["multiple_faces"] if len(faces) > 1 else []
        if not self.settled:
            if det is not None:
                self._collected.append((det, None))
                if len(self._collected) >= self.settle_frames:
                    t1 = time.perf_counter()
                    self._settle()
                    seconds["fit"] = time.perf_counter() - t1
            return OnlineFrame(index, t, None, det is not None, "settling", flags + ([] if det else ["no_face"]),
                               seconds=seconds)
        if det is None or (self._dense and det.mesh is None):
            return self._hold(index, t, flags + ["no_face"], seconds)
        t1 = time.perf_counter()
        ndc = self._set.ndc_targets(det, self._frame)
        if self._prev_fit is None or self._lost >= COLD_AFTER:
            fit = self._frame_fit.fit(ndc[None], identity=self.identity[None], iterations=COLD_ITERATIONS)
        else:
            fit = self._frame_fit.fit(ndc[None], init=self._prev_fit, iterations=WARM_ITERATIONS)
        err = float(landmark_error_iod(self._frame_fit.project(fit).double(), ndc[None, :, :2], self._set.iod)[0])
        seconds["fit"] = time.perf_counter() - t1
        if not err <= self._limit:
            return self._hold(index, t, flags + ["unreliable_landmarks"], seconds, err)
        self._prev_fit, self._lost = fit, 0
        t2 = time.perf_counter()
        expression = self._read(det, fit) if self._dense else fit.expression[0].double()
        seconds["read"] = time.perf_counter() - t2
        raw = np.concatenate([fit.pose[0].double().numpy(), expression.numpy()])
        dt = None if self._last_time is None else t - self._last_time
        if self.smooth:
            raw[:6] = face_centred(raw[None, :6], self._centre)[0]
            vec = self._filter(raw, dt)
            vec[:6] = origin_placed(vec[None, :6], self._centre)[0]
        else:
            vec = raw
        self._last_time = t
        expr = np.clip(vec[6:], 0.0, 1.0) * self.model.expression_present.double().numpy()
        dtype = self.model.template.dtype
        params = fit.replace(pose=torch.as_tensor(vec[None, :6], dtype=dtype),
                             expression=torch.as_tensor(expr[None], dtype=dtype))
        self._last = params
        return OnlineFrame(index, t, params, True, "tracking", flags, err, seconds)

    def _hold(self, index: int, t: float, flags: list[str], seconds: dict, err: float = float("nan")) -> OnlineFrame:
        self._lost += 1
        params = self._last.clone() if self._last is not None else self.reference.clone()
        return OnlineFrame(index, t, params, False, "held", flags, err, seconds)

    # ---- settling -------------------------------------------------------------------------------
    def _settle(self) -> None:
        """Identity, calm frames, neutral mesh and reference from the collected frames."""
        dets = [d for d, _ in self._collected]
        self._set = set_for(self.model, dets)
        self._dense = self._set.dense and all(d.mesh_z is not None for d in dets)
        self._limit = threshold_for(self._set)
        ndc = torch.stack([self._set.ndc_targets(d, self._frame) for d in dets])
        id_fit = LandmarkFitter(self.model, self.camera, landmark_set=self._set)
        joint = id_fit.fit(ndc, shared_identity=True, iterations=12)
        identity = joint.identity[0].detach()
        self._frame_fit = LandmarkFitter(self.model, self.camera,
                                         dataclasses.replace(id_fit.config, fit_identity=False), self._set)
        fits = self._frame_fit.fit(ndc, identity=identity[None], iterations=COLD_ITERATIONS)
        expr = fits.expression.double()
        if self._dense and has_basis(self.model):
            self._basis = basis_for(self.model)
            self._weights = None   # the previous frame's weights: the next solve's warm start
            meshes = np.stack([mesh3d(d.mesh, d.mesh_z) for d in dets])
            weights, calm, self._neutral = read_against_calm(self._basis, meshes, expr.numpy(), share=CALM_SHARE)
            self._settle_gaze(dets, meshes, calm)
            aligned = similarity_align(meshes, self._neutral, self._basis.rigid)
            self._gaps = collections.deque(self._lip_gap(aligned), maxlen=GAP_HISTORY)
            expr = torch.as_tensor(weights)
        else:
            self._dense = False
            calm = np.argsort(expr.sum(1).numpy(), kind="stable")[:max(1, int(round(CALM_SHARE * len(dets))))]
        calm = torch.as_tensor(np.asarray(calm), dtype=torch.long)
        dtype = self.model.template.dtype
        self.reference = fits[0].replace(pose=fits.pose[calm].mean(0, keepdim=True).to(dtype),
                                         expression=expr[calm].mean(0, keepdim=True).to(dtype))
        self.identity = identity
        self._prev_fit = fits[len(dets) - 1]
        self._collected = []

    def _settle_gaze(self, dets: list[Detection], meshes: np.ndarray, calm: np.ndarray) -> None:
        """Once per settle: the neutral's inter-ocular distance and the calm frames' iris rest (gaze_read.GazeRest),
        with MediaPipe's iris depth where every calm frame has it and without (for frames that lack it)."""
        neutral, rigid = self._neutral, self._basis.rigid
        self._iod = np.linalg.norm(neutral[EYE_CORNERS[0], :2] - neutral[EYE_CORNERS[1], :2])
        self._gaze_rest = self._gaze_rest_z = None
        if all(d.iris is not None for d in dets):
            iris = np.stack([dets[c].iris for c in calm])
            self._gaze_rest = gaze_rest(meshes[calm], iris, neutral, rigid)
            if all(dets[c].iris_z is not None for c in calm):
                iris_z = np.stack([dets[c].iris_z for c in calm])
                self._gaze_rest_z = gaze_rest(meshes[calm], iris, neutral, rigid, iris_z)

    def _lip_gap(self, aligned: np.ndarray) -> np.ndarray:
        """(T,) inner lips' gap of (T,468,3) meshes already aligned to the neutral, in the neutral's inter-ocular
        distances (mesh_expression.read_clip's measure: before any pose bend comes out)."""
        return lip_gaps(aligned) / self._iod

    # ---- expressions from the mesh ---------------------------------------------------------------
    def _read(self, det: Detection, fit: FaceParams) -> torch.Tensor:
        """(52,) weights of one frame's mesh against the settled neutral; gaze from its irises."""
        basis, neutral = self._basis, self._neutral
        mesh = mesh3d(det.mesh, det.mesh_z)[None]
        aligned = similarity_align(mesh, neutral, basis.rigid)
        w = solve_weights(basis, (aligned - neutral) / self._iod, SOLVE_ITERATIONS, init=self._weights)
        self._weights = w.copy()
        for name, value in eye_weights(basis, aligned, neutral).items():
            w[:, ARKIT_NAMES.index(name)] = value
        if basis.read[ARKIT_NAMES.index("jawOpen")]:   # the lips' gap read as the batch tracker reads it
            gap = self._lip_gap(aligned)   # the frame's mesh as aligned above for the weights
            self._gaps.extend(gap)
            w = open_mouth(basis, w, gap, float(np.percentile(self._gaps, CLOSED_PERCENTILE)))
        unread = ~basis.read
        w[:, unread] = fit.expression.double().numpy()[:, unread]
        out = torch.as_tensor(w)
        if self._gaze_rest is not None and det.iris is not None:
            if self._gaze_rest_z is not None and det.iris_z is not None:
                angles = frame_gaze(self._gaze_rest_z, mesh[0], det.iris, det.iris_z)
            else:
                angles = frame_gaze(self._gaze_rest, mesh[0], det.iris)
            closed = w[0, [ARKIT_NAMES.index("eyeBlinkLeft"), ARKIT_NAMES.index("eyeBlinkRight")]] > CLOSED
            for e in range(2):   # a closed eye's iris is hidden: the open eye's angles, else the last ones
                if closed[e]:
                    angles[e] = angles[1 - e] if not closed[1 - e] else self._gaze[e]
            self._gaze = angles
            out = with_gaze(out, torch.as_tensor(angles[None]))
        return out[0]
