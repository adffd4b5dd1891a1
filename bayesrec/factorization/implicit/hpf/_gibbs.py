"""Gibbs sampler of HPF by Poisson-multinomial augmentation, for the chain driver.

The paper (Gopalan, Hofman & Blei, UAI 2015) fits HPF by variational inference only; this
sampler draws from the complete conditionals it derives (equation numbers are the paper's,
its appendix "The variational algorithm" continuing the numbering).  With the auxiliary
variables of Sec. 2.2, ``z_uik ~ Poisson(theta_uk beta_ik)`` and ``y_ui = sum_k z_uik``,
every complete conditional is conjugate (shape, rate)::

    z_ui     | .  ~ Mult(y_ui, theta_u * beta_i / theta_u . beta_i)      (Eq. 5)
    theta_uk | .  ~ Gamma(a + sum_i z_uik,  xi_u + sum_i beta_ik)        (Eq. 3)
    xi_u     | .  ~ Gamma(a' + K a,         a'/b' + sum_k theta_uk)      (appendix, unnumbered)
    beta_ik  | .  ~ Gamma(c + sum_u z_uik,  eta_i + sum_u theta_uk)      (Eq. 4)
    eta_i    | .  ~ Gamma(c' + K c,         c'/d' + sum_k beta_ik)       (appendix, unnumbered)

The prior rates ``a'/b'`` and ``c'/d'`` are those of the generative process (Sec. 2:
``xi_u ~ Gamma(a', a'/b')``, ``eta_i ~ Gamma(c', c'/d')``) and of Fig. 3; the appendix prints
``b'`` and ``d'`` there, and shape ``a`` with ``sum_i theta_uk`` in Eq. 4 (typos: the
conditionals of the stated model are the ones above).

Beyond the paper: the likelihood depends on ``theta_uk beta_ik`` only, so the posterior has
a slow direction along ``(theta_.k, beta_.k) -> (s theta_.k, beta_.k / s)`` that the
conditionals above explore by a random walk.  Each sweep therefore adds an exact move along
it (a generalized Gibbs step over the multiplicative group, Liu & Sabatti 2000, JASA): for
each ``k``, ``s`` is drawn from ``p(s) ∝ pi(s theta_.k, beta_.k / s) |J(s)| / s``, i.e.::

    s ~ GIG(p = n_users a - n_items c,  A = sum_u xi_u theta_uk,  B = sum_i eta_i beta_ik),
    density ∝ s^(p-1) exp(-A s - B / s)      (drawn exactly by :func:`scale_draws`)

which leaves the posterior (and the conditional law of ``z``) invariant;
``HPFGibbs(..., scale_move=False)`` is the plain Gibbs sampler of the conditionals above.

The sums ``sum_i beta_ik`` run over all items (zeros included) and are column
sums; ``z`` is needed only through its user and item totals, drawn by one compiled pass over
the ``y_ui > 0`` cells (:func:`._kernels.allocate_pass`) with uniforms from the chain's
``numpy.random.Generator``.  One sweep draws ``theta, xi, beta, eta`` given the totals of
``z``, then the scale move, then ``z`` given the new factors, so the recorded log-likelihood
belongs to the recorded factors.  The score of Eq. 1, ``E[theta_u . beta_i | y]``, is the
average of ``theta_u . beta_i`` over the kept draws.

Identifiability: permuting the K components leaves the posterior unchanged (label switching),
so raw factor entries are not diagnosed.  Per draw the sampler records permutation-invariant
quantities: ``log_lik`` (the Poisson log-likelihood of all cells), ``total_rate =
sum_ui theta_u . beta_i``, ``theta_sum``, ``beta_sum``, ``xi_mean``, ``eta_mean`` and
``rate`` (``theta_u . beta_i`` at tracked pairs).
"""

from __future__ import annotations

import hashlib

import numpy as np

from ....exceptions import ConvergenceError
from ._data import HPFPrior, InteractionData
from ._kernels import allocate_pass

#: rejection rounds of the scale move before giving up (each accepts with probability above
#: about one half for every (p, A, B): a run that needs this many has a non-finite state)
_MAX_ROUNDS = 1000

#: largest sum of counts the Gibbs sampler takes (its uniforms: 8 GiB a sweep)
MAX_UNITS = 2**30

SCALARS = ("log_lik", "total_rate", "theta_sum", "beta_sum", "xi_mean", "eta_mean")


def _gamma(rng: np.random.Generator, shape, rate) -> np.ndarray:
    """Gamma(shape, rate) draws, floored at the smallest normal float (a shape-0.3 draw can
    underflow to 0, which would make a rate or a multinomial degenerate)."""
    return np.maximum(rng.gamma(shape, 1.0 / np.asarray(rate)), np.finfo(float).tiny)


