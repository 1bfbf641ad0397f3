"""The 3DMM flow between two FaceParams of one fitted face: where each target pixel's surface point was.

The target mesh is rasterized at a working size S in the fit's frame; each covered pixel's
surface point (its triangle and perspective-correct barycentrics) is placed on the source mesh
and projected, which gives a backward map target pixel -> source pixel. Only triangles of the
face, eye and mouth regions give fixed values (the scalp, ears and neck of a 3DMM do not match
a photo's hair and outline; they printed cut-out edges). A point hidden in the source (a
z-buffer test against the source rasterization) is disoccluded: inside the mouth the mouth
fill paints it (rig.photo.mouth), elsewhere the mirror fill (rig.photo.fill) looks it up on
the face's other side. Disoccluded pixels never give fixed values: the smooth extension
(rig.photo.extend) runs over them, and the fills are painted over the warp as layers (a
mirrored point's displacement is large, and as a fixed value it dragged the hair with it).

Units: displacements are in frame pixels at S (Camera.project convention, pixel centres at
i + 0.5); the photo pixel of frame coordinate u is x0 + u * side / S (frame = [x0, y0, side]).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

import numpy as np
import torch

from morphable.camera import Camera
from morphable.model import MorphableModel
from morphable.params import FaceParams
from morphable.pose import euler_to_matrix
from morphable.raster import Raster, rasterize

from .head import HeadProxy, JawPlane, head_proxy
from .soft import box_max, erode

#: regions whose triangles give fixed flow values
FLOW_REGIONS = ("face", "eyes", "mouth")
#: fixed values stop this many px (at S = 128, scaled with S) inside the face region's outline:
#: the fitted outline rarely sits exactly on the photo's, and a fixed band there printed a seam
OUTLINE_MARGIN_PX = 2.0
#: ... and this many when the pose moves: the head proxy (rig.photo.head) carries the wider band, its fall to the
#: head centre's motion at the silhouette spread over it (at 2 px the cheek's squeeze against the far side's
#: outline followed the fixed region's steps at S: a jagged jaw and temple at yaw -23, KatieHill)
HEAD_MARGIN_PX = 4.0
#: skin within this distance of an eyeball's centre counts as eyelid (the stretch fill's area)
LID_RADIUS_M = 0.022
#: a projected source point counts as visible when it is at most this far (metres) behind the
#: farthest source depth in its 3x3 pixel neighbourhood (lenient at silhouettes)
VISIBILITY_TOLERANCE_M = 0.004


@dataclass(eq=False)
class MeshView:
    """One FaceParams row seen by the camera at size S: posed vertices, pixels, depth, raster.

    What only some renders read (the normals; the far depth and interior a source view is asked
    for) is computed on first use: a target view of a plain render never needs them."""

    verts: torch.Tensor    # (V,3)
    xy: torch.Tensor       # (V,2) frame px at S
    depth: torch.Tensor    # (V,)
    raster: Raster
    faces: torch.Tensor    # (F,3) long: the mesh's triangles
    flow_tri: torch.Tensor  # (F,) bool: the triangles giving fixed flow values (FlowBuilder.flow_tri)
    pose: torch.Tensor | None = None   # (6,) yaw, pitch, roll (deg), translation: the head proxy's rigid motion

    @cached_property
    def rotation(self) -> torch.Tensor:
        """(3,3) the head's rotation: posed = rotation @ shape + translation."""
        return euler_to_matrix(self.pose[None, 0], self.pose[None, 1], self.pose[None, 2])[0]

    @property
    def translation(self) -> torch.Tensor:
        return self.pose[3:]

    @cached_property
    def far_depth(self) -> torch.Tensor:
        """(S,S) 3x3 max of the z-buffer (+inf on background)."""
        r = self.raster
        return box_max(torch.where(r.hit, r.depth, torch.full_like(r.depth, float("inf"))), 3)

    @cached_property
    def normals(self) -> torch.Tensor:
        """(V,3) unit vertex normals (camera space)."""
        return vertex_normals(self.verts, self.faces)

    @cached_property
    def interior(self) -> torch.Tensor:
        """(S,S) bool: face/eye/mouth pixels well inside their outline."""
        r = self.raster
        size = r.face.shape[-1]
        inner = r.hit & self.flow_tri[r.face.clamp_min(0)]
        return erode(inner, 2 * int(round(2 * OUTLINE_MARGIN_PX * size / 128)) + 1)


