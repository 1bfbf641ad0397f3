"""Differentiable rendering of a morphable face: pytorch3d rasterizer + SH Lambertian shader.

Colour of a vertex = albedo x shade(vertex normal, SH light) (the 3DMM image-formation model
of StyleRig / Deep3DFaceRecon), interpolated over each pixel's triangle with perspective-correct
barycentrics. Everything is differentiable w.r.t. identity, expression, pose, light and albedo
(hard rasterization: gradients flow through the barycentrics and shading, not the silhouette).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from pytorch3d.ops import interpolate_face_attributes
from pytorch3d.renderer.mesh.rasterize_meshes import rasterize_meshes
from pytorch3d.structures import Meshes

from .camera import Camera
from .errors import MorphableError
from .lighting import shade
from .model import MorphableModel
from .params import FaceParams


@dataclass
class RenderOutput:
    """Rendered maps of a batch; pix_to_face indexes each mesh's own faces (-1 = background)."""

    image: torch.Tensor        # (B,3,H,W) in [0,1]
    mask: torch.Tensor         # (B,1,H,W) {0,1}
    normals: torch.Tensor      # (B,3,H,W) camera-space unit normals, 0 on background
    depth: torch.Tensor        # (B,1,H,W) distance along the view axis, 0 on background
    landmarks2d: torch.Tensor  # (B,68,2) pixel coordinates (Camera.project convention)
    pix_to_face: torch.Tensor  # (B,H,W) long
    bary: torch.Tensor         # (B,H,W,3)
    vertices: torch.Tensor     # (B,V,3) posed vertices (model space = camera directions)


def vertex_normals(verts: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals (B,V,3) of a batch sharing one triangle list (pytorch3d)."""
    meshes = Meshes(verts=verts, faces=faces.expand(verts.shape[0], -1, -1))
    return meshes.verts_normals_padded()


class Renderer:
    """Renders FaceParams of one MorphableModel at a fixed square size; caches what it can."""

    def __init__(self, model: MorphableModel, size: int = 128, camera: Camera | None = None,
                 background: float | tuple[float, float, float] = 0.0, cull_backfaces: bool = False):
        if int(size) < 8:
            raise MorphableError(f"render size must be at least 8 pixels, got {size}")
        self.model = model
        self.size = int(size)
        self.camera = camera or Camera()
        bg = torch.as_tensor(background, dtype=model.template.dtype, device=model.device).flatten()
        if bg.numel() not in (1, 3):
            raise MorphableError("background must be one grey level or an RGB triple")
        self.background = bg.expand(3).clone().view(1, 3, 1, 1)
        self.cull_backfaces = bool(cull_backfaces)
        self.faces = model.faces.to(device=model.device, dtype=torch.int64)
        self._faces_batched: dict[int, torch.Tensor] = {}

    def _batched_faces(self, batch: int) -> torch.Tensor:
        if batch not in self._faces_batched:
            self._faces_batched[batch] = self.faces.expand(batch, -1, -1)
        return self._faces_batched[batch]

    def rasterize(self, verts: torch.Tensor):
        """Rasterize posed model-space vertices (B,V,3) -> (pix_to_face packed, zbuf, bary), (B,H,W,1)."""
        ndc = self.camera.to_ndc(verts)
        # pytorch3d's NDC has +x to the left of the image; z carries the view depth
        screen = torch.stack([-ndc[..., 0], ndc[..., 1], self.camera.depth(verts)], dim=-1)
        meshes = Meshes(verts=screen, faces=self._batched_faces(verts.shape[0]))
        p2f, zbuf, bary, _ = rasterize_meshes(
            meshes, image_size=self.size, blur_radius=0.0, faces_per_pixel=1, bin_size=0,
            perspective_correct=True, clip_barycentric_coords=False, cull_backfaces=self.cull_backfaces)
        return p2f, zbuf, bary

    def __call__(self, params: FaceParams, albedo: torch.Tensor | None = None) -> RenderOutput:
        """Render a batch; `albedo` (B,V,3) overrides model.albedo(params)."""
        m = self.model
        if params.identity.shape[1] != m.num_identity:
            raise MorphableError(f"params have {params.identity.shape[1]} identity values, "
                                 f"model {m.name!r} has {m.num_identity}")
        b, n_faces = params.batch_size, self.faces.shape[0]
        verts = m.vertices(params)
        normals_v = vertex_normals(verts, self.faces)
        alb = m.albedo(params) if albedo is None else albedo
        if alb.shape != verts.shape:
            raise MorphableError(f"albedo must be (B,V,3) = {tuple(verts.shape)}, got {tuple(alb.shape)}")
        colour = alb * shade(normals_v, params.light)

        p2f, zbuf, bary = self.rasterize(verts)
        attrs = torch.cat([colour, normals_v], dim=-1).reshape(b * m.num_vertices, 6)
        offsets = (torch.arange(b, device=verts.device) * m.num_vertices).view(b, 1, 1)
        face_attrs = attrs[(self._batched_faces(b) + offsets).reshape(-1, 3)]
        pix = interpolate_face_attributes(p2f, bary, face_attrs)[..., 0, :]  # (B,H,W,6)

        hit = p2f[..., 0] >= 0
        mask = hit[:, None].to(verts.dtype)
        image = pix[..., :3].permute(0, 3, 1, 2).clamp(0.0, 1.0)
        image = torch.where(hit[:, None], image, self.background.to(image.dtype))
        normals = torch.nn.functional.normalize(pix[..., 3:], dim=-1).permute(0, 3, 1, 2) * mask
        depth = torch.where(hit, zbuf[..., 0], torch.zeros_like(zbuf[..., 0]))[:, None]
        face_offset = (torch.arange(b, device=verts.device) * n_faces).view(b, 1, 1)
        pix_to_face = torch.where(hit, p2f[..., 0] - face_offset, torch.full_like(p2f[..., 0], -1))
        landmarks2d = self.camera.project(m.landmarks3d(params, verts), self.size)
        return RenderOutput(image=image, mask=mask, normals=normals, depth=depth, landmarks2d=landmarks2d,
                            pix_to_face=pix_to_face, bary=bary[..., 0, :], vertices=verts)


def render(model: MorphableModel, params: FaceParams, size: int = 128, camera: Camera | None = None,
           background: float | tuple[float, float, float] = 0.0) -> RenderOutput:
    """One-off render (builds a Renderer; keep a Renderer around for repeated calls)."""
    return Renderer(model, size=size, camera=camera, background=background)(params)


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """One image (3,H,W) or a batch's first (1,3,H,W) in [0,1] -> (H,W,3) uint8 for saving."""
    if image.ndim == 4:
        image = image[0]
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise MorphableError(f"expected an image (3,H,W), got {tuple(image.shape)}")
    arr = (image.detach().float().clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8)
    if arr.shape[0] == 1:
        arr = arr.expand(3, -1, -1)
    return arr.permute(1, 2, 0).cpu().numpy()
