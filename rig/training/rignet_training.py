"""RigNet training loop: sampled latent pairs, the cycle losses of rig.training.losses, exact resume, torchrun-ready.

Every random draw (latents, edit blocks, masks, uniform targets) comes from one torch.Generator
whose state is checkpointed with RigNet, Adam and the step, so N steps straight equal N/2 steps,
a resume and N/2 more. Under torchrun each rank draws its own latents and gradients are averaged
with one all_reduce (gan.distributed); rank 0 writes checkpoints and the final bundle.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from basics.npz import read_npz
from basics.torch_files import load_weights_only
from gan import distributed as dist_utils
from morphable.fileio import atomic_output
from morphable.params import FaceParams

from ..errors import RigError
from ..rignet import RigNet
from .losses import RigLoss, RigLossWeights

CHECKPOINT = "checkpoint.pt"
CKPT_FORMAT = "facerig-rig-train/1"
STAT_SAMPLES = 4096


@dataclass
class RigTrainConfig:
    """Hyper-parameters of one run (stored in its checkpoint; a resume keeps them)."""

    steps: int = 1500
    batch: int = 32
    lr: float = 1e-3
    seed: int = 0
    truncation: float = 1.0
    code: int = 32
    hidden: int = 256
    render_batch: int = 4
    size: int = 64
    cell: float = 0.012
    blocks: tuple[str, ...] = ("pose", "expression", "light")
    subset_prob: float = 0.5
    uniform_prob: float = 0.3
    checkpoint_every: int = 100
    log_every: int = 50
    #: identity proxy .safetensors (rig/training/identity_proxy.py) for the identity loss; None: no identity term
    identity_proxy: str | None = None
    #: sha256 of the proxy file when the run started (a resume refuses a changed file); None in older runs
    identity_proxy_sha256: str | None = None
    weights: RigLossWeights = field(default_factory=RigLossWeights)

    def to_json(self) -> str:
        d = asdict(self)
        d["blocks"] = list(self.blocks)
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "RigTrainConfig":
        d = json.loads(text)
        d["blocks"] = tuple(d["blocks"])
        d["weights"] = RigLossWeights(**d["weights"])
        return cls(**d)


class LatentSource:
    """Latents for training: G's mapping of z ~ N(0, I), or rows of a pairs .npz ('ws', 'ok')."""

    def __init__(self, G, truncation: float = 1.0, pairs: str | os.PathLike | None = None):
        self.G, self.truncation, self.bank = G, float(truncation), None
        if pairs is not None:
            data = read_npz(pairs, "a latent pairs file (an .npz with a 'ws' array, as `facerig rig pairs` writes)",
                            RigError)
            if "ws" not in data:
                raise RigError(f"{pairs} is not a latent pairs file (no 'ws' array)")
            ws = data["ws"]
            ok = data["ok"].astype(bool) if "ok" in data else np.ones(len(ws), bool)
            if ws.ndim != 3 or ws.shape[1:] != (G.num_ws, G.w_dim):
                raise RigError(f"{pairs}: ws must be (N, {G.num_ws}, {G.w_dim}), got {ws.shape}")
            self.bank = torch.from_numpy(ws[ok].astype(np.float32))

    @torch.no_grad()
    def __call__(self, n: int, gen: torch.Generator) -> torch.Tensor:
        if self.bank is not None:
            return self.bank[torch.randint(len(self.bank), (n,), generator=gen)]
        z = torch.randn(n, self.G.z_dim, generator=gen)
        return self.G.mapping(z, None, truncation_psi=self.truncation)


def save_train_checkpoint(path: Path, rignet: RigNet, opt: torch.optim.Optimizer, step: int,
                          gen: torch.Generator, config: RigTrainConfig, history: list) -> None:
    """Everything needed to continue exactly (plain values and tensors: weights_only loadable)."""
    payload = {"format": CKPT_FORMAT, "step": step, "rignet": rignet.state_dict(),
               "rignet_config": json.dumps(rignet.config), "optimizer": opt.state_dict(),
               "generator_state": gen.get_state(), "config": config.to_json(), "history": history}
    with atomic_output(path) as tmp:
        torch.save(payload, tmp)


