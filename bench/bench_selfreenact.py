"""Self-reenactment benchmark on real talking-head clips: frame 0 is the source photo, the clip drives it.

Each clip in ../shared/data/real-faces is reenacted exactly as `facerig reenact --photo` does it
(rig.engine.photo.fit_photo on frame 0, then rig.engine.flows.reenact with relative expression+pose blocks,
MediaPipe tracking), and every output frame is compared with the true frame. The grader is
independent of the tracker: dlib's HOG detector and 68-point predictor for landmarks, mouth and
eye shapes; head pose from a 3DMM landmark fit to those dlib points (morphable.fit.Fitter on the
iBUG-68 set); the iris as the dark-pixel centroid inside dlib's eye polygon; identity as dlib's
face descriptor distance to the source. Every metric is also computed for the static baseline
(frame 0 shown unchanged) and the share of its error that reenactment removes is reported,
pooled over all graded frames of all clips. Graded frames are 1..N-1 (frame 0 is the source).
Writes a JSON (default docs/bench_selfreenact_<commit>.json), a plot of the tracked curves
(docs/img/selfreenact_curves_<commit>.png) and strips of true vs output frames under
out/selfreenact/ (git-ignored: the clips' people are for measuring, not for publishing).
Usage: nice -n 10 python -m bench.bench_selfreenact [--frames 75] [--clips NAME ...] [--mouth NAME]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_photo import grid, save_png  # noqa: E402
from bench.common import machine_info, stats, write_result  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "real-faces"
CLIPS = ("tpsmm_driving", "xportrait_driving", "aniportrait_pose_ref", "sadtalker_WDA_AlexandriaOcasioCortez_000",
         "sadtalker_WDA_KatieHill_000")
SAME_PERSON = 0.45
BLOCKS = ("expression", "pose")
#: margins around the landmark boxes, as a fraction of the box's larger side
FACE_MARGIN = 0.1
MOUTH_MARGIN = 0.25
#: an eye whose opening is below this fraction of its width is closed: no iris position
EYE_CLOSED = 0.18
#: dark-pixel threshold for the iris: this percentile of the grey levels inside the eye polygon
IRIS_PERCENTILE = 35.0
RIGHT_EYE, LEFT_EYE = tuple(range(36, 42)), tuple(range(42, 48))   # subject's right = image left
#: the issue's goals (pooled): share of the static baseline's error removed, PSNR gain, identity, speed
GOALS = {"landmarks_removed": 0.60, "pose_removed": 0.80, "mouth_open_removed": 0.75, "eye_open_removed": 0.60,
         "iris_removed": 0.50, "face_psnr_gain_db": 2.0, "identity_share_below": 0.95, "per_frame_ms": 60.0}


# ---- metrics on dlib's 68 points (x, y px) ---------------------------------------------------
def iod(pts: np.ndarray) -> float:
    """Inter-ocular distance: the outer eye corners (points 36 and 45), px."""
    return float(np.linalg.norm(pts[45] - pts[36]))


def landmark_box(pts: np.ndarray, shape: tuple[int, ...], margin: float) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) px of the points' bounding box grown by `margin` x its larger side, inside the image."""
    lo, hi = pts.min(0), pts.max(0)
    m = margin * float((hi - lo).max())
    h, w = shape[:2]
    x0, y0 = int(max(0, np.floor(lo[0] - m))), int(max(0, np.floor(lo[1] - m)))
    x1, y1 = int(min(w, np.ceil(hi[0] + m))), int(min(h, np.ceil(hi[1] + m)))
    return x0, y0, x1, y1


