"""Fixtures shared by the photo engine's tests."""
from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from rig.photo.photo_rig import PhotoRig

XPORTRAIT = Path(__file__).resolve().parents[4] / "shared" / "data" / "real-faces" / "xportrait_source.png"


@pytest.fixture(scope="module")
def xportrait_rig() -> PhotoRig:
    """A PhotoRig of the real portrait xportrait_source.png (a full fit), once per test module."""
    if not XPORTRAIT.exists():
        pytest.skip(f"shared data absent: {XPORTRAIT}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return PhotoRig.from_photo(XPORTRAIT)
