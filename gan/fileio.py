"""Atomic file output for the gan package, and writing image grids."""
from __future__ import annotations

import contextlib
import math
import os
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from .errors import GanError


def _default_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_DEFAULT_MODE = _default_mode()


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside `path` (same suffix); it replaces `path` only if the block succeeds."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    except OSError as exc:
        raise GanError(f"cannot write {path}: {exc.strerror or exc}") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, _DEFAULT_MODE)  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


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
