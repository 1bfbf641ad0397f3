"""Inversion quality on real photos: PSNR, SSIM and dlib identity distance over UTKFace photos.

    python -m bench.bench_inversion [--generator CKPT|dcgan] [--photos 20] [--steps 300]
        --out docs/inversion_measured.json

Each photo is aligned like the training data (rig.align), inverted (gan.inversion.invert,
the same settings as `facerig invert`), and compared with its reconstruction. A montage of
(aligned | reconstruction) pairs goes next to the JSON.
"""
from __future__ import annotations

import argparse
import io
import json
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gan.checkpoint_formats import load_any_generator
from gan.fileio import atomic_output, image_grid
from rig.errors import RigError
from rig.pipeline import align_photo, invert_photo

from .common import machine_info

ROOT = Path(__file__).resolve().parents[1]
UTKFACE = ROOT.parent / "shared" / "data" / "utkface" / "utkface-128-webp.zip"


def photos(zip_path: Path, count: int, seed: int = 7) -> list[tuple[str, np.ndarray]]:
    """A reproducible random pick of UTKFace photos (name, RGB uint8)."""
    with zipfile.ZipFile(zip_path) as zf:
        names = sorted(zf.namelist())
        pick = np.random.default_rng(seed).choice(len(names), count, replace=False)
        return [(names[i], np.array(Image.open(io.BytesIO(zf.read(names[i]))).convert("RGB"))) for i in pick]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generator", default="dcgan", help="a checkpoint, or 'dcgan' for the 64 px DCGAN backend")
    ap.add_argument("--photos", type=int, default=20)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--data", default=str(UTKFACE))
    ap.add_argument("--out", default="docs/inversion_measured.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    G = load_any_generator(args.generator)
    res = G.img_resolution
    rows, pairs = [], []
    t0 = time.time()
    for name, photo in photos(Path(args.data), args.photos):
        try:
            aligned = align_photo(photo, res, name=name)
        except RigError:
            rows.append({"photo": name, "aligned": False})
            continue
        inv = invert_photo(G, aligned, steps=args.steps, seed=0)
        row = {"photo": name, "aligned": True, "psnr": inv.psnr, "ssim": inv.ssim, "dlib_distance": inv.dlib_distance}
        rows.append(row)
        pairs += [aligned.image, inv.reconstruction]
        print(f"{name}: PSNR {row['psnr']:.2f} SSIM {row['ssim']:.3f} dlib {row['dlib_distance']}", flush=True)
    done = [r for r in rows if r["aligned"]]
    dists = [r["dlib_distance"] for r in done if r["dlib_distance"] is not None]
    summary = {
        "generator": args.generator, "resolution": res, "steps": args.steps, "photos": len(rows),
        "aligned": len(done), "psnr_mean": float(np.mean([r["psnr"] for r in done])),
        "ssim_mean": float(np.mean([r["ssim"] for r in done])),
        "dlib_found_both": len(dists), "dlib_distance_mean": float(np.mean(dists)) if dists else None,
        "dlib_same_person_share_0.6": float(np.mean([d < 0.6 for d in dists])) if dists else None,
        "seconds": time.time() - t0,
    }
    print(json.dumps(summary, indent=2))
    out = Path(args.out)
    with atomic_output(out) as tmp:
        tmp.write_text(json.dumps({"summary": summary, "machine": machine_info(), "rows": rows}, indent=2))
    if pairs:
        grid = image_grid(torch.from_numpy(np.stack(pairs)).permute(0, 3, 1, 2).float() / 127.5 - 1, cols=8)
        with atomic_output(out.with_suffix(".png")) as tmp:
            Image.fromarray(grid).save(tmp, format="PNG")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
