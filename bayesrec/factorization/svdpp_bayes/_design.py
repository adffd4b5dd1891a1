"""The "bags" of Bayesian SVD++: which extra factors add to each user's and item's vector.

Each side (users, items) has a sparse *bag matrix* ``M`` (rows = the side's users or items,
columns = bag entries) whose columns fall into groups, every group with its own hyperprior::

    p_u = u_u + sum_c M^U_uc y_c          (user side: implicit items, user features)
    q_i = v_i + sum_c M^V_ic z_c          (item side: implicit users ("flipped"), item features)

* implicit group: ``M_uj = |N(u)|^-1/2`` for ``j in N(u)`` (SVD++, Koren 2008); on the item
  side ``M_iw = |N(i)|^-1/2`` for the users ``w`` who rated ``i``;
* feature group: ``M_uf`` = the user's (item's) value of feature ``f`` (e.g. genre flags).
  Feature groups also carry a *linear* weight (the last column of a (K+1)-vector), which
  adds ``sum_f M_uf w_f`` to the rating like a bias.  Implicit groups have no linear weight
  (the SVD++ equation has none).

:class:`Bag` keeps ``M`` by rows (CSR, for ``M @ Y``) and by columns (for the sequential
Gibbs update of one column's factor at a time).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ...data import Ratings


@dataclass(frozen=True)
class Bag:
    """A side's bag matrix and its column groups.

    Attributes
    ----------
    csr : (n_rows, n_cols) csr_matrix
    col_indptr, col_rows, col_vals : the same matrix by columns (CSC arrays)
    group : (n_cols,) int32, the group of every column
    names : tuple of str, one per group ("implicit", "features")
    linear : (n_groups,) bool, whether the group has a linear weight
    """

    csr: sp.csr_matrix
    col_indptr: np.ndarray
    col_rows: np.ndarray
    col_vals: np.ndarray
    group: np.ndarray
    names: tuple
    linear: np.ndarray

    @property
    def n_cols(self) -> int:
        return self.csr.shape[1]

    @property
    def n_groups(self) -> int:
        return len(self.names)

    @classmethod
    def build(cls, n_rows: int, blocks: list[tuple[str, sp.spmatrix, bool]]) -> Bag:
        """Stack ``(name, matrix (n_rows x n_c), linear)`` blocks column-wise."""
        mats = [sp.csr_matrix(m, dtype=np.float64) for _, m, _ in blocks]
        if mats:
            csr = sp.hstack(mats, format="csr")
        else:
            csr = sp.csr_matrix((n_rows, 0))
        csr.sort_indices()
        csc = csr.tocsc()
        csc.sort_indices()
        group = np.repeat(np.arange(len(blocks), dtype=np.int32),
                          [m.shape[1] for m in mats]).astype(np.int32)
        return cls(csr, csc.indptr.astype(np.int64), csc.indices.astype(np.int64),
                   csc.data.astype(np.float64), group, tuple(n for n, _, _ in blocks),
                   np.array([lin for _, _, lin in blocks], dtype=bool))

    def columns(self, g: int) -> np.ndarray:
        """Column indices of group ``g``."""
        return np.flatnonzero(self.group == g)


def normalized_pattern(pattern: sp.csr_matrix) -> sp.csr_matrix:
    """``|N(row)|^-1/2`` at every stored entry (rows without entries stay empty)."""
    pat = sp.csr_matrix(pattern, dtype=np.float64, copy=True)
    pat.sum_duplicates()
    pat.data[:] = 1.0
    counts = np.diff(pat.indptr)
    pat.data = np.repeat(1.0 / np.sqrt(np.maximum(counts, 1)), counts)
    return pat


def implicit_pattern(train: Ratings, extra=None) -> sp.csr_matrix:
    """``N(u)`` as a 0/1 (n_users x n_items) matrix: training pairs, plus ``extra`` pairs.

    ``extra``: a :class:`Ratings` (values ignored) or a DataFrame with columns ``user`` and
    ``item`` holding original ids.  Every id must be known to the training id maps.
    """
    users, items = train.users.astype(np.int64), train.items.astype(np.int64)
    if extra is not None:
        if isinstance(extra, Ratings):
            eu = extra.user_ids[extra.users]
            ei = extra.item_ids[extra.items]
        elif isinstance(extra, pd.DataFrame):
            missing = {"user", "item"} - set(extra.columns)
            if missing:
                raise ValueError(f"implicit DataFrame needs columns 'user' and 'item'; "
                                 f"missing {sorted(missing)}")
            eu, ei = extra["user"].to_numpy(), extra["item"].to_numpy()
        else:
            raise TypeError("implicit must be None, a bayesrec.data.Ratings or a DataFrame "
                            f"with columns user, item; got {type(extra).__name__}")
        xu = np.asarray(train.user_index(eu), dtype=np.int64)
        xi = np.asarray(train.item_index(ei), dtype=np.int64)
        for name, idx, ids in (("user", xu, eu), ("item", xi, ei)):
            if (idx < 0).any():
                r = int(np.flatnonzero(idx < 0)[0])
                raise ValueError(f"implicit interactions: unknown {name} id {ids[r]!r} at row "
                                 f"{r} (not in the training id map)")
        users = np.concatenate([users, xu])
        items = np.concatenate([items, xi])
    pat = sp.csr_matrix((np.ones(len(users)), (users, items)),
                        shape=(train.n_users, train.n_items))
    pat.sum_duplicates()
    pat.data[:] = 1.0
    return pat


def feature_matrix(features, ids: np.ndarray, has_rows: np.ndarray, name: str) -> sp.csr_matrix:
    """Rows of a feature DataFrame (index = original ids) aligned to ``ids``.

    Every id with training ratings (``has_rows``) must have a row; ids without ratings and
    without a row get zeros (they do not touch the likelihood).  Values must be finite numbers.
    """
    if not isinstance(features, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame indexed by the original ids, got "
                        f"{type(features).__name__}")
    if features.shape[1] == 0:
        raise ValueError(f"{name} has no columns")
    if not features.index.is_unique:
        dup = features.index[features.index.duplicated()][0]
        raise ValueError(f"{name} has duplicate index entries, e.g. {dup!r}")
    try:
        values = features.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must hold numbers only: {exc}") from exc
    if not np.isfinite(values).all():
        r, c = np.argwhere(~np.isfinite(values))[0]
        raise ValueError(f"{name} has a non-finite value at id {features.index[r]!r}, column "
                         f"{features.columns[c]!r}")
    pos = features.index.get_indexer(ids)
    missing = (pos < 0) & has_rows
    if missing.any():
        raise ValueError(f"{name} has no row for id {ids[np.flatnonzero(missing)[0]]!r} "
                         f"({int(missing.sum())} ids with training ratings are missing)")
    out = np.zeros((len(ids), values.shape[1]))
    ok = pos >= 0
    out[ok] = values[pos[ok]]
    return sp.csr_matrix(out)


def genre_features(movies: pd.DataFrame) -> pd.DataFrame:
    """0/1 genre flags from MovieLens ``movies`` (``movieId``, ``genres`` "A|B|C"), indexed by
    ``movieId``; ``(no genres listed)`` becomes an all-zero row."""
    for col in ("movieId", "genres"):
        if col not in movies.columns:
            raise ValueError(f"movies needs a {col!r} column")
    flags = movies["genres"].astype(str).str.get_dummies(sep="|")
    flags = flags.drop(columns=["(no genres listed)"], errors="ignore")
    flags.index = movies["movieId"].to_numpy()
    return flags.astype(np.float64)


def build_bags(train: Ratings, flipped: bool, item_features=None, user_features=None,
               implicit=None, implicit_linear: bool = False) -> tuple[Bag, Bag]:
    """The user-side and item-side bags of the model (see module docstring).

    ``implicit_linear=True`` also gives the implicit groups a linear weight (libFM's
    formulation of SVD++ as a factorization machine has one for every feature)."""
    blocks_u = [("implicit", normalized_pattern(implicit_pattern(train, implicit)),
                 implicit_linear)]
    if user_features is not None:
        blocks_u.append(("features", feature_matrix(user_features, train.user_ids,
                                                    train.user_counts > 0, "user_features"),
                         True))
    blocks_v = []
    if flipped:
        blocks_v.append(("implicit", normalized_pattern(sp.csr_matrix(train.csc.T)),
                         implicit_linear))
    if item_features is not None:
        blocks_v.append(("features", feature_matrix(item_features, train.item_ids,
                                                    train.item_counts > 0, "item_features"),
                         True))
    return Bag.build(train.n_users, blocks_u), Bag.build(train.n_items, blocks_v)
