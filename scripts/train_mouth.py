"""Train the mouth-interior inpainter on UTKFace's open mouths (resumable; rerun to continue), then export it.

    nice -n 19 .venv/bin/python scripts/train_mouth.py

Builds the crop cache (out/mouth/mouths.npz, ~4 min of MediaPipe) when missing, trains in
out/mouth/run (one core; kill it at any time, a rerun resumes from the last checkpoint; on a new
machine it continues the committed run from assets/mouth/resume.safetensors, Adam afresh) and
writes the EMA generator to assets/mouth/inpainter.safetensors when the steps are done
(scripts/export_mouth.py exports an unfinished run).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")

from rig.training.mouth_data import build_mouth_set  # noqa: E402
from rig.training.mouth_training import MouthTrainConfig, export_inpainter, train_mouth  # noqa: E402

UTKFACE = ROOT.parent / "shared" / "data" / "utkface" / "utkface-128-webp.zip"
#: the committed weights' run started with partial_share 0 and adv_weight 0.02 and switched to these
#: values at steps 367 and 1115 (noted in its checkpoint log); a new run uses them from the start
CONFIG = MouthTrainConfig(data=str(ROOT / "out/mouth/mouths.npz"), run_dir=str(ROOT / "out/mouth/run"),
                          partial_share=0.35, adv_weight=0.05)
WEIGHTS = ROOT / "assets" / "mouth" / "inpainter.safetensors"
#: the committed run at its last checkpoint (fp16 nets, step, config, log): a new machine continues from it
RESUME_PACK = ROOT / "assets" / "mouth" / "resume.safetensors"


def main() -> None:
    import torch

    torch.set_num_threads(CONFIG.threads)
    if not Path(CONFIG.data).exists():
        build_mouth_set(UTKFACE, min_opening=0.06, progress=True).save(CONFIG.data)
    trainer = train_mouth(CONFIG, init_from=RESUME_PACK if RESUME_PACK.exists() else None)
    if trainer.step_no >= trainer.cfg.steps:
        print(export_inpainter(CONFIG.run_dir, WEIGHTS))


if __name__ == "__main__":
    main()
