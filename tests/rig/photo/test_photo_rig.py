"""PhotoRig on real UTKFace photos: the person, the resolution and the bad input."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from rig.errors import RigError
from rig.photo.photo_rig import PhotoRig, read_photo


@pytest.fixture(scope="module")
def photo_rig(utkface_photos):
    """An adult UTKFace photo upscaled to 256 px (bicubic), fitted once."""
    from PIL import Image

    from morphable.landmarks import detect_landmarks

    for img in utkface_photos(12, seed=21):
        big = np.array(Image.fromarray(img).resize((256, 256), Image.BICUBIC))
        if detect_landmarks(big) is None:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return PhotoRig.from_photo(big)
            except RigError:
                continue
    pytest.skip("no fittable photo among the sample")


def _descriptor(img):
    from morphable.landmarks import detect_landmarks, face_descriptor

    pts = detect_landmarks(img)
    assert pts is not None, "dlib finds no face in the output"
    return face_descriptor(img, pts)


def test_edits_keep_the_resolution_and_the_person(photo_rig):
    from morphable.landmarks import descriptor_distance

    src = _descriptor(photo_rig.image)
    for kw in ({"yaw": 15}, {"expression": {"jawOpen": 0.4}}, {"light": "left"}):
        out = photo_rig.edit(relative=True, **kw)
        assert out.shape == photo_rig.image.shape and out.dtype == np.uint8
        assert np.abs(out.astype(int) - photo_rig.image).mean() > 0.5, kw   # it did change
        assert descriptor_distance(src, _descriptor(out)) < 0.45, kw


def test_a_yaw_edit_turns_the_face_toward_image_right(photo_rig):
    from morphable.landmarks import detect_landmarks

    def nose_offset(img):
        p = detect_landmarks(img)
        eyes = 0.5 * (p[36] + p[45])
        return (p[30, 0] - eyes[0]) / np.linalg.norm(p[45] - p[36])

    before = nose_offset(photo_rig.image)
    right = nose_offset(photo_rig.edit(yaw=15, relative=True))
    left = nose_offset(photo_rig.edit(yaw=-15, relative=True))
    assert right > before + 0.05 and left < before - 0.05


def test_large_turns_warn_and_still_edit(photo_rig):
    assert photo_rig.range_warning(photo_rig.target(yaw=10, relative=True)) is None
    with pytest.warns(UserWarning, match="beyond"):
        out = photo_rig.edit(yaw=photo_rig.params.yaw.item() + 40)
    assert out.shape == photo_rig.image.shape


def test_unknown_expression_is_a_rig_error(photo_rig):
    with pytest.raises(RigError, match="notAShape"):
        photo_rig.edit(expression={"notAShape": 0.5})


def test_bad_photos_are_one_line_errors(tmp_path):
    bad = tmp_path / "x.png"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(RigError, match="not a readable image"):
        read_photo(bad)
    with pytest.raises(RigError, match="not found"):
        read_photo(tmp_path / "missing.jpg")
    blank = np.full((128, 128, 3), 128, np.uint8)
    with pytest.raises(RigError, match="no face"):
        PhotoRig.from_photo(blank)


# closed lids: tests/rig/photo/test_eyes.py (the eye stage slides the lid's own skin and lashes; the flow
# no longer closes lids, so the stretched-lid repaint this file tested is not used for them)
