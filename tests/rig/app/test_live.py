"""The live-image route (rig.app.live) on the real default rig and 3DMM, through FastAPI's test client."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from rig import engine as S
from rig.engine.controls import POSE_NAMES
from rig.app.live import ROUTE
from rig.errors import RigError


@pytest.fixture(scope="module")
def served(single_thread):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from rig.app import live
    from rig.app.engine import Engine

    engine = Engine(size=128)
    app = FastAPI()
    live.add_route(app, engine)
    return engine, TestClient(app)


def _png(reply) -> np.ndarray:
    assert reply.status_code == 200 and reply.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(reply.content)).convert("RGB"))


@pytest.mark.parametrize("kind", ["generated", "morphable"])
def test_live_image_is_the_preview_at_the_moved_controls_and_is_kept(served, kind):
    engine, client = served
    key, src = engine.new_source(kind, seed=3, truncation=0.7, identity_seed=2)
    c0 = src.controls()
    shown = _png(client.get(ROUTE, params={"key": key, "yaw": c0.yaw + 12, "jawOpen": 0.6}))
    moved = c0.with_values(yaw=c0.yaw + 12, jawOpen=0.6)
    assert np.array_equal(shown, src.preview(moved))          # lossless: the very image the source draws
    assert np.abs(shown.astype(int) - src.preview(c0).astype(int)).mean() > 2.0   # and the face did move
    stored = engine.page(key).controls                         # the engine keeps the values for the next event
    assert stored.yaw == pytest.approx(c0.yaw + 12) and stored.expression["jawOpen"] == pytest.approx(0.6)
    # a later request with one value keeps the other
    again = _png(client.get(ROUTE, params={"key": key, "pitch": 5}))
    assert np.array_equal(again, src.preview(moved.with_values(pitch=5)))


def test_bad_requests_are_one_line_and_change_nothing(served):
    engine, client = served
    key, src = engine.new_source("morphable", identity_seed=1)
    before = engine.page(key).controls
    for params, status, words in (({"key": "nope", "yaw": 1}, 404, "no longer loaded"),
                                  ({"key": key, "jawOpen": "nan"}, 422, "not a finite number"),
                                  ({"key": key, "yaw": "left"}, 422, "not a number"),
                                  ({"key": key, "light": "top"}, 422, "unknown control"),
                                  ({"key": key, "smile": 0.5}, 422, "unknown control")):
        reply = client.get(ROUTE, params=params)
        assert reply.status_code == status, params
        assert words in reply.text and "\n" not in reply.text.strip()
    assert engine.page(key).controls == before


def test_values_beyond_a_slider_are_clamped_as_the_slider_clamps_them(served):
    """A number typed past a slider's end: Gradio's widget clamps it, so the route stores the same value."""
    engine, client = served
    key, src = engine.new_source("morphable", identity_seed=1)
    shown = _png(client.get(ROUTE, params={"key": key, "yaw": 400, "eyeBlinkLeft": -2}))
    stored = engine.page(key).controls
    assert stored.yaw == 90.0 and stored.expression["eyeBlinkLeft"] == 0.0   # the controls table: yaw +-90
    assert np.array_equal(shown, src.preview(stored))


def test_the_overlay_is_drawn_when_asked(served):
    engine, client = served
    key, src = engine.new_source("morphable", identity_seed=1)
    plain = _png(client.get(ROUTE, params={"key": key, "yaw": 10}))
    marked = _png(client.get(ROUTE, params={"key": key, "yaw": 10, "overlay": "1"}))
    assert np.array_equal(marked, src.overlay(plain, engine.page(key).controls)) and not np.array_equal(marked, plain)


def test_checked_values_parse_and_bound_every_numeric_control():
    assert S.checked_values({"yaw": "-60", "azimuth": "90", "eyeBlinkLeft": "0.25"}) == {
        "yaw": -60.0, "azimuth": 90.0, "eyeBlinkLeft": 0.25}
    with pytest.raises(RigError, match="elevation: -91 is outside -90 .. 90"):
        S.checked_values({"elevation": -91})
    for bad in ("inf", "nan"):
        with pytest.raises(RigError, match="not a finite number"):
            S.checked_values({"roll": bad}, clamp=True)
    assert S.checked_values({"roll": -199, "mouthClose": 3}, clamp=True) == {"roll": -180.0, "mouthClose": 1.0}


def test_photo_engine_sliders_clamp_where_its_warp_holds(served):
    """The portrait (the app's opening face) goes through the photo engine: yaw stops at its limit, not at 60."""
    pytest.importorskip("skimage")
    from rig.photo.photo_rig import YAW_LIMIT

    engine, client = served
    key, src = engine.new_source("portrait")
    shown = _png(client.get(ROUTE, params={"key": key, "yaw": 60}))
    stored = engine.page(key).controls
    assert stored.yaw == pytest.approx(src.control_limits("yaw")[1]) and stored.yaw <= YAW_LIMIT
    assert src.range_note(stored) is None and np.array_equal(shown, src.preview(stored))
    assert engine.new_source("portrait")[1] is src   # fitted once, shared by every page


def test_upload_errors_name_the_file_not_the_servers_copy(tmp_path):
    from rig.app.engine import public_message, read_upload

    bad = tmp_path / "notes.png"
    bad.write_text("not an image at all")
    with pytest.raises(RigError) as info:
        read_upload(bad)
    assert "notes.png" in str(info.value) and str(tmp_path) not in str(info.value)
    assert public_message(OSError(f"cannot open {tmp_path}/x/holiday.jpg: truncated")) == \
        "cannot open holiday.jpg: truncated"


def test_no_slider_note_claims_a_zero_width_trained_range(served):
    """The DCGAN rig was trained on a single value of some controls: their note says so, never 'trained 0 .. 0'."""
    from morphable.arkit import ARKIT_NAMES
    from rig.app.ui import _range_info

    engine, _ = served
    src = engine.new_source("generated", seed=3)[1]
    names = [*POSE_NAMES, *ARKIT_NAMES]
    notes = {n: _range_info(src, n) for n in names}
    assert not any(" 0 .. 0" in text and text.endswith(" 0") for text in notes.values()), notes
    single = [n for n in names if (r := src.trained_range(n)) is not None and r[1] - r[0] < 1e-3]
    assert all(notes[n].startswith("not in the rig's training data") for n in single)
    spread = [n for n in names if (r := src.trained_range(n)) is not None and r[1] - r[0] >= 1e-3]
    assert spread and all(notes[n].startswith("trained ") for n in spread)


def test_pages_past_max_sources_are_dropped_least_recently_used_first(served):
    """The page store (rig.app.store.LruStore): a page used since it was loaded outlives older unused ones."""
    from rig.app.engine import MAX_SOURCES

    engine, client = served
    src = engine.page(engine.new_source("morphable")[0]).source
    touched, dropped = engine.add_source(src), engine.add_source(src)
    for _ in range(MAX_SOURCES - 2):
        engine.add_source(src)
    engine.page(touched)                       # used: now the most recent
    newest = engine.add_source(src)            # one past the limit: the oldest unused page goes
    assert client.get(ROUTE, params={"key": dropped}).status_code == 404
    for key in (touched, newest):
        _png(client.get(ROUTE, params={"key": key}))
