"""Pick the 68 iBUG landmark vertices of a model by data: dlib on renders of its mean face.

The mean face is rendered (with its albedo) under several head poses; dlib's 68 points are
mapped back through pix_to_face + barycentrics onto the unposed mesh surface, averaged over the
poses, and snapped to the nearest skin vertex. Jawline points are silhouette points, so they come
from the frontal view only.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .camera import Camera
from .errors import MorphableError
from .landmarks import detect_landmarks
from .lighting import directional
from .model import MorphableModel
from .render import Renderer, to_uint8

#: (yaw, pitch) in degrees of the views used; the first must be frontal
VIEWS: tuple[tuple[float, float], ...] = ((0, 0), (12, 0), (-12, 0), (0, 8), (0, -8), (22, 0), (-22, 0))
JAW = range(0, 17)
#: how far (pixels) a point off the silhouette may be moved onto the mesh
SNAP_PX = 8


def render_views(model: MorphableModel, size: int, camera: Camera,
                 views: tuple[tuple[float, float], ...] = VIEWS):
    """Render the mean face under (yaw, pitch) views with a soft frontal light -> (RenderOutput, uint8 images)."""
    p = model.neutral_params(len(views))
    p.pose[:, 0] = torch.tensor([v[0] for v in views], dtype=p.pose.dtype)
    p.pose[:, 1] = torch.tensor([v[1] for v in views], dtype=p.pose.dtype)
    p = p.replace(light=directional((0.0, 0.3, 1.0), intensity=0.5, ambient_level=0.7, batch=len(views)))
    with torch.no_grad():
        out = Renderer(model, size, camera)(p)
    return out, [to_uint8(img) for img in out.image]


def _surface_points(model: MorphableModel, out, view: int, pts: np.ndarray) -> np.ndarray:
    """Pixel points (N,2) of one view -> unposed mesh surface points (N,3); NaN where off the mesh."""
    h, w = out.pix_to_face.shape[1:]
    res = np.full((len(pts), 3), np.nan)
    tmpl = model.template.double().numpy()
    faces = model.faces.numpy()
    hits = [np.argwhere(out.pix_to_face[k].numpy() >= 0) for k in range(out.pix_to_face.shape[0])]
    for i, (x, y) in enumerate(pts):
        col, row = int(np.clip(x, 0, w - 1)), int(np.clip(y, 0, h - 1))
        if int(out.pix_to_face[view, row, col]) < 0:  # just off the silhouette: nearest mesh pixel
            near = hits[view] if hits[view].size else None
            if near is None:
                continue
            k = np.argmin(((near - [row, col]) ** 2).sum(1))
            if ((near[k] - [row, col]) ** 2).sum() > SNAP_PX ** 2:
                continue
            row, col = near[k]
        f = int(out.pix_to_face[view, row, col])
        bary = out.bary[view, row, col].double().numpy()
        res[i] = bary @ tmpl[faces[f]]
    return res


def select_landmarks(model: MorphableModel, size: int = 256, camera: Camera | None = None,
                     img_dir: Path | None = None, allowed: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """68 vertex indices (iBUG order) and a summary dict; overlay pictures go to img_dir if given.

    `allowed` (V,) bool restricts the snap to some vertices (default: all).
    """
    camera = camera or Camera()
    out, images = render_views(model, size, camera)
    points = np.full((len(VIEWS), 68, 3), np.nan)
    detected = []
    for v, img in enumerate(images):
        lm = detect_landmarks(img)
        detected.append(lm)
        if lm is not None:
            points[v] = _surface_points(model, out, v, lm)
    if detected[0] is None:
        raise MorphableError("dlib found no face on the frontal render of the mean head")
    points[1:, list(JAW)] = np.nan  # silhouette points: frontal view only
    target = np.nanmean(points, axis=0)
    tmpl = model.template.double().numpy()
    cand = np.flatnonzero(allowed) if allowed is not None else np.arange(len(tmpl))
    dist = np.linalg.norm(tmpl[cand][None] - target[:, None], axis=2)
    idx = cand[np.argmin(dist, axis=1)]
    info = {"views": [list(v) for v in VIEWS], "detected": [d is not None for d in detected],
            "render_size": size, "snap_mm_mean": float(dist.min(1).mean() * 1000)}
    if img_dir is not None:
        save_overlay(model, images[0], detected[0], idx, camera, Path(img_dir) / "default_landmarks.png")
    return idx, info


def project_landmarks(model: MorphableModel, idx: np.ndarray, size: int, camera: Camera) -> np.ndarray:
    """Pixel positions (68,2) of landmark vertices on the frontal neutral mean face."""
    p = model.neutral_params(1)
    verts = model.vertices(p)[:, torch.as_tensor(idx)]
    return camera.project(verts, size)[0].detach().numpy()


def save_overlay(model: MorphableModel, image: np.ndarray, detected: np.ndarray, idx: np.ndarray,
                 camera: Camera, path: Path) -> None:
    """Frontal render with dlib's points (green) and the chosen vertices projected (red)."""
    import imageio.v3 as iio

    from .fileio import atomic_output

    img = image.copy()
    proj = project_landmarks(model, idx, img.shape[0], camera)

    def dot(p, colour):
        x, y = int(round(p[0])), int(round(p[1]))
        img[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2] = colour

    for p in detected:
        dot(p, (0, 255, 0))
    for p in proj:
        dot(p, (255, 0, 0))
    with atomic_output(path) as tmp:
        iio.imwrite(tmp, img)
