"""GAN training as a library: `TrainConfig` (every option) and `training_loop(config)`."""
from .config import ARCH_KEYS, NET_KEYS, TrainConfig, check_config
from .loop import Trainer, build_networks, training_loop

__all__ = ["ARCH_KEYS", "NET_KEYS", "TrainConfig", "Trainer", "build_networks", "check_config", "training_loop"]
