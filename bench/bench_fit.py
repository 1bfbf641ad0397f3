"""Benchmark of morphable.fit: accuracy on synthetic renders of known params, UTKFace residuals, speed.

Writes docs/fitting.json and docs/img/fit_*.png (docs/fitting.md quotes the numbers).
Ground truth by synthesis: random identity, a few expressions, yaw/pitch in +-40 deg, random
light, rendered with the ICT-FaceKit model and with the default model; everything is fitted
with the DEFAULT model. Usage: python bench/bench_fit.py [--n 40] [--photos 100] [--threads 1]
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from morphable import lighting  # noqa: E402
from morphable.arkit import ARKIT_NAMES  # noqa: E402
from morphable.camera import Camera  # noqa: E402
from morphable.fit import Fitter  # noqa: E402
from morphable.fit.geometry import landmark_error_iod  # noqa: E402
from morphable.fit.landmark_fit import pixels_to_ndc  # noqa: E402
from morphable.fit.overlay import overlay_image  # noqa: E402
from morphable.fit.track import track_frames  # noqa: E402
from morphable.formats import load_model  # noqa: E402
from morphable.render import Renderer, to_uint8  # noqa: E402

SHARED = Path(os.environ.get("FACERIG_SHARED", ROOT.parent / "shared"))
ICT = SHARED / "data" / "ict-facekit" / "FaceXModel"
UTK = SHARED / "data" / "utkface" / "utkface-128-webp.zip"
EXPRESSIONS = [{}, {"jawOpen": 0.6}, {"mouthSmileLeft": 0.8, "mouthSmileRight": 0.8},
               {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}, {"browInnerUp": 0.8, "jawOpen": 0.3},
               {"mouthPucker": 0.7}]
SIZE = 128


def stats(x) -> dict:
    a = np.asarray(x, dtype=float)
    a = a[np.isfinite(a)]
    if not len(a):
        return {"n": 0}
    return {"n": int(len(a)), "mean": float(a.mean()), "median": float(np.median(a)),
            "p90": float(np.percentile(a, 90)), "max": float(a.max())}


def synth(model, n: int, seed: int):
    """n renders (uint8) of random params of `model`, their params and ground-truth landmarks (px)."""
    g = np.random.default_rng(seed)
    rend = Renderer(model, size=SIZE, background=0.35)
    imgs, params = [], []
    for i in range(n):
        p = model.random_params(1, seed=seed * 1000 + i)
        p = p.with_pose(yaw=float(g.uniform(-40, 40)), pitch=float(g.uniform(-40, 40)), roll=float(g.uniform(-10, 10)))
        expr = {k: v for k, v in EXPRESSIONS[i % len(EXPRESSIONS)].items() if k in model.expression_names}
        light = lighting.preset(str(g.choice(["front", "left", "right", "top", "ambient"])))
        p = p.with_expression(expr).replace(light=light * float(g.uniform(0.8, 1.2)))
        with torch.no_grad():
            out = rend(p)
        imgs.append(to_uint8(out.image))
        params.append(p)
    return imgs, params


def eval_synthetic(name, source, fitter, n, seed):
    imgs, truth = synth(source, n, seed)
    tp = {k: torch.cat([getattr(p, k) for p in truth]) for k in ("pose", "expression")}
    cam = Camera()
    gt_ndc = torch.cat([cam.to_ndc(source.landmarks3d(p)) for p in truth]).double()
    t0 = time.perf_counter()
    res = fitter(imgs, photometric=False)
    t_lm = (time.perf_counter() - t0) / n
    ok = np.array([d.ok for d in res.diagnostics])
    found = np.array(["no_face" not in d.flags for d in res.diagnostics])
    fp = res.params
    err = (fp.pose[:, :3] - tp["pose"][:, :3]).abs().numpy()
    fitted_ndc = fitter.landmarks.project(fp).double()
    lm_gt = landmark_error_iod(fitted_ndc, gt_ndc).numpy()
    det = [d.detected for d in res.diagnostics]
    det_err = [landmark_error_iod(pixels_to_ndc(torch.tensor(d)[None], SIZE), gt_ndc[i:i + 1]).item()
               if d is not None else np.nan for i, d in enumerate(det)]
    shared = [i for i, nm in enumerate(ARKIT_NAMES) if nm in source.expression_names and nm in fitter.model.expression_names]
    ex_err = (fp.expression[:, shared] - tp["expression"][:, shared]).abs().mean(1).numpy()
    jaw = (fp.expression[:, 17] - tp["expression"][:, 17]).abs().numpy()
    # oracle: the source model's exact 2D landmarks, no detector
    t0 = time.perf_counter()
    orc = fitter.landmarks.fit(gt_ndc)
    t_solve = (time.perf_counter() - t0) / n
    orc_err = (orc.pose[:, :3] - tp["pose"][:, :3]).abs().numpy()
    pitch_ok = np.abs(tp["pose"][:, 1].numpy()) <= 20
    sel = found
    slope = lambda j: float(np.polyfit(tp["pose"][sel, j].numpy(), fp.pose[sel, j].numpy(), 1)[0])  # noqa: E731
    out = {
        "renders": n, "detected": int(found.sum()), "ok": int(ok.sum()),
        "pose_error_deg_dlib": {k: stats(err[sel, j]) for j, k in enumerate(("yaw", "pitch", "roll"))},
        "pose_error_deg_dlib_pitch_within_20": {k: stats(err[sel & pitch_ok, j]) for j, k in enumerate(("yaw", "pitch", "roll"))},
        "fitted_vs_true_slope": {"yaw": slope(0), "pitch": slope(1)},
        "pose_error_deg_exact_landmarks": {k: stats(orc_err[:, j]) for j, k in enumerate(("yaw", "pitch", "roll"))},
        "landmark_error_iod_pct_fit_vs_truth": stats(lm_gt[sel]),
        "landmark_error_iod_pct_fit_vs_detected": stats([d.landmark_error for d in res.diagnostics]),
        "landmark_error_iod_pct_dlib_vs_truth": stats(det_err),
        "expression_shared_names": len(shared),
        "expression_abs_error_shared": stats(ex_err[sel]),
        "jawOpen_abs_error": stats(jaw[sel]),
        "seconds_per_image_detect_and_fit": t_lm,
        "seconds_per_image_solver_only_batched": t_solve,
    }
    return out, imgs, res


def montage(tiles, cols, path):
    import imageio.v3 as iio
    from PIL import Image

    size = 160
    rows = (len(tiles) + cols - 1) // cols
    canvas = Image.new("RGB", (cols * size, rows * size), (255, 255, 255))
    for i, t in enumerate(tiles):
        canvas.paste(Image.fromarray(t).resize((size, size), Image.BILINEAR), ((i % cols) * size, (i // cols) * size))
    iio.imwrite(path, np.asarray(canvas))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--photos", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "docs" / "fitting.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results: dict = {"torch_threads": args.threads, "load_average_start": os.getloadavg(), "cpu_count": os.cpu_count()}
    default = load_model("default")
    fitter = Fitter(default)
    img_dir = ROOT / "docs" / "img"
    img_dir.mkdir(parents=True, exist_ok=True)
    sources = [("default", default)] + ([("ict", load_model(ICT))] if ICT.exists() else [])
    for name, src in sources:
        print(f"synthetic renders of {name} ...", flush=True)
        r, imgs, res = eval_synthetic(name, src, fitter, args.n, seed=1 if name == "default" else 2)
        results[f"synthetic_{name}"] = r
        tiles = [overlay_image(default, im, res.params[i:i + 1], d) for i, (im, d) in enumerate(zip(imgs[:8], res.diagnostics))]
        montage(tiles, 4, img_dir / f"fit_synthetic_{name}.png")
        print(json.dumps(r["pose_error_deg_dlib"]), flush=True)
    # photometric on a few renders of the default model
    imgs, truth = synth(default, 12, seed=3)
    t0 = time.perf_counter()
    res = fitter(imgs, photometric=True)
    dt = (time.perf_counter() - t0) / len(imgs)
    lm_only = fitter(imgs, photometric=False)
    found = torch.tensor(["no_face" not in d.flags for d in res.diagnostics])
    tpose = torch.cat([p.pose for p in truth])
    results["photometric_default"] = {
        "renders": len(imgs), "detected": int(found.sum()), "seconds_per_image": dt,
        "photometric_abs_error": stats([d.photometric_error for d in res.diagnostics]),
        "yaw_pitch_roll_error_deg_photometric": (res.params.pose[found, :3] - tpose[found, :3]).abs().mean(0).tolist(),
        "yaw_pitch_roll_error_deg_landmarks_only": (lm_only.params.pose[found, :3] - tpose[found, :3]).abs().mean(0).tolist()}
    texpr = torch.cat([p.expression for p in truth])
    for key, r in (("photometric", res), ("landmarks_only", lm_only)):
        diff = (r.params.expression[found] - texpr[found]).abs()
        results["photometric_default"][f"jawOpen_abs_error_{key}"] = float(diff[:, 17].mean())
        results["photometric_default"][f"expression_abs_error_all52_{key}"] = float(diff.mean())
    print(json.dumps(results["photometric_default"]), flush=True)
    # real photos
    if UTK.exists():
        import imageio.v3 as iio

        with zipfile.ZipFile(UTK) as z:
            names = sorted(x for x in z.namelist() if x.endswith(".webp"))
            names = names[:: max(1, len(names) // args.photos)][:args.photos]
            photos = [iio.imread(io.BytesIO(z.read(x))) for x in names]
        t0 = time.perf_counter()
        res = fitter(photos, photometric=False)
        dt = (time.perf_counter() - t0) / len(photos)
        errs = [d.landmark_error for d in res.diagnostics]
        results["utkface"] = {
            "photos": len(photos), "no_face": sum("no_face" in d.flags for d in res.diagnostics),
            "flagged_unreliable": sum("unreliable_landmarks" in d.flags for d in res.diagnostics),
            "landmark_error_iod_pct": stats(errs),
            "p99": float(np.nanpercentile(errs, 99)),
            "seconds_per_photo_detect_and_fit": dt}
        tiles = [overlay_image(default, p, res.params[i:i + 1], d) for i, (p, d) in enumerate(zip(photos[:16], res.diagnostics))]
        montage(tiles, 4, img_dir / "fit_utkface_montage.png")
        t0 = time.perf_counter()
        res4 = fitter(photos[:4], photometric=True)
        results["utkface"]["seconds_per_photo_photometric"] = (time.perf_counter() - t0) / 4
        results["utkface"]["photometric_abs_error"] = stats([d.photometric_error for d in res4.diagnostics])
        print(json.dumps(results["utkface"]), flush=True)
    # tracking speed: a 24-frame yaw sweep at 128 px
    rend = Renderer(default, size=SIZE, background=0.35)
    base = default.random_params(1, seed=99).replace(light=lighting.preset("front"))
    yaws = np.linspace(-30, 30, 24)
    with torch.no_grad():
        frames = [to_uint8(rend(base.with_pose(yaw=float(y)).with_expression({"jawOpen": 0.4 * abs(np.sin(i / 4))})).image)
                  for i, y in enumerate(yaws)]
    for light in (False, True):
        t0 = time.perf_counter()
        tr = track_frames(default, frames, fps=24.0, light=light)
        dt = (time.perf_counter() - t0) / len(frames)
        yaw = np.array([float(f.params.yaw[0]) for f in tr.frames])
        results[f"track_{'light' if light else 'landmarks'}"] = {
            "frames": len(frames), "seconds_per_frame": dt, "yaw_abs_error": stats(np.abs(yaw - yaws))}
    t0 = time.perf_counter()
    from morphable.landmarks import detect_faces
    for f in frames:
        detect_faces(f)
    results["dlib_seconds_per_frame_128px"] = (time.perf_counter() - t0) / len(frames)
    results["load_average_end"] = os.getloadavg()
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k.startswith("track") or k.startswith("dlib")}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
