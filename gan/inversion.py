"""GAN inversion: find the W+ latent (and per-layer noise) that makes G reproduce a target image.

Works offline: no LPIPS/VGG weights are needed. The loss is pixel MSE + a Laplacian-pyramid L1
(Bojanowski et al. 2018, sharp edges at every scale) + 1 - MS-SSIM (local structure/contrast),
optionally + L1 between discriminator features when a D is given; noise maps are kept
uncorrelated by the multi-scale autocorrelation penalty of StyleGAN2's projector (Karras 2020).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from tqdm import tqdm

from .errors import GanError
from .metrics import ms_ssim, psnr


@dataclass
class InversionResult:
    """ws (1, num_ws, w_dim), noise {buffer name: (H, W)}, image (1, C, R, R) in [-1, 1], history."""

    ws: torch.Tensor
    noise: dict[str, torch.Tensor]
    image: torch.Tensor
    history: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class InversionLoss:
    """Weights of the reconstruction loss terms (all work without pretrained networks)."""

    mse: float = 1.0
    laplacian: float = 1.0
    ms_ssim: float = 0.5
    discriminator: float = 0.0  # used only when a D is passed to invert()
    noise_reg: float = 1e4


_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def _gauss_down(x: torch.Tensor) -> torch.Tensor:
    """5-tap binomial blur then 2x decimation (one Gaussian-pyramid step)."""
    c = x.shape[1]
    k = (_BINOMIAL[:, None] * _BINOMIAL[None, :]).to(x)
    x = F.pad(x, (2, 2, 2, 2), mode="reflect")
    return F.conv2d(x, k.expand(c, 1, 5, 5), groups=c)[..., ::2, ::2]


def laplacian_pyramid(x: torch.Tensor, levels: int = 4) -> list[torch.Tensor]:
    """Band-pass levels (finest first) plus the low-pass residual; stops at 8 px."""
    bands = []
    for _ in range(levels):
        if min(x.shape[-2:]) < 8:
            break
        down = _gauss_down(x)
        up = F.interpolate(down, size=x.shape[-2:], mode="bilinear", align_corners=False)
        bands.append(x - up)
        x = down
    bands.append(x)
    return bands


def laplacian_l1(a: torch.Tensor, b: torch.Tensor, levels: int = 4) -> torch.Tensor:
    """Sum over pyramid levels of the mean absolute difference (each scale weighted equally)."""
    return sum((pa - pb).abs().mean() for pa, pb in zip(laplacian_pyramid(a, levels), laplacian_pyramid(b, levels)))


def noise_regularisation(noises: list[torch.Tensor]) -> torch.Tensor:
    """Squared 1-px autocorrelation of every noise map over its pyramid down to 8 px."""
    total = torch.zeros(())
    for n in noises:
        x = n[None, None]
        while True:
            total = total + (x * torch.roll(x, 1, dims=3)).mean() ** 2 + (x * torch.roll(x, 1, dims=2)).mean() ** 2
            if x.shape[-1] <= 8:
                break
            x = F.avg_pool2d(x, 2)
    return total


def _lr_at(t: float, base: float, rampup: float = 0.05, rampdown: float = 0.25) -> float:
    """Linear warm-up for the first `rampup` of the run, cosine decay over the last `rampdown`."""
    down = min(1.0, (1.0 - t) / rampdown)
    return base * min(1.0, t / rampup if rampup > 0 else 1.0) * (0.5 - 0.5 * math.cos(math.pi * down))


@torch.no_grad()
def w_statistics(G: nn.Module, samples: int = 2000, seed: int = 0) -> tuple[torch.Tensor, float]:
    """(w_avg (w_dim,), w_std scalar): G.mapping.w_avg when tracked, else the sample mean."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(samples, G.z_dim, generator=gen)
    c = torch.zeros(samples, G.c_dim) if getattr(G, "c_dim", 0) else None
    w = G.mapping(z, c)[:, 0].float()
    tracked = getattr(G.mapping, "w_avg", None)
    w_avg = tracked.detach().float().clone() if tracked is not None and tracked.abs().sum() > 0 else w.mean(0)
    w_std = float(((w - w_avg) ** 2).sum(1).mean().sqrt())
    return w_avg, w_std


def _discriminator_features(D: nn.Module, img: torch.Tensor) -> list[torch.Tensor]:
    """Outputs of D's resolution blocks (b128 ... b8, not the logits) collected with forward hooks."""
    feats: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: feats.append(out[0] if isinstance(out, tuple) else out))
             for name, m in D.named_children() if name.startswith("b") and name[1:].isdigit() and int(name[1:]) > 4]
    try:
        D(img, None)
    finally:
        for h in hooks:
            h.remove()
    return feats


def _prepare_target(target: torch.Tensor, resolution: int) -> torch.Tensor:
    if not isinstance(target, torch.Tensor) or target.ndim != 4 or target.shape[0] != 1 or target.shape[1] != 3:
        shape = tuple(target.shape) if isinstance(target, torch.Tensor) else type(target).__name__
        raise GanError(f"target must be a (1, 3, H, W) tensor in [-1, 1], got {shape}")
    target = target.detach().float()
    if target.shape[-2:] != (resolution, resolution):
        shrink = target.shape[-1] > resolution
        target = F.interpolate(target, size=(resolution, resolution), mode="bilinear",
                               align_corners=False, antialias=shrink)
    return target


