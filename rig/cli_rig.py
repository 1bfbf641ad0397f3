"""`facerig rig train` (train RigNet into a bundle) and `facerig edit` (edit a face through a bundle)."""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from .cli_args import bounded_int, check_face_value, check_output, name_value_pairs
from .errors import RigError

#: accepted pose angles of edits, degrees (the estimator's training data rarely leaves them)
POSE_RANGE = {"yaw": (-60.0, 60.0), "pitch": (-45.0, 45.0), "roll": (-45.0, 45.0)}
MAX_SWEEP = 16
_SWEEP = re.compile(r"^([A-Za-z]+)=([-+0-9.eE]+):([-+0-9.eE]+):(\d+)$")


def parse_sweep(spec: str) -> tuple[str, list[float]]:
    """'yaw=-30:30:7' -> ('yaw', 7 evenly spaced values); a pose angle or an ARKit expression name."""
    m = _SWEEP.match(spec.strip())
    if not m:
        raise RigError(f"bad --sweep {spec!r}: use NAME=START:STOP:COUNT, e.g. yaw=-30:30:7")
    name, count = m.group(1), int(m.group(4))
    try:
        start, stop = float(m.group(2)), float(m.group(3))
    except ValueError:
        raise RigError(f"bad --sweep {spec!r}: START and STOP must be numbers") from None
    if not 2 <= count <= MAX_SWEEP:
        raise RigError(f"bad --sweep {spec!r}: COUNT must be in [2, {MAX_SWEEP}]")
    values = [start + (stop - start) * i / (count - 1) for i in range(count)]
    check_face_value(name, start, POSE_RANGE)
    check_face_value(name, stop, POSE_RANGE)
    return name, values


def edit_kwargs(args: argparse.Namespace) -> dict:
    """Checked keyword arguments for FaceRig.edit from the parsed options."""
    from morphable.lighting import LIGHT_PRESETS

    kw: dict = {}
    for name in ("yaw", "pitch", "roll"):
        value = getattr(args, name)
        if value is not None:
            check_face_value(name, value, POSE_RANGE)
            kw[name] = value
    expr = name_value_pairs(args.expression)
    for name, value in expr.items():
        check_face_value(name, value, {})  # an expression, even one named like a pose angle
    if expr:
        kw["expression"] = expr
    if args.light is not None:
        if args.light not in LIGHT_PRESETS:
            raise RigError(f"unknown light preset {args.light!r}; choose one of {', '.join(LIGHT_PRESETS)}")
        kw["light"] = args.light
    return kw


def load_rig(path: str | None):
    from .facerig import FaceRig, default_bundle

    folder = Path(path) if path else default_bundle()
    if not folder.exists():
        raise RigError(f"rig bundle not found: {folder}")
    return FaceRig.load(folder)


def source_latents(rig, latent: str | None, seed: int | None, truncation: float = 1.0):
    """Latents of the face a command works on: a LATENT.npz from `facerig invert`, or a seed."""
    if latent is not None:
        from .cli_invert import read_latent

        if not Path(latent).is_file():
            raise RigError(f"latent file not found: {latent}")
        ws = read_latent(latent)["ws"]
        return rig.check_ws(ws[:1])
    return rig.sample(seed, truncation)


def cmd_edit(args: argparse.Namespace) -> int:
    """Edit one face; with --sweep write a labelled grid: original, then one image per sweep value."""
    out = check_output(args.output, (".png",))
    kw = edit_kwargs(args)
    sweep = parse_sweep(args.sweep) if args.sweep else None
    if not kw and sweep is None:
        raise RigError("nothing to edit: give --yaw/--pitch/--roll, --expression, --light or --sweep")
    rig = load_rig(args.bundle)
    warning = rig.range_warning(kw.get("yaw"), kw.get("pitch"), kw.get("roll"), kw.get("expression"), sweep=sweep)
    if warning:
        print(warning, file=sys.stderr)
    ws = source_latents(rig, args.latent, args.seed, args.truncation)
    from gan.fileio import save_image

    if sweep is None:
        image = rig.to_uint8(rig.image(rig.edit(ws, **kw)))[0]
        save_image(image, out)
        print(f"wrote {out}")
        return 0
    import torch

    from .grid import labelled_grid

    name, values = sweep
    edits = []
    for value in values:
        kw_v = dict(kw)
        if name in POSE_RANGE:
            kw_v[name] = value
        else:
            kw_v["expression"] = {**kw.get("expression", {}), name: value}
        edits.append(rig.edit(ws, **kw_v))
    images = rig.to_uint8(rig.image(torch.cat([ws] + edits)))
    labels = ["original"] + [f"{name}={v:g}" for v in values]
    grid = labelled_grid([list(images)], col_labels=[labels])
    save_image(grid, out)
    print(f"wrote {out} (original + {len(values)} edits of {name})")
    return 0


