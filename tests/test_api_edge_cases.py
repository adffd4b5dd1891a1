"""Edge cases of the public API beyond the top-N models: hostile but realistic input gets a
clear error naming the argument, never a hang, a silent NaN / inf, an argument silently
ignored or misread, or a half-updated model after a failed fit.

Each test names the input class it covers and the behaviour before the fix.  Everything runs on
tiny data, no sampler sweeps and no graph is compiled, so the file takes a few seconds warm.
"""

import json
import os
import zipfile

import numpy as np
import pytest

import bayesrec
from bayesrec import ranking
from bayesrec.bandits import (
    UCB1,
    BetaBernoulliThompson,
    EpsilonGreedy,
    lai_robbins_bound,
    simulate,
    thompson_select,
)
from bayesrec.baseline import BiasBaseline
from bayesrec.data import Ratings
from bayesrec.exceptions import PersistenceError
from bayesrec.markov import MarkovChain
from bayesrec.metrics import ndcg_at_k
from bayesrec.ranking import BetaPosteriorRanker


def _ratings(n_users=8, n_items=6, seed=0, timestamps=False) -> Ratings:
    """Random 1..5 ratings; every user has at least one row."""
    rng = np.random.default_rng(seed)
    m = rng.random((n_users, n_items)) < 0.6
    m[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
    u, i = np.nonzero(m)
    return Ratings.from_arrays(u, i, rng.integers(1, 6, len(u)).astype(float),
                               timestamps=rng.permutation(len(u)) if timestamps else None)


@pytest.fixture(scope="module")
def data():
    return _ratings()


# ------------------------------------------------------------------ Ratings
def test_take_with_negative_indices_cannot_duplicate_a_pair(data):
    """take([0, -n]) selected row 0 twice (the repeat check compared raw indices), storing a
    duplicate (user, item) pair."""
    with pytest.raises(ValueError, match="repeated row"):
        data.take([0, -len(data)])
    sub = data.take([-1, 0])  # distinct rows, negative indices still allowed
    assert len(sub) == 2 and sub.ratings[0] == data.ratings[-1]


@pytest.mark.parametrize("bad", [True, np.inf, np.nan, "3", 2.5, 0])
def test_most_active_counts_are_checked(data, bad):
    """True was read as 1, inf raised a bare OverflowError, nan Python's int() message."""
    with pytest.raises(ValueError, match="n_users must"):
        data.most_active(bad, 3)
    with pytest.raises(ValueError, match="n_items must"):
        data.most_active(3, bad)


@pytest.mark.parametrize("scale", ["15", (0, 5, 10), (False, 5), (0, "5"), 5, (1,)])
def test_rating_scale_must_be_a_pair_of_numbers(scale):
    """The string "15" was read as the scale (1, 5), a triple was cut to its first two values
    and False was read as 0."""
    with pytest.raises(ValueError, match="rating_scale must be a .low, high. pair"):
        Ratings.from_arrays([1, 2], [1, 2], [1.0, 2.0], rating_scale=scale)
    assert Ratings.from_arrays([1, 2], [1, 2], [1.0, 2.0],
                               rating_scale=np.array([0.5, 5])).rating_scale == (0.5, 5.0)


@pytest.mark.parametrize("policy", ["mean", "sum"])
def test_merging_repeated_pairs_never_overflows_silently(policy):
    """Two ratings of 1e308 for one pair were merged into an infinite rating."""
    implicit = policy == "sum"
    with pytest.raises(ValueError, match="repeated pair at row 1 overflows"):
        Ratings.from_arrays([1, 1], [1, 1], [1e308, 1e308], duplicates=policy,
                            implicit=implicit)
    merged = Ratings.from_arrays([1, 1], [1, 1], [1e307, 3e307], duplicates=policy,
                                 implicit=implicit)
    assert merged.ratings[0] == pytest.approx(2e307 if policy == "mean" else 4e307)


@pytest.mark.parametrize("args, message", [
    (([0, 1, 5_000_000], [0, 1, 2], [1.0, 2.0, 3.0], [0, 1], [0, 1, 2]), "users index 5000000"),
    (([0, 1, 1], [0, -1, 2], [1.0, 2.0, 3.0], [0, 1], [0, 1, 2]), "items index -1"),
    (([0, 1], [0, 1, 2], [1.0, 2.0, 3.0], [0, 1], [0, 1, 2]), "users must be 1-d"),
    (([0, 1, 1], [0, 1, 2], [1.0, np.nan, 3.0], [0, 1], [0, 1, 2]), "non-finite rating"),
], ids=["user-past-map", "negative-item", "short-users", "nan-rating"])
def test_ratings_constructor_refuses_what_compiled_code_would_read_out_of_bounds(args,
                                                                                 message):
    """Ratings(...) stored an index past its id map or arrays of different lengths, and
    FunkSVD / ItemKNN fits on it died with a segmentation fault."""
    with pytest.raises(ValueError, match=message):
        Ratings(*args)


def test_a_model_file_with_training_indices_past_the_id_map_is_refused(tmp_path, data):
    """The Ratings inside a model file was rebuilt unchecked: an index past the id map only
    failed later, at recommend / predict (a crash in compiled code)."""
    import io
    path = tmp_path / "model.zip"
    BiasBaseline().fit(data).save(path)
    with zipfile.ZipFile(path) as zin:
        meta = json.loads(zin.read("meta.json"))
        arrays = dict(np.load(io.BytesIO(zin.read("arrays.npz"))))
    key = meta["state"]["train_"]["__ratings__"]["users"]["__array__"]
    arrays[key] = arrays[key] + 100
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zout:
        zout.writestr("meta.json", json.dumps(meta))
        zout.writestr("arrays.npz", buf.getvalue())
    with pytest.raises(PersistenceError, match="outside its id map"):
        bayesrec.load(bad)


def test_one_column_per_role_when_reading_and_writing_frames(data):
    """to_frame(user_col="x", item_col="x") silently dropped the user column (and a rating /
    timestamp clash the ratings); from_frame read one column as both users and items, or as
    ratings and timestamps."""
    import pandas as pd
    with pytest.raises(ValueError, match="item_col and user_col name the same column 'x'"):
        data.to_frame(user_col="x", item_col="x")
    timed = _ratings(timestamps=True)
    with pytest.raises(ValueError, match="timestamp_col and rating_col"):
        timed.to_frame(rating_col="t", timestamp_col="t")
    assert list(data.to_frame(timestamp_col="rating").columns) == ["userId", "movieId",
                                                                   "rating"]
    df = pd.DataFrame({"u": [1, 2], "i": [3, 4], "r": [3.0, 4.0]})
    for kwargs in ({"item_col": "u"}, {"rating_col": "u"}, {"timestamp_col": "r"}):
        with pytest.raises(ValueError, match="name the same column"):
            Ratings.from_frame(df, **{"user_col": "u", "item_col": "i", "rating_col": "r",
                                      **kwargs})


@pytest.mark.parametrize("bad", [True, False, np.True_])
def test_a_bool_is_no_random_seed(data, bad):
    """rng=True was taken as seed 1 (and False as seed 0)."""
    from bayesrec.data import random_split
    from bayesrec.rng import check_random_state
    with pytest.raises(TypeError, match="random_state must be"):
        check_random_state(bad)
    with pytest.raises(TypeError, match="random_state"):
        random_split(data, 0.2, rng=bad)
    with pytest.raises(TypeError, match="random_state"):
        BetaPosteriorRanker(random_state=bad).fit([1], [0])
    from bayesrec.factorization import FunkSVD
    with pytest.raises(TypeError, match="random_state"):
        FunkSVD(rank=2, n_iter=1, random_state=bad).fit(data)


# ------------------------------------------------------------------ ranking scores
@pytest.mark.parametrize("call", [
    lambda: ranking.hacker_news_score(np.inf, np.inf),
    lambda: ranking.hacker_news_score([5.0], [1.0], penalty=np.inf),
    lambda: ranking.reddit_hot(np.inf, np.inf, 0),
    lambda: ranking.reddit_hot(1, 0, np.inf),
    lambda: ranking.wilson_lower_bound(1, np.inf),
    lambda: ranking.wilson_upper_bound(np.inf, np.inf),
    lambda: ranking.smoothed_average(1.0, 1, 3.0, np.inf),
    lambda: ranking.smoothed_average(1.0, 1, -np.inf, 0),
], ids=["hn", "hn-penalty", "reddit-votes", "reddit-created", "wilson-lower", "wilson-upper",
        "smoothed-weight", "smoothed-mean"])
def test_vote_scores_refuse_infinite_input(call):
    """Infinite votes, ages, counts or weights gave NaN (inf/inf, inf - inf) or inf scores."""
    with pytest.raises(ValueError, match="must be finite"):
        call()


@pytest.mark.parametrize("bad", [True, "1.8", "abc", np.array([1.0, 2.0]), np.nan, -1.0])
def test_hacker_news_gravity_is_checked_by_name(bad):
    """True was read as 1 and "1.8" as 1.8; "abc" and an array gave float()'s messages."""
    with pytest.raises(ValueError, match="gravity must"):
        ranking.hacker_news_score(5, 1, gravity=bad)
    # a closed form: (5 - 1)^0.8 / (1 + 2)^1.8
    assert ranking.hacker_news_score(5, 1, gravity=1.8) == pytest.approx(4 ** 0.8 / 3 ** 1.8)


@pytest.mark.parametrize("bad", [["5"], np.array(["2021-01-01"])])
def test_vote_counts_must_be_numbers(bad):
    """The string "5" was cast to 5 votes."""
    with pytest.raises(ValueError, match="votes must be numeric"):
        ranking.hacker_news_score(bad, [1.0])


def test_reddit_created_must_not_be_a_bool():
    """created=True was read as 1 second after the epoch."""
    with pytest.raises(ValueError, match="created must be epoch seconds"):
        ranking.reddit_hot(1, 0, True)
    with pytest.raises(ValueError, match="created must be epoch seconds"):
        ranking.reddit_hot([1, 2], [0, 0], np.array([True, False]))


# ------------------------------------------------------------------ Beta posterior ranker
@pytest.fixture
def ranker():
    return BetaPosteriorRanker().fit([1, 2, 3], [0, 1, 0])


@pytest.mark.parametrize("bad", [True, "2", 1.5, -1, np.nan])
def test_ranker_k_is_checked(ranker, bad):
    """k=True gave one item, "2" two, 1.5 one, -1 none, nan int()'s message."""
    with pytest.raises(ValueError, match="k must"):
        ranker.rank(k=bad)
    assert ranker.rank(k=0).size == 0 and ranker.rank(k=2.0).tolist() == [2, 0]


def test_failed_ranker_refit_keeps_the_previous_state(ranker):
    """A refit failing on item_ids (or on a prior of the wrong shape) had already replaced
    the counts: successes_ had 5 items, item_ids_ and the prior 3 or 4."""
    before = {k: np.copy(v) for k, v in vars(ranker).items() if k.endswith("_")
              and isinstance(v, np.ndarray)}
    with pytest.raises(ValueError, match="item_ids"):
        ranker.fit([1, 2, 3, 4, 5], [0, 0, 0, 0, 0], item_ids=[1, 2, 3, 4])
    ranker.a = np.array([1.0, 1.0])
    with pytest.raises(ValueError, match="prior a"):
        ranker.fit([1, 2, 3, 4, 5], [0, 0, 0, 0, 0])
    for name, value in before.items():
        np.testing.assert_array_equal(getattr(ranker, name), value, err_msg=name)


def test_ranker_prior_whose_total_overflows_is_refused():
    """a = b = 1e308: a + b overflowed, the posterior mean read 0 and the lower bound NaN."""
    with pytest.raises(ValueError, match="overflows"):
        BetaPosteriorRanker(a=1e308, b=1e308).fit([1, 2], [0, 1])
    r = BetaPosteriorRanker(a=1e300, b=1e300).fit([1, 2], [0, 1])
    np.testing.assert_allclose(r.posterior_mean(), 0.5)


def test_ranker_inputs_name_the_argument(ranker, data):
    """liked="True" gave float()'s message, a non-Ratings an AttributeError, threshold "4"
    was read as 4 and True as 1."""
    with pytest.raises(ValueError, match="liked must be boolean"):
        ranker.update([0], ["True"])
    with pytest.raises(TypeError, match="Ratings"):
        BetaPosteriorRanker.from_ratings([1, 2, 3])
    for bad in ("4", True, np.inf):
        with pytest.raises(ValueError, match="threshold must"):
            ranking.item_statistics(data, threshold=bad)


# ------------------------------------------------------------------ Markov chains
@pytest.fixture(scope="module")
def chain():
    return MarkovChain().fit([[1, 2, 3], [2, 3, 1], [1, 3]])


@pytest.mark.parametrize("bad", [True, "2", 1.5, -1, np.nan, np.inf])
def test_state_distribution_steps_are_checked(chain, bad):
    """k=True was one step, "2" two steps, 1.5 one step; nan and inf gave int()'s messages."""
    with pytest.raises(ValueError, match="k must"):
        chain.state_distribution(k=bad)


def test_state_distribution_many_steps_stop_at_the_fixed_point(chain):
    """k = 10**9 ran 10**9 sparse products (a hang).  Once a step returns its input exactly,
    every later step repeats it, so the answer is unchanged; reference: a slow loop here."""
    pi = chain.state_distribution(k=10**9)
    A = chain.transition_matrix.rows(np.arange(chain.n_states_))
    ref = chain.initial_distribution()
    for _ in range(200):
        ref = ref @ A
    np.testing.assert_allclose(pi, ref, rtol=1e-12)
    np.testing.assert_array_equal(chain.state_distribution(k=3),
                                  chain.initial_distribution() @ A @ A @ A)


@pytest.mark.parametrize("bad", [True, "1", -1.0, np.nan])
def test_markov_epsilon_is_checked_by_name(bad):
    """epsilon=True was read as 1 and "1" as 1.0."""
    with pytest.raises(ValueError, match="epsilon must"):
        MarkovChain(epsilon=bad).fit([[1, 2, 3]])


def test_failed_markov_refit_keeps_the_previous_state():
    """A refit failing in the Dirichlet posterior (epsilon too large) had already replaced the
    states and counts: a 3-state chain with 4 states_."""
    m = MarkovChain().fit([[1, 2, 3]])
    pi = m.stationary_distribution()
    m.epsilon = 1e308
    with pytest.raises(ValueError, match="too large"):
        m.fit([[1, 2, 3, 4]])
    assert m.n_states_ == 3 and list(m.states_) == [1, 2, 3]
    np.testing.assert_array_equal(m.stationary_distribution(), pi)


def test_markov_min_rating_is_checked():
    """min_rating="3" raised numpy's UFuncTypeError."""
    r = _ratings(timestamps=True)
    with pytest.raises(ValueError, match="min_rating must"):
        MarkovChain().fit_ratings(r, min_rating="3")


# ------------------------------------------------------------------ bandits
P = [0.1, 0.5]


@pytest.mark.parametrize("bad", [True, "0.1", np.nan, 1.5])
def test_epsilon_greedy_epsilon_is_checked(bad):
    """epsilon=True explored every round; "0.1" was cast."""
    with pytest.raises(ValueError, match="epsilon must"):
        EpsilonGreedy(2, epsilon=bad)


@pytest.mark.parametrize("bad", [[2.7], "5", [True], [[1.5]]])
def test_posterior_steps_must_be_integers(bad):
    """2.7 was cut to 2, "5" read as 5 and True as 1."""
    with pytest.raises(ValueError, match="posterior_steps"):
        simulate(UCB1(2), P, 10, 1, rng=0, posterior_steps=bad)


def test_simulate_progress_must_be_a_bool():
    """progress="False" is a true string: it showed the progress bar."""
    with pytest.raises(ValueError, match="progress must be True or False"):
        simulate(UCB1(2), P, 10, 1, rng=0, progress="False")


def test_thompson_prior_and_rng_arguments():
    """An array prior gave float()'s TypeError, a bool prior was read as 1; an int seed for
    thompson_select raised AttributeError ('int' object has no attribute 'beta')."""
    for bad in (np.array([1.0, 2.0]), True, "1"):
        with pytest.raises(ValueError, match="Beta parameter a"):
            BetaBernoulliThompson(2, a=bad)
    a, b = np.array([1.0, 5.0, 2.0]), np.array([1.0, 1.0, 9.0])
    np.testing.assert_array_equal(thompson_select(a, b, 3, k=2),
                                  thompson_select(a, b, np.random.default_rng(3), k=2))


def test_lai_robbins_trials_must_be_numbers():
    """n_trials=True was read as one trial."""
    with pytest.raises(ValueError, match="n_trials must"):
        lai_robbins_bound(P, True)
    assert lai_robbins_bound(P, np.e) == pytest.approx(
        (0.5 - 0.1) / (0.1 * np.log(0.1 / 0.5) + 0.9 * np.log(0.9 / 0.5)))


# ------------------------------------------------------------------ persistence
@pytest.fixture
def saved(tmp_path, data):
    path = tmp_path / "model.zip"
    BiasBaseline().fit(data).save(path)
    return path


def _rewrite(path, edit):
    """A copy of a saved model whose meta.json went through ``edit``."""
    out = path.with_name("edited.zip")
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(out, "w") as zout:
        for name in zin.namelist():
            raw = zin.read(name)
            if name == "meta.json":
                raw = json.dumps(edit(json.loads(raw)))
            zout.writestr(name, raw)
    return out


def _with_state(extra):
    return lambda m: {**m, "state": {**m["state"], "x_": extra}}


@pytest.mark.parametrize("edit", [
    lambda m: {**m, "class": 5},
    lambda m: {**m, "params": []},
    lambda m: {**m, "state": [1]},
    lambda m: {**m, "format_version": True},
    _with_state({"__generator__": {"__dict__": {"bit_generator": "seed"}}}),
    _with_state({"__generator__": [1]}),
    _with_state({"__object__": "bayesrec.load", "attrs": {}}),
    _with_state({"__object__": 3, "attrs": {}}),
], ids=["class-int", "params-list", "state-list", "version-bool", "generator-function",
        "generator-list", "object-function", "object-int"])
def test_a_malformed_model_file_is_a_persistence_error(saved, edit):
    """Each raised a bare AttributeError or TypeError from inside the reader (or, for a
    format_version of true, loaded as version 1)."""
    bad = _rewrite(saved, edit)
    with pytest.raises(PersistenceError, match="edited.zip"):
        bayesrec.load(bad)
    assert bayesrec.load(_rewrite(saved, lambda m: m)).is_fitted  # the copy itself is fine


@pytest.mark.parametrize("bad", [None, 3, b"model.zip"])
def test_load_path_must_be_a_path(bad):
    """None and 3 gave pathlib's message, not naming the argument."""
    with pytest.raises(TypeError, match="path must be a file path"):
        bayesrec.load(bad)


# ------------------------------------------------------------------ experiments CLI
@pytest.mark.parametrize("argv, message", [
    (["--only", ","], "--only names no experiment"),
    (["--only", " "], "--only names no experiment"),
    (["--data", "no/such/folder"], "no such file or folder"),
], ids=["only-empty", "only-blank", "data-missing"])
def test_cli_refuses_arguments_it_would_ignore(argv, message, capsys, tmp_path):
    """--only "," ran the whole suite; a missing --data failed every experiment one by one."""
    from experiments.__main__ import main
    with pytest.raises(SystemExit) as exit_info:
        main(argv + ["--out", str(tmp_path / "report")])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "report").exists()


