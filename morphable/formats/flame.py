"""FLAME loader (generic_model.pkl, flame2023.pkl) without chumpy and without running pickled code.

FLAME ships as a Python-2 pickle of a dict whose arrays are partly chumpy objects. A restricted
unpickler rebuilds only numpy arrays, scipy.sparse matrices and inert stand-ins for chumpy
classes (their state's `x` array is kept); any other global in the file is refused.
Also here: resolving the 68 landmark vertices from ids or a FLAME landmark-embedding file,
which the BFM loader shares.
"""
from __future__ import annotations

import io
import json
import os
import pickle
from pathlib import Path

import numpy as np
import scipy.sparse
import scipy.spatial
import torch

from ..arkit import ARKIT_INDEX, NUM_EXPRESSIONS
from ..errors import MorphableError
from ..model import MorphableModel


# ---- restricted unpickling ------------------------------------------------------------------
class _ChumpyStandIn:
    """Inert replacement for any pickled chumpy class: remembers its state, computes nothing."""

    def __init__(self, *args, **kwargs) -> None:
        self.args, self.state = args, None

    def __setstate__(self, state) -> None:
        self.state = state

    def array(self) -> np.ndarray | None:
        """The numpy value a chumpy leaf (`Ch`) holds, or None for unevaluated expressions."""
        state = self.state[0] if isinstance(self.state, tuple) and self.state else self.state
        if isinstance(state, dict) and isinstance(state.get("x"), np.ndarray):
            return state["x"]
        if getattr(self, "args", None) and isinstance(self.args[0], np.ndarray):
            return self.args[0]
        return None


class _SparseStandIn:
    """Holds a pickled scipy.sparse matrix's attributes; rebuilt with scipy's constructors."""

    def __init__(self, *args, **kwargs) -> None:
        self.state = None

    def __setstate__(self, state) -> None:
        self.state = state

    def matrix(self, kind: str) -> scipy.sparse.spmatrix:
        s = self.state if isinstance(self.state, dict) else {}
        shape = s.get("_shape", s.get("shape"))
        if kind == "coo":
            if "coords" in s:
                row, col = s["coords"]
            else:
                row, col = s["row"], s["col"]
            return scipy.sparse.coo_matrix((s["data"], (row, col)), shape=shape)
        ctor = scipy.sparse.csc_matrix if kind == "csc" else scipy.sparse.csr_matrix
        return ctor((s["data"], s["indices"], s["indptr"]), shape=shape)


def _sparse_class(kind: str) -> type:
    return type(f"_Sparse_{kind}", (_SparseStandIn,), {"kind": kind})


_SPARSE = {k: _sparse_class(k) for k in ("csc", "csr", "coo")}
_INERT = (_ChumpyStandIn, *_SPARSE.values())


def _numpy_attr(name: str):
    """numpy's private reconstruction helpers moved from numpy.core to numpy._core in numpy 2."""
    import importlib
    for module in ("numpy._core.multiarray", "numpy.core.multiarray", "numpy._core.numeric",
                   "numpy.core.numeric"):
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    raise pickle.UnpicklingError(f"numpy has no {name}")


def _safe_reconstructor(cls, base, state):
    """copyreg._reconstructor limited to our inert stand-ins built on `object`."""
    if base is not object or not (isinstance(cls, type) and issubclass(cls, _INERT)):
        raise pickle.UnpicklingError("refused object reconstruction")
    return object.__new__(cls)


def _safe_newobj(cls, *args):
    """copyreg.__newobj__ limited to our inert stand-ins."""
    if not (isinstance(cls, type) and issubclass(cls, _INERT)):
        raise pickle.UnpicklingError("refused object construction")
    return object.__new__(cls)


def _latin1_encode(text, encoding="latin1"):
    """codecs.encode as Python 3 pickles bytes at protocols < 3, for latin-1 text only."""
    if not isinstance(text, str) or encoding.lower().replace("-", "").replace("_", "") != "latin1":
        raise pickle.UnpicklingError("refused codecs.encode other than latin-1 text")
    return text.encode("latin1")


