"""rig: the 3DMM steering the GAN. `from rig import FaceRig` is the public entry (rig.face_rig).

The name is loaded on first use, so `import rig.cli` (and `facerig --help`) stays free of torch.
"""
from __future__ import annotations

__all__ = ["FaceRig", "default_bundle"]


def __getattr__(name: str):
    if name in __all__:
        from . import face_rig

        return getattr(face_rig, name)
    raise AttributeError(f"module 'rig' has no attribute {name!r}")
