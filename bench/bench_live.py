"""Live speed and steadiness: a real clip paced at its own frame rate drives a real photo (`facerig live`'s path).

Speed: for each output height (256, 512) and each runner (sequential; pipelined = tracking the next
frame in a second thread and preparing its render there (up to flow + extension + warp, the split moved to even
the threads: rig.live.split) while this one is finished; pipelined with the model mouth filler ("model") or with
the batch commands' inpainter instead of live's distilled one ("gan")), rig.live.run_live over PacedClip: decode (the clip's next frame),
track (morphable.fit.online), render (PhotoRig.render; pipelined: "prepare" in the tracking thread +
"finish" in the render thread, each with its thread's CPU ms), encode (JPEG q85, as the app answers). Reported: frames answered per second, dropped frames, latency from a frame's arrival
to its encoded answer (p50/p90/p99), stage medians, and the machine's load average before/after.

Jitter: every frame of the clip through the session (no drops), then dlib's 68 points (a detector
the tracker does not use) on the driver frames and on the answers; frame-to-frame landmark motion
in % of the inter-ocular distance, over the frame pairs where the driver holds still (its motion in
the lowest quarter). The goal: the output's motion there no higher than the driver's. dlib's points jump by
~0.6% of the IOD between two frames that differ by a 0.01 deg turn (its regression trees are step functions of the
pixels), so the same is also measured with each frame's points averaged over the predictor run on 27 shifted and
scaled copies of the detector's box ("averaged": ~0.16% there); and, so that a steadier output that no longer moves
does not pass, the correlation of output and driver motion over all pairs and the output's lag behind the driver
(cross-correlation peak of the nose tip's offset from the eyes' midpoint, a head-pose curve, in frames).

Browser: the app's Live page in headless Chromium with the clip as its camera; the page's own fps and latency.

Usage: nice -n 10 python -m bench.bench_live [--sizes 256 512] [--clip tpsmm_driving] [--seconds 8]
       [--runners sequential pipelined model] [--browser-seconds 20] [--out docs/live.json]
       nice -n 10 python -m bench.bench_live --clip aniportrait_pose_ref --jitter-frames 125 --skip-speed \
       --browser-seconds 0   # the jitter alone
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
#: the speed runs: name -> (pipelined, mouth filler)
RUNNERS = {"sequential": (False, None), "pipelined": (True, None), "model": (True, "model"), "gan": (True, "gan")}


def jpeg(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def speed(photo: Path, clip: Path, size: int, pipelined: bool, seconds: float | None, mouth: str | None = None) -> dict:
    from rig.live.run import run_live
    from rig.live.session import LiveSession
    from rig.live.sources import PacedClip

    source = PacedClip(clip)
    session, _ = LiveSession.from_photo(str(photo), size=size, fps=source.fps, mouth=mouth)
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
    out.update(size=size, output=list(session.size), pipelined=pipelined, mouth=mouth or "default", clip_fps=source.fps,
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


#: the averaged grading: the predictor on the detector's box shifted by these px and scaled by these factors
AVERAGE_SHIFTS, AVERAGE_SCALES = (-2, 0, 2), (0.97, 1.0, 1.03)


def dlib_points_averaged(frames) -> np.ndarray:
    """(T,68,2) dlib points, each frame's the mean over the predictor run on shifted and scaled copies of the
    detector's box (the largest face): a smoother measure of motion than one run, whose points jump on tiny changes."""
    import dlib

    from morphable.landmarks import _dlib_model

    detector, predictor = _dlib_model("detector"), _dlib_model("predictor")
    out = []
    for f in frames:
        img = np.ascontiguousarray(f)
        boxes = detector(img, 1)
        if not len(boxes):
            out.append(np.full((68, 2), np.nan))
            continue
        b = max(boxes, key=lambda r: r.area())
        cx, cy = (b.left() + b.right()) / 2.0, (b.top() + b.bottom()) / 2.0
        runs = []
        for s in AVERAGE_SCALES:
            h = b.width() * s / 2.0
            for dx in AVERAGE_SHIFTS:
                for dy in AVERAGE_SHIFTS:
                    box = dlib.rectangle(*(int(round(v)) for v in (cx + dx - h, cy + dy - h, cx + dx + h, cy + dy + h)))
                    runs.append([[p.x, p.y] for p in predictor(img, box).parts()])
        out.append(np.mean(np.asarray(runs, dtype=np.float64), 0))
    return np.stack(out)


