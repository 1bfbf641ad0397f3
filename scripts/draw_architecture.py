"""Draw docs/img/architecture.png: facerig's packages, their parts and which way the imports go.

    python scripts/draw_architecture.py [OUT.png]
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: (name, x, y, width, height, colour, lines inside)
BOXES = [
    ("front ends", 0.5, 8.6, 11.0, 1.1, "#f6e8c3",
     ["rig/cli/ (facerig, one module per command group)   rig/app/ (browser app)   rig/demo.py   bench/   scripts/"]),
    ("rig: flows and outputs", 0.5, 6.7, 11.0, 1.5, "#f4d6dc",
     ["rig/pipeline.py  photo -> align -> invert; driver -> track -> reenact; seed -> edit/sweep; tracks -> animate",
      "rig/outputs.py   paths checked first; temps renamed together; the one image/video encoder + provenance hook"]),
    ("rig: models", 0.5, 4.5, 5.3, 1.8, "#f4d6dc",
     ["face_rig.py (FaceRig)   bundle.py", "estimator.py   rignet.py   reenact.py", "align.py   latent_file.py   frames.py",
      "photo/ (real-photo engine)   provenance/"]),
    ("rig/training", 6.2, 4.5, 5.3, 1.8, "#f4d6dc",
     ["training_pairs.py   estimator_training.py", "rignet_training.py   losses.py", "identity_proxy.py",
      "(config dataclasses, no argv)"]),
    ("morphable: the 3DMM", 0.5, 2.0, 5.3, 2.0, "#d5e3f0",
     ["model, params, formats/, render, gltf", "animation, fit/ (fitting, tracking, video)",
      "landmark_backends.py: the one registry", "(dlib, MediaPipe, face-alignment)"]),
    ("gan: StyleGAN2", 6.2, 2.0, 5.3, 2.0, "#d8ecd2",
     ["networks, synthesis, training, inversion", "checkpoint.py (ours, safetensors)",
      "checkpoint_formats.py: the one door", "(NVIDIA .pkl, rosinality .pt, DCGAN)"]),
    ("basics", 0.5, 0.3, 11.0, 1.2, "#e6e6e6",
     ["errors.UserError (the one user-error base)  atomic writes  tagged safetensors  weights-only torch  npz"]),
]
#: (from box, to box, label): A imports B
ARROWS = [(0, 1, ""), (1, 2, ""), (1, 3, ""), (3, 2, ""), (2, 4, ""), (2, 5, ""), (3, 4, ""), (3, 5, ""),
          (4, 6, ""), (5, 6, "")]


def centre(box: tuple, top: bool) -> tuple[float, float]:
    _, x, y, w, h, *_ = box
    return x + w / 2, y + (h if top else 0)


def draw(out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(9.6, 8.0), dpi=100)
    ax.set_xlim(0, 12)
    ax.set_ylim(0, 10)
    ax.axis("off")
    for name, x, y, w, h, colour, lines in BOXES:
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.12", fc=colour, ec="#555"))
        ax.text(x + 0.12, y + h - 0.12, name, fontsize=10, weight="bold", va="top")
        for i, line in enumerate(lines):
            ax.text(x + 0.12, y + h - 0.45 - 0.33 * i, line, fontsize=7.0, va="top", family="DejaVu Sans Mono")
    for a, b, _ in ARROWS:
        (xa, ya), (xb, yb) = centre(BOXES[a], top=False), centre(BOXES[b], top=True)
        if BOXES[a][2] == BOXES[b][2]:  # side by side: training -> models
            xa, ya, xb, yb = BOXES[a][1], BOXES[a][2] + 0.9, BOXES[b][1] + BOXES[b][3], BOXES[b][2] + 0.9
        ax.add_patch(FancyArrowPatch((xa, ya), (xb, yb), arrowstyle="-|>", mutation_scale=12, color="#333", lw=1.1))
    ax.text(6.0, 3.0, "never\n<->", ha="center", va="center", fontsize=8, style="italic", color="#a00")
    ax.set_title("facerig: the main import paths (an arrow points at what a part imports)", fontsize=11)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, bbox_inches="tight")
    plt.close(fig)
    return out


if __name__ == "__main__":
    print(draw(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "img" / "architecture.png"))
