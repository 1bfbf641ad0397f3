"""What every render of one photo reads and no render changes: the rig's fixed inputs, built once.

The window's pixels (uint8, and as a float tensor), the fit frame in them and the frame grid over
them, the photo's fitted params and their mesh view, the flow builder; and, asked for once on first
use, the photo's own lids and irises (MediaPipe). Stages (rig.photo.stages) read it through the
render state.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from morphable.params import FaceParams

from .flow import FlowBuilder, MeshView
from .warp import frame_grid


@dataclass(eq=False)
class Scene:
    """One photo's window as the stages see it."""

    pixels: np.ndarray       # (H,W,3) uint8: the window's pixels (reduced when the window is)
    photo: torch.Tensor      # (3,H,W) float in [0,1]: the same
    frame: list[float]       # the fit frame [x0, y0, side] in those pixels
    grid: torch.Tensor       # (1,H,W,2) frame_grid of those pixels
    params: FaceParams       # (1) the photo's fitted params
    source: MeshView         # the params' mesh seen at the flow size
    builder: FlowBuilder

    @classmethod
    def build(cls, pixels: np.ndarray, frame: list[float], params: FaceParams, builder: FlowBuilder) -> "Scene":
        """The scene of window pixels (H,W,3) uint8 whose fit frame is `frame` (their px)."""
        pixels = np.array(pixels, dtype=np.uint8)
        h, w = pixels.shape[:2]
        photo = torch.from_numpy(pixels).permute(2, 0, 1).float() / 255.0
        return cls(pixels, photo, frame, frame_grid(h, w, frame), params, builder.view(params), builder)

    @cached_property
    def eyes(self) -> dict | None:
        """The photo's own lids and irises (rig.photo.eyes.photo_eyes), found on first use."""
        from .eyes import photo_eyes

        return photo_eyes(self.pixels)

    @cached_property
    def eye_inputs(self) -> tuple:
        """What the eye stage reads of the photo alone (rig.photo.eyes.eye_inputs), taken on first use."""
        from .eyes import eye_inputs

        return eye_inputs(self)
