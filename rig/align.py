"""Frame any face photo the way the GAN's training data (UTKFace "aligned & cropped") is framed.

The framing was measured (scripts/make_align_template.py): mean dlib landmarks over UTKFace,
stored in assets/align/utkface_template.json. A photo is mapped onto it by a least-squares
similarity transform (Umeyama) on the stable inner landmarks (brows, nose, eyes, mouth).
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from morphable.landmarks import LandmarkBackend, as_rgb_uint8, detect_landmarks

from .errors import RigError

TEMPLATE_PATH = Path(__file__).resolve().parents[1] / "assets" / "align" / "utkface_template.json"
# Inner landmarks (brows, nose, eyes, mouth); the jaw outline is too unstable to align on.
ALIGN_POINTS = np.arange(17, 68)


@functools.lru_cache(maxsize=4)
def load_template(path: str | Path = TEMPLATE_PATH) -> np.ndarray:
    """The 68 template landmarks (68,2), normalised to the unit frame (x,y in 0..1)."""
    try:
        record = json.loads(Path(path).read_text())
        pts = np.asarray(record["points"], dtype=np.float64)
    except (OSError, ValueError, KeyError) as exc:
        raise RigError(f"cannot read alignment template {path}: {exc}") from None
    if pts.shape != (68, 2):
        raise RigError(f"alignment template {path} has shape {pts.shape}, expected (68, 2)")
    return pts


def template_points(size: int = 128, template: str | Path = TEMPLATE_PATH) -> np.ndarray:
    """Template landmarks in pixels of a size x size aligned image."""
    return load_template(template) * float(size)


def umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, shift) taking src (N,2) onto dst (N,2).

    Returns the 2x3 matrix A with dst ~= A[:, :2] @ src + A[:, 2] (Umeyama, PAMI 1991).
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    fix = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        fix[1, 1] = -1.0
    rot = u @ fix @ vt
    var_s = (s0 ** 2).sum() / len(src)
    scale = float((sig * np.diag(fix)).sum() / var_s) if var_s > 0 else 1.0
    shift = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, shift[:, None]])


def apply_transform(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map points (N,2) x,y through a 2x3 affine matrix."""
    pts = np.asarray(points, dtype=np.float64)
    return pts @ transform[:, :2].T + transform[:, 2]


def invert_transform(transform: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine matrix (aligned px -> photo px)."""
    lin = np.linalg.inv(transform[:, :2])
    return np.hstack([lin, (-lin @ transform[:, 2])[:, None]])


def warp(image: np.ndarray, transform: np.ndarray, size: int) -> np.ndarray:
    """Resample `image` into a size x size frame through `transform` (photo px -> frame px).

    Large shrinks are pre-filtered with an antialiased PIL resize to avoid aliasing; borders
    outside the photo repeat the edge pixels (UTKFace frames have no black borders).
    """
    img = as_rgb_uint8(image)
    scale = float(np.sqrt(abs(np.linalg.det(transform[:, :2]))))
    if scale < 0.8:  # shrink the photo first so the final resampling is close to 1:1
        h, w = img.shape[:2]
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        img = np.asarray(Image.fromarray(img).resize((nw, nh), Image.LANCZOS))
        pre = np.diag([nw / w, nh / h])
        transform = np.hstack([transform[:, :2] @ np.linalg.inv(pre), transform[:, 2:]])
    inv = invert_transform(transform)  # frame (x,y) -> photo (x,y)
    # ndimage works in (row, col) = (y, x) order.
    matrix = inv[::-1, :2][:, ::-1]
    offset = inv[::-1, 2]
    out = np.empty((size, size, 3), dtype=np.float64)
    src = img.astype(np.float64)
    for c in range(3):
        out[..., c] = ndimage.affine_transform(src[..., c], matrix, offset=offset,
                                               output_shape=(size, size), order=3, mode="nearest")
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def estimate_transform(points: np.ndarray, size: int = 128,
                       template: str | Path = TEMPLATE_PATH) -> np.ndarray:
    """Similarity (2x3, photo px -> aligned px) taking 68 landmarks onto the template."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape != (68, 2):
        raise RigError(f"alignment needs (68, 2) landmarks, got {pts.shape}")
    return umeyama(pts[ALIGN_POINTS], template_points(size, template)[ALIGN_POINTS])


def align_face(image: np.ndarray, size: int = 128, name: str = "the image",
               backend: LandmarkBackend | None = None,
               template: str | Path = TEMPLATE_PATH) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crop/rotate/scale a photo to the training framing at `size` px.

    Returns (aligned uint8 (size,size,3), transform 2x3 photo px -> aligned px, the 68 landmarks
    mapped into the aligned frame). No face -> RigError naming `name`.
    """
    if size < 8:
        raise RigError(f"alignment size must be at least 8 px, got {size}")
    img = as_rgb_uint8(image)
    pts = detect_landmarks(img, backend)
    if pts is None:
        raise RigError(f"no face found in {name}")
    transform = estimate_transform(pts, size, template)
    return warp(img, transform, size), transform, apply_transform(transform, pts)


def landmark_rms(points: np.ndarray, size: int = 128, template: str | Path = TEMPLATE_PATH) -> float:
    """RMS px distance of aligned-frame landmarks (inner 51) from the template."""
    diff = np.asarray(points)[ALIGN_POINTS] - template_points(size, template)[ALIGN_POINTS]
    return float(np.sqrt((diff ** 2).sum(-1).mean()))
