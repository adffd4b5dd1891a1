"""A real dask.distributed cluster (two worker processes on loopback) behind joblib: grid
search and a 2-chain BPMF give exactly the serial numbers, and the tasks did run on it."""

import numpy as np
import pandas as pd
import pytest

distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")

from bayesrec.data import synthetic_ratings  # noqa: E402
from bayesrec.factorization import ALS, BPMF  # noqa: E402
from bayesrec.model_selection import GridSearch, cross_validate  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address="127.0.0.1:0")
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


@pytest.fixture(scope="module")
def data():
    r, _ = synthetic_ratings(120, 70, 3000, rank=3, noise=0.5, rng=0, rating_scale=(0.5, 5.0),
                             step=0.5)
    return r



def test_grid_search_on_dask_equals_serial(client, data):
    kw = dict(cv=3, metric=["rmse", "ndcg@10"], random_state=1, verbose=False)
    grid = {"rank": [2, 4], "reg": [2.0]}
    serial = GridSearch(ALS(n_iter=3), grid, n_jobs=1, **kw).fit(data)
    with distributed.get_task_stream(client) as stream:
        with joblib.parallel_config(backend="dask"):
            remote = GridSearch(ALS(n_iter=3), grid, n_jobs=2, **kw).fit(data)
    assert len(stream.data) >= 6                          # 2 points x 3 folds ran on dask
    cols = ["candidate", "fold", "metric", "value"]
    pd.testing.assert_frame_equal(serial.fold_results_[cols], remote.fold_results_[cols])
    assert serial.best_params_ == remote.best_params_
    u, i = data.user_ids[:30], data.item_ids[:30]
    np.testing.assert_array_equal(serial.best_estimator_.predict(u, i),
                                  remote.best_estimator_.predict(u, i))
    # n_jobs=None takes the backend's workers
    one = ALS(n_iter=3, rank=2, reg=2.0)
    cv_kw = dict(cv="per_user", metrics=("rmse", "ndcg@10"), random_state=1, verbose=False)
    ref = cross_validate(one, data, n_jobs=1, **cv_kw)
    with joblib.parallel_config(backend="dask"):
        cv = cross_validate(one, data, **cv_kw)
    np.testing.assert_array_equal(cv["value"].to_numpy(), ref["value"].to_numpy())


def test_bpmf_chains_on_dask_equal_serial(client, data):
    kw = dict(rank=2, n_samples=8, burn_in=4, n_chains=2, alpha="sample", random_state=5,
              verbose=True)
    serial = BPMF(**kw).fit(data)
    with distributed.get_task_stream(client) as stream:
        with joblib.parallel_config(backend="dask"):
            remote = BPMF(n_jobs=2, **kw).fit(data)
    assert len(stream.data) >= 2                          # both chains ran on dask
    for name in serial.traces_:
        np.testing.assert_array_equal(serial.traces_[name], remote.traces_[name])
    np.testing.assert_array_equal(serial.bank_.xu, remote.bank_.xu)
    np.testing.assert_array_equal(serial.bank_.xv, remote.bank_.xv)