def test_cli_refuses_data_that_is_no_movielens_file(capsys, tmp_path):
    """A folder without a rating file failed every experiment one after the other."""
    from experiments.__main__ import main
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit):
        main(["--only", "ranking", "--data", str(tmp_path / "empty"),
              "--out", str(tmp_path / "report")])
    assert "no MovieLens rating file" in capsys.readouterr().err


def test_cli_out_must_not_be_a_file(capsys, tmp_path):
    """--out naming a file failed deep inside with NotADirectoryError."""
    from experiments.__main__ import main
    target = tmp_path / "file"
    target.write_text("")
    with pytest.raises(SystemExit):
        main(["--only", "ranking", "--out", os.fspath(target)])
    assert "is not a folder" in capsys.readouterr().err


# ------------------------------------------------------------------ rating models
def test_truncated_svd_names_ratings_too_large_for_float64():
    """Ratings of 1e300 overflowed the sum of squares, and ARPACK's failure was reported as
    "lower rank"."""
    from bayesrec.factorization import TruncatedSVD
    big = _ratings()
    big = Ratings.from_arrays(big.users, big.items, big.ratings * 1e300)
    with pytest.raises(ValueError, match="ratings are too large"):
        TruncatedSVD(rank=2, random_state=0).fit(big)


@pytest.mark.parametrize("make", ["BPMF", "BayesianSVDpp"])
def test_bayesian_mf_noise_precision_whose_square_overflows_is_refused(data, make):
    """alpha = 1e300 raised a bare OverflowError ("Numerical result out of range") from the
    bias-precision step, after the sampler had started."""
    from bayesrec import factorization
    model = getattr(factorization, make)(rank=2, alpha=1e300, n_samples=2, burn_in=1,
                                         n_chains=1, verbose=False, random_state=0)
    with pytest.raises(ValueError, match="alpha must be a number > 0 whose square is finite"):
        model.fit(data)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("make", ["BPMF", "BayesianSVDpp"])
