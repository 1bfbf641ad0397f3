"""The bare 3DMM as an engine: a random identity (by seed), rendered like morphable.render.Renderer.

The rasterization is morphable.raster's vectorised z-buffer (no gradients needed here), which draws
the Renderer's image (same camera, pixel centres, SH shading, perspective-correct interpolation;
tests/rig/engine/test_engines.py compares them) several times faster than pytorch3d's CPU kernel at 256 px.
"""
from __future__ import annotations

import numpy as np
import torch

from morphable.params import FaceParams

from .base import Engine
from .controls import Controls


class MorphEngine(Engine):
    """The bare 3DMM with a random identity; every control sets its FaceParams column."""

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

        from morphable.raster import interpolate, rasterize

        m, size = self.model, self.size
        params = params.to(m.device, m.template.dtype)
        verts = m.vertices(params)
        colour = (m.albedo(params) * shade(vertex_normals(verts, self.faces), params.light))[0]
        r = rasterize(self.camera.project(verts, size)[0], self.camera.depth(verts)[0], self.faces, size,
                      cull_backfaces=False)
        pix = interpolate(r, self.faces, colour).clamp_(0.0, 1.0)
        return to_uint8(pix.permute(2, 0, 1)), self.landmarks_of(params, verts)

    @torch.no_grad()
    def landmarks_of(self, params: FaceParams, verts: torch.Tensor | None = None) -> np.ndarray:
        """(68,2) landmarks of params (batch 1) in pixels, without rendering."""
        m = self.model
        params = params.to(m.device, m.template.dtype)
        verts = m.vertices(params) if verts is None else verts
        return self.camera.project(m.landmarks3d(params, verts), self.size)[0].cpu().numpy()

    def frames(self, cs: list[Controls]) -> np.ndarray:
        return np.stack([self.image(self.target(c))[0] for c in cs])

    def animate(self, targets: FaceParams, progress: bool = False) -> np.ndarray:
        """The model at each row of `targets`."""
        return np.stack([self.image(targets[i])[0] for i in range(targets.batch_size)])

    def overlay(self, image: np.ndarray, c: Controls, live: bool = True) -> np.ndarray:
        """The render with its own 68 landmarks drawn on (the model is exact here, nothing is fitted)."""
        from PIL import Image

        from morphable.fit.overlay import FITTED_COLOUR, draw_points

        base = Image.fromarray(np.ascontiguousarray(image))
        draw_points(base, self.landmarks_of(self.target(c)), FITTED_COLOUR, max(1.0, self.size / 160.0))
        return np.asarray(base)
