"""Basel Face Model loaders: BFM 2009 (01_MorphableModel.mat) and BFM 2017/2019 (statismo .h5).

Both are PCA models: one standard deviation of component k displaces the mean by
PC[:, k] * sigma_k (2009: sigma = shapeEV, a std; 2017: sigma = sqrt(pcaVariance)). We store
that displacement as a unit direction plus its norm (in metres) as identity_std, and likewise
for colour -> albedo. Units: 2009 in micrometres, 2017/2019 in millimetres (override with
`scale=`). BFM's expression PCA (2017+) is not ARKit, so no expression is present.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..arkit import NUM_EXPRESSIONS
from ..errors import MorphableError
from ..model import MorphableModel
from .flame import resolve_landmarks

#: the head's rotation centre lies this far behind the nose tip (ICT's neutral head: 0.111 m)
HEAD_CENTRE_BEHIND_NOSE_M = 0.11
#: a plausible face mesh is this wide (metres), used to catch a wrong unit scale
_PLAUSIBLE_WIDTH = (0.05, 0.5)


def _pca(mean: np.ndarray, pcs: np.ndarray, sigma: np.ndarray, k: int | None, what: str, path: Path
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean (n,3), unit directions (K,n,3), std (K,)) from an interleaved-xyz PCA model."""
    mean = np.asarray(mean, dtype=np.float64).reshape(-1)
    pcs = np.asarray(pcs, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64).reshape(-1)
    if mean.size % 3 or pcs.shape[0] != mean.size or pcs.shape[1] != sigma.size:
        raise MorphableError(f"{path}: {what} arrays do not fit together (mean {mean.shape}, "
                             f"basis {pcs.shape}, sigma {sigma.shape})")
    total = pcs.shape[1]
    if k is not None:
        if not 0 <= k <= total:
            raise MorphableError(f"{path} has {total} {what} components, {k} were asked for")
        pcs, sigma = pcs[:, :k], sigma[:k]
    disp = (pcs * sigma[None, :]).T.reshape(-1, mean.size // 3, 3)  # one std of each component
    norm = np.linalg.norm(disp.reshape(len(disp), mean.size), axis=1)
    safe = np.where(norm > 0, norm, 1.0)
    return mean.reshape(-1, 3), disp / safe[:, None, None], norm


def _orient_front(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Flip the winding if the face's area-weighted normals point away from +z (the camera)."""
    tri = verts[faces]
    normal_z = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])[:, 2].sum()
    return faces if normal_z >= 0 else faces[:, ::-1].copy()


def _build(path: Path, name: str, shape: tuple, faces: np.ndarray, albedo: tuple | None, scale: float,
           landmarks, licence: str, notes: dict, device) -> MorphableModel:
    """Common tail: units, origin, winding, landmarks, tensors."""
    mean, basis, std = shape
    template = mean * scale
    std = std * scale
    width = np.ptp(template[:, 0])
    if not _PLAUSIBLE_WIDTH[0] <= width <= _PLAUSIBLE_WIDTH[1]:
        raise MorphableError(f"{path}: with scale={scale:g} the face is {width:.3g} m wide; "
                             "pass scale= to convert the file's units to metres")
    faces = np.asarray(faces, dtype=np.int64)
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.min() < 0 or faces.max() >= len(template):
        raise MorphableError(f"{path}: triangle list does not match the {len(template)} vertices")
    faces = _orient_front(template, faces)
    origin = np.array([(template[:, 0].min() + template[:, 0].max()) / 2,
                       (template[:, 1].min() + template[:, 1].max()) / 2,
                       template[:, 2].max() - HEAD_CENTRE_BEHIND_NOSE_M])
    template = template - origin
    lmk = resolve_landmarks(landmarks, template, faces, f"{name} ({path.name})")
    f32 = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32, device=device)  # noqa: E731
    kw = {}
    if albedo is not None:
        a_mean, a_basis, a_std = albedo
        kw = {"albedo_mean": f32(a_mean), "albedo_basis": f32(a_basis), "albedo_std": f32(a_std)}
    meta = {"source": str(path), "licence": licence, "scale_to_metres": scale,
            "origin_file_units": (origin / scale).tolist(),
            "expression": "none (BFM expressions are PCA, not ARKit)", **notes}
    return MorphableModel(
        name=name, template=f32(template), faces=torch.as_tensor(faces, device=device),
        identity_basis=f32(basis), identity_std=f32(std),
        expression_basis=torch.zeros(NUM_EXPRESSIONS, len(template), 3, device=device),
        expression_present=torch.zeros(NUM_EXPRESSIONS, dtype=torch.bool, device=device),
        landmarks=torch.as_tensor(lmk, device=device), meta=meta, **kw)


