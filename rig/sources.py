"""Face sources for interactive front-ends: one interface over a generated face, the bare 3DMM and a photo.

    src = generated_source(rig, seed=3)           # or morph_source(model, identity_seed=0)
    c = src.controls()                            # the face's own pose / expression, light 'keep'
    c = c.with_values(yaw=20, jawOpen=0.6)
    image = src.render(c)                          # (H,W,3) uint8
    src.range_note(c)                              # a line when a moved control leaves the trained range
    src.frames(sweep(c, "yaw", -30, 30, 25))       # frames for an MP4 sweep of one control

Every source edits through the library's own paths (FaceRig.edit, the morphable Renderer,
PhotoRig or inversion), so a front-end (the app) only wires widgets to these calls.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Callable

import numpy as np
import torch

from morphable.arkit import ARKIT_NAMES
from morphable.params import FaceParams

from .errors import RigError
from .face_rig import FaceRig
from .frames import upscale

POSE_NAMES = ("yaw", "pitch", "roll")
#: slider limits of the pose angles (degrees)
POSE_LIMITS = {"yaw": (-60.0, 60.0), "pitch": (-40.0, 40.0), "roll": (-40.0, 40.0)}
#: the light direction's slider limits (degrees)
LIGHT_LIMITS = {"azimuth": (-90.0, 90.0), "elevation": (-90.0, 90.0)}
LIGHT_KEEP, LIGHT_DIRECTION = "keep", "direction"
#: a control counts as moved beyond this (the page shows values to 3 decimals)
_EPS = 1e-3


@dataclass
class Controls:
    """What a front-end's sliders say: absolute pose (degrees), all 52 ARKit weights, the light."""

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    expression: dict[str, float] = field(default_factory=lambda: {n: 0.0 for n in ARKIT_NAMES})
    light: str = LIGHT_KEEP          # 'keep' (the source's own), a morphable.lighting preset, or 'direction'
    azimuth: float = 0.0             # degrees, > 0 lights the image's right side (light == 'direction')
    elevation: float = 0.0           # degrees, > 0 from above

    def with_values(self, **values: float | str) -> "Controls":
        """A copy with pose angles, ARKit weights (by name), light, azimuth or elevation changed."""
        expr = dict(self.expression)
        direct = {}
        for name, value in values.items():
            if name in ARKIT_NAMES:
                expr[name] = float(value)
            elif name in ("yaw", "pitch", "roll", "azimuth", "elevation"):
                direct[name] = float(value)
            elif name == "light":
                direct[name] = str(value)
            else:
                raise RigError(f"unknown control {name!r}")
        return replace(self, expression=expr, **direct)

    def value(self, name: str) -> float:
        """The value of one pose angle or ARKit weight."""
        return float(getattr(self, name)) if name in POSE_NAMES else float(self.expression[name])

    def to_dict(self) -> dict:
        """JSON-ready controls."""
        return {"pose": {n: round(float(getattr(self, n)), 4) for n in POSE_NAMES},
                "expression": {n: round(float(v), 4) for n, v in self.expression.items()},
                "light": self.light, "azimuth": self.azimuth, "elevation": self.elevation}


def control_limits(name: str) -> tuple[float, float]:
    """(low, high) of a numeric control's slider: pose angles, ARKit weights (0..1), light direction."""
    if name in POSE_LIMITS:
        return POSE_LIMITS[name]
    if name in LIGHT_LIMITS:
        return LIGHT_LIMITS[name]
    if name in ARKIT_NAMES:
        return (0.0, 1.0)
    raise RigError(f"unknown control {name!r}")


def checked_values(values: dict[str, str | float], clamp: bool = False,
                   limits: Callable[[str], tuple[float, float]] = control_limits) -> dict[str, float]:
    """Numeric control values from an untrusted front-end, parsed and range-checked (RigError, one line);
    with `clamp`, a finite value outside a slider's range is moved to its end, as the slider does.
    `limits` gives a control's (low, high): a source's own (FaceSource.control_limits) or the defaults."""
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


def controls_of(params: FaceParams) -> Controls:
    """Controls that reproduce params' pose angles and expression (light 'keep')."""
    pose = params.pose[0].detach().cpu().tolist()
    return Controls(pose[0], pose[1], pose[2], params.expression_dict(0))


