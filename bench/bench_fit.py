"""Benchmark of morphable.fit: accuracy on synthetic renders of known params, UTKFace residuals, speed.

Writes docs/fitting.json and docs/img/fit_*.png (docs/fitting.md quotes the numbers).
Ground truth by synthesis: random identity, a few expressions, yaw/pitch in +-40 deg, random
light, rendered with the ICT-FaceKit model and with the default model; everything is fitted
with the DEFAULT model, once per landmark backend (dlib and MediaPipe in the same run, same
images; "common" rows use only the images where every backend found a face).
Usage: python bench/bench_fit.py [--n 40] [--photos 100] [--threads 1] [--backends dlib,mediapipe]
       [--pitch-diagnosis]
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

from bench.common import stats  # noqa: E402
from morphable import lighting  # noqa: E402
from morphable.arkit import ARKIT_NAMES  # noqa: E402
from morphable.camera import Camera  # noqa: E402
from morphable.fit import Fitter  # noqa: E402
from morphable.fit.geometry import landmark_error_iod  # noqa: E402
from morphable.fit.landmark_fit import ndc_to_pixels, pixels_to_ndc  # noqa: E402
from morphable.fit.overlay import overlay_image  # noqa: E402
from morphable.fit.track import track_frames  # noqa: E402
from morphable.fileio import atomic_output  # noqa: E402
from morphable.formats import load_model  # noqa: E402
from morphable.params import FaceParams  # noqa: E402
from morphable.render import Renderer, to_uint8  # noqa: E402

SHARED = Path(os.environ.get("FACERIG_SHARED", ROOT.parent / "shared"))
ICT = SHARED / "data" / "ict-facekit" / "FaceXModel"
UTK = SHARED / "data" / "utkface" / "utkface-128-webp.zip"
EXPRESSIONS = [{}, {"jawOpen": 0.6}, {"mouthSmileLeft": 0.8, "mouthSmileRight": 0.8},
               {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}, {"browInnerUp": 0.8, "jawOpen": 0.3},
               {"mouthPucker": 0.7}]
SIZE = 128




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


def eval_synthetic(name, source, fitter, n, seed, data=None):
    imgs, truth = synth(source, n, seed) if data is None else data
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
        "pose_error_deg": {k: stats(err[sel, j]) for j, k in enumerate(("yaw", "pitch", "roll"))},
        "pose_error_deg_pitch_within_20": {k: stats(err[sel & pitch_ok, j]) for j, k in enumerate(("yaw", "pitch", "roll"))},
        "fitted_vs_true_slope": {"yaw": slope(0), "pitch": slope(1)},
        "pose_error_deg_exact_landmarks": {k: stats(orc_err[:, j]) for j, k in enumerate(("yaw", "pitch", "roll"))},
        "landmark_error_iod_pct_fit_vs_truth": stats(lm_gt[sel]),
        "landmark_error_iod_pct_fit_vs_detected": stats([d.landmark_error for d in res.diagnostics]),
        "landmark_error_iod_pct_detected68_vs_truth": stats(det_err),
        "expression_shared_names": len(shared),
        "expression_abs_error_shared": stats(ex_err[sel]),
        "jawOpen_abs_error": stats(jaw[sel]),
        "seconds_per_image_detect_and_fit": t_lm,
        "seconds_per_image_solver_only_batched": t_solve,
    }
    per_image = {"found": found, "pose_err": err, "expr_err": ex_err, "jaw_err": jaw,
                 "true_pose": tp["pose"][:, :3].numpy(), "fitted_pose": fp.pose[:, :3].numpy()}
    return out, imgs, res, per_image


def common_rows(per: dict) -> dict:
    """Pose / expression errors and slopes of every backend over the images all of them found."""
    both = np.logical_and.reduce([v["found"] for v in per.values()])
    out = {"images": int(both.sum())}
    for name, v in per.items():
        t, f = v["true_pose"][both], v["fitted_pose"][both]
        out[name] = {
            "pose_error_deg": {k: stats(v["pose_err"][both, j]) for j, k in enumerate(("yaw", "pitch", "roll"))},
            "fitted_vs_true_slope": {"yaw": float(np.polyfit(t[:, 0], f[:, 0], 1)[0]),
                                     "pitch": float(np.polyfit(t[:, 1], f[:, 1], 1)[0])},
            "expression_abs_error_shared": stats(v["expr_err"][both]),
            "jawOpen_abs_error": stats(v["jaw_err"][both])}
    return out


def make_backend(name: str):
    """A landmark backend by name (morphable.landmark_backends.backend_by_name)."""
    from morphable.landmark_backends import backend_by_name

    return backend_by_name(name)


def montage(tiles, cols, path):
    import imageio.v3 as iio
    from PIL import Image

    size = 160
    rows = (len(tiles) + cols - 1) // cols
    canvas = Image.new("RGB", (cols * size, rows * size), (255, 255, 255))
    for i, t in enumerate(tiles):
        canvas.paste(Image.fromarray(t).resize((size, size), Image.BILINEAR), ((i % cols) * size, (i // cols) * size))
    iio.imwrite(path, np.asarray(canvas))


# ---- pitch-bias diagnosis (--pitch-diagnosis) -------------------------------------------------
#: iBUG-68 groups for the diagnosis
GROUPS = {"jaw_side": [*range(0, 6), *range(11, 17)], "chin": list(range(6, 11)), "brows": list(range(17, 27)),
          "nose_bridge": list(range(27, 31)), "nostrils": list(range(31, 36)), "eyes": list(range(36, 48)),
          "mouth": list(range(48, 68))}


def _detect(imgs) -> list:
    """dlib's 68 points (px) of the largest face per image, None where none was found."""
    from morphable.landmarks import detect_faces

    out = []
    for im in imgs:
        faces = detect_faces(im)
        out.append(max(faces, key=lambda f: f.area).points if faces else None)
    return out


