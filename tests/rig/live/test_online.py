"""morphable.fit.online: the causal tracker against the batch tracker and the batch One-Euro filter."""
from __future__ import annotations

import numpy as np
import pytest

from morphable.fit.online import OneEuro, OnlineTracker
from morphable.fit.smoothing import one_euro


def test_one_euro_online_equals_the_batch_filter():
    rng = np.random.default_rng(0)
    t = np.arange(200) / 25.0
    signal = np.stack([np.sin(2 * t) * 10 + rng.normal(0, 0.5, len(t)), (t > 3) * 1.0 + rng.normal(0, 0.05, len(t))], 1)
    f = OneEuro(25.0)
    online = np.stack([f(x) for x in signal])
    np.testing.assert_allclose(online, one_euro(signal, 25.0), atol=1e-12)
    # dropped frames: the step is the time since the previous sample, so fewer samples track the same curve
    g = OneEuro(25.0)
    sparse = np.stack([g(signal[i], None if i == 0 else 2 / 25.0) for i in range(0, 200, 2)])
    assert np.abs(sparse[-20:, 0] - online[-40::2, 0]).max() < 2.0


@pytest.fixture(scope="module")
def tracked(driver_frames):
    """The same 40 real frames tracked online and by the batch tracker (morphable.fit.track)."""
    from morphable.fit.track import track_frames
    from morphable.formats import load_model
    from morphable.landmark_backends import backend_by_name

    frames, fps = driver_frames
    model = load_model("default")
    online = OnlineTracker(model, fps)
    readings = [online.step(f) for f in frames]
    batch = track_frames(model, frames, fps=fps, backend=backend_by_name("mediapipe"), light=False)
    return readings, batch, online


@pytest.mark.slow
def test_settles_then_tracks_like_the_batch_tracker(tracked):
    readings, batch, online = tracked
    states = [r.state for r in readings]
    k = online.settle_frames
    assert states[:k] == ["settling"] * k and all(r.params is None for r in readings[:k])
    assert states[k:] == ["tracking"] * (len(readings) - k)
    got = np.stack([r.params.pose[0, :3].numpy() for r in readings[k:]])
    want = np.stack([f.params.pose[0, :3].numpy() for f in batch.frames[k:]])
    # a head turning by several degrees over the clip; the online poses follow within a couple of degrees
    assert np.ptp(want[:, 0]) > 3.0
    assert np.abs(got - want).mean() < 1.5, np.abs(got - want).mean(0)
    assert np.corrcoef(got[:, 0], want[:, 0])[0, 1] > 0.9


@pytest.mark.slow
def test_expressions_follow_the_batch_reading(tracked):
    from morphable.arkit import expression_index

    readings, batch, online = tracked
    k = online.settle_frames
    jaw = expression_index("jawOpen")
    got = np.array([float(r.params.expression[0, jaw]) for r in readings[k:]])
    want = np.array([float(f.params.expression[0, jaw]) for f in batch.frames[k:]])
    assert np.ptp(want) > 0.1   # the man talks
    assert np.corrcoef(got, want)[0, 1] > 0.8


@pytest.mark.slow
def test_live_jaw_reads_the_lips_gap_like_the_batch_tracker(real_faces):
    """Both trackers read jawOpen from the inner lips' gap (mesh_expression.open_mouth): a woman speaking opens
    her mouth as wide live as in the batch reading (the live linear solve alone read 0.35 of the batch's level)."""
    from morphable.arkit import expression_index
    from morphable.fit.track import track_frames
    from morphable.formats import load_model
    from morphable.landmark_backends import backend_by_name
    from rig.inputs import open_driver

    frames, fps = open_driver(real_faces / "aniportrait_pose_ref.mp4", max_frames=75)
    model = load_model("default")
    online = OnlineTracker(model, fps)
    readings = [online.step(f) for f in frames]
    batch = track_frames(model, frames, fps=fps, backend=backend_by_name("mediapipe"), light=False)
    k, jaw = online.settle_frames, expression_index("jawOpen")
    got = np.array([float(r.params.expression[0, jaw]) for r in readings[k:]])
    want = np.array([float(f.params.expression[0, jaw]) for f in batch.frames[k:]])
    assert want.mean() > 0.2   # she talks with her mouth open
    assert 0.6 < got.mean() / want.mean() < 1.4, (got.mean(), want.mean())
    assert np.corrcoef(got, want)[0, 1] > 0.75


@pytest.mark.slow
def test_a_frame_without_a_face_holds_the_last_values(tracked, driver_frames):
    readings, _, online = tracked
    last = readings[-1].params
    held = online.step(np.full((240, 320, 3), 128, np.uint8))
    assert held.state == "held" and not held.ok and "no_face" in held.flags
    assert np.array_equal(held.params.pose.numpy(), last.pose.numpy())
    back = online.step(driver_frames[0][-1])
    assert back.state == "tracking"
