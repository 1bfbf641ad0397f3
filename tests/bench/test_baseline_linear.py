"""The InterFaceGAN-style linear baseline: recovers known linear attributes, edits, conditions, files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.baseline_linear import LinearEditor, attribute_column, attribute_labels, fit_linear_editor
from rig.errors import RigError

ROOT = Path(__file__).resolve().parents[2]
D = 100


def _truth(seed: int = 0):
    """Two unit directions 60 degrees apart and a latent sample with linear labels + noise."""
    g = np.random.default_rng(seed)
    u1 = g.normal(size=D)
    u1 /= np.linalg.norm(u1)
    v = g.normal(size=D)
    v -= (v @ u1) * u1
    v /= np.linalg.norm(v)
    u2 = 0.5 * u1 + np.sqrt(0.75) * v
    return u1, u2


def _attrs(w: np.ndarray, u1, u2) -> np.ndarray:
    return np.stack([5.0 + 12.0 * w @ u1, 0.3 + 0.1 * w @ u2], 1)


def _fit(n: int = 3000, seed: int = 0):
    u1, u2 = _truth(seed)
    g = np.random.default_rng(seed + 1)
    ws = g.normal(size=(n, 1, D)).astype(np.float32)
    y = _attrs(ws[:, 0].astype(np.float64), u1, u2) + g.normal(scale=[0.5, 0.01], size=(n, 2))
    return fit_linear_editor(ws, y, ["yaw", "jawOpen"]), u1, u2


def test_directions_and_slopes_recover_known_linear_attributes():
    ed, u1, u2 = _fit()
    assert abs(ed.directions[0] @ u1) > 0.995
    assert abs(ed.directions[1] @ u2) > 0.99
    np.testing.assert_allclose(ed.slopes, [12.0, 0.1], rtol=0.03)
    assert abs(ed.intercepts[0] - 5.0) < 0.1 and abs(ed.intercepts[1] - 0.3) < 0.005
    assert (ed.r2 > 0.9).all()


def test_edit_reaches_the_commanded_value_and_conditional_keeps_the_other():
    ed, u1, u2 = _fit()
    ws = torch.randn(16, 1, D, generator=torch.Generator().manual_seed(7))
    before = _attrs(ws[:, 0].double().numpy(), u1, u2)
    targets = torch.linspace(-30, 30, 16)
    free = ed.edit(ws, yaw=targets, conditional=False)
    cond = ed.edit(ws, yaw=targets, conditional=True)
    for out in (free, cond):
        after = _attrs(out[:, 0].double().numpy(), u1, u2)
        np.testing.assert_allclose(after[:, 0], targets.numpy(), atol=0.6)
    jaw_free = _attrs(free[:, 0].double().numpy(), u1, u2)[:, 1] - before[:, 1]
    jaw_cond = _attrs(cond[:, 0].double().numpy(), u1, u2)[:, 1] - before[:, 1]
    assert np.abs(jaw_free).max() > 0.05          # correlated directions: a plain yaw step opens the jaw
    assert np.abs(jaw_cond).max() < 0.005         # the conditional step holds it
    # the conditional step is along u1 projected orthogonal to u2 (InterFaceGAN's formula)
    step = (cond - ws)[:, 0].double().numpy()
    proj = u1 - (u1 @ u2) * u2
    proj /= np.linalg.norm(proj)
    cos = np.abs(step @ proj) / np.linalg.norm(step, axis=1)
    assert cos.min() > 0.99


def test_relative_and_current_values_and_multi_attribute_edits():
    ed, u1, u2 = _fit()
    ws = torch.randn(8, 1, D, generator=torch.Generator().manual_seed(3))
    pred = ed.predict(ws)
    rel = ed.predict(ed.edit(ws, yaw=10.0, relative=True))
    torch.testing.assert_close(rel["yaw"] - pred["yaw"], torch.full((8,), 10.0), atol=1e-4, rtol=0)
    cur = {"yaw": pred["yaw"] + 4.0}          # someone else measures 4 deg more than the linear model
    out = ed.predict(ed.edit(ws, yaw=0.0, current=cur))
    torch.testing.assert_close(out["yaw"], torch.full((8,), -4.0), atol=1e-4, rtol=0)
    both = ed.predict(ed.edit(ws, yaw=20.0, expression={"jawOpen": 0.8}))
    torch.testing.assert_close(both["yaw"], torch.full((8,), 20.0), atol=1e-3, rtol=0)
    torch.testing.assert_close(both["jawOpen"], torch.full((8,), 0.8), atol=1e-5, rtol=0)
    torch.testing.assert_close(ed.edit(ws), ws)
    # a capped step keeps its direction and stops at the cap
    free = ed.edit(ws, yaw=60.0) - ws
    capped = ed.edit(ws, yaw=60.0, max_step=1.5) - ws
    norms = capped[:, 0].norm(dim=1)
    assert float(norms.max()) <= 1.5 + 1e-5 and float(free[:, 0].norm(dim=1).min()) > 1.5
    cos = (capped[:, 0] * free[:, 0]).sum(1) / (norms * free[:, 0].norm(dim=1))
    torch.testing.assert_close(cos, torch.ones(8), atol=1e-5, rtol=0)


def test_multi_layer_latents_move_every_layer_alike():
    u1, u2 = _truth(1)
    g = np.random.default_rng(2)
    w = g.normal(size=(2000, D))
    ws = np.repeat(w[:, None], 4, 1)
    ed = fit_linear_editor(ws, _attrs(w, u1, u2), ["pitch", "eyeBlinkLeft"])
    x = torch.tensor(ws[:5], dtype=torch.float32)
    out = ed.edit(x, pitch=-15.0)
    delta = out - x
    torch.testing.assert_close(delta, delta[:, :1].expand_as(delta))
    torch.testing.assert_close(ed.predict(out)["pitch"], torch.full((5,), -15.0), atol=1e-3, rtol=0)


def test_save_load_round_trip_and_bad_input(tmp_path):
    ed, _, _ = _fit(500)
    path = tmp_path / "dirs.npz"
    ed.save(path)
    back = LinearEditor.load(path)
    assert back.names == ed.names and (back.num_ws, back.w_dim) == (1, D)
    np.testing.assert_array_equal(back.gradients, ed.gradients)
    ws = torch.randn(2, 1, D)
    torch.testing.assert_close(back.edit(ws, yaw=3.0), ed.edit(ws, yaw=3.0))
    with pytest.raises(RigError, match="no direction"):
        ed.edit(ws, expression={"mouthPucker": 0.5})
    with pytest.raises(RigError, match="unknown ARKit"):
        ed.edit(ws, expression={"smile": 0.5})
    with pytest.raises(RigError, match="ws must be"):
        ed.edit(torch.randn(2, D), yaw=1.0)
    with pytest.raises(RigError, match="light"):
        ed.edit(ws, light="left")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(RigError, match="not a linear-directions"):
        LinearEditor.load(tmp_path / "other.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(RigError, match="cannot read"):
        LinearEditor.load(tmp_path / "junk.npz")


def test_labels_come_from_the_flat_parameter_layout():
    from morphable.params import FaceParams

    p = FaceParams.neutral(3, k_id=52).with_pose(yaw=12.0, pitch=-4.0).with_expression({"jawOpen": 0.7})
    lab = attribute_labels(p.to_vector(), ["yaw", "pitch", "jawOpen", "eyeBlinkLeft"], k_id=52)
    np.testing.assert_allclose(lab, np.tile([12.0, -4.0, 0.7, 0.0], (3, 1)), atol=1e-6)
    assert attribute_column("yaw", 52) == 52 + 52
    with pytest.raises(RigError, match="unknown attribute"):
        attribute_column("smile", 52)


# ---- real data: the packaged DCGAN, fitted labels -------------------------------------------------
@pytest.fixture(scope="module")
def real_pairs():
    """128 generated faces of the packaged DCGAN with 3DMM fits (landmark stage), and its generator."""
    from gan.dcgan import default_weights_path, load_dcgan
    from gan.errors import GanError
    from morphable.formats import load_model
    from rig.training.training_pairs import make_pairs

    try:
        default_weights_path()
    except GanError as exc:
        pytest.skip(str(exc))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        G, model = load_dcgan(), load_model("default")
        pairs = make_pairs(G, model, 128, seed=3, light=False, progress=False)
    finally:
        torch.set_num_threads(before)
    return G, model, pairs


def _yaw_editor(pairs) -> LinearEditor:
    lab = attribute_labels(pairs["params"], ["yaw", "pitch", "jawOpen"], k_id=52)
    return fit_linear_editor(pairs["ws"], lab, ["yaw", "pitch", "jawOpen"], ok=pairs["ok"], ridge=10.0)


def test_real_yaw_edit_turns_the_generated_face_as_commanded(real_pairs):
    """Directions fit on 128 fitted DCGAN faces: +-20 deg edits, re-measured by fitting the new images."""
    from morphable.fit import Fitter
    from rig.training.training_pairs import sample_latents

    G, model, pairs = real_pairs
    assert pairs["ok"].sum() >= 80
    ed = _yaw_editor(pairs)
    assert ed.r2[0] > 0.5
    ws = sample_latents(G, 24, seed=99)
    with torch.no_grad():
        left = G.synthesis(ed.edit(ws, yaw=-20.0, relative=True))
        right = G.synthesis(ed.edit(ws, yaw=20.0, relative=True))
    fitter = Fitter(model)
    a, b = fitter(left, photometric=False), fitter(right, photometric=False)
    both = np.array(a.ok) & np.array(b.ok)
    assert both.sum() >= 8
    turn = (b.params.yaw - a.params.yaw).numpy()[both]
    assert (turn > 0).mean() >= 0.9
    assert 20.0 < turn.mean() < 60.0         # commanded 40 deg apart


def test_real_yaw_edit_moves_the_estimators_yaw(real_pairs):
    """With the committed rig's estimator: the linear yaw edit moves the estimator's yaw as commanded."""
    from rig.estimator import load_estimator
    from rig.training.training_pairs import sample_latents

    est_path = ROOT / "assets" / "rig" / "dcgan64" / "estimator.safetensors"
    if not est_path.is_file():
        pytest.skip(f"needs the trained estimator {est_path}")
    G, _, pairs = real_pairs
    est = load_estimator(est_path)
    ed = _yaw_editor(pairs)
    ws = sample_latents(G, 64, seed=98)
    with torch.no_grad():
        now = est.params(ws).yaw
        out = est.params(ed.edit(ws, yaw=15.0, current={"yaw": now}))
        back = est.params(ed.edit(ws, yaw=-15.0, current={"yaw": now}))
    assert ((out.yaw - back.yaw) > 0).float().mean() >= 0.9
    assert (out.yaw - back.yaw).mean() > 10.0
