"""The mouth filler measured: held-out UTKFace open mouths refilled by the inpainter and by the 3DMM painter, and speed.

    python -m bench.bench_mouth [--n 200] [--fits 100] --out docs/mouth_inpainter.json

Held-out photos (rig.training.mouth_data.held_out: a hash of the name, never trained on) with an
open mouth (lip gap >= 8% of the mouth width, MediaPipe): the inner-lip polygon grown by 2 px
is the hole of the 64 px mouth crop. Each filler fills it and the crop is compared with the
truth: PSNR/SSIM over the whole mouth box and PSNR over the hole alone.
- "gan": the committed inpainter (assets/mouth), the MediaPipe inner lip as its guide; "gan-small": its
  distilled student (live's filler), the same way;
- "model": the photo engine's 3DMM painter (rig.photo.mouth.model_colour): the default 3DMM
  fitted to the photo (landmarks + photometric, batched), its mouth rendered at the fitted
  pose, expression and light with the engine's cavity gain and softening, cut with the same
  crop; only the first `fits` photos (fitting is the slow part);
- "smooth": the hole filled by diffusing its border colours (a floor: no teeth, no shadow).
Realism without a download: a Frechet distance between Gaussian fits of PCA features (16
components) of the mouth's middle 32 px at 16 px, fills on every other fitted photo against the
truth of the others (unpaired; truth against truth is the floor), and the gradient energy
inside the hole over the truth's (1 = as sharp as real; blur gives less). Speed: the mouth stage on skimage's
astronaut (512 px) opened to jawOpen 0.5, median of `repeats`, one thread; and flicker: the
mean absolute change inside the mouth box between consecutive frames of a smooth 24-frame
jawOpen sweep (0.35 -> 0.55, small yaw drift), per filler.
"""
from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

import numpy as np
import torch

from .common import machine_info, stats, time_call, write_result

ROOT = Path(__file__).resolve().parents[1]
UTKFACE = ROOT.parent / "shared" / "data" / "utkface" / "utkface-128-webp.zip"
CACHE = ROOT / "out" / "mouth" / "mouths.npz"
PICTURES = ROOT / "out" / "mouth" / "bench"


