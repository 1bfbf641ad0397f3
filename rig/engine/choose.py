"""The one place that picks an engine for a face: the CLI's edit / reenact / animate, the app, live mode and
the demos open their face here.

    open_engine(photo="me.jpg")                         # the photo engine (the photo's own pixels, warped)
    open_engine(photo=img, engine="gan", rig=rig)       # the photo inverted into the rig's generator
    open_engine(seed=3, rig=rig)                        # a generated face through the rig network
    open_engine(seed=3, rig=rig, engine="warp")         # the generated face handed to the photo engine
    open_engine(engine="morph", identity_seed=2)        # the bare 3DMM
    open_engine(portrait=True)                          # the shipped portrait through the photo engine

`rig` may be a FaceRig or a function that loads one (called only when the engine needs the generator).
"""
from __future__ import annotations

import os
from typing import Callable

import numpy as np
import torch

from ..errors import RigError
from ..face_rig import FaceRig
from .base import Engine

ENGINE_NAMES = ("gan", "warp", "morph")
#: inversion steps of a photo going through the generator, unless asked otherwise
INVERSION_STEPS = 300


def photo_engine_available() -> bool:
    """True when the photo engine (rig.photo.PhotoRig) is installed in this tree."""
    try:
        from ..photo.photo_rig import PhotoRig  # noqa: F401
    except ImportError:
        return False
    return True


def default_engine(photo: bool) -> str:
    """The engine of a face when none is named: 'warp' for a photo, generated.DEFAULT_ENGINE for a seed or latent."""
    from .generated import DEFAULT_ENGINE

    return "warp" if photo else DEFAULT_ENGINE


def open_engine(rig: FaceRig | Callable[[], FaceRig] | None = None, *, photo: str | os.PathLike | np.ndarray | None = None,
                seed: int | None = None, latent: str | os.PathLike | None = None, engine: str | None = None,
                truncation: float = 1.0, face: int = 1, landmarks: str | None = None,
                inversion_steps: int = INVERSION_STEPS, size: int | None = 256, model=None, identity_seed: int = 0,
                compute_dtype: torch.dtype | None = None, preview_dtype: torch.dtype | None = None,
                description: str = "", name: str | None = None, progress: bool = False,
                portrait: bool = False) -> Engine:
    """The engine of a face: a photo (path or RGB array; the photo engine by default, 'gan' inverts it), a seed
    or latent file of the rig ('gan' by default, 'warp' hands the drawn face to the photo engine), or the bare
    3DMM ('morph'), or the shipped `portrait` (NASA's public-domain astronaut, scikit-image's; RigError when
    scikit-image is missing). `size`: the app's square frames (None: each engine's own resolution, as
    commands write). One-line errors (RigError / MorphableError) for a photo without a usable face."""
    if engine is not None and engine not in ENGINE_NAMES:
        raise RigError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINE_NAMES)}")
    if engine == "morph":
        from .morph import MorphEngine

        if model is None:
            from morphable.formats import load_model

            model = load_model("default")
        return MorphEngine(model, identity_seed, size or 256)
    if portrait:
        from ..photo.portrait import PORTRAIT_CREDIT, portrait_rig
        from .photo import PhotoEngine

        return PhotoEngine(portrait_rig(model), size or 256, description or f"{PORTRAIT_CREDIT}, through the photo "
                           "engine (rig.photo.PhotoRig: the photo's own pixels, warped)")
    get_rig = rig if callable(rig) and not isinstance(rig, FaceRig) else (lambda: rig)
    if photo is not None:
        if isinstance(photo, np.ndarray):
            photo = usable_photo(photo)
        if engine == "gan" or (engine is None and not photo_engine_available()):
            return _inverted(get_rig(), photo, inversion_steps, size, compute_dtype, preview_dtype, description,
                             name, progress)
        from .photo import PhotoEngine, fit_photo

        photo_rig, notes = fit_photo(photo, landmarks, face=face)
        return PhotoEngine(photo_rig, size or 256, description, notes)
    the_rig = get_rig()
    if the_rig is None:
        raise RigError("a seed or latent face needs a rig bundle")
    from ..pipeline import source_latents

    ws = source_latents(the_rig, latent, seed, truncation)
    if (engine or default_engine(False)) == "warp":
        return _generated_photo(the_rig, ws, latent is not None, seed, size)
    from .generated import GeneratedEngine

    if not description and latent is None:
        description = f"generated face, seed {int(seed)}, truncation {float(truncation):g}"
    return GeneratedEngine(the_rig, ws, size, description, compute_dtype or the_rig.compute_dtype, preview_dtype)


def usable_photo(photo: np.ndarray) -> np.ndarray:
    """A grey, RGB or RGBA array as contiguous (H,W,3) uint8, converted by the landmark reader's rules (floats in
    0..1 scaled by 255, others clipped and rounded); RigError when it cannot be a photo."""
    from morphable.landmarks import as_rgb_uint8

    photo = np.asarray(photo)
    if photo.ndim not in (2, 3) or (photo.ndim == 3 and photo.shape[2] not in (3, 4)) or min(photo.shape[:2]) < 8:
        raise RigError(f"not a usable photo (shape {tuple(photo.shape)}; expected H x W, H x W x 3 or 4, 8 px or more)")
    return as_rgb_uint8(photo)


def _inverted(rig: FaceRig | None, photo, steps: int, size, compute_dtype, preview_dtype, description: str,
              name: str | None, progress: bool) -> Engine:
    """A photo aligned like the generator's training data and inverted into it (gan.inversion)."""
    from ..inputs import read_photo
    from ..pipeline import align_photo, invert_photo
    from .generated import GeneratedEngine

    if rig is None:
        raise RigError("no photo engine and no rig to invert the photo into")
    image = photo if isinstance(photo, np.ndarray) else read_photo(photo)
    aligned = align_photo(image, rig.G.img_resolution, name=name or ("the photo" if isinstance(photo, np.ndarray)
                                                                     else str(photo)))
    inv = invert_photo(rig.G, aligned, steps=int(steps), progress=progress, measure=False)
    if not description:
        description = f"uploaded photo inverted into the generator ({int(steps)} steps" + (
            "; the photo engine is not installed, identity is not kept well)" if not photo_engine_available() else ")")
    return GeneratedEngine(rig, inv.ws.to(rig.device), size, description, compute_dtype or rig.compute_dtype,
                           preview_dtype)


def _generated_photo(rig: FaceRig, ws: torch.Tensor, from_latent: bool, seed: int | None, size) -> Engine:
    """The generated face, upscaled, fitted and warped by the photo engine (exact pose and expression, the
    drawn person kept); its output note says it was upscaled."""
    from .generated import generated_photo_rig
    from .photo import PhotoEngine

    try:
        photo_rig, notes, note = generated_photo_rig(rig, ws)
    except RigError as exc:
        face = "the latent's face" if from_latent else f"seed {seed}'s face"
        raise RigError(f"--engine warp: {exc} ({face} as the generator drew it); try another seed or "
                       "--engine gan") from None
    out = PhotoEngine(photo_rig, size or 256, "generated face through the photo engine", notes)
    if note is not None:
        out.finish_note = f"the generated face {note} before the photo engine's fit and warp"
    return out
