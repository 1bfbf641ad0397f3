"""Photo-engine benchmark: real UTKFace photos edited and reenacted by 3DMM flow warping.

Adults (20-65 by the file name's age) are drawn from ../shared/data/utkface, fitted once
(MediaPipe landmarks + photometric, batched), and edited with rig.photo.PhotoRig:
yaw +-10/20/30 and pitch +-15 (relative to the photo), jawOpen 0.3/0.6, both smiles 0.6,
both blinks 1.0, light left/right. Measured per edit: identity (dlib descriptor distance
original vs edit, share < 0.45), control (a landmark-only MediaPipe re-fit of every output:
yaw/pitch change vs the command, slope and mean error; the fitted ARKit weight of edited
expressions), the flow's exactness on 3DMM renders (PSNR of a warped render vs a direct one on
pixels visible in both), reenactment of the demo's known driver clip (identity over frames,
landmark jitter, correlation of output yaw/jawOpen change with the driver's) and speed.
Writes docs/photo_engine.json and docs/img/photo_{edit_grid,reenact_strip}.png.
Usage: nice -n 10 python -m bench.bench_photo [--photos 50] [--reenact 12]
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import machine_info, stats, time_call, write_result  # noqa: E402
from morphable import lighting  # noqa: E402
from morphable.arkit import expression_index  # noqa: E402
from morphable.clip import demo_tracks, render_clip  # noqa: E402
from morphable.fileio import atomic_output  # noqa: E402
from morphable.fit import Fitter  # noqa: E402
from morphable.fit.track import track_frames  # noqa: E402
from morphable.formats import load_model  # noqa: E402
from morphable.landmarks import DlibBackend, descriptor_distance, face_descriptor  # noqa: E402
from morphable.params import FaceParams  # noqa: E402
from morphable.render import Renderer  # noqa: E402
from rig.photo.photo_rig import PhotoRig  # noqa: E402

ZIP = ROOT.parent / "shared" / "data" / "utkface" / "utkface-128-webp.zip"
SAME_PERSON = 0.45
SMILE = {"mouthSmileLeft": 0.6, "mouthSmileRight": 0.6}
BLINK = {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}
#: name -> (PhotoRig.target kwargs, kind, commanded value)
EDITS = {
    **{f"yaw{d:+d}": ({"yaw": d, "relative": True}, "yaw", d) for d in (-30, -20, -10, 10, 20, 30)},
    **{f"pitch{d:+d}": ({"pitch": d, "relative": True}, "pitch", d) for d in (-15, 15)},
    "jawOpen0.3": ({"expression": {"jawOpen": 0.3}}, "expression", 0.3),
    "jawOpen0.6": ({"expression": {"jawOpen": 0.6}}, "expression", 0.6),
    "smile0.6": ({"expression": SMILE}, "expression", 0.6),
    "blink1.0": ({"expression": BLINK}, "expression", 1.0),
    "light_left": ({"light": "left"}, "light", None),
    "light_right": ({"light": "right"}, "light", None),
}
GRID_EDITS = ("yaw-20", "yaw+20", "pitch+15", "jawOpen0.6", "smile0.6", "blink1.0", "light_left")


def read_photos(count: int, seed: int) -> tuple[list[str], list[np.ndarray]]:
    """`count` random adult UTKFace photos (names, RGB arrays)."""
    from PIL import Image

    with zipfile.ZipFile(ZIP) as zf:
        names = sorted(n for n in zf.namelist() if n.endswith(".webp") and 20 <= int(Path(n).name.split("_")[0]) <= 65)
        pick = np.random.default_rng(seed).choice(len(names), count, replace=False)
        chosen = [names[i] for i in sorted(pick)]
        return chosen, [np.array(Image.open(io.BytesIO(zf.read(n))).convert("RGB")) for n in chosen]


class Identity:
    """dlib descriptors with dlib's own detector; where it finds no face (its HOG detector misses many
    faces turned 20 deg or more in 128 px photos), MediaPipe's 68 points align the same descriptor."""

    def __init__(self):
        from morphable.landmark_backends import backend_by_name

        self.backend = DlibBackend()
        self.fallback = backend_by_name("mediapipe")
        self.used_fallback: list[bool] = []

    def __call__(self, images, fallback: bool = False) -> np.ndarray:
        """(N,128), NaN rows where no face; with `fallback` MediaPipe's points stand in for dlib's."""
        out = np.full((len(images), 128), np.nan)
        self.used_fallback = [False] * len(images)
        for i, img in enumerate(images):
            faces = self.backend.detect(img)
            if not faces and fallback:
                faces = self.fallback.detect(img)
                self.used_fallback[i] = bool(faces)
            if faces:
                out[i] = face_descriptor(img, faces[0].points)
        return out


