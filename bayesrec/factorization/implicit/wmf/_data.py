"""Interactions arranged for the weighted-MF sweeps: both sparse sides and their weights.

From a :class:`~bayesrec.data.Ratings` (explicit ratings count one interaction per rated
pair; implicit data keep their counts, :meth:`Ratings.interactions`) only the positive cells
``y_ui > 0`` are kept: a stored zero count is the same as an unobserved cell (preference 0,
confidence 1).  Each side holds a CSR of its positive cells with the extra confidence
``w_ui = c_ui - 1 = confidence * y_ui`` and its target ``t_ui = p_ui = 1``.

Activity weights (optional): every cell of user ``u`` (zeros included) may carry a fixed factor
``a_u = (n_u / mean n)^-gamma`` on its precision, ``n_u`` the user's number of positive cells
(``gamma = activity_exponent``; 0: Hu et al.'s model, every ``a_u = 1``).  The sweep takes
them as a per-row scale on the user side, and on the item side as the other side's rows
scaled by ``sqrt(a_u)`` with stored targets ``sqrt(a_u) t_ui`` (:meth:`WMFData.item_side_scaled`):
then ``sum_u a_u u_u u_u^T``, ``sum a_u w u u^T`` and ``sum a_u c t u`` come out of the
unchanged kernels.

The cells of the model are ``active users x all items``: a user without any interaction (in
the id map only, e.g. a test-only user after a split) is not part of the likelihood; its factor
row stays 0 and it is ranked by the popularity fallback.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ....data import Ratings


class WMFData:
    """Stored cells of both sides with their extra confidences ``w`` and targets ``t``.

    Every cell not stored has target 0 and confidence 1; a stored cell ``(u, i)`` has
    confidence ``1 + w_ui`` and target ``t_ui`` (1 for an interaction).  Built from a
    ``Ratings`` by :meth:`from_ratings` (``w = confidence * y``, ``t = 1`` on ``y > 0``) or
    from arbitrary cells by :meth:`from_cells` (the tests store every cell with a real target).

    Attributes
    ----------
    user_indptr, user_indices, user_w, user_t : CSR over the active users (rows in
        ``active_users`` order) of their stored items
    item_indptr, item_indices, item_w, item_t : CSR over all items of their stored users
    active_users : int64 ndarray, the users with at least one stored cell
    user_scale : None (every ``a_u = 1``) or float ndarray (n_users,), the users' activity
        weights ``a_u`` (0 for users outside the likelihood)
    n_users, n_items, n_active, n_positive : sizes; ``n_cells = n_active * n_items``
    """

    @classmethod
    def from_ratings(cls, ratings: Ratings, confidence: float,
                     activity_exponent: float = 0.0) -> WMFData:
        """Positive cells ``y_ui > 0`` of :meth:`Ratings.interactions`, ``w = confidence y``;
        activity weights ``a_u = (n_u / mean n)^-activity_exponent`` (none when 0)."""
        y = np.asarray(ratings.interactions(), dtype=np.float64)
        keep = y > 0
        self = cls.from_cells(ratings.users[keep], ratings.items[keep], confidence * y[keep],
                              np.ones(int(keep.sum())), ratings.n_users, ratings.n_items)
        if activity_exponent != 0.0:
            self.set_activity_weights(activity_exponent)
        return self

    def set_activity_weights(self, exponent: float) -> None:
        """``a_u = (n_u / mean n)^-exponent`` over the active users (``n_u``: stored cells)."""
        n = np.diff(self.user_indptr).astype(np.float64)
        scale = np.zeros(self.n_users)
        scale[self.active_users] = (n / n.mean()) ** (-float(exponent)) if len(n) else 1.0
        self.set_user_scale(scale)

    def set_user_scale(self, scale) -> None:
        """Arbitrary fixed weights ``a_u > 0`` (n_users,) of every cell of user ``u``."""
        scale = np.asarray(scale, dtype=np.float64)
        if scale.shape != (self.n_users,) or not np.all(scale[self.active_users] > 0):
            raise ValueError("user_scale must hold one positive weight per user")
        self.user_scale = scale.copy()
        self.user_scale[np.setdiff1d(np.arange(self.n_users), self.active_users)] = 0.0
        self._root_scale = np.sqrt(self.user_scale)

    @classmethod
    def from_cells(cls, users, items, w, t, n_users: int, n_items: int) -> WMFData:
        self = cls()
        self.user_scale = None
        users = np.asarray(users, np.int64)
        items = np.asarray(items, np.int64)
        self.n_users, self.n_items = int(n_users), int(n_items)
        self.n_positive = len(users)
        counts = np.bincount(users, minlength=self.n_users)
        self.active_users = np.flatnonzero(counts > 0)
        self.n_active = len(self.active_users)
        row_of = np.full(self.n_users, -1, np.int64)
        row_of[self.active_users] = np.arange(self.n_active)
        # one permutation per side carries w and t together
        pos = np.arange(len(users), dtype=np.float64)
        by_user = sp.csr_matrix((pos + 1, (row_of[users], items)),
                                shape=(self.n_active, self.n_items))
        by_user.sort_indices()
        if by_user.nnz != len(users):
            raise ValueError("repeated (user, item) cells: each cell may be stored once")
        by_item = sp.csr_matrix((pos + 1, (items, users)), shape=(self.n_items, self.n_users))
        by_item.sort_indices()
        w = np.asarray(w, np.float64)
        t = np.asarray(t, np.float64)
        ou = by_user.data.astype(np.int64) - 1
        oi = by_item.data.astype(np.int64) - 1
        self.user_indptr = by_user.indptr.astype(np.int64)
        self.user_indices = by_user.indices.astype(np.int64)
        self.user_w, self.user_t = w[ou], t[ou]
        self.item_indptr = by_item.indptr.astype(np.int64)
        self.item_indices = by_item.indices.astype(np.int64)
        self.item_w, self.item_t = w[oi], t[oi]
        return self

    @property
    def n_cells(self) -> int:
        """Cells of the likelihood: active users times items."""
        return self.n_active * self.n_items

    def user_side(self):
        return self.user_indptr, self.user_indices, self.user_w, self.user_t

    def item_side(self):
        return self.item_indptr, self.item_indices, self.item_w, self.item_t

    def active_scale(self):
        """``a_u`` of the active users in row order (None without activity weights)."""
        return None if self.user_scale is None else self.user_scale[self.active_users]

    def item_side_scaled(self, xu: np.ndarray):
        """The item side and the user rows as the item step sees them: with activity weights,
        targets ``sqrt(a_u) t_ui`` and rows ``sqrt(a_u) u_u`` (see the module docstring)."""
        if self.user_scale is None:
            return self.item_side(), xu
        root = self._root_scale
        return ((self.item_indptr, self.item_indices, self.item_w,
                 self.item_t * root[self.item_indices]), xu * root[:, None])
