"""`facerig invert PHOTO -o LATENT.npz`: align a face photo like the training data and invert it into G.

LATENT.npz holds ws (1, num_ws, w_dim) float32, the optimised noise maps (`noise.<buffer>`),
the generator's path and config, the alignment transform and quality numbers.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from .errors import RigError

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_GENERATOR = ROOT / "assets" / "gan" / "utkface128.safetensors"
NOISE_PREFIX = "noise."
DEFAULT_NOISE_REG = 1e4  # = gan.inversion.InversionLoss().noise_reg (not imported: keeps the CLI start light)


def read_photo(path: str | Path) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB; RigError when missing or not an image."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise RigError(f"photo not found: {path}")
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise RigError(f"{path} is not a readable image ({type(exc).__name__})") from None


def photo_to_tensor(img: np.ndarray):
    import torch

    return torch.from_numpy(img.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]


def tensor_to_uint8(t) -> np.ndarray:
    return ((t[0].permute(1, 2, 0).clamp(-1, 1).cpu().numpy() + 1.0) * 127.5).round().astype(np.uint8)


def write_latent(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Write an .npz atomically (plain arrays only, readable with allow_pickle=False)."""
    from gan.fileio import atomic_output

    with atomic_output(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def read_latent(path: str | Path) -> dict:
    """Load a LATENT.npz written by `facerig invert`: {'ws', 'noise' {name: array}, other fields}."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise RigError(f"cannot read latent file {path}: {exc}") from None
    if "ws" not in arrays or arrays["ws"].ndim != 3:
        raise RigError(f"{path} is not a facerig latent file (no (1, num_ws, w_dim) 'ws' array)")
    out: dict = {"noise": {}}
    for k, v in arrays.items():
        if k.startswith(NOISE_PREFIX):
            out["noise"][k[len(NOISE_PREFIX):]] = v
        else:
            out[k] = v.item() if v.ndim == 0 and v.dtype.kind == "U" else v
    return out


def _write_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    from gan.fileio import atomic_output

    with atomic_output(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")


def identity_distance(a: np.ndarray, b: np.ndarray) -> float | None:
    """dlib descriptor distance between two aligned faces (None when either has no face)."""
    from morphable.landmarks import descriptor_distance, detect_landmarks, face_descriptor

    pa, pb = detect_landmarks(a), detect_landmarks(b)
    if pa is None or pb is None:
        return None
    return descriptor_distance(face_descriptor(a, pa), face_descriptor(b, pb))


def _invert(args: argparse.Namespace) -> int:
    import torch

    from gan.checkpoint import PACKAGED_DCGAN, load_any_generator
    from gan.inversion import InversionLoss, invert
    from gan.metrics import psnr, ssim

    from .align import align_face

    if args.steps < 1:
        raise RigError(f"--steps must be at least 1, got {args.steps}")
    out = Path(args.output)
    if out.suffix != ".npz":
        raise RigError(f"-o must end in .npz, got {out.name}")
    if args.side_by_side and Path(args.side_by_side).suffix.lower() != ".png":
        raise RigError(f"--side-by-side must end in .png, got {Path(args.side_by_side).name}")
    if args.noise_reg < 0:
        raise RigError(f"--noise-reg must be >= 0, got {args.noise_reg}")
    gen_path = Path(args.generator)
    if args.generator != PACKAGED_DCGAN and not gen_path.is_file():
        raise RigError(f"generator not found: {gen_path} (train or convert one, then pass --generator CKPT)")
    photo = read_photo(args.photo)
    G = load_any_generator(gen_path)
    res = G.img_resolution
    if args.no_align:
        from PIL import Image

        aligned = np.asarray(Image.fromarray(photo).resize((res, res), Image.LANCZOS))
        transform = np.array([[res / photo.shape[1], 0, 0], [0, res / photo.shape[0], 0]], dtype=np.float64)
        points = np.full((68, 2), np.nan)
    else:
        aligned, transform, points = align_face(photo, res, name=str(args.photo))
    target = photo_to_tensor(aligned)
    result = invert(G, target, steps=args.steps, w_plus=not args.single_w, optimise_noise=not args.fixed_noise,
                    lr=args.lr, seed=args.seed, loss=InversionLoss(noise_reg=args.noise_reg),
                    progress=not args.quiet)
    recon = tensor_to_uint8(result.image)
    with torch.no_grad():
        p = float(psnr(result.image.clamp(-1, 1), target)[0])
        s = float(ssim(result.image.clamp(-1, 1), target)[0])
    dist = identity_distance(aligned, recon)
    arrays: dict[str, np.ndarray] = {
        "ws": result.ws.numpy().astype(np.float32),
        "generator": np.array(str(gen_path)),
        "generator_config": np.array(json.dumps(getattr(G, "config", {}))),
        "photo": np.array(str(args.photo)),
        "align_transform": transform.astype(np.float64),
        "align_points": points.astype(np.float64),
        "aligned": aligned,
        "steps": np.array(args.steps),
        "seed": np.array(args.seed),
        "psnr": np.array(p),
        "ssim": np.array(s),
        "dlib_distance": np.array(np.nan if dist is None else dist),
    }
    arrays.update({NOISE_PREFIX + k: v.numpy().astype(np.float32) for k, v in result.noise.items()})
    if args.side_by_side:
        _write_png(Path(args.side_by_side), np.concatenate([aligned, recon], axis=1))
    write_latent(out, arrays)
    ident = "n/a (no face found in both)" if dist is None else f"{dist:.3f}"
    print(f"wrote {out}: {G.num_ws} x {G.w_dim} ws, PSNR {p:.2f} dB, SSIM {s:.3f}, dlib distance {ident}")
    if args.side_by_side:
        print(f"wrote {args.side_by_side} (aligned | reconstruction)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `facerig invert`."""
    p = sub.add_parser("invert", help="align a face photo and invert it into the generator's W+ space",
                       description=__doc__.splitlines()[0])
    p.add_argument("photo", help="face photo (any format Pillow reads)")
    p.add_argument("-o", "--output", required=True, help="LATENT.npz to write")
    p.add_argument("--generator", default=str(DEFAULT_GENERATOR),
                   help=f"generator checkpoint (default {DEFAULT_GENERATOR.relative_to(ROOT)})")
    p.add_argument("--steps", type=int, default=500, help="optimisation steps (default 500)")
    p.add_argument("--lr", type=float, default=0.1, help="Adam learning rate peak (default 0.1)")
    p.add_argument("--seed", type=int, default=0, help="seed for the w jitter (default 0)")
    p.add_argument("--single-w", action="store_true", help="optimise one w for all layers instead of W+")
    p.add_argument("--fixed-noise", action="store_true", help="keep G's constant noise (do not optimise it)")
    p.add_argument("--noise-reg", type=float, default=DEFAULT_NOISE_REG,
                   help="noise autocorrelation penalty (default %(default)g; lower = closer fit, "
                        "more content in the noise)")
    p.add_argument("--no-align", action="store_true",
                   help="skip face alignment; just resize (for images already framed like the training data)")
    p.add_argument("--side-by-side", metavar="OUT.png", help="write aligned photo | reconstruction")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_invert)
