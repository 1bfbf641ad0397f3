"""Training pairs for the estimator: sample the generator, fit the 3DMM to each image.

For each latent the image is fitted with morphable.fit's landmark stage (identity, expression,
pose from the detected landmarks); the SH light is then solved in closed form on the fitted geometry
(the photometric stage's first step, one rasterization per batch, no Adam), which gives a real
light estimate at a fraction of the full photometric refinement's cost. Rows whose fit failed
(no face, unreliable landmarks) are kept with ok=False so the share of usable samples is known.
Latents come from one seeded stream, so the same --n/--seed reproduce the same latents and only
the labels change when the fitter does: `facerig rig pairs --n 1000 --seed 3 --out P.npz`.
The landmark backend that labelled the pairs ("mediapipe" or "dlib") is stored in the file as
`landmarks`: labels from different detectors differ systematically, so they are never mixed.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from gan.fileio import to_uint8
from morphable.fit import Fitter
from morphable.fit.crop import Frame, crop_frames
from morphable.model import MorphableModel

from basics.npz import read_npz

from ..errors import RigError

PAIRS_FORMAT = "facerig-estimator-pairs"
PAIRS_WHAT = "an estimator pairs file (an .npz of plain arrays, as `facerig rig pairs` writes)"
#: the recorded backend of pairs files written before the `landmarks` entry existed
UNKNOWN_LANDMARKS = "unknown"
#: resolution of the closed-form light solve (the DCGAN's own size; larger images are resampled)
LIGHT_SIZE = 64


def sample_latents(G: nn.Module, n: int, seed: int, truncation: float = 1.0) -> torch.Tensor:
    """ws (n, num_ws, w_dim) from z ~ N(0, I) drawn from one seeded stream (batch-independent)."""
    gen = torch.Generator().manual_seed(int(seed))
    z = torch.randn(n, G.z_dim, generator=gen)
    with torch.no_grad():
        c = torch.zeros(n, G.c_dim) if getattr(G, "c_dim", 0) else None
        return G.mapping(z, c, truncation_psi=truncation).float()


def pairs_landmarks(pairs: dict[str, np.ndarray]) -> str:
    """The landmark backend that labelled a pairs set ('unknown' for files without the entry)."""
    return str(pairs["landmarks"]) if "landmarks" in pairs else UNKNOWN_LANDMARKS


def fit_latents(G: nn.Module, model: MorphableModel, ws: torch.Tensor, fitter: Fitter | None = None,
                light: bool = True) -> dict[str, np.ndarray]:
    """Synthesize ws and fit each image: params (N,137 flat), ok, landmark_error, light_error."""
    fitter = fitter or Fitter(model)
    with torch.no_grad():
        images = to_uint8(G.synthesis(ws, noise_mode="const"))
    res = fitter(list(images), photometric=False)
    params = res.params.detach().to(torch.float32)
    ok = np.array(res.ok, dtype=bool)
    light_err = np.full(len(images), np.nan, np.float32)
    rows = [i for i, d in enumerate(res.diagnostics) if d.frame]
    if light and rows:
        frames = [Frame(*res.diagnostics[i].frame) for i in rows]
        target = crop_frames([images[i] for i in rows], frames, LIGHT_SIZE)
        est, err = fitter.photometric.estimate_light(params[rows], target)
        params.light[rows] = est.to(params.light.dtype)
        light_err[rows] = err.numpy()
    return {"params": params.to_vector().numpy().astype(np.float32), "ok": ok,
            "landmark_error": np.array([d.landmark_error for d in res.diagnostics], np.float32),
            "light_error": light_err}


def make_pairs(G: nn.Module, model: MorphableModel, n: int, seed: int, batch: int = 64, truncation: float = 1.0,
               light: bool = True, progress: bool = True, landmarks: str = "auto") -> dict[str, np.ndarray]:
    """n (ws, fitted params) pairs: ws (N,num_ws,w_dim), params (N,137), ok (N,), landmark_error (N,).

    Also light_error (mean abs colour error of the light solve, NaN without a face) and the
    seconds spent per sample, and `landmarks`: the backend `landmarks` (a backend_by_name name,
    'auto' resolved) that labelled them. Deterministic for a given seed (the fit is deterministic on CPU).
    """
    if n < 1 or batch < 1:
        raise RigError(f"n and batch must be >= 1, got n={n}, batch={batch}")
    if model.num_albedo and model.num_albedo > 0:
        raise RigError("the estimator's pairs use a model without an albedo basis (the default model)")
    t0 = time.perf_counter()
    ws = sample_latents(G, n, seed, truncation)
    from morphable.landmark_backends import backend_by_name, backend_name

    backend = backend_by_name(landmarks)
    fitter = Fitter(model, backend=backend)
    parts: list[dict[str, np.ndarray]] = []
    for s in tqdm(range(0, n, batch), desc="fit pairs", unit="batch", disable=not progress, leave=False):
        parts.append(fit_latents(G, model, ws[s:s + batch], fitter, light))
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    out["ws"] = ws.numpy().astype(np.float32)
    out["seconds_per_sample"] = np.float32((time.perf_counter() - t0) / n)
    out["seed"], out["truncation"] = np.int64(seed), np.float32(truncation)
    out["landmarks"] = np.array(backend_name(backend))
    return out


def save_pairs(pairs: dict[str, np.ndarray], path: str | os.PathLike) -> None:
    """Write the pairs as an .npz (no pickles) atomically, tagged with PAIRS_FORMAT."""
    from morphable.fileio import atomic_output

    with atomic_output(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, format=np.array(PAIRS_FORMAT), **pairs)


def load_pairs(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read pairs written by save_pairs (allow_pickle=False); checks the tag and shapes."""
    out = read_npz(path, PAIRS_WHAT, RigError)
    if str(out.get("format", "")) != PAIRS_FORMAT:
        raise RigError(f"{path}: not an estimator pairs file (no format={PAIRS_FORMAT!r})")
    n = len(out["ws"])
    if any(len(out[k]) != n for k in ("params", "ok", "landmark_error")):
        raise RigError(f"{path}: pairs arrays have different lengths")
    return out


