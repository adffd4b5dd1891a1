"""Edge cases of the top-N public API: hostile but realistic input gets a clear error, never a
hang, a silent NaN or an argument silently ignored.

Each test names the input class it covers; the fits use tiny data and short chains (the
compiled kernels are cached), so the file runs in a few seconds warm.
"""

import numpy as np
import pandas as pd
import pytest

from bayesrec._validation import Integer, Real, check_finite, check_interval, check_positive
from bayesrec.data import Ratings, leave_last_k_out
from bayesrec.data.splits import per_user_split, time_split
from bayesrec.exceptions import ConvergenceError
from bayesrec.factorization import HPF, ImplicitALS, ImplicitBPMF
from bayesrec.metrics import evaluate_topk, evaluate_topk_per_user, ndcg_at_k, precision_at_k
from bayesrec.popularity import MostPopular


def _interactions(n_users=8, n_items=6, seed=0) -> Ratings:
    """Random 0/1 interactions with timestamps; every user has at least one row."""
    rng = np.random.default_rng(seed)
    m = rng.random((n_users, n_items)) < 0.5
    m[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
    u, i = np.nonzero(m)
    return Ratings.from_arrays(u, i, timestamps=rng.permutation(len(u)))


@pytest.fixture(scope="module")
def data():
    return _interactions()


def _hpf(method, **kw):
    return HPF(**{"method": method, "rank": 2, "n_iter": 5, "n_samples": 4, "burn_in": 3,
                  "n_chains": 1, "n_predictive_draws": 4, "random_state": 0, **kw})


def _ibpmf(**kw):
    return ImplicitBPMF(**{"rank": 2, "n_samples": 4, "burn_in": 2, "n_chains": 1,
                           "n_predictive_draws": 2, "verbose": False, "random_state": 0, **kw})


# ------------------------------------------------------------------ integers beyond int64
@pytest.mark.parametrize("value", [10**30, -10**30, 10**400], ids=["1e30", "-1e30", "1e400"])
def test_python_ints_beyond_int64_are_refused_by_name(value):
    """np.isfinite raised a bare TypeError on a Python int beyond int64."""
    for check in (lambda v: check_positive("k", v, integer=True),
                  lambda v: Integer()("k", v),
                  lambda v: check_interval("k", v, 0, 10, integer=True)):
        with pytest.raises(ValueError, match="k must"):
            check(value)
    # as a float it is finite up to ~1.8e308, and refused beyond
    if abs(value) < 1e300:
        assert Real(low=None)("x", value) == float(value)
        assert check_finite("x", value) == float(value)
    else:
        with pytest.raises(ValueError, match="x must"):
            check_finite("x", value)


def test_huge_k_is_refused_by_recommend_and_evaluate(data):
    model = MostPopular().fit(data)
    for call in (lambda: model.recommend(0, k=10**30),
                 lambda: model.recommend_indices([0, 1], k=10**30),
                 lambda: _hpf("cavi", rank=10**30).fit(data)):
        with pytest.raises(ValueError, match="(k|rank) must"):
            call()


# ------------------------------------------------------------------ splits
@pytest.mark.parametrize("bad", [np.nan, np.inf, None, "a", True, 1.5, 0])
def test_per_user_counts_of_a_split_are_checked(data, bad):
    """n_test = inf gave an OverflowError, None / "a" / nan Python's int() messages, and
    True was taken for 1."""
    with pytest.raises(ValueError, match="n_test"):
        per_user_split(data, n_test=bad, rng=0)
    with pytest.raises(ValueError, match="n_test"):
        time_split(data, per_user=True, n_test=bad)
    if bad != 0:  # min_train = 0 is valid
        with pytest.raises(ValueError, match="min_train"):
            leave_last_k_out(data, 1, min_train=bad)


def test_integral_floats_still_count(data):
    a = per_user_split(data, n_test=1.0, rng=3)[1]
    b = per_user_split(data, n_test=1, rng=3)[1]
    assert np.array_equal(a.users, b.users) and np.array_equal(a.items, b.items)
    a = leave_last_k_out(data, 1, min_train=1.0)[1]
    b = leave_last_k_out(data, 1, min_train=1)[1]
    assert np.array_equal(a.items, b.items)


def test_time_split_refuses_arguments_of_the_other_mode(data):
    """Both were silently ignored: cutoff in per-user mode, n_test / min_train globally."""
    with pytest.raises(ValueError, match="cutoff"):
        time_split(data, per_user=True, n_test=1, cutoff=3)
    with pytest.raises(ValueError, match="per_user"):
        time_split(data, test_size=0.3, n_test=1)
    with pytest.raises(ValueError, match="per_user"):
        time_split(data, test_size=0.3, min_train=5)
    with pytest.raises(ValueError, match="per_user"):
        time_split(data, test_size=0.3, per_user="yes")


@pytest.mark.parametrize("bad", [True, np.nan, np.inf, "garbage", "NaT"])
def test_time_split_cutoff_is_checked(data, bad):
    with pytest.raises(ValueError, match="cutoff"):
        time_split(data, cutoff=bad)


def test_time_split_cutoff_as_number_or_date_time():
    """Rows with ``timestamp >= cutoff`` are the test rows (reference: a loop)."""
    stamps = pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04"])
    r = Ratings.from_arrays([1, 1, 2, 2], [1, 2, 1, 2], timestamps=stamps)
    secs = [(s - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1) for s in stamps]
    for cutoff in ("2020-01-03", pd.Timestamp("2020-01-03"),
                   pd.Timestamp("2020-01-03 01:00", tz="Europe/Paris"), int(secs[2]),
                   float(secs[2]), np.int64(secs[2])):
        test = time_split(r, cutoff=cutoff)[1]
        expected = sorted(j for j in range(4) if secs[j] >= int(secs[2]))
        got = sorted(np.flatnonzero(np.isin(r.timestamps, test.timestamps)))
        assert got == expected, cutoff


# ------------------------------------------------------------------ metrics: k
def test_evaluate_topk_takes_integral_k_and_refuses_bool(data):
    """k = 3.0 raised "slice indices must be integers"; k = True was read as 1 and gave
    keys like "precision@True"."""
    train, test = leave_last_k_out(data, 1)
    model = MostPopular().fit(train)
    assert evaluate_topk(model, train, test, k=3.0) == evaluate_topk(model, train, test, k=3)
    per_user = evaluate_topk_per_user(model, train, test, k=np.float64(3))
    assert list(per_user.columns)[0] == "precision@3"
    for bad in (True, "3", 2.5, np.nan, 0):
        with pytest.raises(ValueError, match="k must"):
            evaluate_topk(model, train, test, k=bad)
        with pytest.raises(ValueError, match="k must"):
            evaluate_topk_per_user(model, train, test, k=bad)


def test_ranking_metrics_take_integral_k_and_refuse_bool():
    import scipy.sparse as sp
    rec = np.array([[0, 1], [1, 2], [2, 0]])
    rel = sp.csr_matrix(np.array([[1, 0, 1], [0, 0, 0], [0, 1, 0]]))
    # reference: user 0 hits at position 1 only; user 2 no hit; user 1 has no relevant item
    assert precision_at_k(rec, rel, 2.0) == pytest.approx(0.25)
    assert ndcg_at_k(rec, rel, np.int8(2)) == pytest.approx(0.5 * 1.0 / (1 + 1 / np.log2(3)))
    for bad in (True, np.nan, "2"):
        with pytest.raises(ValueError, match="k must"):
            ndcg_at_k(rec, rel, bad)


# ------------------------------------------------------------------ HPF: extreme priors
@pytest.mark.parametrize("method", ["cavi", "gibbs"])
@pytest.mark.parametrize("prior", [{"b_prime": 1e-320}, {"d_prime": 1e-320},
                                   {"a_prime": 1e-300, "b_prime": 1e300}])
def test_hpf_prior_rates_out_of_float_range_are_refused(data, method, prior):
    """b' = 1e-320 makes the rate a'/b' of xi infinite: the Gibbs sampler looped for ever."""
    with pytest.raises(ValueError, match="prior rate"):
        _hpf(method, **prior).fit(data)


def test_hpf_gibbs_overflowing_prior_raises_instead_of_hanging(data):
    """c = 1e300 overflows the scale move's GIG parameters (NaN mode): the rejection loop
    never accepted.  The previous fit survives the failed one."""
    model = _hpf("gibbs").fit(data)
    before = model.recommend_indices(np.arange(3), k=3)
    model.set_params(c=1e300)
    with pytest.raises(ConvergenceError, match="prior hyperparameters"):
        model.fit(data)
    after = model.recommend_indices(np.arange(3), k=3)
    assert np.array_equal(before[0], after[0]) and np.array_equal(before[1], after[1])


def test_scale_move_gives_up_after_bounded_rounds(monkeypatch):
    """A rejection loop that reaches its bound raises instead of returning the draws it has
    (with one round, some of 200 components are rejected: each accepts with probability about
    0.83, so all 200 pass with probability about 1e-16)."""
    from bayesrec.factorization.implicit.hpf import _gibbs
    from bayesrec.factorization.implicit.hpf._data import HPFPrior
    monkeypatch.setattr(_gibbs, "_MAX_ROUNDS", 1)
    rng = np.random.default_rng(0)
    prior = HPFPrior(200, 0.3, 0.3, 1.0, 0.3, 0.3, 1.0)
    theta, beta = rng.gamma(0.3, 1.0, (40, 200)), rng.gamma(0.3, 1.0, (25, 200))
    with pytest.raises(ConvergenceError, match="no draw in 1 rounds"):
        _gibbs.scale_draws(theta, np.ones(40), beta, np.ones(25), prior, rng)


@pytest.mark.parametrize("case", ["dying_item_side", "dying_both_sides"])
def test_scale_move_draws_the_gig_where_the_gaussian_envelope_stalled(case):
    """States a real fit reaches (HPF Gibbs with its defaults on the embedded data's training
    split: ``p = 610 * 0.3 - 9724 * 0.3 = -2734.2``, a component with ``A = 3.5e-13`` and
    ``B = 3e3``) and the far opposite (``p = 1e7``, ``A B = 1e-14``).  The earlier Gaussian
    envelope accepted with probability about ``(1 + p^2 / 4AB)^(-1/4)``, 1.5e-4 and 4e-7
    here, and the fit failed after 1000 rounds.  In both states one term of the GIG is
    negligible (``A s`` about 4e-13, ``B / s`` about 1e-21 at the draws), so the law is an
    inverse gamma ``1/s ~ Gamma(-p, rate B)``, respectively a gamma ``s ~ Gamma(p, rate A)``
    (scipy).  KS test over 3000 draws: it rejects a 5% error in the scale (p < 1e-6 at this
    size, since the laws' sd is only 2% of their mean, resp. 0.03%: any such error shifts
    every draw by many sds)."""
    from scipy import stats

    from bayesrec.factorization.implicit.hpf._data import HPFPrior
    from bayesrec.factorization.implicit.hpf._gibbs import scale_draws
    if case == "dying_item_side":
        n_users, n_items, a, c, A, B = 610, 9724, 0.3, 0.3, 3.47e-13, 2997.18
    else:
        n_users, n_items, a, c, A, B = 1000, 10, 1e4, 0.3, 1e-6, 1e-8
    prior = HPFPrior(1, a, 0.3, 1.0, c, 0.3, 1.0)
    theta, beta = np.full((n_users, 1), A / n_users), np.full((n_items, 1), B / n_items)
    rng = np.random.default_rng(0)
    s = np.array([scale_draws(theta, np.ones(n_users), beta, np.ones(n_items), prior, rng)[0]
                  for _ in range(3000)])
    p = n_users * a - n_items * c
    law = (stats.invgamma(-p, scale=B) if p < 0 else stats.gamma(p, scale=1.0 / A))
    assert stats.kstest(s, law.cdf).pvalue > 1e-3
    assert stats.kstest(s * 1.05, law.cdf).pvalue < 1e-6     # the stated power


def test_hpf_gibbs_refuses_counts_it_cannot_allocate():
    """A play count of 1e12 asked numpy for 7 TiB of uniforms per sweep."""
    r = Ratings.from_arrays([1, 1, 2], [1, 2, 2], [1e12, 1, 3], implicit=True)
    with pytest.raises(ValueError, match="cavi"):
        _hpf("gibbs", counts=True).fit(r)
    scores = _hpf("cavi", counts=True).fit(r).recommend_indices([0, 1], k=2,
                                                                 exclude_seen=False)[1]
    assert np.isfinite(scores).all()


# ------------------------------------------------------------------ weighted MF: overflow
# the overflow is the input under test: its numpy warnings are expected
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                            "ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("make", [
    lambda: ImplicitALS(rank=2, n_iter=5, init_scale=1e300, random_state=0),
    lambda: _ibpmf(init_scale=1e300),
    lambda: _ibpmf(init_scale=1e150, sampler="blocked"),
    lambda: _ibpmf(w0=1e300),
    lambda: _ibpmf(nu0=1e300),
], ids=["als-init", "bpmf-init", "bpmf-blocked-init", "bpmf-w0", "bpmf-nu0"])
def test_weighted_mf_overflow_is_a_convergence_error(data, make):
    """ImplicitALS returned inf/NaN scores silently; ImplicitBPMF raised scipy's "Domain
    error in arguments" of geninvgauss (or its "Not a single random variate")."""
    with pytest.raises(ConvergenceError, match="hyperparameters are too extreme"):
        make().fit(data)


