"""Wavefront OBJ reading that keeps the file's vertex order (blendshape meshes must align).

trimesh and most loaders split vertices on UV seams and reorder them; morphable models ship
their identity/expression shapes as OBJs that correspond vertex-by-vertex, so we read the
`v`, `vt` and `f` lines ourselves (parse_obj_lines, also used for MakeHuman's quad mesh) and
fan-triangulate polygons without touching vertex order (read_obj).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from ..errors import MorphableError


@dataclass
class ObjMesh:
    """Vertices in file order, triangles, and (if the file has them) UVs per triangle corner."""

    vertices: np.ndarray            # (V,3) float64
    faces: np.ndarray               # (F,3) int64, 0-based
    uvs: np.ndarray | None = None   # (T,2) float64
    face_uvs: np.ndarray | None = None  # (F,3) int64 into uvs, or None
    groups: list[tuple[str, int]] | None = None  # (material/group name, first triangle index)


@dataclass
class ObjPolygons:
    """An OBJ as written: vertices and UVs in file order, faces as corner lists, group starts."""

    vertices: np.ndarray                 # (V,3) float64
    uvs: np.ndarray                      # (T,2) float64, T may be 0
    polygons: list[list[tuple[int, int]]]  # per face, its corners as 0-based (v, vt or -1)
    groups: list[tuple[str, int]]        # (material/group name, first polygon index)


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise MorphableError(f"OBJ file not found: {path}")
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise MorphableError(f"cannot read OBJ file {path}: {exc.strerror or exc}") from None


def _floats(rows: list[str], width: int, source: str, what: str) -> np.ndarray:
    """Parse the first `width` numbers after the tag of each row (extra numbers, e.g. colours, ignored)."""
    if not rows:
        return np.zeros((0, width))
    try:
        return np.array([r.split()[1:1 + width] for r in rows], dtype=np.float64)
    except ValueError:
        raise MorphableError(f"{source}: malformed {what} line (expected {width} numbers)") from None


def read_obj_vertices(path: str | Path) -> np.ndarray:
    """Only the `v` positions (V,3), in file order: the fast path for blendshape meshes."""
    path = Path(path)
    rows = [ln for ln in _read_lines(path) if ln.startswith("v ")]
    verts = _floats(rows, 3, str(path), "vertex")
    if verts.shape[0] == 0 or verts.shape[1] != 3:
        raise MorphableError(f"{path}: no vertices (not an OBJ mesh?)")
    return verts


def _corner(token: str, n_v: int, n_vt: int) -> tuple[int, int]:
    """'v', 'v/vt', 'v//vn' or 'v/vt/vn' -> 0-based (v, vt or -1); negative indices are relative."""
    parts = token.split("/")
    v = int(parts[0])
    v = v - 1 if v > 0 else n_v + v
    vt = -1
    if len(parts) > 1 and parts[1]:
        vt = int(parts[1])
        vt = vt - 1 if vt > 0 else n_vt + vt
    return v, vt


def parse_obj_lines(lines: Iterable[str], source: str) -> ObjPolygons:
    """Parse `v`, `vt`, `f` and group lines without reordering anything; bad input -> MorphableError."""
    v_rows, vt_rows = [], []
    polygons: list[list[tuple[int, int]]] = []
    groups: list[tuple[str, int]] = []
    for line_no, line in enumerate(lines, 1):
        if line.startswith("v "):
            v_rows.append(line)
        elif line.startswith("vt "):
            vt_rows.append(line)
        elif line.startswith("f "):
            try:
                corners = [_corner(tok, len(v_rows), len(vt_rows)) for tok in line.split()[1:]]
            except ValueError:
                raise MorphableError(f"{source}:{line_no}: malformed face line") from None
            if len(corners) < 3:
                raise MorphableError(f"{source}:{line_no}: a face needs at least 3 corners")
            polygons.append(corners)
        elif line.startswith(("usemtl ", "g ")):
            groups.append((line.split(maxsplit=1)[1].strip() if " " in line else "", len(polygons)))
    verts = _floats(v_rows, 3, source, "vertex")
    if verts.shape[0] == 0:
        raise MorphableError(f"{source}: no vertices (not an OBJ mesh?)")
    uvs = _floats(vt_rows, 2, source, "texture coordinate")
    if any(not 0 <= v < len(verts) for corners in polygons for v, _ in corners):
        raise MorphableError(f"{source}: a face refers to a vertex that does not exist")
    if any(vt >= len(uvs) or vt < -1 for corners in polygons for _, vt in corners):
        raise MorphableError(f"{source}: a face refers to a texture coordinate that does not exist")
    return ObjPolygons(verts, uvs, polygons, groups)


def read_obj(path: str | Path) -> ObjMesh:
    """Read positions, UVs and faces in file order; quads and n-gons become triangle fans."""
    path = Path(path)
    obj = parse_obj_lines(_read_lines(path), str(path))
    tris: list[tuple[int, int, int]] = []
    tri_uvs: list[tuple[int, int, int]] = []
    first_tri: list[int] = []
    for corners in obj.polygons:
        first_tri.append(len(tris))
        for k in range(1, len(corners) - 1):
            a, b, c = corners[0], corners[k], corners[k + 1]
            tris.append((a[0], b[0], c[0]))
            tri_uvs.append((a[1], b[1], c[1]))
    first_tri.append(len(tris))
    faces = np.asarray(tris, dtype=np.int64).reshape(-1, 3)
    uvs = face_uvs = None
    if len(obj.uvs) and faces.size and all(vt >= 0 for corners in obj.polygons for _, vt in corners):
        uvs = obj.uvs
        face_uvs = np.asarray(tri_uvs, dtype=np.int64).reshape(-1, 3)
    groups = [(name, first_tri[p]) for name, p in obj.groups]
    return ObjMesh(obj.vertices, faces, uvs, face_uvs, groups or None)
