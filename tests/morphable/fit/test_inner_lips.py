"""The landmark fit's inner-lip option: MediaPipe's whole inner-lip ring fitted at a chosen weight (the photo
fit's), the trackers' default set and weights untouched."""
from __future__ import annotations

import numpy as np
import torch

from morphable.fit.landmark_fit import LandmarkFitConfig, LandmarkFitter
from morphable.fit.landmark_set import MESH_INNER_LIPS, mesh_set, mesh_table, with_inner_lips

from ..fit_helpers import default_model


def test_the_default_set_holds_few_inner_lip_points_and_the_option_adds_the_ring():
    model = default_model()
    base = mesh_set(model)
    assert base.inner_lips.sum() <= 5          # 3 of 20 today: too few to tell the lips apart
    lips = with_inner_lips(base, model)
    table = mesh_table(model)[0]
    mapped = [r for r in MESH_INNER_LIPS if table[r] >= 0]
    assert sorted(lips.mesh_rows[lips.inner_lips].tolist()) == sorted(mapped)
    assert len(mapped) >= 16
    n = len(base)
    assert np.array_equal(lips.mesh_rows[:n], base.mesh_rows)      # the old rows first, as they were
    assert torch.equal(lips.vertices[:n], base.vertices) and torch.equal(lips.weights[:n], base.weights)
    assert torch.equal(lips.vertices[n:], torch.as_tensor(table[lips.mesh_rows[n:]]).to(lips.vertices.dtype))
    assert lips.depth_offsets.shape == (len(lips), 3) and lips.iod == base.iod


def test_lip_weight_scales_only_the_ring_and_the_default_config_changes_nothing():
    model = default_model()
    yaw = torch.zeros(2, dtype=torch.float64)
    plain = LandmarkFitter(model, landmark_set=mesh_set(model))
    assert torch.equal(plain.weights(yaw), mesh_set(model).weights.expand(2, -1).to(torch.float64))
    fitter = LandmarkFitter(model, config=LandmarkFitConfig(inner_lips=True, lip_weight=4.0),
                            landmark_set=mesh_set(model))
    w = fitter.weights(yaw)
    ring = torch.as_tensor(fitter.set.inner_lips)
    assert len(fitter.set) > len(plain.set)
    assert torch.all(w[:, ring] == 4.0 * fitter.set.weights[ring])
    assert torch.all(w[:, ~ring] == fitter.set.weights[~ring])