def test_bayesian_mf_factors_overflowing_at_init_is_a_convergence_error(data, make):
    """init_scale = 1e300 squares to inf in the rows' scatter: the Normal-Wishart update then
    built a non-finite W_n and refused it as "W0 must be finite", a setting the user never
    gave.  The error is the sampler's, and it names init_scale."""
    from bayesrec import factorization
    from bayesrec.exceptions import ConvergenceError
    model = getattr(factorization, make)(rank=2, init_scale=1e300, n_samples=2, burn_in=1,
                                         n_chains=1, verbose=False, random_state=0)
    with pytest.raises(ConvergenceError, match="reduce init_scale"):
        model.fit(data)


def test_bpmf_prior_mean_must_be_numbers(data):
    """mu0="ab" gave numpy's "could not convert string to float"."""
    from bayesrec.factorization import BPMF
    with pytest.raises(ValueError, match="mu0 must be an array of numbers"):
        BPMF(rank=2, mu0=["a", "b"], verbose=False).fit(data)
    with pytest.raises(ValueError, match="W0 must be an array of numbers"):
        BPMF(rank=2, W0=[[1, "x"], [0, 1]], verbose=False).fit(data)


def test_bpmf_scale_move_out_of_float_range_is_a_convergence_error():
    """W0 = 1e300 I made the scale move's GIG parameter sqrt(a b) underflow to 0, and scipy
    raised "Domain error in arguments" (naming nothing of the model)."""
    from bayesrec.exceptions import ConvergenceError
    from bayesrec.factorization.bpmf._moves import rescale
    from bayesrec.factorization.bpmf._sweep import BPMFPrior
    from bayesrec.inference.normal_wishart import NormalWishart

    class State:  # the attributes the move reads and writes
        xu, xv = np.ones((3, 3)), np.ones((2, 3))
        mu_u, mu_v = np.zeros(2), np.zeros(2)
        lam_u, lam_v = np.eye(2) * 1e-300, np.eye(2) * 1e-300

    nw = NormalWishart(np.zeros(2), 2.0, 2.0, np.eye(2) * 1e300)
    prior = BPMFPrior(2, nw, 1.0, True, 1.0, 1.0, 2.0, 1.0, 1.0)
    with pytest.raises(ConvergenceError, match="W0"):
        rescale(State(), prior, np.random.default_rng(0))


