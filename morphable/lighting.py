"""Second-order spherical-harmonics (SH) lighting for Lambertian faces, plus named presets.

Light is (B, 9, 3): nine SH coefficients per RGB channel. Shading of a unit normal n is
    shade(n) = sum_k light[k] * basis_k(n)
where basis_k = A_l * Y_k is the real SH function Y_k already convolved with the Lambertian
kernel (A_0 = pi, A_1 = 2pi/3, A_2 = pi/4; Ramamoorthi & Hanrahan 2001), so the coefficients are
the SH projection of the incoming radiance. Band order: Y00, Y1-1(y), Y10(z), Y11(x), Y2-2(xy),
Y2-1(yz), Y20(3z^2-1), Y21(xz), Y22(x^2-y^2). Directions are in camera space: +x image right,
+y up, +z toward the camera.
"""
from __future__ import annotations

import math

import torch

from .errors import MorphableError

_C0 = 0.5 * math.sqrt(1.0 / math.pi)
_C1 = math.sqrt(3.0 / (4.0 * math.pi))
_C2 = 0.5 * math.sqrt(15.0 / math.pi)
_C20 = 0.25 * math.sqrt(5.0 / math.pi)
_C22 = 0.25 * math.sqrt(15.0 / math.pi)
_A = (math.pi, 2.0 * math.pi / 3.0, math.pi / 4.0)

#: ambient coefficient that shades every normal with exactly 1.0
AMBIENT_UNIT = 1.0 / (_A[0] * _C0)


def sh_functions(dirs: torch.Tensor) -> torch.Tensor:
    """Real SH Y_k (k < 9) of unit directions (..., 3) -> (..., 9)."""
    x, y, z = dirs.unbind(-1)
    return torch.stack(
        [
            torch.full_like(x, _C0),
            _C1 * y, _C1 * z, _C1 * x,
            _C2 * x * y, _C2 * y * z, _C20 * (3.0 * z * z - 1.0), _C2 * x * z, _C22 * (x * x - y * y),
        ],
        dim=-1,
    )


def irradiance_basis(normals: torch.Tensor) -> torch.Tensor:
    """Lambertian-convolved SH basis A_l * Y_k of unit normals (..., 3) -> (..., 9)."""
    band = torch.tensor([_A[0]] + [_A[1]] * 3 + [_A[2]] * 5, dtype=normals.dtype, device=normals.device)
    return sh_functions(normals) * band


def shade(normals: torch.Tensor, light: torch.Tensor) -> torch.Tensor:
    """Shading (B, N, 3) for normals (B, N, 3) under light (B, 9, 3)."""
    return torch.einsum("bnk,bkc->bnc", irradiance_basis(normals), light)


def ambient(batch: int = 1, intensity: float = 1.0, device=None, dtype=torch.float32) -> torch.Tensor:
    """Uniform white light that shades every normal with `intensity`."""
    light = torch.zeros(batch, 9, 3, device=device, dtype=dtype)
    light[:, 0, :] = AMBIENT_UNIT * intensity
    return light


def directional(direction, intensity: float = 0.6, ambient_level: float = 0.55, batch: int = 1,
                device=None, dtype=torch.float32) -> torch.Tensor:
    """Ambient plus one distant white light coming from `direction` (camera space, toward the light)."""
    d = torch.as_tensor(direction, dtype=dtype, device=device)
    d = d / d.norm()
    # SH projection of a delta light of radiance `intensity`; the basis convolution makes it Lambertian
    coeffs = sh_functions(d) * intensity
    light = ambient(batch, ambient_level, device=device, dtype=dtype)
    light += coeffs[None, :, None]
    return light


_PRESET_DIRECTIONS = {
    "front": (0.0, 0.0, 1.0),
    "left": (-1.0, 0.15, 0.6),
    "right": (1.0, 0.15, 0.6),
    "top": (0.0, 1.0, 0.5),
    "bottom": (0.0, -1.0, 0.5),
}
LIGHT_PRESETS: tuple[str, ...] = ("ambient",) + tuple(_PRESET_DIRECTIONS)


def preset(name: str, batch: int = 1, device=None, dtype=torch.float32) -> torch.Tensor:
    """Named light (B, 9, 3). 'left'/'right' mean lit from the image's left/right."""
    if name == "ambient":
        return ambient(batch, 1.0, device=device, dtype=dtype)
    if name not in _PRESET_DIRECTIONS:
        raise MorphableError(f"unknown light preset {name!r}; choose one of {', '.join(LIGHT_PRESETS)}")
    return directional(_PRESET_DIRECTIONS[name], batch=batch, device=device, dtype=dtype)
