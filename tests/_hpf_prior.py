"""The tiny HPF design shared by its Geweke and SBC tests: 4 users x 3 items with every cell
stored (zeros too), K = 2, and a draw from the hierarchical Gamma prior written with numpy
(Gopalan, Hofman & Blei 2015: ``xi_u ~ Gamma(a', a'/b')``, ``theta_uk ~ Gamma(a, xi_u)``, and
likewise ``eta_i``, ``beta_ik``)."""

import numpy as np
from scipy.special import gammaln

from bayesrec.factorization.implicit.hpf import _gibbs
from bayesrec.factorization.implicit.hpf._data import HPFPrior, InteractionData

N_USERS, N_ITEMS, K = 4, 3, 2
PRIOR = HPFPrior(K, 1.0, 2.0, 1.0, 0.6, 2.0, 2.0)


def all_cells(y):
    """Every cell stored (zeros too): a fixed structure with the counts ``y`` (row-major)."""
    indptr = np.arange(0, N_USERS * N_ITEMS + 1, N_ITEMS, dtype=np.int64)
    indices = np.tile(np.arange(N_ITEMS, dtype=np.int32), N_USERS)
    yy = y.ravel().astype(np.float64)
    return InteractionData(indptr, indices, yy, N_USERS, N_ITEMS,
                           np.array([0, N_USERS], np.int64), float(gammaln(yy + 1).sum()))


def draw_prior(rng):
    """One joint draw of ``theta``, ``beta``, ``xi``, ``eta`` from the prior (a dict)."""
    p = PRIOR
    xi = rng.gamma(p.a_prime, p.b_prime / p.a_prime, N_USERS)
    eta = rng.gamma(p.c_prime, p.d_prime / p.c_prime, N_ITEMS)
    theta = rng.gamma(p.a, 1.0 / xi[:, None], (N_USERS, K))
    beta = rng.gamma(p.c, 1.0 / eta[:, None], (N_ITEMS, K))
    return {"theta": theta, "beta": beta, "xi": xi, "eta": eta}


def wrong_theta_rate(factor: float) -> type:
    """A Gibbs sampler with one planted bug for the Geweke and SBC tests to catch: theta's
    conditional rate multiplied by ``factor``, ``factor (xi_u + sum_i beta_ik)``; every other
    update as in :class:`~bayesrec.factorization.implicit.hpf._gibbs.HPFGibbs`."""

    class WrongThetaRate(_gibbs.HPFGibbs):
        def step(self, state, rng):
            p = self.prior
            theta = _gibbs._gamma(rng, p.a + state["user_z"],
                                  factor * (state["xi"][:, None] + state["beta"].sum(0)[None, :]))
            xi = _gibbs._gamma(rng, p.a_prime + p.rank * p.a,
                               p.a_prime / p.b_prime + theta.sum(1))
            beta = _gibbs._gamma(rng, p.c + state["item_z"],
                                 state["eta"][:, None] + theta.sum(0)[None, :])
            eta = _gibbs._gamma(rng, p.c_prime + p.rank * p.c,
                                p.c_prime / p.d_prime + beta.sum(1))
            s = _gibbs.scale_draws(theta, xi, beta, eta, p, rng)
            return self._allocate({"theta": theta * s, "xi": xi, "beta": beta / s, "eta": eta},
                                  rng)

    return WrongThetaRate
