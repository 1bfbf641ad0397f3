"""Render benchmark: seconds per image of morphable.render at 128/256 px, batch 1/16, fwd and fwd+bwd.

    python -m bench.bench_render [--model default|PATH] [--repeats 3] --out docs/bench_render.json

Times are medians (and minima) over repeats after one warm-up call, divided by the batch size
(bench.common.time_call). The machine may be shared: the JSON records bench.common.machine_info,
load average included, before and after, so numbers can be judged.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from morphable.errors import MorphableError
from morphable.fileio import atomic_output
from morphable.formats import load_model
from morphable.model import MorphableModel
from morphable.params import FaceParams
from morphable.render import Renderer

from .common import machine_info, time_call


def bench_params(model: MorphableModel, batch: int) -> FaceParams:
    """A varied, reproducible batch: random identities, a little expression and head turn."""
    p = model.random_params(batch, seed=0)
    g = torch.Generator().manual_seed(1)
    pose = p.pose.clone()
    pose[:, :3] = (torch.rand(batch, 3, generator=g) - 0.5) * torch.tensor([40.0, 20.0, 10.0])
    expr = torch.rand(batch, 52, generator=g) * 0.3 * model.expression_present.float()
    return p.replace(pose=pose, expression=expr)


def time_case(renderer: Renderer, params: FaceParams, backward: bool, repeats: int) -> tuple[float, float]:
    """(median, min) seconds per image of one configuration, after one warm-up call."""
    def once() -> None:
        p = params.map(lambda t: t.detach().clone().requires_grad_(backward))
        if backward:
            out = renderer(p)
            (out.image.mean() + 1e-3 * out.landmarks2d.mean()).backward()
        else:
            with torch.no_grad():
                renderer(p)

    median, best = time_call(once, repeats=repeats, warmup=1)
    return median / params.batch_size, best / params.batch_size


def run(model: MorphableModel, sizes=(128, 256), batches=(1, 16), repeats: int = 3) -> list[dict]:
    """All configurations, plus pytorch3d's un-tiled kernel at 128 px batch 1 for reference."""
    rows = []
    cases = [(s, b, bwd, "tiled") for s in sizes for b in batches for bwd in (False, True)]
    cases += [(sizes[0], 1, bwd, "naive") for bwd in (False, True)]
    for size, batch, backward, raster in cases:
        renderer = Renderer(model, size)
        if raster == "naive":
            renderer.tile = renderer.size
        med, low = time_case(renderer, bench_params(model, batch), backward, repeats)
        rows.append({"size": size, "batch": batch, "mode": "fwd+bwd" if backward else "fwd",
                     "rasterizer": f"{raster} (tile {renderer.tile})", "ms_per_image": round(med * 1e3, 2),
                     "ms_per_image_min": round(low * 1e3, 2)})
        print(f"{size:5d} {batch:6d} {rows[-1]['mode']:>8} {rows[-1]['rasterizer']:>18} "
              f"{med * 1e3:10.1f} {low * 1e3:10.1f}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default", help="'default' or any model file facerig reads")
    ap.add_argument("--out", default="docs/bench_render.json")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    try:
        model = load_model(args.model)
    except MorphableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    before = machine_info()
    print(f"model {model.name}: {model.num_vertices} vertices, {model.num_faces} triangles; "
          f"torch {before['torch']}, {before['threads']} threads")
    print(f"{'size':>5} {'batch':>6} {'mode':>8} {'rasterizer':>18} {'ms/image':>10} {'min':>10}")
    start = time.perf_counter()
    rows = run(model, repeats=args.repeats)
    result = {
        "benchmark": "morphable.render", "model": args.model, "model_name": model.name,
        "vertices": model.num_vertices, "triangles": model.num_faces, "repeats": args.repeats,
        "machine_before": before, "machine_after": machine_info(),
        "total_seconds": round(time.perf_counter() - start, 1), "rows": rows,
    }
    with atomic_output(args.out) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out} ({result['total_seconds']} s; load average {result['machine_after']['loadavg'][0]:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