# ------------------------------------------------------------------ zero counts, diagnostics
@pytest.mark.parametrize("make, options", [
    (lambda: ImplicitALS(rank=2, n_iter=5, random_state=0), {}),
    (_ibpmf, {}),
    (_ibpmf, {"strategy": "thompson", "random_state": 0}),
    (_ibpmf, {"strategy": "lower_bound"}),
], ids=["ImplicitALS", "ImplicitBPMF-mean", "ImplicitBPMF-thompson", "ImplicitBPMF-lower"])
def test_user_with_only_zero_counts_gets_the_fallback(make, options):
    """Such a user is outside the weighted-MF likelihood (factor rows exactly 0): every score
    was 0 and the list came in arbitrary item order.  Reference: the fallback ranking, the
    items' training row counts, of the items the user has not seen."""
    #          user 1 has only zero counts on items 1, 2; item 4 (3 rows) > item 3 (1 row)
    r = Ratings.from_arrays([1, 1, 2, 2, 3, 3, 4, 5],
                            [1, 2, 2, 4, 1, 4, 4, 3],
                            [0, 0, 1, 3, 2, 1, 5, 1], implicit=True)
    model = make().fit(r)
    rec = model.recommend(1, k=4, **options)
    assert rec["item"].tolist() == [4, 3]
    assert rec["score"].tolist() == [3.0, 1.0]
    # an active user keeps its model scores (not the fallback)
    other = model.recommend_indices(r.user_index([2]), k=2, exclude_seen=False, **options)[1]
    assert not np.array_equal(other[0], [3.0, 3.0])


