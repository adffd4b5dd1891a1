"""Single-site Gibbs for the weighted-MF model: one latent coordinate at a time.

The blocked sweep of :mod:`._sweep` draws each row ``x_s`` from its full conditional
``N(P_s^-1 h_s, P_s^-1)``, which needs the row's (K, K) Gram block (O(nnz K^2) per sweep) and
a Cholesky factor (O(n K^3)).  Here each coordinate ``x_sk`` is drawn from its conditional
given the row's other coordinates (a Gibbs step on a finer blocking, so the chain keeps the
same joint posterior; it mixes somewhat slower per sweep)::

    x_sk | x_s,-k ~ N( x_sk + (h_sk - (P_s x_s)_k) / P_s,kk ,  1 / P_s,kk )
    P_s = Lambda + alpha a_s (B + sum_{q in N(s)} w_q f_q f_q^T),   B = F^T F (all cells)
    h_s = Lambda mu + alpha a_s sum_{q in N(s)} (1 + w_q) t_q f_q

``(P_s x_s)_k`` never needs the Gram block: its all-cells part ``((Lambda + alpha a_s B)
x_s)_k`` is one row of that matrix times the current ``x_s`` (O(K)), and the stored cells'
part is ``sum_q w_q f_qk pred_q`` with the predictions ``pred_q = f_q . x_s`` kept up to date
(O(|N(s)|) per move).  This is the element-wise update of He et al. (SIGIR 2016,
eALS, Sec. 4.2) with a draw in place of the minimiser; a sweep costs O(nnz K + n K^2) like an
implicit-ALS conjugate-gradient step, so the rank can grow far beyond what the blocked sweep
affords.  Rows are independent given the other side (parallel over rows, each row in a fixed
order: same numbers for any thread count).

The kernel also returns each row's weighted squared error over all its cells (stored and
zero), ``a_s [x^T B x + sum_q ((1 + w_q)(t_q - pred_q)^2 - pred_q^2)]``, which the sweep
uses for the ``alpha`` draw and the training loss, as the blocked sweep does.
"""

from __future__ import annotations

import numba
import numpy as np

from ...bpmf._sweep import BPMFPrior, _prior_blocks
from ._crossprod import cross_product


def _coordinate_chunks(indptr, indices, w, t, x, f, base, lam, lam_mu, alpha, scale, z,
                       mode, sse, want_sse, n_chunks):  # pragma: no cover - compiled
    n, k_dim = x.shape
    shared = True                     # one row scale for all rows: (Lambda + a B) formed once
    for s in range(n):
        if scale[s] != scale[0]:
            shared = False
            break
    comb = np.empty((k_dim, k_dim))
    if n > 0:
        for k in range(k_dim):
            for j in range(k_dim):
                comb[k, j] = lam[k, j] + alpha * scale[0] * base[k, j]
    for c in numba.prange(n_chunks):
        lo = c * n // n_chunks
        hi = (c + 1) * n // n_chunks
        longest = 0
        for s in range(lo, hi):
            longest = max(longest, indptr[s + 1] - indptr[s])
        buf = np.empty((k_dim, max(longest, 1)))     # the row's other-side factors, by column
        pred = np.empty(max(longest, 1))
        diag = np.empty(k_dim)
        hvec = np.empty(k_dim)
        inv_p = np.empty(k_dim)
        noise = np.empty(k_dim)
        own = np.empty((k_dim, k_dim))
        for s in range(lo, hi):
            p0 = indptr[s]
            cnt = indptr[s + 1] - p0
            a = alpha * scale[s]
            if shared:
                cm = comb
            else:
                for k in range(k_dim):
                    for j in range(k_dim):
                        own[k, j] = lam[k, j] + a * base[k, j]
                cm = own
            wr = w[p0:p0 + cnt]
            tr = t[p0:p0 + cnt]
            pr = pred[:cnt]
            xs = x[s]
            for q0 in range(0, cnt, 8):         # transpose 8 rows at a time (cache lines)
                q1 = min(q0 + 8, cnt)
                for k in range(k_dim):
                    for q in range(q0, q1):
                        buf[k, q] = f[indices[p0 + q], k]
            pr[:] = 0.0
            for k in range(k_dim):
                bk = buf[k, :cnt]
                dk = 0.0
                hk = 0.0
                xk = xs[k]
                for q in range(cnt):
                    fq = bk[q]
                    dk += wr[q] * fq * fq
                    hk += (1.0 + wr[q]) * tr[q] * fq
                    pr[q] += fq * xk
                diag[k] = dk
                hvec[k] = hk
            for k in range(k_dim):              # 1 / P_kk and the noise: off the serial chain
                inv_p[k] = 1.0 / (cm[k, k] + a * diag[k])
                noise[k] = 0.0 if mode else z[s, k] * np.sqrt(inv_p[k])
            for k in range(k_dim):
                bk = buf[k, :cnt]
                cross = 0.0
                for q in range(cnt):
                    cross += wr[q] * bk[q] * pr[q]
                ck = cm[k]
                mk = 0.0                        # ((Lambda + a B) x)_k at the current x
                for j in range(k_dim):
                    mk += ck[j] * xs[j]
                # x_k ~ N(x_k + (h_k - (P x)_k) / P_kk, 1 / P_kk)
                new = xs[k] + (lam_mu[k] + a * (hvec[k] - cross) - mk) * inv_p[k] + noise[k]
                d = new - xs[k]
                xs[k] = new
                for q in range(cnt):
                    pr[q] += d * bk[q]
            if not want_sse:
                continue
            quad = 0.0
            for k in range(k_dim):
                bk = base[k]
                acc = 0.0
                for j in range(k_dim):
                    acc += bk[j] * xs[j]
                quad += xs[k] * acc
            cells = 0.0
            for q in range(cnt):
                r = tr[q] - pr[q]
                cells += (1.0 + wr[q]) * r * r - pr[q] * pr[q]
            sse[s] = scale[s] * (quad + cells)


