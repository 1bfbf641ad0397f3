"""Adam written out, step for step as torch.optim.Adam computes it for CPU tensors (its single-tensor path).

Why not torch.optim.Adam: its first use imports torch._dynamo (1-2 s of a cold `facerig edit`), and the
photometric fit is the only optimiser a command-line edit runs. The updates are the same operations in
the same order, so fitted parameters are bit-identical (tests/morphable/test_fit_adam.py checks this).
"""
from __future__ import annotations

from typing import Sequence

import torch


class Adam:
    """Adam over groups of (tensors, learning rate); no weight decay, no amsgrad (what the fit uses)."""

    def __init__(self, groups: Sequence[tuple[Sequence[torch.Tensor], float]],
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.groups = [(list(params), float(lr)) for params, lr in groups]
        self.betas = betas
        self.eps = eps
        self._state: dict[int, tuple[list[int], torch.Tensor, torch.Tensor]] = {}

    def zero_grad(self) -> None:
        """Forget the gradients (set to None, as torch's zero_grad does by default)."""
        for params, _ in self.groups:
            for p in params:
                p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update of every tensor that has a gradient."""
        beta1, beta2 = self.betas
        for params, lr in self.groups:
            for p in params:
                if p.grad is None:
                    continue
                if id(p) not in self._state:
                    self._state[id(p)] = ([0], torch.zeros_like(p), torch.zeros_like(p))
                count, exp_avg, exp_avg_sq = self._state[id(p)]
                count[0] += 1
                grad = p.grad
                exp_avg.lerp_(grad, 1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                step = float(count[0])
                step_size = lr / (1 - beta1 ** step)
                denom = (exp_avg_sq.sqrt() / (1 - beta2 ** step) ** 0.5).add_(self.eps)
                p.addcdiv_(exp_avg, denom, value=-step_size)

