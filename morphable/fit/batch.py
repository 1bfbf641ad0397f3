"""Fit a morphable model to photos: detect landmarks, landmark stage, optional photometric stage.

`fit_images` works on many images at once (the solver and renderer are batched); `fit_image`
fits one and raises on failure. Failures are explicit: no face -> flag "no_face" (error in
fit_image), several faces -> the largest is fitted and a warning says so, a landmark residual
above the landmark set's threshold -> flag "unreliable_landmarks" (error in fit_image unless
allowed). Detections that carry MediaPipe's dense mesh are fitted with the mesh point set
(morphable.fit.landmark_set), dlib's with iBUG-68.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from ..camera import Camera
from ..errors import MorphableError
from ..landmark_backends import auto_backend
from ..landmarks import LandmarkBackend, as_rgb_uint8
from ..model import MorphableModel
from ..params import FaceParams
from .crop import Frame, choose_frame, crop_frames
from .geometry import landmark_error_iod
from .landmark_fit import LandmarkFitConfig, LandmarkFitter, ndc_to_pixels
from .landmark_set import LandmarkSet, set_for
from .photometric import PhotometricConfig, PhotometricRefiner

#: mean landmark residual (% of inter-ocular distance) above which a fit is flagged unreliable.
#: Measured (bench/bench_fit.py, docs/fitting.md): 99 UTKFace photos reach at most 6.3 %
#: (median 3.6 %), renders at up to +-40 deg yaw/pitch at most 9.8 %; adding Gaussian noise of
#: 20 % of the inter-ocular distance to every detected point gives 15-24 %, and misassigned
#: points (eyes <-> mouth) 50 % or more. 12 % sits above every good fit and below broken input.
RESIDUAL_THRESHOLD = 12.0
#: the same for MediaPipe's dense mesh set (% of the mesh's outer-eye-corner distance; x, y only).
#: Measured the same way (docs/fitting.md): 299 UTKFace photos stay below 4.4 % (median 2.5 %)
#: except one near-profile face (fitted yaw -59 deg, dlib finds no face there) at 7.7 %; renders at
#: up to +-40 deg yaw/pitch (default model and ICT, 40 each) at most 5.0 %; Gaussian noise of 10 %
#: of the IOD on every mesh point gives 8.9 % or more, 10 % of the points swapped among themselves
#: 8.6 % or more. 8 % sits above every good fit and below broken input.
MESH_RESIDUAL_THRESHOLD = 8.0
#: smallest inter-ocular distance (px) we trust the detector at
MIN_INTER_OCULAR_PX = 6.0
FLAGS = ("no_face", "multiple_faces", "unreliable_landmarks", "tiny_face", "extreme_pose")


@dataclass
class FitDiagnostics:
    """How one image's fit went; landmarks are in source-image pixels."""

    ok: bool
    flags: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    num_faces: int = 0
    landmark_error: float = float("nan")     # mean residual, % of detected inter-ocular distance
    photometric_error: float = float("nan")  # mean abs colour error on the face region, 0..1
    frame: list[float] = field(default_factory=list)   # x0, y0, size of the fitting frame (px)
    box: list[float] = field(default_factory=list)
    detected: np.ndarray | None = None       # (68,2)
    fitted: np.ndarray | None = None         # (68,2)
    landmark_set: str = ""                   # "ibug68" or "mediapipe": what landmark_error is over

    def to_dict(self) -> dict:
        """JSON-ready summary (landmarks as lists)."""
        d = {"ok": self.ok, "flags": list(self.flags), "warnings": list(self.warnings),
             "num_faces": self.num_faces, "landmark_error_iod_pct": _num(self.landmark_error),
             "photometric_error": _num(self.photometric_error), "frame": self.frame, "box": self.box,
             "landmark_set": self.landmark_set}
        for key in ("detected", "fitted"):
            arr = getattr(self, key)
            d[f"{key}_landmarks"] = None if arr is None else np.round(arr, 3).tolist()
        return d


def _num(x: float):
    return None if x != x else float(x)


@dataclass
class FitResult:
    """Fitted params (one row per input image; neutral where the fit failed) and diagnostics."""

    params: FaceParams
    diagnostics: list[FitDiagnostics]

    @property
    def ok(self) -> list[bool]:
        return [d.ok for d in self.diagnostics]


@dataclass(frozen=True)
class Detected:
    """Landmarks of one image in its fitting frame."""

    points: np.ndarray      # (68,2) source px
    frame: Frame
    box: tuple[float, float, float, float]
    num_faces: int
    mesh: np.ndarray | None = None   # (468,2) source px (MediaPipe) or None
    mesh_z: np.ndarray | None = None  # (468,) MediaPipe's relative depth, px scale


