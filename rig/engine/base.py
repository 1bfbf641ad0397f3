"""The one engine interface under the CLI, the app and live mode: a face with its own params, edited by Controls.

    e = open_engine(seed=3, rig=rig)               # rig.engine.choose: generated, photo or morph
    c = e.controls().with_values(yaw=20, jawOpen=0.6)
    image = e.render(c)                             # (H,W,3) uint8; e.preview(c) is the live image
    e.range_note(c)                                 # a line when a moved control leaves where the engine holds
    e.frames(sweep(c, "yaw", -30, 30, 25))          # frames for an MP4 sweep of one control
    e.perform(tracked.params, blocks)               # a tracked driver's blocks on this face, and its frames

Each engine edits through the library's own paths (FaceRig's RigNet, the morphable renderer, PhotoRig's warp).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from morphable import controls as table
from morphable.params import FaceParams

from ..errors import RigError
from .controls import (LIGHT_DIRECTION, LIGHT_KEEP, PARAM_BLOCKS, POSE_NAMES, Controls, control_limits, controls_of,
                       light_direction, set_controls)

#: a control counts as moved beyond this (the page shows values to 3 decimals)
EPS = 1e-3


@dataclass
class Performance:
    """A face performing a tracked driver: its frames and what was commanded."""

    frames: np.ndarray            # (T,H,W,3) uint8 at the engine's own resolution
    targets: FaceParams           # (T) the params the frames were made at (after any trained-range clamp)
    transferred: FaceParams       # (T) the driver's blocks on the face before any clamp (what a 3DMM can play)
    clamped: float = 0.0          # share of frames a clamp changed
    notes: list[str] = field(default_factory=list)   # one-line warnings (frames beyond where the engine holds)


class Engine:
    """Base: a face with its own params (`base`), edited by Controls."""

    kind = "face"
    description = ""
    model = None
    #: the landmark backend a driver is tracked with when none is named
    landmarks = "auto"

    def __init__(self, base: FaceParams, size: int):
        self.base = base.detach().to("cpu", torch.float32)[0:1]
        self.size = int(size)
        self.notes: list[str] = []     # warning lines from opening the face (a fit's)
        self._own: Controls | None = None
        self._limits: dict[str, tuple[float, float]] = {}

    def controls(self) -> Controls:
        """The face as it is: its own pose and expression."""
        if self._own is None:
            self._own = controls_of(self.base)
        return self._own

    def moved(self, c: Controls) -> dict[str, float]:
        """Pose and expression controls that differ from the face's own values (or were given exactly)."""
        own = self.controls()
        return {n: c.value(n) for n, row in table.CONTROLS.items()
                if row.block in PARAM_BLOCKS and (n in c.exact or abs(c.value(n) - own.value(n)) > EPS)}

    def moved_pose_and_expression(self, c: Controls) -> tuple[tuple[float | None, ...], dict[str, float]]:
        """The moved pose angles as (yaw, pitch, roll) with None where unmoved, and the moved ARKit weights."""
        moved = self.moved(c)
        expression = set(table.names("expression"))
        return tuple(moved.get(n) for n in POSE_NAMES), {n: v for n, v in moved.items() if n in expression}

    def light(self, c: Controls) -> torch.Tensor | None:
        """(1,9,3) light the controls ask for; None keeps the face's own."""
        if c.light == LIGHT_KEEP:
            return None
        if c.light == LIGHT_DIRECTION:
            return light_direction(c.azimuth, c.elevation)
        from morphable.errors import MorphableError
        from morphable.lighting import preset

        try:
            return preset(c.light)
        except MorphableError as exc:
            raise RigError(str(exc)) from None

    def light_arg(self, c: Controls) -> str | torch.Tensor | None:
        """The light as FaceRig.target and PhotoRig.target take it: a preset by name (each rig scales it its
        own way), a (1,9,3) direction, or None (the face's own)."""
        if c.light in (LIGHT_KEEP, LIGHT_DIRECTION):
            return self.light(c)
        self.light(c)   # RigError for an unknown preset
        return c.light

    def target(self, c: Controls) -> FaceParams:
        """The base params with every pose and expression control's value and the controls' light."""
        p = set_controls(self.base.clone(), {n: c.value(n) for n, row in table.CONTROLS.items()
                                              if row.block in PARAM_BLOCKS})
        light = self.light(c)
        return p if light is None else p.replace(light=light.to(p.light.dtype))

    def params(self) -> FaceParams:
        """The face's own params (1 row)."""
        return self.base

    def warm_up(self) -> None:
        """Load what the first frames would load, before them (flows.reenact runs it in a thread while the driver is
        tracked). Nothing here: a generator's render would change with it (its noise); the photo engine overrides."""

    def animate(self, targets: FaceParams, progress: bool = False) -> np.ndarray:
        """(T,H,W,3) uint8: the face at each row of `targets`."""
        raise RigError(f"the {self.kind} engine does not animate")

    def trained_range(self, name: str) -> tuple[float, float] | None:
        """[low, high] the rig was trained on for a control (None: no such range)."""
        return None

    def control_limits(self, name: str) -> tuple[float, float]:
        """(low, high) of a control for this engine: the table's, narrowed where the engine holds to less
        (held_limits); computed once per control."""
        if name not in self._limits:
            self._limits[name] = self.held_limits(name, control_limits(name))
        return self._limits[name]

    def held_limits(self, name: str, limits: tuple[float, float]) -> tuple[float, float]:
        """The table's limits of a control narrowed to where this engine holds (unchanged here)."""
        return limits

    def range_note(self, *cs: Controls) -> str | None:
        """One line naming moved controls of `cs` outside where the engine holds (None: all inside)."""
        return None

    # ---- what a command's flows ask of an engine (rig.engine.flows) --------------------------
    #: the first tile of a sweep grid, and each edit's caption
    original_caption = "original"
    #: what was done to the face before it was edited (a command's metadata says it), or None
    finish_note: str | None = None

    def caption(self, name: str, value: float) -> str:
        """A sweep tile's caption."""
        return f"{name}={value:g}"

    def original(self) -> np.ndarray:
        """(H,W,3) uint8: the face as it came (a sweep grid's first tile)."""
        return self.render(self.controls())

    def sweep_tiles(self, cs: list[Controls]) -> list[np.ndarray]:
        """A sweep grid's tiles: the face as it came, then one per Controls."""
        return [self.original(), *self.frames(cs)]

    def video(self, frames: np.ndarray, size: int | None = None) -> np.ndarray:
        """A performance's frames as a command writes them: scaled to `size` px high (aspect kept) when given."""
        from ..frames import to_height

        return frames if size is None else to_height(frames, size)

    def beside(self, driver: list[np.ndarray], frames: np.ndarray, size: int | None = None) -> np.ndarray:
        """driver frame | result in each frame (the driver fitted into the result's height)."""
        from ..frames import fit_into

        return np.concatenate([fit_into(driver, frames.shape[1]), frames], axis=2)

    def finish(self, image: np.ndarray) -> tuple[np.ndarray, str | None]:
        """An edit as a command writes it, and a note on what was done to it (None: nothing)."""
        return image, self.finish_note

    def sweep_note(self, note: str | None) -> str | None:
        """The note of a sweep grid whose first tile's finish() said `note`."""
        return note

    def render(self, c: Controls) -> np.ndarray:
        """(H,W,3) uint8 of the face at the controls."""
        return self.frames([c])[0]

    def preview(self, c: Controls) -> np.ndarray:
        """The live image while a slider moves; the same as render() unless the engine has a faster path."""
        return self.render(c)

    def frames(self, cs: list[Controls]) -> np.ndarray:
        """(T,H,W,3) uint8, one frame per Controls."""
        raise NotImplementedError

    def perform(self, driver: FaceParams, blocks: list[str], relative: bool = True, clamp: bool = True,
                progress: bool = False) -> Performance:
        """The driver's (tracked, T rows) blocks transferred onto this face, and its frames."""
        raise RigError(f"the {self.kind} engine does not reenact")

    def overlay(self, image: np.ndarray, c: Controls, live: bool = True) -> np.ndarray:
        """The image with the 3DMM fitted to it drawn over it (landmarks, blended mesh); `live`: the image is
        the preview (else render()'s), for engines whose two differ in frame."""
        return fit_overlay(self.model, image)

    def to_dict(self, c: Controls) -> dict:
        """JSON-ready record of the edit: source, controls and the target FaceParams."""
        return {"source": self.kind, "description": self.description, "controls": c.to_dict(),
                "params": self.target(c).to_dict()}


