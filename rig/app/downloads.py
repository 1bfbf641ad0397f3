"""The app's downloads, written through the output layer (rig.outputs): PNG, MP4 sweep, animated .glb, JSON."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from morphable.params import FaceParams

from ..engine import Controls, Engine, sweep as sweep_controls
from ..errors import RigError
from ..outputs import Outputs

KINDS = ("png", "mp4", "glb", "json")
SWEEP_FRAMES = 25
FPS = 25.0


def expression_clip(src: Engine, c: Controls, frames: int = SWEEP_FRAMES) -> FaceParams:
    """(frames) FaceParams easing from the face's own expression to the controls' (pose and light held)."""
    from morphable.controls import names

    pose = {n: c.value(n) for n in names("pose")}
    start, end = src.target(src.controls().with_values(**pose)), src.target(c)
    t = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, int(frames)))).astype(np.float32)
    rows = []
    for a in t:
        rows.append(end.replace(expression=start.expression + float(a) * (end.expression - start.expression)))
    return FaceParams.cat(rows)


def write(kind: str, src: Engine, c: Controls, folder: str | Path, image: np.ndarray | None = None,
          sweep: tuple[str, float, float] | None = None, provenance=None) -> Path:
    """Write one download into a new subfolder of `folder`; returns its path."""
    if kind not in KINDS:
        raise RigError(f"unknown download {kind!r}; choose one of {', '.join(KINDS)}")
    if provenance is None:  # every download is labelled (docs/provenance.md)
        from ..provenance.label import labeller_for

        provenance = labeller_for(f"app download {kind}", src.kind, {"controls": c.to_dict(), "source": src.description})
    out_dir = Path(tempfile.mkdtemp(dir=folder, prefix="dl-"))
    name = f"facerig_{src.kind}"
    with Outputs(provenance=provenance) as out:
        if kind == "png":
            path = out.image(out_dir / f"{name}.png", src.render(c) if image is None else image)
        elif kind == "mp4":
            if sweep is None:
                raise RigError("choose a control to sweep")
            control, start, stop = sweep
            frames = src.frames(sweep_controls(c, control, float(start), float(stop), SWEEP_FRAMES))
            path = out.video(out_dir / f"{name}_sweep_{control}.mp4", frames, FPS)
        elif kind == "glb":
            from morphable.gltf import export_gltf

            model = src.model
            clip = expression_clip(src, c).to(model.device, model.template.dtype)
            with torch.no_grad():
                path = out.file(out_dir / f"{name}_expression.glb",
                                lambda tmp: export_gltf(model, tmp, params=clip[clip.batch_size - 1],
                                                          animation=clip, fps=FPS))
        else:
            path = out.text(out_dir / f"{name}_params.json", json.dumps(src.to_dict(c), indent=2))
    return path
