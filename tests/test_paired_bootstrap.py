"""The paired bootstrap of per-user differences, against its large-sample closed form."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayesrec.model_selection import paired_bootstrap


def _pairs(n, rng, shift=0.02):
    """Strongly correlated per-user values (users differ far more than the two models)."""
    base = rng.beta(2.0, 5.0, n)
    return base + shift + 0.05 * rng.standard_normal(n), base


def test_interval_matches_normal_theory():
    """For n = 2000 pairs the bootstrap distribution of the mean difference is normal with
    sd ``s / sqrt(n)`` (``s``: the differences' population sd), so the 95% percentile
    interval is ``mean +- 1.96 s / sqrt(n)``.

    Power: with 40000 resamples the interval's half-width is estimated to ~0.7% (sd of a
    2.5% quantile: ``sqrt(p (1 - p) / N) / phi(z_p)``, about 0.013 sd, over 1.96 sd) and
    the sd to 0.35%; the 2.5% / 1.5% tolerances are >= 3.5 of those sds, so a width off by
    5% fails.  Resampling a and b independently (the pairing lost) widens the interval
    about 4-fold here and fails by far.
    """
    rng = np.random.default_rng(11)
    a, b = _pairs(2000, rng)
    d = a - b
    s = d.std() / np.sqrt(len(d))
    res = paired_bootstrap(a, b, n_boot=40_000, level=0.95, random_state=5)
    assert res["difference"] == pytest.approx(d.mean(), rel=1e-12)
    assert res["se"] == pytest.approx(s, rel=0.015)
    z = stats.norm.ppf(0.975)
    assert (res["high"] - res["low"]) / 2 == pytest.approx(z * s, rel=0.025)
    assert (res["high"] + res["low"]) / 2 == pytest.approx(d.mean(), abs=0.05 * z * s)
    assert res["share_above_zero"] == pytest.approx(stats.norm.cdf(d.mean() / s), abs=0.01)
    assert res["n_users"] == 2000
    # a narrower level gives a nested interval
    res80 = paired_bootstrap(a, b, n_boot=40_000, level=0.8, random_state=5)
    assert res["low"] < res80["low"] < res80["high"] < res["high"]


def test_every_user_is_resampled_with_equal_probability():
    """Four users, one of them (the last) with difference 1, the others 0: a resampled mean
    is ``K / 4`` with ``K ~ Binomial(4, 1/4)`` draws of that user, so exactly
    ``P(mean > 0) = 1 - (3/4)^4`` and ``sd = sqrt(4 * 1/4 * 3/4) / 4``.

    Power: with 40000 resamples the share has SE 0.0023; the 4.5-SE tolerance (0.0104)
    catches a 5% error in it (0.034); the sd (SE about 0.4%) is checked to 2%.
    """
    a, b = np.array([0.3, 0.5, 0.2, 1.4]), np.array([0.3, 0.5, 0.2, 0.4])
    res = paired_bootstrap(a, b, n_boot=40_000, random_state=8)
    p = 1 - 0.75 ** 4
    assert res["share_above_zero"] == pytest.approx(p, abs=4.5 * np.sqrt(p * (1 - p) / 40_000))
    assert res["se"] == pytest.approx(np.sqrt(0.75) / 4, rel=0.02)
    assert res["difference"] == pytest.approx(0.25)


def test_same_seed_same_numbers_and_series_alignment():
    rng = np.random.default_rng(2)
    a, b = _pairs(300, rng)
    r1 = paired_bootstrap(a, b, n_boot=500, random_state=3)
    assert r1 == paired_bootstrap(a, b, n_boot=500, random_state=3)
    assert r1 != paired_bootstrap(a, b, n_boot=500, random_state=4)
    users = np.arange(300) * 7
    sa = pd.Series(a, index=users)
    sb = pd.Series(b, index=users)[::-1]      # same users, other order: aligned on the index
    assert paired_bootstrap(sa, sb, n_boot=500, random_state=3) == r1


def test_bad_input_is_refused():
    a = np.linspace(0, 1, 10)
    with pytest.raises(ValueError, match="lengths"):
        paired_bootstrap(a, a[:-1])
    with pytest.raises(ValueError, match="finite"):
        paired_bootstrap(np.r_[a[:-1], np.nan], a)
    with pytest.raises(ValueError, match="at least 2"):
        paired_bootstrap([0.5], [0.2])
    with pytest.raises(ValueError, match="1-D"):
        paired_bootstrap(a.reshape(2, 5), a.reshape(2, 5))
    with pytest.raises(ValueError, match="n_boot"):
        paired_bootstrap(a, a, n_boot=10)
    with pytest.raises(ValueError, match="level"):
        paired_bootstrap(a, a, level=1.5)
    with pytest.raises(ValueError, match="same users"):
        paired_bootstrap(pd.Series(a), pd.Series(a, index=np.arange(10) + 1))
