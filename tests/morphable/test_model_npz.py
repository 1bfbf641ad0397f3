"""MorphableModel's own .npz format: round trip, bad files, atomic writes; load_model dispatch."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch
import trimesh

from morphable.errors import MorphableError
from morphable.formats import DEFAULT_MODEL, load_model
from morphable.model import FORMAT_KEYS, MorphableModel


def _small_model() -> MorphableModel:
    """A 42-vertex sphere 'head' with every optional block filled, random but reproducible."""
    sphere = trimesh.creation.icosphere(subdivisions=1, radius=0.1)
    v = len(sphere.vertices)
    g = torch.Generator().manual_seed(0)
    expr = torch.zeros(52, v, 3)
    expr[17] = torch.randn(v, 3, generator=g) * 1e-3
    return MorphableModel(
        name="sphere",
        template=torch.as_tensor(sphere.vertices, dtype=torch.float32),
        faces=torch.as_tensor(sphere.faces, dtype=torch.int64),
        identity_basis=torch.randn(3, v, 3, generator=g),
        identity_std=torch.tensor([3e-3, 2e-3, 1e-3]),
        expression_basis=expr,
        landmarks=torch.arange(68) % v,
        albedo_mean=torch.full((v, 3), 0.5),
        albedo_basis=torch.randn(2, v, 3, generator=g),
        albedo_std=torch.tensor([0.1, 0.05]),
        uvs=torch.rand(v, 2, generator=g),
        face_uvs=torch.as_tensor(sphere.faces, dtype=torch.int64),
        regions={"face": torch.arange(v) % 2 == 0},
        meta={"source": "test", "licence": "CC0"},
    )


def test_round_trip_keeps_every_array(tmp_path):
    m = _small_model()
    path = tmp_path / "m.npz"
    m.save(path)
    back = MorphableModel.load(path)
    for key in ("template", "faces", "identity_basis", "identity_std", "expression_basis",
                "expression_present", "landmarks", "albedo_mean", "albedo_basis", "albedo_std",
                "uvs", "face_uvs"):
        assert torch.equal(getattr(back, key), getattr(m, key)), key
    assert torch.equal(back.region("face"), m.region("face"))
    assert back.name == "sphere" and back.meta["licence"] == "CC0"
    assert back.expression_names == ["jawOpen"]
    # same geometry from the same params
    p = m.random_params(2, seed=3)
    assert torch.equal(back.vertices(p), m.vertices(p))
    # the file holds only documented keys and no pickles
    with np.load(path, allow_pickle=False) as z:
        for k in z.files:
            assert k in FORMAT_KEYS or k.startswith("region_"), k
        assert json.loads(str(z["meta"]))["format"] == "facerig-morphable"
    assert torch.equal(load_model(path).template, m.template)


def test_missing_corrupt_and_foreign_files(tmp_path):
    with pytest.raises(MorphableError, match="not found"):
        MorphableModel.load(tmp_path / "absent.npz")
    with pytest.raises(MorphableError, match="not found"):
        load_model(tmp_path / "absent.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"PK\x03\x04 definitely not a zip archive")
    with pytest.raises(MorphableError, match="cannot read"):
        load_model(junk)
    good = tmp_path / "good.npz"
    _small_model().save(good)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(MorphableError):
        load_model(truncated)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.zeros(3))
    with pytest.raises(MorphableError, match="not a facerig"):
        load_model(foreign)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, meta=np.array(json.dumps({"format": "something-else"})))
    with pytest.raises(MorphableError, match="format='something-else'"):
        load_model(wrong)
    # a pickled object array inside the npz is never unpickled
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, meta=np.array([{"format": "facerig-morphable"}], dtype=object))
    with pytest.raises(MorphableError):
        load_model(pickled)


def test_failed_save_leaves_existing_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    m = _small_model()
    m.save(path)
    before = path.read_bytes()

    def write_half_then_fail(fh, **arrays):  # a crash (e.g. disk full) in the middle of writing
        fh.write(b"PK\x03\x04partial")
        raise OSError("No space left on device")

    monkeypatch.setattr(np, "savez_compressed", write_half_then_fail)
    with pytest.raises(OSError):
        m.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]  # no temp file left behind
    monkeypatch.undo()
    assert zipfile.is_zipfile(path) and torch.equal(MorphableModel.load(path).template, m.template)


def test_dispatch_errors(tmp_path):
    odd = tmp_path / "model.ply"
    odd.write_text("ply\n")
    with pytest.raises(MorphableError, match="don't know the model format"):
        load_model(odd)
    with pytest.raises(MorphableError, match="not an ICT-FaceKit"):
        load_model(tmp_path)
    path = tmp_path / "m.npz"
    _small_model().save(path)
    with pytest.raises(MorphableError, match="does not take option"):
        load_model(path, num_identity=3)


def test_default_model(tmp_path):
    if DEFAULT_MODEL.is_file():
        m = load_model()
        assert m.landmarks.shape == (68,) and m.num_vertices > 1000
    else:
        with pytest.raises(MorphableError, match="default model is missing"):
            load_model("default")
