"""morphable.animation: track files, interpolation, validation errors, CSV, tracked-JSONL replay."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from morphable import lighting
from morphable.animation import (LIGHT_COLUMNS, load_tracks, parse_tracks, read_csv,
                                 tracks_from_frames, tracks_from_jsonl, tracks_from_params, write_csv)
from morphable.arkit import ARKIT_NAMES, expression_index
from morphable.errors import MorphableError
from morphable.fit.track import Track, TrackedFrame, write_jsonl
from morphable.params import FaceParams

from .toy_head import toy_head

JAW = expression_index("jawOpen")


def _doc(**extra) -> dict:
    doc = {"fps": 10, "tracks": [
        {"block": "expression", "name": "jawOpen", "keys": [[0, 0], [1, 1], [2, 0]]},
        {"block": "pose", "name": "yaw", "keys": [[0, -20], [2, 20]]},
        {"block": "light", "preset": [[0, "left"], [2, "right"]]}]}
    doc.update(extra)
    return doc


def test_linear_sampling_hits_keys_and_interpolates():
    tr = parse_tracks(_doc())
    assert tr.num_frames == 21 and tr.duration == 2.0
    s = tr.sample()
    assert np.allclose(s["jawOpen"], np.concatenate([np.linspace(0, 1, 11), np.linspace(1, 0, 11)[1:]]))
    assert np.allclose(s["yaw"], np.linspace(-20, 20, 21))
    left, right = lighting.preset("left")[0].numpy(), lighting.preset("right")[0].numpy()
    assert np.allclose(s["light"][0], left, atol=1e-6) and np.allclose(s["light"][-1], right, atol=1e-6)
    assert np.allclose(s["light"][10], (left + right) / 2, atol=1e-6)


def test_values_hold_outside_keys_and_duration_extends():
    tr = parse_tracks(_doc(duration=3.0))
    assert tr.num_frames == 31
    s = tr.sample([-1.0, 2.5, 3.0])
    assert np.allclose(s["jawOpen"], [0, 0, 0]) and np.allclose(s["yaw"], [-20, 20, 20])


def test_smooth_is_monotone_cubic_through_keys():
    doc = {"fps": 100, "interpolation": "smooth",
           "tracks": [{"block": "expression", "name": "jawOpen", "keys": [[0, 0], [1, 0.2], [2, 1.0], [3, 1.0]]}]}
    v = parse_tracks(doc).sample()["jawOpen"]
    assert np.allclose(v[[0, 100, 200, 300]], [0, 0.2, 1.0, 1.0])
    assert (np.diff(v) >= -1e-12).all()  # monotone data stays monotone (no overshoot past 1)
    assert v.max() <= 1.0 + 1e-12
    lin = parse_tracks(dict(doc, interpolation="linear")).sample()["jawOpen"]
    assert np.abs(v - lin).max() > 0.02  # it really is a different curve
    # per-track override beats the file default
    doc["tracks"][0]["interpolation"] = "linear"
    assert np.allclose(parse_tracks(doc).sample()["jawOpen"], lin)


def test_sample_with_base_gives_faceparams():
    model = toy_head(subdivisions=1)
    base = model.random_params(1, seed=2).with_expression({"mouthSmileLeft": 0.4})
    p = parse_tracks(_doc()).sample(base=base)
    assert isinstance(p, FaceParams) and p.batch_size == 21
    assert torch.equal(p.identity, base.identity.expand(21, -1))
    assert torch.allclose(p.expression[:, JAW], torch.tensor(parse_tracks(_doc()).sample()["jawOpen"]).float())
    assert torch.allclose(p.expression[:, expression_index("mouthSmileLeft")], torch.full((21,), 0.4))
    assert torch.allclose(p.yaw, torch.linspace(-20, 20, 21), atol=1e-5)
    assert torch.allclose(p.light[0], lighting.preset("left")[0])
    assert model.vertices(p).shape == (21, model.num_vertices, 3)


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_file_roundtrip(tmp_path, suffix):
    path = tmp_path / f"anim{suffix}"
    text = yaml.safe_dump(_doc()) if suffix == ".yaml" else json.dumps(_doc())
    path.write_text(text)
    tr = load_tracks(path)
    out = tr.save(tmp_path / f"again{suffix}")
    again = load_tracks(out)
    a, b = tr.sample(), again.sample()
    assert a.keys() == b.keys()
    for k in a:
        assert np.allclose(a[k], b[k])


@pytest.mark.parametrize("doc, message", [
    (_doc(tracks=[{"block": "expression", "name": "jawopen", "keys": [[0, 0]]}]), "did you mean jawOpen"),
    (_doc(tracks=[{"block": "expression", "name": "mouthSmile_L", "keys": [[0, 0]]}]), "mouthSmileLeft"),
    (_doc(tracks=[{"block": "pose", "name": "yawn", "keys": [[0, 0]]}]), "did you mean yaw"),
    (_doc(tracks=[{"block": "expresion", "name": "jawOpen", "keys": [[0, 0]]}]),
     "bad block 'expresion'; did you mean expression"),
    (_doc(tracks=[{"block": "expression", "name": "jawOpen", "keys": [[0, 0], [1, 1.5]]}]),
     "key 1: value 1.5 out of range [0, 1]"),
    (_doc(tracks=[{"block": "pose", "name": "yaw", "keys": [[0, 120]]}]), "out of range [-90, 90]"),
    # morphable.controls' pitch and roll: +-90 / +-180 deg
    (_doc(tracks=[{"block": "pose", "name": "pitch", "keys": [[0, 95]]}]), "out of range [-90, 90]"),
    (_doc(tracks=[{"block": "pose", "name": "roll", "keys": [[0, -181]]}]), "out of range [-180, 180]"),
    (_doc(tracks=[{"block": "pose", "name": "yaw", "keys": [[1, 0], [0.5, 1]]}]), "strictly increasing"),
    (_doc(tracks=[{"block": "pose", "name": "yaw", "keys": [[0, "a"]]}]), "must be a finite number"),
    (_doc(tracks=[{"block": "pose", "name": "yaw", "keys": []}]), "non-empty list"),
    (_doc(tracks=[{"block": "light", "preset": [[0, "lft"]]}]), "unknown light preset 'lft'; did you mean left"),
    (_doc(tracks=[{"block": "light", "keys": [[0, [1, 2]]]}]), "27 SH coefficients"),
    (_doc(tracks=[{"block": "pose", "name": "yaw", "keys": [[0, 0]]}] * 2), "animates 'yaw' again"),
    (_doc(tracks=[{"block": "pose", "name": "yaw", "key": [[0, 0]]}]), "unknown field(s) 'key'"),
    (_doc(fps=0), "fps must be positive"),
    (_doc(interpolation="cubic"), "interpolation must be one of linear, smooth"),
    (_doc(tracks=[]), "non-empty list"),
    ([1, 2], "must be a mapping"),
])
def test_validation_errors(doc, message):
    with pytest.raises(MorphableError) as info:
        parse_tracks(doc, "anim.json")
    assert message in str(info.value) and "\n" not in str(info.value)
    assert str(info.value).startswith("anim.json")


def test_file_errors(tmp_path):
    with pytest.raises(MorphableError, match="not found"):
        load_tracks(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{fps: 25")
    with pytest.raises(MorphableError, match="not valid JSON"):
        load_tracks(bad)
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("fps: [25\n")
    with pytest.raises(MorphableError, match="not valid YAML"):
        load_tracks(bad_yaml)


def test_csv_roundtrip_and_replay(tmp_path):
    tr = parse_tracks(_doc())
    path = tr.to_csv(tmp_path / "frames.csv")
    header = path.read_text().splitlines()[0].split(",")
    assert header[:3] == ["time", "yaw", "jawOpen"] and header[3:] == list(LIGHT_COLUMNS)
    times, values = read_csv(path)
    assert np.array_equal(times, tr.frame_times())
    sampled = tr.sample()
    for k in sampled:
        assert np.array_equal(values[k], sampled[k])  # repr() floats round-trip exactly
    back = tracks_from_frames(times, values, fps=10)
    again = back.sample()
    for k in sampled:
        assert np.allclose(again[k], sampled[k])


def test_csv_errors(tmp_path):
    path = tmp_path / "x.csv"
    with pytest.raises(MorphableError, match="did you mean jawOpen"):
        write_csv(path, [0.0], {"jawopen": np.zeros(1)})
    assert not path.exists()
    path.write_text("time,yaw,jawOpn\n0,0,0\n")
    with pytest.raises(MorphableError, match="did you mean jawOpen"):
        read_csv(path)
    path.write_text("time,yaw\n0,0\n0,1\n")
    with pytest.raises(MorphableError, match="strictly increasing"):
        read_csv(path)
    path.write_text("time,jawOpen\n0,2\n")
    with pytest.raises(MorphableError, match=r"row 2 column jawOpen: value 2 out of range"):
        read_csv(path)
    path.write_text("frame,yaw\n0,0\n")
    with pytest.raises(MorphableError, match="first CSV column must be 'time'"):
        read_csv(path)


def _tracked(model, n=12, fps=25.0) -> tuple[Track, FaceParams]:
    """A tracked clip in morphable.fit.track's own types: a nod, a blink and a drift in x."""
    t = torch.arange(n, dtype=torch.float32) / fps
    p = model.random_params(n, seed=5)
    p.pose[:, 0] = 25 * torch.sin(3 * t)
    p.pose[:, 1] = -10 * t
    p.pose[:, 3] = 0.02 + 0.05 * t
    p.pose[:, 5] = -0.1
    p.expression[:, expression_index("eyeBlinkLeft")] = torch.sin(2 * t).abs()
    p.expression[:, JAW] = 0.5 * t
    frames = [TrackedFrame(i, float(t[i]), p[i], True) for i in range(n)]
    return Track(model.name, fps, p.identity[0], frames), p


