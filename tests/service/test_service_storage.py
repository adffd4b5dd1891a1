"""The store on its own (no HTTP): schema migrations, idempotent batches, group commit,
conflicts, priors from MovieLens, and the ArviZ view."""

import sqlite3
import threading

import numpy as np
import pandas as pd
import pytest

from bayesrec import movielens_small
from bayesrec.ranking import BetaPosteriorRanker
from bayesrec.service import (
    BadRequest,
    EventConflict,
    ExperimentExists,
    UnknownArm,
    UnknownExperiment,
    open_store,
    posterior_tree,
    priors_from_ranker,
    schema,
    summarize,
)
from bayesrec.service.storage import _RewardJob, parse_url


@pytest.fixture
def store(sqlite_url):
    with open_store(sqlite_url) as st:
        yield st


def test_parse_url():
    assert parse_url("sqlite:///rel/b.db") == ("sqlite", "rel/b.db")
    assert parse_url("sqlite:////abs/b.db") == ("sqlite", "/abs/b.db")
    assert parse_url("postgresql://u@h:5/d") == ("postgresql", "postgresql://u@h:5/d")
    assert parse_url("postgresql+psycopg://u@h/d") == ("postgresql", "postgresql://u@h/d")
    for bad, match in [("mysql://x/y", "must start with"), ("sqlite://host/x.db", "SQLite URL"),
                       ("sqlite:///:memory:", "in-memory")]:
        with pytest.raises(ValueError, match=match):
            parse_url(bad)


def test_migrations_are_applied_once(sqlite_url, tmp_path):
    with open_store(sqlite_url) as st:
        assert st.schema_version() == schema.SCHEMA_VERSION
        st.create_experiment("e", ["x", "y"])
    with open_store(sqlite_url) as st:          # reopening migrates nothing, keeps the data
        assert st.migrate() == schema.SCHEMA_VERSION
        assert st.experiments() == ["e"]
    conn = sqlite3.connect(tmp_path / "bandit.db")
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.execute("INSERT INTO schema_version VALUES (99)")
    conn.commit()
    conn.close()
    with pytest.raises(RuntimeError, match="newer than this code"):
        open_store(sqlite_url)


def test_rewards_are_idempotent_and_exact(store):
    store.create_experiment("e", ["x", "y", "z"], prior_a=[1.0, 2.0, 0.5], prior_b=3.0)
    r = store.record_rewards("e", [("1", "x", 1), ("2", "y", 0), ("1", "x", 1)])
    assert r.new == ["1", "2"] and r.duplicates == ["1"]
    r = store.record_rewards("e", [("2", "y", 0), ("3", "z", 1)])
    assert r.new == ["3"] and r.duplicates == ["2"]
    s = store.state("e")
    np.testing.assert_array_equal(s.a, [2.0, 2.0, 1.5])
    np.testing.assert_array_equal(s.b, [3.0, 4.0, 3.0])
    np.testing.assert_array_equal(s.pulls, [1, 1, 1])
    assert store.event_ids("e") == {"1", "2", "3"}


def test_bad_input_changes_nothing(store):
    store.create_experiment("e", ["x", "y"])
    store.record_rewards("e", [("1", "x", 1)])
    before = store.state("e")
    bad = [
        (lambda: store.record_rewards("nope", [("9", "x", 1)]), UnknownExperiment, "nope"),
        (lambda: store.record_rewards("e", [("9", "x", 1), ("8", "w", 1)]), UnknownArm, "'w'"),
        (lambda: store.record_rewards("e", [("9", "x", 2)]), BadRequest, "0 or 1"),
        (lambda: store.record_rewards("e", [("9", "x", True)]), BadRequest, "0 or 1"),
        (lambda: store.record_rewards("e", [("9", "x", 1), ("1", "y", 1)]), EventConflict,
         "'1'"),
        (lambda: store.record_rewards("e", [("9", "x", 1), ("9", "x", 0)]), EventConflict,
         "'9'"),
        (lambda: store.record_rewards("e", []), BadRequest, "empty"),
        (lambda: store.record_rewards("e", [(str(i), "x", 1) for i in range(1001)]),
         BadRequest, "at most 1000"),
        (lambda: store.create_experiment("e", ["a"]), ExperimentExists, "already exists"),
        (lambda: store.create_experiment("f", ["a", "a"]), BadRequest, "duplicate arm"),
        (lambda: store.create_experiment("f", []), BadRequest, "non-empty"),
        (lambda: store.create_experiment("f", ["a"], prior_a=0.0), BadRequest, "prior"),
        (lambda: store.create_experiment("", ["a"]), BadRequest, "experiment name"),
    ]
    for call, err, match in bad:
        with pytest.raises(err, match=match):
            call()
    after = store.state("e")
    np.testing.assert_array_equal(after.a, before.a)
    np.testing.assert_array_equal(after.b, before.b)
    assert store.experiments() == ["e"] and store.event_ids("e") == {"1"}