@pytest.mark.parametrize("name, value", [("factor_sd", 1e300), ("factor_sd", 1e-300),
                                         ("noise", 1e300), ("bias_sd", 1e-30),
                                         ("verbose", "False")])
def test_neural_prior_scales_and_verbose_are_checked(data, name, value):
    """sd = 1e300 raised a bare OverflowError, 1e-300 a ZeroDivisionError, 1e-30 gave an
    inf float32 precision; verbose="False" (a true string) showed the progress bar."""
    from bayesrec.factorization import NeuralRecommender
    with pytest.raises(ValueError, match=f"{name} must"):
        NeuralRecommender(rank=2, hidden=4, n_iter=2, **{name: value}).fit(data)


# ------------------------------------------------------------------ model selection
def test_search_and_cross_validation_flags_must_be_bools(data):
    """refit="False" refitted the best model, verbose="False" showed the progress bar (true
    strings)."""
    from bayesrec.model_selection import GridSearch, cross_validate
    with pytest.raises(ValueError, match="refit must be True or False"):
        GridSearch(BiasBaseline(), {"damping": [1.0]}, cv=2, refit="False",
                   verbose=False).fit(data)
    with pytest.raises(ValueError, match="verbose must be True or False"):
        cross_validate(BiasBaseline(), data, cv=2, metrics="rmse", verbose="False")


