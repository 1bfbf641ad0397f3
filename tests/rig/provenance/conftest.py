"""Fixtures for the provenance tests: generated faces from the packaged DCGAN bundle, throwaway credentials."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def generated_faces():
    """`generated_faces(n)` -> n 64 px faces from the committed DCGAN rig bundle (seeds 0..n-1)."""
    try:
        from rig.face_rig import FaceRig, default_bundle
    except ImportError:  # the layout before the house move
        from rig.facerig import FaceRig, default_bundle
    rig = FaceRig.load(default_bundle())
    cache: dict[int, np.ndarray] = {}

    def make(n: int) -> np.ndarray:
        if n not in cache:
            cache[n] = rig.to_uint8(rig.image(rig.sample(list(range(n)))))
        return cache[n]

    return make


@pytest.fixture(scope="session")
def credentials(tmp_path_factory):
    """(ca.pem, chain.pem, key.pem): a private CA and a leaf it issued, made for this run."""
    pytest.importorskip("cryptography")
    from rig.provenance.devcert import make_test_credentials

    return make_test_credentials(tmp_path_factory.mktemp("c2pa"))