def sweep(controls: Controls, name: str, start: float, stop: float, count: int) -> list[Controls]:
    """`count` copies of controls with one pose angle or ARKit weight stepped from start to stop."""
    if name not in POSE_NAMES and name not in ARKIT_NAMES:
        raise RigError(f"cannot sweep {name!r}: not a pose angle or an ARKit name")
    if not 2 <= int(count) <= 1000:
        raise RigError(f"a sweep needs 2..1000 frames, got {count}")
    return [controls.with_values(**{name: float(v)}) for v in np.linspace(start, stop, int(count))]


class FaceSource:
    """Base: a face with its own params (`base`), edited by Controls."""

    kind = "face"
    description = ""
    model = None

    def __init__(self, base: FaceParams, size: int):
        self.base = base.detach().to("cpu", torch.float32)[0:1]
        self.size = int(size)

    def controls(self) -> Controls:
        """The face as it is: its own pose and expression."""
        return controls_of(self.base)

    def moved(self, c: Controls) -> dict[str, float]:
        """Pose angles and ARKit weights that differ from the face's own values."""
        own = self.controls()
        names = [*POSE_NAMES, *ARKIT_NAMES]
        return {n: c.value(n) for n in names if abs(c.value(n) - own.value(n)) > _EPS}

    def moved_pose_and_expression(self, c: Controls) -> tuple[tuple[float | None, ...], dict[str, float]]:
        """The moved controls split as the rigs take them: (yaw, pitch, roll) with None where unmoved, and
        the moved ARKit weights by name."""
        moved = self.moved(c)
        return tuple(moved.get(n) for n in POSE_NAMES), {n: v for n, v in moved.items() if n in ARKIT_NAMES}

    def light(self, c: Controls) -> torch.Tensor | None:
        """(1,9,3) light the controls ask for; None keeps the source's own."""
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

    def target(self, c: Controls) -> FaceParams:
        """The base params with the controls' pose, expression and light."""
        p = self.base.with_pose(c.yaw, c.pitch, c.roll).with_expression(c.expression)
        light = self.light(c)
        return p if light is None else p.replace(light=light.to(p.light.dtype))

    def trained_range(self, name: str) -> tuple[float, float] | None:
        """[low, high] the rig was trained on for a pose angle or ARKit name (None: no such range)."""
        return None

    def control_limits(self, name: str) -> tuple[float, float]:
        """(low, high) of a control's slider for this source (the defaults, control_limits, unless the engine
        holds to less)."""
        return control_limits(name)

    def range_note(self, c: Controls) -> str | None:
        """One line naming moved controls outside the trained range (None: all inside)."""
        return None

    def render(self, c: Controls) -> np.ndarray:
        """(H,W,3) uint8 of the face at the controls."""
        return self.frames([c])[0]

    def preview(self, c: Controls) -> np.ndarray:
        """The live image while a slider moves; the same as render() unless the source has a faster path."""
        return self.render(c)

    def frames(self, cs: list[Controls]) -> np.ndarray:
        """(T,H,W,3) uint8, one frame per Controls."""
        raise NotImplementedError

    def overlay(self, image: np.ndarray, c: Controls, live: bool = True) -> np.ndarray:
        """The image with the 3DMM fitted to it drawn over it (landmarks, blended mesh); `live`: the image is
        the preview (else render()'s), for sources whose two differ in frame."""
        return fit_overlay(self.model, image)

    def to_dict(self, c: Controls) -> dict:
        """JSON-ready record of the edit: source, controls and the target FaceParams."""
        return {"source": self.kind, "description": self.description, "controls": c.to_dict(),
                "params": self.target(c).to_dict()}


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


