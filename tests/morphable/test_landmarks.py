"""dlib landmarks and descriptors on real UTKFace photos."""
from __future__ import annotations


import numpy as np
import pytest
from PIL import Image

from morphable.errors import MorphableError
from morphable.landmarks import (
    DlibBackend, LEFT_EYE, MOUTH, RIGHT_EYE, _Attempt, descriptor_distance, detect_faces,
    detect_landmarks, face_descriptor,
)




@pytest.fixture(scope="module")
def photos(utkface_photos):
    return utkface_photos(10, 0)


def test_landmarks_found_on_real_photos(photos):
    found = 0
    for img in photos:
        pts = detect_landmarks(img)
        if pts is None:
            continue
        found += 1
        h, w = img.shape[:2]
        assert pts.shape == (68, 2)
        inner = pts[17:]  # brows, nose, eyes, mouth: inside the photo
        assert (inner >= 0).all() and (inner[:, 0] < w).all() and (inner[:, 1] < h).all()
        # UTKFace crops are tight: the jaw outline may poke a little past the border.
        assert (pts > -0.1 * w).all() and (pts[:, 0] < 1.1 * w).all() and (pts[:, 1] < 1.1 * h).all()
        r_eye, l_eye = pts[list(RIGHT_EYE)].mean(0), pts[list(LEFT_EYE)].mean(0)
        nose_tip, mouth = pts[30], pts[list(MOUTH)].mean(0)
        assert r_eye[0] < l_eye[0]  # subject's right eye is on the image left
        eyes_y = (r_eye[1] + l_eye[1]) / 2
        assert eyes_y < nose_tip[1] < mouth[1]  # eyes above nose above mouth
        assert pts[8, 1] > mouth[1]  # chin below mouth
    assert found >= 9


def test_several_faces_sorted_largest_first(photos):
    a = photos[0]
    b = np.array(Image.fromarray(photos[1]).resize((80, 80), Image.BICUBIC))
    canvas = np.full((200, 360, 3), 128, np.uint8)
    canvas[30:158, 20:148] = a  # 128 px face
    canvas[60:140, 250:330] = b  # smaller face
    faces = DlibBackend(attempts=(_Attempt("up2", 0.0, 2),)).detect(canvas)
    assert len(faces) >= 2
    assert faces[0].area >= faces[1].area
    assert faces[0].points[:, 0].mean() < 160  # the big face is on the left


def test_tight_crop_needs_padding_fallback(photos):
    # Crops that cut into the face defeat the plain detector; the padded retry recovers them
    # and its points map back onto the crop's own pixel frame.
    plain_only = DlibBackend(attempts=(_Attempt("plain", 0.0, 1),))
    plain_hits, hits, fallback_hits = 0, 0, 0
    for img in photos:
        ref = detect_landmarks(img)
        if ref is None:
            continue
        x0, y0 = np.floor(ref.min(0)).astype(int) + 6
        x1, y1 = np.ceil(ref.max(0)).astype(int) - 6
        x0, y0 = max(x0, 0), max(y0, 0)
        tight = np.ascontiguousarray(img[y0:y1, x0:x1])
        plain_hits += bool(plain_only.detect(tight))
        faces = detect_faces(tight)
        if not faces:
            continue
        hits += 1
        if faces[0].attempt != "plain":
            fallback_hits += 1
            moved = faces[0].points[17:] + (x0, y0)
            assert np.sqrt(((moved - ref[17:]) ** 2).sum(1).mean()) < 5.0
    assert hits >= 8
    assert fallback_hits >= 3 and plain_hits < hits


@pytest.mark.parametrize("kind", ["noise", "flat"])
def test_non_face_gives_none(kind):
    rng = np.random.default_rng(1)
    img = (rng.integers(0, 256, (128, 128, 3), dtype=np.uint8) if kind == "noise"
           else np.full((128, 128, 3), (180, 140, 120), np.uint8))
    assert detect_landmarks(img) is None


def test_bad_image_shape_is_user_error():
    with pytest.raises(MorphableError):
        detect_landmarks(np.zeros((4, 4, 5), np.uint8))


def test_descriptor_shift_resize_small_other_person_larger(photos):
    base = photos[0]
    d0 = face_descriptor(base, detect_landmarks(base))
    assert d0.shape == (128,)
    # Same photo shifted by 3 px and resized to 150 px.
    shifted = np.roll(base, (3, -2), axis=(0, 1))
    resized = np.array(Image.fromarray(shifted).resize((150, 150), Image.BICUBIC))
    d1 = face_descriptor(resized, detect_landmarks(resized))
    assert descriptor_distance(d0, d1) < 0.3
    others = []
    for img in photos[1:]:
        pts = detect_landmarks(img)
        if pts is not None:
            others.append(descriptor_distance(d0, face_descriptor(img, pts)))
    assert len(others) >= 6
    # Different people: usually farther apart than the same photo, mostly past dlib's 0.6.
    assert np.median(others) > 0.5
    assert np.mean(np.array(others) > descriptor_distance(d0, d1)) >= 0.8


def test_rotated_face_found_by_rotation_retry(photos):
    # Rotate photos 25 deg (PIL: counter-clockwise on screen) inside an edge-padded canvas;
    # points must come back in the rotated image's own pixel frame.
    theta = np.deg2rad(25.0)
    found = 0
    for img in photos[:5]:
        ref = detect_landmarks(img)
        if ref is None:
            continue
        canvas = np.pad(img, ((64, 64), (64, 64), (0, 0)), mode="edge")
        c = np.array([(canvas.shape[1]) / 2.0, (canvas.shape[0]) / 2.0])
        rotated = np.array(Image.fromarray(canvas).rotate(25.0, resample=Image.BICUBIC, center=tuple(c)))
        expect = (ref + 64 - c) @ np.array([[np.cos(theta), -np.sin(theta)],
                                            [np.sin(theta), np.cos(theta)]]) + c
        faces = detect_faces(rotated)
        if not faces:
            continue
        found += 1
        err = np.sqrt(((faces[0].points[17:] - expect[17:]) ** 2).sum(1).mean())
        assert err < 5.0
    assert found >= 4


def test_large_photo_detected_without_upsampling(photos):
    # A 704 px photo skips the detector's upsampling; points still match the small photo's.
    img = photos[2]
    ref = detect_landmarks(img)
    big = np.array(Image.fromarray(img).resize((704, 704), Image.BICUBIC))
    faces = detect_faces(big)
    assert faces and faces[0].attempt in {"plain", "pad30-up1", "pad50-up2"}
    scaled = (ref + 0.5) * 5.5 - 0.5
    rms = np.sqrt(((faces[0].points[17:] - scaled[17:]) ** 2).sum(1).mean())
    assert rms < 0.05 * 704
