"""ICT-FaceKit loader: a folder of OBJ meshes (neutral, identityNNN, expressions) -> MorphableModel.

Assumptions (checked on the real ICT Face Model Light files; see docs/formats.md):
- every mesh has the neutral mesh's vertices in the same file order, in centimetres, with
  +x to the subject's left, +y up and +z out of the face (the axes of morphable.pose);
- identityNNN.obj is the neutral displaced by one standard deviation of PCA mode NNN (ICT's
  own sampler draws identity weights from N(0, 1) and adds weight * (mesh - neutral)), so
  mode = mesh - neutral is stored as a unit direction plus its norm as identity_std;
- expression meshes are the neutral with one ARKit-style blendshape at weight 1.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..arkit import ARKIT_INDEX, NUM_EXPRESSIONS
from ..errors import MorphableError
from ..model import MorphableModel
from .obj_reader import read_obj, read_obj_vertices

NEUTRAL_FILE = "generic_neutral_mesh.obj"
INDEX_FILE = "vertex_indices.json"
CM_TO_M = 0.01
#: face + head-and-neck vertices are 0..HEAD_END-1; face skin is 0..FACE_END-1 (ICT README)
HEAD_END = 11248
FACE_END = 9409
#: ARKit names without a side, which ICT splits into _L/_R halves (summed back here)
_UNSIDED = ("browInnerUp", "cheekPuff")


def ict_to_arkit(name: str) -> str:
    """ICT expression name to ARKit's: 'browDown_L' -> 'browDownLeft', 'jawOpen' -> 'jawOpen'."""
    m = re.fullmatch(r"(.+)_([LR])", name)
    if m is None:
        return name
    return m.group(1) + ("Left" if m.group(2) == "L" else "Right")


def _expression_basis(folder: Path, names: list[str], offsets: Callable[[Path], np.ndarray],
                      num_vertices: int) -> tuple[np.ndarray, dict]:
    """(52,V,3) offsets in metres from the expression OBJs present; report of what mapped where."""
    basis = np.zeros((NUM_EXPRESSIONS, num_vertices, 3), dtype=np.float64)
    mapped, combined, dropped, missing = {}, {}, [], []
    for name in names:
        path = folder / f"{name}.obj"
        if not path.is_file():
            missing.append(name)
            continue
        arkit = ict_to_arkit(name)
        base = re.sub(r"(Left|Right)$", "", arkit)
        if arkit not in ARKIT_INDEX and base in _UNSIDED:
            arkit = base
            combined.setdefault(base, []).append(name)
        if arkit not in ARKIT_INDEX:
            dropped.append(name)
            continue
        basis[ARKIT_INDEX[arkit]] += offsets(path)
        mapped.setdefault(arkit, []).append(name)
    report = {"expressions_mapped": mapped, "expressions_combined": combined,
              "expressions_dropped": dropped, "expressions_missing_files": missing}
    return basis, report


def _identity_files(folder: Path, num_identity: int | None) -> list[Path]:
    files = sorted(folder.glob("identity[0-9]*.obj"), key=lambda p: int(re.sub(r"\D", "", p.stem)))
    if num_identity is not None:
        if num_identity < 0:
            raise MorphableError(f"num_identity must be >= 0, got {num_identity}")
        if num_identity > len(files):
            raise MorphableError(f"{folder} has {len(files)} identity meshes, {num_identity} were asked for")
        files = files[:num_identity]
    return files


def _subset_faces(faces: np.ndarray, face_uvs: np.ndarray | None, uvs: np.ndarray | None, n_keep: int):
    """Triangles whose corners all lie in vertices [0, n_keep), with their UVs re-indexed compactly."""
    sel = (faces < n_keep).all(axis=1)
    faces = faces[sel]
    if face_uvs is None or uvs is None:
        return faces, None, None
    used, inverse = np.unique(face_uvs[sel], return_inverse=True)
    return faces, uvs[used], inverse.reshape(-1, 3)


