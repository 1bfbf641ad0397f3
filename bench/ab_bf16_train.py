"""Does bf16 autocast training follow fp32? A short A/B from one checkpoint of a real run.

    python -m bench.ab_bf16_train --run ~/.cache/facerig/runs/utkface64 --steps 32 \
        --out docs/ab_bf16_train.json

Both arms load the same checkpoint (weights, Adam state, every RNG) and train the same steps on the
same minibatches, latents and augmentations, taking turns step by step (1 thread each). Reported:
the per-step losses and D logits of both arms, and how far the bf16 weights end from the fp32
weights relative to how far fp32 moved from the start (0: identical; 1: as far as a whole update).
A third arm trains in fp32 from the same weights rounded once to bf16: GAN training amplifies any
difference, so that arm's distance is the yardstick for "as far apart as any tiny perturbation".
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch

from gan.train_state import CHECKPOINT_NAME, load_checkpoint
from gan.training import TrainConfig, Trainer

from .common import machine_info, write_result


def arm(run: Path, precision: str, work: Path, name: str | None = None, round_start: bool = False) -> Trainer:
    """A trainer resumed from a copy of the run's checkpoint, in `precision` (weights rounded to bf16 once)."""
    folder = work / (name or precision)
    folder.mkdir(parents=True)
    shutil.copy(run / CHECKPOINT_NAME, folder / CHECKPOINT_NAME)
    if (run / "cache").exists():
        (folder / "cache").symlink_to((run / "cache").resolve())
    saved = load_checkpoint(folder / CHECKPOINT_NAME)["config"]
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in saved.items() if k in names})
    cfg = dataclasses.replace(cfg, out=str(folder), resume=True, precision=precision, progress=False,
                              init_from=None, threads=1, channels_last=False)
    trainer = Trainer(cfg)
    if round_start:
        with torch.no_grad():
            for net in (trainer.G, trainer.D):
                for p in net.parameters():
                    p.copy_(p.to(torch.bfloat16).float())
    return trainer


def rel_distance(a: dict, b: dict, start: dict) -> float:
    """|a - b| / |b - start| over all floating tensors of two state dicts."""
    num = sum(float((a[k].float() - b[k].float()).square().sum()) for k in b if b[k].is_floating_point())
    den = sum(float((b[k].float() - start[k].float()).square().sum()) for k in b if b[k].is_floating_point())
    return (num / max(den, 1e-30)) ** 0.5


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="a run folder holding checkpoint.pt")
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--out", default="docs/ab_bf16_train.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="ab_bf16_"))
    try:
        run = Path(args.run).expanduser()
        arms = {"fp32": arm(run, "fp32", work), "bf16": arm(run, "bf16", work),
                "fp32_from_bf16_rounded_start": arm(run, "fp32", work, "fp32r", round_start=True)}
        start = {k: v.clone() for k, v in arms["fp32"].G.state_dict().items()}
        start_d = {k: v.clone() for k, v in arms["fp32"].D.state_dict().items()}
        kimg0 = arms["fp32"].cur_nimg / 1000
        log = {p: [] for p in arms}
        spent = {p: 0.0 for p in arms}
        # synthesis noise comes from the process-wide torch RNG: give each arm its own copy of the
        # checkpoint's stream, so the arms differ only by precision (or the rounded start)
        rng = {p: torch.get_rng_state() for p in arms}
        for _ in range(args.steps):
            for p, t in arms.items():
                torch.set_rng_state(rng[p])
                t0 = time.perf_counter()
                stats = t.train_step()
                spent[p] += time.perf_counter() - t0
                rng[p] = torch.get_rng_state()
                log[p].append({k: round(float(v), 5) for k, v in stats.items()})
        keys = ("loss_G", "loss_D", "D_real", "D_fake")
        mean = {p: {k: sum(r[k] for r in log[p]) / len(log[p]) for k in keys} for p in arms}
        result = {
            "run": str(args.run), "start_kimg": kimg0, "steps": args.steps,
            "mean_stats": mean,
            "G_rel_distance": rel_distance(arms["bf16"].G.state_dict(), arms["fp32"].G.state_dict(), start),
            "D_rel_distance": rel_distance(arms["bf16"].D.state_dict(), arms["fp32"].D.state_dict(), start_d),
            "yardstick_G_rel_distance": rel_distance(arms["fp32_from_bf16_rounded_start"].G.state_dict(),
                                                     arms["fp32"].G.state_dict(), start),
            "yardstick_D_rel_distance": rel_distance(arms["fp32_from_bf16_rounded_start"].D.state_dict(),
                                                     arms["fp32"].D.state_dict(), start_d),
            "images_per_s": {p: args.steps * arms[p].config.batch / spent[p] for p in arms},
            "per_step": log, "machine": machine_info(),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_result(args.out, result, indent=1)
    print(json.dumps({k: v for k, v in result.items() if k not in ("per_step", "machine")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