@pytest.mark.parametrize("make", [
    lambda: ImplicitALS(rank=2, n_iter=5, random_state=0), _ibpmf,
    lambda: _hpf("cavi"), lambda: _hpf("gibbs"), lambda: MostPopular()],
    ids=["ImplicitALS", "ImplicitBPMF", "HPF-cavi", "HPF-gibbs", "MostPopular"])
def test_unknown_user_fallback_counts_positive_interactions_only(make):
    """An unknown user's list ranks items by their interactions; stored zero counts are no
    interactions.  Item 1 has four rows but three of them are zeros (one interaction), item 2
    has two positive rows, item 3 none: the reference order, counted here from the dense
    arrays, is 2, 1, 3 (by rows it would have been 1 first)."""
    users = [1, 2, 3, 4, 5, 6, 6]
    items = [1, 1, 1, 1, 2, 2, 3]
    counts = [0, 0, 0, 4, 1, 2, 0]
    r = Ratings.from_arrays(users, items, counts, implicit=True)
    positives = {}
    for i, y in zip(items, counts):
        positives[i] = positives.get(i, 0) + (y > 0)
    reference = sorted(positives, key=lambda i: -positives[i])
    rec = make().fit(r).recommend("someone new", k=3)
    assert rec["item"].tolist() == reference == [2, 1, 3]


