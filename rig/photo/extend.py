"""Smooth extension of a flow beyond the face: hair, ears, neck and background follow, then stop.

The fixed flow values (face pixels) are kept; every other pixel gets the harmonic (Laplace)
interpolant between them and zero displacement on the frame's border, which lies a head's
margin around the face (the fit frame is FACE_FRAME_SCALE x the face box), so the background
stays still. A direct sparse solve at the working size cost 0.45 s (~100k unknowns), so it is
done on a coarse grid (scipy, a few thousand unknowns) and refined by Jacobi sweeps on the
finer levels of a pyramid, with the fixed pixels re-imposed at each level.

When the pose moves, the head proxy (rig.photo.head) adds a soft target at every level: a pixel with
weight w solves (sum of its 4 neighbours + w g) / (4 + w) instead of the plain average (a screened
Laplace equation), so the head's outline, ears and hair follow the rigid head while the weight lasts
and the fill falls to the still border beyond it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numba
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from .head import HeadProxy

#: side of the coarse grid the sparse system is solved on
COARSE = 32
#: Jacobi sweeps per finer pyramid level
SWEEPS = 40


def _coarse_values(disp: torch.Tensor, known: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Area-average the known values onto a size x size grid; a cell is known when half its pixels are."""
    w = known.float()[None, None]
    num = F.adaptive_avg_pool2d(disp[None] * w, size)[0]
    den = F.adaptive_avg_pool2d(w, size)[0, 0]
    vals = num / den.clamp_min(1e-6)
    return vals, den > 0.5


def solve_laplace(values: np.ndarray, known: np.ndarray, target: np.ndarray | None = None,
                  weight: np.ndarray | None = None) -> np.ndarray:
    """Harmonic fill of (C,n,n) `values` where ~known, zero outside the grid (Dirichlet border); with
    `weight` (n,n), pulled toward (C,n,n) `target` where it is positive (screened)."""
    c, n, _ = values.shape
    free = ~known
    free[0, :] = free[-1, :] = free[:, 0] = free[:, -1] = False  # border ring: zero unless known
    out = np.where(known[None], values, 0.0)
    idx = -np.ones((n, n), np.int64)
    rr, cc = np.nonzero(free)
    m = len(rr)
    if m == 0:
        return out
    idx[rr, cc] = np.arange(m)
    rhs = np.zeros((c, m))
    for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        r2, c2 = rr + dr, cc + dc          # always inside: the border ring is never free
        nb = idx[r2, c2] >= 0
        rhs[:, ~nb] += out[:, r2[~nb], c2[~nb]]
    mat = laplace_matrix(idx, rr, cc)
    if weight is not None:
        w = weight[rr, cc]
        rhs += w[None] * target[:, rr, cc]
        mat = (mat + sp.diags(w, format="csc")).tocsc()
    sol = spla.splu(mat).solve(rhs.T)
    out[:, rr, cc] = sol.T
    return out


def laplace_matrix(idx: np.ndarray, rr: np.ndarray, cc: np.ndarray) -> sp.csc_matrix:
    """The (m,m) 5-point system of the m free cells (`idx`: their numbers in row-major order, -1 elsewhere; at
    rr, cc): 4 on the diagonal, -1 to each free neighbour. Built straight in canonical CSC form (in each column the
    rows up, left, self, right, down are in increasing order), the arrays the COO route gave, at a tenth of its
    cost."""
    m = len(rr)
    nbrs = np.stack([idx[rr - 1, cc], idx[rr, cc - 1], np.arange(m), idx[rr, cc + 1], idx[rr + 1, cc]], 1)
    keep = nbrs >= 0
    data = np.where(keep, -1.0, 0.0)
    data[:, 2] = 4.0
    indptr = np.zeros(m + 1, np.int32)
    np.cumsum(keep.sum(1), out=indptr[1:])
    return sp.csc_matrix((data[keep], nbrs[keep].astype(np.int32), indptr), shape=(m, m))


def _jacobi(field: torch.Tensor, fixed_vals: torch.Tensor, fixed: torch.Tensor, sweeps: int) -> torch.Tensor:
    """Relax (C,n,n) `field` toward harmonic on free pixels, zero border, fixed pixels held.

    One compiled loop (_jacobi_loop), the same float32 sums in the same order as the torch
    version it replaces (at ec60584): 40 sweeps at 128 px took ~7 ms of small tensor ops."""
    c, n, _ = field.shape
    buf = np.zeros((c, n + 2, n + 2), np.float32)           # zero ring = the still border
    buf[:, 1:-1, 1:-1] = torch.where(fixed, fixed_vals, field).numpy()
    free = np.ascontiguousarray((~fixed).numpy())
    out = _jacobi_loop(buf, buf.copy(), free, int(sweeps))
    return torch.from_numpy(np.ascontiguousarray(out[:, 1:-1, 1:-1]))


