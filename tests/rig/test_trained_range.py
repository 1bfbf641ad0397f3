"""Trained range: F's label range stored with the bundle, clamping in reenactment, warnings for edits."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from morphable.arkit import expression_index
from morphable.clip import demo_tracks, render_clip
from morphable.params import FaceParams
from rig.errors import RigError
from rig.estimator import TrainedRange
from tests.morphable.fit_helpers import default_model

BUNDLE = Path(__file__).resolve().parents[2] / "assets" / "rig" / "dcgan64"
needs_bundle = pytest.mark.skipif(not (BUNDLE / "manifest.json").is_file(), reason="default rig bundle not built")
JAW, BLINK = 52 + expression_index("jawOpen"), 52 + expression_index("eyeBlinkLeft")


def _labels(n: int = 400, seed: int = 0) -> torch.Tensor:
    """Label-like flat params: yaw uniform in -30..30, jawOpen uniform in 0..0.5, the rest small noise."""
    g = torch.Generator().manual_seed(seed)
    p = 0.01 * torch.randn(n, 137, generator=g)
    p[:, 104] = torch.rand(n, generator=g) * 60 - 30
    p[:, JAW] = torch.rand(n, generator=g) * 0.5
    return p


def test_range_from_labels_is_the_percentiles_and_round_trips():
    tr = TrainedRange.from_labels(_labels(), source="synthetic")
    assert tr.bounds("yaw") == pytest.approx((-27.0, 27.0), abs=1.5)          # 5th / 95th pct of U(-30, 30)
    assert tr.bounds("jawOpen") == pytest.approx((0.025, 0.475), abs=0.02)
    assert tr.bounds("eyeBlinkLeft")[0] >= 0.0                                # weights read inside [0, 1]
    back = TrainedRange.from_dict(json.loads(json.dumps(tr.to_dict())))
    assert torch.allclose(back.low, tr.low, atol=1e-5) and back.source == "synthetic" and back.n == 400
    for bad in ({"low": [0.0] * 3, "high": [1.0] * 3}, {"low": [1.0] * 137, "high": [0.0] * 137}, {"high": []}):
        with pytest.raises(RigError):
            TrainedRange.from_dict(bad)


def test_clamp_bounds_pose_and_expression_only_and_keeps_the_source():
    tr = TrainedRange.from_labels(_labels())
    p = FaceParams.from_vector(torch.zeros(3, 137), 52)
    p.pose[:, 0] = torch.tensor([-60.0, 10.0, 60.0])
    p.pose[:, 3:] = 5.0                                     # translation: never clamped
    p.expression[:, JAW - 52] = torch.tensor([0.9, 0.2, 0.0])
    p.light[:] = 3.0                                        # light: not a clamped block
    out = tr.clamp(p)
    lo, hi = tr.bounds("yaw")
    assert out.yaw.tolist() == pytest.approx([lo, 10.0, hi])
    assert out.expression[:, JAW - 52].tolist() == pytest.approx([tr.bounds("jawOpen")[1], 0.2, tr.bounds("jawOpen")[0]])
    assert torch.equal(out.pose[:, 3:], p.pose[:, 3:]) and torch.equal(out.light, p.light)
    assert torch.equal(tr.clamp(p, ["pose"]).expression, p.expression)      # only the named blocks
    # a source already outside the range is not pulled in: bounds widen to include it
    src = FaceParams.from_vector(torch.zeros(1, 137), 52)
    src.pose[:, 0] = 45.0
    assert tr.clamp(p, keep=src).yaw.tolist() == pytest.approx([lo, 10.0, 45.0])


@pytest.fixture(scope="module")
def rig():
    if not (BUNDLE / "manifest.json").is_file():
        pytest.skip("default rig bundle not built")
    from rig.face_rig import FaceRig

    return FaceRig.load(BUNDLE)


@needs_bundle
def test_default_bundle_stores_its_training_labels_range(rig):
    tr = rig.trained_range
    assert tr is not None and "fitted pairs" in tr.source and tr.percentiles == (5.0, 95.0)
    lo, hi = tr.bounds("yaw")
    assert lo < -20 and hi > 20                             # generated faces turn both ways
    assert 0.1 < tr.bounds("jawOpen")[1] < 0.4              # jaw and blinks: narrow, far below 1
    assert 0.1 < tr.bounds("eyeBlinkLeft")[1] < 0.4
    assert rig.range_warning(yaw=10.0, expression={"jawOpen": 0.1}) is None
    line = rig.range_warning(yaw=50.0, expression={"jawOpen": 0.1, "eyeBlinkLeft": 1.0})
    assert line.startswith("warning:") and "\n" not in line
    assert "yaw=50" in line and "eyeBlinkLeft=1" in line and "jawOpen" not in line
    assert rig.range_warning(sweep=("yaw", [-10.0, 0.0, 10.0])) is None
    assert "jawOpen=1 " in rig.range_warning(sweep=("jawOpen", [0.0, 0.5, 1.0]))


@needs_bundle
def test_reenact_clamps_a_full_blink_and_keeps_frame_zero(rig):
    from rig.reenact import reenact

    _, known = render_clip(default_model(), demo_tracks(), size=64)      # known driver: jaw 0.7, blink 1
    ws = rig.sample(3)
    source = rig.params(ws)
    on = reenact(rig, ws, known, ["expression", "pose"], progress=False)
    off = reenact(rig, ws, known, ["expression", "pose"], progress=False, clamp=False)
    hi = max(rig.trained_range.bounds("eyeBlinkLeft")[1], float(source.expression[0, BLINK - 52]))
    assert float(off.targets.expression[:, BLINK - 52].max()) > 0.9          # unclamped: the full blink
    assert float(on.targets.expression[:, BLINK - 52].max()) <= hi + 1e-6
    assert torch.equal(off.targets.to_vector(), on.transferred.to_vector())   # the clamp's input is kept
    assert 0.0 < on.clamped <= 1.0 and off.clamped == 0.0
    # the driver's frame 0 is near neutral: both start at the source's own reading
    assert torch.allclose(on.targets[0].to_vector(), source.to_vector(), atol=0.05)
    assert not np.array_equal(on.frames, off.frames)


@needs_bundle
def test_write_bundle_carries_the_estimator_range(tmp_path):
    from rig.bundle import write_bundle
    from rig.estimator import Estimator
    from rig.face_rig import FaceRig
    from rig.rignet import RigNet

    est = Estimator(1, 100, hidden=8, depth=1)
    est.info = {"trained_range": TrainedRange.from_labels(_labels(), source="unit test").to_dict()}
    write_bundle(tmp_path / "b", "dcgan", est, RigNet(1, 100, code=4, hidden=8), kind="dcgan")
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["trained_range"]["source"] == "unit test"
    rig = FaceRig.load(tmp_path / "b")
    assert rig.trained_range.bounds("jawOpen")[1] == pytest.approx(0.475, abs=0.02)
    manifest["trained_range"]["low"] = [0.0]                     # a damaged range: one clear error
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RigError, match="trained_range"):
        FaceRig.load(tmp_path / "b")


@needs_bundle
def test_bundle_records_the_landmark_backend_and_checks_the_range_size(tmp_path):
    from rig.bundle import write_bundle
    from rig.estimator import Estimator
    from rig.face_rig import FaceRig
    from rig.rignet import RigNet

    assert json.loads((BUNDLE / "manifest.json").read_text())["landmarks"] == "dlib"   # what it was trained on
    est = Estimator(1, 100, hidden=8, depth=1)
    est.info = {"landmarks": "mediapipe"}
    write_bundle(tmp_path / "b", "dcgan", est, RigNet(1, 100, code=4, hidden=8), kind="dcgan")
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["landmarks"] == "mediapipe" and FaceRig.load(tmp_path / "b").landmarks == "mediapipe"
    del manifest["landmarks"]                                   # bundles before the field: dlib
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(manifest))
    assert FaceRig.load(tmp_path / "b").landmarks == "dlib"
    manifest["landmarks"] = "auto"                              # must name the backend that was used
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RigError, match="'landmarks' must be one of"):
        FaceRig.load(tmp_path / "b")
    del manifest["landmarks"]
    k40 = torch.zeros(20, FaceParams.flat_size(40))            # a range for another identity basis
    manifest["trained_range"] = TrainedRange.from_labels(k40, k_id=40, source="other").to_dict()
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RigError, match=r"bundle .*b: the trained range in its manifest is for k_id=40"):
        FaceRig.load(tmp_path / "b")


@needs_bundle
def test_range_for_stores_predictions_range_without_pairs(tmp_path, capsys):
    from rig.face_rig import FaceRig
    from rig.cli import main

    folder = tmp_path / "copy"
    shutil.copytree(BUNDLE, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["trained_range"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert FaceRig.load(folder).trained_range is None
    assert main(["rig", "range", str(folder)]) == 0
    tr = FaceRig.load(folder).trained_range
    assert "predictions on 10000" in tr.source and tr.n == 10000
    assert -40 < tr.bounds("yaw")[0] < -10 and 10 < tr.bounds("yaw")[1] < 40
    assert main(["rig", "range", str(tmp_path / "none")]) == 2
    assert "no rig bundle" in capsys.readouterr().err


@needs_bundle
@pytest.mark.usefixtures("single_thread")
def test_cli_reenact_clamps_by_default_and_no_clamp_opts_out(run_cli, tmp_path):
    import imageio.v3 as iio

    frames, _ = render_clip(default_model(), demo_tracks(), size=128)
    folder = tmp_path / "driver"
    folder.mkdir()
    for i in (0, 5, 27):                                 # neutral, jaw open at yaw, the full blink
        iio.imwrite(folder / f"{i:03d}.png", frames[i])
    outs = {}
    for flag in ([], ["--no-clamp"]):
        out = tmp_path / f"r{len(flag)}"
        code, msg, err = run_cli("reenact", "--seed", "4", "--driver", folder, "-o", out, "--fps", "10",
                                 "--size", "64", *flag)
        assert code == 0, err
        outs[bool(flag)] = (msg, np.stack([iio.imread(p) for p in sorted(out.glob("*.png"))]))
    assert "clamped to the trained range in" in outs[False][0]
    assert "not clamped (--no-clamp)" in outs[True][0]
    assert outs[False][1].shape == outs[True][1].shape == (3, 64, 64, 3)
    assert np.abs(outs[False][1][2].astype(int) - outs[True][1][2]).mean() > 1.0   # the blink frame differs
