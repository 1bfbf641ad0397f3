"""Training the mouth-interior inpainter: mask the inside of real open mouths and redraw it (L1 + edges + PatchGAN).

Self-supervised on the open-mouth crops of rig.training.mouth_data: the hole is the inner-lip
polygon grown by 1-3 px (drawn per sample), or with `partial_share` only a horizontal band of it
(the photo engine's hole when the photo already shows teeth that are warped apart); the guide
plane is the polygon itself (at inference, the target 3DMM's inner lip). Losses: hole-weighted L1, L1 of image gradients (sharp teeth
edges), and a hinge PatchGAN on the composite once the L1 warm-up is over. Every random draw
comes from one torch.Generator whose state is checkpointed (atomically) with both networks,
their Adam states and the generator's EMA, so a killed run resumes exactly.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from basics.atomic import atomic_output
from gan.inpainter import Inpainter, PatchDiscriminator, composite

from ..photo.mouth import polygon_mask
from .mouth_data import MouthSet

CHECKPOINT = "checkpoint.pt"
CKPT_FORMAT = "facerig-mouth-train/1"
#: the committed resume pack: fp16 G, D and G_ema, the step, config and log (no optimiser or RNG state)
PACK_FORMAT = "facerig-mouth-resume/1"
PACK_NETS = ("G", "D", "G_ema")


@dataclass
class MouthTrainConfig:
    """One run's settings (the checkpoint keeps them; a resume uses the stored ones)."""

    data: str = "out/mouth/mouths.npz"
    run_dir: str = "out/mouth/run"
    min_opening: float = 0.08
    steps: int = 200_000
    batch: int = 16
    width: int = 24
    lr: float = 2e-4
    hole_weight: float = 6.0
    grad_weight: float = 2.0
    adv_weight: float = 0.02
    adv_start: int = 600
    ema: float = 0.999
    max_grow: int = 3
    #: share of holes cut to a horizontal band of the opening (30-70% of its height)
    partial_share: float = 0.0
    checkpoint_minutes: float = 4.0
    #: distillation: a trained inpainter file whose output the network also learns (hole-weighted L1, this weight);
    #: "" trains from the photos alone. A narrower student of the committed generator costs less a frame
    teacher: str = ""
    teach_weight: float = 0.0
    log_every: int = 50
    seed: int = 1
    threads: int = 1


def lip_planes(lips: np.ndarray, size: int) -> np.ndarray:
    """(N,size,size) float32 inner-lip polygon masks for (N,K,2) crop-px points."""
    return np.stack([polygon_mask(p, size) for p in lips]) if len(lips) else np.zeros((0, size, size), np.float32)


def grow(mask: torch.Tensor, px: int) -> torch.Tensor:
    """A (B,1,H,W) 0/1 mask dilated by `px` pixels (square)."""
    return mask if px <= 0 else F.max_pool2d(mask, 2 * px + 1, 1, px)


