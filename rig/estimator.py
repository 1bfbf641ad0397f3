"""Estimator F: latent ws -> flat 3DMM parameters (StyleRig's "differentiable face reconstruction").

An MLP on the flattened latents. It works in normalised units on both sides (stored per-dim
input and target mean/std buffers), so `forward` returns parameters in natural units (degrees,
metres, blendshape weights, SH coefficients) in the FaceParams flat layout of the default model
(identity 52 | expression 52 | pose 6 | light 27). Saved as safetensors with the JSON config in
the metadata; loading never runs code from the file.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from basics.tagged_safetensors import json_field, load_tagged_module, save_tagged
from morphable.params import FaceParams

from .errors import RigError

FORMAT = "facerig-estimator"
WHAT = "a facerig estimator"
VERSION = 1
DEFAULT_K_ID = 52
#: smallest target std within a block, relative to the block's largest (see set_normalisation)
STD_FLOOR = 0.1


class Estimator(nn.Module):
    """MLP (+ linear skip) ws (B, num_ws, w_dim) -> params (B, param_dim); normalised inside, natural units out."""

    def __init__(self, num_ws: int, w_dim: int, param_dim: int = 137, hidden: int = 512, depth: int = 3,
                 k_id: int = DEFAULT_K_ID, k_alb: int = 0, linear_skip: bool = False, dropout: float = 0.0):
        super().__init__()
        if FaceParams.flat_size(k_id, k_alb) != param_dim:
            raise RigError(f"param_dim {param_dim} does not match k_id={k_id}, k_alb={k_alb} "
                           f"(flat size {FaceParams.flat_size(k_id, k_alb)})")
        if depth < 1 or hidden < 1:
            raise RigError(f"depth and hidden must be >= 1, got depth={depth}, hidden={hidden}")
        self.config = dict(num_ws=int(num_ws), w_dim=int(w_dim), param_dim=int(param_dim), hidden=int(hidden),
                           depth=int(depth), k_id=int(k_id), k_alb=int(k_alb), linear_skip=bool(linear_skip),
                           dropout=float(dropout))
        self.num_ws, self.w_dim, self.param_dim, self.k_id, self.k_alb = num_ws, w_dim, param_dim, k_id, k_alb
        dim_in = num_ws * w_dim
        layers: list[nn.Module] = []
        width = dim_in
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)] + ([nn.Dropout(dropout)] if dropout > 0 else [])
            width = hidden
        layers.append(nn.Linear(width, param_dim))
        self.net = nn.Sequential(*layers)
        # optional linear path beside the MLP (measured: helps with a few hundred pairs, slightly
        # worse with thousands, so off by default; docs/rig_estimator.md)
        self.skip = nn.Linear(dim_in, param_dim) if linear_skip else None
        self.register_buffer("input_mean", torch.zeros(dim_in))
        self.register_buffer("input_std", torch.ones(dim_in))
        self.register_buffer("target_mean", torch.zeros(param_dim))
        self.register_buffer("target_std", torch.ones(param_dim))

    # ---- normalisation --------------------------------------------------------------------
    @torch.no_grad()
    def set_normalisation(self, ws: torch.Tensor, params: torch.Tensor) -> None:
        """Per-dim mean/std of training latents and targets; constant dims get std 1."""
        x = self._flat(ws)
        self.input_mean.copy_(x.mean(0))
        self.input_std.copy_(_safe_std(x))
        p = params.to(self.target_mean.dtype)
        self.target_mean.copy_(p.mean(0))
        std = _safe_std(p)
        # within a block of like units, a dim that barely varies in training (a rarely fitted
        # blendshape) gets at least STD_FLOOR x the block's largest std, so rare held-out values
        # do not turn into huge normalised errors; pose mixes degrees and metres: per dim only
        for name, sl in FaceParams.layout(self.k_id, self.k_alb).items():
            if name != "pose" and sl.stop > sl.start:
                std[sl] = std[sl].clamp_min(STD_FLOOR * float(std[sl].max()))
        self.target_std.copy_(std)

    def normalise_target(self, params: torch.Tensor) -> torch.Tensor:
        """Natural-unit flat params -> the network's normalised output space."""
        return (params - self.target_mean) / self.target_std

    def _flat(self, ws: torch.Tensor) -> torch.Tensor:
        if ws.ndim != 3 or tuple(ws.shape[1:]) != (self.num_ws, self.w_dim):
            raise RigError(f"ws must be (B, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}")
        return ws.reshape(ws.shape[0], -1).to(self.input_mean.dtype)

    # ---- forward ----------------------------------------------------------------------------
    def forward_normalised(self, ws: torch.Tensor) -> torch.Tensor:
        """(B, param_dim) in normalised units (what training regresses)."""
        x = (self._flat(ws) - self.input_mean) / self.input_std
        return self.net(x) if self.skip is None else self.net(x) + self.skip(x)

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        """(B, param_dim) flat params in natural units (expression not clamped: differentiable)."""
        return self.forward_normalised(ws) * self.target_std + self.target_mean

    def params(self, ws: torch.Tensor) -> FaceParams:
        """FaceParams for the latents, expression weights clamped to [0, 1]."""
        p = FaceParams.from_vector(self.forward(ws), self.k_id, self.k_alb)
        return p.replace(expression=p.expression.clamp(0.0, 1.0))


#: percentiles of the training labels that bound the "trained range" of each parameter
RANGE_PERCENTILES = (5.0, 95.0)
#: the blocks whose entries a trained range bounds when clamping (translation is framing, not commanded)
CLAMPED_BLOCKS = ("expression", "pose")


