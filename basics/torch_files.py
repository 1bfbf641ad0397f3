"""torch.load with weights_only=True, and failures as one whole sentence (never torch's message cut short)."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Sequence

from .errors import UserError


def refusal(exc: BaseException) -> str:
    """Why a weights-only load failed, in one sentence: the code the file asked to run, or that it is damaged."""
    found = re.search(r"GLOBAL ([\w.]+)", str(exc)) or re.search(r"global:? '?([\w.]+)", str(exc))
    if found:
        return (f"refused to load: the file asks to run {found[1]}, and facerig reads torch files as weights "
                f"only (tensors and plain containers), never code")
    return f"not a readable torch file ({type(exc).__name__}: the archive is damaged or of another kind)"


def load_weights_only(path: str | os.PathLike, what: str, error: type[UserError] = UserError,
                      safe_globals: Sequence[type] = ()) -> Any:
    """torch.load(path, weights_only=True) on the CPU; `error` ("{path}: ...", one line) when missing or refused."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise error(f"{what} not found: {path}")
    try:
        with torch.serialization.safe_globals(list(safe_globals)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 -- weights_only refusals, truncated or foreign archives
        raise error(f"{path}: {refusal(exc)}") from None
