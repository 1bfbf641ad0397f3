"""Checks of sizes shared by the gan modules (image resolutions must halve cleanly down to 4x4)."""
from __future__ import annotations

from .errors import GanError


def is_power_of_two(n: int) -> bool:
    """True for 1, 2, 4, 8, ...; the networks double the resolution block by block."""
    return n > 0 and n & (n - 1) == 0


def require_power_of_two(value: int, minimum: int, what: str, hint: str = "") -> None:
    """Raise a one-line GanError naming `what` unless `value` is a power of two >= `minimum`."""
    if value < minimum or not is_power_of_two(value):
        raise GanError(f"{what} must be a power of two >= {minimum}, got {value}{hint}")
