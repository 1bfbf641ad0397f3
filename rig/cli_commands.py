"""The CLI command groups: each module's `register(subparsers)` adds its commands to `facerig`."""
from __future__ import annotations

import importlib

COMMAND_MODULES = ("rig.cli_morph", "rig.cli_gan", "rig.cli_invert", "rig.cli_fit", "rig.cli_rig",
                   "rig.cli_animate", "rig.cli_reenact")


def _load() -> list:
    registry = []
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a group not in this build yet; any other import error is a bug
            if exc.name != name:
                raise
            continue
        registry.append(module.register)
    return registry


REGISTRY: list = _load()
