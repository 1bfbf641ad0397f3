"""StyleGAN2 building blocks with the parameter names of NVIDIA's official StyleGAN2-ADA release.

Every layer stores raw N(0,1) weights and applies its equalised-learning-rate gain at run
time, so tensors from an official checkpoint can be copied in unchanged. The arithmetic
follows the StyleGAN2 paper (Karras et al. 2020) and the facts of the official layout
described in docs/gan_layout.md; the implementation is our own.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)
DEFAULT_FIR = (1.0, 3.0, 3.0, 1.0)


def make_fir_filter(taps: Sequence[float] = DEFAULT_FIR) -> torch.Tensor:
    """2D low-pass filter (outer product of `taps`) normalised to sum 1, as a (k, k) tensor."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f2 = torch.outer(f, f)
    return f2 / f2.sum()


def fir(x: torch.Tensor, f: torch.Tensor, up: int = 1, down: int = 1,
        pad: Sequence[int] = (0, 0, 0, 0), gain: float = 1.0) -> torch.Tensor:
    """Upsample by zero insertion, pad (x0, x1, y0, y1), convolve with `f` * gain, subsample.

    The per-channel (depthwise) 2D filter is what StyleGAN2 uses around every resolution change.
    """
    b, c, h, w = x.shape
    if up > 1:
        x = x.reshape(b, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(b, c, h * up, w * up)
    px0, px1, py0, py1 = pad
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]
    k = (f * gain).to(x.dtype).flip([0, 1])  # true convolution (the filter is symmetric anyway)
    k = k[None, None].expand(c, 1, *f.shape)
    return F.conv2d(x, k, stride=down, groups=c)


