"""morphable.gltf: .glb with ARKit morph targets and animation, read back by our own parser and
trimesh, and checked by the Khronos glTF validator (skipped only where node is missing)."""
from __future__ import annotations


import numpy as np
import pytest
import torch
import trimesh
from scipy.spatial.transform import Rotation

from morphable.animation import parse_tracks
from morphable.arkit import ARKIT_NAMES, expression_index
from morphable.errors import MorphableError
from morphable.export import seam_split
from morphable.gltf import export_gltf
from morphable.model import MorphableModel

from .glb_chunks import glb_chunks

from . import gltf_validator
from .toy_head import DEFAULT_MODEL, toy_head

JAW = expression_index("jawOpen")
_DTYPES = {5126: np.float32, 5123: np.uint16, 5125: np.uint32}
_COMPS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}

TRACKS = {"fps": 10, "tracks": [
    {"block": "expression", "name": "jawOpen", "keys": [[0, 0], [0.5, 1], [1, 0.2]], "interpolation": "smooth"},
    {"block": "expression", "name": "eyeBlinkLeft", "keys": [[0.2, 0], [0.4, 1], [0.6, 0]]},
    {"block": "pose", "name": "yaw", "keys": [[0, -80], [1, 80]]},
    {"block": "pose", "name": "roll", "keys": [[0, -179], [1, 179]]},
    {"block": "pose", "name": "tx", "keys": [[0, 0], [1, 0.05]]}]}


class Glb:
    """Minimal .glb reader: the JSON document and accessors as numpy arrays."""

    def __init__(self, data: bytes) -> None:
        self.doc, self.bin = glb_chunks(data)

    def _read(self, view_index: int, dtype: np.dtype, count: int, comps: int, offset: int = 0) -> np.ndarray:
        view = self.doc["bufferViews"][view_index]
        assert view["byteOffset"] % 4 == 0
        assert view.get("byteStride", dtype.itemsize * comps) == dtype.itemsize * comps
        arr = np.frombuffer(self.bin, dtype, count * comps, view["byteOffset"] + offset)
        return arr.reshape(count, comps) if comps > 1 else arr

    def accessor(self, index: int) -> np.ndarray:
        """Dense values of an accessor (zeros without a bufferView, sparse substitution applied)."""
        acc = self.doc["accessors"][index]
        dtype, comps = np.dtype(_DTYPES[acc["componentType"]]), _COMPS[acc["type"]]
        if "bufferView" in acc:
            arr = self._read(acc["bufferView"], dtype, acc["count"], comps, acc.get("byteOffset", 0)).copy()
        else:
            arr = np.zeros((acc["count"], comps) if comps > 1 else acc["count"], dtype)
        if "sparse" in acc:
            sp = acc["sparse"]
            idx = self._read(sp["indices"]["bufferView"], np.dtype(_DTYPES[sp["indices"]["componentType"]]),
                             sp["count"], 1)
            assert (np.diff(idx.astype(np.int64)) > 0).all()
            arr[idx] = self._read(sp["values"]["bufferView"], dtype, sp["count"], comps)
        return arr


@pytest.fixture(scope="module")
def default_model() -> MorphableModel:
    return MorphableModel.load(DEFAULT_MODEL)


@pytest.fixture(scope="module")
def exports(default_model, tmp_path_factory):
    """Static and animated exports of the default head (identity, albedo and pose of one face)."""
    d = tmp_path_factory.mktemp("gltf")
    params = default_model.random_params(1, seed=11).with_pose(yaw=20, pitch=-5, roll=3)
    params.pose[0, 3:] = torch.tensor([0.01, -0.02, 0.03])
    params = params.with_expression({"mouthSmileLeft": 0.3})
    tracks = parse_tracks(TRACKS)
    static = export_gltf(default_model, d / "static.glb", params)
    animated = export_gltf(default_model, d / "animated.glb", params, animation=tracks, sparse=True)
    return params, tracks, static, animated


def _src_vertices(model: MorphableModel) -> np.ndarray:
    return seam_split(model)[0]


