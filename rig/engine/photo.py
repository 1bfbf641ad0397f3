"""A real photo edited by the photo engine (rig.photo.PhotoRig): its own pixels warped along the fitted 3DMM.

    rig, notes = fit_photo("me.jpg")              # the photo's face found at any size and fitted
    e = PhotoEngine(rig, notes=notes)
    e.render(e.controls().with_values(yaw=15))    # the whole photo at its own resolution
    e.preview(c)                                  # a crop around the face at screen size (preview_rig)

The pose controls stop where the warp holds (rig.photo.photo_rig.YAW_LIMIT / PITCH_LIMIT, as absolute
angles and as changes from the photo).
"""
from __future__ import annotations

import dataclasses
import os
import warnings
from types import SimpleNamespace

import numpy as np
import torch

from morphable.params import FaceParams

from .base import Engine, Performance, held_to
from .controls import Controls, set_controls

#: the photo engine's live image: a crop around the face, at most this many pixels on a side
PREVIEW_SIDE = 512
#: the crop's side as a multiple of the fit frame's side (the frame spans the face; this adds hair and neck)
PREVIEW_MARGIN = 2.0
#: a face whose crop is under this share of a small photo's shorter side is zoomed in all the same
ZOOM_BELOW = 0.75
#: a small crop (a face far away in its photo) is enlarged to this side for the live view
PREVIEW_MIN = 384
PHOTO_ENGINE_NOTE = "the photo's own pixels, warped"


