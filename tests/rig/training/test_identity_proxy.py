"""The identity proxy (latent -> dlib descriptor) and RigNet's identity loss."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rig.errors import RigError
from rig.training.identity_proxy import IdentityProxy, descriptors_of, fit_proxy, load_proxy, save_proxy


def main(argv: list[str]) -> int:
    """`facerig rig proxy ARGV` in-process."""
    from rig.cli import main as facerig

    return facerig(["rig", "proxy", *argv])

BUNDLE = Path(__file__).resolve().parents[3] / "assets" / "rig" / "dcgan64"


def test_descriptors_of_real_photos_and_a_blank_image(utkface_photos):
    photos = utkface_photos(3, 5)
    desc = descriptors_of(np.stack(photos + [np.full_like(photos[0], 128)]))
    assert desc.shape == (4, 128) and np.isnan(desc[3]).all()
    found = np.isfinite(desc[:3]).all(1)
    assert found.sum() >= 2
    d = desc[:3][found]
    assert np.linalg.norm(d[0] - d[1]) > 0.3       # two different people are far apart


def test_fit_proxy_learns_a_smooth_map_and_splits_by_group():
    rng = np.random.default_rng(0)
    ws = rng.normal(size=(600, 1, 16)).astype(np.float32)
    proj = rng.normal(size=(16, 128)).astype(np.float32) / 8
    desc = np.tanh(ws[:, 0] @ proj).astype(np.float32)
    desc[::50] = np.nan                              # missing faces are ignored
    groups = np.arange(600) // 3
    proxy, report = fit_proxy(ws, desc, groups, epochs=100, lr=1e-2, hidden=64, depth=1, progress=False)
    assert report["r2_validation"] > 0.9, report
    assert report["train"] + report["validation"] == int(np.isfinite(desc).all(1).sum())


def test_save_load_round_trip_and_wrong_kind(tmp_path):
    proxy = IdentityProxy(1, 8, hidden=16, depth=2)
    save_proxy(proxy, tmp_path / "p.safetensors", {"r2": 0.5})
    again = load_proxy(tmp_path / "p.safetensors")
    x = torch.randn(4, 1, 8)
    assert torch.equal(proxy(x), again(x))
    if (BUNDLE / "estimator.safetensors").is_file():
        with pytest.raises(RigError, match="not an identity proxy"):
            load_proxy(BUNDLE / "estimator.safetensors")


def test_identity_term_is_zero_without_an_edit_and_trains_rignet():
    if not (BUNDLE / "estimator.safetensors").is_file():
        pytest.skip("the default rig bundle is not built")
    from morphable.formats import load_model
    from rig.estimator import load_estimator
    from rig.training.losses import RigLoss, RigLossWeights
    from rig.rignet import RigNet

    est = load_estimator(BUNDLE / "estimator.safetensors")
    model = load_model("default")
    proxy = IdentityProxy(1, 100, hidden=32, depth=2)
    with pytest.raises(ValueError, match="identity proxy"):
        RigLoss(est, model, 52, render_batch=0, weights=RigLossWeights(identity=1.0))
    loss = RigLoss(est, model, 52, render_batch=0, weights=RigLossWeights(identity=1.0), identity_proxy=proxy)
    net = RigNet(1, 100, est.param_dim)                # zero-initialised: no offset yet
    v, w = torch.randn(8, 1, 100), torch.randn(8, 1, 100)
    _, terms = loss(net, v, w, torch.Generator().manual_seed(0))
    assert terms["identity"] == 0.0
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    total, terms = loss(net, v, w, torch.Generator().manual_seed(0))
    assert terms["identity"] > 0
    total.backward()
    assert all(p.grad is not None for p in net.parameters())


def test_rig_train_cli_checks_the_identity_options(run_cli, tmp_path):
    code, _, err = run_cli("rig", "train", "--generator", "dcgan", "--estimator", "x.safetensors",
                           "--out", tmp_path / "r", "--identity-weight", "1")
    assert code == 2 and "go together" in err and "Traceback" not in err
    code, _, err = run_cli("rig", "train", "--generator", "dcgan", "--estimator", "x.safetensors",
                           "--out", tmp_path / "r", "--identity-weight", "1", "--identity-proxy", tmp_path / "none")
    assert code == 2 and "no identity proxy" in err


def _one_line_error(capsys, fragment: str) -> None:
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


@pytest.fixture(scope="module")
def tiny_pairs(tmp_path_factory):
    """A 6-face estimator pairs file with the packaged DCGAN's real latents (the proxy only reads ws)."""
    if not (BUNDLE / "manifest.json").is_file():
        pytest.skip("the default rig bundle is not built")
    from rig.training.training_pairs import sample_latents, save_pairs
    from rig.face_rig import FaceRig

    ws = sample_latents(FaceRig.load(BUNDLE).G, 6, seed=11).numpy()
    path = tmp_path_factory.mktemp("pairs") / "pairs.npz"
    save_pairs({"ws": ws, "params": np.zeros((6, 137), np.float32), "ok": np.ones(6, bool),
                "landmark_error": np.zeros(6, np.float32), "seconds_per_sample": np.float32(0),
                "seed": np.int64(11), "truncation": np.float32(1)}, path)
    return path


