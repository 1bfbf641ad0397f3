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
#: each eye's lid weights (blink, squint, wide): together they set how open the eye is, transferred as the share
#: of the opening kept (relative_lids)
LIDS = tuple(tuple(f"eye{k}{e}" for k in ("Blink", "Squint", "Wide")) for e in ("Left", "Right"))
#: the share of an eye's opening that eyeSquint 1 closes and eyeWide 1 opens (the default model's lid landmarks:
#: eyeSquint raises the lower lid by 0.36 of the opening, eyeWide lifts the upper one by 0.40); eyeBlink 1 shuts it
SQUINT_SHARE, WIDE_SHARE = 0.36, 0.40
#: a source's eye opens to at most 1 / MIN_OPEN times its own (a driver nearly shut in frame 0 that opens)
MIN_OPEN = 0.2
#: an eye open less than this share of its neutral opening is shut
SHUT = 1e-3
#: changes of a driver's eye opening below this share of it are the tracker's noise (MediaPipe's lids on a calm eye
#: move by 2-5% of the opening): the source's eye stays as it is; the change is drawn in full from twice this
OPEN_NOISE = 0.05


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
                for lids in _lids():
                    out.expression[:, lids[0]] = relative_lids(source.expression[:1, lids], d[:, lids],
                                                               out.expression[:, lids])
                out.expression = relative_gaze(source.expression[:1], d, out.expression)
        else:  # light
            out.light = (out.light + d - d[:1]) if relative else d.clone()
    return out


def _lids() -> list[list[int]]:
    from .arkit import expression_index

    return [[expression_index(n) for n in eye] for eye in LIDS]


def relative_gaze(source: torch.Tensor, driver: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(T,52) `target` whose eyeLook* weights turn the source's eyes by the driver's eye rotation since its frame 0.

    Gaze is an angle held as one-sided weights (eyeLookIn/Out, Up/Down: morphable.gaze): an added difference of
    weights, clamped at 0, lost every turn back past the source's own (a driver looking left in frame 0 who then
    looks ahead turned the source's eyes nowhere), so the angles are added instead."""
    from .gaze import eye_angles, with_gaze

    d = driver.to(target.dtype)
    angles = eye_angles(source.to(target.dtype)) + eye_angles(d) - eye_angles(d[:1])
    return with_gaze(target, angles)


def opening(lids: torch.Tensor) -> torch.Tensor:
    """(T,) an eye's opening, as a share of its neutral one, from its (T,3) blink, squint and wide weights."""
    return (1.0 - lids[:, 0] - SQUINT_SHARE * lids[:, 1] + WIDE_SHARE * lids[:, 2]).clamp_min(0.0)


def relative_lids(source: torch.Tensor, driver: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(T,) blink weights of one eye that open the source's eye by the driver's ratio to its frame 0's opening.

    source (1,3) and driver (T,3): blink, squint, wide; target (T,3): the same after the additive transfer (its
    squint and wide are kept: the photo engine's flow raises the cheek with the squint). The blink makes up the
    rest, so a driver whose frame 0 squints (the lower lid up) and who then relaxes opens the source's eye, which
    an added squint difference could not (a source read at squint 0 cannot go below 0). A blink below 0 is an eye
    opened wider than the source's own (the photo engine's eye stage draws it; the GAN rig's trained range clamps it).
    Changes within OPEN_NOISE of the driver's frame-0 opening are dropped (a calm eye stays the source's own)."""
    src = source.to(driver.dtype)
    now, first = opening(driver), opening(driver[:1])
    # frame 0 keeps exactly the source's eye, however shut the driver's is there (dividing by a floored frame-0
    # opening, as before, shut the source of a driver squeezed nearly shut in frame 0)
    kept = torch.where(first > SHUT, now / first.clamp_min(SHUT), torch.where(now > SHUT, 1.0 / MIN_OPEN, 1.0))
    kept = kept.clamp(max=1.0 / MIN_OPEN)
    change = kept - 1.0
    kept = 1.0 + change * ((change.abs() - OPEN_NOISE) / OPEN_NOISE).clamp(0.0, 1.0)
    t = target.to(driver.dtype)
    return (1.0 - SQUINT_SHARE * t[:, 1] + WIDE_SHARE * t[:, 2] - opening(src) * kept).clamp(max=1.0)


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
