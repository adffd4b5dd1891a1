"""The save / load format (bayesrec.persistence): layout, no pickle, errors that name the file.

The round trip of every model is in ``tests/test_contract.py``; this module checks the format
itself and its failure modes.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest

import bayesrec
from bayesrec.baseline import BiasBaseline
from bayesrec.exceptions import PersistenceError
from bayesrec.factorization import ALS
from bayesrec.persistence import FORMAT, FORMAT_VERSION


@pytest.fixture(scope="module")
def als(contract_data):
    return ALS(rank=2, n_iter=3, random_state=0).fit(contract_data)


def _rewrite(src, dst, meta_change=None, drop=()):
    """Copy a saved model, editing meta.json or dropping members."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            if name in drop:
                continue
            data = zin.read(name)
            if name == "meta.json" and meta_change:
                meta = json.loads(data)
                meta_change(meta)
                data = json.dumps(meta).encode()
            zout.writestr(name, data)


def test_layout_is_json_plus_npz_without_pickle(als, tmp_path):
    path = tmp_path / "als.bayesrec"
    als.save(path)
    with zipfile.ZipFile(path) as zf:
        assert set(zf.namelist()) == {"meta.json", "arrays.npz"}
        meta = json.loads(zf.read("meta.json"))
        npz = np.load(io.BytesIO(zf.read("arrays.npz")), allow_pickle=False)
        arrays = {k: npz[k] for k in npz.files}
    assert meta["format"] == FORMAT and meta["format_version"] == FORMAT_VERSION
    assert meta["library_version"] == bayesrec.__version__
    assert meta["class"] == "bayesrec.factorization.als.ALS"
    assert meta["params"]["rank"] == 2 and meta["params"]["n_iter"] == 3
    assert set(meta["state"]) == set(als._learned_names())
    # the learned factors are plain arrays in the npz, referenced from meta.json
    ref = meta["state"]["user_factors_"]["__array__"]
    np.testing.assert_array_equal(arrays[ref], als.user_factors_)
    # the training Ratings: its arrays and id maps
    tr = meta["state"]["train_"]["__ratings__"]
    np.testing.assert_array_equal(arrays[tr["user_ids"]["__array__"]], als.train_.user_ids)
    assert tr["rating_scale"] == {"__tuple__": [1.0, 5.0]}


def test_history_frame_and_generator_round_trip(contract_data, tmp_path):
    rng = np.random.default_rng(5)
    m = ALS(rank=2, n_iter=3, random_state=rng).fit(contract_data)
    m.save(tmp_path / "m")
    back = bayesrec.load(tmp_path / "m")
    pd.testing.assert_frame_equal(back.history_, m.history_)
    assert isinstance(back.random_state, np.random.Generator)
    # the generator's state is restored exactly: both continue with the same numbers
    np.testing.assert_array_equal(back.random_state.random(4), rng.random(4))


def test_datatree_is_stored_as_netcdf(contract_data, tmp_path):
    from bayesrec.factorization import BPMF
    m = BPMF(rank=2, n_samples=4, burn_in=2, n_chains=2, verbose=False,
             random_state=0).fit(contract_data)
    m.extra_posterior_ = m.posterior            # a learned DataTree attribute
    m.save(tmp_path / "bpmf")
    with zipfile.ZipFile(tmp_path / "bpmf") as zf:
        assert "datatree_0.nc" in zf.namelist()
    back = bayesrec.load(tmp_path / "bpmf")
    assert back.extra_posterior_.identical(m.posterior)
    np.testing.assert_array_equal(back.posterior["posterior"]["alpha"],
                                  m.posterior["posterior"]["alpha"])


def test_newer_version_is_refused(als, tmp_path):
    als.save(tmp_path / "a")
    _rewrite(tmp_path / "a", tmp_path / "newer.zip",
             lambda meta: meta.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(PersistenceError, match=r"newer.zip.*format version 2.*upgrade"):
        bayesrec.load(tmp_path / "newer.zip")
    _rewrite(tmp_path / "a", tmp_path / "bad.zip", lambda meta: meta.update(format_version="x"))
    with pytest.raises(PersistenceError, match="bad.zip.*format_version"):
        bayesrec.load(tmp_path / "bad.zip")


def test_foreign_and_truncated_files_are_refused(als, tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.zip"):
        bayesrec.load(tmp_path / "nothing.zip")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(PersistenceError, match="notes.txt is not a bayesrec model file"):
        bayesrec.load(text)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("data.csv", "a,b\n1,2\n")
    with pytest.raises(PersistenceError, match="other.zip is not a bayesrec model file"):
        bayesrec.load(other)
    als.save(tmp_path / "a")
    _rewrite(tmp_path / "a", tmp_path / "foreign.zip", lambda meta: meta.update(format="x"))
    with pytest.raises(PersistenceError, match="foreign.zip is not a bayesrec model file"):
        bayesrec.load(tmp_path / "foreign.zip")
    _rewrite(tmp_path / "a", tmp_path / "noarrays.zip", drop=("arrays.npz",))
    with pytest.raises(PersistenceError, match="noarrays.zip.*arrays.npz is missing"):
        bayesrec.load(tmp_path / "noarrays.zip")
    _rewrite(tmp_path / "a", tmp_path / "evil.zip",
             lambda meta: meta.update({"class": "os.system"}))
    with pytest.raises(PersistenceError, match="evil.zip.*not a bayesrec class"):
        bayesrec.load(tmp_path / "evil.zip")
    data = (tmp_path / "a").read_bytes()
    for cut in (10, len(data) // 3, len(data) - 30):
        (tmp_path / "cut.zip").write_bytes(data[:cut])
        with pytest.raises(PersistenceError, match="cut.zip"):
            bayesrec.load(tmp_path / "cut.zip")


def test_unsupported_state_is_refused_at_save_time(als, tmp_path):
    m = BiasBaseline().fit(als.train_)
    m.callback_ = lambda x: x
    with pytest.raises(PersistenceError, match="BiasBaseline.callback_"):
        m.save(tmp_path / "m")
    assert not (tmp_path / "m").exists()
    assert not list(tmp_path.iterdir())  # no temporary file left behind
