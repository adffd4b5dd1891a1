"""Property-based fuzzing of the public API (Hypothesis), every case in a worker subprocess.

Random valid and invalid ``Ratings``, random hyperparameters (small valid values mixed with
zero, negative, ``nan``, ``inf``, huge, wrong types) and random index arrays (in range, past
the end, negative, float, boolean, 2-d) go through every model family.  The promise checked
for each case (see ``tests/fuzz_worker.py``): the call returns a result that passes its own
invariants (finite predictions within the rating scale, top-k lists of distinct unseen items,
probability vectors summing to one, ...) or raises a ``ValueError`` / ``TypeError`` /
``NotFittedError`` from bayesrec naming the problem (or a ``FloatingPointError`` naming the
step size to lower).  Never a signal, never a hang, never a ``nan``, never a bare
``IndexError`` / ``KeyError`` / ``ZeroDivisionError`` / ``LinAlgError`` or a library's
``ValueError``.

The cases run in one long-lived worker process fed over a pipe; a crash (a signal) or a case
exceeding its timeout is reported with the case, and the worker is restarted.  Hypothesis runs
derandomized (a fixed seed) with a bounded number of examples per test.
"""

from __future__ import annotations

import json
import math
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("fuzz_worker.py")
#: seconds a case may take (the tiny models here fit in well under a second; the margin
#: covers a first numba / BLAS load and a busy machine)
CASE_TIMEOUT = float(os.environ.get("BAYESREC_FUZZ_TIMEOUT", 60))
#: multiplies every test's number of examples (a longer local hunt: ``BAYESREC_FUZZ_SCALE=10``)
SCALE = float(os.environ.get("BAYESREC_FUZZ_SCALE", 1))
FUZZ = settings(derandomize=True, database=None, deadline=None, print_blob=False,
                suppress_health_check=list(HealthCheck))


