"""Training checkpoints: every state needed to continue a run exactly, saved atomically.

Holds G, D, G_ema, both optimisers, the step and image counters and every RNG in play
(torch CPU, CUDA, numpy, python, and the run's own samplers). Only tensors and plain Python
values go in, so `torch.load(weights_only=True)` reads it back without unpickling code.
"""
from __future__ import annotations

import os
import pickle
import random

import numpy as np
import torch

from .errors import GanError
from .fileio import atomic_output

FORMAT = "facerig-gan-train/1"
CHECKPOINT_NAME = "checkpoint.pt"


def global_rng_state(device: torch.device) -> dict:
    """Snapshot of the process-wide RNGs (torch CPU, CUDA for `device`, numpy, python)."""
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"key": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": random.getstate(),
        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
    }
    return state


def set_global_rng_state(state: dict, device: torch.device) -> None:
    """Restore what `global_rng_state` captured."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if device.type == "cuda" and state.get("cuda") is not None:
        torch.cuda.set_rng_state(state["cuda"], device)


def save_checkpoint(path: str | os.PathLike, payload: dict) -> None:
    """Write a training checkpoint atomically (payload: plain values and tensors only)."""
    with atomic_output(path) as tmp:
        torch.save({"format": FORMAT, **payload}, tmp)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by `save_checkpoint` (weights only, on the CPU)."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise GanError(f"cannot read training checkpoint {path}: {exc}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise GanError(f"{path} is not a facerig training checkpoint ({FORMAT})")
    return ckpt


# --- resume pack: a small, portable start point (weights only, no optimiser state) -------------
PACK_FORMAT = "facerig-gan-resume-pack/1"
PACK_NETS = ("G", "D", "G_ema")


def save_resume_pack(path: str | os.PathLike, ckpt: dict) -> None:
    """Write G, D, G_ema (fp16; w_avg kept fp32), kimg, step and the run's config as one safetensors file.

    The optimiser states and RNG states of the checkpoint are dropped: a run started from the
    pack continues the weights and counters, not the exact random stream.
    """
    import json

    from safetensors.torch import save_file

    tensors = {}
    for net in PACK_NETS:
        for k, v in ckpt[net].items():
            v = v.detach().cpu()
            if v.is_floating_point() and not k.endswith("w_avg"):
                v = v.to(torch.float16)
            tensors[f"{net}.{k}"] = v.contiguous().clone()
    meta = {"format": PACK_FORMAT, "config": json.dumps(ckpt["config"]), "cur_nimg": str(int(ckpt["cur_nimg"])),
            "step": str(int(ckpt["step"])), "network_config": json.dumps(ckpt.get("network_config", {}))}
    with atomic_output(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def load_resume_pack(path: str | os.PathLike) -> dict:
    """Read a resume pack: {'G','D','G_ema': fp32 state dicts, 'config', 'cur_nimg', 'step'}. GanError if not one."""
    import json

    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            if meta.get("format") != PACK_FORMAT:
                raise GanError(f"{path} is not a facerig GAN resume pack ({PACK_FORMAT})")
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
        out = {"config": json.loads(meta["config"]), "cur_nimg": int(meta["cur_nimg"]), "step": int(meta["step"])}
    except (OSError, SafetensorError, KeyError, ValueError) as exc:
        raise GanError(f"cannot read resume pack {path}: {type(exc).__name__}: {exc}") from None
    for net in PACK_NETS:
        out[net] = {k[len(net) + 1:]: (v.float() if v.is_floating_point() else v)
                    for k, v in tensors.items() if k.startswith(net + ".")}
    return out