_NUMPY_NAMES = {"_reconstruct", "scalar", "_frombuffer"}
#: plain data types chumpy's pickled state may contain; constructing them runs no user code
_BUILTIN_TYPES = {t.__name__: t for t in (object, set, frozenset, bytearray, slice, complex)}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only numpy arrays/dtypes, sparse matrices and chumpy stand-ins; refuses the rest."""

    def find_class(self, module: str, name: str):
        if module in ("numpy", "numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric",
                      "numpy._core.numeric"):
            if module == "numpy" and name == "ndarray":
                return np.ndarray
            if module == "numpy" and name == "dtype":
                return np.dtype
            if name in _NUMPY_NAMES:
                return _numpy_attr(name)
        if module == "chumpy" or module.startswith("chumpy."):
            return _ChumpyStandIn
        if module.startswith("scipy.sparse"):
            for kind, cls in _SPARSE.items():
                if name == f"{kind}_matrix" or name == f"{kind}_array":
                    return cls
        if module in ("copy_reg", "copyreg"):
            if name == "_reconstructor":
                return _safe_reconstructor
            if name == "__newobj__":
                return _safe_newobj
        if module in ("_codecs", "codecs") and name == "encode":
            return _latin1_encode
        if module in ("__builtin__", "builtins") and name in _BUILTIN_TYPES:
            return _BUILTIN_TYPES[name]
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: the file may run code")


def _plain(obj):
    """Replace stand-ins by numpy arrays / scipy matrices, recursively through dicts and lists."""
    if isinstance(obj, _ChumpyStandIn):
        arr = obj.array()
        return obj if arr is None else arr
    if isinstance(obj, _SparseStandIn):
        return obj.matrix(obj.kind)
    if isinstance(obj, dict):
        return {(k.decode("latin1") if isinstance(k, bytes) else k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain(v) for v in obj)
    return obj


def safe_unpickle(data: bytes, source: str | os.PathLike = "pickle"):
    """Unpickle numpy/scipy/chumpy data without executing anything; MorphableError otherwise."""
    try:
        obj = _RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
        return _plain(obj)
    except MorphableError:
        raise
    except Exception as exc:  # truncated, corrupt or hostile pickles fail in many ways
        raise MorphableError(f"cannot read {source}: {exc}") from None


def read_pickle(path: str | os.PathLike):
    """safe_unpickle of a file, with a clear error when it is missing."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MorphableError(f"cannot read {path}: {exc.strerror or exc}") from None
    return safe_unpickle(data, path)


def read_npy(path: str | os.PathLike):
    """A .npy array; object arrays (e.g. a saved dict) go through the restricted unpickler."""
    path = Path(path)
    from numpy.lib import format as npformat
    try:
        with open(path, "rb") as fh:
            version = npformat.read_magic(fh)
            header = npformat.read_array_header_1_0 if version == (1, 0) else npformat.read_array_header_2_0
            shape, _fortran, dtype = header(fh)
            if dtype.hasobject:
                value = safe_unpickle(fh.read(), path)
                return value.item() if isinstance(value, np.ndarray) and value.shape == () else value
        return np.load(path, allow_pickle=False)
    except MorphableError:
        raise
    except Exception as exc:
        raise MorphableError(f"cannot read {path} as a .npy array: {exc}") from None


# ---- landmarks --------------------------------------------------------------------------------
_LANDMARK_HINT = ("pass landmarks= with 68 vertex ids (iBUG-68 order), or a path to a 68-point "
                  "embedding file (DECA's landmark_embedding.npy, a .pkl/.npz with face indices and "
                  "barycentric coordinates, or a .npy/.txt/.json of 68 vertex ids)")


def _embedding_arrays(data, source) -> tuple[np.ndarray, np.ndarray] | np.ndarray:
    """Face indices + barycentrics, or plain vertex ids, from a loaded embedding file."""
    if isinstance(data, dict):
        for faces_key, bary_key in (("full_lmk_faces_idx", "full_lmk_bary_coords"),
                                    ("lmk_faces_idx", "lmk_bary_coords"),
                                    ("lmk_face_idx", "lmk_b_coords"),
                                    ("static_lmk_faces_idx", "static_lmk_bary_coords")):
            if faces_key in data and bary_key in data:
                return (np.asarray(data[faces_key]).reshape(-1).astype(np.int64),
                        np.asarray(data[bary_key], dtype=np.float64).reshape(-1, 3))
        raise MorphableError(f"{source} holds no landmark embedding (keys: {sorted(map(str, data))}); "
                             + _LANDMARK_HINT)
    return np.asarray(data)