def test_paired_bootstrap_refuses_resample_sums_that_overflow():
    """Differences of 1e308 each: the mean overflowed, giving difference inf and a NaN
    interval."""
    from bayesrec.model_selection import paired_bootstrap
    with pytest.raises(ValueError, match="overflows"):
        paired_bootstrap([1e308, 1e308, 1e308], [0.0, 0.0, 0.0], n_boot=100, random_state=0)
    out = paired_bootstrap([1e300, 2e300, 3e300], [0.0, 0.0, 0.0], n_boot=100, random_state=0)
    assert out["difference"] == pytest.approx(2e300)
    assert all(np.isfinite(out[k]) for k in ("low", "high", "se"))


def test_summarize_names_the_frame_it_expects():
    """A frame without the tidy columns raised pandas' KeyError 'Column not found: value'."""
    import pandas as pd

    from bayesrec.model_selection import summarize
    with pytest.raises(ValueError, match="value"):
        summarize(pd.DataFrame({"metric": ["rmse"], "a": [1.0]}))


# ------------------------------------------------------------------ PageRank, rules
def test_pagerank_flags_and_tolerance_are_checked():
    """tol=True was read as 1 (one step), return_n_iter="False" returned a tuple and a
    string matrix gave float()'s message."""
    import scipy.sparse as sp

    from bayesrec.pagerank import pagerank, pagerank_posterior
    a = sp.csr_matrix(np.array([[0, 1, 1], [1, 0, 0], [0, 1, 0]], float))
    with pytest.raises(ValueError, match="tol must"):
        pagerank(a, tol=True)
    with pytest.raises(ValueError, match="return_n_iter must be True or False"):
        pagerank(a, return_n_iter="False")
    with pytest.raises(ValueError, match="adjacency must be a matrix of numbers"):
        pagerank([["a", "b"], ["c", "d"]])
    for name, value in (("prior", True), ("progress", "no")):
        with pytest.raises(ValueError, match=f"{name} must"):
            pagerank_posterior(a, n_samples=2, rng=0, **{name: value})


def test_pagerank_teleport_vector_whose_sum_overflows_is_normalised():
    """personalization = [1e308] * 3 summed to inf and was divided to zeros: the result was no
    distribution (entries ~1e-10).  It is the uniform teleport vector."""
    import scipy.sparse as sp

    from bayesrec.pagerank import pagerank
    a = sp.csr_matrix(np.array([[0, 1, 1], [1, 0, 0], [0, 1, 0]], float))
    np.testing.assert_allclose(pagerank(a, personalization=[1e308] * 3), pagerank(a),
                               rtol=1e-12)


def test_click_counts_too_large_are_named_as_counts():
    """Counts of 1e308 were reported as "epsilon=0.333 is too large"."""
    import scipy.sparse as sp

    from bayesrec.pagerank import pagerank_posterior
    a = sp.csr_matrix(np.array([[0, 1, 1], [1, 0, 0], [0, 1, 0]], float) * 1e308)
    with pytest.raises(ValueError, match="counts are too large"):
        pagerank_posterior(a, n_samples=2, rng=0)


@pytest.mark.parametrize("bad", [True, np.inf, np.nan, "2", 1.5])
def test_rules_max_len_is_checked(bad):
    """True was read as 1, inf raised OverflowError, nan int()'s message, "2" compared
    unequal to 2 and gave a confusing message."""
    from bayesrec.rules import frequent_itemsets
    with pytest.raises(ValueError, match="max_len must"):
        frequent_itemsets([[1, 2], [1]], 0.2, max_len=bad)


def test_rules_thresholds_are_checked(data):
    """min_lift="1" raised numpy's "ufunc 'isfinite' not supported", min_rating="4" a
    UFuncTypeError."""
    from bayesrec.rules import association_rules, frequent_itemsets
    with pytest.raises(ValueError, match="min_lift must"):
        association_rules([[1, 2], [1]], 0.2, min_lift="1")
    with pytest.raises(ValueError, match="min_rating must"):
        frequent_itemsets(data, 0.2, min_rating="4")


def test_missing_items_and_states_are_refused():
    """A NaN item (or Markov state) became an item called nan: frozenset({1, nan})."""
    from bayesrec.rules import frequent_itemsets
    with pytest.raises(ValueError, match="missing item .NaN/None. in basket 1"):
        frequent_itemsets([[1, 2], [1, np.nan]], 0.2)
    with pytest.raises(ValueError, match="sequence 1 holds a missing state"):
        MarkovChain().fit([[1, 2], [1, None, 2]])
    with pytest.raises(ValueError, match="sequence 0 holds a missing state"):
        MarkovChain().fit([np.array([1.0, np.nan])])


# ------------------------------------------------------------------ data helpers, baselines
@pytest.mark.parametrize("kwargs, name", [
    ({"rank": True}, "rank"), ({"n_items": np.inf}, "n_items"),
    ({"with_timestamps": "no"}, "with_timestamps"), ({"rating_scale": (5, 1)}, "rating_scale"),
    ({"rating_scale": "15"}, "rating_scale"), ({"step": -1.0}, "step"),
], ids=["rank-bool", "items-inf", "timestamps-str", "scale-reversed", "scale-str", "step-neg"])
def test_synthetic_ratings_arguments_are_checked(kwargs, name):
    """rank=True raised numpy's "an integer is required", inf an OverflowError; the string
    "no" gave timestamps, a reversed scale clipped every rating to 1 and was stored unchecked,
    and a negative step was used as is."""
    from bayesrec.data import synthetic_ratings
    args = {"n_users": 10, "n_items": 10, "n_ratings": 20, "rng": 0, **kwargs}
    with pytest.raises(ValueError, match=f"{name} (must|needs)"):
        synthetic_ratings(**args)


