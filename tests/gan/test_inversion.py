"""GAN inversion with a small real StyleGAN2 generator (random weights, 32 px)."""
from __future__ import annotations

import pytest
import torch

from gan.errors import GanError
from gan.inversion import (
    InversionLoss, invert, laplacian_pyramid, noise_regularisation, reconstruction_psnr, synthesize,
)
from gan.networks import Discriminator, Generator


def small_generator(res: int = 32) -> Generator:
    torch.manual_seed(0)
    return Generator(z_dim=64, w_dim=64, img_resolution=res, mapping_layers=2, channel_base=512, channel_max=64)


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def G():
    return small_generator()


@pytest.fixture(scope="module")
def target(G):
    with torch.no_grad():
        ws = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(5)))
        return G.synthesis(ws, noise_mode="const")


def test_inverts_a_generated_image_to_high_psnr(G, target):
    before = {k: v.clone() for k, v in G.state_dict().items()}
    G.train()
    result = invert(G, target, steps=200, lr=0.2, progress=False)
    assert G.training  # mode restored
    assert result.ws.shape == (1, G.num_ws, G.w_dim)
    start, end = result.history[0]["psnr"], reconstruction_psnr(result, target)
    assert end > 25.0
    assert end > start + 15.0  # far better than the w_avg start
    # The image in the result is what G makes from the returned ws and noise.
    again = synthesize(G, result.ws, result.noise)
    assert torch.allclose(again, result.image, atol=1e-5)
    # G itself is left untouched (noise is optimised on copies).
    for k, v in G.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.requires_grad for p in G.parameters())


def test_deterministic_for_a_seed(G, target):
    a = invert(G, target, steps=6, seed=3, progress=False)
    b = invert(G, target, steps=6, seed=3, progress=False)
    c = invert(G, target, steps=6, seed=4, progress=False)
    assert torch.equal(a.ws, b.ws)
    assert all(torch.equal(a.noise[k], b.noise[k]) for k in a.noise)
    assert not torch.equal(a.ws, c.ws)


def test_single_w_and_frozen_noise(G, target):
    result = invert(G, target, steps=20, w_plus=False, optimise_noise=False, progress=False)
    assert torch.equal(result.ws[:, 0], result.ws[:, -1])  # one w broadcast to every layer
    buffers = dict(G.synthesis.named_buffers())
    assert all(torch.equal(v, buffers[k]) for k, v in result.noise.items())
    assert result.history[-1]["psnr"] > result.history[0]["psnr"]


def test_noise_maps_stay_normalised_and_regulariser_sees_correlation(G, target):
    result = invert(G, target, steps=5, progress=False)
    for n in result.noise.values():
        assert abs(n.mean().item()) < 1e-4 and abs(n.std().item() - 1) < 1e-3
    g = torch.Generator().manual_seed(0)
    white = [torch.randn(32, 32, generator=g)]
    smooth = [torch.nn.functional.avg_pool2d(torch.randn(1, 1, 35, 35, generator=g), 4, 1)[0, 0]]
    smooth = [(smooth[0] - smooth[0].mean()) / smooth[0].std()]
    assert noise_regularisation(smooth) > 20 * noise_regularisation(white)


def test_laplacian_pyramid_reconstructs_its_input():
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    bands = laplacian_pyramid(x, levels=3)
    assert [b.shape[-1] for b in bands] == [32, 16, 8, 4]
    # Collapse: upsample the residual and add the bands back.
    y = bands[-1]
    for band in reversed(bands[:-1]):
        y = torch.nn.functional.interpolate(y, size=band.shape[-2:], mode="bilinear", align_corners=False) + band
    assert torch.allclose(y, x, atol=1e-5)


def test_discriminator_feature_loss_and_resized_target(G, target):
    torch.manual_seed(1)
    D = Discriminator(img_resolution=32, channel_base=512, channel_max=64)
    big = torch.nn.functional.interpolate(target, size=(64, 64), mode="bilinear", align_corners=False)
    result = invert(G, big, steps=8, D=D, loss=InversionLoss(discriminator=0.1), progress=False)
    assert "discriminator" in result.history[0]
    assert all(torch.isfinite(torch.tensor(h["loss"])) for h in result.history)
    assert result.image.shape == (1, 3, 32, 32)


def test_bad_target_is_user_error(G):
    with pytest.raises(GanError, match="target must be"):
        invert(G, torch.zeros(3, 32, 32), steps=1, progress=False)
    with pytest.raises(GanError, match="steps"):
        invert(G, torch.zeros(1, 3, 32, 32), steps=0, progress=False)


def test_optimising_noise_recovers_per_pixel_detail():
    # A G whose noise matters, a target made with *other* noise: only noise optimisation can
    # reach it (the regulariser is off here; by default it keeps content out of the noise).
    G = small_generator()
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.1)
        ws = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(5)))
        torch.manual_seed(9)
        target = G.synthesis(ws, noise_mode="random")
    no_reg = InversionLoss(noise_reg=0.0)
    with_noise = invert(G, target, steps=80, lr=0.2, loss=no_reg, progress=False)
    without = invert(G, target, steps=80, lr=0.2, loss=no_reg, optimise_noise=False, progress=False)
    assert reconstruction_psnr(with_noise, target) > reconstruction_psnr(without, target) + 3.0