def face_box(pts: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """The face box: all 68 points plus FACE_MARGIN."""
    return landmark_box(pts, shape, FACE_MARGIN)


def mouth_box(pts: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """The mouth box: points 48-67 plus MOUTH_MARGIN."""
    return landmark_box(pts[48:68], shape, MOUTH_MARGIN)


def crop(img: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    return img[y0:y1, x0:x1]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB, peak 255) of two equal-size uint8 crops; inf when identical."""
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0 ** 2 / mse))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two equal-size RGB uint8 crops (skimage, channels averaged)."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(a, b, channel_axis=2, data_range=255))


def landmark_error(pts: np.ndarray, ref: np.ndarray) -> float:
    """Mean distance of the 68 points to the reference's, % of the reference's inter-ocular distance."""
    return float(100.0 * np.linalg.norm(pts - ref, axis=1).mean() / iod(ref))


def mouth_shape(pts: np.ndarray) -> tuple[float, float]:
    """(opening, width) / IOD: mean inner-lip gap (61-67, 62-66, 63-65) and corner distance (48-54)."""
    d = iod(pts)
    gap = np.mean([np.linalg.norm(pts[a] - pts[b]) for a, b in ((61, 67), (62, 66), (63, 65))])
    return float(gap / d), float(np.linalg.norm(pts[54] - pts[48]) / d)


def eye_aperture(pts: np.ndarray, eye: tuple[int, ...]) -> float:
    """One eye's lid gap in px: mean of the two upper-lower point distances of its 6-point polygon."""
    p = pts[list(eye)]
    return float((np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])) / 2)


def eye_openings(pts: np.ndarray) -> np.ndarray:
    """(2,) lid gap / IOD of the subject's right eye (image left) and left eye."""
    return np.array([eye_aperture(pts, RIGHT_EYE), eye_aperture(pts, LEFT_EYE)]) / iod(pts)


def iris_position(img: np.ndarray, pts: np.ndarray, eye: tuple[int, ...]) -> np.ndarray:
    """(2,) the iris as the dark-pixel centroid inside dlib's eye polygon, in eye widths from the corners' midpoint.

    u along the corner-to-corner axis (positive toward image right), v across it (positive
    downward in an upright face); NaN when the eye is closed (opening < EYE_CLOSED x width).
    Dark pixels: grey levels below the IRIS_PERCENTILE-th percentile inside the polygon, weighted by depth.
    """
    from skimage.draw import polygon

    p = pts[list(eye)].astype(np.float64)
    c0, c1 = p[0], p[3]
    width = float(np.linalg.norm(c1 - c0))
    if width < 4 or eye_aperture(pts, eye) < EYE_CLOSED * width:
        return np.full(2, np.nan)
    rr, cc = polygon(p[:, 1], p[:, 0], img.shape[:2])
    if len(rr) < 8:
        return np.full(2, np.nan)
    grey = img[rr, cc].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    w = np.clip(np.percentile(grey, IRIS_PERCENTILE) - grey, 0.0, None)
    if w.sum() <= 0:
        return np.full(2, np.nan)
    centroid = np.array([(w * cc).sum(), (w * rr).sum()]) / w.sum()
    axis = (c1 - c0) / width
    normal = np.array([-axis[1], axis[0]])
    rel = centroid - (c0 + c1) / 2
    return np.array([rel @ axis, rel @ normal]) / width


