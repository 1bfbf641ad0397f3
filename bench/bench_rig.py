"""Rig benchmark: control, identity, disentanglement and speed of RigNet edits vs a linear baseline.

For n random latents of the bundle's generator, each method (the rig: FaceRig.edit, and the
InterFaceGAN-style linear baseline bench/baseline_linear.py fit on the estimator's labels of the
pairs data) makes five edits per face: yaw and pitch to a commanded angle in +-30 deg, jawOpen,
both smiles and both blinks to a commanded weight. Every generated image (originals and edits)
is re-estimated by FITTING the 3DMM to it (morphable.fit, landmark stage, as the pairs were
labelled) and by the estimator. Writes docs/rig_measured.json and docs/img/rig_*.png.
Usage: python -m bench.bench_rig --bundle assets/rig/dcgan64 --n 200 [--pairs PAIRS.npz]
       python -m bench.bench_rig --n 100 --identity-floor docs/rig_identity_floor.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import stats  # noqa: E402
from morphable.fit import Fitter  # noqa: E402
from morphable.fileio import atomic_output  # noqa: E402
from morphable.landmarks import descriptor_distance, face_descriptor, face_descriptors  # noqa: E402
from morphable.params import FaceParams  # noqa: E402
from bench.baseline_linear import CONTROLS, LinearEditor, attribute_column, fit_linear_editor  # noqa: E402
from rig.face_rig import FaceRig  # noqa: E402
from rig.frames import labelled_grid  # noqa: E402

SAME_PERSON = 0.45  # identity goal: descriptor distance below this for >= 90 % of edits
DRIFT_GOAL = 0.10   # non-edited blocks drift <= 10 % of their std
POSE_GOAL = 3.0     # degrees
SPEED_GOAL = 1.1    # edit + synthesis <= 1.1 x synthesis
#: method -> the linear baseline's step cap (None: the rig; inf: uncapped linear)
METHODS: dict[str, float | None] = {"rig": None, "linear": 3.0, "linear_uncapped": float("inf")}
ANGLES = np.arange(-30.0, 30.1, 5.0)
WEIGHTS = np.round(np.arange(0.0, 1.01, 0.2), 2)
#: edit family -> (the attributes it commands, the commanded values drawn from)
FAMILIES: dict[str, tuple[tuple[str, ...], np.ndarray]] = {
    "yaw": (("yaw",), ANGLES),
    "pitch": (("pitch",), ANGLES),
    "jawOpen": (("jawOpen",), WEIGHTS),
    "smile": (("mouthSmileLeft", "mouthSmileRight"), WEIGHTS),
    "blink": (("eyeBlinkLeft", "eyeBlinkRight"), WEIGHTS),
}
SWEEPS: dict[str, np.ndarray] = {"yaw": ANGLES[::2], "pitch": ANGLES[::2], "jawOpen": np.linspace(0, 1, 5),
                                  "smile": np.linspace(0, 1, 5), "blink": np.linspace(0, 1, 5)}


# ---- small helpers -------------------------------------------------------------------------------


def slope(x, y) -> float | None:
    """Least-squares slope of y on x over finite pairs (1 = unbiased gain)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    m = np.isfinite(x) & np.isfinite(y)
    if m.sum() < 3 or np.ptp(x[m]) == 0:
        return None
    return float(np.polyfit(x[m], y[m], 1)[0])


def edit_kwargs(family: str, value: float) -> dict:
    names = FAMILIES[family][0]
    if names[0] in ("yaw", "pitch", "roll"):
        return {names[0]: float(value)}
    return {"expression": {n: float(value) for n in names}}


def family_value(flat: np.ndarray, family: str, k_id: int) -> np.ndarray:
    """(N,) the family's commanded quantity read from flat params (mean over its attributes)."""
    cols = [attribute_column(n, k_id) for n in FAMILIES[family][0]]
    return flat[:, cols].mean(1)


def clamp_expression(flat: np.ndarray, k_id: int) -> np.ndarray:
    out = flat.copy()
    s = FaceParams.layout(k_id)["expression"]
    out[:, s] = np.clip(out[:, s], 0.0, 1.0)
    return out


def apply_edit(method: str, rig: FaceRig, editor: LinearEditor, ws: torch.Tensor, current: dict, **kw) -> torch.Tensor:
    """One method's edit: FaceRig.edit, or the linear baseline from the estimator's current values."""
    if method == "rig":
        return rig.edit(ws, **kw)
    cap = METHODS[method]
    return editor.edit(ws, current=current, max_step=None if cap == float("inf") else cap, **kw)


