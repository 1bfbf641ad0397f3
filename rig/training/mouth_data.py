"""Open-mouth training crops from UTKFace: MediaPipe's inner lips find the opening, a box around it is cut.

Each face gets MediaPipe's 468-point mesh (morphable.landmarks_mp); the inner-lip loop gives the
opening (lip gap over mouth width) and the crop: a square of CROP_SCALE x the mouth's corner-to-
corner width centred on the inner lips, resampled to CROP px. On UTKFace's 128 px faces the mouth
is ~40 px wide, so the 64 px crop is close to 1:1 (no invented detail). The crops, the inner-lip
points in crop px and the names go to one uint8/float .npz cache (never committed).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# the crop and its points are the mouth stage's own: training and the engine must cut alike
# (MediaPipe's inner lip in loop order, the outer corners; crop side over corner width, crop px)
from ..photo.mouth import CROP, CROP_SCALE
from ..photo.mouth import MESH_CORNERS as CORNERS
from ..photo.mouth import MESH_INNER_LIP as INNER_LIP

#: the middle of the inner upper and lower lip
MID_UPPER, MID_LOWER = 13, 14
#: share of UTKFace names held out (by a hash of the name; never trained on)
HELD_OUT = 0.1


def held_out(name: str, share: float = HELD_OUT) -> bool:
    """True for the fixed `share` of names kept for evaluation (a salted hash of the base name)."""
    digest = hashlib.sha1(("mouth:" + Path(name).name).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64 < share


def mouth_box(mesh: np.ndarray, scale: float = CROP_SCALE) -> tuple[float, float, float]:
    """(cx, cy, side) in image px of the square crop around the mouth of a (468,2+) mesh."""
    lips = mesh[list(INNER_LIP), :2]
    c = lips.mean(0)
    width = float(np.linalg.norm(mesh[CORNERS[0], :2] - mesh[CORNERS[1], :2]))
    return float(c[0]), float(c[1]), scale * width


def opening(mesh: np.ndarray) -> float:
    """Gap between the inner lips' middles over the mouth's corner-to-corner width."""
    gap = float(np.linalg.norm(mesh[MID_UPPER, :2] - mesh[MID_LOWER, :2]))
    width = float(np.linalg.norm(mesh[CORNERS[0], :2] - mesh[CORNERS[1], :2]))
    return gap / max(width, 1e-6)


def crop_image(image: np.ndarray, box: tuple[float, float, float], size: int = CROP) -> np.ndarray:
    """The (size,size,3) uint8 bilinear crop of `image` over the square `box` (cx, cy, side)."""
    from PIL import Image

    cx, cy, side = box
    x0, y0 = cx - side / 2, cy - side / 2
    im = Image.fromarray(image)
    out = im.transform((size, size), Image.Transform.EXTENT, (x0, y0, x0 + side, y0 + side),
                       resample=Image.Resampling.BILINEAR)
    return np.asarray(out, dtype=np.uint8)


def to_crop(points: np.ndarray, box: tuple[float, float, float], size: int = CROP) -> np.ndarray:
    """Image px points (N,2) -> crop px (pixel centres at i + 0.5 in both systems)."""
    cx, cy, side = box
    return (points - np.array([cx - side / 2, cy - side / 2])) * (size / side)


@dataclass
class MouthSet:
    """Open-mouth crops (N,S,S,3) uint8, inner lips (N,20,2) crop px, openings, names, held-out flags."""

    crops: np.ndarray
    lips: np.ndarray
    openings: np.ndarray
    names: list[str]
    held: np.ndarray

    def save(self, path: str | os.PathLike) -> None:
        from basics.atomic import atomic_output

        with atomic_output(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, crops=self.crops, lips=self.lips.astype(np.float32), openings=self.openings,
                         names=np.array(self.names), held=self.held)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "MouthSet":
        with np.load(path, allow_pickle=False) as z:
            return cls(z["crops"], z["lips"], z["openings"], [str(n) for n in z["names"]], z["held"])

    def select(self, keep: np.ndarray) -> "MouthSet":
        idx = np.flatnonzero(keep)
        return MouthSet(self.crops[idx], self.lips[idx], self.openings[idx], [self.names[i] for i in idx],
                        self.held[idx])


def build_mouth_set(source: str | os.PathLike, min_opening: float = 0.08, limit: int | None = None,
                    progress: bool = False, held_only: bool = False) -> MouthSet:
    """Decode `source` (UTKFace zip or folder), run MediaPipe on each face, keep mouths open >= min_opening
    (only the held-out names with `held_only`)."""
    from gan.dataset import decode_image, list_images
    from morphable.landmarks_mp import MediaPipeBackend

    names, read = list_images(source)
    if held_only:
        names = [n for n in names if held_out(n)]
    if limit is not None:
        names = names[:limit]
    backend = MediaPipeBackend(max_faces=1)
    crops, lips, opens, kept = [], [], [], []
    it = names
    if progress:
        from tqdm import tqdm

        it = tqdm(names, desc="mouths", unit="img", mininterval=10)
    for name in it:
        try:
            image = decode_image(read(name))
        except Exception:  # noqa: BLE001 -- an undecodable file is skipped, as in training
            continue
        meshes = backend.meshes(image)
        if not meshes:
            continue
        mesh = meshes[0]
        op = opening(mesh)
        if op < min_opening:
            continue
        box = mouth_box(mesh)
        crops.append(crop_image(image, box))
        lips.append(to_crop(mesh[list(INNER_LIP), :2], box))
        opens.append(op)
        kept.append(name)
    n = len(kept)
    return MouthSet(np.stack(crops) if n else np.zeros((0, CROP, CROP, 3), np.uint8),
                    np.stack(lips).astype(np.float32) if n else np.zeros((0, len(INNER_LIP), 2), np.float32),
                    np.array(opens, np.float32), kept, np.array([held_out(k) for k in kept], bool))
