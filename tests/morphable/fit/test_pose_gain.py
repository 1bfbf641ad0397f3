"""Known answer on a real clip: the tracker's head turns against an independent reading of the same frames.

sadtalker_WDA_KatieHill_000 turns ~20 deg and tilts in its first 75 frames. Each frame's pose is also read
by a fit to dlib's 68 points (the self-reenactment bench's grader: another detector, iBUG-68, no depth, a
fresh fit per frame); the tracker (MediaPipe's mesh, one identity, smoothed) must find the same turns.
Measured (docs/tracking.md, "Head pose"): yaw slope 0.89, r 1.00 on this clip; 0.99 over the bench's 5.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

CLIP = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "real-faces" / "sadtalker_WDA_KatieHill_000.mp4"


@pytest.mark.slow
def test_tracked_turns_match_a_dlib_reading_of_the_same_frames():
    if not CLIP.exists():
        pytest.skip(f"real clip not found at {CLIP} (../shared/data/real-faces)")
    pytest.importorskip("dlib")
    mp = pytest.importorskip("morphable.landmarks_mp")
    if not mp.mediapipe_importable():
        pytest.skip("mediapipe is not importable")
    from morphable.fit import Fitter
    from morphable.fit.batch import detect
    from morphable.fit.track import track_frames
    from morphable.formats import load_model
    from morphable.landmarks import DlibBackend
    from rig.inputs import open_driver

    frames, fps = open_driver(CLIP, max_frames=75)
    model = load_model("default")
    tracked = track_frames(model, frames, fps=fps, backend=mp.MediaPipeBackend(), light=False).stacked()
    dlib = DlibBackend(max_upsample_side=256)
    found = detect(frames, dlib)
    rows = [i for i, d in enumerate(found) if d is not None]
    assert len(rows) >= 70
    graded, _, _, _ = Fitter(model, backend=dlib).fit_detected([frames[i] for i in rows], [found[i] for i in rows],
                                                                  photometric=False)
    true = graded.pose[:, 0].double().numpy()
    got = tracked.pose[rows, 0].double().numpy()
    dt, dg = got - got[0], true - true[0]
    slope = float(dg @ dt / (dg @ dg))
    assert 0.8 < slope < 1.2 and np.corrcoef(dg, dt)[0, 1] > 0.95
    turned = np.abs(dg) > 10.0                      # frames the dlib reading says turned over 10 deg
    assert turned.sum() >= 20
    assert 0.75 < float(np.mean(dt[turned] / dg[turned])) < 1.25
