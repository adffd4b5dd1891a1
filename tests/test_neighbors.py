"""Neighbourhood CF against a direct nested-loop implementation of the course's formulas.

The reference below is written the way the course writes it (dicts of ratings, a loop over
every pair, a sorted list of ``(-w, j)`` truncated to k, a loop over the neighbours at
prediction time), with the overlap-restricted Pearson of the lecture.  The vectorized models
must reproduce its weights and predictions to 1e-10.
"""

import math

import numpy as np
import pandas as pd
import pytest

from bayesrec.data import Ratings, synthetic_ratings
from bayesrec.neighbors import ItemKNN, UserKNN
from bayesrec.neighbors.similarity import top_k_similarities

SCALE = (1.0, 5.0)


# --------------------------------------------------------------------------- reference
class CourseKNN:
    """The course's user-user CF, written with loops; ``transpose`` makes it item-item.

    ``neighborhood="fixed"``: the course (k strongest per target, then those that rated the
    column).  ``"rated"``: among the ``pool`` strongest, the first k that rated the column.
    """

    def __init__(self, rows, k, min_overlap, similarity="pearson", prior_weight=0.0,
                 neighborhood="fixed", pool=None, positive_only=False):
        # rows: dict target -> dict column -> rating
        self.rows, self.k = rows, k
        self.neighborhood, self.positive_only = neighborhood, positive_only
        self.pool = k if neighborhood == "fixed" else pool
        allr = [r for row in rows.values() for r in row.values()]
        self.mu0 = sum(allr) / len(allr)
        cols = {}
        for row in rows.values():
            for c, r in row.items():
                cols.setdefault(c, []).append(r)
        lam = prior_weight
        self.means = {t: (sum(row.values()) + lam * self.mu0) / (len(row) + lam)
                      for t, row in rows.items()}
        self.col_means = {c: (sum(v) + lam * self.mu0) / (len(v) + lam) for c, v in cols.items()}
        self.dev = {t: {c: r - self.means[t] for c, r in row.items()} for t, row in rows.items()}
        if similarity == "pearson":
            x = self.dev
        elif similarity == "cosine":
            x = rows
        else:
            x = {t: {c: r - self.col_means[c] for c, r in row.items()} for t, row in rows.items()}
        self.weights = {}
        self.lists = {}
        for i in rows:
            sl = []
            for j in rows:
                if j == i:
                    continue
                common = set(x[i]) & set(x[j])
                if len(common) < min_overlap:
                    continue
                num = sum(x[i][m] * x[j][m] for m in common)
                den = math.sqrt(sum(x[i][m] ** 2 for m in common)
                                * sum(x[j][m] ** 2 for m in common))
                if den == 0:
                    continue
                self.weights[i, j] = num / den
                sl.append((-num / den, j))
            sl.sort()
            self.lists[i] = sl[:self.pool]

    def predict(self, t, c, clip=True):
        if t not in self.rows:
            return self.col_means.get(c, self.mu0)
        numerator = denominator = 0.0
        used = 0
        for neg_w, j in self.lists[t]:
            if self.positive_only and -neg_w <= 0:
                break
            if c in self.dev[j]:
                numerator += -neg_w * self.dev[j][c]
                denominator += abs(neg_w)
                used += 1
                if used == self.k:
                    break
        pred = self.means[t] + (numerator / denominator if denominator else 0.0)
        return min(SCALE[1], max(SCALE[0], pred)) if clip else pred


def _rows(r: Ratings, by: str) -> dict:
    out = {}
    for u, i, v in zip(r.users, r.items, r.ratings):
        t, c = (int(u), int(i)) if by == "user" else (int(i), int(u))
        out.setdefault(t, {})[c] = float(v)
    return out


@pytest.fixture(scope="module")
def small():
    r, _ = synthetic_ratings(40, 30, 400, rank=3, noise=0.7, rng=1, with_timestamps=False)
    vals = np.clip(r.ratings, *SCALE)  # continuous values: no ties in the weights
    return Ratings(r.users, r.items, vals, r.user_ids, r.item_ids, rating_scale=SCALE)


CASES = [
    dict(),
    dict(similarity="cosine"),
    dict(similarity="adjusted_cosine"),
    dict(prior_weight=3.0),
    dict(neighborhood="rated", pool=12),
    dict(neighborhood="rated", pool=12, positive_only=True, prior_weight=2.0),
    dict(positive_only=True, engine="sparse", block_size=7),
]


