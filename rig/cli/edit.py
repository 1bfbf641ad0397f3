"""`facerig edit`: edit a face (a photo, a generated face or an inverted one): pose, expression, light, sweeps."""
from __future__ import annotations

import argparse
import re
import sys

from ..errors import RigError
from .common import (add_bf16_arg, add_face_arg, check_face_value, face_of, load_bundle, name_value_pairs,
                     photo_engine_bf16_note, seed_arg)
from .label_args import PHOTO_ENGINE, add_label_args, labeller

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
    check_face_value(name, start)   # a pose angle by name, else an expression weight
    check_face_value(name, stop)
    return name, values


def edit_kwargs(args: argparse.Namespace) -> dict:
    """Checked keyword arguments for FaceRig.edit from the parsed options."""
    from morphable.lighting import LIGHT_PRESETS

    kw: dict = {}
    for name in ("yaw", "pitch", "roll"):
        value = getattr(args, name)
        if value is not None:
            check_face_value(name, value, "pose")
            kw[name] = value
    expr = name_value_pairs(args.expression)
    for name, value in expr.items():
        check_face_value(name, value, "expression")  # an expression, even one named like a pose angle
    if expr:
        kw["expression"] = expr
    if args.light is not None:
        if args.light not in LIGHT_PRESETS:
            raise RigError(f"unknown light preset {args.light!r}; choose one of {', '.join(LIGHT_PRESETS)}")
        kw["light"] = args.light
    return kw


def control_values(kw: dict) -> dict:
    """edit_kwargs as control values by name (the engine's Controls)."""
    values = {k: v for k, v in kw.items() if k != "expression"}
    values.update(kw.get("expression", {}))
    return values


def check_sweep_alone(sweep: tuple[str, list[float]] | None, kw: dict) -> None:
    """RigError when --sweep's control is also set by its own option (--sweep yaw=... --yaw 10): one would be lost."""
    if sweep is None:
        return
    name = sweep[0]
    if name in kw or name in kw.get("expression", {}):
        flag = f"--{name}" if name in ("yaw", "pitch", "roll") else f"--expression {name}=..."
        raise RigError(f"--sweep {name} sets {name} in every image; drop {flag} "
                       "(the other controls combine with a sweep)")


def cmd_edit(args: argparse.Namespace) -> int:
    """Edit one face; with --sweep write a labelled grid: original, then one image per sweep value."""
    from ..engine import flows, open_engine
    from ..outputs import Outputs

    photo = bool(getattr(args, "photo", None))
    engine = check_engine(args)
    label = labeller(args, "edit", source="edited-photo" if photo else "generated",
                     bundle=PHOTO_ENGINE if photo else None)
    with Outputs(provenance=label, inputs=[getattr(args, "photo", None), args.latent]) as outputs:
        out = outputs.expect(args.output, (".png",))
        kw = edit_kwargs(args)
        sweep = parse_sweep(args.sweep) if args.sweep else None
        check_sweep_alone(sweep, kw)
        face = face_of(args)
        if not kw and sweep is None:
            raise RigError("nothing to edit: give --yaw/--pitch/--roll, --expression, --light or --sweep")
        if photo:
            photo_engine_bf16_note(args)
        face_engine = open_engine(lambda: load_bundle(args), photo=getattr(args, "photo", None), seed=args.seed,
                                  latent=args.latent, truncation=args.truncation, engine=engine, face=face, size=None)
        values = control_values(kw)
        image, note, lines = (flows.edit(face_engine, values) if sweep is None
                              else flows.sweep(face_engine, values, *sweep))
        for line in lines:
            print(line, file=sys.stderr)
        if not photo:
            label.info.parameters["engine"] = engine
            if note:
                label.info.parameters["upscaled"] = note   # said in the output's metadata
        outputs.image(out, image)
    print(f"wrote {out}" + ("" if sweep is None else f" (original + {len(sweep[1])} edits of {sweep[0]})"))
    return 0


def check_engine(args: argparse.Namespace) -> str:
    """The engine of this edit: --engine for seeds and latents (default: rig.engine.choose.default_engine);
    RigError for --engine with --photo (a photo always goes through the photo engine)."""
    from ..engine.choose import default_engine

    engine, photo = getattr(args, "engine", None), bool(getattr(args, "photo", None))
    if photo and engine is not None:
        raise RigError("--engine is for --seed/--latent faces; a --photo is always edited by the photo engine")
    return engine or default_engine(photo)


def register(sub: argparse._SubParsersAction) -> None:
    """Add `facerig edit`."""
    e = sub.add_parser("edit", help="edit a generated or inverted face: pose, expression, light")
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--seed", type=seed_arg, help="generate the face from this seed")
    src.add_argument("--latent", help="LATENT.npz from `facerig invert`")
    src.add_argument("--photo", help="a real photo: its own pixels warped along the fitted 3DMM (keeps the "
                                     "person and the photo's resolution; pose/expression values are absolute)")
    e.add_argument("--bundle", default=None, help="rig bundle folder (default assets/rig/dcgan64)")
    add_bf16_arg(e)
    e.add_argument("--yaw", type=float, help="degrees, >0 turns the face to the image's right")
    e.add_argument("--pitch", type=float, help="degrees, >0 chin up")
    e.add_argument("--roll", type=float, help="degrees")
    e.add_argument("--expression", nargs="+", metavar="NAME=V", help="ARKit weights, e.g. jawOpen=0.8")
    e.add_argument("--light", help="light preset (ambient, left, right, top, bottom)")
    e.add_argument("--truncation", type=float, default=1.0)
    e.add_argument("--engine", choices=("gan", "warp"), default=None,
                   help="for --seed/--latent: 'gan' moves the latent with the rig network, 'warp' fits the 3DMM to "
                        "the generated face and warps it with the photo engine (exact pose/expression, the person "
                        "kept; docs/generated_faces.md). Default: gan. Outputs are >= 256 px (upscaled, said in "
                        "the metadata)")
    e.add_argument("--sweep", help="grid over one control: NAME=START:STOP:COUNT, e.g. yaw=-30:30:7")
    e.add_argument("-o", "--output", required=True, help="output .png")
    add_face_arg(e)
    add_label_args(e)
    e.set_defaults(func=cmd_edit)
