"""Renderer: geometry of the maps, camera/rasterizer agreement, shading, gradients, real model."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from morphable import lighting
from morphable.arkit import expression_index
from morphable.camera import Camera
from morphable.errors import MorphableError
from morphable.model import MorphableModel
from morphable.render import Renderer, render, to_uint8

from .toy_head import DEFAULT_MODEL, RADIUS, toy_head


@pytest.fixture(scope="module")
def toy() -> MorphableModel:
    return toy_head()


def test_sphere_maps_match_geometry(toy):
    size, cam = 64, Camera()
    out = render(toy, toy.neutral_params(1), size=size)
    assert out.image.shape == (1, 3, size, size) and out.mask.shape == (1, 1, size, size)
    assert out.normals.shape == (1, 3, size, size) and out.depth.shape == (1, 1, size, size)
    assert out.pix_to_face.shape == (1, size, size) and out.bary.shape == (1, size, size, 3)
    assert out.landmarks2d.shape == (1, 68, 2)
    assert 0.0 <= float(out.image.min()) and float(out.image.max()) <= 1.0
    assert set(out.mask.unique().tolist()) == {0.0, 1.0}
    # silhouette of a sphere: a disc of radius f * tan(asin(R / D)) pixels
    r_px = cam.focal_pixels(size) * math.tan(math.asin(RADIUS / cam.distance))
    expected = math.pi * r_px ** 2 / size ** 2
    assert float(out.mask.mean()) == pytest.approx(expected, rel=0.04)
    # front of the sphere at the image centre: depth D - R, normal toward the camera
    c = size // 2
    assert float(out.depth[0, 0, c, c]) == pytest.approx(cam.distance - RADIUS, abs=2e-3)
    assert out.normals[0, :, c, c].tolist() == pytest.approx([0.0, 0.0, 1.0], abs=0.03)
    bg = out.mask[0, 0] == 0
    assert float(out.depth[0, 0][bg].abs().max()) == 0.0 and float(out.normals[0][:, bg].abs().max()) == 0.0
    assert bool((out.pix_to_face[0][bg] == -1).all()) and bool((out.pix_to_face[0][~bg] >= 0).all())
    unit = out.normals[0].norm(dim=0)[~bg]
    assert torch.allclose(unit, torch.ones_like(unit), atol=1e-4)


def test_project_agrees_with_rasterizer(toy):
    """Each front-facing vertex's projected pixel is covered by a face that contains it."""
    size = 128
    r = Renderer(toy, size)
    params = toy.random_params(1, seed=3).with_pose(yaw=15, pitch=-10, roll=5)
    out = r(params)
    verts = out.vertices[0]
    px = Camera().project(verts[None], size)[0]
    normals = torch.nn.functional.normalize(verts, dim=-1)  # near-sphere: radial normals
    toward = (Camera().distance * torch.tensor([0.0, 0.0, 1.0]) - verts)
    facing = (normals * torch.nn.functional.normalize(toward, dim=-1)).sum(-1) > 0.3
    faces = toy.faces
    checked = 0
    for vi in torch.nonzero(facing).flatten().tolist():
        col, row = (int(c) for c in px[vi].floor().tolist())
        if not (0 <= col < size and 0 <= row < size):
            continue
        f = int(out.pix_to_face[0, row, col])
        assert f >= 0 and vi in faces[f].tolist(), f"vertex {vi} projects to pixel {(col, row)} of face {f}"
        checked += 1
    assert checked > 100


def test_camera_matches_pytorch3d_camera():
    cam = Camera(fov_deg=15.0, distance=1.0)
    pts = torch.tensor([[[0.05, 0.03, 0.02], [-0.08, 0.1, -0.05], [0.0, 0.0, 0.0]]])
    p3d = cam.pytorch3d(1).transform_points_screen(pts, image_size=((96, 96),))[..., :2]
    assert torch.allclose(cam.project(pts, 96), p3d, atol=1e-3)
    assert cam.project(pts, 96)[0, 2].tolist() == [48.0, 48.0]
    # +x to image right, +y up (smaller row)
    assert float(cam.project(pts, 96)[0, 0, 0]) > 48 and float(cam.project(pts, 96)[0, 0, 1]) < 48
    with pytest.raises(MorphableError):
        Camera(distance=0.0)


def test_tiled_rasterization_equals_naive(toy):
    params = toy.random_params(2, seed=1).with_pose(yaw=25, pitch=10)
    tiled = Renderer(toy, 96)
    assert tiled.tile < 96
    naive = Renderer(toy, 96)
    naive.tile = naive.size
    a, b = tiled(params), naive(params)
    assert torch.equal(a.pix_to_face, b.pix_to_face)
    assert torch.allclose(a.bary, b.bary, atol=2e-4)  # float rounding of the tile rescale
    assert torch.allclose(a.image, b.image, atol=2e-4) and torch.allclose(a.depth, b.depth, atol=1e-5)
    # with gradients on, barycentrics and depth are recomputed by autograd-able ops: same values
    c = tiled(params.map(lambda t: t.clone().requires_grad_(True)))
    assert torch.equal(c.pix_to_face, b.pix_to_face)
    assert torch.allclose(c.bary, b.bary, atol=2e-4) and torch.allclose(c.depth, b.depth, atol=1e-5)
    assert torch.allclose(c.image, b.image, atol=2e-4)


