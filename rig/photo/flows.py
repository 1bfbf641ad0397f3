"""The photo engine's end-to-end flows for the CLI and the demo (plain values in and out, no files written).

    photo  -> fit_photo -> edit_photo / sweep_photo            (`facerig edit --photo`)
    photo, driver -> pipeline.open_driver -> fit_photo -> reenact_photo  (`facerig reenact --photo`, engine warp)
    stand_in_photo()                                          (the demo's photo when the user gives none)

Warnings (several faces, a turn beyond where the warp holds) come back as one-line strings
for the caller to print; errors are RigError / MorphableError (one line, exit 2 in the CLI).
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch

from morphable.params import FaceParams

from .photo_rig import PhotoRig


@dataclass
class PhotoReenactment:
    """Frames of the photo following a tracked driver, and what was commanded."""

    frames: np.ndarray        # (T,H,W,3) uint8 at the photo's resolution
    targets: FaceParams       # (T) the photo's params with the driver's blocks transferred
    driver: object            # rig.pipeline.TrackedDriver
    warnings: list[str]


def fit_photo(photo: str | os.PathLike | np.ndarray, landmarks: str | None = None,
              face: int = 1) -> tuple[PhotoRig, list[str]]:
    """Read and fit a photo's face number `face` (1 = the largest), found at any size; the rig and warning lines."""
    from morphable.fit import Fitter
    from morphable.formats import load_model
    from morphable.landmark_backends import finding_backend

    if isinstance(photo, np.ndarray):
        image = photo
    else:
        from ..pipeline import read_photo

        image = read_photo(photo)
    fitter = Fitter(load_model("default"), backend=finding_backend(landmarks or "auto"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the fit's own warnings come back as lines (rig.fit_warnings)
        rig = PhotoRig.from_photo(image, fitter=fitter, face=face)
    return rig, [f"warning: {w}" for w in rig.fit_warnings]


def edit_photo(rig: PhotoRig, **edit) -> tuple[np.ndarray, list[str]]:
    """(H,W,3) uint8 of the photo edited by PhotoRig.edit keywords, and warning lines."""
    tgt = rig.target(**edit)
    msg = rig.range_warning(tgt)
    return rig.render(tgt), [msg] if msg else []


def sweep_photo(rig: PhotoRig, name: str, values: Sequence[float], edit: Mapping | None = None,
                ) -> tuple[np.ndarray, list[str]]:
    """A labelled grid: the photo, then one edit per value of `name` (a pose angle or an ARKit name)."""
    from ..frames import labelled_grid

    from ..pipeline import sweep_edit

    tiles, captions, targets = [rig.image], ["photo"], []
    for v in values:
        targets.append(rig.target(**sweep_edit(edit, name, v)))
        tiles.append(rig.render(targets[-1]))
        captions.append(f"{name} {v:g}")
    msg = rig.range_warning(*targets)
    return labelled_grid([tiles], None, [captions]), [msg] if msg else []


def reenact_photo(rig: PhotoRig, driver: str | os.PathLike | tuple[list[np.ndarray], float],
                  blocks: Sequence[str] = ("expression", "pose"), relative: bool = True,
                  landmarks: str | None = None, fps: float | None = None, max_frames: int | None = None,
                  progress: bool = False, name: str | None = None) -> PhotoReenactment:
    """The fitted photo performs the driving clip (a path, or pipeline.open_driver's (frames, fps)) by warping its pixels."""
    from ..pipeline import open_driver, track_driver
    from ..reenact import check_blocks, transfer

    blocks = check_blocks(list(blocks))
    frames, rate = driver if isinstance(driver, tuple) else open_driver(driver, fps, max_frames)
    label = name or ("the driver" if isinstance(driver, tuple) else str(driver))
    tracked = track_driver(rig.model, frames, rate, landmarks or "auto", progress=progress, name=label)
    targets = transfer(rig.params, tracked.params.to(dtype=torch.float32), blocks, relative=relative, translation=True)
    bad = [i for i in range(targets.batch_size) if rig.range_warning(targets[i])]
    notes = []
    if bad:
        worst = max(bad, key=lambda i: abs(float(targets.yaw[i] - rig.params.yaw[0])))
        notes.append(f"{rig.range_warning(targets[worst])} ({len(bad)} of {targets.batch_size} frames; the farthest shown)")
    return PhotoReenactment(rig.frames(targets, progress=progress, desc="warping"), targets, tracked, notes)


def stand_in_photo(size: int = 256, seed: int = 11) -> np.ndarray:
    """A photo-like stand-in that is nobody's real face: a textured 3DMM render on a soft backdrop."""
    from morphable import lighting
    from morphable.formats import load_model
    from morphable.render import Renderer

    model = load_model("default")
    p = model.random_params(1, seed=seed, identity_scale=0.8).with_pose(yaw=8, pitch=-3)
    p.pose[:, 4:6] = torch.tensor([0.02, -0.55])   # a little up, further away: head and shoulders room
    p = p.replace(light=lighting.directional((0.5, 0.4, 1.0), intensity=0.45, ambient_level=0.7))
    out = Renderer(model, size=size)(p)
    yy, xx = np.mgrid[0:size, 0:size] / size
    backdrop = np.stack([0.55 + 0.15 * yy, 0.6 + 0.1 * xx, 0.68 - 0.1 * yy], -1)
    img = out.image[0].permute(1, 2, 0).numpy()
    mask = out.mask[0, 0].numpy()[..., None]
    return ((img * mask + backdrop * (1 - mask)) * 255.0 + 0.5).clip(0, 255).astype(np.uint8)
