"""Generator quality in face space: Fréchet distance of dlib descriptors to held-back UTKFace photos,
and the share of samples in which dlib and MediaPipe find a face.

    python -m bench.eval_generator --data ../shared/data/utkface/utkface-128-webp.zip \
        --generator dcgan --generator RUN/G_ema.safetensors [--n 400] --out docs/eval_generator_v2.json
    python -m bench.eval_generator --data ZIP --watch RUN [--every 300]   # each new snapshot of a run

The reference set is the fixed held-out share of the zip (gan.dataset.is_held_out, the share a run
passes as --holdout, so never trained on), at the photos' own size (128 px for the UTKFace zip, not
re-decoded at the generator's size). Samples (truncation --truncation, 1.0 by default) are
Lanczos-resized to that size, so photos and samples are scored alike; StyleGAN2 noise is 'const' by
default, the noise the rig and `facerig gan generate` draw (--noise-mode); n training photos against the
reference give the real-vs-real floor. dlib: the project's backend (detector with its retries, 68
points, ResNet descriptor); MediaPipe's face mesh. Faces dlib does not find are NOT dropped: their
descriptor is taken at the reference photos' mean 68 landmarks (all sets are aligned crops), so FD
covers every sample; the share dlib found and the FD of the found faces alone are reported beside it.
Results accumulate in one JSON (one entry per generator and kimg); reference descriptors are
cached under --cache.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch

from gan.checkpoint import read_metadata
from gan.checkpoint_formats import load_any_generator
from gan.dataset import decode_image, is_held_out, list_images
from gan.fileio import atomic_output
from gan.metrics import frechet_distance

from .common import machine_info, write_result

DEFAULT_CACHE = Path.home() / ".cache" / "facerig" / "eval"
#: fewer detected faces than this and a 128-D covariance means nothing: no found-faces-only FD is reported
FD_MIN_COUNT = 50
#: bump when the method changes, so cached reference descriptors of an older method are not reused
METHOD = 2


def describe(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N,128) dlib descriptors and (N,68,2) landmarks of the largest face dlib finds; NaN rows where none."""
    from morphable.landmarks import DlibBackend, face_descriptor

    backend = DlibBackend()
    desc, pts = np.full((len(images), 128), np.nan), np.full((len(images), 68, 2), np.nan)
    for i, img in enumerate(images):
        faces = backend.detect(img)
        if faces:
            pts[i] = faces[0].points
            desc[i] = face_descriptor(img, faces[0].points)
    return desc, pts


def fill_undetected(images: np.ndarray, desc: np.ndarray, template: np.ndarray) -> np.ndarray:
    """desc with each NaN row replaced by the descriptor at `template` (68,2): undetected faces are scored, not dropped."""
    from morphable.landmarks import face_descriptor

    out = desc.copy()
    for i in np.flatnonzero(~np.isfinite(desc).all(axis=1)):
        out[i] = face_descriptor(images[i], template)
    return out


def mediapipe_found(images: np.ndarray) -> np.ndarray | None:
    """Bool per image: MediaPipe's face mesh found a face (None when mediapipe is not importable)."""
    from morphable.landmarks_mp import MediaPipeBackend, mediapipe_importable

    if not mediapipe_importable():
        return None
    backend = MediaPipeBackend(max_faces=1)
    return np.array([bool(backend.detect(img)) for img in images])


def to_size(images: np.ndarray, size: int) -> np.ndarray:
    """Images (N,H,W,3 uint8) Lanczos-resized to size x size (unchanged when already that size)."""
    if images.shape[1:3] == (size, size):
        return images
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.Resampling.LANCZOS)) for im in images])


def real_photos(data: str, holdout: float, n: int, resolution: int | None, held: bool, seed: int = 0) -> np.ndarray:
    """n photos (N,H,W,3 uint8) from the held-out share (held=True) or the training share; resolution None: own size."""
    names, read = list_images(data)
    pool = [x for x in names if is_held_out(x, holdout) == held]
    pick = np.random.default_rng(seed).permutation(len(pool))
    out = []
    for i in pick:
        try:
            out.append(decode_image(read(pool[i]), resolution))
        except (OSError, ValueError):  # the one undecodable file of a set is simply not drawn
            continue
        if len(out) == n:
            break
    return np.stack(out)


