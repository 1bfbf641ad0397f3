"""The self-reenactment benchmark's metric functions (bench/bench_selfreenact.py) on drawn shapes and real frames."""
from __future__ import annotations

import numpy as np
import pytest

from bench import bench_selfreenact as sr
from tests.conftest import SHARED


def eye_points(cx: float, cy: float, width: float, opening: float) -> np.ndarray:
    """68 points with one eye polygon (subject's right, 36-41) drawn; the rest left at the eye centre."""
    pts = np.tile([cx, cy], (68, 1)).astype(float)
    h = opening / 2
    pts[36:42] = [[cx - width / 2, cy], [cx - width / 6, cy - h], [cx + width / 6, cy - h],
                  [cx + width / 2, cy], [cx + width / 6, cy + h], [cx - width / 6, cy + h]]
    return pts


def eye_image(iris_x: float, iris_y: float) -> np.ndarray:
    """A pale eye on skin with a dark disc (radius 7 px) at (iris_x, iris_y)."""
    yy, xx = np.mgrid[0:100, 0:160]
    img = np.full((100, 160, 3), (200, 160, 140), np.uint8)
    img[(np.abs(yy - 50) < 14) & (np.abs(xx - 80) < 40)] = (235, 235, 230)
    img[(xx - iris_x) ** 2 + (yy - iris_y) ** 2 < 49] = (40, 30, 25)
    return img


@pytest.mark.parametrize("dx,dy", [(0, 0), (12, 0), (-15, 2), (8, -3)])
def test_iris_position_finds_the_dark_disc(dx, dy):
    pts = eye_points(80, 50, 60, 24)
    u, v = sr.iris_position(eye_image(80 + dx, 50 + dy), pts, sr.RIGHT_EYE)
    assert u == pytest.approx(dx / 60, abs=0.03) and v == pytest.approx(dy / 60, abs=0.03)


def test_iris_position_skips_a_closed_eye():
    assert np.isnan(sr.iris_position(eye_image(80, 50), eye_points(80, 50, 60, 4), sr.RIGHT_EYE)).all()


def test_shape_metrics_on_known_points():
    pts = np.zeros((68, 2))
    pts[36], pts[45] = (0, 0), (100, 0)                       # IOD 100
    pts[48], pts[54] = (20, 80), (80, 80)                     # mouth width 60
    for a, b in ((61, 67), (62, 66), (63, 65)):               # inner-lip gap 15
        pts[a], pts[b] = (50, 75), (50, 90)
    pts[37:39], pts[40:42] = (10, -5), (10, 5)                # right eye gap 10
    pts[43:45], pts[46:48] = (90, -3), (90, 3)                # left eye gap 6
    assert sr.mouth_shape(pts) == pytest.approx((0.15, 0.6))
    assert sr.eye_openings(pts) == pytest.approx([0.10, 0.06])
    assert sr.landmark_error(pts + [3.0, 4.0], pts) == pytest.approx(5.0)   # 5 px of a 100 px IOD


def test_rotation_error_and_removed_share():
    err = sr.rotation_error(np.array([[10.0, 0, 0], [0, 0, 0], [0, 20, 0]]), np.zeros((3, 3)))
    assert err == pytest.approx([10.0, 0.0, 20.0], abs=1e-6)
    r = sr.removed_share([1.0, np.nan, 2.0], [4.0, 5.0, 2.0])   # the NaN frame is left out of both
    assert r["n"] == 2 and r["removed"] == pytest.approx(1 - 1.5 / 3.0)


def test_flicker_and_boxes():
    frames = np.zeros((3, 20, 20, 3), np.uint8)
    frames[1, 5:10, 5:10] = 100                               # a change inside the box only at t=1 and t=2
    box = (5, 5, 10, 10)
    f = sr.flicker(frames, [box, box, None])
    assert np.isnan(f[0]) and f[1] == pytest.approx(100.0) and np.isnan(f[2])
    assert sr.landmark_box(np.array([[10.0, 10.0], [30.0, 20.0]]), (25, 100), 0.5) == (0, 0, 40, 25)


CLIPS = SHARED / "data" / "real-faces"


@pytest.fixture(scope="module")
def katie():
    """Frames 0 and 24 of a real clip (a blink at frame 24) and their dlib grades."""
    path = CLIPS / "sadtalker_WDA_KatieHill_000.mp4"
    if not path.is_file():
        pytest.skip(f"needs {path} (the project's shared data)")
    from rig.inputs import open_driver

    frames, _ = open_driver(path, max_frames=25)
    pick = [frames[0], frames[24]]
    return pick, sr.Grader()(pick)


def test_grader_on_real_frames(katie):
    frames, g = katie
    assert g.found.all()
    assert (sr.eye_openings(g.pts[1]) < 0.6 * sr.eye_openings(g.pts[0])).all()   # the blink reads as closing
    assert np.isfinite(g.iris[0]).all() and np.isnan(g.iris[1]).all()   # no iris in shut eyes
    assert np.abs(g.iris[0]).max() < 0.3                       # open eyes: the iris near the eye's middle
    # the static baseline at frame 0 is exact; at frame 24 it has a real error
    static = sr.compare(frames, g, [frames[0], frames[0]], sr.Graded(g.pts[[0, 0]], g.pose[[0, 0]], g.desc[[0, 0]],
                                                                        g.iris[[0, 0]]), g.desc[0])
    assert static["face_psnr"][0] == np.inf and static["landmarks"][0] == 0.0 and static["identity"][0] == 0.0
    assert 10.0 < static["face_psnr"][1] < 40.0 and static["landmarks"][1] > 1.0 and (static["eye_open"][1] > 0.02).all()