# ---- measurement ---------------------------------------------------------------------------------
class Measure:
    """Fits, estimator readings and dlib descriptors of generated images."""

    def __init__(self, rig: FaceRig, chunk: int = 50, landmarks: str | None = None):
        from morphable.landmark_backends import backend_by_name

        self.rig, self.chunk = rig, chunk
        #: the fit's backend: the bundle's (its estimator was labelled with it) unless overridden
        self.landmarks = landmarks or rig.landmarks
        self.fitter = Fitter(rig.model, backend=backend_by_name(self.landmarks))
        self.identity = DlibIdentity()  # descriptors on dlib's own points, whichever backend the fit uses

    @torch.no_grad()
    def images(self, ws: torch.Tensor) -> np.ndarray:
        return np.concatenate([self.rig.to_uint8(self.rig.image(ws[s:s + 64])) for s in range(0, len(ws), 64)])

    @torch.no_grad()
    def estimate(self, ws: torch.Tensor) -> np.ndarray:
        return clamp_expression(self.rig.estimator(ws).numpy().astype(np.float64), self.rig.k_id)

    def fit(self, images: np.ndarray, desc: str) -> dict:
        """Flat fitted params (NaN rows where the fit failed), ok mask, fit's detection mask, dlib descriptors."""
        n = len(images)
        flat = np.full((n, FaceParams.flat_size(self.rig.k_id)), np.nan)
        ok = np.zeros(n, bool)
        found = np.zeros(n, bool)
        descs = np.full((n, 128), np.nan)
        for s in tqdm(range(0, n, self.chunk), desc=desc, leave=False):
            part = list(images[s:s + self.chunk])
            res = self.fitter(part, photometric=False)
            vec = res.params.to_vector().double().numpy()
            for j, d in enumerate(res.diagnostics):
                i = s + j
                found[i] = d.detected is not None
                if d.ok:
                    ok[i] = True
                    flat[i] = vec[j]
            descs[s:s + len(part)] = self.identity(np.stack(part))
        return {"flat": flat, "ok": ok, "found": found, "desc": descs}


def identity_distances(a: dict, b: dict) -> np.ndarray:
    """Descriptor distance per row (NaN where dlib missed either face)."""
    return descriptor_distances(a["desc"], b["desc"])


def block_drift(before: np.ndarray, after: np.ndarray, std: np.ndarray, k_id: int,
                edited: list[int]) -> dict[str, np.ndarray]:
    """Per edit and block: mean |after - before| over the block's non-edited dims / their mean std.

    A block-level scale (not per dim): some ARKit weights are almost never used by the fits (std
    ~1e-3), and dividing by such a std would turn estimator noise into huge "drift".
    """
    lay = FaceParams.layout(k_id)
    out = {}
    for block in ("identity", "expression", "pose", "light"):
        cols = [c for c in range(lay[block].start, lay[block].stop) if c not in edited]
        if block == "pose":
            cols = [c for c in cols if c < lay["pose"].start + 3]  # the angles (translation is framing)
            # angles differ in spread (yaw std ~3x pitch's): scale each by its own std
            out[block] = (np.abs(after[:, cols] - before[:, cols]) / std[cols]).mean(1)
            continue
        out[block] = np.abs(after[:, cols] - before[:, cols]).mean(1) / std[cols].mean()
    return out


def summarise_family(family: str, commanded: np.ndarray, orig: dict, edit: dict, est0: np.ndarray,
                     est1: np.ndarray, std: np.ndarray, k_id: int, data_range: tuple[float, float]) -> dict:
    """Control, identity and drift numbers of one method's edits of one family."""
    fit0, fit1 = orig["flat"], edit["flat"]
    v_fit = family_value(fit1, family, k_id)
    v_est = family_value(est1, family, k_id)
    v_fit0 = family_value(fit0, family, k_id)
    v_est0 = family_value(est0, family, k_id)
    dist = identity_distances(orig, edit)
    inside = (commanded >= data_range[0] - 1e-9) & (commanded <= data_range[1] + 1e-9)
    edited = [attribute_column(n, k_id) for n in FAMILIES[family][0]]
    drift_est = block_drift(est0, est1, std, k_id, edited)
    both = orig["ok"] & edit["ok"]
    drift_fit = {k: v[both] for k, v in block_drift(fit0, fit1, std, k_id, edited).items()
                 if k in ("expression", "pose")}
    return {
        "edits": int(len(commanded)), "fit_found": int(edit["found"].sum()), "fit_ok": int(edit["ok"].sum()),
        "control_error_fit": stats(np.abs(v_fit - commanded)),
        "control_error_estimator": stats(np.abs(v_est - commanded)),
        # commanded change (from the estimator's reading of the original) vs fitted change: cancels
        # per-face offsets between the fit and the estimator
        "change_error_fit": stats(np.abs((v_fit - v_fit0) - (commanded - v_est0))),
        "slope_fit_vs_commanded": slope(commanded, v_fit),
        # commands inside the 5th..95th percentile of the labels F was trained on
        "data_range": list(data_range),
        "control_error_fit_in_data_range": stats(np.abs(v_fit - commanded)[inside]),
        "control_error_estimator_in_data_range": stats(np.abs(v_est - commanded)[inside]),
        "slope_estimator_vs_commanded": slope(commanded, v_est),
        "identity": {"pairs_found_by_dlib": int(np.isfinite(dist).sum()), "distance": stats(dist),
                     f"share_below_{SAME_PERSON}": float(np.mean(dist[np.isfinite(dist)] < SAME_PERSON))
                     if np.isfinite(dist).any() else None},
        "drift_estimator": {k: {**stats(v), f"share_le_{DRIFT_GOAL}": float(np.mean(v <= DRIFT_GOAL))}
                            for k, v in drift_est.items()},
        "drift_fit": {k: stats(v) for k, v in drift_fit.items()},
        "_raw": {"dist": dist, "err_fit": np.abs(v_fit - commanded), "drift": drift_est, "drift_fit": drift_fit},
    }


