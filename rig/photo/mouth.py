"""The inside of the mouth when the target opens it wider than the photo shows: two fillers.

"model" (the engine's first filler): target pixels on mouth-region triangles (lips, teeth,
tongue, cavity) whose surface point is hidden in the source are painted with the model's own
render there: its albedo times the SH shading of the fitted (source) light. A soft mask (grown
by a pixel, feathered) blends it over the warp. Teeth the photo already shows are warped.

"gan" (default): the same hole, filled by a conditional inpainter (gan.inpainter) trained on
real open mouths (rig.training.mouth_training): a 64 px crop around the target's mouth (1.6 x
its corner-to-corner width), the hole and the target 3DMM's inner-lip polygon go in; teeth,
tongue and shadow in the photo's colours come out and are pasted back under the same alpha.
The network is deterministic, so a steady target gives a steady mouth.

"gan-small": the same stage with a narrower inpainter distilled from "gan" (scripts/distill_mouth.py;
its network ~3x faster, the stage about half the time); a live session's default, where a frame's time is the budget.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from morphable.arkit import expression_index
from morphable.params import FaceParams

from ..errors import RigError
from .flow import Flow, FlowBuilder, MeshView
from .soft import blur, box_max, feather, spread
from .warp import frame_grid, to_photo

#: the model's cavity albedo is a flat dark red; photos show it darker (teeth keep their level)
CAVITY_GAIN = 0.55
#: jawOpen increase over the photo's fit above which the mouth interior is painted
MOUTH_OPENS = 0.05


def opens_mouth(photo: FaceParams, target: FaceParams) -> bool:
    """Whether `target` (first row) opens the jaw wider than the `photo`'s fit (then the mouth interior is painted).

    Otherwise mouth pixels the fit's mouth hides are stretched from the photo's own: a smiling
    photo's teeth often sit where the fitted lips meet, and painting the model's teeth there
    on a turn drew a second set."""
    j = expression_index("jawOpen")
    return float(target.expression[0, j]) > float(photo.expression[0, j]) + MOUTH_OPENS


def model_colour(builder: FlowBuilder, view: MeshView, source: FaceParams, gain: float = CAVITY_GAIN) -> torch.Tensor:
    """(3,S,S) the model's render of `view` under the source's fitted light, cavity darkened, softened."""
    s = view.raster.hit.shape[-1]
    colour = builder.pixel_colours(view, source.light[0], source)
    lum = colour.mean(0, keepdim=True)
    colour = colour * (gain + (1.0 - gain) * ((lum - 0.25) / 0.25).clamp(0.0, 1.0))
    colour = spread(colour, view.raster.hit, radius=2)
    return blur(colour, 0.5 * s / 128)   # a render is sharper than a photo's mouth


def hole_alpha(flow: Flow) -> torch.Tensor:
    """(1,S,S) both fillers' alpha: the mouth pixels the photo never showed, grown by a pixel and feathered,
    on the target mesh only."""
    s = flow.disp.shape[-1]
    return feather(flow.mouth_fill, sigma=0.7 * s / 128, grow=1.0) * flow.target.raster.hit[None].float()


def mouth_layer(builder: FlowBuilder, flow: Flow, source: FaceParams, height: int, width: int,
                frame: Sequence[float], grid: torch.Tensor | None = None,
                gain: float = CAVITY_GAIN) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(colour (3,H,W), alpha (1,H,W)) of the mouth fill, or None when the source shows it all."""
    if not bool(flow.mouth_fill.any()):
        return None
    colour = model_colour(builder, flow.target, source, gain)
    alpha = hole_alpha(flow)
    return (to_photo(colour, height, width, frame, grid=grid).clamp(0.0, 1.0),
            to_photo(alpha, height, width, frame, grid=grid))


def polygon_mask(points: np.ndarray, size: int) -> np.ndarray:
    """(size,size) float32 0/1 mask of the polygon `points` (N,2) in px (pixel centres at i + 0.5).

    PIL's fill with its outline: the pixels whose centre is inside plus the outline's pixels (up
    to one more all round). Training and the stage both draw guides with it, so they agree."""
    from PIL import Image, ImageDraw

    im = Image.new("L", (size, size), 0)
    # PIL puts pixel (i, j)'s centre at (i, j); ours is at (i + 0.5, j + 0.5)
    ImageDraw.Draw(im).polygon([(float(x) - 0.5, float(y) - 0.5) for x, y in points], fill=1, outline=1)
    return np.asarray(im, dtype=np.float32)


# ---- the trained filler: a conditional inpainter on a crop around the mouth ---------------------