@torch.no_grad()
def generated(G, n: int, seed: int = 0, batch: int = 50, truncation: float = 1.0,
              noise_mode: str = "const") -> np.ndarray:
    """n samples (N,H,W,3 uint8) from z ~ N(0,1) with fixed seeds and truncation psi; noise 'const' (what the
    rig and `facerig gan generate` draw), 'random' (seeded, per sample) or 'none'."""
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
    torch.manual_seed(seed + 1)
    imgs = []
    for zc in z.split(batch):
        ws = G.mapping(zc, None, truncation_psi=truncation)
        x = G.synthesis(ws, noise_mode=noise_mode)
        imgs.append(((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy())
    return np.concatenate(imgs)


def score(images: np.ndarray, ref: np.ndarray, template: np.ndarray) -> dict:
    """FD of all images (undetected ones at `template`) and of the found faces alone, and the detection shares."""
    desc, _ = describe(images)
    ok = np.isfinite(desc).all(axis=1)
    mp = mediapipe_found(images)
    return {"n": int(len(images)), "size": int(images.shape[1]), "dlib_found": float(ok.mean()),
            "mediapipe_found": None if mp is None else float(mp.mean()),
            "fd_dlib": frechet_distance(fill_undetected(images, desc, template), ref),
            "fd_dlib_found_only": frechet_distance(desc[ok], ref) if ok.sum() >= FD_MIN_COUNT else None,
            "fd_count": int(ok.sum())}


def photo_size(data: str) -> int:
    """Side of the photos as stored (the first decodable file of the set)."""
    names, read = list_images(data)
    for name in names:
        try:
            return int(decode_image(read(name)).shape[0])
        except (OSError, ValueError):
            continue
    raise ValueError(f"no decodable image in {data}")


def reference(data: str, holdout: float, n: int, size: int, cache: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """Held-out descriptors (all n, undetected at the mean landmarks), that template, and real vs real; cached."""
    st = Path(data).stat()
    key = hashlib.sha1(json.dumps([METHOD, str(Path(data).resolve()), st.st_size, st.st_mtime_ns, holdout, n,
                                   size]).encode()).hexdigest()[:12]
    path = cache / f"reference-{key}.npz"
    if path.exists():
        z = np.load(path, allow_pickle=False)
        return z["ref"], z["template"], json.loads(str(z["real_vs_real"]))
    held = to_size(real_photos(data, holdout, n, None, held=True), size)
    desc, pts = describe(held)
    ok = np.isfinite(desc).all(axis=1)
    template = pts[ok].mean(axis=0)
    ref = fill_undetected(held, desc, template)
    mp = mediapipe_found(held)
    rvr = score(to_size(real_photos(data, holdout, n, None, held=False), size), ref, template)
    rvr["reference"] = {"n": int(len(held)), "dlib_found": float(ok.mean()),
                        "mediapipe_found": None if mp is None else float(mp.mean())}
    cache.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, ref=ref, template=template, real_vs_real=np.array(json.dumps(rvr)))
    return ref, template, rvr


def generator_kimg(path: str) -> float | None:
    """The kimg recorded in one of our safetensors checkpoints (None for other formats)."""
    if path == "dcgan" or not str(path).endswith(".safetensors"):
        return None
    return read_metadata(path).get("info", {}).get("kimg")


def load_results(out: Path) -> dict:
    return json.loads(out.read_text()) if out.exists() else {"entries": []}


def add_entry(out: Path, results: dict, entry: dict) -> None:
    """Replace any entry of the same generator, kimg, sample seed and noise, keep the file sorted, write atomically."""
    def key(e: dict) -> tuple:
        return e["generator"], e.get("kimg"), e.get("sample_seed", 0), e.get("noise_mode")

    results["entries"] = [e for e in results["entries"] if key(e) != key(entry)] + [entry]
    results["entries"].sort(key=lambda e: (e["generator"], e.get("kimg") or 0))
    results["machine"] = machine_info()
    write_result(out, results, indent=1)


def evaluate(path: str, args, ref: np.ndarray, template: np.ndarray, label: str | None = None) -> dict:
    """One generator's entry: its samples at the truncation asked, resized to the photos' size, scored."""
    G = load_any_generator(path, "cpu")
    t0 = time.time()
    samples = generated(G, args.n, seed=args.sample_seed, truncation=args.truncation, noise_mode=args.noise_mode)
    samples = to_size(samples, args.size)
    entry = {"generator": label or str(path), "kimg": generator_kimg(path), "resolution": int(G.img_resolution),
             "truncation": args.truncation, "noise_mode": args.noise_mode, **score(samples, ref, template)}
    if args.sample_seed:  # another draw of samples from the same generator (entries of seed 0 are the main ones)
        entry["sample_seed"] = args.sample_seed
    entry["eval_s"] = round(time.time() - t0, 1)
    return entry


def plot(results: dict, png: Path) -> None:
    """FD and detection shares of the run's snapshots against kimg, DCGAN and real-vs-real as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    main = [e for e in results["entries"] if not e.get("sample_seed")]
    runs = sorted((e for e in main if e["generator"] == "run" and e.get("kimg") is not None), key=lambda e: e["kimg"])
    refs = {e["generator"]: e for e in main if e["generator"] in ("dcgan", "real_vs_real")}
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    kimg = [e["kimg"] for e in runs]
    fd = [(e["kimg"], e["fd_dlib"]) for e in runs if e.get("fd_dlib") is not None and e["fd_count"] >= FD_MIN_COUNT]
    axes[0].plot([k for k, _ in fd], [v for _, v in fd], "o-",
                 label=f"StyleGAN2 64 px (CPU run; FD once dlib finds >= {FD_MIN_COUNT} faces)")
    axes[1].plot(kimg, [e["dlib_found"] for e in runs], "o-", label="dlib, run")
    axes[1].plot(kimg, [e["mediapipe_found"] for e in runs], "s-", label="MediaPipe, run")
    styles = {"dcgan": ("tab:red", "DCGAN (packaged)"), "real_vs_real": ("tab:green", "real vs real")}
    for name, (color, label) in styles.items():
        if name in refs:
            axes[0].axhline(refs[name]["fd_dlib"], color=color, ls="--", label=label)
            axes[1].axhline(refs[name]["dlib_found"], color=color, ls="--", label=f"dlib, {label}")
            if refs[name].get("mediapipe_found") is not None:
                axes[1].axhline(refs[name]["mediapipe_found"], color=color, ls=":", label=f"MediaPipe, {label}")
    axes[0].set(xlabel="kimg", ylabel="FD, dlib descriptors", title="Fréchet distance to held-out UTKFace")
    axes[1].set(xlabel="kimg", ylabel="share of samples", title="faces found", ylim=(0, 1.05))
    for ax in axes:
        ax.legend(fontsize=6)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(png) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="the UTKFace zip the run trained on")
    ap.add_argument("--holdout", type=float, default=0.05, help="the run's --holdout share")
    ap.add_argument("--generator", action="append", default=[], help="'dcgan' or a generator file (repeat)")
    ap.add_argument("--label", action="append", default=[], help="a name per --generator for the results")
    ap.add_argument("--watch", help="a run folder: evaluate its G_ema.safetensors each time it changes")
    ap.add_argument("--every", type=float, default=300.0, help="seconds between looks with --watch")
    ap.add_argument("--until", type=float, default=None, help="stop watching at this Unix time")
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--truncation", type=float, default=1.0, help="truncation psi of the samples (1: none)")
    ap.add_argument("--noise-mode", choices=["const", "random", "none"], default="const",
                    help="StyleGAN2 noise inputs: const is what the rig and `facerig gan generate` draw")
    ap.add_argument("--sample-seed", type=int, default=0,
                    help="seed of the generated samples (another draw from the same generator; recorded when not 0)")
    ap.add_argument("--size", type=int, default=0,
                    help="side all sets are scored at (0: the photos' own size; samples are Lanczos-resized to it)")
    ap.add_argument("--cache", default=str(DEFAULT_CACHE))
    ap.add_argument("--out", default="docs/eval_generator_v2.json")
    ap.add_argument("--plot", help="also draw the results against kimg into this PNG (after each entry)")
    ap.add_argument("--plot-only", action="store_true", help="only redraw --plot from --out")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if args.plot_only:
        plot(load_results(out), Path(args.plot))
        return 0
    torch.set_num_threads(1)
    args.size = args.size or photo_size(args.data)
    ref, template, rvr = reference(args.data, args.holdout, args.n, args.size, Path(args.cache))
    results = load_results(out)
    results["config"] = {"method": METHOD, "n": args.n, "holdout": args.holdout, "size": args.size}
    add_entry(out, results, {"generator": "real_vs_real", "kimg": None, **{k: v for k, v in rvr.items()}})
    for i, g in enumerate(args.generator):
        entry = evaluate(g, args, ref, template, args.label[i] if i < len(args.label) else None)
        add_entry(out, results, entry)
        print(json.dumps(entry), flush=True)
    if args.plot and args.generator:
        plot(results, Path(args.plot))
    if args.watch:
        snap = Path(args.watch) / "G_ema.safetensors"
        seen = {e.get("kimg") for e in results["entries"] if e["generator"] == "run"}
        while args.until is None or time.time() < args.until:
            if snap.exists():
                kimg = generator_kimg(str(snap))
                if kimg not in seen:
                    tmp = Path(args.cache) / "watch-G_ema.safetensors"  # a stable copy: the run may replace it
                    tmp.parent.mkdir(parents=True, exist_ok=True)
                    tmp.write_bytes(snap.read_bytes())
                    entry = evaluate(str(tmp), args, ref, template, "run")
                    add_entry(out, results, entry)
                    seen.add(entry["kimg"])
                    print(json.dumps(entry), flush=True)
                    if args.plot:
                        plot(results, Path(args.plot))
            time.sleep(args.every)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