# ---- speed ---------------------------------------------------------------------------------------
@torch.no_grad()
def time_speed(rig: FaceRig, editor: LinearEditor, reps: int, batches=(1, 16)) -> dict:
    """Median ms per image: synthesis, RigNet, estimator+target, full edit, edit+synthesis (interleaved)."""
    out = {}
    for b in batches:
        ws = rig.sample(list(range(900_000, 900_000 + b)))
        tgt = rig.target(ws, yaw=15.0)
        jobs = {
            "synthesis": lambda: rig.image(ws),
            "rignet": lambda: rig.rignet(ws, tgt),
            "estimator_target": lambda: rig.target(ws, yaw=15.0),
            "rig_edit": lambda: rig.edit(ws, yaw=15.0),
            "rig_edit_and_synthesis": lambda: rig.image(rig.edit(ws, yaw=15.0)),
            "linear_edit": lambda: editor.edit(ws, yaw=15.0, max_step=3.0),
            "linear_edit_and_synthesis": lambda: rig.image(editor.edit(ws, yaw=15.0, max_step=3.0)),
        }
        times: dict[str, list[float]] = {k: [] for k in jobs}
        for r in range(reps + 3):
            for k, fn in jobs.items():
                t0 = time.perf_counter()
                fn()
                if r >= 3:
                    times[k].append(time.perf_counter() - t0)
        ms = {k: 1e3 * float(np.median(v)) / b for k, v in times.items()}
        ms["ratio_rig_edit_and_synthesis_to_synthesis"] = ms["rig_edit_and_synthesis"] / ms["synthesis"]
        ms["ratio_linear_edit_and_synthesis_to_synthesis"] = ms["linear_edit_and_synthesis"] / ms["synthesis"]
        out[f"batch_{b}"] = ms
    return out


# ---- pictures ------------------------------------------------------------------------------------
def shown(path: Path) -> str:
    """A path as recorded in the JSON: relative to the repository where it lies inside it."""
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def tile(img: np.ndarray, size: int = 80) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(img).resize((size, size), Image.BICUBIC))


@torch.no_grad()
def sweep_pictures(rig: FaceRig, editor: LinearEditor, seeds: list[int], img_dir: Path) -> list[str]:
    """docs/img/rig_sweep_<family>.png: per seed one row per method over the commanded values."""
    from PIL import Image

    paths = []
    for family, values in SWEEPS.items():
        rows, labels, caps = [], [], []
        for seed in seeds:
            ws = rig.sample(seed)
            cur = {n: rig.estimator(ws)[:, attribute_column(n, rig.k_id)] for n in editor.names}
            orig = tile(rig.to_uint8(rig.image(ws))[0])
            for method in METHODS:
                row = [orig]
                for v in values:
                    out = apply_edit(method, rig, editor, ws, cur, **edit_kwargs(family, v))
                    row.append(tile(rig.to_uint8(rig.image(out))[0]))
                rows.append(row)
                labels.append(f"seed {seed} {method.replace('linear_uncapped', 'lin. nocap')}")
                caps.append(["original"] + [f"{v:g}" for v in values])
        path = img_dir / f"rig_sweep_{family}.png"
        with atomic_output(path) as tmp:  # 256-colour PNG: a quarter of the size, looks the same
            Image.fromarray(labelled_grid(rows, labels, caps)).quantize(256, method=Image.Quantize.MEDIANCUT).save(
                tmp, format="PNG", optimize=True)
        paths.append(shown(path))
    return paths


def scatter_picture(points: dict[str, tuple[np.ndarray, np.ndarray]], lim: float, path: Path, title: str) -> None:
    """Commanded (x) vs fitted (y) scatter per method, drawn with PIL; the diagonal in grey."""
    import imageio.v3 as iio
    from PIL import Image, ImageDraw

    size, m = 360, 40
    img = Image.new("RGB", (size, size), (255, 255, 255))
    d = ImageDraw.Draw(img)
    span = size - 2 * m

    def to_px(x: float, y: float) -> tuple[float, float]:
        return m + (x + lim) / (2 * lim) * span, size - m - (y + lim) / (2 * lim) * span

    d.rectangle([m, m, size - m, size - m], outline=(0, 0, 0))
    d.line([to_px(-lim, -lim), to_px(lim, lim)], fill=(160, 160, 160))
    for t in (-lim, 0, lim):
        x, _ = to_px(t, -lim)
        d.text((x - 8, size - m + 4), f"{t:g}", fill=(0, 0, 0))
        _, y = to_px(-lim, t)
        d.text((4, y - 6), f"{t:g}", fill=(0, 0, 0))
    colours = {"rig": (200, 30, 30), "linear": (30, 80, 200), "linear_uncapped": (40, 160, 60)}
    for i, (name, (xs, ys)) in enumerate(points.items()):
        c = colours.get(name, (0, 0, 0))
        jitter = (i - 0.5) * 0.6 * lim / 30
        for x, y in zip(xs, ys):
            if np.isfinite(y):
                px, py = to_px(x + jitter, float(np.clip(y, -lim, lim)))
                d.ellipse([px - 2, py - 2, px + 2, py + 2], fill=c)
        d.text((m + 6, m + 6 + 12 * i), name, fill=c)
    d.text((m, 12), title, fill=(0, 0, 0))
    with atomic_output(path) as tmp:
        iio.imwrite(tmp, np.asarray(img))


