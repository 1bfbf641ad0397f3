"""The pipelined live runner's split of each render between its two threads (rig.live.split.StageSplit)."""
from __future__ import annotations

from rig.live.split import StageSplit

#: the early stages' seconds (flow, extension, warp), as measured at 256 px
STAGES = [0.014, 0.007, 0.002]


def _feed(split: StageSplit, track: float, render: float, frames: int) -> None:
    for _ in range(frames):
        split.record(track, render, STAGES)


def test_a_slower_tracking_thread_hands_its_last_stages_over():
    split = StageSplit(3)
    assert split.upto == 3
    _feed(split, track=0.045, render=0.030, frames=split.window - 1)
    assert split.upto == 3                       # no decision before a window of frames
    _feed(split, track=0.045, render=0.030, frames=1)
    assert split.upto == 1                       # extension and warp move over: 0.036 / 0.039
    _feed(split, track=0.036, render=0.039, frames=split.window)
    assert split.upto == 1 and split.moves == 1  # balanced: it stays


def test_a_slower_render_thread_takes_stages_back_only_when_it_helps():
    split = StageSplit(3, upto=0)
    _feed(split, track=0.020, render=0.050, frames=split.window)
    assert split.upto == 1                       # the flow moves to the tracking thread: 0.034 / 0.036 (with the
                                                 # extension too 0.041 / 0.029)
    close = StageSplit(3, upto=0)
    _feed(close, track=0.030, render=0.032, frames=close.window)
    assert close.upto == 0 and close.moves == 0  # within the gain: nothing moves
    tiny = StageSplit(3, upto=1)
    _feed(tiny, track=0.030, render=0.0315, frames=tiny.window)
    assert tiny.upto == 1                        # the warp back would gain under 5%


def test_upto_is_kept_in_range():
    assert StageSplit(3, upto=7).upto == 3 and StageSplit(3, upto=-1).upto == 0
    none = StageSplit(0)
    _feed(none, track=0.05, render=0.01, frames=none.window)
    assert none.upto == 0
