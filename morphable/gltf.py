"""glTF 2.0 (.glb) export of a morphable head with the 52 ARKit expressions as morph targets.

Layout (what Blender / three.js see): one scene, one node (the head; its rotation quaternion
and translation are the FaceParams pose), one mesh with one triangle primitive: POSITION (the
identity-applied neutral shape, model space = glTF space: metres, +y up, +z out of the face),
NORMAL, COLOR_0 (per-vertex albedo, float RGB), TEXCOORD_0 where the model has UVs (vertices
split along UV seams; v flipped to glTF's top-left origin), a plain PBR material, and 52 morph
targets in ARKit order (POSITION deltas = the model's expression basis, NORMAL deltas
optional). All 52 are kept, absent shapes as zero deltas, so weight index = ARKit index;
names are in mesh.extras.targetNames. An animation (optional) drives the node's `weights`,
`rotation` and `translation` with one LINEAR keyframe per frame. Light is not exported
(glTF has no SH lights). The binary is written here (trimesh cannot write morph targets).
"""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Mapping

import numpy as np
import torch
import trimesh
from scipy.spatial.transform import Rotation

from .animation import Tracks, apply_values
from .arkit import ARKIT_NAMES
from .errors import MorphableError
from .export import seam_split
from .fileio import atomic_output
from .model import MorphableModel
from .params import FaceParams
from .pose import euler_to_matrix

FLOAT, UINT16, UINT32 = 5126, 5123, 5125
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
TRIANGLES = 4
_TYPES = {1: "SCALAR", 2: "VEC2", 3: "VEC3", 4: "VEC4"}

Animation = Tracks | FaceParams | Mapping[str, np.ndarray]


class GlbBuilder:
    """Collects binary buffer views and accessors and writes a .glb (JSON + BIN chunks)."""

    def __init__(self) -> None:
        self.blob = bytearray()
        self.views: list[dict] = []
        self.accessors: list[dict] = []

    def _view(self, data: bytes, target: int | None, stride: int | None) -> int:
        self.blob += b"\0" * (-len(self.blob) % 4)  # every view starts 4-byte aligned
        view = {"buffer": 0, "byteOffset": len(self.blob), "byteLength": len(data)}
        if stride is not None:
            view["byteStride"] = stride
        if target is not None:
            view["target"] = target
        self.blob += data
        self.views.append(view)
        return len(self.views) - 1

    def accessor(self, array: np.ndarray, target: int | None = None, min_max: bool = False,
                 vertex: bool = False) -> int:
        """Add a tightly packed float32 / uint array as its own buffer view; returns its index."""
        array = np.ascontiguousarray(array)
        comps = 1 if array.ndim == 1 else array.shape[1]
        ctype = {np.dtype(np.float32): FLOAT, np.dtype(np.uint16): UINT16, np.dtype(np.uint32): UINT32}
        if array.dtype not in ctype:
            raise TypeError(f"unsupported accessor dtype {array.dtype}")
        stride = array.itemsize * comps if vertex else None
        view = self._view(array.tobytes(), target, stride)
        acc = {"bufferView": view, "componentType": ctype[array.dtype], "count": int(array.shape[0]),
               "type": _TYPES[comps]}
        if min_max:
            flat = array.reshape(array.shape[0], comps)
            acc["min"] = [float(x) for x in flat.min(0)]
            acc["max"] = [float(x) for x in flat.max(0)]
        self.accessors.append(acc)
        return len(self.accessors) - 1

    def sparse_accessor(self, array: np.ndarray, min_max: bool = False) -> int:
        """Add a float32 (N, C) array stored sparsely: only its non-zero rows (indices + values).

        An all-zero array gets no data at all (glTF initialises such an accessor with zeros).
        """
        array = np.ascontiguousarray(array, dtype=np.float32)
        rows = np.flatnonzero(np.abs(array).max(1) > 0)
        acc = {"componentType": FLOAT, "count": int(array.shape[0]), "type": _TYPES[array.shape[1]]}
        if min_max:
            acc["min"] = [float(x) for x in array.min(0)]
            acc["max"] = [float(x) for x in array.max(0)]
        if len(rows):
            itype = np.uint16 if array.shape[0] <= 65536 else np.uint32
            acc["sparse"] = {"count": len(rows),
                             "indices": {"bufferView": self._view(rows.astype(itype).tobytes(), None, None),
                                         "componentType": UINT16 if itype is np.uint16 else UINT32},
                             "values": {"bufferView": self._view(array[rows].tobytes(), None, None)}}
        self.accessors.append(acc)
        return len(self.accessors) - 1

    def glb(self, doc: dict) -> bytes:
        """The binary glTF file: 12-byte header, JSON chunk (space padded), BIN chunk (zero padded)."""
        doc = dict(doc, bufferViews=self.views, accessors=self.accessors,
                   buffers=[{"byteLength": len(self.blob)}])
        js = json.dumps(doc, separators=(",", ":")).encode()
        js += b" " * (-len(js) % 4)
        binary = bytes(self.blob) + b"\0" * (-len(self.blob) % 4)
        total = 12 + 8 + len(js) + 8 + len(binary)
        return b"".join([struct.pack("<4sII", b"glTF", 2, total), struct.pack("<I4s", len(js), b"JSON"), js,
                         struct.pack("<I4s", len(binary), b"BIN\0"), binary])