def _too_extreme(prior: HPFPrior, what: str) -> str:
    return (f"HPF Gibbs: {what}; the prior hyperparameters a={prior.a:g}, "
            f"a_prime={prior.a_prime:g}, b_prime={prior.b_prime:g}, c={prior.c:g}, "
            f"c_prime={prior.c_prime:g}, d_prime={prior.d_prime:g} are too extreme for float64")


def scale_draws(theta, xi, beta, eta, prior: HPFPrior, rng: np.random.Generator) -> np.ndarray:
    """One draw per component of the scale ``s_k`` of the move ``theta_.k -> s_k theta_.k``,
    ``beta_.k -> beta_.k / s_k`` (see the module docstring), shape (K,).

    ``s ~ GIG``: ``t = log s`` has the concave log density ``f(t) = p t - A e^t - B e^-t``.
    Exact rejection sampling from the hat ``min(f(m), tangent at m - d, tangent at m + d)``
    (``m`` the mode, ``d = (-f''(m))^(-1/2)``): a flat piece with two exponential tails, above
    ``f`` because ``f`` is concave (Devroye 1986, "Non-Uniform Random Variate Generation",
    Sec. VII.2).  The tangents sit about one local sd from the mode, so the acceptance rate
    stays above about one half for every ``(p, A, B)``, also where ``|p|`` is in the
    thousands and ``A B`` tiny (a component that has nearly died out on real data).
    """
    p = theta.shape[0] * prior.a - beta.shape[0] * prior.c
    A = xi @ theta
    B = eta @ beta
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        R = np.sqrt(p * p + 4.0 * A * B)
        # mode e^m = (p + R) / 2A = 2B / (R - p), whichever avoids cancellation
        m = np.log((p + R) / (2.0 * A)) if p >= 0 else np.log(2.0 * B / (R - p))
        curvature = A * np.exp(m) + B * np.exp(-m)          # -f''(m)
    if not (np.all(np.isfinite(m)) and np.all(np.isfinite(curvature))
            and np.all(curvature > 0)):
        # extreme priors overflow float64 here; the rejection loop below would never end
        raise ConvergenceError(_too_extreme(
            prior, f"the scale move of the factors is not finite (p = {p:g}, sums A = "
            f"{A.min():g}..{A.max():g}, B = {B.min():g}..{B.max():g})"))

    def g(t, k):  # f(t) - f(m) of components k
        return (p * (t - m[k]) - A[k] * (np.exp(t) - np.exp(m[k]))
                - B[k] * (np.exp(-t) - np.exp(-m[k])))

    every = np.arange(len(A))
    d = 1.0 / np.sqrt(curvature)
    t_left, t_right = m - d, m + d
    rate_left = p - A * np.exp(t_left) + B * np.exp(-t_left)       # f'(m - d) > 0
    rate_right = -(p - A * np.exp(t_right) + B * np.exp(-t_right))  # -f'(m + d) > 0
    # where each tangent reaches the flat top f(m)
    z_left = t_left - g(t_left, every) / rate_left
    z_right = t_right + g(t_right, every) / rate_right
    w_left, w_mid, w_right = 1.0 / rate_left, z_right - z_left, 1.0 / rate_right

    out = np.empty(len(A))
    todo = every
    for _ in range(_MAX_ROUNDS):
        if not len(todo):
            break
        n = len(todo)
        wl, wm, wr = w_left[todo], w_mid[todo], w_right[todo]
        pick = rng.random(n) * (wl + wm + wr)
        expo = rng.standard_exponential(n)
        flat = z_left[todo] + rng.random(n) * wm
        left, right = pick < wl, pick >= wl + wm
        t = np.where(left, z_left[todo] - expo * wl, np.where(right, z_right[todo] + expo * wr,
                                                               flat))
        hat = np.where(left, (t - z_left[todo]) / wl,
                       np.where(right, -(t - z_right[todo]) / wr, 0.0))
        with np.errstate(over="ignore", invalid="ignore"):  # far tails: f = -inf, rejected
            ok = np.log(rng.random(n)) < g(t, todo) - hat
        out[todo[ok]] = t[ok]
        todo = todo[~ok]
    if len(todo):
        raise ConvergenceError(_too_extreme(
            prior, f"the scale move accepted no draw in {_MAX_ROUNDS} rounds (p = {p:g})"))
    return np.exp(out)