def held_to(limit: float, own: float) -> tuple[float, float]:
    """(low, high) of an angle held to |value| <= limit and |value - own| <= limit, rounded inward to 0.01 deg
    (a slider's end must not read as beyond the limit); a face already beyond keeps its own angle reachable."""
    low = math.ceil(100 * max(-limit, own - limit)) / 100
    high = math.floor(100 * min(limit, own + limit)) / 100
    return float(min(low, own)), float(max(high, own))


def fit_overlay(model, image: np.ndarray) -> np.ndarray:
    """Fit the 3DMM to `image` (landmarks) and draw it over the image; RigError when no face is found."""
    from morphable.fit.overlay import overlay_image

    fitter = _fitter(model)
    result = fitter([image], photometric=False)
    diag = result.diagnostics[0]
    if "no_face" in diag.flags or not diag.frame:
        raise RigError("no face found in the image for the 3DMM overlay")
    return overlay_image(fitter.model, image, result.params[0:1], diag)


_FITTERS: dict[int, object] = {}


def _fitter(model):
    from morphable.fit import Fitter

    if model is None:
        from morphable.formats import load_model

        model = load_model("default")
    key = id(model)
    if key not in _FITTERS:
        _FITTERS[key] = Fitter(model)
    return _FITTERS[key]
