"""`facerig live` end to end on a real photo and a real clip paced at its own rate, and its bad input."""
from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pytest


def _one_line_error(code, out, err):
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    return code == 2 and len(lines) == 1 and lines[0].startswith("facerig: error:") and "Traceback" not in err


@pytest.mark.slow
def test_live_from_a_clip_writes_what_was_shown_and_the_tracks(run_cli, real_faces, tmp_path):
    out, tracks, csv = tmp_path / "live.mp4", tmp_path / "live.json", tmp_path / "take.csv"
    code, stdout, err = run_cli("live", "--photo", real_faces / "xportrait_source.png", "--driver",
                                real_faces / "tpsmm_driving.mp4", "--size", 128, "-o", out,
                                "--tracks-out", tracks, "--json")
    assert code == 0, err
    summary = json.loads(stdout.splitlines()[0])
    answered, dropped = summary["frames_answered"], summary["frames_dropped"]
    assert answered + dropped <= 169 and answered >= 13 and summary["states"]["tracking"] >= 1
    assert summary["latency_ms"]["p50"] > 0 and summary["fps"] > 0
    video = iio.imread(out, plugin="FFMPEG")
    assert video.shape[1] == 128 and len(video) >= answered   # each answer held until the next: real time
    data = json.loads(tracks.read_text())
    assert data["fps"] == 25.0
    from morphable.animation import load_tracks

    played = load_tracks(tracks)
    assert played.fps == 25.0
    # the same run as Live Link Face's CSV
    code, _, err = run_cli("live", "--photo", real_faces / "xportrait_source.png", "--driver",
                           real_faces / "tpsmm_driving.mp4", "--size", 128, "--tracks-out", csv)
    assert code == 0, err
    rows = csv.read_text().splitlines()
    assert rows[0].startswith("Timecode,BlendShapeCount") and len(rows) >= 2


def test_bad_input_is_one_line(run_cli, real_faces, tmp_path):
    photo, clip = real_faces / "xportrait_source.png", real_faces / "tpsmm_driving.mp4"
    assert _one_line_error(*run_cli("live", "--photo", photo, "--driver", clip, "-o", tmp_path / "x.gif"))
    assert _one_line_error(*run_cli("live", "--photo", photo, "--driver", clip, "--tracks-out", tmp_path / "x.txt"))
    assert _one_line_error(*run_cli("live", "--photo", tmp_path / "none.png", "--driver", clip))
    assert _one_line_error(*run_cli("live", "--photo", photo, "--driver", tmp_path / "none.mp4"))
    assert _one_line_error(*run_cli("live", "--photo", photo, "--driver", clip, "--size", 20))
    code, out, err = run_cli("live", "--photo", photo, "--driver", clip, "-o", clip)
    assert _one_line_error(code, out, err) and "also an input" in err
    code, out, err = run_cli("live", "--photo", photo, "--camera", 63)   # no camera 63 here
    assert _one_line_error(code, out, err) and "camera 63" in err


@pytest.mark.slow
def test_a_photo_without_a_face_is_one_line(run_cli, real_faces, tmp_path):
    from PIL import Image

    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((200, 200, 3), 200, np.uint8)).save(blank)
    assert _one_line_error(*run_cli("live", "--photo", blank, "--driver", real_faces / "tpsmm_driving.mp4"))


def test_the_mouth_choices_are_the_engines_fillers_live_default_first():
    """`facerig live --mouth` lists rig.photo.mouth.FILLERS (typed in the CLI so its start-up needs no torch),
    the live session's default first."""
    from rig.cli.live import MOUTH_FILLERS
    from rig.live.session import LIVE_FILLER
    from rig.photo.mouth import FILLERS, INPAINTERS

    assert set(MOUTH_FILLERS) == set(FILLERS) and MOUTH_FILLERS[0] == LIVE_FILLER
    assert INPAINTERS[LIVE_FILLER].exists()
