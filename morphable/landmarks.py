"""2D face landmarks (iBUG-68 order) and dlib face descriptors behind a small backend interface.

The default backend is dlib's HOG frontal detector + 68-point shape predictor; tightly cropped
faces (UTKFace, small generated faces) are retried on a padded, upsampled copy.
"""
from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from .errors import MorphableError

# iBUG-68 index ranges (0-based), used by alignment and tests.
JAW = range(0, 17)
RIGHT_BROW = range(17, 22)  # subject's right = image left
LEFT_BROW = range(22, 27)
NOSE = range(27, 36)
RIGHT_EYE = range(36, 42)
LEFT_EYE = range(42, 48)
MOUTH = range(48, 68)


@dataclass(frozen=True)
class Detection:
    """One face: box (x0, y0, x1, y1) px, 68 points (68,2) float x,y px, detector score, attempt.

    `mesh` (468,2) px is the dense MediaPipe face mesh where the backend gives one (else None),
    `mesh_z` (468,) its relative depth in the same px scale (MediaPipe's sign: negative = nearer).
    `iris` (2,5,2) px: each eye's iris centre and 4 rim points, subject's left eye first (MediaPipe
    with refined landmarks), else None; `iris_z` (2,5) their depth like mesh_z.
    """

    box: tuple[float, float, float, float]
    points: np.ndarray
    score: float
    attempt: str
    mesh: np.ndarray | None = None
    mesh_z: np.ndarray | None = None
    iris: np.ndarray | None = None
    iris_z: np.ndarray | None = None

    @property
    def area(self) -> float:
        """Box area in px^2 (used to sort faces, largest first)."""
        x0, y0, x1, y1 = self.box
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)


class LandmarkBackend(Protocol):
    """Anything that finds faces and their 68 iBUG landmarks in an RGB uint8 image."""

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in `image` (H,W,3 uint8), largest first; [] when none."""
        ...


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Check and convert an image to contiguous (H,W,3) uint8 (grey and RGBA are accepted)."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise MorphableError(f"expected an (H,W,3) image, got shape {tuple(arr.shape)}")
    arr = arr[..., :3]
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and arr.size and float(np.nanmax(arr)) <= 1.0:
            arr = arr * 255.0
        arr = np.clip(np.nan_to_num(arr), 0, 255).round().astype(np.uint8)
    return np.ascontiguousarray(arr)


def _model_dir() -> Path:
    """Folder of face_recognition_models' .dat files, found without importing the package.

    Importing face_recognition_models needs pkg_resources (setuptools<81); locating the
    package directory through importlib avoids that dependency entirely.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise MorphableError(
            "face_recognition_models is not installed (pip install face_recognition_models==0.3.0; "
            "it needs setuptools<81)")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


_LOCK = threading.Lock()
_CACHE: dict[str, object] = {}


def _dlib_model(name: str):
    """Lazily load and cache one dlib model ('detector', 'predictor', 'encoder')."""
    with _LOCK:
        if name not in _CACHE:
            try:
                import dlib
            except ImportError as exc:  # pragma: no cover - dlib-bin is a dependency
                raise MorphableError(f"dlib is not available ({exc}); pip install dlib-bin") from None
            files = {"predictor": "shape_predictor_68_face_landmarks.dat",
                     "encoder": "dlib_face_recognition_resnet_model_v1.dat"}
            if name == "detector":
                _CACHE[name] = dlib.get_frontal_face_detector()
            else:
                path = _model_dir() / files[name]
                if not path.exists():
                    raise MorphableError(f"dlib model file missing: {path}")
                cls = dlib.shape_predictor if name == "predictor" else dlib.face_recognition_model_v1
                _CACHE[name] = cls(str(path))
        return _CACHE[name]


@dataclass(frozen=True)
class _Attempt:
    name: str
    pad: float  # fraction of the larger side added on every border
    upsample: int  # dlib detector upsampling passes
    angle: float = 0.0  # degrees the image is rotated before detecting (HOG wants upright faces)


DEFAULT_ATTEMPTS: tuple[_Attempt, ...] = (
    _Attempt("plain", 0.0, 1),
    _Attempt("pad30-up1", 0.30, 1),
    _Attempt("pad50-up2", 0.50, 2),
    _Attempt("pad30-up1-rot+20", 0.30, 1, 20.0),
    _Attempt("pad30-up1-rot-20", 0.30, 1, -20.0),
)


def _rotation(shape: tuple[int, ...], angle: float) -> np.ndarray:
    """2x3 matrix taking rotated-image px to source px (rotation about the image centre)."""
    h, w = shape[:2]
    c = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    t = np.deg2rad(angle)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return np.hstack([rot, (c - rot @ c)[:, None]])


