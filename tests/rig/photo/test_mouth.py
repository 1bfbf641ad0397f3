"""The mouth stage: the committed inpainter on held-out real open mouths, and in PhotoRig beside the 3DMM filler."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from rig.errors import RigError
from rig.photo import mouth as M


def test_polygon_mask_uses_pixel_centres():
    square = np.array([[10, 10], [20, 10], [20, 20], [10, 20]], float)
    m = M.polygon_mask(square, 32)
    # the 10 x 10 pixels with centres inside, plus at most the outline's ring
    assert m[10:20, 10:20].all() and m[:8].sum() == m[22:].sum() == m[:, :8].sum() == m[:, 22:].sum() == 0
    assert 100 <= m.sum() <= 144


def test_crop_is_exact_at_one_to_one_and_replicates_outside():
    ramp = torch.arange(100, dtype=torch.float32).repeat(3, 100, 1)     # value = x
    crop = M.take_crop(ramp, (10, 20, 64))
    assert torch.allclose(crop, ramp[:, 20:84, 10:74], atol=1e-4)
    edge = M.take_crop(ramp, (-16, 0, 64))
    assert torch.allclose(edge[:, :, :16], torch.zeros(3, 64, 16)) and float(edge[0, 0, 16]) == pytest.approx(0.0)
    assert float(edge[0, 0, 17]) == pytest.approx(1.0)


@pytest.fixture(scope="module")
def held_mouths(utkface_zip):
    """Held-out UTKFace open mouths (never trained on): crops in [-1, 1], inner-lip guides and 2 px grown holes."""
    pytest.importorskip("mediapipe")
    from rig.training.mouth_data import build_mouth_set
    from rig.training.mouth_training import grow, lip_planes

    held = build_mouth_set(utkface_zip, min_opening=0.1, limit=120, held_only=True)
    assert held.held.all() and len(held.names) >= 10
    x = torch.from_numpy(held.crops).permute(0, 3, 1, 2).float() / 127.5 - 1
    guide = torch.from_numpy(lip_planes(held.lips, M.CROP))[:, None]
    return x, guide, grow(guide, 2)


def _psnr(x: torch.Tensor, hole: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR of y against x over the hole (peak 2: values in [-1, 1])."""
    mse = ((y - x) ** 2 * hole).sum((1, 2, 3)) / (3 * hole.sum((1, 2, 3)))
    return 10 * torch.log10(4.0 / mse)


@pytest.mark.parametrize("filler", sorted(M.INPAINTERS))
def test_trained_filler_beats_a_flat_fill_on_held_out_mouths(held_mouths, filler):
    """The inner-lip hole of held-out mouths refilled by each committed inpainter is closer to the truth than the
    hole filled with its border's mean colour."""
    from gan.inpainter import composite
    from rig.training.mouth_training import grow

    x, guide, hole = held_mouths
    with torch.no_grad():
        out = composite(x, hole, M.load_filler(str(M.INPAINTERS[filler]))(x, hole, guide))
    ring = grow(hole, 2) - hole
    flat = composite(x, hole, ((x * ring).sum((2, 3), keepdim=True) / ring.sum((2, 3), keepdim=True)).expand_as(x))
    gain = _psnr(x, hole, out) - _psnr(x, hole, flat)
    assert float(gain.mean()) > 1.0, gain


def test_the_distilled_filler_stays_close_to_its_teacher(held_mouths):
    """live's "gan-small" (distilled from "gan") loses at most half a dB over the held-out holes."""
    from gan.inpainter import composite

    x, guide, hole = held_mouths
    with torch.no_grad():
        psnr = {f: _psnr(x, hole, composite(x, hole, M.load_filler(str(M.INPAINTERS[f]))(x, hole, guide))).mean()
                for f in ("gan", "gan-small")}
    assert float(psnr["gan-small"]) > float(psnr["gan"]) - 0.5, psnr


@pytest.fixture(scope="module")
def rig(utkface_photos):
    """A UTKFace photo with a closed mouth, upscaled to 256 px (bicubic) and fitted once (landmarks only)."""
    from PIL import Image

    from rig.photo.photo_rig import PhotoRig

    for img in utkface_photos(12, seed=5):
        big = np.array(Image.fromarray(img).resize((256, 256), Image.BICUBIC))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                r = PhotoRig.from_photo(big, photometric=False)
            except RigError:
                continue
        if float(r.params.expression[0, _jaw()]) < 0.15:
            return r
    pytest.skip("no fittable closed-mouth photo among the sample")


def _jaw() -> int:
    from morphable.arkit import expression_index

    return expression_index("jawOpen")


def test_gan_filler_draws_only_inside_the_mouth_and_is_steady(rig):
    target = rig.target(expression={"jawOpen": 0.4}, relative=True)
    assert rig.opens_mouth(target)
    rig.mouth = "model"
    old = rig.render(target)
    rig.mouth = "gan"
    new = rig.render(target)
    assert np.array_equal(new, rig.render(target))            # deterministic: no flicker on a still target
    fl = rig.flow(target)
    x0, y0, side = M.crop_box(*M.mouth_points(fl, rig.model, rig._frame))
    outside = np.ones(new.shape[:2], bool)
    outside[max(0, y0):y0 + side, max(0, x0):x0 + side] = False
    assert np.array_equal(new[outside], old[outside])          # only the mouth box can change
    changed = np.abs(new.astype(int) - old).sum(-1) > 30
    assert changed.sum() > 20                                 # and inside it the fill differs from the 3DMM's
    # no opening beyond the photo's: both fillers leave the photo's own mouth alone
    same = rig.target(expression={"jawOpen": 0.0}, relative=True)
    rig.mouth = "model"
    a = rig.render(same)
    rig.mouth = "gan"
    assert np.array_equal(a, rig.render(same))


def test_unknown_filler_is_a_rig_error():
    with pytest.raises(RigError, match="unknown mouth filler 'paint'"):
        M.mouth_stage("paint", torch.zeros(3, 8, 8), None, None, None, [0.0, 0.0, 8.0])


def test_fast_filler_gives_the_same_numbers():
    x = torch.rand(3, 3, M.CROP, M.CROP) * 2 - 1
    hole = torch.zeros(3, 1, M.CROP, M.CROP)
    hole[:, :, 24:40, 16:48] = 1
    with torch.no_grad():
        assert torch.allclose(M.load_filler(fast=True)(x, hole, hole), M.load_filler(fast=False)(x, hole, hole),
                              atol=1e-5)


def test_missing_weights_are_a_rig_error(tmp_path):
    with pytest.raises(RigError, match="not found"):
        M.load_filler(str(tmp_path / "none.safetensors"))
