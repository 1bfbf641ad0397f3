"""The inference path (gan/fast.py) draws the reference layers' images; autograd keeps the reference path."""
from __future__ import annotations

import pytest
import torch
from torch.func import functional_call

from gan import fast
from gan.networks import Generator

# measured on randomly initialised default-architecture generators (bench_gan; images of std 1-2):
# fp32 max |fast - reference| 0.95e-5 (64 px) .. 2.3e-5 (128 px, batch 4); bf16 mean 0.009-0.016, max 0.04-0.14
FP32_TOL = 1e-4
BF16_MEAN_TOL, BF16_MAX_TOL = 0.04, 0.4


# batch-1 work on one thread, as the app runs it (two threads crawl on a shared machine)
pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module", params=[(64, 128), (128, 32)], ids=["64px", "128px"])
def G(request):
    res, channel_max = request.param  # narrower than the default (512) to keep the suite quick
    torch.manual_seed(res)
    G = Generator(img_resolution=res, channel_max=channel_max).eval()
    with torch.no_grad():  # trained generators have noise and biases; fresh ones start at zero
        for name, p in G.synthesis.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.2)
            elif name.endswith("bias") and "affine" not in name:
                p.normal_(0, 0.1)
    return G


def _ws(G, batch, seed=0):
    z = torch.randn(batch, G.z_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return G.mapping(z, truncation_psi=0.8)


def test_fast_path_draws_the_reference_images(G):
    batch = 1 if G.img_resolution == 64 else 2  # batch 1 is the layout the fast path special-cases
    ws = _ws(G, batch)
    with torch.no_grad():
        ref = G.synthesis(ws, noise_mode="const", impl="reference")
        auto = G.synthesis(ws, noise_mode="const")  # no autograd -> the fast path
        none_ref = G.synthesis(ws, noise_mode="none", impl="reference")
        none_fast = G.synthesis(ws, noise_mode="none", impl="fast")
        torch.manual_seed(7)
        rnd_ref = G.synthesis(ws, noise_mode="random", impl="reference")
        torch.manual_seed(7)
        rnd_fast = G.synthesis(ws, noise_mode="random", impl="fast")
    assert auto.shape == ref.shape == (batch, 3, G.img_resolution, G.img_resolution) and auto.is_contiguous()
    assert ref.std() > 0.3  # a real picture, not a constant
    assert (auto - ref).abs().max() < FP32_TOL
    assert (none_fast - none_ref).abs().max() < FP32_TOL
    assert (rnd_fast - rnd_ref).abs().max() < FP32_TOL
    assert (rnd_ref - ref).abs().max() > 1e-3  # the noise modes differ, so each was really compared


def test_bf16_compute_stays_close(G):
    ws = _ws(G, 2, seed=1)
    with torch.no_grad():
        ref = G.synthesis(ws, noise_mode="const", impl="reference")
        bf = G.synthesis(ws, noise_mode="const", compute_dtype=torch.bfloat16)
    assert bf.dtype == torch.float32
    diff = (bf - ref).abs()
    assert 0 < diff.mean() < BF16_MEAN_TOL and diff.max() < BF16_MAX_TOL


def test_autograd_uses_the_reference_path_and_gradients_flow(G):
    ws = _ws(G, 1).requires_grad_(True)
    img = G.synthesis(ws, noise_mode="const")
    assert img.grad_fn is not None
    img.square().mean().backward()
    assert ws.grad is not None and ws.grad.abs().sum() > 0
    with torch.no_grad():
        assert (G.synthesis(ws.detach(), noise_mode="const") - img.detach()).abs().max() < FP32_TOL


def test_cached_constants_follow_weight_changes():
    torch.manual_seed(3)
    G = Generator(img_resolution=32, z_dim=64, w_dim=64, mapping_layers=2, channel_base=1024,
                  channel_max=64).eval()
    ws = _ws(G, 1)
    with torch.no_grad():
        first = G.synthesis(ws, noise_mode="const")
        other = Generator(**G.config)
        other.mapping.load_state_dict(G.mapping.state_dict())
        G.load_state_dict(other.state_dict())  # copies in place: same tensors, new versions
        G.synthesis.b16.conv1.noise_strength.fill_(0.5)
        after = G.synthesis(ws, noise_mode="const")
        ref = G.synthesis(ws, noise_mode="const", impl="reference")
    assert (after - first).abs().max() > 1e-2
    assert (after - ref).abs().max() < FP32_TOL
    # swapped-in buffers (gan.inversion.synthesize passes its own noise maps this way)
    noise = {"b16.conv1.noise_const": torch.randn(16, 16) * 3}
    with torch.no_grad():
        swapped = functional_call(G.synthesis, noise, (ws,), {"noise_mode": "const"})
        swapped_ref = functional_call(G.synthesis, noise, (ws,), {"noise_mode": "const", "impl": "reference"})
    assert (swapped - after).abs().max() > 1e-3 and (swapped - swapped_ref).abs().max() < FP32_TOL
    fast.clear_cache(G)
    assert not any("_fast_cache" in m.__dict__ for m in G.modules())


def test_unknown_impl_is_refused():
    G = Generator(img_resolution=8, z_dim=16, w_dim=16, mapping_layers=1, channel_base=64, channel_max=16)
    with pytest.raises(ValueError, match="impl must be"):
        G.synthesis(torch.zeros(1, G.num_ws, 16), impl="fastest")
