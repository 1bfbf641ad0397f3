"""`facerig invert PHOTO -o LATENT.npz`: align a face photo like the training data and invert it into G.

LATENT.npz (rig.latent_file) holds ws (1, num_ws, w_dim) float32, the optimised noise maps, the
generator's path and config, the alignment transform and quality numbers.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from .common import seed_arg
from .label_args import add_label_args, labeller

#: the generator a fresh clone has: the packaged 64 px DCGAN (gan-face-generate)
DEFAULT_GENERATOR = "dcgan"
#: = rig.pipeline.DEFAULT_NOISE_REG (kept literal so --help needs no torch)
DEFAULT_NOISE_REG = 1e4


def _invert(args: argparse.Namespace) -> int:
    from gan.checkpoint_formats import PACKAGED_DCGAN, load_any_generator

    from ..errors import RigError
    from ..latent_file import latent_arrays, write_latent
    from ..outputs import Outputs
    from ..inputs import read_photo
    from ..pipeline import align_photo, invert_photo

    if args.steps < 1:
        raise RigError(f"--steps must be at least 1, got {args.steps}")
    if args.noise_reg < 0:
        raise RigError(f"--noise-reg must be >= 0, got {args.noise_reg}")
    # the side-by-side shows the real (aligned) photo beside its generated reconstruction
    with Outputs(provenance=labeller(args, "invert", source="edited-photo", generator=args.generator)) as outputs:
        out = outputs.expect(args.output, (".npz",))
        side = outputs.expect(args.side_by_side, (".png",))
        if args.generator != PACKAGED_DCGAN and not Path(args.generator).is_file():
            raise RigError(f"generator not found: {args.generator} (pass --generator dcgan, or a checkpoint you "
                           "trained or converted)")
        photo = read_photo(args.photo)
        G = load_any_generator(args.generator)
        aligned = align_photo(photo, G.img_resolution, name=str(args.photo), align=not args.no_align)
        inv = invert_photo(G, aligned, steps=args.steps, w_plus=not args.single_w,
                           optimise_noise=not args.fixed_noise, lr=args.lr, seed=args.seed,
                           noise_reg=args.noise_reg, progress=not args.quiet)
        if side is not None:
            outputs.image(side, np.concatenate([aligned.image, inv.reconstruction], axis=1))
        arrays = latent_arrays(inv, args.generator, getattr(G, "config", {}), str(args.photo))
        outputs.file(out, lambda tmp: write_latent(tmp, arrays))
    ident = "n/a (no face found in both)" if inv.dlib_distance is None else f"{inv.dlib_distance:.3f}"
    print(f"wrote {out}: {G.num_ws} x {G.w_dim} ws, PSNR {inv.psnr:.2f} dB, SSIM {inv.ssim:.3f}, "
          f"dlib distance {ident}")
    if side is not None:
        print(f"wrote {side} (aligned | reconstruction)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `facerig invert`."""
    p = sub.add_parser("invert", help="align a face photo and invert it into the generator's W+ space",
                       description=__doc__.splitlines()[0])
    p.add_argument("photo", help="face photo (any format Pillow reads)")
    p.add_argument("-o", "--output", required=True, help="LATENT.npz to write")
    p.add_argument("--generator", default=DEFAULT_GENERATOR,
                   help="generator checkpoint (ours .safetensors, NVIDIA .pkl, rosinality .pt), or 'dcgan' for "
                        "the packaged 64 px DCGAN (default: dcgan, the one a fresh clone has)")
    p.add_argument("--steps", type=int, default=500, help="optimisation steps (default 500)")
    p.add_argument("--lr", type=float, default=0.1, help="Adam learning rate peak (default 0.1)")
    p.add_argument("--seed", type=seed_arg, default=0, help="seed for the w jitter (default 0)")
    p.add_argument("--single-w", action="store_true", help="optimise one w for all layers instead of W+")
    p.add_argument("--fixed-noise", action="store_true", help="keep G's constant noise (do not optimise it)")
    p.add_argument("--noise-reg", type=float, default=DEFAULT_NOISE_REG,
                   help="noise autocorrelation penalty (default %(default)g; lower = closer fit, "
                        "more content in the noise)")
    p.add_argument("--no-align", action="store_true",
                   help="skip face alignment; just resize (for images already framed like the training data)")
    p.add_argument("--side-by-side", metavar="OUT.png", help="write aligned photo | reconstruction")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_label_args(p)
    p.set_defaults(func=_invert)

