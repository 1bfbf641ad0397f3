"""A photo fit's jawOpen set from the photo's own inner-lip gap (MediaPipe), against the fitted model's lips.

Why: the landmark fit spreads a real mouth's opening over look-alike shapes and MediaPipe's regressed
mesh pulls the lips together: tpsmm_driving's frame 0, lips 0.11 inter-ocular distances apart in
MediaPipe's mesh, was fitted at jawOpen 0.08 (the model's lips 0.02 apart), and a reenactment could
not close that mouth (a closing driver took jawOpen to 0 and the photo's lips barely moved). As
the tracker does (mesh_expression.open_mouth), the gap is read geometrically: jawOpen is set so that
the fitted model's inner lips (the vertices MediaPipe's inner-lip points map to), projected at the
fitted pose, part by what MediaPipe's inner lips do in the photo, both in units of the projected
inter-ocular distance. The model's opening counts from its lips at every expression weight 0
(touching), so what the other fitted weights open is kept and jawOpen makes up the rest.
"""
from __future__ import annotations

import numpy as np
import torch

from ..arkit import ARKIT_NAMES
from ..camera import Camera
from ..model import MorphableModel
from ..params import FaceParams
from .landmark_set import mesh_table
from .mesh_expression import EYE_CORNERS, LIP_GAP, lip_gaps

JAW_OPEN = ARKIT_NAMES.index("jawOpen")
#: jawOpen values at which the model's opening is evaluated (the reading interpolates between them)
STEPS = 101


def photo_gap(mesh: np.ndarray) -> float:
    """The inner lips' gap of one MediaPipe mesh (468,2|3) px, in units of its outer eye corners' distance."""
    m = np.asarray(mesh, np.float64)[None]
    return float(lip_gaps(m)[0] / np.linalg.norm(m[0, EYE_CORNERS[0], :2] - m[0, EYE_CORNERS[1], :2]))


def model_openings(model: MorphableModel, camera: Camera, params: FaceParams, jaw: np.ndarray) -> np.ndarray:
    """(K,) inner-lip opening of the fitted face (one row of params) at each jawOpen in `jaw`, other blocks as given.

    Per MediaPipe lip pair: the projected lower-minus-upper lip offset, less the same offset with all
    expression weights 0, along the image direction in which jawOpen parts that pair; the mean over the
    pairs, divided by the projected distance of the outer eye corners' vertices (of the given params).
    """
    table = mesh_table(model)[0]
    upper = [int(table[u]) for u, _ in LIP_GAP]
    lower = [int(table[lo]) for _, lo in LIP_GAP]
    corners = [int(table[c]) for c in EYE_CORNERS]
    jaw = np.asarray(jaw, np.float64)
    p = params[0:1]
    expr = p.expression.detach().to(model.template.dtype).repeat(len(jaw) + 2, 1)
    expr[2:, JAW_OPEN] = torch.as_tensor(jaw, dtype=expr.dtype)
    expr[:2] = 0.0
    expr[1, JAW_OPEN] = 1.0                            # row 0: rest (lips touching); row 1: jawOpen alone
    rows = p.map(lambda t: t.detach().to(model.template.dtype).expand(len(jaw) + 2, *t.shape[1:]).clone())
    with torch.no_grad():
        verts = model.vertices(rows.replace(expression=expr))
        ndc = camera.to_ndc(verts[:, upper + lower + corners]).double().cpu().numpy()   # (K+2, 8, 2)
    n = len(upper)
    offset = ndc[:, n:2 * n] - ndc[:, :n]                            # (K+2, pairs, 2) lower minus upper
    direction = offset[1] - offset[0]
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    opening = ((offset[2:] - offset[0]) * direction).sum(-1).mean(-1)
    with torch.no_grad():
        fitted = model.vertices(p.map(lambda t: t.detach().to(model.template.dtype)))
        eyes = camera.to_ndc(fitted[:, corners]).double().cpu().numpy()[0]
    return opening / np.linalg.norm(eyes[0] - eyes[1])


def read_jaw_open(model: MorphableModel, camera: Camera, params: FaceParams, mesh: np.ndarray) -> float:
    """The jawOpen in [0, 1] at which the fitted face's lips part by the photo's gap (`mesh`: its MediaPipe mesh)."""
    jaw = np.linspace(0.0, 1.0, STEPS)
    opening = np.maximum.accumulate(model_openings(model, camera, params, jaw))
    return float(np.interp(photo_gap(mesh), opening, jaw))


def with_photo_jaw_open(model: MorphableModel, camera: Camera, params: FaceParams, mesh: np.ndarray) -> FaceParams:
    """`params` (one row) with jawOpen read from the photo's inner-lip gap (read_jaw_open); all else as fitted."""
    expr = params.expression.detach().clone()
    expr[0, JAW_OPEN] = read_jaw_open(model, camera, params, mesh)
    return params.replace(expression=expr)
