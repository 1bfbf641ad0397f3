"""Tracking a face through video frames with one shared identity.

1. Detect landmarks in every frame (the fitting frame is the whole video frame, so poses and
   translations of all frames share one camera); MediaPipe's dense mesh points when the backend
   gives them (morphable.fit.landmark_set), else iBUG-68.
2. Identity: a joint landmark fit over up to `identity_frames` frames spread over the clip,
   one identity for all of them (Schur-complement Gauss-Newton); then it is held fixed.
3. Per frame: pose and expression by Gauss-Newton, all frames solved together in batches (a
   lost frame keeps the previous values and is flagged).
4. With MediaPipe meshes (`expressions="mesh"`, the default where the model has a mesh basis):
   the expression weights are read from the dense mesh relative to the clip's calmest frames
   (morphable.fit.mesh_expression: lids geometrically, the rest by a linear solve calibrated on
   the model's renders) and gaze from the irises (morphable.fit.gaze_read) as eyeLook* weights;
   the fit's weights only rank the frames by calm. `expressions="fit"` keeps the fit's weights.
5. Temporal smoothing of pose and expression (morphable.fit.smoothing; One-Euro by default; the pose
   as rotation and face-centre position, morphable.fit.smoothing.smooth_pose).
6. Light in closed form on the smoothed geometry of up to LIGHT_FRAMES frames, interpolated
   between them (with `photometric`, every frame is refined).
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import torch
from tqdm import tqdm

from ..arkit import ARKIT_NAMES
from ..camera import Camera
from ..errors import MorphableError
from ..gaze import with_gaze
from ..landmark_backends import auto_backend
from ..landmarks import LandmarkBackend, as_rgb_uint8
from ..model import MorphableModel
from ..params import FaceParams
from .batch import threshold_for
from .crop import choose_frame, crop_frames
from .gaze_read import gaze_angles
from .geometry import face_centre, landmark_error_iod
from .landmark_fit import LandmarkFitter
from .landmark_set import set_for
from .mesh_expression import ExpressionBasis, basis_for, has_basis, mesh3d, read_against_calm
from .photometric import PhotometricConfig, PhotometricRefiner
from .smoothing import SMOOTHERS
from .smoothing import smooth as smooth_signal
from .smoothing import smooth_pose

LIGHT_SIZE = 64
EXPRESSION_READS = ("auto", "mesh", "fit")
#: frames per batched landmark solve, and its Gauss-Newton iterations: on xportrait_driving the
#: batched fit gives the sequential warm-started one's poses to 1e-4 deg at a sixth of the time
FIT_CHUNK = 64
#: frames the light is solved on (spread over the clip; the rest interpolated, their photometric
#: error left NaN): the light solve rasterises the face and cost more than everything else together
LIGHT_FRAMES = 4
FIT_ITERATIONS = 6
#: per-column units for One-Euro's speed term: degrees, metres, ARKit weight
POSE_SCALE = np.array([1.0, 1.0, 1.0, 0.005, 0.005, 0.005])
EXPRESSION_SCALE = 0.05


@dataclass
class TrackedFrame:
    """One frame's result; params has batch 1 (previous frame's values where no face was found)."""

    index: int
    time: float
    params: FaceParams
    ok: bool
    landmark_error: float = float("nan")
    photometric_error: float = float("nan")
    flags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        num = lambda x: None if x != x else round(float(x), 4)  # noqa: E731
        return {"frame": self.index, "time": round(self.time, 6), "ok": self.ok,
                "params": self.params.to_dict(0), "landmark_error_iod_pct": num(self.landmark_error),
                "photometric_error": num(self.photometric_error), "flags": list(self.flags)}


@dataclass
class Track:
    """A tracked clip: shared identity, frame rate and per-frame results."""

    model: str
    fps: float
    identity: torch.Tensor
    frames: list[TrackedFrame]
    smoothing: str = "one-euro"
    #: how the expression weights were read ("mesh" or "fit") and the clip's calm (neutral) frames
    expressions: str = "fit"
    calm: list[int] = field(default_factory=list)

    def header(self) -> dict:
        return {"type": "header", "model": self.model, "fps": self.fps, "num_frames": len(self.frames),
                "identity": self.identity.tolist(), "smoothing": self.smoothing, "frame": "whole video frame",
                "expressions": self.expressions, "calm_frames": list(self.calm)}

    def stacked(self) -> FaceParams:
        """All frames' params as one batch (T rows)."""
        return FaceParams.cat([f.params for f in self.frames])


def write_jsonl(track: Track, path: str | os.PathLike) -> None:
    """Header line, then one line per frame (see Track.header and TrackedFrame.to_dict)."""
    with open(path, "w") as fh:
        fh.write(json.dumps(track.header()) + "\n")
        for f in track.frames:
            fh.write(json.dumps(dict(type="frame", **f.to_dict())) + "\n")


