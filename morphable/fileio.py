"""Atomic file output for the morphable package (basics.atomic, failures as MorphableError)."""
from __future__ import annotations

import os
from contextlib import AbstractContextManager
from pathlib import Path

from basics import atomic

from .errors import MorphableError


def atomic_output(path: str | os.PathLike) -> AbstractContextManager[Path]:
    """Yield a temp path (same suffix) that replaces `path` only if the block succeeds."""
    return atomic.atomic_output(path, MorphableError)