class Worker:
    """One worker subprocess fed JSON cases over a pipe; restarted after a crash or a hang."""

    def __init__(self):
        self.proc = None

    def _start(self):
        env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1",
                   OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
        self.proc = subprocess.Popen([sys.executable, "-u", str(WORKER)], cwd=ROOT, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self.lines = queue.Queue()
        threading.Thread(target=self._pump, args=(self.proc, self.lines), daemon=True).start()
        ready = self._read(max(CASE_TIMEOUT, 120))
        if ready != "ready":
            raise RuntimeError(f"fuzz worker did not start: {ready!r}")

    @staticmethod
    def _pump(proc, lines):
        for line in proc.stdout:
            lines.put(line.strip())
        lines.put(None)  # end of stream: the worker died

    def _read(self, timeout):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return TimeoutError

    def _kill(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def run(self, case: dict) -> list[str]:
        """Findings of one case (empty: the promise held)."""
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        self.proc.stdin.write(json.dumps(case) + "\n")
        self.proc.stdin.flush()
        answer = self._read(CASE_TIMEOUT)
        if answer is TimeoutError:
            self._kill()
            return [f"hang: no answer within {CASE_TIMEOUT:.0f} s"]
        if answer is None:
            code = self.proc.wait()
            self.proc = None
            how = f"signal {-code}" if code < 0 else f"exit {code}"
            return [f"worker died with {how}"]
        return json.loads(answer)["findings"]

    def close(self):
        if self.proc is not None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._kill()


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.close()


def assert_promise(worker, case):
    findings = worker.run(case)
    assert not findings, f"{findings}\ncase: {json.dumps(case)}"


# ------------------------------------------------------------------------------ strategies
def arr(values, dtype="float64", shape=None):
    out = {"array": values, "dtype": dtype}
    if shape is not None:
        out["shape"] = shape
    return out


FINITE = st.floats(-1e3, 1e3, allow_nan=False)
BAD_NUMBERS = st.sampled_from([0, -1, -0.5, math.nan, math.inf, -math.inf, 1e308, 10**12,
                               "x", None, True, [1, 2]])


#: nonsense iteration counts (a huge but valid count is a request for long work, not fuzzed)
BAD_COUNTS = st.sampled_from([0, -1, 2.5, 1e308, math.nan, math.inf, "x", None, True])


def number(valid):
    """A hyperparameter: mostly a valid draw, sometimes a nonsense value."""
    return st.one_of(valid, valid, valid, BAD_NUMBERS)


def count(valid):
    """An iteration count: mostly valid, sometimes nonsense (never huge)."""
    return st.one_of(valid, valid, valid, BAD_COUNTS)


@st.composite
def valid_ratings(draw, max_users=7, max_items=7, scale=True):
    """Distinct (user, item) pairs with ratings on a half-star scale (sometimes constant)."""
    n_users = draw(st.integers(1, max_users))
    n_items = draw(st.integers(1, max_items))
    cells = draw(st.lists(st.tuples(st.integers(0, n_users - 1), st.integers(0, n_items - 1)),
                          min_size=1, max_size=n_users * n_items, unique=True))
    constant = draw(st.booleans())
    values = ([3.0] * len(cells) if constant else
              [draw(st.integers(2, 10)) / 2 for _ in cells])
    ids = draw(st.sampled_from(["int", "str"]))
    users = [u * 7 + 1 if ids == "int" else f"u{u}" for u, _ in cells]
    items = [i * 3 + 2 if ids == "int" else f"i{i}" for _, i in cells]
    data = {"users": users, "items": items, "ratings": values}
    if scale:
        data["rating_scale"] = [1.0, 5.0]
    if draw(st.booleans()):
        data["timestamps"] = list(range(1_000_000_000, 1_000_000_000 + len(cells)))
    return data


def id_values(data):
    """Strategy of user/item ids: known ones, and unknown ones of the same or another type."""
    known_u = sorted(set(data["users"]), key=str)
    known_i = sorted(set(data["items"]), key=str)
    return (st.one_of(st.sampled_from(known_u), st.sampled_from([-5, 10**9, "nobody"])),
            st.one_of(st.sampled_from(known_i), st.sampled_from([-5, 10**9, "nothing"])))


def index_array(n):
    """Index arrays: in range, past the end, negative, float, bool, 2-d, empty, huge."""
    ints = st.lists(st.integers(0, max(n - 1, 0)), min_size=1, max_size=4)
    return st.one_of(
        ints.map(lambda v: arr(v, "int64")),
        ints.map(lambda v: arr(v, "int64")),
        st.lists(st.integers(-3, n + 3), min_size=1, max_size=4).map(lambda v: arr(v, "int64")),
        st.sampled_from([arr([10**6], "int64"), arr([-1], "int64"), arr([2**40], "int64"),
                         arr([0.5], "float64"), arr([True], "bool"), arr([], "int64"),
                         arr([0, 0], "int64", [1, 2]), arr([0], "uint8")]),
    )


K = st.one_of(st.integers(1, 12), st.sampled_from([0, -1, 10**9, 2.5, "3", None]))
#: per-call ranking options (models without them must refuse them by name)
OPTIONS = st.one_of(st.just({}), st.just({}), st.fixed_dictionaries({
    "strategy": st.sampled_from(["mean", "thompson", "lower_bound", "nonsense"]),
    "random_state": st.sampled_from([0, 1, -1]),
    "prob": st.sampled_from([0.9, 0.5, 1.5, math.nan])}))


@st.composite
def calls(draw, data, n_users):
    user_ids, item_ids = id_values(data)
    out = []
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["predict", "recommend", "recommend_indices",
                                   "predict_ratings", "similar_items"]))
        if op == "predict":
            n = draw(st.integers(1, 4))
            out.append({"op": op, "users": [draw(user_ids) for _ in range(n)],
                        "items": [draw(item_ids) for _ in range(n)]})
        elif op == "recommend":
            out.append({"op": op, "user": draw(user_ids), "k": draw(K),
                        "options": draw(OPTIONS)})
        elif op == "recommend_indices":
            out.append({"op": op, "users": draw(index_array(n_users)), "k": draw(K),
                        "options": draw(OPTIONS)})
        elif op == "similar_items":
            out.append({"op": op, "item": draw(item_ids), "k": draw(K)})
        else:
            out.append({"op": op})
    return out


