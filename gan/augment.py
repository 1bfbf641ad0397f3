"""Differentiable augmentation before the discriminator (the DiffAugment idea, Zhao et al. 2020).

Colour (brightness, saturation, contrast), translation by up to 1/8 of the image with zero
fill, and cutout of a half-size square. The same ops run on real and fake images, and every
op is differentiable in the image, so G learns through them. Random parameters are drawn
from an explicit CPU generator for the whole global batch (each DDP rank takes its slice),
which keeps training deterministic and exactly resumable.
"""
from __future__ import annotations

import torch

from .errors import GanError

POLICIES = {"diffaugment": ("color", "translation", "cutout"), "none": ()}


def policy_ops(policy: str) -> tuple[str, ...]:
    """The ops of a named policy ('diffaugment', 'none') or a comma list of op names."""
    if policy in POLICIES:
        return POLICIES[policy]
    ops = tuple(p.strip() for p in policy.split(",") if p.strip())
    bad = [p for p in ops if p not in POLICIES["diffaugment"]]
    if bad:
        raise GanError(f"unknown augmentation {bad[0]!r}; use diffaugment, none, or a list of "
                       "color,translation,cutout")
    return ops


def sample_params(ops: tuple[str, ...], n: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Random draws (CPU, one row per image) for `n` images; fixed order so states replay."""
    p: dict[str, torch.Tensor] = {}
    if "color" in ops:
        p["brightness"] = torch.rand(n, generator=generator) - 0.5
        p["saturation"] = torch.rand(n, generator=generator) * 2.0
        p["contrast"] = torch.rand(n, generator=generator) + 0.5
    if "translation" in ops:
        p["translation"] = torch.rand(n, 2, generator=generator) * 2.0 - 1.0  # fraction of max shift
    if "cutout" in ops:
        p["cutout"] = torch.rand(n, 2, generator=generator)  # centre, fraction of size
    return p


def apply(x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """Augment images x (B,C,H,W) with drawn parameters (rows match x's batch)."""
    if "brightness" in params:
        x = _color(x, *(params[k].to(x.device, x.dtype) for k in ("brightness", "saturation", "contrast")))
    if "translation" in params:
        x = _translate(x, params["translation"].to(x.device))
    if "cutout" in params:
        x = _cutout(x, params["cutout"].to(x.device))
    return x


def augment(x: torch.Tensor, ops: tuple[str, ...], generator: torch.Generator,
            rows: slice | None = None, total: int | None = None) -> torch.Tensor:
    """Draw parameters for `total` images, keep `rows` (this rank's slice) and apply them to x."""
    if not ops:
        return x
    params = sample_params(ops, total or x.shape[0], generator)
    if rows is not None:
        params = {k: v[rows] for k, v in params.items()}
    return apply(x, params)


def _color(x: torch.Tensor, brightness: torch.Tensor, saturation: torch.Tensor,
           contrast: torch.Tensor) -> torch.Tensor:
    x = x + brightness.view(-1, 1, 1, 1)
    mean_c = x.mean(dim=1, keepdim=True)
    x = (x - mean_c) * saturation.view(-1, 1, 1, 1) + mean_c
    mean_all = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean_all) * contrast.view(-1, 1, 1, 1) + mean_all


def _translate(x: torch.Tensor, frac: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by whole pixels (up to ratio*size), filling uncovered pixels with 0."""
    b, c, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.round(frac[:, 0] * sy).long()
    dx = torch.round(frac[:, 1] * sx).long()
    padded = torch.nn.functional.pad(x, [sx, sx, sy, sy])
    iy = (torch.arange(h, device=x.device).view(1, h, 1) + sy - dy.view(b, 1, 1)).expand(b, h, w)
    ix = (torch.arange(w, device=x.device).view(1, 1, w) + sx - dx.view(b, 1, 1)).expand(b, h, w)
    ib = torch.arange(b, device=x.device).view(b, 1, 1).expand(b, h, w)
    return padded.permute(0, 2, 3, 1)[ib, iy, ix].permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor, centre: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero a square of ratio*size at a random centre (it may hang over the border)."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = (centre[:, 0] * h).long().view(b, 1, 1)
    cx = (centre[:, 1] * w).long().view(b, 1, 1)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    y0, x0 = cy - ch // 2, cx - cw // 2
    inside = (ys >= y0) & (ys < y0 + ch) & (xs >= x0) & (xs < x0 + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)
