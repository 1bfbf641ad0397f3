"""Parsers and checks for CLI values shared by several commands (NAME=V pairs, ranges, face values)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Mapping

from .errors import RigError


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


#: accepted ARKit expression weights on the command line
EXPRESSION_RANGE = (0.0, 1.0)


def check_face_value(name: str, value: float | None, pose_limits: Mapping[str, tuple[float, float]]) -> None:
    """Check one commanded value: a pose angle within pose_limits (degrees; each command has its own) or an
    ARKit expression weight in EXPRESSION_RANGE; an unknown name raises RigError with close matches."""
    if name in pose_limits:
        check_range(f"--{name}", value, *pose_limits[name])
        return
    from morphable.arkit import expression_index

    try:
        expression_index(name)
    except ValueError as exc:
        raise RigError(str(exc)) from None
    check_range(f"expression {name}", value, *EXPRESSION_RANGE)


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


def check_output(path: str | Path, suffixes: tuple[str, ...]) -> Path:
    """Fail early on an output path with the wrong suffix or an unwritable folder."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise RigError(f"output {path} must end in {' or '.join(suffixes)}")
    folder = path.parent if str(path.parent) else Path(".")
    probe = folder
    while not probe.exists():
        probe = probe.parent
    import os

    if not probe.is_dir():
        raise RigError(f"cannot write {path}: {probe} is not a folder")
    if path.is_dir():
        raise RigError(f"cannot write {path}: it is a folder")
    if not os.access(probe, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise RigError(f"cannot write {path}: permission denied")
    return path
