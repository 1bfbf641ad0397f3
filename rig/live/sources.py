"""Where live frames come from: a clip paced at its own frame rate (a simulated camera) or a real camera.

Both hand out only the newest frame: whatever arrived while the previous one was being processed
is dropped and counted, never queued, as a live view must.
"""
from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..errors import RigError


@dataclass
class Arrival:
    """A frame handed to the session: its number in the source, when it arrived (s, source clock), the frames
    dropped since the previous one."""

    frame: np.ndarray
    index: int
    time: float
    dropped: int


class PacedClip:
    """A clip played as a camera: frame k arrives k / fps seconds after start(); `next()` gives the newest arrived
    frame (waiting for the next one when none is new) or None at the end. Decoding is lazy, one frame at a time,
    and its seconds are kept (`decode_seconds`)."""

    def __init__(self, path: str | os.PathLike, fps: float | None = None, max_frames: int | None = None):
        from morphable.errors import MorphableError
        from morphable.fit.video_io import open_frames

        try:
            self._frames, self.fps = open_frames(path, fps=fps, max_frames=max_frames)
        except MorphableError as exc:
            raise RigError(str(exc)) from None
        self.name = str(path)
        self._decoded = -1
        self._taken = -1
        self._start: float | None = None
        self._ended = False
        self.decode_seconds: list[float] = []

    def start(self) -> None:
        self._start = time.perf_counter()

    def now(self) -> float:
        return time.perf_counter() - self._start

    def _decode(self) -> np.ndarray | None:
        t0 = time.perf_counter()
        frame = next(self._frames, None)
        self.decode_seconds.append(time.perf_counter() - t0)
        if frame is None:
            self._ended = True
        else:
            self._decoded += 1
        return frame

    def next(self) -> Arrival | None:
        if self._start is None:
            self.start()
        if self._ended:
            return None
        newest = int(math.floor(self.now() * self.fps + 1e-9))
        if newest <= self._taken:   # nothing new: wait for the next frame
            newest = self._taken + 1
            time.sleep(max(0.0, newest / self.fps - self.now()))
        frame = None
        while self._decoded < newest:   # frames that arrived meanwhile are read past (a stream must be)
            frame = self._decode()
            if frame is None:
                return None
        dropped = newest - self._taken - 1
        self._taken = newest
        return Arrival(frame, newest, newest / self.fps, dropped)

    def close(self) -> None:
        close = getattr(self._frames, "close", None)
        if close is not None:
            close()


class Camera:
    """A camera through OpenCV: a thread keeps only the newest frame; `next()` waits for a frame newer than the
    last one taken. RigError when the camera cannot be opened (no device, no permission). `index` is a device
    number, or anything else cv2.VideoCapture opens (a stream URL, a file: read as fast as it decodes)."""

    def __init__(self, index: int | str, fps: float = 30.0, timeout: float = 5.0):
        os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")   # its own lines about a missing device: ours is one
        try:
            import cv2
        except ImportError:
            raise RigError("--camera needs OpenCV (pip install opencv-python)") from None
        self._cv2 = cv2
        try:
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        except AttributeError:
            pass
        self._cap = cv2.VideoCapture(index if isinstance(index, str) else int(index))
        if not self._cap.isOpened():
            self._cap.release()
            raise RigError(f"cannot open camera {index} (no such device, or no permission to use it)")
        rate = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(rate) if rate and rate > 0 else float(fps)
        self.name = f"camera {index}"
        self.timeout = timeout
        self.decode_seconds: list[float] = []
        self._cond = threading.Condition()
        self._latest: tuple[np.ndarray, int, float] | None = None
        self._count = 0
        self._taken = -1
        self._stop = False
        self._start = time.perf_counter()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def start(self) -> None:
        pass

    def now(self) -> float:
        return time.perf_counter() - self._start

    def _read(self) -> None:
        while not self._stop:
            t0 = time.perf_counter()
            ok, bgr = self._cap.read()
            if not ok:
                break
            rgb = self._cv2.cvtColor(bgr, self._cv2.COLOR_BGR2RGB)
            with self._cond:
                self.decode_seconds.append(time.perf_counter() - t0)
                self._latest = (rgb, self._count, self.now())
                self._count += 1
                self._cond.notify_all()
        with self._cond:
            self._stop = True
            self._cond.notify_all()

    def next(self) -> Arrival | None:
        with self._cond:
            ok = self._cond.wait_for(lambda: self._stop or (self._latest is not None and self._latest[1] > self._taken),
                                     self.timeout)
            if not ok or self._latest is None or self._latest[1] <= self._taken:
                return None   # the camera stopped
            frame, index, t = self._latest
            dropped = index - self._taken - 1
            self._taken = index
        return Arrival(frame, index, t, dropped)

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=2.0)
        self._cap.release()


def frames_of(source) -> Iterator[Arrival]:
    """Arrivals of a source until it ends."""
    source.start()
    while True:
        arrival = source.next()
        if arrival is None:
            return
        yield arrival