def upsample2x(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """2x upsampling with the FIR filter, keeping the signal's mean (gain 4 for zero insertion)."""
    fw = f.shape[-1]
    p0, p1 = (fw + 1) // 2, (fw - 2) // 2
    return fir(x, f, up=2, pad=(p0, p1, p0, p1), gain=4.0)


def downsample2x(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """2x downsampling with the FIR filter (used by the skip-architecture image path)."""
    fw = f.shape[-1]
    p0, p1 = (fw - 1) // 2, (fw - 2) // 2
    return fir(x, f, down=2, pad=(p0, p1, p0, p1))


def conv_resample(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor | None = None,
                  up: int = 1, down: int = 1, groups: int = 1) -> torch.Tensor:
    """'Same' conv (kernel k, padding k//2) with optional 2x up- or downsampling through `f`.

    up=2: strided transposed conv, then the FIR filter (gain 4); down=2: FIR then strided conv
    (1x1 kernels: FIR-downsample then conv). Matches the official resampling exactly.
    """
    k = w.shape[-1]
    p = k // 2
    if up == 1 and down == 1:
        return F.conv2d(x, w, padding=p, groups=groups)
    fw = f.shape[-1]
    if down > 1:
        p0 = p + (fw - down + 1) // 2
        p1 = p + (fw - down) // 2
        if k == 1:
            x = fir(x, f, down=down, pad=(p0, p1, p0, p1))
            return F.conv2d(x, w, groups=groups)
        x = fir(x, f, pad=(p0, p1, p0, p1))
        return F.conv2d(x, w, stride=down, groups=groups)
    # up > 1: transposed conv wants (in, out/groups, k, k)
    p0 = p + (fw + up - 1) // 2 - (k - 1)
    p1 = p + (fw - up) // 2 - (k - up)
    out_c, in_pg = w.shape[0], w.shape[1]
    wt = w.reshape(groups, out_c // groups, in_pg, k, k).transpose(1, 2)
    wt = wt.reshape(groups * in_pg, out_c // groups, k, k)
    x = F.conv_transpose2d(x, wt, stride=up, groups=groups)
    return fir(x, f, pad=(p0, p1, p0, p1), gain=float(up * up))


def _may_modify(x: torch.Tensor) -> bool:
    """In-place updates of a fresh intermediate are safe when autograd does not track it."""
    return not (torch.is_grad_enabled() and x.requires_grad)


def bias_act(x: torch.Tensor, b: torch.Tensor | None, act: str = "linear", gain: float | None = None,
             clamp: float | None = None, inplace: bool = False) -> torch.Tensor:
    """Add a per-channel bias (dim 1), apply 'linear' or 'lrelu' (slope 0.2), scale, clamp.

    Default gain is sqrt(2) for lrelu and 1 for linear; the clamp is applied last. inplace=True
    lets it overwrite `x` (a fresh intermediate) when autograd does not track it.
    """
    inplace = inplace and _may_modify(x)
    if b is not None:
        b = b.to(x.dtype).reshape(1, -1, *([1] * (x.ndim - 2)))
        x = x.add_(b) if inplace else x + b
    if act == "lrelu":
        x = F.leaky_relu(x, LRELU_SLOPE, inplace=inplace)
        g = LRELU_GAIN if gain is None else gain
    elif act == "linear":
        g = 1.0 if gain is None else gain
    else:
        raise ValueError(f"unknown activation {act!r}")
    if g != 1:
        x = x.mul_(g) if inplace else x * g
    if clamp is not None and clamp >= 0:
        x = x.clamp_(-clamp, clamp) if inplace else x.clamp(-clamp, clamp)
    return x


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Pixel norm: scale each vector to unit root-mean-square along `dim`."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


class FullyConnectedLayer(nn.Module):
    """Equalised-lr linear layer (official names weight (out,in), bias (out)).

    Stored weight is N(0,1)/lr_multiplier; run-time gain lr_multiplier/sqrt(in); bias gain lr_multiplier.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 activation: str = "linear", lr_multiplier: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype) * self.bias_gain if self.bias_gain != 1 else b.to(x.dtype)
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation, inplace=True)

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, act={self.activation}"


class Conv2dLayer(nn.Module):
    """Equalised-lr conv with optional 2x up/down resampling, bias, activation and clamp (D side)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "linear", up: int = 1, down: int = 1,
                 resample_filter: Sequence[float] = DEFAULT_FIR, conv_clamp: float | None = None):
        super().__init__()
        self.activation, self.up, self.down, self.conv_clamp = activation, up, down, conv_clamp
        self.register_buffer("resample_filter", make_fir_filter(resample_filter))
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.act_gain = LRELU_GAIN if activation == "lrelu" else 1.0
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        x = conv_resample(x, w, self.resample_filter, up=self.up, down=self.down)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, act=self.activation, gain=self.act_gain * gain, clamp=clamp, inplace=True)


def modulated_conv(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True,
                   up: int = 1, f: torch.Tensor | None = None) -> torch.Tensor:
    """StyleGAN2 weight (de)modulation, done by scaling activations around one shared conv.

    Equivalent to the per-sample grouped convolution (fused form) but faster on CPU for B > 1:
    x*s -> conv(weight) -> *d with d = 1/sqrt(sum((w*s)^2) + 1e-8) per sample and output channel.
    """
    b = x.shape[0]
    weight = weight.to(x.dtype)
    x = x * styles.to(x.dtype).reshape(b, -1, 1, 1)
    x = conv_resample(x, weight, f, up=up)
    if demodulate:
        wsq = weight.square().sum(dim=[2, 3])  # (out, in)
        d = (styles.square() @ wsq.t() + 1e-8).rsqrt().to(x.dtype).reshape(b, -1, 1, 1)  # (B, out)
        x = x.mul_(d) if _may_modify(x) else x * d  # x is the fresh conv output
    return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (+ optional 2x upsample), per-pixel noise, bias, lrelu, clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, up: int = 1,
                 kernel_size: int = 3, use_noise: bool = True,
                 resample_filter: Sequence[float] = DEFAULT_FIR, conv_clamp: float | None = None):
        super().__init__()
        self.resolution, self.up, self.use_noise, self.conv_clamp = resolution, up, use_noise, conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1.0)
        self.register_buffer("resample_filter", make_fir_filter(resample_filter))
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        if use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        styles = self.affine(w)
        x = modulated_conv(x, self.weight, styles, demodulate=True, up=self.up, f=self.resample_filter)
        if self.use_noise and noise_mode != "none":
            if noise_mode == "random":
                noise = torch.randn(x.shape[0], 1, self.resolution, self.resolution,
                                    device=x.device, dtype=x.dtype)
            elif noise_mode == "const":
                noise = self.noise_const.to(x.dtype)
            else:
                raise ValueError(f"noise_mode must be 'random', 'const' or 'none', not {noise_mode!r}")
            noise = noise * self.noise_strength.to(x.dtype)
            x = x.add_(noise) if _may_modify(x) else x + noise
        return bias_act(x, self.bias, act="lrelu", clamp=self.conv_clamp, inplace=True)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv to image channels (no demodulation), bias, clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: float | None = None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1.0 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv(x, self.weight, styles, demodulate=False)
        return bias_act(x, self.bias, clamp=self.conv_clamp, inplace=True)
