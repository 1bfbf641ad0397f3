"""The photo engine on a window around the face (rig.photo.crop, rig.photo.locate): full-size output, a seam
that lies where nothing moved, and the same pose whether the face is cropped or small in a big frame."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rig.photo.crop import Window, window_for

OBAMA = Path(__file__).resolve().parents[4] / "shared" / "data" / "real-faces" / "face_recognition_obama-1080p.jpg"
needs_photo = pytest.mark.skipif(not OBAMA.exists(), reason=f"shared data absent: {OBAMA}")


def test_the_feather_is_open_only_inside_the_photo():
    w = Window(0, 40, 100, 140)          # touches the photo's left edge, not its top, bottom or right
    f = w.feather((300, 400), 10)
    assert f.shape == (100, 100)
    assert f[50, 0] == 1.0               # the photo's own border: not feathered
    assert f[0, 50] < 0.01 and f[-1, 50] < 0.01 and f[50, -1] < 0.01
    assert f[50, 50] == 1.0 and (np.diff(f[:50, 50]) >= 0).all()


def test_window_for_a_frame_is_clipped_and_reduced_when_huge():
    w = window_for((1000, 2000), [900, -50, 400])
    assert (w.x0, w.y0, w.x1, w.y1, w.scale) == (852, 0, 1348, 398, 1.0)
    assert w.to_local(w.to_photo([10, 20, 30])) == pytest.approx([10, 20, 30])
    big = window_for((6000, 8000), [1000, 1000, 4000], work_max=1000)
    assert big.scale == pytest.approx(1000 / max(big.x1 - big.x0, big.y1 - big.y0))


def test_a_reduced_window_keeps_the_photo_where_the_edit_changed_nothing():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (600, 800, 3), dtype=np.uint8)     # all fine detail
    w = Window(100, 100, 500, 500, 0.25)
    small = w.cut(photo)
    assert small.shape == (100, 100, 3)
    assert np.array_equal(w.paste(photo, small), photo)             # not an upscaled, blurred copy
    brighter = np.clip(small.astype(int) + 40, 0, 255).astype(np.uint8)
    out = w.paste(photo, brighter)
    assert np.array_equal(out[:100], photo[:100]) and np.array_equal(out[:, 500:], photo[:, 500:])
    assert out[250:350, 250:350].astype(int).mean() > photo[250:350, 250:350].astype(int).mean() + 25


def _paste_as_before(w: Window, photo: np.ndarray, warped: np.ndarray, width: float) -> np.ndarray:
    """Window.paste at full resolution as it was before the seam was kept (a boolean mask of the weight-1 pixels and
    the band's parts taken on every paste)."""
    out = np.array(photo, copy=True)
    view = out[w.y0:w.y1, w.x0:w.x1]
    wgt = w.feather(photo.shape, width)
    full = wgt >= 1.0
    view[full] = warped[full]
    ys, xs = np.nonzero(~full)
    a, b = view[ys, xs].astype(np.float32), warped[ys, xs].astype(np.float32)
    view[ys, xs] = np.clip(a + (b - a) * wgt[ys, xs, None] + 0.5, 0, 255).astype(np.uint8)
    return out


@pytest.mark.parametrize("box", [(0, 0, 400, 300), (100, 50, 380, 290), (0, 40, 100, 140), (37, 11, 400, 300),
                                 (150, 100, 170, 120)])
def test_a_kept_seam_pastes_the_same_pixels(box):
    rng = np.random.default_rng(1)
    photo = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    w = Window(*box)
    width = w.seam_width()
    seam = w.seam(photo)
    if box != (150, 100, 170, 120):   # a window with weight-1 pixels keeps them as a box (sliced, not masked)
        assert isinstance(seam.inner, tuple)
    for k in range(3):
        warped = rng.integers(0, 256, (w.y1 - w.y0, w.x1 - w.x0, 3), dtype=np.uint8)
        want = _paste_as_before(w, photo, warped, width)
        assert np.array_equal(w.paste(photo, warped, seam=seam), want)
        assert np.array_equal(w.paste(photo, warped), want)
        assert np.array_equal(w.paste(photo, warped, weight=w.feather(photo.shape, width)), want)


@pytest.fixture(scope="module")
def obama():
    if not OBAMA.exists():
        pytest.skip(f"shared data absent: {OBAMA}")
    return np.asarray(Image.open(OBAMA).convert("RGB"))


def _rig(image, photometric=False, face=1):
    from morphable.fit import Fitter
    from morphable.landmark_backends import finding_backend
    from rig.photo.photo_rig import PhotoRig
    from tests.morphable.fit_helpers import default_model

    return PhotoRig.from_photo(image, fitter=Fitter(default_model(), backend=finding_backend()),
                               photometric=photometric, face=face)


@needs_photo
@pytest.mark.usefixtures("single_thread")
def test_a_268_px_face_has_the_pose_of_the_same_face_cropped(obama):
    whole = _rig(obama)
    crop = _rig(np.ascontiguousarray(obama[60:700, 700:1340]))
    diff = (whole.params.pose[0, :3] - crop.params.pose[0, :3]).abs()
    assert float(diff.max()) < 2.0, (whole.params.pose[0, :3], crop.params.pose[0, :3])


@pytest.mark.slow
@needs_photo
@pytest.mark.usefixtures("single_thread")
def test_an_edit_in_a_big_frame_keeps_its_size_and_changes_only_the_window(obama):
    canvas = np.pad(obama, ((1000, 920), (600, 1480), (0, 0)), mode="symmetric")    # 4000 x 3000, face 268 px
    rig = _rig(canvas)
    w = rig.window
    assert (w.x1 - w.x0) < 1200 and (w.y1 - w.y0) < 1200 and w.scale == 1.0
    out = rig.edit(yaw=15, expression={"jawOpen": 0.3})
    assert out.shape == canvas.shape
    changed = np.abs(out.astype(int) - canvas).max(-1) > 0
    ys, xs = np.nonzero(changed)
    assert xs.min() >= w.x0 and xs.max() < w.x1 and ys.min() >= w.y0 and ys.max() < w.y1
    assert changed.sum() > 20_000                            # the face moved
    # the seam: the window's outer band (where the paste fades) is the photo's own pixels
    band = np.zeros(changed.shape, bool)
    band[w.y0:w.y1, w.x0:w.x1] = True
    band[w.y0 + 20:w.y1 - 20, w.x0 + 20:w.x1 - 20] = False
    assert not (changed & band).any()
    crop = rig.render(rig.target(yaw=15, expression={"jawOpen": 0.3}), paste=False)
    assert crop.shape == (w.y1 - w.y0, w.x1 - w.x0, 3)
    assert np.array_equal(crop, out[w.y0:w.y1, w.x0:w.x1])


@needs_photo
@pytest.mark.usefixtures("single_thread")
def test_face_n_picks_faces_by_size_and_says_how_many(obama):
    from rig.errors import RigError

    skdata = pytest.importorskip("skimage.data")
    astronaut = np.asarray(Image.fromarray(skdata.astronaut()).resize((300, 300), Image.LANCZOS))
    canvas = np.full((700, 1400, 3), 200, np.uint8)
    canvas[30:670, 40:680] = obama[60:700, 700:1340]            # a 268 px face
    canvas[300:600, 1000:1300] = astronaut                      # a ~110 px face
    with pytest.warns(UserWarning, match="2 faces in the photo; edited face 2"):
        second = _rig(canvas, face=2)
    cx, cy = second.frame[0] + second.frame[2] / 2, second.frame[1] + second.frame[2] / 2
    assert 1000 < cx < 1300 and 300 < cy < 600
    assert second.window.x0 > 700                               # only the astronaut's window is warped
    with pytest.raises(RigError, match="face 3 asked for, but the photo has 2 faces"):
        _rig(canvas, face=3)


def test_paste_with_the_feather_and_cut_made_once_is_the_same():
    """PhotoRig pastes every frame with the window's feather and cut made once: the same pixels."""
    from rig.photo.crop import window_around
    from rig.photo.locate import coarse_window

    rng = np.random.default_rng(3)
    photo = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    for w in (Window(50, 40, 250, 240), Window(50, 40, 250, 240, scale=0.37)):
        warped = rng.integers(0, 256, (*w.size[::-1], 3), dtype=np.uint8)
        once = w.paste(photo, warped, weight=w.feather(photo.shape, w.seam_width()), cut=w.cut(photo))
        assert np.array_equal(once, w.paste(photo, warped))
    # the fit's coarse window is a window_around its square, as window_for is around the fit frame
    assert coarse_window((300, 400), (100, 100, 140, 150)) == window_around((300, 400), 40, 45, 200, 205, 1024)
