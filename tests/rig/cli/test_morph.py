"""`facerig morph ...` as a user runs it: real default model, real renders, one-line errors."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[3]
DEFAULT = ROOT / "assets" / "morphable" / "default.npz"
pytestmark = pytest.mark.skipif(not DEFAULT.exists(), reason="default model asset not built")


def test_info_lists_counts_and_all_52_expressions(run_cli):
    code, out, err = run_cli("morph", "info")
    assert code == 0, err
    assert "52 of 52 ARKit shapes" in out
    for name in ("jawOpen", "mouthSmileLeft", "eyeBlinkRight", "tongueOut"):
        assert name in out


def test_render_png_and_mesh(run_cli, tmp_path):
    png, glb = tmp_path / "face.png", tmp_path / "face.glb"
    code, out, err = run_cli("morph", "render", "--identity-seed", "4", "--expression", "jawOpen=0.7",
                             "mouthSmileLeft=0.5", "--yaw", "20", "--light", "right", "--size", "96",
                             "-o", png, "--mesh", glb)
    assert code == 0, err
    img = np.asarray(Image.open(png))
    assert img.shape == (96, 96, 3)
    assert (img.sum(-1) > 0).mean() > 0.2  # the head covers a good part of the frame
    import trimesh

    mesh = trimesh.load(glb, force="mesh")
    assert len(mesh.vertices) > 1000


def test_expression_changes_the_render(run_cli, tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert run_cli("morph", "render", "--size", "64", "-o", a)[0] == 0
    assert run_cli("morph", "render", "--size", "64", "--expression", "jawOpen=1", "-o", b)[0] == 0
    diff = np.abs(np.asarray(Image.open(a), float) - np.asarray(Image.open(b), float))
    assert diff.mean() > 0.5


@pytest.mark.parametrize("args,needle", [
    (["--expression", "jawOpn=0.5"], "did you mean jawOpen"),
    (["--expression", "jawOpen=1.7"], "out of range"),
    (["--expression", "jawOpen"], "NAME=VALUE"),
    (["--yaw", "120"], "out of range"),
    (["--expression", "yaw=0.5"], "unknown expression name 'yaw'"),
    (["--light", "sunset"], "light preset"),
    (["--size", "5"], "out of range"),
    (["--model", "/nonexistent/model.npz"], "not found"),
])
def test_bad_input_is_one_line_and_exit_2(run_cli, tmp_path, args, needle):
    out = tmp_path / "x.png"
    code, _, err = run_cli("morph", "render", *args, "-o", out)
    assert code == 2
    assert needle in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err and not out.exists()


def test_corrupt_model_and_unwritable_output(run_cli, tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"this is not a zip")
    code, _, err = run_cli("morph", "info", "--model", bad)
    assert code == 2 and "cannot read" in err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run_cli("morph", "render", "-o", blocker / "out.png")
    assert code == 2 and "not a folder" in err


def test_failed_render_leaves_existing_output_intact(run_cli, tmp_path):
    out = tmp_path / "keep.png"
    out.write_bytes(b"precious")
    code, _, _ = run_cli("morph", "render", "--expression", "nope=1", "-o", out)
    assert code == 2 and out.read_bytes() == b"precious"


def test_console_script_prints_no_traceback(tmp_path):
    exe = Path(sys.executable).parent / "facerig"
    r = subprocess.run([str(exe), "morph", "render", "--expression", "mouthSmile=1", "-o", str(tmp_path / "o.png")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    assert r.stderr.startswith("facerig: error:") and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_convert_ict_to_npz_then_info(run_cli, tmp_path, ict_dir):
    out = tmp_path / "ict.npz"
    code, msg, err = run_cli("morph", "convert", ict_dir, out)
    assert code == 0, err
    code, info, err = run_cli("morph", "info", "--model", out)
    assert code == 0, err
    assert "14 of 52 ARKit shapes" in info and "jawOpen" in info


def test_render_help_states_the_controls_table_limits(run_cli):
    from morphable import controls

    code, out, _ = run_cli("morph", "render", "--help")
    assert code == 0
    for name in ("yaw", "pitch", "roll"):
        low, high = controls.limits(name)
        assert f"{low:g} .. {high:g}" in out
