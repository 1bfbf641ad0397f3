"""`facerig reenact` end to end on the committed rig bundle with a driver rendered from known params."""
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from morphable.animation import load_tracks
from morphable.clip import demo_tracks, render_clip
from morphable.transfer import transfer
from tests.morphable.fit_helpers import default_model

ROOT = Path(__file__).resolve().parents[3]
BUNDLE = ROOT / "assets" / "rig" / "dcgan64"
needs_bundle = pytest.mark.skipif(not (BUNDLE / "manifest.json").exists(), reason="default rig bundle not built")


@pytest.fixture(scope="module")
def driver_dir(tmp_path_factory):
    frames, params = render_clip(default_model(), demo_tracks(), size=128)
    folder = tmp_path_factory.mktemp("driver")
    for i, f in enumerate(frames[:12]):
        iio.imwrite(folder / f"{i:03d}.png", f)
    return folder, params[:12]


def test_relative_transfer_keeps_the_source_neutral():
    model = default_model()
    src = model.random_params(1, seed=1).with_pose(yaw=10).with_expression({"mouthSmileLeft": 0.3})
    drv = model.random_params(3, seed=2)
    drv.pose[:, 0] = torch.tensor([5.0, 15.0, -5.0])
    drv.expression[:, 17] = torch.tensor([0.1, 0.6, 0.1])
    rel = transfer(src, drv, ["pose", "expression"], relative=True)
    assert rel.yaw.tolist() == pytest.approx([10.0, 20.0, 0.0])          # source yaw + driver motion
    assert rel.expression[:, 17].tolist() == pytest.approx([0.0, 0.5, 0.0])
    assert rel.expression_dict(0)["mouthSmileLeft"] == pytest.approx(0.3)  # source's own smile kept
    ab = transfer(src, drv, ["pose"], relative=False)
    assert ab.yaw.tolist() == pytest.approx([5.0, 15.0, -5.0])
    assert torch.equal(ab.identity, src.identity.expand(3, -1))


@needs_bundle
@pytest.mark.usefixtures("single_thread")
def test_reenact_writes_video_and_tracks(run_cli, tmp_path, driver_dir):
    folder, params = driver_dir
    out, tracks = tmp_path / "r.mp4", tmp_path / "t.json"
    code, msg, err = run_cli("reenact", "--seed", "4", "--driver", folder, "-o", out, "--side-by-side",
                             "--tracks-out", tracks, "--fps", "10", "--size", "64")
    assert code == 0, err
    assert "frames (dlib)" in msg        # the default bundle was labelled with dlib: the driver is tracked with it
    frames = np.stack(list(iio.imiter(out)))
    assert frames.shape == (12, 64, 128, 3)                 # driver | result
    t = load_tracks(tracks)
    assert t.num_frames == 12 and {"yaw", "jawOpen"} <= {c.name for c in t.channels}
    # the driver opens its jaw around frame 5: the commanded jawOpen follows
    jaw = t.channel("jawOpen").values
    assert jaw[4:7].max() > jaw[0] + 0.3


@needs_bundle
@pytest.mark.usefixtures("single_thread")
def test_reenact_landmarks_flag_overrides_the_bundles_backend(run_cli, tmp_path, driver_dir):
    from morphable.landmarks_mp import mediapipe_importable

    if not mediapipe_importable():
        pytest.skip("mediapipe not importable")
    folder, _ = driver_dir
    code, msg, err = run_cli("reenact", "--seed", "4", "--driver", folder, "-o", tmp_path / "frames",
                             "--max-frames", "3", "--size", "32", "--landmarks", "mediapipe")
    assert code == 0, err
    assert "driver face found in 3/3 frames (mediapipe)" in msg
    assert len(list((tmp_path / "frames").glob("*.png"))) == 3


@needs_bundle
def test_reenact_errors_are_one_line(run_cli, tmp_path, driver_dir):
    folder, _ = driver_dir
    code, _, err = run_cli("reenact", "--seed", "1", "--driver", tmp_path / "none", "-o", tmp_path / "x.mp4")
    assert code == 2 and "driver not found" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli("reenact", "--seed", "1", "--driver", folder, "--blocks", "expression,hair",
                           "-o", tmp_path / "x.mp4")
    assert code == 2 and "--blocks" in err
    not_image = tmp_path / "photo.png"
    not_image.write_text("not an image")
    code, _, err = run_cli("reenact", "--photo", not_image, "--driver", folder, "-o", tmp_path / "x.mp4")
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
