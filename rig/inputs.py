"""The inputs facerig reads, in one module: a photo (read_photo), a driving clip (open_driver), keyframed tracks
(read_tracks), and the frame cap they share (MAX_FRAMES, check_frame_count). Each returns plain values; a bad
input is one RigError line.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import RigError

#: most frames one animation or reenactment makes (held in memory: 10,000 frames of 256 px are 2 GB)
MAX_FRAMES = 10_000


# ---- photo ----------------------------------------------------------------------------------
def read_photo(path: str | os.PathLike) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB, the way a viewer shows it; RigError when it is not one.

    EXIF orientation is applied (a phone photo stored sideways comes upright), 16-bit and 32-bit
    grey are scaled to 8 bits (not clipped to white), CMYK goes through its ICC profile when it
    has one, palette, grey and alpha images are made RGB, transparency over white; an animated
    file gives its first frame.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise RigError(f"photo not found: {path}")
    try:
        with Image.open(path) as im:
            img = image_to_rgb(im)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise RigError(f"{path} is not a readable image ({type(exc).__name__})") from None
    except Image.DecompressionBombError:
        raise RigError(f"{path} is too large to read ({Image.MAX_IMAGE_PIXELS * 2:,} pixels at most)") from None
    if min(img.shape[:2]) < 8:
        raise RigError(f"{path} is not a usable image (shape {tuple(img.shape)})")
    return img


def image_to_rgb(im) -> np.ndarray:
    """A PIL image (any mode, any EXIF orientation) -> upright (H, W, 3) uint8 RGB (read_photo's rules)."""
    from PIL import ImageOps

    try:
        im.load()
        ImageOps.exif_transpose(im, in_place=True)   # in place: no second copy of a 48 MP photo
    except (OSError, ValueError, KeyError, TypeError, SyntaxError):  # a broken EXIF block: the pixels as stored
        pass
    mode = im.mode
    if mode == "RGB":   # one copy out of PIL (convert() and asarray() each made one)
        return np.frombuffer(im.tobytes(), np.uint8).reshape(im.height, im.width, 3)
    if mode in ("I", "F") or mode.startswith("I;16"):
        return np.repeat(_deep_grey_to_uint8(im, mode)[..., None], 3, axis=2)
    if mode == "CMYK":
        return _cmyk_to_rgb(im)
    if mode in ("P", "PA"):
        im = im.convert("RGBA")
    elif mode in ("LA", "La", "RGBa"):
        im = im.convert("RGBA")
    if im.mode == "RGBA":
        from PIL import Image

        back = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(back, im).convert("RGB"))
    return np.asarray(im.convert("RGB"))


def _deep_grey_to_uint8(im, mode: str) -> np.ndarray:
    """16-bit / 32-bit integer or float grey pixels -> uint8, scaled by the format's range (not clipped)."""
    arr = np.asarray(im).astype(np.float64)
    if mode == "F":
        top = 1.0 if arr.size and np.nanmax(arr) <= 1.0 else 255.0
    elif mode.startswith("I;16") or (arr.size and arr.max() > 255):
        top = 65535.0 if not arr.size or arr.max() <= 65535 else float(2 ** 32 - 1)
    else:
        top = 255.0
    return np.clip(np.nan_to_num(arr) / top * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _cmyk_to_rgb(im) -> np.ndarray:
    """CMYK -> sRGB through the image's own ICC profile when it carries one, else PIL's plain conversion."""
    icc = im.info.get("icc_profile")
    if icc:
        try:
            import io

            from PIL import ImageCms

            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return np.asarray(ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode="RGB"))
        except Exception:  # noqa: BLE001 -- a profile littlecms cannot use: the plain conversion
            pass
    return np.asarray(im.convert("RGB"))


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
