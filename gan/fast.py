"""Inference-only StyleGAN2 synthesis: the same images as the reference layers, in fewer passes.

The reference path (gan/layers.py) is written for autograd and any batch. When no gradient is
needed, this path computes the same network with channels-last activations, the constant parts
of each layer prepared once and cached (scaled affine weights, the demodulation's sum of squared
weights, transposed and channels-last conv weights, the constant noise + bias map) and the
demodulation, noise, bias, activation gain and the FIR gain folded into one multiply-add.
ToRGB modulates its tiny 1x1 weight instead of the activations, and the image skip is upsampled
by one strided transposed conv with the FIR kernel. compute_dtype=torch.bfloat16 runs the
convolutions in bf16 (AMX on CPUs that have it): several times faster, not the same images
(docs/gan.md gives the measured difference).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .layers import LRELU_GAIN, FullyConnectedLayer, SynthesisLayer, ToRGBLayer

CL = torch.channels_last


def bf16_is_fast(device: torch.device | str = "cpu") -> bool:
    """True where bf16 convolutions run in hardware (CUDA, or a CPU with AVX512-BF16 or AMX).

    Elsewhere oneDNN emulates bf16 and it is slower than fp32, so callers choosing a preview
    dtype ask this first.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return True
    if device.type != "cpu":
        return False
    cpu = torch.cpu
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def _version(t: torch.Tensor) -> int:
    """In-place version counter; inference tensors have none (and cannot change outside inference mode)."""
    try:
        return t._version
    except RuntimeError:
        return -1


def _cached(mod: nn.Module, name: str, deps: tuple[torch.Tensor, ...], make: Callable[[], object]):
    """make() once per state of `deps` (identity, storage, in-place version), kept on the module."""
    key = tuple((id(t), t.data_ptr(), _version(t), t.dtype, t.device) for t in deps)
    store = mod.__dict__.setdefault("_fast_cache", {})
    hit = store.get(name)
    if hit is not None and hit[0] == key:
        return hit[1]
    value = make()
    store[name] = (key, value)
    return value


def clear_cache(module: nn.Module) -> None:
    """Drop the prepared constants of every layer under `module` (they rebuild on the next call)."""
    for m in module.modules():
        m.__dict__.pop("_fast_cache", None)


def _affine(fc: FullyConnectedLayer, w: torch.Tensor) -> torch.Tensor:
    """The layer's linear map with its equalised-lr gains applied to a cached weight copy."""
    wt, b = _cached(fc, "affine", (fc.weight, fc.bias),
                    lambda: ((fc.weight.float() * fc.weight_gain).t().contiguous(),
                             fc.bias.float() * fc.bias_gain))
    return torch.addmm(b.unsqueeze(0), w, wt)


def _layer_constants(layer: SynthesisLayer, dtype: torch.dtype):
    """Conv weight in the conv's layout and dtype, its (out, in) squared sums, the FIR kernel."""
    def make():
        w = layer.weight.float()
        wsq = w.square().sum(dim=[2, 3])
        if layer.up > 1:
            wc = w.transpose(0, 1).contiguous(memory_format=CL).to(dtype)  # (in, out, k, k)
            c_out = w.shape[0]
            fir = (layer.resample_filter.float().flip([0, 1]))[None, None].repeat(c_out, 1, 1, 1)
            fir = fir.contiguous(memory_format=CL).to(dtype)
        else:
            wc, fir = w.contiguous(memory_format=CL).to(dtype), None
        return wc, wsq, fir
    return _cached(layer, f"conv-{dtype}", (layer.weight, layer.resample_filter), make)


def _noise_bias(layer: SynthesisLayer, noise_mode: str, batch: int, dtype: torch.dtype,
                device: torch.device, gain: float) -> torch.Tensor:
    """(noise * strength + bias) * gain as one broadcastable tensor (cached for const noise)."""
    c_out, res = layer.bias.shape[0], layer.resolution
    bias = layer.bias.float().reshape(1, c_out, 1, 1) * gain
    if not layer.use_noise or noise_mode == "none":
        return bias.to(dtype)
    if noise_mode == "const":
        return _cached(layer, f"noise-{dtype}", (layer.noise_const, layer.noise_strength, layer.bias),
                       lambda: (layer.noise_const.float()[None, None] * (layer.noise_strength.float() * gain)
                                + bias).contiguous(memory_format=CL).to(dtype))
    if noise_mode == "random":
        noise = torch.randn(batch, 1, res, res, device=device, dtype=torch.float32)
        return (noise * (layer.noise_strength.float() * gain) + bias).to(dtype)
    raise ValueError(f"noise_mode must be 'random', 'const' or 'none', not {noise_mode!r}")


