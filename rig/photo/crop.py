"""The part of a photo the photo engine works on: a window around one face, and pasting it back.

The engine's flow is zero on its fit frame's border (rig.photo.extend), so an edit changes only
pixels inside that frame. A Window is the frame plus a margin, clipped to the photo; the rig
warps the window's pixels and pastes the result back with a feathered seam that lies in the
margin, where nothing moved. Time and memory follow the face, not the photo: an 8000x6000
photo with a 720 px face warps a ~1900 px square, not 48 MP. A very close face (a window over
WORK_MAX px) is warped reduced, and only the edit's change is scaled back up onto the photo.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

#: the window reaches this fraction of the frame's side beyond the frame on every side
MARGIN = 0.12
#: longest side (px) of the pixels the engine warps; a larger window is reduced to it
WORK_MAX = 3072


@dataclass(frozen=True)
class Window:
    """A rectangle (x0, y0, x1, y1) of whole photo px and the scale its pixels are warped at (<= 1)."""

    x0: int
    y0: int
    x1: int
    y1: int
    scale: float = 1.0

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the warped pixels."""
        return (max(1, round((self.x1 - self.x0) * self.scale)), max(1, round((self.y1 - self.y0) * self.scale)))

    def covers(self, shape: Sequence[int]) -> bool:
        """True when the window is the whole photo of `shape` at full resolution."""
        return (self.x0, self.y0, self.x1, self.y1, self.scale) == (0, 0, shape[1], shape[0], 1.0)

    def cut(self, photo: np.ndarray) -> np.ndarray:
        """The window's pixels (H,W,3) uint8, reduced by `scale`."""
        part = photo[self.y0:self.y1, self.x0:self.x1]
        if self.scale == 1.0:
            return np.ascontiguousarray(part)
        from PIL import Image

        return np.asarray(Image.fromarray(np.ascontiguousarray(part)).resize(self.size, Image.LANCZOS))

    def to_local(self, frame: Sequence[float]) -> list[float]:
        """A frame [x0, y0, side] in photo px -> the same in the warped pixels."""
        return [(float(frame[0]) - self.x0) * self.scale, (float(frame[1]) - self.y0) * self.scale,
                float(frame[2]) * self.scale]

    def to_photo(self, frame: Sequence[float]) -> list[float]:
        """A frame [x0, y0, side] in the warped pixels -> photo px."""
        return [float(frame[0]) / self.scale + self.x0, float(frame[1]) / self.scale + self.y0,
                float(frame[2]) / self.scale]

    def feather(self, shape: Sequence[int], width: float) -> np.ndarray:
        """(h, w) float32 weights of the window's photo pixels: 0 at edges inside the photo, 1 `width` px in.

        Edges on the photo's own border are not feathered (nothing lies beyond them)."""
        h, w = self.y1 - self.y0, self.x1 - self.x0
        width = max(1.0, float(width))

        def ramp(n: int, open_lo: bool, open_hi: bool) -> np.ndarray:
            pos = np.arange(n, dtype=np.float32) + 0.5
            r = np.ones(n, np.float32)
            if open_lo:
                r = np.minimum(r, pos / width)
            if open_hi:
                r = np.minimum(r, (n - pos) / width)
            r = np.clip(r, 0.0, 1.0)
            return r * r * (3.0 - 2.0 * r)            # smoothstep: no kink where the ramp meets 1

        ry = ramp(h, self.y0 > 0, self.y1 < shape[0])
        rx = ramp(w, self.x0 > 0, self.x1 < shape[1])
        return ry[:, None] * rx[None, :]

    def seam_width(self) -> float:
        """paste's default seam: half the margin, in photo px."""
        return MARGIN * 0.5 * min(self.x1 - self.x0, self.y1 - self.y0)

    def seam(self, photo: np.ndarray, width: float | None = None) -> "Seam":
        """What paste() reads of this window and `photo` alone (a full-resolution window), taken once for a caller
        that pastes many frames into one photo (PhotoRig)."""
        return Seam.of(self.feather(photo.shape, self.seam_width() if width is None else width), photo, self)

    def paste(self, photo: np.ndarray, warped: np.ndarray, width: float | None = None,
              weight: np.ndarray | None = None, cut: np.ndarray | None = None, seam: "Seam | None" = None) -> np.ndarray:
        """A copy of `photo` with `warped` (the window's pixels after an edit) blended in over a feathered seam.

        A reduced window (scale < 1) adds only the edit's change, scaled up, to the photo's own pixels:
        what the edit left alone keeps the photo's full sharpness instead of an upscaled copy of it.
        `weight` (feather(photo.shape, width)) and `cut` (cut(photo)), or at full resolution `seam`
        (seam(photo, width)): the same, computed once by a caller that pastes many frames into one photo."""
        out = np.array(photo, copy=True)
        view = out[self.y0:self.y1, self.x0:self.x1]
        if self.scale == 1.0:
            if seam is None:
                seam = self.seam(photo, width) if weight is None else Seam.of(weight, photo, self)
            view[seam.inner] = warped[seam.inner]        # inside the seam: the warped pixels as they are
            ys, xs = seam.band                           # the feathered band only, in float
            if len(ys):
                a, b = seam.band_photo, warped[ys, xs].astype(np.float32)
                view[ys, xs] = np.clip(a + (b - a) * seam.band_weight + 0.5, 0, 255).astype(np.uint8)
            return out
        wgt = self.feather(photo.shape, self.seam_width() if width is None else width) if weight is None else weight
        from PIL import Image

        change = warped.astype(np.float32) - (self.cut(photo) if cut is None else cut).astype(np.float32)
        size = (self.x1 - self.x0, self.y1 - self.y0)
        for c in range(3):   # the change scaled up, weighted by the feather, added to the photo's own pixels
            up = np.asarray(Image.fromarray(change[..., c], "F").resize(size, Image.BICUBIC)) * wgt
            view[..., c] = np.clip(view[..., c] + up + 0.5, 0, 255).astype(np.uint8)
        return out


