"""A photo fit's jawOpen read from the photo's inner-lip gap: renders of known jawOpen, landmark-fitted as
photos, read back at slope ~1 (the landmark fit alone reads them at a fraction), and a real open mouth
is fitted with the model's lips parted as far as MediaPipe's."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from morphable.fit import Fitter
from morphable.fit.lip_gap import JAW_OPEN, model_openings, photo_gap, with_photo_jaw_open

from ..fit_helpers import default_model

mp = pytest.importorskip("morphable.landmarks_mp")
if not mp.mediapipe_importable():
    pytest.skip("mediapipe is not importable", allow_module_level=True)

LEVELS = np.array([0.0, 0.2, 0.4, 0.6])
REAL = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "real-faces" / "tpsmm_driving.mp4"


class _Keep:
    """The MediaPipe backend, keeping the detection it answered last (its mesh)."""

    def __init__(self):
        self.inner, self.seen = mp.MediaPipeBackend(), None

    def detect(self, image):
        found = self.inner.detect(image)
        self.seen = found[0] if found else None
        return found


def fit_read(fitter: Fitter, image: np.ndarray) -> tuple[float, float, object]:
    """(fitted jawOpen, jawOpen read from the lips' gap, read params) of one image."""
    result = fitter([image], photometric=False)
    assert result.ok[0], result.diagnostics[0].warnings
    read = with_photo_jaw_open(fitter.model, fitter.camera, result.params[0:1], fitter.backend.seen.mesh)
    return float(result.params.expression[0, JAW_OPEN]), float(read.expression[0, JAW_OPEN]), read


@pytest.mark.slow
def test_known_jaw_open_reads_back_at_slope_one():
    from morphable import lighting
    from morphable.render import Renderer, to_uint8

    model = default_model()
    fitter = Fitter(model, backend=_Keep())
    renderer = Renderer(model, size=384, background=0.35)
    fitted, read = [], []
    for seed, (yaw, pitch) in ((3, (8.0, -4.0)), (11, (-12.0, 5.0))):
        base = model.random_params(1, seed=seed, identity_scale=0.7).with_pose(yaw=yaw, pitch=pitch)
        base = base.replace(light=lighting.preset("front"))
        for lv in LEVELS:
            image = np.ascontiguousarray(to_uint8(renderer(base.with_expression({"jawOpen": float(lv)})).image))
            f, r, _ = fit_read(fitter, image)
            fitted.append(f)
            read.append(r)
    truth = np.tile(LEVELS, 2)
    fit_slope, read_slope = np.polyfit(truth, fitted, 1)[0], np.polyfit(truth, read, 1)[0]
    print(f"fitted slope {fit_slope:.2f}, read slope {read_slope:.2f}; read {np.round(read, 2)}")
    # measured 2026-12-07: read slope 0.87 (the landmark fit's own 0.51). MediaPipe sees the rendered model's
    # closed lips 0.02-0.05 inter-ocular distances apart (a real closed mouth 0.002), so jawOpen 0 reads
    # 0.14-0.18: the offset is the renders', the slope is what this test holds
    assert 0.85 <= read_slope <= 1.15, (read_slope, fit_slope, read)
    assert read_slope > fit_slope + 0.15, (read_slope, fit_slope)
    assert max(read[0], read[len(LEVELS)]) < 0.25, read


def test_model_opening_counts_from_closed_lips_and_grows_with_jaw():
    model = default_model()
    params = model.neutral_params(1).with_pose(yaw=10.0, pitch=-5.0)
    opening = model_openings(model, Fitter(model).camera, params, np.linspace(0.0, 1.0, 11))
    assert abs(opening[0]) < 1e-6
    assert np.all(np.diff(opening) > 0.0)
    assert 0.25 < opening[-1] < 0.6          # jawOpen 1 parts the lips by about 0.4 inter-ocular distances


@pytest.mark.slow
def test_real_open_mouth_is_fitted_as_open_as_its_lips():
    if not REAL.exists():
        pytest.skip(f"real clip not found at {REAL} (../shared/data/real-faces)")
    from morphable.fit.video_io import open_frames

    frame = np.ascontiguousarray(next(open_frames(REAL, max_frames=1)[0]))
    model = default_model()
    fitter = Fitter(model, backend=_Keep())
    fitted, read, params = fit_read(fitter, frame)
    gap = photo_gap(fitter.backend.seen.mesh)
    assert gap > 0.08                          # the lips are apart (0.11 inter-ocular distances)
    opened = model_openings(model, fitter.camera, params, np.array([fitted, read]))
    assert abs(opened[1] - gap) < 0.01, (opened, gap)
    assert read > fitted + 0.15, (fitted, read)   # the landmark fit alone read 0.08
