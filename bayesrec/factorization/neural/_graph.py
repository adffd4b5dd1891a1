"""The neural recommenders' prediction function, parameters and priors (numpy and PyTensor).

Prediction for the pair (user i, item j), without the constant ``mu``::

    dot:       f_ij = u_i . v_j + b_i + c_j                       (course: Keras MF)
    mlp:       f_ij = w2 . g(W1^T [u_i, v_j] + b1) + b2            (course: deep network)
    residual:  f_ij = dot + mlp                                    (course: residual model)

:func:`forward` is written once for both numpy (prediction) and PyTensor (training graphs):
``xp`` is the array module.  The MLP branch splits ``W1`` into its user rows ``W1[:K]`` and
item rows ``W1[K:]`` (``[u, v] @ W1 = u @ W1[:K] + v @ W1[K:]``), which lets numpy predict
from per-user and per-item pre-activations without materialising the concatenation.
"""

from __future__ import annotations

import numpy as np

ARCHITECTURES = ("dot", "mlp", "residual")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "softplus", "linear")

#: parameter -> prior-sd hyperparameter name
PRIOR_OF = {"U": "factor_sd", "V": "factor_sd", "b": "bias_sd", "c": "bias_sd",
            "W1": "weight_sd", "b1": "weight_sd", "w2": "weight_sd", "b2": "weight_sd"}


def param_names(architecture: str) -> list[str]:
    """Names of the weights of an architecture (``U, V`` always; biases for the dot branch)."""
    names = ["U", "V"]
    if architecture in ("dot", "residual"):
        names += ["b", "c"]
    if architecture in ("mlp", "residual"):
        names += ["W1", "b1", "w2", "b2"]
    return names


def param_shapes(architecture: str, n_users: int, n_items: int, rank: int,
                 hidden: int) -> dict[str, tuple[int, ...]]:
    shapes = {"U": (n_users, rank), "V": (n_items, rank), "b": (n_users,), "c": (n_items,),
              "W1": (2 * rank, hidden), "b1": (hidden,), "w2": (hidden,), "b2": ()}
    return {k: shapes[k] for k in param_names(architecture)}


def init_params(architecture: str, n_users: int, n_items: int, rank: int, hidden: int,
                init_scale: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Starting point: embeddings ``N(0, init_scale^2)``, biases 0, dense weights He-scaled.

    (``W1 ~ N(0, 2 / 2K)``, ``w2 ~ N(0, 1 / H)``: the usual initialisation of a ReLU layer;
    embeddings must not start at 0, a saddle point of the dot product.)
    """
    out = {}
    for name, shape in param_shapes(architecture, n_users, n_items, rank, hidden).items():
        if name in ("U", "V"):
            out[name] = rng.normal(0.0, init_scale, shape)
        elif name == "W1":
            out[name] = rng.normal(0.0, np.sqrt(1.0 / rank), shape)
        elif name == "w2":
            out[name] = rng.normal(0.0, np.sqrt(1.0 / hidden), shape)
        else:
            out[name] = np.zeros(shape)
    return out


def activation_fn(name: str, xp):
    """The activation ``g`` for the array module ``xp`` (numpy or pytensor.tensor)."""
    if name == "relu":
        return lambda x: xp.maximum(x, 0.0)
    if name == "tanh":
        return xp.tanh
    if name == "sigmoid":
        if xp is np:
            return lambda x: 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free logistic
        return xp.sigmoid
    if name == "softplus":
        if xp is np:
            return lambda x: np.logaddexp(0.0, x)
        return xp.softplus
    if name == "linear":
        return lambda x: x
    raise ValueError(f"activation must be one of {ACTIVATIONS}, got {name!r}")


def forward(p: dict, users, items, architecture: str, activation: str, xp):
    """``f_ij`` (without ``mu``) for index vectors ``users``, ``items``; ``xp`` is np or pt."""
    u, v = p["U"][users], p["V"][items]
    f = 0.0
    if architecture in ("dot", "residual"):
        f = (u * v).sum(axis=1) + p["b"][users] + p["c"][items]
    if architecture in ("mlp", "residual"):
        K = p["U"].shape[1]
        pre = u @ p["W1"][:K] + v @ p["W1"][K:] + p["b1"]
        f = f + activation_fn(activation, xp)(pre) @ p["w2"] + p["b2"]
    return f


def forward_numpy(p: dict, users: np.ndarray, items: np.ndarray, architecture: str,
                  activation: str, chunk: int = 1 << 14) -> np.ndarray:
    """:func:`forward` in numpy for many pairs, in chunks (memory O(chunk * H)).

    The MLP pre-activations are assembled from per-user ``U @ W1[:K]`` and per-item
    ``V @ W1[K:]`` blocks computed once, so each pair costs O(H) instead of O(K H).
    """
    users = np.asarray(users)
    items = np.asarray(items)
    out = np.empty(len(users))
    if architecture in ("mlp", "residual"):
        K = p["U"].shape[1]
        pu = p["U"] @ p["W1"][:K] + p["b1"]
        pv = p["V"] @ p["W1"][K:]
        g = activation_fn(activation, np)
    for s in range(0, len(users), chunk):
        u, i = users[s:s + chunk], items[s:s + chunk]
        f = np.zeros(len(u))
        if architecture in ("dot", "residual"):
            f += np.einsum("nk,nk->n", p["U"][u], p["V"][i]) + p["b"][u] + p["c"][i]
        if architecture in ("mlp", "residual"):
            f += g(pu[u] + pv[i]) @ p["w2"] + p["b2"]
        out[s:s + chunk] = f
    return out


def with_fallback_rows(p: dict, fill: dict | None = None) -> dict:
    """Copy of ``p`` with one extra row appended to ``U``, ``V``, ``b``, ``c``.

    Index ``-1`` (an unknown user or item, see :class:`~bayesrec.base.RatingModel`) then reads
    that row: the prior mean 0 (or ``fill[name]``, e.g. the prior sd for a table of sds).
    """
    out = dict(p)
    for name in ("U", "V", "b", "c"):
        if name in p:
            a = np.asarray(p[name])
            extra = np.full((1,) + a.shape[1:], 0.0 if fill is None else fill[name])
            out[name] = np.concatenate([a, extra])
    return out
