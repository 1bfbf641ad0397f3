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


def square(frames: list[np.ndarray] | np.ndarray, size: int | None = None) -> np.ndarray:
    """Centre-crop frames to squares so they sit beside the generated ones; frames of different sizes (a
    folder of mixed photos) are each cropped, then all scaled to `size` (default: the first frame's square)."""
    tiles = []
    for f in frames:
        h, w = f.shape[:2]
        s = min(h, w)
        y, x = (h - s) // 2, (w - s) // 2
        tiles.append(np.ascontiguousarray(f[y:y + s, x:x + s]))
    side = size or tiles[0].shape[0]
    return np.stack([t if t.shape[0] == side else np.asarray(Image.fromarray(t).resize((side, side), Image.LANCZOS))
                     for t in tiles])


def fit_into(frames: list[np.ndarray] | np.ndarray, height: int, width: int | None = None) -> np.ndarray:
    """(T,height,width,3) uint8: each frame scaled to fit the box, its aspect kept, centred on black.

    `width` defaults to the first frame's width at `height`; frames of other sizes (a folder of mixed
    photos) are letterboxed into the same box, so they can be stacked and set beside the results."""
    h0, w0 = frames[0].shape[:2]
    width = width or max(1, round(w0 * height / h0))
    out = np.zeros((len(frames), height, width, 3), np.uint8)
    for i, f in enumerate(frames):
        h, w = f.shape[:2]
        k = min(height / h, width / w)
        size = (max(1, min(width, round(w * k))), max(1, min(height, round(h * k))))
        img = f if (w, h) == size else np.asarray(Image.fromarray(np.ascontiguousarray(f)).resize(size, Image.LANCZOS))
        y, x = (height - size[1]) // 2, (width - size[0]) // 2
        out[i, y:y + size[1], x:x + size[0]] = img
    return out