# ---- baseline --------------------------------------------------------------------------------------
@torch.no_grad()
def baseline_and_std(rig: FaceRig, pairs_path: Path | None, labels: str, fallback_n: int, seed: int):
    """The linear editor (fit on the pairs' latents) and the per-dim std of the pairs' params."""
    from rig.training.training_pairs import load_pairs, sample_latents

    if pairs_path is not None and pairs_path.is_file():
        pairs = load_pairs(pairs_path)
        ws = torch.from_numpy(pairs["ws"]).float()
        ok = pairs["ok"].astype(bool)
        fit_flat = pairs["params"].astype(np.float64)
        std = fit_flat[ok].std(0)
        source = {"pairs": str(pairs_path), "pairs_n": int(len(ws)), "pairs_ok": int(ok.sum())}
    else:
        ws = sample_latents(rig.G, fallback_n, seed)
        ok, fit_flat = np.ones(len(ws), bool), None
        source = {"pairs": None, "latents_sampled": fallback_n}
    est_flat = np.concatenate([rig.estimator(ws[s:s + 1024]).numpy() for s in range(0, len(ws), 1024)])
    est_flat = est_flat.astype(np.float64)
    if fit_flat is None:
        std = est_flat.std(0)
        source["std_of"] = "estimator outputs (no pairs file)"
    else:
        source["std_of"] = "fitted params of the pairs (ok rows)"
    use_fit = labels == "fit" and fit_flat is not None
    lab = (fit_flat if use_fit else est_flat)[:, [attribute_column(n, rig.k_id) for n in CONTROLS]]
    editor = fit_linear_editor(ws, lab, CONTROLS, ok=ok if use_fit else None)
    source["labels"] = "fit" if use_fit else "estimator"
    labelled = fit_flat[ok] if fit_flat is not None else est_flat
    ranges = {fam: tuple(np.percentile(family_value(labelled, fam, rig.k_id), [5, 95]).tolist()) for fam in FAMILIES}
    source["label_range_5_95"] = ranges
    return editor, std, source


# ---- identity floor --------------------------------------------------------------------------------
#: relative yaw offsets (deg) and expression offsets (ARKit weight) of the identity-floor edits
FLOOR_YAW = (5.0, 10.0, 20.0, 30.0)
FLOOR_EXPR = (0.1, 0.2, 0.4, 0.8)
FLOOR_EXPR_FAMILIES = {"smile": ("mouthSmileLeft", "mouthSmileRight"), "jawOpen": ("jawOpen",)}


class DlibIdentity:
    """dlib descriptors found with dlib's own detector, whatever landmark backend the fitter uses."""

    def __init__(self):
        from morphable.landmarks import DlibBackend

        self.backend = DlibBackend()

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """(N,128) descriptors of the largest face per image, NaN rows where dlib finds none."""
        return face_descriptors(images, self.backend)


def recorded_name(landmarks: str) -> str:
    """The backend a backend_by_name name resolves to ('auto' -> 'mediapipe' or 'dlib'), as results record it."""
    from morphable.landmark_backends import backend_by_name, backend_name

    return backend_name(backend_by_name(landmarks)) if landmarks == "auto" else landmarks


def descriptor_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise descriptor distance, NaN where either row is missing."""
    d = np.linalg.norm(a - b, axis=1)
    return np.where(np.isfinite(d), d, np.nan)


def reencoded(images: np.ndarray, how: str) -> np.ndarray:
    """The same images through JPEG (quality 90) or resized by one pixel (bicubic)."""
    import io

    from PIL import Image

    out = []
    for img in images:
        im = Image.fromarray(img)
        if how == "jpeg90":
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=90)
            im = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
        elif how == "resize+1px":
            im = im.resize((im.width + 1, im.height + 1), Image.BICUBIC)
        else:
            raise ValueError(how)
        out.append(np.asarray(im))
    return np.stack(out)


def random_steps(ws: torch.Tensor, edited: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """ws moved by an isotropic random direction of the same length as each edit's latent offset."""
    length = (edited - ws).flatten(1).norm(dim=1)
    direction = torch.randn(ws.shape, generator=gen)
    direction = direction / direction.flatten(1).norm(dim=1).view(-1, *[1] * (ws.ndim - 1))
    return ws + direction * length.view(-1, *[1] * (ws.ndim - 1))


