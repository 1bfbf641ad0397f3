"""FaceParams: the named, batched parameter blocks of a morphable face, and their flat layout.

Flat layout (one row per face, used by the rig and the estimator), in this order:
    identity   K_id    coefficients in units of each component's std (N(0,1) is plausible)
    expression 52      ARKit blendshape weights in ARKIT_NAMES order, nominally in [0, 1]
    pose       6       yaw, pitch, roll (degrees, see morphable.pose), tx, ty, tz (metres)
    light      27      SH coefficients (9, 3) row-major: light[k, c] -> 3*k + c
    albedo     K_alb   albedo coefficients in std units (K_alb may be 0)
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Mapping

import torch

from .arkit import ARKIT_NAMES, NUM_EXPRESSIONS, expression_index
from .errors import MorphableError
from . import lighting

POSE_NAMES: tuple[str, ...] = ("yaw", "pitch", "roll", "tx", "ty", "tz")
BLOCKS: tuple[str, ...] = ("identity", "expression", "pose", "light", "albedo")


@dataclass
class FaceParams:
    """Batched 3DMM parameters; every block's first dimension is the batch."""

    identity: torch.Tensor    # (B, K_id)
    expression: torch.Tensor  # (B, 52)
    pose: torch.Tensor        # (B, 6)
    light: torch.Tensor       # (B, 9, 3)
    albedo: torch.Tensor      # (B, K_alb), K_alb >= 0

    def __post_init__(self) -> None:
        b = self.identity.shape[0]
        for name, shape in (("expression", (b, NUM_EXPRESSIONS)), ("pose", (b, 6)), ("light", (b, 9, 3))):
            got = tuple(getattr(self, name).shape)
            if got != shape:
                raise MorphableError(f"FaceParams.{name} must have shape {shape}, got {got}")
        if self.albedo.ndim != 2 or self.albedo.shape[0] != b:
            raise MorphableError(f"FaceParams.albedo must be (B, K_alb), got {tuple(self.albedo.shape)}")

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def neutral(cls, batch: int = 1, k_id: int = 0, k_alb: int = 0, device=None,
                dtype=torch.float32) -> "FaceParams":
        """Mean identity, no expression, frontal, unit ambient light."""
        z = lambda *s: torch.zeros(*s, device=device, dtype=dtype)  # noqa: E731
        return cls(z(batch, k_id), z(batch, NUM_EXPRESSIONS), z(batch, 6),
                   lighting.ambient(batch, device=device, dtype=dtype), z(batch, k_alb))

    @staticmethod
    def layout(k_id: int, k_alb: int = 0) -> dict[str, slice]:
        """Slices of each block in the flat vector (see module docstring)."""
        sizes = {"identity": k_id, "expression": NUM_EXPRESSIONS, "pose": 6, "light": 27, "albedo": k_alb}
        out, start = {}, 0
        for name in BLOCKS:
            out[name] = slice(start, start + sizes[name])
            start += sizes[name]
        return out

    @staticmethod
    def flat_size(k_id: int, k_alb: int = 0) -> int:
        return k_id + NUM_EXPRESSIONS + 6 + 27 + k_alb

    def to_vector(self) -> torch.Tensor:
        """(B, flat_size) in the documented layout."""
        b = self.batch_size
        return torch.cat([self.identity, self.expression, self.pose, self.light.reshape(b, 27), self.albedo], 1)

    @classmethod
    def from_vector(cls, vec: torch.Tensor, k_id: int, k_alb: int = 0) -> "FaceParams":
        if vec.ndim != 2 or vec.shape[1] != cls.flat_size(k_id, k_alb):
            raise MorphableError(
                f"flat parameter vector must be (B, {cls.flat_size(k_id, k_alb)}), got {tuple(vec.shape)}")
        s = cls.layout(k_id, k_alb)
        return cls(vec[:, s["identity"]], vec[:, s["expression"]], vec[:, s["pose"]],
                   vec[:, s["light"]].reshape(-1, 9, 3), vec[:, s["albedo"]])

    # ---- convenience ----------------------------------------------------------------------
    @property
    def batch_size(self) -> int:
        return self.identity.shape[0]

    @property
    def yaw(self) -> torch.Tensor:
        return self.pose[:, 0]

    @property
    def pitch(self) -> torch.Tensor:
        return self.pose[:, 1]

    @property
    def roll(self) -> torch.Tensor:
        return self.pose[:, 2]

    @property
    def translation(self) -> torch.Tensor:
        return self.pose[:, 3:]

    def map(self, fn) -> "FaceParams":
        """Apply fn to every block tensor (e.g. .to(device), .detach(), .clone())."""
        return FaceParams(**{f.name: fn(getattr(self, f.name)) for f in fields(self)})

    def to(self, *args, **kwargs) -> "FaceParams":
        return self.map(lambda t: t.to(*args, **kwargs))

    def detach(self) -> "FaceParams":
        return self.map(torch.Tensor.detach)

    def clone(self) -> "FaceParams":
        return self.map(torch.Tensor.clone)

    def replace(self, **blocks: torch.Tensor) -> "FaceParams":
        """A copy with some blocks swapped (used by the rig's cycle losses)."""
        return replace(self, **blocks)

    def __getitem__(self, index) -> "FaceParams":
        if isinstance(index, int):
            index = slice(index, index + 1)
        return self.map(lambda t: t[index])

    @staticmethod
    def cat(items: "list[FaceParams]") -> "FaceParams":
        return FaceParams(**{f.name: torch.cat([getattr(p, f.name) for p in items]) for f in fields(FaceParams)})

    def with_expression(self, values: Mapping[str, float]) -> "FaceParams":
        """Copy with the named ARKit weights set (all faces of the batch)."""
        expr = self.expression.clone()
        for name, value in values.items():
            expr[:, expression_index(name)] = float(value)
        return self.replace(expression=expr)

    def with_pose(self, yaw: float | None = None, pitch: float | None = None,
                  roll: float | None = None) -> "FaceParams":
        pose = self.pose.clone()
        for i, v in enumerate((yaw, pitch, roll)):
            if v is not None:
                pose[:, i] = float(v)
        return self.replace(pose=pose)

    def expression_dict(self, index: int = 0, min_abs: float = 0.0) -> dict[str, float]:
        """ARKit name -> weight for one face of the batch."""
        row = self.expression[index].detach().cpu().tolist()
        return {n: float(v) for n, v in zip(ARKIT_NAMES, row) if abs(v) >= min_abs}

    def to_dict(self, index: int = 0) -> dict:
        """JSON-ready dict of one face: named expression and pose entries, lists for the rest."""
        pose = self.pose[index].detach().cpu().tolist()
        return {
            "identity": self.identity[index].detach().cpu().tolist(),
            "expression": self.expression_dict(index),
            "pose": dict(zip(POSE_NAMES, pose)),
            "light": self.light[index].detach().cpu().tolist(),
            "albedo": self.albedo[index].detach().cpu().tolist(),
        }

    @classmethod
    def from_dict(cls, d: Mapping, k_id: int | None = None, k_alb: int | None = None) -> "FaceParams":
        """Inverse of to_dict (batch of one); missing blocks take their neutral value."""
        ident = torch.tensor(d.get("identity", []), dtype=torch.float32)
        k_id = len(ident) if k_id is None else k_id
        alb = torch.tensor(d.get("albedo", []), dtype=torch.float32)
        k_alb = len(alb) if k_alb is None else k_alb
        p = cls.neutral(1, k_id, k_alb)
        if len(ident):
            if len(ident) != k_id:
                raise MorphableError(f"identity has {len(ident)} values, the model has {k_id}")
            p.identity[0] = ident
        if len(alb):
            if len(alb) != k_alb:
                raise MorphableError(f"albedo has {len(alb)} values, the model has {k_alb}")
            p.albedo[0] = alb
        p = p.with_expression(d.get("expression", {}))
        pose = d.get("pose", {})
        for name, value in pose.items():
            if name not in POSE_NAMES:
                raise MorphableError(f"unknown pose entry {name!r}; expected {', '.join(POSE_NAMES)}")
            p.pose[0, POSE_NAMES.index(name)] = float(value)
        if "light" in d:
            p.light[0] = torch.tensor(d["light"], dtype=torch.float32).reshape(9, 3)
        return p


def set_pose_and_expression(p: FaceParams, yaw: float | None = None, pitch: float | None = None,
                            roll: float | None = None, expression: Mapping[str, float] | None = None,
                            relative: bool = False) -> FaceParams:
    """Set (or offset, when relative) the named pose angles (degrees) and ARKit weights of `p` in place; returns p.

    Unknown expression names are a MorphableError with close matches. Shared by the GAN rig's and the
    photo engine's targets.
    """
    for i, value in enumerate((yaw, pitch, roll)):
        if value is not None:
            p.pose[:, i] = p.pose[:, i] + float(value) if relative else float(value)
    for name, value in (expression or {}).items():
        try:
            j = expression_index(name)
        except (ValueError, KeyError) as exc:
            raise MorphableError(str(exc)) from None
        p.expression[:, j] = (p.expression[:, j] if relative else 0.0) + float(value)
    return p
