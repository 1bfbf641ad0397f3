"""ICT-FaceKit loader and the file-order OBJ reader, on the real ICT Face Model files."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from morphable.arkit import ARKIT_INDEX
from morphable.errors import MorphableError
from morphable.formats import load_model
from morphable.formats.ict import HEAD_END, ict_to_arkit, load_ict
from morphable.formats.obj_reader import read_obj, read_obj_vertices
from morphable.model import MorphableModel

ICT_FILES = ["browDown_L", "browDown_R", "browInnerUp_L", "browInnerUp_R", "cheekPuff_L", "cheekPuff_R",
             "eyeBlink_L", "eyeBlink_R", "jawLeft", "jawOpen", "mouthFrown_L", "mouthFrown_R",
             "mouthFunnel", "mouthPucker", "mouthSmile_L", "mouthSmile_R"]


@pytest.fixture(scope="module")
def ict(ict_dir) -> MorphableModel:
    return load_model(ict_dir)


def test_obj_reader_keeps_file_order_and_fans_quads(ict_dir):
    mesh = read_obj(ict_dir / "generic_neutral_mesh.obj")
    assert mesh.vertices.shape == (26719, 3)
    # 25,836 quads -> 2 triangles each, 548 triangles kept
    assert mesh.faces.shape == (2 * 25836 + 548, 3)
    assert mesh.uvs.shape == (28911, 2) and mesh.face_uvs.shape == mesh.faces.shape
    first_v = [float(x) for x in next(ln for ln in open(ict_dir / "generic_neutral_mesh.obj")
                                      if ln.startswith("v ")).split()[1:]]
    np.testing.assert_allclose(mesh.vertices[0], first_v)
    # the first face line is `f 874/1 12/2 871/3 873/4`
    np.testing.assert_array_equal(mesh.faces[:2], [[873, 11, 870], [873, 870, 872]])
    np.testing.assert_array_equal(read_obj_vertices(ict_dir / "jawOpen.obj").shape, (26719, 3))


def test_obj_reader_ngons_negative_indices_and_errors(tmp_path):
    obj = tmp_path / "pent.obj"
    obj.write_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0.5 2 0\nv 0 1 0\nf -5 -4 -3 -2 -1\n")
    mesh = read_obj(obj)
    np.testing.assert_array_equal(mesh.faces, [[0, 1, 2], [0, 2, 3], [0, 3, 4]])
    assert mesh.uvs is None
    bad = tmp_path / "bad.obj"
    bad.write_text("v 0 0 0\nv 1 0 0\nf 1 2 7\n")
    with pytest.raises(MorphableError, match="does not exist"):
        read_obj(bad)
    with pytest.raises(MorphableError, match="not found"):
        read_obj(tmp_path / "nothing.obj")


def test_one_obj_parser_serves_triangle_fans_and_makehuman_quads(tmp_path):
    from morphable.makehuman import parse_obj

    text = ("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 2 0 0\nvt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\n"
            "g front\nf 1/1 2/2 3/3 4/4\ng side\nf 2/2 5/1 3/3 3/4\n")
    (tmp_path / "q.obj").write_text(text)
    mesh = read_obj(tmp_path / "q.obj")  # fans: each quad is 2 triangles, groups count triangles
    np.testing.assert_array_equal(mesh.faces, [[0, 1, 2], [0, 2, 3], [1, 4, 2], [1, 2, 2]])
    np.testing.assert_array_equal(mesh.face_uvs, [[0, 1, 2], [0, 2, 3], [1, 0, 2], [1, 2, 3]])
    assert mesh.groups == [("front", 0), ("side", 2)]
    quads = parse_obj(text.encode())  # MakeHuman keeps the quads for its own head cut
    np.testing.assert_array_equal(quads.faces, [[0, 1, 2, 3], [1, 4, 2, 2]])
    np.testing.assert_array_equal(quads.face_uvs, [[0, 1, 2, 3], [1, 0, 2, 3]])
    np.testing.assert_array_equal(quads.uvs, mesh.uvs)
    with pytest.raises(MorphableError, match="expected quads in the hm08 obj, got a 3-gon"):
        parse_obj(b"v 0 0 0\nv 1 0 0\nv 1 1 0\nf 1 2 3\n")
    with pytest.raises(MorphableError, match="texture coordinate that does not exist"):
        parse_obj(b"v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nf 1/1 2/2 3/1 4/1\n")


def test_name_mapping():
    assert ict_to_arkit("browDown_L") == "browDownLeft"
    assert ict_to_arkit("mouthSmile_R") == "mouthSmileRight"
    assert ict_to_arkit("jawOpen") == "jawOpen"


def test_counts_units_and_expressions(ict):
    assert ict.num_vertices == HEAD_END == 11248
    assert ict.num_faces == 22288 and int(ict.faces.max()) < HEAD_END
    assert ict.num_identity == 10
    assert ict.uvs is not None and ict.face_uvs.shape == ict.faces.shape
    # metres: a head is about 25 cm wide (ears included) and 34 cm tall with the neck
    extent = (ict.template.max(0).values - ict.template.min(0).values).numpy()
    assert 0.2 < extent[0] < 0.3 and 0.25 < extent[1] < 0.4
    # origin near the head centre
    assert ict.template.mean(0).abs().max() < 0.05
    # all 16 meshes land on ARKit names; ICT's split browInnerUp / cheekPuff halves are summed
    mapped = sorted(n for names in ict.meta["expressions_mapped"].values() for n in names)
    assert mapped == sorted(ICT_FILES)
    assert set(ict.expression_names) == {ict_to_arkit(n) for n in ICT_FILES} - {
        "browInnerUpLeft", "browInnerUpRight", "cheekPuffLeft", "cheekPuffRight"} | {"browInnerUp", "cheekPuff"}
    assert not ict.expression_present[ARKIT_INDEX["tongueOut"]]
    assert ict.expression_basis[ARKIT_INDEX["tongueOut"]].abs().max() == 0


def test_left_means_subject_left(ict):
    # subject's left is +x (morphable.pose); ICT's _L shapes must move +x vertices
    for name in ("eyeBlinkLeft", "mouthSmileLeft", "browDownLeft"):
        move = ict.expression_basis[ARKIT_INDEX[name]].norm(dim=1)
        assert (ict.template[:, 0] * move).sum() > 0, name
        right = ict.expression_basis[ARKIT_INDEX[name.replace("Left", "Right")]].norm(dim=1)
        assert (ict.template[:, 0] * right).sum() < 0, name


def test_landmarks_in_sensible_places(ict):
    lm = ict.landmarks3d(ict.neutral_params())[0]
    assert int(lm[:, 2].argmax()) == 30  # nose tip is the most forward landmark
    assert torch.allclose(lm[36, 0], -lm[45, 0], atol=1e-4) and lm[45, 0] > 0.03  # eye corners
    assert torch.allclose(lm[36, 1:], lm[45, 1:], atol=1e-4)
    assert lm[8, 1] < lm[57, 1] < lm[33, 1] < lm[27, 1]  # chin < lower lip < nose base < bridge
    assert abs(float(lm[8, 0])) < 1e-4 and abs(float(lm[30, 0])) < 1e-4


def test_jaw_open_moves_chin_down(ict):
    p = ict.neutral_params()
    e = torch.zeros(1, 52)
    e[0, ARKIT_INDEX["jawOpen"]] = 1.0
    moved = ict.landmarks3d(p.replace(expression=e))[0] - ict.landmarks3d(p)[0]
    assert moved[8, 1] < -0.02  # centimetres of jaw drop
    assert moved[27, :].abs().max() < 1e-3  # the nose bridge stays (within a millimetre)


def test_identity_modes_change_shape(ict):
    p = ict.neutral_params()
    base = ict.vertices(p)
    for k in (0, 9):
        ident = torch.zeros(1, ict.num_identity)
        ident[0, k] = 1.0
        diff = (ict.vertices(p.replace(identity=ident)) - base)[0]
        assert diff.norm() > 0.005
        assert torch.allclose(diff.norm(), ict.identity_std[k], rtol=1e-4)
    assert (ict.identity_std[0] > ict.identity_std[-1]).item()  # PCA order: decreasing spread


def test_identity_reproduces_the_ict_mesh(ict, ict_dir):
    neutral = read_obj_vertices(ict_dir / "generic_neutral_mesh.obj")[:HEAD_END]
    mesh3 = read_obj_vertices(ict_dir / "identity003.obj")[:HEAD_END]
    ident = torch.zeros(1, ict.num_identity)
    ident[0, 3] = 1.0
    got = ict.shape(ident, torch.zeros(1, 52))[0] - ict.template
    np.testing.assert_allclose(got.numpy(), (mesh3 - neutral) * 0.01, atol=2e-6)


def test_face_region(ict):
    face = ict.region("face")
    assert face.shape == (ict.num_vertices,) and 8000 < int(face.sum()) < 9409  # ICT's face group
    assert bool(face[ict.landmarks].all())
    # the linings dropped from the face group face away from the camera, inside the face
    dropped = ~face[:9409]
    tpl = ict.template[:9409][dropped]
    assert 300 < int(dropped.sum()) < 2000 and float(tpl[:, 0].abs().max()) < 0.05


@pytest.mark.slow
def test_full_model_keeps_all_vertices(ict_dir):
    full = load_ict(ict_dir, head_only=False, num_identity=2)
    assert full.num_vertices == 26719 and full.num_faces == 52220 and full.num_identity == 2


def test_npz_round_trip(ict, tmp_path):
    path = tmp_path / "ict.npz"
    ict.save(path)
    back = load_model(path)
    for key in ("template", "faces", "identity_basis", "identity_std", "expression_basis",
                "expression_present", "landmarks", "uvs", "face_uvs"):
        assert torch.equal(getattr(back, key), getattr(ict, key)), key
    assert torch.equal(back.region("face"), ict.region("face"))
    assert back.meta["expressions_combined"] == ict.meta["expressions_combined"]


def test_bad_requests(ict_dir, tmp_path):
    with pytest.raises(MorphableError, match="identity meshes"):
        load_ict(ict_dir, num_identity=11)
    with pytest.raises(MorphableError, match="not an ICT-FaceKit"):
        load_model(tmp_path)
    with pytest.raises(MorphableError, match="does not take"):
        load_model(ict_dir, landmarks=np.arange(68))
