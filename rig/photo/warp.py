"""Full-resolution warping of a photo along a frame-grid flow (torch grid_sample).

The flow lives on the fit frame's S x S grid; each photo pixel centre (x + 0.5, y + 0.5) reads
the flow bilinearly at its frame position (zero outside the frame), scaled to photo pixels,
and samples the photo there. So a 1024 px photo gives a 1024 px result whatever S is.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F


def frame_grid(height: int, width: int, frame: Sequence[float]) -> torch.Tensor:
    """(1,H,W,2) grid_sample coordinates of every photo pixel centre inside the frame's square."""
    x0, y0, side = (float(v) for v in frame)
    xs = ((torch.arange(width, dtype=torch.float32) + 0.5) - x0) / side * 2.0 - 1.0
    ys = ((torch.arange(height, dtype=torch.float32) + 0.5) - y0) / side * 2.0 - 1.0
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy], -1)[None]


def to_photo(maps: torch.Tensor, height: int, width: int, frame: Sequence[float], fill: float = 0.0,
             grid: torch.Tensor | None = None) -> torch.Tensor:
    """Resample (C,S,S) frame-grid maps to (C,H,W) photo pixels; `fill` outside the frame."""
    g = frame_grid(height, width, frame) if grid is None else grid
    out = F.grid_sample(maps[None] - fill, g, mode="bilinear", padding_mode="zeros", align_corners=False)[0]
    return out.add_(fill)


def warp(photo: torch.Tensor, disp: torch.Tensor, frame: Sequence[float],
         grid: torch.Tensor | None = None) -> torch.Tensor:
    """Photo (C,H,W) float warped by the backward flow `disp` (2,S,S), frame px at S.

    The photo-size arithmetic runs in place, and the grid is a view of the displacement: each
    photo-size temporary costs its page faults (at 512 px the 13 of them cost more than the sampling)."""
    c, h, w = photo.shape
    side, s = float(frame[2]), disp.shape[-1]
    d = to_photo(disp, h, w, frame, grid=grid).mul_(side / s)      # (2,H,W) photo px
    xs = torch.arange(w, dtype=torch.float32) + 0.5
    ys = torch.arange(h, dtype=torch.float32) + 0.5
    d[0].add_(xs[None, :]).div_(w)                                  # -> sampling positions in [-1, 1]
    d[1].add_(ys[:, None]).div_(h)
    d.mul_(2.0).sub_(1.0)
    return F.grid_sample(photo[None], d.permute(1, 2, 0)[None], mode="bilinear", padding_mode="border",
                         align_corners=False)[0]
