"""Mesh export of one posed face (OBJ, PLY or GLB by suffix) through trimesh, written atomically.

What each format gets (trimesh holds one visual per mesh):
- GLB: positions, triangles, per-vertex colour (albedo) and UVs where the model has them;
  vertices are split along UV seams so each carries one UV (glTF has per-vertex UVs only).
- OBJ, PLY: positions, triangles and per-vertex colour when colors=True (no seam split: the
  vertex count is the model's); with colors=False, UVs where the model has them (seam split).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import trimesh

from .errors import MorphableError
from .fileio import atomic_output
from .model import MorphableModel
from .params import FaceParams

MESH_FORMATS: tuple[str, ...] = (".obj", ".ply", ".glb")


def seam_split(model: MorphableModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split the model's vertices along UV seams (formats with one UV per vertex need it).

    One new vertex per distinct (vertex, uv) triangle corner: returns the source vertex of each new
    vertex, its UV (the model's dtype) and the triangles over the new vertices.
    """
    if model.uvs is None or model.face_uvs is None:
        raise ValueError("the model has no UVs to split along")
    faces = model.faces.cpu().numpy().astype(np.int64)
    pairs = np.stack([faces.reshape(-1), model.face_uvs.cpu().numpy().astype(np.int64).reshape(-1)], axis=1)
    unique, inverse = np.unique(pairs, axis=0, return_inverse=True)
    return unique[:, 0], model.uvs.cpu().numpy()[unique[:, 1]], inverse.reshape(faces.shape)


def _mesh(model: MorphableModel, params: FaceParams, index: int, colors: bool, uvs: bool) -> trimesh.Trimesh:
    one = params[index]
    with torch.no_grad():
        verts = model.vertices(one)[0].cpu().numpy().astype(np.float64)
        albedo = model.albedo(one)[0].cpu().numpy()
    faces = model.faces.cpu().numpy().astype(np.int64)
    rgba = np.concatenate([np.clip(albedo * 255.0 + 0.5, 0, 255), np.full((len(albedo), 1), 255)], 1)
    rgba = rgba.astype(np.uint8)
    if not uvs:
        mesh = trimesh.Trimesh(vertices=verts, faces=faces, process=False)
        if colors:
            mesh.visual = trimesh.visual.ColorVisuals(mesh, vertex_colors=rgba)
        return mesh
    src_v, uv, new_faces = seam_split(model)
    mesh = trimesh.Trimesh(vertices=verts[src_v], faces=new_faces, process=False)
    material = trimesh.visual.material.PBRMaterial(name="face", baseColorFactor=[255, 255, 255, 255])
    mesh.visual = trimesh.visual.TextureVisuals(uv=uv, material=material)
    if colors:  # trimesh's glTF writer turns this attribute into COLOR_0
        mesh.visual.vertex_attributes["color"] = rgba[src_v]
    return mesh


def export_mesh(model: MorphableModel, params: FaceParams, path: str | os.PathLike, index: int = 0,
                colors: bool = True) -> Path:
    """Write face `index` of `params` as a posed mesh; the suffix (.obj/.ply/.glb) picks the format."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MESH_FORMATS:
        raise MorphableError(f"unknown mesh format {path.suffix or '(none)'!r} for {path}; "
                             f"use one of {', '.join(MESH_FORMATS)}")
    if not -params.batch_size <= index < params.batch_size:
        raise MorphableError(f"face index {index} out of range for a batch of {params.batch_size}")
    has_uvs = model.uvs is not None and model.face_uvs is not None
    uvs = has_uvs and (suffix == ".glb" or not colors)
    mesh = _mesh(model, params, index % params.batch_size, colors, uvs)
    with atomic_output(path) as tmp:
        if suffix == ".obj":
            data = trimesh.exchange.obj.export_obj(mesh, include_color=colors, include_texture=uvs,
                                                   include_normals=False, write_texture=False)
            tmp.write_text(data)
        else:
            tmp.write_bytes(mesh.export(file_type=suffix[1:]))
    return path
