"""Reenactment benchmark: a known 3DMM driver clip reenacted by N generated source faces.

The driver is the 3DMM demo clip (morphable.clip, 128 px, known params). It is tracked
(morphable.fit.track), then each source latent (FaceRig.sample(seed)) follows it with
rig.reenact (relative, blocks expression+pose). Every output frame is re-measured by a
landmark-only fit: identity kept (dlib descriptor vs the source image), transfer error of
yaw/pitch/jawOpen/smile change since frame 0 vs the driver's known change, landmark jitter,
and speed. Writes docs/reenact_measured.json and docs/img/reenact_strip.png.
Usage: python -m bench.bench_reenact [--sources 8]
       python -m bench.bench_reenact --sources 16 --clamp-compare docs/reenact_clamp.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import zipfile
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_rig import DlibIdentity, recorded_name  # noqa: E402
from bench.common import machine_info, stats  # noqa: E402
from morphable.arkit import expression_index  # noqa: E402
from morphable.clip import demo_tracks, render_clip  # noqa: E402
from morphable.fileio import atomic_output  # noqa: E402
from morphable.fit import Fitter  # noqa: E402
from morphable.landmarks import descriptor_distance  # noqa: E402
from morphable.params import FaceParams  # noqa: E402
from rig.face_rig import FaceRig, default_bundle  # noqa: E402
from rig.pipeline import track_driver  # noqa: E402
from rig.reenact import reenact  # noqa: E402

SAME_PERSON = 0.45
BLOCKS = ["expression", "pose"]
SEED0 = 31000
QUANTITIES = ("yaw", "pitch", "jawOpen", "smile")


def quantities(p: FaceParams) -> dict[str, np.ndarray]:
    """(T,) yaw, pitch (deg), jawOpen, smile (mean of both mouthSmiles) per frame."""
    e = p.expression.double().cpu().numpy()
    smile = (e[:, expression_index("mouthSmileLeft")] + e[:, expression_index("mouthSmileRight")]) / 2
    return {"yaw": p.yaw.double().cpu().numpy(), "pitch": p.pitch.double().cpu().numpy(),
            "jawOpen": e[:, expression_index("jawOpen")], "smile": smile}


def measure_frames(fitter: Fitter, frames: list[np.ndarray]) -> dict:
    """Landmark-only fits, ok mask, the fit's 68 landmarks and dlib descriptors of frames (NaN where missed).

    Descriptors use dlib's own detector and points (bench_rig.DlibIdentity), whichever backend the fit uses.
    """
    res = fitter(frames, photometric=False)
    n = len(frames)
    pts = np.full((n, 68, 2), np.nan)
    desc = DlibIdentity()(np.stack(frames))
    for i, d in enumerate(res.diagnostics):
        if d.detected is not None:
            pts[i] = d.detected
    ok = np.array(res.ok)
    q = quantities(res.params)
    for k in q:
        q[k] = np.where(ok, q[k], np.nan)
    return {"q": q, "ok": ok, "pts": pts, "desc": desc}


def jitter(pts: np.ndarray) -> np.ndarray:
    """(T-1,) mean landmark displacement between consecutive frames, % of inter-ocular distance."""
    iod = np.linalg.norm(pts[:, 45] - pts[:, 36], axis=1)
    disp = np.linalg.norm(pts[1:] - pts[:-1], axis=2).mean(1)
    return 100.0 * disp / ((iod[1:] + iod[:-1]) / 2)


def change_error(fitted: np.ndarray, reference: np.ndarray, start: float | None = None) -> dict:
    """Mean abs error, slope and correlation over time of the change since frame 0 (frames fitted).

    `start`: the fitted value at the start (default fitted[0]; the source image's fit for outputs).
    """
    start = fitted[0] if start is None else start
    if not np.isfinite(start):
        return {"n": 0}
    f, r = fitted - start, reference - reference[0]
    m = np.isfinite(f)
    out = {"n": int(m.sum()), "mae": float(np.abs(f[m] - r[m]).mean()),
           "slope": float(np.polyfit(r[m], f[m], 1)[0]) if m.sum() > 2 and np.ptp(r[m]) > 0 else None}
    out["corr"] = float(np.corrcoef(f[m], r[m])[0, 1]) if m.sum() > 2 and np.std(f[m]) > 0 else None
    return out


def pooled_error(pairs: np.ndarray) -> dict:
    """Mean abs error, slope and correlation of (fitted change, known change) pairs pooled over sources."""
    m = np.isfinite(pairs[:, 0])
    f, r = pairs[m, 0], pairs[m, 1]
    if len(f) < 3:
        return {"n": int(len(f))}
    return {"n": int(len(f)), "mae": float(np.abs(f - r).mean()), "slope": float(np.polyfit(r, f, 1)[0]),
            "corr": float(np.corrcoef(f, r)[0, 1]) if np.std(f) > 0 else None}


def upscale(img: np.ndarray, size: int) -> np.ndarray:
    k = size // img.shape[0]
    return np.repeat(np.repeat(img, k, 0), k, 1) if k > 1 else img


def strip(driver: np.ndarray, outputs: list[np.ndarray], step: int = 3, size: int = 128) -> np.ndarray:
    """Driver row over source rows, every `step`-th frame, 2 px gaps."""
    idx = range(0, len(driver), step)
    rows = [[upscale(driver[i], size) for i in idx]] + [[upscale(o[i], size) for i in idx] for o in outputs]
    gap = 2
    h, w = len(rows) * (size + gap) - gap, len(rows[0]) * (size + gap) - gap
    canvas = np.full((h, w, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            canvas[r * (size + gap):r * (size + gap) + size, c * (size + gap):c * (size + gap) + size] = tile
    return canvas


def summarize(values: list[dict], key: str) -> dict:
    return stats([v[key] for v in values if v.get(key) is not None])


def bench_landmarks(rig: FaceRig, name: str | None) -> str:
    """The backend that tracks the driver and re-fits outputs: `name`, else the bundle's (its estimator's labels)."""
    return name or rig.landmarks


def landmark_backend(name: str):
    """The backend instance for a backend_by_name name."""
    from morphable.landmark_backends import backend_by_name

    return backend_by_name(name)


def run(sources: int, bundle: Path, out_json: Path, out_png: Path, strip_rows: int = 3, clamp: bool = True,
        landmarks: str | None = None) -> dict:
    torch.set_num_threads(1)
    t_start = time.perf_counter()
    rig = FaceRig.load(bundle)
    landmarks = bench_landmarks(rig, landmarks)
    model = rig.model
    drv_frames, known = render_clip(model, demo_tracks(), size=128, identity_seed=0)
    known_q = quantities(known)
    t0 = time.perf_counter()
    driver = track_driver(model, list(drv_frames), 10.0, landmarks, name="the demo clip").params
    t_track = time.perf_counter() - t0
    tracked_q = quantities(driver)
    fitter = Fitter(model, backend=landmark_backend(landmarks))
    drv_meas = measure_frames(fitter, list(drv_frames))
    result: dict = {
        "driver": {"frames": len(drv_frames), "size": 128, "fps": 10,
                   "tracked_vs_known": {k: change_error(tracked_q[k], known_q[k]) for k in QUANTITIES},
                   "fitted_vs_known": {k: change_error(drv_meas["q"][k], known_q[k]) for k in QUANTITIES},
                   "jitter_iod_pct": stats(jitter(drv_meas["pts"])),
                   "dlib_found": int(np.isfinite(drv_meas["pts"][:, 0, 0]).sum())},
        "sources": [],
    }
    outputs = []
    t_rig_all = []
    pooled: dict[str, list] = {k: [] for k in QUANTITIES}  # (fitted change, known change) over all sources
    for s in range(sources):
        seed = SEED0 + s
        ws = rig.sample(seed)
        t0 = time.perf_counter()
        rec = reenact(rig, ws, driver, BLOCKS, relative=True, progress=False, clamp=clamp)
        t_rig = time.perf_counter() - t0
        t_rig_all.append(t_rig)
        src_img = rig.to_uint8(rig.image(ws))[0]
        frames = list(rec.frames)
        meas = measure_frames(fitter, [src_img] + frames)
        src_desc, out_desc = meas["desc"][0], meas["desc"][1:]
        dist = np.array([descriptor_distance(src_desc, d) if np.isfinite(d).all() and np.isfinite(src_desc).all()
                         else np.nan for d in out_desc])
        fitted = {k: v[1:] for k, v in meas["q"].items()}
        # change since the start: from the source image's fit (what frame 0 reproduces), else output frame 0
        start = {k: v[0] if np.isfinite(v[0]) else v[1] for k, v in meas["q"].items()}
        commanded = quantities(rec.targets)
        row = {
            "seed": seed, "dlib_found_source": bool(np.isfinite(src_desc).all()), "source_fitted": bool(meas["ok"][0]),
            "identity": {**stats(dist), "share_below": float((dist[np.isfinite(dist)] < SAME_PERSON).mean())
                         if np.isfinite(dist).any() else None, "frames_both_found": int(np.isfinite(dist).sum())},
            "fitted_frames": int(meas["ok"][1:].sum()),
            "vs_known": {k: change_error(fitted[k], known_q[k], start[k]) for k in QUANTITIES},
            "vs_commanded": {k: change_error(fitted[k], commanded[k], start[k]) for k in QUANTITIES},
            "jitter_iod_pct": stats(jitter(meas["pts"][1:])),
            "rig_synthesis_s": t_rig,
            "distances": [None if not np.isfinite(x) else round(float(x), 4) for x in dist],
            "fitted_change": {k: [None if not np.isfinite(x) else round(float(x - start[k]), 4)
                                  for x in fitted[k]] for k in QUANTITIES},
        }
        for k in QUANTITIES:
            if np.isfinite(start[k]):
                pooled[k] += list(zip(fitted[k] - start[k], known_q[k] - known_q[k][0]))
        result["sources"].append(row)
        outputs.append(rec.frames)
        print(f"seed {seed}: identity median {row['identity'].get('median', float('nan')):.3f}, "
              f"fitted {row['fitted_frames']}/{len(frames)}, rig {t_rig:.2f}s", flush=True)
    t_frames = len(drv_frames)
    all_dist = np.concatenate([[np.nan if d is None else d for d in r["distances"]] for r in result["sources"]])
    fin = all_dist[np.isfinite(all_dist)]
    rig_s = float(np.median(t_rig_all))
    by_frame = all_dist.reshape(sources, t_frames)
    blink_w = known.expression[:, expression_index("eyeBlinkLeft")].double().numpy()
    result["overall"] = {
        "identity": {**stats(fin), "share_below": float((fin < SAME_PERSON).mean()) if len(fin) else None,
                     "frames_both_found": int(len(fin)), "frames_total": int(len(all_dist))},
        "vs_known": {k: {"mae": summarize([r["vs_known"][k] for r in result["sources"]], "mae"),
                         "corr": summarize([r["vs_known"][k] for r in result["sources"]], "corr"),
                         "slope": summarize([r["vs_known"][k] for r in result["sources"]], "slope")}
                     for k in QUANTITIES},
        "vs_commanded": {k: {"mae": summarize([r["vs_commanded"][k] for r in result["sources"]], "mae"),
                             "corr": summarize([r["vs_commanded"][k] for r in result["sources"]], "corr")}
                         for k in QUANTITIES},
        "identity_by_frame": [{"frame": i, "median": None if not np.isfinite(by_frame[:, i]).any()
                               else round(float(np.nanmedian(by_frame[:, i])), 4),
                               "found": int(np.isfinite(by_frame[:, i]).sum()),
                               "known_yaw": round(float(known_q["yaw"][i]), 2),
                               "known_pitch": round(float(known_q["pitch"][i]), 2),
                               "known_jawOpen": round(float(known_q["jawOpen"][i]), 3),
                               "known_smile": round(float(known_q["smile"][i]), 3),
                               "known_blink": round(float(blink_w[i]), 3)} for i in range(t_frames)],
        "pooled_vs_known": {k: pooled_error(np.array(pooled[k]).reshape(-1, 2)) for k in QUANTITIES},
        "jitter_iod_pct_mean": summarize([r["jitter_iod_pct"] for r in result["sources"]], "mean"),
    }
    result["speed"] = {"tracking_fps": t_frames / t_track, "rig_synthesis_fps": t_frames / rig_s,
                       "end_to_end_fps": t_frames / (t_track + rig_s), "tracking_s": t_track,
                       "rig_synthesis_s_median": rig_s, "note": "end to end = tracking + rig + synthesis for one "
                       "source; excludes model loading and the bench's re-measurement fits"}
    result["setup"] = {"bundle": str(bundle.relative_to(ROOT) if bundle.is_relative_to(ROOT) else bundle),
                       "blocks": BLOCKS, "relative": True, "seeds": [SEED0, SEED0 + sources - 1],
                       "clamp_to_trained_range": bool(clamp and rig.trained_range is not None),
                       "fit_and_track_landmarks": recorded_name(landmarks), "bundle_landmarks": rig.landmarks,
                       "same_person_threshold": SAME_PERSON, "machine": machine_info(),
                       "total_s": time.perf_counter() - t_start}
    with atomic_output(out_json) as tmp:
        tmp.write_text(json.dumps(result, indent=1))
    with atomic_output(out_png) as tmp:
        iio.imwrite(tmp, strip(drv_frames, outputs[:strip_rows]))
    return result


def utk_photos(zip_path: Path, count: int) -> tuple[list[str], list[np.ndarray]]:
    """The first `count` photos (sorted names) of the UTKFace zip as RGB uint8 arrays."""
    with zipfile.ZipFile(zip_path) as zf:
        names = sorted(n for n in zf.namelist() if n.lower().endswith(".webp"))[:count]
        return names, [iio.imread(zf.read(n), extension=".webp")[..., :3] for n in names]


def run_photos(rig: FaceRig, zip_path: Path, sources: int, pool: int = 300, picks: int = 12,
               out_png: Path | None = None, clamp: bool = True, landmarks: str | None = None) -> dict:
    """Part (b): a driver of real photos ordered neutral -> smiling; only the smile is transferred.

    The first `pool` photos (sorted names) are fitted (landmark stage); among the fitted ones, the
    photo nearest to each of `picks` evenly spaced smile values between the 2nd and 98th percentile
    is taken (no repeats). The driver is neutral params carrying only those fitted smiles.
    """
    model = rig.model
    fitter = Fitter(model, backend=landmark_backend(bench_landmarks(rig, landmarks)))
    names, photos = utk_photos(zip_path, pool)
    res = fitter(photos, photometric=False)
    smile = quantities(res.params)["smile"]
    ok = np.flatnonzero(np.array(res.ok))
    lo, hi = np.percentile(smile[ok], [2, 98])
    chosen: list[int] = []
    for v in np.linspace(lo, hi, picks):
        rest = [i for i in ok if i not in chosen]
        chosen.append(int(min(rest, key=lambda i: abs(smile[i] - v))))
    li, ri = expression_index("mouthSmileLeft"), expression_index("mouthSmileRight")
    driver = model.neutral_params(picks)
    driver.expression[:, li] = res.params.expression[chosen, li].to(driver.expression.dtype)
    driver.expression[:, ri] = res.params.expression[chosen, ri].to(driver.expression.dtype)
    drv_smile = smile[chosen]
    rows, outputs = [], []
    for s in range(sources):
        ws = rig.sample(SEED0 + s)
        rec = reenact(rig, ws, driver, ["expression"], relative=True, progress=False, clamp=clamp)
        src_img = rig.to_uint8(rig.image(ws))[0]
        meas = measure_frames(fitter, [src_img] + list(rec.frames))
        src_desc = meas["desc"][0]
        dist = np.array([descriptor_distance(src_desc, d) if np.isfinite(d).all() and np.isfinite(src_desc).all()
                         else np.nan for d in meas["desc"][1:]])
        start = meas["q"]["smile"][0]
        rows.append({"seed": SEED0 + s, "smile_vs_driver": change_error(meas["q"]["smile"][1:], drv_smile, start),
                     "identity": {**stats(dist), "frames_both_found": int(np.isfinite(dist).sum())},
                     "distances": [None if not np.isfinite(x) else round(float(x), 4) for x in dist]})
        outputs.append(rec.frames)
    dist_all = np.array([np.nan if d is None else d for r in rows for d in r["distances"]])
    fin = dist_all[np.isfinite(dist_all)]
    if out_png is not None:
        tiles = np.stack([upscale(photos[i], 128) for i in chosen])
        with atomic_output(out_png) as tmp:
            iio.imwrite(tmp, strip(tiles, outputs[:3], step=1))
    return {"pool": pool, "fitted_in_pool": int(len(ok)), "picked": [names[i] for i in chosen],
            "picked_smile": [round(float(x), 4) for x in drv_smile],
            "selection": "nearest fitted photo to each of 12 evenly spaced smile values between the "
                         "2nd and 98th percentile of the pool's fitted smiles; driver = neutral + those smiles",
            "identity": {**stats(fin), "share_below": float((fin < SAME_PERSON).mean()) if len(fin) else None,
                         "frames_both_found": int(len(fin)), "frames_total": int(len(dist_all))},
            "smile_corr": summarize([r["smile_vs_driver"] for r in rows], "corr"),
            "smile_slope": summarize([r["smile_vs_driver"] for r in rows], "slope"),
            "smile_mae": summarize([r["smile_vs_driver"] for r in rows], "mae"),
            "sources": rows}


@torch.no_grad()
def capped_frames(rig: FaceRig, ws: torch.Tensor, targets: FaceParams, cap: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Frames of RigNet's latents for targets, each offset shortened to at most cap x |ws| (None: as is);
    also each frame's latent step |offset| / |ws| before the cap."""
    wt = rig.rignet(ws.expand(targets.batch_size, -1, -1), targets.to_vector().to(rig.device))
    delta = wt - ws
    step = delta.flatten(1).norm(dim=1) / ws.flatten(1).norm(dim=1)
    if cap is not None:
        delta = delta * (cap / step.clamp_min(cap)).view(-1, 1, 1)
    return rig.to_uint8(rig.image(ws + delta)), step.numpy()


