"""The inputs facerig reads, in one module: a photo (read_photo), a driving clip (open_driver), keyframed tracks
(read_tracks), and the frame cap they share (MAX_FRAMES, check_frame_count). Each returns plain values; a bad
input is one RigError line.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from basics.images import ImageReadError, read_image

from .errors import RigError

#: most frames one animation or reenactment makes (held in memory: 10,000 frames of 256 px are 2 GB)
MAX_FRAMES = 10_000


# ---- photo ----------------------------------------------------------------------------------
def read_photo(path: str | os.PathLike) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB, the way a viewer shows it; RigError when it is not one.

    Decoded by basics.images.read_image (EXIF orientation, 16/32-bit grey scaled, CMYK through its
    ICC profile, palette/grey/alpha made RGB over white, an animated file's first frame), the
    decoder frame folders share; a photo must also be at least 8 px on each side.
    """
    path = Path(path)
    if not path.is_file():
        raise RigError(f"photo not found: {path}")
    try:
        img = read_image(path)
    except ImageReadError as exc:
        raise RigError(str(exc)) from None
    if min(img.shape[:2]) < 8:
        raise RigError(f"{path} is not a usable image (shape {tuple(img.shape)})")
    return img


# ---- driver ---------------------------------------------------------------------------------
def open_driver(path: str | os.PathLike, fps: float | None = None, max_frames: int | None = None,
                ) -> tuple[list[np.ndarray], float]:
    """All frames of a driving video or frame folder, and its frame rate; RigError when there are none.

    Decodes at most MAX_FRAMES + 1 frames, so a clip that is too long is refused before it fills memory.
    A folder's frames are decoded like a photo (read_photo: EXIF orientation, 16-bit, CMYK, alpha).
    """
    from morphable.fit.video_io import DEFAULT_FOLDER_FPS, frame_files, open_frames

    if not Path(path).exists():
        raise RigError(f"driver not found: {path}")
    limit = MAX_FRAMES + 1 if max_frames is None else min(max_frames, MAX_FRAMES + 1)
    if Path(path).is_dir():
        frames = [read_photo(f) for f in frame_files(Path(path))[:limit]]
        rate = float(fps or DEFAULT_FOLDER_FPS)
    else:
        frames_iter, rate = open_frames(path, fps=fps, max_frames=limit)
        frames = list(frames_iter)
    if not frames:
        raise RigError(f"no frames in {path}")
    if len(frames) > MAX_FRAMES:
        raise RigError(f"the driver {path} has more than {MAX_FRAMES:,} frames; facerig makes at most {MAX_FRAMES:,} "
                       f"in one run (use --max-frames or a lower --fps)")
    return frames, rate


# ---- tracks ---------------------------------------------------------------------------------
def read_tracks(path: str | os.PathLike, rate: int | None = None):
    """Keyframed tracks (.json / .yaml, docs/animation.md), a `facerig track` JSONL, or a CSV (Live Link Face's
    layout, or facerig's `time,...`), as morphable.animation.Tracks; `rate`: a Live Link Face timecode's frame rate."""
    from morphable.animation import load_tracks, tracks_from_jsonl

    path = Path(path)
    if path.suffix.lower() == ".csv":
        tracks = _csv_tracks(path, rate)
    elif path.suffix.lower() == ".jsonl" or _starts_like_track_jsonl(path):
        tracks = tracks_from_jsonl(path)
    else:
        tracks = load_tracks(path)
    check_frame_count(tracks.num_frames, f"{path} ({tracks.duration:g} s at {tracks.fps:g} fps)")
    return tracks


def _csv_tracks(path: Path, rate: int | None):
    """Tracks of a Live Link Face CSV, or of facerig's own per-frame CSV (its fps from the median time step)."""
    from morphable.animation import read_csv, tracks_from_frames
    from morphable.livelink import is_livelink_csv, tracks_from_livelink

    if not path.is_file():
        raise RigError(f"track file not found: {path}")
    if is_livelink_csv(path):
        return tracks_from_livelink(path, rate)
    times, values = read_csv(path)
    fps = 1.0 / float(np.median(np.diff(times))) if len(times) > 1 else 25.0
    return tracks_from_frames(times, values, fps)


def _starts_like_track_jsonl(path: Path) -> bool:
    """True when the file's first line is a `facerig track` header (a JSONL named .json)."""
    import json

    try:
        with open(path) as fh:
            first = json.loads(fh.readline())
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(first, dict) and first.get("type") == "header"


def check_frame_count(n: int, what: str) -> None:
    """RigError (before anything is allocated) when `what` asks for more than MAX_FRAMES frames."""
    if n > MAX_FRAMES:
        raise RigError(f"{what} asks for {n:,} frames; facerig makes at most {MAX_FRAMES:,} in one run "
                       f"(shorten the duration or lower the fps)")
