"""`facerig gan info|convert|sample|train`: inspect, convert, sample and train StyleGAN2 generators.

`gan train --nproc K` relaunches the same training under torchrun with K processes (DDP); running
`torchrun ... -m gan.train` directly does the same without this package's other imports.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from gan.errors import GanError

from .common import add_bf16_arg, parse_seeds
from .label_args import add_label_args, labeller

def _info(args: argparse.Namespace) -> int:
    from gan.checkpoint import read_metadata
    from gan.checkpoint_formats import PACKAGED_DCGAN, load_any_generator, sniff_format
    from gan.dcgan import DCGANGenerator, default_weights_path

    path = default_weights_path() if args.checkpoint == PACKAGED_DCGAN else Path(args.checkpoint)
    fmt = sniff_format(path)
    rows: dict = {"file": str(path)}
    if fmt == "safetensors":
        meta = read_metadata(path)
        rows["kind"] = meta["kind"]
        rows["dtype"] = meta["dtype"]
        if meta["kind"].endswith("-discriminator"):
            from gan.checkpoint import load_discriminator

            net = load_discriminator(path)
            rows.update(resolution=net.img_resolution, channels=net.img_channels, c_dim=net.c_dim)
        else:
            net = load_any_generator(path)
        info = meta["info"]
    else:
        net = load_any_generator(path)
        if isinstance(net, DCGANGenerator):
            rows["kind"] = "DCGAN weights of gan-face-generate (netG_state_dict)"
        else:
            rows["kind"] = {"pickle": "official StyleGAN2-ADA pickle (G_ema)"}.get(fmt, "rosinality torch checkpoint (g_ema)")
        rows["dtype"] = "float32"
        info = {}
    if hasattr(net, "num_ws"):
        rows.update(resolution=net.img_resolution, channels=net.img_channels, num_ws=net.num_ws,
                    z_dim=net.z_dim, w_dim=net.w_dim, c_dim=net.c_dim)
    rows["parameters"] = sum(p.numel() for p in net.parameters())
    rows["config"] = json.dumps(net.config)
    if info:
        rows["info"] = json.dumps(info)
    width = max(map(len, rows))
    for k, v in rows.items():
        print(f"{k:<{width}}  {v}")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from gan.checkpoint import save_generator
    from gan.checkpoint_formats import load_any_generator

    from ..outputs import Outputs

    with Outputs() as outputs:
        out = outputs.expect(args.output, (".safetensors",))
        G = load_any_generator(args.input)
        outputs.file(out, lambda tmp: save_generator(G, tmp, fp16=args.fp16,
                                                     info={"converted_from": Path(args.input).name}))
    print(f"wrote {out} ({G.img_resolution} px, {'float16' if args.fp16 else 'float32'})")
    return 0


def _sample(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from gan.checkpoint_formats import load_any_generator
    from gan.fileio import image_grid

    from ..outputs import IMAGE_SUFFIXES, Outputs

    outputs = Outputs(provenance=labeller(args, "gan sample", generator=Path(args.generator).name))
    out = outputs.expect(args.output, IMAGE_SUFFIXES)
    seeds = parse_seeds(args.seeds)
    if args.batch < 1 or (args.cols is not None and args.cols < 1):
        raise GanError("--batch and --cols must be at least 1")
    if not 0.0 <= args.truncation <= 2.0:
        raise GanError(f"--truncation must be in [0, 2], got {args.truncation}")
    G = load_any_generator(args.generator)
    if G.c_dim > 0:
        raise GanError("this generator is class-conditional; sampling it needs labels (not supported here)")
    from gan.synthesis import has_bf16_path

    bf16 = args.bf16 and has_bf16_path(G)
    if args.bf16 and not bf16:
        print("facerig: note: --bf16 applies to StyleGAN2 generators; this one runs in fp32", file=sys.stderr)
    images = []
    with torch.no_grad():
        for i in range(0, len(seeds), args.batch):
            chunk = seeds[i:i + args.batch]
            # z per seed like the official generate.py: RandomState(seed).randn(1, z_dim)
            z = torch.from_numpy(np.stack([np.random.RandomState(s).randn(G.z_dim) for s in chunk])).float()
            torch.manual_seed(chunk[0])  # makes --noise-mode random reproducible too
            if bf16:
                ws = G.mapping(z, None, truncation_psi=args.truncation)
                images.append(G.synthesis(ws, noise_mode=args.noise_mode, compute_dtype=torch.bfloat16))
            else:
                images.append(G(z, truncation_psi=args.truncation, noise_mode=args.noise_mode))
    with outputs:
        outputs.image(out, image_grid(torch.cat(images), cols=args.cols))
    print(f"wrote {args.output} ({len(seeds)} images)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `gan` command group."""
    gan = sub.add_parser("gan", help="StyleGAN2 generator checkpoints: info, convert, sample")
    gsub = gan.add_subparsers(dest="gan_command", required=True, parser_class=type(gan))

    p = gsub.add_parser("info", help="describe a checkpoint (ours, official .pkl, rosinality .pt, DCGAN)")
    p.add_argument("checkpoint", help="checkpoint file, or 'dcgan' for the packaged 64 px DCGAN")
    p.set_defaults(func=_info)

    p = gsub.add_parser("convert", help="convert a StyleGAN2 generator to our .safetensors format")
    p.add_argument("input")
    p.add_argument("output", help="OUT.safetensors")
    p.add_argument("--fp16", action="store_true", help="store float16 weights (loaded back as float32)")
    p.set_defaults(func=_convert)

    p = gsub.add_parser("sample", help="render a grid of images for a list of seeds")
    p.add_argument("--generator", required=True, help="generator checkpoint, or 'dcgan' for the packaged 64 px DCGAN")
    p.add_argument("--seeds", default="0-15", help="e.g. 0-15 or 1,5,9 (default 0-15)")
    p.add_argument("--truncation", type=float, default=1.0, help="truncation psi (default 1.0)")
    p.add_argument("--noise-mode", choices=["const", "random", "none"], default="const")
    p.add_argument("--cols", type=int, default=None, help="grid columns (default: about square)")
    p.add_argument("--batch", type=int, default=8, help="images per forward pass")
    add_bf16_arg(p)
    p.add_argument("-o", "--output", required=True, help="grid image (png/jpg/webp)")
    add_label_args(p)
    p.set_defaults(func=_sample)

    add_train_parser(gsub)


def add_train_parser(gan_sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `train` (gan.train's options, and --nproc) to the `facerig gan` group's subparsers."""
    from gan.train import add_arguments

    p = gan_sub.add_parser("train", help="train or resume a StyleGAN2 generator",
                           description="train (or resume) a StyleGAN2 on a zip or folder of face images")
    add_arguments(p)
    p.add_argument("--nproc", type=int, default=1,
                   help="processes (GPUs) on this machine; > 1 relaunches under torchrun")
    p.set_defaults(func=_train)
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


def _train(args: argparse.Namespace) -> int:
    """Run training in this process, or relaunch it under torchrun for --nproc > 1."""
    from gan.train import config_from_args
    from gan.training import training_loop

    if args.nproc < 1:
        raise GanError("--nproc must be >= 1")
    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        argv = sys.argv[sys.argv.index("train") + 1:] if "train" in sys.argv else []
        if not argv:
            raise GanError("--nproc > 1 works from the facerig command line only")
        return subprocess.call(_torchrun_argv(argv, args.nproc))
    record = training_loop(config_from_args(args))
    if record:
        print(" ".join(f"{k}={v}" for k, v in record.items()))
    return 0
