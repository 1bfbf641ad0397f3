"""PSNR / SSIM / MS-SSIM on cases with known answers."""
from __future__ import annotations

import math

import pytest
import torch

from gan.errors import GanError
from gan.metrics import ms_ssim, psnr, ssim


pytestmark = pytest.mark.usefixtures("single_thread")


def test_psnr_known_mse():
    a = torch.zeros(2, 3, 16, 16)
    b = a + 0.1  # mse 0.01 over a range of 2 -> 10*log10(4/0.01)
    assert torch.allclose(psnr(a, b), torch.full((2,), 10 * math.log10(400.0)), atol=1e-4)
    assert torch.allclose(psnr(a, b + 0.9, data_range=1.0), torch.full((2,), 0.0), atol=1e-4)
    assert torch.isinf(psnr(a, a)).all()


def test_ssim_identical_is_one_and_symmetric():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    b = (a + 0.3 * torch.randn(a.shape, generator=g)).clamp(-1, 1)
    assert torch.allclose(ssim(a, a), torch.ones(2), atol=1e-6)
    assert torch.allclose(ssim(a, b), ssim(b, a), atol=1e-6)
    assert (ssim(a, b) < 0.9).all()
    assert torch.allclose(ms_ssim(a, a), torch.ones(2), atol=1e-5)


def test_ssim_of_constant_images_matches_luminance_formula():
    # Flat images: variances and covariance are 0, so SSIM = (2ab + C1) / (a^2 + b^2 + C1).
    a, b = 0.2, -0.4
    c1 = (0.01 * 2.0) ** 2
    expect = (2 * a * b + c1) / (a * a + b * b + c1)
    got = ssim(torch.full((1, 1, 20, 20), a, dtype=torch.float64), torch.full((1, 1, 20, 20), b, dtype=torch.float64))
    assert got.item() == pytest.approx(expect, rel=1e-5)


def test_ssim_falls_with_noise_level():
    g = torch.Generator().manual_seed(1)
    a = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 68, 68, generator=g) * 2 - 1, 5, 1)
    scores = [ssim(a, a + s * torch.randn(a.shape, generator=g)).item() for s in (0.02, 0.1, 0.4)]
    assert scores[0] > scores[1] > scores[2]
    ms = [ms_ssim(a, a + s * torch.randn(a.shape, generator=g)).item() for s in (0.02, 0.1, 0.4)]
    assert ms[0] > ms[1] > ms[2]


def test_ssim_is_differentiable_and_checks_shapes():
    a = torch.zeros(1, 3, 16, 16, requires_grad=True)
    (1 - ssim(a, torch.ones(1, 3, 16, 16) * 0.5)).sum().backward()
    assert a.grad is not None and a.grad.abs().sum() > 0
    with pytest.raises(GanError):
        ssim(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 9, 9))


def test_frechet_distance_on_utkface_features(utkface_photos):
    """Two disjoint sets of real faces are close; the same faces darkened are far; agrees with scipy's sqrtm."""
    import numpy as np
    import scipy.linalg

    from gan.errors import GanError
    from gan.metrics import frechet_distance

    photos = np.stack(utkface_photos(400, seed=3)).astype(np.float64) / 255.0
    feats = photos.reshape(400, 8, 16, 8, 16, 3).mean(axis=(2, 4, 5)).reshape(400, 64)  # 8x8 grey means
    a, b = feats[:200], feats[200:]
    same = frechet_distance(a, b)
    dark = frechet_distance(a, b * 0.5)
    assert 0 < same < dark / 10
    assert abs(frechet_distance(a, a)) < 1e-9
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(sa + sb - 2 * scipy.linalg.sqrtm(sa @ sb).real)
    assert abs(same - ref) < 1e-6 * max(1.0, ref)
    with pytest.raises(GanError, match="feature sets"):
        frechet_distance(a, b[:, :10])