def load_train_checkpoint(path: Path) -> dict:
    """A RigNet training checkpoint (weights only); RigError when it is missing, refused or of another kind."""
    ckpt = load_weights_only(path, "rig checkpoint", RigError)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CKPT_FORMAT:
        raise RigError(f"{path} is not a rig training checkpoint ({CKPT_FORMAT})")
    return ckpt


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes; RigError when it cannot be read."""
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError as exc:
        raise RigError(f"cannot read {path}: {exc.strerror or exc}") from None


def _identity_options(config: RigTrainConfig) -> str:
    if not config.identity_proxy:
        return "no identity loss"
    return f"--identity-proxy {config.identity_proxy} --identity-weight {config.weights.identity:g}"


def check_identity_options(saved: RigTrainConfig, requested: RigTrainConfig, where: Path) -> None:
    """RigError (one line) when a resume asks for another identity proxy or weight than the checkpoint used."""
    def same_path(a: str | None, b: str | None) -> bool:
        return (not a and not b) or (bool(a) and bool(b) and Path(a).resolve() == Path(b).resolve())

    if not same_path(saved.identity_proxy, requested.identity_proxy) or (
            saved.identity_proxy and float(saved.weights.identity) != float(requested.weights.identity)):
        raise RigError(f"{where} was trained with {_identity_options(saved)}, this run asks for "
                       f"{_identity_options(requested)}: resume with the same options or choose another --out")


def check_proxy_unchanged(config: RigTrainConfig) -> None:
    """RigError when the identity proxy file differs from the one the run started with (when it recorded one)."""
    if not config.identity_proxy or not config.identity_proxy_sha256:
        return  # no proxy, or a run started before the hash was recorded
    if not Path(config.identity_proxy).is_file():
        raise RigError(f"no identity proxy at {config.identity_proxy} (the run started with it)")
    digest = file_sha256(config.identity_proxy)
    if digest != config.identity_proxy_sha256:
        raise RigError(f"the identity proxy {config.identity_proxy} changed since the run started (sha256 "
                       f"{config.identity_proxy_sha256[:12]}... now {digest[:12]}...): restore it or choose another --out")


def train_rignet(G, estimator, model, out_dir: str | os.PathLike, config: RigTrainConfig | None = None,
                 resume: bool = False, pairs: str | os.PathLike | None = None, progress: bool = True,
                 steps: int | None = None) -> tuple[RigNet, list]:
    """Train (or continue) RigNet in out_dir/checkpoint.pt up to `steps` (default config.steps) total steps."""
    out_dir = Path(out_dir)
    ckpt_path = out_dir / CHECKPOINT
    info = dist_utils.init_from_env("cpu")
    k_id = model.num_identity
    if estimator.param_dim != FaceParams.flat_size(k_id):
        raise RigError(f"the estimator predicts {estimator.param_dim} params, model {model.name!r} "
                       f"has {FaceParams.flat_size(k_id)}")
    if (estimator.num_ws, estimator.w_dim) != (G.num_ws, G.w_dim):
        raise RigError(f"the estimator expects latents ({estimator.num_ws}, {estimator.w_dim}), "
                       f"the generator makes ({G.num_ws}, {G.w_dim})")
    ckpt = None
    if ckpt_path.exists():
        if not resume:
            raise RigError(f"{ckpt_path} exists: pass --resume to continue it, or choose another --out")
        ckpt = load_train_checkpoint(ckpt_path)
        saved = RigTrainConfig.from_json(ckpt["config"])
        if config is not None:
            check_identity_options(saved, config, ckpt_path)
        config = saved
        check_proxy_unchanged(config)
    config = config or RigTrainConfig()
    if ckpt is None and config.identity_proxy:  # record which file (absolute) and which bytes the run uses
        if not Path(config.identity_proxy).is_file():
            raise RigError(f"no identity proxy at {config.identity_proxy}")
        proxy_path = Path(config.identity_proxy).resolve()
        config = replace(config, identity_proxy=str(proxy_path), identity_proxy_sha256=file_sha256(proxy_path))
    total = int(steps if steps is not None else config.steps)
    if steps is not None:
        config.steps = total

    torch.manual_seed(config.seed)
    rignet = RigNet(G.num_ws, G.w_dim, estimator.param_dim, config.code, config.hidden)
    gen = torch.Generator().manual_seed(config.seed * 1000003 + info.rank)
    source = LatentSource(G, config.truncation, pairs)
    opt = torch.optim.Adam(rignet.parameters(), lr=config.lr, betas=(0.9, 0.99))
    history: list = []
    step = 0
    if ckpt is None:
        stat_gen = torch.Generator().manual_seed(config.seed)
        rignet.set_statistics(estimator.target_mean, estimator.target_std, source(STAT_SAMPLES, stat_gen))
    else:
        rignet.load_state_dict(ckpt["rignet"])
        opt.load_state_dict(ckpt["optimizer"])
        gen.set_state(ckpt["generator_state"])
        step, history = int(ckpt["step"]), list(ckpt["history"])
    dist_utils.broadcast_module(rignet)
    proxy = None
    if config.identity_proxy:
        from .identity_proxy import load_proxy

        proxy = load_proxy(config.identity_proxy)
        if (proxy.num_ws, proxy.w_dim) != (G.num_ws, G.w_dim):
            raise RigError(f"the identity proxy expects latents ({proxy.num_ws}, {proxy.w_dim}), "
                           f"the generator makes ({G.num_ws}, {G.w_dim})")
    loss_fn = RigLoss(estimator, model, k_id, config.blocks, config.size, config.render_batch,
                      config.weights, config.subset_prob, config.uniform_prob, config.cell, proxy)

    from tqdm import tqdm

    bar = tqdm(total=total, initial=step, desc="rig train", disable=not (progress and info.is_main))
    running: dict[str, float] = {}
    rignet.train()
    while step < total:
        v = source(config.batch, gen)
        w = source(config.batch, gen)
        loss, terms = loss_fn(rignet, v, w, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        dist_utils.average_gradients(rignet.parameters(), info.world_size)
        opt.step()
        step += 1
        for k, val in terms.items():
            running[k] = running.get(k, 0.0) + val
        if step % config.log_every == 0 or step == total:
            n = config.log_every if step % config.log_every == 0 else step % config.log_every
            names = sorted(running)
            avg = dist_utils.all_mean(torch.tensor([running[k] / n for k in names]), info.world_size)
            history.append({"step": step, **{k: round(float(x), 6) for k, x in zip(names, avg)}})
            running = {}
            bar.set_postfix(loss=f"{history[-1]['total']:.4f}", edit=f"{history[-1]['edit']:.3f}")
        if info.is_main and (step % config.checkpoint_every == 0 or step == total):
            save_train_checkpoint(ckpt_path, rignet, opt, step, gen, config, history)
        bar.update(1)
    bar.close()
    return rignet.eval(), history


def rig_info(config: RigTrainConfig, history: list, loss_cfg: dict | None = None) -> dict:
    """The bundle's `info` block: how it was trained and where its losses ended."""
    return {"train": json.loads(config.to_json()), "final": history[-1] if history else {},
            **({"loss": loss_cfg} if loss_cfg else {})}
