"""The conversions a published file meets (JPEG, resizing, cropping, brightness, H.264), for tests and benches."""
from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Round trip through a JPEG at `quality` (Pillow, 4:2:0 chroma as most encoders do)."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


def resize(image: np.ndarray, factor: float) -> np.ndarray:
    """Resize both sides by `factor` (Lanczos, as image hosts do when they shrink uploads)."""
    h, w = image.shape[:2]
    size = (max(1, int(round(w * factor))), max(1, int(round(h * factor))))
    return np.asarray(Image.fromarray(image).resize(size, Image.LANCZOS))


def crop(image: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """Cut `share` of each side's length away (at a random place), keeping (1-share) x (1-share)."""
    h, w = image.shape[:2]
    ch, cw = int(round(h * (1 - share))), int(round(w * (1 - share)))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return image[y:y + ch, x:x + cw]


def brightness(image: np.ndarray, change: float) -> np.ndarray:
    """Scale every channel by (1 + change), rounded and clipped."""
    return np.clip(np.rint(image.astype(np.float64) * (1 + change)), 0, 255).astype(np.uint8)


def reencode_h264(data: bytes, crf: int = 23) -> bytes:
    """Re-encode MP4 bytes with ffmpeg's libx264 at `crf` (23 is its default), as a video site would."""
    import subprocess

    import imageio_ffmpeg

    fd_in, src = tempfile.mkstemp(suffix=".mp4")
    fd_out, dst = tempfile.mkstemp(suffix=".mp4")
    os.close(fd_in)
    os.close(fd_out)
    try:
        Path(src).write_bytes(data)
        cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", src, "-c:v", "libx264",
               "-crf", str(crf), "-preset", "medium", "-pix_fmt", "yuv420p", dst]
        subprocess.run(cmd, check=True, capture_output=True)
        return Path(dst).read_bytes()
    finally:
        Path(src).unlink(missing_ok=True)
        Path(dst).unlink(missing_ok=True)


def standard_attacks(rng: np.random.Generator) -> dict:
    """name -> image function: the conversions measured in docs/provenance.md."""
    return {
        "none": lambda a: a,
        "jpeg90": lambda a: jpeg(a, 90),
        "jpeg75": lambda a: jpeg(a, 75),
        "jpeg50": lambda a: jpeg(a, 50),
        "resize50": lambda a: resize(a, 0.5),
        "crop10": lambda a: crop(a, 0.10, rng),
        "bright2": lambda a: brightness(a, 0.02),
    }