@dataclass(frozen=True)
class TrainedRange:
    """Per-entry [low, high] of the labels F was trained on (flat FaceParams layout, natural units).

    Commands outside it ask RigNet for faces the estimator (and so RigNet's training) never saw:
    they extrapolate, often changing the person. `source` says where the numbers came from.
    """

    low: torch.Tensor
    high: torch.Tensor
    k_id: int = DEFAULT_K_ID
    percentiles: tuple[float, float] = RANGE_PERCENTILES
    source: str = ""
    n: int = 0

    @classmethod
    def from_labels(cls, params: torch.Tensor, k_id: int = DEFAULT_K_ID, source: str = "",
                    percentiles: tuple[float, float] = RANGE_PERCENTILES) -> "TrainedRange":
        """Percentile range per entry of labels (N, P); expression weights read inside [0, 1]."""
        p = params.detach().double().cpu()
        if p.ndim != 2 or len(p) < 2:
            raise RigError(f"need labels (N >= 2, P), got {tuple(p.shape)}")
        q = torch.tensor([percentiles[0] / 100.0, percentiles[1] / 100.0], dtype=p.dtype)
        low, high = torch.quantile(p, q, dim=0)
        sl = FaceParams.layout(k_id)["expression"]
        low[sl], high[sl] = low[sl].clamp(0.0, 1.0), high[sl].clamp(0.0, 1.0)
        return cls(low.float(), high.float(), k_id, tuple(float(x) for x in percentiles), source, int(len(p)))

    def to_dict(self) -> dict:
        """JSON form (estimator metadata / bundle manifest)."""
        return {"percentiles": list(self.percentiles), "source": self.source, "n": self.n, "k_id": self.k_id,
                "low": [round(float(x), 6) for x in self.low], "high": [round(float(x), 6) for x in self.high]}

    @classmethod
    def from_dict(cls, d: dict, where: str = "trained_range") -> "TrainedRange":
        """Parse to_dict's form; RigError when it is malformed."""
        try:
            k_id = int(d.get("k_id", DEFAULT_K_ID))
            low = torch.tensor([float(x) for x in d["low"]])
            high = torch.tensor([float(x) for x in d["high"]])
            pct = tuple(float(x) for x in d.get("percentiles", RANGE_PERCENTILES))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RigError(f"{where} is malformed ({exc})") from None
        size = FaceParams.flat_size(k_id)
        if low.shape != (size,) or high.shape != (size,) or bool((low > high).any()) or len(pct) != 2:
            raise RigError(f"{where} must hold 'low' <= 'high' lists of {size} numbers")
        return cls(low, high, k_id, pct, str(d.get("source", "")), int(d.get("n", 0)))

    def bounds(self, name: str) -> tuple[float, float]:
        """[low, high] of 'yaw' / 'pitch' / 'roll' (degrees) or an ARKit expression name."""
        from morphable.arkit import expression_index

        lay = FaceParams.layout(self.k_id)
        angles = {"yaw": 0, "pitch": 1, "roll": 2}
        i = lay["pose"].start + angles[name] if name in angles else lay["expression"].start + expression_index(name)
        return float(self.low[i]), float(self.high[i])

    def clamp(self, params: FaceParams, blocks: tuple[str, ...] | list[str] = CLAMPED_BLOCKS,
              keep: FaceParams | None = None) -> FaceParams:
        """params with the pose angles / expression weights of `blocks` clamped into the range.

        `keep` (batch 1, e.g. the source face's own reading) widens each bound to include its value, so a
        face that already lies outside the range is not pulled in, only kept from moving further out.
        """
        flat = params.to_vector()
        low, high = self.low.to(flat), self.high.to(flat)
        if keep is not None:
            k = keep.to_vector().to(flat)[:1]
            low, high = torch.minimum(low, k[0]), torch.maximum(high, k[0])
        lay = FaceParams.layout(self.k_id)
        out = flat.clone()
        for block in blocks:
            if block not in CLAMPED_BLOCKS:
                continue
            sl = lay[block] if block == "expression" else slice(lay["pose"].start, lay["pose"].start + 3)
            out[:, sl] = torch.maximum(torch.minimum(flat[:, sl], high[sl]), low[sl])
        return FaceParams.from_vector(out, self.k_id)


def trained_range_of(est: Estimator) -> TrainedRange | None:
    """The range stored in a loaded estimator's metadata (None for files written before ranges existed)."""
    d = (getattr(est, "info", None) or {}).get("trained_range")
    return None if d is None else TrainedRange.from_dict(d, "estimator metadata 'trained_range'")


def _safe_std(x: torch.Tensor) -> torch.Tensor:
    std = x.std(0) if x.shape[0] > 1 else torch.ones_like(x[0])
    return torch.where(std > 1e-6, std, torch.ones_like(std))


def save_estimator(est: Estimator, path: str | os.PathLike, info: dict | None = None) -> None:
    """Write the estimator (weights + normalisation buffers) atomically as safetensors."""
    tensors = {k: v.detach().float() for k, v in est.state_dict().items()}
    save_tagged(path, tensors, FORMAT, {"version": str(VERSION), "config": est.config, "info": info or {}}, RigError)


def load_estimator(path: str | os.PathLike, device: str | torch.device | None = None) -> Estimator:
    """Read an estimator written by save_estimator (eval mode, float32)."""
    est, meta = load_tagged_module(path, FORMAT, WHAT, Estimator, RigError)
    est.info = json_field(meta, "info", path, WHAT, RigError, "{}")
    return est.eval().to(device or "cpu")
