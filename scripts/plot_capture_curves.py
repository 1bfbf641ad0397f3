"""Plot the curves `facerig track --csv` exports for a real clip: blinks, smiles, jawOpen, gaze, head yaw.

    .venv/bin/python scripts/plot_capture_curves.py [CLIP] [--out docs/img/capture_curves.png] [--csv TAKE.csv]

Tracks the clip as the CLI does, writes Live Link Face's CSV (to --csv, or a temp file), reads that
CSV back and plots what is in it, so the picture shows the exported file, not an intermediate.
Only the plot is meant for the docs: never commit frames of the clip.
"""
from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CLIP = ROOT.parent / "shared" / "data" / "real-faces" / "xportrait_driving.mp4"


def plot(take, title: str) -> np.ndarray:
    """(H, W, 3) uint8 figure of the take's curves over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    from morphable.livelink import ROTATION_COLUMNS

    w = {n: take.weights[:, i] for i, n in enumerate(_arkit())}
    rot = {n: np.degrees(take.rotations[:, i]) for i, n in enumerate(ROTATION_COLUMNS)}
    t = take.times
    panels = [
        ("blinks", [("EyeBlinkLeft", w["eyeBlinkLeft"]), ("EyeBlinkRight", w["eyeBlinkRight"])], (0, 1)),
        ("smiles", [("MouthSmileLeft", w["mouthSmileLeft"]), ("MouthSmileRight", w["mouthSmileRight"])], (0, 1)),
        ("jaw", [("JawOpen", w["jawOpen"])], (0, 1)),
        ("gaze (deg)", [("LeftEyeYaw", rot["LeftEyeYaw"]), ("RightEyeYaw", rot["RightEyeYaw"]),
                        ("LeftEyePitch", rot["LeftEyePitch"]), ("RightEyePitch", rot["RightEyePitch"])], None),
        ("head (deg)", [("HeadYaw", rot["HeadYaw"]), ("HeadPitch", rot["HeadPitch"]), ("HeadRoll", rot["HeadRoll"])],
         None),
    ]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 8.5), sharex=True)
    for ax, (label, curves, ylim) in zip(axes, panels):
        for name, values in curves:
            ax.plot(t, values, label=name, lw=1.6)
        ax.set_ylabel(label)
        if ylim:
            ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return np.asarray(Image.open(buf).convert("RGB"))


def _arkit():
    from morphable.arkit import ARKIT_NAMES

    return ARKIT_NAMES


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip", nargs="?", default=str(CLIP))
    ap.add_argument("--out", default=str(ROOT / "docs" / "img" / "capture_curves.png"))
    ap.add_argument("--csv", default=None, help="also keep the exported Live Link Face CSV here")
    ap.add_argument("--landmarks", default="auto")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from morphable.fit.track import track_frames
    from morphable.formats import load_model
    from morphable.landmark_backends import backend_by_name
    from morphable.livelink import read_livelink, track_to_livelink
    from rig.outputs import Outputs
    from rig.inputs import open_driver

    with Outputs() as outputs:
        out = outputs.expect(args.out, (".png",))
        csv = outputs.expect(args.csv, (".csv",))
        frames, fps = open_driver(args.clip)
        model = load_model("default")
        start = time.perf_counter()
        track = track_frames(model, frames, fps=fps, backend=backend_by_name(args.landmarks))
        seconds = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "take.csv"
            track_to_livelink(track, path)
            take = read_livelink(path, rate=None if len(frames) / fps > 1.2 else int(np.ceil(fps)))
            if csv is not None:
                outputs.file(csv, lambda t: t.write_bytes(path.read_bytes()))
        lost = sum(not f.ok for f in track.frames)
        title = (f"facerig track --csv {Path(args.clip).name}: {len(frames)} frames at {fps:g} fps "
                 f"({lost} without a face), landmarks {args.landmarks}")
        outputs.image(out, plot(take, title))
    print(f"tracked {len(frames)} frames in {seconds:.1f} s ({len(frames) / seconds:.1f} frames/s); wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
