"""Single-photo reenactment: a source face performs a driving clip's expression and head motion.

The driver is tracked with the 3DMM (shared identity, per-frame expression/pose); its chosen
blocks are transferred onto the source's own estimated parameters, either relative to the
driver's first frame (default: the source keeps its own neutral expression and head pose and
only the driver's motion is applied) or absolutely (morphable.transfer, re-exported here); RigNet
turns each target into a latent.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from morphable.params import FaceParams
from morphable.transfer import check_blocks, transfer

from .face_rig import FaceRig


@dataclass
class Reenactment:
    frames: np.ndarray          # (T,H,W,3) uint8 generated frames
    targets: FaceParams         # (T) the parameters commanded to the rig (after the trained-range clamp)
    driver: FaceParams          # (T) the tracked driver parameters
    transferred: FaceParams     # (T) the driver's blocks on the source before the clamp (what a 3DMM can play)
    clamped: float = 0.0        # share of frames the clamp changed (0 without a clamp)


@torch.no_grad()
def reenact(rig: FaceRig, ws: torch.Tensor, driver: FaceParams, blocks: list[str], relative: bool = True,
            batch: int = 16, progress: bool = True, clamp: bool = True) -> Reenactment:
    """Generate the source latent `ws` (1,num_ws,w_dim) following the tracked `driver` params.

    With `clamp` (default) the transferred pose angles and expression weights are clamped into the
    bundle's trained range (widened to include the source's own values, so frame 0 stays the
    source): a full blink or a wide-open jaw the estimator never saw would otherwise change the person.
    """
    blocks = check_blocks(blocks)
    source = rig.params(ws[:1])
    transferred = transfer(source, driver.to(rig.device), blocks, relative)
    targets, share = transferred, 0.0
    if clamp and rig.trained_range is not None:
        targets = rig.trained_range.clamp(transferred, blocks, keep=source)
        share = clamped_share(transferred, targets, blocks)
    return Reenactment(rig.frames(ws, targets, batch=batch, progress=progress, desc="reenact"), targets, driver,
                       transferred, share)


def clamped_share(before: FaceParams, after: FaceParams, blocks: list[str]) -> float:
    """Share of frames in which the clamp changed any pose angle or expression weight."""
    parts = [(getattr(before, b) - getattr(after, b)).abs()[:, :3 if b == "pose" else None]
             for b in blocks if b in ("pose", "expression")]
    if not parts:
        return 0.0
    return float((torch.cat(parts, 1).amax(1) > 1e-6).float().mean())