@pytest.mark.usefixtures("single_thread")
def test_parts_are_joined_only_when_complete(tiny_pairs, tmp_path, capsys):
    import shutil

    out = tmp_path / "proxy"
    common = ["--pairs", str(tiny_pairs), "--n", "6", "--out", str(out), "--epochs", "2"]
    assert main(common + ["--part", "0/2"]) == 0
    assert main(common) == 2                          # part 1 of 2 is missing: no fit on half the faces
    _one_line_error(capsys, "parts of 2 are incomplete (missing [1]")
    assert main(common + ["--part", "1/2"]) == 0
    mixed = tmp_path / "mixed"
    shutil.copytree(out, mixed)
    shutil.copyfile(out / "descriptors_part0of2.npz", mixed / "descriptors_part0of3.npz")
    assert main(["--pairs", str(tiny_pairs), "--out", str(mixed), "--epochs", "2"]) == 2
    _one_line_error(capsys, "part files of different splits (of2, of3)")
    capsys.readouterr()
    assert main(common) == 0
    assert "joined 2 part files (6 base faces)" in capsys.readouterr().out
    with np.load(out / "descriptors.npz") as d:
        assert sorted(d["rows"].tolist()) == list(range(6))
        assert d["ws_base"].shape == (6, 1, 100) and d["desc_edit"].shape == (6, 128)
        with np.load(out / "descriptors_part1of2.npz") as p1:  # part 1 holds faces 1, 3, 5
            np.testing.assert_array_equal(d["ws_step"][3:], p1["ws_step"])
    assert load_proxy(out / "identity_proxy.safetensors").num_ws == 1


def test_cli_errors_are_one_line(tiny_pairs, tmp_path, capsys):
    base = ["--n", "6", "--out", str(tmp_path / "o")]
    for part in ("0/0", "2/2", "-1/2", "a/b"):
        assert main(base + ["--pairs", str(tiny_pairs), f"--part={part}"]) == 2
        _one_line_error(capsys, "--part")
    assert main(base + ["--pairs", str(tmp_path / "missing.npz")]) == 2
    _one_line_error(capsys, "missing.npz not found (expected an estimator pairs file")
    np.savez(tmp_path / "other.npz", ws=np.zeros((2, 1, 100)))
    assert main(base + ["--pairs", str(tmp_path / "other.npz")]) == 2
    _one_line_error(capsys, "not an estimator pairs file")
    assert main(base + ["--pairs", str(tiny_pairs), "--bundle", str(tmp_path)]) == 2
    _one_line_error(capsys, "no rig bundle")


def test_load_proxy_damaged_files_are_rig_errors(tmp_path):
    from safetensors.torch import save_file

    proxy = IdentityProxy(1, 8, hidden=16, depth=2)
    state = {k: v.contiguous() for k, v in proxy.state_dict().items()}
    save_file(state, str(tmp_path / "cfg.safetensors"),
              metadata={"format": "facerig-identity-proxy", "config": '{"num_ws": 1, "w_dim": 8, "hidden": 32, "depth": 2}'})
    with pytest.raises(RigError, match="do not match its config"):
        load_proxy(tmp_path / "cfg.safetensors")
    save_file(state, str(tmp_path / "meta.safetensors"), metadata={"format": "facerig-identity-proxy"})
    with pytest.raises(RigError, match="metadata is missing or damaged"):
        load_proxy(tmp_path / "meta.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(RigError, match="not a safetensors file \\(expected an identity proxy"):
        load_proxy(tmp_path / "junk.safetensors")
    with pytest.raises(RigError, match="not found \\(expected an identity proxy"):
        load_proxy(tmp_path / "none.safetensors")
