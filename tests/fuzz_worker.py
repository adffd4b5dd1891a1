"""Worker process of the fuzz suite (``tests/test_fuzz*.py``): runs one case per input line.

Protocol: the parent writes one JSON object per line (a *case*); the worker answers one JSON
line ``{"findings": [...], "steps": [...]}``.  A finding is a broken promise of the public API:

* an exception other than a clear ``ValueError`` / ``TypeError`` / ``NotFittedError`` (or a
  ``FloatingPointError`` naming the setting that diverged) raised by bayesrec itself; an
  exception raised inside numpy / scipy / pandas / numba is a bare library error even when its
  type is ``ValueError`` (it does not name the problem in the caller's terms);
* a result that breaks its own invariants: a non-finite or out-of-scale prediction, a top-k
  list with repeated or already-seen items, a probability vector that does not sum to one...

A crash (signal) or a hang is seen by the parent, which restarts the worker.  Arrays travel
as ``{"array": values, "dtype": "int64" | "float64" | "bool" | "complex" | "datetime",
"shape": [...]}``; everything else as plain JSON (``NaN``/``Infinity`` allowed).
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import traceback
import warnings

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import bayesrec  # noqa: E402

PKG_DIR = os.path.dirname(os.path.abspath(bayesrec.__file__))

from bayesrec.exceptions import ConvergenceError, NotFittedError  # noqa: E402

#: the exception types a public call may raise for bad input
ACCEPTED = (ValueError, TypeError, NotFittedError)
#: names a divergence error must mention (the setting to change)
DIVERGENCE_WORDS = ("lr", "step", "learning rate", "momentum", "prior", "hyperparameter",
                    "damping", "tol", "regulari", "reg")
#: alias groups of hyperparameter names (the toolkit's names, before and after renames)
ALIASES = {
    "n_iter": ("n_iter", "n_iters", "n_epochs", "epochs"),
    "init_scale": ("init_scale", "init_std", "init_sd"),
    "verbose": ("verbose", "progress"),
}


# ------------------------------------------------------------------------------ decoding
def decode(x):
    """JSON value -> Python / numpy (arrays tagged with their dtype)."""
    if isinstance(x, dict) and "array" in x:
        dtype = x.get("dtype", "float64")
        values = x["array"]
        if dtype == "complex":
            arr = np.array([complex(v, 1.0) for v in _flat(values)])
        elif dtype == "datetime":
            arr = np.array(_flat(values), dtype="int64").astype("datetime64[s]")
        elif dtype == "object":
            arr = np.empty(len(values), dtype=object)
            arr[:] = values
        else:
            arr = np.array(values, dtype=object)
            try:
                arr = arr.astype(dtype)
            except (OverflowError, ValueError, TypeError):
                arr = arr.astype(np.float64)
        if "shape" in x:
            arr = arr.reshape(x["shape"])
        return arr
    if isinstance(x, dict):
        return {k: decode(v) for k, v in x.items()}
    if isinstance(x, list):
        return [decode(v) for v in x]
    return x


def _flat(values):
    out = []
    for v in values:
        out.extend(_flat(v) if isinstance(v, list) else [v])
    return out


def model_class(name: str):
    import importlib
    module, _, cls = name.rpartition(".")
    return getattr(importlib.import_module(module), cls)


def map_params(cls, params: dict) -> dict:
    """Keep the hyperparameters the constructor knows, translating aliased names."""
    sig = inspect.signature(cls.__init__).parameters
    out = {}
    for name, value in params.items():
        for cand in ALIASES.get(name, (name,)):
            if cand in sig:
                out[cand] = value
                break
    return out


# ------------------------------------------------------------------------------ classification
class Finding(Exception):
    """An invariant broken by a result."""


def raised_in_bayesrec(exc: BaseException) -> bool:
    """Whether the innermost frame of the traceback is in the bayesrec package."""
    tb = traceback.extract_tb(exc.__traceback__)
    return bool(tb) and os.path.abspath(tb[-1].filename).startswith(PKG_DIR)


def classify(exc: BaseException) -> str | None:
    """``None`` for an acceptable error, else a description of the bad one."""
    where = "bayesrec" if raised_in_bayesrec(exc) else "a library"
    msg = str(exc)
    if isinstance(exc, (ConvergenceError, FloatingPointError)) and where == "bayesrec":
        if any(w in msg for w in DIVERGENCE_WORDS):
            return None
        return f"{type(exc).__name__} without the setting to change: {msg}"
    if isinstance(exc, ACCEPTED) and where == "bayesrec" and msg:
        return None
    if isinstance(exc, TypeError) and "unexpected keyword argument" in msg:
        return None  # Python's own refusal of an option the method does not take
    tb = traceback.extract_tb(exc.__traceback__)
    frame = f"{os.path.basename(tb[-1].filename)}:{tb[-1].lineno}" if tb else "?"
    return f"{type(exc).__name__} raised in {where} ({frame}): {msg[:300]}"


# ------------------------------------------------------------------------------ invariants
def check(cond: bool, what: str) -> None:
    if not cond:
        raise Finding(what)


def check_predictions(pred, n: int, scale) -> None:
    pred = np.asarray(pred)
    check(pred.shape == (n,), f"prediction shape {pred.shape} != ({n},)")
    check(np.isfinite(pred).all(), f"non-finite prediction: {pred[~np.isfinite(pred)][:5]}")
    if scale is not None:
        check(((pred >= scale[0]) & (pred <= scale[1])).all(),
              f"prediction outside the scale {scale}: {pred.min()}..{pred.max()}")


def check_recommend(frame, k: int, seen: set, n_items: int) -> None:
    items = list(frame["item"])
    check(len(items) <= k, f"{len(items)} items for k={k}")
    check(len(set(items)) == len(items), f"repeated items {items}")
    check(not (set(items) & seen), f"seen items recommended: {set(items) & seen}")
    scores = np.asarray(frame["score"], float)
    check(np.isfinite(scores).all(), f"non-finite scores {scores}")
    check((np.diff(scores) <= 1e-12).all(), f"scores not sorted {scores}")
    # every unseen item has a finite score in these models: the list is full
    check(len(items) == min(k, n_items - len(seen)),
          f"{len(items)} items, expected min(k={k}, unseen={n_items - len(seen)})")


def check_recommend_indices(items, scores, users, k: int, seen_rows, n_items: int) -> None:
    kk = min(k, n_items)
    check(items.shape == (len(users), kk), f"shape {items.shape} != ({len(users)}, {kk})")
    # slots past the items left to recommend hold item -1 with score -inf
    pad = items == -1
    check((np.isneginf(scores[pad])).all(), "item -1 with a finite score")
    check(((items[~pad] >= 0) & (items[~pad] < n_items)).all(), "item index out of range")
    check(not np.isnan(scores).any(), "nan score")
    for row, u in enumerate(users):
        seen = seen_rows[u]
        n_unseen = n_items - len(seen)
        head = items[row, :min(kk, n_unseen)]
        check(len(set(head.tolist())) == len(head), f"repeated items for user {u}")
        check(not (set(head.tolist()) & seen), f"seen items for user {u}")
        check(np.isfinite(scores[row, :len(head)]).all(), f"non-finite unseen scores, user {u}")
        check((np.diff(scores[row]) <= 1e-12).all() or np.isneginf(scores[row]).any(),
              f"scores not sorted for user {u}")


# ------------------------------------------------------------------------------ cases
def build_ratings(spec: dict):
    from bayesrec.data import Ratings
    args = decode(spec)
    kwargs = {k: args[k] for k in ("timestamps", "rating_scale", "duplicates", "implicit")
              if k in args}
    if "rating_scale" in kwargs and isinstance(kwargs["rating_scale"], list):
        kwargs["rating_scale"] = tuple(kwargs["rating_scale"])
    return Ratings.from_arrays(args["users"], args["items"], args.get("ratings"), **kwargs)


def case_ratings(case: dict, steps: list) -> None:
    r = build_ratings(case["data"])
    steps.append("built")
    check(not case.get("must_fail"), f"invalid input accepted ({case.get('defect')})")
    n = len(r)
    check(r.users.dtype == np.int32 and r.items.dtype == np.int32, "index dtypes")
    check(((r.users >= 0) & (r.users < r.n_users)).all(), "user index out of range")
    check(((r.items >= 0) & (r.items < r.n_items)).all(), "item index out of range")
    check(r.ratings.ndim == 1 and len(r.ratings) == n, "ratings shape")
    check(np.isfinite(r.ratings).all(), "non-finite rating stored")
    if r.rating_scale is not None:
        lo, hi = r.rating_scale
        check(((r.ratings >= lo) & (r.ratings <= hi)).all(), "rating outside its scale")
    if r.timestamps is not None:
        check(r.timestamps.dtype == np.int64, "timestamp dtype")
        check((np.abs(r.timestamps) <= np.iinfo(np.int64).max // 10**9).all(),
              f"timestamp outside datetime64[ns]: {r.timestamps.min()}")
        r.timestamps.astype("datetime64[s]").astype("datetime64[ns]")
    key = r.users.astype(np.int64) * r.n_items + r.items
    check(len(np.unique(key)) == n, "duplicate pairs stored")
    f = r.to_frame()
    check(len(f) == n, "to_frame length")
    check(r.csr.nnz == n and r.csc.nnz == n, "sparse views")


def case_model(case: dict, steps: list) -> None:
    r = build_ratings(case["data"])
    cls = model_class(case["model"])
    params = map_params(cls, decode(case.get("params", {})))
    model = cls(**params)
    steps.append("constructed")
    model.fit(r)
    steps.append("fitted")
    scale = r.rating_scale
    seen_rows = [set() for _ in range(r.n_users)]
    for u, i in zip(r.users.tolist(), r.items.tolist()):
        seen_rows[u].add(i)
    for call in case.get("calls", []):
        call = decode(call)
        op = call["op"]
        if op.startswith("predict") and not hasattr(model, op):
            continue  # a ranking-only model
        steps.append(op)
        try:
            if op == "predict":
                users, items = call["users"], call["items"]
                pred = model.predict(users, items)
                check_predictions(pred, len(np.atleast_1d(users)), scale)
            elif op == "predict_ratings":
                check_predictions(model.predict_ratings(r), len(r), scale)
            elif op == "similar_items":
                frame = model.similar_items(call["item"], k=call["k"])
                items = list(frame.iloc[:, 0])
                check(len(items) <= int(call["k"]), f"{len(items)} similar items")
                check(len(set(items)) == len(items), f"repeated similar items {items}")
                check(call["item"] not in items, "an item is its own neighbour")
                check(np.isfinite(np.asarray(frame.iloc[:, 1], float)).all(),
                      "non-finite similarity")
            elif op == "recommend":
                user = call["user"]
                frame = model.recommend(user, k=call["k"], **call.get("options", {}))
                u = int(r.user_index(user))
                seen = ({r.item_ids[i] for i in seen_rows[u]} if u >= 0 else set())
                check_recommend(frame, int(call["k"]), seen, r.n_items)
            elif op == "recommend_indices":
                users = call["users"]
                items, scores = model.recommend_indices(users, k=call["k"],
                                                        **call.get("options", {}))
                uu = np.asarray(users).astype(np.int64).ravel()
                check_recommend_indices(np.asarray(items), np.asarray(scores), uu,
                                        int(call["k"]), seen_rows, r.n_items)
        except Finding:
            raise
        except Exception as exc:  # noqa: BLE001 - classified
            bad = classify(exc)
            if bad:
                raise Finding(f"{op}: {bad}") from None


def case_markov(case: dict, steps: list) -> None:
    from bayesrec.markov import MarkovChain
    seqs = decode(case["sequences"])
    mc = MarkovChain(epsilon=decode(case["epsilon"])).fit(seqs)
    steps.append("fitted")
    v = mc.n_states_
    A_rows = mc.transition_matrix.rows(np.arange(v))
    check(np.isfinite(A_rows).all() and np.allclose(A_rows.sum(axis=1), 1.0),
          "transition rows are not distributions")
    for call in case.get("calls", []):
        call = decode(call)
        op = call["op"]
        steps.append(op)
        try:
            if op == "next_state_indices":
                out = mc.next_state_indices(call["idx"], k=call["k"])
                check(((out >= 0) & (out < v)).all(), "state index out of range")
                for row in out:
                    check(len(set(row.tolist())) == len(row), "repeated next states")
            elif op == "transition_log_probs":
                lp = mc.transition_log_probs(call["i"], call["j"])
                check(not np.isnan(lp).any() and (lp <= 1e-12).all(), f"log probs {lp}")
            elif op == "state_distribution":
                pi = mc.state_distribution(k=call["k"])
                check(np.isfinite(pi).all() and abs(pi.sum() - 1) < 1e-8, "not a distribution")
            elif op == "stationary":
                pi = mc.stationary_distribution(method=call["method"], max_iter=2000)
                check(np.isfinite(pi).all() and abs(pi.sum() - 1) < 1e-8 and (pi >= 0).all(),
                      f"stationary distribution {pi}")
            elif op == "log_prob":
                lp = mc.log_prob(call["sequence"], unknown=call["unknown"])
                check(not np.isnan(lp) and lp <= 1e-12, f"log_prob {lp}")
        except Finding:
            raise
        except RuntimeError as exc:
            if "did not converge" not in str(exc):  # the documented bound of power
                raise Finding(f"{op}: {classify(exc)}") from None
        except Exception as exc:  # noqa: BLE001
            bad = classify(exc)
            if bad:
                raise Finding(f"{op}: {bad}") from None


def case_pagerank(case: dict, steps: list) -> None:
    from bayesrec.pagerank import PowerIterationFailedConvergence, pagerank, pagerank_posterior
    args = decode(case["args"])
    try:
        if case.get("posterior"):
            post = pagerank_posterior(**args)
            x = post.draws
            check(np.isfinite(x).all() and np.allclose(x.sum(axis=1), 1.0) and (x >= 0).all(),
                  "posterior draws are not distributions")
            post.summary()
        else:
            x = pagerank(**args)
            check(np.isfinite(x).all() and (x >= 0).all(), f"pagerank {x}")
            if len(x):
                check(abs(x.sum() - 1.0) < 1e-6, f"pagerank sums to {x.sum()}")
    except PowerIterationFailedConvergence:
        pass  # the documented bound


def case_rules(case: dict, steps: list) -> None:
    from bayesrec.rules import association_rules, frequent_itemsets
    args = decode(case["args"])
    fi = frequent_itemsets(args["baskets"], args["min_support"], max_len=args.get("max_len"),
                           max_itemsets=args.get("max_itemsets", 10_000))
    check(((fi["support"] > 0) & (fi["support"] <= 1)).all(), "support out of (0, 1]")
    rules = association_rules(**args)
    if len(rules):
        check(((rules["confidence"] >= 0) & (rules["confidence"] <= 1 + 1e-12)).all(),
              "confidence out of [0, 1]")
        check(np.isfinite(rules["lift"]).all() and (rules["lift"] >= 0).all(), "lift")


def case_ranking(case: dict, steps: list) -> None:
    from bayesrec.ranking import BetaPosteriorRanker
    args = decode(case["args"])
    ranker = BetaPosteriorRanker(**args["params"]).fit(args["successes"], args["failures"])
    steps.append("fitted")
    n = ranker.n_items
    for call in case.get("calls", []):
        call = decode(call)
        op = call["op"]
        steps.append(op)
        try:
            if op == "rank":
                order = ranker.rank(call["method"], k=call["k"], rng=0)
                check(len(set(order.tolist())) == len(order), "repeated items in a ranking")
                check(((order >= 0) & (order < n)).all(), "rank index out of range")
            elif op == "posterior":
                tree = ranker.posterior(n_draws=call["n_draws"], items=call["items"], rng=0)
                theta = np.asarray(tree.posterior["theta"])
                check(((theta >= 0) & (theta <= 1)).all(), "theta outside [0, 1]")
            elif op == "update":
                ranker.update(call["items"], call["liked"])
                check((ranker.successes_ >= 0).all() and (ranker.failures_ >= 0).all(),
                      "negative counts")
        except Finding:
            raise
        except Exception as exc:  # noqa: BLE001
            bad = classify(exc)
            if bad:
                raise Finding(f"{op}: {bad}") from None


def case_bandit(case: dict, steps: list) -> None:
    from bayesrec import bandits
    args = decode(case["args"])
    policy = getattr(bandits, args["policy"])(*args["policy_args"])
    steps.append("policy")
    res = bandits.simulate(policy, args["probabilities"], args["n_trials"],
                           args["n_replications"], rng=0)
    steps.append("simulated")
    regret = np.asarray(res.mean_regret())
    check(np.isfinite(regret).all(), "non-finite regret")
    check((np.diff(regret) >= -1e-12).all(), "mean cumulative regret decreases")
    share = np.asarray(res.best_arm_share())
    check(((share >= 0) & (share <= 1)).all(), "best-arm share outside [0, 1]")


def case_split(case: dict, steps: list) -> None:
    from bayesrec.data import splits
    r = build_ratings(case["data"])
    steps.append("built")
    args = decode(case["args"])
    kind = args.pop("kind")
    if kind == "kfold":
        parts = list(splits.kfold(r, **args))
    else:
        parts = [getattr(splits, kind)(r, **args)]
    for train, test in parts:
        check(len(train) + len(test) <= len(r), "a split invents rows")
        key = lambda x: set(zip(x.users.tolist(), x.items.tolist()))  # noqa: E731
        check(not (key(train) & key(test)), "train and test share a pair")
        check(key(train) | key(test) <= key(r), "a split invents pairs")
    if kind in ("random_split", "per_user_split", "kfold") and len(parts) == 1:
        train, test = parts[0]
        check(len(train) + len(test) == len(r), "a split loses rows")


def case_metrics(case: dict, steps: list) -> None:
    import scipy.sparse as sp

    from bayesrec import metrics
    args = decode(case["args"])
    rel = sp.csr_matrix(np.asarray(args["relevant"], dtype=np.int8))
    rec = args["recommended"]
    k = args["k"]
    sub = rec[:, :k] if isinstance(k, int) and not isinstance(k, bool) and k >= 1 else rec
    invalid = rec.dtype.kind not in "iu" or bool(sub.size and (sub.min() < -1
                                                              or sub.max() >= rel.shape[1]))
    for name in ("precision_at_k", "recall_at_k", "hit_rate_at_k", "ndcg_at_k",
                 "average_precision_at_k"):
        steps.append(name)
        try:
            value = getattr(metrics, name)(rec, rel, k=args["k"])
            check(not invalid, f"{name} scored item indices outside the catalogue")
            check(np.isfinite(value) and -1e-12 <= value <= 1 + 1e-12, f"{name} = {value}")
        except Finding:
            raise
        except Exception as exc:  # noqa: BLE001
            bad = classify(exc)
            if bad:
                raise Finding(f"{name}: {bad}") from None
    value = metrics.catalogue_coverage(rec, args["n_items"], args.get("k"))
    check(0 <= value <= 1, f"coverage {value}")
    check(not invalid or args["n_items"] != rel.shape[1], "coverage of invalid indices")


CASES = {"metrics": case_metrics, "bandit": case_bandit, "split": case_split,
         "ratings": case_ratings, "model": case_model, "markov": case_markov,
         "pagerank": case_pagerank, "rules": case_rules, "ranking": case_ranking}


def run(case: dict) -> dict:
    steps: list = []
    findings: list = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with np.errstate(all="ignore"):
                CASES[case["kind"]](case, steps)
    except Finding as f:
        findings.append(str(f))
    except Exception as exc:  # noqa: BLE001 - classified
        bad = classify(exc)
        if bad:
            findings.append(f"{'/'.join(steps) or 'start'}: {bad}")
    return {"findings": findings, "steps": steps}


def main() -> None:
    # no progress bars, no BLAS oversubscription in a worker
    out = sys.stdout
    sys.stdout = sys.stderr  # anything a model prints must not corrupt the protocol
    print("ready", file=out, flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        result = run(json.loads(line))
        out.write(json.dumps(result) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
