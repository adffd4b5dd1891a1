"""The tiny Bayesian SVD++ design shared by its Geweke and SBC tests, and a draw from its prior
written independently of the library (scipy's Wishart, numpy's normals and gammas).

K = 2; 5 users x 4 items with 12 ratings; implicit bags on both sides and two item features
with linear weights; Normal-Wishart(0, BETA0, NU0, I) on every factor group, Gamma(GAM) on
the bias and linear-weight precisions, Gamma(ALPHA) on alpha.
"""

import numpy as np
import pandas as pd
from scipy import stats

from bayesrec.data import Ratings
from bayesrec.factorization.bpmf._sweep import BPMFPrior, SweepData
from bayesrec.factorization.svdpp_bayes._design import build_bags
from bayesrec.factorization.svdpp_bayes._sweep import BagHyper, SVDppData, SVDppPrior, SVDppState
from bayesrec.inference.normal_wishart import NormalWishart

K = 2
NU0, BETA0 = K + 2.0, 2.0
GAM = (3.0, 2.0)
ALPHA = (4.0, 4.0)
USERS = np.array([0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 4])
ITEMS = np.array([0, 1, 3, 1, 2, 0, 2, 1, 3, 0, 2, 3])


def tiny_design():
    """``(ratings, SVDppData, SVDppPrior)`` of the tiny design (rating values are placeholders)."""
    r = Ratings(USERS.astype(np.int32), ITEMS.astype(np.int32), np.zeros(len(USERS)),
                np.arange(5), np.arange(4))
    feats = pd.DataFrame({"a": [1.0, 0.0, 1.0, 1.0], "b": [0.0, 1.0, 1.0, 0.0]},
                         index=np.arange(4))
    bu, bv = build_bags(r, True, item_features=feats)
    nw = NormalWishart(np.zeros(K), BETA0, NU0, np.eye(K))
    own = BPMFPrior(K, nw, 1.0, True, GAM[0], GAM[1], None, ALPHA[0], ALPHA[1], rescale=False)
    return r, SVDppData(SweepData(r, offset=0.0), bu, bv), SVDppPrior(own, nw, GAM[0], GAM[1])


def _nw(rng):
    lam = stats.wishart(df=NU0, scale=np.eye(K)).rvs(random_state=rng)
    cov = np.linalg.inv(lam)
    return rng.multivariate_normal(np.zeros(K), cov / BETA0), lam, cov


def _rows(n, mu, cov, linear, rng, tau=None):
    x = np.zeros((n, K + 1))
    x[:, :K] = rng.multivariate_normal(mu, cov, size=n)
    if linear:
        x[:, K] = rng.normal(0, 1 / np.sqrt(tau), n)
    return x


def draw_prior(data, rng):
    """One joint draw of every parameter from the prior (an ``SVDppState`` with sse 0)."""
    mu_u, lam_u, cov_u = _nw(rng)
    mu_v, lam_v, cov_v = _nw(rng)
    tau_b, tau_c = rng.gamma(GAM[0], 1 / GAM[1], 2)
    xu = _rows(data.bag_u.csr.shape[0], mu_u, cov_u, True, rng, tau_b)
    xv = _rows(data.bag_v.csr.shape[0], mu_v, cov_v, True, rng, tau_c)
    ys, hyps = [], []
    for bag in (data.bag_u, data.bag_v):
        y = np.zeros((bag.n_cols, K + 1))
        hyp = BagHyper.initial(bag.n_groups, K)
        for g in range(bag.n_groups):
            mu, lam, cov = _nw(rng)
            tau = rng.gamma(GAM[0], 1 / GAM[1]) if bag.linear[g] else 1.0
            cols = bag.columns(g)
            y[cols] = _rows(len(cols), mu, cov, bag.linear[g], rng, tau)
            hyp.mu[g], hyp.lam[g], hyp.tau[g] = mu, lam, tau
        ys.append(y)
        hyps.append(hyp)
    pu = xu + data.bag_u.csr @ ys[0]
    pv = xv + data.bag_v.csr @ ys[1]
    alpha = rng.gamma(ALPHA[0], 1 / ALPHA[1])
    return SVDppState(xu, xv, ys[0], ys[1], pu, pv, alpha, mu_u, lam_u, mu_v, lam_v, tau_b,
                      tau_c, hyps[0], hyps[1], 0.0)
