"""Test-only writers for foreign checkpoint layouts (official StyleGAN2-ADA .pkl, rosinality .pt).

The official writer mimics the structure NVIDIA's pickles have: every network object reduces to
torch_utils.persistence._reconstruct_persistent_obj(meta) with meta = {type, version,
module_src, class_name, state}. The fake modules exist in sys.modules only while writing.
"""
from __future__ import annotations

import collections
import contextlib
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import torch

EVIL_SRC = "import os\nos.system('touch {sentinel}')\n"


@contextlib.contextmanager
def fake_official_modules():
    """Register synthetic torch_utils.persistence and dnnlib.util modules for pickling only."""
    names = ["torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util"]
    saved = {n: sys.modules.get(n) for n in names}
    pkg, pers = types.ModuleType("torch_utils"), types.ModuleType("torch_utils.persistence")
    dn, dnu = types.ModuleType("dnnlib"), types.ModuleType("dnnlib.util")

    def _reconstruct_persistent_obj(meta):  # never called by the reader under test
        raise AssertionError("the reader must not call the original reconstruct function")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    pers._reconstruct_persistent_obj = _reconstruct_persistent_obj
    EasyDict = type("EasyDict", (dict,), {"__module__": "dnnlib.util"})
    dnu.EasyDict = EasyDict
    pkg.persistence, dn.util = pers, dnu
    sys.modules.update({"torch_utils": pkg, "torch_utils.persistence": pers, "dnnlib": dn, "dnnlib.util": dnu})
    try:
        yield pers, EasyDict
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


class _Persisted:
    def __init__(self, reconstruct, meta):
        self.reconstruct, self.meta = reconstruct, meta

    def __reduce__(self):
        return self.reconstruct, (self.meta,)


def _record(module: torch.nn.Module, reconstruct, easydict, module_src: str, init_kwargs=None):
    state = {"training": False,
             "_parameters": collections.OrderedDict((k, v) for k, v in module._parameters.items()),
             "_buffers": collections.OrderedDict(module._buffers.items()),
             "_non_persistent_buffers_set": set(),
             "_backward_hooks": collections.OrderedDict(), "_forward_hooks": collections.OrderedDict(),
             "_modules": collections.OrderedDict(
                 (k, _record(m, reconstruct, easydict, module_src)) for k, m in module._modules.items()),
             "_init_args": (), "_init_kwargs": easydict(init_kwargs or {})}
    for k, v in vars(module).items():
        if k.startswith("_") or k in state:
            continue
        if isinstance(v, float):
            v = np.float64(v)  # the official code computes gains with numpy
        if isinstance(v, (int, float, str, bool, list, type(None), np.generic)):
            state[k] = v
    meta = dict(type="class", version=6, module_src=module_src, class_name=type(module).__name__, state=state)
    return _Persisted(reconstruct, meta)


def write_official_pickle(G, path: Path, sentinel: Path, D=None, lr_multiplier: float | None = None) -> None:
    """Pickle G (as G and G_ema) in the official structure; module_src would touch `sentinel` if run."""
    cfg = G.config
    with fake_official_modules() as (pers, EasyDict):
        mk = EasyDict(num_layers=cfg["mapping_layers"])
        if lr_multiplier is not None:
            mk["lr_multiplier"] = lr_multiplier
        kw = dict(z_dim=cfg["z_dim"], c_dim=cfg["c_dim"], w_dim=cfg["w_dim"], img_resolution=cfg["img_resolution"],
                  img_channels=cfg["img_channels"], mapping_kwargs=mk,
                  synthesis_kwargs=EasyDict(channel_base=cfg["channel_base"], channel_max=cfg["channel_max"],
                                            num_fp16_res=0, conv_clamp=cfg["conv_clamp"]))
        src = EVIL_SRC.format(sentinel=sentinel)
        g = _record(G, pers._reconstruct_persistent_obj, EasyDict, src, kw)
        data = {"G": g, "D": _record(D, pers._reconstruct_persistent_obj, EasyDict, src) if D is not None else None,
                "G_ema": g, "augment_pipe": None,
                "training_set_kwargs": EasyDict(path="faces.zip", resolution=cfg["img_resolution"])}
        with open(path, "wb") as fh:
            pickle.dump(data, fh, protocol=3)


def rosinality_state(G) -> tuple[dict, torch.Tensor]:
    """Our generator's tensors in rosinality's g_ema key layout and shapes, plus latent_avg."""
    sd = G.state_dict()
    out: dict[str, torch.Tensor] = {}
    n_fc = G.config["mapping_layers"]
    for i in range(n_fc):
        out[f"style.{i + 1}.weight"] = sd[f"mapping.fc{i}.weight"].clone()
        out[f"style.{i + 1}.bias"] = sd[f"mapping.fc{i}.bias"].clone()
    out["input.input"] = sd["synthesis.b4.const"][None].clone()

    def styled(pre, ours, noise_idx):
        out[f"{pre}.conv.weight"] = sd[f"{ours}.weight"][None].clone()
        out[f"{pre}.conv.modulation.weight"] = sd[f"{ours}.affine.weight"].clone()
        out[f"{pre}.conv.modulation.bias"] = sd[f"{ours}.affine.bias"].clone()
        if noise_idx is None:
            out[f"{pre}.bias"] = sd[f"{ours}.bias"].reshape(1, -1, 1, 1).clone()
        else:
            out[f"{pre}.noise.weight"] = sd[f"{ours}.noise_strength"].reshape(1).clone()
            out[f"{pre}.activate.bias"] = sd[f"{ours}.bias"].clone()
            out[f"noises.noise_{noise_idx}"] = sd[f"{ours}.noise_const"][None, None].clone()

    styled("conv1", "synthesis.b4.conv1", 0)
    styled("to_rgb1", "synthesis.b4.torgb", None)
    res, k = 8, 0
    while res <= G.img_resolution:
        styled(f"convs.{2 * k}", f"synthesis.b{res}.conv0", 2 * k + 1)
        styled(f"convs.{2 * k + 1}", f"synthesis.b{res}.conv1", 2 * k + 2)
        styled(f"to_rgbs.{k}", f"synthesis.b{res}.torgb", None)
        res, k = res * 2, k + 1
    return out, sd["mapping.w_avg"].clone()
