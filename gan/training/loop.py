"""StyleGAN2 training loop: one process or DDP under torchrun, resumable exactly.

Non-saturating logistic loss, lazy R1 on D, style mixing, an EMA generator, Adam (0, 0.99)
with the lazy-regularisation lr/beta correction, DiffAugment on reals and fakes, optional bf16
autocast (CPU and CUDA). Rank 0 writes checkpoints, sample grids, a JSON-lines metrics log and
the exported G_ema. `training_loop(config)` is the entry point; no argument parsing here.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from .. import augment as aug
from .. import distributed as ddp
from ..checkpoint import save_generator
from ..dataset import BatchSampler, load_images_cached, make_batch
from ..errors import GanError
from ..fileio import atomic_output, image_grid, save_image
from ..losses import d_loss, g_loss, generate, r1_penalty
from ..networks import Discriminator, Generator
from ..train_state import (CHECKPOINT_NAME, global_rng_state, load_checkpoint, load_resume_pack, save_checkpoint,
                           set_global_rng_state)
from .config import ARCH_KEYS, NET_KEYS, TrainConfig, check_config


def _device(name: str, info: ddp.DistInfo) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise GanError("--device cuda was asked for but no CUDA device is available")
        return torch.device("cuda", info.local_rank if info.enabled else (torch.device(name).index or 0))
    if name != "cpu":
        raise GanError(f"unknown device {name!r} (cpu, cuda, auto)")
    return torch.device("cpu")


def build_networks(config: TrainConfig) -> tuple[Generator, Discriminator]:
    """G and D for a config (initialised from the global torch RNG)."""
    G = Generator(z_dim=config.z_dim, w_dim=config.w_dim, img_resolution=config.resolution, img_channels=3,
                  mapping_layers=config.mapping_layers, channel_base=config.channel_base,
                  channel_max=config.channel_max)
    D = Discriminator(img_resolution=config.resolution, img_channels=3, channel_base=config.channel_base,
                      channel_max=config.channel_max, mbstd_group_size=config.mbstd_group)
    return G, D


def save_grid(images: torch.Tensor, grid: int, path: Path) -> None:
    """Tile images (N,3,H,W) in [-1,1] into a grid-column PNG, written atomically."""
    save_image(image_grid(images, cols=grid), path)


class Trainer:
    """Owns the networks, optimisers, samplers and counters of one run (on one rank)."""

    def __init__(self, config: TrainConfig, info: ddp.DistInfo | None = None):
        self.info = info or ddp.DistInfo()
        check_config(config, self.info.world_size)
        self.config = config
        self.device = _device(config.device, self.info)
        self.out = Path(config.out)
        precision = config.precision
        if precision == "auto":
            precision = "bf16" if self.device.type == "cuda" else "fp32"
        self.amp_dtype = torch.bfloat16 if precision == "bf16" else None
        self.precision = precision
        if self.device.type == "cuda":  # speed over bit-exactness on the GPU
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True

        ckpt_path = self.out / CHECKPOINT_NAME
        ckpt = None
        if ckpt_path.exists():
            if not config.resume:
                raise GanError(f"{self.out} already holds a training run; pass --resume or pick a new --out")
            ckpt = load_checkpoint(ckpt_path)
            saved = ckpt["config"]
            for key in ARCH_KEYS:
                if saved.get(key) != getattr(config, key):
                    raise GanError(f"cannot resume {ckpt_path}: it was trained with {key}={saved.get(key)}, "
                                   f"not {getattr(config, key)}")

        # Data: decoded once, kept whole on the training device. Under DDP rank 0 decodes first (and
        # writes the cache); the other ranks wait for it at the barrier, then read the cache.
        cache = self.out / "cache" if config.cache_dataset else None

        def load(progress: bool):
            return load_images_cached(config.data, cache, config.resolution, config.max_images,
                                      progress=progress, holdout=config.holdout)

        if self.info.enabled and not self.info.is_main:
            torch.distributed.barrier()
            data = load(False)
        else:
            data = load(config.progress)
            if self.info.enabled:
                torch.distributed.barrier()
        self.skipped = data.skipped
        self.num_images = len(data)
        self.images = data.images.to(self.device)

        torch.manual_seed(config.seed)
        np.random.seed(config.seed % 2**32)
        import random

        random.seed(config.seed)
        G, D = build_networks(config)
        layout = torch.channels_last if config.channels_last else torch.contiguous_format
        self.G = G.to(self.device, memory_format=layout).train()
        self.D = D.to(self.device, memory_format=layout).train()
        self.layout = layout
        ddp.broadcast_module(self.G)
        ddp.broadcast_module(self.D)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)

        # Lazy regularisation: D's R1 runs every r1_interval steps, so its Adam is rescaled.
        ratio = config.r1_interval / (config.r1_interval + 1) if config.r1_interval > 0 else 1.0
        self.G_opt = torch.optim.Adam(self.G.parameters(), lr=config.lr, betas=(0.0, 0.99), eps=1e-8)
        self.D_opt = torch.optim.Adam(self.D.parameters(), lr=config.lr * ratio,
                                      betas=(0.0, 0.99 ** ratio), eps=1e-8)

        self.sampler = BatchSampler(self.num_images, seed=config.seed * 4 + 1, xflip=config.xflip)
        self.z_gen = torch.Generator().manual_seed(config.seed * 4 + 2)
        self.aug_gen = torch.Generator().manual_seed(config.seed * 4 + 3)
        self.aug_ops = aug.policy_ops(config.aug)
        # Rank-specific stream for synthesis noise (the only draw made on the device).
        torch.manual_seed(config.seed * 4 + 4 + 1000 * self.info.rank)
        self.step = 0
        self.cur_nimg = 0
        self.wall_before = 0.0
        if ckpt is not None:
            self._restore(ckpt)
        elif config.init_from:
            self._start_from_pack(config.init_from)

    # --- state -----------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "config": dataclasses.asdict(self.config),
            "G": self.G.state_dict(), "D": self.D.state_dict(), "G_ema": self.G_ema.state_dict(),
            "G_opt": self.G_opt.state_dict(), "D_opt": self.D_opt.state_dict(),
            "step": self.step, "cur_nimg": self.cur_nimg, "wall_time": self.wall_time(),
            "rng": {**global_rng_state(self.device), "sampler": self.sampler.state_dict(),
                    "z": self.z_gen.get_state(), "aug": self.aug_gen.get_state()},
            "network_config": dict(self.G.config),
        }

    def _restore(self, ckpt: dict) -> None:
        self.G.load_state_dict(ckpt["G"])
        self.D.load_state_dict(ckpt["D"])
        self.G_ema.load_state_dict(ckpt["G_ema"])
        self.G_opt.load_state_dict(ckpt["G_opt"])
        self.D_opt.load_state_dict(ckpt["D_opt"])
        self.step, self.cur_nimg = int(ckpt["step"]), int(ckpt["cur_nimg"])
        self.wall_before = float(ckpt.get("wall_time", 0.0))
        rng = ckpt["rng"]
        set_global_rng_state(rng, self.device)
        self.sampler.load_state_dict(rng["sampler"])
        self.z_gen.set_state(rng["z"])
        self.aug_gen.set_state(rng["aug"])

    def _start_from_pack(self, path: str) -> None:
        """Weights and counters from a resume pack; fresh optimisers, RNGs seeded from this config."""
        pack = load_resume_pack(path)
        for key in NET_KEYS:
            if pack["config"].get(key) != getattr(self.config, key):
                raise GanError(f"cannot start from {path}: it was trained with {key}={pack['config'].get(key)}, "
                               f"not {getattr(self.config, key)}")
        for name in ("G", "D", "G_ema"):
            getattr(self, name).load_state_dict(pack[name])
        self.step, self.cur_nimg = pack["step"], pack["cur_nimg"]

    def wall_time(self) -> float:
        return self.wall_before + (time.time() - self._t0 if hasattr(self, "_t0") else 0.0)

    # --- one minibatch ---------------------------------------------------------------
    def _rows(self) -> slice:
        per = self.config.batch // self.info.world_size
        return slice(self.info.rank * per, (self.info.rank + 1) * per)

    def _autocast(self):
        if self.amp_dtype is None:
            return torch.autocast(device_type=self.device.type, enabled=False)
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _latents(self) -> tuple[torch.Tensor, ...]:
        """z, mixing z and mixing draws for this rank's rows of the global batch."""
        b, rows = self.config.batch, self._rows()
        z = torch.randn(b, self.config.z_dim, generator=self.z_gen)[rows]
        z2 = torch.randn(b, self.config.z_dim, generator=self.z_gen)[rows]
        u = torch.rand(b, generator=self.z_gen)[rows]
        cut = torch.rand(b, generator=self.z_gen)[rows]
        dev = self.device
        return z.to(dev), z2.to(dev), u.to(dev), cut.to(dev)

    def _fake(self, update_emas: bool) -> torch.Tensor:
        z, z2, u, cut = self._latents()
        return generate(self.G, z, self.config.style_mix, u, z2, cut, update_emas=update_emas)

    def _D(self, img: torch.Tensor) -> torch.Tensor:
        img = aug.augment(img, self.aug_ops, self.aug_gen, self._rows(), self.config.batch)
        return self.D(img)

    def _reals(self) -> torch.Tensor:
        idx, flips = self.sampler.next(self.config.batch)
        rows = self._rows()
        return make_batch(self.images, idx[rows], flips[rows]).contiguous(memory_format=self.layout)

    def _opt_step(self, net: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
        ddp.average_gradients(net.parameters(), self.info.world_size)
        for p in net.parameters():
            if p.grad is not None:
                torch.nan_to_num(p.grad, nan=0.0, posinf=1e5, neginf=-1e5, out=p.grad)
        opt.step()

    def train_step(self) -> dict[str, torch.Tensor]:
        """One minibatch: G main, D main, D R1 (every r1_interval steps), EMA; returns stats."""
        cfg = self.config
        stats: dict[str, torch.Tensor] = {}
        # G: non-saturating loss through augmented fakes.
        self.G.requires_grad_(True)
        self.D.requires_grad_(False)
        self.G_opt.zero_grad(set_to_none=True)
        with self._autocast():
            fake_logits = self._D(self._fake(update_emas=False))
            loss = g_loss(fake_logits)
        loss.backward()
        self._opt_step(self.G, self.G_opt)
        stats["loss_G"] = loss.detach()

        # D: logistic loss on augmented reals and (detached) fakes.
        self.G.requires_grad_(False)
        self.D.requires_grad_(True)
        self.D_opt.zero_grad(set_to_none=True)
        with self._autocast():
            with torch.no_grad():
                fake = self._fake(update_emas=True)
            fake_logits = self._D(fake)
            real_logits = self._D(self._reals())
            loss = d_loss(real_logits, fake_logits)
        loss.backward()
        self._opt_step(self.D, self.D_opt)
        stats["loss_D"] = loss.detach()
        stats["D_real"] = real_logits.detach().float().mean()
        stats["D_fake"] = fake_logits.detach().float().mean()

        # Lazy R1 on reals, in fp32, scaled by the interval.
        if cfg.r1_interval > 0 and self.step % cfg.r1_interval == 0 and cfg.resolved_gamma() > 0:
            self.D_opt.zero_grad(set_to_none=True)
            penalty, logits = r1_penalty(self._D, self._reals())
            loss = (penalty * (cfg.resolved_gamma() / 2)).mean() * cfg.r1_interval + logits.float().mean() * 0
            loss.backward()
            self._opt_step(self.D, self.D_opt)
            stats["r1"] = penalty.detach().mean()
        self.D.requires_grad_(False)

        self.cur_nimg += cfg.batch
        self.step += 1
        # w_avg saw each rank's own latents; G's other buffers (filters, fixed noise) never change
        ddp.average_buffers([self.G.mapping.w_avg], self.info.world_size)
        self._update_ema()
        return stats

    @torch.no_grad()
    def _update_ema(self) -> None:
        cfg = self.config
        ema_nimg = cfg.resolved_ema_kimg() * 1000
        if cfg.ema_rampup:
            ema_nimg = min(ema_nimg, self.cur_nimg * cfg.ema_rampup)
        beta = 0.5 ** (cfg.batch / max(ema_nimg, 1e-8))
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.copy_(p.detach().lerp(p_ema, beta))
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    # --- outputs (rank 0) --------------------------------------------------------------
    @torch.no_grad()
    def sample_grid(self, path: Path) -> None:
        """G_ema on fixed seeds (noise const) as a PNG grid."""
        n = self.config.grid ** 2
        z = torch.randn(n, self.config.z_dim, generator=torch.Generator().manual_seed(self.config.seed + 12345))
        imgs = [self.G_ema(zc.to(self.device), noise_mode="const") for zc in z.split(16)]
        save_grid(torch.cat(imgs), self.config.grid, path)

    def snapshot(self) -> None:
        """Checkpoint, exported G_ema and a sample grid (rank 0 only)."""
        if not self.info.is_main:
            return
        kimg = self.cur_nimg / 1000
        save_checkpoint(self.out / CHECKPOINT_NAME, self.state())
        info = {"kimg": round(kimg, 3), "dataset": Path(self.config.data).name, "step": self.step}
        save_generator(self.G_ema, self.out / "G_ema.safetensors", info=info)
        self.sample_grid(self.out / f"samples-{int(round(kimg)):06d}.png")

    def log(self, record: dict) -> None:
        if self.info.is_main:
            with open(self.out / "metrics.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")

    def _trim_metrics(self) -> None:
        """On resume, drop log lines written after the checkpoint (they will be redone)."""
        path = self.out / "metrics.jsonl"
        if not (self.info.is_main and path.exists()):
            return
        kept = []
        for ln in path.read_text().splitlines():
            try:
                record = json.loads(ln)
            except json.JSONDecodeError:  # a line cut short by a crash: written after the checkpoint
                continue
            if record.get("kimg", 0) * 1000 <= self.cur_nimg + 1e-6:
                kept.append(ln)
        with atomic_output(path) as tmp:
            tmp.write_text("".join(ln + "\n" for ln in kept))

    # --- loop --------------------------------------------------------------------------
    def run(self) -> dict:
        """Train to config.kimg (or max_minutes); returns the last metrics record."""
        cfg = self.config
        total = int(round(cfg.kimg * 1000))
        self._t0 = time.time()
        if self.info.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            self._trim_metrics()
            with atomic_output(self.out / "config.json") as tmp:
                tmp.write_text(json.dumps(dataclasses.asdict(cfg), indent=1))
            if self.cur_nimg == 0:
                save_grid(make_batch(self.images, torch.arange(min(self.num_images, cfg.grid ** 2)),
                                     torch.zeros(min(self.num_images, cfg.grid ** 2), dtype=torch.bool)),
                          cfg.grid, self.out / "reals.png")
        bar = None
        if cfg.progress and self.info.is_main:
            from tqdm import tqdm

            bar = tqdm(total=total / 1000, initial=self.cur_nimg / 1000, unit="kimg", desc="train",
                       bar_format="{l_bar}{bar}| {n:.2f}/{total:.1f} kimg [{elapsed}<{remaining}{postfix}]")
        tick_start_nimg, tick_start_time = self.cur_nimg, time.time()
        next_tick = self.cur_nimg + int(cfg.tick_kimg * 1000)
        next_snap = (self.cur_nimg // int(cfg.snapshot_kimg * 1000) + 1) * int(cfg.snapshot_kimg * 1000)
        sums: dict[str, torch.Tensor] = {}
        counts: dict[str, int] = {}
        record: dict = {}
        deadline = self._t0 + cfg.max_minutes * 60 if cfg.max_minutes else None
        stop = False
        while self.cur_nimg < total and not stop:
            stats = self.train_step()
            for k, v in stats.items():
                sums[k] = sums.get(k, 0) + v
                counts[k] = counts.get(k, 0) + 1
            if deadline is not None and self.step % 10 == 0:  # a host sync: not every step
                flag = torch.tensor([float(time.time() > deadline)], device=self.device)
                stop = bool(ddp.all_mean(flag, self.info.world_size).item() > 0)
            done = self.cur_nimg >= total or stop
            if bar is not None:
                bar.update(cfg.batch / 1000)
            if self.cur_nimg >= next_tick or done:
                names = sorted(sums)
                means = ddp.all_mean(torch.stack([sums[k] / counts[k] for k in names]).float(),
                                     self.info.world_size).tolist()
                dt = max(time.time() - tick_start_time, 1e-9)
                record = {"kimg": self.cur_nimg / 1000, "step": self.step,
                          **{k: round(v, 5) for k, v in zip(names, means)},
                          "images_per_s": round((self.cur_nimg - tick_start_nimg) / dt, 2),
                          "wall_s": round(self.wall_time(), 1)}
                self.log(record)
                if bar is not None:
                    bar.set_postfix({k: f"{record[k]:.3f}" for k in ("loss_G", "loss_D", "r1") if k in record})
                sums, counts = {}, {}
                tick_start_nimg, tick_start_time = self.cur_nimg, time.time()
                next_tick = self.cur_nimg + int(cfg.tick_kimg * 1000)
            if self.cur_nimg >= next_snap or done:
                self.snapshot()
                next_snap += int(cfg.snapshot_kimg * 1000)
        if bar is not None:
            bar.close()
        return record


def training_loop(config: TrainConfig) -> dict:
    """Run (or continue) a training run; joins torchrun's process group when launched by it."""
    device = config.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    info = ddp.init_from_env(device)
    ok = False
    try:
        result = Trainer(config, info).run()
        ok = True
        return result
    finally:
        ddp.shutdown(wait=ok)


