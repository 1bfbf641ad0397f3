"""`python -m gan.train`: the command line of GAN training (also used by `facerig gan train`).

Parses the options into a `gan.training.TrainConfig` and runs `gan.training.training_loop`; imports
only gan/, so it runs on a machine with just torch. `python -m gan.train --help` lists the options.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from typing import Sequence

from .errors import GanError
from .training import TrainConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The training options (defaults from TrainConfig)."""
    d = TrainConfig(data="", out="")
    p.add_argument("--data", required=True, help="zip or folder of images")
    p.add_argument("--out", required=True, help="run folder (checkpoint, samples, metrics)")
    p.add_argument("--resolution", type=int, default=d.resolution)
    p.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint, if any")
    p.add_argument("--init-from", default=None,
                   help="resume pack (fp16 G, D, G_ema, kimg) to start from when the run folder has no checkpoint")
    p.add_argument("--kimg", type=float, default=d.kimg, help="train until this many thousand real images")
    p.add_argument("--batch", type=int, default=d.batch, help="global batch (split over processes)")
    p.add_argument("--channel-base", type=int, default=d.channel_base)
    p.add_argument("--channel-max", type=int, default=d.channel_max)
    p.add_argument("--z-dim", type=int, default=d.z_dim)
    p.add_argument("--w-dim", type=int, default=d.w_dim)
    p.add_argument("--mapping-layers", type=int, default=d.mapping_layers)
    p.add_argument("--gamma", type=float, default=None, help="R1 weight (default 0.0002*res^2/batch)")
    p.add_argument("--aug", default=d.aug, help="diffaugment, none, or a list of color,translation,cutout")
    p.add_argument("--no-xflip", dest="xflip", action="store_false", help="no random x-flips of reals")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--r1-interval", type=int, default=d.r1_interval)
    p.add_argument("--style-mix", type=float, default=d.style_mix)
    p.add_argument("--ema-kimg", type=float, default=None)
    p.add_argument("--snapshot-kimg", type=float, default=d.snapshot_kimg)
    p.add_argument("--tick-kimg", type=float, default=d.tick_kimg)
    p.add_argument("--grid", type=int, default=d.grid, help="sample grid side")
    p.add_argument("--max-images", type=int, default=None, help="use only the first N images")
    p.add_argument("--holdout", type=float, default=d.holdout,
                   help="share of the files (fixed by name hash) kept out of training for evaluation")
    p.add_argument("--device", default=d.device, help="auto, cpu or cuda")
    p.add_argument("--precision", default=d.precision, help="auto (bf16 on CUDA), bf16, fp32")
    p.add_argument("--channels-last", action="store_true", help="NHWC memory layout for G, D and images")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    p.add_argument("--max-minutes", type=float, default=None, help="stop with a checkpoint after this long")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.add_argument("--no-cache", dest="cache_dataset", action="store_false",
                   help="do not keep the decoded dataset as .npy in the run folder")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """A TrainConfig from parsed `add_arguments` options."""
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in vars(args).items() if k in names})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan.train", description=__doc__.splitlines()[0])
    add_arguments(parser)
    config = config_from_args(parser.parse_args(argv))
    from .training import training_loop   # torch is imported here, not when the options are built

    try:
        record = training_loop(config)
    except GanError as exc:
        print(f"gan.train: error: {exc}", file=sys.stderr)
        return 2
    if record and os.environ.get("RANK", "0") == "0":
        print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
