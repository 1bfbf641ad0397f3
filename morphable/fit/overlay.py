"""Overlay picture of a fit: the photo, the fitted face blended in, detected and fitted landmarks."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..camera import Camera
from ..model import MorphableModel
from ..params import FaceParams
from ..render import Renderer, to_uint8
from .batch import FitDiagnostics

DETECTED_COLOUR = (40, 220, 60)   # green: what the landmark detector found
FITTED_COLOUR = (230, 40, 40)     # red: the fitted model's landmarks
MAX_RENDER = 512


def draw_points(img: Image.Image, points: np.ndarray | None, colour: tuple[int, int, int], radius: float) -> None:
    """Small filled dots at (N,2) pixel positions."""
    if points is None:
        return
    draw = ImageDraw.Draw(img)
    for x, y in np.asarray(points, dtype=float):
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colour)


def overlay_image(model: MorphableModel, photo: np.ndarray, params: FaceParams, diag: FitDiagnostics,
                  alpha: float = 0.55, camera: Camera | None = None) -> np.ndarray:
    """(H,W,3) uint8: the render of params (row 0) blended into its frame, plus both landmark sets."""
    base = Image.fromarray(np.ascontiguousarray(photo[..., :3])).convert("RGB")
    if diag.frame:
        x0, y0, side = diag.frame
        size = int(min(MAX_RENDER, max(16, round(side))))
        with torch.no_grad():
            out = Renderer(model, size=size, camera=camera)(params[0:1])
        face = Image.fromarray(to_uint8(out.image[0])).resize((round(side), round(side)), Image.BILINEAR)
        mask = (out.mask[0, 0].numpy() * alpha * 255).astype(np.uint8)
        mask_img = Image.fromarray(mask).resize((round(side), round(side)), Image.BILINEAR)
        base.paste(face, (round(x0), round(y0)), mask_img)
    radius = max(1.0, min(base.size) / 160.0)
    draw_points(base, diag.detected, DETECTED_COLOUR, radius)
    draw_points(base, diag.fitted, FITTED_COLOUR, radius)
    return np.asarray(base)
