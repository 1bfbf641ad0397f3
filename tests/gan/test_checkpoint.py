"""Checkpoint formats: our safetensors, official StyleGAN2-ADA pickles (restricted), rosinality .pt."""
from __future__ import annotations

import argparse
import pickle

import numpy as np
import pytest
import torch

from gan.checkpoint import load_discriminator, load_generator, read_metadata, save_discriminator, save_generator
from gan.checkpoint_formats import load_any_generator
from gan.errors import GanError
from gan.networks import Discriminator, Generator
from gan.official_pickle import load_official_pickle
from gan.rosinality import load_rosinality

from ._writers import rosinality_state, write_official_pickle

SMALL = dict(z_dim=64, w_dim=64, mapping_layers=2, channel_base=1024, channel_max=64)


def trained_like_g(res=32, **kw) -> Generator:
    """A small generator with non-trivial w_avg and noise strengths (as after training)."""
    torch.manual_seed(0)
    G = Generator(img_resolution=res, **{**SMALL, **kw}).eval()
    with torch.no_grad():
        G.mapping(torch.randn(64, 64), update_emas=True)
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.3)
            elif name.endswith(".bias") and "synthesis" in name:
                p.normal_(0, 0.1)
    return G


def images(G, seed=1):
    ws = G.mapping(torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(seed)), truncation_psi=0.7)
    with torch.no_grad():
        return G.synthesis(ws, noise_mode="const")


def test_safetensors_round_trip_exact(tmp_path):
    G = trained_like_g()
    path = tmp_path / "g.safetensors"
    save_generator(G, path, info={"kimg": 12.5})
    assert [p.name for p in tmp_path.iterdir()] == ["g.safetensors"]  # no temp file left behind
    meta = read_metadata(path)
    assert meta["kind"] == "facerig-stylegan2-generator" and meta["info"] == {"kimg": 12.5}
    G2 = load_generator(path)
    assert G2.config == G.config and G2.checkpoint_info == {"kimg": 12.5}
    assert torch.equal(images(G), images(G2))
    assert torch.equal(G2.mapping.w_avg, G.mapping.w_avg)


def test_fp16_file_loads_as_float32(tmp_path):
    G = trained_like_g()
    save_generator(G, tmp_path / "a.safetensors")
    save_generator(G, tmp_path / "h.safetensors", fp16=True)
    assert (tmp_path / "h.safetensors").stat().st_size < 0.6 * (tmp_path / "a.safetensors").stat().st_size
    G2 = load_generator(tmp_path / "h.safetensors")
    assert read_metadata(tmp_path / "h.safetensors")["dtype"] == "float16"
    assert all(p.dtype == torch.float32 for p in G2.parameters())
    assert (images(G) - images(G2)).abs().max() < 0.05


