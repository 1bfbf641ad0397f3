"""`facerig animate` end to end on the committed default rig bundle."""
import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]
BUNDLE = ROOT / "assets" / "rig" / "dcgan64"
pytestmark = [pytest.mark.skipif(not (BUNDLE / "manifest.json").exists(), reason="default rig bundle not built"),
              pytest.mark.usefixtures("single_thread")]


@pytest.fixture
def tracks(tmp_path):
    path = tmp_path / "tracks.json"
    path.write_text(json.dumps({"fps": 10, "duration": 0.9, "interpolation": "smooth", "tracks": [
        {"block": "pose", "name": "yaw", "keys": [[0, -20], [0.9, 20]]},
        {"block": "expression", "name": "jawOpen", "keys": [[0, 0], [0.45, 0.8], [0.9, 0]]},
    ]}))
    return path


def test_animate_writes_video_gltf_and_csv(run_cli, tmp_path, tracks):
    mp4, glb, csv = tmp_path / "a.mp4", tmp_path / "a.glb", tmp_path / "a.csv"
    code, out, err = run_cli("animate", "--seed", "3", "--tracks", tracks, "-o", mp4, "--gltf", glb,
                             "--csv", csv, "--size", "64")
    assert code == 0, err
    frames = np.stack(list(iio.imiter(mp4)))
    assert frames.shape[0] == 10 and frames.shape[1:3] == (64, 64)
    # the face moves: first and last frames (yaw -20 vs +20) differ clearly, neighbours less
    first, last = frames[0].astype(float), frames[-1].astype(float)
    assert np.abs(first - last).mean() > np.abs(first - frames[1].astype(float)).mean()
    assert glb.read_bytes()[:4] == b"glTF"
    header = csv.read_text().splitlines()[0].split(",")   # Live Link Face's layout (tests/rig/cli/test_capture.py)
    assert header[:2] == ["Timecode", "BlendShapeCount"] and "HeadYaw" in header and "JawOpen" in header
    assert len(csv.read_text().splitlines()) == 11


def test_animate_gif_and_png_frames(run_cli, tmp_path, tracks):
    gif, folder = tmp_path / "a.gif", tmp_path / "frames"
    assert run_cli("animate", "--seed", "1", "--tracks", tracks, "-o", gif, "--size", "32")[0] == 0
    assert len(list(iio.imiter(gif))) == 10
    assert run_cli("animate", "--seed", "1", "--tracks", tracks, "-o", folder, "--size", "32")[0] == 0
    assert len(list(folder.glob("frame_*.png"))) == 10


def test_animate_bad_tracks_is_one_line(run_cli, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"fps": 10, "tracks": [{"block": "expression", "name": "jawOpn", "keys": [[0, 1]]}]}))
    out = tmp_path / "x.mp4"
    code, _, err = run_cli("animate", "--seed", "1", "--tracks", bad, "-o", out)
    assert code == 2 and "jawOpen" in err and len(err.strip().splitlines()) == 1 and not out.exists()
    code, _, err = run_cli("animate", "--seed", "1", "--tracks", bad, "-o", tmp_path / "x.avi")
    assert code == 2 and ".mp4" in err
