"""RigNet (StyleRig, Tewari et al. 2020): maps a latent and target 3DMM parameters to an edited latent.

Per latent layer l an encoder compresses w_l to a small code; a decoder maps [code, p] to an
offset, so  ws_edit = ws + delta(ws, p).  One network serves every parameter block: it is
conditioned on the FULL target vector, so any subset of blocks (pose, expression, light,
identity) is edited by replacing only those blocks of F(ws) in the target and leaving the rest.
Inputs are whitened with stored statistics (params: the estimator's target mean/std; latents:
per-layer mean and scalar std), and the offset is scaled back by the latent std.
"""
from __future__ import annotations

import os

import torch
from torch import nn

from basics.tagged_safetensors import load_tagged_module, save_tagged

from .errors import RigError

FORMAT = "facerig-rignet/1"
WHAT = "a RigNet file"


class RigNet(nn.Module):
    """ws (B, num_ws, w_dim), target params p (B, param_dim) -> edited ws of the same shape."""

    def __init__(self, num_ws: int, w_dim: int, param_dim: int = 137, code: int = 32, hidden: int = 256):
        super().__init__()
        if min(num_ws, w_dim, param_dim, code, hidden) < 1:
            raise RigError("RigNet sizes must all be positive")
        self.num_ws, self.w_dim, self.param_dim = int(num_ws), int(w_dim), int(param_dim)
        self.code, self.hidden = int(code), int(hidden)
        self.encoders = nn.ModuleList(nn.Linear(w_dim, code) for _ in range(num_ws))
        self.decoders = nn.ModuleList(
            nn.Sequential(nn.Linear(code + param_dim, hidden), nn.LeakyReLU(0.2),
                          nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, w_dim))
            for _ in range(num_ws))
        for dec in self.decoders:  # start as the identity map: delta = 0
            nn.init.zeros_(dec[-1].weight)
            nn.init.zeros_(dec[-1].bias)
        self.register_buffer("param_mean", torch.zeros(param_dim))
        self.register_buffer("param_std", torch.ones(param_dim))
        self.register_buffer("w_mean", torch.zeros(num_ws, w_dim))
        self.register_buffer("w_std", torch.ones(num_ws))

    @property
    def config(self) -> dict:
        return {"num_ws": self.num_ws, "w_dim": self.w_dim, "param_dim": self.param_dim,
                "code": self.code, "hidden": self.hidden}

    def set_statistics(self, param_mean: torch.Tensor, param_std: torch.Tensor, ws_samples: torch.Tensor) -> None:
        """Store whitening statistics: the estimator's param mean/std and latents sampled from G."""
        with torch.no_grad():
            self.param_mean.copy_(param_mean.reshape(-1))
            self.param_std.copy_(param_std.reshape(-1).clamp_min(1e-6))
            self.w_mean.copy_(ws_samples.mean(0))
            self.w_std.copy_((ws_samples - ws_samples.mean(0)).pow(2).mean((0, 2)).sqrt().clamp_min(1e-6))

    def delta(self, ws: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """The latent offset (B, num_ws, w_dim) for target params."""
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise RigError(f"latents must be (B, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}")
        if params.ndim != 2 or params.shape != (ws.shape[0], self.param_dim):
            raise RigError(f"target params must be ({ws.shape[0]}, {self.param_dim}), got {tuple(params.shape)}")
        p = (params - self.param_mean) / self.param_std
        x = (ws - self.w_mean) / self.w_std[:, None]
        out = []
        for l, (enc, dec) in enumerate(zip(self.encoders, self.decoders)):
            out.append(dec(torch.cat([enc(x[:, l]), p], 1)))
        return torch.stack(out, 1) * self.w_std[:, None]

    def forward(self, ws: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        return ws + self.delta(ws, params)


def save_rignet(net: RigNet, path: str | os.PathLike, info: dict | None = None) -> None:
    """Write weights + buffers as safetensors with the config (and `info`) as JSON metadata, atomically."""
    save_tagged(path, net.state_dict(), FORMAT, {"config": net.config, "info": info or {}}, RigError)


def load_rignet(path: str | os.PathLike, device: str | torch.device | None = None) -> RigNet:
    """Read a file written by save_rignet (eval mode, no grad); RigError when it is not one."""
    net, _ = load_tagged_module(path, FORMAT, WHAT, RigNet, RigError)
    return net.eval().requires_grad_(False).to(device or "cpu")
