"""The mouth inpainter's data and training on real UTKFace faces: open mouths found, exact resume, held-out split."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rig.training.mouth_data import CROP, INNER_LIP, MouthSet, build_mouth_set, held_out
from rig.training.mouth_training import MouthData, MouthTrainConfig, train_mouth


@pytest.fixture(scope="module")
def mouths(utkface_zip, tmp_path_factory):
    pytest.importorskip("mediapipe")
    found = build_mouth_set(utkface_zip, min_opening=0.08, limit=80)
    if len(found.names) < 8:
        pytest.skip("too few open mouths among the first UTKFace photos")
    path = tmp_path_factory.mktemp("mouths") / "mouths.npz"
    found.save(path)
    return found, path


def test_open_mouths_are_cropped_around_their_inner_lips(mouths):
    found, _ = mouths
    assert found.crops.shape[1:] == (CROP, CROP, 3) and found.lips.shape[1:] == (len(INNER_LIP), 2)
    assert (found.openings >= 0.08).all()
    # the crop is centred on the inner lips, and the mouth is ~1/1.6 of the crop wide
    centre = found.lips.mean(1)
    assert np.abs(centre - CROP / 2).max() < 1.0
    width = found.lips[:, :, 0].max(1) - found.lips[:, :, 0].min(1)
    assert 0.4 * CROP < np.median(width) < 0.7 * CROP
    # inside the opening (teeth, tongue, shadow) differs from the lips around it
    from rig.photo.mouth import polygon_mask

    diff = []
    for crop, lips in zip(found.crops, found.lips):
        m = polygon_mask(lips, CROP).astype(bool)
        ring = (polygon_mask(lips * 1.0 + (lips - lips.mean(0)) * 0.6, CROP).astype(bool)) & ~m
        diff.append(np.abs(crop[m].mean(0) - crop[ring].mean(0)).sum())
    assert np.median(diff) > 15


def test_held_out_split_is_fixed_and_about_a_tenth():
    names = [f"{i}_0_0_2017.jpg.chip.jpg" for i in range(4000)]
    share = np.mean([held_out(n) for n in names])
    assert 0.08 < share < 0.12
    assert held_out("a/b/x.jpg") == held_out("x.jpg")


def test_resume_is_exact(mouths, tmp_path):
    _, path = mouths
    cfg = dict(data=str(path), steps=4, batch=2, width=8, adv_start=1, log_every=2, min_opening=0.08, partial_share=0.5)
    straight = train_mouth(MouthTrainConfig(run_dir=str(tmp_path / "a"), **cfg))
    b = MouthTrainConfig(run_dir=str(tmp_path / "b"), **cfg)
    train_mouth(b, steps=2)
    resumed = train_mouth(b)
    assert resumed.step_no == straight.step_no == 4
    for net in ("G", "D", "G_ema"):
        sa, sb = getattr(straight, net).state_dict(), getattr(resumed, net).state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa), net
    # and training moved the weights
    fresh = MouthTrainConfig(run_dir=str(tmp_path / "c"), **cfg)
    from rig.training.mouth_training import MouthTrainer

    first = MouthTrainer(fresh).G.state_dict()
    assert any(not torch.equal(first[k], v) for k, v in straight.G.state_dict().items())


def test_batches_hole_covers_the_opening(mouths):
    found, _ = mouths
    data = MouthData(found, held=bool(found.held[0]), min_opening=0.08)
    idx = torch.arange(min(4, len(data)))
    x, hole, guide = data.batch(idx, torch.tensor([False, True, False, True])[: len(idx)],
                                torch.full((len(idx),), 2))
    assert ((hole - guide) >= 0).all() and hole.sum() > guide.sum()   # grown polygon
    assert torch.equal(x[1], data.images[1].flip(2)) and torch.equal(guide[1], data.lips[1].flip(2))


def test_partial_holes_keep_a_band_of_the_opening(mouths):
    found, _ = mouths
    data = MouthData(found, held=bool(found.held[0]), min_opening=0.08)
    idx = torch.arange(min(4, len(data)))
    n = len(idx)
    whole = data.batch(idx, torch.zeros(n, dtype=torch.bool), torch.full((n,), 2))[1]
    bands = torch.tensor([[0.5, 0.5]] * n)
    bands[0] = float("nan")
    part = data.batch(idx, torch.zeros(n, dtype=torch.bool), torch.full((n,), 2), bands)[1]
    assert torch.equal(part[0], whole[0])
    for i in range(1, n):
        rows_w = torch.nonzero(whole[i, 0].any(1)).flatten()
        rows_p = torch.nonzero(part[i, 0].any(1)).flatten()
        assert ((part[i] - whole[i]) <= 0).all()                      # a subset of the whole hole
        assert rows_p[0] > rows_w[0] and rows_p[-1] < rows_w[-1]      # cut above and below
        assert abs(len(rows_p) - 0.5 * len(rows_w)) <= 1.5


def test_resume_pack_continues_a_run_on_a_new_machine(mouths, tmp_path):
    _, path = mouths
    cfg = dict(data=str(path), steps=4, batch=2, width=8, adv_start=1, log_every=2, min_opening=0.08)
    first = train_mouth(MouthTrainConfig(run_dir=str(tmp_path / "a"), **cfg), steps=2)
    pack = tmp_path / "resume.safetensors"
    first.save_pack(pack)
    # another machine: no checkpoint, only the pack (its config wins over this call's, but for data/run_dir)
    other = MouthTrainConfig(run_dir=str(tmp_path / "b"), **{**cfg, "width": 16})
    from rig.training.mouth_training import MouthTrainer, pack_config

    assert pack_config(pack)["width"] == 8
    loaded = MouthTrainer(MouthTrainConfig(run_dir=str(tmp_path / "c"), **cfg))
    loaded.load_pack(pack)
    assert loaded.step_no == 2 and len(loaded.log) == len(first.log)
    for net in ("G", "D", "G_ema"):
        sa, sb = getattr(first, net).state_dict(), getattr(loaded, net).state_dict()
        assert all(torch.equal(sa[k].half().float(), sb[k]) for k in sa), net
    continued = train_mouth(other, init_from=pack)
    assert continued.step_no == 4 and continued.cfg.width == 8
    assert any(not torch.equal(loaded.G.state_dict()[k], v) for k, v in continued.G.state_dict().items())


def test_a_narrower_student_learns_the_committed_inpainter(mouths, tmp_path):
    """Distillation (scripts/distill_mouth.py): the student's distance to the teacher's output falls as it trains."""
    from rig.photo.mouth import INPAINTER
    from rig.training.mouth_training import MouthTrainer

    if not INPAINTER.exists():
        pytest.skip(f"the committed inpainter {INPAINTER} is missing")
    _, path = mouths
    cfg = MouthTrainConfig(data=str(path), run_dir=str(tmp_path / "s"), steps=60, batch=4, width=8, lr=1e-3,
                           adv_start=10_000, min_opening=0.08, teacher=str(INPAINTER), teach_weight=1.0)
    trainer = MouthTrainer(cfg)
    data = MouthData(MouthSet.load(path), held=False, min_opening=0.08)
    teach = [trainer.step(data)["teach"] for _ in range(cfg.steps)]
    assert np.mean(teach[-10:]) < 0.6 * np.mean(teach[:10])