def test_background_batch_and_uint8(toy):
    params = toy.random_params(3, seed=2)
    out = Renderer(toy, 64, background=(0.2, 0.4, 1.0))(params)
    assert out.image.shape[0] == 3
    bg = out.mask[:, 0] == 0
    assert torch.allclose(out.image.permute(0, 2, 3, 1)[bg], torch.tensor([0.2, 0.4, 1.0]))
    single = Renderer(toy, 64, background=(0.2, 0.4, 1.0))(params[1])
    assert torch.allclose(single.image[0], out.image[1], atol=1e-6)
    # face ids are per image (not offset across the batch), for every batch item
    assert torch.equal(single.pix_to_face[0], out.pix_to_face[1])
    assert torch.equal(single.bary[0], out.bary[1])
    img = to_uint8(out.image[:1])
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    with pytest.raises(MorphableError):
        Renderer(toy, 64, background=(0.1, 0.2))


def test_shading_follows_light_and_albedo(toy):
    r = Renderer(toy, 64)
    p = toy.neutral_params(1)
    flat = torch.full((1, toy.num_vertices, 3), 0.5)
    amb = r(p, albedo=flat)
    inside = amb.mask[0, 0] > 0
    assert torch.allclose(amb.image[0][:, inside], torch.full_like(amb.image[0][:, inside], 0.5), atol=1e-5)
    left = r(p.replace(light=lighting.preset("left")), albedo=flat).image[0].mean(0)
    half = r.size // 2
    assert float(left[:, :half][inside[:, :half]].mean()) > float(left[:, half:][inside[:, half:]].mean()) + 0.1
    with pytest.raises(MorphableError):
        r(p, albedo=torch.ones(1, 5, 3))


def _loss(out, weights):
    return (out.image * weights).sum() + 0.01 * out.landmarks2d.pow(2).sum()


def test_gradients_reach_every_block(toy):
    r = Renderer(toy, 64)
    p = toy.random_params(2, seed=4).with_pose(yaw=10, pitch=5)
    p = p.with_expression({"jawOpen": 0.3}).replace(light=lighting.preset("left", batch=2),
                                                    albedo=torch.full((2, 2), 0.3))
    p = p.map(lambda t: t.detach().requires_grad_(True))
    weights = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    _loss(r(p), weights).backward()
    for name in ("identity", "expression", "pose", "light", "albedo"):
        g = getattr(p, name).grad
        assert g is not None and bool(torch.isfinite(g).all()), name
        assert float(g.abs().sum()) > 0, name
    assert float(p.expression.grad[:, expression_index("jawOpen")].abs().min()) > 0
    assert float(p.pose.grad[:, :3].abs().min()) > 0 and float(p.pose.grad[:, 3:].abs().min()) > 0


def _fd_check(toy, block: str, index: tuple, eps: float):
    r = Renderer(toy, 64)
    base = toy.random_params(1, seed=5).with_pose(yaw=8).replace(light=lighting.preset("right"))
    weights = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    # keep away from the silhouette, where the hard rasterizer has no gradient
    interior = -torch.nn.functional.max_pool2d(-r(base).mask, 7, stride=1, padding=3)
    weights = weights * interior
    p = base.map(lambda t: t.detach().clone().requires_grad_(True))
    _loss(r(p), weights).backward()
    analytic = float(getattr(p, block).grad[index])
    vals = []
    for sign in (1, -1):
        q = base.clone()
        getattr(q, block)[index] += sign * eps
        with torch.no_grad():
            vals.append(float(_loss(r(q), weights)))
    numeric = (vals[0] - vals[1]) / (2 * eps)
    assert analytic == pytest.approx(numeric, rel=0.05, abs=1e-3 * abs(numeric) + 1e-4)


def test_finite_difference_light(toy):
    _fd_check(toy, "light", (0, 1, 0), 0.05)


def test_finite_difference_yaw(toy):
    _fd_check(toy, "pose", (0, 0), 0.25)


def test_wrong_identity_size_is_an_error(toy):
    p = toy.neutral_params(1).replace(identity=torch.zeros(1, 7))
    with pytest.raises(MorphableError, match="identity"):
        Renderer(toy, 32)(p)


# ---- the real default model ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def default_renders():
    if not DEFAULT_MODEL.exists():
        pytest.skip(f"default model {DEFAULT_MODEL} not built yet")
    model = MorphableModel.load(DEFAULT_MODEL)
    p = model.neutral_params(3)
    p.pose[1, 0] = 20.0
    p.light[2] = lighting.preset("left")[0]
    return Renderer(model, 128)(p)


def test_default_model_frontal_fills_frame(default_renders):
    frac = float(default_renders.mask[0].mean())
    assert 0.2 < frac < 0.8
    lm = default_renders.landmarks2d[0]
    assert bool(((lm > 0) & (lm < 128)).all())
    # nose tip (30) near the vertical centre line, below the eyes (36..47) in the image
    assert abs(float(lm[30, 0]) - 64) < 4
    assert float(lm[30, 1]) > float(lm[36:48, 1].mean())


def test_default_model_yaw_moves_nose_right(default_renders):
    nose_front, nose_yaw = default_renders.landmarks2d[0, 30], default_renders.landmarks2d[1, 30]
    assert float(nose_yaw[0]) > float(nose_front[0]) + 5


def test_default_model_left_light_brightens_left(default_renders):
    img, mask = default_renders.image[2].mean(0), default_renders.mask[2, 0] > 0
    centre = int(round(float(default_renders.landmarks2d[2, 30, 0])))
    left = img[:, :centre][mask[:, :centre]].mean()
    right = img[:, centre:][mask[:, centre:]].mean()
    assert float(left) > float(right) + 0.05
