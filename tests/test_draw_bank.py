"""Stacking the chains' kept draws: same arrays as ``np.stack``, and the draws are released."""

import gc
import weakref

import numpy as np
import pytest

from bayesrec.inference.chains import ChainResult
from bayesrec.inference.draw_bank import side_by_side, stack_chain_draws


def _results(rng, counts, tuples):
    out = []
    for n in counts:
        if tuples:
            draws = [(rng.standard_normal((5, 3)), float(rng.standard_normal()),
                      rng.integers(0, 9, 4)) for _ in range(n)]
        else:
            draws = [rng.standard_normal((5, 3)) for _ in range(n)]
        out.append(ChainResult(traces={}, accumulator={"bank": draws}, state=None,
                               n_sweeps=n))
    return out


def test_single_arrays_match_np_stack_in_chain_order():
    results = _results(np.random.default_rng(0), [3, 0, 2], tuples=False)
    expected = np.stack([d for r in results for d in r.accumulator["bank"]])
    stacked, chain_of = stack_chain_draws(results, "bank")
    np.testing.assert_array_equal(stacked, expected)
    np.testing.assert_array_equal(chain_of, [0, 0, 0, 2, 2])


def test_tuples_keep_each_field_and_its_dtype():
    results = _results(np.random.default_rng(1), [2, 3], tuples=True)
    draws = [d for r in results for d in r.accumulator["bank"]]
    expected = [np.stack([np.asarray(d[j]) for d in draws]) for j in range(3)]
    (a, b, c), chain_of = stack_chain_draws(results, "bank")
    for got, want in zip((a, b, c), expected):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype
    assert c.dtype.kind == "i" and b.shape == (5,)
    np.testing.assert_array_equal(chain_of, [0, 0, 1, 1, 1])
    (a64, _, c64), _ = stack_chain_draws(_results(np.random.default_rng(1), [2, 3], True),
                                         "bank", dtype=np.float64)
    assert c64.dtype == np.float64
    np.testing.assert_array_equal(c64, expected[2])


def test_every_draw_is_released_once_copied():
    # the point of the helper: after it the draws live only in the stacked array (np.stack
    # over the lists would hold every draw twice until the chain results go)
    results = _results(np.random.default_rng(2), [4, 4], tuples=False)
    refs = [weakref.ref(d) for r in results for d in r.accumulator["bank"]]
    stack_chain_draws(results, "bank")
    gc.collect()
    assert all(r.accumulator["bank"] == [] for r in results)
    assert all(ref() is None for ref in refs)


def test_no_draw_at_all_is_an_error():
    with pytest.raises(ValueError, match="no chain kept any draw"):
        stack_chain_draws(_results(np.random.default_rng(3), [0, 0], False), "bank")


def test_draw_axis_changes_the_layout_not_the_values():
    results = _results(np.random.default_rng(4), [2, 3], tuples=False)
    expected = np.stack([d for r in results for d in r.accumulator["bank"]])
    stacked, _ = stack_chain_draws(results, "bank", draw_axis=1)
    np.testing.assert_array_equal(stacked, expected)
    wide = np.moveaxis(stacked, 0, 1)               # (5, S, 3) is the memory order
    assert wide.flags.c_contiguous
    np.testing.assert_array_equal(wide.reshape(5, -1),
                                  np.concatenate(list(expected), axis=1))


def test_side_by_side_is_a_view_or_one_kept_copy():
    class Owner:
        pass

    expected = np.random.default_rng(5).standard_normal((4, 6, 3))   # (S, n, K)
    want = np.concatenate(list(expected), axis=1)                     # (n, S K)
    laid_out = Owner()
    laid_out.draws_, _ = stack_chain_draws(
        [ChainResult({}, {"bank": list(expected)}, None, 4)], "bank", draw_axis=1)
    got = side_by_side(laid_out, "draws_")
    np.testing.assert_array_equal(got, want)
    assert np.shares_memory(got, laid_out.draws_)
    draws_first = Owner()
    draws_first.draws_ = expected.copy()
    got = side_by_side(draws_first, "draws_")
    np.testing.assert_array_equal(got, want)
    assert not np.shares_memory(got, draws_first.draws_)
    assert side_by_side(draws_first, "draws_") is got


@pytest.mark.parametrize("name", ["ImplicitBPMF", "HPF", "BayesianSVDpp"])
def test_worker_processes_give_the_same_banks_as_one_process(name):
    """Chains run in worker processes (``n_jobs=2``) come back pickled; their banks, stacked
    here, hold the same numbers in the same order as the chains run in this process."""
    import bayesrec.factorization as fac
    from bayesrec.data import synthetic_ratings
    ratings, _ = synthetic_ratings(40, 25, 400, rank=2, noise=0.5, rng=0)
    cls = getattr(fac, name)
    kw = cls._test_params | {"n_chains": 2, "random_state": 3}
    serial = cls(**kw).fit(ratings)
    parallel = cls(**kw, n_jobs=2).fit(ratings)
    arrays = [n for n in serial._learned_names()
              if isinstance(getattr(serial, n), np.ndarray)]
    assert any(n.endswith("draws_") or n.startswith("bank") for n in arrays)
    for n in arrays:
        np.testing.assert_array_equal(getattr(parallel, n), getattr(serial, n), err_msg=n)
    users = np.arange(10)
    np.testing.assert_array_equal(parallel._score_users(users), serial._score_users(users))
