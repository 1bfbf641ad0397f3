"""Keyframed parameter tracks -> rig edits -> frames: one face performing an animation."""
from __future__ import annotations

import numpy as np
import torch

from morphable.animation import Tracks
from morphable.params import FaceParams

from .facerig import FaceRig


@torch.no_grad()
def animation_params(rig: FaceRig, ws: torch.Tensor, tracks: Tracks) -> FaceParams:
    """Per-frame target params: the face's own estimated params with the animated channels replaced."""
    base = rig.params(ws[:1])
    return tracks.sample(base=base)


@torch.no_grad()
def render_animation(rig: FaceRig, ws: torch.Tensor, tracks: Tracks, batch: int = 16,
                     progress: bool = True) -> tuple[np.ndarray, FaceParams]:
    """Frames (T,H,W,3) uint8 of `ws` (1,num_ws,w_dim) performing `tracks`, and the target params."""
    targets = animation_params(rig, ws, tracks)
    return rig.frames(ws, targets, batch=batch, progress=progress, desc="animate"), targets
