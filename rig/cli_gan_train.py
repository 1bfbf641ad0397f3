"""`facerig gan train`: train (or resume) a StyleGAN2 on a zip or folder of face images.

`--nproc K` relaunches the same training under torchrun with K processes (DDP); running
`torchrun ... -m gan.train` directly does the same without this package's other imports.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

from gan.errors import GanError


def add_parser(gan_sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `train` subcommand to the `facerig gan` group's subparsers."""
    from gan.train import add_arguments

    p = gan_sub.add_parser("train", help="train or resume a StyleGAN2 generator",
                           description=__doc__.splitlines()[0])
    add_arguments(p)
    p.add_argument("--nproc", type=int, default=1,
                   help="processes (GPUs) on this machine; > 1 relaunches under torchrun")
    p.set_defaults(func=run)
    return p


def _torchrun_argv(argv: list[str], nproc: int) -> list[str]:
    """The same options, minus --nproc, as a torchrun command line around gan.train."""
    rest, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "--nproc":
            skip = True
            continue
        if a.startswith("--nproc="):
            continue
        rest.append(a)
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", "gan.train", *rest]


def run(args: argparse.Namespace) -> int:
    """Run training in this process, or relaunch it under torchrun for --nproc > 1."""
    from gan.train import config_from_args, train

    if args.nproc < 1:
        raise GanError("--nproc must be >= 1")
    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        argv = sys.argv[sys.argv.index("train") + 1:] if "train" in sys.argv else []
        if not argv:
            raise GanError("--nproc > 1 works from the facerig command line only")
        return subprocess.call(_torchrun_argv(argv, args.nproc))
    record = train(config_from_args(args))
    if record:
        print(" ".join(f"{k}={v}" for k, v in record.items()))
    return 0

