"""Single-photo reenactment: a source face performs a driving clip's expression and head motion.

The driver is tracked with the 3DMM (shared identity, per-frame expression/pose); its chosen
blocks are transferred onto the source's own estimated parameters, either relative to the
driver's first frame (default: the source keeps its own neutral expression and head pose and
only the driver's motion is applied) or absolutely; RigNet turns each target into a latent.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from morphable.camera import Camera
from morphable.params import FaceParams

from .errors import RigError
from .face_rig import FaceRig

TRANSFERABLE = ("expression", "pose", "light")


def check_blocks(blocks: list[str]) -> list[str]:
    unknown = [b for b in blocks if b not in TRANSFERABLE]
    if unknown or not blocks:
        raise RigError(f"--blocks takes a comma-separated subset of {', '.join(TRANSFERABLE)}; got {','.join(blocks)}")
    return blocks


def transfer(source: FaceParams, driver: FaceParams, blocks: list[str], relative: bool = True,
             translation: bool = False, camera: Camera | None = None) -> FaceParams:
    """Targets (T) = source (batch 1) with `blocks` taken from driver (T): driver motion since frame 0
    added to the source when relative, the driver's values when absolute.

    With `translation` the pose block also moves the head: relatively, the head crosses the same
    share of the frame and grows or shrinks by the same factor as the driver's since frame 0 (both
    seen through `camera`, default Camera()); absolutely, it takes the driver's translation. The
    GAN rig leaves it off (its faces are aligned crops).
    """
    t = driver.batch_size
    out = source.map(lambda x: x.expand(t, *x.shape[1:]).clone())
    for block in blocks:
        d = getattr(driver, block)
        if block == "pose":
            rot = d[:, :3] - d[:1, :3] if relative else d[:, :3]
            out.pose[:, :3] = (out.pose[:, :3] + rot) if relative else rot
            if translation:
                out.pose[:, 3:] = moved_translation(source.pose[:1, 3:], d[:, 3:], camera) if relative \
                    else d[:, 3:].to(out.pose.dtype)
        elif block == "expression":
            out.expression = ((out.expression + d - d[:1]) if relative else d.clone()).clamp(0.0, 1.0)
        else:  # light
            out.light = (out.light + d - d[:1]) if relative else d.clone()
    return out


def moved_translation(source: torch.Tensor, driver: torch.Tensor, camera: Camera | None = None) -> torch.Tensor:
    """(T,3) source translations that follow the driver's (T,3) head motion since its frame 0 on screen.

    The head's centre keeps the driver's change of position in the image (NDC), and its depth
    scales by the driver's depth ratio, so the face grows or shrinks by the same factor.
    """
    cam = camera or Camera()
    src = source.reshape(1, 3).to(driver.dtype)
    depth_d = (cam.distance - driver[:, 2]).clamp_min(1e-4)
    depth_s0 = (cam.distance - src[:, 2]).clamp_min(1e-4)
    ndc_d = driver[:, :2] / (depth_d[:, None] * cam.tan_half_fov)
    ndc_s = src[:, :2] / (depth_s0[:, None] * cam.tan_half_fov) + (ndc_d - ndc_d[:1])
    depth_s = depth_s0 * depth_d / depth_d[:1]
    return torch.cat([ndc_s * depth_s[:, None] * cam.tan_half_fov, (cam.distance - depth_s)[:, None]], 1)


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
