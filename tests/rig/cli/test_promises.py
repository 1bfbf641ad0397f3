"""The CLI's promises, each tried as a new user would, on real files (issue 11)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from PIL import Image

from rig.cli import build_parser
from rig.cli.common import SEED_RANGE

ROOT = Path(__file__).resolve().parents[3]


def one_line(err: str) -> str:
    """The single stderr line of a user error (asserting there is exactly one, and no traceback)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("facerig: error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def clip_mp4(tmp_path_factory) -> Path:
    """The 3DMM demo clip (31 frames, 10 fps, 64 px) as an MP4 written by the output layer (index at the front)."""
    from morphable.clip import demo_tracks, render_clip
    from morphable.formats import load_model

    from rig.outputs import Outputs

    frames, _ = render_clip(load_model("default"), demo_tracks(), size=64, identity_seed=2)
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    with Outputs() as out:
        out.video(path, frames, 10.0)
    return path


@pytest.fixture
def gray_png(tmp_path) -> Path:
    """A real image without a face."""
    path = tmp_path / "wall.png"
    Image.new("RGB", (96, 96), (128, 120, 110)).save(path)
    return path


# ---- sizes are checked before anything is allocated ---------------------------------------------
def test_animate_huge_duration_is_one_line_before_allocating(run_cli, tmp_path):
    from morphable.clip import demo_tracks

    record = demo_tracks().to_dict()
    record["duration"] = 1e9
    tracks = tmp_path / "long.json"
    tracks.write_text(json.dumps(record))
    code, _, err = run_cli("animate", "--seed", "0", "--tracks", tracks, "-o", tmp_path / "a.mp4")
    line = one_line(err)
    assert code == 2 and "10,000,000,001 frames" in line and "at most 10,000" in line
    assert not (tmp_path / "a.mp4").exists()


# ---- all outputs or none; every path checked before the slow work --------------------------------
@pytest.mark.parametrize("flag,name", [("--overlay", "x.png"), ("--mesh", "x.glb")])
def test_fit_with_an_unwritable_later_output_writes_nothing(run_cli, tmp_path, gray_png, flag, name):
    code, out, err = run_cli("fit", gray_png, "-o", tmp_path / "p.json", flag, f"/proc/{name}")
    line = one_line(err)
    assert code == 2 and f"/proc/{name}" in line and not (tmp_path / "p.json").exists() and out == ""


def test_animate_with_an_unwritable_gltf_writes_no_video(run_cli, tmp_path):
    from morphable.clip import demo_tracks

    tracks = demo_tracks().save(tmp_path / "t.json")
    code, _, err = run_cli("animate", "--seed", "0", "--tracks", tracks, "-o", tmp_path / "a.gif",
                           "--gltf", "/proc/a.glb")
    assert code == 2 and "/proc/a.glb" in one_line(err) and not (tmp_path / "a.gif").exists()


def test_a_failed_write_leaves_none_of_the_outputs(tmp_path):
    """The output layer itself: the first file is encoded, the second writer fails -> neither file exists."""
    from rig.outputs import Outputs

    photo = np.asarray(Image.open(ROOT / "docs" / "img" / "rig_sweep_yaw.png").convert("RGB"))
    with pytest.raises(OSError):
        with Outputs() as out:
            out.image(tmp_path / "first.png", photo)
            out.file(tmp_path / "second.glb", lambda tmp: (_ for _ in ()).throw(OSError("disk full")))
    assert sorted(os.listdir(tmp_path)) == []                      # no target, no temp left behind
    with Outputs() as out:
        out.image(tmp_path / "first.png", photo)
        out.text(tmp_path / "second.json", "{}")
    np.testing.assert_array_equal(iio.imread(tmp_path / "first.png"), photo)
    assert sorted(os.listdir(tmp_path)) == ["first.png", "second.json"]


def test_track_checks_its_output_before_tracking(run_cli, clip_mp4):
    code, _, err = run_cli("track", clip_mp4, "-o", "/proc/t.jsonl")
    assert code == 2 and "/proc/t.jsonl" in one_line(err)        # one line: no tracking progress bar came first


def test_invert_checks_its_outputs_before_inverting(run_cli, tmp_path, gray_png):
    code, _, err = run_cli("invert", gray_png, "-o", tmp_path / "l.npz", "--side-by-side", "/proc/s.png")
    assert code == 2 and "/proc/s.png" in one_line(err) and not (tmp_path / "l.npz").exists()


def test_reenact_checks_the_photo_before_tracking_the_driver(run_cli, tmp_path, clip_mp4, gray_png):
    code, _, err = run_cli("reenact", "--photo", gray_png, "--driver", clip_mp4, "-o", tmp_path / "r.mp4")
    assert code == 2 and "no face found in" in one_line(err)   # one line: no tracking bar came before the error
    assert not (tmp_path / "r.mp4").exists()


def test_a_driver_longer_than_the_cap_is_refused_after_reading_one_frame_past_it(run_cli, tmp_path, clip_mp4,
                                                                                  monkeypatch):
    import rig.inputs as inputs

    monkeypatch.setattr(inputs, "MAX_FRAMES", 12)          # the 31-frame clip stands in for a 10,001-frame one
    with pytest.raises(inputs.RigError, match="more than 12 frames"):
        inputs.open_driver(clip_mp4)
    frames, _ = inputs.open_driver(clip_mp4, max_frames=12)  # a cap inside the limit reads as usual
    assert len(frames) == 12
    code, _, err = run_cli("reenact", "--seed", "1", "--driver", clip_mp4, "-o", tmp_path / "r.mp4")
    assert code == 2 and "more than 12 frames" in one_line(err) and not (tmp_path / "r.mp4").exists()


# ---- truncated video; track's JSONL plays in animate ----------------------------------------------
def test_truncated_mp4_says_how_many_frames_were_read_and_animate_plays_track_jsonl(run_cli, tmp_path, clip_mp4):
    from rig.inputs import open_driver

    data = clip_mp4.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[:len(data) * 45 // 100])
    with pytest.warns(UserWarning, match=r"read \d+ frames, the container promised 31"):
        frames, fps = open_driver(cut)
    assert 0 < len(frames) < 30 and fps == 10.0
    code, out, err = run_cli("track", cut, "-o", tmp_path / "t.jsonl", "--landmarks", "dlib")
    assert code == 0, err
    warning = [line for line in err.splitlines() if line.startswith("facerig: warning: ")]
    assert len(warning) == 1 and f"read {len(frames)} frames, the container promised 31" in warning[0]
    assert f"{len(frames)} frames at 10 fps" in out
    # the JSONL `facerig track` wrote plays in `facerig animate`, also when it is named .json
    (tmp_path / "t.json").write_bytes((tmp_path / "t.jsonl").read_bytes())
    for name in ("t.jsonl", "t.json"):
        code, out, err = run_cli("animate", "--seed", "1", "--tracks", tmp_path / name, "-o", tmp_path / "a.gif",
                                 "--size", "32")
        assert code == 0, err
        assert iio.improps(tmp_path / "a.gif").shape[0] == len(frames)


# ---- unreadable files: what they should be, never how to load them unsafely ----------------------
@pytest.mark.parametrize("kind", ["random", "pickled"])
def test_a_non_npz_latent_or_model_says_what_the_file_should_be(run_cli, tmp_path, kind):
    path = tmp_path / "thing.npz"
    if kind == "random":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    else:  # a real pickle-bearing numpy file, named .npz
        with open(path, "wb") as fh:
            np.save(fh, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    code, _, err = run_cli("edit", "--latent", path, "--yaw", "10", "-o", tmp_path / "e.png")
    line = one_line(err)
    assert code == 2 and "is not a facerig latent file" in line and "pickle" not in line.lower()
    code, _, err = run_cli("morph", "info", "--model", path)
    line = one_line(err)
    assert code == 2 and "is not a facerig morphable model" in line and "pickle" not in line.lower()


class _RunsAShell:
    """Pickles as a call of os.system: what a malicious checkpoint carries."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_malicious_pt_gets_a_whole_one_line_message(run_cli, tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"g_ema": {"w": torch.zeros(2)}, "payload": _RunsAShell(marker)}, tmp_path / "evil.pt")
    code, _, err = run_cli("gan", "info", tmp_path / "evil.pt")
    line = one_line(err)
    assert code == 2 and not marker.exists()
    assert "system" in line and line.endswith("never code")


# ---- one seed range; defaults that exist on a fresh clone -----------------------------------------
SEEDED = [["edit", "--yaw", "1", "-o", "e.png", "--seed"], ["animate", "--tracks", "t.json", "-o", "a.mp4", "--seed"],
          ["reenact", "--driver", "d.mp4", "-o", "r.mp4", "--seed"], ["morph", "render", "-o", "m.png", "--identity-seed"],
          ["invert", "p.png", "-o", "l.npz", "--seed"], ["rig", "pairs", "--out", "p.npz", "--seed"]]


@pytest.mark.parametrize("argv", SEEDED, ids=lambda a: a[0] + (" " + a[1] if a[0] in ("morph", "rig") else ""))
def test_one_seed_range_for_every_command(argv, capsys):
    from rig.cli.common import parse_seeds

    low, high = SEED_RANGE
    assert (low, high) == (0, 2**32 - 1)
    parser = build_parser()
    assert getattr(parser.parse_args(argv + [str(high)]), argv[-1].lstrip("-").replace("-", "_")) == high
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(argv + [str(high + 1)])
    assert exc.value.code == 2 and f"out of range [{low}, {high}]" in capsys.readouterr().err
    assert parse_seeds(f"{high - 1}-{high}") == [high - 1, high]          # `gan sample --seeds` takes the same range


def _options(parser, prefix=()):
    """(command, option, default) of every option of every (sub)command."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, prefix + (name,))
        elif action.option_strings:
            yield " ".join(prefix), action.option_strings[-1], action.default


def test_every_default_exists_on_a_fresh_clone():
    """Defaults naming files or models resolve to something committed or installed by `make venv`."""
    from gan.dcgan import default_weights_path
    from morphable.formats import load_model

    from rig.face_rig import default_bundle

    outputs = {"--out", "--output"}   # defaults of outputs are written, not read
    seen = set()
    for command, option, default in _options(build_parser()):
        if not isinstance(default, str) or option in outputs or option == "--part":
            continue
        seen.add((command, option, default))
        if default == "dcgan":
            assert default_weights_path().is_file(), (command, option)
        elif default == "default":
            assert load_model("default").name == "default"
        elif "/" in default or default.endswith((".safetensors", ".npz", ".pkl", ".pt")):
            assert (ROOT / default).exists(), f"`facerig {command} {option}` defaults to missing {default}"
    assert ("invert", "--generator", "dcgan") in seen                  # the generator a fresh clone has
    assert (default_bundle() / "manifest.json").is_file()             # every --bundle defaults to it


def test_invert_runs_with_its_default_generator(run_cli, tmp_path, utkface_photos):
    photo = tmp_path / "face.png"
    Image.fromarray(utkface_photos(1, seed=3)[0]).save(photo)
    code, out, err = run_cli("invert", photo, "-o", tmp_path / "l.npz", "--steps", "2", "-q")
    assert code == 0, err
    from rig.latent_file import read_latent

    latent = read_latent(tmp_path / "l.npz")
    assert latent["ws"].shape == (1, 1, 100) and latent["generator"] == "dcgan"
    assert "dcgan" in (ROOT / "README.md").read_text().split("## CLI tour")[1].split("##")[0]