def identity_row(d: np.ndarray, step: torch.Tensor | None = None, ws: torch.Tensor | None = None) -> dict:
    """Distance stats, share below the same-person bar, and the latent step (relative to |ws|)."""
    fin = d[np.isfinite(d)]
    row = {"distance": stats(d), f"share_below_{SAME_PERSON}": float(np.mean(fin < SAME_PERSON)) if len(fin) else None}
    if step is not None:
        row["latent_step_rel"] = stats(((step - ws).flatten(1).norm(dim=1) / ws.flatten(1).norm(dim=1)).numpy())
    return row


@torch.no_grad()
def identity_floor(rig: FaceRig, n: int, seed: int, landmarks: str | None = None) -> dict:
    """dlib distance original vs null edit, re-encodings, rig edits by size and equal-length random steps."""
    meas, desc_of = Measure(rig, landmarks=landmarks), DlibIdentity()
    ws0 = rig.sample(list(range(seed, seed + n)))
    img0 = meas.images(ws0)
    d0 = desc_of(img0)
    found = np.isfinite(d0[:, 0])
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    sign = torch.from_numpy(rng.choice([-1.0, 1.0], size=n)).float()
    out: dict = {"n_faces": n, "seeds": [seed, seed + n - 1], "dlib_found_originals": int(found.sum()),
                 "descriptor": "dlib ResNet 128-D on dlib's own 68 points (morphable.landmarks.DlibBackend)",
                 "rows": {}}
    rows = out["rows"]
    seen = np.flatnonzero(found)
    rows["different faces (consecutive seeds)"] = identity_row(descriptor_distances(d0[seen[:-1]], d0[seen[1:]]))
    for how in ("jpeg90", "resize+1px"):
        rows[f"same image, {how}"] = identity_row(descriptor_distances(d0, desc_of(reencoded(img0, how))))
    rows["same image, descriptor with jitter=10"] = identity_row(np.array(
        [np.nan if not found[i] else descriptor_distance(
            d0[i], face_descriptor(img0[i], desc_of.backend.detect(img0[i])[0].points, jitter=10))
         for i in range(n)]))
    edits: dict[str, torch.Tensor] = {"rig null edit (target = F(ws))": rig.edit(ws0)}
    for deg in FLOOR_YAW:
        edits[f"rig yaw {deg:+g}/{-deg:+g} deg (relative)"] = torch.cat([
            rig.edit(ws0[i:i + 1], yaw=float(sign[i]) * deg, relative=True) for i in range(n)])
    for fam, names in FLOOR_EXPR_FAMILIES.items():
        for v in FLOOR_EXPR:
            edits[f"rig {fam} +{v:g} (relative)"] = rig.edit(ws0, expression={k: v for k in names}, relative=True)
    for name, ws1 in tqdm(edits.items(), desc="identity floor", leave=False):
        rows[name] = identity_row(descriptor_distances(d0, desc_of(meas.images(ws1))), ws1, ws0)
        rnd = random_steps(ws0, ws1, gen)
        rows[name.replace("rig ", "random step as long as ", 1)] = identity_row(
            descriptor_distances(d0, desc_of(meas.images(rnd))), rnd, ws0)
    return out


def identity_floor_table(r: dict) -> str:
    """Markdown table of identity_floor's rows."""
    key = f"share_below_{SAME_PERSON}"
    lines = ["| condition | latent step / \\|ws\\|, median | pairs dlib found | distance median / p90 | share < 0.45 |",
             "|---|---|---|---|---|"]
    for name, row in r["rows"].items():
        step = row.get("latent_step_rel")
        lines.append(f"| {name} | {_f(step, 'median', 3) if step else '-'} | {row['distance']['n']} | "
                     f"{_f(row['distance'], 'median', 3)} / {_f(row['distance'], 'p90', 3)} | {_f(row, key, 2)} |")
    return "\n".join(lines) + "\n"


# ---- main ----------------------------------------------------------------------------------------
def bundle_hashes(folder: Path) -> dict[str, str]:
    """sha256 (first 16 hex) of the bundle's files, so a result names the exact weights it measured."""
    import hashlib

    folder = folder.parent if folder.name == "manifest.json" else folder
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in sorted(folder.glob("*.safetensors"))}