def rotation_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,) angle (deg) of the rotation between head poses a and b, each (N,3) yaw, pitch, roll in degrees."""
    from morphable.pose import euler_to_matrix

    ra = euler_to_matrix(*torch.as_tensor(a, dtype=torch.float64).T)
    rb = euler_to_matrix(*torch.as_tensor(b, dtype=torch.float64).T)
    cos = ((ra.transpose(1, 2) @ rb).diagonal(dim1=1, dim2=2).sum(1) - 1.0) / 2.0
    return np.degrees(np.arccos(cos.clamp(-1.0, 1.0).numpy()))


def flicker(frames: np.ndarray, boxes: list) -> np.ndarray:
    """(T,) mean absolute change (grey levels, RGB) from frame t-1 to t inside box t; NaN at t=0 or without a box."""
    out = np.full(len(frames), np.nan)
    for t in range(1, len(frames)):
        if boxes[t] is not None:
            out[t] = float(np.abs(crop(frames[t], boxes[t]).astype(np.float64)
                                  - crop(frames[t - 1], boxes[t]).astype(np.float64)).mean())
    return out


def removed_share(err_method, err_static) -> dict:
    """Pooled mean errors of method and static baseline on frames where both exist, and 1 - method / static."""
    m, s = np.asarray(err_method, float).ravel(), np.asarray(err_static, float).ravel()
    ok = np.isfinite(m) & np.isfinite(s)
    if not ok.any():
        return {"n": 0}
    mm, ss = float(m[ok].mean()), float(s[ok].mean())
    return {"n": int(ok.sum()), "method": mm, "static": ss, "removed": None if ss == 0 else 1.0 - mm / ss}


# ---- the grader --------------------------------------------------------------------------
@dataclass
class Graded:
    """Per-frame grades of a list of frames (NaN where dlib finds no face)."""

    pts: np.ndarray       # (T,68,2) dlib points, px
    pose: np.ndarray      # (T,3) yaw, pitch, roll (deg) of a 3DMM fit to those points
    desc: np.ndarray      # (T,128) dlib descriptors
    iris: np.ndarray      # (T,2,2) per eye (subject's right, left): u, v in eye widths

    @property
    def found(self) -> np.ndarray:
        return np.isfinite(self.pts[:, 0, 0])


class Grader:
    """dlib's detector and 68 points (no MediaPipe anywhere), a 3DMM pose fit to them, dlib descriptors."""

    def __init__(self, model=None):
        from morphable.fit import Fitter
        from morphable.formats import load_model
        from morphable.landmarks import DlibBackend

        # No upsampling on these >=400 px frames: faces are large, and it is 50x faster (its retries stay).
        self.backend = DlibBackend(max_upsample_side=256)
        self.fitter = Fitter(model or load_model("default"), backend=self.backend)

    def __call__(self, frames, identity: bool = True) -> Graded:
        """Grade frames; without `identity` the descriptors (the slow part) stay NaN."""
        from morphable.fit.batch import detect
        from morphable.landmarks import face_descriptor

        frames = [np.asarray(f) for f in frames]
        n = len(frames)
        pts, pose = np.full((n, 68, 2), np.nan), np.full((n, 3), np.nan)
        desc, iris = np.full((n, 128), np.nan), np.full((n, 2, 2), np.nan)
        found = detect(frames, self.backend)
        rows = [i for i, d in enumerate(found) if d is not None]
        if rows:
            params, _, _, _ = self.fitter.fit_detected([frames[i] for i in rows], [found[i] for i in rows],
                                                       photometric=False)
            pose[rows] = params.pose[:, :3].double().numpy()
        for i in rows:
            pts[i] = found[i].points
            if identity:
                desc[i] = face_descriptor(frames[i], found[i].points)
            iris[i] = [iris_position(frames[i], pts[i], RIGHT_EYE), iris_position(frames[i], pts[i], LEFT_EYE)]
        return Graded(pts, pose, desc, iris)


def resampled(img: np.ndarray, scale: float = 0.98) -> np.ndarray:
    """The same picture scaled to `scale` and back (bicubic): what the grader reads on a near-copy (its noise floor)."""
    from PIL import Image

    h, w = img.shape[:2]
    small = Image.fromarray(img).resize((round(w * scale), round(h * scale)), Image.BICUBIC)
    return np.asarray(small.resize((w, h), Image.BICUBIC))


def compare(true: list[np.ndarray], gt: Graded, shown: list[np.ndarray], got: Graded, source_desc: np.ndarray) -> dict:
    """Per-frame errors of `shown` frames (graded `got`) against the true frames (graded `gt`)."""
    n = len(true)
    out = {k: np.full(n, np.nan) for k in ("face_psnr", "face_ssim", "mouth_psnr", "landmarks", "pose", "yaw",
                                           "pitch", "roll", "mouth_open", "mouth_width", "identity")}
    out["eye_open"], out["iris"] = np.full((n, 2), np.nan), np.full((n, 2), np.nan)
    for t in range(n):
        if not gt.found[t]:
            continue
        ref = gt.pts[t]
        fb, mb = face_box(ref, true[t].shape), mouth_box(ref, true[t].shape)
        out["face_psnr"][t] = psnr(crop(shown[t], fb), crop(true[t], fb))
        out["face_ssim"][t] = ssim(crop(shown[t], fb), crop(true[t], fb))
        out["mouth_psnr"][t] = psnr(crop(shown[t], mb), crop(true[t], mb))
        if not got.found[t]:
            continue
        p = got.pts[t]
        out["landmarks"][t] = landmark_error(p, ref)
        out["pose"][t] = rotation_error(got.pose[t:t + 1], gt.pose[t:t + 1])[0]
        for j, k in enumerate(("yaw", "pitch", "roll")):
            out[k][t] = abs(got.pose[t, j] - gt.pose[t, j])
        (mo, mw), (to, tw) = mouth_shape(p), mouth_shape(ref)
        out["mouth_open"][t], out["mouth_width"][t] = abs(mo - to), abs(mw - tw)
        out["eye_open"][t] = np.abs(eye_openings(p) - eye_openings(ref))
        out["iris"][t] = np.linalg.norm(got.iris[t] - gt.iris[t], axis=1)
        out["identity"][t] = float(np.linalg.norm(got.desc[t] - source_desc))
    return out


