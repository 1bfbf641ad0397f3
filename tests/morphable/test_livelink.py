"""morphable.livelink: Live Link Face's CSV written from tracks, read back exactly, a CSV laid out like
the app's own files read, bad files refused in one line, and the output checked against the rules
that third-party importers' parsers put on the file (livelink_rules below)."""
from __future__ import annotations

import csv
import math
import re

import numpy as np
import pytest

from morphable.animation import parse_tracks
from morphable.arkit import ARKIT_NAMES, expression_index
from morphable.errors import MorphableError
from morphable.gaze import EYE_PITCH_MAX, EYE_YAW_MAX
from morphable.livelink import (HEADER, LIVELINK_SHAPES, ROTATION_COLUMNS, livelink_rows, read_livelink,
                                timecode, timecode_rate, track_to_livelink, tracks_from_livelink,
                                tracks_to_livelink)

TRACKS = {"fps": 30, "tracks": [
    {"block": "expression", "name": "jawOpen", "keys": [[0, 0], [0.6, 0.9], [1.5, 0.1]], "interpolation": "smooth"},
    {"block": "expression", "name": "eyeBlinkLeft", "keys": [[0.2, 0], [0.3, 1], [0.4, 0]]},
    {"block": "expression", "name": "mouthSmileRight", "keys": [[0, 0.2], [1.5, 0.7]]},
    {"block": "expression", "name": "jawLeft", "keys": [[0, 0.3]]},
    {"block": "expression", "name": "eyeLookOutLeft", "keys": [[0, 0], [1, 0.6]]},
    {"block": "expression", "name": "eyeLookInRight", "keys": [[0, 0], [1, 0.6]]},
    {"block": "expression", "name": "eyeLookUpLeft", "keys": [[0, 0.4]]},
    {"block": "pose", "name": "yaw", "keys": [[0, -25], [1.5, 35]]},
    {"block": "pose", "name": "pitch", "keys": [[0, 12], [1.5, -8]]},
    {"block": "pose", "name": "roll", "keys": [[0, 5], [1.5, -3]]}]}

