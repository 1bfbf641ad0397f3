"""`facerig verify` end to end: outputs of the writing commands verify as labelled, real photos and junk do not."""
from __future__ import annotations

import json

import pytest
from PIL import Image


def test_edit_output_is_labelled_and_a_photo_is_not(run_cli, tmp_path, utkface_photos):
    out = tmp_path / "edit.png"
    code, _, err = run_cli("edit", "--seed", "3", "--yaw", "20", "-o", out)
    assert code == 0, err
    code, text, _ = run_cli("verify", out)
    assert code == 0
    assert "LABELLED" in text and "trainedAlgorithmicMedia" in text and "watermark: detected" in text
    assert "'yaw': 20.0" in text and "command edit" in text
    photo = tmp_path / "photo.png"
    Image.fromarray(utkface_photos(1, seed=4)[0]).save(photo)
    code, text, _ = run_cli("verify", photo)
    assert code == 1 and "no facerig label found" in text and "watermark: not detected" in text
    junk = tmp_path / "notes.png"
    junk.write_text("not an image at all")
    code, text, _ = run_cli("verify", out, photo, junk)
    assert code == 2 and "notes.png: error: not a readable image" in text


def test_no_label_keeps_watermark_and_no_watermark_removes_it(run_cli, tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert run_cli("edit", "--seed", "5", "--pitch", "10", "--no-label", "-o", a)[0] == 0
    code, text, _ = run_cli("verify", a)
    assert code == 0 and "--no-label" in text and "watermark: detected" in text and "trainedAlgorithmic" not in text
    assert run_cli("edit", "--seed", "5", "--pitch", "10", "--no-label", "--no-watermark", "-o", b)[0] == 0
    code, text, _ = run_cli("verify", "--json", b)
    assert code == 1 and '"labelled": false' in text


def test_signed_sample_grid_and_bad_keys(run_cli, tmp_path, monkeypatch):
    pytest.importorskip("c2pa")
    from rig.provenance.devcert import make_test_credentials

    ca, chain, key = make_test_credentials(tmp_path / "creds")
    grid = tmp_path / "grid.jpg"
    code, _, err = run_cli("gan", "sample", "--generator", "dcgan", "--seeds", "0-3", "-o", grid,
                           "--sign-cert", chain, "--sign-key", key)
    assert code == 0, err
    code, text, _ = run_cli("verify", grid, "--trust", ca)
    assert code == 0 and "C2PA valid, trusted signer" in text and "watermark: detected" in text
    # the environment variables work the same; a key that does not match fails in one line, writing nothing
    monkeypatch.setenv("FACERIG_SIGN_CERT", str(ca))
    monkeypatch.setenv("FACERIG_SIGN_KEY", str(key))
    bad = tmp_path / "bad.png"
    code, _, err = run_cli("edit", "--seed", "1", "--yaw", "5", "-o", bad)
    assert code == 2 and err.count("\n") == 1 and "does not belong" in err and not bad.exists()


def test_verify_reads_mp4_and_gif_from_animate(run_cli, tmp_path):
    tracks = tmp_path / "t.json"
    tracks.write_text(json.dumps({"fps": 10, "duration": 0.9, "tracks": [
        {"block": "expression", "name": "jawOpen", "keys": [[0, 0.0], [0.9, 0.6]]}]}))
    out, gif = tmp_path / "anim.mp4", tmp_path / "anim.gif"
    code, _, err = run_cli("animate", "--seed", "2", "--tracks", tracks, "-o", out, "--size", "128")
    assert code == 0, err
    code, text, _ = run_cli("verify", out)
    assert code == 0 and "(mp4," in text and "trainedAlgorithmicMedia" in text and "watermark: detected" in text
    assert run_cli("animate", "--seed", "2", "--tracks", tracks, "-o", gif, "--size", "128")[0] == 0
    code, text, _ = run_cli("verify", gif)
    assert code == 0 and "(gif," in text and "trainedAlgorithmicMedia" in text   # the GIF comment names it


def test_morph_render_is_labelled_as_algorithmic_media(run_cli, tmp_path):
    out = tmp_path / "render.png"
    assert run_cli("morph", "render", "--identity-seed", "2", "--yaw", "15", "--size", "128", "-o", out)[0] == 0
    code, text, _ = run_cli("verify", out)
    assert code == 0 and "source type algorithmicMedia" in text and "watermark: detected" in text


@pytest.mark.slow
def test_photo_engine_edit_is_a_composite(run_cli, tmp_path, utkface_photos):
    """`facerig edit --photo`: a real photo, changed -> compositeWithTrainedAlgorithmicMedia (the fit takes ~25 s)."""
    photo = tmp_path / "photo.png"
    Image.fromarray(utkface_photos(1, seed=8)[0]).save(photo)
    out = tmp_path / "edited.png"
    code, _, err = run_cli("edit", "--photo", photo, "--yaw", "10", "-o", out)
    assert code == 0, err
    code, text, _ = run_cli("verify", out)
    assert code == 0 and "compositeWithTrainedAlgorithmicMedia" in text and "watermark: detected" in text
