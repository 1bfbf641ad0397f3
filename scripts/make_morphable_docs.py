"""Render the figures of docs/morphable.md: controls of the default and the ICT-FaceKit model."""
from __future__ import annotations

import argparse
from pathlib import Path

import imageio.v3 as iio

from morphable.formats import load_model
from rig.demo import render_controls
from rig.frames import labelled_grid

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ict", default=str(ROOT.parent / "shared/data/ict-facekit/FaceXModel"))
    ap.add_argument("--out", default=str(ROOT / "docs/img"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, source in (("default", "default"), ("ict", args.ict)):
        if name == "ict" and not Path(source).exists():
            print(f"skip ICT: {source} not found")
            continue
        model = load_model(source)
        rows, row_labels, col_labels = render_controls(model, size=128)
        path = out / f"morph_{name}_controls.png"
        iio.imwrite(path, labelled_grid(rows, row_labels, col_labels))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
