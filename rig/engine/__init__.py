"""One engine interface under the CLI, the app and live mode (docs/architecture.md):

    controls   Controls (a value for every control of morphable.controls, and the light), sweep, limits
    base       Engine: controls() -> target(c) -> render / preview / frames; perform() for a tracked driver
    generated  GeneratedEngine (the rig's generator, RigNet), photo  PhotoEngine (the photo's pixels warped),
    morph      MorphEngine (the bare 3DMM)
    choose     open_engine: the one place that picks the engine of a face
    flows      edit, sweep, reenact, animate written once over the interface
"""
from .base import Engine, Performance
from .choose import open_engine
from .controls import LIGHT_DIRECTION, LIGHT_KEEP, Controls, checked_values, control_limits, controls_of, sweep

__all__ = ["Engine", "Performance", "open_engine", "Controls", "checked_values", "control_limits", "controls_of",
           "sweep", "LIGHT_KEEP", "LIGHT_DIRECTION"]