@pytest.mark.parametrize("Model,by,k", [(UserKNN, "user", 5), (ItemKNN, "item", 4)])
@pytest.mark.parametrize("case", CASES, ids=lambda c: ",".join(f"{a}={b}" for a, b in c.items())
                         or "course")
def test_matches_course_nested_loops(small, Model, by, k, case):
    kw = dict(prior_weight=0.0, neighborhood="fixed") | case
    model = Model(k=k, min_overlap=4, **kw).fit(small)
    ref_kw = {a: b for a, b in kw.items() if a not in ("engine", "block_size")}
    ref = CourseKNN(_rows(small, by), k, 4, **ref_kw)

    # weights: the kept lists, in order, and every kept weight
    for t in range(model.topk_.indices.shape[0]):
        got = [(int(j), w) for j, w in zip(model.topk_.indices[t], model.topk_.weights[t])
               if j >= 0]
        want = [(j, -nw) for nw, j in ref.lists.get(t, [])]
        assert [j for j, _ in got] == [j for j, _ in want], f"{by} {t}"
        np.testing.assert_allclose([w for _, w in got], [w for _, w in want], rtol=0,
                                   atol=1e-10)

    # predictions on the whole grid (ratings seen in training included), through the id API
    uu, ii = np.meshgrid(np.arange(small.n_users), np.arange(small.n_items), indexing="ij")
    uu, ii = uu.ravel(), ii.ravel()
    got = model.predict(small.user_ids[uu], small.item_ids[ii])
    pairs = zip(uu, ii) if by == "user" else zip(ii, uu)
    want = np.array([ref.predict(int(t), int(c)) for t, c in pairs])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)

    # the whole-row scores used by recommend (unclipped) agree with the same formula
    users = np.arange(small.n_users)
    scores = model._score_users(users)
    pairs = zip(uu, ii) if by == "user" else zip(ii, uu)
    want_raw = np.array([ref.predict(int(t), int(c), clip=False) for t, c in pairs])
    np.testing.assert_allclose(scores.ravel(), want_raw, rtol=0, atol=1e-10)


def test_overlap_counts_and_min_overlap(small):
    model = UserKNN(k=6, min_overlap=5, prior_weight=0.0, neighborhood="fixed").fit(small)
    seen = small.csr.toarray() != 0
    for u in (0, 7, 21):
        nb = model.neighbors(small.user_ids[u])
        for v_id, ov in zip(nb["neighbor"], nb["overlap"]):
            v = int(small.user_index(v_id))
            assert ov == (seen[u] & seen[v]).sum() >= 5
        assert list(nb["rank"]) == list(range(1, len(nb) + 1))
        assert (np.diff(nb["weight"]) <= 0).all()
    rated = UserKNN(k=3, min_overlap=5, neighborhood="rated", pool=8).fit(small)
    assert len(rated.neighbors(small.user_ids[0])) == 3
    full = rated.neighbors(small.user_ids[0], n=8)
    pd.testing.assert_frame_equal(full.head(3), rated.neighbors(small.user_ids[0]))


# --------------------------------------------------------------------------- engines, blocks
def test_numba_and_sparse_engines_agree_blockwise():
    r, _ = synthetic_ratings(300, 120, 6000, rank=4, rng=3, with_timestamps=False)
    X = r.csc.T.tocsr()  # items x users
    X.sort_indices()
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    X.data = X.data - np.bincount(rows, X.data)[rows] / np.diff(X.indptr)[rows]
    a = top_k_similarities(X, 15, 3, engine="numba")
    for bs in (1, 17, 120):
        b = top_k_similarities(X, 15, 3, engine="sparse", block_size=bs)
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_array_equal(a.overlaps, b.overlaps)
        np.testing.assert_allclose(a.weights, b.weights, rtol=0, atol=1e-12)
    c = top_k_similarities(X, 15, 3, engine="numba", block_size=13)
    np.testing.assert_array_equal(a.indices, c.indices)
    for engine in ("numba", "sparse"):  # a sample of rows, as the benchmark times it
        part = top_k_similarities(X, 15, 3, engine=engine, rows=(40, 70))
        np.testing.assert_array_equal(part.indices[40:70], a.indices[40:70])
        assert (part.indices[:40] == -1).all() and (part.indices[70:] == -1).all()


