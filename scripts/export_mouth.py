"""Export the mouth inpainter's current training checkpoint (EMA generator, fp16) to assets/mouth/."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rig.training.mouth_training import export_inpainter  # noqa: E402
from scripts.train_mouth import CONFIG, WEIGHTS  # noqa: E402

if __name__ == "__main__":
    print(export_inpainter(CONFIG.run_dir, WEIGHTS))