SMALL_INT = st.integers(1, 4)
RANK = count(st.integers(1, 3))
MODELS = {
    "bayesrec.factorization.ALS": lambda: st.fixed_dictionaries(
        {"rank": RANK, "reg": number(st.floats(0, 50)), "n_iter": count(SMALL_INT),
         "random_state": st.sampled_from([0, 1])}),
    "bayesrec.factorization.PMF": lambda: st.fixed_dictionaries(
        {"rank": RANK, "alpha": number(st.floats(0.1, 5)), "lambda_u": number(st.floats(0, 30)),
         "lambda_v": number(st.floats(0, 30)), "n_iter": count(SMALL_INT),
         "random_state": st.just(0)}),
    "bayesrec.factorization.FunkSVD": lambda: st.fixed_dictionaries(
        {"rank": RANK, "lr": number(st.sampled_from([0.005, 0.05, 0.5, 5.0, 50.0])),
         "reg": number(st.floats(0, 1)), "n_iter": count(SMALL_INT),
         "momentum": number(st.sampled_from([0.0, 0.5, 0.9])), "random_state": st.just(0)}),
    "bayesrec.factorization.SVDpp": lambda: st.fixed_dictionaries(
        {"rank": RANK, "lr": number(st.sampled_from([0.007, 0.1, 1.0, 10.0])),
         "reg": number(st.floats(0, 1)), "n_iter": count(SMALL_INT),
         "random_state": st.just(0)}),
    "bayesrec.factorization.TruncatedSVD": lambda: st.fixed_dictionaries(
        {"rank": RANK, "center": st.sampled_from(["baseline", "user", "item", "global", "x"]),
         "reg_bias": number(st.floats(0, 20)), "n_iter": count(st.integers(0, 2)),
         "random_state": st.just(0)}),
    "bayesrec.neighbors.UserKNN": lambda: st.fixed_dictionaries(
        {"k": number(st.integers(1, 10)), "min_overlap": number(st.integers(1, 3)),
         "similarity": st.sampled_from(["pearson", "cosine", "adjusted_cosine"]),
         "neighborhood": st.sampled_from(["fixed", "rated"]),
         "prior_weight": number(st.floats(0, 10))}),
    "bayesrec.neighbors.ItemKNN": lambda: st.fixed_dictionaries(
        {"k": number(st.integers(1, 10)), "min_overlap": number(st.integers(1, 3)),
         "similarity": st.sampled_from(["pearson", "cosine", "adjusted_cosine"]),
         "neighborhood": st.sampled_from(["fixed", "rated"]),
         "prior_weight": number(st.floats(0, 10))}),
}


@st.composite
def model_case(draw, model):
    data = draw(valid_ratings(scale=draw(st.booleans())))
    n_users = len(set(data["users"]))
    return {"kind": "model", "model": model, "params": draw(MODELS[model]()), "data": data,
            "calls": draw(calls(data, n_users))}


# ------------------------------------------------------------------------------ tests
@pytest.mark.parametrize("model", sorted(MODELS))
def test_fuzz_baseline_models(worker, model):
    @settings(FUZZ, max_examples=int(25 * SCALE))
    @given(model_case(model))
    def run(case):
        assert_promise(worker, case)

    run()


BPMF_PARAMS = st.fixed_dictionaries({
    "rank": st.integers(1, 2), "n_samples": st.integers(1, 3), "burn_in": st.integers(0, 2),
    "n_chains": st.just(1), "verbose": st.just(False), "random_state": st.just(0),
    "alpha": number(st.sampled_from([2.0, "sample"])),
    "beta0": number(st.floats(0.5, 5)),
    "W0": st.sampled_from([None, [[1.0, 0.0], [0.0, 1.0]], [[math.nan, 0.0], [0.0, 1.0]],
                           [[1.0, 2.0], [2.0, 1.0]], [[1.0, 0.3], [0.0, 1.0]], [[math.inf]]]),
    "mu0": st.sampled_from([None, [0.0], [math.nan], [0.0, 0.0]]),
    "init_scale": number(st.floats(0.1, 1.0)),
    "bias_prior": st.sampled_from([(1.0, 1.0), (math.nan, 1.0), (1.0, -1.0), 3]),
})


def test_fuzz_bpmf(worker):
    @settings(FUZZ, max_examples=int(20 * SCALE))
    @given(st.data())
    def run(d):
        data = d.draw(valid_ratings(max_users=5, max_items=5))
        params = d.draw(BPMF_PARAMS)
        n_users = len(set(data["users"]))
        assert_promise(worker, {"kind": "model", "model": "bayesrec.factorization.BPMF",
                                "params": params, "data": data,
                                "calls": d.draw(calls(data, n_users))})

    run()


# a column of one kind of bad value, or a valid one
BAD_COLUMN = st.sampled_from(["nan", "inf", "bool", "complex", "datetime", "2d", "string",
                              "none", "short", "empty", "scalar", "ragged", "dates"])