def test_ties_go_to_the_smaller_index():
    # users 1..4 rate exactly like user 5 pattern-wise, so their weights with user 0 tie exactly
    base = [5.0, 3.0, 4.0, 1.0, 2.0]
    users, items, vals = [], [], []
    for u in range(6):
        for i, v in enumerate(base):
            users.append(u)
            items.append(i)
            vals.append(v if u != 0 else 6 - v)
    users, items, vals = users[::-1], items[::-1], vals[::-1]  # input order must not matter
    r = Ratings.from_arrays(users, items, vals, rating_scale=(1, 5))
    for engine in ("numba", "sparse"):
        nb = UserKNN(k=3, min_overlap=2, engine=engine, neighborhood="fixed").fit(r).neighbors(0)
        assert list(nb["neighbor"]) == [1, 2, 3]
        np.testing.assert_allclose(nb["weight"], -1.0)


# --------------------------------------------------------------------------- cold start
def test_damped_means_are_the_conjugate_posterior(small):
    lam = 4.0
    model = ItemKNN(prior_weight=lam).fit(small)
    post = model.posterior_means()
    df = small.to_frame()
    g = df.groupby("movieId")["rating"]
    mu0 = df["rating"].mean()
    # Normal-Normal: precision-weighted average of the prior mean and the sample mean
    sigma2 = model.noise_var_
    prec_prior, prec_data = lam / sigma2, g.count() / sigma2
    want = (prec_prior * mu0 + prec_data * g.mean()) / (prec_prior + prec_data)
    got = post.set_index("id")["mean"]
    np.testing.assert_allclose(got.loc[want.index], want, rtol=1e-12)
    np.testing.assert_allclose(post.set_index("id")["sd"].loc[want.index],
                               np.sqrt(1 / (prec_prior + prec_data)), rtol=1e-12)
    assert sigma2 > 0


def test_unknown_ids_fall_back_to_posterior_means(small):
    train = small.take(small.items != 0)  # item index 0 stays in the id map without ratings
    for Model in (UserKNN, ItemKNN):
        m = Model(prior_weight=2.0).fit(train)
        mu0 = train.global_mean
        user_mean = (train.user_sums() + 2 * mu0) / (train.user_counts + 2)
        item_mean = (train.item_sums() + 2 * mu0) / (train.item_counts + 2)
        u, i = small.user_ids[3], small.item_ids[5]
        p = m.predict([-7, u, -7, u], [i, -9, -9, small.item_ids[0]])  # -7, -9: unknown ids
        np.testing.assert_allclose(p, [item_mean[5], user_mean[3], mu0, user_mean[3]])
        rec = m.recommend(-7, k=4)  # an unknown user: the damped item means
        np.testing.assert_array_equal(rec["item"],
                                      train.item_ids[np.argsort(-item_mean, kind="stable")[:4]])
        assert m.neighbors(-7).empty
        assert np.isfinite(m.predict_ratings(small)).all()


def test_recommend_excludes_seen_and_uses_scores(small):
    m = UserKNN(k=5, min_overlap=3, neighborhood="rated").fit(small)
    rec = m.recommend(small.user_ids[2], k=5)
    seen = set(small.item_ids[small.items[small.users == 2]])
    assert not seen & set(rec["item"])
    # recommend ranks by the unclipped score; predict clips it to the scale
    np.testing.assert_allclose(np.clip(rec["score"], *SCALE),
                               m.predict([small.user_ids[2]] * len(rec), rec["item"]))
    assert (np.diff(rec["score"]) <= 0).all()


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize("kw,match", [
    (dict(k=0), "k must"), (dict(k=2.5), "k must"), (dict(min_overlap=0), "min_overlap"),
    (dict(similarity="jaccard"), "similarity must"), (dict(prior_weight=-1), "prior_weight"),
    (dict(neighborhood="all"), "neighborhood must"), (dict(engine="gpu"), "engine must"),
    (dict(neighborhood="rated", k=5, pool=3), "pool must be >= k"),
    (dict(block_size=0), "block_size"), (dict(positive_only="yes"), "positive_only"),
])
def test_bad_hyperparameters(small, kw, match):
    with pytest.raises(ValueError, match=match):
        UserKNN(**kw).fit(small)
