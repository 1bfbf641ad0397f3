"""The pipelined runner prepares each render in the tracking thread (LiveSession.prepare) and finishes it in the
other: its answers must be the pixels a plain render of the same target gives."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.slow
def test_pipelined_answers_are_the_plain_renders_of_their_targets(real_faces):
    from rig.live.run import run_live
    from rig.live.session import LiveSession
    from rig.live.sources import PacedClip

    source = PacedClip(real_faces / "tpsmm_driving.mp4", max_frames=45)
    session, _ = LiveSession.from_photo(real_faces / "tpsmm_source.png", size=128, fps=source.fps)
    run = run_live(session, source, record=True, pipelined=True)
    tracked = [i for i, s in enumerate(run.states) if s == "tracking"]
    assert len(tracked) >= 5 and len(run.targets) == len(tracked)
    for i, target in zip(tracked, run.targets):
        assert np.array_equal(run.images[i], session.rig.render(target))
        assert "prepare" in run.seconds[i] and run.seconds[i]["render"] >= run.seconds[i]["prepare"]
    # the answers move: a test of equal images is not one of the still photo
    assert any(not np.array_equal(run.images[i], run.images[tracked[0]]) for i in tracked[1:])


def test_prepare_then_finish_is_render_and_runs_only_the_early_stages():
    import torch

    from morphable.formats import load_model
    from rig.photo.photo_rig import PhotoRig

    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)
    model = load_model("default")
    params = model.neutral_params(1)
    rig = PhotoRig.from_fit(image, params, [8.0, 8.0, 80.0], model)
    target = rig.target(yaw=8, expression={"jawOpen": 0.4})
    state = rig.prepare(target)
    assert state.done == 2 and state.flow is not None and state.disp is not None and state.image is None
    assert np.array_equal(rig.finish(state), rig.render(target))
    assert torch.equal(rig.prepare(target).disp, state.disp)