def nose_offset(points: np.ndarray) -> np.ndarray:
    """(T,2) the nose tip's offset from the outer eye corners' midpoint in inter-ocular distances (a head-pose curve:
    x follows the yaw, y the pitch)."""
    iod = np.linalg.norm(points[:, 36] - points[:, 45], axis=1)
    return (points[:, 30] - (points[:, 36] + points[:, 45]) / 2.0) / iod[:, None]


def lag_frames(a: np.ndarray, b: np.ndarray, most: int = 8) -> tuple[float, float]:
    """Frames by which curve b lags curve a (the peak of their normalised cross-correlation, refined by a parabola),
    and the peak's correlation; NaNs count as the mean."""
    a, b = np.nan_to_num(a - np.nanmean(a)), np.nan_to_num(b - np.nanmean(b))
    lags = np.arange(-most, most + 1)
    c = np.array([np.dot(a[max(0, -k):len(a) - max(0, k)], b[max(0, k):len(b) - max(0, -k)]) for k in lags])
    c = c / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12)
    i = int(np.argmax(c))
    off = 0.0
    if 0 < i < len(c) - 1 and c[i - 1] - 2 * c[i] + c[i + 1] < 0:
        off = 0.5 * (c[i - 1] - c[i + 1]) / (c[i - 1] - 2 * c[i] + c[i + 1])
    return round(float(lags[i] + off), 2), round(float(c[i]), 3)


def _still_stats(drv: np.ndarray, res: np.ndarray, pairs_ok: np.ndarray, still_by: np.ndarray | None = None) -> dict:
    """Motion where the driver holds still (the quarter of pairs with the least motion of `still_by`, default `drv`),
    over all pairs, and the correlation of the output's motion with the driver's over all pairs."""
    by = drv if still_by is None else still_by
    ok = pairs_ok & np.isfinite(drv) & np.isfinite(res) & np.isfinite(by)
    still = ok & (by <= np.nanquantile(by[ok], STILL_SHARE))
    return {"pairs_graded": int(ok.sum()), "still_pairs": int(still.sum()),
            "driver_motion_iod_pct_still": stats(drv[still]), "output_motion_iod_pct_still": stats(res[still]),
            "driver_motion_iod_pct_all": stats(drv[ok]), "output_motion_iod_pct_all": stats(res[ok]),
            "ratio_still_median": round(float(np.median(res[still]) / np.median(drv[still])), 3),
            "motion_correlation_all": round(float(np.corrcoef(drv[ok], res[ok])[0, 1]), 3)}


def jitter(photo: Path, clip: Path, size: int, frames: int | None) -> dict:
    """Every frame through the session; dlib's motion of the driver (as given, and scaled to the output's face
    size, since dlib's pixel noise is a larger share of a smaller face) and of the answers."""
    from PIL import Image

    from rig.live.session import LiveSession
    from rig.inputs import open_driver

    driver, fps = open_driver(clip, max_frames=frames)
    session, _ = LiveSession.from_photo(str(photo), size=size, fps=fps)
    outs = [session.step(f, i / fps) for i, f in enumerate(driver)]
    keep = [i for i, o in enumerate(outs) if o.state == "tracking"]
    pairs = np.diff(keep) == 1
    dp, op = dlib_points([driver[i] for i in keep]), dlib_points([outs[i].image for i in keep])
    iod = lambda p: float(np.nanmedian(np.linalg.norm(p[:, 36] - p[:, 45], axis=1)))  # noqa: E731
    k = iod(op) / iod(dp)
    h, w = driver[0].shape[:2]
    scaled = [np.asarray(Image.fromarray(driver[i]).resize((round(w * k), round(h * k)), Image.LANCZOS)) for i in keep]
    sp = dlib_points(scaled)
    # the averaged grading on the scaled driver and the answers; the still pairs stay the plain driver's
    sa, oa = dlib_points_averaged(scaled), dlib_points_averaged([outs[i].image for i in keep])
    lags = {f"nose_{axis}": lag_frames(nose_offset(sa)[:, j], nose_offset(oa)[:, j]) for j, axis in enumerate("xy")}
    return {"size": size, "frames": len(keep), "iod_px_driver": round(iod(dp), 1), "iod_px_output": round(iod(op), 1),
            "driver_as_given": _still_stats(motion(dp), motion(op), pairs),
            "driver_at_output_face_size": _still_stats(motion(sp), motion(op), pairs),
            "averaged_at_output_face_size": _still_stats(motion(sa), motion(oa), pairs, still_by=motion(dp)),
            "output_lag_frames_and_peak_correlation": lags}


