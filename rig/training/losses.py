"""RigNet's training losses: StyleRig's cycles through the frozen estimator F, no generator in the loop.

For latent pairs (v, w):
  reconstruction  RigNet(v, F(v)) = v
  edit            target = F(v) with block b (or some of its dims) taken from F(w) -- or, for a share of
                  the batch, drawn uniformly over the range users command that F's data covers; v' = RigNet(v, target);
                  F(v') must equal the target on the edited dims, in parameter space (angles in units
                  of 5 degrees, expression weights of 0.1, the rest of F's target std) and through differentiable renders of the 3DMM (photometric L1 on the
                  face region + 2D landmarks, pytorch3d at `size` px)
  consistency     the non-edited dims of F(v') stay those of F(v)
  latent          ||delta||^2 (whitened) and keeping |v'| on the shell of |v| (in distribution).
  identity        (optional) the edit keeps the face's dlib descriptor as predicted from the latent by
                  an identity proxy (rig/identity_proxy.py): |P(v') - P(v)|^2 in units of 0.45^2.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from morphable.fit.photometric import face_submodel
from morphable.model import MorphableModel
from morphable.params import FaceParams
from morphable.render import Renderer

EDIT_BLOCKS = ("pose", "expression", "light", "identity")

#: commanded ranges for the uniform targets: yaw, pitch, roll (deg); expression weights
UNIFORM_POSE = ((-30.0, 30.0), (-20.0, 20.0), (-15.0, 15.0))
UNIFORM_EXPRESSION = (0.0, 1.0)
#: expression errors are measured in units of this weight (ARKit weights live in [0, 1])
EXPRESSION_SCALE = 0.1
#: pose-angle errors are measured in units of this many degrees
ANGLE_SCALE = 5.0
#: expression dims F varies at least this much (std) get subset edits and uniform targets
ACTIVE_EXPRESSION_STD = 0.05
#: uniform targets stay within F's own range: mean +- this many of its stds (and the ranges above)
UNIFORM_STDS = 2.5
#: descriptor distance the identity term is measured in (the rig's same-person goal)
IDENTITY_SCALE = 0.45


@dataclass
class RigLossWeights:
    """Loss weights (see docs/rig.md for how they were chosen)."""

    recon: float = 10.0
    edit: float = 1.0
    consistency: float = 1.0
    photometric: float = 2.0
    landmarks: float = 2.0
    delta: float = 0.01
    shell: float = 0.1
    identity: float = 0.0


def block_dims(k_id: int, block: str) -> slice:
    """Flat-vector dims one edit block covers; 'pose' means the three angles (translation stays)."""
    lay = FaceParams.layout(k_id)
    if block == "pose":
        return slice(lay["pose"].start, lay["pose"].start + 3)
    return lay[block]


class RigLoss:
    """Computes the rig losses for a batch; holds the frozen estimator and a small face renderer."""

    def __init__(self, estimator: torch.nn.Module, model: MorphableModel, k_id: int,
                 blocks: tuple[str, ...] = ("pose", "expression", "light"), size: int = 64,
                 render_batch: int = 8, weights: RigLossWeights | None = None,
                 subset_prob: float = 0.5, uniform_prob: float = 0.3, cell: float = 0.012,
                 identity_proxy: torch.nn.Module | None = None):
        self.F = estimator.eval().requires_grad_(False)
        self.proxy = identity_proxy.eval().requires_grad_(False) if identity_proxy is not None else None
        if self.proxy is None and (weights or RigLossWeights()).identity:
            raise ValueError("an identity loss weight needs an identity proxy")
        self.k_id, self.blocks = k_id, tuple(blocks)
        self.weights = weights or RigLossWeights()
        self.render_batch, self.subset_prob, self.uniform_prob = render_batch, subset_prob, uniform_prob
        self.renderer = Renderer(face_submodel(model, "face", cell=cell), size) if render_batch > 0 else None
        self.size, self.cell = size, cell
        std = estimator.target_std.detach().clone()
        lay = FaceParams.layout(k_id)
        expr = lay["expression"]
        #: dims F actually varies (its stored std is exactly 1 for dims constant in its training data)
        self.active = std != 1.0
        self.active[expr] &= std[expr] >= ACTIVE_EXPRESSION_STD
        self.scale = std.clone()
        self.scale[expr] = EXPRESSION_SCALE
        self.scale[lay["pose"].start:lay["pose"].start + 3] = ANGLE_SCALE
        mean = estimator.target_mean.detach()
        self.low, self.high = mean - UNIFORM_STDS * std, mean + UNIFORM_STDS * std
        for j, (lo, hi) in enumerate(UNIFORM_POSE):
            k = lay["pose"].start + j
            self.low[k], self.high[k] = max(lo, float(self.low[k])), min(hi, float(self.high[k]))
        self.low[expr] = self.low[expr].clamp(*UNIFORM_EXPRESSION)
        self.high[expr] = self.high[expr].clamp(*UNIFORM_EXPRESSION)

    def config(self) -> dict:
        return {"blocks": list(self.blocks), "size": self.size, "render_batch": self.render_batch,
                "subset_prob": self.subset_prob, "uniform_prob": self.uniform_prob, "cell": self.cell,
                "weights": asdict(self.weights)}

    def make_target(self, p_v: torch.Tensor, p_w: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Edit targets and their (B, D) edited-dims mask: one block per row, all or a random subset of its dims."""
        b, d = p_v.shape
        choice = torch.randint(len(self.blocks), (b,), generator=gen)
        subset = torch.rand(b, generator=gen) < self.subset_prob
        uniform = torch.rand(b, generator=gen) < self.uniform_prob
        keep = torch.rand(b, d, generator=gen) < 0.3
        u = torch.rand(b, d, generator=gen)
        mask = torch.zeros(b, d, dtype=torch.bool)
        source = p_w.clone()
        for i, name in enumerate(self.blocks):
            rows = choice == i
            dims = block_dims(self.k_id, name)
            block_mask = torch.zeros(d, dtype=torch.bool)
            block_mask[dims] = True
            cand = block_mask & self.active
            sub = keep & cand
            first = int(torch.nonzero(cand)[0]) if cand.any() else dims.start
            sub[~sub.any(1), first] = True  # a subset has at least one dim
            mask[rows] = torch.where(subset[rows, None], sub[rows], block_mask.expand(int(rows.sum()), d))
            if name in ("pose", "expression"):
                s = dims
                pick = (uniform & rows)[:, None] & self.active[s]
                value = self.low[s] + (self.high[s] - self.low[s]) * u[:, s]
                source[:, s] = torch.where(pick, value, source[:, s])
        target = torch.where(mask, source, p_v)
        return target, mask

    def render_terms(self, pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Photometric L1 (face pixels both renders cover) and landmark distance (fraction of the image)."""
        n = min(self.render_batch, pred.shape[0])
        p = FaceParams.from_vector(pred[:n], self.k_id)
        t = FaceParams.from_vector(target[:n], self.k_id)
        with torch.no_grad():
            rt = self.renderer(t)
        rp = self.renderer(p)
        both = rt.mask * rp.mask
        photo = ((rp.image - rt.image).abs() * both).sum() / (3 * both.sum()).clamp_min(1.0)
        lmk = (rp.landmarks2d - rt.landmarks2d).norm(dim=-1).mean() / self.size
        return photo, lmk

    def __call__(self, rignet: torch.nn.Module, v: torch.Tensor, w: torch.Tensor,
                 gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        """Total loss and its named terms for latents v, w (B, num_ws, w_dim)."""
        wt = self.weights
        with torch.no_grad():
            p_v, p_w = self.F(v), self.F(w)
        recon_delta = rignet.delta(v, p_v)
        recon = (recon_delta / rignet.w_std[:, None]).pow(2).mean()

        target, mask = self.make_target(p_v, p_w, gen)
        delta = rignet.delta(v, target)
        v_edit = v + delta
        p_e = self.F(v_edit)
        err = ((p_e - target) / self.scale).pow(2)
        m = mask.to(err.dtype)
        edit = (err * m).sum() / m.sum().clamp_min(1.0)
        consistency = (err * (1 - m)).sum() / (1 - m).sum().clamp_min(1.0)
        delta_reg = (delta / rignet.w_std[:, None]).pow(2).mean()

        def mean_sq(x: torch.Tensor) -> torch.Tensor:
            return ((x - rignet.w_mean) / rignet.w_std[:, None]).pow(2).mean(-1)

        shell = (mean_sq(v_edit) - mean_sq(v)).pow(2).mean()
        total = (wt.recon * recon + wt.edit * edit + wt.consistency * consistency
                 + wt.delta * delta_reg + wt.shell * shell)
        terms = {"recon": recon, "edit": edit, "consistency": consistency, "delta": delta_reg, "shell": shell}
        if self.proxy is not None:
            with torch.no_grad():
                d_v = self.proxy(v)
            identity = (self.proxy(v_edit) - d_v).pow(2).sum(-1).mean() / IDENTITY_SCALE ** 2
            total = total + wt.identity * identity
            terms["identity"] = identity
        if self.renderer is not None and (wt.photometric or wt.landmarks):
            photo, lmk = self.render_terms(p_e, target)
            total = total + wt.photometric * photo + wt.landmarks * lmk
            terms.update(photometric=photo, landmarks=lmk)
        terms["total"] = total
        return total, {k: float(t.detach()) for k, t in terms.items()}