def synthesis_layer(layer: SynthesisLayer, x: torch.Tensor, w: torch.Tensor, noise_mode: str) -> torch.Tensor:
    """SynthesisLayer.forward without autograd: x*s -> conv (-> FIR) -> fused demod/noise/bias/lrelu/clamp."""
    dtype = x.dtype
    wc, wsq, fir = _layer_constants(layer, dtype)
    styles = _affine(layer.affine, w)  # (B, in) fp32
    b = x.shape[0]
    d = (styles.square() @ wsq.t() + 1e-8).rsqrt()  # (B, out): demodulation
    x = x * styles.to(dtype).reshape(b, -1, 1, 1)
    if layer.up > 1:
        x = F.conv_transpose2d(x, wc, stride=2)
        x = F.conv2d(x, fir, padding=1, groups=fir.shape[0])  # the FIR's pad (1, 1, 1, 1) for k=3, up=2
        d = d * 4.0  # the FIR's gain for 2x zero insertion
    else:
        x = F.conv2d(x, wc, padding=wc.shape[-1] // 2)
    nb = _noise_bias(layer, noise_mode, b, dtype, x.device, LRELU_GAIN)
    x = torch.addcmul(nb, x, (d * LRELU_GAIN).to(dtype).reshape(b, -1, 1, 1))
    x = F.leaky_relu_(x, 0.2)  # lrelu(a) * g == lrelu(a * g) for g > 0
    if layer.conv_clamp is not None and layer.conv_clamp >= 0:
        x = x.clamp_(-layer.conv_clamp, layer.conv_clamp)
    return x


def torgb_layer(layer: ToRGBLayer, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """ToRGBLayer.forward without autograd; batch 1 scales the 1x1 weight instead of x."""
    styles = _affine(layer.affine, w) * layer.weight_gain  # (B, in)
    weight = layer.weight.float()
    b = x.shape[0]
    if b == 1:
        y = F.conv2d(x, (weight * styles.reshape(1, -1, 1, 1)).to(x.dtype))
    else:
        y = F.conv2d(x * styles.to(x.dtype).reshape(b, -1, 1, 1), weight.to(x.dtype))
    y = y.float() + layer.bias.float().reshape(1, -1, 1, 1)
    if layer.conv_clamp is not None and layer.conv_clamp >= 0:
        y = y.clamp_(-layer.conv_clamp, layer.conv_clamp)
    return y


def upsample_image(block: nn.Module, img: torch.Tensor) -> torch.Tensor:
    """upsample2x of the skip image as one strided transposed conv with the FIR kernel (gain 4)."""
    c = img.shape[1]
    k = _cached(block, "img-up", (block.resample_filter,),
                lambda: (block.resample_filter.float() * 4.0)[None, None].repeat(c, 1, 1, 1))
    return F.conv_transpose2d(img, k, stride=2, padding=1, groups=c)


@torch.no_grad()
def synthesize(net: nn.Module, ws: torch.Tensor, noise_mode: str = "random",
               compute_dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """SynthesisNetwork forward without autograd; returns (B, C, R, R) float32, contiguous."""
    ws = ws.to(torch.float32)
    b = ws.shape[0]
    x = img = None
    idx = 0
    for r in net.block_resolutions:
        block = getattr(net, f"b{r}")
        if block.in_channels == 0:
            const = _cached(block, f"const-{compute_dtype}", (block.const,),
                            lambda: block.const.float().unsqueeze(0).contiguous(memory_format=CL).to(compute_dtype))
            x = synthesis_layer(block.conv1, const.expand(b, -1, -1, -1), ws[:, idx], noise_mode)
        else:
            x = synthesis_layer(block.conv0, x, ws[:, idx], noise_mode)
            x = synthesis_layer(block.conv1, x, ws[:, idx + 1], noise_mode)
        y = torgb_layer(block.torgb, x, ws[:, idx + block.num_conv])
        img = y if img is None else upsample_image(block, img).add_(y)
        idx += block.num_conv
    return img.contiguous()
