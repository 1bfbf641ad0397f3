"""Gaze: each eye's rotation in degrees and ARKit's eight eyeLook* weights, one from the other.

ARKit (and so FaceParams.expression) holds gaze as four weights per eye: eyeLookIn/Out/Up/Down.
Live Link Face's CSV, glTF eye nodes and animators want angles. One linear map joins them:
weight 1 is the eye turned by EYE_YAW_MAX (in or out) or EYE_PITCH_MAX (up or down), which is
about the comfortable range of human eye rotation (roughly 30-35 deg sideways, 25-30 up/down).

Angles follow the head's conventions (morphable.pose): yaw > 0 turns the eye toward image right
(the subject's own left), pitch > 0 looks up. For the left eye (the subject's left) looking to the
subject's left is eyeLookOutLeft; for the right eye it is eyeLookInRight.

    eye_angles(expression)   (B,52) weights -> (B,2,2) [left, right] x [yaw, pitch] degrees
    look_weights(angles)     (B,2,2) degrees -> {name: (B,)} the eight eyeLook* weights in [0, 1]
    with_gaze(expression, angles)  the (B,52) weights with the eyeLook* block replaced
"""
from __future__ import annotations

import torch

from .arkit import expression_index

#: eye yaw (deg) at eyeLookIn/Out weight 1
EYE_YAW_MAX = 30.0
#: eye pitch (deg) at eyeLookUp/Down weight 1
EYE_PITCH_MAX = 25.0
#: eye order of the angle arrays
EYES: tuple[str, ...] = ("Left", "Right")
#: the eight ARKit gaze weights
LOOK_NAMES: tuple[str, ...] = tuple(f"eyeLook{d}{e}" for e in EYES for d in ("Down", "In", "Out", "Up"))


def _sideways(eye: str) -> tuple[str, str]:
    """(weight name for yaw > 0, weight name for yaw < 0) of one eye."""
    return (f"eyeLookOut{eye}", f"eyeLookIn{eye}") if eye == "Left" else (f"eyeLookIn{eye}", f"eyeLookOut{eye}")


def eye_angles(expression: torch.Tensor) -> torch.Tensor:
    """(B,52) ARKit weights -> (B,2,2) eye [yaw, pitch] in degrees, eyes in EYES order."""
    e = torch.as_tensor(expression)
    cols = []
    for eye in EYES:
        pos, neg = _sideways(eye)
        yaw = (e[:, expression_index(pos)] - e[:, expression_index(neg)]) * EYE_YAW_MAX
        pitch = (e[:, expression_index(f"eyeLookUp{eye}")] - e[:, expression_index(f"eyeLookDown{eye}")]) * EYE_PITCH_MAX
        cols.append(torch.stack([yaw, pitch], dim=-1))
    return torch.stack(cols, dim=1)


def look_weights(angles: torch.Tensor) -> dict[str, torch.Tensor]:
    """(B,2,2) eye [yaw, pitch] degrees -> the eight eyeLook* weights (B,), clipped to [0, 1]."""
    a = torch.as_tensor(angles)
    out: dict[str, torch.Tensor] = {}
    for k, eye in enumerate(EYES):
        pos, neg = _sideways(eye)
        yaw, pitch = a[:, k, 0] / EYE_YAW_MAX, a[:, k, 1] / EYE_PITCH_MAX
        out[pos], out[neg] = yaw.clamp(0.0, 1.0), (-yaw).clamp(0.0, 1.0)
        out[f"eyeLookUp{eye}"], out[f"eyeLookDown{eye}"] = pitch.clamp(0.0, 1.0), (-pitch).clamp(0.0, 1.0)
    return out


def with_gaze(expression: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """A copy of the (B,52) weights whose eyeLook* weights encode `angles` (B,2,2 degrees)."""
    out = torch.as_tensor(expression).clone()
    for name, value in look_weights(angles).items():
        out[:, expression_index(name)] = value.to(out.dtype)
    return out
