"""A live run's files through the output layer: the labelled MP4 (what the viewer saw) and the tracks."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import RigError
from .run import LiveRun

#: track files a live run writes: facerig's tracks (JSON/YAML) or Live Link Face's CSV
TRACK_SUFFIXES = (".json", ".yaml", ".yml", ".csv")


def write_run(outputs, run: LiveRun, video: str | os.PathLike | None, tracks: str | os.PathLike | None) -> None:
    """Queue the recording on `outputs` (rig.outputs.Outputs, paths already expected): written whole or not at all."""
    from morphable.animation import params_to_values, tracks_from_params
    from morphable.livelink import write_livelink

    if video is not None:
        if not run.images:
            raise RigError("nothing was recorded: no frame was answered")
        outputs.video(video, run.video(), run.fps)
    if tracks is not None:
        if not run.targets:
            raise RigError("no tracks to write: no face was tracked (the first frames settle the face)")
        params = run.tracks_params()
        times = [t - run.target_times[0] for t in run.target_times]
        if Path(tracks).suffix.lower() == ".csv":
            outputs.file(tracks, lambda tmp: write_livelink(tmp, times, params_to_values(params), run.fps))
        else:
            outputs.file(tracks, tracks_from_params(params, run.fps, times=times).save)
