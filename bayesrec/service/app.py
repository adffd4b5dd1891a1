"""The HTTP API (Starlette, served by uvicorn) over a :class:`~bayesrec.service.storage.Store`.

Endpoints (JSON in and out; errors are ``{"error": "<what is wrong>"}`` with a 4xx status and
change nothing):

=======  ==============================  ====================================================
POST     ``/experiments``                ``{"name", "arms": [...], "prior": {"a", "b"}}`` ->
                                         201; an arm is a name or ``{"name", "a", "b"}``
POST     ``/experiments/{name}/select``  ``{"k": 1}`` -> ``{"decision_id", "arms"}``: one
                                         Thompson draw per arm, the ``k`` best draws first
POST     ``/experiments/{name}/rewards`` ``{"events": [{"event_id", "arm", "reward"}]}`` ->
                                         ``{"new": [...], "duplicates": [...]}`` once committed
GET      ``/experiments/{name}/posterior`` ``{"arms": [{"arm", "a", "b", "mean", "lower",
                                         "upper", "pulls", "p_best"}]}`` (90% interval)
GET      ``/experiments``                the experiments' names
GET      ``/health``                     ``{"status": "ok", ...}`` (503 if the database is down)
GET      ``/``                           HTML status page
=======  ==============================  ====================================================

The Thompson choice is :func:`bayesrec.bandits.thompson_select` on the stored ``(a, b)``; the
``decision_id`` is a fresh random id (selections are not stored: a client may reuse it as the
``event_id`` of the reward, which makes retries of that reward idempotent).  Each worker process
draws from its own ``numpy`` Generator (``random_state`` mixed with the process id).
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid

import anyio
import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from ..bandits.policies import thompson_select
from ..inference.beta import check_credible
from . import page
from .errors import BadRequest, ServiceError
from .posterior import CREDIBLE, N_DRAWS, summarize
from .storage import MAX_EVENTS, Store, open_store

MAX_BODY_BYTES = 1 << 20
MAX_DRAWS = 1_000_000


async def _json_body(request: Request, allowed: set[str], required: set[str] = frozenset(),
                     empty_ok: bool = False) -> dict:
    """The request's JSON object; 413 if too large, 400 if malformed, 422 on wrong fields."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BadRequest(f"request body larger than {MAX_BODY_BYTES} bytes", status=413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise BadRequest(f"request body larger than {MAX_BODY_BYTES} bytes", status=413)
    if not body.strip() and empty_ok:
        return {}
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise BadRequest(f"malformed JSON: {err}", status=400) from None
    if not isinstance(data, dict):
        raise BadRequest(f"the body must be a JSON object, got {type(data).__name__}")
    extra = set(data) - allowed
    if extra:
        raise BadRequest(f"unknown field(s) {sorted(extra)}; allowed: {sorted(allowed)}")
    missing = required - set(data)
    if missing:
        raise BadRequest(f"missing field(s) {sorted(missing)}")
    return data