#: reassociated sums (vectorized dot products): the rounding differs from a strict
#: left-to-right order, never the law; still one fixed order per row for any thread count
_FAST_MATH = {"reassoc", "nsz", "contract"}
_coordinate_parallel = numba.njit(parallel=True, cache=True, fastmath=_FAST_MATH)(
    _coordinate_chunks)
_coordinate_serial = numba.njit(cache=True, fastmath=_FAST_MATH)(_coordinate_chunks)
#: below this many stored cells one thread is faster (thread start-up dominates)
PARALLEL_MIN_CELLS = 200_000


def coordinate_side(side, other: np.ndarray, x: np.ndarray, mu, lam, prior: BPMFPrior,
                    alpha: float, rng, mode: bool = False, row_scale=None,
                    want_sse: bool = True):
    """One single-site Gibbs pass over every coordinate of every row of one side.

    Parameters
    ----------
    side : (indptr, indices, w, t)
        The side's stored cells (as in :func:`._sweep.draw_side`).
    other : (n_other, K) ndarray
        The other side's factor rows (rows outside the likelihood are 0).
    x : (n_rows, K) ndarray
        The rows' current values (the starting point of the coordinate updates; not modified).
    mu, lam : the rows' Normal prior (mean, precision).
    prior, alpha : the model prior and the likelihood precision.
    rng : Generator (unused with ``mode=True``).
    mode : bool
        Conditional means instead of draws (coordinate ascent).
    row_scale : None or (n_rows,) ndarray
        Fixed factors ``a_s`` on every cell's precision of row ``s``.
    want_sse : bool
        Compute the squared error (an O(K^2) pass per row); else ``sse`` is NaN.

    Returns
    -------
    x_new : (n_rows, K) ndarray
    sse : float
        ``sum_s a_s sum_cells c (t - x_new . f)^2`` over all the side's cells.
    """
    indptr, indices, w, t = side
    f = np.ascontiguousarray(other, dtype=np.float64)
    base = cross_product(f)
    x_new = np.array(x, dtype=np.float64, order="C", copy=True)
    n, k = x_new.shape
    scale = (np.ones(n) if row_scale is None
             else np.ascontiguousarray(row_scale, dtype=np.float64))
    z = np.zeros((n, k)) if mode else rng.standard_normal((n, k))
    pp, ph = _prior_blocks(prior, mu, lam, 1.0)
    sse = np.full(n, np.nan)
    parallel = len(indices) >= PARALLEL_MIN_CELLS
    n_chunks = min(8 * numba.get_num_threads(), max(n, 1)) if parallel else 1
    kernel = _coordinate_parallel if parallel else _coordinate_serial
    kernel(indptr, indices, np.ascontiguousarray(w, dtype=np.float64),
           np.ascontiguousarray(t, dtype=np.float64), x_new, f, base,
           np.ascontiguousarray(pp), np.ascontiguousarray(ph), float(alpha), scale, z,
           bool(mode), sse, bool(want_sse), n_chunks)
    return x_new, float(sse.sum())