# ---- BFM 2009 -----------------------------------------------------------------------------------
_BFM2009_KEYS = ("shapeMU", "shapePC", "shapeEV", "tl")


def _read_mat(path: Path) -> dict:
    """MATLAB variables as numpy arrays (v5 files through scipy; v7.3 HDF5 files through h5py)."""
    import scipy.io
    try:
        return scipy.io.loadmat(path)
    except NotImplementedError:  # v7.3 = HDF5; MATLAB stores arrays transposed there
        import h5py
        try:
            with h5py.File(path, "r") as h5:
                return {k: np.asarray(h5[k]).T for k in h5.keys() if isinstance(h5[k], h5py.Dataset)}
        except OSError as exc:
            raise MorphableError(f"cannot read {path}: {exc}") from None
    except Exception as exc:  # scipy raises ValueError/TypeError/... for corrupt files
        raise MorphableError(f"cannot read {path} as a MATLAB file: {exc}") from None


def load_bfm2009(path: str | os.PathLike, landmarks=None, num_identity: int | None = None,
                 num_albedo: int | None = None, scale: float = 1e-6, device=None) -> MorphableModel:
    """A MorphableModel from BFM 2009's 01_MorphableModel.mat (shape + colour PCA, 1-based `tl`)."""
    path = Path(path)
    mat = _read_mat(path)
    missing = [k for k in _BFM2009_KEYS if k not in mat]
    if missing:
        raise MorphableError(f"{path} is not BFM 2009's 01_MorphableModel.mat (missing {', '.join(missing)})")
    shape = _pca(mat["shapeMU"], mat["shapePC"], mat["shapeEV"], num_identity, "shape", path)
    albedo = None
    if all(k in mat for k in ("texMU", "texPC", "texEV")):
        a_mean, a_basis, a_std = _pca(mat["texMU"], mat["texPC"], mat["texEV"], num_albedo, "texture", path)
        albedo = (a_mean / 255.0, a_basis, a_std / 255.0)  # BFM 2009 colours are 0..255
    faces = np.asarray(mat["tl"]).astype(np.int64) - 1
    return _build(path, "bfm2009", shape, faces, albedo, scale, landmarks,
                  "BFM 2009 licence (University of Basel; non-commercial)",
                  {"loader": "bfm2009", "units": "micrometres in the file"}, device)


# ---- BFM 2017 / 2019 ------------------------------------------------------------------------------
def _h5_model(h5, group: str, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(mean, pcaBasis, pcaVariance) of /<group>/model, or None when the group is absent."""
    if group not in h5:
        return None
    try:
        model = h5[group]["model"]
        return (np.asarray(model["mean"]), np.asarray(model["pcaBasis"]), np.asarray(model["pcaVariance"]))
    except KeyError as exc:
        raise MorphableError(f"{path}: /{group}/model lacks mean/pcaBasis/pcaVariance ({exc})") from None


def load_bfm2017(path: str | os.PathLike, landmarks=None, num_identity: int | None = None,
                 num_albedo: int | None = None, scale: float = 1e-3, device=None) -> MorphableModel:
    """A MorphableModel from a BFM 2017/2019 statismo .h5 (/shape, /color; /expression noted only)."""
    import h5py
    path = Path(path)
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise MorphableError(f"cannot read {path} as an HDF5 file: {exc}") from None
    with h5:
        shape_raw = _h5_model(h5, "shape", path)
        if shape_raw is None:
            raise MorphableError(f"{path} is not a Basel Face Model .h5 (no /shape group)")
        try:
            cells = np.asarray(h5["shape"]["representer"]["cells"])
        except KeyError:
            raise MorphableError(f"{path}: no /shape/representer/cells (the triangles)") from None
        color_raw = _h5_model(h5, "color", path)
        expr_raw = _h5_model(h5, "expression", path)
    mean, pcs, var = shape_raw
    shape = _pca(mean, pcs, np.sqrt(np.clip(var, 0, None)), num_identity, "shape", path)
    albedo = None
    if color_raw is not None:
        c_mean, c_pcs, c_var = color_raw
        albedo = _pca(c_mean, c_pcs, np.sqrt(np.clip(c_var, 0, None)), num_albedo, "color", path)
    faces = cells.T if cells.shape[0] == 3 and cells.shape[1] != 3 else cells
    notes = {"loader": "bfm2017", "units": "millimetres in the file"}
    if expr_raw is not None:
        notes["unused"] = f"/expression model with {expr_raw[1].shape[1]} PCA components (not ARKit)"
    return _build(path, f"bfm-{path.stem}", shape, faces, albedo, scale, landmarks,
                  "Basel Face Model 2017/2019 licence (University of Basel)", notes, device)
