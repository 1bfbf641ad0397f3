"""Disoccluded face pixels (the far cheek on a turn): mirrored from the face's symmetric side.

A target pixel whose surface point the photo never showed takes the photo's colour at the
mirror-image surface point (the left/right partner vertices of rig.photo.flow.mirror_vertices
with the same barycentrics) when the photo shows that one. It is painted over the warp as a
layer with a feathered mask; pixels neither side shows keep the smooth extension's stretch
of their neighbours (a plain flow inpainting). Lighting differences between the two sides are
not corrected.
"""
from __future__ import annotations

from typing import Sequence

import torch

from .flow import Flow
from .soft import feather, spread
from .warp import to_photo, warp


def mirror_layer(photo: torch.Tensor, flow: Flow, frame: Sequence[float],
                 grid: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(colour (3,H,W), alpha (1,H,W)) of the mirror fill, or None when nothing is mirrored."""
    if not bool(flow.mirrored.any()):
        return None
    h, w = photo.shape[-2:]
    s = flow.disp.shape[-1]
    disp = spread(flow.mirror_disp, flow.mirrored, radius=2)
    colour = warp(photo, disp, frame, grid)
    alpha = to_photo(feather(flow.mirrored, sigma=0.6 * s / 128), h, w, frame, grid=grid)
    return colour, alpha
