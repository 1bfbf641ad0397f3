"""Soft masks and hole-free maps on the frame grid: feathering and normalised-convolution spreading."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _running_max(x: torch.Tensor, r: int, dim: int) -> torch.Tensor:
    """Max over the window [i - r, i + r] along `dim` (positions outside the tensor ignored)."""
    out = x.clone()
    n = x.shape[dim]
    for d in range(1, min(r, n - 1) + 1):
        hi, lo = out.narrow(dim, d, n - d), out.narrow(dim, 0, n - d)
        torch.maximum(hi, x.narrow(dim, 0, n - d), out=hi)
        torch.maximum(lo, x.narrow(dim, d, n - d), out=lo)
    return out


def box_max(x: torch.Tensor, k: int) -> torch.Tensor:
    """Max over each k x k (k odd) neighbourhood of the last two dims, outside ignored: F.max_pool2d(x, k, 1, k // 2)
    exactly (a max is exact in any order), but separable and for bool masks too; ~10x faster at 128 px."""
    r = k // 2
    if r == 0:
        return x.clone()
    return _running_max(_running_max(x, r, x.dim() - 1), r, x.dim() - 2)


def erode(mask: torch.Tensor, k: int) -> torch.Tensor:
    """(..., n, n) bool: pixels whose whole k x k neighbourhood inside the grid is in `mask`."""
    return ~box_max(~mask, k)


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (C,n,n) maps (zero padding), sigma in grid pixels."""
    if sigma <= 0:
        return x
    r = max(1, int(3 * sigma + 0.5))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    y = F.conv2d(x[:, None], k.view(1, 1, 1, -1), padding=(0, r))   # channels as batch: no grouped conv
    return F.conv2d(y, k.view(1, 1, -1, 1), padding=(r, 0))[:, 0]


def feather(mask: torch.Tensor, sigma: float, grow: float = 0.0) -> torch.Tensor:
    """(n,n) bool mask -> (1,n,n) alpha in [0,1], optionally grown by `grow` px before blurring."""
    m = mask.float()[None]
    if grow > 0:
        k = 2 * int(round(grow)) + 1
        m = box_max(m, k)
    return blur(m, sigma).clamp(0.0, 1.0)


def spread(values: torch.Tensor, mask: torch.Tensor, radius: int = 2) -> torch.Tensor:
    """(C,n,n) values known on `mask`, extended a few px outward by normalised box averaging."""
    m = mask.float()[None]
    v = values * m
    k = 2 * radius + 1
    num = F.avg_pool2d(v[None], k, stride=1, padding=radius, count_include_pad=False)[0]
    den = F.avg_pool2d(m[None], k, stride=1, padding=radius, count_include_pad=False)[0]
    return torch.where(mask[None], values, num / den.clamp_min(1e-6))