@pytest.mark.parametrize("kwargs, message", [
    ({"noise": np.nan}, "noise"), ({"noise": np.inf}, "noise"), ({"signal": np.inf}, "signal"),
    ({"global_mean": np.nan}, "global_mean"), ({"user_bias_sd": -1.0}, "user_bias_sd"),
    ({"activity_sigma": 1e3}, "activity_sigma"), ({"popularity_exponent": -5},
                                                  "popularity_exponent"),
    ({"popularity_exponent": 1e3}, "popularity_exponent"),
], ids=["noise-nan", "noise-inf", "signal-inf", "mean-nan", "bias-sd-neg", "sigma-huge",
        "exponent-neg", "exponent-huge"])
def test_synthetic_ratings_floats_are_checked(kwargs, message):
    """noise=nan silently drew noiseless ratings (nan > 0 is False); the others gave numpy's
    "scale < 0", "Probabilities contain NaN" or "Integers to negative integer powers", or
    NaN ratings."""
    from bayesrec.data import synthetic_ratings
    with pytest.raises(ValueError, match=message):
        synthetic_ratings(n_users=100, n_items=50, n_ratings=1000, rng=0, **kwargs)


def test_damped_means_arguments_are_checked():
    """A negative prior weight silently returned the prior mean (the denominator was
    negative), and mismatched shapes raised a bare IndexError."""
    from bayesrec.baseline import damped_means
    with pytest.raises(ValueError, match="prior_weight must"):
        damped_means(np.array([1.0]), np.array([1]), 3.0, -5)
    with pytest.raises(ValueError, match="same shape"):
        damped_means(np.array([1.0, 2.0]), np.array([1]), 3.0, 1.0)
    # closed form: (sum + lambda mu0) / (n + lambda)
    np.testing.assert_allclose(damped_means(np.array([6.0, 0.0]), np.array([2, 0]), 3.0, 1.0),
                               [(6.0 + 3.0) / 3.0, 3.0])


def test_baseline_biases_flags_are_checked(data):
    """item="no" (a true string) kept the item biases."""
    from bayesrec.baseline import baseline_biases
    for name in ("user", "item"):
        with pytest.raises(ValueError, match=f"{name} must be True or False"):
            baseline_biases(data, **{name: "no"})
    with pytest.raises(ValueError, match="global_mean must"):
        baseline_biases(data, global_mean="3")


def test_movielens_loader_arguments_are_checked():
    """path=None / 3 gave pathlib's message; return_movies="no" returned a tuple."""
    from bayesrec.data import load_movielens, movielens_small
    for bad in (None, 3):
        with pytest.raises(TypeError, match="path must be a file or folder path"):
            load_movielens(bad)
    with pytest.raises(ValueError, match="return_movies must be True or False"):
        movielens_small(return_movies="no")


def test_predict_refuses_nested_id_lists(data):
    """predict([[0, 1]], [[0, 1]]) raised pandas' "Index data must be 1-dimensional"."""
    model = BiasBaseline().fit(data)
    with pytest.raises(ValueError, match="users must be one id or a 1-d sequence"):
        model.predict([[0, 1]], [[0, 1]])
    np.testing.assert_array_equal(model.predict([0, 1], [0, 1]),
                                  [model.predict(0, 0)[0], model.predict(1, 1)[0]])


# ------------------------------------------------------------------ neighbour similarities
def _centred(seed=0):
    import scipy.sparse as sp
    rng = np.random.default_rng(seed)
    return sp.csr_matrix(rng.normal(size=(6, 5)) * (rng.random((6, 5)) < 0.7))


def test_similarity_matrix_with_an_index_past_its_shape_is_refused():
    """A CSR matrix whose column index exceeds its shape was read out of bounds by the
    compiled kernel: a segmentation fault."""
    import scipy.sparse as sp

    from bayesrec.neighbors import top_k_similarities
    bad = sp.csr_matrix((np.array([1.0, 2.0]), np.array([0, 1]), np.array([0, 1, 2])),
                        shape=(2, 2))
    bad.indices[1] = 50
    with pytest.raises(ValueError, match="D is not a valid sparse matrix"):
        top_k_similarities(bad, 1, 1)
    nan = _centred()
    nan.data[0] = np.nan
    with pytest.raises(ValueError, match="D holds NaN"):
        top_k_similarities(nan, 2, 1)


@pytest.mark.parametrize("kwargs, name", [
    ({"k": 0}, "k"), ({"k": True}, "k"), ({"k": 1.5}, "k"), ({"min_overlap": np.nan},
                                                             "min_overlap"),
    ({"min_overlap": "1"}, "min_overlap"), ({"block_size": 0}, "block_size"),
    ({"block_size": -1, "engine": "sparse"}, "block_size"), ({"rows": (4, 2)}, "rows"),
    ({"rows": (-5, 3)}, "rows start"),
], ids=["k0", "k-bool", "k-float", "overlap-nan", "overlap-str", "block0", "block-neg",
        "rows-reversed", "rows-negative"])
def test_similarity_arguments_are_checked(kwargs, name):
    """k=0 crashed the sparse engine with a broadcast error, True / 1.5 gave numpy's
    messages; min_overlap=nan silently dropped every neighbour and "1" raised numba's
    TypingError; block_size=0 gave range()'s message and -1 (or reversed rows) silently
    computed nothing."""
    from bayesrec.neighbors import top_k_similarities
    args = {"k": 2, "min_overlap": 1, **kwargs}
    with pytest.raises(ValueError, match=f"{name} must"):
        top_k_similarities(_centred(), **args)


def test_similarity_engines_still_agree():
    """Both engines give the same neighbours on valid input (the checks change no number)."""
    from bayesrec.neighbors import top_k_similarities
    a = top_k_similarities(_centred(1), 3, 1)
    b = top_k_similarities(_centred(1), 3, 1, engine="sparse")
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.weights, b.weights, rtol=1e-12, atol=1e-12)


def _corrupt_csr():
    """A 3 x 3 CSR matrix whose second stored column index (500) is past its shape: scipy
    builds it from raw arrays without checking."""
    import scipy.sparse as sp
    m = sp.csr_matrix((np.ones(3), np.array([1, 2, 0]), np.array([0, 2, 3, 3])), shape=(3, 3))
    m.indices[1] = 500
    return m


