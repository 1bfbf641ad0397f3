"""Parameter transfer: a source face takes chosen blocks (expression, pose, light) of a driver's frames.

Relative (default): the driver's motion since its frame 0 is added to the source's own values,
so the source keeps its neutral expression and head pose; absolute: the driver's values. Used by
every reenactment (the GAN rig, the photo engine, the live session).
"""
from __future__ import annotations

import torch

from .camera import Camera
from .errors import MorphableError
from .params import FaceParams

#: the blocks a driver can hand to a source
TRANSFERABLE = ("expression", "pose", "light")
#: the blink weights, transferred as the share of the eye's opening kept (see transfer)
BLINKS = ("eyeBlinkLeft", "eyeBlinkRight")
#: a driver's eye shut further than this at its frame 0 counts as this open (the opening it reopens by is capped)
MIN_OPEN = 0.2


def check_blocks(blocks: list[str]) -> list[str]:
    """`blocks` when it is a non-empty subset of TRANSFERABLE; a MorphableError (one line) otherwise."""
    unknown = [b for b in blocks if b not in TRANSFERABLE]
    if unknown or not blocks:
        raise MorphableError(f"--blocks takes a comma-separated subset of {', '.join(TRANSFERABLE)}; "
                             f"got {','.join(blocks)}")
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
            if relative:
                blinks = _blinks()
                out.expression[:, blinks] = relative_blinks(source.expression[:1, blinks], d[:, blinks])
        else:  # light
            out.light = (out.light + d - d[:1]) if relative else d.clone()
    return out


def _blinks() -> list[int]:
    from .arkit import expression_index

    return [expression_index(n) for n in BLINKS]


def relative_blinks(source: torch.Tensor, driver: torch.Tensor) -> torch.Tensor:
    """(T,2) source blink weights whose eyes keep the share of their opening the driver's keep of its frame 0's.

    A blink weight is the share of the eye's opening the upper lid covers (morphable.fit.mesh_expression),
    so an eye's motion is a ratio: a driver whose eyes are half shut at frame 0 (blink 0.5) and then open
    (0) doubles its opening, and so does the source, whatever its own blink; an added difference left the
    source's eye as it was (a source read open cannot go below 0). Below 0 is an eye opened wider than the
    source's own (the photo engine's eye stage draws it; the GAN rig's trained range clamps it)."""
    kept = (1.0 - driver) / (1.0 - driver[:1]).clamp_min(MIN_OPEN)
    return (1.0 - (1.0 - source.to(driver.dtype)) * kept).clamp(max=1.0)


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