def _normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit vertex normals (trimesh's angle-weighted); +z where a vertex has none."""
    n = trimesh.Trimesh(vertices=verts, faces=faces, process=False).vertex_normals.astype(np.float64)
    length = np.linalg.norm(n, axis=1, keepdims=True)
    return np.where(length > 1e-12, n / np.maximum(length, 1e-12), np.array([0.0, 0.0, 1.0]))


def pose_to_node(pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, 6) yaw/pitch/roll/tx/ty/tz -> glTF rotations (T, 4) xyzw (sign-continuous) and translations (T, 3)."""
    pose = torch.as_tensor(np.asarray(pose, dtype=np.float64))
    rot = euler_to_matrix(pose[:, 0], pose[:, 1], pose[:, 2]).numpy()
    quat = Rotation.from_matrix(rot).as_quat()  # x, y, z, w
    if len(quat) and quat[0, 3] < 0:
        quat[0] = -quat[0]
    for i in range(1, len(quat)):  # keep neighbours in one hemisphere so slerp takes the short way
        if np.dot(quat[i], quat[i - 1]) < 0:
            quat[i] = -quat[i]
    return quat / np.linalg.norm(quat, axis=1, keepdims=True), pose[:, 3:].numpy()


def _frames(animation: Animation, base: FaceParams, fps: float) -> tuple[np.ndarray, FaceParams]:
    """Frame times (T,) and per-frame FaceParams of an animation argument."""
    if isinstance(animation, Tracks):
        times = animation.frame_times()
        return times, animation.sample(times, base=base)
    if isinstance(animation, FaceParams):
        frames = animation
    elif isinstance(animation, Mapping):
        frames = apply_values(base, animation)
    else:
        raise MorphableError(f"animation must be Tracks, a FaceParams sequence or a dict of per-frame "
                             f"arrays, got {type(animation).__name__}")
    if not fps > 0:
        raise MorphableError(f"fps must be positive, got {fps}")
    return np.arange(frames.batch_size, dtype=np.float64) / fps, frames


def export_gltf(model: MorphableModel, path: str | os.PathLike, params: FaceParams | None = None,
                animation: Animation | None = None, fps: float = 25.0, normals: bool = True,
                sparse: bool = False) -> Path:
    """Write a .glb of the head with 52 ARKit morph targets and, optionally, an animation.

    params (batch 1): identity and albedo of the mesh, the node's pose and the mesh's default
    morph weights (its expression); default: the animation's first frame if that is a FaceParams
    sequence, else neutral. animation: Tracks (sampled at their fps), a FaceParams sequence
    (batch T) or {channel: (T,) array} (at `fps`); only expression and pose are animated.
    sparse=True stores morph deltas as sparse accessors (only moving vertices; smaller files).
    """
    path = Path(path)
    if path.suffix.lower() != ".glb":
        raise MorphableError(f"glTF export writes binary .glb files, got {path.name!r}")
    if params is None:
        params = animation[0] if isinstance(animation, FaceParams) else model.neutral_params(1)
    if params.batch_size != 1:
        raise MorphableError(f"params for the glTF mesh must have batch 1, got {params.batch_size}")
    if params.identity.shape[1] != model.num_identity:
        raise MorphableError(f"params have {params.identity.shape[1]} identity values, "
                             f"model {model.name!r} has {model.num_identity}")
    params = params.to(model.device, model.template.dtype).detach()
    times = frames = None
    if animation is not None:
        times, frames = _frames(animation, params, fps)
        if frames.batch_size < 1:
            raise MorphableError("the animation has no frames")

    with torch.no_grad():
        zero = torch.zeros_like(params.expression)
        neutral = model.shape(params.identity, zero)[0].cpu().double().numpy()
        albedo = model.albedo(params)[0].cpu().numpy().astype(np.float32)
    basis = model.expression_basis.detach().cpu().double().numpy()
    orig_faces = faces = model.faces.cpu().numpy().astype(np.int64)
    src = np.arange(len(neutral))
    uv = None
    if model.uvs is not None and model.face_uvs is not None:
        src, uv, faces = seam_split(model)  # glTF's v runs downward:
        uv = np.stack([uv[:, 0], 1.0 - uv[:, 1].astype(np.float64)], 1).astype(np.float32)

    b = GlbBuilder()
    attrs = {"POSITION": b.accessor(neutral[src].astype(np.float32), ARRAY_BUFFER, True, True)}
    n0 = _normals(neutral, orig_faces) if normals else None
    if normals:
        attrs["NORMAL"] = b.accessor(n0[src].astype(np.float32), ARRAY_BUFFER, vertex=True)
    attrs["COLOR_0"] = b.accessor(albedo[src], ARRAY_BUFFER, vertex=True)
    if uv is not None:
        attrs["TEXCOORD_0"] = b.accessor(uv, ARRAY_BUFFER, vertex=True)
    itype = np.uint16 if len(src) < 65535 else np.uint32
    indices = b.accessor(faces.reshape(-1).astype(itype), ELEMENT_ARRAY_BUFFER)
    def delta_accessor(delta: np.ndarray, min_max: bool) -> int:
        if sparse:
            return b.sparse_accessor(delta, min_max)
        return b.accessor(delta, ARRAY_BUFFER, min_max, vertex=True)

    targets = []
    for j in range(len(ARKIT_NAMES)):
        target = {"POSITION": delta_accessor(basis[j][src].astype(np.float32), True)}
        if normals:
            dn = _normals(neutral + basis[j], orig_faces) - n0 if basis[j].any() else np.zeros_like(n0)
            target["NORMAL"] = delta_accessor(dn[src].astype(np.float32), False)
        targets.append(target)
    weights = [float(w) for w in params.expression[0].cpu().tolist()]
    mesh = {"name": model.name, "primitives": [{"attributes": attrs, "indices": indices, "mode": TRIANGLES,
                                                  "material": 0, "targets": targets}],
            "weights": weights, "extras": {"targetNames": list(ARKIT_NAMES)}}
    rot, trans = pose_to_node(params.pose.cpu().double().numpy())
    node = {"name": "head", "mesh": 0, "rotation": [float(x) for x in rot[0]],
            "translation": [float(x) for x in trans[0]]}
    doc = {"asset": {"version": "2.0", "generator": "facerig morphable.gltf"},
           "scene": 0, "scenes": [{"name": model.name, "nodes": [0]}], "nodes": [node], "meshes": [mesh],
           "materials": [{"name": "skin", "pbrMetallicRoughness": {
               "baseColorFactor": [1.0, 1.0, 1.0, 1.0], "metallicFactor": 0.0, "roughnessFactor": 0.8}}]}
    if frames is not None:
        doc["animations"] = [_animation(b, times, frames)]
    data = b.glb(doc)
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
    return path


def _animation(b: GlbBuilder, times: np.ndarray, frames: FaceParams) -> dict:
    """A glTF animation: LINEAR samplers for weights (all 52 per key), rotation and translation."""
    t = b.accessor(times.astype(np.float32), min_max=True)
    expr = frames.expression.detach().cpu().numpy().astype(np.float32).reshape(-1)
    rot, trans = pose_to_node(frames.pose.detach().cpu().double().numpy())
    outputs = {"weights": b.accessor(expr), "rotation": b.accessor(rot.astype(np.float32)),
               "translation": b.accessor(trans.astype(np.float32))}
    samplers, channels = [], []
    for i, (path, acc) in enumerate(outputs.items()):
        samplers.append({"input": t, "output": acc, "interpolation": "LINEAR"})
        channels.append({"sampler": i, "target": {"node": 0, "path": path}})
    return {"name": "facerig", "samplers": samplers, "channels": channels}