class GeneratedSource(FaceSource):
    """A face of the rig's generator (a seed or an inverted photo), edited by FaceRig.edit."""

    kind = "generated"

    def __init__(self, rig: FaceRig, ws: torch.Tensor, size: int = 256, description: str = "",
                 compute_dtype: torch.dtype = torch.float32, preview_dtype: torch.dtype | None = None):
        self.rig, self.ws = rig, rig.check_ws(ws)[:1]
        super().__init__(rig.params(self.ws), size)
        self.model = rig.model
        self.description = description or "generated face (rig bundle)"
        #: bf16 runs a StyleGAN2 generator's convolutions in bf16 (gan/fast.py): faster, about 1/100 of the
        #: image's spread away from the fp32 image; other generators ignore it
        stylegan = rig.takes_bf16
        self.compute_dtype = compute_dtype if stylegan else torch.float32
        #: the dtype of preview() (the live image); render() and frames() (the downloads) use compute_dtype
        self.preview_dtype = (preview_dtype or self.compute_dtype) if stylegan else torch.float32
        if self.compute_dtype != torch.float32:
            self.description += " (bf16 synthesis)"
        elif self.preview_dtype != torch.float32:
            self.description += " (bf16 preview, fp32 downloads)"

    def edit_kwargs(self, c: Controls) -> dict:
        """FaceRig.edit keywords for the moved controls (unmoved blocks keep F(ws) exactly)."""
        pose, expr = self.moved_pose_and_expression(c)
        kw: dict = {n: v for n, v in zip(POSE_NAMES, pose) if v is not None}
        if expr:
            kw["expression"] = expr
        light = self.light(c)
        if light is not None:
            kw["light"] = light
        return kw

    def target(self, c: Controls) -> FaceParams:
        vec = self.rig.target(self.ws, **self.edit_kwargs(c))
        return FaceParams.from_vector(vec, self.rig.k_id).to("cpu")

    def trained_range(self, name: str) -> tuple[float, float] | None:
        return None if self.rig.trained_range is None else self.rig.trained_range.bounds(name)

    def range_note(self, c: Controls) -> str | None:
        pose, expr = self.moved_pose_and_expression(c)
        return self.rig.range_warning(*pose, expression=expr)

    def latents(self, cs: list[Controls]) -> torch.Tensor:
        """Edited latents (T, num_ws, w_dim), one per Controls."""
        return torch.cat([self.rig.edit(self.ws, **self.edit_kwargs(c)) for c in cs])

    def images(self, ws: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        """FaceRig.image, in `dtype` (default the source's compute dtype)."""
        return self.rig.image(ws, dtype or self.compute_dtype)

    def frames(self, cs: list[Controls], batch: int = 8, dtype: torch.dtype | None = None) -> np.ndarray:
        ws = self.latents(cs)
        out = [self.rig.to_uint8(self.images(ws[i:i + batch], dtype)) for i in range(0, len(ws), batch)]
        return upscale(np.concatenate(out), self.size, fast=True)

    def preview(self, c: Controls) -> np.ndarray:
        """The live image in the preview dtype (bf16 on hardware that has it: several times faster)."""
        return self.frames([c], dtype=self.preview_dtype)[0]


class MorphSource(FaceSource):
    """The bare 3DMM: a random identity (by seed), rendered like morphable.render.Renderer.

    The rasterization is rig.photo.raster's vectorised z-buffer (no gradients needed here), which
    draws the Renderer's image (same camera, pixel centres, SH shading, perspective-correct
    interpolation; tests/rig/test_sources.py compares them) several times faster than pytorch3d's
    CPU kernel at 256 px.
    """

    kind = "morphable"

    def __init__(self, model, identity_seed: int = 0, size: int = 256, camera=None):
        from morphable.camera import Camera
        from morphable.lighting import preset

        self.model = model
        self.camera = camera or Camera()
        self.faces = model.faces.to(torch.int64)
        base = model.random_params(1, seed=int(identity_seed))
        super().__init__(base.replace(light=preset("front").to(base.light.dtype)), size)
        self.description = f"the bare 3DMM ({model.name}, identity seed {int(identity_seed)})"

    @torch.no_grad()
    def image(self, params: FaceParams) -> tuple[np.ndarray, np.ndarray]:
        """(H,W,3) uint8 render of params (batch 1) on black, and its (68,2) landmarks in pixels."""
        from morphable.lighting import shade
        from morphable.render import to_uint8, vertex_normals

        from .photo.raster import interpolate, rasterize

        m, size = self.model, self.size
        params = params.to(m.device, m.template.dtype)
        verts = m.vertices(params)
        colour = (m.albedo(params) * shade(vertex_normals(verts, self.faces), params.light))[0]
        r = rasterize(self.camera.project(verts, size)[0], self.camera.depth(verts)[0], self.faces, size,
                      cull_backfaces=False)
        pix = interpolate(r, self.faces, colour).clamp_(0.0, 1.0)
        return to_uint8(pix.permute(2, 0, 1)), self.landmarks(params, verts)

    @torch.no_grad()
    def landmarks(self, params: FaceParams, verts: torch.Tensor | None = None) -> np.ndarray:
        """(68,2) landmarks of params (batch 1) in pixels, without rendering."""
        m = self.model
        params = params.to(m.device, m.template.dtype)
        verts = m.vertices(params) if verts is None else verts
        return self.camera.project(m.landmarks3d(params, verts), self.size)[0].cpu().numpy()

    def frames(self, cs: list[Controls]) -> np.ndarray:
        return np.stack([self.image(self.target(c))[0] for c in cs])

    def overlay(self, image: np.ndarray, c: Controls, live: bool = True) -> np.ndarray:
        """The render with its own 68 landmarks drawn on (the model is exact here, nothing is fitted)."""
        from PIL import Image

        from morphable.fit.overlay import FITTED_COLOUR, draw_points

        base = Image.fromarray(np.ascontiguousarray(image))
        draw_points(base, self.landmarks(self.target(c)), FITTED_COLOUR, max(1.0, self.size / 160.0))
        return np.asarray(base)


#: the photo source's live image: a crop around the face, at most this many pixels on a side
PREVIEW_SIDE = 512
#: the crop's side as a multiple of the fit frame's side (the frame spans the face; this adds hair and neck)
PREVIEW_MARGIN = 2.0
#: a face whose crop is under this share of a small photo's shorter side is zoomed in all the same
ZOOM_BELOW = 0.75
#: a small crop (a face far away in its photo) is enlarged to this side for the live view
PREVIEW_MIN = 384


def face_crop(height: int, width: int, frame: list[float], margin: float = PREVIEW_MARGIN) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): a square of margin x the fit frame's side centred on it, moved inside the photo
    (smaller where the photo is)."""
    x0, y0, side = frame
    want = int(round(min(max(side * margin, 1.0), height, width)))
    cx, cy = x0 + side / 2.0, y0 + side / 2.0
    left = int(round(min(max(cx - want / 2.0, 0.0), width - want)))
    top = int(round(min(max(cy - want / 2.0, 0.0), height - want)))
    return left, top, left + want, top + want


def preview_rig(photo_rig, side: int = PREVIEW_SIDE, margin: float = PREVIEW_MARGIN):
    """A PhotoRig over a crop of the photo around the face at screen size (at most `side` px; a small face's
    crop enlarged to PREVIEW_MIN), with the fit's frame moved into it: the live image costs the same for any
    photo size, and a face small in its photo is large enough to see a smile. The photo's own rig when the
    photo is no larger than `side` and the face fills most of it (then the preview is the download's picture)."""
    import cv2

    from .photo.photo_rig import PhotoRig

    h, w = photo_rig.image.shape[:2]
    x0, y0, x1, y1 = face_crop(h, w, photo_rig.frame, margin)
    crop_side = x1 - x0
    if max(h, w) <= side and crop_side >= ZOOM_BELOW * min(h, w):
        return photo_rig
    size = int(min(side, max(crop_side, min(PREVIEW_MIN, side))))
    crop = np.ascontiguousarray(photo_rig.image[y0:y1, x0:x1])
    if size != crop_side:
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA if size < crop_side else cv2.INTER_CUBIC)
    scale = size / float(crop_side)
    fx, fy, fside = photo_rig.frame
    frame = [(fx - x0) * scale, (fy - y0) * scale, fside * scale]
    return PhotoRig(crop, photo_rig.params, frame, photo_rig.builder, list(photo_rig.fit_warnings),
                    shading=photo_rig.shading, head_guide=photo_rig.head_guide, mouth=photo_rig.mouth)