def run(args) -> dict:
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    rig = FaceRig.load(args.bundle)
    k_id = rig.k_id
    meas = Measure(rig, landmarks=args.landmarks)
    pairs = Path(args.pairs) if args.pairs else None
    editor, std, source = baseline_and_std(rig, pairs, args.labels, 4000, args.seed + 77)
    if args.save_baseline:
        editor.save(args.save_baseline)
    results: dict = {
        "bundle": str(args.bundle), "bundle_info": rig.info, "bundle_sha256": bundle_hashes(Path(args.bundle)), "n_samples": args.n, "seed": args.seed,
        "torch_threads": args.threads, "cpu_count": os.cpu_count(), "load_average_start": os.getloadavg(),
        "landmarks": recorded_name(meas.landmarks), "bundle_landmarks": rig.landmarks,
        "re_estimate": f"morphable.fit landmark stage ({recorded_name(meas.landmarks)} landmarks; the bundle's "
                       f"estimator was labelled with {rig.landmarks}); plus the estimator on the edited latent",
        "identity_descriptor": "dlib ResNet 128-D on dlib's own 68 points, whatever backend the fit uses",
        "baseline": {**source, "names": list(editor.names), "r2": dict(zip(editor.names, editor.r2.round(4).tolist())),
                     "slope_per_unit_latent": dict(zip(editor.names, editor.slopes.round(4).tolist())),
                     "current_values_from": "the estimator (as FaceRig.edit)", "conditional": True,
                     "max_step": {k: v for k, v in METHODS.items() if k != "rig" and v != float("inf")}},
    }
    seeds = list(range(args.seed, args.seed + args.n))
    ws0 = rig.sample(seeds)
    est0 = meas.estimate(ws0)
    img0 = meas.images(ws0)
    orig = meas.fit(img0, "fit originals")
    # measurement floor: the fit of the UNEDITED image against the estimator's reading of its latent
    floor = {}
    for fam in FAMILIES:
        a, b = family_value(orig["flat"], fam, k_id), family_value(est0, fam, k_id)
        floor[fam] = {"abs_diff": stats(np.abs(a - b)), "slope_fit_vs_estimator": slope(b, a)}
    results["measurement_floor_unedited"] = {"fit_found": int(orig["found"].sum()), "fit_ok": int(orig["ok"].sum()),
                                             "dlib_found": int(np.isfinite(orig["desc"][:, 0]).sum()),
                                             "fit_vs_estimator": floor}
    # scale of the identity numbers: descriptor distance between DIFFERENT generated faces
    seen = np.nonzero(np.isfinite(orig["desc"][:, 0]))[0]
    other = np.array([descriptor_distance(orig["desc"][a], orig["desc"][b]) for a, b in zip(seen[:-1], seen[1:])])
    results["identity_reference_different_faces"] = {"distance": stats(other),
                                                     f"share_below_{SAME_PERSON}": float(np.mean(other < SAME_PERSON))}
    # null edit: RigNet asked for the estimator's own reading (pure reconstruction)
    ws_null = torch.cat([rig.edit(ws0[s:s + 256]) for s in range(0, len(ws0), 256)])
    null = meas.fit(meas.images(ws_null), "fit null edits")
    dist_null = identity_distances(orig, null)
    results["rig_null_edit"] = {
        "latent_change_rel": float(((ws_null - ws0).norm(dim=(1, 2)) / ws0.norm(dim=(1, 2))).mean()),
        "identity_distance": stats(dist_null),
        "drift_estimator": {k: stats(v) for k, v in block_drift(est0, meas.estimate(ws_null), std, k_id, []).items()},
    }
    rng = np.random.default_rng(args.seed)
    commanded = {fam: rng.choice(vals, size=args.n) for fam, (_, vals) in FAMILIES.items()}
    cur_all = {n: torch.from_numpy(est0[:, attribute_column(n, k_id)]).float() for n in editor.names}
    methods: dict = {m: {} for m in METHODS}
    raw: dict = {m: {} for m in METHODS}
    for fam in FAMILIES:
        for method in methods:
            ws1 = torch.empty_like(ws0)
            for v in np.unique(commanded[fam]):
                idx = torch.from_numpy(np.nonzero(commanded[fam] == v)[0])
                cur = {n: c[idx] for n, c in cur_all.items()}
                ws1[idx] = apply_edit(method, rig, editor, ws0[idx], cur, **edit_kwargs(fam, v))
            est1 = meas.estimate(ws1)
            fitted = meas.fit(meas.images(ws1), f"fit {method} {fam}")
            summ = summarise_family(fam, commanded[fam], orig, fitted, est0, est1, std, k_id,
                                    source["label_range_5_95"][fam])
            raw[method][fam] = summ.pop("_raw")
            raw[method][fam]["fit_value"] = family_value(fitted["flat"], fam, k_id)
            methods[method][fam] = summ
            print(f"{method:15s} {fam:8s} fit err {summ['control_error_fit'].get('mean', float('nan')):.3f} "
                  f"est err {summ['control_error_estimator']['mean']:.3f} "
                  f"id<{SAME_PERSON} {summ['identity'][f'share_below_{SAME_PERSON}']}", flush=True)
    results["methods"] = methods
    results["overall"] = overall(raw)
    results["speed_ms_per_image"] = time_speed(rig, editor, args.speed_reps)
    img_dir = Path(args.img_dir)
    img_dir.mkdir(parents=True, exist_ok=True)
    results["pictures"] = sweep_pictures(rig, editor, seeds[:args.sweep_faces], img_dir)
    for fam in ("yaw", "pitch"):
        pts = {m: (commanded[fam], raw[m][fam]["fit_value"]) for m in methods}
        scatter_picture(pts, 40.0, img_dir / f"rig_scatter_{fam}.png", f"{fam}: commanded (x) vs fitted (y), deg")
        results["pictures"].append(shown(img_dir / f"rig_scatter_{fam}.png"))
    results["goals"] = goals(results)
    results["seconds_total"] = time.perf_counter() - t_start
    results["load_average_end"] = os.getloadavg()
    return results