def _entry(module, function, *args, **kwargs):
    """``module.function(matrix, *args, **kwargs)`` as a one-argument call."""
    import importlib
    return lambda m: getattr(importlib.import_module(module), function)(m, *args, **kwargs)


@pytest.mark.parametrize("name, call", [
    ("adjacency", _entry("bayesrec.pagerank", "pagerank")),
    ("adjacency", _entry("bayesrec.pagerank", "pagerank_posterior", n_samples=2, rng=0)),
    ("baskets", _entry("bayesrec.rules", "frequent_itemsets", 0.1)),
    ("counts", _entry("bayesrec.inference.dirichlet", "DirichletRows")),
    ("relevant", lambda m: ndcg_at_k(np.array([[0, 1], [1, 2], [0, 2]]), m, k=2)),
], ids=["pagerank", "pagerank-posterior", "rules", "dirichlet", "metrics"])
def test_corrupt_sparse_input_is_refused_before_compiled_code_reads_it(name, call):
    """pagerank_posterior and frequent_itemsets died with a segmentation fault; pagerank,
    DirichletRows and the ranking metrics returned numbers computed from the bad index."""
    with pytest.raises(ValueError, match=f"{name} is not a valid sparse matrix"):
        call(_corrupt_csr())


def test_check_sparse_leaves_the_callers_matrix_alone():
    """The structure check runs on a view: the caller's index arrays keep their dtype."""
    import scipy.sparse as sp

    from bayesrec._validation import check_sparse
    m = sp.csr_matrix(np.eye(3))
    m.indices, m.indptr = m.indices.astype(np.int64), m.indptr.astype(np.int64)
    assert check_sparse("m", m) is m and m.indices.dtype == np.int64
    coo = sp.coo_matrix(np.eye(3))
    coo.coords[1][0] = 9
    with pytest.raises(ValueError, match="m is not a valid sparse matrix"):
        check_sparse("m", coo)
    with pytest.raises(TypeError, match="m must be a scipy sparse matrix"):
        check_sparse("m", np.eye(3))


# ------------------------------------------------------------------ stateful objects
def test_bandit_update_checks_arms_and_rewards_before_counting():
    """Arm -1 updated the last arm, a reward of 2 made successes exceed pulls (Thompson then
    drew from a Beta with a negative parameter), 0.5 was cut to 0, and a string reward failed
    after the pull had been counted."""
    policy = BetaBernoulliThompson(2).reset(1)
    for arms, rewards, name in (([-1], [1], "arms"), ([2], [1], "arms"), ([0.0], [1], "arms"),
                                ([0], [2], "rewards"), ([0], [0.5], "rewards"),
                                ([0], ["1"], "rewards")):
        with pytest.raises(ValueError, match=f"{name} must"):
            policy.update(arms, rewards)
        assert policy.pulls_.sum() == 0 and policy.successes_.sum() == 0 and policy.t_ == 0
    policy.update([1], [True])
    np.testing.assert_array_equal(policy.pulls_, [[0, 1]])
    np.testing.assert_array_equal(policy.successes_, [[0, 1]])


class _FailsOnFullData(BiasBaseline):
    """Fits on the cross-validation folds, fails on the whole data set (the refit)."""

    _test_params = None  # not a model of the library: the contract suite skips it

    def _fit(self, ratings, eval_set):
        if len(ratings) > 25:
            raise ValueError("refit refused")
        return super()._fit(ratings, eval_set)


def test_a_failed_refit_leaves_the_previous_search_intact(data):
    """best_params_, results_ ... of the new search were published before the refit failed,
    next to the best_estimator_ of the previous search."""
    from bayesrec.model_selection import GridSearch
    search = GridSearch(BiasBaseline(), {"damping": [1.0, 50.0]}, cv=2, random_state=0,
                        verbose=False).fit(data)
    before = (search.best_params_, search.results_.copy(), search.best_estimator_)
    search.model = _FailsOnFullData()
    search.param_grid = {"damping": [3.0, 4.0]}
    with pytest.raises(ValueError, match="refit refused"):
        search.fit(data)
    assert search.best_params_ == before[0] and search.best_estimator_ is before[2]
    assert search.results_.equals(before[1])


# ------------------------------------------------------------------ more arguments and messages
def test_neural_plot_history_names_a_wrong_axes(data):
    """ax=3 raised AttributeError ("'int' object has no attribute 'figure'")."""
    import matplotlib
    import pandas as pd

    from bayesrec.factorization import NeuralRecommender
    matplotlib.use("Agg")
    model = NeuralRecommender()
    vars(model).update(train_=data, history_=pd.DataFrame({"loss": [2.0, 1.0]}))
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes or None"):
        model.plot_history(3)
    fig = model.plot_history()
    assert fig.axes[0].lines[0].get_ydata().tolist() == [2.0, 1.0]


def test_pmf_objective_needs_the_training_id_maps(data):
    """neg_log_posterior on a Ratings with other id maps of the same size silently paired the
    factors with the wrong users (larger maps: IndexError; a frame: AttributeError), and a
    hyperparameter set to -1 after the fit was used unchecked."""
    from bayesrec.data import random_split
    from bayesrec.factorization import PMF
    model = PMF(rank=2, n_iter=3, random_state=0).fit(data)
    other = Ratings.from_arrays(data.user_ids[data.users] + 100, data.item_ids[data.items],
                                data.ratings)
    with pytest.raises(ValueError, match="must share the training id maps"):
        model.neg_log_posterior(other)
    with pytest.raises(TypeError, match="Ratings"):
        model.neg_log_posterior(data.to_frame())
    _, test = random_split(data, 0.3, rng=0)  # same maps: accepted
    assert np.isfinite(model.neg_log_posterior(test))
    model.set_params(alpha=-1)
    with pytest.raises(ValueError, match="alpha must"):
        model.neg_log_posterior()


def test_save_names_the_path_it_cannot_write(tmp_path, data):
    """A missing folder or a folder as the target raised an OSError naming the temporary file
    (".model.zip.tmp<pid>"), and None gave pathlib's message."""
    model = BiasBaseline().fit(data)
    with pytest.raises(FileNotFoundError, match="no folder"):
        model.save(tmp_path / "missing" / "model.zip")
    with pytest.raises(IsADirectoryError, match="it is a folder"):
        model.save(tmp_path)
    with pytest.raises(TypeError, match="path must be a file path"):
        model.save(None)
    model.save(str(tmp_path / "model.zip"))
    np.testing.assert_array_equal(bayesrec.load(tmp_path / "model.zip").predict([0], [0]),
                                  model.predict([0], [0]))