def browser(photo: Path, clip: Path, seconds: float) -> dict:
    """The app's Live page in headless Chromium, its camera the clip (Y4M, 320 px): fps and latency from a camera
    frame drawn for sending to its answer shown, as the page measures them, over `seconds` of tracking."""
    import subprocess
    import tempfile

    import imageio_ffmpeg
    from playwright.sync_api import sync_playwright

    from rig.app import free_port, start
    from rig.app.browser import CHROMIUM, CHROMIUM_FLAGS

    y4m = Path(tempfile.mkdtemp(prefix="bench-live-")) / "camera.y4m"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(clip), "-vf",
                    "scale=320:-2", "-pix_fmt", "yuv420p", str(y4m)], check=True)
    app = start(port=free_port())
    try:
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS + [
                "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={y4m}"])
            page = b.new_context(permissions=["camera"]).new_page()
            page.goto(app.url.rstrip("/") + "/facerig/camera")
            page.set_input_files("#live-photo", str(photo))
            page.wait_for_function("() => document.querySelector('#live-photo-state').textContent.startsWith('ready')",
                                   timeout=180_000)
            page.click("#live-start")
            page.wait_for_function("() => window.facerigLive.state === 'tracking'", timeout=180_000)
            start_n = page.evaluate("() => [window.facerigLive.answered, window.facerigLive.dropped]")
            load0 = os.getloadavg()[0]
            page.wait_for_timeout(int(seconds * 1000))
            end = page.evaluate("() => ({n: window.facerigLive.answered, d: window.facerigLive.dropped, "
                                "lat: window.facerigLive.latencies})")
            b.close()
    finally:
        app.close()
    lat = np.asarray(end["lat"][start_n[0]:])
    return {"seconds": seconds, "frames_answered": end["n"] - start_n[0], "camera_frames_dropped": end["d"] - start_n[1],
            "fps": round((end["n"] - start_n[0]) / seconds, 2),
            "latency_ms": {f"p{q}": round(float(np.percentile(lat, q)), 1) for q in (50, 90, 99)},
            "load_before": round(load0, 2), "load_after": round(os.getloadavg()[0], 2)}


def _commit() -> str:
    import subprocess

    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photo", default=str(DATA / "tpsmm_source.png"))
    ap.add_argument("--clip", default="tpsmm_driving", help="a clip name in ../shared/data/real-faces or a path")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--seconds", type=float, default=None, help="stop each speed run after this long")
    ap.add_argument("--runners", nargs="+", choices=list(RUNNERS), default=list(RUNNERS),
                    help="sequential, pipelined, model (= pipelined with the model mouth filler)")
    ap.add_argument("--jitter-frames", type=int, default=None)
    ap.add_argument("--skip-jitter", action="store_true")
    ap.add_argument("--skip-speed", action="store_true", help="no speed runs (the jitter and browser runs alone)")
    ap.add_argument("--browser-seconds", type=float, default=20.0, help="0 skips the browser run")
    ap.add_argument("--out", default=str(ROOT / "docs" / "live.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    clip = Path(args.clip) if Path(args.clip).exists() else DATA / f"{args.clip}.mp4"
    if not clip.exists() or not Path(args.photo).exists():
        sys.exit(f"needs {clip} and {args.photo} (../shared/data/real-faces)")
    result = {"machine": machine_info(), "commit": _commit(), "photo": Path(args.photo).name, "clip": clip.name, "speed": [], "jitter": []}
    t0 = time.time()
    for size in [] if args.skip_speed else args.sizes:
        for pipelined, mouth in (RUNNERS[name] for name in args.runners):
            r = speed(Path(args.photo), clip, size, pipelined, args.seconds, mouth)
            print(r, flush=True)
            result["speed"].append(r)
    if not args.skip_jitter:
        for size in args.sizes[:1]:
            r = jitter(Path(args.photo), clip, size, args.jitter_frames)
            print(r, flush=True)
            result["jitter"].append(r)
    if args.browser_seconds > 0:
        r = browser(Path(args.photo), clip, args.browser_seconds)
        print(r, flush=True)
        result["browser"] = r
    result["seconds"] = round(time.time() - t0, 1)
    write_result(args.out, result)


if __name__ == "__main__":
    main()
