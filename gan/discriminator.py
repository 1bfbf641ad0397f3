"""StyleGAN2 residual discriminator (official layout): fromRGB, conv-conv-down + skip blocks, epilogue."""
from __future__ import annotations

import math

import torch
from torch import nn

from .checks import require_power_of_two
from .layers import DEFAULT_FIR, Conv2dLayer, FullyConnectedLayer, make_fir_filter
from .mapping import MappingNetwork


class DiscriminatorBlock(nn.Module):
    """Residual block at one resolution: (fromrgb at the top) conv0, conv1 (2x down), 1x1 skip (2x down)."""

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, img_channels: int,
                 conv_clamp: float | None = None):
        super().__init__()
        self.in_channels = in_channels
        self.register_buffer("resample_filter", make_fir_filter(DEFAULT_FIR))
        if in_channels == 0:
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, 1, activation="lrelu", conv_clamp=conv_clamp)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, 3, activation="lrelu", down=2, conv_clamp=conv_clamp)
        self.skip = Conv2dLayer(tmp_channels, out_channels, 1, bias=False, down=2)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor) -> torch.Tensor:
        if self.in_channels == 0:
            x = self.fromrgb(img)
        y = self.skip(x, gain=math.sqrt(0.5))
        x = self.conv1(self.conv0(x), gain=math.sqrt(0.5))
        return y + x


def minibatch_stddev(x: torch.Tensor, group_size: int | None, num_channels: int = 1) -> torch.Tensor:
    """Append the mean over features of the per-group stddev as `num_channels` extra channels.

    Group size is min(group_size, N); where N is not a multiple of it, the gcd is used instead.
    """
    n, c, h, w = x.shape
    g = n if group_size is None else math.gcd(min(group_size, n), n)
    fc = num_channels
    y = x.reshape(g, -1, fc, c // fc, h, w)
    y = (y - y.mean(dim=0)).square().mean(dim=0)
    y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4]).reshape(-1, fc, 1, 1)
    y = y.repeat(g, 1, h, w)
    return torch.cat([x, y], dim=1)


class DiscriminatorEpilogue(nn.Module):
    """4x4 head: minibatch-stddev, 3x3 conv, fc, out (1 logit, or cmap_dim for conditional)."""

    def __init__(self, in_channels: int, cmap_dim: int, resolution: int = 4, mbstd_group_size: int | None = 4,
                 mbstd_num_channels: int = 1, conv_clamp: float | None = None):
        super().__init__()
        self.cmap_dim, self.mbstd_group_size, self.mbstd_num_channels = cmap_dim, mbstd_group_size, mbstd_num_channels
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, 3, activation="lrelu",
                                conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution ** 2, in_channels, activation="lrelu")
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def forward(self, x: torch.Tensor, cmap: torch.Tensor | None = None) -> torch.Tensor:
        if self.mbstd_num_channels > 0:
            x = minibatch_stddev(x, self.mbstd_group_size, self.mbstd_num_channels)
        x = self.out(self.fc(self.conv(x).flatten(1)))
        if self.cmap_dim > 0:
            x = (x * cmap).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)
        return x


class Discriminator(nn.Module):
    """Residual StyleGAN2 discriminator: image (B, C, R, R) in [-1, 1] -> logits (B, 1)."""

    def __init__(self, img_resolution: int = 128, img_channels: int = 3, channel_base: int = 16384,
                 channel_max: int = 512, mbstd_group_size: int = 4, c_dim: int = 0,
                 conv_clamp: float | None = 256, mapping_layers: int = 8):
        super().__init__()
        require_power_of_two(img_resolution, 8, "img_resolution")
        self.config = dict(img_resolution=img_resolution, img_channels=img_channels, channel_base=channel_base,
                           channel_max=channel_max, mbstd_group_size=mbstd_group_size, c_dim=c_dim,
                           conv_clamp=conv_clamp, mapping_layers=mapping_layers)
        self.img_resolution, self.img_channels, self.c_dim = img_resolution, img_channels, c_dim
        log2 = int(math.log2(img_resolution))
        self.block_resolutions = [2 ** i for i in range(log2, 2, -1)]
        channels = {r: min(channel_base // r, channel_max) for r in self.block_resolutions + [4]}
        cmap_dim = channels[4] if c_dim > 0 else 0
        for r in self.block_resolutions:
            in_ch = channels[r] if r < img_resolution else 0
            setattr(self, f"b{r}", DiscriminatorBlock(in_ch, channels[r], channels[r // 2], img_channels,
                                                      conv_clamp=conv_clamp))
        if c_dim > 0:
            self.mapping = MappingNetwork(z_dim=0, c_dim=c_dim, w_dim=cmap_dim, num_ws=None,
                                          num_layers=mapping_layers, w_avg_beta=None)
        self.b4 = DiscriminatorEpilogue(channels[4], cmap_dim, mbstd_group_size=mbstd_group_size,
                                        conv_clamp=conv_clamp)

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None, update_emas: bool = False,
                **_ignored) -> torch.Tensor:
        x = None
        img = img.to(torch.float32)
        for r in self.block_resolutions:
            x = getattr(self, f"b{r}")(x, img)
        cmap = self.mapping(None, c) if self.c_dim > 0 else None
        return self.b4(x, cmap)
