"""StyleGAN2 losses: non-saturating logistic G/D loss, R1 penalty, style-mixed generation.

Pure functions over a generator/discriminator pair, so the training loop stays about
scheduling (lazy regularisation, EMA, DDP) and these stay testable on their own.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


def generate(G: torch.nn.Module, z: torch.Tensor, mix_prob: float, mix_u: torch.Tensor,
             mix_z: torch.Tensor, mix_cut_u: torch.Tensor, update_emas: bool = False) -> torch.Tensor:
    """G(z) with style mixing: for rows where mix_u < mix_prob, layers from a random cut on
    take their w from mix_z. The random draws come in as tensors so callers control the RNG."""
    ws = G.mapping(z, None, update_emas=update_emas)
    if mix_prob > 0:
        num_ws = ws.shape[1]
        cut = (mix_cut_u * num_ws).long().clamp_(1, num_ws - 1) if num_ws > 1 else torch.ones_like(
            mix_u, dtype=torch.long)
        cut = torch.where(mix_u < mix_prob, cut, torch.full_like(cut, num_ws))
        ws2 = G.mapping(mix_z, None, update_emas=False)
        layer = torch.arange(num_ws, device=ws.device).view(1, -1, 1)
        ws = torch.where(layer < cut.to(ws.device).view(-1, 1, 1), ws, ws2)
    return G.synthesis(ws, noise_mode="random")


def g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: mean softplus(-D(G(z)))."""
    return F.softplus(-fake_logits.float()).mean()


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Logistic discriminator loss: mean softplus(D(G(z))) + mean softplus(-D(x))."""
    return F.softplus(fake_logits.float()).mean() + F.softplus(-real_logits.float()).mean()


def r1_penalty(D_fn: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image squared gradient norm of D's logits w.r.t. the (augmented) real images.

    Returns (penalty per image, logits) so the caller can add the real-logit loss for free.
    `D_fn` takes the detached real images with requires_grad set and must include any
    augmentation applied to reals, as StyleGAN2-ADA does.
    """
    real = real.detach().requires_grad_(True)
    logits = D_fn(real)
    (grad,) = torch.autograd.grad(outputs=logits.float().sum(), inputs=real, create_graph=True)
    return grad.float().square().sum(dim=(1, 2, 3)), logits
