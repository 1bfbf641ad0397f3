"""The one door for generator files of every format: sniff the first bytes, hand the file to its reader.

Readers: gan.checkpoint (ours, safetensors), gan.official_pickle (NVIDIA StyleGAN2-ADA .pkl, a
restricted unpickler), gan.rosinality (.pt, weights only) and gan.dcgan (gan-face-generate weights).
The readers never import this module, so the dispatcher and the readers form no import circle.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from basics.tagged_safetensors import is_safetensors

from .errors import GanError

#: the name that stands for the 64 px DCGAN shipped in the PyPI package gan-face-generate
PACKAGED_DCGAN = "dcgan"


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


def load_any_generator(path: str | os.PathLike, device: str | torch.device | None = None):
    """Load a generator from our .safetensors, an official StyleGAN2-ADA .pkl, a rosinality .pt or DCGAN weights.

    The name "dcgan" loads the packaged DCGAN (gan-face-generate's weights.tar). Eval mode, no gradients.
    """
    if str(path) == PACKAGED_DCGAN:
        from .dcgan import load_dcgan

        return load_dcgan(None, device)
    fmt = sniff_format(path)
    if fmt == "safetensors":
        from .checkpoint import load_generator

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