@pytest.mark.parametrize("method", ["cavi", "gibbs"])
def test_hpf_diagnostics_without_tracked_pairs(data, method):
    """n_tracked=0 is allowed; diagnostics raised numpy's "zero-size array to reduction
    operation maximum"."""
    model = _hpf(method, n_tracked=0).fit(data)
    table = model.diagnostics()
    assert "total_rate" in table.index and not any(n.startswith("rate") for n in table.index)
    with pytest.raises(ValueError, match="no posterior variable"):
        model.diagnostics(var_names=["nonsense"])


# ------------------------------------------------------------------ implicit views, flags
def test_to_implicit_drops_zero_counts():
    """A stored zero count is no interaction anywhere else (weighted MF, popularity,
    relevance); to_implicit() turned it into an interaction of value 1."""
    r = Ratings.from_arrays([1, 1, 2, 3], [1, 2, 1, 2], [0, 3, 1, 0], implicit=True,
                            timestamps=[5, 6, 7, 8])
    imp = r.to_implicit()
    ref = {(u, i) for u, i, y in zip(r.users.tolist(), r.items.tolist(), r.ratings) if y > 0}
    assert set(zip(imp.users.tolist(), imp.items.tolist())) == ref
    assert imp.user_ids is r.user_ids and imp.item_ids is r.item_ids
    np.testing.assert_array_equal(imp.ratings, [1.0, 1.0])
    np.testing.assert_array_equal(imp.timestamps, [6, 7])
    with pytest.raises(ValueError, match="every count is 0"):
        Ratings.from_arrays([1, 2], [1, 2], [0, 0], implicit=True).to_implicit()
    # explicit data: every rated pair, a rating of 0 included
    e = Ratings.from_arrays([1, 1, 2], [1, 2, 1], [0.0, 3.0, 5.0])
    assert len(e.to_implicit()) == 3


