"""A 64 px DCGAN generator behind the same interface as gan.networks.Generator.

The weights are those of the PyPI package `gan-face-generate==1.1.1` (trained on DigiFace-1M,
non-commercial): a torch zip `weights.tar` holding {"netG_state_dict": ...} with a plain
ConvTranspose2d/BatchNorm/ReLU stack named `main.N`. The package itself is never imported (its
__init__ pulls in torchvision); only its file is located and read with weights_only=True.
Latents follow the StyleGAN convention of this project: ws (B, num_ws=1, w_dim=100), with the
identity as mapping (z ~ N(0, I) is already the latent) so truncation scales toward w_avg = 0.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch
from torch import nn

from .errors import GanError

Z_DIM = 100
RESOLUTION = 64
PACKAGE = "gan_face_generate"
STATE_KEY = "netG_state_dict"
#: (in, out, stride, padding) of the five transposed convolutions, kernel 4, no bias
_LAYERS = ((Z_DIM, 512, 1, 0), (512, 256, 2, 1), (256, 128, 2, 1), (128, 64, 2, 1), (64, 3, 2, 1))


class DCGANMapping(nn.Module):
    """Identity mapping z -> ws (B, 1, z_dim); truncation pulls toward the zero w_avg."""

    def __init__(self, z_dim: int = Z_DIM):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, 0, z_dim, 1
        self.register_buffer("w_avg", torch.zeros(z_dim))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, update_emas: bool = False) -> torch.Tensor:
        z = z.reshape(z.shape[0], -1)
        if z.shape[1] != self.z_dim:
            raise GanError(f"z must have {self.z_dim} values per sample, got {z.shape[1]}")
        ws = z[:, None, :]
        if truncation_psi != 1 and (truncation_cutoff is None or truncation_cutoff > 0):
            ws = self.w_avg.to(ws.dtype).lerp(ws, truncation_psi)
        return ws


class DCGANSynthesis(nn.Module):
    """ws (B, 1, z_dim) -> (B, 3, 64, 64) in [-1, 1]; `main` mirrors the checkpoint's names."""

    def __init__(self, z_dim: int = Z_DIM):
        super().__init__()
        self.w_dim, self.num_ws, self.img_resolution, self.img_channels = z_dim, 1, RESOLUTION, 3
        mods: list[nn.Module] = []
        for i, (cin, cout, stride, pad) in enumerate(_LAYERS):
            mods.append(nn.ConvTranspose2d(cin, cout, 4, stride, pad, bias=False))
            if i < len(_LAYERS) - 1:
                mods += [nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
        mods.append(nn.Tanh())
        self.main = nn.Sequential(*mods)

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", **_: object) -> torch.Tensor:
        if ws.ndim != 3 or ws.shape[1:] != (1, self.w_dim):
            raise GanError(f"ws must be (B, 1, {self.w_dim}), got {tuple(ws.shape)}")
        return self.main(ws.reshape(ws.shape[0], self.w_dim, 1, 1))


class DCGANGenerator(nn.Module):
    """z (B, 100) -> 64x64 RGB in [-1, 1]; `.mapping`/`.synthesis` as in gan.networks.Generator."""

    def __init__(self, z_dim: int = Z_DIM):
        super().__init__()
        self.config = dict(kind="dcgan", z_dim=z_dim, w_dim=z_dim, img_resolution=RESOLUTION, img_channels=3)
        self.z_dim, self.w_dim, self.c_dim, self.num_ws = z_dim, z_dim, 0, 1
        self.img_resolution, self.img_channels = RESOLUTION, 3
        self.mapping = DCGANMapping(z_dim)
        self.synthesis = DCGANSynthesis(z_dim)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, noise_mode: str = "const",
                update_emas: bool = False) -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode)


def default_weights_path() -> Path:
    """The installed gan-face-generate package's weights.tar (found without importing it)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise GanError(f"the DCGAN weights need the package gan-face-generate==1.1.1 ({PACKAGE} not installed)")
    path = Path(list(spec.submodule_search_locations)[0]) / "weights.tar"
    if not path.is_file():
        raise GanError(f"DCGAN weights missing: {path}")
    return path


def dcgan_state(obj: object) -> dict[str, torch.Tensor] | None:
    """The generator state dict if `obj` (a loaded torch file) is gan-face-generate weights, else None."""
    if isinstance(obj, dict) and isinstance(obj.get(STATE_KEY), dict) and "main.0.weight" in obj[STATE_KEY]:
        return obj[STATE_KEY]
    return None


def read_dcgan_state(path: str | os.PathLike) -> dict[str, torch.Tensor] | None:
    """The generator state dict if `path` is a gan-face-generate weights file, else None."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 -- any unreadable file is simply "not a DCGAN file"
        return None
    return dcgan_state(obj)


def dcgan_from_state(state: dict[str, torch.Tensor], source: str,
                     device: str | torch.device | None = None) -> DCGANGenerator:
    """A DCGANGenerator holding `state` (eval mode, no gradients); `source` names it in errors."""
    G = DCGANGenerator()
    try:
        G.synthesis.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise GanError(f"{source}: DCGAN weights do not match the expected layout: {str(exc).splitlines()[0]}") from None
    return G.eval().requires_grad_(False).to(device or "cpu")


def load_dcgan(path: str | os.PathLike | None = None, device: str | torch.device | None = None) -> DCGANGenerator:
    """Load the DCGAN (default: the package's weights.tar) in eval mode, without gradients."""
    path = default_weights_path() if path is None else Path(path)
    if not Path(path).is_file():
        raise GanError(f"DCGAN weights not found: {path}")
    state = read_dcgan_state(path)
    if state is None:
        raise GanError(f"{path}: not a gan-face-generate DCGAN weights file (no {STATE_KEY!r} with main.* keys)")
    return dcgan_from_state(state, str(path), device)