def cmd_rig_train(args: argparse.Namespace) -> int:
    """Train RigNet against a frozen estimator and write a bundle into --out."""
    if (args.identity_proxy is None) != (args.identity_weight is None):
        raise RigError("--identity-proxy and --identity-weight go together")
    if args.identity_weight is not None and not 0 < args.identity_weight <= 1000:
        raise RigError(f"--identity-weight must be in (0, 1000], got {args.identity_weight:g}")
    if args.identity_proxy is not None and not Path(args.identity_proxy).is_file():
        raise RigError(f"no identity proxy at {args.identity_proxy}")
    from morphable.formats import load_model

    from .bundle import generator_kind, write_bundle
    from .estimator import load_estimator
    from .rig_train import RigTrainConfig, rig_info, train_rignet

    from gan.checkpoint import load_any_generator

    G = load_any_generator(args.generator)
    est = load_estimator(args.estimator)
    model = load_model("default")
    from .rig_losses import RigLossWeights

    config = RigTrainConfig(seed=args.seed, batch=args.batch, lr=args.lr, truncation=args.truncation,
                            render_batch=args.render_batch, identity_proxy=args.identity_proxy,
                            weights=RigLossWeights(identity=args.identity_weight or 0.0))
    rignet, history = train_rignet(G, est, model, args.out, config, resume=args.resume, pairs=args.pairs,
                                   steps=args.steps)
    from gan import distributed as dist_utils

    if dist_utils.init_from_env("cpu").is_main:
        from .rig_train import CHECKPOINT, load_train_checkpoint

        cfg = RigTrainConfig.from_json(load_train_checkpoint(Path(args.out) / CHECKPOINT)["config"])
        write_bundle(args.out, args.generator, est, rignet, info=rig_info(cfg, history),
                     kind=generator_kind(G))
        print(f"wrote rig bundle {args.out} ({len(history) and history[-1]['step']} steps)")
    dist_utils.shutdown()
    return 0



def register(sub) -> None:
    """Add `rig train` and `edit` to the facerig CLI."""
    rig = sub.add_parser("rig", help="train the rig (RigNet) that edits faces through 3DMM parameters")
    rsub = rig.add_subparsers(dest="rig_command", required=True, parser_class=type(rig))
    t = rsub.add_parser("train", help="train RigNet against a frozen estimator; writes a bundle")
    t.add_argument("--generator", required=True, help="generator checkpoint, or 'dcgan' for the packaged 64 px DCGAN")
    t.add_argument("--estimator", required=True, help="estimator .safetensors (facerig estimator train)")
    t.add_argument("--out", required=True, help="bundle / run folder (checkpoint.pt, manifest.json, ...)")
    t.add_argument("--resume", action="store_true", help="continue the checkpoint in --out")
    t.add_argument("--steps", type=bounded_int(1, 10**9), default=None, help="total training steps (default 1500)")
    t.add_argument("--batch", type=bounded_int(1, 4096), default=32)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--seed", type=bounded_int(0, 2**31 - 1), default=0)
    t.add_argument("--truncation", type=float, default=1.0)
    t.add_argument("--render-batch", type=bounded_int(0, 4096), default=4, help="faces per step rendered for the image losses")
    t.add_argument("--pairs", default=None, help="optional .npz with training latents 'ws' (else sampled from G)")
    t.add_argument("--identity-proxy", default=None,
                   help="identity proxy .safetensors (python -m rig.identity_proxy) for an identity-keeping loss")
    t.add_argument("--identity-weight", type=float, default=None, help="weight of that loss (with --identity-proxy)")
    t.set_defaults(func=cmd_rig_train)

    e = sub.add_parser("edit", help="edit a generated or inverted face: pose, expression, light")
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--seed", type=bounded_int(0, 2**31 - 1), help="generate the face from this seed")
    src.add_argument("--latent", help="LATENT.npz from `facerig invert`")
    e.add_argument("--bundle", default=None, help="rig bundle folder (default assets/rig/dcgan64)")
    e.add_argument("--yaw", type=float, help="degrees, >0 turns the face to the image's right")
    e.add_argument("--pitch", type=float, help="degrees, >0 chin up")
    e.add_argument("--roll", type=float, help="degrees")
    e.add_argument("--expression", nargs="+", metavar="NAME=V", help="ARKit weights, e.g. jawOpen=0.8")
    e.add_argument("--light", help="light preset (ambient, left, right, top, bottom)")
    e.add_argument("--truncation", type=float, default=1.0)
    e.add_argument("--sweep", help="grid over one control: NAME=START:STOP:COUNT, e.g. yaw=-30:30:7")
    e.add_argument("-o", "--output", required=True, help="output .png")
    e.set_defaults(func=cmd_edit)