class HPFGibbs:
    """Picklable sampler: ``init``, ``step``, ``record``, ``new_accumulator``, ``accumulate``,
    ``fingerprint`` (the protocol of :func:`bayesrec.inference.chains.run_chains`).

    State: dict with ``theta`` (n_users, K), ``xi`` (n_users,), ``beta`` (n_items, K),
    ``eta`` (n_items,), ``user_z``/``item_z`` (totals of ``z`` given those factors) and
    ``loglik`` (``sum y log(theta_u . beta_i)`` at those factors).
    """

    def __init__(self, data: InteractionData, prior: HPFPrior, tracked: np.ndarray,
                 bank_draws: np.ndarray, keep_factors: bool, scale_move: bool = True):
        if not np.all(data.y == np.round(data.y)):
            raise ValueError("method='gibbs' needs integer interaction counts")
        total = float(data.y.sum())
        if total > MAX_UNITS:
            # checked before the int64 cast, which would overflow for counts near 1e19
            raise ValueError(
                f"method='gibbs' allocates every unit of count to a component, one uniform "
                f"each per sweep: the counts sum to {total:.4g} > {MAX_UNITS} units; use "
                f"method='cavi' (its cost does not grow with the counts), counts=False, or "
                f"capped counts")
        self.data = data
        self.prior = prior
        self.tracked = np.asarray(tracked, dtype=np.int64).reshape(-1, 2)
        self.bank_draws = np.asarray(bank_draws, dtype=np.int64)
        self.keep_factors = bool(keep_factors)
        self.scale_move = bool(scale_move)
        self.counts = data.y.astype(np.int64)
        units = np.concatenate([[0], np.cumsum(self.counts)])
        self.unit_start = units[data.indptr[data.blocks[:-1]]].astype(np.int64)
        self.n_units = int(units[-1])

    # ------------------------------------------------------------------ the chain
    def _allocate(self, state: dict, rng: np.random.Generator) -> dict:
        d = self.data
        uniforms = rng.random(self.n_units)
        user_z, item_z, loglik = allocate_pass(d.indptr, d.indices, self.counts, d.blocks,
                                               self.unit_start, uniforms, state["theta"],
                                               state["beta"])
        state.update(user_z=user_z, item_z=item_z, loglik=loglik)
        return state

    def init(self, rng: np.random.Generator) -> dict:
        """Factors drawn from the prior, then ``z`` given them."""
        p, d = self.prior, self.data
        xi = _gamma(rng, p.a_prime, np.full(d.n_users, p.a_prime / p.b_prime))
        eta = _gamma(rng, p.c_prime, np.full(d.n_items, p.c_prime / p.d_prime))
        theta = _gamma(rng, p.a, np.repeat(xi[:, None], p.rank, 1))
        beta = _gamma(rng, p.c, np.repeat(eta[:, None], p.rank, 1))
        return self._allocate({"theta": theta, "xi": xi, "beta": beta, "eta": eta}, rng)

    def step(self, state: dict, rng: np.random.Generator) -> dict:
        """One systematic-scan sweep: theta, xi, beta, eta, then z."""
        p = self.prior
        theta = _gamma(rng, p.a + state["user_z"],
                       state["xi"][:, None] + state["beta"].sum(0)[None, :])
        xi = _gamma(rng, p.a_prime + p.rank * p.a, p.a_prime / p.b_prime + theta.sum(1))
        beta = _gamma(rng, p.c + state["item_z"],
                      state["eta"][:, None] + theta.sum(0)[None, :])
        eta = _gamma(rng, p.c_prime + p.rank * p.c, p.c_prime / p.d_prime + beta.sum(1))
        if self.scale_move:
            s = scale_draws(theta, xi, beta, eta, p, rng)
            theta = np.maximum(theta * s, np.finfo(float).tiny)
            beta = np.maximum(beta / s, np.finfo(float).tiny)
        return self._allocate({"theta": theta, "xi": xi, "beta": beta, "eta": eta}, rng)

    # ------------------------------------------------------------------ what is kept
    def record(self, state: dict) -> dict:
        theta, beta = state["theta"], state["beta"]
        total = float(theta.sum(0) @ beta.sum(0))
        u, i = self.tracked[:, 0], self.tracked[:, 1]
        return {"log_lik": state["loglik"] - total - self.data.log_y_factorial,
                "total_rate": total, "theta_sum": float(theta.sum()),
                "beta_sum": float(beta.sum()), "xi_mean": float(state["xi"].mean()),
                "eta_mean": float(state["eta"].mean()),
                "rate": np.einsum("nk,nk->n", theta[u], beta[i])}

    def new_accumulator(self, n_draws: int) -> dict:
        return {"bank": []}

    def accumulate(self, acc: dict, state: dict, draw: int) -> None:
        if self.keep_factors or draw in self.bank_draws:
            acc["bank"].append(tuple(np.array(state[k]) for k in ("theta", "beta", "xi", "eta")))

    def fingerprint(self) -> str:
        h = hashlib.sha1()
        for arr in (self.data.indptr, self.data.indices, self.data.y, self.tracked,
                    self.bank_draws):
            h.update(np.ascontiguousarray(arr).tobytes())
        h.update(repr((self.prior, self.keep_factors, self.scale_move)).encode())
        return h.hexdigest()
