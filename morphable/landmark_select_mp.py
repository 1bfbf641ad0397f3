"""Tables for MediaPipe's 468-point face mesh, chosen by data.

`ibug68`: which mesh point (or blend of two) best matches each of dlib's 68 iBUG points on
UTKFace photos (printed as the literal for morphable.landmarks_mp.IBUG68_FROM_MESH).
`mesh_correspondence`: which model vertex each mesh point lies on, from renders of the model's
mean face (see select_mesh_vertices). Usage:
    python -m morphable.landmark_select_mp ibug68 --photos 300
    python -m morphable.landmark_select_mp vertices --out assets/morphable/default_mediapipe.npz
"""
from __future__ import annotations

import argparse
import io
import itertools
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch

from .camera import Camera
from .errors import MorphableError
from .model import MorphableModel, model_fingerprint

#: (yaw, pitch) views of the mean face used for the mesh -> vertex table; frontal first
MESH_VIEWS: tuple[tuple[float, float], ...] = ((0, 0), (15, 0), (-15, 0), (30, 0), (-30, 0), (0, 12),
                                               (0, -12), (20, 10), (-20, 10), (20, -10), (-20, -10))
#: a view counts for a point when the surface normal there faces the camera by at least this cosine
MIN_FACING = 0.35
#: a point is dropped when its per-view surface positions scatter more than this (metres, median)
MAX_SPREAD = 0.004


def paired_points(photos, mp_backend, dlib_backend) -> tuple[np.ndarray, np.ndarray]:
    """(N,468,2) mesh and (N,68,2) dlib points on the photos where both find a face, both / dlib IOD."""
    meshes, ibug = [], []
    for img in photos:
        a = mp_backend.meshes(img)
        b = dlib_backend.detect(img)
        if not a or not b:
            continue
        mesh = max(a, key=lambda m: np.prod(np.ptp(m[:, :2], axis=0)))[:, :2]
        iod = float(np.linalg.norm(b[0].points[45] - b[0].points[36]))
        origin = b[0].points.mean(0)
        meshes.append((mesh - origin) / iod)
        ibug.append((b[0].points - origin) / iod)
    if not meshes:
        raise MorphableError("no photo had a face found by both detectors")
    return np.stack(meshes), np.stack(ibug)


def fit_blend_table(mesh: np.ndarray, ibug: np.ndarray, candidates: int = 12) -> tuple[list, np.ndarray]:
    """Per iBUG point: (i, j, a) minimising the mean distance of (1-a) m_i + a m_j to it; and that distance."""
    table, err = [], []
    for k in range(ibug.shape[1]):
        d = ibug[:, k]                                             # (N,2)
        single = np.linalg.norm(mesh - d[:, None], axis=2).mean(0)  # (468,)
        near = np.argsort(single)[:candidates]
        best = (float(single[near[0]]), int(near[0]), int(near[0]), 0.0)
        for i, j in itertools.combinations(near, 2):
            u = mesh[:, j] - mesh[:, i]
            a = float(np.clip(((d - mesh[:, i]) * u).sum() / max((u * u).sum(), 1e-12), 0.0, 1.0))
            e = float(np.linalg.norm(mesh[:, i] + a * u - d, axis=1).mean())
            if e < best[0]:
                best = (e, int(i), int(j), round(a, 3))
        table.append(best[1:])
        err.append(best[0])
    return table, np.array(err)


def _utk_photos(path: Path, count: int, seed: int) -> list[np.ndarray]:
    from PIL import Image

    with zipfile.ZipFile(path) as zf:
        names = sorted(zf.namelist())
        pick = np.random.default_rng(seed).choice(len(names), count, replace=False)
        return [np.array(Image.open(io.BytesIO(zf.read(names[i]))).convert("RGB")) for i in pick]


# ---- mesh point -> model vertex ------------------------------------------------------------------
def render_mean_views(model: MorphableModel, size: int, camera: Camera, views=MESH_VIEWS):
    """Renders of the mean face under (yaw, pitch) views, soft frontal light -> (RenderOutput, uint8 images)."""
    from .landmark_select import render_views

    return render_views(model, size, camera, views)


def surface_hits(model: MorphableModel, out, view: int, pts: np.ndarray, facing: np.ndarray):
    """Mesh pixel points (468,2) of one view -> unposed surface points (468,3), NaN where off or turned away."""
    size = out.pix_to_face.shape[1]
    p2f = out.pix_to_face[view].numpy()
    bary = out.bary[view].double().numpy()
    tmpl = model.template.double().numpy()
    faces = model.faces.numpy()
    res = np.full((len(pts), 3), np.nan)
    for n, (x, y) in enumerate(pts):
        col, row = int(np.floor(x)), int(np.floor(y))
        if not (0 <= col < size and 0 <= row < size):
            continue
        f = int(p2f[row, col])
        if f < 0 or facing[f] < MIN_FACING:
            continue
        res[n] = bary[row, col] @ tmpl[faces[f]]
    return res


def depth_offsets(rot: np.ndarray, model_z: np.ndarray, mp_z: np.ndarray, ridge: float = 0.05) -> np.ndarray:
    """Per-point face-frame offsets (N,3) m that make the model's depths match MediaPipe's.

    rot (V,3,3) view rotations, model_z / mp_z (V,N) camera-space depths in metres (NaN: view
    missing). Both are centred per view (MediaPipe's depth origin is arbitrary); each point's
    offset o solves sum_v ((R_v o)_z - e_v)^2 + ridge * |o|^2 * V by least squares.
    """
    e = mp_z - model_z
    seen = np.isfinite(e).any(axis=1)            # views where MediaPipe found the face
    e[seen] = e[seen] - np.nanmean(e[seen], axis=1, keepdims=True)
    out = np.zeros((e.shape[1], 3))
    for k in range(e.shape[1]):
        ok = np.isfinite(e[:, k])
        if ok.sum() < 3:
            continue
        a = rot[ok, 2, :]
        out[k] = np.linalg.solve(a.T @ a + ridge * ok.sum() * np.eye(3), a.T @ e[ok, k])
    return out - out.mean(0)