#: the inpainter's weights (UTKFace-trained: non-commercial research only, see assets/mouth/README.md)
INPAINTER = Path(__file__).resolve().parents[2] / "assets" / "mouth" / "inpainter.safetensors"
#: the narrower inpainter distilled from it (the same licence)
INPAINTER_SMALL = INPAINTER.with_name("inpainter_live.safetensors")
#: crop side over the mouth's corner-to-corner width, and crop size (as in training: rig.training.mouth_data)
CROP_SCALE, CROP = 1.6, 64
#: MediaPipe face-mesh indices of the inner lip (loop) and the outer mouth corners: the same
#: points define the crop and the guide in training (rig.training.mouth_data); here they are the
#: target mesh's vertices that MediaPipe's points sit on (morphable.fit.landmark_set.mesh_table)
MESH_INNER_LIP = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)
MESH_CORNERS = (61, 291)
#: hole grown by this many crop px (training grew the lip polygon by 1-3)
HOLE_GROW = 1
#: the inpainter file of each trained filler
INPAINTERS = {"gan": INPAINTER, "gan-small": INPAINTER_SMALL}
#: the fillers PhotoRig.mouth selects (the trained ones and the 3DMM's), and the one used when it is None
FILLERS = (*INPAINTERS, "model")
DEFAULT_FILLER = "gan"


@lru_cache(maxsize=4)
def load_filler(path: str = str(INPAINTER), fast: bool = True):
    """The mouth inpainter (gan.inpainter) from `path`, loaded once; `fast`: traced at the stage's crop size,
    frozen and optimised for inference by TorchScript (the same numbers, ~20% less time on this CPU)."""
    import warnings

    from gan.errors import GanError
    from gan.inpainter import load_inpainter

    try:
        net, _ = load_inpainter(path)
    except GanError as exc:
        raise RigError(f"mouth filler: {exc}") from None
    net = net.requires_grad_(False)
    if not fast:
        return net
    x = torch.zeros(1, net.config.image_channels, CROP, CROP)
    m = torch.zeros(1, 1, CROP, CROP)
    g = torch.zeros(1, net.config.guide_channels, CROP, CROP)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the trace fixes the size check to CROP, the only size used here
        # check_trace=False: the check only re-runs the net to compare (the graph is the same); it cost ~1.5-3 s
        # CPU once per process (torch.testing's imports and a scan of every module's source file)
        traced = torch.jit.trace(net, (x, m, g), check_trace=False)
        return torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))


def crop_box(inner: torch.Tensor, corners: torch.Tensor, scale: float = CROP_SCALE) -> tuple[int, int, int]:
    """Integer square (x0, y0, side) in photo px around the inner lips (K,2), side = scale x corner distance."""
    c = inner.mean(0)
    side = max(CROP, int(round(scale * float((corners[0] - corners[1]).norm()))))
    return int(round(float(c[0]) - side / 2)), int(round(float(c[1]) - side / 2)), side


