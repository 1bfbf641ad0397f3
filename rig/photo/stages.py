"""The photo engine's render as a chain of stages handed to PhotoRig, each with one signature: stage(state).

    flow -> extend -> warp -> stretch -> mirror -> mouth -> eyes -> relight      (default_stages())

A stage reads the rig's fixed inputs (state.scene: rig.photo.scene.Scene) and what the stages before
it left in the state (the flow, the extended displacement, the plain warp, the image so far) and
writes its part back. A new mouth filler, eyelid or hair stage plugs in by handing PhotoRig another
tuple (PhotoRig(..., stages=...)), without editing PhotoRig; pytorch3d's renderer is built the same
way from a rasterizer and a shader handed to it.

Three optional attributes a stage may have: `step`, the Timing field its seconds count toward
("flow", "extend", "warp"; anything else is "layers"); `draws`, the ARKit weights it draws
itself: the flow keeps the photo's values of those (the eye stage moves lids and irises in image
space; without it the 3DMM flow moves them); and `early` (True: it reads only the scene, the target
and what earlier early stages left, never the image), so PhotoRig.prepare may run the leading early
stages apart from the rest, e.g. in the thread that tracks the next frame (rig.live.run).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence, Union

import torch

from morphable.params import FaceParams

from ..errors import RigError
from .eyes import DRAWN, eye_stage, flow_target
from .extend import extend
from .fill import mirror_layer, stretch_layer
from .flow import Flow
from .mouth import FILLERS, mouth_stage, opens_mouth
from .relight import ratio_map, relight
from .scene import Scene
from .warp import warp

#: a colour (3,H,W) and alpha (1,H,W) painted over the image; or (colour, alpha, (rows, cols)): the same over
#: the box image[:, rows, cols] only (a layer that is 0 outside a small box: the mouth); or None (nothing to paint)
Layer = Union[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor, tuple[slice, slice]], None]


@dataclass
class RenderState:
    """One render's values as they pass from stage to stage."""

    scene: Scene                   # the rig's fixed inputs
    target: FaceParams             # (1) the params asked for
    mouth: str | None = None       # the rig's settings at this render (PhotoRig.mouth / shading / head_guide)
    shading: str = "light"
    head_guide: bool = True
    drawn: tuple[str, ...] = ()    # ARKit weights stages draw themselves (the flow keeps the photo's)
    flow: Flow | None = None       # the 3DMM flow (frame grid)
    disp: torch.Tensor | None = None    # (2,S,S) the flow extended over the whole frame
    warped: torch.Tensor | None = None  # (3,H,W) the plain warp, in [0,1]
    image: torch.Tensor | None = None   # (3,H,W) the output so far
    notes: dict = field(default_factory=dict)   # anything a stage leaves for a later one
    done: int = 0                  # how many of the rig's stages have run (PhotoRig.prepare runs the early ones)
    seconds: dict = field(default_factory=dict)  # Timing field -> seconds spent so far
    #: the image tensor this render made itself (writable() changes it in place; any other is copied first)
    _own: torch.Tensor | None = field(default=None, repr=False)

    def writable(self) -> torch.Tensor:
        """The image, safe to change in place: copied once, unless the state made it itself (the plain warp,
        the scene's pixels or a stage's own tensor are never written)."""
        if self.image is not self._own:
            self.image = self._own = self.image.clone()
        return self.image

    def owns_image(self) -> bool:
        """Whether the image is this render's own tensor (a stage may then change it in place)."""
        return self.image is self._own

    def set_image(self, image: torch.Tensor, own: bool = False) -> None:
        """Replace the image; `own`: a tensor the render made itself (later stages may write into it)."""
        self.image = image
        self._own = image if own else None

    def paint(self, layer: Layer) -> None:
        """Paint a (colour, alpha) layer over the image (nothing for None), or a (colour, alpha, box) one over its box
        (only the box is blended, into the render's own copy of the image: the same pixels as a layer 0 outside
        the box)."""
        if layer is None:
            return
        if len(layer) == 3:
            colour, alpha, (rows, cols) = layer
            out = self.writable()
            out[:, rows, cols] = out[:, rows, cols] * (1.0 - alpha) + colour * alpha
            return
        colour, alpha = layer
        self.set_image(self.image * (1.0 - alpha) + colour * alpha, own=True)


class Stage(Protocol):
    """One part of the render: reads and updates the state in place."""

    def __call__(self, state: RenderState) -> None: ...


def step_of(stage: Stage) -> str:
    """The Timing field a stage's seconds count toward."""
    step = getattr(stage, "step", "layers")
    return step if step in ("flow", "extend", "warp") else "layers"


def is_early(stage: Stage) -> bool:
    """Whether a stage reads only the scene and the target (see the module docstring: `early`)."""
    return bool(getattr(stage, "early", False))