def _spread(indices: list[int], n: int) -> list[int]:
    if len(indices) <= n:
        return list(indices)
    picks = np.linspace(0, len(indices) - 1, n).round().astype(int)
    return [indices[i] for i in picks]


def track_frames(model: MorphableModel, frames: Iterable[np.ndarray], fps: float = 25.0,
                 smooth: str = "one-euro", identity_frames: int = 8, photometric: bool = False,
                 light: bool = True, backend: LandmarkBackend | None = None, camera: Camera | None = None,
                 progress: bool = False, threshold: float | None = None, expressions: str = "auto") -> Track:
    """Track every frame (an iterable of (H,W,3) images); see the module docstring for the steps.

    `threshold` (% of IOD) defaults to the one calibrated for the landmark set used. `expressions`:
    "mesh" reads weights and gaze from MediaPipe's mesh and irises (needs them), "fit" takes the
    landmark fit's, "auto" reads the mesh where every face has one and the model has a basis.
    """
    method = smooth
    if method not in SMOOTHERS:
        raise MorphableError(f"unknown smoothing {method!r}; choose one of {', '.join(SMOOTHERS)}")
    if expressions not in EXPRESSION_READS:
        raise MorphableError(f"unknown expression reading {expressions!r}; choose one of {', '.join(EXPRESSION_READS)}")
    if not fps > 0:
        raise MorphableError(f"fps must be positive, got {fps}")
    cam = camera or Camera()
    be = backend or auto_backend()
    # 1. detect
    # the light's crops: a photometric refit reads every frame's; the closed-form light only LIGHT_FRAMES key frames',
    # which a list of frames has at hand once the clip's length is known (an iterator's are cropped as they pass)
    listed = frames if isinstance(frames, (list, tuple)) else None
    crop_all = photometric or listed is None
    found, frames_used, crops, multi = [], [], [], []
    for img in tqdm(frames, desc="landmarks", unit="frame", disable=not progress):
        img = as_rgb_uint8(img)
        faces = be.detect(img)
        frames_used.append(choose_frame(img.shape, (0, 0, img.shape[1], img.shape[0]), "image"))
        found.append(faces[0] if faces else None)
        multi.append(len(faces) > 1)
        if (light or photometric) and crop_all:
            crops.append(_light_crop(img, frames_used[-1]))
    if not found:
        raise MorphableError("no frames to track")
    good = [i for i, d in enumerate(found) if d is not None]
    if not good:
        raise MorphableError("no face found in any frame")
    lset = set_for(model, found)
    limit = threshold_for(lset) if threshold is None else threshold
    dets = [None if f is None else lset.ndc_targets(f, fr) for f, fr in zip(found, frames_used)]
    # 2. shared identity
    id_fit = LandmarkFitter(model, cam, landmark_set=lset)
    sel = _spread(good, identity_frames)
    joint = id_fit.fit(torch.stack([dets[i] for i in sel]), shared_identity=True, iterations=12)
    identity = joint.identity[0].detach()
    # 3. per-frame pose + expression: independent fits, batched (FIT_CHUNK frames per solve)
    frame_fit = LandmarkFitter(model, cam, dataclasses.replace(id_fit.config, fit_identity=False), lset)
    batches = []
    chunks = [good[s:s + FIT_CHUNK] for s in range(0, len(good), FIT_CHUNK)]
    for chunk in tqdm(chunks, desc="fitting", unit="chunk", disable=not progress):
        batches.append(frame_fit.fit(torch.stack([dets[i] for i in chunk]), identity=identity[None],
                                     iterations=FIT_ITERATIONS))
    read = FaceParams.cat(batches)   # the frames with a face, in order
    # 4. expressions and gaze from the mesh, relative to the clip's calm frames
    dense = all(found[i].mesh is not None and found[i].mesh_z is not None for i in good)
    if expressions == "mesh" and not dense:
        raise MorphableError("reading expressions from the mesh needs MediaPipe's face mesh on every frame")
    use_mesh = expressions == "mesh" or (expressions == "auto" and dense and has_basis(model))
    calm: list[int] = []
    if use_mesh:
        expr, calm = mesh_expressions(basis_for(model), [found[i] for i in good], read.expression, read.pose)
        read = read.replace(expression=expr.to(read.expression.dtype))
        calm = [good[i] for i in calm]
    t = len(found)
    neutral = model.neutral_params(1).replace(identity=identity[None].to(model.template.dtype))
    params = _hold_lost(read, good, t, neutral)
    # 5. smoothing
    pose = smooth_pose(params.pose.double().numpy(), method, fps, POSE_SCALE, face_centre(model).numpy())
    expr = smooth_signal(params.expression.double().numpy(), method, fps, np.full(52, EXPRESSION_SCALE))
    expr = np.clip(expr, 0.0, 1.0) * model.expression_present.numpy()
    dt = model.template.dtype
    params = params.replace(pose=torch.as_tensor(pose, dtype=dt), expression=torch.as_tensor(expr, dtype=dt))
    # 6. light
    photo_err = torch.full((t,), float("nan"))
    if light or photometric:
        refiner = PhotometricRefiner(model, cam, PhotometricConfig(sizes=(LIGHT_SIZE,), steps=(8,)),
                                     lset if lset.dense else None)
        if photometric:
            target = torch.stack(crops).float() / 255.0
            lights = []
            for s in range(0, t, 16):
                chunk = params[s:s + 16]
                lm = torch.stack([dets[i][:, :2] if dets[i] is not None else id_fit.project(params[i]).double()[0]
                                  for i in range(s, min(s + 16, t))]).float()
                refined, err = refiner.refine(chunk, {LIGHT_SIZE: target[s:s + 16]}, lm)
                lights.append(refined.light)
                photo_err[s:s + 16] = err
            params = params.replace(light=torch.cat(lights).to(dt))
        else:   # light changes slowly: solved on LIGHT_FRAMES frames spread over the clip, interpolated between
            keys = np.unique(np.linspace(0, t - 1, min(t, LIGHT_FRAMES)).round().astype(int))
            keyed = [crops[k] if crop_all else _light_crop(as_rgb_uint8(listed[k]), frames_used[k]) for k in keys]
            lt, err = refiner.estimate_light(params[keys.tolist()], torch.stack(keyed).float() / 255.0)
            photo_err[keys] = err
            flat = lt.reshape(len(keys), -1).double().numpy()
            full = np.stack([np.interp(np.arange(t), keys, flat[:, j]) for j in range(flat.shape[1])], 1)
            params = params.replace(light=torch.as_tensor(full.reshape(t, 9, 3), dtype=dt))
    fitted = id_fit.project(params).double()
    out = []
    for i in range(t):
        flags = []
        err = float("nan")
        ok = dets[i] is not None
        if not ok:
            flags.append("no_face")
        else:
            err = float(landmark_error_iod(fitted[i:i + 1], dets[i][None, :, :2], lset.iod)[0])
            if err > limit:
                flags.append("unreliable_landmarks")
                ok = False
        if multi[i]:
            flags.append("multiple_faces")
        out.append(TrackedFrame(i, i / fps, params[i], ok, err, float(photo_err[i]), flags))
    return Track(model.name, float(fps), identity, out, method, "mesh" if use_mesh else "fit", calm)


