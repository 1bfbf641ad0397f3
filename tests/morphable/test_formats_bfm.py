"""BFM 2009 (.mat) and 2017/2019 (.h5) loaders on small files written in those structures."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
import scipy.io
import torch

from morphable.errors import MorphableError
from morphable.formats import load_model

K = 5


def _face_grid(n: int = 15) -> tuple[np.ndarray, np.ndarray]:
    """A dome-shaped face patch in millimetres (nose tip at +z), triangles wound toward -z."""
    xs = np.linspace(-70, 70, n)
    x, y = np.meshgrid(xs, xs * 1.2)
    z = 100 - (x ** 2 + y ** 2) / 150
    verts = np.stack([x, y, z], -1).reshape(-1, 3)
    faces = []
    for r in range(n - 1):
        for c in range(n - 1):
            a, b, d, e = r * n + c, r * n + c + 1, (r + 1) * n + c, (r + 1) * n + c + 1
            faces += [(a, d, b), (b, d, e)]  # clockwise seen from +z
    return verts, np.array(faces)


def _orthonormal(rows: int, cols: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(rows, cols)))
    return q


@pytest.fixture
def bfm2009(tmp_path):
    verts, faces = _face_grid()
    n = len(verts)
    rng = np.random.default_rng(1)
    data = {
        "shapeMU": (verts * 1000).reshape(-1, 1).astype(np.float32),  # micrometres, interleaved xyz
        "shapePC": _orthonormal(3 * n, K, 2).astype(np.float32),
        "shapeEV": np.linspace(5000, 1000, K).reshape(-1, 1).astype(np.float32),
        "texMU": rng.uniform(60, 200, size=(3 * n, 1)).astype(np.float32),
        "texPC": _orthonormal(3 * n, K, 3).astype(np.float32),
        "texEV": np.linspace(30, 5, K).reshape(-1, 1).astype(np.float32),
        "tl": (faces + 1).astype(np.float64),  # MATLAB's 1-based triangles
    }
    path = tmp_path / "01_MorphableModel.mat"
    scipy.io.savemat(path, data)
    return path, data


@pytest.fixture
def bfm2017(tmp_path):
    verts, faces = _face_grid()
    n = len(verts)
    path = tmp_path / "model2017-1_face12_nomouth.h5"
    shape_basis = _orthonormal(3 * n, K, 4)
    with h5py.File(path, "w") as h5:
        shape = h5.create_group("shape")
        shape["model/mean"] = verts.reshape(-1).astype(np.float32)  # millimetres
        shape["model/pcaBasis"] = shape_basis.astype(np.float32)
        shape["model/pcaVariance"] = np.linspace(25, 4, K).astype(np.float32)
        shape["representer/points"] = verts.T.astype(np.float32)
        shape["representer/cells"] = faces.T.astype(np.uint32)
        h5["color/model/mean"] = np.full(3 * n, 0.6, np.float32)
        h5["color/model/pcaBasis"] = _orthonormal(3 * n, K, 5).astype(np.float32)
        h5["color/model/pcaVariance"] = np.linspace(0.01, 0.001, K).astype(np.float32)
        h5["expression/model/mean"] = np.zeros(3 * n, np.float32)
        h5["expression/model/pcaBasis"] = _orthonormal(3 * n, 3, 6).astype(np.float32)
        h5["expression/model/pcaVariance"] = np.ones(3, np.float32)
    return path, {"verts": verts, "faces": faces, "basis": shape_basis, "var": np.linspace(25, 4, K)}


def _front_normal_z(m) -> float:
    tri = m.template[m.faces]
    return float(torch.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=1)[:, 2].sum())


def test_bfm2009_units_basis_albedo(bfm2009):
    path, d = bfm2009
    m = load_model(path, landmarks=np.arange(68))
    assert m.num_vertices == len(d["shapeMU"]) // 3 and m.num_identity == K and m.num_albedo == K
    # micrometres -> metres; the head centre sits 11 cm behind the nose tip
    width = float(m.template[:, 0].max() - m.template[:, 0].min())
    assert width == pytest.approx(0.140, rel=1e-4)
    assert float(m.template[:, 2].max()) == pytest.approx(0.11, abs=1e-6)
    # one unit of identity 1 = one std = shapePC[:, 1] * shapeEV[1], in metres
    ident = torch.zeros(1, K)
    ident[0, 1] = 1.0
    got = (m.shape(ident, torch.zeros(1, 52)) - m.template)[0].numpy()
    want = (d["shapePC"][:, 1] * d["shapeEV"][1, 0] * 1e-6).reshape(-1, 3)
    np.testing.assert_allclose(got, want, atol=1e-8)
    np.testing.assert_allclose(m.albedo_mean.numpy(), d["texMU"].reshape(-1, 3) / 255, atol=1e-6)
    np.testing.assert_allclose(m.albedo_std.numpy(), d["texEV"][:, 0] / 255, rtol=1e-5)
    # 1-based `tl` became 0-based and the winding now faces the camera (+z)
    assert int(m.faces.min()) == 0 and _front_normal_z(m) > 0
    assert not m.expression_present.any()


def test_bfm2009_truncation_and_wrong_units(bfm2009):
    path, _ = bfm2009
    m = load_model(path, landmarks=np.arange(68), num_identity=2, num_albedo=0)
    assert m.num_identity == 2 and m.num_albedo == 0
    with pytest.raises(MorphableError, match="pass scale="):
        load_model(path, landmarks=np.arange(68), scale=1.0)
    with pytest.raises(MorphableError, match="landmarks="):
        load_model(path)


def test_bfm2009_wrong_and_corrupt_files(tmp_path):
    other = tmp_path / "other.mat"
    scipy.io.savemat(other, {"foo": np.zeros(3)})
    with pytest.raises(MorphableError, match="missing shapeMU"):
        load_model(other)
    junk = tmp_path / "junk.mat"
    junk.write_bytes(b"MATLAB 5.0 MAT-file" + bytes(range(256)) * 4)
    with pytest.raises(MorphableError, match="cannot read"):
        load_model(junk)


def test_bfm2017_basis_units_albedo(bfm2017):
    path, d = bfm2017
    m = load_model(path, landmarks=np.arange(68) + 10)
    assert m.num_vertices == len(d["verts"]) and m.num_faces == len(d["faces"])
    assert m.num_identity == K and m.num_albedo == K
    # statismo: one std of component k = pcaBasis[:, k] * sqrt(pcaVariance[k]); mm -> m
    np.testing.assert_allclose(m.identity_std.numpy(), np.sqrt(d["var"]) * 1e-3, rtol=1e-5)
    ident = torch.zeros(1, K)
    ident[0, 3] = -2.0
    got = (m.shape(ident, torch.zeros(1, 52)) - m.template)[0].numpy()
    want = (-2.0 * d["basis"][:, 3] * np.sqrt(d["var"][3]) * 1e-3).reshape(-1, 3)
    np.testing.assert_allclose(got, want, atol=1e-8)
    np.testing.assert_allclose(m.albedo_mean.numpy(), 0.6, atol=1e-6)
    assert _front_normal_z(m) > 0 and float(m.template[:, 2].max()) == pytest.approx(0.11, abs=1e-6)
    np.testing.assert_array_equal(m.landmarks.numpy(), np.arange(68) + 10)
    assert "expression" in m.meta["unused"] and not m.expression_present.any()


def test_bfm2017_wrong_and_corrupt_files(tmp_path):
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as h5:
        h5["color/model/mean"] = np.zeros(3)
    with pytest.raises(MorphableError, match="no /shape"):
        load_model(empty)
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(MorphableError, match="cannot read"):
        load_model(junk)
