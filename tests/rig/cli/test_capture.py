"""Performance capture end to end: `facerig track --csv` and `facerig animate --csv` write Live Link Face's
CSV, `facerig animate --tracks TAKE.csv` plays one back, and a bad CSV is one error line (exit 2)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from morphable.livelink import HEADER, read_livelink
from tests.morphable.fit_helpers import default_model, render_known
from tests.morphable.test_livelink import livelink_rules

ROOT = Path(__file__).resolve().parents[3]
BUNDLE = ROOT / "assets" / "rig" / "dcgan64"
needs_bundle = pytest.mark.skipif(not (BUNDLE / "manifest.json").exists(), reason="default rig bundle not built")
pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def tracks(tmp_path):
    """1.5 s at 10 fps (so the CSV's timecode passes a whole second): a turn, a nod, a blink, a glance."""
    path = tmp_path / "tracks.json"
    path.write_text(json.dumps({"fps": 10, "duration": 1.5, "tracks": [
        {"block": "pose", "name": "yaw", "keys": [[0, -20], [1.5, 20]]},
        {"block": "pose", "name": "pitch", "keys": [[0, 5], [1.5, -5]]},
        {"block": "expression", "name": "jawOpen", "keys": [[0, 0], [0.7, 0.8], [1.5, 0]]},
        {"block": "expression", "name": "eyeBlinkRight", "keys": [[0.5, 0], [0.6, 1], [0.7, 0]]},
        {"block": "expression", "name": "eyeLookOutLeft", "keys": [[0, 0], [1.5, 0.5]]},
    ]}))
    return path


@needs_bundle
def test_animate_csv_round_trip(run_cli, tmp_path, tracks):
    a_csv, b_csv, glb = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "b.glb"
    code, out, err = run_cli("animate", "--seed", "3", "--tracks", tracks, "-o", tmp_path / "a.gif",
                             "--csv", a_csv, "--size", "32")
    assert code == 0, err
    text = a_csv.read_text()
    assert livelink_rules(text) == [] and text.count("\n") == 17 and "Live Link Face CSV, 16 rows" in out
    take = read_livelink(a_csv)
    assert take.rate == 10 and take.fps == 10
    assert np.allclose(take.rotations[:, 0], np.radians(np.linspace(-20, 20, 16)), atol=1e-9)   # HeadYaw
    # the CSV plays back as tracks, and writes itself again byte for byte
    code, _, err = run_cli("animate", "--seed", "3", "--tracks", a_csv, "-o", tmp_path / "b.gif", "--csv", b_csv,
                           "--gltf", glb, "--size", "32")
    assert code == 0, err
    assert b_csv.read_bytes() == a_csv.read_bytes()
    assert iio.imread(tmp_path / "b.gif", index=None).shape[0] == 16
    assert glb.read_bytes()[:4] == b"glTF"


@needs_bundle
@pytest.mark.parametrize("damage, message", [
    (lambda rows: [r[:-3] for r in rows], "missing column(s) RightEyeYaw, RightEyePitch, RightEyeRoll"),
    (lambda rows: rows[:2] + [rows[2][:19] + ["0.4x"] + rows[2][20:]] + rows[3:], "'0.4x' is not a number"),
    (lambda rows: rows[:1] + [[r[0], "52"] + r[2:] for r in rows[1:]], "BlendShapeCount is '52', expected 61"),
])
def test_animate_refuses_a_bad_csv_in_one_line(run_cli, tmp_path, tracks, damage, message):
    good = tmp_path / "good.csv"
    assert run_cli("animate", "--seed", "1", "--tracks", tracks, "-o", tmp_path / "x.gif", "--csv", good,
                   "--size", "16")[0] == 0
    bad = tmp_path / "bad.csv"
    rows = damage(list(csv.reader(good.open())))
    bad.write_text("\n".join(",".join(r) for r in rows) + "\n")
    out = tmp_path / "y.gif"
    code, _, err = run_cli("animate", "--seed", "1", "--tracks", bad, "-o", out, "--csv", tmp_path / "y.csv")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not (tmp_path / "y.csv").exists()


@needs_bundle
def test_animate_short_csv_needs_its_rate(run_cli, tmp_path):
    short = tmp_path / "short.json"
    short.write_text(json.dumps({"fps": 10, "tracks": [{"block": "pose", "name": "yaw", "keys": [[0, 0], [0.5, 9]]}]}))
    take = tmp_path / "take.csv"
    assert run_cli("animate", "--seed", "1", "--tracks", short, "-o", tmp_path / "a.gif", "--csv", take,
                   "--size", "16")[0] == 0
    code, _, err = run_cli("animate", "--seed", "1", "--tracks", take, "-o", tmp_path / "b.gif", "--size", "16")
    assert code == 2 and "--fps" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli("animate", "--seed", "1", "--tracks", take, "--fps", "10", "-o", tmp_path / "b.gif",
                           "--size", "16")
    assert code == 0, err
    assert iio.imread(tmp_path / "b.gif", index=None).shape[0] == 6


def test_track_writes_a_take_with_the_head_turn(run_cli, tmp_path):
    """Renders of a known head turn, tracked: HeadYaw follows the turn in radians with ARKit's sign."""
    model = default_model()
    yaws = np.linspace(-20.0, 20.0, 12)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, y in enumerate(yaws):
        iio.imwrite(folder / f"f{i:03d}.png", render_known(model, size=96, seed=12, yaw=float(y), pitch=8.0)[0])
    take = tmp_path / "take.csv"
    code, out, err = run_cli("track", folder, "--csv", take, "--fps", "24", "--smooth", "none")
    assert code == 0, err
    assert livelink_rules(take.read_text()) == [] and "wrote" in out
    rows = list(csv.reader(take.open()))
    assert tuple(rows[0]) == HEADER and len(rows) == 13 and rows[1][0] == "00:00:00:00.000"
    head = np.array([[float(x) for x in r[-9:-6]] for r in rows[1:]])
    assert np.corrcoef(head[:, 0], np.radians(yaws))[0, 1] > 0.95
    assert np.abs(head[:, 0] - np.radians(yaws)).max() < np.radians(6)
    assert np.median(head[:, 1]) < 0   # chin up 8 deg: ARKit's pitch is positive down
    code, _, err = run_cli("track", folder)
    assert code == 2 and "give an output" in err


@needs_bundle
def test_animate_plays_facerigs_own_csv(run_cli, tmp_path, tracks):
    from morphable.animation import load_tracks

    own = load_tracks(tracks).to_csv(tmp_path / "own.csv")   # time,yaw,pitch,...: not Live Link Face's layout
    take = tmp_path / "take.csv"
    code, _, err = run_cli("animate", "--seed", "2", "--tracks", own, "-o", tmp_path / "a.gif", "--csv", take,
                           "--size", "16")
    assert code == 0, err
    direct = tmp_path / "direct.csv"
    assert run_cli("animate", "--seed", "2", "--tracks", tracks, "-o", tmp_path / "b.gif", "--csv", direct,
                   "--size", "16")[0] == 0
    assert take.read_bytes() == direct.read_bytes()
