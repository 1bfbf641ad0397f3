"""Relighting the face skin of a photo by the ratio of target to source SH shading.

ratio = shade(n_t, L_target) / shade(n_s, L_source), n_t the target's normal at a pixel and
n_s the source's normal at the same surface point (pose=True: a turn also moves the shading
the way the fitted light says, a no-op edit has ratio 1 exactly) or n_t again (pose=False: the
light alone changes; the photo engine's default), clamped to [RATIO_MIN, RATIO_MAX],
feathered to 1 at the skin's boundary, and multiplied onto the pixel values as they are: the
photometric fit estimated the light on those values (no gamma), so the ratio is in their space.
A named preset keeps the photo's light level and colour: its coefficients are scaled per
channel so its ambient (DC) term equals the fitted light's.
"""
from __future__ import annotations

from typing import Sequence

import torch

from morphable.lighting import irradiance_basis, preset

from .flow import Flow, FlowBuilder
from .soft import erode, feather
from .warp import to_photo

RATIO_MIN, RATIO_MAX = 0.5, 1.8


def preset_like(name: str, source_light: torch.Tensor) -> torch.Tensor:
    """Preset `name` (9,3) scaled per channel to the DC level of `source_light` (9,3)."""
    p = preset(name)[0].to(source_light.dtype)
    return p * (source_light[0] / p[0]).clamp_min(1e-6)[None]


def ratio_map(builder: FlowBuilder, flow: Flow, source_light: torch.Tensor, target_light: torch.Tensor,
              pose: bool = True) -> torch.Tensor:
    """(3,S,S) shading ratio on the target's skin, feathered to 1 outside it.

    `pose`: the source shading uses the source's normal at each surface point (shading moves with
    a turn); without it both use the target's normal (only the light changes)."""
    s = flow.disp.shape[-1]
    nt = builder.pixel_normals(flow.target)                      # (S,S,3)
    ns = torch.where(flow.known[..., None], flow.src_normals, nt) if pose else nt
    st = torch.einsum("hwk,kc->chw", irradiance_basis(nt), target_light.float())
    ss = torch.einsum("hwk,kc->chw", irradiance_basis(ns), source_light.float())
    ratio = (st / ss.clamp_min(1e-3)).clamp(RATIO_MIN, RATIO_MAX)
    # the face skin and the rest of the head above the chin (a seam at the hairline otherwise),
    # fading in over a few px inside that outline, none outside it
    region = flow.skin | flow.guide
    inner = erode(region, 5)
    alpha = feather(inner, sigma=2.0 * s / 128) * region[None].float()
    return 1.0 + (ratio - 1.0) * alpha


def relight(image: torch.Tensor, ratio: torch.Tensor, frame: Sequence[float],
            grid: torch.Tensor | None = None) -> torch.Tensor:
    """Image (3,H,W) in [0,1] times a frame-grid ratio (3,S,S) resampled to the photo."""
    h, w = image.shape[-2:]
    r = to_photo(ratio, h, w, frame, fill=1.0, grid=grid)
    return (image * r).clamp(0.0, 1.0)