def overall(raw: dict) -> dict:
    """Per method: pose error over yaw+pitch edits, identity share over all edits, mean drifts."""
    out = {}
    for method, fams in raw.items():
        pose = np.concatenate([fams[f]["err_fit"] for f in ("yaw", "pitch")])
        dist = np.concatenate([f["dist"] for f in fams.values()])
        fin = dist[np.isfinite(dist)]
        drift = {b: np.concatenate([f["drift"][b] for f in fams.values()])
                 for b in ("identity", "expression", "pose", "light")}
        out[method] = {
            "pose_error_fit_deg": stats(pose),
            "identity_distance": stats(dist), "identity_pairs_found": int(len(fin)),
            f"identity_share_below_{SAME_PERSON}": float(np.mean(fin < SAME_PERSON)) if len(fin) else None,
            "drift_estimator_mean": {b: float(np.mean(v)) for b, v in drift.items()},
            f"drift_estimator_share_le_{DRIFT_GOAL}": {b: float(np.mean(v <= DRIFT_GOAL)) for b, v in drift.items()},
            "drift_fit_mean": {b: float(np.mean(np.concatenate([f["drift_fit"][b] for f in fams.values()])))
                               for b in ("expression", "pose")},
        }
    return out


def _at_most(summary: dict, bar: float) -> bool | None:
    """summary['mean'] <= bar; None where no fit succeeded (an empty summary has no mean)."""
    return None if summary.get("mean") is None else bool(summary["mean"] <= bar)


def goals(r: dict) -> dict:
    """The design's quality bars, met or not, per method (pose by fit, identity, speed)."""
    out = {}
    for method, o in r["overall"].items():
        fams = r["methods"][method]
        out[method] = {
            "yaw_mean_error_le_3deg": _at_most(fams["yaw"]["control_error_fit"], POSE_GOAL),
            "pitch_mean_error_le_3deg": _at_most(fams["pitch"]["control_error_fit"], POSE_GOAL),
            "identity_below_0.45_for_90pct": bool((o[f"identity_share_below_{SAME_PERSON}"] or 0) >= 0.9),
            "drift_le_10pct_std_mean": {b: bool(v <= DRIFT_GOAL) for b, v in o["drift_estimator_mean"].items()},
        }
    sp = r["speed_ms_per_image"]
    out["rig"]["edit_and_synthesis_le_1.1x_synthesis"] = {
        k: bool(v["ratio_rig_edit_and_synthesis_to_synthesis"] <= SPEED_GOAL) for k, v in sp.items()}
    out["rig"]["rig_overhead_lt_1ms"] = {k: bool(v["rig_edit"] < 1.0) for k, v in sp.items()}
    return out


def _f(d: dict | None, key: str, digits: int) -> str:
    v = None if d is None else d.get(key)
    return "-" if v is None else f"{v:.{digits}f}"