def resolve_landmarks(landmarks, vertices: np.ndarray, faces: np.ndarray, model: str) -> np.ndarray:
    """68 vertex ids from ids or an embedding file (barycentric points -> their nearest vertex)."""
    if landmarks is None:
        raise MorphableError(f"{model} has no iBUG-68 landmarks in the model file: " + _LANDMARK_HINT)
    source = "landmarks"
    if isinstance(landmarks, (str, os.PathLike)):
        path = Path(landmarks)
        source = str(path)
        if not path.is_file():
            raise MorphableError(f"landmark file not found: {path}")
        suffix = path.suffix.lower()
        if suffix == ".npy":
            data = read_npy(path)
        elif suffix == ".pkl":
            data = read_pickle(path)
        elif suffix == ".npz":
            try:
                with np.load(path, allow_pickle=False) as z:
                    data = {k: z[k] for k in z.files}
            except Exception as exc:
                raise MorphableError(f"cannot read {path}: {exc}") from None
        elif suffix == ".json":
            try:
                data = json.loads(path.read_text())
            except (ValueError, UnicodeDecodeError) as exc:
                raise MorphableError(f"cannot read {path}: {exc}") from None
        elif suffix in (".txt", ".csv"):
            try:
                data = np.loadtxt(path, delimiter="," if suffix == ".csv" else None)
            except ValueError as exc:
                raise MorphableError(f"cannot read {path}: {exc}") from None
        else:
            raise MorphableError(f"unknown landmark file type {path.name!r}; " + _LANDMARK_HINT)
        landmarks = _embedding_arrays(data, source)
    elif isinstance(landmarks, torch.Tensor):
        landmarks = landmarks.detach().cpu().numpy()
    if isinstance(landmarks, tuple):
        face_idx, bary = landmarks
        if len(face_idx) != 68:
            raise MorphableError(f"{source} embeds {len(face_idx)} landmarks, not 68 (a 51-point static "
                                 "embedding lacks the jaw contour); " + _LANDMARK_HINT)
        if face_idx.min() < 0 or face_idx.max() >= len(faces) or bary.shape != (68, 3):
            raise MorphableError(f"{source} does not match this mesh's {len(faces)} triangles")
        points = np.einsum("lk,lkc->lc", bary, vertices[faces[face_idx]])
        _, nearest = scipy.spatial.cKDTree(vertices).query(points)
        return np.asarray(nearest, dtype=np.int64)
    ids = np.asarray(landmarks)
    if ids.shape != (68,) or not np.issubdtype(ids.dtype, np.number) or (ids != np.round(ids)).any():
        raise MorphableError(f"{source} must be 68 integer vertex ids, got shape {ids.shape}; " + _LANDMARK_HINT)
    ids = ids.astype(np.int64)
    if ids.min() < 0 or ids.max() >= len(vertices):
        raise MorphableError(f"{source}: a landmark id is outside the mesh's {len(vertices)} vertices")
    return ids


# ---- FLAME ------------------------------------------------------------------------------------
def _rodrigues_x(deg: float) -> np.ndarray:
    t = np.deg2rad(deg)
    c, s = np.cos(t), np.sin(t)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _jaw_open_offsets(data: dict, template: np.ndarray, jaw_joint: int, degrees: float) -> np.ndarray | None:
    """Offsets (V,3) of linear blend skinning with the jaw joint (and its children) rotated about x.

    Positive rotation about +x moves the chin down and back (FLAME's jaw opening). Returns None
    when the file lacks the skinning data.
    """
    need = ("J_regressor", "weights", "kintree_table")
    if degrees == 0 or any(k not in data for k in need):
        return None
    reg = data["J_regressor"]
    joints = np.asarray(reg @ template if scipy.sparse.issparse(reg) else np.asarray(reg) @ template)
    weights = np.asarray(data["weights"], dtype=np.float64)
    parents = np.asarray(data["kintree_table"])[0].astype(np.int64)
    if jaw_joint >= len(joints) or weights.shape != (len(template), len(joints)):
        return None
    moved = {jaw_joint}
    for j in range(len(parents)):  # children follow parents in FLAME's kintree order
        if parents[j] in moved:
            moved.add(j)
    rot = _rodrigues_x(degrees)
    pivot = joints[jaw_joint]
    rigid = (template - pivot) @ rot.T + pivot - template
    offsets = weights[:, sorted(moved)].sum(axis=1, keepdims=True) * rigid
    posedirs = data.get("posedirs")
    if posedirs is not None and np.asarray(posedirs).shape == (len(template), 3, 9 * (len(joints) - 1)):
        feature = np.zeros((len(joints) - 1, 3, 3))
        feature[jaw_joint - 1] = rot - np.eye(3)  # pose correctives skip the root joint
        offsets = offsets + np.asarray(posedirs) @ feature.reshape(-1)
    return offsets


