"""What a front end's sliders or a command's flags say: a value for every numeric control of the one table
(morphable.controls: pose, the 52 ARKit weights, the light direction) and the light mode.

    c = Controls().with_values(yaw=20, jawOpen=0.6, light="direction", azimuth=30)
    c.yaw, c.value("jawOpen"), c.expression["jawOpen"]
    checked_values({"yaw": "80"}, clamp=True)          # the table's limits (an engine may narrow them)

Adding a control is a row in morphable/controls.py: these values, the limits and Engine.target follow it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import torch

from morphable import controls as table
from morphable.errors import MorphableError
from morphable.params import FaceParams

from ..errors import RigError

LIGHT_KEEP, LIGHT_DIRECTION = "keep", "direction"
#: the pose angles FaceRig.range_warning and PhotoRig take by name
POSE_NAMES = ("yaw", "pitch", "roll")
#: the blocks that are FaceParams columns (the light block is a direction, not a column)
PARAM_BLOCKS = ("pose", "expression")


def _zeros() -> dict[str, float]:
    return {name: 0.0 for name in table.CONTROLS}


@dataclass
class Controls:
    """Values of every numeric control by name (table order), and the light: 'keep' (the face's own), a
    morphable.lighting preset, or 'direction' (the azimuth / elevation controls). c.yaw, c.azimuth, ...
    read one value; c.expression is the expression block as a dict."""

    values: dict[str, float] = field(default_factory=_zeros)
    light: str = LIGHT_KEEP
    #: controls a command set by name: applied even where they equal the face's own value (a slider's are
    #: applied only when moved, so an unmoved face is drawn exactly as it is)
    exact: frozenset = frozenset()

    def __getattr__(self, name: str) -> float:
        if name != "values" and name in table.CONTROLS:
            return float(self.values.get(name, 0.0))
        raise AttributeError(name)

    @property
    def expression(self) -> dict[str, float]:
        """The ARKit weights by name."""
        return {n: float(self.values.get(n, 0.0)) for n in table.names("expression")}

    def with_values(self, **values: float | str) -> "Controls":
        """A copy with numeric controls (by table name) or the light changed; RigError for an unknown name."""
        new, light = dict(self.values), self.light
        for name, value in values.items():
            if name == "light":
                light = str(value)
            elif name in table.CONTROLS:
                new[name] = float(value)
            else:
                raise RigError(f"unknown control {name!r}")
        return replace(self, values=new, light=light)

    def given(self, **values: float | str) -> "Controls":
        """with_values, the numeric ones marked exact (a command's --yaw 10 is applied as given)."""
        out = self.with_values(**values)
        return replace(out, exact=out.exact | {n for n in values if n != "light"})

    def value(self, name: str) -> float:
        """The value of one numeric control."""
        if name not in table.CONTROLS:
            raise RigError(f"unknown control {name!r}")
        return float(self.values.get(name, 0.0))

    def to_dict(self) -> dict:
        """JSON-ready controls: the pose and expression sliders' values (rounded), the light and its direction."""
        def block(b: str) -> dict:
            return {c.name: round(self.value(c.name), 4) for c in table.sliders(b)}

        return {"pose": block("pose"), "expression": block("expression"), "light": self.light,
                **{n: self.value(n) for n in table.names("light")}}


def controls_of(params: FaceParams) -> Controls:
    """Controls that reproduce params' pose and expression columns (light 'keep', direction 0)."""
    values = _zeros()
    for name, c in table.CONTROLS.items():
        if c.block in PARAM_BLOCKS:
            values[name] = float(getattr(params, c.block)[0, c.index])
    return Controls(values)


def set_controls(params: FaceParams, values: dict[str, float]) -> FaceParams:
    """Set the FaceParams columns of the named controls (table block and index) on every row, in place."""
    for name, value in values.items():
        c = table.CONTROLS[name]
        if c.block in PARAM_BLOCKS:
            getattr(params, c.block)[:, c.index] = float(value)
    return params


def sweep(controls: Controls, name: str, start: float, stop: float, count: int) -> list[Controls]:
    """`count` copies of controls with one pose or expression control stepped from start to stop."""
    row = table.CONTROLS.get(name)
    if row is None or row.block not in PARAM_BLOCKS:
        raise RigError(f"cannot sweep {name!r}: not a pose angle or an ARKit name")
    if not 2 <= int(count) <= 1000:
        raise RigError(f"a sweep needs 2..1000 frames, got {count}")
    return [controls.with_values(**{name: float(v)}) for v in np.linspace(start, stop, int(count))]


def control_limits(name: str) -> tuple[float, float]:
    """(low, high) of a numeric control: the table's (morphable.controls); RigError for an unknown name."""
    try:
        return table.limits(name)
    except MorphableError as exc:
        raise RigError(str(exc)) from None


def checked_values(values: dict[str, str | float], clamp: bool = False,
                   limits: Callable[[str], tuple[float, float]] = control_limits) -> dict[str, float]:
    """Numeric control values from an untrusted front end, parsed and range-checked (RigError, one line);
    with `clamp`, a finite value outside a slider's range is moved to its end, as the slider does.
    `limits` gives a control's (low, high): an engine's own (Engine.control_limits) or the table's."""
    out = {}
    for name, raw in values.items():
        low, high = limits(name)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise RigError(f"{name}: {raw!r} is not a number") from None
        if not math.isfinite(value):
            raise RigError(f"{name}: {raw!r} is not a finite number")
        if clamp:
            value = min(max(value, low), high)
        elif not low <= value <= high:
            raise RigError(f"{name}: {value:g} is outside {low:g} .. {high:g}")
        out[name] = value
    return out


def light_direction(azimuth: float, elevation: float) -> torch.Tensor:
    """(1,9,3) SH light from a direction in degrees (azimuth > 0: from the image's right)."""
    from morphable.lighting import directional

    az, el = math.radians(azimuth), math.radians(elevation)
    return directional((math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el)))
