"""PhotoRig.frames renders frames in threads (FRAME_WORKERS): the pixels must be those of one render at a time,
in the targets' order, mouth and lids included."""
from __future__ import annotations

import numpy as np
import pytest

from morphable.params import FaceParams
from rig.photo.photo_rig import PhotoRig


@pytest.fixture(scope="module")
def rig(xportrait_rig) -> PhotoRig:
    """The shared xportrait_source rig (tests/rig/photo/conftest.py)."""
    return xportrait_rig


def test_frames_in_threads_are_the_renders_one_at_a_time_in_order(rig):
    edits = [dict(), dict(yaw=8), dict(expression={"jawOpen": 0.5}), dict(pitch=-6, expression={"eyeBlinkLeft": 1.0}),
             dict(yaw=-10, expression={"jawOpen": 0.3, "mouthSmileLeft": 0.6}), dict(roll=5)]
    targets = FaceParams.cat([rig.target(**e) for e in edits])
    assert not rig.opens_mouth(targets[0]) and rig.opens_mouth(targets[2])   # the mouth's first frame is not first
    one = [rig.render(targets[i]) for i in range(len(edits))]
    for workers in (1, 2, 3):
        got = rig.frames(targets, workers=workers)
        assert got.shape == (len(edits), *rig.image.shape)
        assert all(np.array_equal(a, b) for a, b in zip(got, one)), workers
    # the frames differ from each other: equality above is not that of one still picture
    assert sum(not np.array_equal(one[0], o) for o in one[1:]) == len(edits) - 1
