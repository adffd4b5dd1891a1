"""Gradient optimizers as PyTensor update lists (compiled into one training-step function).

Each function takes shared parameters and their symbolic gradients and returns the
``updates`` list for ``pytensor.function``; optimizer state (velocities, moments, step count)
lives in new shared variables of the parameters' dtype.

* SGD with (heavy-ball) momentum, as Keras' ``SGD(lr, momentum)`` used in the course::

      m <- momentum * m - lr * g;      theta <- theta + m

  (``nesterov=True``: ``theta <- theta + momentum * m - lr * g``, Keras' Nesterov form).
* Adam (Kingma & Ba 2015), with the bias correction folded into the step size::

      t <- t + 1;  m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
      theta <- theta - lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)

  which is PyTorch's ``torch.optim.Adam`` up to where ``eps`` enters (``eps_hat`` in the
  paper's section 2).
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt

OPTIMIZERS = ("adam", "momentum")


def _zeros_like(p, name: str):
    value = p.get_value(borrow=True)
    return pytensor.shared(np.zeros(value.shape, value.dtype), name=f"{p.name}_{name}")


def momentum_updates(params, grads, lr: float, momentum: float = 0.9,
                     nesterov: bool = False) -> list:
    """Updates of SGD with momentum (module docstring)."""
    updates = []
    for p, g in zip(params, grads):
        dtype = p.dtype
        lr_c, mom_c = np.asarray(lr, dtype), np.asarray(momentum, dtype)
        m = _zeros_like(p, "velocity")
        m_new = mom_c * m - lr_c * g
        step = mom_c * m_new - lr_c * g if nesterov else m_new
        updates += [(m, m_new), (p, p + step)]
    return updates


def adam_updates(params, grads, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8) -> list:
    """Updates of Adam (module docstring)."""
    dtype = params[0].dtype
    c = lambda x: np.asarray(x, dtype)  # noqa: E731  constants in the parameters' dtype
    t = pytensor.shared(c(0.0), name="adam_t")
    t_new = t + c(1.0)
    step = c(lr) * pt.sqrt(c(1.0) - c(beta2) ** t_new) / (c(1.0) - c(beta1) ** t_new)
    updates = [(t, t_new)]
    for p, g in zip(params, grads):
        m, v = _zeros_like(p, "m"), _zeros_like(p, "v")
        m_new = c(beta1) * m + c(1.0 - beta1) * g
        v_new = c(beta2) * v + c(1.0 - beta2) * g * g
        updates += [(m, m_new), (v, v_new), (p, p - step * m_new / (pt.sqrt(v_new) + c(eps)))]
    return updates