def test_static_layout_and_morph_targets(default_model, exports):
    params, _, static, _ = exports
    glb = Glb(static.read_bytes())
    doc = glb.doc
    mesh = doc["meshes"][0]
    prim = mesh["primitives"][0]
    assert mesh["extras"]["targetNames"] == list(ARKIT_NAMES)
    assert len(prim["targets"]) == 52 and len(mesh["weights"]) == 52
    assert mesh["weights"][expression_index("mouthSmileLeft")] == pytest.approx(0.3)
    assert set(prim["attributes"]) == {"POSITION", "NORMAL", "COLOR_0", "TEXCOORD_0"}
    src = _src_vertices(default_model)
    with torch.no_grad():
        neutral = default_model.shape(params.identity, torch.zeros_like(params.expression))[0].numpy()
        albedo = default_model.albedo(params)[0].numpy()
    pos = glb.accessor(prim["attributes"]["POSITION"])
    assert np.allclose(pos, neutral[src], atol=1e-6)
    assert np.allclose(glb.accessor(prim["attributes"]["COLOR_0"]), albedo[src], atol=1e-6)
    normals = glb.accessor(prim["attributes"]["NORMAL"])
    assert np.allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)
    basis = default_model.expression_basis.numpy()
    for j in range(52):
        delta = glb.accessor(prim["targets"][j]["POSITION"])
        assert np.array_equal(delta, basis[j][src]), ARKIT_NAMES[j]
    jaw_acc = doc["accessors"][prim["targets"][JAW]["POSITION"]]
    assert jaw_acc["min"] == pytest.approx(basis[JAW][src].min(0).tolist())
    # triangles index the seam-split vertices like the model's faces index its vertices
    tri = glb.accessor(prim["indices"]).reshape(-1, 3)
    assert np.array_equal(src[tri], default_model.faces.numpy())
    # the node carries the pose: R p + t reproduces the model's posed vertices at the static weights
    node = doc["nodes"][0]
    weights = np.array(mesh["weights"])
    local = pos + np.einsum("j,jvc->vc", weights, basis[:, src])
    posed = Rotation.from_quat(node["rotation"]).apply(local) + node["translation"]
    with torch.no_grad():
        expected = default_model.vertices(params)[0].numpy()[src]
    assert np.abs(posed - expected).max() < 1e-5


def test_animation_keyframes_match_tracks(default_model, exports):
    params, tracks, _, animated = exports
    glb = Glb(animated.read_bytes())
    anim = glb.doc["animations"][0]
    paths = {c["target"]["path"]: anim["samplers"][c["sampler"]] for c in anim["channels"]}
    assert set(paths) == {"weights", "rotation", "translation"}
    assert all(s["interpolation"] == "LINEAR" for s in anim["samplers"])
    times = glb.accessor(paths["weights"]["input"])
    assert len(times) == tracks.num_frames == 11
    assert np.allclose(times, tracks.frame_times())
    weights = glb.accessor(paths["weights"]["output"]).reshape(len(times), 52)
    sampled = tracks.sample()
    assert np.allclose(weights[:, JAW], sampled["jawOpen"], atol=1e-6)
    assert np.allclose(weights[:, expression_index("eyeBlinkLeft")], sampled["eyeBlinkLeft"], atol=1e-6)
    smile = expression_index("mouthSmileLeft")
    assert np.allclose(weights[:, smile], 0.3)  # un-animated channels keep the base's value
    quats = glb.accessor(paths["rotation"]["output"])
    assert np.allclose(np.linalg.norm(quats, axis=1), 1.0, atol=1e-6)
    assert (np.sum(quats[1:] * quats[:-1], axis=1) > 0).all()  # sign-continuous for slerp
    trans = glb.accessor(paths["translation"]["output"])
    frames = tracks.sample(base=params)
    src = _src_vertices(default_model)
    prim = glb.doc["meshes"][0]["primitives"][0]
    pos = glb.accessor(prim["attributes"]["POSITION"]).astype(np.float64)
    basis = default_model.expression_basis.numpy()[:, src]
    with torch.no_grad():
        expected = default_model.vertices(frames).numpy()[:, src]
    for k in (0, 4, 10):  # the glTF frame k, evaluated by hand, equals the model's frame k
        posed = Rotation.from_quat(quats[k]).apply(pos + np.einsum("j,jvc->vc", weights[k], basis)) + trans[k]
        assert np.abs(posed - expected[k]).max() < 1e-5


def test_sparse_targets_decode_to_the_dense_ones(exports):
    _, _, static, animated = exports
    dense, sparse = Glb(static.read_bytes()), Glb(animated.read_bytes())
    assert len(animated.read_bytes()) < 0.6 * len(static.read_bytes())
    t_dense = dense.doc["meshes"][0]["primitives"][0]["targets"]
    t_sparse = sparse.doc["meshes"][0]["primitives"][0]["targets"]
    assert all("sparse" in sparse.doc["accessors"][t["POSITION"]] for t in t_sparse)
    for a, b in zip(t_dense, t_sparse):
        for key in ("POSITION", "NORMAL"):
            assert np.array_equal(dense.accessor(a[key]), sparse.accessor(b[key]))
        assert dense.doc["accessors"][a["POSITION"]]["min"] == sparse.doc["accessors"][b["POSITION"]]["min"]


