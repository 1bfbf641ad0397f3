"""The end-to-end flows over the engine interface, written once for every engine (plain values in and out,
no files written, no arguments parsed):

    edit(engine, {"yaw": 15, "jawOpen": 0.4})          -> image, note, warning lines   (`facerig edit`)
    sweep(engine, {...}, "yaw", [-20, 0, 20])           -> labelled grid, note, lines   (`facerig edit --sweep`)
    reenact(engine, open_driver(path), blocks)          -> Reenacted                    (`facerig reenact`)
    animate(engine, tracks)                             -> frames, targets              (`facerig animate`)

Each engine keeps its own captions and output sizes (Engine.caption, finish, video), so the outputs are
what its own command wrote before the flows were shared.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from morphable.params import FaceParams

from .base import Engine


@dataclass
class Reenacted:
    """A face performing a tracked driver."""

    frames: np.ndarray          # (T,H,W,3) uint8 at the engine's own resolution
    targets: FaceParams         # (T) commanded (after any trained-range clamp)
    transferred: FaceParams     # (T) the driver's blocks on the face before any clamp (what a 3DMM can play)
    clamped: float              # share of frames a clamp changed
    driver: object              # rig.pipeline.TrackedDriver
    notes: list[str] = field(default_factory=list)


def edit(engine: Engine, values: dict[str, float | str]) -> tuple[np.ndarray, str | None, list[str]]:
    """The face with the named controls (and 'light') set as given: the image as a command writes it, the
    engine's note on it (an upscale) and warning lines (the face's own, then one on the range)."""
    c = engine.controls().given(**values)
    note = engine.range_note(c)
    image, done = engine.finish(engine.render(c))
    return image, done, [*engine.notes, *([note] if note else [])]


def sweep(engine: Engine, values: dict[str, float | str], name: str, points: Sequence[float],
          ) -> tuple[np.ndarray, str | None, list[str]]:
    """A labelled row: the face as it came, then one edit per value of control `name` (the other `values` held)."""
    from ..frames import labelled_grid

    base = engine.controls().given(**values)
    cs = [base.given(**{name: float(v)}) for v in points]
    note = engine.range_note(*cs)
    tiles = [engine.finish(t) for t in engine.sweep_tiles(cs)]
    captions = [engine.original_caption, *[engine.caption(name, v) for v in points]]
    grid = labelled_grid([[t for t, _ in tiles]], None, [captions])
    return grid, engine.sweep_note(tiles[0][1]), [*engine.notes, *([note] if note else [])]


def reenact(engine: Engine, clip: tuple[list[np.ndarray], float], blocks: Sequence[str] = ("expression", "pose"),
            relative: bool = True, clamp: bool = True, landmarks: str | None = None, progress: bool = False,
            name: str = "the driver") -> Reenacted:
    """The face performs the driving clip (rig.inputs.open_driver's (frames, fps)): tracked with `landmarks`
    (default the engine's backend), its blocks transferred by the engine, the frames drawn."""
    from ..pipeline import track_driver
    from morphable.transfer import check_blocks

    blocks = check_blocks(list(blocks))
    frames, rate = clip
    # what the first frames would load (the photo engine's mouth filler, its photo's lids) loads meanwhile
    warm = threading.Thread(target=_quietly, args=(engine.warm_up,), name="engine-warm-up",
                            daemon=True)
    warm.start()
    try:
        tracked = track_driver(engine.model, frames, rate, landmarks or engine.landmarks, progress=progress, name=name)
    finally:
        warm.join()
    p = engine.perform(tracked.params, blocks, relative=relative, clamp=clamp, progress=progress)
    return Reenacted(p.frames, p.targets, p.transferred, p.clamped, tracked, p.notes)


def _quietly(job) -> None:
    """Run `job`, any error dropped (a warm-up's: the render that needs what it loads raises it again)."""
    try:
        job()
    except Exception:  # noqa: BLE001
        pass


def animate(engine: Engine, tracks, progress: bool = False) -> tuple[np.ndarray, FaceParams]:
    """Frames (T,H,W,3) uint8 of the face performing keyframed `tracks` (morphable.animation.Tracks), and the
    targets (the tracks sampled over the face's own params)."""
    from ..inputs import check_frame_count

    check_frame_count(tracks.num_frames, "the tracks")
    targets = tracks.sample(base=engine.params())
    return engine.animate(targets, progress=progress), targets
