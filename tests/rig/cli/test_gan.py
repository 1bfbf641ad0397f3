"""`facerig gan info|convert|sample` through the real CLI entry point."""
from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from gan.checkpoint import load_generator, save_discriminator, save_generator
from gan.errors import GanError
from rig.errors import RigError
from gan.networks import Discriminator, Generator
from rig.cli.common import parse_seeds

from tests.gan._writers import write_official_pickle

SMALL = dict(z_dim=64, w_dim=64, mapping_layers=2, channel_base=1024, channel_max=64)


@pytest.fixture(scope="module")
def gen_file(tmp_path_factory):
    torch.manual_seed(0)
    G = Generator(img_resolution=32, **SMALL)
    with torch.no_grad():
        G.mapping(torch.randn(64, 64), update_emas=True)
    path = tmp_path_factory.mktemp("ckpt") / "g.safetensors"
    save_generator(G, path, info={"kimg": 3})
    return path


def test_parse_seeds():
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("1,5,9") == [1, 5, 9]
    assert parse_seeds("0-1,7") == [0, 1, 7]
    assert parse_seeds(f"{2**32 - 1}") == [2**32 - 1]          # one seed range for every command
    for bad in ["", "a", "3-1", "1,,2", "-5", "0-99999", f"{2**32}", "0-1000000000000"]:
        with pytest.raises(RigError):
            parse_seeds(bad)


def test_info(run_cli, gen_file):
    code, out, err = run_cli("gan", "info", gen_file)
    assert code == 0, err
    rows = dict(line.split(None, 1) for line in out.strip().splitlines())
    assert rows["kind"] == "facerig-stylegan2-generator"
    assert rows["resolution"] == "32" and rows["num_ws"] == "8" and rows["z_dim"] == "64"
    assert rows["dtype"] == "float32" and '"kimg": 3' in rows["info"]
    assert int(rows["parameters"]) == sum(p.numel() for p in load_generator(gen_file).parameters())


def test_convert_official_pickle_fp16_then_sample(run_cli, tmp_path, gen_file):
    G = load_generator(gen_file)
    write_official_pickle(G, tmp_path / "net.pkl", tmp_path / "SENTINEL")
    out = tmp_path / "conv.safetensors"
    code, _, err = run_cli("gan", "convert", tmp_path / "net.pkl", out, "--fp16")
    assert code == 0, err
    code, info, _ = run_cli("gan", "info", out)
    assert "float16" in info and "converted_from" in info
    grid = tmp_path / "grid.png"
    code, _, err = run_cli("gan", "sample", "--generator", out, "--seeds", "0-3", "--truncation", "0.7",
                           "-o", grid)
    assert code == 0, err
    img = iio.imread(grid)
    assert img.shape == (64, 64, 3) and img.std() > 5  # 2x2 grid of 32 px faces, not blank
    # same seeds give the same picture (const noise), and each tile is the seed's own image
    code, _, _ = run_cli("gan", "sample", "--generator", gen_file, "--seeds", "2", "-o", tmp_path / "one.png",
                         "--truncation", "0.7")
    one = iio.imread(tmp_path / "one.png")
    assert np.abs(one.astype(int) - img[32:, :32].astype(int)).max() <= 8  # fp16 vs fp32 weights
    assert not (tmp_path / "SENTINEL").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_user_errors_are_one_line_exit_2(run_cli, tmp_path, gen_file):
    D = Discriminator(img_resolution=32, channel_base=1024, channel_max=64)
    save_discriminator(D, tmp_path / "d.safetensors")
    np.savez(tmp_path / "morph.npz", a=np.zeros(3))
    cases = [
        ("gan", "sample", "--generator", tmp_path / "d.safetensors", "--seeds", "0-1", "-o", tmp_path / "x.png"),
        ("gan", "sample", "--generator", tmp_path / "morph.npz", "-o", tmp_path / "x.png"),
        ("gan", "sample", "--generator", gen_file, "--seeds", "1-x", "-o", tmp_path / "x.png"),
        ("gan", "info", tmp_path / "nope.pkl"),
        ("gan", "convert", gen_file, tmp_path / "out.pt"),
    ]
    for args in cases:
        code, out, err = run_cli(*args)
        assert code == 2, (args, err)
        assert err.startswith("facerig: error:") and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "out.pt").exists()


def test_info_and_convert_of_the_packaged_dcgan(run_cli, tmp_path):
    from gan.dcgan import default_weights_path, load_dcgan

    try:
        weights = default_weights_path()
    except GanError as exc:
        pytest.skip(str(exc))
    code, out, err = run_cli("gan", "info", "dcgan")
    assert code == 0, err
    rows = dict(line.split(None, 1) for line in out.strip().splitlines())
    assert rows["file"] == str(weights) and rows["kind"].startswith("DCGAN weights of gan-face-generate")
    assert (rows["resolution"], rows["z_dim"], rows["num_ws"], rows["c_dim"]) == ("64", "100", "1", "0")
    assert int(rows["parameters"]) == sum(p.numel() for p in load_dcgan().parameters())
    code, by_path, _ = run_cli("gan", "info", weights)  # the file itself reads the same
    assert code == 0 and by_path == out
    # the DCGAN is not a StyleGAN2 generator: converting it would write a file nothing could load
    code, _, err = run_cli("gan", "convert", "dcgan", tmp_path / "dc.safetensors")
    assert code == 2 and "only StyleGAN2 generators" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "dc.safetensors").exists()


def test_sample_bf16_is_close_to_fp32_and_the_dcgan_notes_it(run_cli, tmp_path, gen_file):
    from gan.fast import bf16_is_fast

    if not bf16_is_fast():
        pytest.skip("this CPU has no bf16 hardware: bf16 synthesis would be emulated")
    grids = {}
    for name, extra in (("fp32", ()), ("bf16", ("--bf16",))):
        out = tmp_path / f"{name}.png"
        code, _, err = run_cli("gan", "sample", "--generator", gen_file, "--seeds", "0-3", *extra, "-o", out,
                               "--no-label")
        assert code == 0 and "note:" not in err, err
        grids[name] = iio.imread(out).astype(int)
    diff = np.abs(grids["bf16"] - grids["fp32"])
    assert 0 < diff.mean() < 3.0, diff.mean()
    code, _, err = run_cli("gan", "sample", "--generator", "dcgan", "--seeds", "0", "--bf16", "-o",
                           tmp_path / "d.png", "--no-label")
    assert code == 0 and "note: --bf16 applies to StyleGAN2 generators" in err