def pitch_motion(model) -> dict:
    """Vertical motion per 10 deg pitch (% IOD, image down +) of each group relative to the eye centre.

    Mean face + 2 random identities, yaw in +-25, pitch in +-30, roll 0: the true landmark vertices
    against dlib's points on the same renders.
    """
    rend, cam = Renderer(model, size=SIZE, background=0.35), Camera()
    pitch, true, det = [], [], []
    for k in range(3):
        base = model.neutral_params(1) if k == 0 else model.random_params(1, seed=500 + k)
        base = base.replace(light=lighting.preset(("front", "top", "left")[k]))
        for yaw in (-25, -12.5, 0, 12.5, 25):
            for p in (-30, -20, -10, 0, 10, 20, 30):
                q = base.with_pose(yaw=yaw, pitch=p, roll=0.0)
                with torch.no_grad():
                    img = to_uint8(rend(q).image)
                    gt = cam.project(model.landmarks3d(q), SIZE)[0].numpy()
                found = _detect([img])[0]
                if found is not None:
                    pitch.append(p), true.append(gt), det.append(found)
    pitch, true, det = np.array(pitch), np.array(true), np.array(det)
    eye = true[:, 36:48].mean(1, keepdims=True)
    iod = np.linalg.norm(true[:, 45] - true[:, 36], axis=1)[:, None]
    out = {"views": int(len(pitch))}
    dist = np.linalg.norm(det - true, axis=2) / iod * 100
    out["dlib_vs_true_pct_iod_by_abs_pitch"] = {
        str(a): {"inner": float(dist[np.abs(pitch) == a, 17:].mean()), "jaw": float(dist[np.abs(pitch) == a, :17].mean())}
        for a in (0, 10, 20, 30)}
    for name, ix in GROUPS.items():
        slope = lambda pts: float(np.polyfit(pitch, ((pts[:, ix, 1] - eye[..., 1]) / iod * 100).mean(1), 1)[0] * 10)  # noqa: E731
        out[name] = {"true": slope(true), "dlib": slope(det)}
    return out


