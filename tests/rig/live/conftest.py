"""Real clips and photos for the live tests (../shared/data/real-faces; skipped where absent)."""
from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "real-faces"


@pytest.fixture(scope="session")
def real_faces() -> Path:
    if not (DATA / "tpsmm_driving.mp4").exists() or not (DATA / "xportrait_source.png").exists():
        pytest.skip(f"needs the real clips and photos in {DATA}")
    return DATA


@pytest.fixture(scope="session")
def driver_frames(real_faces):
    """The first 40 frames of a real talking-head clip (25 fps) and its rate."""
    from rig.inputs import open_driver

    return open_driver(real_faces / "tpsmm_driving.mp4", max_frames=40)
