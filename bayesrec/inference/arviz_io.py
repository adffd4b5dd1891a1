"""Hand-written samplers' draws -> ArviZ 1.x ``xarray.DataTree`` and diagnostic tables.

Arrays are shaped ``(chain, draw, ...)``; named dims/coords follow the PyMC twins
(``user``, ``item``, ``latent``) so ArviZ labels every axis.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def stack_chains(traces: list[dict]) -> dict:
    """Per-chain dicts of ``(draw, ...)`` arrays -> one dict of ``(chain, draw, ...)`` arrays."""
    return {k: np.stack([t[k] for t in traces]) for k in traces[0]}


def to_datatree(posterior: dict, dims: dict | None = None, coords: dict | None = None,
                sample_stats: dict | None = None, attrs: dict | None = None):
    """Build an ArviZ DataTree with groups ``posterior`` (and ``sample_stats``).

    Parameters
    ----------
    posterior : dict name -> (chain, draw, ...) array
    dims : dict name -> list of dim names for the trailing axes (e.g. ``["user", "latent"]``)
    coords : dict dim -> labels (e.g. original user ids)
    sample_stats : dict name -> (chain, draw) array
    """
    import arviz as az
    groups = {"posterior": posterior}
    if sample_stats:
        groups["sample_stats"] = sample_stats
    dt = az.from_dict(groups, dims=dims or {}, coords=coords or {})
    if attrs:
        dt["posterior"].attrs.update(attrs)
    return dt


def diagnostics_table(dt, var_names=None) -> pd.DataFrame:
    """Mean, sd, bulk/tail ESS, MCSE of the mean and rank-normalized split r_hat per scalar
    variable (or array entry), unrounded (``arviz.summary`` rounds r_hat to 2 decimals).

    A variable that is constant over all chains and draws (e.g. a fixed noise precision), or
    empty, is left out: its ESS and r_hat are undefined.  An unknown name is a ``ValueError``.
    """
    import arviz as az
    post = dt["posterior"]
    names = list(post.data_vars) if var_names is None else list(var_names)
    unknown = [n for n in names if n not in post.data_vars]
    if unknown:
        raise ValueError(f"no posterior variable {unknown}; the posterior has "
                         f"{list(post.data_vars)}")
    # an empty variable (e.g. no tracked pair) has no statistics either
    names = [n for n in names if post[n].size
             and np.ptp(np.asarray(post[n].values, dtype=float)) > 0]
    if not names:
        return pd.DataFrame(columns=["mean", "sd", "ess_bulk", "ess_tail", "mcse_mean",
                                     "r_hat"])
    stats = {
        "ess_bulk": az.ess(dt, var_names=names, method="bulk"),
        "ess_tail": az.ess(dt, var_names=names, method="tail"),
        "mcse_mean": az.mcse(dt, var_names=names),
        "r_hat": az.rhat(dt, var_names=names),
    }
    rows = {}
    for name in names:
        da = post[name]
        mean = da.mean(("chain", "draw")).values
        sd = da.std(("chain", "draw")).values
        cols = {k: np.asarray(v[name].values, dtype=float) for k, v in stats.items()}
        for idx in np.ndindex(mean.shape):
            label = name if not idx else f"{name}{list(idx)}"
            rows[label] = {"mean": float(mean[idx]), "sd": float(sd[idx]),
                           **{k: float(c[idx]) for k, c in cols.items()}}
    return pd.DataFrame.from_dict(rows, orient="index")


def max_rhat(dt, var_names=None) -> float:
    """The largest rank-normalized split r_hat over the chosen variables."""
    import arviz as az
    rh = az.rhat(dt, var_names=var_names)
    return float(rh.to_dataset().to_array().max())