@st.composite
def ratings_input(draw):
    """Ratings.from_arrays input with one defect (or none) in one column."""
    n = draw(st.integers(1, 6))
    users = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    items = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    ratings = draw(st.lists(st.sampled_from([1.0, 2.5, 4.0, 5.0]), min_size=n, max_size=n))
    timestamps = draw(st.one_of(st.none(), st.lists(
        st.one_of(st.integers(-10**10, 10**10), st.floats(allow_nan=True, allow_infinity=True)),
        min_size=n, max_size=n)))
    data = {"users": users, "items": items, "ratings": ratings, "timestamps": timestamps,
            "duplicates": draw(st.sampled_from(["error", "last", "mean", "first"])),
            "rating_scale": draw(st.sampled_from([None, [1.0, 5.0], [5.0, 1.0], [0, math.nan]]))}
    column = draw(st.sampled_from(["users", "items", "ratings", "timestamps"]))
    defect = draw(st.one_of(st.none(), BAD_COLUMN))
    values = data[column] if data[column] is not None else list(range(n))
    if defect == "nan":
        values = [math.nan] + values[1:]
    elif defect == "inf":
        values = [math.inf] + values[1:]
    elif defect == "bool":
        values = arr([bool(i % 2) for i in range(n)], "bool")
    elif defect == "complex":
        values = arr(list(range(n)), "complex")
    elif defect == "datetime":
        values = arr(list(range(n)), "datetime")
    elif defect == "2d":
        values = arr(values + values, "float64", [n, 2])
    elif defect == "string":
        values = ["a"] + [str(v) for v in values[1:]]
    elif defect == "none":
        values = [None] + values[1:]
    elif defect == "short":
        values = values[:-1]
    elif defect == "scalar":
        values = 3.0
    elif defect == "ragged":
        values = [[1.0]] + [[1.0, 2.0]] * (n - 1)
    elif defect == "dates":  # date-time strings, one of them out of range if n > 1
        values = ["2020-01-01"] * n if n == 1 else ["3000-01-01"] + [1.5e9] * (n - 1)
    elif defect == "empty":
        data = {k: ([] if isinstance(v, list) else v) for k, v in data.items()}
        values = []
    data[column] = values
    if data["timestamps"] is None:
        del data["timestamps"]
    if data["rating_scale"] is None:
        del data["rating_scale"]
    refused = {"2d", "none", "short", "empty", "scalar"}
    if column in ("ratings", "timestamps"):
        refused |= {"ragged"}
    if column == "ratings" or (column == "timestamps" and n > 1):
        refused |= {"dates"}
    refused |= {"ratings": {"nan", "inf", "bool", "complex", "datetime", "string"},
                "timestamps": {"nan", "inf", "bool", "complex", "string"},
                "users": {"nan"}, "items": {"nan"}}[column]
    must_fail = (defect in refused or data["duplicates"] == "first"
                 or data.get("rating_scale") in ([5.0, 1.0], [0, math.nan]))
    return {"kind": "ratings", "data": data, "must_fail": must_fail,
            "defect": f"{column}: {defect}"}


@settings(FUZZ, max_examples=int(200 * SCALE))
@given(ratings_input())
def test_fuzz_ratings_construction(worker, case):
    assert_promise(worker, case)


STATES = st.one_of(st.integers(0, 5), st.sampled_from(["a", "b", "c"]))


@settings(FUZZ, max_examples=int(40 * SCALE))
@given(st.data())
def test_fuzz_markov(worker, d):
    seqs = d.draw(st.lists(st.lists(STATES, min_size=0, max_size=5), min_size=1, max_size=4))
    n = len({s for q in seqs for s in q}) or 1
    call_list = []
    for _ in range(d.draw(st.integers(1, 4))):
        op = d.draw(st.sampled_from(["next_state_indices", "transition_log_probs",
                                     "state_distribution", "stationary", "log_prob"]))
        if op == "next_state_indices":
            call_list.append({"op": op, "idx": d.draw(index_array(n)), "k": d.draw(K)})
        elif op == "transition_log_probs":
            call_list.append({"op": op, "i": d.draw(index_array(n)), "j": d.draw(index_array(n))})
        elif op == "state_distribution":
            call_list.append({"op": op, "k": d.draw(st.one_of(st.integers(0, 5),
                                                              st.sampled_from([-1, 2.5])))})
        elif op == "stationary":
            call_list.append({"op": op, "method": d.draw(st.sampled_from(["power", "eigen"]))})
        else:
            call_list.append({"op": op, "sequence": d.draw(st.lists(STATES, max_size=4)),
                              "unknown": d.draw(st.sampled_from(["raise", "skip"]))})
    assert_promise(worker, {"kind": "markov", "sequences": seqs,
                            "epsilon": d.draw(number(st.sampled_from([0.0, 0.1, 1.0]))),
                            "calls": call_list})


