"""Training on real UTKFace faces with a tiny 32 px config: exact resume, outputs, errors, CLI."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from PIL import Image

from gan.checkpoint import load_generator
from gan.errors import GanError
from gan.training import TrainConfig, Trainer, build_networks, training_loop as train
from gan.train_state import load_checkpoint

BATCH = 8


pytestmark = pytest.mark.usefixtures("single_thread")


def tiny(data, out, steps: int, **kw) -> TrainConfig:
    """A 32 px config that runs a step in well under a second on this CPU."""
    base = dict(data=str(data), out=str(out), resolution=32, kimg=steps * BATCH / 1000, batch=BATCH,
                channel_base=512, channel_max=32, z_dim=32, w_dim=32, mapping_layers=2, max_images=200,
                r1_interval=2, snapshot_kimg=100, tick_kimg=2 * BATCH / 1000, grid=2, progress=False,
                device="cpu", seed=7)
    base.update(kw)
    return TrainConfig(**base)


def flat(tree, prefix=""):
    """Every tensor / number in a nested checkpoint dict, keyed by its path."""
    if isinstance(tree, dict):
        out = {}
        for k, v in tree.items():
            out.update(flat(v, f"{prefix}/{k}"))
        return out
    if isinstance(tree, (list, tuple)):
        out = {}
        for i, v in enumerate(tree):
            out.update(flat(v, f"{prefix}/{i}"))
        return out
    return {prefix: tree}


def assert_identical(a: dict, b: dict, skip=("/wall_time", "/config/kimg", "/config/out", "/config/resume")):
    fa, fb = flat(a), flat(b)
    assert fa.keys() == fb.keys()
    for k in fa:
        if k in skip:
            continue
        if isinstance(fa[k], torch.Tensor):
            assert torch.equal(fa[k], fb[k]), k
        else:
            assert fa[k] == fb[k], k


def test_resume_continues_bit_identically(utkface_zip, tmp_path):
    """6 steps straight == 3 steps, a fresh process state from the checkpoint, 3 more steps."""
    train(tiny(utkface_zip, tmp_path / "straight", 6))
    train(tiny(utkface_zip, tmp_path / "split", 3))
    half = load_checkpoint(tmp_path / "split" / "checkpoint.pt")
    assert half["step"] == 3
    torch.manual_seed(12345)  # disturb the global RNG: resume must restore it
    train(tiny(utkface_zip, tmp_path / "split", 6, resume=True))
    a = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "split" / "checkpoint.pt")
    assert a["step"] == b["step"] == 6 and a["cur_nimg"] == 6 * BATCH
    assert_identical(a, b)
    # and training did move the weights, with R1 run in both halves (steps 0, 2, 4)
    assert not torch.equal(a["G"]["synthesis.b32.conv1.weight"], half["G"]["synthesis.b32.conv1.weight"])
    logs = [json.loads(x) for x in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert [r["kimg"] for r in logs] == [0.016, 0.024, 0.04, 0.048]
    assert all(r["images_per_s"] > 0 for r in logs) and sum("r1" in r for r in logs) == 3


def test_outputs_of_a_run(utkface_zip, tmp_path):
    record = train(tiny(utkface_zip, tmp_path, 3, grid=3))
    assert record["step"] == 3 and {"loss_G", "loss_D", "D_real", "D_fake", "r1", "wall_s"} <= set(record)
    assert all(map(lambda v: v == v, record.values()))  # no NaN
    G = load_generator(tmp_path / "G_ema.safetensors")
    assert G.img_resolution == 32 and G.z_dim == 32
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")
    for k, v in G.state_dict().items():
        assert torch.equal(v, ckpt["G_ema"][k]), k
    assert set(ckpt["rng"]) >= {"torch", "numpy", "python", "sampler", "z", "aug"}
    assert Image.open(tmp_path / "samples-000000.png").size == (96, 96)
    assert Image.open(tmp_path / "reals.png").size == (96, 96)
    assert json.loads((tmp_path / "config.json").read_text())["resolution"] == 32


def test_user_errors(utkface_zip, tmp_path):
    train(tiny(utkface_zip, tmp_path / "run", 1))
    with pytest.raises(GanError, match="pass --resume"):
        Trainer(tiny(utkface_zip, tmp_path / "run", 2))
    with pytest.raises(GanError, match="channel_max=32, not 64"):
        Trainer(tiny(utkface_zip, tmp_path / "run", 2, resume=True, channel_max=64))
    with pytest.raises(GanError, match="power of two"):
        Trainer(tiny(utkface_zip, tmp_path / "x", 1, resolution=48))
    with pytest.raises(GanError, match="unknown augmentation"):
        Trainer(tiny(utkface_zip, tmp_path / "x", 1, aug="zoom"))
    with pytest.raises(GanError, match="does not exist"):
        Trainer(tiny(tmp_path / "nothing.zip", tmp_path / "x", 1))


def test_cli_train_subcommand(utkface_zip, tmp_path, capsys):
    """`facerig gan train ...` parses every option into the same config and trains."""
    from rig.cli import _OneLineParser
    from rig.cli.gan import add_train_parser as add_parser

    parser = _OneLineParser(prog="facerig gan")
    add_parser(parser.add_subparsers(dest="cmd", required=True, parser_class=_OneLineParser))
    want = tiny(utkface_zip, tmp_path, 2, aug="none", gamma=0.5)
    argv = ["train", "--data", want.data, "--out", want.out, "--resolution", "32", "--kimg", str(want.kimg),
            "--batch", "8", "--channel-base", "512", "--channel-max", "32", "--z-dim", "32", "--w-dim", "32",
            "--mapping-layers", "2", "--max-images", "200", "--r1-interval", "2", "--snapshot-kimg", "100",
            "--tick-kimg", str(want.tick_kimg), "--grid", "2", "--no-progress", "--device", "cpu",
            "--seed", "7", "--aug", "none", "--gamma", "0.5"]
    args = parser.parse_args(argv)
    from gan.train import config_from_args

    assert dataclasses.asdict(config_from_args(args)) == dataclasses.asdict(want)
    assert args.func(args) == 0
    assert "step=2" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--data", "x"])  # --out missing


def test_cli_reports_user_error_in_one_line(run_cli, tmp_path):
    """Through the real `facerig` entry point (rig.cli.gan registers `train` from gan.train)."""
    code, out, err = run_cli("gan", "train", "--data", tmp_path / "missing.zip", "--out", tmp_path / "r")
    assert code == 2 and err.strip().count("\n") == 0 and "does not exist" in err


def test_nproc_relaunches_under_torchrun():
    from rig.cli.gan import _torchrun_argv

    cmd = _torchrun_argv(["--data", "d.zip", "--nproc", "2", "--out", "r", "--nproc=3"], 2)
    assert cmd[1:] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "gan.train",
                       "--data", "d.zip", "--out", "r"]


def test_max_minutes_stops_with_a_resumable_checkpoint(utkface_zip, tmp_path):
    record = train(tiny(utkface_zip, tmp_path, 500, max_minutes=1e-6))
    assert record["step"] == 10  # the clock is checked every 10 steps
    assert load_checkpoint(tmp_path / "checkpoint.pt")["step"] == 10
    assert (tmp_path / "samples-000000.png").exists()


@pytest.mark.parametrize("channels_last", [False, True])
def test_one_bf16_autocast_step_on_cpu(utkface_zip, tmp_path, channels_last):
    """bf16 autocast on the CPU: D really runs in bf16, w_avg stays fp32 and moves, weights move.

    The w_avg update once crashed here (lerp of a bf16 mean with the fp32 buffer)."""
    trainer = Trainer(tiny(utkface_zip, tmp_path, 2, precision="bf16", channels_last=channels_last))
    seen = []
    trainer.D.register_forward_hook(lambda mod, inp, out: seen.append(out.dtype))
    before = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    stats = trainer.train_step()  # step 0 also runs the lazy R1 (in fp32, outside autocast)
    assert torch.bfloat16 in seen and torch.float32 in seen
    assert all(torch.isfinite(v) for v in stats.values()) and "r1" in stats
    w_avg = trainer.G.mapping.w_avg
    assert w_avg.dtype == torch.float32 and w_avg.abs().sum() > 0
    assert not torch.equal(before["synthesis.b32.conv1.weight"], trainer.G.state_dict()["synthesis.b32.conv1.weight"])
    if channels_last:
        assert trainer.G.synthesis.b32.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    trainer.run()  # the second step and a snapshot, whose G_ema loads back
    assert load_checkpoint(tmp_path / "checkpoint.pt")["step"] == 2
    assert load_generator(tmp_path / "G_ema.safetensors").mapping.w_avg.abs().sum() > 0


def test_resume_pack_starts_a_new_run_where_the_old_one_stopped(utkface_zip, tmp_path):
    """A pack (fp16 weights, fp32 w_avg, counters; no optimiser) carries a run to a new folder and on."""
    from gan.train_state import load_resume_pack, save_resume_pack

    train(tiny(utkface_zip, tmp_path / "a", 3))
    ckpt = load_checkpoint(tmp_path / "a" / "checkpoint.pt")
    save_resume_pack(tmp_path / "pack.safetensors", ckpt)
    pack = load_resume_pack(tmp_path / "pack.safetensors")
    assert pack["cur_nimg"] == 3 * BATCH and pack["step"] == 3 and pack["config"]["channel_max"] == 32
    trainer = Trainer(tiny(utkface_zip, tmp_path / "b", 5, init_from=str(tmp_path / "pack.safetensors")))
    assert trainer.cur_nimg == 3 * BATCH and trainer.step == 3
    for name in ("G", "D", "G_ema"):
        for k, v in getattr(trainer, name).state_dict().items():
            want = ckpt[name][k]
            if k.endswith("w_avg"):
                assert torch.equal(v, want), k  # kept in fp32
            else:
                assert torch.equal(v, want.half().float()), k
    assert trainer.G.mapping.w_avg.abs().sum() > 0
    record = trainer.run()
    assert record["step"] == 5 and all(v == v for v in record.values())
    with pytest.raises(GanError, match="channel_max=32, not 64"):
        Trainer(tiny(utkface_zip, tmp_path / "c", 5, channel_max=64, init_from=str(tmp_path / "pack.safetensors")))
    with pytest.raises(GanError, match="not a facerig GAN resume pack"):
        Trainer(tiny(utkface_zip, tmp_path / "d", 5, init_from=str(tmp_path / "a" / "G_ema.safetensors")))


def test_committed_utkface64_resume_pack_continues_and_makes_face_coloured_images(utkface_zip, tmp_path):
    """The resume pack in assets/gan starts a new run at its kimg, and its G_ema's samples are far
    nearer UTKFace's mean colour than a freshly initialised G's."""
    from pathlib import Path

    from gan.train_state import load_resume_pack

    pack_path = Path(__file__).resolve().parents[2] / "assets" / "gan" / "utkface64-resume.safetensors"
    if not pack_path.exists():
        pytest.skip(f"{pack_path} is not committed yet")
    pack = load_resume_pack(pack_path)
    cfg = {k: pack["config"][k] for k in ("resolution", "channel_base", "channel_max", "z_dim", "w_dim",
                                          "mapping_layers", "mbstd_group")}
    trainer = Trainer(tiny(utkface_zip, tmp_path, 1, **cfg, init_from=str(pack_path), max_images=400))
    assert trainer.cur_nimg == pack["cur_nimg"] > 0
    z = torch.randn(64, cfg["z_dim"], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        fake = trainer.G_ema(z, noise_mode="const").mean(dim=(0, 2, 3))
        fresh = build_networks(trainer.config)[0].eval()(z, noise_mode="const").mean(dim=(0, 2, 3))
    real = trainer.images.float().div(127.5).sub(1).mean(dim=(0, 2, 3))
    assert (fake - real).norm() < 0.5 * (fresh - real).norm()
    stats = trainer.train_step()
    assert all(torch.isfinite(v) for v in stats.values()) and trainer.cur_nimg == pack["cur_nimg"] + BATCH