@pytest.mark.parametrize("bad", ["False", 0, None, np.nan])
def test_exclude_seen_must_be_a_bool(data, bad):
    """exclude_seen="False" is truthy: the seen items were silently excluded."""
    model = MostPopular().fit(data)
    with pytest.raises(ValueError, match="exclude_seen"):
        model.recommend(0, k=3, exclude_seen=bad)
    with pytest.raises(ValueError, match="exclude_seen"):
        model.recommend_indices([0], k=3, exclude_seen=bad)
    seen = set(data.items[data.users == 0].tolist())
    got = set(model.recommend_indices([0], k=data.n_items, exclude_seen=np.False_)[0][0])
    assert seen <= got


def test_paired_bootstrap_refuses_an_overflowing_difference():
    """Finite values 1e308 and -1e308 gave difference inf and a NaN interval."""
    from bayesrec.model_selection import paired_bootstrap
    with pytest.raises(ValueError, match="overflows"):
        paired_bootstrap([1e308, 1e308], [-1e308, -1e308], n_boot=100)
    out = paired_bootstrap([1.0, 2.0, 3.0], [0.0, 0.0, 0.0], n_boot=100, random_state=0)
    assert out["difference"] == 2.0 and out["low"] >= 1.0 and out["high"] <= 3.0


