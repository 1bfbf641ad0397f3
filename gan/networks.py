"""The StyleGAN2 Generator (mapping + synthesis) and the Discriminator, in the official layout.

State-dict names and shapes match NVIDIA's StyleGAN2-ADA G_ema / D (see docs/gan_layout.md).
"""
from __future__ import annotations

import torch
from torch import nn

from .checks import require_power_of_two
from .discriminator import Discriminator
from .mapping import MappingNetwork
from .synthesis import SynthesisNetwork

__all__ = ["Generator", "Discriminator", "MappingNetwork", "SynthesisNetwork"]


class Generator(nn.Module):
    """z (B, z_dim) [+ c] -> image (B, img_channels, R, R) in about [-1, 1]; R a power of 2 >= 4."""

    def __init__(self, z_dim: int = 512, w_dim: int = 512, img_resolution: int = 128, img_channels: int = 3,
                 mapping_layers: int = 8, channel_base: int = 16384, channel_max: int = 512, c_dim: int = 0,
                 conv_clamp: float | None = 256):
        super().__init__()
        require_power_of_two(img_resolution, 4, "img_resolution")
        self.config = dict(z_dim=z_dim, w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
                           mapping_layers=mapping_layers, channel_base=channel_base, channel_max=channel_max,
                           c_dim=c_dim, conv_clamp=conv_clamp)
        self.z_dim, self.w_dim, self.c_dim = z_dim, w_dim, c_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = SynthesisNetwork(w_dim, img_resolution, img_channels, channel_base=channel_base,
                                          channel_max=channel_max, conv_clamp=conv_clamp)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, self.num_ws, num_layers=mapping_layers)

    @property
    def resolution(self) -> int:
        """Output image size in pixels (same as img_resolution)."""
        return self.img_resolution

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, noise_mode: str = "random",
                update_emas: bool = False) -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          update_emas=update_emas)
        return self.synthesis(ws, noise_mode=noise_mode)