def oracle_box_points(imgs, det, ok, gt_ndc) -> torch.Tensor:
    """dlib's predictor re-run on a face box placed from the TRUE landmarks (NDC out): does the box matter?

    The box is mapped from the inner landmarks' bounding box by a least-squares fit of dlib's own
    detector boxes against its first-pass points.
    """
    import dlib

    from morphable.landmarks import _dlib_model

    detector, predictor = _dlib_model("detector"), _dlib_model("predictor")

    def feat(pts):
        q = pts[17:]
        lo, hi = q.min(0), q.max(0)
        return np.array([*(lo + hi) / 2, *(hi - lo), 1.0])

    boxes = []
    for im in imgs:
        rects, _, _ = detector.run(im, 1, 0.0)
        r = max(rects, key=lambda r: r.area()) if rects else None
        boxes.append(None if r is None else [r.left(), r.top(), r.right(), r.bottom()])
    have = [k for k, bx in enumerate(boxes) if bx is not None]
    coef = np.linalg.lstsq(np.array([feat(det[ok[k]]) for k in have]), np.array([boxes[k] for k in have], float),
                           rcond=None)[0]
    gt_px = ndc_to_pixels(gt_ndc, SIZE).numpy()
    pts = []
    for im, g in zip(imgs, gt_px):
        shape = predictor(im, dlib.rectangle(*[int(round(v)) for v in feat(g) @ coef]))
        pts.append([[p.x, p.y] for p in shape.parts()])
    return pixels_to_ndc(torch.tensor(pts, dtype=torch.float64), SIZE)


def _pose_error(fitted, pose) -> dict:
    err = (fitted.pose[:, :3] - pose[:, :3]).abs().numpy()
    big = pose[:, 1].abs().numpy() > 20
    return {"yaw": float(err[:, 0].mean()), "pitch": float(err[:, 1].mean()),
            "pitch_within_20": float(err[~big, 1].mean()), "pitch_beyond_20": float(err[big, 1].mean()),
            "roll": float(err[:, 2].mean()),
            "pitch_slope": float(np.polyfit(pose[:, 1].numpy(), fitted.pose[:, 1].numpy(), 1)[0])}


def best_vertices(model, truth, det_ndc, radius: float = 0.03) -> torch.Tensor:
    """Per landmark, the vertex within `radius` m of the current one whose projections (true params)
    best match dlib over the given renders (least squares; turned-away jaw sides left out)."""
    cam = Camera()
    with torch.no_grad():
        proj = cam.to_ndc(model.vertices(truth)).double()
    tmpl, old = model.template, model.landmarks
    yaw = truth.pose[:, 0]
    new = old.clone()
    for j in range(68):
        use = (yaw > -10) if j < 8 else (yaw < 10) if 9 <= j < 17 else torch.ones_like(yaw, dtype=torch.bool)
        cand = torch.nonzero((tmpl - tmpl[old[j]]).norm(dim=1) < radius).flatten()
        cost = ((proj[use][:, cand] - det_ndc[use][:, None, j]) ** 2).sum(-1).mean(0)
        new[j] = cand[torch.argmin(cost)]
    return new


