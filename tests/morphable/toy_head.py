"""A small MorphableModel for renderer/export tests: an icosphere 'head' with smooth bases."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import trimesh

from morphable.arkit import expression_index
from morphable.model import MorphableModel

RADIUS = 0.1
DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "assets" / "morphable" / "default.npz"


def toy_head(subdivisions: int = 3, k_id: int = 4, k_alb: int = 2) -> MorphableModel:
    """Icosphere of radius 0.1 m; smooth identity, jawOpen and albedo bases; UVs; front landmarks."""
    sph = trimesh.creation.icosphere(subdivisions=subdivisions, radius=RADIUS)
    verts = torch.tensor(sph.vertices, dtype=torch.float32)
    unit = verts / RADIUS
    v = verts.shape[0]
    ident = torch.stack([unit * torch.sin(2.0 * unit[:, [k % 3]] + k)[:, :1] for k in range(k_id)])
    ident = ident / ident.flatten(1).norm(dim=1)[:, None, None]
    expr = torch.zeros(52, v, 3)
    lower = (unit[:, 1] < 0).float()
    expr[expression_index("jawOpen"), :, 1] = -0.02 * lower * (-unit[:, 1])
    alb_mean = 0.45 + 0.25 * torch.stack([torch.sin(4 * unit[:, 0]), torch.cos(3 * unit[:, 1]),
                                          torch.sin(3 * unit[:, 0] + 2 * unit[:, 1])], -1)
    alb_basis = torch.stack([torch.cos(2 * unit + k).mul(0.1) for k in range(k_alb)])
    front = torch.nonzero(unit[:, 2] > 0.5).flatten()
    landmarks = front[torch.linspace(0, len(front) - 1, 68).long()]
    uvs = torch.stack([0.5 + torch.atan2(unit[:, 0], unit[:, 2]) / (2 * np.pi),
                       0.5 + torch.asin(unit[:, 1].clamp(-1, 1)) / np.pi], -1)
    faces = torch.tensor(sph.faces, dtype=torch.int64)
    return MorphableModel(
        name="toy", template=verts, faces=faces, identity_basis=ident,
        identity_std=torch.full((k_id,), 0.01), expression_basis=expr, landmarks=landmarks,
        albedo_mean=alb_mean.clamp(0, 1), albedo_basis=alb_basis, albedo_std=torch.ones(k_alb),
        uvs=uvs, face_uvs=faces.clone(), regions={"face": unit[:, 2] > 0})
