"""Model-file dispatcher: turn whatever morphable model a user brings into a MorphableModel.

`load_model("default")` is the embedded model; a folder holding generic_neutral_mesh.obj is
ICT-FaceKit; *.pkl is FLAME; *.mat is BFM 2009; *.h5 is BFM 2017/2019; *.npz is our own format.
Every failure a user can cause (missing, corrupt or unknown file, wrong option) is a MorphableError.
"""
from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Callable

from ..errors import MorphableError
from ..model import MorphableModel

#: the embedded default model, relative to the repository root
DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "assets" / "morphable" / "default.npz"
SUPPORTED = ("'default', an ICT-FaceKit folder (with generic_neutral_mesh.obj), FLAME .pkl, "
             "BFM 2009 .mat, BFM 2017/2019 .h5, facerig .npz")


def _loader_for(path: Path) -> tuple[str, Callable[..., MorphableModel], Path]:
    """(format name, loader function, path to hand it) for an existing path."""
    from .ict import NEUTRAL_FILE, load_ict

    if path.is_dir():
        if (path / NEUTRAL_FILE).is_file():
            return "ICT-FaceKit", load_ict, path
        raise MorphableError(f"{path} is a folder but not an ICT-FaceKit model (no {NEUTRAL_FILE}); "
                             f"supported: {SUPPORTED}")
    suffix = path.suffix.lower()
    if path.name == NEUTRAL_FILE:
        return "ICT-FaceKit", load_ict, path.parent
    if suffix == ".pkl":
        from .flame import load_flame
        return "FLAME", load_flame, path
    if suffix == ".mat":
        from .bfm import load_bfm2009
        return "BFM 2009", load_bfm2009, path
    if suffix in (".h5", ".hdf5"):
        from .bfm import load_bfm2017
        return "BFM 2017/2019", load_bfm2017, path
    if suffix == ".npz":
        return "facerig .npz", MorphableModel.load, path
    raise MorphableError(f"don't know the model format of {path.name!r}; supported: {SUPPORTED}")


def load_model(source: str | os.PathLike = "default", device=None, **options) -> MorphableModel:
    """Load a morphable model from `source` (see module docstring); options go to its loader."""
    if str(source) == "default":
        if not DEFAULT_MODEL.is_file():
            raise MorphableError(f"the embedded default model is missing ({DEFAULT_MODEL}); "
                                 "reinstall facerig or pass a model file")
        path = DEFAULT_MODEL
    else:
        path = Path(source).expanduser()
    if not path.exists():
        raise MorphableError(f"model not found: {path}")
    kind, loader, target = _loader_for(path)
    accepted = inspect.signature(loader).parameters
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        allowed = [n for n in accepted if n not in ("self", "cls", "path", "folder", "device")]
        raise MorphableError(f"the {kind} loader does not take option(s) {', '.join(unknown)}; "
                             f"it takes: {', '.join(allowed) or 'none'}")
    return loader(target, device=device, **options)


__all__ = ["load_model", "DEFAULT_MODEL", "SUPPORTED"]
