"""`facerig edit`: single edits and sweeps write images; user mistakes give one line and exit 2."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from rig.face_rig import default_bundle


@pytest.fixture(autouse=True)
def _bundle():
    if not (default_bundle() / "manifest.json").is_file():
        pytest.skip("the default rig bundle is not built")


def test_edit_writes_the_edited_face(run_cli, tmp_path):
    out = tmp_path / "e.png"
    code, stdout, err = run_cli("edit", "--seed", "3", "--yaw", "20", "--expression", "jawOpen=0.8", "-o", out)
    assert code == 0, err
    img = np.asarray(Image.open(out))
    assert img.shape == (512, 512, 3) and img.std() > 5   # the 64 px face upscaled (rig.engine.generated.MIN_SIDE)
    code, _, _ = run_cli("edit", "--seed", "3", "--yaw", "20", "--expression", "jawOpen=0.8", "-o", tmp_path / "f.png")
    assert np.array_equal(img, np.asarray(Image.open(tmp_path / "f.png")))   # deterministic


def test_edit_warns_once_outside_the_trained_range(run_cli, tmp_path):
    code, _, err = run_cli("edit", "--seed", "3", "--expression", "jawOpen=0.9", "-o", tmp_path / "w.png")
    assert code == 0 and (tmp_path / "w.png").is_file()
    lines = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(lines) == 1 and "jawOpen=0.9" in lines[0]
    code, _, err = run_cli("edit", "--seed", "3", "--yaw", "5", "-o", tmp_path / "q.png")
    assert code == 0 and "warning:" not in err


def test_sweep_writes_a_grid(run_cli, tmp_path):
    out = tmp_path / "s.png"
    code, stdout, err = run_cli("edit", "--seed", "1", "--sweep", "yaw=-30:30:5", "-o", out)
    assert code == 0, err
    grid = np.asarray(Image.open(out))
    assert grid.shape[1] >= 6 * 512 and "5 edits" in stdout   # each face upscaled to 512 px
    tiles = [grid[4:516, x:x + 512] for x in range(4, 6 * 516, 516)]
    assert not np.array_equal(tiles[1], tiles[-1])


def test_edit_from_a_latent_file(run_cli, tmp_path):
    from rig.face_rig import FaceRig

    ws = FaceRig.load(default_bundle()).sample(2).numpy()
    np.savez(tmp_path / "ok.npz", ws=ws)
    code, _, err = run_cli("edit", "--latent", tmp_path / "ok.npz", "--pitch", "10", "-o", tmp_path / "l.png")
    assert code == 0, err
    np.savez(tmp_path / "bad.npz", ws=np.zeros((1, 3, 100), np.float32))
    code, _, err = run_cli("edit", "--latent", tmp_path / "bad.npz", "--pitch", "10", "-o", tmp_path / "l.png")
    assert code == 2 and "latent must be" in err


@pytest.mark.parametrize("args, message", [
    (["--expression", "jawOpn=1"], "did you mean jawOpen"),
    (["--yaw", "95"], "out of range"),
    (["--expression", "jawOpen=1.5"], "out of range"),
    (["--expression", "yaw=0.5"], "unknown expression name 'yaw'"),
    (["--sweep", "yaw=-30:30"], "bad --sweep"),
    (["--sweep", "yaw=-30:30:40"], "COUNT"),
    (["--sweep", "yaw=-95:30:4"], "out of range"),   # the controls table: yaw within +-90
    (["--light", "disco"], "unknown light preset"),
    (["--bundle", "/nonexistent/bundle", "--yaw", "3"], "not found"),
    ([], "nothing to edit"),
])
def test_user_errors_are_one_line(run_cli, tmp_path, args, message):
    code, _, err = run_cli("edit", "--seed", "0", *args, "-o", tmp_path / "x.png")
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.png").exists()


def test_bf16_edit_through_the_stylegan2_bundle_is_close_to_fp32(run_cli, tmp_path):
    """--bf16 synthesises the StyleGAN2 bundle in bf16: nearly the fp32 image, not the same; the DCGAN notes it."""
    from gan.fast import bf16_is_fast

    bundle = default_bundle().parent / "utkface64"
    if not (bundle / "manifest.json").is_file():
        pytest.skip("the StyleGAN2 rig bundle (assets/rig/utkface64) is not in this tree")
    if not bf16_is_fast():
        pytest.skip("this CPU has no bf16 hardware: bf16 synthesis would be emulated")
    images = {}
    for name, extra in (("fp32", ()), ("bf16", ("--bf16",))):
        out = tmp_path / f"{name}.png"
        code, _, err = run_cli("edit", "--bundle", bundle, "--seed", "3", "--yaw", "8", *extra, "-o", out, "--no-label")
        assert code == 0, err
        assert "note:" not in err
        images[name] = np.asarray(Image.open(out)).astype(int)
    diff = np.abs(images["bf16"] - images["fp32"])
    assert 0 < diff.mean() < 2.0, diff.mean()
    code, _, err = run_cli("edit", "--seed", "3", "--yaw", "8", "--bf16", "-o", tmp_path / "d.png", "--no-label")
    assert code == 0 and "note: --bf16 applies to StyleGAN2 bundles" in err
