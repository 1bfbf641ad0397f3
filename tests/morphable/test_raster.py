"""morphable.raster: the compiled z-buffer picks pytorch3d's triangle, depth and barycentrics per pixel."""
from __future__ import annotations

from morphable.raster import rasterize

S = 128


def test_raster_matches_pytorch3d(model, renderer):
    p = model.random_params(1, seed=1).with_pose(yaw=25, pitch=-5).with_expression({"jawOpen": 0.5})
    v = model.vertices(p)
    p2f, zbuf, bary = renderer.rasterize(v)
    xy = renderer.camera.project(v, S)[0]
    r = rasterize(xy, renderer.camera.depth(v)[0], model.faces.long(), S, cull_backfaces=False)
    ref = p2f[0, ..., 0]
    assert bool((r.face == ref).all())
    hit = ref >= 0
    assert float((r.depth[hit] - zbuf[0, ..., 0][hit]).abs().max()) < 1e-4
    assert float((r.bary[hit] - bary[0, :, :, 0][hit]).abs().max()) < 1e-3
    culled = rasterize(xy, renderer.camera.depth(v)[0], model.faces.long(), S)
    assert float((culled.face == ref).float().mean()) > 0.995   # back faces seen through holes only
