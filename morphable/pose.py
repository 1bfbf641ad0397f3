"""Head pose: yaw/pitch/roll in degrees to rotation matrices, and back.

Model space is right-handed, in metres: +x to the subject's left (image right in a frontal
view), +y up, +z out of the face toward the camera. The camera looks down -z.
Conventions (all angles in degrees, applied as R = Rz(roll) @ Ry(yaw) @ Rx(-pitch)):
- yaw > 0 turns the face toward image right (the subject turns to their left);
- pitch > 0 tilts the face up (chin up);
- roll > 0 tilts the head counter-clockwise as seen in the image.
"""
from __future__ import annotations

import torch


def _axis_rotation(angle_rad: torch.Tensor, axis: str) -> torch.Tensor:
    c, s = torch.cos(angle_rad), torch.sin(angle_rad)
    one, zero = torch.ones_like(c), torch.zeros_like(c)
    if axis == "x":
        rows = [one, zero, zero, zero, c, -s, zero, s, c]
    elif axis == "y":
        rows = [c, zero, s, zero, one, zero, -s, zero, c]
    else:
        rows = [c, -s, zero, s, c, zero, zero, zero, one]
    return torch.stack(rows, dim=-1).reshape(*angle_rad.shape, 3, 3)


def euler_to_matrix(yaw: torch.Tensor, pitch: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """(B,) angles in degrees -> (B,3,3) rotation matrices acting on column vectors."""
    d = torch.pi / 180.0
    rx = _axis_rotation(-pitch * d, "x")
    ry = _axis_rotation(yaw * d, "y")
    rz = _axis_rotation(roll * d, "z")
    return rz @ ry @ rx


def matrix_to_euler(rot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inverse of euler_to_matrix for |yaw| < 90: returns (yaw, pitch, roll) in degrees."""
    # R = Rz(r) Ry(y) Rx(p') with p' = -pitch; R[2,0] = -sin(y)
    yaw = torch.asin((-rot[..., 2, 0]).clamp(-1.0, 1.0))
    pitch_m = torch.atan2(rot[..., 2, 1], rot[..., 2, 2])
    roll = torch.atan2(rot[..., 1, 0], rot[..., 0, 0])
    d = 180.0 / torch.pi
    return yaw * d, -pitch_m * d, roll * d
