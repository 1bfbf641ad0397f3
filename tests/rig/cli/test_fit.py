"""`facerig fit` and `facerig track` end to end on renders of known parameters and on noise."""
from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pytest


from tests.morphable.fit_helpers import default_model, render_known

YAWS = np.linspace(-20.0, 20.0, 10)


@pytest.fixture
def cli(run_cli):
    """`facerig ...` in-process (conftest's run_cli)."""
    return run_cli


def test_fit_writes_params_overlay_and_mesh(cli, tmp_path):
    model = default_model()
    img, truth = render_known(model, size=128, seed=11, yaw=15.0, expression={"jawOpen": 0.5})
    photo = tmp_path / "face.png"
    iio.imwrite(photo, img)
    out, overlay, mesh = tmp_path / "p.json", tmp_path / "o.png", tmp_path / "m.obj"
    code, stdout, err = cli("fit", photo, "-o", out, "--overlay", overlay, "--mesh", mesh, "--landmarks-only")
    assert code == 0, err
    rec = json.loads(out.read_text())
    assert abs(rec["pose"]["yaw"] - 15.0) < 5.0
    assert rec["expression"]["jawOpen"] > 0.15
    assert len(rec["identity"]) == model.num_identity
    d = rec["diagnostics"]
    assert d["ok"] and d["landmark_error_iod_pct"] < 10 and len(d["detected_landmarks"]) == 68
    ov = iio.imread(overlay)
    assert ov.shape == img.shape and not np.array_equal(ov, img)
    # detected landmarks are drawn green, fitted ones red
    assert ((ov[..., 1] > 200) & (ov[..., 0] < 80)).any() and ((ov[..., 0] > 200) & (ov[..., 1] < 80)).any()
    text = mesh.read_text()
    assert text.count("\nv ") >= model.num_vertices - 1


def test_fit_rejects_noise_and_non_images(cli, tmp_path):
    noise = tmp_path / "noise.png"
    iio.imwrite(noise, np.random.default_rng(1).integers(0, 256, (96, 96, 3), dtype=np.uint8))
    code, _, err = cli("fit", noise, "-o", tmp_path / "p.json", "--landmarks-only")
    assert code == 2 and err.count("\n") == 1 and "no usable face" in err
    bogus = tmp_path / "notes.png"
    bogus.write_text("not an image")
    code, _, err = cli("fit", bogus, "-o", tmp_path / "p.json")
    assert code == 2 and err.count("\n") == 1 and "not a readable image" in err
    assert not (tmp_path / "p.json").exists()


def _check_track(path, n):
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    head, frames = lines[0], lines[1:]
    assert head["type"] == "header" and head["num_frames"] == n == len(frames)
    yaw = np.array([f["params"]["pose"]["yaw"] for f in frames])
    assert np.corrcoef(yaw, YAWS[:n])[0, 1] > 0.95
    assert all(f["params"]["identity"] == pytest.approx(head["identity"], abs=1e-5) for f in frames)
    return head, frames


def test_track_frame_folder_and_mp4(cli, tmp_path):
    model = default_model()
    frames = [render_known(model, size=96, seed=12, yaw=float(y))[0] for y in YAWS]
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(frames):
        iio.imwrite(folder / f"f{i:03d}.png", f)
    out = tmp_path / "t.jsonl"
    code, _, err = cli("track", folder, "-o", out, "--fps", "10", "--smooth", "savgol")
    assert code == 0, err
    head, recs = _check_track(out, 10)
    assert head["fps"] == 10 and recs[2]["time"] == pytest.approx(0.2)
    video = tmp_path / "clip.mp4"
    iio.imwrite(video, np.stack(frames), plugin="FFMPEG", fps=10)
    out2 = tmp_path / "t2.jsonl"
    code, _, err = cli("track", video, "-o", out2)
    assert code == 0, err
    head, _ = _check_track(out2, 10)
    assert head["fps"] == pytest.approx(10.0)
    code, _, err = cli("track", tmp_path / "missing.mp4", "-o", out2)
    assert code == 2 and "not found" in err