# ---- one clip --------------------------------------------------------------------------------
def git_state(exported: str | None = None) -> dict:
    """The commit measured and the engine/tracker files that differed from it (a shared working tree).

    `exported`: the commit a `git archive` export being run was made from (it has no .git to ask)."""
    def git(*a):
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.rstrip()

    if exported is not None:
        return {"commit": exported, "short": exported[:7], "subject": None, "uncommitted_engine_files": [],
                "how": "run from a clean `git archive` export of this commit"}
    dirty = [ln[3:] for ln in git("status", "--porcelain", "--", "rig", "morphable", "gan", "assets").splitlines() if ln]
    return {"commit": git("rev-parse", "HEAD"), "short": git("rev-parse", "--short=7", "HEAD"),
            "subject": git("log", "-1", "--format=%s")[:160], "uncommitted_engine_files": dirty,
            "how": "run in the working tree (uncommitted engine files listed)"}


def tracker_name(name: str) -> str:
    """The landmark backend a backend_by_name name resolved to ('auto' -> 'mediapipe' or 'dlib')."""
    from morphable.landmark_backends import backend_by_name, backend_name

    return backend_name(backend_by_name(name))


def set_mouth(rig, mouth: str | None) -> str | None:
    """Choose the photo engine's mouth filler where PhotoRig has a `mouth` attribute; the value in use (None: none)."""
    if not hasattr(rig, "mouth"):
        return None
    if mouth is not None:
        rig.mouth = mouth
    if rig.mouth is None:   # None = the engine's default filler, rig.photo.mouth.DEFAULT_FILLER where it exists
        from rig.photo import mouth as mouth_module

        return f"{getattr(mouth_module, 'DEFAULT_FILLER', None)} (the engine's default)"
    return str(rig.mouth)


def run_clip(name: str, n_frames: int, grader: Grader, mouth: str | None, data: Path = DATA) -> tuple[dict, dict]:
    """Reenact one clip from its frame 0 and grade it; (summary row, per-frame arrays for pooling and pictures)."""
    from rig.engine.flows import reenact as reenact_photo
    from rig.engine.photo import PhotoEngine, fit_photo
    from rig.inputs import open_driver

    frames, fps = open_driver(data / f"{name}.mp4", max_frames=n_frames)
    t0 = time.perf_counter()
    rig, notes = fit_photo(frames[0])
    t_fit = time.perf_counter() - t0
    mouth_used = set_mouth(rig, mouth)
    t0, c0 = time.perf_counter(), time.process_time()
    res = reenact_photo(PhotoEngine(rig), (frames, fps), BLOCKS, relative=True, name=name)
    t_run, c_run = time.perf_counter() - t0, time.process_time() - c0
    outputs = list(res.frames)
    gt, got = grader(frames), grader(outputs)
    if not gt.found[0]:
        raise SystemExit(f"bench_selfreenact: dlib finds no face in frame 0 of {name}")
    static_frames = [frames[0]] * len(frames)
    static = Graded(np.repeat(gt.pts[:1], len(frames), 0), np.repeat(gt.pose[:1], len(frames), 0),
                    np.repeat(gt.desc[:1], len(frames), 0), np.repeat(gt.iris[:1], len(frames), 0))
    m = compare(frames, gt, outputs, got, gt.desc[0])
    s = compare(frames, gt, static_frames, static, gt.desc[0])
    near = [resampled(f) for f in frames]
    floor = compare(frames, gt, near, grader(near, identity=False), gt.desc[0])
    drv_id = np.linalg.norm(gt.desc - gt.desc[0], axis=1)
    mboxes = [mouth_box(gt.pts[t], frames[t].shape) if gt.found[t] else None for t in range(len(frames))]
    fl_out, fl_drv = flicker(np.stack(outputs), mboxes), flicker(np.stack(frames), mboxes)
    g = slice(1, None)   # graded frames: 1..N-1
    row = {
        "clip": name, "frames": len(frames), "size": list(frames[0].shape[:2]), "fps": fps,
        "dlib_found": {"true": int(gt.found[g].sum()), "output": int(got.found[g].sum())},
        "tracker_found": int(res.driver.found), "tracker": tracker_name(res.driver.landmarks),
        "warnings": notes + res.notes,
        "mouth_filler": mouth_used,
        "fit_s": t_fit, "per_frame_s": t_run / len(frames), "per_frame_cpu_s": c_run / len(frames),
        "metrics": summarize({k: v[g] for k, v in m.items()}, {k: v[g] for k, v in s.items()},
                             fl_out[g], fl_drv[g], drv_id[g]),
        "grader_floor": floor_summary({k: v[g] for k, v in floor.items()}),
    }
    curves = {"true": gt, "output": got, "m": m, "s": s, "floor": floor, "fl_out": fl_out, "fl_drv": fl_drv, "drv_id": drv_id,
              "frames": frames, "outputs": outputs}
    return row, curves


