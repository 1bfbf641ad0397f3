"""Faces in big frames (issue 25): is a small or far face found, is its pose the same as cropped, and what an
8000x6000 edit costs.

1. Pose consistency: ../shared/data/real-faces/face_recognition_obama-1080p.jpg (1920x1080, face 268 px wide)
   fitted as it is, as a 640 px crop around the face (the reference), pasted 450 and 300 px wide into a
   1920x1080 frame, and 720 px wide (9% of the width) into an 8000x6000 frame. Each goes through the photo
   engine's fit (rig.engine.photo.fit_photo: face finder, crop, fit); yaw/pitch/roll and their difference
   from the reference. "before" says whether MediaPipe's face mesh alone (the old path) found the face.
2. The 8000x6000 edit end to end: `facerig edit --photo big.jpg --yaw 15 --expression ... -o out.png` in a
   fresh process (imports and model loads included): wall and CPU seconds and peak RSS (getrusage in the
   child), by default (labelled and watermarked), the same with OMP_WAIT_POLICY=PASSIVE, with --no-watermark,
   and with --no-label --no-watermark (with --before DIR, an older tree's default edit on the same minutes);
   then the phases in this process (read, find + fit, render the window, paste, PNG encode), each with
   its seconds, CPU seconds and peak RSS (/proc VmHWM, reset before each phase).
Writes docs/big_photos.json. Nothing from shared/data is written into the repository.
Usage: nice -n 10 python -m bench.bench_big_photos [--repeats 1] [--cli-only] [--out docs/big_photos.json]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import machine_info, write_result  # noqa: E402

PHOTO = ROOT.parent / "shared" / "data" / "real-faces" / "face_recognition_obama-1080p.jpg"
#: the head in the 1080p photo: a square around the 268 px wide face (x0, y0, side)
HEAD = (700, 60, 640)
FACE_PX = 268
EDIT = ["--yaw", "15", "--expression", "mouthSmileLeft=0.5", "mouthSmileRight=0.5"]


def paste_face(photo: np.ndarray, face_px: int, size: tuple[int, int]) -> np.ndarray:
    """The photo scaled so the face is `face_px` wide, laid into a (w, h) frame whose rest mirrors the photo."""
    k = face_px / FACE_PX
    scaled = np.asarray(Image.fromarray(photo).resize((round(photo.shape[1] * k), round(photo.shape[0] * k)),
                                                      Image.LANCZOS))
    w, h = size
    if scaled.shape[0] >= h and scaled.shape[1] >= w:
        return np.ascontiguousarray(scaled[:h, :w])
    ph, pw = max(0, h - scaled.shape[0]), max(0, w - scaled.shape[1])
    big = np.pad(scaled, ((ph // 2, ph - ph // 2), (pw // 3, pw - pw // 3), (0, 0)), mode="symmetric")
    return np.ascontiguousarray(big[:h, :w])


def pose_cases(photo: np.ndarray) -> dict:
    from morphable.landmarks_mp import MediaPipeBackend
    from rig.engine.photo import fit_photo

    x0, y0, s = HEAD
    cases = {
        "cropped 640 px (reference)": photo[y0:y0 + s, x0:x0 + s],
        "1080p portrait, face 268 px": photo,
        "1920x1080, face 450 px": paste_face(photo, 450, (1920, 1080)),
        "1920x1080, face 300 px": paste_face(photo, 300, (1920, 1080)),
        "1920x1080, face 120 px": paste_face(photo, 120, (1920, 1080)),
        "8000x6000, face 720 px (9%)": paste_face(photo, 720, (8000, 6000)),
    }
    mesh = MediaPipeBackend()
    out, ref = {}, None
    for name, img in cases.items():
        before = bool(mesh.detect(img))
        t0 = time.perf_counter()
        try:
            rig, notes = fit_photo(np.ascontiguousarray(img))
        except Exception as exc:  # noqa: BLE001 -- a miss is a result here
            out[name] = {"size": list(img.shape[:2]), "found_before": before, "found": False, "error": str(exc)}
            continue
        pose = [round(float(v), 2) for v in rig.params.pose[0, :3]]
        ref = pose if ref is None else ref
        out[name] = {"size": list(img.shape[:2]), "found_before": before, "found": True,
                     "yaw_pitch_roll_deg": pose, "fit_s": round(time.perf_counter() - t0, 2),
                     "window": [rig.window.x0, rig.window.y0, rig.window.x1, rig.window.y1, rig.window.scale],
                     "diff_from_crop_deg": [round(a - b, 2) for a, b in zip(pose, ref)]}
        print(name, out[name], flush=True)
    return out


CHILD = """
import json, os, resource, sys, time
t0 = time.perf_counter()
from rig.cli import main
code = main(sys.argv[1:])
r = resource.getrusage(resource.RUSAGE_SELF)
hwm = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
print(json.dumps({"code": code, "wall_s": time.perf_counter() - t0, "cpu_s": r.ru_utime + r.ru_stime,
                  "peak_rss_mb": hwm / 1024}))
