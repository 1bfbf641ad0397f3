"""Our own generator/discriminator checkpoints: safetensors + JSON config in the metadata.

Metadata keys: format="facerig-stylegan2", kind ("facerig-stylegan2-generator" or
"-discriminator"), config (constructor kwargs, JSON), dtype, info (optional JSON dict).
`load_any_generator` also reads official NVIDIA .pkl and rosinality .pt files, by content.
"""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import GanError
from .fileio import atomic_output
from .networks import Discriminator, Generator

FORMAT = "facerig-stylegan2"
KIND_G = "facerig-stylegan2-generator"
KIND_D = "facerig-stylegan2-discriminator"


def _save(net: nn.Module, kind: str, path: str | os.PathLike, fp16: bool, info: dict | None) -> None:
    from safetensors.torch import save_file

    dtype = torch.float16 if fp16 else torch.float32
    tensors = {k: (v.detach().to(dtype) if v.is_floating_point() else v.detach()).cpu().contiguous().clone()
               for k, v in net.state_dict().items()}
    meta = {"format": FORMAT, "kind": kind, "config": json.dumps(net.config),
            "dtype": "float16" if fp16 else "float32", "info": json.dumps(info or {})}
    with atomic_output(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def save_generator(G: Generator, path: str | os.PathLike, fp16: bool = False, info: dict | None = None) -> None:
    """Write G (all parameters and buffers) to a .safetensors file atomically; fp16 halves the size."""
    if not isinstance(G, Generator):  # e.g. the DCGAN: its config would not rebuild a StyleGAN2 Generator
        raise GanError(f"only StyleGAN2 generators can be saved in this format, not a {type(G).__name__}")
    _save(G, KIND_G, path, fp16, info)


def save_discriminator(D: Discriminator, path: str | os.PathLike, fp16: bool = False,
                       info: dict | None = None) -> None:
    """Write D to a .safetensors file atomically (same format, kind '-discriminator')."""
    _save(D, KIND_D, path, fp16, info)


def is_safetensors(path: str | os.PathLike) -> bool:
    """True when the file starts like a safetensors file (u64 header size, then a JSON object)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(9)
            size = os.fstat(fh.fileno()).st_size
    except OSError:
        return False
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return head[8:9] == b"{" and 8 + n <= size


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Metadata of one of our checkpoints: kind, config (dict), dtype, info (dict). GanError otherwise."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise GanError(f"checkpoint not found: {path}")
    if not is_safetensors(path):
        raise GanError(f"{path} is not a facerig safetensors checkpoint")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise GanError(f"{path}: unreadable safetensors file ({exc})") from None
    if meta.get("format") != FORMAT or meta.get("kind") not in (KIND_G, KIND_D):
        raise GanError(f"{path} is a safetensors file but not a facerig StyleGAN2 checkpoint")
    try:
        return {"kind": meta["kind"], "config": json.loads(meta["config"]),
                "dtype": meta.get("dtype", "float32"), "info": json.loads(meta.get("info") or "{}")}
    except (KeyError, json.JSONDecodeError) as exc:
        raise GanError(f"{path}: damaged checkpoint metadata ({exc})") from None


def _load(path: str | os.PathLike, kind: str, cls: type, device: str | torch.device | None) -> nn.Module:
    from safetensors.torch import load_file

    meta = read_metadata(path)
    if meta["kind"] != kind:
        want = "generator" if kind == KIND_G else "discriminator"
        raise GanError(f"{path} holds a {meta['kind'].rsplit('-', 1)[-1]}, not a {want}")
    try:
        net = cls(**meta["config"])
    except (TypeError, ValueError) as exc:
        raise GanError(f"{path}: bad network config {meta['config']} ({exc})") from None
    try:
        tensors = load_file(str(path))
    except Exception as exc:
        raise GanError(f"{path}: unreadable tensors ({exc})") from None
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


def sniff_format(path: str | os.PathLike) -> str:
    """'safetensors', 'torch-zip', 'torch-legacy' or 'pickle' from the file's first bytes."""
    path = Path(path)
    if not path.is_file():
        raise GanError(f"checkpoint not found: {path}")
    with open(path, "rb") as fh:
        head = fh.read(16)
    if is_safetensors(path):
        return "safetensors"
    if head.startswith(b"PK\x03\x04"):
        return "torch-zip"
    if head[:1] == b"\x80" and b"\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19" in head:  # legacy torch.save magic
        return "torch-legacy"
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return "pickle"
    raise GanError(f"{path}: not a generator checkpoint this tool reads (safetensors, official .pkl, rosinality .pt)")


#: the name that stands for the 64 px DCGAN shipped in the PyPI package gan-face-generate
PACKAGED_DCGAN = "dcgan"


def load_any_generator(path: str | os.PathLike, device: str | torch.device | None = None) -> Generator:
    """Load a generator from our .safetensors, an official StyleGAN2-ADA .pkl, a rosinality .pt or DCGAN weights.

    The name "dcgan" loads the packaged DCGAN (gan-face-generate's weights.tar). Eval mode, no gradients.
    """
    if str(path) == PACKAGED_DCGAN:
        from .dcgan import load_dcgan
        return load_dcgan(None, device)
    fmt = sniff_format(path)
    if fmt == "safetensors":
        return load_generator(path, device)
    if fmt == "pickle":
        from .official_pickle import load_official_pickle
        G = load_official_pickle(path)
    else:  # one read of the torch file (rosinality checkpoints are large), then decide by its content
        from .dcgan import dcgan_from_state, dcgan_state
        from .rosinality import generator_from_torch_data, read_torch_file
        data = read_torch_file(path)
        state = dcgan_state(data)
        if state is not None:  # gan-face-generate weights
            return dcgan_from_state(state, str(path), device)
        G = generator_from_torch_data(data, str(path))
    return G.eval().requires_grad_(False).to(device or "cpu")
