"""Atomic file output for the gan package, and writing image grids."""
from __future__ import annotations

import math
import os
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np
import torch

from basics import atomic

from .errors import GanError


def atomic_output(path: str | os.PathLike) -> AbstractContextManager[Path]:
    """Yield a temp path beside `path` (same suffix); it replaces `path` only if the block succeeds."""
    return atomic.atomic_output(path, GanError)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, C, H, W) images in [-1, 1] -> (B, H, W, C) uint8 (rounded, clipped)."""
    x = (images.detach().float().cpu() * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


def image_grid(images: torch.Tensor, cols: int | None = None) -> np.ndarray:
    """Tile (B, C, H, W) images in [-1, 1] into one uint8 (rows*H, cols*W, C) array (black fill)."""
    arr = to_uint8(images)
    b, h, w, c = arr.shape
    cols = cols or math.ceil(math.sqrt(b))
    rows = math.ceil(b / cols)
    grid = np.zeros((rows * h, cols * w, c), dtype=np.uint8)
    for i in range(b):
        r, q = divmod(i, cols)
        grid[r * h:(r + 1) * h, q * w:(q + 1) * w] = arr[i]
    return grid[..., 0] if c == 1 else grid


def save_image(array: np.ndarray, path: str | os.PathLike) -> None:
    """Write a uint8 image atomically; the format follows the suffix (png, jpg, webp, ...)."""
    import imageio.v3 as iio

    with atomic_output(path) as tmp:
        try:
            iio.imwrite(tmp, array)
        except (ValueError, OSError) as exc:
            raise GanError(f"cannot write image {path}: {exc}") from None