class MouthData:
    """Training or held-out crops in memory as tensors ([-1,1] images, 0/1 lip polygons)."""

    def __init__(self, mouths: MouthSet, held: bool, min_opening: float):
        keep = (mouths.held == held) & (mouths.openings >= min_opening)
        sub = mouths.select(keep)
        self.names = sub.names
        self.images = torch.from_numpy(sub.crops).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        self.lips = torch.from_numpy(lip_planes(sub.lips, sub.crops.shape[1]))[:, None]

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def batch(self, idx: torch.Tensor, flips: torch.Tensor, grows: torch.Tensor,
              bands: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(image, hole, guide) for the indices, x-flipped where flagged, holes grown per sample.

        `bands` (B,2) in [0,1] (height share, position), NaN for a whole hole: the hole keeps only
        that horizontal band of the opening, as when the photo's own teeth show above and below."""
        x, g = self.images[idx], self.lips[idx]
        f = flips.view(-1, 1, 1, 1)
        x, g = torch.where(f, x.flip(3), x), torch.where(f, g.flip(3), g)
        hole = torch.stack([grow(g[i:i + 1], int(grows[i]))[0] for i in range(len(idx))])
        if bands is not None:
            rows = torch.arange(hole.shape[-2], dtype=torch.float32)
            for i in range(len(idx)):
                if torch.isnan(bands[i, 0]):
                    continue
                ys = torch.nonzero(hole[i, 0].any(1)).flatten().float()
                if len(ys) < 4:
                    continue
                top, height = float(ys[0]), float(ys[-1] - ys[0] + 1)
                h = max(2.0, float(bands[i, 0]) * height)
                y0 = top + float(bands[i, 1]) * (height - h)
                hole[i, 0] *= ((rows >= y0) & (rows < y0 + h)).float()[:, None]
        return x, hole, g


def losses_g(x: torch.Tensor, hole: torch.Tensor, out: torch.Tensor, cfg: MouthTrainConfig) -> dict[str, torch.Tensor]:
    """Reconstruction terms: hole-weighted L1 and L1 of x/y gradients of the composite."""
    w = 1.0 + (cfg.hole_weight - 1.0) * hole
    l1 = (w * (out - x).abs()).mean()
    comp = composite(x, hole, out)
    zone = grow(hole, 1)
    gx = ((comp[..., :, 1:] - comp[..., :, :-1]) - (x[..., :, 1:] - x[..., :, :-1])).abs() * zone[..., :, 1:]
    gy = ((comp[..., 1:, :] - comp[..., :-1, :]) - (x[..., 1:, :] - x[..., :-1, :])).abs() * zone[..., 1:, :]
    return {"l1": l1, "grad": (gx.mean() + gy.mean()) * cfg.grad_weight}


def psnr_hole(x: torch.Tensor, y: torch.Tensor) -> float:
    """PSNR (dB, peak 1) of y against x over whole crops, images in [-1,1]."""
    mse = float(((x - y) / 2).pow(2).mean())
    return 10 * math.log10(1.0 / max(mse, 1e-12))


class MouthTrainer:
    """Networks, optimisers, EMA, random state; step() trains one batch; save()/load() are exact."""

    def __init__(self, cfg: MouthTrainConfig):
        self.cfg = cfg
        torch.manual_seed(cfg.seed)
        self.G = Inpainter(width=cfg.width)
        self.D = PatchDiscriminator(3 + 1 + 1, 32)
        self.G_ema = Inpainter(width=cfg.width)
        self.G_ema.load_state_dict(self.G.state_dict())
        self.G_ema.requires_grad_(False)
        self.opt_g = torch.optim.Adam(self.G.parameters(), cfg.lr, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), cfg.lr, betas=(0.5, 0.999))
        self.rng = torch.Generator().manual_seed(cfg.seed)
        self.teacher = _teacher(cfg.teacher) if cfg.teacher else None
        self.step_no = 0
        self.log: list[dict] = []

    def draw(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        b = self.cfg.batch
        idx = torch.randint(0, n, (b,), generator=self.rng)
        flips = torch.rand(b, generator=self.rng) < 0.5
        grows = torch.randint(1, self.cfg.max_grow + 1, (b,), generator=self.rng)
        if self.cfg.partial_share <= 0:
            return idx, flips, grows, None
        partial = torch.rand(b, generator=self.rng) < self.cfg.partial_share
        bands = torch.stack([0.3 + 0.4 * torch.rand(b, generator=self.rng), torch.rand(b, generator=self.rng)], 1)
        bands[~partial] = float("nan")
        return idx, flips, grows, bands

    def step(self, data: MouthData) -> dict[str, float]:
        cfg = self.cfg
        x, hole, guide = data.batch(*self.draw(len(data)))
        out = self.G(x, hole, guide)
        terms = losses_g(x, hole, out, cfg)
        if self.teacher is not None:
            with torch.no_grad():
                taught = self.teacher(x, hole, guide)
            terms["teach"] = cfg.teach_weight * ((1.0 + (cfg.hole_weight - 1.0) * hole) * (out - taught).abs()).mean()
        adv = self.step_no >= cfg.adv_start
        if adv:
            fake = torch.cat([composite(x, hole, out), hole, guide], 1)
            terms["adv"] = -self.D(fake).mean() * cfg.adv_weight
        loss = sum(terms.values())
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        if adv:
            real = torch.cat([x, hole, guide], 1)
            fake = torch.cat([composite(x, hole, out.detach()), hole, guide], 1)
            d_loss = F.relu(1.0 - self.D(real)).mean() + F.relu(1.0 + self.D(fake)).mean()
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self.opt_d.step()
            terms["d"] = d_loss.detach()
        with torch.no_grad():
            for pe, p in zip(self.G_ema.parameters(), self.G.parameters()):
                pe.lerp_(p, 1.0 - cfg.ema)
        self.step_no += 1
        return {k: float(v.detach()) for k, v in terms.items()}

    @torch.no_grad()
    def evaluate(self, data: MouthData, n: int = 128) -> dict[str, float]:
        """Mean hole L1 and whole-crop PSNR of the EMA generator on the first n held-out crops (fixed holes, 2 px)."""
        x, g = data.images[:n], data.lips[:n]
        hole = grow(g, 2)
        out = composite(x, hole, self.G_ema(x, hole, g))
        return {"held_psnr": psnr_hole(x, out),
                "held_l1_hole": float(((out - x).abs() * hole).sum() / (hole.sum() * 3))}

    def state(self) -> dict:
        return {"format": CKPT_FORMAT, "config": asdict(self.cfg), "step": self.step_no,
                "G": self.G.state_dict(), "D": self.D.state_dict(), "G_ema": self.G_ema.state_dict(),
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "rng": self.rng.get_state(), "log": json.dumps(self.log)}

    def save(self, path: Path) -> None:
        with atomic_output(path) as tmp:
            torch.save(self.state(), tmp)

    def load(self, path: Path) -> None:
        st = torch.load(path, map_location="cpu", weights_only=True)
        if st.get("format") != CKPT_FORMAT:
            raise ValueError(f"{path} is not a mouth training checkpoint")
        self.G.load_state_dict(st["G"])
        self.D.load_state_dict(st["D"])
        self.G_ema.load_state_dict(st["G_ema"])
        self.opt_g.load_state_dict(st["opt_g"])
        self.opt_d.load_state_dict(st["opt_d"])
        self.rng.set_state(st["rng"])
        self.step_no = int(st["step"])
        self.log = json.loads(st["log"])

    def save_pack(self, path: str | Path) -> None:
        """The resume pack a new machine continues from (fp16 networks; Adam and the RNG start afresh)."""
        from basics.tagged_safetensors import save_tagged

        tensors = {f"{net}.{k}": v.half() for net in PACK_NETS for k, v in getattr(self, net).state_dict().items()}
        save_tagged(path, tensors, PACK_FORMAT, {"config": asdict(self.cfg), "step": self.step_no, "log": self.log})

    def load_pack(self, path: str | Path) -> None:
        """Networks, step and log from a resume pack (cast back to fp32); the optimisers stay fresh."""
        from basics.tagged_safetensors import json_field, load_tagged_tensors, read_tagged_metadata

        what = f"a mouth-inpainter resume pack ({PACK_FORMAT})"
        meta = read_tagged_metadata(path, PACK_FORMAT, what)
        tensors = load_tagged_tensors(path, what)
        for net in PACK_NETS:
            prefix = f"{net}."
            getattr(self, net).load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        self.step_no = int(json_field(meta, "step", path, what))
        self.log = list(json_field(meta, "log", path, what))


def _teacher(path: str | Path) -> Inpainter:
    """The trained inpainter a student learns from (fp32, eval, frozen)."""
    from gan.inpainter import load_inpainter

    net, _ = load_inpainter(path)
    return net.requires_grad_(False)


def pack_config(path: str | Path) -> dict:
    """The training config stored in a resume pack."""
    from basics.tagged_safetensors import json_field, read_tagged_metadata

    what = f"a mouth-inpainter resume pack ({PACK_FORMAT})"
    return dict(json_field(read_tagged_metadata(path, PACK_FORMAT, what), "config", path, what))


def train_mouth(cfg: MouthTrainConfig, steps: int | None = None, init_from: str | Path | None = None,
                ) -> MouthTrainer:
    """Train (resuming from run_dir's checkpoint when there is one, with its stored config) for cfg.steps
    total steps, or `steps` more in this call; checkpoints every cfg.checkpoint_minutes and at the end.

    Without a checkpoint, `init_from` (a resume pack, MouthTrainer.save_pack) continues another
    machine's run: its networks, step and config (data and run_dir stay this call's)."""
    run = Path(cfg.run_dir)
    ckpt = run / CHECKPOINT
    pack = None if ckpt.exists() or init_from is None else Path(init_from)
    if ckpt.exists():
        stored = torch.load(ckpt, map_location="cpu", weights_only=True)["config"]
        # paths are this checkout's (the teacher's too, when this call names one)
        cfg = MouthTrainConfig(**{**stored, "data": cfg.data, "run_dir": cfg.run_dir,
                                  **({"teacher": cfg.teacher} if cfg.teacher else {})})
    elif pack is not None:
        cfg = MouthTrainConfig(**{**pack_config(pack), "data": cfg.data, "run_dir": cfg.run_dir})
    torch.set_num_threads(cfg.threads)
    mouths = MouthSet.load(cfg.data)
    train, held = MouthData(mouths, False, cfg.min_opening), MouthData(mouths, True, cfg.min_opening)
    trainer = MouthTrainer(cfg)
    if ckpt.exists():
        trainer.load(ckpt)
    elif pack is not None:
        trainer.load_pack(pack)
    end = cfg.steps if steps is None else min(cfg.steps, trainer.step_no + steps)
    last = time.monotonic()
    acc: dict[str, float] = {}
    counted, t0 = 0, time.monotonic()
    while trainer.step_no < end:
        for k, v in trainer.step(train).items():
            acc[k] = acc.get(k, 0.0) + v
        counted += 1
        if trainer.step_no % cfg.log_every == 0:
            row = {"step": trainer.step_no, **{k: v / counted for k, v in acc.items()},
                   "s_per_step": (time.monotonic() - t0) / counted}
            acc, counted, t0 = {}, 0, time.monotonic()
            if trainer.step_no % (cfg.log_every * 10) == 0:
                row.update(trainer.evaluate(held))
            trainer.log.append(row)
            print(json.dumps(row), flush=True)
        if time.monotonic() - last > cfg.checkpoint_minutes * 60:
            trainer.save(ckpt)
            last = time.monotonic()
    trainer.save(ckpt)
    return trainer


def export_inpainter(run_dir: str | Path, path: str | Path, which: str = "G_ema") -> dict:
    """Write the run's EMA generator (or `which` = "G", the raw one) in fp16 as the mouth stage's weights;
    returns the metadata written."""
    from gan.inpainter import save_inpainter

    st = torch.load(Path(run_dir) / CHECKPOINT, map_location="cpu", weights_only=True)
    cfg = st["config"]
    net = Inpainter(width=cfg["width"])
    net.load_state_dict(st[which])
    log = json.loads(st["log"])
    held = [r for r in log if "held_psnr" in r]
    meta = {"trained_on": "UTKFace open mouths (non-commercial research only)", "steps": st["step"],
            "batch": cfg["batch"], "crop": 64, "weights": which, "guide": "inner-lip polygon",
            **({"distilled_from": Path(cfg["teacher"]).name} if cfg.get("teacher") else {}),
            "held_psnr_last": held[-1]["held_psnr"] if held else None}
    save_inpainter(path, net, meta)
    return meta
