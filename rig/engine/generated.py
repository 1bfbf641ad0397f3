"""A face of the rig bundle's generator (a seed, a latent file or an inverted photo), edited through the rig
network (FaceRig: RigNet moves the latent); and the same face handed to the photo engine as a photo.

The 64 px generators draw neutral frontal faces best and their own pose/expression control is weak; the
photo engine (`--engine warp`) warps the drawn face along the fitted 3DMM instead, so pose and expression are
exact and the person is the one drawn. A command's outputs are at least MIN_SIDE px so the watermark survives
an ordinary resize and JPEG (rig.provenance.watermark).
"""
from __future__ import annotations

import numpy as np
import torch

from morphable.params import FaceParams

from ..face_rig import FaceRig
from ..frames import upscale
from .base import Engine, Performance
from .controls import POSE_NAMES, Controls, set_controls

#: no edit of a generated face is written smaller than this (px, the shorter side): at 256 px the mark was
#: found in 8 of 20 edits after a 75% resize + JPEG q75, at 384 in 19, at 512 in 20 (docs/generated_faces.md)
MIN_SIDE = 512
#: the engine `facerig edit --seed/--latent` uses when none is named (chosen by bench/bench_generated_warp.py,
#: docs/generated_faces.md)
DEFAULT_ENGINE = "gan"
ENGINES = ("gan", "warp")
#: a reenactment's frame size when none is asked for
VIDEO_SIZE = 256


