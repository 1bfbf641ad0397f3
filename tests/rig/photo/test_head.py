"""The head proxy (rig.photo.head): the outline, jaw line and hair follow a turn; expression edits are untouched."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.ndimage import distance_transform_edt

from rig.photo.extend import extend
from rig.photo.flow import FlowBuilder
from rig.photo.head import HeadProxy
from rig.photo.photo_rig import PhotoRig
from rig.photo.soft import box_max

S = 128
CLIP = Path(__file__).resolve().parents[4] / "shared" / "data" / "real-faces" / "sadtalker_WDA_KatieHill_000.mp4"


def _band_truth(fb: FlowBuilder, src, target) -> tuple[torch.Tensor, torch.Tensor]:
    """The face-region pixels outside the fixed ones (the cheek band at the outline) and the mesh's own
    displacement there (its surface points projected in the source)."""
    fl = fb.flow(src, target)
    r = fl.target.raster
    face = r.face.clamp_min(0)
    band = r.hit & fb.skin_tri[face] & ~fl.known & ~fl.holes & ~fl.mirrored & ~fl.mouth_fill
    rows, cols = torch.nonzero(band, as_tuple=True)
    uv = fb.camera.project(fb.surface_points(src, face[rows, cols], r.bary[rows, cols])[None], S)[0]
    return band, (uv - torch.stack([cols.float() + 0.5, rows.float() + 0.5], -1)).T


def test_the_proxy_carries_the_cheek_band_with_a_turn_and_holds_the_silhouette(model):
    fb = FlowBuilder(model, S)
    a = model.random_params(1, seed=7)
    src = fb.view(a)
    for turn in ({"yaw": 15}, {"yaw": -15}, {"pitch": 10}):
        b = a.with_pose(**{k: float(getattr(a, k)[0]) + v for k, v in turn.items()})
        fl = fb.flow(src, b)
        assert fl.head is not None and float(fl.head.weight.max()) > 0
        band, truth = _band_truth(fb, src, b)
        # px from the mesh's silhouette (its coverage's edge), at the band's pixels
        inside = torch.from_numpy(distance_transform_edt(fl.target.raster.hit.numpy())).float()[band]
        deep, rim = inside > 8, inside <= 2
        assert int(deep.sum()) > 100 and int(rim.sum()) > 50
        with_proxy = extend(fl.disp, fl.known, guide_disp=fl.guide_disp, guide=fl.guide, proxy=fl.head)[:, band]
        without = extend(fl.disp, fl.known, guide_disp=fl.guide_disp, guide=fl.guide)[:, band]
        err, err0 = [float((d - truth)[:, deep].norm(dim=0).mean()) for d in (with_proxy, without)]
        # measured: yaw +-15 0.05-0.06 px against 0.94-0.98 without the proxy; pitch 10 0.07 against 0.44
        assert err < 0.3 * err0, (turn, err, err0)
        if "yaw" not in turn:
            continue
        # a turn: the face's skin reaches the mesh's silhouette on the side turning away (the mesh's own source point
        # lies inward, toward the mesh's middle), and there the outline stays (the head centre does not move here):
        # measured 1.06-1.08 px against the mesh's own 6.9 at yaw +-15
        rr, cc = torch.nonzero(band, as_tuple=True)
        hr, hc = torch.nonzero(fl.target.raster.hit, as_tuple=True)
        to_middle = torch.stack([hc.float().mean() - cc, hr.float().mean() - rr])
        away = rim & ((truth * to_middle).sum(0) > 0)
        assert int(away.sum()) > 100
        held, own = [float(d[:, away].norm(dim=0).mean()) for d in (with_proxy, truth)]
        assert held < 0.3 * own, (turn, held, own)


def test_the_background_far_from_the_head_stays_still(model):
    fb = FlowBuilder(model, S)
    a = model.random_params(1, seed=8)
    b = a.with_pose(yaw=float(a.yaw[0]) + 20)
    fl = fb.flow(fb.view(a), b)
    weight = fl.head.weight
    assert float(weight.max()) > 0.9
    edge = torch.cat([weight[0], weight[-1], weight[:, 0], weight[:, -1]])
    assert float(edge.max()) == 0.0                # held still at the frame's edge
    r, tv = fl.target.raster, fl.target
    rows, cols = torch.nonzero(r.hit, as_tuple=True)
    pts = fb.surface_points(tv, r.face[rows, cols], r.bary[rows, cols])
    neck = fb.jaw.neck_fade((pts - tv.translation) @ tv.rotation) == 0.0     # 3 cm and more below the jaw
    # ... and over 9 px (3 sigma of the weight's blur) from the face region
    near_face = box_max((r.hit & fb.skin_tri[r.face.clamp_min(0)]).float()[None], 19)[0] > 0
    neck &= ~near_face[rows, cols]
    assert int(neck.sum()) > 50 and float(weight[rows[neck], cols[neck]].max()) < 0.05
    out = extend(fl.disp, fl.known, guide_disp=fl.guide_disp, guide=fl.guide, proxy=fl.head)
    plain = extend(fl.disp, fl.known, guide_disp=fl.guide_disp, guide=fl.guide)
    for side in (slice(0, 2), slice(-2, None)):   # the frame's sides move no more than without the proxy
        assert float(out[:, :, side].abs().max()) <= float(plain[:, :, side].abs().max()) + 0.2


def test_no_proxy_without_a_pose_change(model):
    fb = FlowBuilder(model, S)
    a = model.random_params(1, seed=9)
    fl = fb.flow(fb.view(a), a.with_expression({"jawOpen": 0.4, "mouthSmileLeft": 0.5}))
    assert fl.head is None      # the coarse head hint only, as before the proxy


def test_a_zero_weight_proxy_is_the_plain_extension(square_flow):
    disp, known = square_flow
    s = disp.shape[-1]
    guide = torch.zeros(s, s, dtype=torch.bool)
    guide[16:24, 20:44] = True
    gd = torch.zeros(2, s, s)
    gd[:, guide] = 1.0
    plain = extend(disp, known, coarse=16, guide_disp=gd, guide=guide)
    zero = extend(disp, known, coarse=16, guide_disp=gd, guide=guide, proxy=HeadProxy(gd, torch.zeros(s, s)))
    assert torch.equal(plain, zero)
    # and a weighted proxy is followed where its weight is
    w = torch.zeros(1, s, s)
    w[0, 44:52, 24:40] = 4.0
    goal = torch.tensor([-3.0, 4.0])[:, None, None]
    pulled = extend(disp, known, coarse=16, guide_disp=gd, guide=guide, proxy=HeadProxy(goal.expand(2, s, s), w[0]))
    assert float((pulled[:, 46:50, 28:36] - goal).abs().max()) < 0.5 < float((plain[:, 46:50, 28:36] - goal).abs().min())


def _frame0() -> np.ndarray:
    if not CLIP.exists():
        pytest.skip(f"shared data absent: {CLIP}")
    from rig.inputs import open_driver

    return open_driver(CLIP, max_frames=1)[0][0]


@pytest.fixture(scope="module")
def katie() -> PhotoRig:
    img = _frame0()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return PhotoRig.from_photo(img)


def test_an_expression_edit_is_drawn_as_without_the_proxy(katie, monkeypatch):
    target = katie.target(expression={"jawOpen": 0.3, "mouthSmileLeft": 0.4}, relative=True)
    out = katie.render(target)
    monkeypatch.setattr(FlowBuilder, "head", lambda self, *a: None)
    assert np.array_equal(out, katie.render(target))


@pytest.mark.slow
def test_the_render_shows_more_of_a_turn_with_the_proxy(katie):
    """Known answer: commanded relative yaw, read by the self-reenactment bench's grader (dlib 68 + 3DMM fit)."""
    from bench.bench_selfreenact import Grader

    grader = Grader(katie.model)
    turns = (-15.0, 15.0)
    gains = {}
    for guided in (False, True):
        katie.head_guide = guided
        outs = [katie.image] + [katie.render(katie.target(yaw=y, relative=True)) for y in turns]
        yaw = grader(outs, identity=False).pose[:, 0]
        gains[guided] = float(np.dot(yaw[1:] - yaw[0], turns) / np.dot(turns, turns))
    katie.head_guide = True
    # measured (2026-12-08): 0.66 without the head guide, 0.90 with the proxy; with the outline held on the side
    # turning away (rig.photo.head.SILHOUETTE_PX) 0.99, and 0.57 without the guide (its fixed flow then stops
    # rig.photo.flow.HEAD_MARGIN_PX inside the outline)
    assert gains[True] > gains[False] + 0.15 and gains[True] > 0.9, gains
