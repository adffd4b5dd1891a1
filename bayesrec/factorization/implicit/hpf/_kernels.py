"""Compiled O(nnz K) passes over the interactions, the only per-interaction work of HPF.

Both passes walk the interactions in CSR order, one contiguous block of users per parallel
task (``InteractionData.blocks``).  User statistics are written per user (no two tasks share
a user); item statistics go to a per-block slab summed afterwards in a fixed order, so the
result does not depend on the number of threads.  Zeros of the count matrix never appear:
they enter the updates only through column sums, computed outside in O((n_users + n_items) K).

Each pass has a serial and a parallel (``prange`` over the blocks) driver around the same
per-block kernel; the parallel one pays a fork/join per call that only large data amortizes
(:data:`PARALLEL_MIN_NNZ`).  Both give identical numbers.
"""

from __future__ import annotations

import numba
import numpy as np

# below this many interactions the serial drivers are used
PARALLEL_MIN_NNZ = 1_000_000


@numba.njit(cache=True)
def _phi_block(b, indptr, indices, y, blocks, et, eb, st, sb, elog_t, elog_b, user_stat,
               slab):
    K = et.shape[1]
    buf = np.empty(K)
    acc = 0.0
    for u in range(blocks[b], blocks[b + 1]):
        for p in range(indptr[u], indptr[u + 1]):
            w = y[p]
            if w == 0.0:
                continue
            i = indices[p]
            s = 0.0
            for k in range(K):
                buf[k] = et[u, k] * eb[i, k]
                s += buf[k]
            if s > 1e-280:
                acc += w * (np.log(s) + st[u] + sb[i])
            else:  # underflow: exact log-sum-exp
                m = -np.inf
                for k in range(K):
                    buf[k] = elog_t[u, k] + elog_b[i, k]
                    m = max(m, buf[k])
                s = 0.0
                for k in range(K):
                    buf[k] = np.exp(buf[k] - m)
                    s += buf[k]
                acc += w * (np.log(s) + m)
            scale = w / s
            for k in range(K):
                v = buf[k] * scale
                user_stat[u, k] += v
                slab[i, k] += v
    return acc


@numba.njit(cache=True)
def _sum_slabs(slabs):
    out = np.zeros(slabs.shape[1:])
    for b in range(slabs.shape[0]):
        out += slabs[b]
    return out


@numba.njit(cache=True)
def _phi_serial(indptr, indices, y, blocks, et, eb, st, sb, elog_t, elog_b):
    n_blocks = len(blocks) - 1
    user_stat = np.zeros(et.shape)
    item_stat = np.zeros(eb.shape)
    lse = 0.0
    for b in range(n_blocks):  # same block order and sums as the parallel driver
        slab = np.zeros(eb.shape)
        lse += _phi_block(b, indptr, indices, y, blocks, et, eb, st, sb, elog_t, elog_b,
                          user_stat, slab)
        item_stat += slab
    return user_stat, item_stat, lse


@numba.njit(parallel=True, cache=True)
def _phi_parallel(indptr, indices, y, blocks, et, eb, st, sb, elog_t, elog_b):
    n_blocks = len(blocks) - 1
    user_stat = np.zeros(et.shape)
    slabs = np.zeros((n_blocks,) + eb.shape)
    parts = np.zeros(n_blocks)
    for b in numba.prange(n_blocks):
        parts[b] = _phi_block(b, indptr, indices, y, blocks, et, eb, st, sb, elog_t, elog_b,
                              user_stat, slabs[b])
    lse = 0.0
    for b in range(n_blocks):
        lse += parts[b]
    return user_stat, _sum_slabs(slabs), lse


