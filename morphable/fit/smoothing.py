"""Temporal smoothing of tracked pose and expression.

Default: the One-Euro filter (Casiez, Roussel & Vogel, CHI 2012), a low-pass filter whose
cut-off rises with the signal's speed: landmark jitter on a still head is removed, while fast
head turns and mouth openings are followed with little lag. It is causal, so the same filter
serves live tracking. Offline, `savgol` (scipy's Savitzky-Golay, cubic over 7 frames) keeps
peaks (blinks, jaw snaps) better than a moving average at the cost of needing future frames.

Head pose is smoothed as the rotation and the position of the face's centre (`face_centred`),
not of the model's origin, which sits ~7 cm behind the face: the fit trades a small turn about
that origin for a sideways shift of it, so the two jitter together and cancel on the face;
filtered apart, their noise no longer cancelled and moved the face. The pose filter reads one
speed for the three angles and one for the translation (a turn opens all three angles' cut-offs
together), and speeds under the fit's noise (`POSE_DEAD`) leave the cut-off at its minimum.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import MorphableError
from ..pose import euler_to_matrix

SMOOTHERS = ("one-euro", "savgol", "none")
#: pose columns whose speeds One-Euro reads as one (their norm): the three angles, the translation
POSE_GROUPS = ((0, 1, 2), (3, 4, 5))
#: pose speed (filter units a second: degrees, 5 mm) below which the cut-off stays at its minimum: on a
#: held head the online fit's angles move ~0.4 deg a frame (10 deg/s at 25 fps, a few deg/s after the
#: speed's own low-pass), which opened the cut-off on noise alone; a turn runs at 30-100 deg/s. 4 measured
#: steadier than 2 through the live session (docs/tracking.md, "Head pose")
POSE_DEAD = 4.0


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray:
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt)


def speeds(dx: np.ndarray, groups: tuple[tuple[int, ...], ...] = ()) -> np.ndarray:
    """|dx| per column (D,); each group's columns take the group's norm instead."""
    out = np.abs(dx)
    for g in groups:
        out[list(g)] = np.linalg.norm(dx[list(g)])
    return out


def cutoff(dx: np.ndarray, min_cutoff: float, beta: float, groups: tuple[tuple[int, ...], ...] = (),
           dead: np.ndarray | float = 0.0) -> np.ndarray:
    """One-Euro's cut-off (Hz) per column for filtered speeds `dx` (D,): min_cutoff + beta * (speed - dead)+."""
    return min_cutoff + beta * np.maximum(speeds(dx, groups) - dead, 0.0)


def one_euro(signal: np.ndarray, fps: float, min_cutoff: float = 1.0, beta: float = 0.3,
             d_cutoff: float = 1.0, groups: tuple[tuple[int, ...], ...] = (),
             dead: np.ndarray | float = 0.0) -> np.ndarray:
    """One-Euro filter along axis 0 of (T, D) samples taken at `fps`; `groups` of columns share one speed (their
    norm) and speeds under `dead` (scalar or (D,)) leave the cut-off at `min_cutoff` (see `cutoff`)."""
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 2:
        raise MorphableError(f"signal must be (T, D), got {x.shape}")
    if len(x) == 0:
        return x.copy()
    dt = 1.0 / fps
    out = np.empty_like(x)
    out[0] = x[0]
    dx_prev = np.zeros(x.shape[1])
    for t in range(1, len(x)):
        dx = (x[t] - out[t - 1]) / dt
        a_d = _alpha(d_cutoff, dt)
        dx_hat = a_d * dx + (1.0 - a_d) * dx_prev
        a = _alpha(cutoff(dx_hat, min_cutoff, beta, groups, dead), dt)
        out[t] = a * x[t] + (1.0 - a) * out[t - 1]
        dx_prev = dx_hat
    return out


def savgol(signal: np.ndarray, window: int = 7, order: int = 3) -> np.ndarray:
    """Savitzky-Golay smoothing along axis 0 (window shrinks for short clips)."""
    from scipy.signal import savgol_filter

    x = np.asarray(signal, dtype=np.float64)
    n = len(x)
    w = min(window, n if n % 2 else n - 1)
    if w <= order:
        return x.copy()
    return savgol_filter(x, w, order, axis=0, mode="interp")


def smooth(signal: np.ndarray, method: str, fps: float, scale: np.ndarray | None = None,
           groups: tuple[tuple[int, ...], ...] = (), dead: np.ndarray | float = 0.0) -> np.ndarray:
    """Smooth (T, D) with `method`; `scale` (D,) puts columns in comparable units for One-Euro's speed term
    (`groups` and `dead` in those units: see one_euro)."""
    if method not in SMOOTHERS:
        raise MorphableError(f"unknown smoothing {method!r}; choose one of {', '.join(SMOOTHERS)}")
    x = np.asarray(signal, dtype=np.float64)
    if method == "none" or len(x) < 2:
        return x.copy()
    if method == "savgol":
        return savgol(x)
    s = np.ones(x.shape[1]) if scale is None else np.asarray(scale, dtype=np.float64)
    return one_euro(x / s, fps, groups=groups, dead=dead) * s


def _rotations(pose: np.ndarray) -> np.ndarray:
    p = torch.as_tensor(np.asarray(pose, dtype=np.float64)[:, :3])
    return euler_to_matrix(p[:, 0], p[:, 1], p[:, 2]).numpy()


def face_centred(pose: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """(T,6) poses with the translation replaced by where the model point `centre` (3,) sits: R @ centre + t."""
    out = np.array(pose, dtype=np.float64)
    out[:, 3:] += _rotations(out) @ np.asarray(centre, dtype=np.float64)
    return out


def origin_placed(pose: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Inverse of face_centred: (T,6) poses with the model origin's translation again."""
    out = np.array(pose, dtype=np.float64)
    out[:, 3:] -= _rotations(out) @ np.asarray(centre, dtype=np.float64)
    return out


def smooth_pose(pose: np.ndarray, method: str, fps: float, scale: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """(T,6) yaw, pitch, roll, translation smoothed as rotation and face-centre position (module docstring)."""
    if method == "none" or len(pose) < 2:
        return smooth(pose, method, fps)
    out = smooth(face_centred(pose, centre), method, fps, scale, POSE_GROUPS, POSE_DEAD)
    return origin_placed(out, centre)
