"""A conditional inpainting U-Net and a PatchGAN discriminator: image + hole mask + guide channels in, image out.

Generic: it knows holes and guide planes, not faces. The generator is deterministic (no noise
input), so the same input gives the same output, frame after frame. Values are in [-1, 1]; the
hole's pixels are zeroed on the way in and only the hole of the output is meant to be used
(`composite`). Weights are a tagged safetensors file (FORMAT) holding its own config.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from basics.tagged_safetensors import load_tagged_module, save_tagged

from .errors import GanError

FORMAT = "facerig-inpainter/1"
WHAT = "an inpainter file (facerig-inpainter/1)"


@dataclass
class InpainterConfig:
    """Shape of one inpainter: image and guide channels, base width, depth (downsamplings)."""

    image_channels: int = 3
    guide_channels: int = 1
    width: int = 32
    depth: int = 3
    bottleneck_blocks: int = 2


def _act() -> nn.Module:
    return nn.LeakyReLU(0.2, inplace=True)


class _Res(nn.Module):
    """Residual block of two dilated 3x3 convolutions (wider view at the bottleneck)."""

    def __init__(self, ch: int, dilation: int = 2):
        super().__init__()
        self.a = nn.Conv2d(ch, ch, 3, padding=dilation, dilation=dilation)
        self.b = nn.Conv2d(ch, ch, 3, padding=dilation, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.b(F.leaky_relu(self.a(x), 0.2))


class Inpainter(nn.Module):
    """U-Net: stride-2 encoder, dilated residual bottleneck, nearest-upsample decoder with skips, tanh out."""

    def __init__(self, image_channels: int = 3, guide_channels: int = 1, width: int = 32, depth: int = 3,
                 bottleneck_blocks: int = 2):
        super().__init__()
        self.config = InpainterConfig(image_channels, guide_channels, width, depth, bottleneck_blocks)
        chans = [width * 2 ** i for i in range(depth + 1)]
        self.stem = nn.Sequential(nn.Conv2d(image_channels + 1 + guide_channels, width, 3, padding=1), _act())
        self.down = nn.ModuleList(
            nn.Sequential(nn.Conv2d(chans[i], chans[i + 1], 4, 2, 1), _act(),
                          nn.Conv2d(chans[i + 1], chans[i + 1], 3, padding=1), _act())
            for i in range(depth))
        self.mid = nn.Sequential(*[_Res(chans[-1]) for _ in range(bottleneck_blocks)])
        self.up = nn.ModuleList(nn.Conv2d(chans[i + 1], chans[i], 3, padding=1) for i in reversed(range(depth)))
        self.merge = nn.ModuleList(nn.Conv2d(2 * chans[i], chans[i], 3, padding=1) for i in reversed(range(depth)))
        self.out = nn.Conv2d(width, image_channels, 3, padding=1)

    @property
    def multiple(self) -> int:
        """Input sides must be multiples of this."""
        return 2 ** self.config.depth

    def forward(self, image: torch.Tensor, mask: torch.Tensor, guide: torch.Tensor | None = None) -> torch.Tensor:
        """image (B,C,H,W) in [-1,1], mask (B,1,H,W) 1 = hole, guide (B,G,H,W) -> raw output (B,C,H,W)."""
        c = self.config
        if image.shape[-1] % self.multiple or image.shape[-2] % self.multiple:
            raise GanError(f"inpainter input {tuple(image.shape[-2:])} is not a multiple of {self.multiple}")
        if guide is None:
            guide = image.new_zeros(image.shape[0], c.guide_channels, *image.shape[-2:])
        x = torch.cat([image * (1.0 - mask), mask, guide], 1)
        x = self.stem(x)
        skips = []
        for block in self.down:
            skips.append(x)
            x = block(x)
        x = self.mid(x)
        for up, merge in zip(self.up, self.merge):
            x = F.leaky_relu(up(F.interpolate(x, scale_factor=2.0, mode="nearest")), 0.2)
            x = F.leaky_relu(merge(torch.cat([x, skips.pop()], 1)), 0.2)
        return torch.tanh(self.out(x))


def composite(image: torch.Tensor, mask: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """The input where the mask is 0, the output where it is 1 (soft masks blend)."""
    return image * (1.0 - mask) + output * mask


class PatchDiscriminator(nn.Module):
    """PatchGAN (pix2pix): one real/fake logit per overlapping patch, conditioned on mask and guide planes."""

    def __init__(self, in_channels: int = 5, width: int = 32, layers: int = 3):
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        mods: list[nn.Module] = []
        ch = in_channels
        for i in range(layers):
            nxt = width * 2 ** i
            mods += [sn(nn.Conv2d(ch, nxt, 4, 2, 1)), nn.LeakyReLU(0.2, inplace=True)]
            ch = nxt
        mods += [sn(nn.Conv2d(ch, ch, 3, 1, 1)), nn.LeakyReLU(0.2, inplace=True), sn(nn.Conv2d(ch, 1, 3, 1, 1))]
        self.net = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def save_inpainter(path: str | os.PathLike, net: Inpainter, meta: dict | None = None, half: bool = True) -> None:
    """Write the generator's weights (fp16 unless `half` is False) with its config as a tagged safetensors file."""
    tensors = {k: (v.half() if half and v.is_floating_point() else v) for k, v in net.state_dict().items()}
    save_tagged(path, tensors, FORMAT, {"config": asdict(net.config), **(meta or {})}, GanError)


def load_inpainter(path: str | os.PathLike) -> tuple[Inpainter, dict[str, str]]:
    """An inpainter (fp32, eval mode) and its raw metadata; a wrong or damaged file is a GanError.

    fp16 weights load into the fp32 network (load_state_dict casts)."""
    net, meta = load_tagged_module(path, FORMAT, WHAT, lambda **config: Inpainter(**config), GanError)
    return net.eval(), meta