@numba.njit(cache=True, nogil=True)
def _jacobi_loop(buf, nxt, free, sweeps):
    """`sweeps` Jacobi sweeps over the free pixels of (C,n+2,n+2) float32 `buf` (ring and fixed pixels held);
    returns the buffer holding the last sweep (`buf` or `nxt`)."""
    c, n = buf.shape[0], buf.shape[1] - 2
    quarter = np.float32(0.25)
    for _ in range(sweeps):
        for ch in range(c):
            for i in range(1, n + 1):
                for j in range(1, n + 1):
                    if free[i - 1, j - 1]:
                        nxt[ch, i, j] = quarter * (buf[ch, i - 1, j] + buf[ch, i + 1, j] + buf[ch, i, j - 1]
                                                   + buf[ch, i, j + 1])
                    else:
                        nxt[ch, i, j] = buf[ch, i, j]
        buf, nxt = nxt, buf
    return buf


def _jacobi_screened(field: torch.Tensor, fixed_vals: torch.Tensor, fixed: torch.Tensor, target: torch.Tensor,
                     weight: torch.Tensor, sweeps: int) -> torch.Tensor:
    """_jacobi with a soft pull toward (C,n,n) `target` of strength (n,n) `weight` on the free pixels."""
    c, n, _ = field.shape
    buf = np.zeros((c, n + 2, n + 2), np.float32)
    buf[:, 1:-1, 1:-1] = torch.where(fixed, fixed_vals, field).numpy()
    free = np.ascontiguousarray((~fixed).numpy())
    inv = np.ascontiguousarray((1.0 / (4.0 + weight)).numpy().astype(np.float32))
    tg = np.ascontiguousarray((target * weight[None]).numpy().astype(np.float32))
    out = _jacobi_screened_loop(buf, buf.copy(), free, inv, tg, int(sweeps))
    return torch.from_numpy(np.ascontiguousarray(out[:, 1:-1, 1:-1]))


@numba.njit(cache=True, nogil=True)
def _jacobi_screened_loop(buf, nxt, free, inv, wtarget, sweeps):
    """_jacobi_loop where free pixel (i,j) solves (neighbours + wtarget) x inv (wtarget = weight x target,
    inv = 1 / (4 + weight))."""
    c, n = buf.shape[0], buf.shape[1] - 2
    for _ in range(sweeps):
        for ch in range(c):
            for i in range(1, n + 1):
                for j in range(1, n + 1):
                    if free[i - 1, j - 1]:
                        nxt[ch, i, j] = (buf[ch, i - 1, j] + buf[ch, i + 1, j] + buf[ch, i, j - 1] + buf[ch, i, j + 1]
                                         + wtarget[ch, i - 1, j - 1]) * inv[i - 1, j - 1]
                    else:
                        nxt[ch, i, j] = buf[ch, i, j]
        buf, nxt = nxt, buf
    return buf


def _coarse_target(target: torch.Tensor, weight: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The proxy on a size x size grid: weight-averaged target, and the weight summed over each cell (the
    screened term's strength per cell grows with its area)."""
    s = weight.shape[-1]
    num = F.adaptive_avg_pool2d(target[None] * weight[None, None], size)[0]
    den = F.adaptive_avg_pool2d(weight[None, None], size)[0, 0]
    return num / den.clamp_min(1e-6), den * (s / size) ** 2


def extend(disp: torch.Tensor, known: torch.Tensor, coarse: int = COARSE, sweeps: int = SWEEPS,
           guide_disp: torch.Tensor | None = None, guide: torch.Tensor | None = None,
           proxy: "HeadProxy | None" = None) -> torch.Tensor:
    """Dense (2,S,S) flow: `disp` where `known`, a smooth fill falling to 0 at the border elsewhere.

    `guide_disp` on `guide` (the rest of the head) is a hint imposed on the coarse grid only, where
    `known` is not: hair and the head's outline then follow the head's motion instead of lagging
    behind it, without the cut-out edges that fixing them at full resolution printed. `proxy` (the head
    proxy, rig.photo.head: a displacement and its weight) is followed softly at every level.
    """
    s = disp.shape[-1]
    if not bool(known.any()):
        return torch.zeros_like(disp)
    sizes = [s]
    while sizes[-1] // 2 >= coarse:
        sizes.append(sizes[-1] // 2)
    sizes = sizes[::-1]
    pull = None if proxy is None else (proxy.disp, proxy.weight)
    vals, kn = _coarse_values(disp, known, sizes[0])
    if guide is not None and bool(guide.any()):
        gv, gk = _coarse_values(guide_disp, guide, sizes[0])
        vals = torch.where(kn[None], vals, gv)
        kn = kn | gk
    if pull is None:
        field = torch.from_numpy(solve_laplace(vals.double().numpy(), kn.numpy())).float()
    else:
        tv, tw = _coarse_target(*pull, sizes[0])
        field = torch.from_numpy(solve_laplace(vals.double().numpy(), kn.numpy(), tv.double().numpy(),
                                               tw.double().numpy())).float()
    for n in sizes[1:]:
        field = F.interpolate(field[None], size=(n, n), mode="bilinear", align_corners=False)[0]
        if n == s:
            v, k = disp, known
        else:
            v, k = _coarse_values(disp, known, n)
        if pull is None:
            field = _jacobi(field, v, k, sweeps)
        else:
            tv, tw = pull if n == s else _coarse_target(*pull, n)
            field = _jacobi_screened(field, v, k, tv, tw, sweeps)
    return field
