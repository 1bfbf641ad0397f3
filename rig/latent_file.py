"""LATENT.npz, what `facerig invert` writes: ws (1, num_ws, w_dim) float32, noise maps and how it was made.

Entries: ws, noise.<buffer> (the optimised noise maps), generator (path), generator_config (JSON),
photo, align_transform (2x3), align_points (68x2), aligned (the aligned photo), steps, seed, psnr,
ssim, dlib_distance. Plain arrays only: readable with allow_pickle=False.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from basics.npz import read_npz

from .errors import RigError

NOISE_PREFIX = "noise."
WHAT = "a facerig latent file (an .npz of plain arrays with a (1, num_ws, w_dim) 'ws', as `facerig invert` writes)"


def latent_arrays(inversion, generator: str, generator_config: dict, photo: str) -> dict[str, np.ndarray]:
    """The arrays of a LATENT.npz for a rig.pipeline.Inversion."""
    a = inversion.aligned
    arrays: dict[str, np.ndarray] = {
        "ws": inversion.ws.detach().cpu().numpy().astype(np.float32),
        "generator": np.array(str(generator)),
        "generator_config": np.array(json.dumps(generator_config)),
        "photo": np.array(str(photo)),
        "align_transform": a.transform.astype(np.float64),
        "align_points": a.points.astype(np.float64),
        "aligned": a.image,
        "steps": np.array(inversion.settings.get("steps", 0)),
        "seed": np.array(inversion.settings.get("seed", 0)),
        "psnr": np.array(inversion.psnr),
        "ssim": np.array(inversion.ssim),
        "dlib_distance": np.array(np.nan if inversion.dlib_distance is None else inversion.dlib_distance),
    }
    arrays.update({NOISE_PREFIX + k: v.detach().cpu().numpy().astype(np.float32) for k, v in inversion.noise.items()})
    return arrays


def write_latent(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Write the arrays as an .npz at `path` (a temp path from rig.outputs: the rename makes it atomic)."""
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def read_latent(path: str | os.PathLike) -> dict:
    """Load a LATENT.npz: {'ws', 'noise' {name: array}, other fields}; RigError saying what it should be."""
    path = Path(path)
    if not path.is_file():
        raise RigError(f"latent file not found: {path}")
    arrays = read_npz(path, WHAT, RigError)
    if "ws" not in arrays or arrays["ws"].ndim != 3:
        raise RigError(f"{path} is not {WHAT}")
    out: dict = {"noise": {}}
    for k, v in arrays.items():
        if k.startswith(NOISE_PREFIX):
            out["noise"][k[len(NOISE_PREFIX):]] = v
        else:
            out[k] = v.item() if v.ndim == 0 and v.dtype.kind == "U" else v
    return out
