"""rig.engine on the real default rig bundle and the default 3DMM: controls, renders, ranges, sweeps."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rig import engine as S
from rig.engine import open_engine
from rig.engine.controls import LIGHT_DIRECTION
from rig.engine.photo import PREVIEW_MIN, PhotoEngine, face_crop
from rig.frames import upscale
from rig.errors import RigError


# batch-1 work on one thread, as the app runs it (two threads crawl on a shared machine)
pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def rig():
    from rig.pipeline import load_rig

    return load_rig()


@pytest.fixture(scope="module")
def gen(rig):
    return open_engine(rig, seed=3, truncation=0.7, engine="gan", size=128)


@pytest.fixture(scope="module")
def morph():
    from morphable.formats import load_model

    return open_engine(engine="morph", model=load_model("default"), identity_seed=2, size=96)


def test_generated_source_starts_as_the_face_and_edits_through_the_rig(rig, gen):
    c = gen.controls()
    own = rig.params(gen.ws)
    assert c.yaw == pytest.approx(float(own.pose[0, 0]), abs=1e-4)
    assert gen.edit_kwargs(c) == {}  # nothing moved: RigNet(ws, F(ws)), as `facerig edit` with no flags
    still = gen.render(c)
    assert still.shape == (128, 128, 3) and still.dtype == np.uint8
    expected = rig.to_uint8(rig.image(rig.edit(gen.ws)))[0]
    assert np.array_equal(upscale(expected[None], 128, fast=True)[0], still)

    turned = c.with_values(yaw=c.yaw + 20)
    assert gen.edit_kwargs(turned) == {"yaw": pytest.approx(c.yaw + 20)}
    assert float(gen.target(turned).pose[0, 0]) == pytest.approx(c.yaw + 20, abs=1e-4)
    assert np.abs(gen.render(turned).astype(int) - still.astype(int)).mean() > 2.0


def test_range_note_only_for_moved_controls_outside_the_trained_range(gen):
    c = gen.controls()
    low, high = gen.trained_range("yaw")
    assert gen.range_note(c) is None  # the face as it is: nothing commanded
    inside = c.with_values(yaw=(low + high) / 2)
    assert gen.range_note(inside) is None
    note = gen.range_note(c.with_values(yaw=high + 15))
    assert note and "yaw=" in note and "trained" in note
    jaw_hi = gen.trained_range("jawOpen")[1]
    if jaw_hi < 0.99:
        assert "jawOpen" in gen.range_note(c.with_values(jawOpen=min(1.0, jaw_hi + 0.3)))


def test_morph_source_expression_pose_and_light(morph):
    c = morph.controls()
    assert c.yaw == 0 and all(v == 0 for v in c.expression.values())
    base = morph.render(c).astype(int)
    jaw = morph.render(c.with_values(jawOpen=0.9)).astype(int)
    lower_face = slice(52, 83)
    assert np.abs(jaw - base)[lower_face].mean() > 3 * np.abs(jaw - base)[:38].mean()  # the mouth moved, not the brow
    left = morph.render(c.with_values(light="left")).astype(float)
    right = morph.render(c.with_values(light="right")).astype(float)
    assert left[:, :48].mean() > right[:, :48].mean() and right[:, 48:].mean() > left[:, 48:].mean()
    from_right = morph.render(c.with_values(light=LIGHT_DIRECTION, azimuth=60)).astype(float)
    assert from_right[:, 48:].mean() > from_right[:, :48].mean()
    assert morph.range_note(c.with_values(yaw=50)) is None  # the bare model has no trained range
    marked = morph.overlay(morph.render(c), c)
    assert marked.shape == base.shape and np.abs(marked.astype(int) - base).sum() > 0


def test_morph_source_draws_the_morphable_renderer_image(morph):
    from morphable.render import Renderer, to_uint8

    c = morph.controls().with_values(yaw=25, pitch=-10, jawOpen=0.7, mouthSmileRight=0.6, light="left")
    target = morph.target(c)
    with torch.no_grad():
        ref = Renderer(morph.model, size=96)(target)
    mine, marks = morph.image(target)
    diff = np.abs(mine.astype(int) - to_uint8(ref.image[0]).astype(int))
    assert diff.max() <= 1  # rounding of identical values; same coverage
    np.testing.assert_allclose(marks, ref.landmarks2d[0].numpy(), atol=1e-3)


def test_sweep_and_frames(morph):
    c = morph.controls()
    steps = S.sweep(c, "mouthSmileLeft", 0.0, 1.0, 5)
    assert [s.expression["mouthSmileLeft"] for s in steps] == pytest.approx([0, 0.25, 0.5, 0.75, 1.0])
    frames = morph.frames(steps)
    assert frames.shape == (5, 96, 96, 3)
    assert np.abs(frames[-1].astype(int) - frames[0].astype(int)).mean() > 0.5
    with pytest.raises(RigError, match="not a pose angle or an ARKit name"):
        S.sweep(c, "smile", 0, 1, 5)
    with pytest.raises(RigError, match="2..1000 frames"):
        S.sweep(c, "yaw", 0, 1, 1)
    with pytest.raises(RigError, match="unknown control"):
        c.with_values(grin=1.0)


def test_photo_without_a_face_is_one_clear_error(rig):
    blank = np.full((128, 128, 3), 180, np.uint8)
    with pytest.raises(RigError, match="no face"):
        open_engine(rig, photo=blank, size=128)
    with pytest.raises(RigError, match="not a usable photo"):
        open_engine(rig, photo=np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(RigError, match="not a usable photo"):
        open_engine(rig, photo=np.zeros((64, 64, 5), np.uint8))


def test_array_photos_convert_like_photo_files():
    """A float photo in 0..1, a grey one and an RGBA one become the uint8 RGB photo (not black, not wrapped)."""
    from rig.engine.choose import usable_photo
    from skimage import data

    rgb = data.astronaut()
    assert np.array_equal(usable_photo(rgb.astype(np.float32) / 255.0), rgb)
    assert np.array_equal(usable_photo(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])), rgb)
    grey = rgb[..., 1]
    assert np.array_equal(usable_photo(grey), np.repeat(grey[..., None], 3, axis=2))
    assert usable_photo(rgb.astype(np.int32) + 100).max() == 255  # clipped, not wrapped


def test_to_dict_records_source_controls_and_params(gen):
    c = gen.controls().with_values(mouthSmileLeft=0.7)
    d = gen.to_dict(c)
    assert d["source"] == "generated" and d["controls"]["expression"]["mouthSmileLeft"] == pytest.approx(0.7)
    assert d["params"]["expression"]["mouthSmileLeft"] == pytest.approx(0.7, abs=1e-4)
    assert set(d["params"]["pose"]) >= {"yaw", "pitch", "roll"}
    torch.testing.assert_close(torch.tensor(d["params"]["pose"]["yaw"]), torch.tensor(c.yaw), atol=1e-3, rtol=0)


@pytest.fixture(scope="module")
def stylegan_rig():
    """The StyleGAN2 rig bundle on the 64 px UTKFace generator (assets/rig/utkface64)."""
    from rig.pipeline import load_rig
    from tests.conftest import ROOT

    return load_rig(ROOT / "assets" / "rig" / "utkface64")


def test_bf16_only_applies_to_stylegan2_generators(rig, stylegan_rig):
    src = open_engine(rig, seed=3, engine="gan", size=64, compute_dtype=torch.bfloat16,
                      preview_dtype=torch.bfloat16)  # the DCGAN bundle
    assert src.compute_dtype == src.preview_dtype == torch.float32 and "bf16" not in src.description
    assert not rig.takes_bf16 and stylegan_rig.takes_bf16
    assert not rig.set_compute_dtype(True) and rig.compute_dtype == torch.float32


def test_stylegan2_preview_is_bf16_and_downloads_stay_fp32(stylegan_rig):
    from rig.app.engine import preview_dtype

    src = open_engine(stylegan_rig, seed=1, engine="gan", size=64, preview_dtype=torch.bfloat16)
    assert src.preview_dtype == torch.bfloat16 and src.compute_dtype == torch.float32
    assert "bf16 preview, fp32 downloads" in src.description
    c = src.controls().with_values(jawOpen=0.4)
    exact = src.render(c)
    ws = src.latents([c])
    assert np.array_equal(exact, stylegan_rig.to_uint8(stylegan_rig.image(ws))[0])   # FaceRig.image, fp32
    assert np.array_equal(src.frames([c])[0], exact)                                    # sweeps too
    live = src.preview(c)
    diff = np.abs(live.astype(np.int16) - exact.astype(np.int16))
    assert diff.max() > 0                              # drawn in bf16, not a copy of the fp32 image
    assert diff.mean() < 0.02 * float(exact.std())     # measured (seeds 0-4): 0.28-0.34 grey levels, max 6, spread 42-72
    assert preview_dtype("fp32") == torch.float32 and preview_dtype("bf16") == torch.bfloat16
    assert preview_dtype("fp32", torch.bfloat16) == torch.bfloat16   # --bf16 draws everything in bf16
    with pytest.raises(RigError, match="unknown preview"):
        preview_dtype("fp16")


@pytest.fixture(scope="module")
def portrait():
    """The shipped portrait (NASA's astronaut, scikit-image) through the photo engine."""
    pytest.importorskip("skimage")
    return open_engine(portrait=True, size=128)


def test_photo_sliders_stop_where_the_photo_engine_holds(portrait):
    from rig.photo.photo_rig import PITCH_LIMIT, YAW_LIMIT

    own = portrait.controls()
    for name, limit in (("yaw", YAW_LIMIT), ("pitch", PITCH_LIMIT)):
        low, high = portrait.control_limits(name)
        assert low <= own.value(name) <= high
        # absolute angles and changes from the photo both within the limit, and the ends are reachable
        assert -limit - 1e-6 <= low and high <= limit + 1e-6
        assert high - own.value(name) <= limit + 1e-6 and own.value(name) - low <= limit + 1e-6
        assert min(high, limit) - max(low, -limit) > limit  # a real range, not a sliver
        assert portrait.range_note(own.with_values(**{name: high})) is None
    assert portrait.control_limits("roll") == S.control_limits("roll")
    assert S.checked_values({"yaw": 80}, clamp=True, limits=portrait.control_limits)["yaw"] == \
        pytest.approx(portrait.control_limits("yaw")[1])


def test_big_photo_preview_is_a_crop_around_the_face_and_downloads_stay_full_size(portrait):
    """A 3x photo (1536 px): the live image is the face's crop at <= 512 px, drawn with the fit's frame moved
    into it, so it shows what the full-size download shows there, resampled."""
    import cv2

    from rig.photo.photo_rig import PhotoRig

    small = portrait.photo_rig
    big_image = cv2.resize(small.image, (1536, 1536), interpolation=cv2.INTER_CUBIC)
    big = PhotoEngine(PhotoRig(big_image, small.params, [3 * v for v in small.frame], small.builder))
    assert big.preview_rig.image.shape == (512, 512, 3) and "downloads full size" in big.description
    x0, y0, x1, y1 = face_crop(1536, 1536, big.photo_rig.frame)
    fx, fy, fs = big.photo_rig.frame
    assert x0 <= fx and fx + fs <= x1 and y1 - y0 == x1 - x0 == round(2 * fs)   # the face, with room around it
    c = big.controls().with_values(yaw=big.controls().yaw + 15, mouthSmileLeft=0.6, mouthSmileRight=0.6)
    full = big.render(c)
    assert full.shape == (1536, 1536, 3)
    live = big.preview(c).astype(np.int16)
    expected = cv2.resize(full[y0:y1, x0:x1], (512, 512), interpolation=cv2.INTER_AREA).astype(np.int16)
    still = cv2.resize(big_image[y0:y1, x0:x1], (512, 512), interpolation=cv2.INTER_AREA).astype(np.int16)
    err = np.abs(live - expected).mean()
    assert err < 4.0 and err < 0.5 * np.abs(still - expected).mean(), err   # the same edit, not the unedited crop
    # a photo no bigger than the preview is its own preview (the live image is the download's picture)
    assert portrait.preview_rig is portrait.photo_rig
    assert np.array_equal(portrait.preview(c), portrait.render(c))


def test_a_small_face_in_a_small_photo_is_zoomed_in_for_the_live_view(portrait):
    """The portrait shrunk to 192 px on a 512 px canvas (a face far away): the live view is a crop around it,
    enlarged to PREVIEW_MIN, showing what the full-size render shows there."""
    import cv2

    from rig.photo.photo_rig import PhotoRig

    small = portrait.photo_rig
    canvas = np.full((512, 512, 3), 200, np.uint8)
    canvas[300:492, 40:232] = cv2.resize(small.image, (192, 192), interpolation=cv2.INTER_AREA)
    k = 192 / 512
    fx, fy, fs = small.frame
    src = PhotoEngine(PhotoRig(canvas, small.params, [40 + fx * k, 300 + fy * k, fs * k], small.builder))
    assert src.preview_rig.image.shape == (PREVIEW_MIN, PREVIEW_MIN, 3)
    x0, y0, x1, y1 = face_crop(512, 512, src.photo_rig.frame)
    c = src.controls().with_values(yaw=src.controls().yaw - 15, mouthSmileLeft=0.6, mouthSmileRight=0.6)
    full = src.render(c)
    assert full.shape == canvas.shape
    size = (PREVIEW_MIN, PREVIEW_MIN)
    expected = cv2.resize(full[y0:y1, x0:x1], size, interpolation=cv2.INTER_CUBIC).astype(np.int16)
    still = cv2.resize(canvas[y0:y1, x0:x1], size, interpolation=cv2.INTER_CUBIC).astype(np.int16)
    err = np.abs(src.preview(c).astype(np.int16) - expected).mean()
    assert err < 4.0 and err < 0.5 * np.abs(still - expected).mean(), err
