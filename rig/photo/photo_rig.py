"""PhotoRig: edit or reenact one real photo by warping its own pixels along the 3DMM flow.

    rig = PhotoRig.from_photo("me.jpg")          # fits the 3DMM once (landmarks + photometric)
    rig.params                                     # the fitted FaceParams (pose in degrees, ...)
    out = rig.edit(yaw=20, expression={"jawOpen": 0.4}, light="left")   # (H,W,3) uint8, photo size
    video = rig.frames(targets)                    # (T,H,W,3) for T target FaceParams rows

Each output runs the rig's stages (rig.photo.stages, handed in; default_stages()): flow
(rig.photo.flow) -> smooth extension (extend) -> full-resolution warp (warp) -> smooth skin over
strongly stretched eyelid pixels and mirror fill of disoccluded ones (fill) -> mouth interior
(mouth) -> lids and gaze (eyes) -> relighting (relight). The rig holds the photo, its fit and
window, and what every render reads (rig.photo.scene.Scene).
Identity and resolution are the photo's by construction; the GAN is not involved.
"""
from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import torch

from morphable.errors import MorphableError
from morphable.model import MorphableModel
from morphable.params import FaceParams, set_pose_and_expression

from ..errors import RigError
from .crop import Seam, Window, window_for
from .flow import Flow, FlowBuilder, MeshView
from .mouth import MOUTH_OPENS, opens_mouth  # noqa: F401 -- MOUTH_OPENS: its old home
from .relight import preset_like
from .scene import Scene
from .stages import RenderState, Stage, default_stages, drawn_by, is_early, step_of

#: beyond this |yaw| (degrees, absolute or as a change from the photo) the warp stretches and mirrors
YAW_LIMIT = 35.0
#: the same for pitch
PITCH_LIMIT = 25.0
#: working size of the flow grid over the fit frame
FLOW_SIZE = 128
#: frames PhotoRig.frames renders at once, in threads (the stages' work is mostly torch ops, numba loops and the
#: mouth U-Net, which release the GIL): on two free cores a reenactment's frames take ~half the wall time
FRAME_WORKERS = 2


def read_photo(photo: str | os.PathLike | np.ndarray) -> np.ndarray:
    """An RGB uint8 (H,W,3) array from a path (rig.inputs.read_photo) or an array; a non-image is a RigError."""
    if isinstance(photo, np.ndarray):
        from morphable.landmarks import as_rgb_uint8

        try:
            return as_rgb_uint8(photo)
        except MorphableError as exc:
            raise RigError(str(exc)) from None
    from ..inputs import read_photo as read_photo_file

    return read_photo_file(photo)


@dataclass
class Timing:
    """Seconds spent in each stage of the last render (for the bench)."""

    flow: float = 0.0
    extend: float = 0.0
    warp: float = 0.0
    layers: float = 0.0


