"""Candidate vertices for the jaw-contour landmarks (iBUG 0-16) of a morphable model.

A detector puts the contour points on the face's visible outline. When the head turns, the
outline on the far side is no longer the model's fixed contour vertex but a vertex further
back on the same horizontal line of the cheek ("landmark marching", as in 3DDFA, Zhu et al.
CVPR 2016). Each contour landmark gets the template vertices near its height, on its side,
from its depth back by CANDIDATE_DEPTH; the fitter moves it to the outermost projected one.
"""
from __future__ import annotations

import torch

from ..model import MorphableModel

CANDIDATE_BAND = 0.004   # metres above/below the landmark's height
CANDIDATE_DEPTH = 0.03   # metres behind the landmark (stops before the ear)
MAX_CANDIDATES = 60


def contour_candidates(model: MorphableModel) -> list[tuple[int, torch.Tensor, int]]:
    """[(landmark j, candidate vertex ids (n,), side +1/-1 = sign of x)] for jaw points 0-16 but the chin."""
    tpl = model.template.detach().cpu().double()
    out = []
    for j in list(range(0, 8)) + list(range(9, 17)):
        vid = int(model.landmarks[j])
        x, y, z = tpl[vid].tolist()
        side = 1 if x > 0 else -1
        ok = ((tpl[:, 1] - y).abs() < CANDIDATE_BAND) & (tpl[:, 0] * side >= abs(x) - 0.002) \
            & (tpl[:, 2] <= z + 0.002) & (tpl[:, 2] >= z - CANDIDATE_DEPTH)
        cand = torch.nonzero(ok).flatten()
        if len(cand) > MAX_CANDIDATES:  # keep an even spread along the depth
            order = torch.argsort(tpl[cand, 2])
            cand = cand[order[torch.linspace(0, len(cand) - 1, MAX_CANDIDATES).round().long()]]
        cand = torch.unique(torch.cat([torch.tensor([vid]), cand]))
        out.append((j, cand, side))
    return out
