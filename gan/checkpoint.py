"""Our own generator/discriminator checkpoints: safetensors + JSON config in the metadata.

Metadata keys: format="facerig-stylegan2", kind ("facerig-stylegan2-generator" or
"-discriminator"), config (constructor kwargs, JSON), dtype, info (optional JSON dict).
Foreign formats (official NVIDIA .pkl, rosinality .pt, DCGAN weights) come in through
gan.checkpoint_formats.load_any_generator, the one door that dispatches on a file's content.
"""
from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from basics.tagged_safetensors import json_field, load_tagged_tensors, read_tagged_metadata, save_tagged

from .errors import GanError
from .networks import Discriminator, Generator

FORMAT = "facerig-stylegan2"
KIND_G = "facerig-stylegan2-generator"
KIND_D = "facerig-stylegan2-discriminator"


def _save(net: nn.Module, kind: str, path: str | os.PathLike, fp16: bool, info: dict | None) -> None:
    dtype = torch.float16 if fp16 else torch.float32
    tensors = {k: (v.detach().to(dtype) if v.is_floating_point() else v.detach()).clone()
               for k, v in net.state_dict().items()}
    save_tagged(path, tensors, FORMAT, {"kind": kind, "config": net.config,
                                        "dtype": "float16" if fp16 else "float32", "info": info or {}}, GanError)


def save_generator(G: Generator, path: str | os.PathLike, fp16: bool = False, info: dict | None = None) -> None:
    """Write G (all parameters and buffers) to a .safetensors file atomically; fp16 halves the size."""
    if not isinstance(G, Generator):  # e.g. the DCGAN: its config would not rebuild a StyleGAN2 Generator
        raise GanError(f"only StyleGAN2 generators can be saved in this format, not a {type(G).__name__}")
    _save(G, KIND_G, path, fp16, info)


def save_discriminator(D: Discriminator, path: str | os.PathLike, fp16: bool = False,
                       info: dict | None = None) -> None:
    """Write D to a .safetensors file atomically (same format, kind '-discriminator')."""
    _save(D, KIND_D, path, fp16, info)


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Metadata of one of our checkpoints: kind, config (dict), dtype, info (dict). GanError otherwise."""
    meta = read_tagged_metadata(path, FORMAT, "a facerig StyleGAN2 checkpoint", GanError)
    if meta.get("kind") not in (KIND_G, KIND_D):
        raise GanError(f"{path} is a safetensors file but not a facerig StyleGAN2 checkpoint")
    what = "a facerig StyleGAN2 checkpoint"
    return {"kind": meta["kind"], "config": json_field(meta, "config", path, what, GanError),
            "dtype": meta.get("dtype", "float32"), "info": json_field(meta, "info", path, what, GanError, "{}")}


def _load(path: str | os.PathLike, kind: str, cls: type, device: str | torch.device | None) -> nn.Module:
    meta = read_metadata(path)
    if meta["kind"] != kind:
        want = "generator" if kind == KIND_G else "discriminator"
        raise GanError(f"{path} holds a {meta['kind'].rsplit('-', 1)[-1]}, not a {want}")
    try:
        net = cls(**meta["config"])
    except (TypeError, ValueError) as exc:
        raise GanError(f"{path}: bad network config {meta['config']} ({exc})") from None
    tensors = load_tagged_tensors(path, "a facerig StyleGAN2 checkpoint", GanError)
    tensors = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
    load_state(net, tensors, str(path))
    net.checkpoint_info = meta["info"]
    return net.eval().requires_grad_(False).to(device or "cpu")


def load_state(net: nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Copy `tensors` into `net`, requiring exactly its key set and shapes (GanError otherwise)."""
    own = net.state_dict()
    missing = sorted(set(own) - set(tensors))
    extra = sorted(set(tensors) - set(own))
    if missing or extra:
        raise GanError(f"{source}: tensors do not match the network (missing {missing[:3]}, "
                       f"unexpected {extra[:3]}{' ...' if len(missing) + len(extra) > 6 else ''})")
    for k, v in tensors.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise GanError(f"{source}: {k} has shape {tuple(v.shape)}, the network wants {tuple(own[k].shape)}")
    net.load_state_dict(tensors, strict=True)


def load_generator(path: str | os.PathLike, device: str | torch.device | None = None) -> Generator:
    """Read a generator saved by save_generator (float32 in memory, eval mode, no grads)."""
    return _load(path, KIND_G, Generator, device)


def load_discriminator(path: str | os.PathLike, device: str | torch.device | None = None) -> Discriminator:
    """Read a discriminator saved by save_discriminator (float32, eval mode, no grads)."""
    return _load(path, KIND_D, Discriminator, device)
