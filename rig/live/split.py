"""Where a pipelined live session splits each render between its two threads, moved to even them out.

The tracking thread tracks frame k+1 and runs the render's first `upto` early stages (flow, extension,
warp: PhotoRig.prepare); the render thread finishes frame k and encodes it. The slower thread sets the
frame rate, and which one is slower depends on the machine, the output size and whether the mouth is
open, so the split is not fixed: every `window` answered frames, the split moves to where the medians
predict the slower thread is fastest, when that is at least `gain` faster than now. Every split gives the same
pixels (the same stages run in the same order, only in another thread).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

#: answered frames between two decisions, and the share the slower thread's time must fall by to move a stage
WINDOW, GAIN = 8, 0.05


@dataclass
class StageSplit:
    """How many early stages the tracking thread runs (`upto`, 0..most), and the times it decides from."""

    most: int
    upto: int | None = None
    window: int = WINDOW
    gain: float = GAIN
    moves: int = 0
    _track: deque = field(default_factory=deque, repr=False)
    _render: deque = field(default_factory=deque, repr=False)
    _stages: deque = field(default_factory=deque, repr=False)

    def __post_init__(self) -> None:
        self.upto = self.most if self.upto is None else max(0, min(int(self.upto), self.most))

    def record(self, track_side: float, render_side: float, stage_seconds: list[float]) -> None:
        """One answered frame: the tracking thread's seconds (tracking + its part of the render), the render
        thread's (the rest + encoding), and each early stage's seconds wherever it ran (`most` values)."""
        self._track.append(float(track_side))
        self._render.append(float(render_side))
        self._stages.append(list(stage_seconds))
        if len(self._track) >= self.window:
            self._decide()

    def _decide(self) -> None:
        t, r = float(np.median(self._track)), float(np.median(self._render))
        stage = np.median(np.asarray(self._stages), axis=0) if self.most else np.zeros(0)
        self._track.clear(), self._render.clear(), self._stages.clear()
        done = np.concatenate([[0.0], np.cumsum(stage)])      # seconds of the first u early stages, u = 0..most
        shift = done - done[self.upto]                        # what the tracking thread gains at split u
        slower = np.maximum(t + shift, r - shift)             # the slower thread's predicted seconds at each split
        best = int(np.argmin(slower))
        if best != self.upto and slower[best] < (1.0 - self.gain) * max(t, r):
            self.upto = best
            self.moves += 1
