"""The watermark on real pictures: image cost, detection and bit accuracy after common conversions, no false alarms."""
from __future__ import annotations

import numpy as np
import pytest

from rig.provenance import attacks, watermark
from rig.provenance.label import mark_strength


def _rates(images, attack):
    """(detection rate, mean bit accuracy) of marked images after `attack`."""
    dets = [watermark.detect(attack(m)) for m in images]
    return np.mean([d.detected for d in dets]), np.mean([d.bit_accuracy(1) for d in dets])


@pytest.fixture(scope="module")
def photos(utkface_photos):
    return utkface_photos(16, seed=3)


@pytest.fixture(scope="module")
def marked_photos(photos):
    return [watermark.embed(p, 1, mark_strength(*p.shape[:2])) for p in photos]


def test_payload_layout():
    bits = watermark.payload_bits(7)
    assert len(bits) == watermark.PAYLOAD_BITS
    assert np.packbits(bits.astype(np.uint8)).tobytes() == b"facerig\x07"
    with pytest.raises(ValueError):
        watermark.payload_bits(256)


def test_mark_costs_at_least_38db_on_real_photos(photos, marked_photos):
    values = [watermark.psnr(p, m) for p, m in zip(photos, marked_photos)]
    assert min(values) >= 37.9, values
    # only luminance moves: the three channels change by the same amount (up to rounding / clipping)
    d = marked_photos[0].astype(int) - photos[0].astype(int)
    assert np.mean(np.abs(d[..., 0] - d[..., 1]) <= 1) > 0.97


def test_survives_jpeg_crop_brightness_on_128px_photos(marked_photos):
    rng = np.random.default_rng(0)
    found = {name: _rates(marked_photos, f) for name, f in attacks.standard_attacks(rng).items() if name != "resize50"}
    # measured (bench/bench_provenance.py): 128 px photos keep every mark through these
    for name, (rate, acc) in found.items():
        assert rate >= 0.9 and acc >= 0.95, (name, rate, acc)


def test_halving_a_128px_photo_mostly_survives(marked_photos):
    rate, acc = _rates(marked_photos, lambda a: attacks.resize(a, 0.5))
    # 64 px left, four tiles: measured 0.93 detected on 30 photos
    assert rate >= 0.75 and acc >= 0.85, (rate, acc)


def test_survives_halving_a_512px_image(photos):
    from PIL import Image

    big = [np.asarray(Image.fromarray(p).resize((512, 512), Image.LANCZOS)) for p in photos[:3]]
    marked = [watermark.embed(b, 1, mark_strength(512, 512)) for b in big]
    for m in marked:
        det = watermark.detect(attacks.resize(m, 0.5))
        assert det.detected and det.bit_accuracy(1) == 1.0
        # 512 px images get the 2x pattern; halved, it is found at the base scale
        assert watermark.pattern_scale(512, 512) == 2 and abs(det.scale - 1.0) < 0.01
        assert det.version == 1


def test_fine_pattern_halved_is_found_by_estimating_the_period(photos):
    from PIL import Image

    big = np.asarray(Image.fromarray(photos[3]).resize((256, 256), Image.LANCZOS))
    det = watermark.detect(attacks.resize(watermark.embed(big, 1, 40.0, scale=1), 0.5))
    assert det.detected and abs(det.scale - 0.5) < 0.01 and det.bit_accuracy(1) >= 0.95


def test_found_in_a_mirrored_copy(marked_photos):
    det = watermark.detect(marked_photos[0][:, ::-1].copy())
    assert det.detected and det.mirrored and det.bit_accuracy(1) >= 0.95


def test_unmarked_photos_are_not_detected(utkface_photos):
    clean = utkface_photos(60, seed=11)
    scores = [watermark.detect(p).z for p in clean]
    # measured on 400 photos: none reached the threshold (max 5.6 against 6.0, mirrors tried too)
    assert max(scores) < watermark.Z_THRESHOLD, max(scores)


def test_generated_64px_faces_are_hard_but_mostly_found(generated_faces):
    faces = generated_faces(16)
    marked = [watermark.embed(f, 1, mark_strength(64, 64)) for f in faces]
    assert min(watermark.psnr(f, m) for f, m in zip(faces, marked)) >= 37.9
    rate, acc = _rates(marked, lambda a: a)
    # 64 px holds four tiles: measured 1.0 detected, 0.94 bit accuracy at 38 dB straight from the generator
    assert rate >= 0.85 and acc >= 0.85, (rate, acc)
    rate, _ = _rates(marked, lambda a: attacks.jpeg(a, 75))
    assert rate >= 0.8, rate
    assert not any(watermark.detect(f).detected for f in faces)


def test_rejects_non_rgb_uint8():
    with pytest.raises(ValueError):
        watermark.embed(np.zeros((32, 32), np.uint8))
