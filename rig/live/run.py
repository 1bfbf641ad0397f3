"""Run a live session over a frame source and measure it: fps, latency from arrival to answer, frames dropped.

The answered frames can be kept (a recording): the MP4 shows each answer until the next one, at the
source's frame rate, i.e. what a viewer saw; the tracks are the photo's commanded params at the
times of the answered frames.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from morphable.params import FaceParams

from .session import LiveFrame, LiveSession
from .sources import frames_of
from .split import StageSplit


def even_frames(frames: np.ndarray) -> np.ndarray:
    """(T,H,W,3) with an odd height or width cut by its last row / column (H.264 in yuv420p needs even sides)."""
    h, w = frames.shape[1:3]
    return frames[:, : h - h % 2, : w - w % 2]


@dataclass
class LiveRun:
    """What happened: per answered frame its source index, arrival and answer time (s), stage seconds, state."""

    fps: float                                   # the source's frame rate
    indices: list[int] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)
    answered: list[float] = field(default_factory=list)
    seconds: list[dict[str, float]] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    dropped: int = 0
    wall: float = 0.0
    interrupted: bool = False                    # stopped by Ctrl-C (what was answered is kept)
    split: list[int] = field(default_factory=list)  # pipelined: early stages the tracking thread ran, per answer
    images: list[np.ndarray] = field(default_factory=list)     # kept when recording
    camera: list[np.ndarray] = field(default_factory=list)     # the driver frames, when recording them too
    targets: list[FaceParams] = field(default_factory=list)    # of the tracked frames (recording)
    target_times: list[float] = field(default_factory=list)

    @property
    def processed(self) -> int:
        return len(self.indices)

    def latencies(self) -> np.ndarray:
        """(N,) seconds from each answered frame's arrival to its answer."""
        return np.asarray(self.answered) - np.asarray(self.arrived)

    def stage(self, name: str) -> np.ndarray:
        """(N,) seconds of one stage (decode, track, render, encode, ...) over the frames that had it."""
        return np.asarray([s[name] for s in self.seconds if name in s])

    def summary(self) -> dict:
        """fps answered, latency percentiles (ms), dropped frames and the median of each stage (ms)."""
        lat = self.latencies() * 1000.0
        pct = (lambda q: round(float(np.percentile(lat, q)), 1)) if len(lat) else (lambda q: None)
        names = sorted({k for s in self.seconds for k in s})
        return {"frames_answered": self.processed, "frames_dropped": self.dropped,
                "fps": round(self.processed / self.wall, 2) if self.wall > 0 else None,
                "latency_ms": {"p50": pct(50), "p90": pct(90), "p99": pct(99)},
                "stage_ms_median": {k: round(1000.0 * float(np.median(self.stage(k))), 2) for k in names},
                "states": {s: self.states.count(s) for s in sorted(set(self.states))},
                **({"split": {"last": self.split[-1], "counts": {k: self.split.count(k) for k in sorted(set(self.split))}}}
                   if self.split else {})}

    def video(self) -> np.ndarray:
        """(T,H,W,3): each answered image held until the next answer, one frame per source frame (real time)."""
        if not self.images:
            raise ValueError("nothing was recorded")
        tiles = [np.concatenate([c, im], 1) for c, im in zip(self.camera, self.images)] if self.camera else self.images
        first, last = self.indices[0], self.indices[-1]
        out, k = [], 0
        for i in range(first, last + 1):
            while k + 1 < len(self.indices) and self.indices[k + 1] <= i:
                k += 1
            out.append(tiles[k])
        return even_frames(np.stack(out))

    def tracks_params(self) -> FaceParams:
        """The commanded params of the tracked frames, one row each (times in target_times)."""
        return FaceParams.cat(self.targets)


def _answer(run: LiveRun, source, arrival, out: LiveFrame, encode, record: bool, side_by_side: bool, on_frame) -> None:
    """Encode (timed), stamp and keep one answered frame."""
    from ..frames import fit_into

    seconds = out.seconds
    if encode is not None:
        t0 = time.perf_counter()
        encode(out.image)
        seconds["encode"] = time.perf_counter() - t0
    run.answered.append(source.now())
    run.arrived.append(arrival.time)
    run.indices.append(arrival.index)
    run.seconds.append(seconds)
    run.states.append(out.state)
    run.dropped += arrival.dropped
    if record:
        run.images.append(out.image)
        if side_by_side:
            run.camera.append(fit_into([arrival.frame], out.image.shape[0])[0])
        if out.target is not None:
            run.targets.append(out.target)
            run.target_times.append(arrival.time)
    if on_frame is not None:
        on_frame(out, arrival.index)


