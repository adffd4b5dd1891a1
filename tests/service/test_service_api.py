"""The HTTP API of a real server (uvicorn, 1 worker, temporary SQLite file): every endpoint,
and every bad input answered with a 4xx naming the problem and changing nothing."""


import httpx
import numpy as np
import pytest
from scipy import stats
from test_service_library import p_best_quad

from bayesrec.service import open_store, posterior_tree


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    from conftest import Server
    db = tmp_path_factory.mktemp("api") / "bandit.db"
    srv = Server(f"sqlite:///{db}", workers=1, seed=3).start()
    client = httpx.Client(base_url=srv.url, timeout=30)
    resp = client.post("/experiments", json={"name": "exp", "arms": ["x", "y", "z"],
                                             "prior": {"a": 2, "b": 3}})
    assert resp.status_code == 201, resp.text
    ev = [{"event_id": f"e{i}", "arm": "xyz"[i % 3], "reward": int(i % 4 == 0)}
          for i in range(12)]
    assert client.post("/experiments/exp/rewards", json={"events": ev}).status_code == 200
    yield client, f"sqlite:///{db}"
    client.close()
    srv.kill()


def snapshot(client):
    post = client.get("/experiments/exp/posterior", params={"n_draws": 10}).json()["arms"]
    return (client.get("/experiments").json(),
            [(r["arm"], r["a"], r["b"], r["pulls"]) for r in post])


def test_health_and_listing(api):
    client, _ = api
    assert client.get("/health").json() == {"status": "ok", "database": "sqlite",
                                             "schema_version": 1}
    assert client.get("/experiments").json()["experiments"][0] == "exp"


def test_select_returns_k_distinct_arms(api):
    client, _ = api
    ids = set()
    for k in (1, 2, 3):
        body = client.post("/experiments/exp/select", json={"k": k}).json()
        assert len(body["arms"]) == k and len(set(body["arms"])) == k
        assert set(body["arms"]) <= {"x", "y", "z"}
        ids.add(body["decision_id"])
    assert len(client.post("/experiments/exp/select").json()["arms"]) == 1   # k = 1 default
    assert len(ids) == 3


def test_rewards_answer_which_were_new(api):
    client, _ = api
    ev = [{"event_id": "n1", "arm": "x", "reward": 1}, {"event_id": "e0", "arm": "x",
                                                         "reward": 1}]
    body = client.post("/experiments/exp/rewards", json={"events": ev}).json()
    assert body == {"new": ["n1"], "duplicates": ["e0"]}
    body = client.post("/experiments/exp/rewards", json={"events": ev}).json()
    assert body == {"new": [], "duplicates": ["n1", "e0"]}


def test_posterior_interval_and_p_best(api):
    """Interval = scipy Beta quantiles (5%, 95%); P(best) within 4 SE of the integral
    (n_draws = 40,000: SE <= 0.0025, so a 0.01 error is detected)."""
    client, url = api
    body = client.get("/experiments/exp/posterior", params={"n_draws": 40_000}).json()
    assert body["credible"] == 0.9
    rows = body["arms"]
    a = np.array([r["a"] for r in rows])
    b = np.array([r["b"] for r in rows])
    np.testing.assert_allclose([r["lower"] for r in rows], stats.beta.ppf(0.05, a, b),
                               rtol=1e-9)
    np.testing.assert_allclose([r["upper"] for r in rows], stats.beta.ppf(0.95, a, b),
                               rtol=1e-9)
    np.testing.assert_allclose([r["mean"] for r in rows], a / (a + b))
    exact = p_best_quad(a, b)
    got = np.array([r["p_best"] for r in rows])
    np.testing.assert_array_less(np.abs(got - exact), 4 * np.sqrt(exact * (1 - exact) / 40_000)
                                 + 1e-12)
    # the same posterior from Python, as an ArviZ DataTree, read from the same database
    with open_store(url, pool_size=1) as st:
        tree = posterior_tree(st, "exp", n_draws=100)
    np.testing.assert_array_equal(tree["constant_data"]["a"].values, a)
    np.testing.assert_array_equal(tree["constant_data"]["b"].values, b)
    assert list(tree["posterior"]["arm"].values) == [r["arm"] for r in rows]


def test_status_page_escapes_names(api):
    client, _ = api
    assert client.post("/experiments", json={"name": "<b>html", "arms": [
        "<script>alert(1)</script>", "plain"]}).status_code == 201
    page = client.get("/").text
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;html" in page and '<td class="name">x</td>' in page


