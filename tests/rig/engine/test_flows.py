"""rig.engine.flows over the bare 3DMM engine (fast): the same edit / sweep / animate code every engine runs."""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def morph():
    from rig.engine import open_engine

    return open_engine(engine="morph", identity_seed=2, size=64)


def test_edit_and_sweep_run_over_any_engine(morph):
    from rig.engine import flows

    image, note, lines = flows.edit(morph, {"yaw": 20, "jawOpen": 0.7, "light": "left"})
    c = morph.controls().given(yaw=20, jawOpen=0.7, light="left")
    assert np.array_equal(image, morph.render(c)) and note is None and lines == []
    grid, note, lines = flows.sweep(morph, {"jawOpen": 0.5}, "yaw", [-20, 20])
    assert grid.shape[1] > 3 * 64 and grid.shape[0] > 64 and note is None   # original + 2 tiles, captions below


def test_animate_plays_tracks_on_the_face(morph):
    from morphable.animation import tracks_from_params
    from morphable.params import FaceParams

    from rig.engine import flows

    own = morph.params()
    tracks = tracks_from_params(FaceParams.cat([own.with_expression({"jawOpen": v}) for v in (0.0, 0.5, 1.0)]),
                                10.0, blocks=("expression",))
    frames, targets = flows.animate(morph, tracks)
    assert frames.shape == (tracks.num_frames, 64, 64, 3) and targets.batch_size == tracks.num_frames
    assert np.abs(frames[-1].astype(int) - frames[0].astype(int)).mean() > 0.5
