"""InterFaceGAN-style baseline: linear attribute directions in latent space, fit on 3DMM labels.

Each controlled quantity (yaw, pitch, ARKit weights such as jawOpen) gets a ridge regression
y ~ a + <g, w> over latents w (Shen et al., CVPR 2020, use an SVM normal; the regression
gradient g gives the same kind of direction plus a slope in the attribute's own units). An edit
moves w by the smallest step whose predicted change reaches the commanded values; with
`conditional=True` the step is also constrained to leave the other fitted attributes' predicted
values unchanged (InterFaceGAN's conditional manipulation, generalised to several conditions).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch

from basics.npz import read_npz
from morphable.arkit import ARKIT_NAMES
from morphable.fileio import atomic_output
from morphable.params import POSE_NAMES, FaceParams

from rig.errors import RigError

#: the quantities the rig benchmark commands
CONTROLS: tuple[str, ...] = ("yaw", "pitch", "roll", "jawOpen", "mouthSmileLeft", "mouthSmileRight",
                             "eyeBlinkLeft", "eyeBlinkRight")
FORMAT = "facerig-linear-directions"


def attribute_column(name: str, k_id: int) -> int:
    """Column of a pose angle/translation or ARKit weight in the flat FaceParams vector."""
    lay = FaceParams.layout(k_id)
    if name in POSE_NAMES:
        return lay["pose"].start + POSE_NAMES.index(name)
    if name in ARKIT_NAMES:
        return lay["expression"].start + ARKIT_NAMES.index(name)
    raise RigError(f"unknown attribute {name!r}: expected a pose entry ({', '.join(POSE_NAMES)}) "
                   f"or an ARKit expression name")


def attribute_labels(flat_params: torch.Tensor | np.ndarray, names: Sequence[str], k_id: int) -> np.ndarray:
    """(N, A) values of the named attributes taken from flat (N, P) parameter vectors."""
    arr = flat_params.detach().cpu().numpy() if isinstance(flat_params, torch.Tensor) else np.asarray(flat_params)
    return arr[:, [attribute_column(n, k_id) for n in names]].astype(np.float64)


@dataclass
class LinearEditor:
    """Fitted linear attribute model over latents w (mean of the ws layers) and its edits."""

    names: tuple[str, ...]
    gradients: np.ndarray   # (A, w_dim): d attribute / d w
    intercepts: np.ndarray  # (A,): predicted value at w = 0
    r2: np.ndarray          # (A,): coefficient of determination on the training data
    num_ws: int
    w_dim: int

    # ---- properties ---------------------------------------------------------------------------
    @property
    def directions(self) -> np.ndarray:
        """(A, w_dim) unit attribute directions (InterFaceGAN's boundary normals)."""
        return self.gradients / np.linalg.norm(self.gradients, axis=1, keepdims=True)

    @property
    def slopes(self) -> np.ndarray:
        """(A,) attribute change per unit latent step along each direction."""
        return np.linalg.norm(self.gradients, axis=1)

    def index(self, name: str) -> int:
        if name not in self.names:
            raise RigError(f"the linear editor has no direction for {name!r}; it has {', '.join(self.names)}")
        return self.names.index(name)

    # ---- prediction and editing ---------------------------------------------------------------
    def _w(self, ws: torch.Tensor) -> torch.Tensor:
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise RigError(f"ws must be (B, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}")
        return ws.mean(1)

    def predict(self, ws: torch.Tensor) -> dict[str, torch.Tensor]:
        """The linear model's attribute values for each latent: name -> (B,)."""
        w = self._w(ws).double()
        g = torch.as_tensor(self.gradients, dtype=torch.float64, device=w.device)
        b = torch.as_tensor(self.intercepts, dtype=torch.float64, device=w.device)
        pred = (w @ g.T + b).to(ws.dtype)
        return {n: pred[:, i] for i, n in enumerate(self.names)}

    def step(self, changes: Mapping[str, torch.Tensor], conditional: bool = True,
             keep: Sequence[str] | None = None) -> torch.Tensor:
        """(B, w_dim) minimum-norm latent step with predicted change `changes[name]` (B,) per name.

        With `conditional`, the attributes in `keep` (default: every other fitted attribute) are
        held at their predicted values (their gradients get a zero-change row).
        """
        edited = list(changes)
        for n in edited:
            self.index(n)
        held = [] if not conditional else [n for n in (self.names if keep is None else keep) if n not in changes]
        rows = [self.index(n) for n in edited + held]
        g = torch.as_tensor(self.gradients[rows], dtype=torch.float64)          # (R, D)
        first = next(iter(changes.values()))
        target = torch.zeros(first.shape[0], len(rows), dtype=torch.float64)
        for j, n in enumerate(edited):
            target[:, j] = changes[n].detach().cpu().double()
        # min-norm solution of g @ dw = target: dw = g^T (g g^T)^+ target
        return target @ torch.linalg.pinv(g @ g.T).T @ g

    def edit(self, ws: torch.Tensor, yaw: float | torch.Tensor | None = None,
             pitch: float | torch.Tensor | None = None, roll: float | torch.Tensor | None = None,
             expression: Mapping[str, float] | None = None, light=None, identity=None,
             relative: bool = False, conditional: bool = True,
             current: Mapping[str, torch.Tensor] | None = None, max_step: float | None = None) -> torch.Tensor:
        """Latents moved so the attributes reach the commanded values (same keywords as FaceRig.edit).

        Absolute targets are measured from `current` values (name -> (B,), e.g. the estimator's)
        where given, else from the linear model's own prediction; `relative` adds to them instead.
        `max_step` caps the latent step's length (InterFaceGAN edits within about +-3 along a unit
        normal; longer steps leave the generator's latent distribution and break the image).
        """
        if light is not None or identity is not None:
            raise RigError("the linear baseline edits pose angles and expressions only (no light/identity)")
        wanted: dict[str, float | torch.Tensor] = {}
        for name, value in (("yaw", yaw), ("pitch", pitch), ("roll", roll)):
            if value is not None:
                wanted[name] = value
        for name, value in (expression or {}).items():
            if name not in ARKIT_NAMES:
                raise RigError(f"unknown ARKit expression {name!r}")
            wanted[name] = value
        for name in wanted:
            self.index(name)
        if not wanted:
            return ws.clone()
        b = ws.shape[0]
        pred = None if relative else self.predict(ws)
        changes = {}
        for name, value in wanted.items():
            v = torch.as_tensor(value).detach().cpu().double().reshape(-1).expand(b)
            if relative:
                changes[name] = v
            else:
                now = current[name] if current is not None and name in current else pred[name]
                changes[name] = v - now.detach().cpu().double()
        dw = self.step(changes, conditional)
        if max_step is not None:
            norm = dw.norm(dim=1, keepdim=True)
            dw = dw * torch.clamp(float(max_step) / norm.clamp_min(1e-12), max=1.0)
        dw = dw.to(ws.dtype).to(ws.device)
        return ws + dw[:, None, :]

    # ---- persistence --------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write an .npz (plain arrays only; atomic)."""
        arrays = dict(format=np.array(FORMAT), version=np.array(1), names=np.array(self.names),
                      gradients=self.gradients, intercepts=self.intercepts, r2=self.r2,
                      num_ws=np.array(self.num_ws), w_dim=np.array(self.w_dim))
        with atomic_output(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "LinearEditor":
        """Read a file written by `save` (no pickles)."""
        what = f"a linear-directions file ({FORMAT}, an .npz of plain arrays)"
        z = read_npz(path, what, RigError)
        if "format" not in z or str(z["format"]) != FORMAT:
            raise RigError(f"{path} is not {what}")
        try:
            ed = cls(tuple(str(n) for n in z["names"]), z["gradients"].astype(np.float64),
                     z["intercepts"].astype(np.float64), z["r2"].astype(np.float64),
                     int(z["num_ws"]), int(z["w_dim"]))
        except KeyError as exc:
            raise RigError(f"{path}: linear directions miss the entry {exc.args[0]!r}") from None
        if ed.gradients.shape != (len(ed.names), ed.w_dim):
            raise RigError(f"{path}: gradients have shape {ed.gradients.shape}, expected "
                           f"({len(ed.names)}, {ed.w_dim})")
        return ed


def fit_linear_editor(ws: torch.Tensor | np.ndarray, labels: np.ndarray, names: Sequence[str],
                      ok: np.ndarray | None = None, ridge: float = 1.0) -> LinearEditor:
    """Ridge-regress each label column (N, A) on the latents' mean layer; rows with ok=False are skipped."""
    ws_np = ws.detach().cpu().numpy() if isinstance(ws, torch.Tensor) else np.asarray(ws)
    if ws_np.ndim != 3:
        raise RigError(f"ws must be (N, num_ws, w_dim), got {ws_np.shape}")
    y = np.asarray(labels, dtype=np.float64)
    if y.ndim != 2 or y.shape != (ws_np.shape[0], len(names)):
        raise RigError(f"labels must be (N={ws_np.shape[0]}, A={len(names)}), got {y.shape}")
    keep = np.isfinite(y).all(1)
    if ok is not None:
        keep &= np.asarray(ok, dtype=bool)
    x = ws_np.mean(1).astype(np.float64)[keep]
    y = y[keep]
    if len(x) < 2:
        raise RigError(f"need at least 2 usable labelled latents, got {len(x)}")
    xm, ym = x.mean(0), y.mean(0)
    xc, yc = x - xm, y - ym
    hess = xc.T @ xc + ridge * np.eye(x.shape[1])
    grads = np.linalg.solve(hess, xc.T @ yc).T                    # (A, D)
    intercepts = ym - grads @ xm
    resid = yc - xc @ grads.T
    var = (yc ** 2).sum(0)
    r2 = np.where(var > 0, 1.0 - (resid ** 2).sum(0) / np.maximum(var, 1e-300), 0.0)
    return LinearEditor(tuple(names), grads, intercepts, r2, int(ws_np.shape[1]), int(ws_np.shape[2]))