def concat_pairs(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Join pairs made in several runs (e.g. chunks with different seeds) into one set.

    All parts must have been labelled by the same landmark backend (files without the entry count
    as 'unknown' and only join other 'unknown' ones).
    """
    if not parts:
        raise RigError("no pairs to join")
    backends = [pairs_landmarks(p) for p in parts]
    if len(set(backends)) > 1:
        raise RigError(f"pairs labelled by different landmark backends cannot be joined: {', '.join(backends)} "
                       f"(files without a recorded backend count as {UNKNOWN_LANDMARKS!r})")
    rows = ("ws", "params", "ok", "landmark_error", "light_error")
    out = {k: np.concatenate([p[k] for p in parts]) for k in rows if all(k in p for p in parts)}
    n = [len(p["ws"]) for p in parts]
    out["seconds_per_sample"] = np.float32(sum(float(p["seconds_per_sample"]) * k for p, k in zip(parts, n)) / sum(n))
    # a part may itself be a joined set (an array of seeds): flatten
    out["seed"] = np.concatenate([np.atleast_1d(p["seed"]).astype(np.int64) for p in parts])
    out["truncation"] = np.float32(parts[0]["truncation"])
    if backends[0] != UNKNOWN_LANDMARKS:
        out["landmarks"] = np.array(backends[0])
    return out


@dataclass
class PairsConfig:
    """One pairs file (a chunk: make several with different seeds in parallel, join them in training)."""

    generator: str = "dcgan"   # 'dcgan' (the packaged DCGAN) or a checkpoint path
    n: int = 1000              # pairs in this file
    seed: int = 0              # latent stream seed (chunk k of the default set: seed k)
    batch: int = 64            # images fitted per batch
    truncation: float = 1.0
    landmarks: str = "auto"    # backend that labels the pairs (auto: MediaPipe when importable, else dlib)


def write_pairs_file(config: PairsConfig, out: str | os.PathLike) -> dict[str, np.ndarray]:
    """Make the pairs `config` describes and write them to `out` (.npz); returns them."""
    from gan.checkpoint_formats import load_any_generator
    from morphable.formats import load_model

    if not str(out).endswith(".npz"):
        raise RigError(f"the pairs file must end in .npz, got {out}")
    G = load_any_generator(config.generator).eval().requires_grad_(False)
    pairs = make_pairs(G, load_model("default"), config.n, config.seed, config.batch, config.truncation,
                       landmarks=config.landmarks)
    save_pairs(pairs, out)
    return pairs
