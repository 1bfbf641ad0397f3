"""Atomic file output: write a temp file beside the target, rename it over the target on success."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import UserError


def _default_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_DEFAULT_MODE = _default_mode()


def temp_beside(path: str | os.PathLike, error: type[UserError] = UserError) -> Path:
    """A new empty temp file in `path`'s folder with `path`'s suffix (writers choose formats by suffix)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    except OSError as exc:
        raise error(f"cannot write {path}: {exc.strerror or exc}") from None
    os.close(fd)
    return Path(tmp)


def publish(tmp: Path, path: str | os.PathLike) -> None:
    """Give `tmp` normal permissions (mkstemp makes 0600) and rename it over `path`."""
    os.chmod(tmp, _DEFAULT_MODE)
    os.replace(tmp, path)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, error: type[UserError] = UserError) -> Iterator[Path]:
    """Yield a temp path to write; it replaces `path` only if the block succeeds (`error` when it cannot be made)."""
    tmp = temp_beside(path, error)
    try:
        yield tmp
        publish(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
