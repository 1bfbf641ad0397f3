"""The photo fit places the lips: on a real open mouth the fitted model's inner lips part about as far as
MediaPipe's do in the photo (the trackers' point set, 3 of the ring's 20 points, read tpsmm_driving's frame 0
with the model's lips 0.057 IOD apart against MediaPipe's 0.112, and a reenactment could not close it)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

CLIP = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "real-faces" / "tpsmm_driving.mp4"


def model_lip_gap(model, params) -> float:
    """The fitted model's inner-lip gap (MediaPipe's LIP_GAP pairs' vertices, projected) / its eye corners' distance."""
    from morphable.camera import Camera
    from morphable.fit.landmark_set import mesh_table
    from morphable.fit.mesh_expression import EYE_CORNERS, LIP_GAP

    table = mesh_table(model)[0]
    rows = [int(table[u]) for u, _ in LIP_GAP] + [int(table[lo]) for _, lo in LIP_GAP] + \
        [int(table[c]) for c in EYE_CORNERS]
    with torch.no_grad():
        ndc = Camera().to_ndc(model.vertices(params)[:, rows]).double().numpy()[0]
    n = len(LIP_GAP)
    return float(np.linalg.norm(ndc[n:2 * n] - ndc[:n], axis=1).mean() / np.linalg.norm(ndc[-1] - ndc[-2]))


@pytest.mark.slow
def test_photo_fit_parts_the_model_lips_as_far_as_the_photo():
    mp = pytest.importorskip("morphable.landmarks_mp")
    if not mp.mediapipe_importable():
        pytest.skip("mediapipe is not importable")
    if not CLIP.exists():
        pytest.skip(f"real clip missing: {CLIP}")
    from morphable.fit.mesh_expression import EYE_CORNERS, lip_gaps
    from rig.engine.photo import fit_photo
    from rig.inputs import open_driver

    frame = open_driver(CLIP, max_frames=1)[0][0]
    mesh = np.asarray(mp.MediaPipeBackend().detect(frame)[0].mesh, np.float64)
    photo = float(lip_gaps(mesh[None])[0] / np.linalg.norm(mesh[EYE_CORNERS[0], :2] - mesh[EYE_CORNERS[1], :2]))
    rig, _ = fit_photo(frame)
    fitted = model_lip_gap(rig.model, rig.params)
    assert photo > 0.09                     # an open mouth (dlib reads 0.092 IOD)
    assert fitted > 0.8 * photo, (fitted, photo)   # 0.098 vs 0.112 (the trackers' set: 0.057)
