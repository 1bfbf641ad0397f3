"""What the photo edit path imports (issue 25: a cold 8000x6000 `facerig edit` in <= 10 s, imports included).

Not torch._dynamo / sympy (torch.optim.Adam's first use imports them, 1-2 s; the photometric fit has its own
Adam) and not matplotlib.pyplot (MediaPipe's drawing helpers import it, ~0.5 s; a stand-in loads it on first
use, which still works afterwards, and a scan of sys.modules' files leaves it unloaded). The edit path's modules are imported and one Adam step and the MediaPipe
check run in a fresh interpreter (a whole edit would take longer than this guard is worth)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import sys
import torch
import rig.cli.edit, rig.engine.photo, rig.photo.photo_rig, rig.provenance, rig.outputs
from morphable.fit import photometric
from morphable.fit.adam import Adam
from morphable.landmarks_mp import mediapipe_importable
x = torch.ones(3, requires_grad=True)
opt = Adam([([x], 0.1)])
(x * x).sum().backward()
opt.step()
ok = mediapipe_importable()
import inspect
inspect.getmodule(None, "/no/such/file.py")   # scans sys.modules for files (torch.jit.trace's check does)
heavy = [m for m in ("torch._dynamo", "sympy") if m in sys.modules]
if type(sys.modules.get("matplotlib.pyplot")).__name__ == "module":
    heavy.append("matplotlib.pyplot")
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
figure = type(plt.figure()).__name__
print("RESULT", ok, ",".join(heavy) or "-", figure, type(sys.modules["matplotlib.pyplot"]).__name__)
"""


def test_the_photo_edit_path_imports_no_compiler_and_no_pyplot():
    res = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, cwd=ROOT, timeout=120)
    lines = [line for line in res.stdout.splitlines() if line.startswith("RESULT")]
    assert lines, res.stdout[-1000:] + res.stderr[-2000:]
    # MediaPipe there, nothing heavy imported, and pyplot works afterwards (the real module replaced the stand-in)
    assert lines[-1] == "RESULT True - Figure module", lines[-1]