def _light_crop(img: np.ndarray, frame) -> torch.Tensor:
    """(3,LIGHT_SIZE,LIGHT_SIZE) uint8 crop of one frame's fit frame, for the light."""
    return (crop_frames([img], [frame], LIGHT_SIZE)[0] * 255).round().to(torch.uint8)


def _hold_lost(read: FaceParams, good: list[int], t: int, before: FaceParams) -> FaceParams:
    """All `t` frames' params from the `good` frames' (`read`, one row each): a lost frame holds the last
    good frame's values (fit and mesh reading alike), and `before` (batch 1) before the first one."""
    source = np.searchsorted(np.asarray(good), np.arange(t), side="right") - 1   # last good row, -1: none yet
    if source[0] < 0:
        return FaceParams.cat([before, read])[(source + 1).tolist()]
    return read[source.tolist()]


def mesh_expressions(basis: ExpressionBasis, found: list, fitted: torch.Tensor,
                     pose: torch.Tensor | None = None) -> tuple[torch.Tensor, list[int]]:
    """(T,52) weights read from the detections' meshes (gaze as eyeLook* from irises where given) and the calm frames.

    `fitted` (T,52) are the landmark fit's weights: the frames with the least of them are the calm
    ones; `pose` (T,6) the fit's poses, whose yaw and pitch take MediaPipe's pose bend out.
    """
    meshes = np.stack([mesh3d(d.mesh, d.mesh_z) for d in found])
    weights, calm, neutral = read_against_calm(basis, meshes, fitted.double().numpy(),
                                               pose=None if pose is None else pose.double().numpy())
    out = torch.as_tensor(weights)
    if all(d.iris is not None for d in found):
        blink = weights[:, [ARKIT_NAMES.index("eyeBlinkLeft"), ARKIT_NAMES.index("eyeBlinkRight")]]
        iris_z = np.stack([d.iris_z for d in found]) if all(d.iris_z is not None for d in found) else None
        angles = gaze_angles(meshes, np.stack([d.iris for d in found]), neutral, calm, basis.rigid, blink, iris_z)
        out = with_gaze(out, torch.as_tensor(angles))
    return out, [int(c) for c in calm]
