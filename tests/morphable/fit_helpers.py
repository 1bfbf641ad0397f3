"""Shared helpers for the fitting tests: the default model and renders of known parameters."""
from __future__ import annotations

import functools

import numpy as np
import pytest


@functools.lru_cache(maxsize=None)
def default_model():
    from morphable.formats import load_model
    from morphable.errors import MorphableError

    try:
        return load_model("default")
    except MorphableError as exc:  # pragma: no cover - the asset is committed
        pytest.skip(f"default model missing: {exc}")


def render_known(model, size: int = 128, seed: int = 0, yaw: float = 0.0, pitch: float = 0.0,
                 roll: float = 0.0, expression: dict | None = None, light: str = "front"):
    """(uint8 image, FaceParams) of a random identity in a known pose and expression."""
    from morphable import lighting
    from morphable.render import Renderer, to_uint8

    p = model.random_params(1, seed=seed, identity_scale=0.7).with_pose(yaw=yaw, pitch=pitch, roll=roll)
    p = p.with_expression(expression or {}).replace(light=lighting.preset(light))
    img = to_uint8(Renderer(model, size=size, background=0.35)(p).image)
    return np.ascontiguousarray(img), p
