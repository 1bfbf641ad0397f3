"""Reading frames for tracking: a video file through imageio's ffmpeg plugin, or a frame folder (each file
decoded by basics.images, the decoder photos use)."""
from __future__ import annotations

import itertools
import os
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np

from basics.images import ImageReadError, read_image

from ..errors import MorphableError
from ..landmarks import as_rgb_uint8

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
DEFAULT_FOLDER_FPS = 25.0


def frame_files(folder: Path) -> list[Path]:
    """Image files of a folder, sorted by name."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise MorphableError(f"{folder} holds no frames ({', '.join(IMAGE_SUFFIXES)})")
    return files


def _iter_folder(files: list[Path]) -> Iterator[np.ndarray]:
    """Each file decoded as a photo is (basics.images.read_image: EXIF orientation, 16-bit, CMYK, palette, alpha)."""
    for f in files:
        try:
            yield read_image(f)
        except ImageReadError as exc:
            raise MorphableError(f"cannot read frame {f} ({exc.reason})") from None


def promised_frames(meta: dict) -> int | None:
    """How many frames a video's container says it holds (duration x fps), or None when it does not say."""
    duration, fps = meta.get("duration"), meta.get("fps")
    try:
        n = float(duration) * float(fps)
    except (TypeError, ValueError):
        return None
    return int(round(n)) if np.isfinite(n) and n > 0 else None


def _iter_video(path: Path, promised: int | None = None, limit: int | None = None) -> Iterator[np.ndarray]:
    """Decoded frames; at the end a warning with the count read when the container promised more (truncated file)."""
    import imageio.v3 as iio

    read = 0
    try:
        for frame in iio.imiter(path, plugin="FFMPEG"):
            if limit is not None and read >= limit:
                return
            read += 1
            yield as_rgb_uint8(frame)
    except MorphableError:
        raise
    except Exception as exc:  # a stream that breaks part way through
        raise MorphableError(f"cannot decode {path} after {read} frames ({type(exc).__name__})") from None
    if promised is not None and read < promised - 1:  # one frame of rounding in duration x fps
        warnings.warn(f"{path}: read {read} frames, the container promised {promised}; the file looks truncated")


def open_frames(source: str | os.PathLike, fps: float | None = None,
                max_frames: int | None = None) -> tuple[Iterator[np.ndarray], float]:
    """(frame iterator of (H,W,3) uint8, frames per second) for a video file or a frame folder."""
    path = Path(source)
    if not path.exists():
        raise MorphableError(f"video or frame folder not found: {path}")
    if path.is_dir():
        frames: Iterator[np.ndarray] = _iter_folder(frame_files(path))
        rate = float(fps or DEFAULT_FOLDER_FPS)
    else:
        import imageio.v3 as iio

        try:
            meta = iio.immeta(path, plugin="FFMPEG")
        except Exception as exc:
            raise MorphableError(f"{path} is not a readable video ({type(exc).__name__})") from None
        rate = float(fps or meta.get("fps") or DEFAULT_FOLDER_FPS)
        return _iter_video(path, promised_frames(meta), max_frames), rate
    if max_frames is not None:
        frames = itertools.islice(frames, max_frames)
    return frames, rate