@dataclass(eq=False)
class Flow:
    """A backward map at S: source position of each target pixel where fixed, and per-pixel masks."""

    disp: torch.Tensor        # (2,S,S) source minus target position (frame px at S), 0 where not known
    known: torch.Tensor       # (S,S) bool: fixed flow values (surface point visible in the source)
    mouth_fill: torch.Tensor  # (S,S) bool: mouth pixels the source never showed
    mirror_disp: torch.Tensor  # (2,S,S) like disp, to the mirrored surface point (where `mirrored`)
    mirrored: torch.Tensor    # (S,S) bool: disoccluded pixels whose mirror point the source shows
    holes: torch.Tensor       # (S,S) bool: disoccluded pixels left to the smooth extension
    skin: torch.Tensor        # (S,S) bool: target face-skin pixels (for relighting)
    #: (2,S,S) the same displacement on the rest of the head above the chin (where `guide`); when the pose
    #: moves, the head proxy's displacement (`head.disp`)
    guide_disp: torch.Tensor
    guide: torch.Tensor       # (S,S) bool: the rest of the head above the chin (a coarse-level hint)
    lids: torch.Tensor        # (S,S) bool: target pixels on the skin around the eyes (eyelids)
    target: MeshView
    #: makes src_normals when first asked (only a relight with pose reads them)
    normals_of: Callable[[], torch.Tensor] = field(repr=False, default=None)
    #: the head proxy (rig.photo.head; rig.photo.extend follows it softly at every level); None when the
    #: pose does not move
    head: HeadProxy | None = None

    @cached_property
    def src_normals(self) -> torch.Tensor:
        """(S,S,3) source normal at each known pixel's surface point (0 elsewhere)."""
        return self.normals_of()


def pose_moves(source: MeshView, target: MeshView) -> bool:
    """Whether the head's pose differs between the views (both posed): the head proxy's case."""
    return source.pose is not None and target.pose is not None and not torch.equal(source.pose, target.pose)


