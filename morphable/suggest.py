"""'did you mean' hints for unknown names in user input (expressions, pose channels, presets)."""
from __future__ import annotations

import difflib
from typing import Sequence


def did_you_mean(name: object, choices: Sequence[str], n: int = 3) -> str:
    """'; did you mean a, b?' naming up to n choices close to `name` (or equal but for case), else ''."""
    text = str(name)
    close = difflib.get_close_matches(text, list(choices), n=n, cutoff=0.5)
    if not close:  # e.g. "jawopen": too short a name for the ratio, but the same letters
        close = [c for c in choices if c.lower() == text.lower()][:n]
    return f"; did you mean {', '.join(close)}?" if close else ""
