"""The live tracker's pose filter on a real clip: steadier than the batch settings where the driver holds still,
and it still follows the head (its motion tracks the driver's, with little lag)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from morphable.fit.online import D_CUTOFF, OneEuro, OnlineTracker, live_filter
from morphable.fit.smoothing import POSE_DEAD, POSE_GROUPS, face_centred, origin_placed
from morphable.fit.track import POSE_SCALE

CLIP = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "real-faces" / "aniportrait_pose_ref.mp4"
FRAMES = 125
STILL_SHARE = 0.25


def test_live_filter_is_the_one_euro_per_block():
    f = live_filter(25.0)
    assert f.min_cutoff.shape == f.beta.shape == (58,) and f.d_cutoff == D_CUTOFF
    rng = np.random.default_rng(0)
    sig = np.cumsum(rng.normal(0, 0.5, (80, 58)), 0)
    out = np.stack([f(x) for x in sig])
    # a column filtered alone equals a scalar filter with that column's settings (expressions: no groups)
    g = OneEuro(25.0, np.array([0.05]), min_cutoff=f.min_cutoff[10], beta=f.beta[10])
    np.testing.assert_allclose(out[:, 10], np.stack([g(x[10:11]) for x in sig])[:, 0], atol=1e-12)


def _motion(points: np.ndarray, iod: tuple[int, int]) -> np.ndarray:
    """(T-1,) mean point motion between consecutive frames in % of the inter-ocular distance."""
    d = np.linalg.norm(points[:, iod[0]] - points[:, iod[1]], axis=1)
    return 100.0 * np.linalg.norm(np.diff(points, axis=0), axis=2).mean(1) / ((d[1:] + d[:-1]) / 2.0)


def _lag(a: np.ndarray, b: np.ndarray, most: int = 6) -> float:
    """Frames by which curve b lags curve a (peak of their cross-correlation, refined by a parabola)."""
    a, b = a - a.mean(), b - b.mean()
    lags = np.arange(-most, most + 1)
    c = np.array([np.dot(a[max(0, -k):len(a) - max(0, k)], b[max(0, k):len(b) - max(0, -k)]) for k in lags])
    i = int(np.argmax(c))
    y0, y1, y2 = c[i - 1], c[i], c[i + 1]
    return float(lags[i] + 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2))


@pytest.fixture(scope="module")
def held_and_moving():
    """aniportrait_pose_ref (a woman speaking, moving her head) tracked online without smoothing, its dlib motion."""
    if not CLIP.exists():
        pytest.skip(f"needs {CLIP} (../shared/data/real-faces)")
    from morphable.formats import load_model
    from morphable.landmarks import DlibBackend
    from morphable.landmarks_mp import mediapipe_importable
    from rig.inputs import open_driver

    if not mediapipe_importable():
        pytest.skip("the live tracker's pose filter is graded on MediaPipe's tracking")
    frames, fps = open_driver(CLIP, max_frames=FRAMES)
    tracker = OnlineTracker(load_model("default"), fps, smooth=False)
    readings = [tracker.step(f) for f in frames]
    keep = [i for i, r in enumerate(readings) if r.state == "tracking"]
    assert len(keep) > 100 and np.all(np.diff(keep) == 1)
    be = DlibBackend()
    dlib = np.stack([be.detect(frames[i])[0].points for i in keep])
    driver = _motion(dlib, (36, 45))
    return tracker, [readings[i].params for i in keep], driver, fps


@pytest.mark.slow
def test_live_pose_is_steadier_where_the_driver_holds_still_and_follows_the_head(held_and_moving):
    from morphable.params import FaceParams

    tracker, params, driver, fps = held_and_moving
    centre = tracker._centre
    raw = face_centred(np.stack([p.pose[0].double().numpy() for p in params]), centre)
    batch = OneEuro(fps, POSE_SCALE, groups=POSE_GROUPS, dead=POSE_DEAD)   # the batch tracker's settings
    live = live_filter(fps)
    smoothed = {"raw": raw, "batch": np.stack([batch(x) for x in raw]),
                "live": np.stack([live(np.concatenate([x, np.zeros(52)]))[:6] for x in raw])}
    both = FaceParams.cat(params)
    moved = {}
    for name, pose in smoothed.items():   # the face's points as the tracker's fit projects them, each pose
        at = both.replace(pose=torch.as_tensor(origin_placed(pose, centre), dtype=both.pose.dtype))
        moved[name] = _motion(tracker._frame_fit.project(at).double().numpy()[..., :2], tracker._set.iod)
    still = driver <= np.quantile(driver, STILL_SHARE)
    at_rest = {k: float(np.median(m[still])) for k, m in moved.items()}
    follows = {k: float(np.corrcoef(m, driver)[0, 1]) for k, m in moved.items()}
    lag = {k: [_lag(raw[:, j], p[:, j]) for j in range(2)] for k, p in smoothed.items()}
    # steadier where the driver holds still (measured 0.70 % of the IOD a frame against 0.78 with the batch
    # settings and 0.81 unfiltered)
    assert at_rest["live"] < 0.93 * at_rest["batch"] and at_rest["live"] < 0.9 * at_rest["raw"], at_rest
    # and not by smoothing the motion away: its motion still follows the driver's (correlation 0.81, unfiltered 0.90,
    # batch settings 0.84; a 40 mm/s dead zone on the position gave 0.75), with under a third of a frame of lag in
    # yaw and pitch (0.15 / 0.18; batch settings 0.39 / 0.46; a min cut-off of 0.3 Hz alone lags them by 3-5 frames)
    assert follows["live"] > 0.85 * follows["raw"], follows
    assert max(lag["live"]) < 0.3 and max(lag["live"]) < max(lag["batch"]), lag
