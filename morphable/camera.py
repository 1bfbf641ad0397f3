"""Camera: a perspective pinhole looking at the head, and its matching pytorch3d camera.

Convention. The camera sits at (0, 0, distance) in the model space of morphable.pose (metres,
+x image right, +y up, +z toward the camera) and looks down -z at the origin, with no
rotation, so "camera space" directions equal model-space directions (the lighting and the
rendered normals use them). A point p has depth d = distance - p.z and lands on the pixel
coordinates
    u = size/2 + f * p.x / d,    v = size/2 - f * p.y / d,    f = (size/2) / tan(fov/2)
with u to the right and v down; pixel (i, j) (column i, row j) covers [i, i+1] x [j, j+1], so
its centre is (i + 0.5, j + 0.5). fov_deg is the full field of view across the (square) image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .errors import MorphableError


@dataclass(frozen=True)
class Camera:
    """Square-image pinhole camera on the +z axis looking at the origin (see module docstring)."""

    fov_deg: float = 12.0
    distance: float = 1.2
    znear: float = 0.05
    zfar: float = 100.0

    def __post_init__(self) -> None:
        if not 0.0 < self.fov_deg < 179.0:
            raise MorphableError(f"camera fov_deg must be in (0, 179), got {self.fov_deg}")
        if self.distance <= 0.0:
            raise MorphableError(f"camera distance must be positive, got {self.distance}")

    @property
    def tan_half_fov(self) -> float:
        return math.tan(math.radians(self.fov_deg) / 2.0)

    def focal_pixels(self, size: int) -> float:
        """Focal length in pixels for a size x size image."""
        return (size / 2.0) / self.tan_half_fov

    def view_height(self) -> float:
        """Height (metres) the image spans in the plane z = 0 through the origin."""
        return 2.0 * self.distance * self.tan_half_fov

    def depth(self, points: torch.Tensor) -> torch.Tensor:
        """Distance along the viewing axis (..., N) of model-space points (..., N, 3)."""
        return self.distance - points[..., 2]

    def to_ndc(self, points: torch.Tensor) -> torch.Tensor:
        """Points (B,N,3) -> (B,N,2) normalised coordinates in [-1, 1]: x right, y up."""
        d = self.depth(points).clamp_min(1e-6)[..., None]
        return points[..., :2] / (d * self.tan_half_fov)

    def project(self, points: torch.Tensor, size: int) -> torch.Tensor:
        """Model-space points (B,N,3) -> pixel coordinates (B,N,2), x right, y down (differentiable)."""
        ndc = self.to_ndc(points)
        half = size / 2.0
        return torch.stack([half + half * ndc[..., 0], half - half * ndc[..., 1]], dim=-1)

    def pytorch3d(self, batch: int = 1, device=None):
        """The equivalent pytorch3d FoVPerspectiveCameras (batch copies).

        pytorch3d's view space has +x left, +y up, +z forward, so the world-to-view rotation is
        diag(-1, 1, -1) (row-vector convention) and the translation (0, 0, distance).
        """
        from pytorch3d.renderer import FoVPerspectiveCameras

        device = torch.device("cpu") if device is None else torch.device(device)
        rot = torch.diag(torch.tensor([-1.0, 1.0, -1.0], device=device)).expand(batch, 3, 3)
        trans = torch.tensor([[0.0, 0.0, self.distance]], device=device).expand(batch, 3)
        return FoVPerspectiveCameras(znear=self.znear, zfar=self.zfar, fov=self.fov_deg, degrees=True,
                                     R=rot, T=trans, device=device)