def _number(where: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(f"{where} must be a number, got {json.dumps(value)}")
    return float(value)


def _integer(where: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{where} must be an integer, got {json.dumps(value)}")
    return value


def _prior(where: str, obj) -> tuple[float, float]:
    if not isinstance(obj, dict) or set(obj) - {"a", "b"}:
        raise BadRequest(f"{where} must be an object {{\"a\": ..., \"b\": ...}}")
    a = _number(f"{where}.a", obj.get("a", 1.0))
    b = _number(f"{where}.b", obj.get("b", 1.0))
    for key, v in (("a", a), ("b", b)):
        if not np.isfinite(v) or v <= 0:
            raise BadRequest(f"{where}.{key} must be finite and > 0, got {v}")
    return a, b


def _parse_arms(arms, prior) -> tuple[list, list, list]:
    if not isinstance(arms, list) or not arms:
        raise BadRequest("arms must be a non-empty list of arm names or "
                         "{\"name\", \"a\", \"b\"} objects")
    names, pa, pb = [], [], []
    for j, arm in enumerate(arms):
        if isinstance(arm, dict):
            if "name" not in arm or set(arm) - {"name", "a", "b"}:
                raise BadRequest(f"arms[{j}] must have a name and optionally a and b, got "
                                 f"fields {sorted(arm)}")
            a, b = _prior(f"arms[{j}]", {"a": arm.get("a", prior[0]),
                                         "b": arm.get("b", prior[1])})
            names.append(arm["name"])
        else:
            names.append(arm)
            a, b = prior
        pa.append(a)
        pb.append(b)
    return names, pa, pb


def _parse_events(events) -> list[tuple]:
    if not isinstance(events, list):
        raise BadRequest("events must be a list of {\"event_id\", \"arm\", \"reward\"} objects")
    if len(events) > MAX_EVENTS:
        raise BadRequest(f"at most {MAX_EVENTS} events per batch, got {len(events)}",
                         status=413)
    out = []
    for j, ev in enumerate(events):
        if not isinstance(ev, dict) or set(ev) != {"event_id", "arm", "reward"}:
            got = sorted(ev) if isinstance(ev, dict) else type(ev).__name__
            raise BadRequest(f"events[{j}] must have exactly the fields event_id, arm and "
                             f"reward, got {got}")
        out.append((ev["event_id"], ev["arm"], ev["reward"]))
    return out


class BanditService:
    """The endpoints' handlers around one store and one random stream per process."""

    def __init__(self, store: Store, random_state=None):
        self.store = store
        seed = None if random_state is None else [int(random_state), os.getpid()]
        self.rng = np.random.default_rng(seed)
        self.limiter = anyio.CapacityLimiter(store.pool_size)

    async def _db(self, fn, *args):
        return await anyio.to_thread.run_sync(fn, *args, limiter=self.limiter)

    async def create(self, request: Request):
        data = await _json_body(request, {"name", "arms", "prior"}, {"name", "arms"})
        prior = _prior("prior", data.get("prior", {"a": 1.0, "b": 1.0}))
        names, pa, pb = _parse_arms(data["arms"], prior)
        state = await self._db(self.store.create_experiment, data["name"], names, pa, pb)
        return JSONResponse({"name": state.experiment,
                             "arms": [{"arm": n, "a": float(a), "b": float(b)}
                                      for n, a, b in zip(state.names, state.a, state.b)]},
                            status_code=201)

    async def select(self, request: Request):
        name = request.path_params["name"]
        data = await _json_body(request, {"k"}, empty_ok=True)
        k = _integer("k", data.get("k", 1))
        state = await self._db(self.store.state, name)
        if not 1 <= k <= len(state.names):
            raise BadRequest(f"k must lie in [1, {len(state.names)}] (the number of arms), "
                             f"got {k}")
        chosen = thompson_select(state.a, state.b, self.rng, k)
        return JSONResponse({"decision_id": uuid.uuid4().hex,
                             "arms": [state.names[j] for j in chosen]})

    async def rewards(self, request: Request):
        name = request.path_params["name"]
        data = await _json_body(request, {"events"}, {"events"})
        events = _parse_events(data["events"])
        if self.store.is_cached(name):     # validation needs no database read: no thread
            pending = self.store.submit_rewards(name, events)
        else:
            pending = await self._db(self.store.submit_rewards, name, events)
        result = await asyncio.wrap_future(pending)     # resolved after the commit
        return JSONResponse({"new": result.new, "duplicates": result.duplicates})

    async def posterior(self, request: Request):
        name = request.path_params["name"]
        allowed = {"credible", "n_draws"}
        extra = set(request.query_params) - allowed
        if extra:
            raise BadRequest(f"unknown query parameter(s) {sorted(extra)}; allowed: "
                             f"{sorted(allowed)}")
        try:
            credible = check_credible(request.query_params.get("credible", CREDIBLE))
            n_draws = int(request.query_params.get("n_draws", N_DRAWS))
        except ValueError as err:
            raise BadRequest(f"query parameters: {err}") from None
        if not 1 <= n_draws <= MAX_DRAWS:
            raise BadRequest(f"n_draws must lie in [1, {MAX_DRAWS}], got {n_draws}")
        state = await self._db(self.store.state, name)
        rows = await self._db(summarize, state, self.rng.spawn(1)[0], credible, n_draws)
        return JSONResponse({"name": name, "credible": credible, "n_draws": n_draws,
                             "arms": rows})

    async def list_experiments(self, request: Request):
        return JSONResponse({"experiments": await self._db(self.store.experiments)})

    async def health(self, request: Request):
        try:
            version = await self._db(self.store.schema_version)
        except Exception as err:  # noqa: BLE001 - reported, not raised
            return JSONResponse({"status": "unavailable", "error": type(err).__name__},
                                status_code=503)
        return JSONResponse({"status": "ok", "database": self.store.dialect,
                             "schema_version": version})

    async def status_page(self, request: Request):
        def collect(rng):
            return [(n, summarize(self.store.state(n), rng, n_draws=2000))
                    for n in self.store.experiments()]
        experiments = await self._db(collect, self.rng.spawn(1)[0])
        return HTMLResponse(page.render(experiments))


async def _service_error(request: Request, exc: ServiceError):
    return JSONResponse({"error": str(exc)}, status_code=exc.status)


async def _http_error(request: Request, exc: HTTPException):
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code,
                        headers=getattr(exc, "headers", None))


def create_app(store: Store | str, random_state=None) -> Starlette:
    """The ASGI application over ``store`` (a :class:`Store` or a database URL).

    ``random_state`` (int) seeds the Thompson draws; each worker process mixes in its process
    id, so workers never share a stream.
    """
    if isinstance(store, str):
        store = open_store(store)
    service = BanditService(store, random_state)
    routes = [
        Route("/", service.status_page, methods=["GET"]),
        Route("/health", service.health, methods=["GET"]),
        Route("/experiments", service.list_experiments, methods=["GET"]),
        Route("/experiments", service.create, methods=["POST"]),
        Route("/experiments/{name}/select", service.select, methods=["POST"]),
        Route("/experiments/{name}/rewards", service.rewards, methods=["POST"]),
        Route("/experiments/{name}/posterior", service.posterior, methods=["GET"]),
    ]
    app = Starlette(routes=routes,
                    exception_handlers={ServiceError: _service_error,
                                        HTTPException: _http_error})
    app.state.service = service
    return app


def app_from_environment() -> Starlette:
    """Factory for uvicorn workers: the database URL in ``BAYESREC_DB``, an optional seed in
    ``BAYESREC_SEED``."""
    url = os.environ.get("BAYESREC_DB")
    if not url:
        raise RuntimeError("BAYESREC_DB is not set (e.g. sqlite:///bandit.db)")
    seed = os.environ.get("BAYESREC_SEED")
    return create_app(url, random_state=int(seed) if seed else None)
