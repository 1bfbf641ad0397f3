"""label_* then verify() on real pictures: every label is found, conversions keep the watermark, decisions and exit codes."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from rig.provenance import LabelInfo, attacks, label_image, label_video, verify
from rig.provenance import metadata as md


@pytest.fixture(scope="module")
def photo(utkface_photos):
    return utkface_photos(1, seed=21)[0]


def _info(**kw):
    return LabelInfo("edit", {"seed": 3, "yaw": 20.0}, generator="dcgan64", bundle="assets/rig/dcgan64", **kw)


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_labelled_image_verifies_with_all_three(photo, credentials, tmp_path, fmt):
    pytest.importorskip("c2pa")
    from rig.provenance.c2pa_manifest import SigningKey

    info = _info(source="edited-photo", signing=SigningKey.load(credentials[1], credentials[2]))
    path = tmp_path / f"out.{fmt}"
    path.write_bytes(label_image(photo, fmt, info))
    rep = verify(path)
    assert rep.exit_code == 0 and rep.labelled
    assert rep.metadata.digital_source_type == md.COMPOSITE and rep.metadata.parameters["yaw"] == 20.0
    assert rep.manifest.state == "valid" and rep.manifest.digital_source_type == md.COMPOSITE
    assert rep.watermark.detected and rep.watermark.bit_accuracy(1) >= 0.95
    text = "\n".join(rep.lines())
    assert "LABELLED" in text and "compositeWithTrainedAlgorithmicMedia" in text


def test_generated_face_labelled_without_key_then_stripped_by_conversion(generated_faces, tmp_path):
    from PIL import Image as PILImage

    face = np.asarray(PILImage.fromarray(generated_faces(1)[0]).resize((256, 256), PILImage.LANCZOS))
    path = tmp_path / "face.png"
    path.write_bytes(label_image(face, "png", _info()))
    rep = verify(path)
    assert rep.labelled and rep.metadata.synthetic and rep.manifest.state == "absent"
    # a platform re-saves it as a small JPEG: metadata gone, watermark still there
    small = attacks.jpeg(attacks.resize(np.asarray(Image.open(path)), 0.5), 75)
    Image.fromarray(small).save(tmp_path / "reupload.jpg", quality=95)
    rep = verify(tmp_path / "reupload.jpg")
    assert rep.metadata is None and rep.watermark.detected and rep.exit_code == 0


def test_video_labels_and_h264_reencode(photo, tmp_path):
    frames = np.stack([np.roll(photo, 2 * i, axis=1) for i in range(8)])
    data = label_video(frames, 8, _info())
    (tmp_path / "a.mp4").write_bytes(data)
    rep = verify(tmp_path / "a.mp4")
    assert rep.kind == "mp4" and rep.metadata.synthetic and rep.watermark.detected
    (tmp_path / "b.mp4").write_bytes(attacks.reencode_h264(data))
    rep = verify(tmp_path / "b.mp4")
    assert rep.metadata is None            # ffmpeg does not copy an unknown uuid box
    assert rep.watermark.detected and rep.exit_code == 0


def test_opt_outs(photo, tmp_path):
    (tmp_path / "nolabel.png").write_bytes(label_image(photo, "png", _info(label=False)))
    rep = verify(tmp_path / "nolabel.png")
    assert rep.metadata.labelled is False and not rep.metadata.synthetic
    assert rep.watermark.detected and rep.exit_code == 0          # the watermark stays by default
    assert any("--no-label" in line for line in rep.lines())
    (tmp_path / "none.png").write_bytes(label_image(photo, "png", _info(label=False, watermark=False)))
    rep = verify(tmp_path / "none.png")
    assert rep.exit_code == 1 and rep.metadata.watermark == "off"
    assert np.array_equal(np.asarray(Image.open(tmp_path / "none.png")), photo)


def test_real_photo_and_bad_files(photo, tmp_path):
    Image.fromarray(photo).save(tmp_path / "real.png")
    rep = verify(tmp_path / "real.png")
    assert rep.exit_code == 1 and not rep.watermark.detected and rep.metadata is None
    (tmp_path / "notes.txt").write_text("not an image")
    assert verify(tmp_path / "notes.txt").exit_code == 2
    png = (tmp_path / "real.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(png[: len(png) // 2])
    assert verify(tmp_path / "cut.png").exit_code == 2
    assert verify(tmp_path / "missing.png").exit_code == 2
