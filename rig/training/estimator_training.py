"""Train the estimator F on (ws, fitted params) pairs; `facerig rig estimator ...` runs it.

Adam on the MSE in normalised parameter space (optionally weighted per block), early stopping
on a held-out share of the pairs. The report gives the held-out error per block in natural
units next to the trivial predictor (the training mean), so it shows what F learns.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from gan.checkpoint_formats import load_any_generator
from morphable.arkit import expression_index
from morphable.params import FaceParams

from ..errors import RigError
from ..estimator import Estimator, TrainedRange, save_estimator

#: expressions reported one by one (the ones a landmark fit sees best)
REPORTED_EXPRESSIONS = ("jawOpen", "mouthSmileLeft", "mouthSmileRight", "eyeBlinkLeft", "eyeBlinkRight")


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random (train, val) index split; val gets round(n * val_fraction), at least 1."""
    if not 0.0 < val_fraction < 1.0 or n < 2:
        raise RigError(f"need >= 2 pairs and 0 < val_fraction < 1 (got n={n}, val_fraction={val_fraction})")
    perm = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(n * val_fraction)))
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def block_weights(k_id: int, weights: dict[str, float] | None = None) -> torch.Tensor:
    """Per-dim loss weights from per-block weights (identity, expression, pose, light)."""
    w = torch.ones(FaceParams.flat_size(k_id))
    for name, value in (weights or {}).items():
        layout = FaceParams.layout(k_id)
        if name not in layout:
            raise RigError(f"unknown parameter block {name!r} (known: {', '.join(layout)})")
        w[layout[name]] = float(value)
    return w


