"""Speed of `facerig track` on a real 512 px clip, per stage: landmarks, the 3DMM fit, the mesh reading.

Stages are timed as the tracker runs them: MediaPipe's detection over every frame (refined, 478
points), then track_frames on those same detections (identity fit, per-frame pose/expression fit,
mesh expression and gaze reading, smoothing, light), with the mesh reading also timed alone.
Torch threads stay at torch's default unless --threads is given (the `facerig track` CLI does not
set them). Each stage's time is the best of --repeats runs, as wall-clock and as this process's CPU
time (on a shared, loaded machine the CPU time is the steadier number; with 1 torch thread it is
what an idle machine's wall-clock would be, less MediaPipe's own threads). Writes docs/bench_track.json.
Usage: python bench/bench_track.py [--clip ../shared/data/real-faces/xportrait_driving.mp4] [--repeats 3]
       [--threads 1] [--loops 4] [--out docs/bench_track.json]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import machine_info, write_result  # noqa: E402
from morphable.fit.mesh_expression import basis_for, mesh3d  # noqa: E402
from morphable.fit.track import mesh_expressions, track_frames  # noqa: E402
from morphable.fit.video_io import open_frames  # noqa: E402
from morphable.formats import load_model  # noqa: E402
from morphable.landmarks_mp import MediaPipeBackend  # noqa: E402

DEFAULT_CLIP = ROOT.parent / "shared" / "data" / "real-faces" / "xportrait_driving.mp4"


class Replay:
    """A landmark backend that hands back detections made earlier, in order (times the rest alone)."""

    def __init__(self, detections):
        self.detections = list(detections)
        self.i = 0

    def detect(self, image):
        out = self.detections[self.i % len(self.detections)]
        self.i += 1
        return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", default=str(DEFAULT_CLIP))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--loops", type=int, default=1,
                    help="play the clip this many times back to back (a longer clip: fixed costs spread thinner)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "bench_track.json"))
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    frames, fps = open_frames(args.clip)
    frames = list(frames) * max(1, args.loops)
    model = load_model("default")
    def best(fn):
        """(wall s, cpu s), each the least over the repeats."""
        wall, cpu = float("inf"), float("inf")
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
        return wall, cpu

    stages = {}
    for refine in (False, True):
        backend = MediaPipeBackend(refine=refine)
        found = []
        stages["landmarks (MediaPipe refined, 478 points)" if refine else "landmarks (MediaPipe, 468 points)"] = \
            best(lambda: found.__setitem__(slice(None), [backend.detect(f) for f in frames]))
    basis = basis_for(model)
    tracks = []
    stages["fit + mesh reading + smoothing + light"] = best(
        lambda: tracks.append(track_frames(model, frames, fps=fps, backend=Replay(found), light=True)))
    stages["fit + smoothing + light (expressions='fit')"] = best(
        lambda: track_frames(model, frames, fps=fps, backend=Replay(found), light=True, expressions="fit"))
    stages["fit + mesh reading + smoothing, no light"] = best(
        lambda: track_frames(model, frames, fps=fps, backend=Replay(found), light=False))
    fitted = tracks[-1].stacked().expression
    stages["mesh reading alone (expressions + gaze)"] = best(
        lambda: mesh_expressions(basis, [d[0] for d in found], fitted))
    n = len(frames)
    ms = {k: {"wall": 1e3 * w / n, "cpu": 1e3 * c / n} for k, (w, c) in stages.items()}
    total = {k: ms["landmarks (MediaPipe refined, 478 points)"][k] + ms["fit + mesh reading + smoothing + light"][k]
             for k in ("wall", "cpu")}
    ms["track total (refined landmarks + the rest)"] = total
    result = {
        "clip": Path(args.clip).name, "loops": args.loops, "frames": n, "size": list(frames[0].shape[:2]),
        "fps_clip": fps,
        "torch_threads": torch.get_num_threads(), "repeats (best of)": args.repeats,
        "ms_per_frame": ms,
        "frames_per_second": {k: 1e3 / v for k, v in total.items()},
        "machine": machine_info(),
    }
    write_result(args.out, result)
    for k, v in result["ms_per_frame"].items():
        print(f"{k:48s} wall {v['wall']:7.2f} ms  cpu {v['cpu']:7.2f} ms")
    fs = result["frames_per_second"]
    print(f"track: {fs['wall']:.1f} frames/s wall, {fs['cpu']:.1f} by CPU time (wrote {args.out})")


if __name__ == "__main__":
    main()
