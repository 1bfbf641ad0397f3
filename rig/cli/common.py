"""Argument helpers shared by the command modules: NAME=V pairs, ranges, face values, seeds, landmark names.

Not a command itself; every command module may import it, and no command module imports another."""
from __future__ import annotations

import argparse

from morphable import controls
from morphable.landmark_backends import NAMES

from ..errors import RigError


def name_value_pairs(items: list[str] | None, what: str = "expression") -> dict[str, float]:
    """["jawOpen=0.5", "eyeBlinkLeft=1"] -> {"jawOpen": 0.5, ...}; malformed -> RigError."""
    out: dict[str, float] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise RigError(f"--{what} expects NAME=VALUE, got {item!r}")
        try:
            out[name] = float(value)
        except ValueError:
            raise RigError(f"--{what} {name}: {value!r} is not a number") from None
    return out


def check_range(name: str, value: float | None, low: float, high: float) -> None:
    """Raise RigError when value lies outside [low, high] (None passes)."""
    if value is not None and not (low <= value <= high):
        raise RigError(f"{name} {value:g} is out of range [{low:g}, {high:g}]")


#: the --landmarks choices (morphable.landmark_backends names)
LANDMARK_BACKENDS = NAMES
#: mesh outputs (morphable.export.export_mesh picks the format by suffix)
MESH_SUFFIXES = (".glb", ".obj", ".ply")


def check_face_value(name: str, value: float | None, block: str | None = None) -> None:
    """Check one commanded value against morphable.controls (the one table of limits): a pose angle (degrees)
    or an ARKit expression weight; RigError (one line) when out of range or, with close matches, unknown.

    `block`: "pose" or "expression" when the flag says which (`--expression yaw=0.5` is an expression, and
    refused); None: a pose name is a pose angle."""
    if block is None:
        block = "pose" if name in controls.names("pose") else "expression"
    if block == "pose":
        if name not in controls.names("pose"):
            raise RigError(f"unknown pose angle {name!r}; choose {', '.join(controls.names('pose'))}")
        check_range(f"--{name}", value, *controls.limits(name))
        return
    if block != "expression":
        raise ValueError(f"block must be 'pose' or 'expression', got {block!r}")
    from morphable.arkit import expression_index

    try:
        expression_index(name)
    except ValueError as exc:
        raise RigError(str(exc)) from None
    check_range(f"expression {name}", value, *controls.limits(name))


def bounded_int(low: int, high: int):
    """argparse type: an int within [low, high]."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not low <= v <= high:
            raise argparse.ArgumentTypeError(f"{v} is out of range [{low}, {high}]")
        return v
    return parse


def positive_float(high: float):
    """argparse type: a number in (0, high] (a frame rate: 0 or -5 refused when the line is parsed, before any work)."""
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not 0.0 < v <= high:
            raise argparse.ArgumentTypeError(f"{v:g} is out of range: it must be above 0 and at most {high:g}")
        return v
    return parse


#: frame rates a command accepts (frames per second)
FPS_RANGE = (0.0, 240.0)
#: most faces a photo may be asked for by number
MAX_FACE = 64


def add_face_arg(parser: argparse.ArgumentParser) -> None:
    """--face N: which face of a photo the photo engine edits (1 = the largest, the default)."""
    parser.add_argument("--face", type=bounded_int(1, MAX_FACE), default=None, metavar="N",
                        help="with --photo: which face to edit when the photo has several, by size (1 = the largest, "
                             "the default)")


def face_of(args: argparse.Namespace) -> int:
    """The --face number (1 when not given); RigError when it is given without a photo for the photo engine."""
    face = getattr(args, "face", None)
    if face is not None and not getattr(args, "photo", None):
        raise RigError("--face picks a face of --photo; give a photo")
    return 1 if face is None else face


#: every seed a command accepts (numpy's RandomState takes 0 .. 2^32-1): one range for all commands
SEED_RANGE = (0, 2**32 - 1)
#: most seeds one `facerig gan sample` draws
MAX_SEEDS = 1024


def seed_arg(text: str) -> int:
    """argparse type: one seed in SEED_RANGE."""
    return bounded_int(*SEED_RANGE)(text)


def parse_seeds(spec: str) -> list[int]:
    """'0-15', '1,5,9' or a mix such as '0-3,10' -> list of seeds in SEED_RANGE (RigError on anything else)."""
    seeds: list[int] = []
    for part in str(spec).split(","):
        part = part.strip()
        try:
            if "-" in part[1:]:
                lo, hi = part.split("-", 1)
                a, b = int(lo), int(hi)
                if b < a:
                    raise ValueError
                seeds.extend(range(a, min(b, a + MAX_SEEDS) + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise RigError(f"bad seed list {spec!r}: use forms like 0-15 or 1,5,9") from None
        if len(seeds) > MAX_SEEDS:
            raise RigError(f"too many seeds in {spec!r} (at most {MAX_SEEDS})")
    low, high = SEED_RANGE
    if any(not low <= s <= high for s in seeds):
        raise RigError(f"bad seed list {spec!r}: seeds must be in [{low}, {high}]")
    return seeds


BF16_HELP = ("StyleGAN2: synthesise in bf16, fast on CPUs with bf16 hardware (2.6-3.1x at batch 1 here) "
             "but not the same pixels (about 1/100 of the image's spread, docs/gan.md); a DCGAN ignores it")


def add_bf16_arg(parser: argparse.ArgumentParser) -> None:
    """--bf16 for the commands that synthesise through a StyleGAN2 generator or rig bundle."""
    parser.add_argument("--bf16", action="store_true", help=BF16_HELP)


def load_bundle(args: argparse.Namespace):
    """The rig bundle of --bundle, in bf16 when --bf16 is given and its generator has the bf16 path
    (otherwise one note on stderr: the DCGAN runs fp32)."""
    import sys

    from ..pipeline import load_rig

    bf16 = getattr(args, "bf16", False)
    rig = load_rig(args.bundle, bf16=bf16)
    if bf16 and not rig.takes_bf16:
        print("facerig: note: --bf16 applies to StyleGAN2 bundles; this bundle's generator runs in fp32",
              file=sys.stderr)
    return rig


def photo_engine_bf16_note(args: argparse.Namespace) -> None:
    """One note when --bf16 is given to a photo-engine command: it warps the photo's pixels, no synthesis."""
    if getattr(args, "bf16", False):
        import sys

        print("facerig: note: --bf16 has no effect on the photo engine (it warps the photo, it synthesises nothing)",
              file=sys.stderr)
