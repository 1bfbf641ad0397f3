"""Measure UTKFace's "aligned & cropped" framing: mean dlib 68-point positions over many photos.

Writes assets/align/utkface_template.json (points normalised to the 128 px frame, per-point
spread, counts), which rig.align uses to frame any photo like the GAN's training data.
Usage: python scripts/make_align_template.py [--zip PATH] [--count 500] [--seed 0] [-o OUT]
"""
from __future__ import annotations

import argparse
import collections
import io
import json
import sys
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from morphable.fileio import atomic_output  # noqa: E402
from morphable.landmarks import detect_faces  # noqa: E402


def measure(zip_path: Path, count: int, seed: int) -> dict:
    """Detect landmarks on `count` random photos of the zip; return the template record."""
    with zipfile.ZipFile(zip_path) as zf:
        names = sorted(n for n in zf.namelist() if n.lower().endswith((".webp", ".jpg", ".png")))
        pick = np.random.default_rng(seed).choice(len(names), min(count, len(names)), replace=False)
        pts, attempts, size = [], collections.Counter(), None
        for i in tqdm(pick, desc="landmarks", unit="img"):
            img = np.array(Image.open(io.BytesIO(zf.read(names[i]))).convert("RGB"))
            if size is None:
                size = img.shape[:2]
            if img.shape[:2] != size:
                raise SystemExit(f"{names[i]}: size {img.shape[:2]} differs from {size}")
            faces = detect_faces(img)
            attempts[faces[0].attempt if faces else "none"] += 1
            if faces:
                pts.append(faces[0].points)
    arr = np.stack(pts)  # (N,68,2) px
    h, w = size
    norm = arr / np.array([w, h])
    mean = norm.mean(0)
    # Drop gross outliers (misdetections) by their RMS distance to the mean, then re-average.
    rms = np.sqrt(((norm - mean) ** 2).sum(-1).mean(-1))
    keep = rms < np.median(rms) + 4 * np.median(np.abs(rms - np.median(rms))) * 1.4826
    mean = norm[keep].mean(0)
    std_px = (arr[keep] - mean * np.array([w, h])).std(0)
    return {
        "description": "Mean dlib iBUG-68 landmark positions on UTKFace 'aligned & cropped' photos, "
                       "x,y normalised to the image frame (0..1, origin top-left).",
        "source": zip_path.name,
        "image_size": [int(w), int(h)],
        "seed": seed,
        "images_tried": int(len(pick)),
        "faces_found": int(len(pts)),
        "faces_used": int(keep.sum()),
        "attempts": dict(attempts),
        "points": np.round(mean, 5).tolist(),
        "std_px": np.round(std_px, 3).tolist(),
        "mean_std_px": round(float(np.sqrt((std_px ** 2).sum(-1)).mean()), 3),
        "eye_distance_px": round(float(np.linalg.norm(
            (mean[42:48].mean(0) - mean[36:42].mean(0)) * np.array([w, h]))), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zip", type=Path, default=ROOT.parent / "shared/data/utkface/utkface-128-webp.zip")
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--out", type=Path, default=ROOT / "assets/align/utkface_template.json")
    args = ap.parse_args()
    record = measure(args.zip, args.count, args.seed)
    with atomic_output(args.out) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n")
    print(f"{args.out}: {record['faces_used']}/{record['images_tried']} faces, attempts "
          f"{record['attempts']}, mean per-point spread {record['mean_std_px']} px, "
          f"eye distance {record['eye_distance_px']} px")


if __name__ == "__main__":
    main()