class PhotoSource(FaceSource):
    """A real photo edited by the photo engine (rig.photo.PhotoRig): its own pixels warped along the 3DMM flow.

    The live image (preview) is a crop around the face at screen size (preview_rig); render() and frames(),
    the downloads, are the whole photo at its own resolution. The pose sliders stop where the warp holds
    (rig.photo.photo_rig.YAW_LIMIT / PITCH_LIMIT, as absolute angles and as changes from the photo)."""

    kind = "photo"

    def __init__(self, photo_rig, size: int = 256, description: str = ""):
        self.photo_rig = photo_rig
        self.preview_rig = preview_rig(photo_rig)
        self.model = photo_rig.model
        super().__init__(photo_rig.params, size)
        self.description = description or ("uploaded photo through the photo engine (rig.photo.PhotoRig: the "
                                            "photo's own pixels, warped)")
        h, w = photo_rig.image.shape[:2]
        if self.preview_rig is not photo_rig:
            ph = self.preview_rig.image.shape[0]
            self.description += f"; {w}x{h} px, live view {ph} px around the face, downloads full size"

    def control_limits(self, name: str) -> tuple[float, float]:
        from .photo.photo_rig import PITCH_LIMIT, YAW_LIMIT

        held = {"yaw": YAW_LIMIT, "pitch": PITCH_LIMIT}
        if name not in held:
            return control_limits(name)
        limit, own = held[name], self.controls().value(name)
        # rounded inward to 0.01 deg: the slider's end itself must not read as beyond the limit
        low, high = math.ceil(100 * max(-limit, own - limit)) / 100, math.floor(100 * min(limit, own + limit)) / 100
        # a photo already turned beyond the limit keeps its own angle reachable
        return float(min(low, own)), float(max(high, own))

    def target(self, c: Controls) -> FaceParams:
        pose, expr = self.moved_pose_and_expression(c)
        light = self.light(c)
        return self.photo_rig.target(*pose, expression=expr, light=None if light is None else light[0])

    def range_note(self, c: Controls) -> str | None:
        return self.photo_rig.range_warning(self.target(c))

    def frames(self, cs: list[Controls]) -> np.ndarray:
        return np.stack([self.photo_rig.render(self.target(c)) for c in cs])

    def preview(self, c: Controls) -> np.ndarray:
        """The live image: the crop around the face at screen size (the whole photo when it is small)."""
        return self.preview_rig.render(self.target(c))

    def overlay(self, image: np.ndarray, c: Controls, live: bool = True) -> np.ndarray:
        """The target's 3DMM rendered in the fit frame of the image given (the live crop, or the photo when
        not `live`) and blended over it."""
        from morphable.fit.overlay import overlay_image

        rig = self.preview_rig if live else self.photo_rig
        diag = SimpleNamespace(frame=list(rig.frame), detected=None, fitted=None)
        return overlay_image(self.model, image, self.target(c), diag)


