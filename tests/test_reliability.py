"""Regression tests: public calls that used to crash the interpreter, hang, or return garbage.

Each test pins one defect: an out-of-range index reaching a compiled kernel (segmentation
fault), a negative index silently read from the end, SGD diverging to ``nan`` without a word,
a ``nan`` hyperparameter sending the slice sampler into an endless loop, data that the data
layer used to accept (booleans, complex numbers, dates as ratings; 2-d arrays; infinite
timestamps), loader errors without the path, a truncated last line, the ``duplicates=``
policy the loader's own error message recommended, ARPACK failing on constant ratings,
unbounded work (``k`` far beyond the catalogue, rule mining at a tiny support), a half-updated
model after a failed refit, and per-call options shared between threads.

Calls that could crash or hang run in a subprocess under a timeout, so that a regression
fails the test instead of killing (or freezing) pytest.
"""

import gzip
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from bayesrec.data import Ratings, load_movielens, synthetic_ratings
from bayesrec.exceptions import ConvergenceError, NotFittedError
from bayesrec.factorization import FunkSVD, SVDpp, TruncatedSVD
from bayesrec.inference.slice import slice_sample
from bayesrec.markov import MarkovChain
from bayesrec.neighbors import ItemKNN, UserKNN

ROOT = Path(__file__).resolve().parents[1]


def run_isolated(code: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter importing this checkout; a crash only fails a test."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the call did not finish within {timeout} s (a hang)")


def assert_clean_error(proc: subprocess.CompletedProcess, exc: str, words: str) -> None:
    """The subprocess ended normally (no signal) after printing ``exc: ...words...``."""
    assert proc.returncode >= 0, f"killed by signal {-proc.returncode}: {proc.stderr[-2000:]}"
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout.strip().splitlines()[-1]
    assert out.startswith(exc + ":"), out
    assert words in out, out


@pytest.fixture(scope="module")
def small():
    return synthetic_ratings(n_users=30, n_items=20, n_ratings=300, rng=0,
                             rating_scale=(1, 5))[0]


# --------------------------------------------------------------------------- indices
CATCH = """
    import numpy as np
    from bayesrec.data import synthetic_ratings
    from bayesrec.neighbors import UserKNN, ItemKNN
    r = synthetic_ratings(n_users=30, n_items=20, n_ratings=300, rng=0, rating_scale=(1, 5))[0]
    m = {model}(k=3, min_overlap=1).fit(r)
    try:
        m.recommend_indices(np.array({users}))
        print("returned")
    except Exception as exc:
        print(f"{{type(exc).__name__}}: {{exc}}")
"""


@pytest.mark.parametrize("model", ["UserKNN", "ItemKNN"])
def test_index_past_the_end_is_an_error_not_a_segfault(model):
    proc = run_isolated(CATCH.format(model=model, users=[100000]))
    assert_clean_error(proc, "ValueError", "100000")


@pytest.mark.parametrize("users", [[-1], [0, -30]])
def test_negative_index_is_refused_not_read_from_the_end(small, users):
    m = UserKNN(k=3, min_overlap=1).fit(small)
    with pytest.raises(ValueError, match="users"):
        m.recommend_indices(np.array(users))


@pytest.mark.parametrize("users", [np.array([0.7]), np.array([True, False])])
def test_non_integer_indices_are_refused(small, users):
    m = FunkSVD(n_iter=2, random_state=0).fit(small)
    with pytest.raises((TypeError, ValueError), match="integer"):
        m.recommend_indices(users)


def test_markov_state_indices_are_validated():
    mc = MarkovChain().fit([["a", "b", "c"], ["b", "a"]])
    with pytest.raises(ValueError, match="state_idx"):
        mc.next_state_indices([3])
    with pytest.raises(ValueError, match="state_idx"):
        mc.next_state_indices([-1])
    with pytest.raises(ValueError, match="to_idx"):
        mc.transition_log_probs([0], [7])
    # the sparse + rank-one matrix itself (a negative row used to read the last row)
    with pytest.raises(ValueError, match="idx"):
        mc.transition_matrix.rows([-1])
    with pytest.raises(ValueError, match="j"):
        mc.transition_matrix.entries([0], [3])
    with pytest.raises(ValueError, match="idx"):
        mc.posterior_.concentration_rows([5])


