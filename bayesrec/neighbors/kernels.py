"""numba kernels of the neighbourhood models (compiled once, cached on disk).

Why numba here (the house rule asks for a reason): the two hot loops are data-dependent scans
that whole-array numpy cannot express without materialising far more than it uses.

* :func:`similarity_rows` fuses the four sparse products of :mod:`.similarity`
  (``D D^T``, ``S P^T``, ``P S^T``, ``P P^T``) into one pass over the co-rating pairs with
  dense per-thread accumulators, then keeps the ``pool`` largest weights of the row.  Work is
  the number of co-rating pairs (``sum_c n_c^2``), memory ``O(threads * n)`` besides the
  ``(n, pool)`` output, whereas scipy's SpGEMM builds four index/value arrays per block (about
  4x the time, and ``O(block * n)`` memory).
* :func:`pair_sums`, :func:`scatter_rows`, :func:`gather_rows` walk each target's neighbour
  list in weight order and **stop** after ``max_hits`` neighbours that rated the column; the
  per-prediction neighbourhood ("the k most similar among those who rated the item") depends on
  that early stop, which a vectorized gather would replace by a scan of the whole list.  The
  look-up "did neighbour j rate column c" is an O(1) read of a dense marker of the column's
  raters, set once per distinct column (pairs are sorted by column).

:func:`similarity_rows` runs in parallel over rows (``prange``); the prediction kernels are
serial (their work is small next to the similarities, and a serial kernel compiles in a third
of the time).  All are exact reformulations, checked
against the sparse-product engine and against nested-loop references in the tests.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, nogil=True, inline="always")
def _better(w1, j1, w2, j2):
    """Order of the neighbour lists: larger weight first, ties to the smaller index."""
    return w1 > w2 or (w1 == w2 and j1 < j2)


@njit(cache=True, nogil=True)
def _heap_push(hw, hj, size, cap, w, j):
    """Keep the ``cap`` best (weight, index) in a binary heap whose root is the worst kept."""
    if size < cap:
        pos = size
        size += 1
        while pos > 0:  # sift up: the parent must be worse than the child
            parent = (pos - 1) >> 1
            if _better(hw[parent], hj[parent], w, j):
                hw[pos] = hw[parent]
                hj[pos] = hj[parent]
                pos = parent
            else:
                break
        hw[pos] = w
        hj[pos] = j
        return size
    if not _better(w, j, hw[0], hj[0]):
        return size
    pos = 0  # replace the root and sift down
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and _better(hw[child], hj[child], hw[child + 1], hj[child + 1]):
            child += 1  # the worse of the two children
        if _better(w, j, hw[child], hj[child]):
            hw[pos] = hw[child]
            hj[pos] = hj[child]
            pos = child
        else:
            break
    hw[pos] = w
    hj[pos] = j
    return size


@njit(cache=True, nogil=True)
def _heap_drain(hw, hj, size, out_idx, out_w, row):
    """Empty the heap worst-first into ``out_*[row, :size]`` from the back: best first."""
    while size > 0:
        size -= 1
        out_idx[row, size] = hj[0]
        out_w[row, size] = hw[0]
        w = hw[size]
        j = hj[size]
        pos = 0  # move the last element to the root and sift down
        while True:
            child = 2 * pos + 1
            if child >= size:
                break
            if child + 1 < size and _better(hw[child], hj[child], hw[child + 1], hj[child + 1]):
                child += 1
            if _better(w, j, hw[child], hj[child]):
                hw[pos] = hw[child]
                hj[pos] = hj[child]
                pos = child
            else:
                break
        if size > 0:
            hw[pos] = w
            hj[pos] = j


@njit(parallel=True, cache=True)
def similarity_rows(indptr, indices, data, t_indptr, t_indices, t_data, start, stop,
                    min_overlap, pool, n_chunks, out_idx, out_w, out_cnt):
    """Top-``pool`` overlap-restricted weights of rows ``start..stop-1`` (see :mod:`.similarity`).

    ``indptr/indices/data``: the CSR of ``D`` (rows = targets); ``t_*``: the CSR of ``D^T``.
    Outputs are written in place at rows ``0..stop-start-1``; unused slots are left as given.
    """
    n = len(indptr) - 1
    n_rows = stop - start
    chunk = (n_rows + n_chunks - 1) // n_chunks
    for ch in prange(n_chunks):
        acc = np.zeros((n, 4))  # per row b: sum d_a d_b, sum d_a^2, sum d_b^2, count
        touched = np.empty(n, np.int64)
        hw = np.empty(pool)
        hj = np.empty(pool, np.int64)
        for a in range(start + ch * chunk, min(stop, start + (ch + 1) * chunk)):
            nt = 0
            for p in range(indptr[a], indptr[a + 1]):
                c = indices[p]
                da = data[p]
                da2 = da * da
                for q in range(t_indptr[c], t_indptr[c + 1]):
                    b = t_indices[q]
                    db = t_data[q]
                    if acc[b, 3] == 0:
                        touched[nt] = b
                        nt += 1
                    acc[b, 0] += da * db
                    acc[b, 1] += da2
                    acc[b, 2] += db * db
                    acc[b, 3] += 1.0
            size = 0
            for s in range(nt):
                b = touched[s]
                if b != a and acc[b, 3] >= min_overlap:
                    den = acc[b, 1] * acc[b, 2]
                    if den > 0:
                        size = _heap_push(hw, hj, size, pool, acc[b, 0] / np.sqrt(den), b)
            row = a - start
            _heap_drain(hw, hj, size, out_idx, out_w, row)
            for r in range(size):
                out_cnt[row, r] = int(acc[out_idx[row, r], 3])
            for s in range(nt):
                b = touched[s]
                acc[b, 0] = 0.0
                acc[b, 1] = 0.0
                acc[b, 2] = 0.0
                acc[b, 3] = 0.0


@njit(cache=True, nogil=True)
def _check_range(idx, n):
    """Refuse an index outside ``[0, n)``: the kernels below read memory without bounds checks.

    The public methods validate their inputs first (with a message naming the argument);
    this is the last line of defence, so that a bad index is an exception, never a crash.
    """
    for v in idx:
        if v < 0 or v >= n:
            raise ValueError("neighbourhood kernel: index out of range")


@njit(cache=True, nogil=True, inline="always")
def _scan(nb_idx, nb_w, t, has, val, max_scan, max_hits, positive_only):
    """Walk target ``t``'s neighbours (decreasing weight) and sum over those marked in ``has``.

    Stops after ``max_hits`` marked neighbours, after ``max_scan`` entries, at the padding,
    or (``positive_only``) at the first non-positive weight.
    """
    hits = 0
    s_num = 0.0
    s_den = 0.0
    for r in range(max_scan):
        j = nb_idx[t, r]
        if j < 0:
            break
        w = nb_w[t, r]
        if positive_only and w <= 0:
            break
        if has[j]:
            s_num += w * val[j]
            s_den += abs(w)
            hits += 1
            if hits >= max_hits:
                break
    return s_num, s_den


@njit(cache=True, nogil=True)
def pair_sums(o_indptr, o_indices, o_dev, nb_idx, nb_w, targets, cols, order, max_scan,
              max_hits, positive_only):
    """``sum w dev`` and ``sum |w|`` for each (target, column) pair.

    ``o_*`` is the deviation matrix with the columns as rows (items x users for user-user),
    ``order`` sorts the pairs by column.  For each distinct column a dense marker of the targets
    that rated it (and their deviations) is set once; each pair then walks its target's
    neighbour list with O(1) look-ups (see :func:`_scan`).
    """
    n = nb_idx.shape[0]
    n_pairs = len(targets)
    _check_range(targets, n)
    _check_range(cols, len(o_indptr) - 1)
    num = np.zeros(n_pairs)
    den = np.zeros(n_pairs)
    has = np.zeros(n, np.bool_)
    val = np.zeros(n)
    i = 0
    while i < n_pairs:
        c = cols[order[i]]
        for q in range(o_indptr[c], o_indptr[c + 1]):
            has[o_indices[q]] = True
            val[o_indices[q]] = o_dev[q]
        while i < n_pairs and cols[order[i]] == c:
            p = order[i]
            num[p], den[p] = _scan(nb_idx, nb_w, targets[p], has, val, max_scan, max_hits,
                                   positive_only)
            i += 1
        for q in range(o_indptr[c], o_indptr[c + 1]):
            has[o_indices[q]] = False
    return num, den


@njit(cache=True, nogil=True)
def scatter_rows(indptr, indices, dev, nb_idx, nb_w, targets, n_cols, max_scan, max_hits,
                 positive_only):
    """Sums of :func:`pair_sums` for every column of each target, shape ``(len(targets), n_cols)``.

    Walks the target's neighbours in weight order and scatters each neighbour's deviation row;
    a column stops accepting neighbours after ``max_hits`` of them (same result as the scan).
    """
    b_n = len(targets)
    _check_range(targets, nb_idx.shape[0])
    num = np.zeros((b_n, n_cols))
    den = np.zeros((b_n, n_cols))
    for b in range(b_n):
        t = targets[b]
        hits = np.zeros(n_cols, np.int32)
        for r in range(max_scan):
            j = nb_idx[t, r]
            if j < 0:
                break
            w = nb_w[t, r]
            if positive_only and w <= 0:
                break
            aw = abs(w)
            for q in range(indptr[j], indptr[j + 1]):
                c = indices[q]
                if hits[c] < max_hits:
                    num[b, c] += w * dev[q]
                    den[b, c] += aw
                    hits[c] += 1
    return num, den


@njit(cache=True, nogil=True)
def gather_rows(o_indptr, o_indices, o_dev, nb_idx, nb_w, cols, max_scan, max_hits,
                positive_only):
    """Sums of :func:`pair_sums` for every target and each given column: ``(len(cols), n)``.

    ``o_*`` is the deviation matrix with the columns as rows (users x items for item-item).
    A dense marker of the column's rated targets replaces the binary search.
    """
    n = nb_idx.shape[0]
    b_n = len(cols)
    _check_range(cols, len(o_indptr) - 1)
    num = np.zeros((b_n, n))
    den = np.zeros((b_n, n))
    for b in range(b_n):
        c = cols[b]
        has = np.zeros(n, np.bool_)
        val = np.zeros(n)
        for q in range(o_indptr[c], o_indptr[c + 1]):
            has[o_indices[q]] = True
            val[o_indices[q]] = o_dev[q]
        for t in range(n):
            num[b, t], den[b, t] = _scan(nb_idx, nb_w, t, has, val, max_scan, max_hits,
                                         positive_only)
    return num, den
