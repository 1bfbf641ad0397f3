"""A live session: one photo, fitted once, follows camera frames one at a time (causal, no look-ahead).

    session, notes = LiveSession.from_photo("me.jpg", size=256)
    for frame in camera:                      # (H,W,3) uint8 RGB
        out = session.step(frame, t)          # out.image: the photo following the face, size px high

Each frame: morphable.fit.online.OnlineTracker reads it (identity, neutral and reference settled from
the first frames; until then the photo is shown as it is), morphable.transfer.transfer puts the driver's
motion since its reference on the photo's fitted params (as `facerig reenact --photo` does relative to
frame 0), and PhotoRig.render warps the photo. Per-frame seconds are kept for the bench and the page.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from morphable.fit.online import OnlineFrame, OnlineTracker
from morphable.params import FaceParams

from ..errors import RigError
from ..photo.photo_rig import PhotoRig
from ..photo.stages import RenderState

#: what follows the driver: the photo keeps its own light
BLOCKS = ("expression", "pose")
#: output heights the session accepts
SIZE_RANGE = (64, 1024)
#: the mouth filler a session uses unless told: the distilled inpainter (rig.photo.mouth "gan-small"): the mouth
#: stage in about half the batch engine's time, where a frame's time is the budget
LIVE_FILLER = "gan-small"


@dataclass
class LiveFrame:
    """One answered frame: the image shown, the target it was rendered at (None while settling)."""

    image: np.ndarray                 # (size, W, 3) uint8
    target: FaceParams | None
    reading: OnlineFrame
    seconds: dict[str, float] = field(default_factory=dict)   # track, render (and the tracker's parts)

    @property
    def state(self) -> str:
        return self.reading.state


def scaled_rig(rig: PhotoRig, height: int) -> PhotoRig:
    """The same fit on the photo scaled to `height` px (aspect kept; rig.engine.photo.moved_to keeps the builder,
    shading, head guide and mouth filler): the warp's cost follows the output size."""
    from PIL import Image

    from ..engine.photo import moved_to

    h, w = rig.image.shape[:2]
    if h == height:
        return rig
    s = height / h
    small = np.asarray(Image.fromarray(rig.image).resize((max(1, round(w * s)), int(height)), Image.LANCZOS))
    return moved_to(rig, small, [v * s for v in rig.frame])


def live_rig(rig: PhotoRig, height: int) -> PhotoRig:
    """The rig a live session renders: a head-and-shoulders crop around the face (rig.engine.photo.preview_rig, as
    the app's live image) when the photo is larger, scaled to `height` px: a face in a big photo fills the view,
    and the warp costs the same for any photo."""
    from ..engine.photo import preview_rig

    return scaled_rig(preview_rig(rig, side=height), height)


class LiveSession:
    """The photo engine driven frame by frame; see the module docstring."""

    def __init__(self, rig: PhotoRig, fps: float = 25.0, tracker: OnlineTracker | None = None,
                 blocks: Sequence[str] = BLOCKS):
        from morphable.transfer import check_blocks

        self.rig = rig
        self.blocks = check_blocks(list(blocks))
        self.tracker = tracker if tracker is not None else OnlineTracker(rig.model, fps=fps)
        self._still = np.ascontiguousarray(rig.image)
        self.render_cpu = 0.0    # the last render's CPU seconds in its thread
        self._warm_up()

    def _warm_up(self) -> None:
        """Render once with the mouth opened and an eye closing (PhotoRig.warm_up), so the first live frames do not pay
        for compiling and loading (numba kernels, the mouth filler; the photo's own lids and irises, which the eye
        stage reads from MediaPipe when it first draws: ~0.8 s)."""
        self.rig.warm_up()

    @classmethod
    def from_photo(cls, photo: str | os.PathLike | np.ndarray, size: int = 256, fps: float = 25.0,
                   landmarks: str | None = None, face: int = 1, mouth: str | None = None,
                   ) -> tuple["LiveSession", list[str]]:
        """Open the photo's face (rig.engine.open_engine: the photo engine, fitted at full resolution) and render
        around it at `size` px high; `mouth` picks the mouth filler (rig.photo.mouth.FILLERS; None: LIVE_FILLER)."""
        from ..engine import open_engine

        if not SIZE_RANGE[0] <= size <= SIZE_RANGE[1]:
            raise RigError(f"size must be {SIZE_RANGE[0]}-{SIZE_RANGE[1]} px, got {size}")
        engine = open_engine(photo=photo, engine="warp", landmarks=landmarks, face=face)
        rig = engine.photo_rig
        rig.mouth = LIVE_FILLER if mouth is None else mouth   # the mouth interior's filler (PhotoRig.mouth)
        return cls(live_rig(rig, size), fps), engine.notes

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the answered images."""
        return self._still.shape[:2]

    def target(self, driver: FaceParams) -> FaceParams:
        """The photo's params with the driver's motion since its reference (morphable.transfer.transfer, relative)."""
        from morphable.transfer import transfer

        both = FaceParams.cat([self.tracker.reference, driver]).to(dtype=torch.float32)
        return transfer(self.rig.params, both, self.blocks, relative=True, translation=True)[1]

    def track(self, frame: np.ndarray, t: float | None = None) -> tuple[OnlineFrame, FaceParams | None, dict]:
        """The first half of a step: the frame's reading, the photo's target (None while settling), seconds."""
        t0, c0 = time.perf_counter(), time.thread_time()
        reading = self.tracker.step(frame, t)
        t1 = time.perf_counter()
        seconds = {"track": t1 - t0, **{f"track.{k}": v for k, v in reading.seconds.items()}}
        target = None if reading.params is None else self.target(reading.params)
        seconds["transfer"] = time.perf_counter() - t1
        # this thread's CPU seconds (less than the wall time when other processes hold the cores; MediaPipe's
        # own inference threads are not in it)
        seconds["track_cpu"] = time.thread_time() - c0
        return reading, target, seconds

    def prepare(self, target: FaceParams | None, upto: int | None = None) -> tuple[RenderState | None, dict]:
        """The render's first part, that reads only the target (PhotoRig.prepare: the flow, its extension and the warp;
        at most `upto` of those stages), and its seconds ("prepare", "prepare_cpu"); (None, {}) for None. The
        pipelined runner calls it in the tracking thread."""
        if target is None:
            return None, {}
        t0, c0 = time.perf_counter(), time.thread_time()
        state = self.rig.prepare(target, upto)
        return state, {"prepare": time.perf_counter() - t0, "prepare_cpu": time.thread_time() - c0}

    def render(self, target: FaceParams | None, prepared: RenderState | None = None) -> tuple[np.ndarray, float | None]:
        """The second half: the photo at `target` and the seconds it took (the photo as it is and None for None);
        `prepared`: what prepare(target) made (only the rest of the render is then done here)."""
        if target is None:
            return self._still, None
        t0, c0 = time.perf_counter(), time.thread_time()
        image = self.rig.finish(prepared if prepared is not None else self.rig.prepare(target))
        self.render_cpu = time.thread_time() - c0
        return image, time.perf_counter() - t0

    def step(self, frame: np.ndarray, t: float | None = None) -> LiveFrame:
        """Track one camera frame (H,W,3 RGB uint8, taken at `t` s) and answer the photo following it."""
        reading, target, seconds = self.track(frame, t)
        image, took = self.render(target)
        if took is not None:
            seconds["render"], seconds["render_cpu"] = took, self.render_cpu
        return LiveFrame(image, target, reading, seconds)

    def reset(self) -> None:
        """A new person in front of the camera: settle again."""
        self.tracker.reset()
