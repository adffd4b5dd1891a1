"""Gather the draws every chain kept into stacked arrays without holding them twice.

A sampler's accumulator keeps its retained draws as a list (one array, or one tuple of arrays,
per draw).  ``np.stack`` over those lists builds the stacked bank while the lists still hold
every draw, so the peak is twice the bank: at MovieLens-20M shape a weighted-MF bank of 50
draws of rank 48 is 3.2 GB.  :func:`stack_chain_draws` copies the draws one at a time into
preallocated arrays and drops each from its chain's list once copied, so the peak is the bank
plus one draw.

A posterior-mean score ``sum_s U_s V_s^T / S`` is one product of the draws laid side by side,
``[U_1 .. U_S] [V_1 .. V_S]^T / S``.  Stacked with ``draw_axis=1`` the item draws already sit
that way in memory and :func:`side_by_side` hands out the (n_items, S K) matrix as a view,
where building it per call would copy the whole item bank for every user block (most of a
single user's ranking time).
"""

from __future__ import annotations

import numpy as np


def stack_chain_draws(results, key: str, dtype=None, draw_axis: int = 0):
    """Move ``r.accumulator[key]`` of every chain result into stacked arrays.

    Parameters
    ----------
    results : sequence of :class:`~bayesrec.inference.chains.ChainResult`
        In chain order.  Their ``accumulator[key]`` lists are emptied.
    key : str
        The accumulator entry holding the chain's list of draws.  A draw is one array, or a
        tuple of arrays (one per field).
    dtype : optional
        Dtype of the stacked arrays (default: each field's own).
    draw_axis : int
        Where the draw index goes in each stacked array's memory layout: 0 (draws one after
        the other), or another axis of the stacked shape, e.g. 1 for a (n, S, K) layout.
        The arrays are always returned with the draw index first (a transposed view when
        ``draw_axis`` is not 0).

    Returns
    -------
    stacked : ndarray (S, ...) or tuple of them (one per field)
        The draws of chain 0, then chain 1, ...
    chain_of : int ndarray (S,)
        The chain each draw came from.
    """
    lists = [r.accumulator[key] for r in results]
    counts = [len(draws) for draws in lists]
    if sum(counts) == 0:
        raise ValueError(f"no chain kept any draw under {key!r}")
    first = next(draws[0] for draws in lists if draws)
    is_tuple = isinstance(first, tuple)
    fields = first if is_tuple else (first,)
    out = []
    for f in fields:
        shape = list(np.shape(f))
        shape.insert(draw_axis, sum(counts))
        block = np.empty(shape, dtype=np.asarray(f).dtype if dtype is None else dtype)
        out.append(np.moveaxis(block, draw_axis, 0))
    out = tuple(out)
    pos = 0
    for draws in lists:
        draws.reverse()                 # pop from the end: the draws come out in order
        while draws:
            draw = draws.pop()
            for target, value in zip(out, draw if is_tuple else (draw,)):
                target[pos] = value
            pos += 1
            del draw, value             # its last references: freed before the next copy
    chain_of = np.repeat(np.arange(len(lists)), counts)
    return (out if is_tuple else out[0]), chain_of


def side_by_side(owner, name: str) -> np.ndarray:
    """The (S, n, K) draws ``owner.<name>`` as one (n, S K) matrix (row ``i``: draw 0's row
    ``i``, then draw 1's, ...), the form of a posterior-mean product ``sum_s A_s B_s^T / S``.

    A view when the draws were stacked with ``draw_axis=1``; for draws in another layout (e.g.
    read back from a file) a copy made once and kept on ``owner`` (a refit drops it).
    """
    wide = np.moveaxis(getattr(owner, name), 0, 1)
    if wide.flags.c_contiguous:
        return wide.reshape(len(wide), -1)
    cache = vars(owner).setdefault("_side_by_side_cache", {})
    if name not in cache:
        cache[name] = np.ascontiguousarray(wide).reshape(len(wide), -1)
    return cache[name]
