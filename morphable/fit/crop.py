"""The square frame a face is fitted in: which part of a photo, and resampling it.

Fitted poses and translations are relative to this frame seen by the model's Camera (a
centred pinhole on a square image). For aligned square faces (UTKFace, generated images) the
frame is the whole image, so their params describe the image itself; for a small face in a
large photo it is a square around the detection, recorded in the diagnostics.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import MorphableError

#: side of the face-centred frame relative to the larger side of the detector box
FACE_FRAME_SCALE = 2.2
#: a square image is used whole when the face box spans at least this fraction of it
WHOLE_IMAGE_MIN_FACE = 0.25
FRAME_MODES = ("auto", "image", "face")


@dataclass(frozen=True)
class Frame:
    """Square window (x0, y0, size) in source-image pixels; may reach outside the image."""

    x0: float
    y0: float
    size: float

    def to_frame(self, points: np.ndarray) -> np.ndarray:
        """Source pixel coordinates (...,2) -> this frame's pixel coordinates."""
        return np.asarray(points, dtype=np.float64) - np.array([self.x0, self.y0])

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """This frame's pixel coordinates (...,2) -> source pixel coordinates."""
        return np.asarray(points, dtype=np.float64) + np.array([self.x0, self.y0])

    def as_list(self) -> list[float]:
        return [float(self.x0), float(self.y0), float(self.size)]


def choose_frame(image_shape: tuple[int, ...], box: tuple[float, float, float, float],
                 mode: str = "auto") -> Frame:
    """The fitting frame for a face box (x0,y0,x1,y1) in an image of `image_shape` (H,W,...)."""
    if mode not in FRAME_MODES:
        raise MorphableError(f"frame mode must be one of {', '.join(FRAME_MODES)}, got {mode!r}")
    h, w = image_shape[:2]
    bw, bh = box[2] - box[0], box[3] - box[1]
    whole = mode == "image" or (mode == "auto" and abs(h - w) <= 2 and max(bw, bh) >= WHOLE_IMAGE_MIN_FACE * w)
    if whole:
        side = float(max(h, w))
        return Frame((w - side) / 2.0, (h - side) / 2.0, side)
    side = FACE_FRAME_SCALE * max(bw, bh)
    cx, cy = (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0
    return Frame(cx - side / 2.0, cy - side / 2.0, side)


def crop_frames(images: list[np.ndarray], frames: list[Frame], size: int) -> torch.Tensor:
    """Resample each frame of each (H,W,3) uint8 image to (B,3,size,size) floats in [0,1].

    Bilinear (grid_sample), border pixels repeated outside the image.
    """
    out = []
    for img, fr in zip(images, frames):
        h, w = img.shape[:2]
        t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float() / 255.0
        centres = (torch.arange(size, dtype=torch.float64) + 0.5) * (fr.size / size)
        xs = (fr.x0 + centres) / w * 2.0 - 1.0   # align_corners=False normalisation
        ys = (fr.y0 + centres) / h * 2.0 - 1.0
        grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], -1)[None].float()
        out.append(torch.nn.functional.grid_sample(t, grid, mode="bilinear", padding_mode="border",
                                                   align_corners=False))
    return torch.cat(out)
