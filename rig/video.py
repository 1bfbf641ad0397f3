"""Write frame sequences as MP4 (ffmpeg from imageio-ffmpeg), GIF, or a folder of PNGs, atomically."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from morphable.fileio import atomic_output

from .errors import RigError

VIDEO_SUFFIXES = (".mp4", ".gif")


def upscale(frames: np.ndarray, size: int) -> np.ndarray:
    """(T,H,W,3) uint8 -> (T,size,size,3) with Lanczos, for viewing small generator outputs."""
    if frames.shape[1] == size:
        return frames
    return np.stack([np.asarray(Image.fromarray(f).resize((size, size), Image.LANCZOS)) for f in frames])


def write_video(path: str | Path, frames: np.ndarray, fps: float) -> Path:
    """Write (T,H,W,3) uint8 frames to .mp4 (H.264, yuv420p), .gif, or a folder of PNGs (no suffix)."""
    path = Path(path)
    frames = np.asarray(frames, dtype=np.uint8)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise RigError(f"no frames to write to {path}")
    suffix = path.suffix.lower()
    if suffix == ".mp4":
        import imageio.v2 as imageio

        with atomic_output(path) as tmp:
            # macro_block_size=1 keeps odd sizes; yuv420p plays everywhere
            with imageio.get_writer(tmp, format="FFMPEG", fps=fps, codec="libx264", quality=8,
                                    pixelformat="yuv420p", macro_block_size=1) as writer:
                for frame in frames:
                    writer.append_data(frame)
    elif suffix == ".gif":
        with atomic_output(path) as tmp:
            images = [Image.fromarray(f) for f in frames]
            images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                           duration=int(round(1000 / fps)), loop=0)
    elif suffix == "":
        path.mkdir(parents=True, exist_ok=True)
        for i, frame in enumerate(frames):
            with atomic_output(path / f"frame_{i:05d}.png") as tmp:
                Image.fromarray(frame).save(tmp, format="PNG")
    else:
        raise RigError(f"video output {path} must end in .mp4 or .gif (or be a folder for PNG frames)")
    return path
