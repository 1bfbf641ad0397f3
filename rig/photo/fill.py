"""Face pixels the photo never showed well: disoccluded ones mirrored, smeared eyelids re-coloured.

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


#: source area per target pixel below which a face pixel is a smear (a closing lid spread from the
#: thin band the open eye shows, a cheek turned into view): STRETCH_FULL paints it, STRETCH_NONE leaves it
STRETCH_FULL, STRETCH_NONE = 0.12, 0.3


def stretch_ratio(disp: torch.Tensor) -> torch.Tensor:
    """(S,S) area of the source patch each target pixel reads (Jacobian determinant of the backward map)."""
    s = disp.shape[-1]
    g = torch.arange(s, dtype=torch.float32) + 0.5
    gy, gx = torch.meshgrid(g, g, indexing="ij")
    src = disp + torch.stack([gx, gy])
    dx = torch.gradient(src, dim=2)
    dy = torch.gradient(src, dim=1)
    return (dx[0][0] * dy[0][1] - dx[0][1] * dy[0][0]).abs()


def from_photo(image: torch.Tensor, frame: Sequence[float], size: int) -> torch.Tensor:
    """(3,S,S) frame-grid samples of a (3,H,W) image (the inverse resampling of warp.to_photo)."""
    h, w = image.shape[-2:]
    x0, y0, side = (float(v) for v in frame)
    c = (torch.arange(size, dtype=torch.float32) + 0.5) * side / size
    gx = (x0 + c) / w * 2 - 1
    gy = (y0 + c) / h * 2 - 1
    gyy, gxx = torch.meshgrid(gy, gx, indexing="ij")
    grid = torch.stack([gxx, gyy], -1)[None]
    return torch.nn.functional.grid_sample(image[None], grid, mode="bilinear", padding_mode="border",
                                           align_corners=False)[0]


def stretch_layer(warped: torch.Tensor, flow: Flow, disp: torch.Tensor, frame: Sequence[float],
                  grid: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(colour, alpha) painting strongly stretched eyelid pixels with the smooth skin colour around them.

    The colour is a normalised Gaussian average of the warped image over the face's unstretched
    pixels (an inpainting of colour, not of flow), so a closed eyelid reads as lid skin rather
    than the eyelashes smeared over the eye."""
    from .soft import blur

    s = disp.shape[-1]
    face = (flow.known | flow.holes) & flow.lids   # only lids: on a turned cheek it blurred the texture
    ratio = stretch_ratio(disp)
    alpha = ((STRETCH_NONE - ratio) / (STRETCH_NONE - STRETCH_FULL)).clamp(0.0, 1.0) * face.float()
    if float(alpha.max()) < 0.05:
        return None
    h, w = warped.shape[-2:]
    good = (flow.known & (ratio > STRETCH_NONE)).float()[None]
    small = from_photo(warped, frame, s)
    sigma = 3.0 * s / 128
    colour = blur(small * good, sigma) / blur(good, sigma).clamp_min(1e-3)
    alpha = blur(alpha[None], 0.8 * s / 128).clamp(0.0, 1.0)
    return to_photo(colour, h, w, frame, grid=grid).clamp(0.0, 1.0), to_photo(alpha, h, w, frame, grid=grid)
