"""Read rosinality/stylegan2-pytorch generator checkpoints (.pt, `g_ema`) into our official layout.

The file is opened with torch.load(weights_only=True) (argparse.Namespace allowed for the
`args` entry of training checkpoints). Key mapping, for output size R and k = 0, 1, ...:
style.{i+1} -> mapping.fc{i}; input.input -> synthesis.b4.const; conv1 / to_rgb1 -> b4.conv1 / b4.torgb;
convs.{2k}, convs.{2k+1}, to_rgbs.{k} -> b{8*2^k}.conv0, .conv1, .torgb; noises.noise_{j} -> the j-th
layer's noise_const; latent_avg -> mapping.w_avg (estimated from 10,000 seeded z when absent).
"""
from __future__ import annotations

import argparse
import os
import re

import torch

from basics.torch_files import load_weights_only

from .checkpoint import load_state
from .errors import GanError
from .networks import Generator


def read_torch_file(path: str | os.PathLike) -> dict:
    """The dict inside a weights-only torch file (argparse.Namespace allowed); GanError for anything else."""
    data = load_weights_only(path, "checkpoint", GanError, [argparse.Namespace])
    if not isinstance(data, dict):
        raise GanError(f"{path}: expected a dict checkpoint, got {type(data).__name__}")
    return data


def _modconv(src: dict, pre: str, dst: dict, out: str, noise: torch.Tensor | None) -> None:
    dst[f"{out}.weight"] = src[f"{pre}.conv.weight"].squeeze(0)
    dst[f"{out}.affine.weight"] = src[f"{pre}.conv.modulation.weight"]
    dst[f"{out}.affine.bias"] = src[f"{pre}.conv.modulation.bias"]
    if noise is not None:  # StyledConv: noise injection + fused bias/lrelu
        dst[f"{out}.noise_strength"] = src[f"{pre}.noise.weight"].reshape(())
        dst[f"{out}.bias"] = src[f"{pre}.activate.bias"].reshape(-1)
        dst[f"{out}.noise_const"] = noise.reshape(noise.shape[-2:])
    else:  # ToRGB
        dst[f"{out}.bias"] = src[f"{pre}.bias"].reshape(-1)


def convert_state(g: dict, latent_avg: torch.Tensor | None, source: str = "rosinality checkpoint") -> Generator:
    """Build our Generator from a rosinality g_ema state dict (see the module docstring for the mapping)."""
    try:
        n_mlp = len({int(m.group(1)) for k in g if (m := re.fullmatch(r"style\.(\d+)\.weight", k))})
        w_dim, z_dim = g["style.1.weight"].shape
        const = g["input.input"]
        n_up = len({int(m.group(1)) for k in g if (m := re.fullmatch(r"to_rgbs\.(\d+)\.bias", k))})
        resolution = 4 * 2 ** n_up
        img_channels = g["to_rgb1.conv.weight"].shape[1]
        channel_max = int(const.shape[1])
        channel_base = channel_max * resolution  # all layers at channel_max unless a smaller one says otherwise
        for k in range(n_up):
            r, ch = 8 * 2 ** k, int(g[f"convs.{2 * k}.conv.weight"].shape[1])
            if ch < channel_max:
                channel_base = ch * r
                break
        G = Generator(z_dim=int(z_dim), w_dim=int(w_dim), img_resolution=resolution, img_channels=int(img_channels),
                      mapping_layers=n_mlp, channel_base=channel_base, channel_max=channel_max, conv_clamp=None)
        dst: dict[str, torch.Tensor] = {}
        for i in range(n_mlp):
            dst[f"mapping.fc{i}.weight"] = g[f"style.{i + 1}.weight"]
            dst[f"mapping.fc{i}.bias"] = g[f"style.{i + 1}.bias"]
        dst["synthesis.b4.const"] = const.squeeze(0)
        _modconv(g, "conv1", dst, "synthesis.b4.conv1", g["noises.noise_0"])
        _modconv(g, "to_rgb1", dst, "synthesis.b4.torgb", None)
        for k in range(n_up):
            r = 8 * 2 ** k
            _modconv(g, f"convs.{2 * k}", dst, f"synthesis.b{r}.conv0", g[f"noises.noise_{2 * k + 1}"])
            _modconv(g, f"convs.{2 * k + 1}", dst, f"synthesis.b{r}.conv1", g[f"noises.noise_{2 * k + 2}"])
            _modconv(g, f"to_rgbs.{k}", dst, f"synthesis.b{r}.torgb", None)
    except KeyError as exc:
        raise GanError(f"{source}: not a rosinality generator (missing {exc.args[0]!r})") from None
    own = G.state_dict()
    for k, v in own.items():  # FIR filters are fixed constants, not stored by rosinality
        if k.endswith("resample_filter"):
            dst[k] = v
    dst["mapping.w_avg"] = own["mapping.w_avg"]
    load_state(G, {k: v.float() for k, v in dst.items()}, source)
    with torch.no_grad():
        if latent_avg is not None:
            G.mapping.w_avg.copy_(latent_avg.reshape(-1).float())
        else:
            z = torch.randn(10_000, G.z_dim, generator=torch.Generator().manual_seed(0))
            G.mapping.w_avg.copy_(G.mapping(z)[:, 0].mean(0))
    return G.eval().requires_grad_(False)


def generator_from_torch_data(data: dict, source: str) -> Generator:
    """Generator from the dict of a rosinality .pt ({'g_ema': state_dict, 'latent_avg'?: tensor, ...})."""
    g = data.get("g_ema", data if "input.input" in data else None)
    if not isinstance(g, dict):
        raise GanError(f"{source}: no 'g_ema' generator state in this torch file")
    avg = data.get("latent_avg", g.get("latent_avg"))
    g = {k: v for k, v in g.items() if isinstance(v, torch.Tensor)}
    return convert_state(g, avg if isinstance(avg, torch.Tensor) else None, source)


def load_rosinality(path: str | os.PathLike) -> Generator:
    """Generator from a rosinality .pt file (read once, weights only)."""
    return generator_from_torch_data(read_torch_file(path), str(path))