# ---- constructors ---------------------------------------------------------------------------
def generated_source(rig: FaceRig, seed: int = 0, truncation: float = 1.0, size: int = 256,
                     compute_dtype: torch.dtype = torch.float32,
                     preview_dtype: torch.dtype | None = None) -> GeneratedSource:
    """A generated face by seed (z as `facerig edit --seed`)."""
    ws = rig.sample(int(seed), float(truncation))
    return GeneratedSource(rig, ws, size, f"generated face, seed {int(seed)}, truncation {float(truncation):g}",
                           compute_dtype, preview_dtype)


def morph_source(model, identity_seed: int = 0, size: int = 256) -> MorphSource:
    """The bare 3DMM with a random identity by seed."""
    return MorphSource(model, identity_seed, size)


def photo_engine_available() -> bool:
    """True when the photo engine (rig.photo.PhotoRig) is installed in this tree."""
    try:
        from .photo.photo_rig import PhotoRig  # noqa: F401
    except ImportError:
        return False
    return True


def portrait_source(model=None, size: int = 256) -> PhotoSource:
    """The shipped portrait (rig.photo.demo.portrait: NASA's public-domain astronaut photo) through the photo
    engine: the app's opening face. RigError when scikit-image, which carries it, is missing."""
    from .photo.demo import PORTRAIT_CREDIT, portrait_rig

    return PhotoSource(portrait_rig(model), size, f"{PORTRAIT_CREDIT}, through the photo engine (rig.photo.PhotoRig: the "
                                  "photo's own pixels, warped)")


def photo_source(photo: np.ndarray, rig: FaceRig | None = None, model=None, size: int = 256,
                 inversion_steps: int = 100, compute_dtype: torch.dtype = torch.float32,
                 preview_dtype: torch.dtype | None = None) -> FaceSource:
    """A photo through the photo engine where it exists, else inverted into the rig's generator.

    RigError (one line) when the photo has no usable face.
    """
    photo = np.asarray(photo)
    if photo.ndim != 3 or photo.shape[2] < 3 or min(photo.shape[:2]) < 8:
        raise RigError(f"not a usable photo (shape {tuple(photo.shape)})")
    photo = np.ascontiguousarray(photo[..., :3].astype(np.uint8))
    if photo_engine_available():
        import warnings

        from .photo.photo_rig import PhotoRig

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return PhotoSource(PhotoRig.from_photo(photo, model=model), size)
    if rig is None:
        raise RigError("no photo engine and no rig to invert the photo into")
    from .pipeline import align_photo, invert_photo

    aligned = align_photo(photo, rig.G.img_resolution)
    inv = invert_photo(rig.G, aligned, steps=int(inversion_steps), measure=False)
    return GeneratedSource(rig, inv.ws, size, f"uploaded photo inverted into the generator ({int(inversion_steps)} "
                                              "steps; the photo engine is not installed, identity is not kept well)",
                           compute_dtype, preview_dtype)
