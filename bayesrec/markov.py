"""Dirichlet-smoothed first-order Markov chains over hashable states.

Model.  States ``1..V``; sequences ``x_1, x_2, ...`` (sentences as words, a user's movies in time
order).  Every row of the transition matrix and the initial distribution get a symmetric
Dirichlet prior::

    A_i  ~ Dirichlet(epsilon 1_V),   pi0 ~ Dirichlet(epsilon 1_V)
    x_1 ~ Categorical(pi0),          x_{t+1} | x_t = i ~ Categorical(A_i)

With transition counts ``c_ij`` (``i`` followed by ``j``), row totals ``n_i``, and ``m_j``
sequences starting in ``j`` out of ``M``, the posterior is conjugate (one Dirichlet per row) and
the fitted chain is the posterior mean::

    A_ij = (c_ij + epsilon) / (n_i + epsilon V),     pi0_j = (m_j + epsilon) / (M + epsilon V).

``epsilon = 1`` is add-one (Laplace) smoothing; ``epsilon = 0`` is maximum likelihood, where a
state never left (``n_i = 0``) gets the uniform row, the ``epsilon -> 0`` limit.
The matrix is stored as the sparse counts plus a rank-one smoothing term (see
:mod:`bayesrec.inference.dirichlet`): ``pi A = (pi / (n + eps V)) C + eps sum(pi / (n + eps V))``,
so a chain over all 10^5 movies of MovieLens never builds a ``V x V`` array.

With ``epsilon > 0`` every entry of ``A`` is positive, so by the Perron-Frobenius theorem the
chain has a unique stationary distribution ``pi = pi A`` and ``pi0 A^k -> pi`` from any start.

Reference: the course's bigram language model ("the quick brown fox"); Manning & Schuetze,
*Foundations of Statistical NLP*, ch. 6 (additive smoothing as a Dirichlet posterior mean).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from itertools import chain

import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ._validation import check_finite, check_indices, check_positive, check_sparse
from .data import Ratings
from .exceptions import ConvergenceError, NotFittedError
from .inference.dirichlet import DirichletRows, SparseRowStochastic, _check_epsilon
from .rng import check_random_state

#: Above this many states the eigen-solver uses ARPACK on the sparse operator, not a dense eig.
DENSE_EIG_MAX_STATES = 1000


def _ordered_user_items(ratings: Ratings, min_rating=None, rng=None):
    """Rows of ``ratings`` sorted by (user, timestamp); returns (users, items) index arrays.

    Equal timestamps keep the stored row order, or a random order when ``rng`` is given
    (MovieLens stores same-second ratings by movie id, which would otherwise leak an artificial
    "ascending id" pattern into the transitions).
    """
    if not isinstance(ratings, Ratings):
        raise TypeError(f"expected a bayesrec Ratings, got {type(ratings).__name__}")
    if not ratings.has_timestamps:
        raise ValueError("ratings have no timestamps: cannot order each user's items in time")
    keep = (np.ones(len(ratings), bool) if min_rating is None
            else ratings.ratings >= check_finite("min_rating", min_rating))
    rows = np.flatnonzero(keep)
    tie = (np.arange(len(rows)) if rng is None
           else check_random_state(rng).permutation(len(rows)))
    order = rows[np.lexsort((tie, ratings.timestamps[rows], ratings.users[rows]))]
    return ratings.users[order], ratings.items[order]


def sequences_from_ratings(ratings: Ratings, min_rating=None, rng=None) -> list[np.ndarray]:
    """Each user's items (original ids) in time order: one sequence per user with a rating.

    Parameters
    ----------
    ratings : Ratings with timestamps.
    min_rating : float, optional
        Keep only ratings ``>= min_rating``.
    rng : seed or Generator, optional
        Break ties between equal timestamps at random instead of by stored row order.
    """
    users, items = _ordered_user_items(ratings, min_rating, rng)
    cuts = np.flatnonzero(np.diff(users)) + 1
    return np.split(ratings.item_ids[items], cuts)


class MarkovChain:
    """First-order Markov chain with a symmetric Dirichlet(epsilon) prior on every row.

    Parameters
    ----------
    epsilon : float, default 1.0
        Dirichlet concentration (pseudo-count) per transition; ``1`` is add-one smoothing.
    states : sequence of hashable, optional
        The state space.  When omitted it is the set of states seen in training, in order of
        first appearance.  Pass it to give never-seen states smoothed probabilities.

    Attributes
    ----------
    states_ : ndarray of the ``V`` state labels; index ``i`` is row/column ``i``.
    transition_counts_ : CSR ``(V, V)`` counts ``c_ij``.
    initial_counts_ : ``(V,)`` counts of first states.
    posterior_ : :class:`~bayesrec.inference.dirichlet.DirichletRows` of the transition rows.
    """

    def __init__(self, epsilon: float = 1.0, states=None):
        self.epsilon = epsilon
        self.states = states

    # ------------------------------------------------------------------ fitting
    def fit(self, sequences: Iterable[Iterable[Hashable]]) -> MarkovChain:
        """Fit on an iterable of sequences of hashable states (or a :class:`Ratings`)."""
        if isinstance(sequences, Ratings):
            return self.fit_ratings(sequences)
        seqs = [s if isinstance(s, np.ndarray) else list(s) for s in sequences]
        lengths = np.array([len(s) for s in seqs], dtype=np.int64)
        if lengths.sum() == 0:
            raise ValueError("no states to fit: all sequences are empty")
        if all(isinstance(s, np.ndarray) for s in seqs):
            flat = np.concatenate(seqs)
        else:
            flat = np.empty(int(lengths.sum()), dtype=object)
            flat[:] = list(chain.from_iterable(seqs))
        missing = pd.isna(flat)
        if missing.any():  # a NaN / None state is a data error, not a state called "nan"
            seq = int(np.searchsorted(np.cumsum(lengths), np.flatnonzero(missing)[0],
                                      side="right"))
            raise ValueError(f"sequence {seq} holds a missing state (NaN/None)")
        if self.states is None:
            codes, uniques = pd.factorize(flat, use_na_sentinel=False)
            states = np.asarray(uniques)
        else:
            states = self._check_states(self.states)
            codes = pd.Index(states).get_indexer(flat)
            if (codes < 0).any():
                bad = flat[np.flatnonzero(codes < 0)[0]]
                raise ValueError(f"state {bad!r} is not in the given states")
        return self._fit_codes(codes.astype(np.int64), lengths, states)

    def fit_ratings(self, ratings: Ratings, min_rating=None, rng=None) -> MarkovChain:
        """Fit on each user's items in time order; the states are all ``ratings.item_ids``."""
        users, items = _ordered_user_items(ratings, min_rating, rng)
        lengths = np.bincount(users, minlength=ratings.n_users)
        lengths = lengths[lengths > 0]
        if self.states is not None:
            states = self._check_states(self.states)
            codes = pd.Index(states).get_indexer(ratings.item_ids[items])
            if (codes < 0).any():
                raise ValueError("some rated items are not in the given states")
            return self._fit_codes(codes.astype(np.int64), lengths, states)
        return self._fit_codes(items.astype(np.int64), lengths, np.asarray(ratings.item_ids))

    @staticmethod
    def _check_states(states) -> np.ndarray:
        arr = np.empty(len(states), dtype=object)
        arr[:] = list(states)
        if len(arr) == 0:
            raise ValueError("states must not be empty")
        if not pd.Index(arr).is_unique:
            raise ValueError("states contain duplicates")
        return arr

    def _fit_codes(self, codes: np.ndarray, lengths: np.ndarray, states: np.ndarray):
        eps = _check_epsilon(self.epsilon)
        v = len(states)
        ends = np.cumsum(lengths)
        starts = (ends - lengths)[lengths > 0]
        # a pair (t, t+1) is a transition unless t+1 starts a new sequence
        follows = np.ones(len(codes), bool)
        follows[starts] = False
        dst_pos = np.flatnonzero(follows)
        counts = sp.csr_matrix((np.ones(len(dst_pos)), (codes[dst_pos - 1], codes[dst_pos])),
                               shape=(v, v))
        counts.sum_duplicates()
        initial_counts = np.bincount(codes[starts], minlength=v).astype(np.float64)
        # every step that can fail runs before any attribute is set: a failed (re)fit keeps
        # the previous fitted state
        posterior = DirichletRows(counts, eps)
        initial = DirichletRows(initial_counts[None, :], eps)
        transitions = posterior.mean()
        self.states_ = states
        self.n_states_ = v
        self.transition_counts_ = counts
        self.initial_counts_ = initial_counts
        self.posterior_ = posterior
        self._initial = initial
        self._A = transitions
        self._index = pd.Index(states)
        self.epsilon_ = eps
        return self

    # ------------------------------------------------------------------ helpers
    def _check_fitted(self) -> None:
        if not hasattr(self, "states_"):
            raise NotFittedError("MarkovChain is not fitted; call fit(sequences) first")

    def index(self, states) -> np.ndarray:
        """Row indices of state labels (``-1`` for unknown states)."""
        self._check_fitted()
        arr = np.empty(len(states), dtype=object)
        arr[:] = list(states)
        return self._index.get_indexer(arr)

    def _state_index(self, state) -> int:
        i = int(self.index([state])[0])
        if i < 0:
            raise ValueError(f"unknown state {state!r}")
        return i

    # ------------------------------------------------------------------ the fitted chain
    @property
    def transition_matrix(self) -> SparseRowStochastic:
        """Posterior-mean transition matrix as sparse counts + rank-one smoothing."""
        self._check_fitted()
        return self._A

    def transition_probability(self, from_states, to_states) -> np.ndarray:
        """``A[from, to]`` (posterior mean) for paired arrays of state labels."""
        i, j = self.index(list(from_states)), self.index(list(to_states))
        if (i < 0).any() or (j < 0).any():
            raise ValueError("unknown state in transition_probability")
        return self._A.entries(i, j)

    def initial_distribution(self) -> np.ndarray:
        """Posterior mean of the first-state distribution, ``(m_j + eps) / (M + eps V)``."""
        self._check_fitted()
        return self._initial.mean().rows([0])[0]

    def log_evidence(self) -> float:
        """Log marginal likelihood ``log p(training sequences | epsilon)`` (empirical Bayes)."""
        self._check_fitted()
        return self.posterior_.log_evidence() + self._initial.log_evidence()

    def log_prob(self, sequence: Iterable[Hashable], unknown: str = "raise") -> float:
        """Posterior-predictive log probability ``log pi0(x_1) + sum_t log A(x_t, x_{t+1})``.

        Parameters
        ----------
        unknown : {"raise", "skip"}
            A state outside ``states_`` has no probability under a chain with a fixed state
            space.  ``"raise"`` (default) raises ``ValueError``; ``"skip"`` drops every term
            that involves an unknown state (the initial term and the transitions into and out
            of it), i.e. scores the known part of the sequence.  To give rare states smoothed
            probabilities instead, list them in ``states=`` before fitting.
        """
        self._check_fitted()
        if unknown not in ("raise", "skip"):
            raise ValueError(f"unknown must be 'raise' or 'skip', got {unknown!r}")
        seq = list(sequence)
        if not seq:
            return 0.0
        codes = self.index(seq)
        if unknown == "raise" and (codes < 0).any():
            raise ValueError(f"unknown state {seq[int(np.flatnonzero(codes < 0)[0])]!r}")
        total = 0.0
        if codes[0] >= 0:
            total += float(np.log(self.initial_distribution()[codes[0]]))
        src, dst = codes[:-1], codes[1:]
        ok = (src >= 0) & (dst >= 0)
        with np.errstate(divide="ignore"):
            total += float(np.log(self._A.entries(src[ok], dst[ok])).sum())
        return total

    def transition_log_probs(self, from_idx, to_idx) -> np.ndarray:
        """``log A[i, j]`` for paired arrays of state *indices* (vectorized scoring)."""
        self._check_fitted()
        i = check_indices("from_idx", from_idx, self.n_states_)
        j = check_indices("to_idx", to_idx, self.n_states_)
        if i.shape != j.shape:
            raise ValueError(f"from_idx and to_idx must have the same length, got {len(i)} "
                             f"and {len(j)}")
        with np.errstate(divide="ignore"):
            return np.log(self._A.entries(i, j))

    def sample_transition_matrices(self, n: int, rng=None) -> np.ndarray:
        """Posterior draws of the whole transition matrix, shape ``(n, V, V)``.

        Each row is an exact ``Dirichlet(c_i + epsilon)`` draw (normalised Gamma draws).  The
        result is dense, so this is for small chains (refused above 10^8 entries); for large
        ``V`` use ``posterior_.sample_sparse(rng)``, which keeps each draw sparse + rank-one.
        """
        self._check_fitted()
        return self.posterior_.sample_dense(n, rng)

    # ------------------------------------------------------------------ dynamics
    def _as_distribution(self, pi0, state) -> np.ndarray:
        if state is not None:
            pi = np.zeros(self.n_states_)
            pi[self._state_index(state)] = 1.0
            return pi
        if pi0 is None:
            return self.initial_distribution()
        pi = np.asarray(pi0, dtype=np.float64)
        if pi.shape != (self.n_states_,):
            raise ValueError(f"pi0 must have shape ({self.n_states_},), got {pi.shape}")
        if (pi < 0).any() or not np.isclose(pi.sum(), 1.0):
            raise ValueError("pi0 must be a probability vector (non-negative, sums to 1)")
        return pi

    def state_distribution(self, pi0=None, k: int = 1, *, state=None) -> np.ndarray:
        """``pi0 A^k``: the distribution over states after ``k`` steps.

        ``pi0`` is a probability vector over ``states_``; or give ``state=`` (a point mass);
        with neither, the fitted initial distribution is used.  ``k`` sparse products.
        """
        self._check_fitted()
        k = check_positive("k", k, integer=True, allow_zero=True)
        pi = self._as_distribution(pi0, state)
        for _ in range(k):
            new = self._A.vecmat(pi)
            if np.array_equal(new, pi):  # an exact fixed point: every further step repeats it
                break
            pi = new
        return pi

    def _tie_break(self) -> np.ndarray:
        """Fraction in [0, 1) that orders equal counts by overall state frequency."""
        freq = np.asarray(self.transition_counts_.sum(axis=0)).ravel() + self.initial_counts_
        return freq / (freq.max() + 1.0)

    def next_state_indices(self, state_idx, k: int = 10, exclude=None) -> np.ndarray:
        """Top-``k`` next states (indices) for an array of current state indices.

        The ranking of a row ``(c_ij + eps) / (n_i + eps V)`` is the ranking of its counts
        ``c_ij`` whatever ``epsilon`` is; ties (for instance all never-seen transitions) are
        broken by the overall frequency of the candidate state.  ``exclude`` is an optional
        sparse ``(len(state_idx), V)`` matrix whose stored entries are removed (for instance
        the items a user has already seen).  Returns ``(len(state_idx), k)``.
        """
        from .base import top_k

        self._check_fitted()
        idx = check_indices("state_idx", state_idx, self.n_states_)
        k = min(check_positive("k", k, integer=True), self.n_states_)
        if exclude is not None:
            if not (sp.issparse(exclude) or isinstance(exclude, np.ndarray)):
                raise TypeError(f"exclude must be a sparse matrix or an array, got "
                                f"{type(exclude).__name__}")
            if exclude.shape != (len(idx), self.n_states_):
                raise ValueError(f"exclude must have shape ({len(idx)}, {self.n_states_}), got "
                                 f"{exclude.shape}")
            if sp.issparse(exclude):
                exclude = check_sparse("exclude", exclude)
        tie = self._tie_break()
        out = np.empty((len(idx), k), dtype=np.int64)
        step = max(1, 2_000_000 // self.n_states_)  # bounded dense block
        for lo in range(0, len(idx), step):
            block = self.transition_counts_[idx[lo:lo + step]].toarray()
            block += tie
            if exclude is not None:
                ex = sp.csr_matrix(exclude[lo:lo + step])
                block[np.repeat(np.arange(ex.shape[0]), np.diff(ex.indptr)), ex.indices] = -np.inf
            out[lo:lo + step] = top_k(block, k)
        return out

    def next_states(self, state, k: int = 10, exclude=None) -> pd.DataFrame:
        """The ``k`` most probable next states after ``state`` with their probabilities.

        ``exclude``: optional collection of state labels not to recommend.
        """
        i = self._state_index(state)
        ex = None
        if exclude is not None:
            cols = self.index(list(exclude))
            cols = cols[cols >= 0]
            ex = sp.csr_matrix((np.ones(len(cols)), (np.zeros(len(cols), int), cols)),
                               shape=(1, self.n_states_))
        top = self.next_state_indices([i], k, ex)[0]
        return pd.DataFrame({"state": self.states_[top],
                             "probability": self._A.entries(np.full(len(top), i), top)})

    def stationary_distribution(self, method: str = "power", tol: float = 1e-12,
                                max_iter: int = 100_000) -> np.ndarray:
        """The stationary distribution ``pi = pi A`` (unique when ``epsilon > 0``).

        ``method="power"``: iterate ``pi <- pi A`` from the uniform distribution until the L1
        change is below ``tol`` (sparse products only).  ``method="eigen"``: the eigenvector of
        ``A^T`` for the eigenvalue 1, by a dense eigendecomposition for up to
        :data:`DENSE_EIG_MAX_STATES` states and by ARPACK on the sparse operator above.
        """
        self._check_fitted()
        tol = check_positive("tol", tol)
        max_iter = check_positive("max_iter", max_iter, integer=True)
        v = self.n_states_
        if method == "power":
            pi = np.full(v, 1.0 / v)
            for _ in range(max_iter):
                new = self._A.vecmat(pi)
                new /= new.sum()
                if np.abs(new - pi).sum() < tol:
                    return new
                pi = new
            raise ConvergenceError(f"power iteration did not converge in {max_iter} iterations "
                               "(epsilon = 0 chains may be periodic or reducible)")
        if method == "eigen":
            if v <= DENSE_EIG_MAX_STATES:
                w, vecs = np.linalg.eig(self._A.toarray().T)
                vec = vecs[:, np.argmin(np.abs(w - 1.0))]
            else:
                op = spla.LinearOperator((v, v), matvec=self._A.vecmat, dtype=np.float64)
                try:
                    _, vecs = spla.eigs(op, k=1, which="LM", v0=np.full(v, 1.0 / v), tol=tol,
                                        maxiter=max_iter)
                except spla.ArpackNoConvergence:
                    raise ConvergenceError(f"ARPACK did not find the stationary distribution "
                                           f"in {max_iter} iterations at tol={tol:g}; raise "
                                           "tol or max_iter, or use method='power'") from None
                vec = vecs[:, 0]
            vec = np.real(vec)
            vec = vec / vec.sum()
            return np.clip(vec, 0.0, None) / np.clip(vec, 0.0, None).sum()
        raise ValueError(f"method must be 'power' or 'eigen', got {method!r}")
