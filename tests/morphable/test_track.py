"""Tracking: shared identity, warm-started poses that follow a known yaw sweep, smoothing filters."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from morphable.errors import MorphableError
from morphable.fit.smoothing import one_euro, savgol, smooth
from morphable.fit.track import LIGHT_FRAMES, track_frames

from .fit_helpers import default_model, render_known

YAWS = np.linspace(-20.0, 20.0, 10)


@pytest.fixture(scope="module")
def sweep():
    model = default_model()
    frames = [render_known(model, size=96, seed=7, yaw=float(y),
                           expression={"jawOpen": 0.5 * abs(np.sin(i / 3.0))})[0] for i, y in enumerate(YAWS)]
    return model, frames


def test_track_follows_known_yaw_with_one_identity(sweep):
    model, frames = sweep
    track = track_frames(model, iter(frames), fps=10.0, smooth="none")
    assert len(track.frames) == len(YAWS) and all(f.ok for f in track.frames)
    yaw = np.array([float(f.params.yaw[0]) for f in track.frames])
    assert np.corrcoef(yaw, YAWS)[0, 1] > 0.98
    assert np.abs(yaw - YAWS).mean() < 4.0
    for f in track.frames:
        assert torch.equal(f.params.identity[0], track.identity.to(f.params.identity.dtype))
        assert f.landmark_error < 10.0
    # light is solved on LIGHT_FRAMES frames spread over the clip (their colour error is measured)
    # and interpolated between them
    solved = [f.index for f in track.frames if np.isfinite(f.photometric_error)]
    assert solved[0] == 0 and solved[-1] == len(YAWS) - 1 and len(solved) == min(len(YAWS), LIGHT_FRAMES)
    gap = next(i for i in range(len(YAWS)) if i not in solved)
    light = track.stacked().light.double()
    lo, hi = max(s for s in solved if s < gap), min(s for s in solved if s > gap)
    expect = light[lo] + (light[hi] - light[lo]) * (gap - lo) / (hi - lo)
    assert torch.allclose(light[gap], expect, atol=1e-5)
    assert track.frames[3].time == pytest.approx(0.3)


def test_track_smoothing_and_lost_frames(sweep):
    model, frames = sweep
    blank = np.full_like(frames[0], 40)
    track = track_frames(model, frames[:4] + [blank] + frames[4:], fps=10.0, smooth="one-euro", light=False)
    lost = track.frames[4]
    assert not lost.ok and lost.flags == ["no_face"]
    # a lost frame holds the previous frame's pose (before smoothing), so it stays between its neighbours
    assert float(track.frames[3].params.yaw[0]) - 6 < float(lost.params.yaw[0]) < float(track.frames[5].params.yaw[0]) + 6
    assert np.isnan(lost.photometric_error)


def test_track_rejects_empty_and_faceless_input(sweep):
    model, frames = sweep
    with pytest.raises(MorphableError, match="no frames"):
        track_frames(model, [], fps=10.0)
    with pytest.raises(MorphableError, match="no face"):
        track_frames(model, [np.zeros((64, 64, 3), np.uint8)] * 2, fps=10.0)
    with pytest.raises(MorphableError, match="smoothing"):
        track_frames(model, frames, smooth="kalman")


def test_one_euro_removes_jitter_but_follows_motion():
    rng = np.random.default_rng(0)
    t = np.arange(200) / 30.0
    still = 5.0 + rng.normal(0, 0.5, (200, 1))
    assert one_euro(still, 30.0)[50:].std() < 0.5 * still[50:].std()
    ramp = np.where(t < 3, 0.0, 60.0)[:, None]  # a sudden 60-degree head turn
    out = one_euro(ramp, 30.0)
    assert out[int(3.3 * 30), 0] > 50.0  # within 0.3 s


def test_savgol_keeps_a_linear_motion_and_short_clips():
    x = np.linspace(0, 10, 30)[:, None]
    assert np.allclose(savgol(x), x)
    assert np.allclose(smooth(np.ones((3, 2)), "savgol", 25.0), 1.0)
    with pytest.raises(MorphableError):
        smooth(x, "median", 25.0)