# --------------------------------------------------------------------------- divergence
@pytest.mark.parametrize("model", [FunkSVD(lr=10, random_state=0),
                                   SVDpp(lr=5, random_state=0)], ids=["FunkSVD", "SVDpp"])
def test_sgd_divergence_raises_naming_the_step_size(small, model):
    with pytest.raises(ConvergenceError, match="lr"):
        model.fit(small)


def test_sgd_small_step_still_fits(small):
    pred = FunkSVD(lr=0.01, n_iter=5, random_state=0).fit(small).predict(
        small.user_ids[:5], small.item_ids[:5])
    assert np.isfinite(pred).all()


# --------------------------------------------------------------------------- unbounded loops
def test_bpmf_nan_W0_is_refused_up_front_not_a_hang():
    proc = run_isolated("""
        import numpy as np
        from bayesrec.data import synthetic_ratings
        from bayesrec.factorization import BPMF
        r = synthetic_ratings(n_users=30, n_items=20, n_ratings=300, rng=0)[0]
        W0 = np.eye(2); W0[0, 1] = W0[1, 0] = np.nan
        try:
            BPMF(rank=2, n_samples=5, burn_in=2, n_chains=1, verbose=False, W0=W0,
                 random_state=0).fit(r)
            print("returned")
        except Exception as exc:
            print(f"{type(exc).__name__}: {exc}")
    """, timeout=120)
    assert_clean_error(proc, "ValueError", "W0")


