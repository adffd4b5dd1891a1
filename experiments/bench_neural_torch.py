"""PyTorch CPU reference of the residual neural recommender (benchmark only; needs numpy + torch).

Run by :mod:`experiments.bench_neural` in a separate interpreter (torch is not a bayesrec
dependency)::

    python bench_neural_torch.py DATA.npz OUT.json [--epochs 10] [--batch-size 128] ...

``DATA.npz`` holds ``train_u, train_i, train_y, test_u, test_i, test_y`` (int64 indices,
float ratings), ``n_users, n_items, mu, lo, hi``.  The model, priors, initialisation, objective
and optimizer are those of ``NeuralRecommender("residual", method="map")``: per-rating
negative log posterior with a learned ``log sigma``, mini-batch of ``batch_size``, Adam, float32.
Writes per-epoch training seconds (evaluation excluded) and test RMSE (clipped to the scale).
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch


class Residual(torch.nn.Module):
    def __init__(self, n_users, n_items, rank, hidden, init_sd, log_sigma0, gen):
        super().__init__()
        def normal(shape, sd):
            return torch.nn.Parameter(torch.randn(*shape, generator=gen) * sd)
        self.U = normal((n_users, rank), init_sd)
        self.V = normal((n_items, rank), init_sd)
        self.b = torch.nn.Parameter(torch.zeros(n_users))
        self.c = torch.nn.Parameter(torch.zeros(n_items))
        self.W1 = normal((2 * rank, hidden), math.sqrt(1.0 / rank))
        self.b1 = torch.nn.Parameter(torch.zeros(hidden))
        self.w2 = normal((hidden,), math.sqrt(1.0 / hidden))
        self.b2 = torch.nn.Parameter(torch.zeros(()))
        self.log_sigma = torch.nn.Parameter(torch.tensor(float(log_sigma0)))

    def forward(self, u, i):
        uu, vv = self.U[u], self.V[i]
        dot = (uu * vv).sum(1) + self.b[u] + self.c[i]
        h = torch.relu(torch.cat([uu, vv], 1) @ self.W1 + self.b1)
        return dot + h @ self.w2 + self.b2


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--rank", type=int, default=10)
    ap.add_argument("--hidden", type=int, default=400)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--factor-sd", type=float, default=0.25)
    ap.add_argument("--bias-sd", type=float, default=0.5)
    ap.add_argument("--weight-sd", type=float, default=0.03)
    ap.add_argument("--noise-prior-sd", type=float, default=1.0)
    ap.add_argument("--init-sd", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    d = np.load(a.data)
    tu, ti = torch.from_numpy(d["train_u"]), torch.from_numpy(d["train_i"])
    mu = float(d["mu"])
    ty = torch.from_numpy((d["train_y"] - mu).astype(np.float32))
    su, si = torch.from_numpy(d["test_u"]), torch.from_numpy(d["test_i"])
    sy = d["test_y"]
    lo, hi = float(d["lo"]), float(d["hi"])
    gen = torch.Generator().manual_seed(a.seed)
    n = len(ty)
    model = Residual(int(d["n_users"]), int(d["n_items"]), a.rank, a.hidden, a.init_sd,
                     math.log(float(np.std(d["train_y"])) + 1e-3), gen)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    prior = {"U": a.factor_sd, "V": a.factor_sd, "b": a.bias_sd, "c": a.bias_sd,
             "W1": a.weight_sd, "b1": a.weight_sd, "w2": a.weight_sd, "b2": a.weight_sd}
    coef = {k: 0.5 / (s * s) / n for k, s in prior.items()}
    rows = []
    for epoch in range(1, a.epochs + 1):
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=gen)
        loss_sum = 0.0
        for s in range(0, n, a.batch_size):
            idx = perm[s:s + a.batch_size]
            err = ty[idx] - model(tu[idx], ti[idx])
            mse = (err * err).mean()
            ls = model.log_sigma
            loss = 0.5 * mse * torch.exp(-2 * ls) + ls
            reg = torch.exp(2 * ls) * (0.5 / a.noise_prior_sd ** 2 / n)
            for name, c in coef.items():
                p = getattr(model, name)
                reg = reg + c * (p * p).sum()
            loss = loss + reg
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
        seconds = time.perf_counter() - t0
        with torch.no_grad():
            pred = np.clip(model(su, si).numpy().astype(np.float64) + mu, lo, hi)
        rows.append({"epoch": epoch, "seconds": seconds, "loss": loss_sum / n,
                     "test_rmse": float(np.sqrt(np.mean((pred - sy) ** 2)))})
    with open(a.out, "w") as f:
        json.dump({"torch": torch.__version__, "threads": torch.get_num_threads(),
                   "epochs": rows}, f)


if __name__ == "__main__":
    main()
