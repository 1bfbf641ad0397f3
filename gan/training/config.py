"""The options of a GAN training run (one dataclass, saved in every checkpoint) and their checks."""
from __future__ import annotations

from dataclasses import dataclass

from ..checks import require_power_of_two
from ..errors import GanError

# Options a resumed run must share with its checkpoint (the rest may change, e.g. --kimg).
ARCH_KEYS = ("resolution", "batch", "channel_base", "channel_max", "z_dim", "w_dim", "mapping_layers",
             "mbstd_group", "seed")
# What a resume pack must share with the run it starts (batch and seed may change).
NET_KEYS = ARCH_KEYS[:1] + ARCH_KEYS[2:-1]


@dataclass
class TrainConfig:
    """Everything a run depends on; saved in each checkpoint."""

    data: str
    out: str
    resolution: int = 128
    kimg: float = 1000.0
    batch: int = 32
    channel_base: int = 16384
    channel_max: int = 512
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    mbstd_group: int = 4
    gamma: float | None = None  # None: 0.0002 * res^2 / batch (StyleGAN2-ADA's heuristic)
    aug: str = "diffaugment"
    xflip: bool = True
    seed: int = 0
    lr: float = 0.0025
    r1_interval: int = 16
    style_mix: float = 0.9
    ema_kimg: float | None = None  # None: batch * 10 / 32
    ema_rampup: float | None = 0.05
    snapshot_kimg: float = 50.0
    tick_kimg: float = 4.0
    grid: int = 8  # sample grid is grid x grid
    max_images: int | None = None
    holdout: float = 0.0  # share of the files kept out of training (gan.dataset.is_held_out)
    device: str = "auto"
    precision: str = "auto"  # auto (bf16 on CUDA, fp32 on CPU), bf16, fp32
    channels_last: bool = False  # NHWC activations and conv weights (oneDNN's preferred layout)
    threads: int | None = None  # torch intra-op threads for this process (None: torch's default)
    max_minutes: float | None = None  # stop (with a checkpoint) after this much wall time
    resume: bool = False
    init_from: str | None = None  # a resume pack (train_state.save_resume_pack) to start a new run from
    progress: bool = True
    cache_dataset: bool = True

    def resolved_gamma(self) -> float:
        return self.gamma if self.gamma is not None else 0.0002 * self.resolution ** 2 / self.batch

    def resolved_ema_kimg(self) -> float:
        return self.ema_kimg if self.ema_kimg is not None else self.batch * 10 / 32


def check_config(config: TrainConfig, world: int) -> None:
    """GanError for option values no run can use (on `world` processes)."""
    require_power_of_two(config.resolution, 8, "--resolution")
    if config.batch < 1 or config.batch % world:
        raise GanError(f"--batch {config.batch} must be a positive multiple of the {world} processes")
    if config.kimg <= 0:
        raise GanError("--kimg must be positive")
    if config.gamma is not None and config.gamma < 0:
        raise GanError("--gamma must be >= 0")
    if config.lr <= 0:
        raise GanError(f"--lr must be positive, got {config.lr:g}")
    if config.grid < 1:
        raise GanError(f"--grid must be at least 1, got {config.grid}")
    if config.snapshot_kimg < 0.001 or config.tick_kimg < 0.001:
        raise GanError("--snapshot-kimg and --tick-kimg must be at least 0.001 (one image)")
    if not 0 <= config.holdout < 1:
        raise GanError(f"--holdout must be in [0, 1), got {config.holdout:g}")
    if config.threads is not None and config.threads < 1:
        raise GanError(f"--threads must be at least 1, got {config.threads}")
    if config.precision not in ("auto", "bf16", "fp32"):
        raise GanError(f"unknown precision {config.precision!r} (auto, bf16, fp32)")
    from .. import augment as aug   # torch: only when a run is checked, not when options are built

    aug.policy_ops(config.aug)


