"""Small geometric helpers shared by the fitting stages: landmark bases, inter-ocular distance."""
from __future__ import annotations

import torch

from ..model import MorphableModel

#: outer eye corners in iBUG-68 (the 300-W "inter-ocular" normalisation)
OUTER_EYE_CORNERS = (36, 45)


def inter_ocular(points: torch.Tensor, pair: tuple[int, int] = OUTER_EYE_CORNERS) -> torch.Tensor:
    """Distance between the outer eye corners (rows `pair`; iBUG-68 by default) of (B,N,2) points -> (B,)."""
    a, b = pair
    return (points[:, b] - points[:, a]).norm(dim=-1)


def landmark_error_iod(pred: torch.Tensor, target: torch.Tensor,
                       pair: tuple[int, int] = OUTER_EYE_CORNERS) -> torch.Tensor:
    """Mean point-to-point distance (B,) as a percentage of the target's inter-ocular distance."""
    err = (pred - target).norm(dim=-1).mean(-1)
    return 100.0 * err / inter_ocular(target, pair).clamp_min(1e-9)


def model_landmark_bases(model: MorphableModel) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean (68,3), identity basis with std folded in (K,68,3), expression basis (52,68,3)."""
    idx = model.landmarks
    mean = model.template[idx]
    ident = model.identity_basis[:, idx] * model.identity_std[:, None, None]
    expr = model.expression_basis[:, idx]
    return mean.cpu(), ident.cpu(), expr.cpu()


def vertex_bases(model: MorphableModel, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Like model_landmark_bases for any vertex indices (N,): (N,3), (K,N,3), (52,N,3)."""
    idx = index.to(model.template.device)
    ident = model.identity_basis[:, idx] * model.identity_std[:, None, None]
    return model.template[idx].cpu(), ident.cpu(), model.expression_basis[:, idx].cpu()


def face_centre(model: MorphableModel) -> torch.Tensor:
    """(3,) model-space centre of the face: the mean shape's iBUG-68 landmarks' centroid (metres; the pose
    filter smooths where this point sits, morphable.fit.smoothing.face_centred)."""
    return model.template[model.landmarks].mean(0).detach().cpu().double()
