"""Live frame sources: only the newest frame is handed out, the rest are counted as dropped."""
from __future__ import annotations

import time

import pytest

from rig.live.sources import Camera, PacedClip, frames_of


def test_a_paced_clip_hands_out_the_newest_frame_and_counts_the_rest(real_faces):
    clip = PacedClip(real_faces / "tpsmm_driving.mp4", max_frames=40)
    assert clip.fps == 25.0
    got = []
    for arrival in frames_of(clip):
        got.append(arrival)
        if len(got) == 3:
            time.sleep(0.2)   # busy for 5 frame times: the frames arriving meanwhile are skipped
    clip.close()
    idx = [a.index for a in got]
    assert idx == sorted(set(idx)) and idx[0] == 0 and idx[-1] <= 39
    assert sum(a.dropped for a in got) + len(got) == idx[-1] + 1
    after = got[3]
    assert after.dropped == after.index - got[2].index - 1 >= 4
    assert after.time == pytest.approx(after.index / 25.0)
    assert got[1].frame.shape == (412, 410, 3)   # 410 wide, 412 high


def test_camera_through_opencv_keeps_only_the_newest_frame(real_faces):
    pytest.importorskip("cv2")
    cam = Camera(str(real_faces / "tpsmm_driving.mp4"), timeout=2.0)   # OpenCV reads a file as fast as it decodes
    try:
        first = cam.next()
        time.sleep(0.3)
        later = cam.next()
    finally:
        cam.close()
    assert first is not None and first.frame.ndim == 3 and first.frame.shape[2] == 3
    assert later.index > first.index and later.dropped == later.index - first.index - 1


def test_a_missing_camera_is_one_user_error():
    from rig.errors import RigError

    with pytest.raises(RigError, match="cannot open camera 63"):
        Camera(63)
