"""The inside of the mouth when the target opens it wider than the photo shows.

Target pixels on mouth-region triangles (lips, teeth, tongue, mouth cavity) whose surface
point is hidden in the source are painted with the model's own render there: its albedo
(teeth, tongue, dark cavity) times the SH shading of the fitted (source) light, so colour and
brightness follow the photo's fit. A soft mask (grown by a pixel, feathered) blends it over
the warp. Teeth the photo already shows are warped, not painted.
"""
from __future__ import annotations

from typing import Sequence

import torch

from morphable.params import FaceParams

from .flow import Flow, FlowBuilder
from .soft import blur, feather, spread
from .warp import to_photo

#: the model's cavity albedo is a flat dark red; photos show it darker (teeth keep their level)
CAVITY_GAIN = 0.55


def mouth_layer(builder: FlowBuilder, flow: Flow, source: FaceParams, height: int, width: int,
                frame: Sequence[float], grid: torch.Tensor | None = None,
                gain: float = CAVITY_GAIN) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(colour (3,H,W), alpha (1,H,W)) of the mouth fill, or None when the source shows it all."""
    if not bool(flow.mouth_fill.any()):
        return None
    s = flow.disp.shape[-1]
    colour = builder.pixel_colours(flow.target, source.light[0], source)
    lum = colour.mean(0, keepdim=True)
    colour = colour * (gain + (1.0 - gain) * ((lum - 0.25) / 0.25).clamp(0.0, 1.0))
    colour = spread(colour, flow.target.raster.hit, radius=2)
    colour = blur(colour, 0.5 * s / 128)   # a render is sharper than a photo's mouth
    alpha = feather(flow.mouth_fill, sigma=0.7 * s / 128, grow=1.0) * flow.target.raster.hit[None].float()
    return (to_photo(colour, height, width, frame, grid=grid).clamp(0.0, 1.0),
            to_photo(alpha, height, width, frame, grid=grid))
