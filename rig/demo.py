"""`make demo`: show what facerig does with its embedded defaults, offline, on a CPU.

Stage of the project: the morphable face model (the generator and rig come later), so the demo
renders the default 3DMM's controls -- poses, ARKit expressions, lights, identities -- to a
grid, and writes the posed mesh as GLB/OBJ.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import imageio.v3 as iio
import torch

from morphable import lighting
from morphable.export import export_mesh
from morphable.fileio import atomic_output
from morphable.formats import load_model
from morphable.render import Renderer, to_uint8

from .grid import labelled_grid

POSES = [(-30, 0, 0), (-15, 0, 0), (0, 0, 0), (15, 0, 0), (30, 0, 0), (0, 20, 0), (0, -20, 0), (0, 0, 15)]
EXPRESSIONS = [
    {}, {"jawOpen": 0.8}, {"mouthSmileLeft": 1.0, "mouthSmileRight": 1.0}, {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0},
    {"browInnerUp": 1.0}, {"mouthPucker": 1.0}, {"mouthFrownLeft": 1.0, "mouthFrownRight": 1.0}, {"cheekPuff": 1.0},
]
LIGHTS = list(lighting.LIGHT_PRESETS)


def _label(expr: dict[str, float]) -> str:
    if not expr:
        return "neutral"
    name = next(iter(expr))
    return name.replace("Left", "").replace("Right", "") if len(expr) > 1 else name


def render_controls(model, size: int = 160) -> tuple:
    """Rows of renders: poses, expressions, lights, identities. Returns (rows, row_labels, col_labels)."""
    renderer = Renderer(model, size=size)
    have = set(model.expression_names)
    exprs = [e for e in EXPRESSIONS if set(e) <= have]  # a model without a shape skips it
    front = lighting.preset("front")
    base = model.neutral_params(1).replace(light=front)
    batches = {
        "pose (yaw,pitch,roll)": ([base.with_pose(*p) for p in POSES], [f"{p[0]},{p[1]},{p[2]}" for p in POSES]),
        "ARKit expression": ([base.with_pose(yaw=10).with_expression(e) for e in exprs], [_label(e) for e in exprs]),
        "SH light preset": ([base.with_pose(yaw=10).replace(light=lighting.preset(n)) for n in LIGHTS], LIGHTS),
        "identity ~ N(0,1)": ([model.random_params(1, seed=s).replace(light=front).with_pose(yaw=10)
                               for s in range(8)], [f"seed {s}" for s in range(8)]),
    }
    rows, row_labels, col_labels = [], [], []
    for label, (params, captions) in batches.items():
        from morphable.params import FaceParams

        out = renderer(FaceParams.cat(params))
        rows.append([to_uint8(img) for img in out.image])
        row_labels.append(label)
        col_labels.append(captions)
    return rows, row_labels, col_labels


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rig.demo", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="out/demo")
    ap.add_argument("--size", type=int, default=160)
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    t0 = time.time()
    out = Path(args.out)
    model = load_model("default")
    print(f"facerig demo: default morphable model {model.name!r} ({model.num_vertices} vertices, "
          f"{model.num_identity} identity components, {len(model.expression_names)} ARKit expressions)")
    rows, row_labels, col_labels = render_controls(model, args.size)
    grid_path = out / "morph_controls.png"
    with atomic_output(grid_path) as tmp:
        iio.imwrite(tmp, labelled_grid(rows, row_labels, col_labels))
    params = model.random_params(1, seed=3).with_expression({"jawOpen": 0.4, "mouthSmileLeft": 0.6,
                                                              "mouthSmileRight": 0.6}).with_pose(yaw=20)
    written = [grid_path]
    for suffix in (".glb", ".obj"):
        path = out / f"face{suffix}"
        export_mesh(model, params, path)
        written.append(path)
    print("StyleGAN2 generator and rig: not in this build yet; the demo shows the 3D morphable model.")
    for p in written:
        print(f"  wrote {p}")
    print(f"done in {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
