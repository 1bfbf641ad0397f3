"""The GAN path beside the photo engine, on the first N photos bench_photo uses (same seed).

Each photo is aligned and inverted into the default rig bundle's generator (rig.pipeline, as
`facerig reenact --engine gan` does), edited with FaceRig.edit (yaw +-20 relative to F's
estimate, jawOpen 0.6, smiles 0.6) and reenacted on the demo driver clip (rig.reenact,
relative expression + pose). Identity is the dlib descriptor distance of each output to the
original photo, exactly as bench_photo measures the photo engine. Writes docs/photo_engine_gan.json.
Usage: nice -n 10 python -m bench.bench_photo_gan [--photos 6] [--steps 300]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_photo import SAME_PERSON, Identity, read_photos, share_below  # noqa: E402
from bench.common import machine_info, write_result  # noqa: E402
from morphable.clip import demo_tracks, render_clip  # noqa: E402
from morphable.fit.track import track_frames  # noqa: E402
from morphable.landmarks import descriptor_distance  # noqa: E402

EDITS = {"yaw-20": {"yaw": -20, "relative": True}, "yaw+20": {"yaw": 20, "relative": True},
         "jawOpen0.6": {"expression": {"jawOpen": 0.6}},
         "smile0.6": {"expression": {"mouthSmileLeft": 0.6, "mouthSmileRight": 0.6}}}


def upscale(img: np.ndarray, size: int = 128) -> np.ndarray:
    k = max(1, size // img.shape[0])
    return np.repeat(np.repeat(img, k, 0), k, 1)


def run(n: int, steps: int, seed: int, out_json: Path) -> dict:
    from rig.pipeline import align_photo, invert_photo, load_rig
    from rig.reenact import reenact

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    rig = load_rig()
    names, photos = read_photos(60, seed)          # bench_photo's draw; the first n of them
    names, photos = names[:n], photos[:n]
    ident = Identity()
    src = ident(photos)
    drv_frames, _ = render_clip(rig.model, demo_tracks(), size=128, identity_seed=0)
    driver = track_frames(rig.model, list(drv_frames), fps=10.0).stacked()
    dists: dict[str, list[float]] = {k: [] for k in ["inversion", *EDITS, "reenact"]}
    t_inv = []
    for i, img in enumerate(photos):
        aligned = align_photo(img, rig.G.img_resolution, name=names[i])
        t1 = time.perf_counter()
        ws = invert_photo(rig.G, aligned, steps=steps, measure=False).ws.to(rig.device)
        t_inv.append(time.perf_counter() - t1)
        outs = {"inversion": rig.to_uint8(rig.image(ws))}
        for name, kw in EDITS.items():
            outs[name] = rig.to_uint8(rig.image(rig.edit(ws, **kw)))
        rec = reenact(rig, ws, driver.to(dtype=torch.float32), ["expression", "pose"], relative=True, progress=False)
        for name, frames in outs.items():
            d = ident([upscale(f) for f in frames])
            dists[name] += [descriptor_distance(src[i], x) if np.isfinite(x).all() else np.nan for x in d]
        d = ident([upscale(f) for f in rec.frames])
        dists["reenact"] += [descriptor_distance(src[i], x) if np.isfinite(x).all() else np.nan for x in d]
        print(names[i], {k: round(float(np.nanmean(v[-1:])), 3) for k, v in dists.items() if v}, flush=True)
    result = {"what": "GAN path (inversion into the default bundle's generator + FaceRig) on the first photos of "
                      "bench_photo's draw; dlib distance to the original photo",
              "machine": machine_info(), "photos": names, "steps": steps, "same_person": SAME_PERSON,
              "inversion_s": float(np.mean(t_inv)), "generator_resolution": int(rig.G.img_resolution),
              "identity": {k: share_below(np.array(v, float)) for k, v in dists.items()},
              "total_s": time.perf_counter() - t0}
    write_result(out_json, result, indent=1)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=6)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "photo_engine_gan.json")
    a = ap.parse_args(argv)
    r = run(a.photos, a.steps, a.seed, a.out)
    print(json.dumps(r["identity"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