def test_trimesh_reads_geometry(default_model, exports):
    scene = trimesh.load(exports[2], process=False)
    geom = list(scene.geometry.values())
    assert len(geom) == 1
    assert len(geom[0].vertices) == len(_src_vertices(default_model))
    assert len(geom[0].faces) == default_model.num_faces


def test_per_frame_inputs_and_toy_without_normals(tmp_path):
    model = toy_head(subdivisions=2)
    base = model.random_params(1, seed=1)
    seq = base.map(lambda t: t.expand(6, *t.shape[1:]).clone())
    seq.expression[:, JAW] = torch.linspace(0, 1, 6)
    seq.pose[:, 0] = torch.linspace(0, 30, 6)
    out = export_gltf(model, tmp_path / "seq.glb", animation=seq, fps=30, normals=False, sparse=True)
    glb = Glb(out.read_bytes())
    prim = glb.doc["meshes"][0]["primitives"][0]
    assert "NORMAL" not in prim["attributes"] and "NORMAL" not in prim["targets"][0]
    absent = [j for j in range(52) if j != JAW]  # the toy has only jawOpen: the others stay zero
    assert all(not glb.accessor(prim["targets"][j]["POSITION"]).any() for j in absent)
    assert all("bufferView" not in glb.doc["accessors"][prim["targets"][j]["POSITION"]] for j in absent)
    jaw = glb.accessor(prim["targets"][JAW]["POSITION"])
    assert np.array_equal(jaw, model.expression_basis[JAW].numpy()[_src_vertices(model)])
    anim = glb.doc["animations"][0]
    times = glb.accessor(anim["samplers"][0]["input"])
    assert np.allclose(times, np.arange(6) / 30)
    values = {"jawOpen": np.linspace(0, 1, 4), "yaw": np.zeros(4)}
    out2 = export_gltf(model, tmp_path / "dict.glb", base, animation=values, fps=4)
    w = Glb(out2.read_bytes())
    acc = w.doc["animations"][0]["samplers"][0]
    assert np.allclose(w.accessor(acc["output"]).reshape(4, 52)[:, JAW], np.linspace(0, 1, 4))


def test_errors(tmp_path):
    model = toy_head(subdivisions=1)
    with pytest.raises(MorphableError, match=r"\.glb"):
        export_gltf(model, tmp_path / "head.gltf")
    with pytest.raises(MorphableError, match="batch 1"):
        export_gltf(model, tmp_path / "head.glb", model.neutral_params(2))
    with pytest.raises(MorphableError, match="animation must be"):
        export_gltf(model, tmp_path / "head.glb", animation=[1, 2, 3])
    with pytest.raises(MorphableError, match="identity values"):
        export_gltf(model, tmp_path / "head.glb", model.truncated(2).neutral_params(1))
    assert not (tmp_path / "head.glb").exists()


@pytest.mark.skipif(not gltf_validator.node_available(), reason="node.js is not installed")
def test_khronos_validator_reports_no_errors(exports, tmp_path):
    _, _, static, animated = exports
    toy = export_gltf(toy_head(subdivisions=2), tmp_path / "toy.glb", animation=parse_tracks(TRACKS),
                      sparse=True)  # 51 all-zero targets: accessors without a bufferView
    for path in (static, animated, toy):
        report = gltf_validator.validate_glb(path.read_bytes())
        issues = report["issues"]
        assert issues["numErrors"] == 0, gltf_validator.summary(report)
        assert issues["numWarnings"] == 0, gltf_validator.summary(report)
        codes = {m["code"] for m in issues["messages"]}
        assert codes <= {"UNUSED_OBJECT"}, gltf_validator.summary(report)  # TEXCOORD_0 without a texture
    info = report["info"]
    assert info["hasMorphTargets"] and info["animationCount"] == 1 and info["drawCallCount"] == 1


def test_ict_facekit_export(ict_dir, tmp_path):
    """A real model with 14 of the 52 ARKit shapes: present deltas exact, absent ones data-free zeros."""
    from morphable.formats import load_model
    model = load_model(ict_dir)
    out = export_gltf(model, tmp_path / "ict.glb", model.random_params(1, seed=1),
                      animation=parse_tracks(TRACKS), sparse=True)
    glb = Glb(out.read_bytes())
    prim = glb.doc["meshes"][0]["primitives"][0]
    src = _src_vertices(model)
    present = model.expression_present.tolist()
    basis = model.expression_basis.numpy()
    for j, name in enumerate(ARKIT_NAMES):
        acc = glb.doc["accessors"][prim["targets"][j]["POSITION"]]
        assert ("sparse" in acc) == present[j], name
        assert np.array_equal(glb.accessor(prim["targets"][j]["POSITION"]), basis[j][src]), name
    if gltf_validator.node_available():
        report = gltf_validator.validate_glb(out.read_bytes())
        assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0, \
            gltf_validator.summary(report)
