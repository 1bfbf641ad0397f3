"""bench_selfreenact runs end to end on a real clip: a refactor of the engine's flows broke it once unseen."""
from __future__ import annotations

import pytest

from bench import bench_selfreenact as sr
from tests.conftest import SHARED

CLIP = "tpsmm_driving"


def test_one_clip_reenacts_and_grades():
    if not (SHARED / "data" / "real-faces" / f"{CLIP}.mp4").is_file():
        pytest.skip(f"needs ../shared/data/real-faces/{CLIP}.mp4 (the project's shared data)")
    row, curves = sr.run_clip(CLIP, 6, sr.Grader(), None)
    assert row["frames"] == 6 and len(curves["outputs"]) == 6
    assert row["dlib_found"]["output"] == 5          # every graded output still shows a face dlib finds
    metrics = row["metrics"]
    # the first frames barely move: a working engine stays on the true frames' face (landmarks within a
    # few % of the eye distance, a high face-box PSNR) and keeps the person; a broken warp or a copy of a
    # wrong frame does not
    assert metrics["landmarks"]["method"] < 3.0
    assert metrics["face_psnr"]["method"] > 28.0
    assert metrics["identity"]["max"] < 0.45
    for key in ("landmarks", "pose", "mouth_open", "eye_open", "iris"):
        assert {"method", "static", "removed"} <= set(metrics[key]), key   # both graded, the share computed
