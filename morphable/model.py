"""MorphableModel: a 3D morphable face model (mesh, identity basis, ARKit expressions, landmarks).

Geometry is in metres, in the model space of morphable.pose (+y up, +z out of the face), with
the origin at the point the head rotates about. Shape of a face:
    verts = template + sum_k identity[k] * identity_std[k] * identity_basis[k]
                     + sum_j expression[j] * expression_basis[j]
so identity ~ N(0, 1) gives plausible heads and ARKit weights are in [0, 1].
The model's own file format is a numpy .npz (no pickles); see FORMAT_KEYS.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .arkit import ARKIT_NAMES, NUM_EXPRESSIONS
from basics.npz import read_npz

from .errors import MorphableError
from .fileio import atomic_output
from .params import FaceParams
from .pose import euler_to_matrix

FORMAT_NAME = "facerig-morphable"
FORMAT_VERSION = 1
#: arrays stored in the .npz; the optional ones may be absent
FORMAT_KEYS = {
    "template": "(V,3) float32 mean shape, metres",
    "faces": "(F,3) int64 triangle vertex indices, counter-clockwise seen from outside",
    "identity_basis": "(K_id,V,3) float32 orthonormal-per-component shape directions",
    "identity_std": "(K_id,) float32 std of each identity component, metres",
    "expression_basis": "(52,V,3) float32 ARKit blendshape offsets at weight 1, ARKit order",
    "expression_present": "(52,) bool which ARKit shapes the source model really has",
    "landmarks": "(68,) int64 vertex index of each iBUG-68 landmark",
    "albedo_mean": "(V,3) float32 mean per-vertex albedo in [0,1] (optional)",
    "albedo_basis": "(K_alb,V,3) float32 albedo directions (optional)",
    "albedo_std": "(K_alb,) float32 (optional)",
    "uvs": "(T,2) float32 texture coordinates (optional)",
    "face_uvs": "(F,3) int64 index into uvs per triangle corner (optional)",
    "region_<name>": "(V,) bool vertex masks, e.g. region_face (skin for photometric losses)",
    "meta": "JSON string: format, version, name, source, licence, notes",
}


@dataclass
class MorphableModel:
    """Everything needed to turn FaceParams into a mesh; tensors live on `device`."""

    name: str
    template: torch.Tensor
    faces: torch.Tensor
    identity_basis: torch.Tensor
    identity_std: torch.Tensor
    expression_basis: torch.Tensor
    landmarks: torch.Tensor
    expression_present: torch.Tensor | None = None
    albedo_mean: torch.Tensor | None = None
    albedo_basis: torch.Tensor | None = None
    albedo_std: torch.Tensor | None = None
    uvs: torch.Tensor | None = None
    face_uvs: torch.Tensor | None = None
    regions: dict[str, torch.Tensor] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        v = self.template.shape[0]
        if self.template.shape != (v, 3):
            raise MorphableError(f"template must be (V,3), got {tuple(self.template.shape)}")
        if self.faces.ndim != 2 or self.faces.shape[1] != 3:
            raise MorphableError(f"faces must be (F,3) triangles, got {tuple(self.faces.shape)}")
        if self.identity_basis.shape[1:] != (v, 3) or self.identity_std.shape != self.identity_basis.shape[:1]:
            raise MorphableError("identity_basis must be (K,V,3) with identity_std (K,)")
        if tuple(self.expression_basis.shape) != (NUM_EXPRESSIONS, v, 3):
            raise MorphableError(f"expression_basis must be (52,{v},3), got {tuple(self.expression_basis.shape)}")
        if tuple(self.landmarks.shape) != (68,):
            raise MorphableError(f"landmarks must be 68 vertex indices, got {tuple(self.landmarks.shape)}")
        if int(self.faces.max()) >= v or int(self.landmarks.max()) >= v:
            raise MorphableError("faces or landmarks index past the last vertex")
        if self.expression_present is None:
            self.expression_present = self.expression_basis.abs().flatten(1).amax(1) > 0
        for name, mask in self.regions.items():
            if tuple(mask.shape) != (v,):
                raise MorphableError(f"region {name!r} must be a (V,) mask")

    # ---- sizes ------------------------------------------------------------------------------
    @property
    def num_vertices(self) -> int:
        return self.template.shape[0]

    @property
    def num_faces(self) -> int:
        return self.faces.shape[0]

    @property
    def num_identity(self) -> int:
        return self.identity_basis.shape[0]

    @property
    def num_albedo(self) -> int:
        return 0 if self.albedo_basis is None else self.albedo_basis.shape[0]

    @property
    def device(self) -> torch.device:
        return self.template.device

    @property
    def expression_names(self) -> list[str]:
        """ARKit names this model really has (others are zero shapes)."""
        return [n for n, p in zip(ARKIT_NAMES, self.expression_present.tolist()) if p]

    def neutral_params(self, batch: int = 1) -> FaceParams:
        return FaceParams.neutral(batch, self.num_identity, self.num_albedo, device=self.device,
                                  dtype=self.template.dtype)

    def random_params(self, batch: int = 1, seed: int | None = None, identity_scale: float = 1.0) -> FaceParams:
        """Neutral params with identity drawn from N(0, identity_scale^2) (reproducible by seed)."""
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        p = self.neutral_params(batch)
        ident = torch.randn(batch, self.num_identity, generator=g) * identity_scale
        return p.replace(identity=ident.to(self.device, self.template.dtype))

    # ---- geometry ---------------------------------------------------------------------------
    def shape(self, identity: torch.Tensor, expression: torch.Tensor) -> torch.Tensor:
        """Unposed vertices (B,V,3) from identity (B,K_id) and expression (B,52)."""
        ident = identity * self.identity_std
        out = self.template + torch.einsum("bk,kvc->bvc", ident, self.identity_basis)
        return out + torch.einsum("bk,kvc->bvc", expression, self.expression_basis)

    def vertices(self, params: FaceParams) -> torch.Tensor:
        """Posed vertices (B,V,3): shape rotated by yaw/pitch/roll about the origin, then translated."""
        verts = self.shape(params.identity, params.expression)
        rot = euler_to_matrix(params.yaw, params.pitch, params.roll)
        return verts @ rot.transpose(1, 2) + params.translation[:, None, :]

    def landmarks3d(self, params: FaceParams, verts: torch.Tensor | None = None) -> torch.Tensor:
        """Posed iBUG-68 landmark positions (B,68,3)."""
        verts = self.vertices(params) if verts is None else verts
        return verts[:, self.landmarks]

    def albedo(self, params: FaceParams) -> torch.Tensor:
        """Per-vertex albedo (B,V,3) in [0,1]; a flat skin tone when the model has none."""
        b = params.batch_size
        if self.albedo_mean is None:
            skin = torch.tensor([0.72, 0.55, 0.47], device=self.device, dtype=self.template.dtype)
            return skin.expand(b, self.num_vertices, 3)
        alb = self.albedo_mean.expand(b, -1, -1)
        if self.num_albedo:
            alb = alb + torch.einsum("bk,kvc->bvc", params.albedo * self.albedo_std, self.albedo_basis)
        return alb.clamp(0.0, 1.0)

    def region(self, name: str) -> torch.Tensor:
        if name not in self.regions:
            raise MorphableError(f"model {self.name!r} has no region {name!r}; it has {sorted(self.regions)}")
        return self.regions[name]

    def to(self, device=None, dtype=None) -> "MorphableModel":
        """A copy on another device / float dtype (index tensors keep their dtype)."""
        def conv(t):
            if t is None:
                return None
            if t.is_floating_point():
                return t.to(device=device, dtype=dtype or t.dtype)
            return t.to(device=device)
        kw = {k: conv(getattr(self, k)) for k in (
            "template", "faces", "identity_basis", "identity_std", "expression_basis", "landmarks",
            "expression_present", "albedo_mean", "albedo_basis", "albedo_std", "uvs", "face_uvs")}
        return MorphableModel(name=self.name, regions={k: conv(v) for k, v in self.regions.items()},
                              meta=dict(self.meta), **kw)

    def truncated(self, num_identity: int) -> "MorphableModel":
        """The same model keeping only the first `num_identity` identity components."""
        m = self.to()
        m.identity_basis = m.identity_basis[:num_identity]
        m.identity_std = m.identity_std[:num_identity]
        return m

    # ---- file format ------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the model's .npz atomically (temp file + rename)."""
        arrays: dict[str, np.ndarray] = {}
        for key in ("template", "faces", "identity_basis", "identity_std", "expression_basis",
                    "expression_present", "landmarks", "albedo_mean", "albedo_basis", "albedo_std",
                    "uvs", "face_uvs"):
            t = getattr(self, key)
            if t is not None:
                arrays[key] = t.detach().cpu().numpy()
        for name, mask in self.regions.items():
            arrays[f"region_{name}"] = mask.detach().cpu().numpy().astype(bool)
        meta = dict(self.meta, format=FORMAT_NAME, version=FORMAT_VERSION, name=self.name)
        arrays["meta"] = np.array(json.dumps(meta))
        with atomic_output(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike, device=None) -> "MorphableModel":
        """Read a model .npz written by save(); never unpickles."""
        path = Path(path)
        if not path.is_file():
            raise MorphableError(f"model file not found: {path}")
        data = read_npz(path, "a facerig morphable model (an .npz of plain arrays, as `facerig morph convert` "
                              "writes)", MorphableError)
        try:
            meta = json.loads(str(data.pop("meta")))
        except Exception:
            raise MorphableError(f"{path} is not a facerig morphable model (no metadata)") from None
        if meta.get("format") != FORMAT_NAME:
            raise MorphableError(f"{path} is not a facerig morphable model (format={meta.get('format')!r})")
        missing = [k for k in ("template", "faces", "identity_basis", "identity_std", "expression_basis",
                               "landmarks") if k not in data]
        if missing:
            raise MorphableError(f"{path} is missing arrays: {', '.join(missing)}")
        t = lambda a, dt=None: torch.as_tensor(a, device=device, dtype=dt)  # noqa: E731
        regions = {k[len("region_"):]: t(data.pop(k)) for k in list(data) if k.startswith("region_")}
        kw = {}
        for key in ("template", "identity_basis", "identity_std", "expression_basis", "albedo_mean",
                    "albedo_basis", "albedo_std", "uvs"):
            if key in data:
                kw[key] = t(data[key].astype(np.float32))
        for key in ("faces", "landmarks", "face_uvs"):
            if key in data:
                kw[key] = t(data[key].astype(np.int64))
        if "expression_present" in data:
            kw["expression_present"] = t(data["expression_present"].astype(bool))
        return cls(name=meta.get("name", path.stem), regions=regions, meta=meta, **kw)


def model_fingerprint(model: MorphableModel) -> str:
    """Short hash of a model's template and triangles (tables computed on a mesh are tied to it)."""
    h = hashlib.sha1()
    h.update(np.ascontiguousarray(model.template.detach().cpu().numpy().astype(np.float32)).tobytes())
    h.update(np.ascontiguousarray(model.faces.detach().cpu().numpy().astype(np.int64)).tobytes())
    return h.hexdigest()[:16]
