"""The one registry of 2D landmark backends: a name -> a backend instance, and an instance -> its name.

Backends (each a LandmarkBackend, morphable.landmarks): "dlib" (DlibBackend, offline default for
alignment), "mediapipe" (MediaPipeBackend, morphable.landmarks_mp: the fitting default when it
imports), "face-alignment" (FaceAlignmentBackend, morphable.landmarks_fa: only with cached
weights). "auto" resolves to MediaPipe when importable, else dlib. Importing this module is cheap
(no backend is imported until one is asked for), so command lines can list NAMES in --help.

finding_backend(name) wraps any of them in morphable.face_finder.FindingBackend: faces of any size
are found first (MediaPipe's full-range detector, dlib's HOG as fallback) and the named backend
runs on a square crop around each; photos and drivers (fit, edit, reenact) go through it.
"""
from __future__ import annotations

import warnings

from .errors import MorphableError
from .landmarks import LandmarkBackend, default_backend

_CLASS_NAMES = {"MediaPipeBackend": "mediapipe", "DlibBackend": "dlib", "FaceAlignmentBackend": "face-alignment"}
#: the names a backend instance is recorded under (pairs files, estimators, bundle manifests)
RECORDED = tuple(_CLASS_NAMES.values())
#: the names backend_by_name accepts (the CLI's --landmarks choices)
NAMES = ("auto", *RECORDED)

_AUTO_BACKEND: LandmarkBackend | None = None


def auto_backend() -> LandmarkBackend:
    """The fitting default: MediaPipe's face mesh when importable (pose-faithful), else dlib."""
    global _AUTO_BACKEND
    from .landmarks_mp import MediaPipeBackend, mediapipe_importable

    if not mediapipe_importable():
        return default_backend()
    if not isinstance(_AUTO_BACKEND, MediaPipeBackend):
        try:
            _AUTO_BACKEND = MediaPipeBackend()
        except MorphableError as exc:  # installed but cannot start (e.g. a broken wheel): dlib
            warnings.warn(f"MediaPipe face mesh unavailable ({exc}); using dlib landmarks")
            return default_backend()
    return _AUTO_BACKEND


def backend_by_name(name: str) -> LandmarkBackend:
    """'auto' (MediaPipe when importable, else dlib), 'mediapipe', 'dlib' or 'face-alignment' (cached weights only)."""
    if name == "auto":
        return auto_backend()
    if name == "mediapipe":
        from .landmarks_mp import MediaPipeBackend

        return MediaPipeBackend()
    if name == "dlib":
        return default_backend()
    if name in ("face-alignment", "fan"):
        from .landmarks_fa import FaceAlignmentBackend

        return FaceAlignmentBackend()
    raise MorphableError(f"unknown landmark backend {name!r}; choose one of {', '.join(NAMES)}")


_FINDING: dict[str, LandmarkBackend] = {}


def finding_backend(name: str = "auto") -> LandmarkBackend:
    """The backend `name` behind a face finder (morphable.face_finder): small and far faces in big photos too."""
    from .face_finder import FindingBackend

    inner = backend_by_name(name)
    cached = _FINDING.get(name)
    if cached is None or cached.inner is not inner:
        cached = _FINDING[name] = FindingBackend(inner)
    return cached


def backend_name(backend: LandmarkBackend) -> str:
    """The recorded name of a backend instance: 'mediapipe', 'dlib' or 'face-alignment' (a finder: its inner one)."""
    backend = getattr(backend, "inner", backend)
    name = _CLASS_NAMES.get(type(backend).__name__)
    if name is None:
        raise MorphableError(f"cannot record the landmark backend {type(backend).__name__!r} "
                             f"(known: {', '.join(RECORDED)})")
    return name