def invert(G: nn.Module, target: torch.Tensor, steps: int = 500, w_plus: bool = True,
           optimise_noise: bool = True, lr: float = 0.1, seed: int = 0,
           loss: InversionLoss = InversionLoss(), D: nn.Module | None = None,
           init_ws: torch.Tensor | None = None, w_avg_samples: int = 2000,
           initial_w_noise: float = 0.05, progress: bool = True) -> InversionResult:
    """Optimise W+ (or one w) and G's noise maps with Adam so that G(ws) matches `target`.

    target: (1, 3, H, W) in [-1, 1] (resized to G's resolution). Starts from w_avg (or init_ws);
    the lr warms up then decays (cosine); a decaying random w jitter helps early exploration.
    Deterministic for a given seed on CPU. G is not modified.
    """
    if steps < 1:
        raise GanError(f"steps must be >= 1, got {steps}")
    was_training = G.training
    G.eval()
    res = G.img_resolution
    target = _prepare_target(target, res)
    gen = torch.Generator().manual_seed(seed)
    w_avg, w_std = w_statistics(G, w_avg_samples, seed)
    num_ws = G.num_ws
    if init_ws is not None:
        if tuple(init_ws.shape) != (1, num_ws, G.w_dim):
            raise GanError(f"init_ws must be (1, {num_ws}, {G.w_dim}), got {tuple(init_ws.shape)}")
        start = init_ws.detach().float().clone()
    else:
        start = w_avg[None, None].repeat(1, num_ws, 1)
    w_opt = (start if w_plus else start[:, :1].mean(1, keepdim=True)).clone().requires_grad_(True)

    noise_names = [n for n, _ in G.synthesis.named_buffers() if n.endswith("noise_const")]
    buffers = dict(G.synthesis.named_buffers())
    noise = {n: buffers[n].detach().float().clone().requires_grad_(optimise_noise) for n in noise_names}
    params = [w_opt] + (list(noise.values()) if optimise_noise else [])
    opt = torch.optim.Adam(params, betas=(0.9, 0.999), lr=lr)

    d_target = None
    d_was_training = D.training if D is not None else False
    if D is not None and loss.discriminator > 0:
        D.eval()
        with torch.no_grad():
            d_target = [f.detach() for f in _discriminator_features(D, target)]

    flags = [p.requires_grad for p in G.parameters()]
    for p in G.parameters():
        p.requires_grad_(False)
    if D is not None:
        d_flags = [p.requires_grad for p in D.parameters()]
        for p in D.parameters():
            p.requires_grad_(False)

    def synth(ws: torch.Tensor) -> torch.Tensor:
        return functional_call(G.synthesis, noise, (ws,), {"noise_mode": "const"})

    history: list[dict] = []
    try:
        for step in tqdm(range(steps), desc="invert", unit="step", disable=not progress, leave=False):
            t = step / steps
            cur_lr = _lr_at(t, lr)
            for g in opt.param_groups:
                g["lr"] = cur_lr
            jitter = w_std * initial_w_noise * max(0.0, 1.0 - t / 0.75) ** 2
            w_in = w_opt + torch.randn(w_opt.shape, generator=gen) * jitter
            ws = w_in if w_plus else w_in.repeat(1, num_ws, 1)
            img = synth(ws)
            mse = F.mse_loss(img, target)
            terms = {"mse": mse}
            total = loss.mse * mse
            if loss.laplacian:
                terms["laplacian"] = laplacian_l1(img, target)
                total = total + loss.laplacian * terms["laplacian"]
            if loss.ms_ssim:
                terms["ms_ssim"] = 1.0 - ms_ssim(img, target).mean()
                total = total + loss.ms_ssim * terms["ms_ssim"]
            if d_target is not None:
                feats = _discriminator_features(D, img)
                terms["discriminator"] = sum((a - b).abs().mean() for a, b in zip(feats, d_target))
                total = total + loss.discriminator * terms["discriminator"]
            if optimise_noise and loss.noise_reg:
                terms["noise_reg"] = noise_regularisation(list(noise.values()))
                total = total + loss.noise_reg * terms["noise_reg"]
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            if optimise_noise:
                with torch.no_grad():  # keep the noise maps zero-mean, unit-variance
                    for n in noise.values():
                        n.sub_(n.mean()).div_(n.std().clamp_min(1e-8))
            record = {"step": step, "loss": float(total.detach()), "lr": cur_lr,
                      "psnr": float(10 * torch.log10(4.0 / mse.detach().clamp_min(1e-12)))}
            record.update({k: float(v.detach()) for k, v in terms.items()})
            history.append(record)
    finally:
        for p, f in zip(G.parameters(), flags):
            p.requires_grad_(f)
        G.train(was_training)
        if D is not None:
            for p, f in zip(D.parameters(), d_flags):
                p.requires_grad_(f)
            D.train(d_was_training)

    with torch.no_grad():
        ws_final = (w_opt if w_plus else w_opt.repeat(1, num_ws, 1)).detach().clone()
        final_noise = {n: v.detach().clone() for n, v in noise.items()}
        image = functional_call(G.synthesis, final_noise, (ws_final,), {"noise_mode": "const"})
    return InversionResult(ws_final, final_noise, image.detach(), history)


def synthesize(G: nn.Module, ws: torch.Tensor, noise: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """G.synthesis(ws) with the given noise maps in place of G's constant noise (G is not modified)."""
    with torch.no_grad():
        return functional_call(G.synthesis, dict(noise or {}), (ws,), {"noise_mode": "const"})


def reconstruction_psnr(result: InversionResult, target: torch.Tensor) -> float:
    """PSNR (dB) of the inversion against its target (resized to the generator's resolution)."""
    tgt = _prepare_target(target, result.image.shape[-1])
    return float(psnr(result.image, tgt)[0])
