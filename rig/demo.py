"""`make demo`: show what facerig does with its embedded defaults, offline, on a CPU.

Writes into out/demo/: first a real portrait (NASA's public-domain astronaut photo, shipped in
scikit-image's wheel; or PHOTO=...) through the photo engine: an edit grid, one full-size edit, a
keyframed performance (a smile, a blink, a head turn) and, with --reenact, a reenactment by a
rendered 3DMM clip (rig.photo_demo); then the 3D morphable model's controls. With --generated
(`make demo FULL=1` passes both), the generated faces of the best rig bundle too: an edit grid (seeds x controls), a reenactment MP4 driven by a clip the
demo renders itself from known 3DMM parameters, an animation MP4 from keyframed tracks, the
animated .glb (3DMM head with 52 ARKit morph targets) and the tracks as JSON and CSV.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from morphable import lighting
from morphable.export import export_mesh
from morphable.formats import load_model

from .frames import labelled_grid, upscale
from .outputs import Outputs
from .provenance.label import labeller_for

ROOT = Path(__file__).resolve().parents[1]
#: bundles in order of preference: the StyleGAN2 trained on UTKFace, then the DCGAN backend
BUNDLES = (("StyleGAN2 128 px (UTKFace)", ROOT / "assets/rig/utkface128"),
           ("DCGAN 64 px (gan-face-generate, DigiFace-1M)", ROOT / "assets/rig/dcgan64"))

POSES = [(-30, 0, 0), (-15, 0, 0), (0, 0, 0), (15, 0, 0), (30, 0, 0), (0, 20, 0), (0, -20, 0), (0, 0, 15)]
EXPRESSIONS = [
    {}, {"jawOpen": 0.8}, {"mouthSmileLeft": 1.0, "mouthSmileRight": 1.0}, {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0},
    {"browInnerUp": 1.0}, {"mouthPucker": 1.0}, {"mouthFrownLeft": 1.0, "mouthFrownRight": 1.0}, {"cheekPuff": 1.0},
]
LIGHTS = list(lighting.LIGHT_PRESETS)
#: the edit grid's columns: (caption, FaceRig.edit keyword arguments)
EDITS = [
    ("original", {}), ("yaw -25", {"yaw": -25}), ("yaw +25", {"yaw": 25}), ("pitch +15", {"pitch": 15}),
    ("jawOpen .8", {"expression": {"jawOpen": 0.8}}),
    ("smile", {"expression": {"mouthSmileLeft": 1.0, "mouthSmileRight": 1.0}}),
    ("blink", {"expression": {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}}), ("light left", {"light": "left"}),
]


def _label(expr: dict[str, float]) -> str:
    if not expr:
        return "neutral"
    name = next(iter(expr))
    return name.replace("Left", "").replace("Right", "") if len(expr) > 1 else name


def render_controls(model, size: int = 160) -> tuple:
    """Rows of renders: poses, expressions, lights, identities. Returns (rows, row_labels, col_labels)."""
    # rig.engine.morph.MorphEngine draws the Renderer's image with a vectorised z-buffer
    # (tests/rig/engine/test_engines.py compares them), several times faster than pytorch3d's CPU kernel
    from .engine.morph import MorphEngine

    draw = MorphEngine(model, size=size)
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
        rows.append([draw.image(p)[0] for p in params])
        row_labels.append(label)
        col_labels.append(captions)
    return rows, row_labels, col_labels


def find_bundle() -> tuple[str, Path] | None:
    for name, path in BUNDLES:
        if (path / "manifest.json").exists():
            return name, path
    return None


def edit_grid(rig, seeds: list[int], size: int) -> np.ndarray:
    """Seeds (rows) x EDITS (columns), upscaled to `size`."""
    ws = rig.sample(seeds)
    rows = []
    for s in range(len(seeds)):
        w = ws[s:s + 1]
        edited = torch.cat([rig.edit(w, **kw) if kw else w for _, kw in EDITS])
        rows.append(list(upscale(rig.to_uint8(rig.image(edited)), size)))
    return labelled_grid(rows, [f"seed {s}" for s in seeds], [[c for c, _ in EDITS]] * len(seeds))


def run_rig_demo(out: Path, model, outputs: Outputs) -> None:
    """Edits, reenactment and animation through the best available rig bundle (rig.engine's flows)."""
    from morphable.clip import demo_tracks, render_clip
    from morphable.gltf import export_gltf

    from .engine import flows, open_engine
    from .pipeline import load_rig

    found = find_bundle()
    if found is None:
        print("no rig bundle in assets/rig: skipping edits, reenactment and animation")
        return
    name, path = found
    print(f"rig bundle: {path.relative_to(ROOT)} -- generator: {name}")
    rig = load_rig(path)
    outputs.image(out / "edit_grid.png", edit_grid(rig, [0, 1, 2, 3, 4, 5], 128))

    tracks = demo_tracks()
    driver_frames, _ = render_clip(model, tracks, size=128, identity_seed=2)
    with outputs.labelled_by(labeller_for("demo", "morphable")):  # the driver is a 3DMM render
        outputs.video(out / "driver.mp4", upscale(driver_frames, 256), tracks.fps)
    result = flows.reenact(open_engine(rig, seed=7, engine="gan", size=None), (list(driver_frames), tracks.fps),
                           ["expression", "pose"], relative=True, landmarks="auto", name="the demo clip")
    side = np.concatenate([upscale(driver_frames, 256), upscale(result.frames, 256)], axis=2)
    outputs.video(out / "reenact.mp4", side, tracks.fps)

    face = open_engine(rig, seed=3, engine="gan", size=None)
    frames, _ = flows.animate(face, tracks)
    outputs.video(out / "animation.mp4", upscale(frames, 256), tracks.fps)
    outputs.file(out / "animation.glb", lambda tmp: export_gltf(rig.model, tmp, params=face.params(), animation=tracks))
    outputs.file(out / "tracks.json", tracks.save)
    outputs.file(out / "tracks.csv", tracks.to_csv)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rig.demo", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="out/demo")
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--photo", default=None, help="a photo for the photo engine's edits and reenactment "
                                                  "(default: NASA's public-domain astronaut portrait)")
    ap.add_argument("--generated", action="store_true",
                    help="also the generated faces of the rig bundle: edit grid, reenactment, animation, .glb")
    ap.add_argument("--reenact", action="store_true",
                    help="also the photo reenacted by a rendered 3DMM clip (tracked frame by frame: slower)")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    t0 = time.time()
    out = Path(args.out)
    from .photo_demo import run_photo_demo

    # its own output block: an edited photo is labelled as one
    written = run_photo_demo(out, args.photo, reenact=args.reenact)
    model = load_model("default")
    print(f"facerig demo: default morphable model {model.name!r} ({model.num_vertices} vertices, "
          f"{model.num_identity} identity components, {len(model.expression_names)} ARKit expressions)")
    rows, row_labels, col_labels = render_controls(model, args.size)
    params = model.random_params(1, seed=3).with_expression({"jawOpen": 0.4, "mouthSmileLeft": 0.6,
                                                              "mouthSmileRight": 0.6}).with_pose(yaw=20)
    # every picture and video of the demo is labelled (docs/provenance.md)
    with Outputs(provenance=labeller_for("demo", "generated", {"size": args.size})) as outputs:
        with outputs.labelled_by(labeller_for("demo", "morphable", {"size": args.size})):  # a 3DMM render
            outputs.image(out / "morph_controls.png", labelled_grid(rows, row_labels, col_labels))
        outputs.file(out / "face.obj", lambda tmp: export_mesh(model, params, tmp))
        if args.generated:
            run_rig_demo(out, model, outputs)
    written += list(outputs.written)
    if not args.generated:
        print("more: `make demo FULL=1` (python -m rig.demo --generated --reenact) adds the rig bundle's generated "
              "faces and the photo reenacted by a rendered clip")
    for p in written:
        print(f"  wrote {p}")
    print(f"done in {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
