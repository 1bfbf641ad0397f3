"""RigNet: identity at init, shape checks, conditioning on every block, safetensors round trip."""
from __future__ import annotations

import pytest
import torch

from morphable.params import FaceParams
from rig.errors import RigError
from rig.rignet import RigNet, load_rignet, save_rignet


def _perturbed(num_ws: int = 3, w_dim: int = 16) -> RigNet:
    torch.manual_seed(0)
    net = RigNet(num_ws, w_dim, 137, code=8, hidden=32)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return net


def test_identity_at_initialisation():
    net = RigNet(2, 16, 137, code=8, hidden=32)
    ws, p = torch.randn(4, 2, 16), torch.randn(4, 137)
    assert torch.equal(net(ws, p), ws)


def test_every_block_of_the_target_reaches_every_layer():
    net = _perturbed()
    ws, p = torch.randn(2, 3, 16), torch.randn(2, 137)
    base = net(ws, p)
    for name, sl in FaceParams.layout(52).items():
        if sl.stop == sl.start:
            continue
        q = p.clone()
        q[:, sl] += 1.0
        changed = (net(ws, q) - base).abs().amax(dim=(0, 2))
        assert (changed > 0).all(), name


def test_statistics_whiten_inputs_and_scale_the_offset():
    net = _perturbed(1, 16)
    samples = 5.0 + 3.0 * torch.randn(2000, 1, 16)
    net.set_statistics(torch.zeros(137), torch.ones(137), samples)
    assert net.w_std.item() == pytest.approx(3.0, rel=0.05)
    assert net.w_mean.mean().item() == pytest.approx(5.0, abs=0.2)
    ws, p = samples[:8], torch.randn(8, 137)
    d = net.delta(ws, p)
    with torch.no_grad():
        net.w_std.fill_(6.0)
    assert net.delta(ws, p).abs().mean() != d.abs().mean()


def test_shape_errors():
    net = RigNet(2, 16)
    with pytest.raises(RigError, match="latents must be"):
        net(torch.randn(4, 3, 16), torch.randn(4, 137))
    with pytest.raises(RigError, match="target params"):
        net(torch.randn(4, 2, 16), torch.randn(4, 100))


def test_save_load_round_trip(tmp_path):
    net = _perturbed()
    net.set_statistics(torch.randn(137), torch.rand(137) + 0.5, torch.randn(64, 3, 16))
    save_rignet(net, tmp_path / "r.safetensors", info={"note": "x"})
    assert [f.name for f in tmp_path.iterdir()] == ["r.safetensors"]  # no temp file left
    back = load_rignet(tmp_path / "r.safetensors")
    assert back.config == net.config
    ws, p = torch.randn(5, 3, 16), torch.randn(5, 137)
    assert torch.equal(back(ws, p), net(ws, p))


def test_load_rejects_other_files(tmp_path):
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(RigError, match="not a RigNet file"):
        load_rignet(tmp_path / "other.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a file")
    with pytest.raises(RigError, match="cannot read"):
        load_rignet(tmp_path / "junk.safetensors")
    with pytest.raises(RigError, match="not found"):
        load_rignet(tmp_path / "missing.safetensors")
