"""Overlap-restricted similarities from blocked sparse products, keeping only the top k per row.

Rows are the "targets" (users for user-user, items for item-item), columns the other side.
Let ``D`` be the sparse ``(n, m)`` matrix of (centred) ratings whose pattern is exactly the
observed pairs (explicit zeros kept), ``P`` its 0/1 pattern and ``S = D o D`` (elementwise
square).  For rows ``a, b`` with co-rated set ``C_ab``::

    w_ab = sum_C d_a d_b / sqrt( sum_C d_a^2 * sum_C d_b^2 )

    numerator = D D^T     (sum_C d_a d_b: a product vanishes off the overlap)
    norm_a    = S P^T     (sum_C d_a^2, over the overlap only)
    norm_b    = P S^T     (sum_C d_b^2, over the overlap only)
    count     = P P^T     (|C_ab|)

With ``d = r - mean(row)`` this is the course's Pearson correlation (means over *all* the row's
ratings, norms over the overlap); with ``d = r`` it is cosine, with ``d = r - mean(column)``
Sarwar et al.'s (2001) adjusted cosine.  Pairs with ``count < min_overlap``, zero norms, and the
row itself get no weight.

The ``n x n`` matrix is never formed; only the ``k`` largest weights of each row are kept.
Ties are broken by the smaller index, which is the order of the course's ``SortedList`` of
``(-w, j)``.  Two engines compute exactly this:

* ``engine="sparse"``: rows in blocks of ``block_size``; each block's four scipy products are
  densified to ``(block_size, n)`` arrays and reduced with ``argpartition``.  Work memory is a
  small multiple of ``8 * block_size * n`` bytes (the default keeps one array near 64 MiB).
* ``engine="numba"`` (default): the four sums fused into one pass over the co-rating pairs per
  row, with dense per-thread accumulators and a bounded heap of the ``k`` best
  (:func:`bayesrec.neighbors.kernels.similarity_rows`): work memory ``~ 48 * n`` bytes per
  thread, 4-5x faster (item-item on ml-latest-small: ~0.7 s against ~3-6 s).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .._validation import check_bool, check_choice, check_positive, check_sparse
from ..progress import progress_bar

#: default size of one dense ``(block_size, n)`` float64 work array, in bytes
BLOCK_BYTES = 1 << 26


@dataclass(frozen=True)
class TopK:
    """The kept neighbours of every row, strongest first; ``-1`` / ``0`` pad short lists.

    Attributes
    ----------
    indices : ndarray of int32, shape (n, k)
    weights : ndarray of float64, shape (n, k)
    overlaps : ndarray of int32, shape (n, k)   co-rating counts ``|C_ab|``
    """

    indices: np.ndarray
    weights: np.ndarray
    overlaps: np.ndarray

    def to_sparse(self, n: int, absolute: bool = False) -> sp.csr_matrix:
        """The ``(n, n)`` sparse weight matrix ``W`` (``|W|`` with ``absolute``)."""
        valid = self.indices >= 0
        rows = np.broadcast_to(np.arange(self.indices.shape[0])[:, None], self.indices.shape)
        w = np.abs(self.weights) if absolute else self.weights
        return sp.csr_matrix((w[valid], (rows[valid], self.indices[valid])), shape=(n, n))


def default_block_size(n: int, block_bytes: int = BLOCK_BYTES) -> int:
    """Rows per block so that one dense ``(block, n)`` float64 array takes ~``block_bytes``."""
    return int(max(1, min(n, block_bytes // (8 * max(n, 1)))))


def top_k_rows(w: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of the ``k`` largest finite entries of each row of ``w``.

    Order: larger value first, ties by smaller column (deterministic).  Rows with fewer than
    ``k`` finite entries are padded with index ``-1`` and value ``0``.
    """
    b, n = w.shape
    idx = np.full((b, k), -1, np.int32)
    val = np.zeros((b, k))
    if n == 0 or b == 0:
        return idx, val
    kk = min(k, n)
    part = np.argpartition(-w, kk - 1, axis=1)[:, kk - 1:kk]
    kth = np.take_along_axis(w, part, axis=1)  # the k-th largest value of every row
    del part
    # every entry >= the k-th largest (all ties at the boundary), then an exact ordering
    r, c = np.nonzero((w >= kth) & np.isfinite(w))
    v = w[r, c]
    order = np.lexsort((c, -v, r))
    r, c, v = r[order], c[order], v[order]
    rank = np.arange(len(r)) - np.searchsorted(r, r, side="left")
    keep = rank < k
    idx[r[keep], rank[keep]] = c[keep]
    val[r[keep], rank[keep]] = v[keep]
    return idx, val


