"""uint8 frames for viewing: upscaled, cropped to squares, tiled into labelled grids (demos, sweeps, docs)."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def labelled_grid(rows: list[list[np.ndarray]], row_labels: list[str] | None = None,
                  col_labels: list[list[str]] | None = None, pad: int = 4) -> np.ndarray:
    """Tile (H,W,3) uint8 images into rows with an optional caption under each image."""
    h, w = rows[0][0].shape[:2]
    font = ImageFont.load_default()
    cap = 14 if col_labels else 0
    lab = 110 if row_labels else 0
    ncol = max(len(r) for r in rows)
    canvas = Image.new("RGB", (lab + ncol * (w + pad) + pad, len(rows) * (h + cap + pad) + pad), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for r, row in enumerate(rows):
        y = pad + r * (h + cap + pad)
        if row_labels:
            draw.text((4, y + h // 2 - 6), row_labels[r], fill=(0, 0, 0), font=font)
        for c, img in enumerate(row):
            x = lab + pad + c * (w + pad)
            canvas.paste(Image.fromarray(img), (x, y))
            if col_labels and c < len(col_labels[r]):
                draw.text((x + 2, y + h + 1), col_labels[r][c], fill=(0, 0, 0), font=font)
    return np.asarray(canvas)


def upscale(frames: np.ndarray, size: int, fast: bool = False) -> np.ndarray:
    """(T,H,W,3) uint8 -> (T,size,size,3) with Lanczos, for viewing small generator outputs.

    fast: bilinear up / box down instead (the app's live image, where a few ms count).
    """
    if frames.shape[1] == size and frames.shape[2] == size:
        return frames
    resample = (Image.BILINEAR if frames.shape[1] < size else Image.BOX) if fast else Image.LANCZOS
    return np.stack([np.asarray(Image.fromarray(f).resize((size, size), resample)) for f in frames])


def to_height(frames: np.ndarray, height: int) -> np.ndarray:
    """(T,H,W,3) uint8 Lanczos-scaled to `height`, the aspect kept (the photo engine's frames are not square)."""
    frames = np.asarray(frames)
    h, w = frames.shape[1:3]
    if h == height:
        return frames
    size = (max(1, round(w * height / h)), int(height))
    return np.stack([np.asarray(Image.fromarray(f).resize(size, Image.LANCZOS)) for f in frames])


def square(frames: list[np.ndarray] | np.ndarray) -> np.ndarray:
    """Centre-crop frames to squares so they sit beside the generated ones."""
    h, w = frames[0].shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    return np.stack([f[y:y + s, x:x + s] for f in frames])
