"""The conditional inpainter and its PatchGAN: shapes, the hole-only input, determinism, the weights file."""
from __future__ import annotations

import pytest
import torch

from gan.errors import GanError
from gan.inpainter import Inpainter, PatchDiscriminator, composite, load_inpainter, save_inpainter


def _inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    hole = torch.zeros(2, 1, 64, 64)
    hole[:, :, 24:40, 16:48] = 1
    return x, hole, hole.clone()


def test_output_ignores_hole_pixels_and_is_deterministic():
    torch.manual_seed(0)
    net = Inpainter(width=8).eval().requires_grad_(False)
    x, hole, guide = _inputs()
    y = net(x, hole, guide)
    assert y.shape == x.shape and float(y.abs().max()) <= 1.0
    # whatever the hole held, the output is the same (the hole is blanked on the way in)
    x2 = torch.where(hole.bool(), torch.rand_like(x), x)
    assert torch.equal(net(x2, hole, guide), y)
    # but the context outside the hole matters
    assert not torch.allclose(net(x.flip(3), hole, guide), y)
    # deterministic: no noise input
    assert torch.equal(net(x, hole, guide), y)


def test_composite_keeps_known_pixels():
    x, hole, _ = _inputs()
    out = torch.zeros_like(x)
    c = composite(x, hole, out)
    assert torch.equal(c[:, :, :24], x[:, :, :24]) and float(c[:, :, 24:40, 16:48].abs().max()) == 0.0


def test_side_must_be_a_multiple():
    net = Inpainter(width=8, depth=3)
    with pytest.raises(GanError, match="multiple of 8"):
        net(torch.zeros(1, 3, 60, 60), torch.zeros(1, 1, 60, 60))


def test_discriminator_gives_patch_logits():
    d = PatchDiscriminator(5, 8)
    assert d(torch.zeros(3, 5, 64, 64)).shape == (3, 1, 8, 8)


def test_fp16_file_round_trip_and_refusals(tmp_path):
    torch.manual_seed(1)
    net = Inpainter(width=8, guide_channels=2).eval()
    path = tmp_path / "inp.safetensors"
    save_inpainter(path, net, {"note": "test"})
    back, meta = load_inpainter(path)
    assert back.config == net.config and meta["note"] == "test"
    x, hole, _ = _inputs()
    guide = torch.cat([hole, hole], 1)
    # fp16 storage: the same network to within half-precision rounding, not bit-equal weights
    assert (back(x, hole, guide) - net(x, hole, guide)).abs().max() < 2e-2
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a file")
    with pytest.raises(GanError, match="not a safetensors file"):
        load_inpainter(bad)
    with pytest.raises(GanError, match="not found"):
        load_inpainter(tmp_path / "missing.safetensors")