def vertex_normals(verts: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals (V,3) of one mesh."""
    v0, v1, v2 = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    fn = torch.cross(v1 - v0, v2 - v0, dim=-1)
    n = torch.zeros_like(verts).index_add_(0, faces.reshape(-1), fn.repeat_interleave(3, 0))
    return torch.nn.functional.normalize(n, dim=-1)


def mirror_vertices(template: torch.Tensor) -> torch.Tensor:
    """Index (V,) of each vertex's left/right mirror partner (nearest vertex to (-x, y, z))."""
    from scipy.spatial import cKDTree

    t = template.detach().cpu().numpy().astype(np.float64)
    _, idx = cKDTree(t).query(t * np.array([-1.0, 1.0, 1.0]))
    return torch.as_tensor(idx, dtype=torch.long)


class FlowBuilder:
    """Flows for one model at working size S; keeps the region masks and mirror map."""

    def __init__(self, model: MorphableModel, size: int = 128, camera: Camera | None = None):
        self.model = model.to(dtype=torch.float32)
        self.size = int(size)
        self.camera = camera or Camera()
        self.faces = self.model.faces.long()
        v_flow = torch.zeros(self.model.num_vertices, dtype=torch.bool)
        for name in FLOW_REGIONS:
            if name in self.model.regions:
                v_flow |= self.model.regions[name].bool()
        self.flow_tri = v_flow[self.faces].all(1)
        self.mouth_tri = self._region_tri("mouth")
        self.skin_tri = self._region_tri("face")
        # scalp, ears and the back of the head (not the neck): a coarse hint for hair and outline
        chin_y = self.model.template[self.model.landmarks[8], 1]
        above_chin = (self.model.template[:, 1] > chin_y)[self.faces].all(1)
        self.guide_tri = above_chin & ~self.flow_tri
        # some of the head's vertices away from the face (how far a rigid motion moves the head)
        self.head_vertices = torch.nonzero((self.model.template[:, 1] > chin_y) & ~v_flow).flatten()[::16]
        lm = self.model.template[self.model.landmarks]
        self.jaw = JawPlane.of(lm[0], lm[16], lm[8])
        self.lid_tri = self._around_eyes(LID_RADIUS_M)
        self.mirror = mirror_vertices(self.model.template)

    def _around_eyes(self, radius: float) -> torch.Tensor:
        """Triangles (F,) of face skin within `radius` (metres) of an eyeball's centre (template)."""
        if "eyes" not in self.model.regions or "face" not in self.model.regions:
            return torch.zeros(self.faces.shape[0], dtype=torch.bool)
        t = self.model.template
        eyes = t[self.model.regions["eyes"].bool()]
        centres = torch.stack([eyes[eyes[:, 0] < 0].mean(0), eyes[eyes[:, 0] >= 0].mean(0)])
        near = torch.cdist(t, centres).amin(1) < radius
        return (near & self.model.regions["face"].bool())[self.faces].all(1)

    def _region_tri(self, name: str) -> torch.Tensor:
        if name not in self.model.regions:
            return torch.zeros(self.faces.shape[0], dtype=torch.bool)
        return self.model.regions[name].bool()[self.faces].all(1)

    @torch.no_grad()
    def view(self, params: FaceParams) -> MeshView:
        """Pose and rasterize the first row of `params`."""
        p = params[0].to(dtype=torch.float32)
        verts = self.model.vertices(p)[0]
        xy = self.camera.project(verts[None], self.size)[0]
        depth = self.camera.depth(verts)
        return MeshView(verts, xy, depth, rasterize(xy, depth, self.faces, self.size), self.faces, self.flow_tri,
                        p.pose[0].clone())

    def surface_points(self, view: MeshView, face: torch.Tensor, bary: torch.Tensor,
                       index: torch.Tensor | None = None) -> torch.Tensor:
        """3D points (P,3) on `view`'s mesh at triangles `face` (P,) and barycentrics (P,3).

        `index` (V,) remaps the triangle's vertices first (the mirror map)."""
        tri = self.faces[face]
        if index is not None:
            tri = index[tri]
        return (view.verts[tri] * bary[..., None]).sum(1)

    def visible(self, view: MeshView, points: torch.Tensor, interior: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Frame px (P,2) of 3D points in `view`, and whether the source z-buffer shows them.

        `interior`: also require them well inside the view's face outline (the mirror fill: near the
        outline the photo often shows hair or background where the fit puts cheek)."""
        uv = self.camera.project(points[None], self.size)[0]
        d = self.camera.depth(points)
        col = uv[:, 0].floor().long().clamp(0, self.size - 1)
        row = uv[:, 1].floor().long().clamp(0, self.size - 1)
        inside = (uv >= 0).all(1) & (uv < self.size).all(1)
        ok = inside & (d <= view.far_depth[row, col] + VISIBILITY_TOLERANCE_M)
        if interior:
            return uv, ok & view.interior[row, col]
        return uv, ok | ~inside

    @torch.no_grad()
    def flow(self, source: MeshView, target: FaceParams | MeshView, mirror: bool = True) -> Flow:
        """Backward flow from `target` (params or a view) to the `source` view."""
        tv = target if isinstance(target, MeshView) else self.view(target)
        s = self.size
        r = tv.raster
        hit = r.hit
        face = r.face.clamp_min(0)
        fixed = hit & self.flow_tri[face]
        margin = int(round((HEAD_MARGIN_PX if pose_moves(source, tv) else OUTLINE_MARGIN_PX) * s / 128))
        if margin > 0:   # erode the fixed region (its outline only; holes inside stay)
            fixed = fixed & erode(fixed, 2 * margin + 1)
        head_free = ~fixed
        rows, cols = torch.nonzero(fixed, as_tuple=True)
        f, b = face[rows, cols], r.bary[rows, cols]
        uv, vis = self.visible(source, self.surface_points(source, f, b))
        centre = torch.stack([cols.float() + 0.5, rows.float() + 0.5], -1)
        disp = torch.zeros(2, s, s)
        known = torch.zeros(s, s, dtype=torch.bool)
        mouth_fill = torch.zeros(s, s, dtype=torch.bool)
        mirrored = torch.zeros(s, s, dtype=torch.bool)
        mirror_disp = torch.zeros(2, s, s)
        holes = torch.zeros(s, s, dtype=torch.bool)
        kr, kc = rows[vis], cols[vis]
        disp[:, kr, kc] = (uv[vis] - centre[vis]).T
        known[kr, kc] = True

        def src_normals() -> torch.Tensor:   # only a relight with pose asks (Flow.src_normals)
            src_n = torch.zeros(s, s, 3)
            n = (source.normals[self.faces[f[vis]]] * b[vis][..., None]).sum(1)
            src_n[kr, kc] = torch.nn.functional.normalize(n, dim=-1)
            return src_n

        hidden = ~vis
        in_mouth = hidden & self.mouth_tri[f]
        mouth_fill[rows[in_mouth], cols[in_mouth]] = True
        rest = hidden & ~in_mouth
        if mirror and bool(rest.any()):
            uv_m, vis_m = self.visible(source, self.surface_points(source, f[rest], b[rest], self.mirror),
                                        interior=True)
            rr, cc = rows[rest], cols[rest]
            mirror_disp[:, rr[vis_m], cc[vis_m]] = (uv_m[vis_m] - centre[rest][vis_m]).T
            mirrored[rr[vis_m], cc[vis_m]] = True
            holes[rr[~vis_m], cc[~vis_m]] = True
        else:
            holes[rows[rest], cols[rest]] = True
        skin = hit & self.skin_tri[face]
        guide = hit & self.guide_tri[face]
        proxy = self.head(source, tv, head_free)
        if proxy is not None:   # the proxy's displacement is the hint (the mesh's own flow there is not needed)
            guide_disp = proxy.disp
        else:
            guide_disp = torch.zeros(2, s, s)
            gr, gc = torch.nonzero(guide, as_tuple=True)
            if len(gr):
                pts = self.surface_points(source, face[gr, gc], r.bary[gr, gc])
                guv = self.camera.project(pts[None], s)[0]
                guide_disp[:, gr, gc] = (guv - torch.stack([gc.float() + 0.5, gr.float() + 0.5], -1)).T
        return Flow(disp, known, mouth_fill, mirror_disp, mirrored, holes, skin, guide_disp, guide,
                    hit & self.lid_tri[face], tv, src_normals, proxy)

    def head(self, source: MeshView, target: MeshView, free: torch.Tensor) -> HeadProxy | None:
        """The head proxy (rig.photo.head) from `target` to `source` on the `free` pixels; None where the pose
        does not move (or a view has no pose)."""
        if not pose_moves(source, target):
            return None
        r = target.raster
        face = r.face.clamp_min(0)

        def mesh_flow(rows: torch.Tensor, cols: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            f, b = face[rows, cols], r.bary[rows, cols]
            uv = self.camera.project(self.surface_points(source, f, b)[None], self.size)[0]
            return uv, (self.surface_points(target, f, b) - target.translation) @ target.rotation

        band = free & r.hit & self.skin_tri[face]
        proxy = head_proxy(self.camera, self.size, r.hit, r.depth, free, band, mesh_flow,
                           (source.rotation, source.translation), (target.rotation, target.translation), self.jaw,
                           target.verts[self.head_vertices])
        return proxy if bool((proxy.weight > 0).any()) else None

    def pixel_normals(self, view: MeshView) -> torch.Tensor:
        """Camera-space unit normals (S,S,3) of the view's covered pixels (0 elsewhere)."""
        n = view.normals
        r = view.raster
        tri = self.faces[r.face.clamp_min(0)]                # (S,S,3)
        out = (n[tri] * r.bary[..., None]).sum(-2)
        return torch.nn.functional.normalize(out, dim=-1) * r.hit[..., None]

    def pixel_colours(self, view: MeshView, light: torch.Tensor, params: FaceParams | None = None) -> torch.Tensor:
        """The model's albedo (of `params`, else the mean) x SH shading (3,S,S) under `light` (9,3)."""
        from morphable.lighting import shade

        n = view.normals
        p = self.model.neutral_params(1) if params is None else params[0].to(dtype=torch.float32)
        col = self.model.albedo(p)[0] * shade(n[None], light[None].float())[0]
        r = view.raster
        tri = self.faces[r.face.clamp_min(0)]
        out = (col[tri] * r.bary[..., None]).sum(-2) * r.hit[..., None]
        return out.permute(2, 0, 1).clamp(0.0, 1.0)