def share_below(d: np.ndarray) -> dict:
    """Share of edits under the same-person threshold; an edit dlib cannot find counts as failed."""
    n = len(d)
    found = np.isfinite(d)
    return {"n": int(n), "found": int(found.sum()), "share_below": float((d[found] < SAME_PERSON).sum() / max(n, 1)),
            "share_below_of_found": float((d[found] < SAME_PERSON).mean()) if found.any() else None,
            **{k: v for k, v in stats(d).items() if k != "n"}}


def quantities(p: FaceParams) -> dict[str, np.ndarray]:
    e = p.expression.double().numpy()
    q = {"yaw": p.yaw.double().numpy(), "pitch": p.pitch.double().numpy()}
    for name in ("jawOpen", "mouthSmileLeft", "mouthSmileRight", "eyeBlinkLeft", "eyeBlinkRight"):
        q[name] = e[:, expression_index(name)]
    q["smile"] = (q["mouthSmileLeft"] + q["mouthSmileRight"]) / 2
    q["blink"] = (q["eyeBlinkLeft"] + q["eyeBlinkRight"]) / 2
    return q


def refit(fitter: Fitter, images: list[np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Landmark-only re-fit: quantities (NaN where the fit failed), ok mask, detected 68 points."""
    res = fitter(images, photometric=False)
    ok = np.array(res.ok)
    q = {k: np.where(ok, v, np.nan) for k, v in quantities(res.params).items()}
    pts = np.full((len(images), 68, 2), np.nan)
    for i, d in enumerate(res.diagnostics):
        if d.detected is not None:
            pts[i] = d.detected
    return q, ok, pts


def line_fit(cmd: np.ndarray, got: np.ndarray) -> dict:
    m = np.isfinite(got)
    if m.sum() < 3:
        return {"n": int(m.sum())}
    c, g = cmd[m], got[m]
    return {"n": int(m.sum()), "slope": float(np.polyfit(c, g, 1)[0]), "mae": float(np.abs(g - c).mean()),
            "corr": float(np.corrcoef(c, g)[0, 1])}


def render_roundtrip(model, seeds: int = 6, size: int = 128) -> dict:
    """PSNR of a render at A warped to B vs the direct render at B, on pixels visible in both."""
    r = Renderer(model, size, background=0.5)
    out: dict[str, list] = {}
    for seed in range(seeds):
        a = model.random_params(1, seed=100 + seed).replace(light=lighting.preset(("front", "left", "right")[seed % 3]))
        img = (r(a).image[0].permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
        rig = PhotoRig.from_fit(img, a, [0, 0, size], model, flow_size=size)
        rig.shading = "full"
        for name, (kw, kind, _) in EDITS.items():
            if kind == "light":
                continue
            b = rig.target(**kw)
            ref = r(b).image[0].permute(1, 2, 0).numpy()
            got = rig.render(b).astype(np.float32) / 255.0
            both = rig.flow(b).known.numpy()
            out.setdefault(name, []).append(float(10 * np.log10(1.0 / ((got - ref) ** 2)[both].mean())))
    return {k: stats(v) for k, v in out.items()}


def calibrate_refit(model, fitter: Fitter, seeds: int = 4) -> dict:
    """The re-fit's own reading of known expressions on 3DMM renders (what the control numbers can see)."""
    r = Renderer(model, 128, background=0.4)
    shapes = {"neutral": {}, "jawOpen0.3": {"jawOpen": 0.3}, "jawOpen0.6": {"jawOpen": 0.6}, "smile0.6": SMILE,
              "blink1.0": BLINK}
    imgs, labels = [], []
    for seed in range(seeds):
        a = model.random_params(1, seed=200 + seed, identity_scale=0.7).replace(light=lighting.preset("front"))
        for name, e in shapes.items():
            imgs.append((r(a.with_expression(e)).image[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8))
            labels.append(name)
    q, _, _ = refit(fitter, imgs)
    lab = np.array(labels)
    return {name: {k: float(np.nanmean(q[k][lab == name])) for k in ("jawOpen", "smile", "blink")} for name in shapes}


def transfer(source: FaceParams, driver: FaceParams) -> FaceParams:
    """Driver's expression and head rotation since its frame 0, added to the photo's own (T rows)."""
    t = driver.batch_size
    out = source.map(lambda x: x.expand(t, *x.shape[1:]).clone())
    out.pose[:, :3] = out.pose[:, :3] + driver.pose[:, :3] - driver.pose[:1, :3]
    out.expression = (out.expression + driver.expression - driver.expression[:1]).clamp(0.0, 1.0)
    return out


def jitter(pts: np.ndarray) -> np.ndarray:
    """(T-1,) mean landmark displacement between consecutive frames, % of inter-ocular distance."""
    iod = np.linalg.norm(pts[:, 45] - pts[:, 36], axis=1)
    disp = np.linalg.norm(pts[1:] - pts[:-1], axis=2).mean(1)
    return 100.0 * disp / ((iod[1:] + iod[:-1]) / 2)


def corr(a: np.ndarray, b: np.ndarray) -> float | None:
    m = np.isfinite(a) & np.isfinite(b)
    if m.sum() < 3 or np.std(a[m]) == 0 or np.std(b[m]) == 0:
        return None
    return float(np.corrcoef(a[m], b[m])[0, 1])


def speed(model, photo: np.ndarray, params: FaceParams, frame: list[float]) -> dict:
    """Per-frame seconds (median, min of 5) of flow + extension + warp + layers at 256 and 512 px."""
    from PIL import Image

    out = {}
    for size, flow_size in ((256, 128), (512, 128), (512, 256)):
        k = size / photo.shape[0]
        big = np.array(Image.fromarray(photo).resize((size, size), Image.BICUBIC))
        rig = PhotoRig.from_fit(big, params, [v * k for v in frame], model, flow_size=flow_size)
        tgt = rig.target(yaw=15, expression={"jawOpen": 0.4}, relative=True)
        med, best = time_call(lambda: rig.render(tgt), repeats=5, warmup=1)
        rig.render(tgt)
        out[f"{size}px_flow{flow_size}"] = {"median_s": med, "min_s": best,
                                            "last_stages_s": {k2: round(v, 4) for k2, v in vars(rig.timing).items()}}
    return out


def grid(rows: list[list[np.ndarray]], gap: int = 2) -> np.ndarray:
    h, w = rows[0][0].shape[:2]
    canvas = np.full((len(rows) * (h + gap) - gap, len(rows[0]) * (w + gap) - gap, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            canvas[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = tile
    return canvas


def save_png(path: Path, img: np.ndarray) -> None:
    from PIL import Image

    with atomic_output(path) as tmp:   # a 256-colour palette keeps the docs pictures small
        Image.fromarray(img).quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(tmp, format="PNG", optimize=True)


def run(n_photos: int, n_reenact: int, seed: int, out_json: Path, img_dir: Path) -> dict:
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    t_all = time.perf_counter()
    model = load_model("default")
    fitter = Fitter(model)
    names, photos = read_photos(n_photos, seed)
    t0 = time.perf_counter()
    fit = fitter(photos, photometric=True)
    t_fit_batch = (time.perf_counter() - t0) / len(photos)
    t0 = time.perf_counter()
    PhotoRig.from_photo(photos[0], fitter=fitter)
    t_fit_one = time.perf_counter() - t0
    ident = Identity()
    src_desc = ident(photos)
    usable = [i for i, d in enumerate(fit.diagnostics) if d.ok and np.isfinite(src_desc[i]).all()]
    print(f"{len(usable)}/{len(photos)} photos fitted and found by dlib", flush=True)
    rigs = {i: PhotoRig.from_fit(photos[i], fit.params[i:i + 1], fit.diagnostics[i].frame, model) for i in usable}

    # ---- edits ------------------------------------------------------------------------------
    outputs: dict[str, list[np.ndarray]] = {name: [] for name in EDITS}
    t_edit = []
    for i in usable:
        for name, (kw, _, _) in EDITS.items():
            t0 = time.perf_counter()
            outputs[name].append(rigs[i].render(rigs[i].target(**kw)))
            t_edit.append(time.perf_counter() - t0)
    print("edits done", flush=True)
    base_q, base_ok, _ = refit(fitter, [photos[i] for i in usable])
    per_edit = {}
    yaw_pairs, pitch_pairs = [], []
    for name, (kw, kind, value) in EDITS.items():
        d = np.array([descriptor_distance(src_desc[i], o) if np.isfinite(o).all() else np.nan
                      for i, o in zip(usable, ident(outputs[name], fallback=True))])
        fb = np.array(ident.used_fallback)
        q, ok, _ = refit(fitter, outputs[name])
        row = {"identity": share_below(np.where(fb, np.nan, d)), "identity_mediapipe_fallback": share_below(d),
               "dlib_missed_found_by_mediapipe": int(fb.sum()), "refit_ok": int(ok.sum())}
        if kind in ("yaw", "pitch"):
            change = q[kind] - base_q[kind]
            row["control"] = {"commanded_deg": value, **stats(change)}
            (yaw_pairs if kind == "yaw" else pitch_pairs).extend((value, c) for c in change)
        elif kind == "expression":
            names_e = list(kw["expression"])
            got = np.mean([q[n] for n in names_e], axis=0)
            before = np.mean([base_q[n] for n in names_e], axis=0)
            row["control"] = {"commanded": value, "shapes": names_e, "fitted_weight": stats(got),
                              "fitted_before": stats(before), "fitted_change": stats(got - before)}
        per_edit[name] = row
        print(name, json.dumps(row["identity"]), flush=True)
    yp, pp = np.array(yaw_pairs, float), np.array(pitch_pairs, float)

    # ---- reenactment -----------------------------------------------------------------------
    drv_frames, known = render_clip(model, demo_tracks(), size=128, identity_seed=0)
    driver = track_frames(model, list(drv_frames), fps=10.0).stacked()
    known_q = quantities(known)
    reen, strip_rows = [], []
    t_frames = []
    for i in usable[:n_reenact]:
        targets = transfer(rigs[i].params, driver)
        t0 = time.perf_counter()
        frames = rigs[i].frames(targets)
        t_frames.append((time.perf_counter() - t0) / len(frames))
        d = np.array([descriptor_distance(src_desc[i], o) if np.isfinite(o).all() else np.nan
                      for o in ident(list(frames))])
        q, ok, pts = refit(fitter, list(frames))
        reen.append({"photo": names[i], "identity": share_below(d), "jitter_iod_pct": stats(jitter(pts)),
                     "corr_yaw": corr(q["yaw"], known_q["yaw"]), "corr_jawOpen": corr(q["jawOpen"], known_q["jawOpen"]),
                     "distances": [None if not np.isfinite(x) else round(float(x), 4) for x in d]})
        if len(strip_rows) < 2:
            strip_rows.append([frames[t] for t in range(0, len(frames), 3)])
    drv_q, _, drv_pts = refit(fitter, list(drv_frames))
    all_d = np.concatenate([np.array([np.nan if x is None else x for x in r["distances"]]) for r in reen]) if reen else np.zeros(0)

    result = {
        "what": "rig.photo.PhotoRig on real adult UTKFace photos (128 px), see bench/bench_photo.py",
        "machine": machine_info(),
        "note": "2 CPU cores shared with 4 other jobs (load average recorded): timings are noisy upper bounds",
        "photos": {"drawn": len(photos), "usable": len(usable), "seed": seed},
        "fit_s": {"batched_per_photo": t_fit_batch, "single_photo_from_photo": t_fit_one},
        "edit_render_s": stats(t_edit),
        "edits": per_edit,
        "yaw_control": line_fit(yp[:, 0], yp[:, 1]) if len(yp) else {},
        "pitch_control": line_fit(pp[:, 0], pp[:, 1]) if len(pp) else {},
        "render_roundtrip_psnr_db": render_roundtrip(model),
        "reenact": {"photos": len(reen), "frames_per_photo": len(drv_frames),
                    "identity_all_frames": share_below(all_d),
                    "jitter_iod_pct": stats([r["jitter_iod_pct"].get("mean", np.nan) for r in reen]),
                    "driver_jitter_iod_pct": stats(jitter(drv_pts)),
                    "corr_yaw": stats([r["corr_yaw"] for r in reen if r["corr_yaw"] is not None]),
                    "corr_jawOpen": stats([r["corr_jawOpen"] for r in reen if r["corr_jawOpen"] is not None]),
                    "driver_refit_corr": {"yaw": corr(drv_q["yaw"], known_q["yaw"]),
                                          "jawOpen": corr(drv_q["jawOpen"], known_q["jawOpen"])},
                    "per_frame_s": stats(t_frames), "per_photo": reen},
        "speed": speed(model, photos[usable[0]], fit.params[usable[0]:usable[0] + 1], fit.diagnostics[usable[0]].frame),
        "total_s": time.perf_counter() - t_all,
    }
    write_result(out_json, result, indent=1)
    tiles = [[photos[i]] + [outputs[e][k] for e in GRID_EDITS] for k, i in enumerate(usable[:4])]
    save_png(img_dir / "photo_edit_grid.png", grid(tiles))
    if strip_rows:
        save_png(img_dir / "photo_reenact_strip.png",
                 grid([[drv_frames[t] for t in range(0, len(drv_frames), 3)]] + strip_rows))
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=50)
    ap.add_argument("--reenact", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "photo_engine.json")
    ap.add_argument("--img-dir", type=Path, default=ROOT / "docs" / "img")
    ap.add_argument("--calibrate-only", type=Path, default=None, metavar="JSON",
                    help="only measure the re-fit's reading of known expressions on 3DMM renders, into JSON")
    a = ap.parse_args(argv)
    if a.calibrate_only:
        torch.set_num_threads(1)
        model = load_model("default")
        cal = {"what": "landmark-only MediaPipe re-fit of 3DMM renders with known expressions (4 identities)",
               "fitted": calibrate_refit(model, Fitter(model))}
        write_result(a.calibrate_only, cal, indent=1)
        print(json.dumps(cal, indent=1))
        return 0
    if not ZIP.exists():
        print(f"bench_photo: needs {ZIP}", file=sys.stderr)
        return 2
    r = run(a.photos, a.reenact, a.seed, a.out, a.img_dir)
    print(json.dumps({k: r[k] for k in ("photos", "fit_s", "yaw_control", "pitch_control", "speed")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
