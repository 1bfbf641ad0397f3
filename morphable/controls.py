"""The one table of face controls: every name a user can set, its block, unit and allowed range.

The CLI's arguments, the app's sliders, the tracks reader and live mode all read their names and
limits here, so a value accepted in one place is accepted everywhere. An engine may hold to less
(the photo warp to |yaw| <= 35 deg) and says so; it never widens these ranges.

    control("yaw").low, limits("jawOpen"), check_value("pitch", 42)
    [c.name for c in sliders()]             # what a front end shows, in this order

Adding a control: one `Control` row here (a FaceParams block column, or block "light" for the
light direction), then the front end that shows it (rig/app/ui.py builds its sliders from
`sliders()`); docs/architecture.md says how.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .arkit import ARKIT_NAMES
from .errors import MorphableError
from .suggest import did_you_mean


@dataclass(frozen=True)
class Control:
    """One named control: the FaceParams block and column it sets, its unit and allowed range."""

    name: str
    block: str        # "pose", "expression" or "light" (light direction: not a FaceParams column)
    index: int        # column in the block (pose: yaw pitch roll tx ty tz; expression: ARKit order); -1 for light
    unit: str         # "deg", "m", "weight"
    low: float
    high: float
    slider: bool = True   # shown as a slider by interactive front ends
    help: str = ""

    def check(self, value: object, clamp: bool = False) -> float:
        """`value` as a float inside [low, high]; MorphableError (one line) otherwise, or moved to the
        nearer end when `clamp` (a slider's behaviour) and finite."""
        try:
            v = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise MorphableError(f"{self.name}: {value!r} is not a number") from None
        if not math.isfinite(v):
            raise MorphableError(f"{self.name}: {value!r} is not a finite number")
        if clamp:
            return min(max(v, self.low), self.high)
        if not self.low <= v <= self.high:
            raise MorphableError(f"{self.name}: {v:g} is outside {self.low:g} .. {self.high:g}"
                                 + (f" {self.unit}" if self.unit in ("deg", "m") else ""))
        return v


_POSE = (
    Control("yaw", "pose", 0, "deg", -90.0, 90.0, help="head turn; > 0 turns to the image's right"),
    Control("pitch", "pose", 1, "deg", -90.0, 90.0, help="head nod; > 0 chin up"),
    Control("roll", "pose", 2, "deg", -180.0, 180.0, help="head tilt in the image plane (a full turn: a performer lying down, an exported animation wrapping at +-180)"),
    Control("tx", "pose", 3, "m", -10.0, 10.0, slider=False, help="head translation, camera x"),
    Control("ty", "pose", 4, "m", -10.0, 10.0, slider=False, help="head translation, camera y"),
    Control("tz", "pose", 5, "m", -10.0, 10.0, slider=False, help="head translation, camera z"),
)
_EXPRESSION = tuple(Control(n, "expression", i, "weight", 0.0, 1.0, help="ARKit blendshape weight")
                    for i, n in enumerate(ARKIT_NAMES))
_LIGHT = (
    Control("azimuth", "light", -1, "deg", -90.0, 90.0, help="light direction; > 0 lights the image's right side"),
    Control("elevation", "light", -1, "deg", -90.0, 90.0, help="light direction; > 0 from above"),
)

#: every control by name, in display order: pose, the 52 ARKit weights, the light direction
CONTROLS: dict[str, Control] = {c.name: c for c in (*_POSE, *_EXPRESSION, *_LIGHT)}


def control(name: str) -> Control:
    """The table row of `name`; MorphableError naming close matches when there is none."""
    try:
        return CONTROLS[name]
    except (KeyError, TypeError):
        raise MorphableError(f"unknown control {name!r}{did_you_mean(name, list(CONTROLS))}") from None


def limits(name: str) -> tuple[float, float]:
    """(low, high) of a control."""
    c = control(name)
    return c.low, c.high


def check_value(name: str, value: object, clamp: bool = False) -> float:
    """A control's value parsed and range-checked (Control.check)."""
    return control(name).check(value, clamp)


def names(block: str | None = None) -> tuple[str, ...]:
    """Control names of one block ("pose", "expression", "light"), or all, in table order."""
    return tuple(n for n, c in CONTROLS.items() if block is None or c.block == block)


def sliders(block: str | None = None) -> tuple[Control, ...]:
    """The controls an interactive front end shows as sliders, in table order."""
    return tuple(c for c in CONTROLS.values() if c.slider and (block is None or c.block == block))