def clamp_comparison(bundle: Path, sources: int, landmarks: str | None = None, step_cap: float | None = None) -> dict:
    """The demo-clip driver reenacted by `sources` faces with and without the trained-range clamp.

    Same driver, tracking, sources and measurement as run(); per setting: identity over all frames
    and at the blink frame, pooled transfer (change since the source image's fit vs the known change).
    With `step_cap`, a third setting (experimental, not in the API): clamped, and every frame's
    latent offset shortened to at most step_cap x |ws| (the identity floor's lever).
    """
    torch.set_num_threads(1)
    t_start = time.perf_counter()
    rig = FaceRig.load(bundle)
    if rig.trained_range is None:
        raise SystemExit(f"error: {bundle} stores no trained range; nothing to compare")
    landmarks = bench_landmarks(rig, landmarks)
    drv_frames, known = render_clip(rig.model, demo_tracks(), size=128, identity_seed=0)
    known_q = quantities(known)
    driver = track_driver(rig.model, list(drv_frames), 10.0, landmarks, name="the demo clip").params
    blink = known.expression[:, expression_index("eyeBlinkLeft")].double().numpy()
    blink_frame = int(np.argmax(blink))
    fitter = Fitter(rig.model, backend=landmark_backend(landmarks))
    out: dict = {}
    settings = [("not_clamped", False, None), ("clamped", True, None)]
    if step_cap is not None:
        settings.append((f"clamped_step_cap_{step_cap:g}", True, step_cap))
    for name, clamp, cap in settings:
        dist_all, clamped, pooled, steps = [], [], {k: [] for k in QUANTITIES}, []
        for s in range(sources):
            ws = rig.sample(SEED0 + s)
            rec = reenact(rig, ws, driver, BLOCKS, relative=True, progress=False, clamp=clamp)
            clamped.append(rec.clamped)
            frames, step = capped_frames(rig, ws, rec.targets, cap)
            steps.append(step)
            meas = measure_frames(fitter, [rig.to_uint8(rig.image(ws))[0]] + list(frames))
            src = meas["desc"][0]
            dist_all.append([descriptor_distance(src, d) if np.isfinite(d).all() and np.isfinite(src).all()
                             else np.nan for d in meas["desc"][1:]])
            for k in QUANTITIES:
                start = meas["q"][k][0]
                if np.isfinite(start):
                    pooled[k] += list(zip(meas["q"][k][1:] - start, known_q[k] - known_q[k][0]))
        d = np.array(dist_all)
        fin = d[np.isfinite(d)]
        out[name] = {
            "latent_step_rel_before_cap": stats(np.concatenate(steps)),
            "latent_step_rel_at_blink_frame": stats(np.array(steps)[:, blink_frame]),
            "identity": {**stats(fin), "share_below": float((fin < SAME_PERSON).mean()) if len(fin) else None,
                         "frames_both_found": int(len(fin)), "frames_total": int(d.size)},
            "identity_at_blink_frame": {"frame": blink_frame, **stats(d[:, blink_frame])},
            "pooled_vs_known": {k: pooled_error(np.array(pooled[k]).reshape(-1, 2)) for k in QUANTITIES},
            "share_of_frames_clamped": stats(clamped)}
    out["setup"] = {"bundle": str(bundle.relative_to(ROOT) if bundle.is_relative_to(ROOT) else bundle),
                    "blocks": BLOCKS, "relative": True, "seeds": [SEED0, SEED0 + sources - 1],
                    "trained_range": rig.trained_range.source, "fit_and_track_landmarks": recorded_name(landmarks),
                    "bundle_landmarks": rig.landmarks, "percentiles": list(rig.trained_range.percentiles),
                    "machine": machine_info(), "total_s": time.perf_counter() - t_start}
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sources", type=int, default=8)
    ap.add_argument("--bundle", type=Path, default=default_bundle())
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "reenact_measured.json")
    ap.add_argument("--png", type=Path, default=ROOT / "docs" / "img" / "reenact_strip.png")
    ap.add_argument("--utkface", type=Path, default=ROOT.parent / "shared" / "data" / "utkface" / "utkface-128-webp.zip",
                    help="UTKFace zip for part (b), a real-photo smile driver (skipped when absent)")
    ap.add_argument("--landmarks", choices=("auto", "mediapipe", "dlib"), default=None,
                    help="landmarks for tracking the driver and re-fitting the outputs (default: the bundle's, "
                         "the backend its estimator was labelled with)")
    ap.add_argument("--no-clamp", dest="clamp", action="store_false", help="reenact without the trained-range clamp")
    ap.add_argument("--clamp-compare", type=Path, metavar="JSON", help="instead: identity and transfer with and "
                    "without the trained-range clamp (demo-clip driver, --sources faces), written to JSON")
    ap.add_argument("--step-cap", type=float, default=None, help="with --clamp-compare: also measure clamped "
                    "reenactment with every latent offset capped at this fraction of |ws| (experimental)")
    args = ap.parse_args(argv)
    if args.clamp_compare:
        r = clamp_comparison(args.bundle, args.sources, args.landmarks, args.step_cap)
        with atomic_output(args.clamp_compare) as tmp:
            tmp.write_text(json.dumps(r, indent=1))
        print(json.dumps({k: v for k, v in r.items() if k != "setup"}, indent=1))
        return
    r = run(args.sources, args.bundle, args.out, args.png, clamp=args.clamp, landmarks=args.landmarks)
    if args.utkface.is_file():
        torch.set_num_threads(1)
        r["photo_smile_driver"] = run_photos(FaceRig.load(args.bundle), args.utkface, args.sources,
                                             out_png=args.png.with_name("reenact_utk_strip.png"), clamp=args.clamp,
                                             landmarks=args.landmarks)
        with atomic_output(args.out) as tmp:
            tmp.write_text(json.dumps(r, indent=1))
        print(json.dumps({k: v for k, v in r["photo_smile_driver"].items() if k != "sources"}, indent=1))
    print(json.dumps({"overall": r["overall"], "speed": r["speed"], "driver": r["driver"]}, indent=1))


if __name__ == "__main__":
    main()
