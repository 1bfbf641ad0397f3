"""Relative lid transfer on a real clip: sadtalker_WDA_AlexandriaOcasioCortez_000 squints a little in frame 0
(dlib's lid gaps 0.095 / 0.098 IOD) and opens her eyes at frames 63-74 (0.113-0.125 IOD, 20-30% wider).
The tracker reads that as her frame-0 squint relaxing; the source's eyes must open with it. From frame 15 on she
looks to the image's left of where she looked in frame 0 (dlib's dark-pixel iris 0.05 eye widths, the tracker's
11-16 degrees): the source's eyes must turn with her."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from morphable.arkit import expression_index

from .fit_helpers import default_model

mp = pytest.importorskip("morphable.landmarks_mp")
if not mp.mediapipe_importable():
    pytest.skip("mediapipe is not importable", allow_module_level=True)

REAL = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "real-faces"
        / "sadtalker_WDA_AlexandriaOcasioCortez_000.mp4")


@pytest.mark.slow
def test_a_real_drivers_relaxed_squint_opens_the_source_eyes_and_its_gaze_turns_them():
    if not REAL.exists():
        pytest.skip(f"real clip not found at {REAL} (../shared/data/real-faces)")
    from morphable.fit.track import track_frames
    from morphable.fit.video_io import open_frames
    from morphable.gaze import eye_angles
    from morphable.transfer import LIDS, opening, transfer

    frames, fps = open_frames(REAL)
    track = track_frames(default_model(), list(frames)[:75], fps=fps, backend=mp.MediaPipeBackend(), light=False)
    driver = track.stacked()
    source = driver[0].replace(expression=torch.zeros_like(driver.expression[:1]))
    out = transfer(source, driver, ["expression"])
    for eye in LIDS:
        lids = out.expression[:, [expression_index(n) for n in eye]].double()
        kept = opening(lids)
        assert float(kept[0]) == pytest.approx(1.0)
        assert float(kept[63:75].mean()) > 1.04, (eye, kept[63:75])
    left = opening(out.expression[:, [expression_index(n) for n in LIDS[0]]].double())
    assert float(left[63:75].mean()) > 1.15, left[63:75]
    # gaze: weights added and clamped at 0 kept the source's eyes straight (0.0 to -1.5 degrees)
    yaw = eye_angles(out.expression)[15:75, :, 0].mean(0)
    assert float(yaw.max()) < -8.0, yaw
