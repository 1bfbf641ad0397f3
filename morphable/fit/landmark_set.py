"""Which model vertices the landmark fit pulls toward which detected points, and how hard.

Two sets exist: dlib-style iBUG-68 (the model's own `landmarks`, jaw contour handled by
LandmarkFitter) and MediaPipe's dense face mesh (each of the 468 mesh points that maps onto the
model surface, found by morphable.landmark_select_mp; the default model's table is the asset
assets/morphable/default_mediapipe.npz, other models get theirs rendered on first use).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import MorphableError
from ..landmarks import Detection
from ..model import MorphableModel, model_fingerprint
from .geometry import OUTER_EYE_CORNERS

DEFAULT_TABLE = Path(__file__).resolve().parents[2] / "assets" / "morphable" / "default_mediapipe.npz"
#: MediaPipe mesh indices of the outer eye corners (subject's right, left): the dense set's IOD
MESH_EYE_CORNERS = (33, 263)
#: MediaPipe's face-oval ring (the silhouette line of a frontal face)
MESH_FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
                  377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
#: MediaPipe's inner-lip ring (corner, upper lip, corner, lower lip): the mouth's opening. The 200-point
#: subset holds 3 of its 20 points, too few to tell an open mouth's lips apart; a fit that must place the
#: lips (the photo fit, LandmarkFitConfig.inner_lips) adds them all (with_inner_lips)
MESH_INNER_LIPS = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
#: weight of the face-oval points relative to the others (docs/fitting.md: 0.3 or 0 changed the
#: pose error on renders by < 0.1 deg, so they count like the rest)
MESH_OVAL_WEIGHT = 1.0
#: mesh points fitted (farthest-point subset of the mapped ones): measured on 40 default-model
#: renders, 430 / 200 / 120 points give the same yaw/pitch (2.2-2.3 / 4.3-4.5 deg) at 45 / 18 / 11 ms
#: per face in the solver, and jawOpen error 0.12 / 0.13 / 0.14
MESH_POINTS = 200
#: neighbouring mesh points err together, so a dense set is weighted like this many independent
#: points: sigma grows by sqrt(N / 68). Without it the 430-point fit over-explains detector
#: noise with expressions (mean error over the 52 weights 0.092 vs 0.044 with it)
EFFECTIVE_POINTS = 68


@dataclass(frozen=True)
class LandmarkSet:
    """Model vertices (N,), base weights (N,), the two rows that define the IOD, and detector rows.

    `mesh_rows` (N,) says which row of Detection.mesh each point is; None means the 68 points.
    `depth_offsets` (N,3) m, face frame: where the detector's depth (MediaPipe z) sits relative
    to each vertex (its regressed depths lean toward its own canonical face).
    """

    name: str
    vertices: torch.Tensor
    weights: torch.Tensor
    iod: tuple[int, int]
    mesh_rows: np.ndarray | None = None
    depth_offsets: torch.Tensor | None = None

    @property
    def dense(self) -> bool:
        return self.mesh_rows is not None

    @property
    def sigma_factor(self) -> float:
        """Factor on the landmark noise sigma: sqrt(N / EFFECTIVE_POINTS) for dense sets, else 1."""
        return float(np.sqrt(len(self) / EFFECTIVE_POINTS)) if self.dense else 1.0

    @property
    def inner_lips(self) -> np.ndarray:
        """(N,) bool: the rows on MediaPipe's inner-lip ring (all False for iBUG-68)."""
        if self.mesh_rows is None:
            return np.zeros(len(self), dtype=bool)
        return np.isin(self.mesh_rows, MESH_INNER_LIPS)

    def __len__(self) -> int:
        return int(self.vertices.shape[0])

    def ndc_targets(self, det, frame) -> torch.Tensor:
        """The detection's points in `frame`'s camera NDC: (N,2), or (N,3) with MediaPipe depth for dense sets.

        `det` is anything with points / mesh / mesh_z (a Detection); `frame` a fit.crop.Frame.
        """
        half = frame.size / 2.0
        xy = frame.to_frame(self.targets(det))
        cols = [(xy[:, 0] - half) / half, (half - xy[:, 1]) / half]
        z = getattr(det, "mesh_z", None)
        if self.dense and z is not None:
            cols.append(-np.asarray(z, dtype=np.float64)[self.mesh_rows] / half)  # toward the camera > 0
        return torch.as_tensor(np.stack(cols, -1), dtype=torch.float64)

    def targets(self, det: Detection) -> np.ndarray:
        """The detected points (N,2) px this set fits to."""
        if self.mesh_rows is None:
            return np.asarray(det.points, dtype=np.float64)
        if det.mesh is None:
            raise MorphableError("this landmark set needs a dense face mesh (MediaPipe backend)")
        return np.asarray(det.mesh, dtype=np.float64)[self.mesh_rows]


