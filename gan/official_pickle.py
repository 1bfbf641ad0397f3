"""Read NVIDIA's official StyleGAN2-ADA network pickles without executing anything from the file.

Official pickles store each network through `torch_utils.persistence._reconstruct_persistent_obj(meta)`,
where meta carries the module's source code and the object's __dict__ state. A restricted
unpickler replaces that function with one that records (class name, state) and never runs
the source; only tensor/storage rebuilders (storages re-read with torch.load(weights_only=True)),
OrderedDict/set, dnnlib's EasyDict and numeric numpy scalars are allowed. Everything else is refused.
"""
from __future__ import annotations

import collections
import io
import math
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .checkpoint import load_state
from .errors import GanError
from .networks import Generator


@dataclass
class PersistentRecord:
    """Stand-in for one persisted network object: its class name and __dict__ state (never executed)."""

    class_name: str
    state: dict = field(default_factory=dict)

    @property
    def modules(self) -> dict:
        return self.state.get("_modules") or {}


class _EasyDict(dict):
    """Plain dict standing in for dnnlib.EasyDict."""


def _reconstruct_persistent_obj(meta: Any) -> PersistentRecord:
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise GanError("official pickle: unsupported persistent object (expected a persisted class)")
    state = meta.get("state")
    if not isinstance(state, dict):
        raise GanError("official pickle: persistent object without a state dict")
    return PersistentRecord(str(meta.get("class_name")), state)


def _load_storage_bytes(data: bytes) -> Any:
    if not isinstance(data, (bytes, bytearray)):
        raise GanError("official pickle: storage payload is not bytes")
    return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")


def _numpy_dtype(spec: Any, align: bool = False, copy: bool = True) -> np.dtype:
    if not isinstance(spec, str):
        raise GanError("official pickle: unsupported numpy dtype")
    dt = np.dtype(spec)
    if dt.hasobject:
        raise GanError("official pickle: refusing numpy object dtype")
    return dt


def _numpy_scalar(dtype: Any, data: Any = None) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, (bytes, bytearray)):
        raise GanError("official pickle: refusing non-numeric numpy scalar")
    return np.frombuffer(bytes(data), dtype=dtype)[0]


def _refuse(module: str, name: str):
    raise GanError(f"official pickle: refusing to load {module}.{name} (not a tensor, container or network record)")


_ALLOWED: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("torch.storage", "_load_from_bytes"): _load_storage_bytes,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("__builtin__", "set"): set,
    ("dnnlib.util", "EasyDict"): _EasyDict,
    ("dnnlib", "EasyDict"): _EasyDict,
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            _refuse(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise GanError("official pickle: unexpected persistent id (is this a torch.save file?)")


def read_official_pickle(path: str | os.PathLike) -> dict:
    """Unpickle an official .pkl into a dict whose networks are PersistentRecord objects."""
    path = Path(path)
    if not path.is_file():
        raise GanError(f"checkpoint not found: {path}")
    try:
        with open(path, "rb") as fh:
            data = _RestrictedUnpickler(fh).load()
    except GanError:
        raise
    except Exception as exc:  # corrupt or truncated stream
        raise GanError(f"{path}: unreadable pickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise GanError(f"{path}: expected a dict of networks (G, D, G_ema), got {type(data).__name__}")
    return data


def collect_tensors(record: PersistentRecord, prefix: str = "") -> dict[str, torch.Tensor]:
    """state_dict-like flat {name: tensor} of a record tree (parameters and persistent buffers)."""
    out: dict[str, torch.Tensor] = {}
    skip = set(record.state.get("_non_persistent_buffers_set") or ())
    for group in ("_parameters", "_buffers"):
        for k, v in (record.state.get(group) or {}).items():
            if v is None or (group == "_buffers" and k in skip):
                continue
            if not isinstance(v, torch.Tensor):
                raise GanError(f"official pickle: {prefix}{k} is not a tensor")
            out[prefix + k] = v.detach().float() if v.is_floating_point() else v.detach()
    for name, child in record.modules.items():
        if child is None:
            continue
        if not isinstance(child, PersistentRecord):
            raise GanError(f"official pickle: module {prefix}{name} is not a persisted network")
        out.update(collect_tensors(child, f"{prefix}{name}."))
    return out


def _num(x: Any, default: Any) -> Any:
    return default if x is None else (x.item() if isinstance(x, np.generic) else x)


def generator_from_record(record: PersistentRecord, source: str = "official pickle") -> Generator:
    """Build our Generator from an official Generator record (init kwargs + tensors)."""
    if record.class_name != "Generator":
        raise GanError(f"{source}: G_ema is a {record.class_name!r}, expected a StyleGAN2 'Generator'")
    st = record.state
    kw = dict(st.get("_init_kwargs") or {})
    args = tuple(st.get("_init_args") or ())
    for i, k in enumerate(("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels")):
        if i < len(args):
            kw.setdefault(k, args[i])
    mk = dict(kw.get("mapping_kwargs") or {})
    sk = dict(kw.get("synthesis_kwargs") or {})
    if sk.get("architecture", "skip") != "skip":
        raise GanError(f"{source}: synthesis architecture {sk['architecture']!r} is not supported (only 'skip')")
    if "synthesis" not in record.modules or "b4" not in record.modules["synthesis"].modules:
        raise GanError(f"{source}: this Generator is not a StyleGAN2 network (StyleGAN3 pickles are not supported)")
    mapping = record.modules.get("mapping")
    n_fc = sum(1 for k in (mapping.modules if mapping else {}) if k.startswith("fc"))
    b4 = record.modules["synthesis"].modules["b4"]
    clamp = b4.modules["conv1"].state.get("conv_clamp", sk.get("conv_clamp"))
    try:
        G = Generator(z_dim=int(_num(st.get("z_dim"), kw.get("z_dim"))),
                      w_dim=int(_num(st.get("w_dim"), kw.get("w_dim"))),
                      img_resolution=int(_num(st.get("img_resolution"), kw.get("img_resolution"))),
                      img_channels=int(_num(st.get("img_channels"), kw.get("img_channels"))),
                      mapping_layers=n_fc or int(mk.get("num_layers", 8)),
                      channel_base=int(_num(sk.get("channel_base"), 32768)),
                      channel_max=int(_num(sk.get("channel_max"), 512)),
                      c_dim=int(_num(st.get("c_dim"), kw.get("c_dim", 0))),
                      conv_clamp=None if clamp is None else float(_num(clamp, None)))
    except (TypeError, ValueError) as exc:
        raise GanError(f"{source}: cannot read the generator's settings ({exc})") from None
    tensors = collect_tensors(record)
    lr = float(_num(mk.get("lr_multiplier"), 0.01))
    if not math.isclose(lr, 0.01):  # our mapping stores weights for lr 0.01; rescale the raw values
        for k in list(tensors):
            if k.startswith("mapping.fc"):
                tensors[k] = tensors[k] * (lr / 0.01)
    if "mapping.w_avg" not in tensors:
        raise GanError(f"{source}: the generator has no mapping.w_avg")
    load_state(G, tensors, source)
    return G.eval().requires_grad_(False)


def load_official_pickle(path: str | os.PathLike, key: str = "G_ema") -> Generator:
    """Generator from an official StyleGAN2-ADA .pkl (its G_ema by default), never executing its code."""
    data = read_official_pickle(path)
    if key not in data:
        raise GanError(f"{path}: no {key!r} network in the pickle (found {sorted(map(str, data))})")
    record = data[key]
    if not isinstance(record, PersistentRecord):
        raise GanError(f"{path}: {key} is not a persisted network")
    return generator_from_record(record, source=str(path))
