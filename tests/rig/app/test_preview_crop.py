"""The app's live view of a photo (rig.engine.photo.preview_rig): the photo's own pixels around the face,
resized once per upload, whatever the photo array's memory layout."""
from __future__ import annotations

import cv2
import numpy as np

from rig.engine.photo import PREVIEW_SIDE, face_crop, preview_rig
from rig.photo.photo_rig import PhotoRig


def test_the_live_view_is_the_photos_crop_resized_for_any_memory_layout(model):
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (1200, 1600, 3), dtype=np.uint8)
    params, frame = model.random_params(1, seed=2), [700.0, 300.0, 400.0]
    x0, y0, x1, y1 = face_crop(*photo.shape[:2], frame)
    want = cv2.resize(np.ascontiguousarray(photo[y0:y1, x0:x1]), (PREVIEW_SIDE, PREVIEW_SIDE),
                      interpolation=cv2.INTER_AREA)
    # as read (C order), upside down twice (negative strides) and in Fortran order: the same pixels
    for layout in (photo, np.flipud(np.ascontiguousarray(np.flipud(photo))), np.asfortranarray(photo)):
        rig = PhotoRig.from_fit(layout, params, frame, model)
        view = preview_rig(rig)
        assert view.image.flags.c_contiguous and np.array_equal(view.image, want)
        assert view.frame == [(700.0 - x0) * PREVIEW_SIDE / (x1 - x0), (300.0 - y0) * PREVIEW_SIDE / (y1 - y0),
                              400.0 * PREVIEW_SIDE / (x1 - x0)]