def ibug68_set(model: MorphableModel) -> LandmarkSet:
    """The model's iBUG-68 landmarks (uniform base weights; the fitter treats the jaw itself)."""
    n = int(model.landmarks.shape[0])
    return LandmarkSet("ibug68", model.landmarks.cpu().long(), torch.ones(n, dtype=torch.float64),
                       OUTER_EYE_CORNERS)


def farthest_points(points: np.ndarray, count: int, keep: tuple[int, ...] = ()) -> np.ndarray:
    """Sorted indices of `count` points spread over (N,3) `points` (greedy farthest-point order), plus `keep`."""
    if count >= len(points):
        return np.arange(len(points))
    chosen = [int(np.argmax(points[:, 2]))]          # start at the front-most point (nose tip)
    dist = np.linalg.norm(points - points[chosen[0]], axis=1)
    for _ in range(count - 1):
        j = int(np.argmax(dist))
        chosen.append(j)
        dist = np.minimum(dist, np.linalg.norm(points - points[j], axis=1))
    return np.array(sorted(set(chosen) | set(keep)))


def mesh_set_from_table(vertices: np.ndarray, depth_offsets: np.ndarray | None = None,
                        oval_weight: float = MESH_OVAL_WEIGHT, template: np.ndarray | None = None,
                        max_points: int = MESH_POINTS) -> LandmarkSet:
    """Dense set from a (468,) mesh-point -> vertex table (-1: unmappable, dropped) and (468,3) offsets.

    With the model's `template` (V,3) the mapped points are thinned to `max_points` spread
    over the face (the eye corners always kept).
    """
    vertices = np.asarray(vertices, dtype=np.int64)
    rows = np.flatnonzero(vertices >= 0)
    for corner in MESH_EYE_CORNERS:
        if corner not in rows:
            raise MorphableError("the mesh table does not map both outer eye corners")
    if template is not None:
        keep = tuple(int(np.flatnonzero(rows == c)[0]) for c in MESH_EYE_CORNERS)
        rows = rows[farthest_points(np.asarray(template)[vertices[rows]], max_points, keep)]
    w = np.ones(len(rows))
    w[np.isin(rows, MESH_FACE_OVAL)] = oval_weight
    iod = (int(np.flatnonzero(rows == MESH_EYE_CORNERS[0])[0]), int(np.flatnonzero(rows == MESH_EYE_CORNERS[1])[0]))
    off = None if depth_offsets is None else torch.as_tensor(np.asarray(depth_offsets, np.float64)[rows])
    return LandmarkSet("mediapipe", torch.as_tensor(vertices[rows]), torch.as_tensor(w), iod, rows, off)


def with_inner_lips(lset: LandmarkSet, model: MorphableModel) -> LandmarkSet:
    """A dense `lset` with every mapped point of MediaPipe's inner-lip ring added (weight 1); others as they are."""
    if not lset.dense:
        return lset
    table, offsets = mesh_table(model)
    add = np.array([r for r in MESH_INNER_LIPS if table[r] >= 0 and r not in set(lset.mesh_rows.tolist())], np.int64)
    if not len(add):
        return lset
    off = lset.depth_offsets
    if off is not None:
        off = torch.cat([off, torch.as_tensor(np.asarray(offsets, np.float64)[add]).to(off.dtype)])
    return LandmarkSet(lset.name + "+lips", torch.cat([lset.vertices, torch.as_tensor(table[add]).to(lset.vertices.dtype)]),
                       torch.cat([lset.weights, torch.ones(len(add), dtype=lset.weights.dtype)]), lset.iod,
                       np.concatenate([lset.mesh_rows, add]), off)


_LOCK = threading.Lock()
_TABLES: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def mesh_table(model: MorphableModel) -> tuple[np.ndarray, np.ndarray]:
    """(468,) vertex and (468,3) depth offset per mesh point.

    The default model's table is the committed asset; any other model's is rendered once
    (needs MediaPipe, a few seconds) and cached for the process.
    """
    key = model_fingerprint(model)
    with _LOCK:
        if key in _TABLES:
            return _TABLES[key]
        if DEFAULT_TABLE.exists():
            with np.load(DEFAULT_TABLE) as z:
                if str(z["fingerprint"]) == key:
                    _TABLES[key] = (z["vertices"].copy(), z["depth_offsets"].copy())
                    return _TABLES[key]
        from ..landmark_select_mp import select_mesh_vertices
        from ..landmarks_mp import MediaPipeBackend

        idx, offsets, _ = select_mesh_vertices(model, MediaPipeBackend())
        _TABLES[key] = (idx, offsets)
        return _TABLES[key]


def mesh_set(model: MorphableModel) -> LandmarkSet:
    """The dense MediaPipe landmark set of `model`."""
    return mesh_set_from_table(*mesh_table(model), template=model.template.detach().cpu().double().numpy())


def set_for(model: MorphableModel, detections) -> LandmarkSet:
    """The dense set when every detection carries a mesh, else iBUG-68."""
    dets = [d for d in detections if d is not None]
    if dets and all(getattr(d, "mesh", None) is not None for d in dets):
        return mesh_set(model)
    return ibug68_set(model)