def take_crop(image: torch.Tensor, box: tuple[int, int, int], size: int = CROP) -> torch.Tensor:
    """(3,size,size) crop of a (3,H,W) image over an integer box (edges replicated outside), area-resampled."""
    x0, y0, side = box
    _, h, w = image.shape
    pad = (max(0, -x0), max(0, x0 + side - w), max(0, -y0), max(0, y0 + side - h))
    region = image[:, max(0, y0):min(h, y0 + side), max(0, x0):min(w, x0 + side)]
    if any(pad):
        region = F.pad(region[None], pad, mode="replicate")[0]
    return F.interpolate(region[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]


def gan_layer(net, image: torch.Tensor, flow: Flow, lips: torch.Tensor, corners: torch.Tensor,
              frame: Sequence[float], grid: torch.Tensor | None = None, boxed: bool = False) -> tuple | None:
    """(colour (3,H,W), alpha (1,H,W)) of the inpainted mouth, or None when the source shows it all; `boxed`:
    (colour, alpha, (rows, cols)) over the crop's box only (both are 0 outside it; rig.photo.stages.Layer).

    image: the warped photo (3,H,W) in [0,1]; lips (K,2) and corners (2,2): the target's inner
    lip loop and outer mouth corners in photo px. The crop around the target's mouth, the hole
    (pixels the photo never showed) and the inner-lip polygon go through the inpainter; its
    output is pasted over the hole with the feathered hole as alpha."""
    if not bool(flow.mouth_fill.any()):
        return None
    _, h, w = image.shape
    g = frame_grid(h, w, frame) if grid is None else grid
    x0f, y0f, sidef = (float(v) for v in frame)
    box = crop_box(lips, corners)
    bx, by, bs = box
    ys0, ys1, xs0, xs1 = max(0, by), min(h, by + bs), max(0, bx), min(w, bx + bs)
    if ys1 <= ys0 or xs1 <= xs0:
        return None
    crop = take_crop(image, box)
    # crop pixel centres -> frame grid coordinates, to read the hole there
    t = (torch.arange(CROP, dtype=torch.float32) + 0.5) * (bs / CROP)
    gx, gy = (bx + t - x0f) / sidef * 2 - 1, (by + t - y0f) / sidef * 2 - 1
    cg = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], -1)[None]
    hole = F.grid_sample(flow.mouth_fill.float()[None, None], cg, mode="bilinear", align_corners=False)
    hole = (hole > 0.25).float()
    if HOLE_GROW:
        hole = box_max(hole, 2 * HOLE_GROW + 1)
    local = (lips - torch.tensor([bx, by], dtype=torch.float32)) * (CROP / bs)
    guide = torch.from_numpy(polygon_mask(local.numpy(), CROP))[None, None]
    filled = ((net(crop[None] * 2 - 1, hole, guide) + 1) / 2).clamp(0.0, 1.0)
    # paste: the photo pixels of the box read the crop's output; alpha is the feathered hole
    px = ((torch.arange(xs0, xs1, dtype=torch.float32) + 0.5) - bx) / bs * 2 - 1
    py = ((torch.arange(ys0, ys1, dtype=torch.float32) + 0.5) - by) / bs * 2 - 1
    pg = torch.stack(torch.meshgrid(py, px, indexing="ij")[::-1], -1)[None]
    rows, cols = slice(ys0, ys1), slice(xs0, xs1)
    colour_box = F.grid_sample(filled, pg, mode="bilinear", padding_mode="border", align_corners=False)[0]
    alpha_box = F.grid_sample(hole_alpha(flow)[None], g[:, rows, cols], mode="bilinear", padding_mode="zeros",
                              align_corners=False)[0]
    if boxed:
        return colour_box, alpha_box, (rows, cols)
    colour = torch.zeros(3, h, w)
    alpha = torch.zeros(1, h, w)
    colour[:, rows, cols] = colour_box
    alpha[:, rows, cols] = alpha_box
    return colour, alpha


def mouth_points(flow: Flow, model, frame: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """The target mesh's inner-lip loop (20,2) and outer mouth corners (2,2) in photo px, at the
    vertices MediaPipe's points sit on (the model's iBUG-68 lips where its table lacks one)."""
    lips, corners = _mouth_rows(model)
    s = flow.disp.shape[-1]
    x0, y0, side = (float(v) for v in frame)
    xy = flow.target.xy * (side / s) + torch.tensor([x0, y0])
    return xy[lips], xy[corners]


#: id(model) -> (a weak reference to it, its inner-lip and corner vertex rows)
_ROWS: dict[int, tuple] = {}


def _mouth_rows(model) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's vertex rows of the inner lip loop and the mouth corners (mouth_points), found once per model
    (mesh_table fingerprints the whole model on every call: ~0.3 ms a frame)."""
    import weakref

    from morphable.fit.landmark_set import mesh_table

    got = _ROWS.get(id(model))
    if got is not None and got[0]() is model:
        return got[1]
    table = mesh_table(model)[0]
    lips, corners = table[list(MESH_INNER_LIP)], table[list(MESH_CORNERS)]
    if (lips < 0).any() or (corners < 0).any():
        lm = model.landmarks.numpy()
        lips, corners = lm[60:68], lm[[48, 54]]
    rows = (torch.as_tensor(lips), torch.as_tensor(corners))
    _ROWS[id(model)] = (weakref.ref(model, lambda _, key=id(model): _ROWS.pop(key, None)), rows)
    return rows


def mouth_stage(filler: str | None, image: torch.Tensor, builder: FlowBuilder, flow: Flow, source: FaceParams,
                frame: Sequence[float], grid: torch.Tensor | None = None, boxed: bool = False) -> tuple | None:
    """The mouth layer of the chosen filler: "gan" (the trained inpainter), "gan-small" (its distilled student) or
    "model" (the 3DMM's render);
    None is DEFAULT_FILLER. `boxed`: the inpainter's layer over its box only (rig.photo.stages.Layer)."""
    _, h, w = image.shape
    filler = DEFAULT_FILLER if filler is None else filler
    if filler == "model":
        return mouth_layer(builder, flow, source, h, w, frame, grid)
    if filler not in INPAINTERS:
        raise RigError(f"unknown mouth filler {filler!r}; choose one of {', '.join(FILLERS)}")
    return gan_layer(load_filler(str(INPAINTERS[filler])), image, flow, *mouth_points(flow, builder.model, frame), frame,
                     grid, boxed)