def held_set(min_opening: float = 0.08):
    from rig.training.mouth_data import MouthSet, build_mouth_set

    if CACHE.exists():
        mouths = MouthSet.load(CACHE)
    else:
        mouths = build_mouth_set(UTKFACE, min_opening=min_opening, held_only=True)
    return mouths.select(mouths.held & (mouths.openings >= min_opening))


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR (dB) of uint8-range float images over all pixels or a (H,W) mask."""
    d = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    mse = d.mean() if mask is None else d[mask.astype(bool)].mean()
    return 10 * math.log10(255.0 ** 2 / max(mse, 1e-10))


def smooth_fill(crop: np.ndarray, hole: np.ndarray, iterations: int = 200) -> np.ndarray:
    """The hole filled by repeated 3x3 averaging with the known pixels held (harmonic fill)."""
    import torch.nn.functional as F

    x = torch.from_numpy(crop).permute(2, 0, 1).float()[None]
    m = torch.from_numpy(hole).float()[None, None]
    known = x * (1 - m)
    y = known.clone()
    for _ in range(iterations):
        avg = F.avg_pool2d(F.pad(y, (1, 1, 1, 1), mode="replicate"), 3, 1)
        y = known + avg * m
    return y[0].permute(1, 2, 0).numpy().clip(0, 255).astype(np.uint8)


def model_fills(images: list[np.ndarray], boxes: list[tuple[float, float, float]]) -> list[np.ndarray | None]:
    """The 3DMM painter's colours (64,64,3 uint8) in each crop box: fit, render the mouth, cut (None: no fit)."""
    import warnings

    from morphable.fit import Fitter
    from morphable.formats import load_model
    from rig.photo.flow import FlowBuilder
    from rig.photo.mouth import model_colour
    from rig.photo.warp import to_photo
    from rig.training.mouth_data import crop_image

    model = load_model("default")
    fitter = Fitter(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fitter(images, photometric=True)
    builder = FlowBuilder(model, 128)
    out: list[np.ndarray | None] = []
    for i, (img, box) in enumerate(zip(images, boxes)):
        d = result.diagnostics[i]
        if "no_face" in d.flags:
            out.append(None)
            continue
        p = result.params[i:i + 1]
        colour = model_colour(builder, builder.view(p), p)
        h, w = img.shape[:2]
        photo = to_photo(colour, h, w, d.frame).clamp(0, 1)
        arr = (photo * 255 + 0.5).byte().permute(1, 2, 0).numpy()
        out.append(crop_image(arr, box))
    return out


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussian fits of two feature sets (rows)."""
    from scipy import linalg

    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    covmean = linalg.sqrtm(s1 @ s2)
    covmean = covmean.real if np.iscomplexobj(covmean) else covmean
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def features(crops: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """(N, 16*16*3) the hole-centred crops at 16 px (the hole's surroundings included), in [0,1]."""
    import torch.nn.functional as F

    x = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255
    # the middle 32x32 of the 64 px crop holds the opening; 16 px keeps its layout, not noise
    x = F.interpolate(x[:, :, 16:48, 16:48], size=(16, 16), mode="area")
    return x.reshape(len(x), -1).numpy()


def grad_energy(img: np.ndarray, hole: np.ndarray) -> float:
    g = img.astype(np.float64)
    gx = np.abs(np.diff(g, axis=1)).sum(-1)[:, :]
    gy = np.abs(np.diff(g, axis=0)).sum(-1)
    m = hole.astype(bool)
    return float(gx[m[:, 1:] & m[:, :-1]].mean() + gy[m[1:] & m[:-1]].mean())


def heldout(n: int, fits: int) -> tuple[dict, dict]:
    """Fill n held-out holes with each filler; metrics per filler, and the arrays for the picture."""
    from skimage.metrics import structural_similarity

    from gan.dataset import decode_image, list_images
    from gan.inpainter import composite
    from rig.photo.mouth import load_filler
    from rig.training.mouth_data import mouth_box
    from rig.training.mouth_training import grow, lip_planes

    held = held_set()
    n = min(n, len(held.names))
    crops = held.crops[:n]
    lips = torch.from_numpy(lip_planes(held.lips[:n], crops.shape[1]))[:, None]
    holes = grow(lips, 2)
    from rig.photo.mouth import INPAINTERS

    # each trained filler ("gan", its distilled "gan-small"); MOUTH_WEIGHTS replaces "gan"'s weights
    paths = {**{k: str(v) for k, v in INPAINTERS.items()},
             **({"gan": os.environ["MOUTH_WEIGHTS"]} if "MOUTH_WEIGHTS" in os.environ else {})}
    x = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 127.5 - 1
    trained = {}
    for name, path in paths.items():
        with torch.no_grad():
            y = composite(x, holes, load_filler(path)(x, holes, lips))
        trained[name] = ((y + 1) * 127.5 + 0.5).clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    gan = trained["gan"]
    holes_np = holes[:, 0].numpy().astype(bool)
    smooth = np.stack([smooth_fill(c, h) for c, h in zip(crops, holes_np)])
    # the 3DMM painter needs each full photo fitted: the boxes come from a fresh MediaPipe pass
    from morphable.landmarks_mp import MediaPipeBackend

    names, read = list_images(UTKFACE)
    have = set(names)
    backend = MediaPipeBackend(max_faces=1)
    photos, boxes, rows = [], [], []
    for i in range(min(fits, n)):
        if held.names[i] not in have:
            continue
        img = decode_image(read(held.names[i]))
        meshes = backend.meshes(img)
        if meshes:
            photos.append(img)
            boxes.append(mouth_box(meshes[0]))
            rows.append(i)
    model_crops = model_fills(photos, boxes)
    model = np.zeros_like(crops)
    has_model = np.zeros(n, bool)
    for i, mc in zip(rows, model_crops):
        if mc is not None:
            model[i] = np.where(holes_np[i][..., None], mc, crops[i])
            has_model[i] = True

    def measure(fills: np.ndarray, idx: np.ndarray) -> dict:
        p_box = [psnr(crops[i], fills[i]) for i in idx]
        p_hole = [psnr(crops[i], fills[i], holes_np[i]) for i in idx]
        ssim = [structural_similarity(crops[i], fills[i], channel_axis=2, data_range=255) for i in idx]
        sharp = [grad_energy(fills[i], holes_np[i]) / max(grad_energy(crops[i], holes_np[i]), 1e-6) for i in idx]
        return {"psnr_box": stats(p_box), "psnr_hole": stats(p_hole), "ssim_box": stats(ssim),
                "grad_energy_ratio": stats(sharp)}

    everyone = np.arange(n)
    fitted = np.flatnonzero(has_model)
    res = {"n": int(n), "n_fitted": int(len(fitted)),
           "all": {**{k: measure(v, everyone) for k, v in trained.items()}, "smooth": measure(smooth, everyone)},
           "fitted": {**{k: measure(v, fitted) for k, v in trained.items()}, "model": measure(model, fitted),
                      "smooth": measure(smooth, fitted)}}
    # realism: Frechet distance of PCA(16 px crops) to the truth's, on the fitted subset
    # unpaired: fills on one half of the photos against the truth of the other half (a filler
    # cannot score by copying its own photo's context); truth vs truth is the floor
    a_idx, b_idx = fitted[0::2], fitted[1::2]
    ref = features(crops[b_idx], holes_np[b_idx])
    mean = ref.mean(0)
    basis = np.linalg.svd(ref - mean, full_matrices=False)[2][:min(16, max(1, len(b_idx) // 4))]

    def project(f: np.ndarray) -> np.ndarray:
        return (f - mean) @ basis.T

    res["frechet_pca16"] = {k: frechet(project(ref), project(features(v[a_idx], holes_np[a_idx])))
                            for k, v in (("truth", crops), *trained.items(), ("model", model), ("smooth", smooth))}
    pics = {"truth": crops, "masked": np.where(holes_np[..., None], 0, crops).astype(np.uint8),
            "model": model, "gan": gan, "gan-small": trained.get("gan-small", gan), "fitted": fitted}
    return res, pics


def picture(pics: dict, path: Path, count: int = 16) -> None:
    """Rows of (truth | masked | 3DMM | inpainter | distilled) for the first `count` fitted cases (not for the repo)."""
    from PIL import Image

    idx = pics["fitted"][:count]
    rows = [np.concatenate([pics[k][i] for k in ("truth", "masked", "model", "gan", "gan-small")], 1) for i in idx]
    half = (len(rows) + 1) // 2
    left, right = np.concatenate(rows[:half], 0), np.concatenate(rows[half:], 0)
    if right.shape != left.shape:
        right = np.pad(right, ((0, left.shape[0] - right.shape[0]), (0, 0), (0, 0)))
    sheet = np.concatenate([left, np.full((left.shape[0], 8, 3), 255, np.uint8), right], 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).resize((sheet.shape[1] * 2, sheet.shape[0] * 2), Image.NEAREST).save(path)


def astronaut(repeats: int, picture_path: Path | None) -> dict:
    """Speed and flicker of both fillers on the astronaut (512 px) with the jaw opened."""
    import warnings

    import skimage.data

    from rig.photo import mouth as M
    from rig.photo.extend import extend
    from rig.photo.photo_rig import PhotoRig
    from rig.photo.warp import warp

    img = skimage.data.astronaut()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rig = PhotoRig.from_photo(img)
    frame = getattr(rig, "_frame", rig.frame)

    def prepared(target):
        fl = rig.builder.flow(rig._source, target)
        disp = extend(fl.disp, fl.known, guide_disp=fl.guide_disp, guide=fl.guide, proxy=fl.head)
        return fl, warp(rig._photo, disp, frame, rig._grid)

    def stage(filler, fl, out):
        return M.mouth_stage(filler, out, rig.builder, fl, rig.params, frame, rig._grid)

    res: dict = {"photo_px": list(img.shape[:2]), "warped_px": list(rig._photo.shape[1:])}
    with torch.no_grad():
        fl, out = prepared(rig.target(expression={"jawOpen": 0.5}))
        M.load_filler()
        for filler in M.FILLERS:
            med, best = time_call(lambda: stage(filler, fl, out), repeats=repeats, warmup=2)
            res[f"ms_{filler}"] = {"median": med * 1000, "min": best * 1000}
        finals = {}
        for filler in M.FILLERS:
            c, a = stage(filler, fl, out)
            finals[filler] = out * (1 - a) + c * a
        box = M.crop_box(*M.mouth_points(fl, rig.model, frame))
        # flicker over a smooth sweep
        seq = {f: [] for f in M.FILLERS}
        for t in np.linspace(0, 1, 24):
            tgt = rig.target(yaw=float(rig.params.pose[0, 0]) + 2 * t,
                             expression={"jawOpen": 0.35 + 0.2 * float(t)})
            fl2, out2 = prepared(tgt)
            for f in M.FILLERS:
                c, a = stage(f, fl2, out2)
                seq[f].append((out2 * (1 - a) + c * a)[:, box[1]:box[1] + box[2], box[0]:box[0] + box[2]] * 255)
        res["flicker_mean_abs_grey"] = {f: float(np.mean([(s[i + 1] - s[i]).abs().mean() for i in range(len(s) - 1)]))
                                        for f, s in seq.items()}
    if picture_path is not None:
        from PIL import Image

        x0, y0, side = box
        m = side // 2
        def cut(t):
            a = (t.clamp(0, 1) * 255 + 0.5).byte().permute(1, 2, 0).numpy()
            a = a[max(0, y0 - m):y0 + side + m, max(0, x0 - m):x0 + side + m]
            return np.asarray(Image.fromarray(a).resize((256, 256), Image.LANCZOS))
        row = np.concatenate([cut(rig._photo), np.full((256, 4, 3), 255, np.uint8), cut(finals["model"]),
                              np.full((256, 4, 3), 255, np.uint8), cut(finals["gan"])], 1)
        picture_path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(row).save(picture_path)
        res["picture"] = str(picture_path.resolve().relative_to(ROOT)) if picture_path.resolve().is_relative_to(ROOT) else str(picture_path)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=400, help="held-out open mouths for the inpainter (default 400)")
    ap.add_argument("--fits", type=int, default=120, help="of those, photos fitted for the 3DMM painter")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--astronaut-picture", default=str(ROOT / "docs" / "img" / "mouth_astronaut.png"))
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    res, pics = heldout(args.n, args.fits)
    picture(pics, PICTURES / "cases16.png")
    res["cases_picture_not_committed"] = str((PICTURES / "cases16.png").relative_to(ROOT))
    res["astronaut"] = astronaut(args.repeats, Path(args.astronaut_picture) if args.astronaut_picture else None)
    res["machine"] = machine_info()
    print(res)
    if args.out:
        write_result(args.out, res)


if __name__ == "__main__":
    main()
