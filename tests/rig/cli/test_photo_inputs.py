"""The CLI on input as people have it (issue 25): mixed driver frames, outputs over inputs, reused frame folders,
frame rates and sweeps that contradict an option. Each is one clear line and exit 2 before slow work, or works."""
from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from rig.outputs import Outputs

CLIP = Path(__file__).resolve().parents[4] / "shared" / "data" / "real-faces" / "tpsmm_driving.mp4"

skdata = pytest.importorskip("skimage.data")


def one_line_error(code, err) -> bool:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    return code == 2 and len(lines) == 1 and lines[0].startswith("facerig: error:") and "Traceback" not in err


@pytest.fixture(scope="module")
def photo_path(tmp_path_factory):
    """NASA's public-domain astronaut portrait (scikit-image's wheel), 256 px, as PNG."""
    path = tmp_path_factory.mktemp("photo") / "astronaut.png"
    Image.fromarray(skdata.astronaut()).resize((256, 256), Image.LANCZOS).save(path)
    return path


@pytest.fixture(scope="module")
def mixed_driver(tmp_path_factory):
    """Six frames of a real talking-head clip saved at three sizes (a folder of frames from different sources)."""
    if not CLIP.exists():
        pytest.skip(f"shared data absent: {CLIP}")
    from morphable.fit.video_io import open_frames

    frames, _ = open_frames(CLIP, max_frames=6)
    folder = tmp_path_factory.mktemp("mixed")
    sizes = [(256, 256), (320, 240), (192, 256)]
    for i, f in enumerate(frames):
        iio.imwrite(folder / f"{i:03d}.png", np.asarray(Image.fromarray(f).resize(sizes[i % 3], Image.LANCZOS)))
    return folder


@pytest.fixture(scope="module")
def some_driver(tmp_path_factory):
    """A folder of two frames (for the refusals, which stop before any frame is read)."""
    folder = tmp_path_factory.mktemp("driver")
    for i in range(2):
        Image.fromarray(skdata.astronaut()[:, ::1 - 2 * i]).save(folder / f"{i:03d}.png")
    return folder


@pytest.mark.slow
@pytest.mark.usefixtures("single_thread")
def test_reenact_a_mixed_size_driver_folder_side_by_side(run_cli, photo_path, mixed_driver, tmp_path):
    out = tmp_path / "frames"
    code, msg, err = run_cli("reenact", "--photo", photo_path, "--driver", mixed_driver, "--side-by-side",
                             "--fps", "10", "--no-label", "-o", out)
    assert code == 0, err
    frames = sorted(out.glob("frame_*.png"))
    assert len(frames) == 6
    shapes = {np.asarray(Image.open(f)).shape for f in frames}
    assert len(shapes) == 1
    h, w, _ = shapes.pop()
    assert h == 256 and w > 256                      # driver (letterboxed to the photo's height) | photo


def test_mixed_frame_sizes_stack_beside_the_results():
    from rig.frames import fit_into, square

    frames = [np.full((120, 160, 3), 50, np.uint8), np.full((128, 96, 3), 200, np.uint8),
              np.zeros((64, 64, 3), np.uint8)]
    boxed = fit_into(frames, 90)
    assert boxed.shape == (3, 90, 120, 3)
    assert boxed[1, :, 60].max() == 200 and boxed[1, :, 5].max() == 0     # the tall frame centred, black beside it
    assert square(frames, 32).shape == (3, 32, 32, 3)


def test_output_over_the_photo_is_refused_before_work(run_cli, photo_path, tmp_path):
    photo = tmp_path / "me.png"
    photo.write_bytes(photo_path.read_bytes())
    before = photo.read_bytes()
    code, _, err = run_cli("edit", "--photo", photo, "--yaw", "10", "-o", photo)
    assert one_line_error(code, err) and "also an input" in err
    assert photo.read_bytes() == before
    # the same file through another spelling
    code, _, err = run_cli("edit", "--photo", photo, "--yaw", "10", "-o", tmp_path / "." / "me.png")
    assert one_line_error(code, err)
    assert photo.read_bytes() == before


def test_frames_over_the_driver_folder_are_refused(run_cli, photo_path, some_driver):
    code, _, err = run_cli("reenact", "--photo", photo_path, "--driver", some_driver, "-o", some_driver)
    assert one_line_error(code, err) and "also an input" in err


def test_a_frames_folder_with_other_files_is_refused_before_work(run_cli, photo_path, some_driver, tmp_path):
    out = tmp_path / "holiday"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, _, err = run_cli("reenact", "--photo", photo_path, "--driver", some_driver, "-o", out)
    assert one_line_error(code, err) and "holds other files (notes.txt)" in err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_a_reused_frames_folder_holds_only_the_new_run(tmp_path):
    out = tmp_path / "frames"
    frames = np.zeros((5, 8, 8, 3), np.uint8)
    with Outputs() as o:
        o.video(o.expect(out, (".mp4",), folder_ok=True), frames, 10)
    assert len(list(out.glob("frame_*.png"))) == 5
    with Outputs() as o:
        o.video(o.expect(out, (".mp4",), folder_ok=True), frames[:2] + 200, 10)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["frame_00000.png", "frame_00001.png"]
    assert np.asarray(Image.open(out / "frame_00001.png")).min() == 200
    # a run that fails leaves the earlier run's frames as they were
    with pytest.raises(RuntimeError):
        with Outputs() as o:
            o.video(o.expect(out, (".mp4",), folder_ok=True), frames[:1], 10)
            raise RuntimeError("the work failed")
    assert sorted(p.name for p in out.iterdir()) == names


@pytest.mark.parametrize("fps", ["0", "-5", "nan", "ten"])
def test_a_bad_frame_rate_is_refused_when_parsed(run_cli, photo_path, some_driver, tmp_path, fps):
    import time

    start = time.perf_counter()
    code, _, err = run_cli("reenact", "--photo", photo_path, "--driver", some_driver, "--fps", fps,
                           "-o", tmp_path / "r.mp4")
    assert one_line_error(code, err) and "--fps" in err
    assert time.perf_counter() - start < 2.0          # before any fit (the fit takes seconds)
    assert not (tmp_path / "r.mp4").exists()


@pytest.mark.parametrize("extra", [["--yaw", "10"], ["--expression", "jawOpen=0.3"]])
def test_a_sweep_and_an_option_for_the_same_control_is_an_error(run_cli, photo_path, tmp_path, extra):
    sweep = "yaw=-20:20:3" if extra[0] == "--yaw" else "jawOpen=0:1:3"
    code, _, err = run_cli("edit", "--photo", photo_path, "--sweep", sweep, *extra, "-o", tmp_path / "s.png")
    assert one_line_error(code, err) and "--sweep" in err
    assert not (tmp_path / "s.png").exists()


def test_face_needs_a_photo(run_cli, tmp_path):
    code, _, err = run_cli("edit", "--seed", "1", "--yaw", "10", "--face", "2", "-o", tmp_path / "e.png")
    assert one_line_error(code, err) and "--face" in err