@settings(FUZZ, max_examples=int(40 * SCALE))
@given(st.data())
def test_fuzz_pagerank(worker, d):
    n = d.draw(st.integers(0, 5))
    weights = st.one_of(st.sampled_from([0.0, 1.0, 2.0, 0.5]),
                        st.sampled_from([-1.0, math.nan, math.inf, 1e308]))
    adj = [[d.draw(weights) if d.draw(st.booleans()) else 0.0 for _ in range(n)]
           for _ in range(n)]
    posterior = d.draw(st.booleans())
    args = {"damping": d.draw(number(st.sampled_from([0.0, 0.5, 0.85, 0.99]))),
            "tol": d.draw(number(st.sampled_from([1e-10, 1e-3]))),
            "max_iter": d.draw(number(st.sampled_from([1, 50, 1000])))}
    if d.draw(st.booleans()):
        args["personalization"] = d.draw(st.lists(weights, min_size=n, max_size=n + 1))
    if posterior:
        args.update(link_counts=adj, n_samples=d.draw(count(st.integers(1, 3))), rng=0,
                    prior=d.draw(number(st.sampled_from([0.0, 1.0]))))
    else:
        args["adjacency"] = adj
    assert_promise(worker, {"kind": "pagerank", "posterior": posterior, "args": args})


@settings(FUZZ, max_examples=int(40 * SCALE))
@given(st.data())
def test_fuzz_rules(worker, d):
    baskets = d.draw(st.lists(st.lists(st.integers(0, 6), max_size=5), min_size=0, max_size=8))
    args = {"baskets": baskets,
            "min_support": d.draw(number(st.sampled_from([0.1, 0.3, 0.6, 1.0]))),
            "min_confidence": d.draw(number(st.sampled_from([0.0, 0.5, 1.0]))),
            "max_len": d.draw(st.one_of(st.none(), st.integers(1, 3), st.sampled_from([0, 2.5]))),
            "max_itemsets": d.draw(st.sampled_from([10_000, 5, 0, None]))}
    assert_promise(worker, {"kind": "rules", "args": args})


@settings(FUZZ, max_examples=int(40 * SCALE))
@given(st.data())
def test_fuzz_beta_ranker(worker, d):
    n = d.draw(st.integers(1, 5))
    counts = st.lists(number(st.integers(0, 20)), min_size=n, max_size=n)
    args = {"successes": d.draw(counts), "failures": d.draw(counts),
            "params": {"a": d.draw(number(st.floats(0.1, 5))),
                       "b": d.draw(number(st.floats(0.1, 5))),
                       "credible": d.draw(number(st.sampled_from([0.9, 0.95])))}}
    call_list = []
    for _ in range(d.draw(st.integers(1, 3))):
        op = d.draw(st.sampled_from(["rank", "posterior", "update"]))
        if op == "rank":
            call_list.append({"op": op, "method": d.draw(st.sampled_from(
                ["mean", "lower", "thompson", "best"])), "k": d.draw(st.one_of(st.none(), K))})
        elif op == "posterior":
            call_list.append({"op": op, "n_draws": d.draw(count(st.integers(1, 5))),
                              "items": d.draw(st.one_of(st.none(), index_array(n)))})
        else:
            items = d.draw(index_array(n))
            call_list.append({"op": op, "items": items,
                              "liked": d.draw(st.lists(st.sampled_from([0, 1, 2, True]),
                                                       min_size=0, max_size=4))})
    assert_promise(worker, {"kind": "ranking", "args": args, "calls": call_list})


