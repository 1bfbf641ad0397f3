"""The identity proxy (latent -> dlib descriptor) and RigNet's identity loss."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rig.errors import RigError
from rig.identity_proxy import IdentityProxy, descriptors_of, fit_proxy, load_proxy, save_proxy

BUNDLE = Path(__file__).resolve().parents[2] / "assets" / "rig" / "dcgan64"


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
    ws = rng.normal(size=(1200, 1, 16)).astype(np.float32)
    proj = rng.normal(size=(16, 128)).astype(np.float32) / 8
    desc = np.tanh(ws[:, 0] @ proj).astype(np.float32)
    desc[::50] = np.nan                              # missing faces are ignored
    groups = np.arange(1200) // 3
    proxy, report = fit_proxy(ws, desc, groups, epochs=60, progress=False)
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
    from rig.rig_losses import RigLoss, RigLossWeights
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
