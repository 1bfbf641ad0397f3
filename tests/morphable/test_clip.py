"""Rendered driving clips follow their tracks."""
import numpy as np

from morphable.clip import demo_tracks, render_clip
from morphable.fit.track import track_frames
from tests.morphable.fit_helpers import default_model


def test_demo_clip_frames_follow_the_tracks():
    model = default_model()
    tracks = demo_tracks()
    frames, params = render_clip(model, tracks, size=64)
    assert frames.shape == (tracks.num_frames, 64, 64, 3) and frames.dtype == np.uint8
    yaw = params.yaw.numpy()
    assert yaw.min() < -15 and yaw.max() > 15          # the head turn is there
    jaw = params.expression_dict(5)["jawOpen"]
    assert jaw > 0.6                                     # the jaw is open at 0.5 s
    assert np.abs(frames[0].astype(float) - frames[5].astype(float)).mean() > 1.0


def test_tracking_the_demo_clip_recovers_the_yaw_sweep():
    model = default_model()
    frames, params = render_clip(model, demo_tracks(), size=128)
    track = track_frames(model, list(frames), fps=10)
    got = np.array([f.params.yaw.item() for f in track.frames])
    want = params.yaw.numpy()
    assert np.corrcoef(got, want)[0, 1] > 0.95