def threshold_for(landmark_set: LandmarkSet) -> float:
    """The residual threshold (% of IOD) calibrated for a landmark set."""
    return MESH_RESIDUAL_THRESHOLD if landmark_set.dense else RESIDUAL_THRESHOLD


def detect(images: Sequence[np.ndarray], backend: LandmarkBackend | None = None,
           frame_mode: str = "auto") -> list[Detected | None]:
    """Largest face's landmarks and fitting frame for each image (None where no face)."""
    be = backend or auto_backend()
    out: list[Detected | None] = []
    for img in images:
        faces = be.detect(img)
        if not faces:
            out.append(None)
            continue
        f = faces[0]
        mesh = None if f.mesh is None else np.asarray(f.mesh, np.float64)
        out.append(Detected(np.asarray(f.points, np.float64), choose_frame(img.shape, f.box, frame_mode),
                            tuple(f.box), len(faces), mesh, f.mesh_z))
    return out


def _as_images(images) -> list[np.ndarray]:
    if isinstance(images, torch.Tensor):
        t = images.detach().cpu()
        if t.ndim == 3:
            t = t[None]
        if t.ndim != 4 or t.shape[1] not in (1, 3):
            raise MorphableError(f"image tensor must be (B,3,H,W), got {tuple(t.shape)}")
        if t.is_floating_point() and float(t.min()) < 0:  # GAN range [-1, 1]
            t = (t + 1.0) / 2.0
        return [as_rgb_uint8(x.permute(1, 2, 0).numpy()) for x in t]
    if isinstance(images, np.ndarray) and images.ndim == 3:
        images = [images]
    return [as_rgb_uint8(im) for im in images]


