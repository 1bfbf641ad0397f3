"""FaceRig on the real DCGAN and the committed default bundle: edits move F's estimate as commanded."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from morphable.arkit import expression_index
from morphable.params import FaceParams
from rig.errors import RigError
from rig.face_rig import FaceRig, default_bundle

SEEDS = list(range(16))


@pytest.fixture(scope="module")
def rig():
    if not (default_bundle() / "manifest.json").is_file():
        pytest.skip("the default rig bundle is not built")
    return FaceRig.load(default_bundle())


@pytest.fixture(scope="module")
def ws(rig):
    return rig.sample(SEEDS)


def test_sample_image_and_determinism(rig, ws):
    assert ws.shape == (len(SEEDS), 1, 100)
    assert torch.equal(rig.sample(SEEDS[3]), ws[3:4])
    img = rig.image(ws[:2])
    assert img.shape == (2, 3, 64, 64) and img.min() >= -1 and img.max() <= 1
    u8 = rig.to_uint8(img)
    assert u8.shape == (2, 64, 64, 3) and u8.dtype == np.uint8
    assert np.array_equal(u8, rig.to_uint8(rig.image(ws[:2])))


def test_no_change_edit_keeps_the_latent(rig, ws):
    same = rig.rignet(ws, rig.target(ws))
    assert (same - ws).norm(dim=-1).mean() < 0.1 * ws.norm(dim=-1).mean()


def test_yaw_edit_moves_estimated_yaw_toward_the_command(rig, ws):
    before = rig.params(ws)
    for cmd in (20.0, -20.0):
        after = rig.params(rig.edit(ws, yaw=cmd))
        assert (after.yaw - cmd).abs().mean() < (after.yaw - 0.0).abs().mean()
        assert (after.yaw - cmd).abs().mean() < (before.yaw - cmd).abs().mean()


def test_jaw_open_edit_raises_estimated_jaw_open(rig, ws):
    j = expression_index("jawOpen")
    before = rig.params(ws).expression[:, j]
    after = rig.params(rig.edit(ws, expression={"jawOpen": 1.0})).expression[:, j]
    jaw_std = rig.estimator.target_std[52 + j]       # how much jawOpen varies over generated faces
    assert (after - before).mean() > 0.5 * jaw_std
    assert (after > before).float().mean() >= 0.9


def test_non_edited_blocks_drift_little(rig, ws):
    std = rig.estimator.target_std
    before = rig.estimator(ws)
    after = rig.estimator(rig.edit(ws, yaw=20.0))
    lay = FaceParams.layout(rig.k_id)
    for name in ("identity", "expression", "light"):
        drift = ((after[:, lay[name]] - before[:, lay[name]]) / std[lay[name]]).abs().mean()
        assert drift < 0.5, (name, float(drift))


def test_relative_edits_and_other_blocks(rig, ws):
    t = rig.target(ws[:2], yaw=5.0, relative=True)
    base = rig.estimator(ws[:2])
    assert torch.allclose(t[:, 104], base[:, 104] + 5.0)
    t = rig.target(ws[:2], light="left", expression={"mouthSmileLeft": 0.7})
    p = FaceParams.from_vector(t, rig.k_id)
    assert torch.allclose(p.expression[:, expression_index("mouthSmileLeft")], torch.tensor(0.7))
    assert not torch.allclose(p.light, FaceParams.from_vector(base, rig.k_id).light)
    with pytest.raises(RigError, match="did you mean jawOpen"):
        rig.edit(ws[:1], expression={"jawopen": 1.0})
    with pytest.raises(RigError, match="latent must be"):
        rig.edit(torch.zeros(1, 2, 100), yaw=3.0)


def test_bundle_errors(tmp_path):
    with pytest.raises(RigError, match="no rig bundle"):
        FaceRig.load(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(RigError, match="cannot read"):
        FaceRig.load(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(RigError, match="not a facerig rig bundle"):
        FaceRig.load(tmp_path)


def test_bundle_missing_weights(rig, tmp_path):
    shutil.copy(default_bundle() / "manifest.json", tmp_path / "manifest.json")
    with pytest.raises(RigError, match="missing its estimator"):
        FaceRig.load(tmp_path / "manifest.json")


def test_moved_parameter_helpers_keep_their_rig_names():
    """set_pose_and_expression (morphable.params) and transfer / check_blocks (morphable.transfer) are still
    importable from rig.face_rig and rig.reenact; the rig's name turns a bad expression into a RigError."""
    import morphable.transfer
    import rig.reenact
    from rig.face_rig import set_pose_and_expression

    assert rig.reenact.transfer is morphable.transfer.transfer
    assert rig.reenact.check_blocks is morphable.transfer.check_blocks
    p = set_pose_and_expression(FaceParams.neutral(1), yaw=10, expression={"jawOpen": 0.5})
    assert float(p.pose[0, 0]) == 10.0 and float(p.expression[0, expression_index("jawOpen")]) == 0.5
    with pytest.raises(RigError, match="did you mean jawOpen"):
        set_pose_and_expression(FaceParams.neutral(1), expression={"jawOpne": 1.0})
