"""RigNet training: edit targets, losses through the real estimator + renderer, exact resume, CLI."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from morphable.params import FaceParams
from rig.errors import RigError
from rig.training.losses import UNIFORM_POSE, RigLoss, block_dims

BUNDLE = Path(__file__).resolve().parents[3] / "assets" / "rig" / "dcgan64"


@pytest.fixture(scope="module")
def parts():
    """The packaged DCGAN, the default 3DMM and the committed bundle's estimator."""
    if not (BUNDLE / "estimator.safetensors").is_file():
        pytest.skip("the default rig bundle is not built")
    from gan.dcgan import load_dcgan
    from morphable.formats import load_model
    from rig.estimator import load_estimator

    return load_dcgan(None).eval(), load_model("default"), load_estimator(BUNDLE / "estimator.safetensors")


def test_edit_targets_swap_one_block_of_angles_or_weights(parts):
    G, model, est = parts
    loss = RigLoss(est, model, 52, render_batch=0)
    gen = torch.Generator().manual_seed(3)
    p_v, p_w = torch.randn(256, 137), torch.randn(256, 137) + 10.0
    target, mask = loss.make_target(p_v, p_w, gen)
    assert torch.equal(target[~mask], p_v[~mask])
    blocks = [block_dims(52, b) for b in loss.blocks]
    for row in range(256):
        touched = [i for i, sl in enumerate(blocks) if mask[row, sl].any()]
        assert len(touched) == 1                      # exactly one block per row
        assert mask[row].sum() == mask[row, blocks[touched[0]]].sum()
    lay = FaceParams.layout(52)
    assert not mask[:, lay["pose"].start + 3:lay["pose"].stop].any()  # translation is never edited
    assert not mask[:, lay["identity"]].any()
    yaw = target[mask[:, lay["pose"].start], lay["pose"].start]
    uniform = yaw[(yaw - 10.0).abs() > 5.0]          # drawn uniformly, not from p_w (~10)
    assert len(uniform) > 0 and (uniform >= UNIFORM_POSE[0][0]).all() and (uniform <= UNIFORM_POSE[0][1]).all()
    sub = mask[:, lay["expression"]].sum(1)
    assert ((sub > 0) & (sub < 52)).any() and (sub == 52).any()   # subsets and whole blocks


def test_losses_are_finite_and_reach_rignet(parts):
    from rig.rignet import RigNet

    G, model, est = parts
    loss = RigLoss(est, model, 52, render_batch=2)
    torch.manual_seed(0)
    net = RigNet(1, 100, 137, code=8, hidden=32)
    gen = torch.Generator().manual_seed(0)
    v = G.mapping(torch.randn(4, 100, generator=gen))
    w = G.mapping(torch.randn(4, 100, generator=gen))
    total, terms = loss(net, v, w, gen)
    assert set(terms) >= {"recon", "edit", "consistency", "photometric", "landmarks", "delta", "shell", "total"}
    assert all(torch.isfinite(torch.tensor(x)) for x in terms.values())
    assert terms["edit"] > 0 and terms["landmarks"] > 0   # an identity RigNet cannot meet edit targets
    total.backward()
    assert net.decoders[0][-1].weight.grad.abs().sum() > 0


def _run(parts, out, steps, resume=False, seed=5, proxy=None, identity=0.0):
    from rig.training.losses import RigLossWeights
    from rig.training.rignet_training import RigTrainConfig, train_rignet

    G, model, est = parts
    cfg = RigTrainConfig(batch=4, render_batch=1, hidden=32, code=8, checkpoint_every=2, log_every=2, seed=seed,
                         identity_proxy=None if proxy is None else str(proxy),
                         weights=RigLossWeights(identity=identity))
    return train_rignet(G, est, model, out, cfg, resume=resume, progress=False, steps=steps)


def test_resume_is_exact(parts, tmp_path):
    straight, hist_a = _run(parts, tmp_path / "a", 4)
    _run(parts, tmp_path / "b", 2)
    resumed, hist_b = _run(parts, tmp_path / "b", 4, resume=True)
    for (k, x), (_, y) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(x, y), k
    assert hist_a == hist_b
    assert any((x != 0).any() for k, x in straight.state_dict().items() if k.endswith("weight"))


def test_existing_run_needs_resume(parts, tmp_path):
    _run(parts, tmp_path, 1)
    with pytest.raises(RigError, match="--resume"):
        _run(parts, tmp_path, 2)


