"""`facerig gan info|convert|sample`: inspect, convert and sample StyleGAN2 generator checkpoints."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from gan.errors import GanError

MAX_SEEDS = 1024


def parse_seeds(spec: str) -> list[int]:
    """'0-15', '1,5,9' or a mix such as '0-3,10' -> list of seeds (GanError on anything else)."""
    seeds: list[int] = []
    for part in str(spec).split(","):
        part = part.strip()
        try:
            if "-" in part[1:]:
                lo, hi = part.split("-", 1)
                a, b = int(lo), int(hi)
                if b < a:
                    raise ValueError
                seeds.extend(range(a, b + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise GanError(f"bad seed list {spec!r}: use forms like 0-15 or 1,5,9") from None
        if len(seeds) > MAX_SEEDS:
            raise GanError(f"too many seeds in {spec!r} (at most {MAX_SEEDS})")
    if any(s < 0 or s >= 2 ** 32 for s in seeds):
        raise GanError(f"bad seed list {spec!r}: seeds must be in 0..2^32-1")
    return seeds


def _info(args: argparse.Namespace) -> int:
    from gan.checkpoint import PACKAGED_DCGAN, load_any_generator, read_metadata, sniff_format
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
    from gan.checkpoint import load_any_generator, save_generator

    out = Path(args.output)
    if out.suffix != ".safetensors":
        raise GanError(f"output must end in .safetensors, got {out.name}")
    G = load_any_generator(args.input)
    save_generator(G, out, fp16=args.fp16, info={"converted_from": Path(args.input).name})
    print(f"wrote {out} ({G.img_resolution} px, {'float16' if args.fp16 else 'float32'})")
    return 0


def _sample(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from gan.checkpoint import load_any_generator
    from gan.fileio import image_grid, save_image

    seeds = parse_seeds(args.seeds)
    if args.batch < 1 or (args.cols is not None and args.cols < 1):
        raise GanError("--batch and --cols must be at least 1")
    if not 0.0 <= args.truncation <= 2.0:
        raise GanError(f"--truncation must be in [0, 2], got {args.truncation}")
    G = load_any_generator(args.generator)
    if G.c_dim > 0:
        raise GanError("this generator is class-conditional; sampling it needs labels (not supported here)")
    images = []
    with torch.no_grad():
        for i in range(0, len(seeds), args.batch):
            chunk = seeds[i:i + args.batch]
            # z per seed like the official generate.py: RandomState(seed).randn(1, z_dim)
            z = torch.from_numpy(np.stack([np.random.RandomState(s).randn(G.z_dim) for s in chunk])).float()
            torch.manual_seed(chunk[0])  # makes --noise-mode random reproducible too
            images.append(G(z, truncation_psi=args.truncation, noise_mode=args.noise_mode))
    grid = image_grid(torch.cat(images), cols=args.cols)
    save_image(grid, args.output)
    print(f"wrote {args.output} ({len(seeds)} images)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `gan` command group (and `gan train` when rig/cli_gan_train.py exists)."""
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
    p.add_argument("-o", "--output", required=True, help="grid image (png/jpg/webp)")
    p.set_defaults(func=_sample)

    try:
        from . import cli_gan_train
    except ModuleNotFoundError as exc:
        if exc.name != "rig.cli_gan_train":
            raise
    else:  # helper module owns `gan train`; add_parser(gan_subparsers) is its hook for this group
        hook = getattr(cli_gan_train, "add_parser", None) or cli_gan_train.register
        hook(gsub)
