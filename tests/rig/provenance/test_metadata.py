"""XMP provenance in PNG, JPEG, WebP and MP4 files: written where readers look, read back, pixels untouched."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from rig.provenance import metadata as md
from rig.provenance.label import encode_mp4

PROV = md.Provenance(digital_source_type=md.COMPOSITE, creator_tool="facerig 0.1.0", generator="dcgan64",
                     bundle="assets/rig/dcgan64", version="0.1.0", command="edit",
                     parameters={"yaw": 20.0, "expression": {"jawOpen": 0.6}, "note": "a<b & \"c\""},
                     watermark="facerig-v1")


def _encode(image: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt)
    return buf.getvalue()


@pytest.fixture(scope="module")
def photo(utkface_photos):
    return utkface_photos(1, seed=5)[0]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_round_trip_keeps_pixels_and_reads_back(photo, fmt):
    plain = _encode(photo, fmt)
    labelled = md.add_xmp(plain, md.xmp_packet(PROV))
    back = md.parse_xmp(md.read_xmp(labelled))
    assert back == PROV and back.synthetic
    assert md.read_xmp(plain) is None
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(labelled))), np.asarray(Image.open(io.BytesIO(plain))))
    # Pillow (an independent reader) finds the packet where the formats put it
    info = Image.open(io.BytesIO(labelled)).info
    text = info.get("xmp") or info.get("XML:com.adobe.xmp")
    assert b"compositeWithTrainedAlgorithmicMedia" in (text if isinstance(text, bytes) else text.encode())
    # writing twice replaces, never stacks
    again = md.add_xmp(labelled, md.xmp_packet(PROV))
    assert again.count(b"<x:xmpmeta") == 1


def test_mp4_uuid_box_is_appended_and_the_video_still_decodes(photo, tmp_path):
    import imageio.v2 as imageio

    frames = np.stack([photo] * 4)
    plain = encode_mp4(frames, 8)
    labelled = md.add_xmp(plain, md.xmp_packet(PROV))
    assert labelled.startswith(plain) and md.parse_xmp(md.read_xmp(labelled)) == PROV
    (tmp_path / "v.mp4").write_bytes(labelled)
    with imageio.get_reader(str(tmp_path / "v.mp4"), format="FFMPEG") as reader:
        assert sum(1 for _ in reader) == 4


def test_opt_out_records_only_the_opt_out(photo):
    prov = md.Provenance(**{**vars(PROV), "labelled": False})
    back = md.parse_xmp(md.read_xmp(md.add_xmp(_encode(photo, "PNG"), md.xmp_packet(prov))))
    assert back.labelled is False and back.digital_source_type is None and not back.synthetic
    assert back.parameters == {} and back.watermark == "facerig-v1"


def test_hostile_or_broken_input():
    assert md.parse_xmp(b'<!DOCTYPE x [<!ENTITY a "aaaa">]><x:xmpmeta xmlns:x="adobe:ns:meta/"/>') is None
    assert md.parse_xmp(b"<x:xmpmeta not xml") is None
    assert md.read_xmp(b"plain text file") is None
    with pytest.raises(md.MetadataError):
        md.read_xmp(md.PNG_SIGNATURE + b"\x00\x00\x10\x00IHDR")   # chunk longer than the file
    with pytest.raises(md.MetadataError):
        md.add_xmp(b"GIF89a....", md.xmp_packet(PROV))


def test_front_end_labels_follow_the_engine_kind_and_refuse_unknown_kinds():
    from rig.provenance.label import SOURCE_OF_KIND, labeller_for

    assert labeller_for("app", "photo").info.source == "edited-photo"
    assert labeller_for("app", "generated").info.source == "generated"
    for kind in ("edited-photo", "morph", ""):   # not an engine kind: no silent 'generated'
        with pytest.raises(ValueError, match="unknown source kind"):
            labeller_for("app", kind)
    assert set(SOURCE_OF_KIND) >= {"photo", "generated", "morphable", "face"}