@dataclass
class PhotoRig:
    """One fitted photo: its pixels, 3DMM params and frame, and the flow machinery."""

    image: np.ndarray            # (H,W,3) uint8
    params: FaceParams           # (1) fitted
    frame: list[float]           # [x0, y0, side] of the fit frame in photo px
    builder: FlowBuilder
    fit_warnings: list[str] = field(default_factory=list)
    #: skin shading: "light" re-shades only for a light edit (default; a turn keeps the photo's
    #: shading), "full" also moves the fitted light's shading with pose and expression (exact on
    #: 3DMM renders, but on photos the fitted light's errors showed as patches), "off" never
    shading: str = "light"
    #: let hair and the head outline follow the head mesh's motion (coarse hint in the extension)
    head_guide: bool = True
    timing: Timing = field(default_factory=Timing)

    #: the part of the photo that is warped (rig.photo.crop; None: the frame plus a margin)
    window: Window | None = None
    #: the mouth interior's filler: "gan" (the trained inpainter), "model" (the 3DMM's render) or None
    #: for rig.photo.mouth.DEFAULT_FILLER; the default mouth stage's (a MouthStage given a filler keeps its own)
    mouth: str | None = None
    #: the render's parts in order (rig.photo.stages): hand another tuple to add, drop or replace one
    stages: tuple[Stage, ...] = field(default_factory=default_stages)

    def __post_init__(self) -> None:
        if self.window is None:
            self.window = window_for(self.image.shape, self.frame)
        self._whole = self.window.covers(self.image.shape)
        self.stages = tuple(self.stages)
        #: what every render reads: the window's pixels, the fit frame in them, its grid, the source view
        self.scene = Scene.build(self.window.cut(self.image), self.window.to_local(self.frame), self.params,
                                 self.builder)
        self._seam: Seam | np.ndarray | None = None   # the paste's feather over the photo, made on the first paste

    # the scene's parts under their old names (benches and tests read them)
    @property
    def _photo(self) -> torch.Tensor:
        return self.scene.photo

    @property
    def _frame(self) -> list[float]:
        return self.scene.frame

    @property
    def _grid(self) -> torch.Tensor:
        return self.scene.grid

    @property
    def _source(self) -> MeshView:
        return self.scene.source

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def from_photo(cls, photo: str | os.PathLike | np.ndarray, model: MorphableModel | None = None,
                   fitter=None, flow_size: int = FLOW_SIZE, photometric: bool = True, face: int = 1) -> "PhotoRig":
        """Fit the 3DMM to face number `face` of the photo (1 = the largest; a warning when there are several).

        The face is found at any size (morphable.face_finder) and fitted on a crop around it
        (rig.photo.locate); the rig warps only a window around it and pastes it back (rig.photo.crop)."""
        from morphable.fit import Fitter

        from .locate import locate_and_fit

        image = read_photo(photo)
        if fitter is None:
            if model is None:
                from morphable.formats import load_model

                model = load_model("default")
            fitter = Fitter(model)
        found = locate_and_fit(image, fitter, face, photometric)
        notes = found.notes + list(found.diagnostics.warnings)
        for msg in notes:
            warnings.warn(msg, stacklevel=2)
        return cls.from_fit(image, found.params, found.frame, fitter.model, flow_size, notes)

    @classmethod
    def from_fit(cls, image: np.ndarray, params: FaceParams, frame: Sequence[float], model: MorphableModel,
                 flow_size: int = FLOW_SIZE, fit_warnings: list[str] | None = None) -> "PhotoRig":
        """A rig from an existing fit (params of the image in `frame` = [x0, y0, side])."""
        builder = FlowBuilder(model, flow_size)
        return cls(np.asarray(image), params.detach().to(dtype=torch.float32), [float(v) for v in frame], builder,
                   list(fit_warnings or []))

    @property
    def model(self) -> MorphableModel:
        return self.builder.model

    # ---- targets --------------------------------------------------------------------------
    def target(self, yaw: float | None = None, pitch: float | None = None, roll: float | None = None,
               expression: Mapping[str, float] | None = None, light: str | torch.Tensor | None = None,
               relative: bool = False) -> FaceParams:
        """The fitted params with the named blocks set (or offset when `relative`)."""
        try:
            p = set_pose_and_expression(self.params.clone(), yaw, pitch, roll, expression, relative)
        except MorphableError as exc:
            raise RigError(str(exc)) from None
        if light is not None:
            if isinstance(light, str):
                try:
                    lt = preset_like(light, self.params.light[0])
                except MorphableError as exc:
                    raise RigError(str(exc)) from None
            else:
                lt = torch.as_tensor(light, dtype=torch.float32).reshape(9, 3)
            p.light[0] = p.light[0] + lt if relative else lt
        return p

    def range_warning(self, *targets: FaceParams) -> str | None:
        """One line when targets turn the head beyond where the warp holds (the edits are still made)."""
        out = []
        for target in targets:
            for i, (name, limit) in enumerate((("yaw", YAW_LIMIT), ("pitch", PITCH_LIMIT))):
                value = float(target.pose[0, i])
                change = value - float(self.params.pose[0, i])
                if abs(value) > limit or abs(change) > limit:
                    out.append(f"{name} {value:+.0f} deg ({change:+.0f} from the photo)")
        if not out:
            return None
        return (f"warning: {', '.join(out)}: beyond |yaw| <= {YAW_LIMIT:g} / |pitch| <= {PITCH_LIMIT:g} deg, "
                "where the photo warp holds; the hidden side is mirrored and stretched")

    # ---- rendering --------------------------------------------------------------------------
    @torch.no_grad()
    def flow(self, target: FaceParams) -> Flow:
        """The raw flow (frame grid) from the photo to `target` (first row)."""
        return self.builder.flow(self._source, target)

    @torch.no_grad()
    def render(self, target: FaceParams, paste: bool = True) -> np.ndarray:
        """The photo at `target` (first row): (H,W,3) uint8 at the photo's resolution (`paste`), or only the
        warped window around the face (`paste=False`: the window's pixels, a preview needs no more)."""
        return self.finish(self.prepare(target), paste)

    @torch.no_grad()
    def prepare(self, target: FaceParams, upto: int | None = None) -> RenderState:
        """The first part of a render: the leading stages that read only the scene and the target (the flow, its
        extension and the warp; rig.photo.stages `early`), at most `upto` of them. finish() runs the rest; a live
        session tracks the next frame and prepares it in one thread while this frame is finished in another (the
        same pixels as render())."""
        state = RenderState(self.scene, target, mouth=self.mouth, shading=self.shading, head_guide=self.head_guide,
                            drawn=drawn_by(self.stages), seconds=dict.fromkeys(("flow", "extend", "warp", "layers"), 0.0))
        for stage in self.stages[:self.early_stages if upto is None else min(upto, self.early_stages)]:
            self._run(stage, state)
        return state

    @property
    def early_stages(self) -> int:
        """How many of the stages prepare() may run: the leading early ones (rig.photo.stages.is_early)."""
        n = 0
        while n < len(self.stages) and is_early(self.stages[n]):
            n += 1
        return n

    @torch.no_grad()
    def finish(self, state: RenderState, paste: bool = True) -> np.ndarray:
        """The rest of a render prepare() began: the remaining stages, then uint8 (see render())."""
        for stage in self.stages[state.done:]:
            self._run(stage, state)
        self.timing = Timing(**state.seconds)
        if state.image is None:
            raise RigError("the photo rig's stages made no image (a warp stage is missing)")
        # to uint8 in place (clamp, * 255, + 0.5, truncate: the same pixels without photo-size temporaries; the
        # render's own image is clamped where it is)
        image = state.image.clamp_(0.0, 1.0) if state.owns_image() else state.image.clamp(0.0, 1.0)
        warped = image.mul_(255.0).add_(0.5).to(torch.uint8).permute(1, 2, 0).numpy()
        if not paste or self._whole:
            return warped
        if self._seam is None:   # the feather (and at full resolution its box, band and the photo's band pixels)
            self._seam = (self.window.seam(self.image) if self.window.scale == 1.0 else
                          self.window.feather(self.image.shape, self.window.seam_width()))
        if isinstance(self._seam, Seam):
            return self.window.paste(self.image, warped, seam=self._seam)
        return self.window.paste(self.image, warped, weight=self._seam, cut=self.scene.pixels)

    @staticmethod
    def _run(stage: Stage, state: RenderState) -> None:
        """Run one stage on the state, its seconds counted toward its Timing field."""
        t0 = time.perf_counter()
        stage(state)
        state.seconds[step_of(stage)] = state.seconds.get(step_of(stage), 0.0) + time.perf_counter() - t0
        state.done += 1

    def warm_up(self) -> None:
        """Render once with the jaw opened and a lid closing, the image thrown away: what a first render loads
        (compiled loops, the mouth filler ~2-5 s, the photo's own lids from MediaPipe ~0.8 s, the paste's seam) is then
        loaded.
        A live session does it when it opens; rig.engine.flows.reenact in a thread while the driver is tracked."""
        from morphable.arkit import expression_index

        expr = self.params.expression[0]
        jaw, blink = (float(expr[expression_index(n)]) for n in ("jawOpen", "eyeBlinkLeft"))
        self.render(self.target(expression={"jawOpen": min(1.0, jaw + 0.3), "eyeBlinkLeft": min(1.0, blink + 0.5)}))

    def opens_mouth(self, target: FaceParams) -> bool:
        """Whether `target` opens the jaw wider than the photo (then the mouth interior is painted;
        rig.photo.mouth.opens_mouth)."""
        return opens_mouth(self.params, target)

    def edit(self, yaw: float | None = None, pitch: float | None = None, roll: float | None = None,
             expression: Mapping[str, float] | None = None, light: str | torch.Tensor | None = None,
             relative: bool = False) -> np.ndarray:
        """The photo edited (degrees, ARKit weights, a light preset or (9,3) SH); absolute unless `relative`."""
        tgt = self.target(yaw, pitch, roll, expression, light, relative)
        msg = self.range_warning(tgt)
        if msg:
            warnings.warn(msg, stacklevel=2)
        return self.render(tgt)

    def frames(self, targets: FaceParams, progress: bool = False, desc: str = "frames",
               workers: int | None = None) -> np.ndarray:
        """(T,H,W,3) uint8: the photo at each row of `targets`, rendered `workers` at a time (default FRAME_WORKERS,
        at most the CPUs; each frame depends on its target alone, so the pixels are those of one at a time)."""
        from tqdm import tqdm

        n = targets.batch_size
        workers = max(1, min(FRAME_WORKERS if workers is None else int(workers), os.cpu_count() or 1, n))
        done: dict[int, np.ndarray] = {}
        with tqdm(total=n, desc=desc, disable=not progress, leave=False) as bar:
            if workers > 1:   # first alone: the first frame and the first open mouth (the filler loads once)
                for i in dict.fromkeys([0, next((i for i in range(n) if self.opens_mouth(targets[i])), 0)]):
                    done[i] = self.render(targets[i])
                    bar.update()
            rest = [i for i in range(n) if i not in done]
            if workers > 1 and rest:
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(workers, thread_name_prefix="photo-frames") as pool:
                    for i, image in zip(rest, pool.map(self.render, (targets[i] for i in rest))):
                        done[i] = image
                        bar.update()
            else:
                for i in rest:
                    done[i] = self.render(targets[i])
                    bar.update()
        return np.stack([done[i] for i in range(n)]) if n else np.zeros((0, *self.image.shape), np.uint8)
