"""Big pictures through the output layer: the PNG writer for images over rig.outputs.BIG_IMAGE_PX (Up filter,
pieces deflated on two threads and joined) is lossless and its zlib stream checks; a labelled, watermarked
output written that way verifies; watermark.embed(out=) and its two-thread strips give the same pixels."""
from __future__ import annotations

import zlib

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

import rig.outputs as outputs
from rig.provenance import LabelInfo, Labeller, verify, watermark


def _idat(data: bytes) -> bytes:
    """The joined IDAT payloads of a PNG, each chunk's CRC checked."""
    pos, out = 8, []
    while pos < len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        assert zlib.crc32(data[pos + 4:pos + 8 + n]) == int.from_bytes(data[pos + 8 + n:pos + 12 + n], "big")
        if data[pos + 4:pos + 8] == b"IDAT":
            out.append(data[pos + 8:pos + 8 + n])
        pos += 12 + n
    return b"".join(out)


@pytest.mark.parametrize("shape", [(1, 1, 3), (300, 7, 3), (513, 640, 3), (700, 90)])
def test_big_png_writer_is_lossless(tmp_path, shape):
    img = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    path = tmp_path / "x.png"
    outputs.write_big_png(path, img)
    zlib.decompress(_idat(path.read_bytes()))   # raises on a wrong Adler-32
    assert np.array_equal(np.asarray(Image.open(path)), img)


def test_a_labelled_big_output_verifies(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "BIG_IMAGE_PX", 100_000)   # the astronaut (262k px) takes the big-image path
    photo = skdata.astronaut()
    info = LabelInfo("edit", {"yaw": 10.0}, source="edited-photo")
    with outputs.Outputs(provenance=Labeller(info)) as out:
        out.image(tmp_path / "big.png", photo)
    data = (tmp_path / "big.png").read_bytes()
    zlib.decompress(_idat(data))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "big.png")),
                          watermark.embed(photo, 1, 40.0))   # the pixels: exactly the watermarked photo
    rep = verify(tmp_path / "big.png")
    assert rep.labelled and rep.watermark.detected and rep.watermark.bit_accuracy(1) >= 0.95


def test_embed_into_out_and_on_two_threads_is_the_same(monkeypatch):
    photo = np.ascontiguousarray(np.tile(skdata.astronaut(), (5, 2, 1))[:, ::-1])   # 2560 x 1024
    one = watermark.embed(photo)
    monkeypatch.setattr(watermark, "_threads", lambda h, w: 2)
    into = np.zeros_like(photo)
    assert watermark.embed(photo[:, :], out=into) is into
    assert np.array_equal(one, into)
    with pytest.raises(ValueError):
        watermark.embed(photo, out=np.zeros((10, 10, 3), np.uint8))


def test_compiled_luma_equals_numpys_for_every_colour():
    v = np.arange(256 ** 3, dtype=np.uint32)
    every = np.stack([(v >> 16) & 255, (v >> 8) & 255, v & 255], -1).astype(np.uint8).reshape(4096, 4096, 3)
    assert np.array_equal(watermark._luma32(every, compiled=True), watermark._luma32(every))


def test_compiled_embed_equals_numpys(monkeypatch):
    rng = np.random.default_rng(7)
    photo = np.tile(skdata.astronaut(), (3, 2, 1)).astype(np.int16)
    photo = np.clip(photo * 2 - 120 + rng.normal(0, 3, photo.shape), 0, 255).astype(np.uint8)   # saturated parts
    plain = watermark.embed(photo)
    monkeypatch.setattr(watermark, "COMPILED_PX", 0)
    assert np.array_equal(watermark.embed(photo), plain)
