"""`facerig edit --photo` and `facerig reenact --photo` (photo engine) end to end, and their bad input."""
from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from morphable.clip import demo_tracks, render_clip
from tests.morphable.fit_helpers import default_model


@pytest.fixture(scope="module")
def photo_path(utkface_photos, tmp_path_factory):
    """A real adult UTKFace photo, upscaled to 192 px (not a multiple of the flow grid), as PNG."""
    from morphable.landmarks import detect_landmarks

    for img in utkface_photos(10, seed=5):
        if detect_landmarks(img) is not None:
            path = tmp_path_factory.mktemp("photo") / "face.png"
            Image.fromarray(img).resize((192, 192), Image.BICUBIC).save(path)
            return path
    pytest.skip("no detectable face in the sample")


@pytest.fixture(scope="module")
def driver_dir(tmp_path_factory):
    frames, _ = render_clip(default_model(), demo_tracks(), size=128)
    folder = tmp_path_factory.mktemp("driver")
    for i, f in enumerate(frames[:8]):
        iio.imwrite(folder / f"{i:03d}.png", f)
    return folder


def _one_line_error(code, err):
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    return code == 2 and len(lines) == 1 and lines[0].startswith("facerig: error:") and "Traceback" not in err


def test_edit_photo_writes_the_photo_resolution(run_cli, photo_path, tmp_path):
    from rig.provenance import metadata, verify

    out = tmp_path / "edit.png"
    code, stdout, err = run_cli("edit", "--photo", photo_path, "--yaw", "15", "--expression", "jawOpen=0.4",
                                "-o", out)
    assert code == 0, err
    img = np.asarray(Image.open(out).convert("RGB"))
    src = np.asarray(Image.open(photo_path).convert("RGB"))
    assert img.shape == src.shape and np.abs(img.astype(int) - src).mean() > 1.0
    # labelled as an edited real photo, made by the photo engine (no rig bundle or generator was used)
    meta = verify(out).metadata
    assert meta.digital_source_type == metadata.COMPOSITE
    assert meta.bundle.startswith("none: the photo engine") and meta.generator is None


@pytest.mark.slow
def test_edit_photo_sweep_and_range_warning(run_cli, photo_path, tmp_path):
    out = tmp_path / "sweep.png"
    code, _, err = run_cli("edit", "--photo", photo_path, "--sweep", "yaw=-45:45:3", "--no-label", "-o", out)
    assert code == 0, err
    warn = [ln for ln in err.splitlines() if ln.startswith("warning:")]
    assert len(warn) == 1 and "beyond |yaw| <= 35" in warn[0]
    grid = Image.open(out)
    assert grid.width > 4 * 192 and grid.height >= 192   # photo + 3 tiles at the photo's size


def test_edit_photo_bad_input(run_cli, tmp_path):
    out = tmp_path / "o.png"
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((160, 160, 3), 90, np.uint8)).save(blank)
    for photo in (junk, blank, tmp_path / "missing.png"):
        code, _, err = run_cli("edit", "--photo", photo, "--yaw", "10", "--no-label", "-o", out)
        assert _one_line_error(code, err), (photo, err)
        assert not out.exists()


@pytest.mark.slow   # two more fits (~10-20 s here)
def test_edit_photo_tiny_and_several_faces(run_cli, photo_path, tmp_path):
    face = Image.open(photo_path).convert("RGB")
    tiny = Image.new("RGB", (480, 480), (120, 120, 120))
    tiny.paste(face.resize((14, 14)), (200, 200))
    tiny_path = tmp_path / "tiny.png"
    tiny.save(tiny_path)
    code, _, err = run_cli("edit", "--photo", tiny_path, "--yaw", "10", "--no-label", "-o", tmp_path / "t.png")
    assert _one_line_error(code, err) and not (tmp_path / "t.png").exists()
    two = Image.new("RGB", (480, 300), (120, 120, 120))
    two.paste(face, (10, 50))
    two.paste(face.resize((110, 110)), (330, 90))
    two_path = tmp_path / "two.png"
    two.save(two_path)
    out = tmp_path / "two_out.png"
    code, _, err = run_cli("edit", "--photo", two_path, "--yaw", "10", "--no-label", "-o", out)
    assert code == 0, err
    assert "2 faces in the photo; edited face 1 (the largest)" in err
    assert Image.open(out).size == (480, 300)


@pytest.mark.slow   # fit + tracking + warping a clip (~30-45 s here)
def test_reenact_photo_engine(run_cli, photo_path, driver_dir, tmp_path):
    out = tmp_path / "r.mp4"
    code, stdout, err = run_cli("reenact", "--photo", photo_path, "--driver", driver_dir, "--no-label", "-o", out)
    assert code == 0, err
    assert "photo engine" in stdout
    frames = iio.imread(out)
    assert frames.shape[0] == 8 and frames.shape[1:3] == (192, 192)   # the photo's resolution by default
    small = tmp_path / "small.mp4"
    code, _, err = run_cli("reenact", "--photo", photo_path, "--driver", driver_dir, "--size", "96",
                           "--side-by-side", "--no-label", "-o", small)
    assert code == 0, err
    assert iio.imread(small).shape[1:3] == (96, 192)   # --size scales to that height: driver | photo, 96 each


def test_reenact_bad_driver_and_engine(run_cli, photo_path, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    out = tmp_path / "r.mp4"
    code, _, err = run_cli("reenact", "--photo", photo_path, "--driver", bad, "--no-label", "-o", out)
    assert _one_line_error(code, err) and not out.exists()
    code, _, err = run_cli("reenact", "--seed", "3", "--engine", "warp", "--driver", bad, "--no-label", "-o", out)
    assert _one_line_error(code, err) and "needs --photo" in err and not out.exists()