"""
# VmHWM, not ru_maxrss: Linux carries the parent's peak into an exec'd child's ru_maxrss
#: the CLI variants timed (options, environment): the default (label + invisible watermark over the whole
#: frame), the default with OpenMP's idle threads sleeping instead of spinning (torch's two threads spin-wait
#: for the cores others use: on a shared machine that costs seconds; the same pixels), and without the marks
CLI_VARIANTS = {"default (labelled, watermarked)": ([], {}),
                "default, OMP_WAIT_POLICY=PASSIVE": ([], {"OMP_WAIT_POLICY": "PASSIVE"}),
                "--no-watermark": (["--no-watermark"], {}),
                "--no-label --no-watermark": (["--no-label", "--no-watermark"], {})}


def cli_edit(big: Path, out: Path, extra: list[str], tree: Path = ROOT, env: dict | None = None) -> dict:
    """One `facerig edit` of the big photo in a fresh interpreter (importing rig and morphable from `tree`,
    with `env` added to the environment): exit code, wall and CPU seconds, peak RSS (MB)."""
    args = [sys.executable, "-c", CHILD, "edit", "--photo", str(big), *EDIT, "-o", str(out), *extra]
    load = os.getloadavg()[0]
    env = {**os.environ, **(env or {}), "PYTHONPATH": str(tree)}
    res = subprocess.run(args, capture_output=True, text=True, cwd=tree, env=env)
    last = res.stdout.strip().splitlines()[-1] if res.stdout.strip() else "{}"
    try:
        info = json.loads(last)
    except ValueError:
        return {"stdout": res.stdout[-500:], "stderr": res.stderr[-500:]}
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in info.items()} | {"loadavg_1min_before": load}


def _rss_mb() -> dict:
    """This process's resident memory now and its peak since the last _reset_peak (MB, Linux /proc)."""
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS", "VmHWM")):
                out[line.split(":")[0]] = int(line.split()[1]) // 1024
    return {"rss_mb": out.get("VmRSS"), "peak_mb": out.get("VmHWM")}


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def phases(big: Path, out: Path) -> dict:
    """The edit's phases in this process (models already loaded by the pose cases): seconds and memory after each."""
    from rig.outputs import encode_image
    from rig.engine.photo import fit_photo
    from rig.inputs import read_photo

    t: dict = {"before": _rss_mb()}
    steps = {}

    def step(name, fn):
        _reset_peak()
        t0, c0 = time.perf_counter(), time.process_time()
        value = fn()
        steps[name] = {"s": round(time.perf_counter() - t0, 2), "cpu_s": round(time.process_time() - c0, 2),
                       **_rss_mb()}
        return value

    img = step("read", lambda: read_photo(big))
    rig, _ = step("find_and_fit", lambda: fit_photo(img))
    target = rig.target(yaw=15, expression={"mouthSmileLeft": 0.5, "mouthSmileRight": 0.5})
    warped = step("render_window", lambda: rig.render(target, paste=False))
    edited = step("paste", lambda: rig.window.paste(rig.image, warped))
    step("png_encode", lambda: encode_image(out, edited))
    t["steps"] = steps
    t["total_s"] = round(sum(v["s"] for v in steps.values()), 2)
    t["total_cpu_s"] = round(sum(v["cpu_s"] for v in steps.values()), 2)
    changed = np.abs(edited.astype(np.int16) - img).max(-1) > 0
    ys, xs = np.nonzero(changed)
    t["output_size"] = list(edited.shape)
    t["changed_px_box"] = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1] if len(xs) else None
    t["warped_window"] = [rig.window.x0, rig.window.y0, rig.window.x1, rig.window.y1, rig.window.scale]
    return t


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "docs" / "big_photos.json"))
    p.add_argument("--skip-cli", action="store_true")
    p.add_argument("--cli-only", action="store_true", help="only the cold command-line edits (a minute or two)")
    p.add_argument("--repeats", type=int, default=1, help="cold runs of each CLI variant (each kept)")
    p.add_argument("--before", type=Path, help="an older tree (e.g. `git archive REV | tar -x -C DIR`): its default "
                                               "edit is timed alternately with this one's, on the same minutes")
    args = p.parse_args(argv)
    if not PHOTO.exists():
        print(f"shared data absent: {PHOTO}")
        return 1
    import torch

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    photo = np.asarray(Image.open(PHOTO).convert("RGB"))
    result = {"machine": machine_info(), "photo": PHOTO.name}
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big.jpg"
        Image.fromarray(paste_face(photo, 720, (8000, 6000))).save(big, quality=92)
        if not args.skip_cli:   # first, while this process is small
            runs = {name: [] for name in CLI_VARIANTS}
            before = []
            for _ in range(args.repeats):
                if args.before is not None:
                    before.append(cli_edit(big, Path(tmp) / "before.png", [], args.before.resolve()))
                for i, (name, (extra, env)) in enumerate(CLI_VARIANTS.items()):
                    runs[name].append(cli_edit(big, Path(tmp) / f"{i}.png", extra, env=env))
            result["cli_edit_8000x6000_cold"] = {k: v[0] if len(v) == 1 else v for k, v in runs.items()}
            if before:
                result["cli_edit_8000x6000_cold"][f"before: {args.before.name} (default)"] = before
            print(result["cli_edit_8000x6000_cold"], flush=True)
        if args.cli_only:   # the other sections of an earlier full run are kept
            earlier = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
            write_result(args.out, {**earlier, **result})
            return 0
        result["pose_cases"] = pose_cases(photo)
        result["phases_8000x6000"] = phases(big, Path(tmp) / "c.png")
        print(result["phases_8000x6000"], flush=True)
    result["this_process_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
