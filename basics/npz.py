"""Reading .npz files of plain arrays, never pickles, with a message that says what the file should be."""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from .errors import UserError


def read_npz(path: str | os.PathLike, what: str, error: type[UserError] = UserError) -> dict[str, np.ndarray]:
    """All arrays of an .npz (allow_pickle=False); `error` naming `what` the file should be when it is not one.

    `what` completes "PATH is not ...", e.g. "a facerig latent file (an .npz of arrays from `facerig invert`)".
    numpy's own message is not shown: for a file that is not an .npz it suggests unsafe loading.
    """
    path = Path(path)
    if not path.is_file():
        raise error(f"{path} not found (expected {what})")
    try:
        with np.load(path, allow_pickle=False) as data:
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("a single .npy array")
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, AttributeError):
        raise error(f"cannot read {path}: it is not {what}") from None