class Fitter:
    """Reusable fitting pipeline for one model (keeps solver bases and renderers cached)."""

    def __init__(self, model: MorphableModel, camera: Camera | None = None,
                 landmark_config: LandmarkFitConfig | None = None,
                 photometric_config: PhotometricConfig | None = None,
                 backend: LandmarkBackend | None = None, chunk: int = 64):
        self.model = model
        self.chunk = int(chunk)
        self.camera = camera or Camera()
        self.landmark_config = landmark_config
        self.landmarks = LandmarkFitter(model, self.camera, landmark_config)
        self.photometric_config = photometric_config or PhotometricConfig()
        self._fitters: dict[str, LandmarkFitter] = {"ibug68": self.landmarks}
        self._photos: dict[str, PhotometricRefiner] = {}
        self.backend = backend

    def fitter_for(self, found: Sequence[Detected]) -> LandmarkFitter:
        """The landmark fitter for these detections: the dense mesh set when all have a mesh, else iBUG-68."""
        if not all(d.mesh is not None for d in found):
            return self.landmarks
        if "mediapipe" not in self._fitters:
            self._fitters["mediapipe"] = LandmarkFitter(self.model, self.camera, self.landmark_config,
                                                        set_for(self.model, found))
        return self._fitters["mediapipe"]

    def photometric_for(self, fitter: LandmarkFitter) -> PhotometricRefiner:
        """The photometric refiner whose landmark term uses `fitter`'s points."""
        name = fitter.set.name
        if name not in self._photos:
            self._photos[name] = PhotometricRefiner(self.model, self.camera, self.photometric_config,
                                                    None if name == "ibug68" else fitter.set)
        return self._photos[name]

    @property
    def photometric(self) -> PhotometricRefiner:
        return self.photometric_for(self.landmarks)

    def fit_detected(self, images: list[np.ndarray], found: list[Detected], photometric: bool = True,
                     init: FaceParams | None = None, shared_identity: bool = False,
                     iterations: int | None = None) -> tuple[FaceParams, list[float], list[float], list[np.ndarray]]:
        """Fit detections (all present). Returns params, landmark errors, photometric errors, fitted px.

        Independent fits run in chunks of `chunk` faces to bound memory (thousands of images).
        """
        if not shared_identity and init is None and len(found) > self.chunk:
            parts = [self.fit_detected(images[s:s + self.chunk], found[s:s + self.chunk], photometric,
                                       iterations=iterations) for s in range(0, len(found), self.chunk)]
            return (FaceParams.cat([p[0] for p in parts]), sum((p[1] for p in parts), []),
                    sum((p[2] for p in parts), []), sum((p[3] for p in parts), []))
        sizes = torch.tensor([d.frame.size for d in found], dtype=torch.float64)
        lmf = self.fitter_for(found)
        target = torch.stack([lmf.set.ndc_targets(d, d.frame) for d in found])   # (B,N,2|3)
        params = lmf.fit(target, init=init, shared_identity=shared_identity, iterations=iterations)
        photo_err = [float("nan")] * len(found)
        if photometric:
            cfg = self.photometric_config
            frames = [d.frame for d in found]
            targets = {s: crop_frames(images, frames, s) for s in cfg.sizes}
            weights = lmf.weights(params.yaw.double()).float()
            params, err = self.photometric_for(lmf).refine(params, targets, target.float(), weights)
            photo_err = err.tolist()
        projected = lmf.project(params).double()
        lm_err = landmark_error_iod(projected, target[..., :2], lmf.set.iod).tolist()
        # the 68 points, for overlays (the same projection when the fit used the 68 points)
        fitted_ndc = projected if lmf is self.landmarks else self.landmarks.project(params).double()
        fitted_px = ndc_to_pixels(fitted_ndc, sizes).numpy()
        fitted_src = [d.frame.to_image(p) for d, p in zip(found, fitted_px)]
        return params, lm_err, photo_err, fitted_src

    def __call__(self, images, photometric: bool = True, frame_mode: str = "auto",
                 threshold: float | None = None) -> FitResult:
        """Fit every image (list of (H,W,3) arrays or a (B,3,H,W) tensor); failures are flagged rows.

        `threshold` (% of IOD) defaults to the one calibrated for the landmark set used.
        """
        imgs = _as_images(images)
        found = detect(imgs, self.backend, frame_mode)
        diags = [FitDiagnostics(ok=False) for _ in imgs]
        rows = [i for i, d in enumerate(found) if d is not None]
        for i, d in enumerate(found):
            if d is None:
                diags[i].flags.append("no_face")
                diags[i].warnings.append("no face found")
                continue
            diags[i].num_faces, diags[i].frame, diags[i].box = d.num_faces, d.frame.as_list(), list(d.box)
            diags[i].detected = d.points
            if d.num_faces > 1:
                diags[i].flags.append("multiple_faces")
                diags[i].warnings.append(f"{d.num_faces} faces found; fitted the largest")
        iod = {i: float(np.linalg.norm(found[i].points[45] - found[i].points[36])) for i in rows}
        small = [i for i in rows if iod[i] < MIN_INTER_OCULAR_PX]
        for i in small:
            diags[i].flags.append("tiny_face")
            diags[i].warnings.append(f"face too small (inter-ocular {iod[i]:.1f} px < {MIN_INTER_OCULAR_PX:g})")
        rows = [i for i in rows if i not in small]
        params = self.model.neutral_params(len(imgs))
        if rows:
            sel = [found[i] for i in rows]
            lset = self.fitter_for(sel).set
            limit = threshold_for(lset) if threshold is None else threshold
            fitted, lm_err, ph_err, fitted_px = self.fit_detected([imgs[i] for i in rows], sel, photometric)
            for j, i in enumerate(rows):
                for name in ("identity", "expression", "pose", "light", "albedo"):
                    getattr(params, name)[i] = getattr(fitted, name)[j].to(getattr(params, name).dtype)
                dg = diags[i]
                dg.landmark_error, dg.photometric_error, dg.fitted = lm_err[j], ph_err[j], fitted_px[j]
                dg.ok, dg.landmark_set = True, lset.name
                if lm_err[j] > limit:
                    dg.flags.append("unreliable_landmarks")
                    dg.warnings.append(f"landmark residual {lm_err[j]:.1f}% of inter-ocular distance "
                                       f"exceeds {limit:g}%")
                    dg.ok = False
                if abs(float(fitted.yaw[j])) > 60.0 or abs(float(fitted.pitch[j])) > 45.0:
                    dg.flags.append("extreme_pose")
                    dg.warnings.append("pose outside the range the landmark detector handles well")
        return FitResult(params, diags)


def fit_images(model: MorphableModel, images, photometric: bool = True, frame_mode: str = "auto",
               backend: LandmarkBackend | None = None, camera: Camera | None = None,
               threshold: float | None = None) -> FitResult:
    """Fit the model to a batch of images; rows that failed keep neutral params and say why.

    The default backend is morphable.landmark_backends.auto_backend (MediaPipe when importable, else dlib).
    """
    return Fitter(model, camera, backend=backend)(images, photometric, frame_mode, threshold)


def fit_image(model: MorphableModel, image: np.ndarray, photometric: bool = True, frame_mode: str = "auto",
              backend: LandmarkBackend | None = None, camera: Camera | None = None,
              threshold: float | None = None, allow_unreliable: bool = False) -> FitResult:
    """Fit one image; no face or (unless allowed) unreliable landmarks raise MorphableError."""
    result = fit_images(model, [image], photometric, frame_mode, backend, camera, threshold)
    d = result.diagnostics[0]
    if "no_face" in d.flags or "tiny_face" in d.flags:
        raise MorphableError(f"no usable face in the image: {d.warnings[-1]}")
    if "unreliable_landmarks" in d.flags and not allow_unreliable:
        raise MorphableError(f"fit rejected: {d.warnings[-1]}")
    for w in d.warnings:
        warnings.warn(w, stacklevel=2)
    return result