def test_discriminator_round_trip_and_wrong_kinds(tmp_path):
    torch.manual_seed(0)
    D = Discriminator(img_resolution=32, channel_base=1024, channel_max=64).eval()
    save_discriminator(D, tmp_path / "d.safetensors")
    D2 = load_discriminator(tmp_path / "d.safetensors")
    x = torch.randn(4, 3, 32, 32)
    assert torch.equal(D(x), D2(x))
    with pytest.raises(GanError, match="discriminator, not a generator"):
        load_generator(tmp_path / "d.safetensors")
    with pytest.raises(GanError, match="discriminator, not a generator"):
        load_any_generator(tmp_path / "d.safetensors")
    np.savez(tmp_path / "model.npz", template=np.zeros((3, 3)))
    (tmp_path / "junk.bin").write_bytes(b"\x00\x01hello world" * 10)
    from safetensors.torch import save_file
    save_file({"x": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    for name in ["model.npz", "junk.bin", "other.safetensors", "missing.safetensors"]:
        with pytest.raises(GanError):
            load_any_generator(tmp_path / name)
    with pytest.raises(GanError):
        load_generator(tmp_path / "model.npz")


def test_official_pickle_loads_same_image_without_running_its_code(tmp_path):
    G = trained_like_g()
    D = Discriminator(img_resolution=32, channel_base=1024, channel_max=64)
    sentinel = tmp_path / "SENTINEL"
    path = tmp_path / "network-snapshot.pkl"
    write_official_pickle(G, path, sentinel, D=D)
    import sys
    assert "torch_utils.persistence" not in sys.modules
    G2 = load_official_pickle(path)
    assert G2.config == G.config
    assert torch.equal(images(G), images(G2))
    G3 = load_any_generator(path.rename(tmp_path / "renamed.bin"))  # dispatch by content
    assert torch.equal(images(G), images(G3))
    assert not sentinel.exists()


def test_official_pickle_with_other_mapping_lr(tmp_path):
    G = trained_like_g()
    write_official_pickle(G, tmp_path / "a.pkl", tmp_path / "S", lr_multiplier=0.01)
    G_lr = trained_like_g()
    with torch.no_grad():  # the same effective weights, stored the way an lr 0.1 network stores them
        for i in range(2):
            getattr(G_lr.mapping, f"fc{i}").weight.mul_(0.1)
            getattr(G_lr.mapping, f"fc{i}").bias.mul_(0.1)
    write_official_pickle(G_lr, tmp_path / "b.pkl", tmp_path / "S", lr_multiplier=0.1)
    assert torch.allclose(images(load_official_pickle(tmp_path / "a.pkl")),
                          images(load_official_pickle(tmp_path / "b.pkl")), atol=1e-5)


class _Evil:
    def __reduce__(self):
        import os
        return os.system, (f"touch {self.sentinel}",)


def test_malicious_pickle_is_refused(tmp_path):
    sentinel = tmp_path / "SENTINEL"
    evil = _Evil()
    evil.sentinel = sentinel
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": evil}, protocol=3))
    with pytest.raises(GanError, match="refusing"):
        load_official_pickle(path)
    with pytest.raises(GanError, match="refusing"):
        load_any_generator(path)
    assert not sentinel.exists()


def test_rosinality_layout_maps_onto_ours(tmp_path):
    G = trained_like_g(conv_clamp=None)
    state, avg = rosinality_state(G)
    assert state["convs.0.conv.weight"].shape == (1, 64, 64, 3, 3) and state["noises.noise_1"].shape == (1, 1, 8, 8)
    path = tmp_path / "550000.pt"
    torch.save({"g_ema": state, "latent_avg": avg, "args": argparse.Namespace(size=32, n_mlp=2)}, path)
    G2 = load_rosinality(path)
    assert G2.config == G.config
    assert torch.equal(images(G), images(G2))
    assert torch.equal(images(G), images(load_any_generator(path)))
    legacy = tmp_path / "legacy.model"  # pre-1.6 torch.save format, any suffix
    torch.save({"g_ema": state, "latent_avg": avg}, legacy, _use_new_zipfile_serialization=False)
    assert torch.equal(images(G), images(load_any_generator(legacy)))
    # without latent_avg, w_avg is estimated from the mapping network
    torch.save({"g_ema": state}, tmp_path / "noavg.pt")
    G3 = load_rosinality(tmp_path / "noavg.pt")
    with torch.no_grad():
        ref = G.mapping(torch.randn(4000, 64))[:, 0].mean(0)
    assert torch.allclose(G3.mapping.w_avg, ref, atol=0.1 * ref.abs().mean().item() + 0.05)


def test_load_any_generator_reads_a_torch_file_once(tmp_path, monkeypatch):
    G = trained_like_g(conv_clamp=None)
    state, avg = rosinality_state(G)
    path = tmp_path / "g.pt"
    torch.save({"g_ema": state, "latent_avg": avg}, path)
    real_load, opened = torch.load, []
    monkeypatch.setattr(torch, "load", lambda f, *a, **kw: opened.append(str(f)) or real_load(f, *a, **kw))
    G2 = load_any_generator(path)
    assert opened == [str(path)]
    assert torch.equal(images(G), images(G2))


def test_rosinality_channels_shrinking_at_the_top(tmp_path):
    G = trained_like_g(64, conv_clamp=None, channel_base=2048)  # 64 channels up to 32 px, 32 at 64 px
    state, avg = rosinality_state(G)
    torch.save({"g_ema": state, "latent_avg": avg}, tmp_path / "g.pt")
    G2 = load_rosinality(tmp_path / "g.pt")
    assert G2.config["channel_base"] == 2048 and G2.config["channel_max"] == 64
    assert torch.equal(images(G), images(G2))


def test_torch_file_with_code_is_refused(tmp_path):
    torch.save({"g_ema": {"x": torch.zeros(1)}, "bad": _Evil}, tmp_path / "x.pt")
    with pytest.raises(GanError):
        load_rosinality(tmp_path / "x.pt")
    torch.save({"something": torch.zeros(1)}, tmp_path / "y.pt")
    with pytest.raises(GanError, match="g_ema"):
        load_any_generator(tmp_path / "y.pt")