def select_mesh_vertices(model: MorphableModel, backend, size: int = 256, camera: Camera | None = None,
                         allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """(468,) vertex index per mesh point (-1: unmappable), (468,3) depth offsets (m), and a summary.

    Each view's mesh points are mapped through pix_to_face + barycentrics onto the unposed
    surface where the surface faces the camera; the per-point median over views is snapped to
    the nearest allowed vertex. Points seen in no view, or whose views disagree by more than
    MAX_SPREAD, are dropped. MediaPipe's depths are regressed toward its own canonical face, so
    each point also gets a face-frame offset (depth_offsets) under which the mean face's
    depths match MediaPipe's over the views; the fitter's depth term uses vertex + offset.
    """
    from .render import vertex_normals

    camera = camera or Camera()
    out, images = render_mean_views(model, size, camera)
    p = model.neutral_params(len(MESH_VIEWS))
    p.pose[:, 0] = torch.tensor([v[0] for v in MESH_VIEWS], dtype=p.pose.dtype)
    p.pose[:, 1] = torch.tensor([v[1] for v in MESH_VIEWS], dtype=p.pose.dtype)
    with torch.no_grad():
        verts = model.vertices(p)
        normals = vertex_normals(verts, model.faces)
        to_cam = torch.tensor([0.0, 0.0, camera.distance], dtype=verts.dtype) - verts
        cosv = (torch.nn.functional.normalize(to_cam, dim=-1) * normals).sum(-1)   # (B,V)
        facing = cosv[:, model.faces].mean(-1).numpy()                                # (B,F)
    hits = np.full((len(MESH_VIEWS), 468, 3), np.nan)
    mp_z = np.full((len(MESH_VIEWS), 468), np.nan)
    found = []
    for v, img in enumerate(images):
        faces = backend.detect(img)
        found.append(bool(faces))
        if faces:
            hits[v] = surface_hits(model, out, v, faces[0].mesh, facing[v])
            mp_z[v] = -faces[0].mesh_z / (size / 2.0)   # NDC units, toward the camera > 0
    if not found[0]:
        raise MorphableError("MediaPipe found no face on the frontal render of the mean head")
    seen = np.isfinite(hits[..., 0])
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # points seen in no view: NaN, dropped below
        med = np.nanmedian(hits, axis=0)
        spread = np.nanmedian(np.linalg.norm(hits - med[None], axis=-1), axis=0)
    tmpl = model.template.double().numpy()
    cand = np.flatnonzero(allowed) if allowed is not None else np.arange(len(tmpl))
    idx = np.full(468, -1, dtype=np.int64)
    snap = np.full(468, np.nan)
    for n in range(468):
        if not seen[:, n].any() or not np.isfinite(spread[n]) or spread[n] > MAX_SPREAD:
            continue
        d = np.linalg.norm(tmpl[cand] - med[n], axis=1)
        idx[n] = cand[int(np.argmin(d))]
        snap[n] = float(d.min())
    from .pose import euler_to_matrix

    keep = idx >= 0
    rot = euler_to_matrix(p.pose[:, 0], p.pose[:, 1], p.pose[:, 2]).double().numpy()
    model_z = verts[:, torch.as_tensor(idx[keep]), 2].double().numpy()               # (V,K) m
    depth = (camera.distance - model_z.mean(1, keepdims=True)) * camera.tan_half_fov
    offsets = np.zeros((468, 3))
    offsets[keep] = depth_offsets(rot, model_z, mp_z[:, keep] * depth)
    info = {"views": [list(v) for v in MESH_VIEWS], "found": found, "render_size": size,
            "mapped": int((idx >= 0).sum()), "views_per_point_mean": float(seen.sum(0)[idx >= 0].mean()),
            "spread_mm_median": float(np.nanmedian(spread[idx >= 0]) * 1000),
            "snap_mm_mean": float(np.nanmean(snap) * 1000),
            "depth_offset_mm_median": float(np.median(np.linalg.norm(offsets[keep], axis=1)) * 1000)}
    return idx, offsets, info


def _main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("ibug68", "vertices"))
    ap.add_argument("--photos", type=int, default=300)
    ap.add_argument("--utkface", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "utkface"
                                             / "utkface-128-webp.zip"))
    ap.add_argument("--model", default="default")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    from .landmarks import DlibBackend
    from .landmarks_mp import MediaPipeBackend

    mp_backend = MediaPipeBackend()
    if args.what == "ibug68":
        photos = _utk_photos(Path(args.utkface), args.photos, seed=5)
        mesh, ibug = paired_points(photos, mp_backend, DlibBackend())
        table, err = fit_blend_table(mesh, ibug)
        print(f"# {len(mesh)} photos; mean distance per point {err.mean():.4f} IOD "
              f"(jaw {err[:17].mean():.4f}, inner {err[17:].mean():.4f})")
        print("IBUG68_FROM_MESH = (")
        for k in range(0, 68, 4):
            print("    " + " ".join(f"({i}, {j}, {a})," for i, j, a in table[k:k + 4]))
        print(")")
        return 0
    from .formats import load_model

    model = load_model(args.model)
    idx, offsets, info = select_mesh_vertices(model, mp_backend)
    print(info)
    if args.out:

        np.savez(args.out, vertices=idx, depth_offsets=offsets, fingerprint=np.array(model_fingerprint(model)),
                 model=np.array(model.name), info=np.array(repr(info)))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
