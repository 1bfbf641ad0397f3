"""Optional landmark backend: face-alignment's 2D FAN (Bulat & Tzimiropoulos 2017), iBUG-68 output.

Used only where the `face_alignment` package is installed AND its weights are already in the
torch hub cache (`<torch hub dir>/checkpoints/`, where face-alignment keeps its downloads):
this module never triggers a download. Otherwise it raises MorphableError pointing at the dlib
backend (morphable.landmarks.DlibBackend). morphable.landmark_backends names every backend.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from .errors import MorphableError
from .landmarks import Detection, as_rgb_uint8

#: file-name prefixes of face-alignment's 2D FAN landmark network and its S3FD face detector
WEIGHT_PREFIXES = {"landmarks": "2DFAN4", "detector": "s3fd"}
FALLBACK = "use the dlib backend (morphable.landmarks.DlibBackend, the default)"


def weights_dir() -> Path:
    """Where torch hub (and so face-alignment) caches downloaded weights."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def cached_weights() -> dict[str, Path] | None:
    """Paths of the cached FAN and S3FD files, or None when either is missing."""
    folder = weights_dir()
    if not folder.is_dir():
        return None
    found = {}
    for key, prefix in WEIGHT_PREFIXES.items():
        hits = sorted(p for p in folder.iterdir() if p.name.startswith(prefix) and p.is_file())
        if not hits:
            return None
        found[key] = hits[-1]
    return found


def face_alignment_available() -> bool:
    """True when the package is importable and its weights are cached (no download needed)."""
    return importlib.util.find_spec("face_alignment") is not None and cached_weights() is not None


class FaceAlignmentBackend:
    """face-alignment's S3FD detector + 2D FAN, as a LandmarkBackend (faces largest first)."""

    def __init__(self, device: str = "cpu"):
        if importlib.util.find_spec("face_alignment") is None:
            raise MorphableError(f"the face_alignment package is not installed; {FALLBACK}")
        if cached_weights() is None:
            raise MorphableError(f"face-alignment weights are not cached in {weights_dir()} (facerig never "
                                 f"downloads them); {FALLBACK}")
        import face_alignment

        kind = getattr(face_alignment.LandmarksType, "TWO_D", None) or getattr(face_alignment.LandmarksType, "_2D")
        self._fa = face_alignment.FaceAlignment(kind, device=device, flip_input=False)

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in an RGB image with their 68 points; [] when none."""
        img = as_rgb_uint8(image)
        try:
            pts, scores, boxes = self._fa.get_landmarks_from_image(img, return_bboxes=True,
                                                                    return_landmark_score=True)
        except TypeError:  # older releases return the points only
            pts, scores, boxes = self._fa.get_landmarks_from_image(img), None, None
        if not pts:
            return []
        out = []
        for i, p in enumerate(pts):
            p = np.asarray(p, dtype=np.float64)[:, :2]
            if boxes is not None and len(boxes) > i:
                box = tuple(float(v) for v in np.asarray(boxes[i])[:4])
            else:
                box = (*p.min(0), *p.max(0))
            score = float(np.mean(scores[i])) if scores is not None and len(scores) > i else 1.0
            out.append(Detection(tuple(float(v) for v in box), p, score, "face-alignment"))
        out.sort(key=lambda d: d.area, reverse=True)
        return out
