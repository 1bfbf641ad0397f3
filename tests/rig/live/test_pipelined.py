"""The pipelined runner prepares each render in the tracking thread (LiveSession.prepare) and finishes it in the
other: its answers must be the pixels a plain render of the same target gives."""
from __future__ import annotations

import time

import numpy as np
import pytest


class EveryFrame:
    """A source that hands out every frame of a list (none dropped, however slow the machine), stamped at fps."""

    def __init__(self, frames, fps):
        self.frames, self.fps, self.decode_seconds, self._k = list(frames), fps, [], -1

    def start(self):
        self._t0 = time.perf_counter()

    def now(self):
        return time.perf_counter() - self._t0

    def next(self):
        from rig.live.sources import Arrival

        self._k += 1
        if self._k >= len(self.frames):
            return None
        self.decode_seconds.append(0.0)
        return Arrival(self.frames[self._k], self._k, self._k / self.fps, 0)

    def close(self):
        pass


@pytest.mark.slow
def test_pipelined_answers_are_the_plain_renders_of_their_targets(real_faces, driver_frames):
    from rig.live.run import run_live
    from rig.live.session import LiveSession

    frames, fps = driver_frames
    session, _ = LiveSession.from_photo(real_faces / "tpsmm_source.png", size=128, fps=fps)
    run = run_live(session, EveryFrame(frames, fps), record=True, pipelined=True)
    # one frame ahead at most: the tracking thread waits for the render thread, so none is dropped here
    assert run.indices == list(range(len(frames))) and run.dropped == 0
    tracked = [i for i, s in enumerate(run.states) if s == "tracking"]
    assert len(tracked) >= 20 and len(run.targets) == len(tracked)
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
    assert state.done == 3 and state.flow is not None and state.disp is not None    # flow, extend, warp
    assert state.image is state.warped and state.warped is not None
    assert np.array_equal(rig.finish(state), rig.render(target))
    assert torch.equal(rig.prepare(target).disp, state.disp)
    # the pipelined runner may prepare fewer of them (rig.live.split): the same pixels
    assert rig.early_stages == 3
    for upto in (0, 1, 2):
        part = rig.prepare(target, upto)
        assert part.done == upto
        assert np.array_equal(rig.finish(part), rig.render(target))