def _face_skin(template: np.ndarray, faces: np.ndarray, n_keep: int) -> np.ndarray:
    """ICT's face group minus its inner lips, nostrils and eyelid rims (back-facing, in front).

    The face group (vertices 0..9408) is the front of the head with ears and neck; the parts of
    it that face away from the camera near the front of the face are the linings of the mouth,
    nose and eyelids, which a photo never shows as skin.
    """
    head_faces = faces[(faces < min(HEAD_END, n_keep)).all(axis=1)]
    import trimesh   # here, not at module level: ~0.3 s of every cold command that never reads ICT

    normals = trimesh.Trimesh(template, head_faces, process=False).vertex_normals
    inner = (normals[:, 2] < 0) & (np.abs(template[:, 0]) < 0.05) & (template[:, 2] > 0.04)
    mask = np.zeros(n_keep, dtype=bool)
    mask[:min(FACE_END, n_keep)] = True
    return mask & ~inner


def load_ict(folder: str | Path, head_only: bool = True, num_identity: int | None = None,
             device=None) -> MorphableModel:
    """Build a MorphableModel from an ICT-FaceKit `FaceXModel` folder (see module docstring)."""
    folder = Path(folder)
    if not (folder / NEUTRAL_FILE).is_file():
        raise MorphableError(f"{folder} is not an ICT-FaceKit folder (no {NEUTRAL_FILE})")
    try:
        index = json.loads((folder / INDEX_FILE).read_text())
        landmarks = np.asarray(index["idx_to_landmark_verts"], dtype=np.int64)
        expr_names = [str(n) for n in index["expressions"]]
    except FileNotFoundError:
        raise MorphableError(f"{folder} has no {INDEX_FILE} (it names the expressions and landmarks)") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise MorphableError(f"{folder / INDEX_FILE} is not ICT-FaceKit's vertex index file ({exc})") from None
    if landmarks.shape != (68,):
        raise MorphableError(f"{folder / INDEX_FILE}: expected 68 landmark vertices, got {landmarks.shape[0]}")

    identity_files = _identity_files(folder, num_identity)
    mesh = read_obj(folder / NEUTRAL_FILE)
    n_all = mesh.vertices.shape[0]
    n_keep = min(HEAD_END, n_all) if head_only else n_all
    keep = slice(0, n_keep)
    if landmarks.max() >= n_keep:
        raise MorphableError(f"{folder}: a landmark vertex lies outside the kept part of the mesh")
    neutral = mesh.vertices[keep]
    faces, uvs, face_uvs = _subset_faces(mesh.faces, mesh.face_uvs, mesh.uvs, n_keep)

    def offsets(path: Path) -> np.ndarray:
        verts = read_obj_vertices(path)
        if verts.shape[0] != n_all:
            raise MorphableError(f"{path} has {verts.shape[0]} vertices, the neutral mesh {n_all}")
        return (verts[keep] - neutral) * CM_TO_M

    modes = [offsets(p) for p in identity_files]
    norms = np.array([np.linalg.norm(m) for m in modes])
    if (norms == 0).any():
        raise MorphableError(f"{folder}: an identity mesh equals the neutral mesh")
    ident_basis = np.stack(modes) / norms[:, None, None] if modes else np.zeros((0, n_keep, 3))

    expr_basis, report = _expression_basis(folder, expr_names, offsets, n_keep)

    # origin: centre of the face + head-and-neck bounding box (x stays on the symmetry plane)
    head = mesh.vertices[:min(HEAD_END, n_all)]
    origin = (head.min(0) + head.max(0)) / 2
    origin[0] = 0.0
    template = (neutral - origin) * CM_TO_M

    region_face = _face_skin(template, faces, n_keep)
    f32 = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32, device=device)  # noqa: E731
    i64 = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.int64, device=device)  # noqa: E731
    present = np.abs(expr_basis).reshape(NUM_EXPRESSIONS, -1).max(1) > 0
    meta = {
        "source": str(folder), "loader": "ict", "licence": "MIT (ICT-FaceKit, USC ICT)",
        "head_only": head_only, "units": "metres (ICT centimetres x 0.01)",
        "origin_cm": origin.tolist(),
        "identity": "identityNNN.obj - neutral taken as one std of each mode",
        **report,
    }
    return MorphableModel(
        name="ict-facekit" + ("-head" if head_only else ""),
        template=f32(template), faces=i64(faces),
        identity_basis=f32(ident_basis), identity_std=f32(norms),
        expression_basis=f32(expr_basis), expression_present=torch.as_tensor(present, device=device),
        landmarks=i64(landmarks),
        uvs=None if uvs is None else f32(uvs), face_uvs=None if face_uvs is None else i64(face_uvs),
        regions={"face": torch.as_tensor(region_face, device=device)}, meta=meta)