def test_bernoulli_kl_takes_probabilities_only():
    """p = 1.5, q = -1 or nan gave nan; the string "0.5" was cast."""
    from bayesrec.bandits import bernoulli_kl
    for p, q in ((1.5, 0.5), (np.nan, 0.5), (0.5, -1.0), ("0.5", 0.5), (0.5, [0.2, 2.0])):
        with pytest.raises(ValueError, match="must be probabilities in"):
            bernoulli_kl(p, q)
    # closed form, and the documented infinite case
    assert bernoulli_kl(0.2, 0.5) == pytest.approx(0.2 * np.log(0.4) + 0.8 * np.log(1.6))
    assert bernoulli_kl(0.5, 1.0) == np.inf and bernoulli_kl(1, 1) == 0.0


def test_rating_errors_take_numbers_only():
    """rmse(["1", "2"], ...) cast the strings and rmse([True, False], ...) read 1 and 0."""
    from bayesrec.metrics import mae, rmse
    for bad in (["1", "2"], [True, False], [None, 1.0]):
        with pytest.raises(ValueError, match="y_true must hold numbers"):
            rmse(bad, [1.0, 3.0])
        with pytest.raises(ValueError, match="y_pred must hold numbers"):
            mae([1.0, 3.0], bad)
    assert rmse([1, 2], [1.0, 4.0]) == pytest.approx(np.sqrt(2.0))


def test_sgd_divergence_and_arpack_tolerance_messages_name_the_setting(data):
    """reg = 1e300 diverged with the advice "lower lr" only; TruncatedSVD(tol=1e300) raised a
    bare OverflowError from scipy."""
    from bayesrec.exceptions import ConvergenceError
    from bayesrec.factorization import FunkSVD, TruncatedSVD
    with pytest.raises(ConvergenceError, match="check reg"):
        FunkSVD(rank=2, n_iter=2, reg=1e300, random_state=0).fit(data)
    with pytest.raises(ValueError, match="tol=1e.300 is too large"):
        TruncatedSVD(rank=2, n_iter=1, tol=1e300, random_state=0).fit(data)


def test_pagerank_posterior_summary_arguments_are_checked():
    """top=True gave one row and prob="0.5" raised a bare TypeError from a comparison."""
    import scipy.sparse as sp

    from bayesrec.pagerank import pagerank_posterior
    a = sp.csr_matrix(np.array([[0, 1, 1], [1, 0, 0], [0, 1, 0]], float))
    post = pagerank_posterior(a, n_samples=5, rng=0)
    for bad in (True, -1, 1.5):
        with pytest.raises(ValueError, match="top must"):
            post.summary(top=bad)
    with pytest.raises(ValueError, match="prob must"):
        post.interval(prob="0.5")
    assert len(post.summary(top=2)) == 2 and len(post.summary(top=0)) == 0


def test_grid_values_given_as_a_generator_are_read_once(data):
    """A generator of values was consumed by the emptiness check, and the search then
    reported "param_grid is empty"."""
    from bayesrec.model_selection import GridSearch
    search = GridSearch(BiasBaseline(), {"damping": (d for d in [1.0, 50.0])}, cv=2,
                        random_state=0, verbose=False, refit=False).fit(data)
    listed = GridSearch(BiasBaseline(), {"damping": [1.0, 50.0]}, cv=2, random_state=0,
                        verbose=False, refit=False).fit(data)
    assert search.best_params_ == listed.best_params_
    assert search.results_["mean_rmse"].tolist() == listed.results_["mean_rmse"].tolist()


def test_random_search_values_given_as_a_generator_are_read_once(data):
    """The same for RandomizedSearch: the generator was consumed by the check."""
    from bayesrec.model_selection import RandomizedSearch
    search = RandomizedSearch(BiasBaseline(), {"damping": (d for d in [1.0, 50.0])}, n_iter=2,
                              cv=2, random_state=0, verbose=False, refit=False).fit(data)
    assert sorted(p["damping"] for p in search.results_["params"]) == [1.0, 50.0]


def test_posterior_predict_flags_are_checked(data):
    """BPMF.predict(return_std="False") returned a tuple (a true string), and noise=True
    without return_std was silently ignored (it only changes the sd)."""
    from bayesrec.factorization import BPMF
    model = BPMF(rank=2, n_samples=3, burn_in=1, n_chains=1, n_predictive_draws=2,
                 verbose=False, random_state=0).fit(data)
    with pytest.raises(ValueError, match="return_std must be True or False"):
        model.predict([0], [0], return_std="False")
    with pytest.raises(ValueError, match="pass return_std=True"):
        model.predict([0], [0], noise=True)
    mean, sd = model.predict([0], [0], return_std=True, noise=True)
    np.testing.assert_array_equal(mean, model.predict([0], [0]))
    assert (sd > model.predict([0], [0], return_std=True)[1]).all()  # noise adds 1 / alpha


def test_neural_predictive_draws_noise_flag_is_checked(data):
    """noise="False" (a true string) drew with noise."""
    from bayesrec.factorization import NeuralRecommender
    model = NeuralRecommender()
    vars(model).update(train_=data, _cfg_={"method": "advi", "n_draws": 2}, _draw_seed_=0)
    with pytest.raises(ValueError, match="noise must be True or False"):
        model.predictive_draws([0], [0], noise="False")


def test_normal_wishart_prior_must_be_finite():
    """A nan scale matrix passed the Cholesky check and made a nan prior."""
    from bayesrec.inference.normal_wishart import NormalWishart
    with pytest.raises(ValueError, match="W0 must be finite"):
        NormalWishart(np.zeros(2), 2.0, 2.0, np.array([[1.0, np.nan], [np.nan, 1.0]]))
    with pytest.raises(ValueError, match="mu0 must be finite"):
        NormalWishart(np.array([0.0, np.inf]), 2.0, 2.0, np.eye(2))
    assert NormalWishart.default(2).dim == 2