def train_estimator(ws: torch.Tensor, params: torch.Tensor, val_fraction: float = 0.1, seed: int = 0,
                    hidden: int = 512, depth: int = 3, lr: float = 1e-3, weight_decay: float = 1e-4,
                    batch: int = 256, max_epochs: int = 400, patience: int = 30,
                    weights: dict[str, float] | None = None, k_id: int = 52, linear_skip: bool = False,
                    dropout: float = 0.2, progress: bool = False) -> tuple[Estimator, dict]:
    """Fit an Estimator to (ws, params); returns the best-on-validation model and a history dict."""
    ws, params = ws.float(), params.float()
    if ws.ndim != 3 or params.ndim != 2 or len(ws) != len(params):
        raise RigError(f"need ws (N,num_ws,w_dim) and params (N,P) with the same N, got "
                       f"{tuple(ws.shape)} and {tuple(params.shape)}")
    tr, va = split_indices(len(ws), val_fraction, seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        est = Estimator(ws.shape[1], ws.shape[2], params.shape[1], hidden, depth, k_id=k_id,
                        linear_skip=linear_skip, dropout=dropout)
    est.set_normalisation(ws[tr], params[tr])
    y = est.normalise_target(params)
    w = block_weights(k_id, weights)
    opt = torch.optim.AdamW(est.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=max(1, patience // 3))
    gen = torch.Generator().manual_seed(seed)
    best, best_state, best_epoch, stale = math.inf, None, -1, 0
    history: dict = {"train_loss": [], "val_loss": []}
    t0 = time.perf_counter()
    for epoch in tqdm(range(max_epochs), desc="estimator", unit="epoch", disable=not progress, leave=False):
        est.train()
        order = torch.from_numpy(tr)[torch.randperm(len(tr), generator=gen)]
        total = 0.0
        for s in range(0, len(order), batch):
            idx = order[s:s + batch]
            loss = ((est.forward_normalised(ws[idx]) - y[idx]) ** 2 * w).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        est.eval()
        with torch.no_grad():
            val = float(((est.forward_normalised(ws[va]) - y[va]) ** 2 * w).mean())
        sched.step(val)
        history["train_loss"].append(total / len(tr))
        history["val_loss"].append(val)
        if val < best - 1e-5:
            best, best_epoch, stale = val, epoch, 0
            best_state = {k: v.detach().clone() for k, v in est.state_dict().items()}
        else:
            stale += 1
            if stale >= patience:
                break
    est.load_state_dict(best_state)
    history.update(best_epoch=best_epoch, epochs=len(history["val_loss"]), best_val_loss=best,
                   seconds=time.perf_counter() - t0, train_index=tr, val_index=va)
    return est.eval(), history


def block_errors(pred: torch.Tensor, target: torch.Tensor, k_id: int = 52) -> dict[str, float]:
    """Mean absolute error per block in natural units (pose in degrees and mm, SH light coefficients)."""
    p = FaceParams.from_vector(pred.float(), k_id)
    t = FaceParams.from_vector(target.float(), k_id)
    mae = lambda a, b: float((a - b).abs().mean())  # noqa: E731
    out = {"yaw_deg": mae(p.yaw, t.yaw), "pitch_deg": mae(p.pitch, t.pitch), "roll_deg": mae(p.roll, t.roll),
           "translation_mm": 1000.0 * mae(p.translation, t.translation),
           "identity_std": mae(p.identity, t.identity),
           "expression_all": mae(p.expression.clamp(0, 1), t.expression),
           "light": mae(p.light, t.light)}
    for name in REPORTED_EXPRESSIONS:
        i = expression_index(name)
        out[f"expr_{name}"] = mae(p.expression[:, i].clamp(0, 1), t.expression[:, i])
    return out


def evaluate(est: Estimator, ws: torch.Tensor, params: torch.Tensor, baseline_mean: torch.Tensor) -> dict:
    """Held-out errors of the estimator and of the trivial mean predictor, per block."""
    with torch.no_grad():
        pred = est(ws.float())
    mean = baseline_mean.float().expand_as(params)
    return {"estimator": block_errors(pred, params, est.k_id), "mean_predictor": block_errors(mean, params, est.k_id)}



def range_summary(trained: TrainedRange) -> dict[str, list[float]]:
    """[low, high] of the pose angles and the reported expressions (the report's readable part)."""
    names = ("yaw", "pitch", "roll") + REPORTED_EXPRESSIONS
    return {n: [round(v, 4) for v in trained.bounds(n)] for n in names}


def bundle_range(bundle: str, pairs: list[str] | None, seed: int = 0, samples: int = 10_000) -> TrainedRange:
    """A bundle's trained range: the training split of its pairs' ok labels (as train_estimator splits
    them with `seed`), or without pairs F's own predictions on `samples` generated latents."""
    from ..face_rig import FaceRig
    from .training_pairs import concat_pairs, load_pairs, sample_latents

    rig = FaceRig.load(bundle)
    if pairs:
        data = concat_pairs([load_pairs(p) for p in pairs])
        ok = data["ok"].astype(bool)
        labels = torch.from_numpy(data["params"][ok])
        tr, _ = split_indices(len(labels), 0.1, seed)
        return TrainedRange.from_labels(labels[tr], rig.k_id, source=f"training labels: {len(tr)} fitted pairs "
                                        f"(ok rows of {', '.join(pairs)}, split seed {seed})")
    ws = sample_latents(rig.G, samples, seed)
    with torch.no_grad():
        pred = torch.cat([rig.estimator(ws[s:s + 1024]) for s in range(0, len(ws), 1024)])
    return TrainedRange.from_labels(pred, rig.k_id, source=f"F's predictions on {samples} generated latents "
                                    f"(seed {seed}; no pairs file)")


@dataclass
class EstimatorTrainingConfig:
    """One estimator run: where the pairs come from, the network and its optimisation, where it goes."""

    out: str = "out/rig/estimator"       # folder for pairs.npz, estimator.safetensors, report.json
    generator: str = "dcgan"             # 'dcgan' (gan-face-generate weights) or a checkpoint path
    pairs: tuple[str, ...] = ()          # existing pairs files (joined into OUT/pairs.npz); none: generate n
    n: int = 4000                        # pairs to generate (without `pairs`)
    seed: int = 0
    batch: int = 64                      # images fitted per batch
    truncation: float = 1.0
    landmarks: str = "auto"              # backend that labels generated pairs (pairs files say their own)
    hidden: int = 512
    depth: int = 3
    epochs: int = 400
    patience: int = 30
    lr: float = 1e-3
    dropout: float = 0.2
    linear_skip: bool = False            # a linear path beside the MLP
    weights: dict[str, float] = field(default_factory=dict)   # per-block loss weights, e.g. {"pose": 2}


def run_estimator_training(config: EstimatorTrainingConfig) -> dict:
    """Generate (or read) pairs, train, evaluate, write the three outputs; returns the report."""
    from .training_pairs import concat_pairs, load_pairs, make_pairs, pairs_landmarks, save_pairs

    out = Path(config.out)
    weights = dict(config.weights)
    block_weights(52, weights)  # unknown block names fail before any work
    if config.pairs:
        pairs = concat_pairs([load_pairs(p) for p in config.pairs])
        if [Path(p).resolve() for p in config.pairs] != [(out / "pairs.npz").resolve()]:
            save_pairs(pairs, out / "pairs.npz")
    else:
        from morphable.formats import load_model
        pairs = make_pairs(load_any_generator(config.generator), load_model("default"), config.n, config.seed,
                           config.batch, config.truncation, landmarks=config.landmarks)
        save_pairs(pairs, out / "pairs.npz")
    ok = pairs["ok"].astype(bool)
    ws, params = torch.from_numpy(pairs["ws"][ok]), torch.from_numpy(pairs["params"][ok])
    est, hist = train_estimator(ws, params, seed=config.seed, hidden=config.hidden, depth=config.depth, lr=config.lr,
                                max_epochs=config.epochs, patience=config.patience, weights=weights,
                                linear_skip=config.linear_skip, dropout=config.dropout, progress=True)
    va, tr = hist["val_index"], hist["train_index"]
    errors = evaluate(est, ws[va], params[va], params[tr].mean(0))
    landmarks = pairs_landmarks(pairs)
    report = {"generator": config.generator, "landmarks": landmarks, "pairs": {
        "n": int(len(ok)), "ok": int(ok.sum()), "ok_share": float(ok.mean()),
        "seconds_per_sample": float(pairs["seconds_per_sample"]), "seeds": np.atleast_1d(pairs["seed"]).tolist(),
        "landmark_error_median_iod_pct": float(np.nanmedian(pairs["landmark_error"][ok]))},
        "train": {"n_train": int(len(tr)), "n_val": int(len(va)), "epochs": hist["epochs"],
                  "best_epoch": hist["best_epoch"], "best_val_loss": hist["best_val_loss"],
                  "seconds": hist["seconds"], "config": est.config, "weights": weights},
        "val_errors": errors}
    trained = TrainedRange.from_labels(params[tr], est.k_id, source=f"training labels: {len(tr)} fitted pairs "
                                       f"(ok rows of {', '.join(config.pairs) if config.pairs else 'generated pairs'})")
    report["trained_range"] = range_summary(trained)
    save_estimator(est, out / "estimator.safetensors",
                   info={"generator": config.generator, "landmarks": landmarks, "val_errors": errors["estimator"],
                         "trained_range": trained.to_dict()})
    from morphable.fileio import atomic_output

    with atomic_output(out / "report.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2))
    return report


def store_trained_range(bundle: str, pairs: list[str] | None = None, seed: int = 0) -> TrainedRange:
    """Write a bundle's trained range into its manifest (from its training pairs, else F's predictions)."""
    from ..bundle import set_trained_range

    trained = bundle_range(bundle, pairs, seed)
    set_trained_range(bundle, trained)
    return trained