def summarize(m: dict, s: dict, fl_out: np.ndarray, fl_drv: np.ndarray, drv_id: np.ndarray) -> dict:
    """Method vs static baseline for every metric over the graded frames (pooled when called on pooled arrays)."""
    out: dict = {}
    for k in ("face_psnr", "face_ssim", "mouth_psnr"):
        ok = np.isfinite(m[k]) & np.isfinite(s[k])
        out[k] = {"n": int(ok.sum()), "method": float(m[k][ok].mean()) if ok.any() else None,
                  "static": float(s[k][ok].mean()) if ok.any() else None}
        if ok.any():
            out[k]["gain"] = out[k]["method"] - out[k]["static"]
    for k in ("landmarks", "pose", "yaw", "pitch", "roll", "mouth_open", "mouth_width", "eye_open", "iris"):
        out[k] = removed_share(m[k], s[k])
    d = m["identity"][np.isfinite(m["identity"])]
    dd = drv_id[np.isfinite(drv_id)]
    out["identity"] = {**stats(d), "share_below": float((d < SAME_PERSON).mean()) if len(d) else None,
                       "true_frames_to_frame0": {**stats(dd), "share_below": float((dd < SAME_PERSON).mean())
                                                 if len(dd) else None}}
    f_o, f_d = fl_out[np.isfinite(fl_out)], fl_drv[np.isfinite(fl_drv)]
    out["mouth_flicker"] = {"method": float(f_o.mean()) if len(f_o) else None,
                            "driver": float(f_d.mean()) if len(f_d) else None,
                            "ratio": float(f_o.mean() / f_d.mean()) if len(f_d) and f_d.mean() > 0 else None}
    return out


def floor_summary(floor: dict) -> dict:
    """Mean error the grader reads between the true frames and a resampled copy of them (see resampled)."""
    return {k: float(np.nanmean(v)) if np.isfinite(v).any() else None for k, v in floor.items() if k != "identity"}


def goals_table(pooled: dict, per_frame_ms: float) -> dict:
    """Each goal of the issue beside the measured value and whether it is met."""
    measured = {"landmarks_removed": pooled["landmarks"].get("removed"), "pose_removed": pooled["pose"].get("removed"),
                "mouth_open_removed": pooled["mouth_open"].get("removed"),
                "eye_open_removed": pooled["eye_open"].get("removed"), "iris_removed": pooled["iris"].get("removed"),
                "face_psnr_gain_db": pooled["face_psnr"].get("gain"),
                "identity_share_below": pooled["identity"].get("share_below"), "per_frame_ms": per_frame_ms}
    return {k: {"goal": GOALS[k], "measured": v,
                "met": None if v is None else bool(v <= GOALS[k] if k == "per_frame_ms" else v >= GOALS[k])}
            for k, v in measured.items()}


# ---- pictures ------------------------------------------------------------------------------
def strip(frames: list[np.ndarray], outputs: list[np.ndarray], points: int = 6, tile: int = 192) -> np.ndarray:
    """True frames above, outputs below, at `points` evenly spaced times, each tile `tile` px high."""
    from PIL import Image

    idx = np.linspace(0, len(frames) - 1, points).round().astype(int)

    def small(img):
        h, w = img.shape[:2]
        return np.asarray(Image.fromarray(img).resize((round(w * tile / h), tile), Image.LANCZOS))

    return grid([[small(frames[i]) for i in idx], [small(outputs[i]) for i in idx]])


