"""`facerig invert` end to end: a real UTKFace photo, a small saved generator, files on disk."""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from gan.checkpoint import save_generator
from gan.networks import Generator
from rig.latent_file import read_latent


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def generator_file(tmp_path_factory):
    torch.manual_seed(0)
    G = Generator(z_dim=32, w_dim=32, img_resolution=32, mapping_layers=2, channel_base=256, channel_max=32)
    path = tmp_path_factory.mktemp("g") / "g32.safetensors"
    save_generator(G, path)
    return path


@pytest.fixture(scope="module")
def photo(utkface_zip, tmp_path_factory):
    with zipfile.ZipFile(utkface_zip) as zf:
        name = sorted(zf.namelist())[123]
        img = Image.open(io.BytesIO(zf.read(name))).convert("RGB")
    path = tmp_path_factory.mktemp("p") / "face.png"
    img.save(path)
    return path


def test_invert_writes_latent_and_side_by_side(run_cli, tmp_path, generator_file, photo):
    out, sbs = tmp_path / "lat.npz", tmp_path / "sbs.png"
    code, stdout, err = run_cli("invert", photo, "-o", out, "--steps", "4", "--generator", generator_file,
                                "--side-by-side", sbs, "-q", "--noise-reg", "100", "--no-watermark")
    assert code == 0, err  # (--no-watermark: the picture is compared pixel for pixel below)
    assert "PSNR" in stdout
    lat = read_latent(out)
    assert lat["ws"].shape == (1, 8, 32) and lat["ws"].dtype == np.float32
    assert lat["generator"] == str(generator_file)
    assert json.loads(lat["generator_config"])["img_resolution"] == 32
    assert lat["align_transform"].shape == (2, 3)
    assert lat["aligned"].shape == (32, 32, 3)
    assert len(lat["noise"]) > 0 and all(v.dtype == np.float32 for v in lat["noise"].values())
    assert np.isfinite(lat["psnr"])
    with np.load(out, allow_pickle=False) as data:  # plain arrays only
        assert "ws" in data.files
    pic = np.asarray(Image.open(sbs))
    assert pic.shape == (32, 64, 3)
    assert np.array_equal(pic[:, :32], lat["aligned"])
    assert not list(tmp_path.glob(".*"))  # no temp files left behind


def test_missing_default_generator_names_the_option(run_cli, tmp_path, photo):
    code, _, err = run_cli("invert", photo, "-o", tmp_path / "x.npz", "--generator", tmp_path / "none.safetensors")
    assert code == 2
    assert err.count("\n") == 1 and "--generator" in err


def test_not_an_image_is_one_line_error(run_cli, tmp_path, generator_file):
    bad = tmp_path / "notes.png"
    bad.write_text("hello")
    code, _, err = run_cli("invert", bad, "-o", tmp_path / "x.npz", "--generator", generator_file)
    assert code == 2 and err.count("\n") == 1 and "not a readable image" in err
    assert not (tmp_path / "x.npz").exists()


def test_photo_without_face_is_one_line_error(run_cli, tmp_path, generator_file):
    flat = tmp_path / "wall.png"
    Image.fromarray(np.full((96, 96, 3), 200, np.uint8)).save(flat)
    code, _, err = run_cli("invert", flat, "-o", tmp_path / "x.npz", "--generator", generator_file, "-q")
    assert code == 2 and "no face found in" in err and err.count("\n") == 1


def test_cli_noise_default_matches_the_library():
    from gan.inversion import InversionLoss
    from rig.cli.invert import DEFAULT_NOISE_REG

    assert DEFAULT_NOISE_REG == InversionLoss().noise_reg
