"""Temporal smoothing of tracked pose and expression.

Default: the One-Euro filter (Casiez, Roussel & Vogel, CHI 2012), a low-pass filter whose
cut-off rises with the signal's speed: landmark jitter on a still head is removed, while fast
head turns and mouth openings are followed with little lag. It is causal, so the same filter
serves live tracking. Offline, `savgol` (scipy's Savitzky-Golay, cubic over 7 frames) keeps
peaks (blinks, jaw snaps) better than a moving average at the cost of needing future frames.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import MorphableError

SMOOTHERS = ("one-euro", "savgol", "none")


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray:
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt)


def one_euro(signal: np.ndarray, fps: float, min_cutoff: float = 1.0, beta: float = 0.3,
             d_cutoff: float = 1.0) -> np.ndarray:
    """One-Euro filter along axis 0 of (T, D) samples taken at `fps` (each column separately)."""
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
        cutoff = min_cutoff + beta * np.abs(dx_hat)
        a = _alpha(cutoff, dt)
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


def smooth(signal: np.ndarray, method: str, fps: float, scale: np.ndarray | None = None) -> np.ndarray:
    """Smooth (T, D) with `method`; `scale` (D,) puts columns in comparable units for One-Euro's speed term."""
    if method not in SMOOTHERS:
        raise MorphableError(f"unknown smoothing {method!r}; choose one of {', '.join(SMOOTHERS)}")
    x = np.asarray(signal, dtype=np.float64)
    if method == "none" or len(x) < 2:
        return x.copy()
    if method == "savgol":
        return savgol(x)
    s = np.ones(x.shape[1]) if scale is None else np.asarray(scale, dtype=np.float64)
    return one_euro(x / s, fps) * s