def test_tracked_jsonl_replays_on_another_face(tmp_path):
    model = toy_head(subdivisions=1)
    track, src = _tracked(model)
    write_jsonl(track, tmp_path / "track.jsonl")
    tr = tracks_from_jsonl(tmp_path / "track.jsonl")
    assert tr.fps == 25.0 and tr.num_frames == 12
    assert {c.name for c in tr.channels} == set(ARKIT_NAMES) | {"yaw", "pitch", "roll", "tx", "ty", "tz"}
    target = model.random_params(1, seed=99)
    out = tr.sample(base=target)
    assert torch.equal(out.identity, target.identity.expand(12, -1))  # the target's face
    assert torch.allclose(out.expression, src.expression, atol=1e-4)  # the performance (JSON rounds)
    assert torch.allclose(out.pose[:, :3], src.pose[:, :3], atol=1e-4)
    assert torch.allclose(out.pose[:, 3:], src.pose[:, 3:] - src.pose[:1, 3:], atol=1e-5)  # relative
    absolute = tracks_from_jsonl(tmp_path / "track.jsonl", translation="absolute").sample(base=target)
    assert torch.allclose(absolute.pose, src.pose, atol=1e-4)
    rot_only = tracks_from_params(src, 25.0, translation="none")
    assert "tx" not in {c.name for c in rot_only.channels}


def test_tracked_values_past_the_controls_ranges_are_clamped_to_them():
    """A tracked head pitched 95 deg (or a weight at 1.02 after smoothing) still makes tracks that load anywhere."""
    params = FaceParams.neutral(3)
    params.pose[:, 1] = torch.tensor([0.0, 95.0, -100.0])
    params.expression[1, expression_index("jawOpen")] = 1.02
    values = tracks_from_params(params, 25.0).sample()
    assert np.allclose(values["pitch"], [0.0, 90.0, -90.0]) and values["jawOpen"].max() == 1.0


def test_jsonl_errors(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"type": "header", "fps": 25}\n')
    with pytest.raises(MorphableError, match="needs a header line and frames"):
        tracks_from_jsonl(path)
    path.write_text("not json\n")
    with pytest.raises(MorphableError, match="line 1 is not JSON"):
        tracks_from_jsonl(path)
    with pytest.raises(MorphableError, match="translation must be"):
        tracks_from_params(FaceParams.neutral(2), 25.0, translation="sideways")

