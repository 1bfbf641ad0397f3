"""Dataset decoding (real UTKFace zip and folders), the batch sampler, and DiffAugment ops."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan import augment as aug
from gan.dataset import BatchSampler, load_images, load_images_cached, make_batch
from gan.errors import GanError


def test_zip_decodes_to_uint8_tensor_matching_pillow(utkface_zip):
    data = load_images(utkface_zip, max_images=64)
    assert data.images.shape == (64, 3, 128, 128) and data.images.dtype == torch.uint8
    assert data.skipped == []
    with zipfile.ZipFile(utkface_zip) as zf:
        first = sorted(i.filename for i in zf.infolist())[0]
        ref = np.asarray(Image.open(zf.open(first)).convert("RGB"))
    assert data.names[0] == first
    assert np.array_equal(data.images[0].permute(1, 2, 0).numpy(), ref)


def test_resize_and_cache_roundtrip(utkface_zip, tmp_path):
    data = load_images_cached(utkface_zip, tmp_path, resolution=32, max_images=40)
    assert data.images.shape == (40, 3, 32, 32)
    assert len(list(tmp_path.glob("dataset-*.npy"))) == 1
    again = load_images_cached(utkface_zip, tmp_path, resolution=32, max_images=40)
    assert torch.equal(again.images, data.images) and again.names == data.names
    # a resized face keeps the picture: its mean colour matches the 128 px original's
    full = load_images(utkface_zip, max_images=40)
    assert (full.images.float().mean((2, 3)) - data.images.float().mean((2, 3))).abs().max() < 3


def test_cache_sees_a_replaced_image_in_a_subfolder(tmp_path):
    folder, cache = tmp_path / "faces", tmp_path / "cache"
    (folder / "sub").mkdir(parents=True)
    for i, colour in enumerate([(200, 30, 30), (30, 200, 30)]):
        Image.new("RGB", (16, 16), colour).save(folder / "sub" / f"{i}.png")
    first = load_images_cached(folder, cache)
    assert torch.equal(load_images_cached(folder, cache).images, first.images)
    assert len(list(cache.glob("dataset-*.npy"))) == 1  # unchanged folder: the cache is reused
    top_mtime = folder.stat().st_mtime_ns
    rng = np.random.default_rng(0)  # noisy pixels: a PNG of another size, as a real replaced photo
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / "sub" / "1.png")
    assert folder.stat().st_mtime_ns == top_mtime  # what the old folder-mtime key saw: nothing
    again = load_images_cached(folder, cache)
    assert torch.equal(again.images[0], first.images[0]) and not torch.equal(again.images[1], first.images[1])
    assert np.array_equal(again.images[1].permute(1, 2, 0).numpy(), np.asarray(Image.open(folder / "sub" / "1.png")))


def test_folder_skips_and_counts_unreadable(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(tmp_path / f"im{i}.png")
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    (tmp_path / "notes.txt").write_text("ignored: not an image type")
    data = load_images(tmp_path, resolution=16)
    assert data.images.shape == (3, 3, 16, 16)
    assert data.skipped == ["broken.jpg"]


def test_bad_inputs_raise_gan_error(tmp_path):
    with pytest.raises(GanError, match="does not exist"):
        load_images(tmp_path / "missing.zip")
    with pytest.raises(GanError, match="no image files"):
        load_images(tmp_path)
    not_zip = tmp_path / "data.bin"
    not_zip.write_bytes(b"garbage")
    with pytest.raises(GanError, match="neither a folder nor a zip"):
        load_images(not_zip)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.png").write_bytes(b"garbage")
    with pytest.raises(GanError, match="none of its 1 images"):
        load_images(tmp_path / "d")
    Image.new("RGB", (24, 24)).save(tmp_path / "d" / "y.png")
    with pytest.raises(GanError, match="image size must be a power of two >= 4, got 24; pass a resolution"):
        load_images(tmp_path / "d")


def test_sampler_covers_epochs_and_resumes_exactly():
    s = BatchSampler(10, seed=3)
    idx = torch.cat([s.next(4)[0] for _ in range(5)])  # two full epochs
    assert sorted(idx[:10].tolist()) == list(range(10)) and sorted(idx[10:].tolist()) == list(range(10))
    state = s.state_dict()
    a = [s.next(3) for _ in range(4)]
    t = BatchSampler(10, seed=99)
    t.load_state_dict(state)
    b = [t.next(3) for _ in range(4)]
    assert all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(a, b))


def test_make_batch_scales_and_flips():
    imgs = torch.arange(2 * 3 * 4 * 4, dtype=torch.uint8).view(2, 3, 4, 4)
    x = make_batch(imgs, torch.tensor([1, 0]), torch.tensor([True, False]))
    assert torch.allclose(x[0], (imgs[1].flip(2).float() / 127.5 - 1))
    assert torch.allclose(x[1], imgs[0].float() / 127.5 - 1)


def test_augment_ops_behave(utkface_zip):
    x = make_batch(load_images(utkface_zip, resolution=32, max_images=8).images, torch.arange(8),
                   torch.zeros(8, dtype=torch.bool)).requires_grad_(True)
    g = torch.Generator().manual_seed(0)
    assert aug.augment(x, aug.policy_ops("none"), g) is x
    # translation: pure integer shift with zero fill; the shifted interior matches the input
    p = aug.sample_params(("translation",), 8, g)
    p["translation"][:] = torch.tensor([0.5, -0.5])  # 2 px down, 2 px left at 32 px
    y = aug.apply(x, p)
    assert torch.equal(y[:, :, 2:, :-2], x[:, :, :-2, 2:]) and (y[:, :, :2] == 0).all()
    # cutout zeroes a quarter of the image when the square lies inside
    p = {"cutout": torch.full((8, 2), 0.5)}
    y = aug.apply(x, p)
    zero = (y == 0).all(1).float().mean().item()
    assert abs(zero - 0.25) < 0.02
    # full policy is differentiable and different per image
    y = aug.augment(x, aug.policy_ops("diffaugment"), g)
    y.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(GanError, match="unknown augmentation"):
        aug.policy_ops("rotate")


def test_augment_slices_share_one_draw():
    """Two ranks taking halves of the global batch see the draws one process would."""
    x = torch.randn(4, 3, 16, 16)
    ops = aug.policy_ops("diffaugment")
    whole = aug.augment(x, ops, torch.Generator().manual_seed(5))
    lo = aug.augment(x[:2], ops, torch.Generator().manual_seed(5), slice(0, 2), 4)
    hi = aug.augment(x[2:], ops, torch.Generator().manual_seed(5), slice(2, 4), 4)
    assert torch.allclose(torch.cat([lo, hi]), whole, atol=1e-6)


def test_holdout_keeps_a_fixed_share_of_utkface_out_of_training(utkface_zip):
    from gan.dataset import is_held_out, list_images, load_images

    names, _ = list_images(utkface_zip)
    held = [n for n in names if is_held_out(n, 0.05)]
    assert 0.04 < len(held) / len(names) < 0.06
    assert held == [n for n in names if is_held_out("some/folder/" + Path(n).name, 0.05)]  # by base name
    assert not any(is_held_out(n, 0.0) for n in names[:100])
    data = load_images(utkface_zip, resolution=32, max_images=300, holdout=0.05)
    assert len(data) == 300 and not set(data.names) & set(held)
    assert data.names == [n for n in names if n not in set(held)][:300]