BAD = [
    # (method, path, body or raw bytes, status, words the error must contain)
    ("POST", "/experiments", b"{not json", 400, "malformed JSON"),
    ("POST", "/experiments", b"[1, 2]", 422, "JSON object"),
    ("POST", "/experiments", {"name": "n", "arms": ["a"], "colour": 1}, 422, "colour"),
    ("POST", "/experiments", {"arms": ["a"]}, 422, "missing field(s) ['name']"),
    ("POST", "/experiments", {"name": "exp", "arms": ["a"]}, 409, "already exists"),
    ("POST", "/experiments", {"name": "n", "arms": ["a", "b", "a"]}, 422, "duplicate arm"),
    ("POST", "/experiments", {"name": "n", "arms": []}, 422, "non-empty"),
    ("POST", "/experiments", {"name": "n", "arms": "ab"}, 422, "arms must be"),
    ("POST", "/experiments", {"name": "n", "arms": [1, 2]}, 422, "arm name must be a string"),
    ("POST", "/experiments", {"name": "n", "arms": ["a"], "prior": {"a": 0, "b": 1}}, 422,
     "prior.a must be finite and > 0"),
    ("POST", "/experiments", {"name": "n", "arms": ["a"], "prior": {"a": True}}, 422,
     "prior.a must be a number"),
    ("POST", "/experiments", {"name": "n", "arms": [{"name": "a", "b": -1}]}, 422,
     "arms[0].b"),
    ("POST", "/experiments", {"name": "x" * 201, "arms": ["a"]}, 422, "experiment name"),
    ("POST", "/experiments", {"name": "a/b", "arms": ["a"]}, 422, "must not contain '/'"),
    ("POST", "/experiments", b'{"name": "n", "arms": ["a"], "prior": {"a": NaN}}', 422,
     "prior.a must be finite"),
    ("POST", "/experiments/nope/select", {"k": 1}, 404, "unknown experiment 'nope'"),
    ("POST", "/experiments/exp/select", {"k": 0}, 422, "k must lie in [1, 3]"),
    ("POST", "/experiments/exp/select", {"k": 4}, 422, "k must lie in [1, 3]"),
    ("POST", "/experiments/exp/select", {"k": "2"}, 422, "k must be an integer"),
    ("POST", "/experiments/exp/select", {"k": True}, 422, "k must be an integer"),
    ("POST", "/experiments/exp/select", b"{", 400, "malformed JSON"),
    ("POST", "/experiments/nope/rewards",
     {"events": [{"event_id": "q", "arm": "x", "reward": 1}]}, 404, "unknown experiment"),
    ("POST", "/experiments/exp/rewards",
     {"events": [{"event_id": "q", "arm": "x", "reward": 1},
                 {"event_id": "r", "arm": "w", "reward": 1}]}, 422,
     "unknown arm(s) 'w' in experiment 'exp'"),
    ("POST", "/experiments/exp/rewards",
     {"events": [{"event_id": "q", "arm": "x", "reward": 2}]}, 422, "reward must be 0 or 1"),
    ("POST", "/experiments/exp/rewards",
     {"events": [{"event_id": "q", "arm": "x", "reward": 0.5}]}, 422, "reward must be 0 or 1"),
    ("POST", "/experiments/exp/rewards",
     {"events": [{"event_id": "q", "arm": "x", "reward": "1"}]}, 422, "reward must be 0 or 1"),
    ("POST", "/experiments/exp/rewards",
     {"events": [{"event_id": "q", "arm": "x", "reward": True}]}, 422, "reward must be 0 or 1"),
    ("POST", "/experiments/exp/rewards",
     {"events": [{"event_id": 7, "arm": "x", "reward": 1}]}, 422, "event_id must be a string"),
    ("POST", "/experiments/exp/rewards",
     {"events": [{"event_id": "q", "arm": "x"}]}, 422, "exactly the fields"),
    ("POST", "/experiments/exp/rewards",
     {"events": [{"event_id": "q", "arm": "x", "reward": 1, "t": 0}]}, 422,
     "exactly the fields"),
    ("POST", "/experiments/exp/rewards", {"events": []}, 422, "must not be empty"),
    ("POST", "/experiments/exp/rewards", {"events": {"q": 1}}, 422, "events must be a list"),
    ("POST", "/experiments/exp/rewards",
     {"events": [{"event_id": f"q{i}", "arm": "x", "reward": 1} for i in range(1001)]}, 413,
     "at most 1000 events"),
    ("POST", "/experiments/exp/rewards",
     b'{"events": [], "pad": "' + b"x" * (1 << 20) + b'"}', 413, "larger than"),
    ("POST", "/experiments/exp/rewards",          # e0 was recorded for arm x
     {"events": [{"event_id": "q", "arm": "x", "reward": 1},
                 {"event_id": "e0", "arm": "y", "reward": 1}]}, 409, "'e0' was recorded"),
    ("POST", "/experiments/exp/rewards",
     {"events": [{"event_id": "q", "arm": "x", "reward": 1},
                 {"event_id": "q", "arm": "x", "reward": 0}]}, 409, "appears twice"),
    ("GET", "/experiments/nope/posterior", None, 404, "unknown experiment"),
    ("GET", "/experiments/exp/posterior?credible=1.5", None, 422, "credible"),
    ("GET", "/experiments/exp/posterior?n_draws=0", None, 422, "n_draws"),
    ("GET", "/experiments/exp/posterior?n_draws=many", None, 422, "query parameters"),
    ("GET", "/experiments/exp/posterior?draws=5", None, 422, "unknown query parameter"),
    ("GET", "/experiments/exp/nothing", None, 404, "Not Found"),
    ("DELETE", "/experiments", None, 405, "Method Not Allowed"),
]


@pytest.mark.parametrize("method, path, body, status, words", BAD,
                         ids=[f"{b[3]}-{b[4][:24]}" for b in BAD])
def test_bad_input_is_a_4xx_naming_the_problem_and_changes_nothing(api, method, path, body,
                                                                   status, words):
    client, _ = api
    before = snapshot(client)
    if isinstance(body, bytes):
        resp = client.request(method, path, content=body,
                              headers={"content-type": "application/json"})
    else:
        resp = client.request(method, path, json=body)
    assert resp.status_code == status, resp.text
    assert words in resp.json()["error"], resp.json()
    assert snapshot(client) == before