# A take laid out as the app writes it (written by hand from the documented layout): the timecode
# runs at 60 fps while the rows come at 30 fps (every second timecode frame), it passes a whole
# second between rows 2 and 3, .mmm is the sub-frame in thousandths of a frame, 10 decimals.
_APP_ROWS = [
    ("13:13:04:55.652", {"JawOpen": 0.0190581698, "JawLeft": 0.0444001928, "EyeLookDownLeft": 0.2802172601,
                         "MouthSmileLeft": 0.3125, "EyeBlinkRight": 0.1236992255},
     [0.0523598776, -0.1000000000, 0.0174532925, -0.0312639736, 0.1712819338, -0.0054070088,
      0.0335430540, 0.1712722927, 0.0058006854]),
    ("13:13:04:57.651", {"JawOpen": 0.2500000000, "JawRight": 0.0182049610, "EyeBlinkLeft": 0.9},
     [0.0610865238, -0.0800000000, 0.0, -0.0307142939, 0.1711768955, -0.0053086532,
      0.0341030695, 0.1711672843, 0.0058938023]),
    ("13:13:04:59.651", {"JawOpen": 0.5, "TongueOut": 0.0000695316},
     [0.0698131701, -0.0600000000, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
    ("13:13:05:01.651", {"JawOpen": 0.7, "MouthRight": 0.25, "CheekPuff": 0.0551863462},
     [0.0785398163, -0.0400000000, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
]


def _app_csv(path, rows=_APP_ROWS, header=HEADER, count="61"):
    lines = [",".join(header)]
    for tc, shapes, rot in rows:
        vals = [f"{shapes.get(n, 0.0):.10f}" for n in LIVELINK_SHAPES] + [f"{r:.10f}" for r in rot]
        lines.append(",".join([tc, count] + vals))
    path.write_text("\n".join(lines) + "\n")
    return path


# ---- the rules importers' parsers put on the file ------------------------------------------------
def livelink_rules(text: str) -> list[str]:
    """Every way `text` breaks what third-party Live Link Face CSV parsers rely on (empty: it passes).

    Rules, and the parser each comes from (read on GitHub, 2026-12-07):
    1. The header is exactly Timecode,BlendShapeCount, the 52 PascalCase names in the app's order,
       then the 9 rotations: nmfisher/blender_livelinkface (bpylivelinkface.py) reads every value
       by its position in that fixed header (LIVE_LINK_FACE_HEADER), not by name.
    2. Every row has as many comma-separated fields as the header (63), no quoting, no empty
       field: that reader indexes csvdata[row][column] and float()s each value.
    3. BlendShapeCount is the second column: aronamao/Maya-Live-Link-CSV-Import (csvImport.cpp,
       rapidcsv with the first column as row labels) skips the first data column by position.
    4. The first column is a timecode `HH:MM:SS:FF.mmm`, unique per row: the Maya reader looks
       each value up by its row label (the timecode) and splits it on ':' into four fields, the
       fourth starting with the whole frame number (std::stoi of `FF.mmm`), the third the seconds.
    5. Every value parses as a float (std::stof / Python float): plain decimals, no NaN or inf.
    6. Blendshape values are ARKit weights in [0, 1]; rotations are radians (the Maya reader keys
       them unchanged on angular curves, whose internal unit is the radian), so |value| <= pi.
    7. Rows are in time order (both readers key frames in row order).
    """
    problems = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines = lines[:-1]
    if '"' in text or "\r" in text:
        problems.append("quoting or CR line ends")
    header = lines[0].split(",") if lines else []
    if tuple(header) != HEADER:
        problems.append("header differs from the app's")
    seen, last = set(), None
    for n, line in enumerate(lines[1:], start=2):
        fields = line.split(",")
        if len(fields) != len(HEADER) or any(f == "" for f in fields):
            problems.append(f"row {n}: {len(fields)} fields or an empty one")
            continue
        tc = fields[0]
        parts = tc.split(":")
        if not re.fullmatch(r"\d{2}:\d{2}:\d{2}:\d{2}\.\d{3}", tc) or len(parts) != 4:
            problems.append(f"row {n}: timecode {tc!r}")
            continue
        if tc in seen:
            problems.append(f"row {n}: timecode {tc} repeated")
        seen.add(tc)
        key = (int(parts[0]), int(parts[1]), int(parts[2]), float(parts[3]))
        if last is not None and key <= last:
            problems.append(f"row {n}: timecode goes back")
        last = key
        if fields[1] != "61":
            problems.append(f"row {n}: BlendShapeCount {fields[1]}")
        for name, f in zip(HEADER[2:], fields[2:]):
            if not re.fullmatch(r"-?\d+\.\d+", f):
                problems.append(f"row {n} {name}: {f!r} is not a plain decimal")
                continue
            v = float(f)
            lo, hi = (0.0, 1.0) if name in LIVELINK_SHAPES else (-math.pi, math.pi)
            if not lo <= v <= hi:
                problems.append(f"row {n} {name}: {v} out of [{lo:g}, {hi:g}]")
    return problems


def test_layout_names_every_arkit_shape_once():
    assert len(HEADER) == 63 and HEADER[:2] == ("Timecode", "BlendShapeCount")
    assert sorted(n[0].lower() + n[1:] for n in LIVELINK_SHAPES) == sorted(ARKIT_NAMES)
    # the app's order differs from Apple's in two places
    assert LIVELINK_SHAPES.index("JawRight") < LIVELINK_SHAPES.index("JawLeft")
    assert LIVELINK_SHAPES.index("MouthRight") < LIVELINK_SHAPES.index("MouthLeft")
    assert HEADER[-9:] == ROTATION_COLUMNS


def test_timecode_labels():
    assert timecode(0, 30) == "00:00:00:00.000"
    assert timecode(61, 30) == "00:00:02:01.000"
    assert timecode(3725.5 * 25, 25) == "01:02:05:12.500"
    assert (timecode_rate(29.97), timecode_rate(11.99), timecode_rate(25), timecode_rate(15.5)) == (30, 12, 25, 16)
    # a 29.97 fps clip counts frames at 30 (as non-drop timecode does); an odd rate gets sub-frames at the next one
    ntsc = livelink_rows(np.arange(40) / 29.97, {}, 29.97)
    assert ntsc[31][0] == "00:00:01:00.000" and ntsc[40][0] == "00:00:01:09.000"
    odd = livelink_rows(np.arange(20) / 15.5, {}, 15.5)
    assert odd[2][0] == "00:00:00:01.032" and odd[17][0] == "00:00:01:00.516"


def test_write_values_units_and_signs(tmp_path):
    tr = parse_tracks(TRACKS)
    path = tracks_to_livelink(tr, tmp_path / "take.csv")
    rows = list(csv.reader(path.open()))
    assert tuple(rows[0]) == HEADER and len(rows) == tr.num_frames + 1 == 47
    col = {n: i for i, n in enumerate(HEADER)}
    table = np.array([[float(x) for x in r[2:]] for r in rows[1:]])
    s = tr.sample()

    def column(name):
        return table[:, col[name] - 2]

    assert [r[1] for r in rows[1:]] == ["61"] * 46
    assert rows[1][0] == "00:00:00:00.000" and rows[31][0] == "00:00:01:00.000" and rows[-1][0] == "00:00:01:15.000"
    assert np.allclose(column("JawOpen"), s["jawOpen"], atol=5e-11)
    assert np.allclose(column("JawLeft"), 0.3) and not column("JawRight").any()   # the swapped order kept apart
    assert np.allclose(column("MouthSmileRight"), s["mouthSmileRight"], atol=5e-11)
    # head: radians; yaw and roll keep facerig's signs, pitch flips (ARKit's pitch turns down)
    assert np.allclose(column("HeadYaw"), np.radians(s["yaw"]), atol=5e-11)
    assert np.allclose(column("HeadPitch"), -np.radians(s["pitch"]), atol=5e-11)
    assert np.allclose(column("HeadRoll"), np.radians(s["roll"]), atol=5e-11)
    # gaze from the eyeLook* weights: both eyes toward the subject's left = positive yaw; up = negative pitch
    assert np.allclose(column("LeftEyeYaw"), np.radians(s["eyeLookOutLeft"] * EYE_YAW_MAX), atol=5e-11)
    assert np.allclose(column("RightEyeYaw"), np.radians(s["eyeLookInRight"] * EYE_YAW_MAX), atol=5e-11)
    assert column("LeftEyeYaw")[-1] > 0.15
    assert np.allclose(column("LeftEyePitch"), -np.radians(0.4 * EYE_PITCH_MAX), atol=5e-11)
    assert not column("RightEyePitch").any() and not column("LeftEyeRoll").any()
    assert all(len(f.split(".")[1]) == 10 for f in rows[5][2:])


def test_round_trip_is_exact_to_the_file(tmp_path):
    tr = parse_tracks(TRACKS)
    first = tracks_to_livelink(tr, tmp_path / "a.csv")
    back = tracks_from_livelink(first)
    assert back.fps == tr.fps and back.num_frames == tr.num_frames
    assert np.array_equal(back.frame_times(), tr.frame_times())
    again = tracks_to_livelink(back, tmp_path / "b.csv")
    assert again.read_bytes() == first.read_bytes()
    s, b = tr.sample(), back.sample()
    for name in ("jawOpen", "eyeBlinkLeft", "eyeLookOutLeft"):
        assert np.abs(b[name] - s[name]).max() <= 5e-11
    for name in ("yaw", "pitch", "roll"):   # degrees through 10-decimal radians
        assert np.abs(b[name] - s[name]).max() < 1e-8
    assert set(b) == set(ARKIT_NAMES) | {"yaw", "pitch", "roll"}


def test_a_clip_at_11_99_fps_reads_back_at_its_timecode_rate(tmp_path):
    """xportrait_driving.mp4 says 11.99 fps: labelled as 12 fps frames, it reads back at 12 and rewrites identically."""
    tr = parse_tracks(dict(TRACKS, fps=11.99))
    first = tracks_to_livelink(tr, tmp_path / "a.csv")
    back = tracks_from_livelink(first)
    assert back.fps == 12 and back.num_frames == tr.num_frames
    assert tracks_to_livelink(back, tmp_path / "b.csv").read_bytes() == first.read_bytes()


def test_reads_a_take_laid_out_like_the_app(tmp_path):
    path = _app_csv(tmp_path / "MySlate_7_iPhone.csv")
    assert livelink_rules(path.read_text()) == []
    take = read_livelink(path)
    assert take.rate == 60 and take.fps == 30 and take.start == "13:13:04:55.652"
    assert np.array_equal(take.times, np.arange(4) / 30)
    w = take.weights
    assert w[0, expression_index("jawLeft")] == 0.0444001928 and w[0, expression_index("jawRight")] == 0
    assert w[1, expression_index("jawRight")] == 0.018204961
    assert w[3, expression_index("mouthRight")] == 0.25 and w[3, expression_index("mouthLeft")] == 0
    assert w[0, expression_index("eyeLookDownLeft")] == 0.2802172601
    tracks = tracks_from_livelink(path)
    v = tracks.sample()
    assert tracks.fps == 30 and tracks.num_frames == 4
    assert np.allclose(v["jawOpen"], [0.0190581698, 0.25, 0.5, 0.7])
    assert np.allclose(v["yaw"], np.degrees([0.0523598776, 0.0610865238, 0.0698131701, 0.0785398163]))  # 3..4.5 deg
    assert np.allclose(v["pitch"], [5.729577951, 4.583662361, 3.437746771, 2.291831181])  # HeadPitch < 0: chin up
    assert np.allclose(v["roll"][0], 1.0)
    # the same file written back by facerig (timecode from zero) reads as the same performance
    again = read_livelink(tracks_to_livelink(tracks, tmp_path / "again.csv"), rate=30)  # 4 rows: under a second
    assert np.array_equal(again.weights, take.weights) and np.allclose(again.rotations[:, :3], take.rotations[:, :3])


def test_output_passes_the_parser_rules_and_the_rules_can_fail(tmp_path):
    tr = parse_tracks(TRACKS)
    text = tracks_to_livelink(tr, tmp_path / "a.csv").read_text()
    assert livelink_rules(text) == []
    rows = livelink_rows(np.arange(tr.num_frames) / 15.5, tr.sample(), 15.5)   # an odd rate: sub-frames appear
    assert livelink_rules("\n".join(",".join(r) for r in rows)) == []
    assert sum(not r[0].endswith(".000") for r in rows[1:]) > 30
    broken = text.replace("JawRight,JawLeft", "JawLeft,JawRight").replace(",61,", ",52,", 1)
    problems = livelink_rules(broken)
    assert "header differs from the app's" in problems and any("BlendShapeCount 52" in p for p in problems)
    assert livelink_rules(text.replace("00:00:00:01.000", "00:00:00:00.000")) != []


@pytest.mark.parametrize("edit, message", [
    (lambda h, r: (h[:-1], [x[:-1] for x in r]), "missing column(s) RightEyeRoll"),
    (lambda h, r: (h, [r[0], r[1][:5] + ["abc"] + r[1][6:]] + r[2:]), "row 3 column EyeLookOutLeft: 'abc' is not a number"),
    (lambda h, r: (h, [r[0][:1] + ["51"] + r[0][2:]] + r[1:]), "BlendShapeCount is '51', expected 61"),
    (lambda h, r: (h, [["13:13:4:55"] + r[0][1:]] + r[1:]), "is not HH:MM:SS:FF.mmm"),
    (lambda h, r: (h, [r[0][:-9] + ["25.0"] + r[0][-8:]] + r[1:]), "HeadYaw: 25 is outside"),
    (lambda h, r: (h, [r[0][:20] + ["1.5"] + r[0][21:]] + r[1:]), "is outside [0, 1]"),
    (lambda h, r: (h, [r[0][:-1]] + r[1:]), "row 2 has 62 fields"),
    (lambda h, r: (["Time"] + h[1:], r), "starts with the columns Timecode,BlendShapeCount"),
    (lambda h, r: (h, [r[1], r[0]] + r[2:]), "does not increase"),
])
def test_bad_files_are_one_line_errors(tmp_path, edit, message):
    path = _app_csv(tmp_path / "take.csv")
    rows = list(csv.reader(path.open()))
    header, body = edit(rows[0], rows[1:])
    path.write_text("\n".join(",".join(r) for r in [header] + body) + "\n")
    with pytest.raises(MorphableError) as info:
        read_livelink(path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_head_turned_past_facerigs_range_is_one_line(tmp_path):
    rows = [(tc, shapes, [2.0] + rot[1:]) if i == 2 else (tc, shapes, rot) for i, (tc, shapes, rot) in enumerate(_APP_ROWS)]
    path = _app_csv(tmp_path / "take.csv", rows)
    assert read_livelink(path).rotations[2, 0] == 2.0   # a valid file: 2 rad is within [-pi, pi]
    with pytest.raises(MorphableError, match=r"row 4 column HeadYaw: 114.6 deg is outside facerig's head yaw range"):
        tracks_from_livelink(path)


def test_head_pitch_past_the_controls_table_is_refused(tmp_path):
    """The head range is morphable.controls' (pitch +-90 deg), not the file format's +-pi."""
    rows = [(tc, shapes, rot[:1] + [1.7] + rot[2:]) if i == 1 else (tc, shapes, rot)
            for i, (tc, shapes, rot) in enumerate(_APP_ROWS)]
    path = _app_csv(tmp_path / "take.csv", rows)
    with pytest.raises(MorphableError, match=r"row 3 column HeadPitch: -97.4 deg is outside facerig's head pitch "
                                             r"range \[-90, 90\]"):
        tracks_from_livelink(path)


def test_timecode_rate_unknown_under_a_second(tmp_path):
    path = _app_csv(tmp_path / "short.csv", _APP_ROWS[:3])
    with pytest.raises(MorphableError, match="never passes a whole second"):
        read_livelink(path)
    take = read_livelink(path, rate=60)
    assert take.fps == 30 and len(take.times) == 3
    with pytest.raises(MorphableError, match="does not fit a timecode rate of 50"):
        read_livelink(path, rate=50)


def test_a_tracked_clip_with_gaze_exports_and_replays(tmp_path):
    """A tracked clip (the tracker's own types) with gaze as eyeLook* weights: the CSV's eye angles are the gaze,
    and the same clip through `facerig track`'s JSONL and the tracks gives the same file (to JSON's rounding)."""
    import torch

    from morphable.animation import tracks_from_jsonl
    from morphable.fit.track import Track, TrackedFrame, write_jsonl
    from morphable.gaze import eye_angles, with_gaze

    from .toy_head import toy_head

    model = toy_head(subdivisions=1)
    n, fps = 30, 24.0
    t = torch.arange(n, dtype=torch.float64) / fps
    p = model.random_params(n, seed=3).to(dtype=torch.float64)
    p.pose[:, 0] = 30 * torch.sin(2 * t)
    p.pose[:, 1] = -8.0
    gaze = torch.stack([torch.stack([20 * torch.sin(3 * t), 10 * torch.cos(3 * t)], -1)] * 2, dim=1)  # (n, 2, 2)
    p.expression = with_gaze(p.expression.clamp(0, 1), gaze)
    track = Track(model.name, fps, p.identity[0], [TrackedFrame(i, float(t[i]), p[i], True) for i in range(n)])
    direct = track_to_livelink(track, tmp_path / "direct.csv")
    take = read_livelink(direct, rate=24)
    assert np.abs(np.degrees(take.rotations[:, 3]) - gaze[:, 0, 0].numpy()).max() < 1e-6     # LeftEyeYaw
    assert np.abs(np.degrees(take.rotations[:, 4]) + gaze[:, 0, 1].numpy()).max() < 1e-6     # LeftEyePitch: down > 0
    assert np.abs(np.degrees(take.rotations[:, 0]) - p.pose[:, 0].numpy()).max() < 1e-6      # HeadYaw
    assert np.allclose(np.degrees(take.rotations[:, 1]), 8.0)                                # HeadPitch (chin down)
    back = torch.from_numpy(take.weights)
    assert torch.allclose(eye_angles(back), gaze, atol=1e-6)
    write_jsonl(track, tmp_path / "t.jsonl")
    via = read_livelink(tracks_to_livelink(tracks_from_jsonl(tmp_path / "t.jsonl"), tmp_path / "via.csv"), rate=24)
    assert np.allclose(via.weights, take.weights, atol=1e-4) and np.allclose(via.rotations, take.rotations, atol=1e-4)