def phi_pass(indptr, indices, y, blocks, et, eb, st, sb, elog_t, elog_b):
    """CAVI's multinomial step (the ``phi_ui`` update) fused with its sufficient statistics.

    ``phi_uik ∝ exp(E[log theta_uk] + E[log beta_ik])`` is formed from the row-shifted tables
    ``et[u] = exp(E[log theta_u] - st[u])`` and ``eb[i] = exp(E[log beta_i] - sb[i])`` (one
    product per cell instead of one ``exp``); if that sum underflows the log-sum-exp is
    redone from ``elog_t``/``elog_b``.

    Returns ``(user_stat, item_stat, lse)``: ``user_stat[u, k] = sum_i y_ui phi_uik``,
    ``item_stat[i, k] = sum_u y_ui phi_uik`` and
    ``lse = sum_ui y_ui log sum_k exp(E[log theta_uk] + E[log beta_ik])``.
    """
    run = _phi_parallel if len(indices) >= PARALLEL_MIN_NNZ else _phi_serial
    return run(indptr, indices, y, blocks, et, eb, st, sb, elog_t, elog_b)


@numba.njit(cache=True)
def _allocate_block(b, indptr, indices, counts, blocks, unit_start, uniforms, theta, beta,
                    user_z, slab):
    K = theta.shape[1]
    cum = np.empty(K)
    q = unit_start[b]
    acc = 0.0
    for u in range(blocks[b], blocks[b + 1]):
        for p in range(indptr[u], indptr[u + 1]):
            n = counts[p]
            if n == 0:
                continue
            i = indices[p]
            s = 0.0
            for k in range(K):
                s += theta[u, k] * beta[i, k]
                cum[k] = s
            if s > 0.0:
                acc += n * np.log(s)
            else:  # all K products underflowed: every component equally likely
                acc += n * -745.0
                for k in range(K):
                    cum[k] = k + 1.0
                s = float(K)
            for _ in range(n):
                t = uniforms[q] * s
                q += 1
                k = 0
                while k < K - 1 and cum[k] <= t:
                    k += 1
                user_z[u, k] += 1.0
                slab[i, k] += 1.0
    return acc


@numba.njit(cache=True)
def _allocate_serial(indptr, indices, counts, blocks, unit_start, uniforms, theta, beta):
    user_z = np.zeros(theta.shape)
    item_z = np.zeros(beta.shape)
    ll = 0.0
    for b in range(len(blocks) - 1):
        slab = np.zeros(beta.shape)
        ll += _allocate_block(b, indptr, indices, counts, blocks, unit_start, uniforms, theta,
                              beta, user_z, slab)
        item_z += slab
    return user_z, item_z, ll


@numba.njit(parallel=True, cache=True)
def _allocate_parallel(indptr, indices, counts, blocks, unit_start, uniforms, theta, beta):
    n_blocks = len(blocks) - 1
    user_z = np.zeros(theta.shape)
    slabs = np.zeros((n_blocks,) + beta.shape)
    parts = np.zeros(n_blocks)
    for b in numba.prange(n_blocks):
        parts[b] = _allocate_block(b, indptr, indices, counts, blocks, unit_start, uniforms,
                                   theta, beta, user_z, slabs[b])
    ll = 0.0
    for b in range(n_blocks):
        ll += parts[b]
    return user_z, _sum_slabs(slabs), ll


def allocate_pass(indptr, indices, counts, blocks, unit_start, uniforms, theta, beta):
    """Gibbs step of the auxiliary counts: ``z_ui ~ Mult(y_ui, theta_u * beta_i / theta_u.beta_i)``.

    Each of the ``y_ui`` units of a cell is assigned to component ``k`` by inverse-CDF with
    one uniform (``uniforms`` holds ``sum y`` of them, block ``b`` starting at
    ``unit_start[b]``).  Returns ``(user_z, item_z, loglik)`` with ``user_z[u, k] = sum_i z_uik``,
    ``item_z[i, k] = sum_u z_uik`` and ``loglik = sum_ui y_ui log(theta_u . beta_i)`` (the
    non-constant part of the log-likelihood at the current factors, zeros excluded).
    """
    run = _allocate_parallel if len(indices) >= PARALLEL_MIN_NNZ else _allocate_serial
    return run(indptr, indices, counts, blocks, unit_start, uniforms, theta, beta)
