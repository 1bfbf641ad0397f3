"""morphable.fit.smoothing's pose filter: face-centred translation, one speed per block, the noise dead zone."""
from __future__ import annotations

import numpy as np
import torch

from morphable.fit.geometry import face_centre
from morphable.fit.online import OneEuro
from morphable.fit.smoothing import (POSE_DEAD, POSE_GROUPS, face_centred, one_euro, origin_placed, smooth,
                                     smooth_pose)
from morphable.fit.track import POSE_SCALE
from morphable.formats import load_model
from morphable.pose import euler_to_matrix

FPS = 25.0


def _centre() -> np.ndarray:
    return face_centre(load_model("default")).numpy()


def _turning_about_the_face(yaw: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """(T,6) poses of a head turning by `yaw` about its face centre (which stays at (0, 0, 0)): the
    origin's translation moves with every turn, as the fit trades a turn for a shift."""
    pose = np.zeros((len(yaw), 6))
    pose[:, 0] = yaw
    rot = euler_to_matrix(torch.as_tensor(yaw), torch.zeros(len(yaw), dtype=torch.float64),
                          torch.zeros(len(yaw), dtype=torch.float64)).numpy()
    pose[:, 3:] = -rot @ centre
    return pose


def test_face_centre_is_in_front_of_the_model_origin_and_round_trips():
    c = _centre()
    assert 0.05 < c[2] < 0.09 and abs(c[0]) < 1e-3   # the face, ~7 cm in front of the origin, on the midline
    rng = np.random.default_rng(0)
    pose = np.concatenate([rng.normal(0, 15, (20, 3)), rng.normal(0, 0.02, (20, 3))], 1)
    np.testing.assert_allclose(origin_placed(face_centred(pose, c), c), pose, atol=1e-12)
    held = face_centred(_turning_about_the_face(np.linspace(-20, 20, 9), c), c)
    np.testing.assert_allclose(held[:, 3:], 0.0, atol=1e-12)   # turning about the face: the face stays


def test_turn_noise_that_the_fit_trades_for_a_shift_stays_off_the_face():
    """A held head whose fitted yaw jitters by 0.4 deg with the compensating shift of the origin: smoothed per
    column (the old filter) the face centre moved; smoothed as rotation + face position it stays put."""
    c = _centre()
    rng = np.random.default_rng(1)
    pose = _turning_about_the_face(rng.normal(0, 0.4, 100), c)
    old = smooth(pose, "one-euro", FPS, POSE_SCALE)
    new = smooth_pose(pose, "one-euro", FPS, POSE_SCALE, c)
    moved_old = np.linalg.norm(face_centred(old, c)[:, 3:], axis=1)
    moved_new = np.linalg.norm(face_centred(new, c)[:, 3:], axis=1)
    assert moved_new.max() < 1e-9
    assert moved_old[10:].mean() > 2e-5                # 0.04 mm here (0.05% of the inter-ocular distance)
    assert new[10:, 0].std() < 0.5 * pose[10:, 0].std()  # and the turn's noise itself is still filtered


def test_dead_zone_steadies_a_held_head_and_a_turn_is_still_followed():
    rng = np.random.default_rng(2)
    held = np.zeros((150, 6))
    held[:, :3] = rng.normal(0, 0.4, (150, 3))          # the online fit's noise on a held head (degrees)
    step = lambda x: np.abs(np.diff(x[25:, :3], axis=0)).mean()   # noqa: E731  (deg a frame)
    plain = step(one_euro(held, FPS))                               # per-column speeds, no dead zone
    grouped = step(one_euro(held, FPS, groups=POSE_GROUPS))         # one speed for the three angles
    dead = step(one_euro(held, FPS, groups=POSE_GROUPS, dead=POSE_DEAD))
    assert dead < 0.9 * plain and dead < 0.75 * grouped             # 0.090 against 0.111 and 0.136
    t = np.arange(75) / FPS
    turn = np.zeros((75, 6))
    turn[:, 0] = np.clip((t - 1.0) * 60.0, 0.0, 20.0)   # a 20 deg turn at 60 deg/s from t = 1 s
    out = one_euro(turn, FPS, groups=POSE_GROUPS, dead=POSE_DEAD)
    assert out[int(1.6 * FPS), 0] > 16.0                # 80% of the turn 0.27 s after it ends
    assert np.abs(out[:, 1:]).max() < 1e-12            # the other angles stay where they were


def test_online_filter_with_groups_and_dead_zone_equals_the_batch_one():
    rng = np.random.default_rng(3)
    sig = np.cumsum(rng.normal(0, 0.5, (120, 6)), 0)
    f = OneEuro(FPS, groups=POSE_GROUPS, dead=POSE_DEAD)
    np.testing.assert_allclose(np.stack([f(x) for x in sig]), one_euro(sig, FPS, groups=POSE_GROUPS, dead=POSE_DEAD),
                               atol=1e-12)