def run_live(session: LiveSession, source, record: bool = False, side_by_side: bool = False,
             encode: Callable[[np.ndarray], object] | None = None,
             on_frame: Callable[[LiveFrame, int], None] | None = None, max_seconds: float | None = None,
             pipelined: bool = False) -> LiveRun:
    """Feed `source`'s newest frames to `session` until the source ends (or `max_seconds`, or Ctrl-C).

    `encode` (timed as the stage 'encode') stands for what a viewer's path adds (the app: JPEG);
    `side_by_side` records the camera frame beside the answer (scaled to its height). `pipelined`
    tracks frame k+1 in a second thread while frame k is rendered, and prepares its render there
    (LiveSession.prepare: up to the flow, its extension and the warp, which need only the target; how many of
    them moves with the two threads' times, rig.live.split), so the two threads share the work (two cores: more
    frames a second, the same pixels); the tracking thread takes the source's newest frame when the render
    thread has taken the previous one (the frames that arrived meanwhile are dropped by the source)."""
    run = LiveRun(float(source.fps))
    t_start = time.perf_counter()
    try:
        if pipelined:
            _pipelined(run, session, source, record, side_by_side, encode, on_frame, max_seconds)
        else:
            for arrival in frames_of(source):
                out = session.step(arrival.frame, arrival.time)
                out.seconds["decode"] = source.decode_seconds[-1] if source.decode_seconds else 0.0
                _answer(run, source, arrival, out, encode, record, side_by_side, on_frame)
                if max_seconds is not None and source.now() >= max_seconds:
                    break
    except KeyboardInterrupt:
        run.interrupted = True
    finally:
        run.wall = time.perf_counter() - t_start
        source.close()
    return run


def _pipelined(run: LiveRun, session: LiveSession, source, record, side_by_side, encode, on_frame, max_seconds) -> None:
    from ..photo.stages import step_of

    cond = threading.Condition()
    state = {"slot": None, "done": False, "stop": False, "error": None}
    split = StageSplit(session.rig.early_stages)
    steps = [step_of(stage) for stage in session.rig.stages[:split.most]]

    def tracking() -> None:
        frames = frames_of(source)
        try:
            while True:
                # one frame ahead at most: the source's newest frame is taken once the render thread has taken the
                # last one, so no frame is tracked and prepared only to be overtaken (on a busy machine a quarter of
                # them were, their CPU taken from the render)
                with cond:
                    cond.wait_for(lambda: state["slot"] is None or state["stop"])
                    if state["stop"]:
                        return
                arrival = next(frames, None)
                if arrival is None:
                    return
                reading, target, seconds = session.track(arrival.frame, arrival.time)
                seconds["decode"] = source.decode_seconds[-1] if source.decode_seconds else 0.0
                upto = split.upto
                prepared, took = session.prepare(target, upto)   # the flow, extension, warp here: two threads share the work
                seconds.update(took)
                if prepared is not None:
                    seconds["split"] = upto
                with cond:
                    state["slot"] = (arrival, reading, target, prepared, seconds)
                    cond.notify_all()
        except BaseException as exc:  # noqa: BLE001 -- re-raised in the caller's thread
            state["error"] = exc
        finally:
            with cond:
                state["done"] = True
                cond.notify_all()

    worker = threading.Thread(target=tracking, name="live-track", daemon=True)
    worker.start()
    try:
        while True:
            with cond:
                cond.wait_for(lambda: state["slot"] is not None or state["done"])
                item, state["slot"] = state["slot"], None
                cond.notify_all()   # the tracking thread takes the next frame now
            if item is None:
                break
            arrival, reading, target, prepared, seconds = item
            image, took = session.render(target, prepared)
            if took is not None:   # the whole render: its part prepared in the tracking thread and the rest here
                seconds["finish"], seconds["finish_cpu"] = took, session.render_cpu
                seconds["render"] = took + seconds.get("prepare", 0.0)
                seconds["render_cpu"] = session.render_cpu + seconds.get("prepare_cpu", 0.0)
            upto = seconds.pop("split", None)
            _answer(run, source, arrival, LiveFrame(image, target, reading, seconds), encode, record, side_by_side,
                    on_frame)
            if upto is not None:
                run.split.append(upto)
                split.record(seconds["track"] + seconds.get("transfer", 0.0) + seconds.get("prepare", 0.0),
                             seconds["finish"] + seconds.get("encode", 0.0),
                             [prepared.seconds.get(step, 0.0) for step in steps])
            if max_seconds is not None and source.now() >= max_seconds:
                break
    finally:
        with cond:
            state["stop"] = True
            cond.notify_all()
        worker.join()
    if state["error"] is not None:
        raise state["error"]