def plot_curves(curves: dict, path: Path, label: str) -> None:
    """Per clip: yaw, mouth opening and mean eye opening over time for the true frames, the output and the static source."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(curves)
    fig, axes = plt.subplots(len(names), 3, figsize=(12, 2.1 * len(names)), squeeze=False)
    for r, name in enumerate(names):
        c = curves[name]
        series = {"yaw (deg)": lambda g: g.pose[:, 0],
                  "mouth opening / IOD": lambda g: np.array([mouth_shape(p)[0] if np.isfinite(p).all() else np.nan
                                                              for p in g.pts]),
                  "eye opening / IOD (mean)": lambda g: np.array([eye_openings(p).mean() if np.isfinite(p).all()
                                                                   else np.nan for p in g.pts])}
        for col, (title, fn) in enumerate(series.items()):
            ax = axes[r, col]
            true, out = fn(c["true"]), fn(c["output"])
            ax.plot(true, color="black", lw=1.2, label="true frame")
            ax.plot(out, color="tab:red", lw=1.2, label="output")
            ax.axhline(true[0], color="grey", lw=1, ls="--", label="static source")
            ax.set_title(f"{name[:28]}: {title}", fontsize=8)
            ax.tick_params(labelsize=7)
            if r == 0 and col == 0:
                ax.legend(fontsize=7)
    axes[-1, 1].set_xlabel(f"frame (dlib-graded; {label})", fontsize=8)
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    save_png(path, np.asarray(Image.open(buf).convert("RGB")))


# ---- the whole bench -------------------------------------------------------------------------
def run(clips: list[str], n_frames: int, mouth: str | None, out_json: Path | None, plot: Path | None,
        strips: Path | None, data: Path = DATA, exported: str | None = None) -> dict:
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    t_all = time.perf_counter()
    state = git_state(exported)
    grader = Grader()
    rows, curves = [], {}
    for name in clips:
        t0 = time.perf_counter()
        row, c = run_clip(name, n_frames, grader, mouth, data)
        rows.append(row)
        curves[name] = c
        pm = row["metrics"]
        print(f"{name}: {row['frames']} frames, {1000 * row['per_frame_s']:.0f} ms/frame, face PSNR "
              f"{pm['face_psnr']['method']:.2f} vs static {pm['face_psnr']['static']:.2f} dB, landmarks removed "
              f"{pm['landmarks'].get('removed')}, {time.perf_counter() - t0:.0f} s", flush=True)
        if strips is not None:
            save_png(strips / f"selfreenact_{name}.png", strip(c["frames"], c["outputs"]))
        c.pop("frames"), c.pop("outputs")
    g = slice(1, None)
    cat = lambda key, k: np.concatenate([c[key][k][g] for c in curves.values()])   # noqa: E731
    keys = curves[clips[0]]["m"].keys()
    pooled = summarize({k: cat("m", k) for k in keys}, {k: cat("s", k) for k in keys},
                       np.concatenate([c["fl_out"][g] for c in curves.values()]),
                       np.concatenate([c["fl_drv"][g] for c in curves.values()]),
                       np.concatenate([c["drv_id"][g] for c in curves.values()]))
    pooled["grader_floor"] = floor_summary({k: cat("floor", k) for k in keys})
    at512 = [r for r in rows if r["size"] == [512, 512]]
    per_frame_ms = 1000 * float(np.mean([r["per_frame_s"] for r in (at512 or rows)]))
    per_frame_cpu_ms = 1000 * float(np.mean([r["per_frame_cpu_s"] for r in (at512 or rows)]))
    result = {
        "what": "self-reenactment on real clips: frame 0 is the source photo, the clip drives it through the photo "
                "engine (fit_photo + reenact_photo, relative expression+pose); outputs graded against the true frames",
        "git": state,
        "setup": {"clips": clips, "frames_per_clip": n_frames, "graded_frames": "1..N-1 of each clip",
                  "blocks": list(BLOCKS), "mouth_option": mouth,
                  "grader": {"landmarks, mouth, eyes, boxes": "dlib HOG detector (no upsampling) + 68-point predictor",
                             "head pose": "3DMM landmark-only fit (morphable.fit.Fitter, iBUG-68 set) to dlib's points; "
                                          "error = angle of the rotation between output and true pose",
                             "iris": f"dark-pixel centroid (below the {IRIS_PERCENTILE:g}th grey percentile) inside "
                                     "dlib's eye polygon, in eye widths; eyes closed below "
                                     f"{EYE_CLOSED:g} x width skipped",
                             "identity": "dlib ResNet descriptor distance to frame 0's, on dlib's points",
                             "tracker (not a grader)": "MediaPipe (reenact_photo's 'auto')"},
                  "face_box": f"true frame's 68 dlib points + {FACE_MARGIN:g} x side",
                  "mouth_box": f"true frame's points 48-67 + {MOUTH_MARGIN:g} x side",
                  "static_baseline": "frame 0 shown unchanged at every frame",
                  "grader_floor": "the same metrics for the true frames scaled to 98% and back (bicubic) against "
                                  "themselves: what the grader reads between near-identical pictures"},
        "pooled": pooled,
        "speed": {"per_frame_ms_512px": per_frame_ms, "per_frame_cpu_ms_512px": per_frame_cpu_ms,
                  "clips_at_512": [r["clip"] for r in at512],
                  "note": "reenact_photo wall time / frames (and this process's CPU time / frames, all threads, "
                          "less sensitive to other jobs on a shared machine): MediaPipe tracking + 3DMM track + "
                          "warp, after the one-time fit_photo; torch 1 thread; load average recorded"},
        "goals": goals_table(pooled, per_frame_ms),
        "clips": rows,
        "machine": machine_info(),
    }
    result["total_s"] = time.perf_counter() - t_all
    if plot is not None:
        plot_curves(curves, plot, f"commit {state['short']}")
    if out_json is not None:
        write_result(out_json, result, indent=1)
    return result


# ---- markdown tables for docs/reenact_real.md ---------------------------------------------------
ERRORS = (("landmarks", "landmarks (% IOD)", "landmarks_removed"), ("pose", "head pose (deg)", "pose_removed"),
          ("yaw", "  yaw (deg)", None), ("pitch", "  pitch (deg)", None), ("roll", "  roll (deg)", None),
          ("mouth_open", "mouth opening (/IOD)", "mouth_open_removed"), ("mouth_width", "mouth width (/IOD)", None),
          ("eye_open", "eye opening (/IOD, per eye)", "eye_open_removed"),
          ("iris", "iris position (eye widths)", "iris_removed"))


def _f(v, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}g}"


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.0f}%"


def run_label(result: dict) -> str:
    """A result's label: its commit, and the mouth filler where the run chose one."""
    mouth = result.get("setup", {}).get("mouth_option")
    return result["git"]["short"] + (f" --mouth {mouth}" if mouth else "")


