"""Fixtures shared by the photo engine's tests."""
from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

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


@pytest.fixture
def square_flow() -> tuple[torch.Tensor, torch.Tensor]:
    """A 64 px flow fixed to (3, -2) on a 16 px square in the middle, unknown elsewhere: (disp (2,64,64), known)."""
    s = 64
    disp = torch.zeros(2, s, s)
    known = torch.zeros(s, s, dtype=torch.bool)
    known[24:40, 24:40] = True
    disp[0][known], disp[1][known] = 3.0, -2.0
    return disp, known