def drawn_by(stages: Sequence[Stage]) -> tuple[str, ...]:
    """The ARKit weights the stages draw themselves, in stage order."""
    return tuple(name for stage in stages for name in getattr(stage, "draws", ()))


class FlowStage:
    """The 3DMM flow from the photo to the target, with the photo's values of the weights later stages draw."""

    step = "flow"
    early = True

    def __call__(self, state: RenderState) -> None:
        scene = state.scene
        state.flow = scene.builder.flow(scene.source, flow_target(scene.params, state.target, state.drawn))


@dataclass
class ExtendStage:
    """The flow extended smoothly over the whole frame (rig.photo.extend); `head_guide` None: the rig's."""

    head_guide: bool | None = None
    step = "extend"
    early = True

    def __call__(self, state: RenderState) -> None:
        fl = state.flow
        guided = state.head_guide if self.head_guide is None else self.head_guide
        state.disp = extend(fl.disp, fl.known, guide_disp=fl.guide_disp if guided else None,
                            guide=fl.guide if guided else None, proxy=fl.head if guided else None)


class WarpStage:
    """The window's pixels warped along the extended flow at full resolution (rig.photo.warp). Early: it reads the
    scene and the extension and makes the image without reading one (a live session's tracking thread runs it)."""

    step = "warp"
    early = True

    def __call__(self, state: RenderState) -> None:
        scene = state.scene
        state.warped = state.image = warp(scene.photo, state.disp, scene.frame, scene.grid)


class StretchStage:
    """Strongly stretched eyelid pixels painted with the smooth skin around them (rig.photo.fill)."""

    def __call__(self, state: RenderState) -> None:
        scene = state.scene
        state.paint(stretch_layer(state.warped, state.flow, state.disp, scene.frame, scene.grid))


class MirrorStage:
    """Disoccluded face pixels painted from their mirror point on the face's other side (rig.photo.fill)."""

    def __call__(self, state: RenderState) -> None:
        scene = state.scene
        state.paint(mirror_layer(scene.photo, state.flow, scene.frame, scene.grid))


#: a mouth filler of one's own: the state (its flow, plain warp and scene) -> the mouth layer
MouthFiller = Callable[[RenderState], Layer]


@dataclass
class MouthStage:
    """The mouth interior when the target opens the jaw wider than the photo (rig.photo.mouth).

    `filler`: "gan" (the trained inpainter), "model" (the 3DMM's render), a MouthFiller of one's own,
    or None: the rig's PhotoRig.mouth (None there too: rig.photo.mouth.DEFAULT_FILLER)."""

    filler: str | MouthFiller | None = None

    def __post_init__(self) -> None:
        if isinstance(self.filler, str) and self.filler not in FILLERS:
            raise RigError(f"unknown mouth filler {self.filler!r}; choose one of {', '.join(FILLERS)}")

    def __call__(self, state: RenderState) -> None:
        scene = state.scene
        if not opens_mouth(scene.params, state.target):
            return
        filler = state.mouth if self.filler is None else self.filler
        if callable(filler):
            state.paint(filler(state))
            return
        state.paint(mouth_stage(filler, state.warped, scene.builder, state.flow, scene.params, scene.frame,
                                scene.grid, boxed=True))


class EyeStage:
    """Lids that close by sliding the photo's own lid skin, irises that turn (rig.photo.eyes)."""

    draws = DRAWN

    def __call__(self, state: RenderState) -> None:
        image = state.image
        out = eye_stage(state.scene, image, state.target, state.flow, in_place=state.owns_image())
        if out is not image:
            state.set_image(out, own=True)


@dataclass
class RelightStage:
    """Skin re-shaded by the ratio of target to source SH shading (rig.photo.relight); `shading` None: the rig's
    PhotoRig.shading ("light": only for a light edit, "full": also with pose and expression, "off")."""

    shading: str | None = None

    def __call__(self, state: RenderState) -> None:
        scene = state.scene
        shading = state.shading if self.shading is None else self.shading
        src_light, tgt_light = scene.params.light[0], state.target.light[0].float()
        relit = not torch.allclose(src_light, tgt_light)
        if shading == "full" or (shading == "light" and relit):
            ratio = ratio_map(scene.builder, state.flow, src_light, tgt_light, pose=shading == "full")
            state.image = relight(state.image, ratio, scene.frame, scene.grid)


def default_stages(mouth: str | MouthFiller | None = None) -> tuple[Stage, ...]:
    """The engine's stages in order; `mouth`: the mouth stage's filler (None: the rig's PhotoRig.mouth)."""
    return (FlowStage(), ExtendStage(), WarpStage(), StretchStage(), MirrorStage(), MouthStage(mouth), EyeStage(),
            RelightStage())
