"""Face finding in ordinary photos: a 268 px face in a 1080p portrait, the same face small in big frames."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from morphable.face_finder import FaceFinder, FindingBackend, iou, merge, FoundFace
from morphable.landmark_backends import backend_name, finding_backend
from morphable.landmarks_mp import MediaPipeBackend, mediapipe_importable

OBAMA = Path(__file__).resolve().parents[3] / "shared" / "data" / "real-faces" / "face_recognition_obama-1080p.jpg"
needs_photo = pytest.mark.skipif(not OBAMA.exists(), reason=f"shared data absent: {OBAMA}")
needs_mp = pytest.mark.skipif(not mediapipe_importable(), reason="mediapipe is not installed")
#: where the face is in the 1080p photo (measured by eye on the file: forehead to chin, ear to ear)
FACE_CENTRE = (1000.0, 280.0)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.asarray(Image.open(OBAMA).convert("RGB"))


def pasted(photo: np.ndarray, face_px: int, size: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """The photo's head (a 360 px square around the 268 px face) scaled so the face is `face_px` wide,
    pasted into a plain (w, h) frame; returns the frame and the head's centre."""
    head = photo[100:460, 820:1180]
    side = round(360 * face_px / 268)
    small = np.asarray(Image.fromarray(head).resize((side, side), Image.LANCZOS))
    w, h = size
    frame = np.full((h, w, 3), (96, 110, 120), np.uint8)
    x, y = int(w * 0.62), int(h * 0.3)
    frame[y:y + side, x:x + side] = small
    return frame, (x + side // 2, y + side // 2)


@needs_photo
@needs_mp
def test_face_in_a_1080p_portrait_is_found_where_the_mesh_alone_misses_it(photo):
    assert MediaPipeBackend().detect(photo) == []        # the cause of "no face found" before
    faces = FaceFinder().find(photo)
    assert len(faces) == 1
    cx, cy = faces[0].centre
    assert abs(cx - FACE_CENTRE[0]) < 60 and abs(cy - FACE_CENTRE[1]) < 60
    assert 240 < faces[0].side < 340
    found = finding_backend("mediapipe").detect(photo)
    assert len(found) == 1 and found[0].mesh.shape == (468, 2)
    d = found[0]
    iod = np.linalg.norm(d.points[45] - d.points[36])
    assert 110 < iod < 175                                # outer eye corners of a 268 px face, photo px
    # the same points as the mesh on a plain crop of the photo (mapped back by hand)
    crop = photo[60:700, 700:1340]
    ref = MediaPipeBackend().detect(crop)[0]
    assert np.linalg.norm(d.points - (ref.points + np.array([700, 60])), axis=1).mean() < 0.05 * iod
    if ref.iris is not None:          # every point field comes back in photo px (the irises too)
        assert np.abs(d.iris - (ref.iris + np.array([700, 60]))).max() < 0.05 * iod


@needs_photo
@needs_mp
@pytest.mark.parametrize("face_px,size", [(120, (1920, 1080)), (300, (8000, 6000))])
def test_the_same_face_small_in_a_big_frame_is_found(photo, face_px, size):
    frame, (cx, cy) = pasted(photo, face_px, size)
    found = finding_backend("mediapipe").detect(frame)
    assert len(found) == 1
    box = found[0].box
    assert box[0] < cx < box[2] and box[1] < cy < box[3]
    assert 0.7 * face_px < box[2] - box[0] < 1.3 * face_px


@needs_mp
def test_a_video_backend_looks_where_the_last_frame_had_its_face():
    clip = OBAMA.parent / "xportrait_driving.mp4"
    if not clip.exists():
        pytest.skip(f"shared data absent: {clip}")
    from morphable.fit.video_io import open_frames

    frames = list(open_frames(clip, max_frames=4)[0])
    mesh = MediaPipeBackend()
    video = FindingBackend(mesh, remember=True)
    for frame in frames:
        a, b = video.detect(frame), FindingBackend(mesh).detect(frame)
        assert len(a) == len(b) == 1
        assert np.abs(a[0].points - b[0].points).max() < 1e-6      # the same face, the same points
        assert video._last is not None and video._last[1].source == "last frame"


def test_overlapping_boxes_merge_into_the_best_scored_and_sort_largest_first():
    a = FoundFace((0, 0, 100, 100), 0.9, "x")
    b = FoundFace((5, 5, 105, 105), 0.6, "x")
    c = FoundFace((300, 300, 500, 500), 0.7, "x")
    assert iou(a.box, b.box) > 0.8 and iou(a.box, c.box) == 0.0
    assert merge([b, c, a]) == [c, a]


@needs_mp
def test_a_photo_without_a_face_gives_nothing():
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (480, 720, 3), dtype=np.uint8)
    assert finding_backend().detect(noise) == []


@needs_mp
def test_the_finder_records_as_its_inner_backend():
    assert backend_name(finding_backend("mediapipe")) == "mediapipe"
    assert backend_name(finding_backend("dlib")) == "dlib"
    assert isinstance(finding_backend("mediapipe"), FindingBackend)