def test_group_commit_undoes_only_the_conflicting_batch(store):
    store.create_experiment("e", ["x", "y"])
    store.record_rewards("e", [("old", "x", 1)])
    exp = store._experiment("e")

    def job(events):
        first = {i: (exp.index[a], r) for i, a, r in events}
        ids = sorted(first)
        return _RewardJob(exp=exp, ids=ids, first=first,
                          pos=np.array([first[i][0] for i in ids]),
                          rew=np.array([first[i][1] for i in ids]))
    res = store._commit_group([job([("a", "x", 1), ("b", "y", 0)]),
                               job([("c", "y", 1), ("old", "y", 0)]),     # conflicts
                               job([("a", "x", 1), ("d", "y", 1)])])
    assert res[0] == {"a", "b"} and isinstance(res[1], EventConflict) and res[2] == {"d"}
    s = store.state("e")
    np.testing.assert_array_equal(s.a - 1, [2, 1])       # old, a | d
    np.testing.assert_array_equal(s.b - 1, [0, 1])       # b
    assert store.event_ids("e") == {"old", "a", "b", "d"}


def test_concurrent_threads_count_each_event_once(store):
    """16 threads send overlapping batches (every event twice, by different threads)."""
    store.create_experiment("e", ["x", "y", "z"])
    rng = np.random.default_rng(0)
    n = 1200
    arms = rng.integers(0, 3, n)
    rewards = rng.integers(0, 2, n)
    events = [(f"ev{i}", "xyz"[arms[i]], int(rewards[i])) for i in range(n)]
    sent = events + events
    order = rng.permutation(len(sent))
    chunks = [[sent[j] for j in order[t::16]] for t in range(16)]
    news = [[] for _ in range(16)]

    def work(t):
        for start in range(0, len(chunks[t]), 7):
            news[t] += store.record_rewards("e", chunks[t][start:start + 7]).new
    threads = [threading.Thread(target=work, args=(t,)) for t in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    all_new = [i for part in news for i in part]
    assert len(all_new) == n and set(all_new) == {e[0] for e in events}
    s = store.state("e")
    np.testing.assert_array_equal(s.a - 1, np.bincount(arms, weights=rewards, minlength=3))
    np.testing.assert_array_equal(s.b - 1, np.bincount(arms, weights=1 - rewards, minlength=3))
    np.testing.assert_array_equal(s.pulls, np.bincount(arms, minlength=3))


def test_priors_from_movielens_ranker(store):
    ratings = movielens_small()
    ranker = BetaPosteriorRanker.from_ratings(ratings, threshold=4.0, a=1.0, b=1.0)
    items = [318, 296, 356]
    arms = priors_from_ranker(ranker, items)
    # independent count from the raw frame
    frame = pd.DataFrame({"item": ratings.item_ids[ratings.items], "r": ratings.ratings})
    for arm, item in zip(arms, items):
        sub = frame[frame["item"] == item]["r"]
        assert arm["name"] == str(item)
        assert arm["a"] == 1.0 + (sub >= 4.0).sum() and arm["b"] == 1.0 + (sub < 4.0).sum()
    capped = priors_from_ranker(ranker, items, strength=20)
    for full, cap in zip(arms, capped):
        assert cap["a"] + cap["b"] == pytest.approx(min(20.0, full["a"] + full["b"]))
        assert cap["a"] / (cap["a"] + cap["b"]) == pytest.approx(
            full["a"] / (full["a"] + full["b"]))
    with pytest.raises(ValueError, match="not known"):
        priors_from_ranker(ranker, [-5])
    with pytest.raises(ValueError, match="strength"):
        priors_from_ranker(ranker, items, strength=0)
    store.create_experiment("movies", [a["name"] for a in capped],
                            prior_a=[a["a"] for a in capped], prior_b=[a["b"] for a in capped])
    np.testing.assert_allclose(store.state("movies").a, [a["a"] for a in capped])


def test_posterior_tree_is_the_same_posterior(store):
    """DataTree parameters equal the stored ones; draw means agree within 4 SE (n = 20,000)."""
    store.create_experiment("e", ["x", "y"], prior_a=2.0, prior_b=5.0)
    store.record_rewards("e", [("1", "x", 1), ("2", "x", 1), ("3", "y", 0)])
    tree = posterior_tree(store, "e", n_draws=20_000, random_state=0)
    assert tree["posterior"]["theta"].dims == ("chain", "draw", "arm")
    assert list(tree["posterior"]["arm"].values) == ["x", "y"]
    rows = summarize(store.state("e"), rng=1)
    a = np.array([r["a"] for r in rows])
    b = np.array([r["b"] for r in rows])
    np.testing.assert_array_equal(tree["constant_data"]["a"].values, a)
    np.testing.assert_array_equal(tree["constant_data"]["b"].values, b)
    np.testing.assert_array_equal(a, [4.0, 2.0])
    mean = tree["posterior"]["theta"].mean(("chain", "draw")).values
    sd = np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    np.testing.assert_array_less(np.abs(mean - [r["mean"] for r in rows]),
                                 4 * sd / np.sqrt(20_000))
