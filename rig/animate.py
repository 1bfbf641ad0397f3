"""Keyframed parameter tracks -> rig edits -> frames: one face performing an animation."""
from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

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
    vec = targets.to_vector().to(rig.device)
    frames = []
    for start in tqdm(range(0, len(vec), batch), desc="animate", unit="batch", disable=not progress):
        chunk = vec[start:start + batch]
        edited = rig.rignet(ws[:1].expand(len(chunk), -1, -1), chunk)
        frames.append(rig.to_uint8(rig.image(edited)))
    return np.concatenate(frames), targets
