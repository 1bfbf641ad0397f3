"""basics.images.read_image, the decoder photos and frame folders share: its errors and what it imports.

The decoded pixels for each kind of file are checked through its two callers (tests/rig/photo/test_read_photo.py,
tests/morphable/fit/test_video_io_folder.py); here: the error a caller maps to its own one-line message.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from basics.errors import UserError
from basics.images import ImageReadError, read_image

skdata = pytest.importorskip("skimage.data", reason="scikit-image (the astronaut test image) is not installed")
ROOT = Path(__file__).resolve().parents[2]


def test_a_real_photo_decodes_to_its_pixels(tmp_path):
    rgb = skdata.astronaut()
    Image.fromarray(rgb).save(tmp_path / "a.png")
    img = read_image(tmp_path / "a.png")
    assert img.dtype == np.uint8 and np.array_equal(img, rgb)


@pytest.mark.parametrize("content", [b"not a picture", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, b""])
def test_a_file_that_is_no_image_is_one_user_error_line(tmp_path, content):
    path = tmp_path / "broken.png"
    path.write_bytes(content)
    with pytest.raises(ImageReadError) as err:
        read_image(path)
    assert isinstance(err.value, UserError)          # the CLI's one-line class
    assert str(err.value) == f"{path} is not a readable image ({err.value.reason})" and "\n" not in str(err.value)
    assert err.value.path == path and err.value.reason.isidentifier()   # the decoder's exception name


def test_a_decompression_bomb_is_refused_with_the_limit(tmp_path, monkeypatch):
    Image.fromarray(skdata.astronaut()).save(tmp_path / "big.png")    # 512 x 512 = 262,144 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)             # PIL refuses above twice this
    with pytest.raises(ImageReadError, match=r"big.png is too large to read \(200,000 pixels at most\)$"):
        read_image(tmp_path / "big.png")


def test_importing_basics_images_does_not_import_pil():
    code = "import sys, basics.images; print('PIL' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert res.stdout.strip() == "False", res.stdout + res.stderr