def pitch_diagnosis(model, n: int, seeds: tuple[int, ...]) -> dict:
    """Where the pitch bias with dlib comes from (docs/fitting.md, 'Pitch bias'): detector, vertices or priors."""
    from morphable.fit.landmark_fit import LandmarkFitConfig, LandmarkFitter

    res: dict = {"pitch_motion_pct_iod_per_10deg": pitch_motion(model)}
    pose_only = LandmarkFitConfig(fit_identity=False, fit_expression=False)
    for seed in seeds:
        imgs, truth = synth(model, n, seed)
        det = _detect(imgs)
        ok = [i for i, d in enumerate(det) if d is not None]
        truth = FaceParams.cat([truth[i] for i in ok])
        det_ndc = pixels_to_ndc(torch.tensor(np.stack([det[i] for i in ok]), dtype=torch.float64), SIZE)
        gt_ndc = Camera().to_ndc(model.landmarks3d(truth)).double()
        pose = truth.pose.double()
        start = truth.replace(pose=torch.cat([torch.zeros(len(ok), 2), truth.pose[:, 2:]], 1))  # true shape, pose from 0
        r: dict = {"renders": n, "detected": len(ok)}
        fit = lambda cfg, target, init=None: LandmarkFitter(model, config=cfg).fit(target, init=init)  # noqa: E731
        r["default_fit"] = _pose_error(fit(LandmarkFitConfig(), det_ndc), pose)
        r["true_shape_pose_only"] = _pose_error(fit(pose_only, det_ndc, start), pose)
        for jw in (0.0, 1.0):
            r[f"jaw_weight_{jw}"] = _pose_error(fit(LandmarkFitConfig(jaw_weight=jw), det_ndc), pose)
        r["exact_landmarks_jaw_weight_0"] = _pose_error(fit(LandmarkFitConfig(jaw_weight=0.0), gt_ndc), pose)
        swaps = {}
        for name, ix in GROUPS.items():
            mixed = gt_ndc.clone()
            mixed[:, ix] = det_ndc[:, ix]
            swaps[name] = _pose_error(fit(LandmarkFitConfig(), mixed), pose)["pitch"]
        r["pitch_error_exact_but_one_group_from_dlib"] = swaps
        r["exact_landmarks"] = _pose_error(fit(LandmarkFitConfig(), gt_ndc), pose)
        r["dlib_on_box_from_true_landmarks"] = _pose_error(fit(LandmarkFitConfig(), oracle_box_points(
            [imgs[i] for i in ok], det, ok, gt_ndc)), pose)
        # the floor of any landmark re-selection: vertices chosen on these very renders, true shape
        old = model.landmarks
        try:
            model.landmarks = best_vertices(model, truth, det_ndc)
            moved = (model.template[model.landmarks] - model.template[old]).norm(dim=1) * 1000
            r["in_sample_best_vertices"] = {
                "moved_mm": {k: float(moved[ix].mean()) for k, ix in GROUPS.items()},
                "true_shape_pose_only": _pose_error(fit(pose_only, det_ndc, start), pose),
                "default_fit": _pose_error(fit(LandmarkFitConfig(), det_ndc), pose)}
        finally:
            model.landmarks = old
        res[f"seed_{seed}"] = r
        print(json.dumps({k: r[k] for k in ("default_fit", "true_shape_pose_only")}), flush=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--photos", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "docs" / "fitting.json"))
    ap.add_argument("--backends", default="dlib,mediapipe",
                    help="landmark backends to compare, comma-separated (morphable.landmark_backends names)")
    ap.add_argument("--pitch-diagnosis", action="store_true",
                    help="only run the pitch-bias diagnosis and update its key in --out")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.pitch_diagnosis:
        path = Path(args.out)
        results = json.loads(path.read_text()) if path.exists() else {}
        results["pitch_diagnosis"] = pitch_diagnosis(load_model("default"), args.n, seeds=(1, 7))
        with atomic_output(path) as tmp:
            Path(tmp).write_text(json.dumps(results, indent=1) + "\n")
        print(json.dumps(results["pitch_diagnosis"], indent=1))
        return
    results: dict = {"torch_threads": args.threads, "load_average_start": os.getloadavg(), "cpu_count": os.cpu_count()}
    default = load_model("default")
    names = [b.strip() for b in args.backends.split(",") if b.strip()]
    fitters = {b: Fitter(default, backend=make_backend(b)) for b in names}
    results["backends"] = names
    shown = names[-1]   # pictures: the last backend (mediapipe by default)
    img_dir = ROOT / "docs" / "img"
    img_dir.mkdir(parents=True, exist_ok=True)
    sources = [("default", default)] + ([("ict", load_model(ICT))] if ICT.exists() else [])
    for name, src in sources:
        print(f"synthetic renders of {name} ...", flush=True)
        data = synth(src, args.n, seed=1 if name == "default" else 2)
        results[f"synthetic_{name}"], per = {}, {}
        for b, fitter in fitters.items():
            r, imgs, res, per[b] = eval_synthetic(name, src, fitter, args.n, 0, data)
            results[f"synthetic_{name}"][b] = r
            if b == shown:
                tiles = [overlay_image(default, im, res.params[i:i + 1], d)
                         for i, (im, d) in enumerate(zip(imgs[:8], res.diagnostics))]
                montage(tiles, 4, img_dir / f"fit_synthetic_{name}.png")
            print(b, json.dumps(r["pose_error_deg"]), flush=True)
        results[f"synthetic_{name}"]["common"] = common_rows(per)
    # photometric on a few renders of the default model
    imgs, truth = synth(default, 12, seed=3)
    tpose = torch.cat([p.pose for p in truth])
    texpr = torch.cat([p.expression for p in truth])
    results["photometric_default"] = {}
    for b, fitter in fitters.items():
        t0 = time.perf_counter()
        res = fitter(imgs, photometric=True)
        dt = (time.perf_counter() - t0) / len(imgs)
        lm_only = fitter(imgs, photometric=False)
        found = torch.tensor(["no_face" not in d.flags for d in res.diagnostics])
        r = {"renders": len(imgs), "detected": int(found.sum()), "seconds_per_image": dt,
             "photometric_abs_error": stats([d.photometric_error for d in res.diagnostics]),
             "yaw_pitch_roll_error_deg_photometric": (res.params.pose[found, :3] - tpose[found, :3]).abs().mean(0).tolist(),
             "yaw_pitch_roll_error_deg_landmarks_only": (lm_only.params.pose[found, :3] - tpose[found, :3]).abs().mean(0).tolist()}
        for key, rr in (("photometric", res), ("landmarks_only", lm_only)):
            diff = (rr.params.expression[found] - texpr[found]).abs()
            r[f"jawOpen_abs_error_{key}"] = float(diff[:, 17].mean())
            r[f"expression_abs_error_all52_{key}"] = float(diff.mean())
        results["photometric_default"][b] = r
        print(b, json.dumps(r), flush=True)
    # real photos
    if UTK.exists():
        import imageio.v3 as iio

        with zipfile.ZipFile(UTK) as z:
            names_utk = sorted(x for x in z.namelist() if x.endswith(".webp"))
            names_utk = names_utk[:: max(1, len(names_utk) // args.photos)][:args.photos]
            photos = [iio.imread(io.BytesIO(z.read(x))) for x in names_utk]
        results["utkface"] = {}
        for b, fitter in fitters.items():
            t0 = time.perf_counter()
            res = fitter(photos, photometric=False)
            dt = (time.perf_counter() - t0) / len(photos)
            errs = [d.landmark_error for d in res.diagnostics]
            r = {"photos": len(photos), "no_face": sum("no_face" in d.flags for d in res.diagnostics),
                 "flagged_unreliable": sum("unreliable_landmarks" in d.flags for d in res.diagnostics),
                 "landmark_set": next((d.landmark_set for d in res.diagnostics if d.landmark_set), ""),
                 "landmark_error_iod_pct": stats(errs),
                 "p99": float(np.nanpercentile(errs, 99)),
                 "seconds_per_photo_detect_and_fit": dt}
            if b == shown:
                tiles = [overlay_image(default, p, res.params[i:i + 1], d)
                         for i, (p, d) in enumerate(zip(photos[:16], res.diagnostics))]
                montage(tiles, 4, img_dir / "fit_utkface_montage.png")
            t0 = time.perf_counter()
            res4 = fitter(photos[:4], photometric=True)
            r["seconds_per_photo_photometric"] = (time.perf_counter() - t0) / 4
            r["photometric_abs_error"] = stats([d.photometric_error for d in res4.diagnostics])
            results["utkface"][b] = r
            print(b, json.dumps(r), flush=True)
    # tracking speed: a 24-frame yaw sweep at 128 px
    rend = Renderer(default, size=SIZE, background=0.35)
    base = default.random_params(1, seed=99).replace(light=lighting.preset("front"))
    yaws = np.linspace(-30, 30, 24)
    with torch.no_grad():
        frames = [to_uint8(rend(base.with_pose(yaw=float(y)).with_expression({"jawOpen": 0.4 * abs(np.sin(i / 4))})).image)
                  for i, y in enumerate(yaws)]
    for b, fitter in fitters.items():
        for light in (False, True):
            t0 = time.perf_counter()
            tr = track_frames(default, frames, fps=24.0, light=light, backend=fitter.backend)
            dt = (time.perf_counter() - t0) / len(frames)
            yaw = np.array([float(f.params.yaw[0]) for f in tr.frames])
            results.setdefault(f"track_{'light' if light else 'landmarks'}", {})[b] = {
                "frames": len(frames), "seconds_per_frame": dt, "yaw_abs_error": stats(np.abs(yaw - yaws))}
        t0 = time.perf_counter()
        for f in frames:
            fitter.backend.detect(f)
        results.setdefault("detector_seconds_per_frame_128px", {})[b] = (time.perf_counter() - t0) / len(frames)
    results["load_average_end"] = os.getloadavg()
    previous = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
    if "pitch_diagnosis" in previous:  # kept: refreshed by --pitch-diagnosis
        results["pitch_diagnosis"] = previous["pitch_diagnosis"]
    with atomic_output(args.out) as tmp:
        Path(tmp).write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k.startswith("track") or k.startswith("detector")}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