@pytest.mark.parametrize("mode", [{"n_test": 2}, {"test_size": 0.4}])
def test_per_user_time_split_breaks_ties_like_leave_last_k_out(mode):
    """With equal timestamps the per-user time split held out the EARLIEST of the tied rows,
    leave_last_k_out (and the global mode) the latest.  Reference: a loop over users."""
    rng = np.random.default_rng(11)
    m = rng.random((30, 12)) < 0.5
    u, i = np.nonzero(m)
    r = Ratings.from_arrays(u, i, timestamps=rng.integers(0, 3, len(u)))  # many ties
    test = time_split(r, per_user=True, **mode)[1]
    expected = set()
    for user in range(r.n_users):
        rows = sorted(np.flatnonzero(r.users == user), key=lambda j: (r.timestamps[j], j))
        n = mode.get("n_test") or int(np.round(mode["test_size"] * len(rows)))
        n = min(n, max(len(rows) - 1, 0))
        expected |= {(user, int(r.items[j])) for j in rows[len(rows) - n:]}
    assert set(zip(test.users.tolist(), test.items.tolist())) == expected
    if "n_test" in mode:
        other = leave_last_k_out(r, mode["n_test"])[1]
        assert set(zip(other.users.tolist(), other.items.tolist())) == expected


def test_checkpoint_dir_must_be_a_directory_path(tmp_path, monkeypatch):
    """checkpoint_dir=123 created a directory "123" in the working directory; an existing
    file gave the operating system's FileExistsError."""
    monkeypatch.chdir(tmp_path)
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    with pytest.raises(TypeError, match="checkpoint_dir"):
        _ibpmf(checkpoint_dir=123).fit(_interactions())
    with pytest.raises(ValueError, match="checkpoint_dir"):
        _ibpmf(checkpoint_dir=a_file).fit(_interactions())
    with pytest.raises(ValueError, match="checkpoint_dir"):
        _ibpmf(checkpoint_dir="").fit(_interactions())
    assert [p.name for p in tmp_path.iterdir()] == ["a_file"]
    _ibpmf(checkpoint_dir=tmp_path / "ckpt", checkpoint_every=1).fit(_interactions())
    assert (tmp_path / "ckpt").is_dir()


@pytest.mark.parametrize("make, takes", [
    (MostPopular, "no options"), (lambda: _hpf("cavi"), "strategy, random_state"),
    (_ibpmf, "strategy, prob, random_state")], ids=["MostPopular", "HPF", "ImplicitBPMF"])
@pytest.mark.parametrize("known_user", [True, False], ids=["known", "unknown"])
def test_an_unknown_option_is_refused_naming_the_options_the_model_takes(data, make, takes,
                                                                        known_user):
    """A mistyped option (``strategy`` spelled ``stratgy``) is refused by the public method,
    naming the model's options; the error named a private method before, and for an unknown
    user it depended on the model.  (HPF's ``recommend`` spells its options out in its
    signature, so there Python itself refuses the keyword, naming ``HPF.recommend()``.)"""
    model = make().fit(data)
    user = data.user_ids[0] if known_user else "someone new"
    with pytest.raises(TypeError, match=r"recommend(\(\))? got (an )?unexpected.*stratgy"):
        model.recommend(user, k=3, stratgy="thompson")
    with pytest.raises(TypeError, match=rf"recommend got unexpected option\(s\) \['stratgy'\]"
                                        rf"; it takes: {takes}$"):
        model.recommend_indices(np.array([0, 1]), k=3, stratgy="thompson")