def test_bpmf_bad_hyperparameters_are_refused():
    """Negative-definite, non-symmetric, infinite or nan hyperparameters: a ValueError naming
    them before any sampling (isolated: a nan reaching the sampler used to hang it)."""
    proc = run_isolated("""
        import numpy as np
        from bayesrec.data import synthetic_ratings
        from bayesrec.factorization import BPMF
        r = synthetic_ratings(n_users=30, n_items=20, n_ratings=300, rng=0)[0]
        cases = [dict(W0=np.diag([1.0, -1.0])), dict(W0=np.array([[1.0, 0.5], [0.0, 1.0]])),
                 dict(mu0=np.array([np.inf, 0.0])), dict(nu0=np.nan)]
        for kw in cases:
            try:
                BPMF(rank=2, n_samples=2, burn_in=0, n_chains=1, verbose=False,
                     **kw).fit(r)
                print("returned")
            except Exception as exc:
                print(f"{type(exc).__name__}: {exc}")
    """, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    for line, word in zip(lines, ["W0", "W0", "mu0", "nu0"], strict=True):
        assert line.startswith("ValueError:") and word in line, line


def test_slice_sampler_with_nan_density_raises_instead_of_looping():
    proc = run_isolated("""
        import numpy as np
        from bayesrec.inference.slice import slice_sample
        try:
            slice_sample(lambda y: np.nan, 0.5, np.random.default_rng(0))
            print("returned")
        except Exception as exc:
            print(f"{type(exc).__name__}: {exc}")
    """, timeout=60)
    assert_clean_error(proc, "ConvergenceError", "current point")
    # finite at the first call only (a density that turned nan): shrinkage can never accept
    proc = run_isolated("""
        import numpy as np
        from bayesrec.inference.slice import slice_sample
        calls = []
        def flaky(y):
            calls.append(y)
            return 0.0 if len(calls) == 1 else np.nan
        try:
            slice_sample(flaky, 0.5, np.random.default_rng(0))
            print("returned")
        except Exception as exc:
            print(f"{type(exc).__name__}: {exc}")
    """, timeout=60)
    assert_clean_error(proc, "ConvergenceError", "shrinkage")


def test_slice_sampler_still_samples_a_normal():
    """Mean and variance of 4000 draws of N(0, 1); detects a 0.1 shift of the mean or a 15%
    error in the variance (about 4 standard errors after thinning-free autocorrelation)."""
    rng = np.random.default_rng(1)
    y, draws = 0.0, []
    for _ in range(4000):
        y = slice_sample(lambda t: -0.5 * t * t, y, rng, n_iter=1)
        draws.append(y)
    draws = np.array(draws)
    assert abs(draws.mean()) < 0.1
    assert abs(draws.var() - 1.0) < 0.15


# --------------------------------------------------------------------------- data layer
@pytest.mark.parametrize("ratings, word", [
    (np.array([[4.0, 3.0], [2.0, 1.0]]), "1-d"),
    (np.array([True, False]), "bool"),
    ([True, 2.0], "bool"),
    (np.array([4 + 1j, 3]), "complex"),
    (np.array(["2020-01-01", "2020-01-02"], dtype="datetime64[D]"), "date"),
    (np.array([1, 2], dtype="timedelta64[s]"), "duration"),
])
def test_ratings_must_be_real_numbers_in_a_1d_array(ratings, word):
    with pytest.raises(ValueError, match=word):
        Ratings.from_arrays([1, 2], [1, 1], ratings)


@pytest.mark.parametrize("timestamps", [[np.inf, 1.0], [1e300, 1.0], [-np.inf, 0.0],
                                        np.array([2**62, 0])])
def test_timestamps_must_be_finite_and_within_datetime64(timestamps):
    with pytest.raises(ValueError, match="timestamp"):
        Ratings.from_arrays([1, 2], [1, 1], [4.0, 3.0], timestamps)


def test_boolean_timestamps_are_refused():
    with pytest.raises(ValueError, match="timestamp"):
        Ratings.from_arrays([1, 2], [1, 1], [4.0, 3.0], [True, False])


def test_2d_ids_are_refused_naming_the_argument():
    with pytest.raises(ValueError, match="users"):
        Ratings.from_arrays(np.array([[1], [2]]), [1, 1], [4.0, 3.0])


HEADER = "userId,movieId,rating,timestamp\n"
BODY = "1,10,4.0,881250949\n1,20,3.0,881250950\n2,10,5.0,881250951\n"


def test_loader_refuses_a_truncated_last_line(tmp_path):
    (tmp_path / "ratings.csv").write_text(HEADER + BODY + "3,30,1.")
    with pytest.raises(ValueError, match="truncated") as info:
        load_movielens(tmp_path)
    assert str(tmp_path / "ratings.csv") in str(info.value)


def test_loader_names_path_and_row_of_a_missing_field(tmp_path):
    (tmp_path / "ratings.csv").write_text(HEADER + BODY + "3,30\n")
    with pytest.raises(ValueError, match=r"row 3 \(line 5\)") as info:
        load_movielens(tmp_path)
    assert str(tmp_path / "ratings.csv") in str(info.value)


def test_loader_names_path_and_row_of_a_non_numeric_id(tmp_path):
    (tmp_path / "u.data").write_text("1\t10\t4\t881250949\nx\t10\t3\t881250950\n")
    with pytest.raises(ValueError, match=r"row 1 \(line 2\).*'x'") as info:
        load_movielens(tmp_path)
    assert str(tmp_path / "u.data") in str(info.value)


def test_loader_names_the_path_of_a_truncated_gzip(tmp_path):
    data = gzip.compress((HEADER + BODY).encode())
    (tmp_path / "ratings.csv.gz").write_bytes(data[:-12])
    with pytest.raises(ValueError, match="ratings.csv.gz") as info:
        load_movielens(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_loader_names_the_path_of_a_file_that_is_not_gzip(tmp_path):
    (tmp_path / "ratings.csv.gz").write_bytes(b"plain text\n")
    with pytest.raises(ValueError, match="ratings.csv.gz"):
        load_movielens(tmp_path)


def test_loader_accepts_the_duplicate_policies_its_error_recommends(tmp_path):
    (tmp_path / "ratings.csv").write_text(HEADER + BODY + "1,10,2.0,881250999\n")
    with pytest.raises(ValueError, match="duplicates='last' or 'mean'") as info:
        load_movielens(tmp_path)
    assert str(tmp_path / "ratings.csv") in str(info.value)
    last = load_movielens(tmp_path, duplicates="last").to_frame()
    mean = load_movielens(tmp_path, duplicates="mean").to_frame()
    pick = lambda f: f.loc[(f.userId == 1) & (f.movieId == 10), "rating"].item()  # noqa: E731
    assert len(last) == 3 and pick(last) == 2.0 and pick(mean) == 3.0


# --------------------------------------------------------------------------- SVD, guards
def test_truncated_svd_on_constant_ratings():
    r = Ratings.from_arrays(np.repeat(np.arange(10), 5), np.tile(np.arange(5), 10),
                            np.full(50, 3.0))
    for center in ("baseline", "user", "item", "global"):
        m = TruncatedSVD(rank=2, center=center, n_iter=1, random_state=0).fit(r)
        np.testing.assert_allclose(m.predict([0, 9], [0, 4]), 3.0)


def test_neighbour_k_is_capped_at_the_catalogue(small):
    m = UserKNN(k=10**9, min_overlap=1).fit(small)
    assert m.topk_.indices.shape == (small.n_users, small.n_users - 1)
    m = ItemKNN(k=10**9, neighborhood="rated", pool=10**10, min_overlap=1).fit(small)
    assert m.topk_.indices.shape == (small.n_items, small.n_items - 1)
    items, _ = m.recommend_indices(np.arange(3), k=10**12)
    assert items.shape[1] <= small.n_items


def test_rule_mining_stops_past_its_budget():
    # 40 baskets of 30 items out of 32: at support 0.5 the frequent itemsets run into the
    # millions; isolated, with capped memory, so that a missing guard fails instead of
    # exhausting the machine
    proc = run_isolated("""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
        import numpy as np
        from bayesrec.rules import association_rules, frequent_itemsets
        rng = np.random.default_rng(0)
        baskets = [rng.choice(32, 30, replace=False).tolist() for _ in range(40)]
        assert len(frequent_itemsets(baskets, 0.5, max_len=2, max_itemsets=1000)) <= 1000
        for f in (frequent_itemsets, association_rules):
            try:
                f(baskets, 0.5, max_itemsets=1000)
                print("returned")
            except Exception as exc:
                print(f"{type(exc).__name__}: {exc}")
    """, timeout=120)
    assert_clean_error(proc, "ValueError", "max_itemsets")
    assert proc.stdout.count("ValueError") == 2


# --------------------------------------------------------------------------- estimator state
def test_failed_refit_leaves_the_previous_fit_intact(small):
    """A fit that fails validation keeps the old fitted state (no mix of old and new)."""
    other = synthetic_ratings(n_users=12, n_items=9, n_ratings=50, rng=3, rating_scale=(1, 5))[0]
    m = FunkSVD(n_iter=3, random_state=0).fit(small)
    before = m.predict(small.user_ids[:5], small.item_ids[:5])
    m.rank = -1
    with pytest.raises(ValueError, match="rank"):
        m.fit(other)
    assert m.train_ is small
    np.testing.assert_array_equal(m.predict(small.user_ids[:5], small.item_ids[:5]), before)


def test_failed_refit_of_knn_then_recommend_does_not_crash():
    proc = run_isolated("""
        import numpy as np
        from bayesrec.data import synthetic_ratings
        from bayesrec.neighbors import UserKNN
        a = synthetic_ratings(n_users=40, n_items=20, n_ratings=400, rng=0)[0]
        b = synthetic_ratings(n_users=400, n_items=30, n_ratings=2000, rng=1)[0]
        m = UserKNN(k=3, min_overlap=1).fit(a)
        m.similarity = "nonsense"
        try:
            m.fit(b)
        except ValueError:
            pass
        m.recommend(b.user_ids[-1])
        print(f"ValueError: ok {m.train_ is a}")
    """)
    assert_clean_error(proc, "ValueError", "ok True")


def test_failed_first_fit_gives_not_fitted_error(small):
    m = FunkSVD(rank=-1)
    with pytest.raises(ValueError):
        m.fit(small)
    with pytest.raises(NotFittedError):
        m.predict(small.user_ids[:1], small.item_ids[:1])


def test_recommend_strategies_from_two_threads(small):
    """Per-call options are arguments: concurrent calls with different strategies each get
    their own (serially computed) answer."""
    from bayesrec.factorization import BPMF
    m = BPMF(rank=2, n_samples=10, burn_in=5, n_chains=1, verbose=False,
             random_state=0).fit(small)
    users = small.user_ids[:6]
    calls = {"mean": dict(strategy="mean"), "lower_bound": dict(strategy="lower_bound", prob=0.95)}
    expected = {s: [m.recommend(u, k=5, **kw)["item"].tolist() for u in users]
                for s, kw in calls.items()}
    got, errors = {}, []
    barrier = threading.Barrier(2)

    def worker(name, kw):
        try:
            barrier.wait()
            got[name] = [m.recommend(u, k=5, **kw)["item"].tolist() for u in users for _ in
                         range(20)][::20]
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=item) for item in calls.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert got == expected
    assert expected["mean"] != expected["lower_bound"]  # the strategies differ on this data


# --------------------------------------------------------------------------- found by fuzzing
def test_als_with_tiny_reg_and_few_ratings_is_not_singular():
    """A user with fewer ratings than the rank and reg ~ 0: the ridge system is singular;
    the fit takes its minimum-norm solution (the reg -> 0 limit) instead of LinAlgError."""
    from bayesrec.factorization import ALS
    r = Ratings.from_arrays([1, 1, 2], [10, 20, 10], [3.0, 4.0, 2.0], rating_scale=(1, 5))
    m = ALS(rank=3, reg=1e-300, random_state=0).fit(r)
    pred = m.predict([1, 1, 2], [10, 20, 10])
    assert np.isfinite(pred).all()
    # the user with two ratings is fitted exactly by a rank-3 model with no penalty
    np.testing.assert_allclose(pred[:2], [3.0, 4.0], atol=1e-6)


def test_knn_huge_prior_weight_gives_the_prior_mean_not_inf():
    r = Ratings.from_arrays([1, 2, 2], [10, 10, 20], [2.0, 4.0, 5.0], rating_scale=(1, 5))
    m = ItemKNN(k=1, min_overlap=1, prior_weight=1e308).fit(r)
    np.testing.assert_allclose(m.mean_, r.global_mean)
    np.testing.assert_allclose(m.other_mean_, r.global_mean)
    # item 20's one neighbour, item 10, was rated 2 by user 1: mean + (2 - mean)
    np.testing.assert_allclose(m.predict([1], [20]), 2.0)


def test_huge_float_counts_are_refused_not_overflowing():
    """1e308 is a float, not a count: refused by name, not an OverflowError in a kernel or a
    loop of 1e308 iterations (isolated, so that a regression fails instead of hanging)."""
    proc = run_isolated("""
        from bayesrec.data import Ratings
        from bayesrec.factorization import ALS
        from bayesrec.neighbors import UserKNN
        r = Ratings.from_arrays([1, 2, 2], [10, 10, 20], [2.0, 4.0, 5.0])
        for make in (lambda: UserKNN(min_overlap=1e308), lambda: ALS(n_iter=1e308)):
            try:
                make().fit(r)
                print("returned")
            except Exception as exc:
                print(f"{type(exc).__name__}: {exc}")
    """, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    for line, word in zip(lines, ["min_overlap", "n_iter"], strict=True):
        assert line.startswith("ValueError:") and word in line, line


def test_movie_file_errors_name_the_path(tmp_path):
    from bayesrec.data import read_movies
    (tmp_path / "movies.csv").write_text("movieId,name\n1,x\n")  # no title/genres columns
    with pytest.raises(ValueError, match="movies.csv"):
        read_movies(tmp_path / "movies.csv")
    (tmp_path / "movies.csv.gz").write_bytes(b"not gzip\n")
    with pytest.raises(ValueError, match="movies.csv.gz"):
        read_movies(tmp_path / "movies.csv.gz")


def test_from_arrays_refuses_scalars_ragged_lists_and_mixed_or_far_timestamps():
    with pytest.raises(TypeError, match="ratings"):
        Ratings.from_arrays([1, 2], [1, 1], 3.0)
    with pytest.raises(TypeError, match="users"):
        Ratings.from_arrays("12", [1, 1], [3.0, 4.0])
    with pytest.raises(ValueError, match="ratings"):
        Ratings.from_arrays([1, 2], [1, 1], [[1.0], [2.0, 3.0]])
    # a number among date-time strings used to be read as nanoseconds (1.5e9 ns = 1.5 s)
    with pytest.raises(ValueError, match="mix numbers and date-times"):
        Ratings.from_arrays([1, 2], [1, 1], [3.0, 4.0], [1.5e9, "2020-01-01"])
    with pytest.raises(ValueError, match="range"):
        Ratings.from_arrays([1, 2], [1, 1], [3.0, 4.0], ["3000-01-01", "2020-01-01"])
    ok = Ratings.from_arrays([1, 2], [1, 1], [3.0, 4.0], ["1970-01-01 00:00:10",
                                                          "2020-01-01 00:00:00"])
    assert ok.timestamps.tolist() == [10, 1577836800]


def test_metrics_refuse_garbage_instead_of_scoring_it():
    import scipy.sparse as sp

    from bayesrec import metrics
    rel = sp.csr_matrix(np.array([[0, 0, 1], [1, 0, 0]]))
    # item 3 of user 0 is key 0 * 3 + 3 = user 1's item 0: it used to count as a hit
    with pytest.raises(ValueError, match="outside"):
        metrics.precision_at_k(np.array([[3], [2]]), rel, k=1)
    with pytest.raises(ValueError, match="integer"):
        metrics.ndcg_at_k(np.array([[2.0], [0.0]]), rel, k=1)
    assert metrics.precision_at_k(np.array([[2], [-1]]), rel, k=1) == 0.5  # -1: empty slot
    with pytest.raises(ValueError, match="n_items"):
        metrics.catalogue_coverage(np.array([[0, 1]]), 0)
    with pytest.raises(ValueError, match="true rating"):
        metrics.rmse([1.0, np.nan], [1.0, 2.0])


def test_huge_dirichlet_concentration_is_refused_not_zero_rows():
    """epsilon * V overflowing made every transition probability 0 (rows summing to 0)."""
    with pytest.raises(ValueError, match="epsilon"):
        MarkovChain(epsilon=1e308).fit([[0, 1]])
    rows = MarkovChain(epsilon=1e300).fit([[0, 1]]).transition_matrix.rows([0, 1])
    np.testing.assert_allclose(rows.sum(axis=1), 1.0)


def test_unhashable_ids_infinite_folds_and_repeated_recommendations_are_refused():
    import scipy.sparse as sp

    from bayesrec import metrics
    from bayesrec.data import kfold
    with pytest.raises(TypeError, match="hashable"):
        Ratings.from_arrays([[1.0], [2.0]], [0, 1], [1.0, 2.0])
    r = Ratings.from_arrays([1, 2, 3], [0, 1, 0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="n_splits"):
        list(kfold(r, n_splits=float("inf")))
    # an item listed twice counted as two hits: recall 2.0
    with pytest.raises(ValueError, match="more than once"):
        metrics.recall_at_k(np.array([[0, 0]]), sp.csr_matrix(np.array([[1]])), k=2)


def test_implicit_bpmf_refuses_an_absurd_noise_precision():
    """A fixed alpha of 1e308 used to end in a bare scipy domain error deep in the sweep."""
    from bayesrec.factorization import ImplicitBPMF
    r = synthetic_ratings(30, 20, 200, rank=2, rng=0)[0]
    with pytest.raises(ValueError, match="alpha"):
        ImplicitBPMF(rank=2, alpha=1e308, n_samples=3, burn_in=2, n_chains=1,
                     verbose=False, random_state=0).fit(r)