def _rotate(image: np.ndarray, to_src: np.ndarray) -> np.ndarray:
    """Resample `image` so that output px q shows source px to_src @ [q, 1] (edges repeated)."""
    from PIL import Image

    data = tuple(float(v) for v in to_src.reshape(-1))
    h, w = image.shape[:2]
    pad = max(h, w) // 2  # edge-pad so rotated corners are not black
    big = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    shifted = (data[0], data[1], data[2] + pad, data[3], data[4], data[5] + pad)
    out = Image.fromarray(big).transform((w, h), Image.AFFINE, shifted, resample=Image.BICUBIC)
    return np.asarray(out)


class DlibBackend:
    """dlib HOG detector + 68-point predictor; retries padded/upsampled copies for tight crops."""

    def __init__(self, attempts: Sequence[_Attempt] = DEFAULT_ATTEMPTS, pad_mode: str = "edge",
                 max_upsample_side: int = 640):
        self.attempts = tuple(attempts)
        self.pad_mode = pad_mode
        self.max_upsample_side = max_upsample_side

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in `image`, largest first; the first attempt that finds any face wins."""
        img = as_rgb_uint8(image)
        detector = _dlib_model("detector")
        predictor = _dlib_model("predictor")
        h, w = img.shape[:2]
        for att in self.attempts:
            pad = int(round(att.pad * max(h, w)))
            work = np.pad(img, ((pad, pad), (pad, pad), (0, 0)), mode=self.pad_mode) if pad else img
            to_src = _rotation(work.shape, att.angle)
            if att.angle:
                work = _rotate(work, to_src)
            # Upsampling only helps small faces; on big photos it costs time and memory for nothing.
            upsample = att.upsample if max(h, w) <= self.max_upsample_side else 0
            rects, scores, _ = detector.run(work, upsample, 0.0)
            if not rects:
                continue
            found = []
            for rect, score in zip(rects, scores):
                shape = predictor(work, rect)
                pts = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
                pts = pts @ to_src[:, :2].T + to_src[:, 2] - pad
                corners = np.array([[rect.left(), rect.top()], [rect.right(), rect.top()],
                                    [rect.left(), rect.bottom()], [rect.right(), rect.bottom()]], float)
                corners = corners @ to_src[:, :2].T + to_src[:, 2] - pad
                box = (*corners.min(0), *corners.max(0))
                found.append(Detection(tuple(float(v) for v in box), pts, float(score), att.name))
            found.sort(key=lambda d: d.area, reverse=True)
            return found
        return []


_DEFAULT_BACKEND: LandmarkBackend | None = None


def default_backend() -> LandmarkBackend:
    """The shared dlib backend (models load on first use and stay cached)."""
    global _DEFAULT_BACKEND
    if _DEFAULT_BACKEND is None:
        _DEFAULT_BACKEND = DlibBackend()
    return _DEFAULT_BACKEND


def detect_faces(image: np.ndarray, backend: LandmarkBackend | None = None) -> list[Detection]:
    """All faces with 68 landmarks, largest first ([] when none)."""
    return (backend or default_backend()).detect(image)


def detect_landmarks(image: np.ndarray, backend: LandmarkBackend | None = None) -> np.ndarray | None:
    """The 68 iBUG landmarks (68,2) x,y px of the largest face in an RGB image, or None."""
    faces = detect_faces(image, backend)
    return faces[0].points.copy() if faces else None


def face_descriptor(image: np.ndarray, points: np.ndarray, jitter: int = 0) -> np.ndarray:
    """dlib's 128-D face descriptor (ResNet v1) for the face at `points` (68,2); same person < 0.6."""
    import dlib

    img = as_rgb_uint8(image)
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape != (68, 2) or not np.isfinite(pts).all():
        raise MorphableError(f"face_descriptor needs (68,2) finite landmarks, got {pts.shape}")
    # Pad so that dlib's 150 px face chip never reaches outside the image on tight crops.
    h, w = img.shape[:2]
    pad = int(round(0.5 * max(h, w)))
    work = np.pad(img, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    pts = pts + pad
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    rect = dlib.rectangle(int(x0), int(y0), int(np.ceil(x1)), int(np.ceil(y1)))
    parts = [dlib.point(int(round(x)), int(round(y))) for x, y in pts]
    shape = dlib.full_object_detection(rect, parts)
    encoder = _dlib_model("encoder")
    return np.asarray(encoder.compute_face_descriptor(work, shape, jitter), dtype=np.float64)


def face_descriptors(images, backend: LandmarkBackend | None = None) -> np.ndarray:
    """(N,128) dlib descriptors of the largest face per image (on `backend`'s 68 points, default dlib); NaN rows where none."""
    backend = backend or default_backend()
    out = np.full((len(images), 128), np.nan)
    for i, img in enumerate(images):
        faces = backend.detect(img)
        if faces:
            out[i] = face_descriptor(img, faces[0].points)
    return out


def descriptor_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two dlib descriptors (dlib's same-person threshold is 0.6)."""
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))