def overlap_similarity_block(Db: sp.csr_matrix, Pb: sp.csr_matrix, Sb: sp.csr_matrix,
                             DT: sp.csr_matrix, PT: sp.csr_matrix, ST: sp.csr_matrix,
                             min_overlap: int, row_offset: int
                             ) -> tuple[np.ndarray, np.ndarray]:
    """Dense weights and co-rating counts of a block of rows against all rows.

    ``Db, Pb, Sb`` are the block's rows of ``D, P, S``; ``DT, PT, ST`` the transposes of the
    full matrices as CSR.  Invalid pairs (too small an overlap, a zero norm, the row itself)
    get ``-inf``.
    """
    num = (Db @ DT).toarray()
    norm_a = (Sb @ PT).toarray()
    norm_b = (Pb @ ST).toarray()
    count = (Pb @ PT).toarray()
    norm_a *= norm_b
    del norm_b
    ok = (count >= min_overlap) & (norm_a > 0)
    b = Db.shape[0]
    ok[np.arange(b), row_offset + np.arange(b)] = False
    w = np.full(num.shape, -np.inf)
    np.divide(num, np.sqrt(norm_a, out=norm_a), out=w, where=ok)
    return w, count


ENGINES = ("numba", "sparse")


def top_k_similarities(D: sp.csr_matrix, k: int, min_overlap: int,
                       block_size: int | None = None, engine: str = "numba",
                       progress: bool = False, description: str = "similarities",
                       rows: tuple[int, int] | None = None) -> TopK:
    """The ``k`` most similar rows of every row of ``D`` (overlap-restricted, see module doc).

    Parameters
    ----------
    D : scipy.sparse.csr_matrix, shape (n, m)
        Centred values; its pattern must be the observed pairs (explicit zeros kept).
    k, min_overlap : int
    block_size : int, optional
        Rows per block (default: :func:`default_block_size`; the numba engine only uses it to
        report progress).
    engine : {"numba", "sparse"}
        ``"sparse"``: the four scipy sparse products per block, densified, ``argpartition``
        (the formulation above, memory ~``10 * 8 * block_size * n`` bytes).  ``"numba"``: the
        same four sums fused into one pass over the co-rating pairs
        (:func:`~bayesrec.neighbors.kernels.similarity_rows`, memory ``O(threads * n)``).
        Both give the same neighbours and weights (to rounding).
    progress : bool
        Show a progress bar over the blocks.
    rows : (start, stop), optional
        Compute only these rows (the others stay empty), against all rows: used to time a
        sample of a large problem.
    """
    check_choice("engine", engine, ENGINES)
    k = check_positive("k", k, integer=True)
    min_overlap = check_positive("min_overlap", min_overlap, integer=True, allow_zero=True)
    if block_size is not None:
        block_size = check_positive("block_size", block_size, integer=True)
    progress = check_bool("progress", progress)
    # an index past the shape would be read out of bounds by the compiled kernel
    D = sp.csr_matrix(check_sparse("D", D) if sp.issparse(D) else D)
    if not np.isfinite(D.data).all():
        raise ValueError("D holds NaN or infinite values")
    D.sort_indices()
    n = D.shape[0]
    if rows is not None:
        if not (isinstance(rows, tuple | list) and len(rows) == 2):
            raise ValueError(f"rows must be a (start, stop) pair, got {rows!r}")
        lo = check_positive("rows start", rows[0], integer=True, allow_zero=True)
        hi = check_positive("rows stop", rows[1], integer=True)
        if not lo < hi <= n:
            raise ValueError(f"rows must satisfy 0 <= start < stop <= {n}, got {rows!r}")
    DT = D.T.tocsr()
    DT.sort_indices()
    indices = np.full((n, k), -1, np.int32)
    weights = np.zeros((n, k))
    overlaps = np.zeros((n, k), np.int32)
    if engine == "sparse":
        P = sp.csr_matrix((np.ones_like(D.data), D.indices, D.indptr), shape=D.shape)
        S = sp.csr_matrix((D.data * D.data, D.indices, D.indptr), shape=D.shape)
        PT, ST = (M.T.tocsr() for M in (P, S))
        bs = default_block_size(n) if block_size is None else int(block_size)
    else:
        from numba import get_num_threads

        from . import kernels
        # blocks only pace the progress bar (each block is one parallel launch);
        # chunks balance the threads inside a block
        if block_size is not None:
            bs = int(block_size)
        else:
            bs = max(1, -(-n // 50)) if progress else max(n, 1)
        n_chunks = 8 * get_num_threads()
    first, last = (0, n) if rows is None else (max(0, int(rows[0])), min(n, int(rows[1])))
    starts = range(first, last, bs)
    with progress_bar(len(starts), description, enabled=progress) as bar:
        for s in starts:
            e = min(last, s + bs)
            if engine == "sparse":
                w, count = overlap_similarity_block(D[s:e], P[s:e], S[s:e], DT, PT, ST,
                                                    min_overlap, s)
                idx, val = top_k_rows(w, k)
                del w
                indices[s:e] = idx
                weights[s:e] = val
                safe = np.maximum(idx, 0)
                overlaps[s:e] = np.where(idx >= 0, np.take_along_axis(count, safe, axis=1), 0)
            else:
                kernels.similarity_rows(D.indptr, D.indices, D.data, DT.indptr, DT.indices,
                                        DT.data, s, e, min_overlap, k, min(n_chunks, e - s),
                                        indices[s:e], weights[s:e], overlaps[s:e])
            bar.update()
    return TopK(indices, weights, overlaps)
