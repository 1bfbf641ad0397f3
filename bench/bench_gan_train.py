"""Training speed (images/s) of gan.train on this CPU: precision, memory layout and threads.

    python -m bench.bench_gan_train --data ../shared/data/utkface/utkface-128-webp.zip \
        --out docs/bench_gan_train.json [--rounds 2] [--steps 16]

Each variant is one Trainer on the same decoded UTKFace images (64 px, channel_base 2048,
channel_max 128, z/w 128, 4 mapping layers, batch 32, DiffAugment, lazy R1 every 16 steps).
The variants take turns one training step at a time (each runs its own lazy R1 every 16 steps),
and a round is `--steps` steps of each, so every ratio to the fp32 baseline is measured within
seconds: the machine is shared and its load changes by the minute.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from gan.training import TrainConfig, Trainer

from .common import machine_info, write_result

# name -> (precision, channels_last, threads)
VARIANTS = {
    "fp32_1thread": ("fp32", False, 1),
    "bf16_1thread": ("bf16", False, 1),
    "bf16_channels_last_1thread": ("bf16", True, 1),
    "fp32_2threads": ("fp32", False, 2),
    "bf16_2threads": ("bf16", False, 2),
}


def make_trainer(data: str, cache: Path, precision: str, channels_last: bool, batch: int,
                 max_images: int) -> Trainer:
    """A 64 px trainer of the long-run size on `data` (decoded once into `cache`)."""
    cfg = TrainConfig(data=data, out=str(cache), resolution=64, batch=batch, channel_base=2048,
                      channel_max=128, z_dim=128, w_dim=128, mapping_layers=4, max_images=max_images,
                      precision=precision, device="cpu", progress=False, kimg=1e6,
                      channels_last=channels_last)
    return Trainer(cfg)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", default="docs/bench_gan_train.json")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=16, help="timed steps per variant per round")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--max-images", type=int, default=2000, help="speed does not depend on the count")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args(argv)
    names = args.variants.split(",")
    cache = Path(tempfile.mkdtemp(prefix="bench_gan_train_"))
    trainers = {}
    for n in names:
        precision, cl, _ = VARIANTS[n]
        trainers[n] = make_trainer(args.data, cache, precision, cl, args.batch, args.max_images)
    rates: dict[str, list[float]] = {n: [] for n in names}
    for n in names:  # warm-up: the first step allocates (and runs R1, so each round holds one R1 step per 16)
        torch.set_num_threads(VARIANTS[n][2])
        trainers[n].train_step()
    for r in range(args.rounds):
        spent = {n: 0.0 for n in names}
        for _ in range(args.steps):
            for n in names:
                torch.set_num_threads(VARIANTS[n][2])
                t0 = time.perf_counter()
                trainers[n].train_step()
                spent[n] += time.perf_counter() - t0
        for n in names:
            rates[n].append(args.steps * args.batch / spent[n])
        print(f"round {r}: " + ", ".join(f"{n} {rates[n][-1]:.2f}" for n in names) + " img/s", flush=True)
    base = names[0]
    rows = []
    for n in names:
        ratios = [a / b for a, b in zip(rates[n], rates[base])]
        precision, cl, threads = VARIANTS[n]
        rows.append({"variant": n, "precision": precision, "channels_last": cl, "threads": threads,
                     "images_per_s": rates[n], "median_images_per_s": statistics.median(rates[n]),
                     f"ratio_to_{base}": ratios, f"median_ratio_to_{base}": statistics.median(ratios)})
    result = {"config": {"resolution": 64, "channel_base": 2048, "channel_max": 128, "batch": args.batch,
                         "steps_per_round": args.steps, "rounds": args.rounds, "aug": "diffaugment",
                         "r1_interval": 16},
              "machine": machine_info(), "rows": rows}
    write_result(args.out, result, indent=1)
    print(f"| variant | threads | img/s per round | ratio to {base} (median) |")
    for row in rows:
        print(f"| {row['variant']} | {row['threads']} | {', '.join(f'{x:.1f}' for x in row['images_per_s'])} "
              f"| {row[f'median_ratio_to_{base}']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
