"""export_mesh: OBJ/PLY/GLB written through trimesh reload with the posed geometry and colours."""
from __future__ import annotations


import numpy as np
import pytest
import torch
import trimesh

from morphable.errors import MorphableError
from morphable.export import export_mesh, seam_split
from morphable.model import MorphableModel

from .glb_chunks import glb_json
from .toy_head import DEFAULT_MODEL, toy_head


@pytest.fixture(scope="module")
def toy() -> MorphableModel:
    model = toy_head(subdivisions=2)
    # give the toy a UV seam: corners of faces crossing x = 0 behind the head get their own UVs
    faces, uvs = model.faces.clone(), model.uvs.clone()
    seam = (model.template[faces, 2].amax(1) < 0) & (model.template[faces, 0].amax(1) > 0)
    extra = uvs[faces[seam]].reshape(-1, 2) + 0.5
    face_uvs = faces.clone()
    face_uvs[seam] = len(uvs) + torch.arange(extra.shape[0]).reshape(-1, 3)
    model.uvs, model.face_uvs = torch.cat([uvs, extra]), face_uvs
    return model


@pytest.fixture(scope="module")
def params(toy):
    p = toy.random_params(2, seed=7).with_pose(yaw=20, pitch=-5).with_expression({"jawOpen": 0.5})
    return p.replace(albedo=torch.tensor([[0.0, 0.0], [1.5, -1.0]]))


def _load(path) -> trimesh.Trimesh:
    return trimesh.load(path, process=False, force="mesh")


@pytest.mark.parametrize("suffix", [".obj", ".ply"])
def test_obj_ply_keep_vertices_and_colours(tmp_path, toy, params, suffix):
    path = export_mesh(toy, params, tmp_path / f"face{suffix}", index=1)
    mesh = _load(path)
    verts = toy.vertices(params)[1].detach().numpy()
    assert mesh.vertices.shape == verts.shape and len(mesh.faces) == toy.num_faces
    np.testing.assert_allclose(mesh.vertices, verts, atol=1e-5)
    np.testing.assert_array_equal(mesh.faces, toy.faces.numpy())
    albedo = toy.albedo(params)[1].detach().numpy()
    np.testing.assert_allclose(mesh.visual.vertex_colors[:, :3] / 255.0, albedo, atol=1.0 / 255 + 1e-6)
    assert not list(tmp_path.glob(".*")), "temp file left behind"


@pytest.mark.parametrize("suffix", [".obj", ".ply", ".glb"])
def test_uvs_split_at_seams(tmp_path, toy, params, suffix):
    path = export_mesh(toy, params, tmp_path / f"face{suffix}", colors=False)
    mesh = _load(path)
    src_v, uv, faces = seam_split(toy)
    np.testing.assert_array_equal(uv[faces], toy.uvs.numpy()[toy.face_uvs.numpy()])
    np.testing.assert_array_equal(src_v[faces], toy.faces.numpy())
    assert len(src_v) > toy.num_vertices and len(mesh.vertices) == len(src_v)
    assert len(mesh.faces) == toy.num_faces
    verts = toy.vertices(params)[0].detach().numpy()
    # every triangle's corners sit where the model's corners are
    np.testing.assert_allclose(mesh.vertices[mesh.faces], verts[toy.faces.numpy()], atol=1e-5)
    np.testing.assert_allclose(mesh.visual.uv[mesh.faces], toy.uvs.numpy()[toy.face_uvs.numpy()], atol=1e-5)


def test_glb_is_valid_gltf_with_colours_and_uvs(tmp_path, toy, params):
    path = export_mesh(toy, params, tmp_path / "face.glb")
    gltf = glb_json(path)
    assert gltf["asset"]["version"] == "2.0"
    attrs = gltf["meshes"][0]["primitives"][0]["attributes"]
    assert {"POSITION", "COLOR_0", "TEXCOORD_0"} <= set(attrs)
    mesh = _load(path)
    verts = toy.vertices(params)[0].detach().numpy()
    np.testing.assert_allclose(mesh.vertices[mesh.faces], verts[toy.faces.numpy()], atol=1e-5)
    lo, hi = gltf["accessors"][attrs["POSITION"]]["min"], gltf["accessors"][attrs["POSITION"]]["max"]
    np.testing.assert_allclose(lo, verts.min(0), atol=1e-5)
    np.testing.assert_allclose(hi, verts.max(0), atol=1e-5)


def test_bad_suffix_and_index(tmp_path, toy, params):
    with pytest.raises(MorphableError, match="unknown mesh format"):
        export_mesh(toy, params, tmp_path / "face.stl")
    with pytest.raises(MorphableError, match="out of range"):
        export_mesh(toy, params, tmp_path / "face.obj", index=5)
    assert not list(tmp_path.iterdir())


def test_default_model_glb(tmp_path):
    if not DEFAULT_MODEL.exists():
        pytest.skip(f"default model {DEFAULT_MODEL} not built yet")
    model = MorphableModel.load(DEFAULT_MODEL)
    path = export_mesh(model, model.neutral_params(1).with_pose(yaw=15), tmp_path / "head.glb")
    gltf = glb_json(path)
    assert {"POSITION", "COLOR_0", "TEXCOORD_0"} <= set(gltf["meshes"][0]["primitives"][0]["attributes"])
    mesh = _load(path)
    assert len(mesh.faces) == model.num_faces
