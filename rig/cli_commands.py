"""The list of CLI command groups; each entry adds its subcommands to the `facerig` parser."""
from __future__ import annotations

REGISTRY: list = []

try:  # each group is optional while the project grows; a group that fails to import is a bug
    from .cli_morph import register as _morph
    REGISTRY.append(_morph)
except ModuleNotFoundError as exc:  # pragma: no cover
    if exc.name != "rig.cli_morph":
        raise
try:
    from .cli_gan import register as _gan
    REGISTRY.append(_gan)
except ModuleNotFoundError as exc:  # pragma: no cover
    if exc.name != "rig.cli_gan":
        raise
