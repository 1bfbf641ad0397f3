"""FaceRig: generator + 3DMM + estimator + RigNet from one bundle; the editing API.

An edit reads the face's parameters with the estimator F, replaces the requested blocks
(pose angles, named ARKit expressions, light, identity) and asks RigNet for the latent that
realises that target:  ws_edit = RigNet(ws, target).  Blocks not named keep F(ws) exactly,
which is also RigNet's reconstruction target, so they stay put.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from morphable.errors import MorphableError
from morphable.landmark_backends import RECORDED as RECORDED_LANDMARKS
from morphable.params import FaceParams, set_pose_and_expression as set_params

from .errors import RigError
from .estimator import TrainedRange, trained_range_of

#: backend of bundles written before the manifest recorded one (their estimators were labelled with dlib)
LEGACY_LANDMARKS = "dlib"


class FaceRig:
    """A loaded rig; everything runs without gradients on one device (CPU by default)."""

    def __init__(self, G, model, estimator, rignet, info: dict | None = None, device=None,
                 trained_range: TrainedRange | None = None, landmarks: str = LEGACY_LANDMARKS):
        self.device = torch.device(device or "cpu")
        self.G, self.model, self.estimator, self.rignet = G, model, estimator, rignet
        self.info = dict(info or {})
        #: dtype of image()'s synthesis; bf16 (StyleGAN2 generators only, set_compute_dtype) runs the
        #: convolutions in bf16: 2.6-3.1x faster at batch 1 here, not the same pixels (docs/gan.md)
        self.compute_dtype = torch.float32
        #: the landmark backend that labelled F's training pairs: drivers are tracked with the same one
        self.landmarks = str(landmarks)
        #: per-entry [low, high] of F's training labels (None: the bundle does not say)
        self.trained_range = trained_range if trained_range is not None else trained_range_of(estimator)
        if (rignet.num_ws, rignet.w_dim) != (G.num_ws, G.w_dim):
            raise RigError(f"RigNet expects latents ({rignet.num_ws}, {rignet.w_dim}), "
                           f"the generator has ({G.num_ws}, {G.w_dim})")
        if FaceParams.flat_size(model.num_identity) != rignet.param_dim:
            raise RigError(f"RigNet expects {rignet.param_dim} params, model {model.name!r} has "
                           f"{FaceParams.flat_size(model.num_identity)}")

    @classmethod
    def load(cls, path: str | os.PathLike, device=None) -> "FaceRig":
        """Load a bundle folder (or its manifest.json)."""
        from . import bundle
        from .estimator import load_estimator
        from .rignet import load_rignet

        manifest = bundle.read_manifest(path)
        folder = bundle.bundle_dir(path)
        for key in ("estimator", "rignet"):
            if not (folder / manifest[key]).is_file():
                raise RigError(f"bundle {folder} is missing its {key} file {manifest[key]}")
        G = bundle.load_generator(manifest["generator"], folder, device)
        model = bundle.load_morphable(manifest["morphable"], folder, device)
        est = load_estimator(folder / manifest["estimator"]).eval().requires_grad_(False).to(device or "cpu")
        rig = load_rignet(folder / manifest["rignet"], device)
        trained = bundle.trained_range_entry(manifest, str(folder / bundle.MANIFEST))
        for where, tr in (("manifest", trained), ("estimator metadata", trained_range_of(est))):
            if tr is not None and (tr.k_id != est.k_id or len(tr.low) != est.param_dim):
                raise RigError(f"bundle {folder}: the trained range in its {where} is for k_id={tr.k_id} "
                               f"({len(tr.low)} params), its estimator has k_id={est.k_id} ({est.param_dim} params)")
        return cls(G, model, est, rig, manifest.get("info"), device, trained,
                   manifest_landmarks(manifest, folder))

    # ---- latents and params -----------------------------------------------------------------
    @property
    def k_id(self) -> int:
        return self.model.num_identity

    @property
    def num_ws(self) -> int:
        return self.G.num_ws

    @property
    def w_dim(self) -> int:
        return self.G.w_dim

    @torch.no_grad()
    def sample(self, seed: int | list[int], truncation: float = 1.0) -> torch.Tensor:
        """ws (B, num_ws, w_dim) for seeds; z per seed as `facerig gan sample` (RandomState(seed))."""
        seeds = [seed] if isinstance(seed, int) else list(seed)
        z = np.concatenate([np.random.RandomState(int(s)).randn(1, self.G.z_dim) for s in seeds])
        z = torch.from_numpy(z).float().to(self.device)
        return self.G.mapping(z, None, truncation_psi=float(truncation))

    def check_ws(self, ws: torch.Tensor) -> torch.Tensor:
        """ws as a float tensor on the rig's device; RigError for the wrong shape."""
        ws = torch.as_tensor(ws, dtype=torch.float32, device=self.device)
        if ws.ndim == 2:
            ws = ws[None]
        if ws.ndim != 3 or tuple(ws.shape[1:]) != (self.num_ws, self.w_dim):
            raise RigError(f"latent must be (B, {self.num_ws}, {self.w_dim}) for this rig, got {tuple(ws.shape)}")
        return ws

    @torch.no_grad()
    def params(self, ws: torch.Tensor) -> FaceParams:
        """Estimated FaceParams of latents (expression clamped to [0, 1])."""
        return self.estimator.params(self.check_ws(ws))

    @torch.no_grad()
    def target(self, ws: torch.Tensor, yaw: float | None = None, pitch: float | None = None,
               roll: float | None = None, expression: dict | None = None, light: str | torch.Tensor | None = None,
               identity: torch.Tensor | None = None, relative: bool = False) -> torch.Tensor:
        """Flat target params (B, 137): F(ws) with the named blocks replaced (or offset when relative)."""
        ws = self.check_ws(ws)
        vec = self.estimator(ws).clone()
        p = FaceParams.from_vector(vec, self.k_id)
        set_pose_and_expression(p, yaw, pitch, roll, expression, relative)
        if light is not None:
            if isinstance(light, str):
                from morphable.lighting import preset

                try:
                    lt = preset(light, ws.shape[0], device=self.device)
                except MorphableError as exc:
                    raise RigError(str(exc)) from None
            else:
                lt = torch.as_tensor(light, dtype=vec.dtype, device=self.device).reshape(-1, 9, 3).expand(ws.shape[0], 9, 3)
            p.light[:] = p.light + lt if relative else lt
        if identity is not None:
            ident = torch.as_tensor(identity, dtype=vec.dtype, device=self.device).reshape(-1, self.k_id)
            p.identity[:] = p.identity + ident if relative else ident
        return p.to_vector()

    @torch.no_grad()
    def edit(self, ws: torch.Tensor, yaw: float | None = None, pitch: float | None = None,
             roll: float | None = None, expression: dict | None = None, light: str | torch.Tensor | None = None,
             identity: torch.Tensor | None = None, relative: bool = False) -> torch.Tensor:
        """Edited latents: RigNet(ws, target) with the given blocks changed (degrees, ARKit weights, SH)."""
        ws = self.check_ws(ws)
        tgt = self.target(ws, yaw, pitch, roll, expression, light, identity, relative)
        return self.rignet(ws, tgt)

    def range_warning(self, yaw: float | None = None, pitch: float | None = None, roll: float | None = None,
                      expression: dict | None = None, sweep: tuple[str, list[float]] | None = None) -> str | None:
        """One line naming the absolute commands outside the trained range (None when all are inside).

        `sweep` = (name, values) as `facerig edit --sweep` parses it. Such edits are still made; they
        extrapolate beyond what F was trained on and tend to change the person.
        """
        if self.trained_range is None:
            return None
        lo_pct, hi_pct = self.trained_range.percentiles
        commands = [("yaw", yaw), ("pitch", pitch), ("roll", roll), *(expression or {}).items()]
        if sweep is not None:
            commands += [(sweep[0], v) for v in (min(sweep[1]), max(sweep[1]))]
        out = []
        for name, value in commands:
            if value is None:
                continue
            try:
                low, high = self.trained_range.bounds(name)
            except (MorphableError, ValueError, KeyError):
                continue  # unknown names are reported by target()
            if not low - 1e-6 <= float(value) <= high + 1e-6:
                out.append(f"{name}={float(value):g} (trained {low:.3g}..{high:.3g})")
        if not out:
            return None
        return (f"warning: outside the range the rig was trained on ({lo_pct:g}th..{hi_pct:g}th percentile of "
                f"F's labels), the edit extrapolates: {', '.join(out)}")

    @torch.no_grad()
    def frames(self, ws: torch.Tensor, targets: FaceParams, batch: int = 16, progress: bool = False,
               desc: str = "frames") -> np.ndarray:
        """uint8 frames (T,H,W,3) of one face `ws` (1,num_ws,w_dim) driven to each of T target params."""
        from tqdm import tqdm

        ws = self.check_ws(ws)[:1]
        vec = targets.to_vector().to(self.device)
        out = []
        for start in tqdm(range(0, len(vec), batch), desc=desc, unit="batch", disable=not progress):
            chunk = vec[start:start + batch]
            out.append(self.to_uint8(self.image(self.rignet(ws.expand(len(chunk), -1, -1), chunk))))
        return np.concatenate(out)

    @property
    def takes_bf16(self) -> bool:
        """True for facerig's StyleGAN2 (its synthesis has the bf16 inference path, gan/fast.py); not the DCGAN."""
        from gan.synthesis import has_bf16_path

        return has_bf16_path(self.G)

    def set_compute_dtype(self, bf16: bool) -> bool:
        """Synthesise in bf16 from now on (or fp32 again); returns whether bf16 is in use (False for a DCGAN)."""
        self.compute_dtype = torch.bfloat16 if bf16 and self.takes_bf16 else torch.float32
        return self.compute_dtype == torch.bfloat16

    @torch.no_grad()
    def image(self, ws: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        """Synthesised images (B, 3, H, W) in [-1, 1], constant noise, in `dtype` (default compute_dtype;
        a generator without a bf16 path always runs fp32)."""
        dtype = dtype or self.compute_dtype
        if dtype != torch.float32 and self.takes_bf16:
            return self.G.synthesis(self.check_ws(ws), noise_mode="const", compute_dtype=dtype).clamp(-1, 1)
        return self.G.synthesis(self.check_ws(ws), noise_mode="const").clamp(-1, 1)

    @staticmethod
    def to_uint8(images: torch.Tensor) -> np.ndarray:
        """(B,3,H,W) in [-1,1] -> (B,H,W,3) uint8 (gan.fileio's convention)."""
        from gan.fileio import to_uint8

        return to_uint8(images)


def set_pose_and_expression(p: FaceParams, yaw: float | None = None, pitch: float | None = None,
                            roll: float | None = None, expression: Mapping[str, float] | None = None,
                            relative: bool = False) -> FaceParams:
    """morphable.params.set_pose_and_expression (in place on `p`), an unknown expression name as a RigError."""
    try:
        return set_params(p, yaw, pitch, roll, expression, relative)
    except MorphableError as exc:
        raise RigError(str(exc)) from None


def manifest_landmarks(manifest: dict, folder: Path | str = "") -> str:
    """The manifest's landmark backend; LEGACY_LANDMARKS when absent (bundles before the field used dlib)."""
    value = manifest.get("landmarks", LEGACY_LANDMARKS)
    if value not in RECORDED_LANDMARKS:
        raise RigError(f"bundle {folder}: 'landmarks' must be one of {', '.join(RECORDED_LANDMARKS)}, got {value!r}")
    return value


def default_bundle() -> Path:
    """The committed default bundle folder (assets/rig/dcgan64)."""
    return Path(__file__).resolve().parents[1] / "assets" / "rig" / "dcgan64"
