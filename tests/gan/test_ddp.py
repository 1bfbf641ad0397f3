"""DDP for real on CPU: two processes under torchrun (gloo) train in lockstep on UTKFace."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from gan.train_state import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]

RANK_SCRIPT = textwrap.dedent("""
    import sys, torch
    from gan import distributed as ddp
    from gan.training import TrainConfig, Trainer
    data, out, dump = sys.argv[1:4]
    info = ddp.init_from_env("cpu")
    cfg = TrainConfig(data=data, out=out, resolution=32, kimg=0.024, batch=8, channel_base=512,
                      channel_max=32, z_dim=32, w_dim=32, mapping_layers=2, max_images=200,
                      r1_interval=2, snapshot_kimg=100, tick_kimg=0.008, grid=2, progress=False,
                      device="cpu", seed=3)
    t = Trainer(cfg, info)
    start = {"G": {k: v.clone() for k, v in t.G.state_dict().items()},
             "D": {k: v.clone() for k, v in t.D.state_dict().items()}}
    reals = t.sampler.next(8)[0][t._rows()]  # the rows this rank trains on first
    t.sampler = type(t.sampler)(t.num_images, seed=cfg.seed * 4 + 1)  # rewind what we peeked
    t.run()
    torch.save({"start": start, "G": t.G.state_dict(), "D": t.D.state_dict(),
                "G_ema": t.G_ema.state_dict(), "rows": reals, "world": info.world_size},
               f"{dump}/rank{info.rank}.pt")
    ddp.shutdown()
""")


def torchrun(args: list[str], cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args]
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


def test_two_gloo_ranks_stay_in_sync(utkface_zip, tmp_path):
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    torchrun([str(script), str(utkface_zip), str(tmp_path / "run"), str(tmp_path)], cwd=tmp_path)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert r0["world"] == r1["world"] == 2
    assert not torch.equal(r0["rows"], r1["rows"])  # each rank trained on its own half-batch
    for net in ("G", "D"):
        moved = 0
        for k, v in r0[net].items():
            assert torch.equal(r0["start"][net][k], r1["start"][net][k]), (net, k)
            assert torch.equal(v, r1[net][k]), (net, k)  # averaged gradients -> identical steps
            moved += not torch.equal(v, r0["start"][net][k])
        assert moved > len(r0[net]) // 2, net
    for k, v in r0["G_ema"].items():
        assert torch.equal(v, r1["G_ema"][k]), k
    # only rank 0 wrote: one metrics line per tick, and its checkpoint holds rank 0's weights
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [1, 2, 3]
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert all(torch.equal(v, ckpt["G"][k]) for k, v in r0["G"].items())


@pytest.mark.slow
def test_torchrun_module_entry_point(utkface_zip, tmp_path):
    """`torchrun -m gan.train ...` as written in docs/gan_training.md, then resumed."""
    args = ["-m", "gan.train", "--data", str(utkface_zip), "--out", str(tmp_path / "run"),
            "--resolution", "32", "--batch", "8", "--channel-base", "512", "--channel-max", "32",
            "--z-dim", "32", "--w-dim", "32", "--mapping-layers", "2", "--max-images", "200",
            "--grid", "2", "--no-progress", "--device", "cpu"]
    torchrun(args + ["--kimg", "0.016"], cwd=ROOT)
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["step"] == 2
    torchrun(args + ["--kimg", "0.032", "--resume"], cwd=ROOT)
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["step"] == 4
    assert (tmp_path / "run" / "G_ema.safetensors").exists()
