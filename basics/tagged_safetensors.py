"""One reader/writer for "a safetensors file with a format tag": tensors + JSON metadata, no code in the file.

Our generators, estimators, RigNets and identity proxies are all such files; each names its own
`format` string in the metadata and is refused by the others' readers.
"""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any, Callable

from .atomic import atomic_output
from .errors import UserError


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


def save_tagged(path: str | os.PathLike, tensors: dict, fmt: str, meta: dict[str, Any],
                error: type[UserError] = UserError) -> None:
    """Write tensors atomically with metadata {format: fmt, **meta}; dict/list values are stored as JSON."""
    from safetensors.torch import save_file

    text = {"format": fmt, **{k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()}}
    contiguous = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    with atomic_output(path, error) as tmp:
        save_file(contiguous, str(tmp), metadata=text)


def read_tagged_metadata(path: str | os.PathLike, fmt: str | tuple[str, ...], what: str,
                         error: type[UserError] = UserError) -> dict[str, str]:
    """The raw metadata of a tagged file after checking it exists, is safetensors and carries `fmt`.

    `what` names the kind with its article ("a RigNet file"); every message says what the file should be.
    """
    path = Path(path)
    if not path.is_file():
        raise error(f"{path} not found (expected {what})")
    if not is_safetensors(path):
        raise error(f"cannot read {path}: not a safetensors file (expected {what})")
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
    except Exception as exc:  # noqa: BLE001 -- safetensors raises several types for damaged headers
        raise error(f"cannot read {path}: damaged safetensors header ({type(exc).__name__}; expected {what})") from None
    allowed = (fmt,) if isinstance(fmt, str) else fmt
    if meta.get("format") not in allowed:
        raise error(f"{path} is not {what} (format {meta.get('format')!r}, expected {allowed[0]!r})")
    return meta


def json_field(meta: dict[str, str], key: str, path: str | os.PathLike, what: str,
               error: type[UserError] = UserError, default: str | None = None) -> Any:
    """One JSON-encoded metadata entry; `error` naming the file when it is missing or damaged."""
    try:
        text = meta[key] if default is None else meta.get(key) or default
        return json.loads(text)
    except (KeyError, ValueError) as exc:
        raise error(f"{path}: metadata is missing or damaged for {what} ({type(exc).__name__}: {exc})") from None


def load_tagged_tensors(path: str | os.PathLike, what: str, error: type[UserError] = UserError) -> dict:
    """All tensors of a file whose metadata read_tagged_metadata accepted."""
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as exc:  # noqa: BLE001 -- truncated or damaged tensor data
        raise error(f"cannot read {path}: damaged tensors ({type(exc).__name__}; expected {what})") from None


def load_into(net, tensors: dict, path: str | os.PathLike, what: str, error: type[UserError] = UserError) -> None:
    """load_state_dict(strict) with a one-line `error` when the tensors do not fit the network built from the config."""
    try:
        net.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise error(f"{path}: tensors do not match its config ({what}): {str(exc).splitlines()[0]}") from None


def load_tagged_module(path: str | os.PathLike, fmt: str, what: str, build: Callable[..., Any],
                       error: type[UserError] = UserError) -> tuple[Any, dict[str, str]]:
    """A network rebuilt from a tagged file: build(**config), then its tensors (strict). Returns (net, raw metadata)."""
    meta = read_tagged_metadata(path, fmt, what, error)
    config = json_field(meta, "config", path, what, error)
    try:
        net = build(**config)
    except TypeError as exc:
        raise error(f"{path}: metadata is missing or damaged for {what} (config not understood: {exc})") from None
    load_into(net, load_tagged_tensors(path, what, error), path, what, error)
    return net, meta
