"""GAN training as a library: `TrainConfig` (every option) and `training_loop(config)`.

The loop (and torch with it) is imported on first use, so the CLI can build its options quickly.
"""
from .config import ARCH_KEYS, NET_KEYS, TrainConfig, check_config

__all__ = ["ARCH_KEYS", "NET_KEYS", "TrainConfig", "Trainer", "build_networks", "check_config", "training_loop"]
_LOOP_NAMES = ("Trainer", "build_networks", "training_loop")


def __getattr__(name: str):
    if name in _LOOP_NAMES:
        from . import loop

        return getattr(loop, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
