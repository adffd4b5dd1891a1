"""Association rules: frequent itemsets by sparse-matrix apriori, then support/confidence/lift.

Definitions (Agrawal, Imielinski & Swami 1993; Agrawal & Srikant 1994), for ``N`` baskets::

    support(I)        = #{baskets containing I} / N
    confidence(A->C)  = support(A u C) / support(A)            (estimate of P(C | A))
    lift(A->C)        = confidence(A->C) / support(C)          (> 1: positive association)
    IS / cosine(A->C) = support(A u C) / sqrt(support(A) support(C))   (Tan & Kumar 2000)

The Bayesian reading: ``confidence`` is the maximum-likelihood estimate of ``P(C | A)``; with a
Beta prior it becomes the smoothed ratio of :mod:`bayesrec.ranking`.  This module returns the
classical quantities so that the output matches mlxtend's column for column.

Algorithm: apriori on a vertical (basket-id list) layout held as sparse matrices.

* Baskets are a binary CSR matrix ``X`` (baskets x items).  Item supports are column sums.
* Pairs: ``X_f^T X_f`` on the frequent items, one sparse product (no loop over baskets).
* Level ``k >= 3``: candidates come from the apriori join of ``(k-1)``-itemsets sharing their
  first ``k-2`` items; the basket indicator of a candidate ``S u {a, b}`` is the elementwise
  product of the indicator columns of ``S u {a}`` and ``S u {b}``, so all candidates of a level
  are counted by one sparse elementwise product of two gathered column blocks, and the frequent
  ones' columns are kept for the next level.
* Rules: for every frequent itemset and every split into antecedent and consequent, both
  supports are looked up vectorised (itemsets encoded as integer keys); no Python loop per rule
  except building the output frozensets, which are created once per frequent itemset and shared.

Why apriori rather than FP-growth: with the vertical sparse layout every level is a handful of
vectorised SciPy calls whose cost is the total size of the basket-id lists involved, while
FP-growth's conditional trees are pointer structures that need a Python or numba loop per node.
At recommender supports (a few percent) the number of levels is small (<= 8 on MovieLens), which
is apriori's good case; the ``(k-1)``-subset pruning step is skipped because candidates are
counted exactly anyway.
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._validation import check_finite, check_interval, check_positive, check_sparse
from .data import Ratings

#: Columns of the rules frame: mlxtend's ``association_rules`` columns plus ``cosine`` (IS).
RULE_COLUMNS = ["antecedents", "consequents", "antecedent support", "consequent support",
                "support", "confidence", "lift", "representativity", "leverage", "conviction",
                "zhangs_metric", "jaccard", "certainty", "kulczynski", "cosine"]


# --------------------------------------------------------------------------- baskets
def basket_matrix(baskets, min_rating: float = 4.0) -> tuple[sp.csr_matrix, np.ndarray]:
    """Binary baskets x items CSR matrix and the item labels.

    ``baskets`` may be

    * a :class:`~bayesrec.data.Ratings`: one basket per user (every user, also those with an
      empty basket) holding the items rated ``>= min_rating``; labels are the item ids;
    * a boolean one-hot ``pandas.DataFrame`` (mlxtend's input format); labels are the columns;
    * a scipy sparse matrix (baskets x items; any stored non-zero is membership);
    * any iterable of collections of hashable items (repeats inside a basket count once).
    """
    if isinstance(baskets, Ratings):
        keep = baskets.ratings >= check_finite("min_rating", min_rating)
        x = sp.csr_matrix((np.ones(int(keep.sum()), np.int8),
                           (baskets.users[keep], baskets.items[keep])), shape=baskets.shape)
        labels = np.asarray(baskets.item_ids)
    elif isinstance(baskets, pd.DataFrame):
        values = baskets.to_numpy()
        if values.dtype != bool and not np.isin(values, [0, 1]).all():
            raise ValueError("a one-hot DataFrame must hold only booleans or 0/1")
        x = sp.csr_matrix(values.astype(np.int8))
        labels = np.asarray(baskets.columns)
    elif sp.issparse(baskets):
        x = sp.csr_matrix(check_sparse("baskets", baskets))
        x.eliminate_zeros()
        x = sp.csr_matrix((np.ones(x.nnz, np.int8), x.indices, x.indptr), shape=x.shape)
        labels = np.arange(x.shape[1])
    else:
        if isinstance(baskets, (str, bytes)):
            raise ValueError("baskets must be an iterable of item collections, not a string")
        rows = [list(b) if not isinstance(b, (str, bytes)) else [b] for b in baskets]
        lengths = np.fromiter((len(r) for r in rows), np.int64, len(rows))
        flat = np.empty(int(lengths.sum()), dtype=object)
        flat[:] = [item for r in rows for item in r]
        missing = pd.isna(flat)
        if missing.any():  # a NaN / None item is a data error, not an item called "nan"
            basket = int(np.searchsorted(np.cumsum(lengths), np.flatnonzero(missing)[0],
                                         side="right"))
            raise ValueError(f"baskets hold a missing item (NaN/None) in basket {basket}")
        codes, uniques = pd.factorize(flat, use_na_sentinel=False)
        basket_id = np.repeat(np.arange(len(rows)), lengths)
        x = sp.csr_matrix((np.ones(len(codes), np.int8), (basket_id, codes)),
                          shape=(len(rows), len(uniques)))
        labels = np.asarray(uniques, dtype=object)
    x.sum_duplicates()
    x.data[:] = 1
    if x.shape[0] == 0:
        raise ValueError("no baskets")
    return x, labels


def _check_fraction(name, value, allow_zero=True):
    return check_interval(name, value, 0.0, 1.0, closed="both" if allow_zero else "right")


# --------------------------------------------------------------------------- itemsets
class _Level:
    """Frequent itemsets of one size: sorted item-index rows, counts, basket indicator columns."""

    def __init__(self, items: np.ndarray, counts: np.ndarray, columns):
        self.items = items      # (m, k) int64, rows sorted lexicographically, items ascending
        self.counts = counts    # (m,) int64
        self.columns = columns  # (indptr, indices): sorted basket ids per itemset, CSC-style


def _join_candidates(items: np.ndarray, budget: _Budget | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (left, right) of rows sharing all but the last item, left < right (apriori-gen)."""
    m, k = items.shape
    if m < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    same = np.ones(m - 1, bool) if k == 1 else (items[1:, :-1] == items[:-1, :-1]).all(axis=1)
    group_start = np.flatnonzero(np.r_[True, ~same])
    group_end = np.r_[group_start[1:], m]
    sizes = group_end - group_start
    if budget is not None:
        budget.candidates(int((sizes * (sizes - 1) // 2).sum()), k + 1)
    end_of_row = np.repeat(group_end, sizes)
    partners = end_of_row - np.arange(m) - 1  # rows after me in my group
    left = np.repeat(np.arange(m), partners)
    first = np.cumsum(partners) - partners
    right = left + 1 + (np.arange(len(left)) - np.repeat(first, partners))
    return left, right


@numba.njit(cache=True, nogil=True)
def _intersection_sizes(indptr, indices, left, right):
    """``|list(left[c]) & list(right[c])|`` for sorted basket-id lists stored as CSC columns.

    numba: a merge of two sorted lists per candidate has no NumPy formulation that avoids
    materialising both gathered lists (SciPy's column gather + elementwise product costs
    ~20x more on MovieLens).
    """
    out = np.empty(len(left), np.int64)
    for c in range(len(left)):
        i, i_end = indptr[left[c]], indptr[left[c] + 1]
        j, j_end = indptr[right[c]], indptr[right[c] + 1]
        count = 0
        while i < i_end and j < j_end:
            a, b = indices[i], indices[j]
            if a == b:
                count += 1
                i += 1
                j += 1
            elif a < b:
                i += 1
            else:
                j += 1
        out[c] = count
    return out


@numba.njit(cache=True, nogil=True)
def _intersections(indptr, indices, left, right, sizes):
    """The intersected lists themselves, as a new CSC (indptr, indices) with ``sizes``."""
    new_indptr = np.zeros(len(left) + 1, np.int64)
    for c in range(len(left)):
        new_indptr[c + 1] = new_indptr[c] + sizes[c]
    new_indices = np.empty(new_indptr[-1], indices.dtype)
    for c in range(len(left)):
        i, i_end = indptr[left[c]], indptr[left[c] + 1]
        j, j_end = indptr[right[c]], indptr[right[c] + 1]
        k = new_indptr[c]
        while i < i_end and j < j_end:
            a, b = indices[i], indices[j]
            if a == b:
                new_indices[k] = a
                k += 1
                i += 1
                j += 1
            elif a < b:
                i += 1
            else:
                j += 1
    return new_indptr, new_indices


def _count_candidates(cols: tuple, left, right, min_count):
    """Frequent candidates ``list(left) & list(right)``: (kept positions, counts, new lists)."""
    indptr, indices = cols
    sizes = _intersection_sizes(indptr, indices, left, right)
    keep = np.flatnonzero(sizes >= min_count)
    new = _intersections(indptr, indices, left[keep], right[keep], sizes[keep])
    return keep, sizes[keep], new


def _prune(items: np.ndarray, left, right, lookup) -> np.ndarray:
    """Apriori pruning: keep candidates whose every (k-1)-subset is frequent.

    The candidate ``S u {a, b}`` (``S`` = shared prefix) has the frequent subsets ``S u {a}``
    and ``S u {b}`` by construction; the others drop one element of ``S``.
    """
    ok = np.ones(len(left), bool)
    cand = np.column_stack([items[left], items[right, -1]])
    k = cand.shape[1]
    for drop in range(k - 2):
        sub = np.delete(cand, drop, axis=1)
        ok &= lookup.contains(sub)
    return ok


class _Budget:
    """The ``max_itemsets`` guard: refuse a mining run before it allocates without bound.

    At a small ``min_support`` the number of frequent itemsets grows combinatorially with
    their size (every subset of a frequent itemset is frequent), so one careless call can fill
    the memory.  Work is checked before each level is counted (candidates) and after
    (frequent itemsets so far).
    """

    #: candidates counted per level, in multiples of ``max_itemsets``
    CANDIDATE_FACTOR = 10

    def __init__(self, max_itemsets: int | None):
        self.limit = max_itemsets
        self.total = 0

    def _fail(self, what: str, count: int, size: int):
        raise ValueError(
            f"rule mining stopped: {what} {count:,} (itemsets of size {size}) exceeds the "
            f"budget max_itemsets={self.limit:,}; raise min_support, set max_len, or raise "
            "max_itemsets (None: no limit)")

    def candidates(self, count: int, size: int) -> None:
        if self.limit is not None and count > self.CANDIDATE_FACTOR * self.limit:
            self._fail("the number of candidates", count, size)

    def add(self, count: int, size: int) -> None:
        self.total += count
        if self.limit is not None and self.total > self.limit:
            self._fail("the number of frequent itemsets", self.total, size)


def _frequent_levels(x: sp.csr_matrix, min_support: float, max_len: int | None,
                     max_itemsets: int | None = None):
    """All frequent itemsets, by size; item indices refer to the columns of ``x``."""
    budget = _Budget(max_itemsets)
    n = x.shape[0]
    item_counts = np.asarray(x.sum(axis=0)).ravel().astype(np.int64)
    frequent = np.flatnonzero(item_counts / n >= min_support)
    budget.add(len(frequent), 1)
    min_count = _min_count(n, min_support)
    # from here on items are indices into ``frequent`` (small integer keys)
    levels = [_Level(np.arange(len(frequent))[:, None], item_counts[frequent], None)]
    if len(frequent) < 2 or (max_len is not None and max_len < 2):
        return levels, frequent
    xf = sp.csc_matrix(x[:, frequent], dtype=np.int32)
    xf.sort_indices()
    # pairs by one sparse product X_f^T X_f, whose entries are at most the co-occurring pairs
    f = len(frequent)
    b = np.diff(sp.csr_matrix(xf).indptr).astype(np.int64)
    budget.candidates(int(min(f * (f - 1) // 2, int((b * (b - 1) // 2).sum()))), 2)
    co = sp.triu(xf.T @ xf, k=1).tocoo()
    ok = co.data >= min_count
    budget.add(int(ok.sum()), 2)
    order = np.lexsort((co.col[ok], co.row[ok]))
    r, c, cnt = co.row[ok][order], co.col[ok][order], co.data[ok][order]
    if len(r) == 0:
        return levels, frequent
    r, c = r.astype(np.int64), c.astype(np.int64)
    cols = _intersections(xf.indptr.astype(np.int64), xf.indices, r, c, cnt.astype(np.int64))
    levels.append(_Level(np.column_stack([r, c]), cnt.astype(np.int64), cols))
    k = 2
    while max_len is None or k < max_len:
        prev = levels[-1]
        left, right = _join_candidates(prev.items, budget)
        if len(left) and k >= 3:
            keep = _prune(prev.items, left, right, _KeyIndex(prev.items, len(frequent)))
            left, right = left[keep], right[keep]
        if len(left) == 0:
            break
        idx, counts, cols = _count_candidates(prev.columns, left, right, min_count)
        prev.columns = None  # free memory
        if len(idx) == 0:
            break
        budget.add(len(idx), k + 1)
        items = np.column_stack([prev.items[left[idx]], prev.items[right[idx], -1]])
        levels.append(_Level(items, counts, cols))  # join order keeps rows lexicographic
        k += 1
    levels[-1].columns = None
    return levels, frequent


def _min_count(n: int, min_support: float) -> int:
    """Smallest count ``c`` with ``c / n >= min_support`` in floating point (apriori's test)."""
    c = max(int(np.ceil(min_support * n)), 0)
    while c > 0 and (c - 1) / n >= min_support:
        c -= 1
    while c / n < min_support:
        c += 1
    return c


def _frozensets(levels, labels) -> list[np.ndarray]:
    """One frozenset of labels per frequent itemset (object arrays, one per size)."""
    out = []
    for lev in levels:
        arr = np.empty(len(lev.items), dtype=object)
        arr[:] = list(map(frozenset, labels[lev.items].tolist()))
        out.append(arr)
    return out


#: default ``max_itemsets``: a million frequent itemsets (their frozensets alone take ~0.5 GB)
MAX_ITEMSETS = 1_000_000


def frequent_itemsets(baskets, min_support: float, max_len: int | None = None,
                      min_rating: float = 4.0,
                      max_itemsets: int | None = MAX_ITEMSETS) -> pd.DataFrame:
    """Frequent itemsets as mlxtend returns them: columns ``support`` and ``itemsets``.

    See :func:`basket_matrix` for the accepted ``baskets``.  An itemset is frequent when
    ``count / n_baskets >= min_support``.  Mining stops with a ``ValueError`` once more than
    ``max_itemsets`` frequent itemsets (or ``10 * max_itemsets`` candidates of one size) turn
    up; ``None`` removes the guard.
    """
    x, labels = basket_matrix(baskets, min_rating)
    min_support = _check_fraction("min_support", min_support, allow_zero=False)
    max_len = _check_max_len(max_len)
    max_itemsets = _check_max_itemsets(max_itemsets)
    levels, frequent = _frequent_levels(x, min_support, max_len, max_itemsets)
    sets = _frozensets(levels, labels[frequent])
    n = x.shape[0]
    return pd.DataFrame({"support": np.concatenate([lev.counts / n for lev in levels]),
                         "itemsets": np.concatenate(sets)})


def _check_max_itemsets(max_itemsets):
    if max_itemsets is None:
        return None
    if (isinstance(max_itemsets, bool) or not isinstance(max_itemsets, (int, np.integer))
            or max_itemsets < 1):
        raise ValueError(f"max_itemsets must be a positive integer or None, got "
                         f"{max_itemsets!r}")
    return int(max_itemsets)


def _check_max_len(max_len):
    if max_len is None:
        return None
    return check_positive("max_len", max_len, integer=True)


# --------------------------------------------------------------------------- rules
class _KeyIndex:
    """Vectorised lookup of itemsets (rows of sorted item indices) of one size."""

    def __init__(self, items: np.ndarray, n_items: int):
        self.base = n_items
        k = items.shape[1]
        self.use_int = k * np.log2(max(n_items, 2)) < 62
        if self.use_int:
            keys = self._encode(items)
            self.order = np.argsort(keys, kind="stable")
            self.sorted = keys[self.order]
        else:
            self.index = pd.MultiIndex.from_arrays(list(items.T))

    def _encode(self, items):
        key = np.zeros(len(items), np.int64)
        for j in range(items.shape[1]):
            key = key * self.base + items[:, j]
        return key

    def find(self, items: np.ndarray) -> np.ndarray:
        """Row of each queried itemset (all queries must be present)."""
        if self.use_int:
            pos = np.searchsorted(self.sorted, self._encode(items))
            return self.order[pos]
        return self.index.get_indexer(pd.MultiIndex.from_arrays(list(items.T)))

    def contains(self, items: np.ndarray) -> np.ndarray:
        if self.use_int:
            keys = self._encode(items)
            pos = np.minimum(np.searchsorted(self.sorted, keys), len(self.sorted) - 1)
            return self.sorted[pos] == keys
        return self.index.get_indexer(pd.MultiIndex.from_arrays(list(items.T))) >= 0


def association_rules(baskets, min_support: float, min_confidence: float = 0.0,
                      min_lift: float | None = None, max_len: int | None = None,
                      min_rating: float = 4.0, sort_by: str | None = "lift",
                      max_itemsets: int | None = MAX_ITEMSETS) -> pd.DataFrame:
    """Association rules ``A -> C`` between frequent itemsets.

    Parameters
    ----------
    baskets : Ratings, one-hot DataFrame, sparse matrix or iterable of item collections
        See :func:`basket_matrix` (a ``Ratings`` gives one basket per user of the items rated
        ``>= min_rating``).
    min_support : float in (0, 1]
        Itemsets (``A u C``) must be in at least this fraction of baskets.
    min_confidence : float in [0, 1], default 0
        Keep rules with ``confidence >= min_confidence``.
    min_lift : float, optional
        Keep rules with ``lift >= min_lift``.
    max_len : int, optional
        Largest itemset size ``|A u C|``.
    sort_by : str or None, default "lift"
        Column to sort by (descending, ties by confidence then support); ``None`` keeps the
        generation order (itemset size, itemset, antecedent mask).
    max_itemsets : int or None, default 1,000,000
        Budget of frequent itemsets (see :func:`frequent_itemsets`): past it mining stops
        with a ``ValueError`` instead of exhausting the memory.

    Returns
    -------
    DataFrame with mlxtend's ``association_rules`` columns (``antecedents``, ``consequents``
    as frozensets, ``antecedent support``, ``consequent support``, ``support``,
    ``confidence``, ``lift``, ``representativity``, ``leverage``, ``conviction``,
    ``zhangs_metric``, ``jaccard``, ``certainty``, ``kulczynski``, same formulas) plus
    ``cosine``, the IS measure ``support(A u C) / sqrt(support(A) support(C))``.
    """
    x, labels = basket_matrix(baskets, min_rating)
    min_support = _check_fraction("min_support", min_support, allow_zero=False)
    min_confidence = _check_fraction("min_confidence", min_confidence)
    if min_lift is not None:
        min_lift = check_positive("min_lift", min_lift, allow_zero=True)
    if sort_by is not None and sort_by not in RULE_COLUMNS[2:]:
        raise ValueError(f"sort_by must be one of {RULE_COLUMNS[2:]} or None, got {sort_by!r}")
    max_len = _check_max_len(max_len)
    max_itemsets = _check_max_itemsets(max_itemsets)
    n = x.shape[0]
    levels, frequent = _frequent_levels(x, min_support, max_len, max_itemsets)
    lookups = [None] + [_KeyIndex(lev.items, len(frequent)) for lev in levels]
    sets = _frozensets(levels, labels[frequent])
    supports = [lev.counts / n for lev in levels]

    ant_parts, con_parts, sa_parts, sc_parts, sac_parts = [], [], [], [], []
    for k in range(2, len(levels) + 1):
        items, s_ac = levels[k - 1].items, supports[k - 1]
        for mask in range(1, 2 ** k - 1):
            in_a = np.array([(mask >> b) & 1 for b in range(k)], bool)
            a_size = int(in_a.sum())
            ia = lookups[a_size].find(items[:, in_a])
            ic = lookups[k - a_size].find(items[:, ~in_a])
            s_a, s_c = supports[a_size - 1][ia], supports[k - a_size - 1][ic]
            conf = s_ac / s_a
            ok = conf >= min_confidence
            if min_lift is not None:
                ok &= conf / s_c >= min_lift
            ok = np.flatnonzero(ok)
            ant_parts.append(sets[a_size - 1][ia[ok]])
            con_parts.append(sets[k - a_size - 1][ic[ok]])
            sa_parts.append(s_a[ok])
            sc_parts.append(s_c[ok])
            sac_parts.append(s_ac[ok])
    if not sac_parts:
        return pd.DataFrame({c: pd.Series(dtype=object if c in RULE_COLUMNS[:2] else float)
                             for c in RULE_COLUMNS})
    s_a, s_c, s_ac = (np.concatenate(p) for p in (sa_parts, sc_parts, sac_parts))
    conf = s_ac / s_a
    lift = conf / s_c
    leverage = s_ac - s_a * s_c
    with np.errstate(divide="ignore", invalid="ignore"):
        conviction = np.where(conf < 1.0, (1.0 - s_c) / (1.0 - conf), np.inf)
        denom = np.maximum(s_ac * (1 - s_a), s_a * (s_c - s_ac))
        zhang = np.where(denom == 0, 0.0, leverage / denom)
        certainty = np.where(1 - s_c == 0, 0.0, (conf - s_c) / (1 - s_c))
    cols = {
        "antecedents": np.concatenate(ant_parts), "consequents": np.concatenate(con_parts),
        "antecedent support": s_a, "consequent support": s_c, "support": s_ac,
        "confidence": conf, "lift": lift, "representativity": np.ones(len(s_ac)),
        "leverage": leverage, "conviction": conviction, "zhangs_metric": zhang,
        "jaccard": s_ac / (s_a + s_c - s_ac), "certainty": certainty,
        "kulczynski": (s_ac / s_a + s_ac / s_c) / 2, "cosine": s_ac / np.sqrt(s_a * s_c)}
    if sort_by is not None:
        order = np.lexsort((-s_ac, -conf, -cols[sort_by]))
        cols = {k: v[order] for k, v in cols.items()}
    return pd.DataFrame(cols)
