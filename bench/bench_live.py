"""Live speed and steadiness: a real clip paced at its own frame rate drives a real photo (`facerig live`'s path).

Speed: for each output height (256, 512) and each runner (sequential; pipelined = tracking the next
frame in a second thread while this one renders), rig.live.run_live over PacedClip: decode (the
clip's next frame), track (morphable.fit.online), warp (PhotoRig.render), encode (JPEG q85, as the
app answers). Reported: frames answered per second, dropped frames, latency from a frame's arrival
to its encoded answer (p50/p90/p99), stage medians, and the machine's load average before/after.

Jitter: every frame of the clip through the session (no drops), then dlib's 68 points (a detector
the tracker does not use) on the driver frames and on the answers; frame-to-frame landmark motion
in % of the inter-ocular distance, over the frame pairs where the driver holds still (its motion in
the lowest quarter). The goal: the output's motion there no higher than the driver's.

Usage: nice -n 10 python -m bench.bench_live [--sizes 256 512] [--clip tpsmm_driving] [--seconds 8] [--out docs/live.json]
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import machine_info, stats, write_result  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "real-faces"
STILL_SHARE = 0.25


def jpeg(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def speed(photo: Path, clip: Path, size: int, pipelined: bool, seconds: float | None) -> dict:
    from rig.live.run import run_live
    from rig.live.session import LiveSession
    from rig.live.sources import PacedClip

    source = PacedClip(clip)
    session, _ = LiveSession.from_photo(str(photo), size=size, fps=source.fps)
    load0 = os.getloadavg()[0]
    run = run_live(session, source, encode=jpeg, pipelined=pipelined, max_seconds=seconds)
    out = run.summary()
    tracked = [i for i, s in enumerate(run.states) if s == "tracking"]
    # the settled part alone (the first frames settle the face and are not warped)
    if len(tracked) > 1:
        a, b = tracked[0], tracked[-1]
        span = run.answered[b] - run.answered[a]
        out["fps_tracking"] = round((b - a) / span, 2) if span > 0 else None
        lat = run.latencies()[tracked] * 1000
        out["latency_ms_tracking"] = {f"p{q}": round(float(np.percentile(lat, q)), 1) for q in (50, 90, 99)}
        dropped_after = sum(run.indices[j] - run.indices[j - 1] - 1 for j in tracked[1:])
        out["dropped_tracking"] = int(dropped_after)
        out["source_frames_tracking"] = int(run.indices[b] - run.indices[a] + 1)
    out.update(size=size, output=list(session.size), pipelined=pipelined, clip_fps=source.fps,
               load_before=round(load0, 2), load_after=round(os.getloadavg()[0], 2))
    return out


def motion(points: np.ndarray) -> np.ndarray:
    """(T-1,) mean landmark motion between consecutive frames in % of that pair's inter-ocular distance."""
    iod = np.linalg.norm(points[:, 36] - points[:, 45], axis=1)
    step = np.linalg.norm(points[1:] - points[:-1], axis=2).mean(1)
    return 100.0 * step / ((iod[1:] + iod[:-1]) / 2.0)


def dlib_points(frames) -> np.ndarray:
    from morphable.landmarks import DlibBackend

    be = DlibBackend()
    out = []
    for f in frames:
        faces = be.detect(np.ascontiguousarray(f))
        out.append(faces[0].points if faces else np.full((68, 2), np.nan))
    return np.stack(out)


def jitter(photo: Path, clip: Path, size: int, frames: int | None) -> dict:
    from rig.live.session import LiveSession
    from rig.pipeline import open_driver

    driver, fps = open_driver(clip, max_frames=frames)
    session, _ = LiveSession.from_photo(str(photo), size=size, fps=fps)
    outs = [session.step(f, i / fps) for i, f in enumerate(driver)]
    keep = [i for i, o in enumerate(outs) if o.state == "tracking"]
    drv = motion(dlib_points([driver[i] for i in keep]))
    res = motion(dlib_points([outs[i].image for i in keep]))
    ok = np.isfinite(drv) & np.isfinite(res) & (np.diff(keep) == 1)
    still = ok & (drv <= np.nanquantile(drv[ok], STILL_SHARE))
    return {"size": size, "frames": len(keep), "pairs_graded": int(ok.sum()), "still_pairs": int(still.sum()),
            "driver_motion_iod_pct_still": stats(drv[still]), "output_motion_iod_pct_still": stats(res[still]),
            "driver_motion_iod_pct_all": stats(drv[ok]), "output_motion_iod_pct_all": stats(res[ok]),
            "ratio_still_median": round(float(np.median(res[still]) / np.median(drv[still])), 3)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photo", default=str(DATA / "xportrait_source.png"))
    ap.add_argument("--clip", default="tpsmm_driving", help="a clip name in ../shared/data/real-faces or a path")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--seconds", type=float, default=None, help="stop each speed run after this long")
    ap.add_argument("--jitter-frames", type=int, default=None)
    ap.add_argument("--skip-jitter", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "docs" / "live.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    clip = Path(args.clip) if Path(args.clip).exists() else DATA / f"{args.clip}.mp4"
    if not clip.exists() or not Path(args.photo).exists():
        sys.exit(f"needs {clip} and {args.photo} (../shared/data/real-faces)")
    result = {"machine": machine_info(), "photo": Path(args.photo).name, "clip": clip.name, "speed": [], "jitter": []}
    t0 = time.time()
    for size in args.sizes:
        for pipelined in (False, True):
            r = speed(Path(args.photo), clip, size, pipelined, args.seconds)
            print(r, flush=True)
            result["speed"].append(r)
    if not args.skip_jitter:
        for size in args.sizes[:1]:
            r = jitter(Path(args.photo), clip, size, args.jitter_frames)
            print(r, flush=True)
            result["jitter"].append(r)
    result["seconds"] = round(time.time() - t0, 1)
    write_result(args.out, result)


if __name__ == "__main__":
    main()
