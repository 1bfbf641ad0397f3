"""`make demo`'s job (rig.demo) on the embedded defaults: every picture and video it writes is labelled, by kind."""
from __future__ import annotations

import pytest

from rig.provenance import metadata, verify


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    from rig.demo import main

    out = tmp_path_factory.mktemp("demo")
    assert main(["--out", str(out), "--size", "96"]) == 0
    return out


def test_every_image_and_video_is_labelled_with_its_source_type(demo_out):
    media = sorted(p for p in demo_out.iterdir() if p.suffix in (".png", ".mp4"))
    assert len(media) >= 6
    kinds = {}
    for path in media:
        report = verify(path)
        assert report.labelled, path.name
        kinds[path.name] = report.metadata.digital_source_type
    # 3DMM renders are algorithmic media, generator output is trained algorithmic media
    assert kinds["morph_controls.png"] == metadata.ALGORITHMIC
    assert kinds["driver.mp4"] == metadata.ALGORITHMIC
    assert kinds["edit_grid.png"] == metadata.TRAINED
    assert kinds["animation.mp4"] == metadata.TRAINED
    # without PHOTO the photo engine edits a stand-in 3DMM render, nobody's photo: algorithmic media too
    assert kinds["photo_edit.png"] == metadata.ALGORITHMIC
