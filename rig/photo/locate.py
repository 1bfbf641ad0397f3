"""Find one face in a photo of any size and fit the 3DMM to it on a crop at a working resolution.

The face finder (morphable.face_finder) gives the face's box in the full photo; a square of
COARSE_SCALE x the box around it, reduced to at most FIT_SIDE px, is what the fitter sees, so
the fit costs the same for a 1 MP and a 48 MP photo, and a face 268 px wide in a 1920x1080
frame is fitted in the same framing as that face cropped. The fitted frame comes back in photo
px. Where the finder sees no face, the whole photo (reduced to FIT_SIDE) is fitted as before.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from morphable.fit import FitDiagnostics
from morphable.landmarks import Detection
from morphable.params import FaceParams

from ..errors import RigError
from .crop import Window, whole, window_around

#: side of the fitted crop relative to the found face box's larger side (the fit frame is 2.2x)
COARSE_SCALE = 3.2
#: the fitted crop's longest side at most (px); the fit's own frames are 128-256 px
FIT_SIDE = 1024


@dataclass
class Located:
    """One face fitted: params (1 row), its fit frame [x0, y0, side] in photo px, the fit's diagnostics."""

    params: FaceParams
    frame: list[float]
    diagnostics: FitDiagnostics    # in the fitted crop's px
    faces: int                     # faces the finder saw in the photo
    notes: list[str] = field(default_factory=list)


class _Centred:
    """A landmark backend that answers only the face nearest the image's centre (the crop's face)."""

    def __init__(self, inner):
        self.inner = inner

    def detect(self, image: np.ndarray) -> list[Detection]:
        found = self.inner.detect(image)
        if len(found) < 2:
            return found
        cy, cx = image.shape[0] / 2.0, image.shape[1] / 2.0
        return [min(found, key=lambda d: np.hypot((d.box[0] + d.box[2]) / 2 - cx, (d.box[1] + d.box[3]) / 2 - cy))]


def coarse_window(shape, box, fit_side: int = FIT_SIDE) -> Window:
    """The square of COARSE_SCALE x the box's larger side around it, clipped to the photo, reduced to fit_side."""
    side = COARSE_SCALE * max(box[2] - box[0], box[3] - box[1])
    cx, cy = (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0
    return window_around(shape, cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2, fit_side)


def locate_and_fit(image: np.ndarray, fitter, face: int = 1, photometric: bool = True) -> Located:
    """Fit face number `face` (1 = the largest) of `image`; RigError when there is no such face."""
    from morphable.face_finder import shared_finder
    from morphable.landmark_backends import finding_backend

    if face < 1:
        raise RigError(f"face numbers start at 1, got {face}")
    faces = shared_finder().find(image, every=True)
    notes = []
    if face > max(1, len(faces)):
        raise RigError(f"face {face} asked for, but the photo has {len(faces)} face{'s' if len(faces) != 1 else ''}")
    if len(faces) > 1:
        which = "the largest" if face == 1 else "by size"
        notes.append(f"{len(faces)} faces in the photo; edited face {face} ({which}); "
                     f"pick another with --face N (1 = largest)")
    window = coarse_window(image.shape, faces[face - 1].box) if faces else whole(image.shape, FIT_SIDE)
    crop = window.cut(image)
    inner = fitter.backend if fitter.backend is not None else finding_backend()
    before = fitter.backend
    fitter.backend = _Centred(inner) if faces else inner
    try:
        mode = "auto" if window.covers(image.shape) else "face"
        result = fitter([crop], photometric=photometric, frame_mode=mode)
    finally:
        fitter.backend = before
    d = result.diagnostics[0]
    if "no_face" in d.flags:
        raise RigError("no face found in the photo")
    if "tiny_face" in d.flags:
        raise RigError(f"the face is too small to edit: {d.warnings[-1]}")
    if "unreliable_landmarks" in d.flags:
        raise RigError(f"the face could not be fitted reliably: {d.warnings[-1]}")
    return Located(result.params[0:1], window.to_photo(d.frame), d, len(faces), notes)