def pooled_table(results: list[dict]) -> str:
    """Markdown: each pooled metric, its goal, the static baseline and every result (labelled by commit)."""
    head = ("| metric | goal | grader floor | static | " + " | ".join(f"{run_label(r)} | removed" for r in results)
            + " |")
    lines = [head, "|" + "---|" * (4 + 2 * len(results))]
    floor = next((r["pooled"]["grader_floor"] for r in results if "grader_floor" in r["pooled"]), {})
    for key, label, goal in ERRORS:
        g = f"≥ {_pct(GOALS[goal])} removed" if goal else ""
        cells = [f"{_f(r['pooled'][key].get('method'))} | {_pct(r['pooled'][key].get('removed'))}" for r in results]
        lines.append(f"| {label} | {g} | {_f(floor.get(key))} | {_f(results[0]['pooled'][key].get('static'))} | "
                     + " | ".join(cells) + " |")
    for key, label, goal in (("face_psnr", "face-box PSNR (dB)", f"≥ static + {GOALS['face_psnr_gain_db']:g}"),
                             ("face_ssim", "face-box SSIM", ""), ("mouth_psnr", "mouth-box PSNR (dB)", "")):
        cells = [f"{_f(r['pooled'][key].get('method'), 4)} | {r['pooled'][key].get('gain', float('nan')):+.3g} gain"
                 for r in results]
        lines.append(f"| {label} | {goal} | {_f(floor.get(key), 4)} | {_f(results[0]['pooled'][key].get('static'), 4)} | "
                     + " | ".join(cells) + " |")
    ident = results[0]["pooled"]["identity"]["true_frames_to_frame0"]
    cells = [f"{_pct(r['pooled']['identity'].get('share_below'))} (median {_f(r['pooled']['identity'].get('median'))})"
             " | " for r in results]
    lines.append(f"| identity < {SAME_PERSON} | ≥ {_pct(GOALS['identity_share_below'])} | | true frames: "
                 f"{_pct(ident.get('share_below'))} (median {_f(ident.get('median'))}) | " + " | ".join(cells) + " |")
    cells = [f"{_f(r['pooled']['mouth_flicker']['method'])} | ratio {_f(r['pooled']['mouth_flicker']['ratio'], 2)}"
             for r in results]
    lines.append(f"| mouth flicker (grey levels) | ≤ driver's | | driver: {_f(results[0]['pooled']['mouth_flicker']['driver'])}"
                 " | " + " | ".join(cells) + " |")
    cells = [f"{r['speed']['per_frame_ms_512px']:.0f} wall, {_f(r['speed'].get('per_frame_cpu_ms_512px'))} CPU | "
             f"load {r['machine']['loadavg'][0]:.1f}" for r in results]
    lines.append(f"| ms per frame at 512 px | ≤ {GOALS['per_frame_ms']:g} | | | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def clip_table(result: dict) -> str:
    """Markdown: per clip, method / static for the main metrics (share removed in brackets)."""
    cols = ("face PSNR", "landmarks", "pose", "mouth open", "mouth width", "eye open", "iris", "identity < 0.45",
            "flicker out/driver", "ms/frame")
    lines = ["| clip (frames) | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 1)]
    for row in result["clips"]:
        m = row["metrics"]

        def err(k):
            return f"{_f(m[k].get('method'))} / {_f(m[k].get('static'))} ({_pct(m[k].get('removed'))})"

        cells = [f"{_f(m['face_psnr'].get('method'), 4)} / {_f(m['face_psnr'].get('static'), 4)}",
                 *(err(k) for k in ("landmarks", "pose", "mouth_open", "mouth_width", "eye_open", "iris")),
                 _pct(m["identity"].get("share_below")),
                 f"{_f(m['mouth_flicker']['method'])} / {_f(m['mouth_flicker']['driver'])}",
                 f"{1000 * row['per_frame_s']:.0f}"]
        lines.append(f"| {row['clip']} ({row['frames']}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=75, help="frames per clip from its start (frame 0 is the source)")
    ap.add_argument("--clips", nargs="+", default=list(CLIPS), choices=CLIPS, metavar="NAME")
    ap.add_argument("--mouth", default=None, help="the photo engine's mouth filler (set as PhotoRig.mouth where that "
                    "attribute exists; otherwise ignored and recorded as null)")
    ap.add_argument("--out", type=Path, default=None, help="JSON (default docs/bench_selfreenact_<commit>.json)")
    ap.add_argument("--plot", type=Path, default=None, help="curves PNG (default docs/img/selfreenact_curves_<commit>.png)")
    ap.add_argument("--strips", type=Path, default=ROOT / "out" / "selfreenact",
                    help="folder for the true-vs-output strips (default out/selfreenact, git-ignored)")
    ap.add_argument("--data", type=Path, default=DATA, help="folder of the clips (default ../shared/data/real-faces)")
    ap.add_argument("--commit", default=None, help="when running a `git archive` export: the commit it was made from")
    ap.add_argument("--no-files", action="store_true", help="print the pooled numbers only (development)")
    ap.add_argument("--tables", nargs="+", type=Path, metavar="JSON", help="instead: print the markdown tables of "
                    "these result files (pooled side by side, then per clip for each)")
    a = ap.parse_args(argv)
    if a.tables:
        results = [json.loads(p.read_text()) for p in a.tables]
        print(pooled_table(results))
        for r in results:
            print(f"\nPer clip, {run_label(r)} (method / static, share of the static error removed):\n")
            print(clip_table(r))
        return 0
    missing = [c for c in a.clips if not (a.data / f"{c}.mp4").is_file()]
    if missing:
        print(f"bench_selfreenact: missing clips in {a.data}: {', '.join(missing)}", file=sys.stderr)
        return 2
    short = git_state(a.commit)["short"]
    out = None if a.no_files else (a.out or ROOT / "docs" / f"bench_selfreenact_{short}.json")
    plot = None if a.no_files else (a.plot or ROOT / "docs" / "img" / f"selfreenact_curves_{short}.png")
    r = run(a.clips, a.frames, a.mouth, out, plot, None if a.no_files else a.strips, a.data, a.commit)
    print(json.dumps({"pooled": r["pooled"], "goals": r["goals"], "total_s": r["total_s"]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
