"""StyleGAN2 synthesis network: constant 4x4 input, modulated conv blocks, skip toRGB outputs."""
from __future__ import annotations

import math

import torch
from torch import nn

from . import fast
from .layers import DEFAULT_FIR, SynthesisLayer, ToRGBLayer, make_fir_filter, upsample2x


class SynthesisBlock(nn.Module):
    """One resolution: [const | conv0 (2x up)] -> conv1 -> torgb, image skip upsampled and summed."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 conv_clamp: float | None = None):
        super().__init__()
        self.in_channels, self.resolution = in_channels, resolution
        self.register_buffer("resample_filter", make_fir_filter(DEFAULT_FIR))
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2, conv_clamp=conv_clamp)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2
        self.num_torgb = 1

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor,
                noise_mode: str = "random") -> tuple[torch.Tensor, torch.Tensor]:
        if self.in_channels == 0:
            x = self.const.to(ws.dtype).unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
            x = self.conv1(x, ws[:, 0], noise_mode=noise_mode)
        else:
            x = self.conv0(x, ws[:, 0], noise_mode=noise_mode)
            x = self.conv1(x, ws[:, 1], noise_mode=noise_mode)
        y = self.torgb(x, ws[:, self.num_conv])
        img = y if img is None else upsample2x(img, self.resample_filter) + y
        return x, img


class SynthesisNetwork(nn.Module):
    """Blocks b4 .. b{img_resolution}; consecutive blocks share one w (torgb of block k, conv0 of k+1)."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 16384,
                 channel_max: int = 512, conv_clamp: float | None = 256):
        super().__init__()
        log2 = int(math.log2(img_resolution))
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.block_resolutions = [2 ** i for i in range(2, log2 + 1)]
        channels = {r: min(channel_base // r, channel_max) for r in self.block_resolutions}
        self.num_ws = 0
        for r in self.block_resolutions:
            in_ch = channels[r // 2] if r > 4 else 0
            block = SynthesisBlock(in_ch, channels[r], w_dim, r, img_channels, conv_clamp=conv_clamp)
            self.num_ws += block.num_conv
            setattr(self, f"b{r}", block)
        self.num_ws += 1  # the last block's torgb

    def forward(self, ws: torch.Tensor, noise_mode: str = "random", update_emas: bool = False,
                impl: str = "auto", compute_dtype: torch.dtype = torch.float32, **_ignored) -> torch.Tensor:
        """ws (B, num_ws, w_dim) -> image (B, img_channels, R, R), roughly in [-1, 1].

        impl 'auto' takes the inference path (gan/fast.py) when autograd is off and the
        reference layers otherwise; 'reference' / 'fast' force one. compute_dtype (fast path
        only) may be torch.bfloat16: faster convolutions, slightly different images.
        """
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must be (B, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}")
        if impl not in ("auto", "reference", "fast"):
            raise ValueError(f"impl must be 'auto', 'reference' or 'fast', not {impl!r}")
        if impl == "fast" or (impl == "auto" and not torch.is_grad_enabled()):
            return fast.synthesize(self, ws, noise_mode=noise_mode, compute_dtype=compute_dtype)
        ws = ws.to(torch.float32)
        x = img = None
        idx = 0
        for r in self.block_resolutions:
            block = getattr(self, f"b{r}")
            x, img = block(x, img, ws[:, idx: idx + block.num_conv + block.num_torgb], noise_mode=noise_mode)
            idx += block.num_conv
        return img


def has_bf16_path(G) -> bool:
    """True for a generator whose synthesis is facerig's StyleGAN2 (it takes compute_dtype=torch.bfloat16 on
    the inference path, gan/fast.py); a DCGAN or another wrapper has no such path."""
    return isinstance(getattr(G, "synthesis", None), SynthesisNetwork)