@dataclass(frozen=True, eq=False)
class Seam:
    """A full-resolution window's paste parts over one photo (Window.seam): the feather weights, the pixels where
    they are 1 (a box), the band where they are not, its weights (N,1) and the photo's own pixels there (N,3)."""

    weight: np.ndarray
    inner: tuple[slice, slice] | np.ndarray
    band: tuple[np.ndarray, np.ndarray]
    band_weight: np.ndarray
    band_photo: np.ndarray

    @staticmethod
    def of(weight: np.ndarray, photo: np.ndarray, window: Window) -> "Seam":
        """The seam of given feather weights (Window.feather's, or Window.paste's `weight`)."""
        full = weight >= 1.0
        rows, cols = np.nonzero(full.any(1))[0], np.nonzero(full.any(0))[0]
        inner: tuple[slice, slice] | np.ndarray = full
        if len(rows) and full[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].all() and full.sum() == len(rows) * len(cols):
            inner = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))   # a box (always, for feather's)
        ys, xs = np.nonzero(~full)
        view = photo[window.y0:window.y1, window.x0:window.x1]
        return Seam(weight, inner, (ys, xs), weight[ys, xs, None], view[ys, xs].astype(np.float32))


def window_for(shape: Sequence[int], frame: Sequence[float], margin: float = MARGIN,
               work_max: int = WORK_MAX) -> Window:
    """The window around a fit frame [x0, y0, side] (photo px) in a photo of `shape` (H, W, ...)."""
    x0, y0, side = (float(v) for v in frame)
    pad = margin * side
    return window_around(shape, x0 - pad, y0 - pad, x0 + side + pad, y0 + side + pad, work_max)


def window_around(shape: Sequence[int], left: float, top: float, right: float, bottom: float,
                  work_max: int = WORK_MAX) -> Window:
    """The whole photo px covering the box (left, top, right, bottom), clipped to a photo of `shape`,
    reduced to `work_max` on its longest side; the whole photo when the box barely touches it."""
    h, w = int(shape[0]), int(shape[1])
    wx0, wy0 = max(0, int(np.floor(left))), max(0, int(np.floor(top)))
    wx1, wy1 = min(w, int(np.ceil(right))), min(h, int(np.ceil(bottom)))
    if wx1 - wx0 < 8 or wy1 - wy0 < 8:   # a frame off the photo: the whole photo
        wx0, wy0, wx1, wy1 = 0, 0, w, h
    scale = min(1.0, work_max / max(wx1 - wx0, wy1 - wy0))
    return Window(wx0, wy0, wx1, wy1, scale)


def whole(shape: Sequence[int], work_max: int | None = None) -> Window:
    """The whole photo as a window (reduced to work_max on its longest side when given)."""
    h, w = int(shape[0]), int(shape[1])
    scale = 1.0 if work_max is None else min(1.0, work_max / max(h, w))
    return Window(0, 0, w, h, scale)
