"""Render a clip of the 3DMM performing keyframed tracks: driving videos with known parameters."""
from __future__ import annotations

import numpy as np
import torch

from . import lighting
from .animation import Tracks, parse_tracks
from .model import MorphableModel
from .params import FaceParams
from .render import Renderer, to_uint8

#: a 3 s performance: a head turn and nod, a jaw opening, a smile and a blink
DEMO_TRACKS = {
    "fps": 10, "duration": 3.0, "interpolation": "smooth",
    "tracks": [
        {"block": "pose", "name": "yaw", "keys": [[0, 0], [0.8, -18], [1.6, 18], [2.4, 0], [3.0, 0]]},
        {"block": "pose", "name": "pitch", "keys": [[0, 0], [2.2, 0], [2.6, -10], [3.0, 0]]},
        {"block": "expression", "name": "jawOpen", "keys": [[0, 0], [0.5, 0.7], [1.0, 0.0], [3.0, 0]]},
        {"block": "expression", "name": "mouthSmileLeft", "keys": [[0, 0], [1.2, 0], [1.8, 0.9], [2.4, 0.0], [3.0, 0]]},
        {"block": "expression", "name": "mouthSmileRight", "keys": [[0, 0], [1.2, 0], [1.8, 0.9], [2.4, 0.0], [3.0, 0]]},
        {"block": "expression", "name": "eyeBlinkLeft", "keys": [[0, 0], [2.6, 0], [2.7, 1.0], [2.8, 0], [3.0, 0]]},
        {"block": "expression", "name": "eyeBlinkRight", "keys": [[0, 0], [2.6, 0], [2.7, 1.0], [2.8, 0], [3.0, 0]]},
    ],
}


def demo_tracks() -> Tracks:
    """The built-in driving performance (DEMO_TRACKS)."""
    return parse_tracks(DEMO_TRACKS, source="demo tracks")


@torch.no_grad()
def render_clip(model: MorphableModel, tracks: Tracks, size: int = 128, identity_seed: int = 0,
                identity_scale: float = 0.7, light: str = "front", background: float = 0.35,
                batch: int = 16) -> tuple[np.ndarray, FaceParams]:
    """Frames (T,size,size,3) uint8 of one random identity performing `tracks`, and their params."""
    base = model.random_params(1, seed=identity_seed, identity_scale=identity_scale)
    base = base.replace(light=lighting.preset(light, device=model.device))
    params = tracks.sample(base=base)
    renderer = Renderer(model, size=size, background=background)
    frames = []
    for start in range(0, params.batch_size, batch):
        frames += [to_uint8(img) for img in renderer(params[start:start + batch]).image]
    return np.stack(frames), params
