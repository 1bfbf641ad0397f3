"""Stage 2 of fitting: photometric refinement through the differentiable renderer.

Inside the model's face region the render (albedo x SH shading) is compared with the photo.
Visibility is rasterized once per resolution (pytorch3d's CPU rasterizer costs pixels x
triangles); within a level each pixel keeps its triangle and its perspective-correct
barycentrics are recomputed from the current vertices, so every Adam step is cheap and
differentiable in geometry as well as colour. The SH light is first solved in closed form (linear least squares per colour channel, so a
per-face skin colour is absorbed into the light's RGB when the model has no albedo basis),
then light, albedo coefficients, pose, identity and expression are refined with Adam against
photometric + landmark + prior terms, coarse to fine (e.g. 64 then 128 px).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..camera import Camera
from ..lighting import AMBIENT_UNIT, irradiance_basis, shade
from ..model import MorphableModel
from ..params import FaceParams
from ..pose import euler_to_matrix
from ..render import Renderer, vertex_normals
from .adam import Adam
from .geometry import inter_ocular
from .landmark_set import LandmarkSet


@dataclass(frozen=True)
class PhotometricConfig:
    """Resolutions, steps and loss weights of the photometric stage."""

    sizes: tuple[int, ...] = (64, 128)
    # measured on default-model renders (docs/fitting.md): these beat (12, 6) steps at lr 0.01 with
    # landmark weight 1 on jawOpen (0.09 vs 0.12 abs. error) and all-expression error, same speed class
    steps: tuple[int, ...] = (40, 15)
    lr: float = 0.03
    landmark_weight: float = 0.3      # on the squared landmark residual in sigma units (stage 1's)
    sigma: float = 0.04
    identity_prior: float = 1.0
    expression_l2: float = 2.0
    expression_l1: float = 0.5
    albedo_prior: float = 1.0
    light_ridge: float = 1e-2         # pull of the closed-form light toward plain ambient
    photo_weight: float = 200.0       # on the mean squared colour error (0..1 units)
    #: weight of dense targets' depth rows (as LandmarkFitConfig.depth_weight); without the depth
    #: term this stage pulled MediaPipe fits' pitch back toward the x, y-only answer (docs/fitting.md)
    depth_weight: float = 3.0


def cluster_faces(verts: torch.Tensor, faces: torch.Tensor, cell: float) -> torch.Tensor:
    """Vertex-clustering decimation: triangles (F',3) over a subset of the original vertices.

    Vertices are binned on a `cell`-metre grid; each bin is represented by its original vertex
    nearest the bin's mean; triangles that collapse or repeat are dropped. The result stays a
    linear morphable model (it indexes the original vertices), so it can be fitted directly.
    """
    v = verts.detach().cpu().double()
    key = torch.floor(v / cell).long()
    _, cluster = torch.unique(key, dim=0, return_inverse=True)
    n = int(cluster.max()) + 1
    mean = torch.zeros(n, 3, dtype=v.dtype).index_add_(0, cluster, v)
    mean /= torch.bincount(cluster, minlength=n).clamp_min(1)[:, None].to(v.dtype)
    dist = (v - mean[cluster]).norm(dim=1).numpy()
    cl = cluster.numpy()
    order = np.lexsort((np.arange(len(cl)), dist, cl))            # by cluster, then distance
    first = np.ones(len(cl), dtype=bool)
    first[1:] = cl[order][1:] != cl[order][:-1]
    rep = torch.empty(n, dtype=torch.long)
    rep[torch.as_tensor(cl[order][first])] = torch.as_tensor(order[first])
    f = rep[cluster[faces.cpu()]]
    good = (f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])
    f = f[good]
    canon = torch.sort(f, dim=1).values
    _, first = np.unique(canon.numpy(), axis=0, return_index=True)
    return f[torch.as_tensor(np.sort(first))].to(faces.device)


def face_submodel(model: MorphableModel, region: str = "face", cell: float | None = 0.004,
                  keep: torch.Tensor | None = None) -> MorphableModel:
    """The model cut to the triangles of `region` (plus landmark and `keep` vertices), decimated to `cell` metres.

    The CPU rasterizer's cost grows with pixels x triangles, so the photometric stage renders
    this lighter mesh; the full model is still what the returned params describe.
    """
    return _submodel(model, region, cell, keep)[0]


def _submodel(model: MorphableModel, region: str, cell: float | None,
              keep: torch.Tensor | None) -> tuple[MorphableModel, torch.Tensor]:
    """face_submodel and the old -> new vertex renumbering (V,) (-1: dropped)."""
    faces = model.faces
    if region in model.regions:
        mask = model.regions[region].bool()
        faces = faces[mask[faces].all(1)]
    if cell:
        faces = cluster_faces(model.template, faces, cell)
    mask = torch.zeros(model.num_vertices, dtype=torch.bool, device=model.device)
    mask[faces.flatten()] = True
    mask[model.landmarks] = True
    if keep is not None:
        mask[keep.to(model.device)] = True
    keep_v = torch.nonzero(mask).flatten()
    remap = torch.full((model.num_vertices,), -1, dtype=torch.long, device=model.device)
    remap[keep_v] = torch.arange(len(keep_v), device=model.device)
    sub = MorphableModel(
        name=f"{model.name}[{region}]", template=model.template[keep_v], faces=remap[faces],
        identity_basis=model.identity_basis[:, keep_v], identity_std=model.identity_std,
        expression_basis=model.expression_basis[:, keep_v], landmarks=remap[model.landmarks],
        expression_present=model.expression_present,
        albedo_mean=None if model.albedo_mean is None else model.albedo_mean[keep_v],
        albedo_basis=None if model.albedo_basis is None else model.albedo_basis[:, keep_v],
        albedo_std=model.albedo_std, regions={}, meta=dict(model.meta))
    return sub, remap


@dataclass
class PixelSurface:
    """Per-pixel albedo and unit normal (B,3,H,W) of the visible face region, and its mask (B,1,H,W)."""

    albedo: torch.Tensor
    normals: torch.Tensor
    mask: torch.Tensor

    def image(self, light: torch.Tensor) -> torch.Tensor:
        """Lambertian SH shading of every pixel (B,3,H,W), background 0."""
        b, _, h, w = self.normals.shape
        n = self.normals.permute(0, 2, 3, 1).reshape(b, h * w, 3)
        sh = shade(n, light).reshape(b, h, w, 3).permute(0, 3, 1, 2)
        return (self.albedo * sh).clamp(0.0, 1.0) * self.mask


def surface_at(model: MorphableModel, params: FaceParams, pix_to_face: torch.Tensor, camera: Camera,
               size: int) -> PixelSurface:
    """Albedo and normals at each pixel's fixed triangle, barycentrics recomputed (differentiable)."""
    b, h, w = pix_to_face.shape
    verts = model.vertices(params)                                   # (B,V,3)
    normals_v = vertex_normals(verts, model.faces)
    alb_v = model.albedo(params)
    hit = pix_to_face >= 0
    bi, yi, xi = torch.nonzero(hit, as_tuple=True)
    tri = model.faces[pix_to_face[bi, yi, xi]]                      # (N,3)
    corners = verts[bi[:, None], tri]                                # (N,3,3)
    ndc = camera.to_ndc(corners)                                     # (N,3,2)
    depth = camera.depth(corners)                                    # (N,3)
    px = torch.stack([(xi.to(verts.dtype) + 0.5) / (size / 2.0) - 1.0,
                      1.0 - (yi.to(verts.dtype) + 0.5) / (size / 2.0)], -1)      # (N,2)
    a, bb, c = ndc.unbind(1)
    den = (bb[:, 1] - c[:, 1]) * (a[:, 0] - c[:, 0]) + (c[:, 0] - bb[:, 0]) * (a[:, 1] - c[:, 1])
    den = torch.where(den.abs() < 1e-12, torch.full_like(den, 1e-12), den)
    l0 = ((bb[:, 1] - c[:, 1]) * (px[:, 0] - c[:, 0]) + (c[:, 0] - bb[:, 0]) * (px[:, 1] - c[:, 1])) / den
    l1 = ((c[:, 1] - a[:, 1]) * (px[:, 0] - c[:, 0]) + (a[:, 0] - c[:, 0]) * (px[:, 1] - c[:, 1])) / den
    bary = torch.stack([l0, l1, 1.0 - l0 - l1], -1) / depth        # perspective correction
    bary = bary / bary.sum(-1, keepdim=True)
    alb = (alb_v[bi[:, None], tri] * bary[..., None]).sum(1)
    nrm = torch.nn.functional.normalize((normals_v[bi[:, None], tri] * bary[..., None]).sum(1), dim=-1)
    out_a = verts.new_zeros(b, h, w, 3).index_put((bi, yi, xi), alb)
    out_n = verts.new_zeros(b, h, w, 3).index_put((bi, yi, xi), nrm)
    return PixelSurface(out_a.permute(0, 3, 1, 2), out_n.permute(0, 3, 1, 2), hit[:, None].to(verts.dtype))


def solve_light(surface: PixelSurface, target: torch.Tensor, ridge: float = 1e-2) -> torch.Tensor:
    """Closed-form SH light (B,9,3): least squares of albedo * basis(normal) . L = target on the mask."""
    b = surface.normals.shape[0]
    basis = irradiance_basis(surface.normals.permute(0, 2, 3, 1)).reshape(b, -1, 9)   # (B,N,9)
    m = surface.mask.reshape(b, -1, 1)
    alb = surface.albedo.permute(0, 2, 3, 1).reshape(b, -1, 3)
    tgt = target.permute(0, 2, 3, 1).reshape(b, -1, 3)
    prior = torch.zeros(9, 3, dtype=basis.dtype, device=basis.device)
    prior[0] = AMBIENT_UNIT
    n = m.sum(1).clamp_min(1.0)[:, :, None]
    eye = torch.eye(9, dtype=basis.dtype, device=basis.device)
    out = []
    for c in range(3):
        a = basis * alb[..., c:c + 1] * m
        reg = ridge * n * eye
        atb = a.transpose(1, 2) @ (tgt[..., c:c + 1] * m) + reg @ prior[:, c:c + 1]
        out.append(torch.linalg.solve(a.transpose(1, 2) @ a + reg, atb)[..., 0])
    return torch.stack(out, -1)


def colour_error(image: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute colour error (B,) over the mask (0..1 units)."""
    err = ((image - target).abs().mean(1, keepdim=True) * mask).sum((1, 2, 3))
    return err / mask.sum((1, 2, 3)).clamp_min(1.0)


class PhotometricRefiner:
    """Refines landmark-stage FaceParams against photos through a face-region renderer."""

    def __init__(self, model: MorphableModel, camera: Camera | None = None,
                 config: PhotometricConfig | None = None, landmark_set: LandmarkSet | None = None):
        self.model = model
        self.set = landmark_set
        keep = None if landmark_set is None else landmark_set.vertices
        self.sub, remap = _submodel(model, "face", 0.004, keep)
        #: the landmark set's vertices renumbered into the submodel (None: its iBUG-68 landmarks)
        self.sub_points = None if keep is None else remap[keep.to(remap.device)]
        self.camera = camera or Camera()
        self.config = config or PhotometricConfig()
        self._renderers: dict[int, Renderer] = {}

    def _depth_residual(self, params: FaceParams, pts: torch.Tensor, tz: torch.Tensor,
                        scale: torch.Tensor) -> torch.Tensor:
        """(B,N) centred depth of the set's points (vertex + face-frame offset) minus the detector's, in sigma units."""
        z = pts[..., 2]
        off = self.set.depth_offsets
        if off is not None:
            rot = euler_to_matrix(params.yaw, params.pitch, params.roll)
            z = z + torch.einsum("nc,bc->bn", off.to(pts.dtype), rot[:, 2, :].to(pts.dtype))
        # the face's depth scale is held fixed per step (a constant factor on these rows)
        kz = (1.0 / ((self.camera.distance - z.mean(1)).clamp_min(1e-4) * self.camera.tan_half_fov)).detach()
        zc = (z - z.mean(1, keepdim=True)) * kz[:, None]
        return (zc - tz.to(zc.dtype)) / scale[:, None]

    def _landmarks3d(self, params: FaceParams) -> torch.Tensor:
        """Posed landmark-set points (B,N,3) from the submodel (same vertices, far fewer to build)."""
        if self.sub_points is None:
            return self.sub.landmarks3d(params)
        return self.sub.vertices(params)[:, self.sub_points]

    def visibility(self, params: FaceParams, size: int) -> torch.Tensor:
        """Each pixel's visible triangle of the face submodel (B,H,W), -1 for none (no gradients)."""
        if size not in self._renderers:
            self._renderers[size] = Renderer(self.sub, size=size, camera=self.camera)
        with torch.no_grad():
            verts = self.sub.vertices(params.detach())
            p2f = self._renderers[size].rasterize(verts)[0][..., 0]
        return p2f  # Renderer.rasterize gives each image's own face ids (-1: background)

    def estimate_light(self, params: FaceParams, target: torch.Tensor,
                       p2f: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(light (B,9,3), mean abs colour error (B,)) for fixed geometry, without gradients."""
        size = target.shape[-1]
        p2f = self.visibility(params, size) if p2f is None else p2f
        with torch.no_grad():
            surf = surface_at(self.sub, params.detach(), p2f, self.camera, size)
            light = solve_light(surf, target, self.config.light_ridge)
            err = colour_error(surf.image(light), target, surf.mask)
        return light, err

    def refine(self, params: FaceParams, targets: dict[int, torch.Tensor], landmarks_ndc: torch.Tensor,
               weights: torch.Tensor | None = None) -> tuple[FaceParams, torch.Tensor]:
        """Adam over (pose, identity, expression, light, albedo) at each size of config.sizes.

        targets: size -> (B,3,size,size) frames in [0,1]; landmarks_ndc (B,N,2) detections of the
        refiner's landmark set (iBUG-68 without one), or (B,N,3) with MediaPipe's depth (NDC units,
        toward the camera > 0) for a dense set, fitted like the landmark stage does.
        Returns the refined params and the final mean abs colour error (B,) on the face mask.
        """
        cfg = self.config
        present = self.model.expression_present.to(params.expression.dtype)
        pair, factor = (self.set.iod, self.set.sigma_factor) if self.set is not None else ((36, 45), 1.0)
        scale = (inter_ocular(landmarks_ndc[..., :2], pair) * cfg.sigma * factor).clamp_min(1e-6)
        depth = landmarks_ndc.shape[-1] == 3
        if depth:
            tz = landmarks_ndc[..., 2] - landmarks_ndc[..., 2].mean(1, keepdim=True)
        landmarks_ndc = landmarks_ndc[..., :2]
        w_lm = torch.ones(landmarks_ndc.shape[:2]) if weights is None else weights
        cur = params.detach().clone()
        err = torch.zeros(params.batch_size)
        # pose is in degrees and metres: scale its step so Adam's unit step is sensible
        pose_scale = torch.tensor([10.0, 10.0, 10.0, 0.01, 0.01, 0.01])
        for size, steps in zip(cfg.sizes, cfg.steps):
            target = targets[size]
            p2f = self.visibility(cur, size)
            light, err = self.estimate_light(cur, target, p2f)
            cur = cur.replace(light=light)
            if steps <= 0:
                continue
            base_pose = cur.pose.detach().clone()
            var = {k: getattr(cur, k).detach().clone().requires_grad_(True)
                   for k in ("identity", "expression", "light", "albedo")}
            var["pose"] = torch.zeros_like(base_pose, requires_grad=True)
            opt = Adam([([var["pose"]], cfg.lr),
                        ([var["identity"], var["expression"], var["albedo"]], cfg.lr * 2),
                        ([var["light"]], cfg.lr * 0.5)])

            def current() -> FaceParams:
                return FaceParams(var["identity"], var["expression"] * present,
                                  base_pose + var["pose"] * pose_scale, var["light"], var["albedo"])

            for _ in range(steps):
                opt.zero_grad()
                p = current()
                surf = surface_at(self.sub, p, p2f, self.camera, size)
                diff = ((surf.image(p.light) - target) ** 2).mean(1, keepdim=True) * surf.mask
                photo = diff.sum((1, 2, 3)) / surf.mask.sum((1, 2, 3)).clamp_min(1.0)
                pts = self._landmarks3d(p)
                lm = self.camera.to_ndc(pts)
                lm_loss = (((lm - landmarks_ndc) / scale[:, None, None]).pow(2).sum(-1) * w_lm).sum(-1)
                if depth:
                    lm_loss = lm_loss + cfg.depth_weight * (self._depth_residual(p, pts, tz, scale).pow(2) * w_lm).sum(-1)
                prior = cfg.identity_prior * p.identity.pow(2).sum(-1) \
                    + cfg.expression_l2 * p.expression.pow(2).sum(-1) + cfg.albedo_prior * p.albedo.pow(2).sum(-1) \
                    + 2.0 * cfg.expression_l1 * p.expression.sum(-1)   # halved below like the rest
                loss = 0.5 * (cfg.photo_weight * photo + cfg.landmark_weight * lm_loss + prior).sum()
                loss.backward()
                opt.step()
                with torch.no_grad():
                    var["expression"].clamp_(0.0, 1.0)
            cur = current().detach()
            with torch.no_grad():
                surf = surface_at(self.sub, cur, self.visibility(cur, size), self.camera, size)
                err = colour_error(surf.image(cur.light), target, surf.mask)
        return cur, err
