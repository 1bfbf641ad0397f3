"""Image-similarity metrics (PSNR, SSIM) as differentiable torch functions.

Used to score GAN inversions and as an offline perceptual-ish loss (no pretrained weights).
SSIM follows Wang et al. 2004: 11x11 Gaussian window (sigma 1.5), K1=0.01, K2=0.03.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .errors import GanError


def _check_pair(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape != b.shape:
        raise GanError(f"images must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.ndim != 4:
        raise GanError(f"images must be (B, C, H, W), got {tuple(a.shape)}")


def psnr(a: torch.Tensor, b: torch.Tensor, data_range: float = 2.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image (B,); `data_range` 2.0 for images in [-1, 1]."""
    _check_pair(a, b)
    mse = (a.double() - b.double()).pow(2).flatten(1).mean(1)
    return (10.0 * torch.log10(data_range ** 2 / mse)).to(a.dtype)  # inf for identical images


def gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Normalised 1-D Gaussian kernel (size,)."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def _blur(x: torch.Tensor, win: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' Gaussian filtering of every channel."""
    c = x.shape[1]
    k = win.to(x.dtype)
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def ssim_map(a: torch.Tensor, b: torch.Tensor, data_range: float = 2.0, win_size: int = 11,
             sigma: float = 1.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel SSIM and contrast-structure maps (B, C, H-win+1, W-win+1)."""
    _check_pair(a, b)
    win_size = min(win_size, a.shape[-1], a.shape[-2])
    win = gaussian_window(win_size, sigma * win_size / 11.0 if win_size < 11 else sigma)
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    mu_a, mu_b = _blur(a, win), _blur(b, win)
    var_a = _blur(a * a, win) - mu_a ** 2
    var_b = _blur(b * b, win) - mu_b ** 2
    cov = _blur(a * b, win) - mu_a * mu_b
    cs = (2 * cov + c2) / (var_a + var_b + c2)
    lum = (2 * mu_a * mu_b + c1) / (mu_a ** 2 + mu_b ** 2 + c1)
    return lum * cs, cs


def ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 2.0, win_size: int = 11,
         sigma: float = 1.5) -> torch.Tensor:
    """Mean structural similarity per image (B,), 1 for identical images."""
    full, _ = ssim_map(a, b, data_range, win_size, sigma)
    return full.flatten(1).mean(1)


MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ms_ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 2.0, levels: int | None = None) -> torch.Tensor:
    """Multi-scale SSIM per image (B,) (Wang et al. 2003); uses as many of the 5 scales as fit.

    Contrast-structure terms are clamped at 0 so the product stays defined (and differentiable).
    """
    _check_pair(a, b)
    fit = max(1, int(math.log2(min(a.shape[-2:]) / 8)) + 1)  # keep >= 8 px at the coarsest scale
    levels = min(levels or 5, fit, 5)
    weights = torch.tensor(MS_SSIM_WEIGHTS[:levels], dtype=a.dtype, device=a.device)
    weights = weights / weights.sum()
    values = []
    for i in range(levels):
        full, cs = ssim_map(a, b, data_range)
        if i == levels - 1:
            values.append(full.flatten(1).mean(1).clamp_min(1e-6))
        else:
            values.append(cs.flatten(1).mean(1).clamp_min(1e-6))
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
    stack = torch.stack(values, dim=1)  # (B, levels)
    return torch.prod(stack ** weights, dim=1)


def frechet_distance(a: "np.ndarray", b: "np.ndarray") -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N,D) and (M,D).

    |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2), the FID formula on any features; the
    matrix root comes from symmetric eigendecompositions, so only numpy is needed.
    """
    import numpy as np

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise GanError(f"need two (N,D) feature sets with N >= 2 and one D, got {a.shape} and {b.shape}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    vals, vecs = np.linalg.eigh(s_a)
    root_a = (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T
    middle = root_a @ s_b @ root_a  # similar to S_a S_b, symmetric PSD: its root's trace is Tr((S_a S_b)^1/2)
    tr_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * tr_root)
