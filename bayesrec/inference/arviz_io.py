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
    """r_hat, bulk/tail ESS and MCSE of the mean per scalar variable (or array entry).

    Thin wrapper over ``arviz.summary(kind="diagnostics")`` with full precision plus the
    posterior mean and sd.
    """
    import arviz as az
    return az.summary(dt, var_names=var_names, round_to=None)


def max_rhat(dt, var_names=None) -> float:
    """The largest rank-normalized split r_hat over the chosen variables."""
    import arviz as az
    rh = az.rhat(dt, var_names=var_names)
    return float(rh.to_dataset().to_array().max())