def markdown_tables(r: dict) -> str:
    """The JSON's main numbers as markdown tables (docs/rig_measured.md quotes them)."""
    m, o, fl = r["methods"], r["overall"], r["measurement_floor_unedited"]["fit_vs_estimator"]
    key = f"share_below_{SAME_PERSON}"
    lines = ["| edit (commanded range) | method | error by fit: mean / p90 (n fitted) | change error by fit: mean "
             "| error by estimator: mean | slope fit vs commanded | identity: share < 0.45 "
             "| identity: median distance (n) |",
             "|---|---|---|---|---|---|---|---|"]
    for fam, (_, vals) in FAMILIES.items():
        dg = 1 if fam in ("yaw", "pitch") else 3
        for meth in m:
            f = m[meth][fam]
            e, est, idn = f["control_error_fit"], f["control_error_estimator"], f["identity"]
            sl = f["slope_fit_vs_commanded"]
            lines.append(f"| {fam} ({vals.min():g} .. {vals.max():g}) | {meth} | "
                         f"{_f(e, 'mean', dg)} / {_f(e, 'p90', dg)} "
                         f"({e['n']}) | {_f(f['change_error_fit'], 'mean', dg)} | {_f(est, 'mean', dg)} | {'-' if sl is None else f'{sl:.2f}'} | "
                         f"{_f(idn, key, 2)} | {_f(idn['distance'], 'median', 3)} ({idn['pairs_found_by_dlib']}) |")
    lines += ["", "| edit | method | labels' 5th..95th pct | commands inside | error by fit, mean / p90 "
                  "| error by estimator, mean |", "|---|---|---|---|---|---|"]
    for fam in FAMILIES:
        dg = 1 if fam in ("yaw", "pitch") else 3
        for meth in m:
            f = m[meth][fam]
            if "data_range" not in f:
                continue
            e, est = f["control_error_fit_in_data_range"], f["control_error_estimator_in_data_range"]
            lo, hi = f["data_range"]
            lines.append(f"| {fam} | {meth} | {lo:.{dg - 1 if dg > 1 else 0}f} .. {hi:.{dg - 1 if dg > 1 else 0}f} | "
                         f"{est['n']} | {_f(e, 'mean', dg)} / {_f(e, 'p90', dg)} | {_f(est, 'mean', dg)} |")
    lines += ["", "| edit | floor: fit of the unedited image vs the estimator, mean / p90 | slope fit vs estimator |",
              "|---|---|---|"]
    for fam in FAMILIES:
        dg = 1 if fam in ("yaw", "pitch") else 3
        sl = fl[fam]["slope_fit_vs_estimator"]
        lines.append(f"| {fam} | {_f(fl[fam]['abs_diff'], 'mean', dg)} / {_f(fl[fam]['abs_diff'], 'p90', dg)} | "
                     f"{'-' if sl is None else f'{sl:.2f}'} |")
    lines += ["", "| method | yaw+pitch error by fit, mean / p90 | identity share < 0.45 (all edits) | median distance "
                  "| pairs dlib found |", "|---|---|---|---|---|"]
    for meth, v in o.items():
        lines.append(f"| {meth} | {_f(v['pose_error_fit_deg'], 'mean', 1)} / {_f(v['pose_error_fit_deg'], 'p90', 1)} | "
                     f"{_f(v, 'identity_' + key, 2)} | {_f(v['identity_distance'], 'median', 3)} | "
                     f"{v['identity_pairs_found']} |")
    sk = f"drift_estimator_share_le_{DRIFT_GOAL}"
    head = " | ".join(f"{k}: estimator (share <= 0.10) | {k}: fit" for k in o)
    lines += ["", f"| non-edited block, mean drift / std | {head} | rig null edit (estimator) |",
              "|---|" + "---|---|" * len(o) + "---|"]
    null = r["rig_null_edit"]["drift_estimator"]
    for blk in ("identity", "expression", "pose", "light"):
        cells = []
        for k, v in o.items():
            cells.append(f"{v['drift_estimator_mean'][blk]:.3f} ({v[sk][blk]:.2f})")
            cells.append(f"{v['drift_fit_mean'][blk]:.3f}" if blk in v["drift_fit_mean"] else "-")
        lines.append(f"| {blk} | " + " | ".join(cells) + f" | {_f(null[blk], 'mean', 3)} |")
    lines += ["", "| ms per image | synthesis | RigNet | estimator + target | rig edit | rig edit + synthesis | ratio "
                  "| linear edit + synthesis | ratio |", "|---|---|---|---|---|---|---|---|---|"]
    for b, v in r["speed_ms_per_image"].items():
        lines.append(f"| {b.replace('_', ' ')} | {v['synthesis']:.2f} | {v['rignet']:.3f} | "
                     f"{v['estimator_target']:.3f} | "
                     f"{v['rig_edit']:.3f} | {v['rig_edit_and_synthesis']:.2f} | "
                     f"{v['ratio_rig_edit_and_synthesis_to_synthesis']:.3f} | {v['linear_edit_and_synthesis']:.2f} | "
                     f"{v['ratio_linear_edit_and_synthesis_to_synthesis']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default=str(ROOT / "assets" / "rig" / "dcgan64"))
    ap.add_argument("--n", type=int, default=200, help="random faces (each gets 5 edits per method)")
    ap.add_argument("--seed", type=int, default=20_000)
    ap.add_argument("--pairs", default=str(ROOT / "out" / "rig" / "estimator" / "pairs.npz"),
                    help="estimator pairs (.npz): the baseline's latents and the blocks' std")
    ap.add_argument("--labels", choices=("estimator", "fit"), default="estimator",
                    help="the baseline's regression labels: the estimator's reading or the pairs' fits")
    ap.add_argument("--save-baseline", default=str(ROOT / "out" / "rig" / "baseline_linear.npz"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--landmarks", choices=("auto", "mediapipe", "dlib"), default=None,
                    help="backend of the re-estimating fit (default: the bundle's, the one its estimator was "
                         "labelled with; fitting with another measures the detectors' disagreement too)")
    ap.add_argument("--speed-reps", type=int, default=30)
    ap.add_argument("--sweep-faces", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "docs" / "rig_measured.json"))
    ap.add_argument("--img-dir", default=str(ROOT / "docs" / "img"))
    ap.add_argument("--tables", metavar="JSON", help="only print the markdown tables of an existing result file")
    ap.add_argument("--identity-floor", metavar="JSON", help="instead: the identity floor (null edit, dlib noise, "
                    "edits by size, equal-length random latent steps) on --n faces, written to JSON")
    args = ap.parse_args(argv)
    if args.tables:
        data = json.loads(Path(args.tables).read_text())
        print(identity_floor_table(data) if "rows" in data else markdown_tables(data), end="")
        return 0
    if args.identity_floor:
        torch.set_num_threads(args.threads)
        t0 = time.perf_counter()
        res = identity_floor(FaceRig.load(args.bundle), args.n, args.seed, args.landmarks)
        res.update(bundle=shown(Path(args.bundle)), bundle_sha256=bundle_hashes(Path(args.bundle)), torch_threads=args.threads,
                   seconds_total=time.perf_counter() - t0, load_average_end=os.getloadavg())
        with atomic_output(args.identity_floor) as tmp:
            tmp.write_text(json.dumps(res, indent=1) + "\n")
        print(identity_floor_table(res), end="")
        return 0
    results = run(args)
    with atomic_output(args.out) as tmp:
        tmp.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps({"overall": results["overall"], "goals": results["goals"],
                      "speed": results["speed_ms_per_image"]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
