"""A frame folder (`facerig track DIR`, live clips) is decoded like a photo: 16-bit, EXIF-rotated, CMYK, palette.

The frames are NASA's public-domain astronaut portrait (shipped in scikit-image's wheel), written at
test time in the forms cameras and editors produce; each decoded frame is compared with the original.
Before basics.images the folder reader (imageio + as_rgb_uint8) clipped a 16-bit grey PNG to white, left
the phone frame sideways and read CMYK's four channels as RGBA.
"""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from morphable.errors import MorphableError
from morphable.fit.video_io import open_frames

skdata = pytest.importorskip("skimage.data", reason="scikit-image (the astronaut test image) is not installed")


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.ascontiguousarray(skdata.astronaut()[:, 64:448])   # 512 x 384: a sideways frame shows in the shape


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


def _write_16bit_png(path, rgb: np.ndarray) -> None:
    """A 16-bit-per-channel RGB PNG (what a raw developer exports), written by OpenCV (PIL writes no 16-bit RGB)."""
    cv2 = pytest.importorskip("cv2", reason="OpenCV (to write a 16-bit RGB PNG) is not installed")
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]).astype(np.uint16) * 257)


def _write_phone_jpeg(path, rgb: np.ndarray) -> None:
    """The sensor's landscape pixels and EXIF orientation 6 (turn 90 deg clockwise to view), as a phone stores them."""
    im = Image.fromarray(np.ascontiguousarray(np.rot90(rgb, 1)))
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(path, quality=95, exif=exif.tobytes())


@pytest.fixture(scope="module")
def folder(astronaut, tmp_path_factory):
    d = tmp_path_factory.mktemp("frames")
    _write_16bit_png(d / "000_deep.png", astronaut)
    _write_phone_jpeg(d / "001_phone.jpg", astronaut)
    Image.fromarray(astronaut).convert("CMYK").save(d / "002_print.jpg", quality=95)
    Image.fromarray(astronaut).quantize(256).save(d / "003_palette.png")
    Image.fromarray((np.asarray(Image.fromarray(astronaut).convert("L"), np.uint16) * 257)).save(d / "004_grey16.png")
    return d


def test_the_folder_reader_gives_upright_8_bit_rgb_frames(astronaut, folder):
    for name, mode in (("002_print.jpg", "CMYK"), ("003_palette.png", "P"), ("004_grey16.png", "I;16")):
        with Image.open(folder / name) as im:
            assert im.mode == mode, name                # the files are what they claim to be
    assert (folder / "000_deep.png").read_bytes()[24] == 16   # IHDR bit depth: 16 bits a channel
    frames, rate = open_frames(folder, fps=10)
    frames = list(frames)
    assert rate == 10.0 and len(frames) == 5
    for f in frames:
        assert f.dtype == np.uint8 and f.shape == astronaut.shape      # 512 tall, 384 wide, 3 channels: upright
    deep, phone, cmyk, palette, grey16 = frames
    assert _diff(deep, astronaut) < 1.0            # the high bytes of the 16-bit values, not white
    assert _diff(phone, astronaut) < 4.0           # turned upright; JPEG loss only
    assert _diff(cmyk, astronaut) < 6.0            # CMYK -> RGB, not four channels read as RGBA
    assert _diff(palette, astronaut) < 10.0        # 256 colours
    grey = np.asarray(Image.fromarray(astronaut).convert("L"))
    assert (grey16 == 255).mean() < 0.05 and _diff(grey16[..., 1], grey) < 1.0


def test_the_folder_reader_matches_the_photo_reader(folder):
    rig_inputs = pytest.importorskip("rig.inputs", reason="rig (the photo reader) is not importable")
    frames, _ = open_frames(folder)
    for f, path in zip(frames, sorted(folder.iterdir())):
        assert np.array_equal(f, rig_inputs.read_photo(path)), path.name


def test_an_unreadable_frame_is_one_line_naming_it(astronaut, tmp_path):
    Image.fromarray(astronaut).save(tmp_path / "000.png")
    (tmp_path / "001.png").write_text("not a picture")
    frames, _ = open_frames(tmp_path)
    assert next(frames).shape == astronaut.shape
    with pytest.raises(MorphableError) as err:
        next(frames)
    msg = str(err.value)
    assert "\n" not in msg and msg == f"cannot read frame {tmp_path / '001.png'} (UnidentifiedImageError)"