def load_flame(path: str | os.PathLike, landmarks=None, num_shape: int = 300,
               num_identity: int | None = None, jaw_open_deg: float = 20.0, device=None) -> MorphableModel:
    """A MorphableModel from a FLAME pickle: identity from its shape space, optional skinned jawOpen.

    `num_shape`: how many of shapedirs' components are shape (FLAME: 300; the rest are its
    expression PCA, not used). `landmarks`: see resolve_landmarks. `jaw_open_deg`: the jaw
    rotation that jawOpen = 1 means (0 to leave jawOpen out).
    """
    path = Path(path)
    data = read_pickle(path)
    if not isinstance(data, dict):
        raise MorphableError(f"{path} is not a FLAME model (expected a dict, got {type(data).__name__})")
    missing = [k for k in ("v_template", "f", "shapedirs") if k not in data]
    if missing:
        raise MorphableError(f"{path} is not a FLAME model (missing {', '.join(missing)})")
    for key in ("v_template", "shapedirs", "posedirs", "weights"):
        if isinstance(data.get(key), _ChumpyStandIn):
            raise MorphableError(f"{path}: {key} is a chumpy expression, not stored values; unsupported")
    template = np.asarray(data["v_template"], dtype=np.float64)
    faces = np.asarray(data["f"]).astype(np.int64)
    shapedirs = np.asarray(data["shapedirs"], dtype=np.float64)
    v = template.shape[0]
    if template.shape != (v, 3) or faces.ndim != 2 or faces.shape[1] != 3 or shapedirs.shape[:2] != (v, 3):
        raise MorphableError(f"{path}: unexpected FLAME array shapes (v_template {template.shape}, "
                             f"f {faces.shape}, shapedirs {shapedirs.shape})")
    k = min(num_shape, shapedirs.shape[2])
    if num_identity is not None:
        if not 0 <= num_identity <= k:
            raise MorphableError(f"num_identity must be in [0, {k}] for {path.name}, got {num_identity}")
        k = num_identity
    modes = np.moveaxis(shapedirs[:, :, :k], 2, 0)  # (K,V,3) one unit of FLAME's whitened betas
    std = np.linalg.norm(modes.reshape(k, -1), axis=1)
    std[std == 0] = 1.0
    lmk = resolve_landmarks(landmarks, template, faces, f"FLAME model {path.name}")

    expression = np.zeros((NUM_EXPRESSIONS, v, 3))
    jaw = _jaw_open_offsets(data, template, 2, jaw_open_deg)
    if jaw is not None:
        expression[ARKIT_INDEX["jawOpen"]] = jaw
    # origin: centre of the head's bounding box (x on the symmetry plane), as for ICT-FaceKit
    origin = (template.min(0) + template.max(0)) / 2
    origin[0] = 0.0
    template = template - origin
    present = np.zeros(NUM_EXPRESSIONS, dtype=bool)
    present[ARKIT_INDEX["jawOpen"]] = jaw is not None
    f32 = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32, device=device)  # noqa: E731
    meta = {"source": str(path), "loader": "flame", "licence": "FLAME licence (see flame.is.tue.mpg.de)",
            "units": "metres (as in the file)", "origin_in_file": origin.tolist(),
            "identity": f"first {k} shapedirs components; FLAME betas are whitened (std 1 per unit)",
            "expression": (f"jawOpen = linear blend skinning of the jaw joint rotated {jaw_open_deg} deg"
                           if jaw is not None else "none (FLAME's expression PCA is not ARKit)"),
            "unused_components": int(shapedirs.shape[2] - k)}
    return MorphableModel(
        name=f"flame-{path.stem}", template=f32(template),
        faces=torch.as_tensor(faces, device=device),
        identity_basis=f32(modes / std[:, None, None]), identity_std=f32(std),
        expression_basis=f32(expression), expression_present=torch.as_tensor(present, device=device),
        landmarks=torch.as_tensor(lmk, device=device), meta=meta)