def test_resume_refuses_another_identity_proxy_or_weight(parts, tmp_path, monkeypatch):
    import hashlib

    from rig.training.identity_proxy import IdentityProxy, save_proxy
    from rig.training.rignet_training import CHECKPOINT, RigTrainConfig, load_train_checkpoint

    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    save_proxy(IdentityProxy(1, 100, hidden=8, depth=1), tmp_path / "p.safetensors")
    _run(parts, tmp_path / "run", 1, proxy="p.safetensors", identity=0.5)        # a relative path
    ckpt_path = tmp_path / "run" / CHECKPOINT
    cfg = RigTrainConfig.from_json(load_train_checkpoint(ckpt_path)["config"])
    assert cfg.identity_proxy == str(tmp_path / "p.safetensors")                 # stored absolute
    assert cfg.identity_proxy_sha256 == hashlib.sha256((tmp_path / "p.safetensors").read_bytes()).hexdigest()
    _, hist = _run(parts, tmp_path / "run", 2, resume=True, proxy=tmp_path / "p.safetensors", identity=0.5)
    assert hist[-1]["step"] == 2 and "identity" in hist[-1]
    with pytest.raises(RigError, match=r"trained with --identity-proxy .*p.safetensors --identity-weight 0.5, "
                                       r"this run asks for .*--identity-weight 2"):
        _run(parts, tmp_path / "run", 3, resume=True, proxy="p.safetensors", identity=2.0)
    with pytest.raises(RigError, match="this run asks for no identity loss"):
        _run(parts, tmp_path / "run", 3, resume=True)
    save_proxy(IdentityProxy(1, 100, hidden=8, depth=1), tmp_path / "p.safetensors")  # other weights, same name
    with pytest.raises(RigError, match="changed since the run started"):
        _run(parts, tmp_path / "run", 3, resume=True, proxy="p.safetensors", identity=0.5)
    # a checkpoint written before the hash was recorded still resumes (nothing to compare with)
    ckpt = load_train_checkpoint(ckpt_path)
    old = json.loads(ckpt["config"])
    del old["identity_proxy_sha256"]
    ckpt["config"] = json.dumps(old)
    torch.save(ckpt, ckpt_path)
    _, hist = _run(parts, tmp_path / "run", 3, resume=True, proxy="p.safetensors", identity=0.5)
    assert hist[-1]["step"] == 3


def test_cli_train_writes_a_loadable_bundle(parts, tmp_path, run_cli):
    from rig.face_rig import FaceRig

    code, out, err = run_cli("rig", "train", "--generator", "dcgan", "--estimator", BUNDLE / "estimator.safetensors",
                             "--out", tmp_path / "rig", "--steps", "2", "--batch", "4", "--render-batch", "1")
    assert code == 0, err
    rig = FaceRig.load(tmp_path / "rig")
    assert rig.info["final"]["step"] == 2
    ws = rig.sample(0)
    assert rig.edit(ws, yaw=10).shape == ws.shape
    code, _, err = run_cli("rig", "train", "--generator", "nope.pt", "--estimator", BUNDLE / "estimator.safetensors",
                           "--out", tmp_path / "x")
    assert code == 2 and "not found" in err and len(err.strip().splitlines()) == 1


RANK_SCRIPT = """
import sys, torch
from gan import distributed as ddp
from gan.dcgan import load_dcgan
from morphable.formats import load_model
from rig.estimator import load_estimator
from rig.training.rignet_training import RigTrainConfig, train_rignet
est_path, out, dump = sys.argv[1:4]
info = ddp.init_from_env("cpu")
cfg = RigTrainConfig(batch=4, render_batch=1, hidden=32, code=8, checkpoint_every=2, log_every=1, seed=2)
net, hist = train_rignet(load_dcgan(None), load_estimator(est_path), load_model("default"), out, cfg,
                         progress=False, steps=3)
torch.save({"net": net.state_dict(), "world": info.world_size}, f"{dump}/rank{info.rank}.pt")
ddp.shutdown()
"""


def test_two_gloo_ranks_train_in_lockstep(parts, tmp_path):
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[3]
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script),
           str(BUNDLE / "estimator.safetensors"), str(tmp_path / "run"), str(tmp_path)]
    res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert r0["world"] == r1["world"] == 2
    for k, v in r0["net"].items():
        assert torch.equal(v, r1["net"][k]), k     # averaged gradients -> identical weights
    from rig.training.rignet_training import load_train_checkpoint

    ckpt = load_train_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert ckpt["step"] == 3 and all(torch.equal(v, ckpt["rignet"][k]) for k, v in r0["net"].items())
    # the same run on one process draws other latents, so it ends elsewhere
    single, _ = _run(parts, tmp_path / "single", 3, seed=2)
    assert any(not torch.equal(v, single.state_dict()[k]) for k, v in r0["net"].items() if k.endswith("weight"))


def test_a_damaged_rig_checkpoint_is_one_rig_error(tmp_path):
    from rig.training.rignet_training import load_train_checkpoint

    bad = tmp_path / "checkpoint.pt"
    bad.write_bytes(b"not a torch file at all")
    with pytest.raises(RigError, match="checkpoint.pt: not a readable torch file"):
        load_train_checkpoint(bad)
