"""The watermark embedder's per-pixel steps for big pictures as compiled loops, equal bit for bit to the
numpy steps in rig.provenance.watermark (the same float32 operations in the same order, one pass each
instead of several, and no temporaries).

- luma_into: np.dot over the last axis of an (H,W,3) float32 array calls BLAS's sdot for every pixel: the
  three float32 products r*0.299, g*0.587, b*0.114 summed in float64 and rounded once to float32 (the sum
  is exact in float64: the products span at most 35 bits). ~8x faster on a 48 MP photo, no (H,W,3) copy.
- squared_detail, strength: (lum - blur)^2 and clip(a / ref, lo, hi) in place.
- marked_into: the tiled pattern times the mask times the saturation fade (the embedder's `delta`).
numba caches the compiled loops beside this file (morphable.raster's loops load the same machinery first
on the edit path; alone, the first call costs ~0.5 s, which is why only pictures over 12 MP come here).
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _luma_loop(image: np.ndarray, w0: np.float32, w1: np.float32, w2: np.float32, out: np.ndarray) -> None:
    h, w = out.shape
    for y in range(h):
        for x in range(w):
            r = np.float32(image[y, x, 0]) * w0
            g = np.float32(image[y, x, 1]) * w1
            b = np.float32(image[y, x, 2]) * w2
            out[y, x] = np.float32(np.float64(r) + np.float64(g) + np.float64(b))


def luma_into(image: np.ndarray, weights: np.ndarray, out: np.ndarray) -> np.ndarray:
    """(H,W,3) uint8 RGB -> `out` (H,W) float32: the products by the float32 `weights` summed as sdot does."""
    w0, w1, w2 = (np.float32(v) for v in weights)
    _luma_loop(image, w0, w1, w2, out)
    return out


@numba.njit(cache=True, nogil=True)
def squared_detail(lum: np.ndarray, blur: np.ndarray) -> None:
    """blur <- (lum - blur)^2, float32 (np.subtract then np.multiply)."""
    h, w = lum.shape
    for y in range(h):
        for x in range(w):
            d = lum[y, x] - blur[y, x]
            blur[y, x] = d * d


@numba.njit(cache=True, nogil=True)
def _strength_loop(a: np.ndarray, ref: np.float32, lo: np.float32, hi: np.float32) -> None:
    h, w = a.shape
    for y in range(h):
        for x in range(w):
            v = a[y, x] / ref
            a[y, x] = hi if v > hi else (lo if v < lo else v)


def strength(a: np.ndarray, ref: float, lo: float, hi: float) -> None:
    """a <- clip(a / ref, lo, hi) in float32 (np.divide then np.clip)."""
    _strength_loop(a, np.float32(ref), np.float32(lo), np.float32(hi))


@numba.njit(cache=True, nogil=True)
def _marked_loop(tile: np.ndarray, row0: int, mask: np.ndarray, lum: np.ndarray, fade: np.float32,
                 out: np.ndarray) -> None:
    h, w = out.shape
    period = tile.shape[0]
    top = np.float32(255.0)
    for y in range(h):
        t = tile[(row0 + y) % period]
        for x in range(w):
            v = lum[y, x]
            room = top - v
            room = v if v < room else room
            room = room / fade
            room = np.float32(1.0) if room > np.float32(1.0) else (np.float32(0.0) if room < np.float32(0.0) else room)
            out[y, x] = t[x % period] * (mask[y, x] * room)


def marked_into(tile: np.ndarray, row0: int, mask: np.ndarray, lum: np.ndarray, fade: float, out: np.ndarray) -> None:
    """out <- tiled pattern (rows from row0) * (mask * clip(min(lum, 255 - lum) / fade, 0, 1)), float32."""
    _marked_loop(tile, int(row0), mask, lum, np.float32(fade), out)
