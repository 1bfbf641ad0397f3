"""FLAME loader on a small pickle written in FLAME's structure, with chumpy classes, no chumpy."""
from __future__ import annotations

import json
import os
import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse
import torch
import trimesh

from morphable.arkit import ARKIT_INDEX
from morphable.errors import MorphableError
from morphable.formats import load_model
from morphable.formats.flame import load_flame, read_pickle

N_SHAPE, N_EXPR = 6, 4  # stands in for FLAME's 300 shape + 100 expression components


def _fake_chumpy_module():
    """A throwaway `chumpy.ch` module with a `Ch` class that pickles like chumpy's (state holds x)."""
    mod = types.ModuleType("chumpy.ch")

    class Ch:
        def __init__(self, x):
            self.x = np.asarray(x)
            self._dirty_vars = set()

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    mod.Ch = Ch
    return mod


def _flame_dict(ch) -> tuple[dict, np.ndarray]:
    """A FLAME-structured dict on an icosphere 'head' of radius 10 cm; jaw = lower front vertices."""
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.1)
    verts, faces = np.asarray(sphere.vertices), np.asarray(sphere.faces)
    v = len(verts)
    rng = np.random.default_rng(0)
    shapedirs = rng.normal(scale=2e-3, size=(v, 3, N_SHAPE + N_EXPR))
    # joints: root, neck, jaw, eyes; the jaw joint regresses to the sphere centre (mean of all verts)
    reg = np.zeros((5, v))
    reg[0, np.argmin(verts[:, 1])] = 1.0
    reg[1, np.argmin(verts[:, 1])] = 1.0
    reg[2, :] = 1.0 / v
    reg[3, np.argmax(verts[:, 0])] = 1.0
    reg[4, np.argmin(verts[:, 0])] = 1.0
    jaw = (verts[:, 1] < -0.03) & (verts[:, 2] > 0)
    weights = np.zeros((v, 5))
    weights[jaw, 2] = 1.0
    weights[~jaw, 1] = 1.0
    data = {
        "v_template": verts,
        "f": faces.astype(np.uint32),
        "shapedirs": ch(shapedirs),
        "posedirs": np.zeros((v, 3, 36)),
        "J_regressor": scipy.sparse.csc_matrix(reg),
        "weights": weights,
        "kintree_table": np.array([[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.int64),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }
    return data, jaw


@pytest.fixture(params=[2, 0], ids=["protocol2", "protocol0"])
def flame_file(tmp_path, request):
    """(path, source dict) of a FLAME-structured pickle with chumpy-classed arrays."""
    mod = _fake_chumpy_module()
    saved = {k: sys.modules.get(k) for k in ("chumpy", "chumpy.ch")}
    sys.modules["chumpy"] = types.ModuleType("chumpy")
    sys.modules["chumpy.ch"] = mod
    try:
        data, jaw = _flame_dict(mod.Ch)
        path = tmp_path / "generic_model.pkl"
        path.write_bytes(pickle.dumps(data, protocol=request.param))
    finally:
        for k, m in saved.items():
            if m is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = m
    plain = dict(data, shapedirs=data["shapedirs"].x)
    return path, plain, jaw


def test_reads_chumpy_pickle_without_chumpy(flame_file):
    path, src, _ = flame_file
    assert "chumpy" not in sys.modules
    data = read_pickle(path)
    np.testing.assert_array_equal(data["shapedirs"], src["shapedirs"])
    assert scipy.sparse.issparse(data["J_regressor"])
    np.testing.assert_allclose(data["J_regressor"].toarray(), src["J_regressor"].toarray())
    assert data["bs_style"] == "lbs"


def test_flame_model_identity_landmarks_and_jaw(flame_file):
    path, src, jaw = flame_file
    ids = np.arange(68) * 2
    m = load_flame(path, landmarks=ids, num_shape=N_SHAPE)
    assert m.num_vertices == len(src["v_template"]) and m.num_faces == len(src["f"])
    assert m.num_identity == N_SHAPE  # the expression PCA part of shapedirs is not identity
    np.testing.assert_array_equal(m.landmarks.numpy(), ids)
    # one unit of identity k reproduces shapedirs[..., k] (FLAME betas are whitened)
    p = m.neutral_params()
    p = p.replace(identity=torch.eye(N_SHAPE)[2:3])
    got = (m.shape(p.identity, p.expression)[0] - m.template).numpy()
    np.testing.assert_allclose(got, src["shapedirs"][:, :, 2], atol=1e-6)
    # same mesh, moved so that the head's bounding-box centre is the origin (rotation centre)
    shift = src["v_template"] - m.template.numpy()
    np.testing.assert_allclose(shift, np.broadcast_to(shift[0], shift.shape), atol=1e-6)
    box = m.template.max(0).values + m.template.min(0).values
    assert box.abs().max() < 1e-6
    # only jawOpen is present; it moves the jaw vertices (chin down), nothing else
    assert m.expression_names == ["jawOpen"]
    off = m.expression_basis[ARKIT_INDEX["jawOpen"]].numpy()
    assert np.abs(off[~jaw]).max() == 0
    chin = np.argmax(np.where(jaw, src["v_template"][:, 2], -np.inf))  # front of the jaw
    assert off[chin, 1] < -0.01
    assert m.meta["unused_components"] == N_EXPR


def test_jaw_can_be_left_out(flame_file):
    m = load_flame(flame_file[0], landmarks=np.arange(68), jaw_open_deg=0)
    assert not m.expression_present.any()


def test_landmark_embedding_file_barycentric_to_nearest_vertex(flame_file, tmp_path):
    path, src, _ = flame_file
    faces = src["f"].astype(np.int64)
    face_idx = np.arange(68) * 3
    bary = np.tile([0.7, 0.2, 0.1], (68, 1))
    emb = tmp_path / "landmark_embedding.npy"
    np.save(emb, {"full_lmk_faces_idx": face_idx[None], "full_lmk_bary_coords": bary[None],
                  "static_lmk_faces_idx": face_idx[17:]}, allow_pickle=True)
    m = load_model(path, landmarks=emb)
    np.testing.assert_array_equal(m.landmarks.numpy(), faces[face_idx, 0])


def test_static_51_point_embedding_is_refused_clearly(flame_file, tmp_path):
    emb = tmp_path / "flame_static_embedding.pkl"
    emb.write_bytes(pickle.dumps({"lmk_face_idx": np.arange(51), "lmk_b_coords": np.full((51, 3), 1 / 3)}))
    with pytest.raises(MorphableError, match="51 landmarks"):
        load_flame(flame_file[0], landmarks=emb)


def test_missing_landmarks_say_what_to_pass(flame_file):
    with pytest.raises(MorphableError, match="landmarks="):
        load_flame(flame_file[0])


class _RunsShell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_pickle_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "generic_model.pkl"
    bad.write_bytes(pickle.dumps({"v_template": _RunsShell(marker)}))
    with pytest.raises(MorphableError, match="refused"):
        load_model(bad, landmarks=np.arange(68))
    assert not marker.exists()


def test_reconstructor_cannot_build_other_classes(tmp_path):
    # copyreg._reconstructor is allowed for chumpy stand-ins only, not for arbitrary classes
    import copyreg

    class Wrapper:
        def __reduce__(self):
            return copyreg._reconstructor, (tmp_path.__class__, object, None)

    bad = tmp_path / "m.pkl"
    bad.write_bytes(pickle.dumps(Wrapper(), protocol=0))
    with pytest.raises(MorphableError, match="refused"):
        read_pickle(bad)


def test_corrupt_and_wrong_pickles(tmp_path):
    trunc = tmp_path / "trunc.pkl"
    trunc.write_bytes(pickle.dumps({"v_template": np.zeros((3, 3))})[:20])
    with pytest.raises(MorphableError, match="cannot read"):
        load_model(trunc)
    other = tmp_path / "other.pkl"
    other.write_bytes(pickle.dumps({"weights": np.zeros(3)}))
    with pytest.raises(MorphableError, match="not a FLAME model"):
        load_model(other)


def test_landmark_ids_from_text_and_json_files(flame_file, tmp_path):
    ids = np.arange(68)[::-1] + 5
    txt = tmp_path / "ids.txt"
    np.savetxt(txt, ids, fmt="%d")
    js = tmp_path / "ids.json"
    js.write_text(json.dumps(ids.tolist()))
    for path in (txt, js):
        np.testing.assert_array_equal(load_flame(flame_file[0], landmarks=path).landmarks.numpy(), ids)
    short = tmp_path / "short.json"
    short.write_text(json.dumps(list(range(10))))
    with pytest.raises(MorphableError, match="68 integer vertex ids"):
        load_flame(flame_file[0], landmarks=short)
    with pytest.raises(MorphableError, match="outside the mesh"):
        load_flame(flame_file[0], landmarks=np.arange(68) + 10_000)
