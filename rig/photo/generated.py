"""A generated face as a photo: the rig bundle's generator drawn at a latent, upscaled, handed to the photo engine.

The 64 px generators draw neutral frontal faces best and their own pose/expression control is weak;
the photo engine warps the drawn face along the fitted 3DMM instead, so pose and expression are
exact and the person is the one drawn. Outputs are at least MIN_SIDE px so the watermark survives
an ordinary resize and JPEG (rig.provenance.watermark).
"""
from __future__ import annotations

import numpy as np
import torch

#: no edit of a generated face is written smaller than this (px, the shorter side): at 256 px the mark was
#: found in 8 of 20 edits after a 75% resize + JPEG q75, at 384 in 19, at 512 in 20 (docs/generated_faces.md)
MIN_SIDE = 512
#: the engine `facerig edit --seed/--latent` uses when none is named (chosen by bench/bench_generated_warp.py,
#: docs/generated_faces.md)
DEFAULT_ENGINE = "gan"
ENGINES = ("gan", "warp")


def at_least(image: np.ndarray, side: int = MIN_SIDE) -> tuple[np.ndarray, str | None]:
    """(H,W,3) uint8 scaled up (Lanczos, aspect kept) so its shorter side is >= `side`, and the note saying so
    (None when it was already large enough)."""
    from ..frames import to_height

    h, w = image.shape[:2]
    if min(h, w) >= side:
        return image, None
    height = int(np.ceil(side * h / min(h, w)))
    out = to_height(image[None], height)[0]
    return out, f"upscaled from {w}x{h} to {out.shape[1]}x{out.shape[0]} px (Lanczos)"


@torch.no_grad()
def generated_photo(rig, ws: torch.Tensor, side: int = MIN_SIDE) -> tuple[np.ndarray, str | None]:
    """(side,side,3) uint8: the generator's face at `ws` (first row) upscaled for the photo engine, and the note."""
    image = rig.to_uint8(rig.image(ws[:1]))[0]
    return at_least(image, side)


def generated_photo_rig(rig, ws: torch.Tensor, side: int = MIN_SIDE):
    """The photo engine's rig on the generated face (rig.photo.flows.fit_photo), its warning lines and the
    upscale note; RigError / MorphableError (one line) when no face is found in what the generator drew."""
    from .flows import fit_photo

    image, note = generated_photo(rig, ws, side)
    photo_rig, notes = fit_photo(image)
    return photo_rig, notes, note
