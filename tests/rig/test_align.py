"""Alignment to the measured UTKFace framing, on real UTKFace photos."""
from __future__ import annotations

import json

import numpy as np
import pytest

from morphable.landmarks import detect_landmarks
from rig.align import (
    TEMPLATE_PATH, align_face, apply_transform, invert_transform, landmark_rms, load_template,
    umeyama, warp,
)
from rig.errors import RigError




def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / max(mse, 1e-12)))


@pytest.fixture(scope="module")
def photos(utkface_photos):
    return [p for p in utkface_photos(8, 3) if detect_landmarks(p) is not None][:5]


def test_template_record_is_measured():
    record = json.loads(TEMPLATE_PATH.read_text())
    assert record["faces_used"] >= 400 and record["images_tried"] >= 500
    pts = load_template()
    assert pts.shape == (68, 2) and (pts > 0).all() and (pts < 1.05).all()
    # Sane face layout: right eye left of left eye, eyes above mouth.
    assert pts[36:42, 0].mean() < pts[42:48, 0].mean()
    assert pts[36:48, 1].mean() < pts[48:68, 1].mean()


def test_umeyama_recovers_a_known_similarity():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(30, 2)) * 40
    ang = np.deg2rad(23.0)
    true = np.array([[np.cos(ang), -np.sin(ang), 7.0], [np.sin(ang), np.cos(ang), -3.0]]) * [[1.7], [1.7]]
    true[:, 2] = [7.0, -3.0]
    est = umeyama(src, apply_transform(true, src))
    np.testing.assert_allclose(est, true, atol=1e-9)
    back = apply_transform(invert_transform(est), apply_transform(est, src))
    np.testing.assert_allclose(back, src, atol=1e-9)


def test_aligning_a_utkface_photo_is_nearly_identity(photos):
    for img in photos:
        aligned, transform, pts = align_face(img, 128)
        assert aligned.shape == (128, 128, 3) and aligned.dtype == np.uint8
        scale = np.sqrt(abs(np.linalg.det(transform[:, :2])))
        assert 0.85 < scale < 1.15  # UTKFace is already framed like the template
        assert landmark_rms(pts) < 6.0  # within the measured spread (about 5 px)
        # Re-detecting on the aligned image lands on the template.
        again = detect_landmarks(aligned)
        assert again is not None and landmark_rms(again) < 6.0


def test_rotated_scaled_shifted_copy_aligns_back(photos):
    for img in photos[:3]:
        ref, _, ref_pts = align_face(img, 128)
        # Put the photo into a bigger canvas, rotated by 15 deg, scaled 1.6x, shifted.
        ang = np.deg2rad(15.0)
        s = 1.6
        m = np.array([[s * np.cos(ang), -s * np.sin(ang), 60.0], [s * np.sin(ang), s * np.cos(ang), 20.0]])
        moved = warp(img, m, 300)
        out, transform, pts = align_face(moved, 128)
        assert np.sqrt(((pts - ref_pts)[17:] ** 2).sum(-1).mean()) < 3.0
        # Compare the central face region (borders differ: the copy lost the photo's corners).
        c = slice(24, 104)
        assert _psnr(out[c, c], ref[c, c]) > 22.0


def test_align_at_generator_resolution(photos):
    out, transform, pts = align_face(photos[0], 64)
    assert out.shape == (64, 64, 3)
    assert landmark_rms(pts, 64) < 3.0


def test_no_face_raises_rig_error():
    flat = np.full((128, 128, 3), 90, np.uint8)
    with pytest.raises(RigError, match="no face found in flat.png"):
        align_face(flat, name="flat.png")