class GeneratedEngine(Engine):
    """A face of the rig's generator (a seed or an inverted photo), edited by FaceRig's RigNet. `size`: frames
    upscaled to this side (None: the generator's own resolution, as a command writes them)."""

    kind = "generated"

    def __init__(self, rig: FaceRig, ws: torch.Tensor, size: int | None = 256, description: str = "",
                 compute_dtype: torch.dtype = torch.float32, preview_dtype: torch.dtype | None = None):
        self.rig, self.ws = rig, rig.check_ws(ws)[:1]
        super().__init__(rig.params(self.ws), size or 0)
        self.size = size
        self.model = rig.model
        self.landmarks = rig.landmarks
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
        """The moved controls as FaceRig.edit names them (unmoved blocks keep F(ws) exactly)."""
        pose, expr = self.moved_pose_and_expression(c)
        kw: dict = {n: v for n, v in zip(POSE_NAMES, pose) if v is not None}
        if expr:
            kw["expression"] = expr
        light = self.light_arg(c)
        if light is not None:
            kw["light"] = light
        return kw

    @torch.no_grad()
    def target_vector(self, c: Controls) -> torch.Tensor:
        """(1, P) flat target: F(ws) with the controls' light and every moved control's column set."""
        vec = self.rig.target(self.ws, light=self.light_arg(c))
        p = FaceParams.from_vector(vec, self.rig.k_id)
        return set_controls(p, self.moved(c)).to_vector()

    def target(self, c: Controls) -> FaceParams:
        return FaceParams.from_vector(self.target_vector(c), self.rig.k_id).to("cpu")

    def params(self) -> FaceParams:
        """F(ws), on the rig's device."""
        return self.rig.params(self.ws)

    def trained_range(self, name: str) -> tuple[float, float] | None:
        return None if self.rig.trained_range is None else self.rig.trained_range.bounds(name)

    def range_note(self, *cs: Controls) -> str | None:
        """FaceRig.range_warning of the moved controls; a control that differs between `cs` is a sweep."""
        moved = [self.moved(c) for c in cs]
        names = {n for m in moved for n in m}
        varying = [n for n in names if len({m.get(n) for m in moved}) > 1]
        fixed = {n: v for n, v in moved[0].items() if n not in varying}
        sweep = None
        if varying:
            sweep = (varying[0], [m[varying[0]] for m in moved if varying[0] in m])
        pose = [fixed.pop(n, None) for n in POSE_NAMES]
        return self.rig.range_warning(*pose, expression=fixed, sweep=sweep)

    @torch.no_grad()
    def latents(self, cs: list[Controls]) -> torch.Tensor:
        """Edited latents (T, num_ws, w_dim), one per Controls: RigNet(ws, target)."""
        return torch.cat([self.rig.rignet(self.ws, self.target_vector(c)) for c in cs])

    def images(self, ws: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        """FaceRig.image, in `dtype` (default the engine's compute dtype)."""
        return self.rig.image(ws, dtype or self.compute_dtype)

    def frames(self, cs: list[Controls], batch: int = 8, dtype: torch.dtype | None = None) -> np.ndarray:
        ws = self.latents(cs)
        out = np.concatenate([self.rig.to_uint8(self.images(ws[i:i + batch], dtype)) for i in range(0, len(ws), batch)])
        return out if self.size is None else upscale(out, self.size, fast=True)

    def preview(self, c: Controls) -> np.ndarray:
        """The live image in the preview dtype (bf16 on hardware that has it: several times faster)."""
        return self.frames([c], dtype=self.preview_dtype)[0]

    def original(self) -> np.ndarray:
        """The generator's image at ws itself (not RigNet's)."""
        return self.frames_of(self.ws)[0]

    def sweep_tiles(self, cs: list[Controls]) -> list[np.ndarray]:
        """ws, then each edit, drawn as one batch."""
        return list(self.frames_of(torch.cat([self.ws, self.latents(cs)])))

    def frames_of(self, ws: torch.Tensor) -> np.ndarray:
        out = self.rig.to_uint8(self.images(ws))
        return out if self.size is None else upscale(out, self.size, fast=True)

    def finish(self, image: np.ndarray) -> tuple[np.ndarray, str | None]:
        """At least MIN_SIDE px (Lanczos), and the note saying so."""
        return at_least(image)

    def sweep_note(self, note: str | None) -> str | None:
        return None if note is None else f"each image {note}"

    def video(self, frames: np.ndarray, size: int | None = None) -> np.ndarray:
        return upscale(frames, size or VIDEO_SIZE)

    def beside(self, driver: list[np.ndarray], frames: np.ndarray, size: int | None = None) -> np.ndarray:
        from ..frames import square

        return np.concatenate([square(driver, size or VIDEO_SIZE), frames], axis=2)

    def perform(self, driver: FaceParams, blocks: list[str], relative: bool = True, clamp: bool = True,
                progress: bool = False) -> Performance:
        """rig.reenact.reenact: estimator -> the driver's blocks -> clamp to the trained range -> RigNet."""
        from ..reenact import reenact

        r = reenact(self.rig, self.ws, driver, blocks, relative=relative, clamp=clamp, progress=progress)
        return Performance(r.frames, r.targets, r.transferred, r.clamped)

    @torch.no_grad()
    def animate(self, targets: FaceParams, batch: int = 16, progress: bool = False) -> np.ndarray:
        """Frames of this face at each row of `targets` (FaceRig.frames: RigNet per row)."""
        return self.rig.frames(self.ws, targets, batch=batch, progress=progress, desc="animate")


def at_least(image: np.ndarray, side: int = MIN_SIDE) -> tuple[np.ndarray, str | None]:
    """(H,W,3) uint8 scaled up (Lanczos, aspect kept) so its shorter side is >= `side`, and the note saying so
    (None when it was already large enough)."""
    from ..frames import to_height

    h, w = image.shape[:2]
    if min(h, w) >= side:
        return image, None
    height = int(np.ceil(side * h / min(h, w)))
    out = to_height(image[None], height)[0]
    return out, f"upscaled from {w}x{h} to {out.shape[1]}x{out.shape[0]} px (Lanczos)"


@torch.no_grad()
def generated_photo(rig: FaceRig, ws: torch.Tensor, side: int = MIN_SIDE) -> tuple[np.ndarray, str | None]:
    """(side,side,3) uint8: the generator's face at `ws` (first row) upscaled for the photo engine, and the note."""
    image = rig.to_uint8(rig.image(ws[:1]))[0]
    return at_least(image, side)


def generated_photo_rig(rig: FaceRig, ws: torch.Tensor, side: int = MIN_SIDE):
    """The photo engine's rig on the generated face (rig.engine.photo.fit_photo), its warning lines and the
    upscale note; RigError / MorphableError (one line) when no face is found in what the generator drew."""
    from .photo import fit_photo

    image, note = generated_photo(rig, ws, side)
    photo_rig, notes = fit_photo(image)
    return photo_rig, notes, note
