"""The compiled rasterizer (morphable.raster) against pytorch3d's CPU rasterizer, and the app's 3DMM image.

    python -m bench.bench_raster [--repeats 20] [--threads 1] --out docs/bench_raster.json

For the default 3DMM's head (4.8k vertices, 9.4k triangles) at 128 / 256 / 512 px, batch 1, no
gradients: morphable.raster.rasterize with and without back-face culling, morphable.render's
Renderer.rasterize (pytorch3d, what the differentiable renderer uses), and the whole bare-3DMM
image the app draws per slider step (rig.engine.morph.MorphEngine.image: vertices, SH shading,
raster, interpolation). Medians of `repeats` calls after one warm-up, in one run, with the
ratios to pytorch3d computed from that run. Also checks that both rasterizers pick the same
triangle per pixel (the agreement fraction is recorded).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from .common import machine_info, time_call, write_result


def measure(repeats: int, sizes=(128, 256, 512)) -> dict:
    from morphable.formats import load_model
    from morphable.render import Renderer
    from rig.engine.morph import MorphEngine
    from morphable.raster import rasterize

    model = load_model("default")
    params = model.random_params(1, seed=1).with_pose(yaw=20, pitch=-5).with_expression({"jawOpen": 0.4})
    faces = model.faces.long()
    rows = {}
    with torch.no_grad():
        verts = model.vertices(params)
        for size in sizes:
            renderer = Renderer(model, size)
            xy, depth = renderer.camera.project(verts, size)[0], renderer.camera.depth(verts)[0]
            src = MorphEngine(model, 1, size)
            target = src.target(src.controls().with_values(yaw=20, jawOpen=0.4))
            ref = renderer.rasterize(verts)[0][0, ..., 0]
            mine = rasterize(xy, depth, faces, size, cull_backfaces=False).face
            cases = {
                "raster": lambda: rasterize(xy, depth, faces, size, cull_backfaces=False),
                "raster_culled": lambda: rasterize(xy, depth, faces, size),
                "pytorch3d": lambda: renderer.rasterize(verts),
                "morph_image": lambda: src.image(target),
            }
            ms = {name: 1000 * time_call(fn, repeats=repeats, warmup=1)[0] for name, fn in cases.items()}
            rows[str(size)] = {**{f"{k}_ms": round(v, 3) for k, v in ms.items()},
                               "pytorch3d_over_raster": round(ms["pytorch3d"] / ms["raster"], 1),
                               "same_triangle_fraction": float((mine == ref).float().mean())}
            print(f"{size:4d} px: raster {ms['raster']:.2f} ms (culled {ms['raster_culled']:.2f}), pytorch3d "
                  f"{ms['pytorch3d']:.1f} ms ({rows[str(size)]['pytorch3d_over_raster']}x), 3DMM image "
                  f"{ms['morph_image']:.2f} ms, same triangle {rows[str(size)]['same_triangle_fraction']:.5f}",
                  flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="docs/bench_raster.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    before = machine_info()
    rows = measure(args.repeats)
    write_result(Path(args.out), {"benchmark": "rasterizer", "repeats": args.repeats, "threads": args.threads,
                                  "machine_before": before, "machine_after": machine_info(), "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