def fit_photo(photo: str | os.PathLike | np.ndarray, landmarks: str | None = None,
              face: int = 1):
    """Read and fit a photo's face number `face` (1 = the largest), found at any size; the PhotoRig and
    warning lines."""
    from morphable.fit import Fitter
    from morphable.formats import load_model
    from morphable.landmark_backends import finding_backend

    from ..photo.photo_rig import PhotoRig

    if isinstance(photo, np.ndarray):
        image = photo
    else:
        from ..inputs import read_photo

        image = read_photo(photo)
    fitter = Fitter(load_model("default"), backend=finding_backend(landmarks or "auto"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the fit's own warnings come back as lines (rig.fit_warnings)
        rig = PhotoRig.from_photo(image, fitter=fitter, face=face)
    return rig, [f"warning: {w}" for w in rig.fit_warnings]


def face_crop(height: int, width: int, frame: list[float], margin: float = PREVIEW_MARGIN) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): a square of margin x the fit frame's side centred on it, moved inside the photo
    (smaller where the photo is)."""
    x0, y0, side = frame
    want = int(round(min(max(side * margin, 1.0), height, width)))
    cx, cy = x0 + side / 2.0, y0 + side / 2.0
    left = int(round(min(max(cx - want / 2.0, 0.0), width - want)))
    top = int(round(min(max(cy - want / 2.0, 0.0), height - want)))
    return left, top, left + want, top + want


def moved_to(photo_rig, image: np.ndarray, frame: list[float]):
    """The same fit (params, builder, shading, head guide, mouth filler, warnings) over another image of the
    photo (a crop, a scaled copy) with the fit frame given in it; its warped window and timings afresh."""
    return dataclasses.replace(photo_rig, image=image, frame=[float(v) for v in frame],
                               fit_warnings=list(photo_rig.fit_warnings), window=None,
                               timing=type(photo_rig.timing)())


def preview_rig(photo_rig, side: int = PREVIEW_SIDE, margin: float = PREVIEW_MARGIN):
    """A PhotoRig over a crop of the photo around the face at screen size (at most `side` px; a small face's
    crop enlarged to PREVIEW_MIN), with the fit's frame moved into it: the live image costs the same for any
    photo size, and a face small in its photo is large enough to see a smile. The photo's own rig when the
    photo is no larger than `side` and the face fills most of it (then the preview is the download's picture)."""
    import cv2

    h, w = photo_rig.image.shape[:2]
    x0, y0, x1, y1 = face_crop(h, w, photo_rig.frame, margin)
    crop_side = x1 - x0
    if max(h, w) <= side and crop_side >= ZOOM_BELOW * min(h, w):
        return photo_rig
    size = int(min(side, max(crop_side, min(PREVIEW_MIN, side))))
    crop = photo_rig.image[y0:y1, x0:x1]   # a view: resized without copying it first (48 MP: ~60 ms an upload)
    if size != crop_side:
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA if size < crop_side else cv2.INTER_CUBIC)
    else:
        crop = np.ascontiguousarray(crop)
    scale = size / float(crop_side)
    fx, fy, fside = photo_rig.frame
    return moved_to(photo_rig, crop, [(fx - x0) * scale, (fy - y0) * scale, fside * scale])


class PhotoEngine(Engine):
    """A real photo edited by the photo engine (rig.photo.PhotoRig): its own pixels warped along the 3DMM flow.

    The live image (preview) is a crop around the face at screen size (preview_rig); render() and frames(),
    the downloads, are the whole photo at its own resolution."""

    kind = "photo"
    original_caption = "photo"

    def __init__(self, photo_rig, size: int = 256, description: str = "", notes: list[str] | None = None):
        self.photo_rig = photo_rig
        self.preview_rig = preview_rig(photo_rig)
        self.model = photo_rig.model
        super().__init__(photo_rig.params, size)
        self.notes = list(notes or [])
        self.description = description or ("uploaded photo through the photo engine (rig.photo.PhotoRig: the "
                                            "photo's own pixels, warped)")
        h, w = photo_rig.image.shape[:2]
        if self.preview_rig is not photo_rig:
            ph = self.preview_rig.image.shape[0]
            self.description += f"; {w}x{h} px, live view {ph} px around the face, downloads full size"

    def held_limits(self, name: str, limits: tuple[float, float]) -> tuple[float, float]:
        """yaw and pitch held to where the warp holds, as absolute angles and as changes from the photo."""
        from ..photo.photo_rig import PITCH_LIMIT, YAW_LIMIT

        held = {"yaw": YAW_LIMIT, "pitch": PITCH_LIMIT}
        if name not in held:
            return limits
        return held_to(held[name], self.controls().value(name))

    def target(self, c: Controls) -> FaceParams:
        """The fitted params with the controls' light and every moved control's column set."""
        return set_controls(self.photo_rig.target(light=self.light_arg(c)), self.moved(c))

    def range_note(self, *cs: Controls) -> str | None:
        return self.photo_rig.range_warning(*[self.target(c) for c in cs])

    def frames(self, cs: list[Controls]) -> np.ndarray:
        return np.stack([self.photo_rig.render(self.target(c)) for c in cs])

    def preview(self, c: Controls) -> np.ndarray:
        """The live image: the crop around the face at screen size (the whole photo when it is small)."""
        return self.preview_rig.render(self.target(c))

    def original(self) -> np.ndarray:
        return self.photo_rig.image

    def caption(self, name: str, value: float) -> str:
        return f"{name} {value:g}"

    def overlay(self, image: np.ndarray, c: Controls, live: bool = True) -> np.ndarray:
        """The target's 3DMM rendered in the fit frame of the image given (the live crop, or the photo when
        not `live`) and blended over it."""
        from morphable.fit.overlay import overlay_image

        rig = self.preview_rig if live else self.photo_rig
        diag = SimpleNamespace(frame=list(rig.frame), detected=None, fitted=None)
        return overlay_image(self.model, image, self.target(c), diag)

    def transfer(self, driver: FaceParams, blocks: list[str], relative: bool = True) -> FaceParams:
        """The driver's blocks on the photo's fitted params (morphable.transfer, with the head's translation)."""
        from morphable.transfer import transfer

        return transfer(self.photo_rig.params, driver.to(dtype=torch.float32), blocks, relative=relative,
                        translation=True)

    def perform(self, driver: FaceParams, blocks: list[str], relative: bool = True, clamp: bool = True,
                progress: bool = False) -> Performance:
        """The photo warped to the driver's blocks (nothing clamped: a frame beyond where the warp holds is a note)."""
        rig = self.photo_rig
        targets = self.transfer(driver, blocks, relative)
        bad = [i for i in range(targets.batch_size) if rig.range_warning(targets[i])]
        notes = []
        if bad:
            worst = max(bad, key=lambda i: abs(float(targets.yaw[i] - rig.params.yaw[0])))
            notes.append(f"{rig.range_warning(targets[worst])} ({len(bad)} of {targets.batch_size} frames; "
                         "the farthest shown)")
        return Performance(self.animate(targets, progress=progress, desc="warping"), targets, targets, 0.0, notes)

    def warm_up(self) -> None:
        """The rig rendered once with the jaw and a lid moved (PhotoRig.warm_up: compiled loops, the mouth filler, the
        photo's own lids)."""
        self.photo_rig.warm_up()

    def animate(self, targets: FaceParams, progress: bool = False, desc: str = "frames") -> np.ndarray:
        """The photo at each row of `targets` (PhotoRig.frames)."""
        return self.photo_rig.frames(targets, progress=progress, desc=desc)
