"""The committed 64 px StyleGAN2 (assets/gan/utkface64.safetensors): it loads as a generator and draws faces."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import ROOT

WEIGHTS = ROOT / "assets" / "gan" / "utkface64.safetensors"


@pytest.fixture(scope="module")
def G():
    from gan.checkpoint_formats import load_any_generator

    return load_any_generator(WEIGHTS)


def _samples(G, n: int, seed: int = 0) -> np.ndarray:
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        x = G.synthesis(G.mapping(z, None, truncation_psi=1.0), noise_mode="const")
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def test_loads_as_the_recorded_stylegan2(G):
    from gan.checkpoint import read_metadata
    from gan.networks import Generator

    assert isinstance(G, Generator)
    assert (G.img_resolution, G.z_dim, G.w_dim, G.num_ws) == (64, 128, 128, 10)
    assert read_metadata(WEIGHTS)["info"]["kimg"] == pytest.approx(92.0)


def test_samples_are_faces_dlib_finds(G, single_thread):
    """eval_generator measured dlib finding a face in 98.4% of 500 samples; 24 here, at least 20."""
    from morphable.landmarks import DlibBackend

    imgs = _samples(G, 24)
    assert imgs.shape == (24, 64, 64, 3) and imgs.std() > 20
    assert len({img.tobytes() for img in imgs}) == 24      # different faces per seed
    backend = DlibBackend()
    found = sum(bool(backend.detect(img)) for img in imgs)
    assert found >= 20, found