@settings(FUZZ, max_examples=int(30 * SCALE))
@given(st.data())
def test_fuzz_bandits(worker, d):
    policy = d.draw(st.sampled_from(["BetaBernoulliThompson", "UCB1", "EpsilonGreedy"]))
    n_arms = d.draw(st.one_of(st.integers(1, 4), BAD_COUNTS))
    extra = {"BetaBernoulliThompson": [d.draw(number(st.floats(0.5, 2))),
                                       d.draw(number(st.floats(0.5, 2)))],
             "UCB1": [], "EpsilonGreedy": [d.draw(number(st.sampled_from([0.0, 0.1, 1.0])))]}
    k = n_arms if isinstance(n_arms, int) and not isinstance(n_arms, bool) and n_arms > 0 else 2
    probs = d.draw(st.lists(st.one_of(st.floats(0, 1), st.sampled_from([-0.1, 1.5, math.nan])),
                            min_size=k, max_size=k + d.draw(st.integers(0, 1))))
    args = {"policy": policy, "policy_args": [n_arms] + extra[policy], "probabilities": probs,
            "n_trials": d.draw(count(st.integers(1, 30))),
            "n_replications": d.draw(count(st.integers(1, 3)))}
    assert_promise(worker, {"kind": "bandit", "args": args})


@settings(FUZZ, max_examples=int(30 * SCALE))
@given(st.data())
def test_fuzz_splits(worker, d):
    data = d.draw(valid_ratings())
    kind = d.draw(st.sampled_from(["random_split", "per_user_split", "time_split",
                                   "leave_last_k_out", "kfold"]))
    frac = number(st.sampled_from([0.2, 0.5, 0.9]))
    args = {"random_split": lambda: {"test_size": d.draw(frac), "rng": 0},
            "per_user_split": lambda: {"test_size": d.draw(frac), "rng": 0},
            "time_split": lambda: {"test_size": d.draw(frac)},
            "leave_last_k_out": lambda: {"k": d.draw(count(st.integers(1, 3)))},
            "kfold": lambda: {"n_splits": d.draw(count(st.integers(2, 4))), "rng": 0}}[kind]()
    args["kind"] = kind
    assert_promise(worker, {"kind": "split", "data": data, "args": args})


@settings(FUZZ, max_examples=int(40 * SCALE))
@given(st.data())
def test_fuzz_topk_metrics(worker, d):
    n_users, n_items = d.draw(st.integers(1, 4)), d.draw(st.integers(1, 5))
    relevant = [[d.draw(st.integers(0, 1)) for _ in range(n_items)] for _ in range(n_users)]
    width = d.draw(st.integers(1, 4))
    rows = d.draw(st.sampled_from([n_users, n_users, n_users + 1]))
    cells = [d.draw(st.one_of(st.integers(-1, n_items - 1), st.integers(-3, n_items + 3)))
             for _ in range(rows * width)]
    dtype = d.draw(st.sampled_from(["int64", "int64", "float64"]))
    args = {"relevant": relevant, "recommended": arr(cells, dtype, [rows, width]),
            "k": d.draw(st.one_of(st.integers(1, width), K)),
            "n_items": d.draw(st.one_of(st.just(n_items), BAD_COUNTS))}
    assert_promise(worker, {"kind": "metrics", "args": args})


# ------------------------------------------------------------------------------ every estimator
# every estimator of the toolkit (discovered as in the contract suite), at its tiny contract
# settings with at most one hyperparameter replaced by a nonsense value, on random data with
# random calls; models that compile a PyTensor graph (``_test_slow``) are left to their own
# suites (one compilation costs more than this whole file's budget)
from contract_registry import all_estimators  # noqa: E402

#: hyperparameters not fuzzed: files and processes (side effects outside the call)
UNFUZZED = {"checkpoint_dir", "n_jobs", "verbose"}
NONSENSE = st.sampled_from([0, -1, 2.5, 1e308, math.nan, math.inf, -math.inf, "x", None, True,
                            [1.0, 2.0]])
ESTIMATORS = [c for c in all_estimators() if not c._test_slow]


@pytest.mark.parametrize("cls", ESTIMATORS, ids=[c.__name__ for c in ESTIMATORS])
def test_fuzz_every_estimator(worker, cls):
    names = sorted(set(getattr(cls, "_checks", {})) - UNFUZZED)

    @settings(FUZZ, max_examples=int(20 * SCALE))
    @given(st.data())
    def run(d):
        data = d.draw(valid_ratings(max_users=6, max_items=6, scale=d.draw(st.booleans())))
        params = dict(cls._test_params)
        if names and d.draw(st.booleans()):
            params[d.draw(st.sampled_from(names))] = d.draw(NONSENSE)
        n_users = len(set(data["users"]))
        assert_promise(worker, {"kind": "model", "model": f"{cls.__module__}.{cls.__name__}",
                                "params": params, "data": data,
                                "calls": d.draw(calls(data, n_users))})

    run()
