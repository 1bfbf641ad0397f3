"""rig.inputs.read_photo on photos as people have them: EXIF-rotated, 16-bit, CMYK, palette, grey, alpha.

Each file is NASA's public-domain astronaut portrait (shipped in scikit-image's wheel) converted
at test time; the decoded pixels are compared with the original's.
"""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from rig.errors import RigError
from rig.inputs import read_photo

skdata = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skdata.astronaut()[:, 64:448]     # 512 x 384: not square, so a rotation shows in the shape


def _grey(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).convert("L")).astype(float)


def _err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(float) - b.astype(float)).mean())


def test_exif_orientation_6_is_turned_upright(astronaut, tmp_path):
    # a phone held upright stores the sensor's landscape pixels and orientation 6 (turn 90 deg clockwise to view)
    stored = np.ascontiguousarray(np.rot90(astronaut, 1))   # the upright picture turned 90 deg anticlockwise
    im = Image.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    im.save(path, quality=95, exif=exif.tobytes())
    img = read_photo(path)
    assert img.shape == astronaut.shape               # 512 tall, 384 wide: upright
    assert _err(img, astronaut) < 4.0                 # JPEG only


def test_16_bit_grey_png_is_scaled_not_white(astronaut, tmp_path):
    grey16 = (_grey(astronaut) * 257).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(grey16).save(path)
    assert Image.open(path).mode.startswith("I")      # what a 16-bit PNG opens as
    img = read_photo(path)
    assert img.shape == (*astronaut.shape[:2], 3)
    assert (img == 255).mean() < 0.05                 # before: 99.6 % white
    assert _err(img[..., 0], _grey(astronaut)) < 1.0


def _png16(path, rgb16: np.ndarray) -> None:
    """Write (H,W,3) uint16 as a 16-bit RGB PNG by hand (PIL cannot write one): IHDR, one IDAT, IEND."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    h, w = rgb16.shape[:2]
    rows = b"".join(b"\x00" + rgb16[y].astype(">u2").tobytes() for y in range(h))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_16_bit_rgb_png(astronaut, tmp_path):
    path = tmp_path / "deep_rgb.png"
    _png16(path, astronaut.astype(np.uint16) * 257)
    assert _err(read_photo(path), astronaut) < 1.0


def test_cmyk_jpeg(astronaut, tmp_path):
    path = tmp_path / "print.jpg"
    Image.fromarray(astronaut).convert("CMYK").save(path, quality=95)
    assert Image.open(path).mode == "CMYK"
    assert _err(read_photo(path), astronaut) < 6.0


def test_palette_png(astronaut, tmp_path):
    path = tmp_path / "palette.png"
    Image.fromarray(astronaut).quantize(256).save(path)
    assert Image.open(path).mode == "P"
    assert _err(read_photo(path), astronaut) < 10.0


def test_grey_and_grey_alpha(astronaut, tmp_path):
    grey = Image.fromarray(astronaut).convert("L")
    grey.save(tmp_path / "grey.png")
    img = read_photo(tmp_path / "grey.png")
    assert img.shape[2] == 3 and _err(img[..., 1], np.asarray(grey)) < 0.5
    la = grey.convert("LA")
    la.save(tmp_path / "grey_alpha.png")
    assert _err(read_photo(tmp_path / "grey_alpha.png")[..., 2], np.asarray(grey)) < 0.5


def test_transparency_is_laid_over_white(astronaut, tmp_path):
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
    rgba[:100, :, :3] = 0       # hidden colour under a transparent band
    rgba[:100, :, 3] = 0
    path = tmp_path / "cutout.png"
    Image.fromarray(rgba, "RGBA").save(path)
    img = read_photo(path)
    assert (img[:100] == 255).all()                   # white, not the black stored under the band
    assert _err(img[100:], astronaut[100:]) < 0.5


def test_a_driver_folder_is_decoded_like_photos(astronaut, tmp_path):
    from rig.inputs import open_driver

    im = Image.fromarray(np.ascontiguousarray(np.rot90(astronaut, 1)))
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(tmp_path / "000.jpg", quality=95, exif=exif.tobytes())
    Image.fromarray((_grey(astronaut) * 257).astype(np.uint16)).save(tmp_path / "001.png")
    frames, rate = open_driver(tmp_path, fps=12)
    assert rate == 12 and len(frames) == 2
    assert frames[0].shape == astronaut.shape and _err(frames[0], astronaut) < 4.0      # upright
    assert (frames[1] == 255).mean() < 0.05 and _err(frames[1][..., 0], _grey(astronaut)) < 1.0


def test_not_an_image_is_one_line(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not a picture")
    with pytest.raises(RigError, match="not a readable image"):
        read_photo(path)
