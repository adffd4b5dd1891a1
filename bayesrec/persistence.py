"""Saving and loading models: one zip file, readable without pickle.

``model.save(path)`` writes, and :func:`load` reads back, a zip archive with

``meta.json``
    ``{"format": "bayesrec-model", "format_version": 1, "library_version": "...",
    "class": "bayesrec.factorization.als.ALS", "params": {...}, "state": {...}}``:
    the class path, the constructor parameters (``get_params()``) and a description of every
    learned attribute (names ending in ``_``, including ``train_``), with arrays replaced by
    references into ``arrays.npz``;
``arrays.npz``
    every ndarray (keys ``a0``, ``a1``, ...), read with ``numpy.load(allow_pickle=False)``;
``datatree_<n>.nc``
    every ArviZ ``xarray.DataTree`` (posterior draws), written by ``DataTree.to_netcdf``
    (h5netcdf engine).

Values are encoded recursively in ``meta.json``: ``None``, bools, numbers (NaN and infinities
as JSON's ``NaN`` / ``Infinity``) and strings as themselves; lists as lists; tuples as
``{"__tuple__": [...]}``; dicts with string keys as ``{"__dict__": {...}}``; ndarrays as
``{"__array__": "a3"}``; :class:`~bayesrec.data.Ratings` as ``{"__ratings__": {...}}`` (its
arrays, id maps and scale); pandas frames / series as their columns, index and names; scipy
sparse matrices as their CSR/CSC arrays; ``numpy.random.Generator`` as its bit generator's
state; ``DataTree`` as ``{"__datatree__": "datatree_0.nc"}``; and a data-only object of a
``bayesrec`` class (a dataclass such as a prior, or a draw bank) as its class path plus its
attributes, restored without calling ``__init__``.  Anything else (a lambda, an open handle,
a foreign class) is refused at save time with the attribute's path.

Reading checks the format name and version and raises
:class:`~bayesrec.exceptions.PersistenceError` naming the file for a foreign, truncated or
corrupted file, or one written by a newer format version.  Only classes from the
``bayesrec`` package are ever instantiated.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import tempfile
import zipfile
from dataclasses import fields, is_dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._validation import check_path
from .data import Ratings
from .exceptions import PersistenceError

__all__ = ["save", "load", "FORMAT", "FORMAT_VERSION"]

FORMAT = "bayesrec-model"
#: bumped when the layout changes incompatibly; :func:`load` reads every version up to it
FORMAT_VERSION = 1


def _library_version() -> str:
    from . import __version__
    return __version__


# ---------------------------------------------------------------------- encoding
class _Writer:
    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}
        self.trees: dict[str, object] = {}

    def array(self, a: np.ndarray, where: str) -> dict:
        a = np.asarray(a)
        if a.dtype.kind == "O":
            a = _object_array(a, where)
        if a.dtype.kind not in "biufcUSMm":
            raise PersistenceError(f"cannot save {where}: arrays of dtype {a.dtype} are not "
                                   "supported")
        key = f"a{len(self.arrays)}"
        self.arrays[key] = a
        return {"__array__": key}

    def encode(self, value, where: str):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, (int, np.integer)):
            return int(value)
        if isinstance(value, (float, np.floating)):
            return float(value)
        if isinstance(value, np.ndarray):
            return self.array(value, where)
        if isinstance(value, list):
            return [self.encode(v, f"{where}[{k}]") for k, v in enumerate(value)]
        if isinstance(value, tuple):
            return {"__tuple__": [self.encode(v, f"{where}[{k}]")
                                  for k, v in enumerate(value)]}
        if isinstance(value, dict):
            bad = [k for k in value if not isinstance(k, str)]
            if bad:
                raise PersistenceError(f"cannot save {where}: dict keys must be strings, got "
                                       f"{bad[0]!r}")
            return {"__dict__": {k: self.encode(v, f"{where}[{k!r}]") for k, v in value.items()}}
        if isinstance(value, Path):
            return {"__path__": str(value)}
        if isinstance(value, Ratings):
            return {"__ratings__": {
                name: self.encode(getattr(value, name), f"{where}.{name}")
                for name in ("users", "items", "ratings", "user_ids", "item_ids", "timestamps",
                             "rating_scale", "implicit")}}
        if isinstance(value, pd.DataFrame):
            return {"__frame__": {
                "columns": [self.encode(c, f"{where}.columns") for c in value.columns],
                "data": [self.array(value.iloc[:, k].to_numpy(), f"{where}[{c!r}]")
                         for k, c in enumerate(value.columns)],
                "index": self._index(value.index, f"{where}.index")}}
        if isinstance(value, pd.Series):
            return {"__series__": {"name": self.encode(value.name, f"{where}.name"),
                                   "data": self.array(value.to_numpy(), where),
                                   "index": self._index(value.index, f"{where}.index")}}
        if sp.issparse(value):
            m = value.tocsr() if value.format not in ("csr", "csc") else value
            return {"__sparse__": {"format": m.format, "shape": list(m.shape),
                                   "data": self.array(m.data, where),
                                   "indices": self.array(m.indices, where),
                                   "indptr": self.array(m.indptr, where)}}
        if isinstance(value, np.random.Generator):
            state = value.bit_generator.state
            return {"__generator__": self.encode(state, f"{where}.state")}
        if _is_datatree(value):
            key = f"datatree_{len(self.trees)}.nc"
            self.trees[key] = value
            return {"__datatree__": key}
        cls = type(value)
        if cls.__module__.split(".")[0] == "bayesrec" and hasattr(value, "__dict__"):
            attrs = ({f.name: getattr(value, f.name) for f in fields(value)}
                     if is_dataclass(value) else vars(value))
            attrs = {**attrs, **{k: v for k, v in vars(value).items() if k not in attrs}}
            return {"__object__": f"{cls.__module__}.{cls.__qualname__}",
                    "attrs": {k: self.encode(v, f"{where}.{k}") for k, v in attrs.items()}}
        raise PersistenceError(f"cannot save {where}: values of type {cls.__module__}."
                               f"{cls.__qualname__} are not supported (keep learned state in "
                               "arrays, numbers, strings, Ratings, pandas objects or DataTrees)")

    def _index(self, index: pd.Index, where: str) -> dict:
        if isinstance(index, pd.MultiIndex):
            levels = [self.array(index.get_level_values(k).to_numpy(), where)
                      for k in range(index.nlevels)]
        else:
            levels = [self.array(index.to_numpy(), where)]
        return {"levels": levels, "names": [self.encode(n, where) for n in index.names],
                "range": isinstance(index, pd.RangeIndex)}


def _object_array(a: np.ndarray, where: str) -> np.ndarray:
    """An object array of all-str or all-int values as a plain dtype (no pickle needed)."""
    flat = a.ravel()
    if all(isinstance(v, str) for v in flat):
        return a.astype(str)
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in flat):
        return a.astype(np.int64)
    raise PersistenceError(f"cannot save {where}: an object array of mixed or non-basic "
                           "values")


def _is_datatree(value) -> bool:
    return type(value).__name__ == "DataTree" and type(value).__module__.startswith("xarray")


class _Reader:
    def __init__(self, arrays, zf: zipfile.ZipFile, path: str):
        self.arrays = arrays
        self.zf = zf
        self.path = path

    def array(self, ref: dict) -> np.ndarray:
        try:
            return self.arrays[ref["__array__"]]
        except KeyError:
            raise PersistenceError(f"{self.path}: array {ref['__array__']!r} is missing from "
                                   "arrays.npz (corrupted file)") from None

    def decode(self, value):
        if not isinstance(value, (dict, list)):
            return value
        if isinstance(value, list):
            return [self.decode(v) for v in value]
        if "__array__" in value:
            return self.array(value)
        if "__tuple__" in value:
            return tuple(self.decode(v) for v in value["__tuple__"])
        if "__dict__" in value:
            return {k: self.decode(v) for k, v in value["__dict__"].items()}
        if "__path__" in value:
            return Path(value["__path__"])
        if "__ratings__" in value:
            f = {k: self.decode(v) for k, v in value["__ratings__"].items()}
            return Ratings(f["users"], f["items"], f["ratings"], f["user_ids"], f["item_ids"],
                           timestamps=f["timestamps"], rating_scale=f["rating_scale"],
                           implicit=bool(f.get("implicit", False)))
        if "__frame__" in value:
            f = value["__frame__"]
            cols = [self.decode(c) for c in f["columns"]]
            data = {k: self.array(d) for k, d in enumerate(f["data"])}
            df = pd.DataFrame(data, index=self._index(f["index"]))
            df.columns = pd.Index(cols) if cols else df.columns
            return df
        if "__series__" in value:
            f = value["__series__"]
            return pd.Series(self.array(f["data"]), index=self._index(f["index"]),
                             name=self.decode(f["name"]))
        if "__sparse__" in value:
            f = value["__sparse__"]
            make = sp.csr_matrix if f["format"] == "csr" else sp.csc_matrix
            m = make((self.array(f["data"]), self.array(f["indices"]),
                      self.array(f["indptr"])), shape=tuple(f["shape"]))
            m.has_sorted_indices = True
            return m
        if "__generator__" in value:
            state = self.decode(value["__generator__"])
            name = state.get("bit_generator") if isinstance(state, dict) else None
            kind = getattr(np.random, name, None) if isinstance(name, str) else None
            if not (isinstance(kind, type) and issubclass(kind, np.random.BitGenerator)):
                raise PersistenceError(f"{self.path}: a saved random generator names no numpy "
                                       f"bit generator ({name!r}; corrupted file)")
            bitgen = kind()
            bitgen.state = state
            return np.random.Generator(bitgen)
        if "__datatree__" in value:
            return self._datatree(value["__datatree__"])
        if "__object__" in value:
            cls = _import(value["__object__"], self.path)
            if not isinstance(cls, type) or not isinstance(value.get("attrs"), dict):
                raise PersistenceError(f"{self.path}: {value['__object__']!r} is not a saved "
                                       "bayesrec object (corrupted file)")
            obj = cls.__new__(cls)
            vars(obj).update({k: self.decode(v) for k, v in value["attrs"].items()})
            return obj
        raise PersistenceError(f"{self.path}: unknown value tag {sorted(value)} (written by a "
                               "newer bayesrec?)")

    def _index(self, f: dict) -> pd.Index:
        levels = [self.array(a) for a in f["levels"]]
        names = [self.decode(n) for n in f["names"]]
        if f.get("range") and len(levels[0]) and np.array_equal(
                levels[0], np.arange(levels[0][0], levels[0][0] + len(levels[0]))):
            return pd.RangeIndex(levels[0][0], levels[0][0] + len(levels[0]), name=names[0])
        if len(levels) > 1:
            return pd.MultiIndex.from_arrays(levels, names=names)
        return pd.Index(levels[0], name=names[0])

    def _datatree(self, member: str):
        import xarray as xr
        fd, tmp = tempfile.mkstemp(suffix=".nc")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(self.zf.read(member))
            with xr.open_datatree(tmp, engine="h5netcdf") as dt:
                return dt.load().copy()
        finally:
            os.unlink(tmp)


def _import(path: str, file: str):
    if not isinstance(path, str):
        raise PersistenceError(f"{file}: a class path must be a string, got {path!r} "
                               "(corrupted file)")
    module, _, name = path.rpartition(".")
    if module.split(".")[0] != "bayesrec":
        raise PersistenceError(f"{file}: refuses to build {path!r}, which is not a bayesrec "
                               "class")
    try:
        obj = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        raise PersistenceError(f"{file}: class {path!r} does not exist in this version of "
                               "bayesrec") from None
    return obj


# ---------------------------------------------------------------------- public API
def save(model, path) -> None:
    """Write ``model`` (a fitted or unfitted :class:`~bayesrec.base.Recommender`) to ``path``.

    The file is written to a temporary name next to ``path`` and renamed, so an interrupted
    save never leaves a half-written file under ``path``.
    """
    from .base import Recommender
    if not isinstance(model, Recommender):
        raise TypeError(f"save expects a bayesrec Recommender, got {type(model).__name__}")
    check_path("path", path)
    path = Path(path)
    # named here: the errors of the temporary file below would name a file the caller never
    # gave
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot save to {path}: no folder {path.parent}")
    if path.is_dir():
        raise IsADirectoryError(f"cannot save to {path}: it is a folder; give a file name")
    w = _Writer()
    name = type(model).__name__
    cls = type(model)
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION,
            "library_version": _library_version(),
            "class": f"{cls.__module__}.{cls.__qualname__}",
            "params": {k: w.encode(v, f"{name}.{k}") for k, v in model.get_params().items()},
            "state": {k: w.encode(getattr(model, k), f"{name}.{k}")
                      for k in model._learned_names()}}
    text = json.dumps(meta, indent=1)
    buf = io.BytesIO()
    np.savez(buf, **w.arrays)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("meta.json", text)
            zf.writestr("arrays.npz", buf.getvalue(), compress_type=zipfile.ZIP_STORED)
            for member, tree in w.trees.items():
                fd, nc = tempfile.mkstemp(suffix=".nc")
                os.close(fd)
                try:
                    tree.to_netcdf(nc, engine="h5netcdf")
                    zf.write(nc, member)
                finally:
                    os.unlink(nc)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load(path):
    """Read a model written by :meth:`~bayesrec.base.Recommender.save`.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    PersistenceError
        Not a bayesrec model file, truncated or corrupted, or written by a newer format
        version (the message names the file).
    """
    check_path("path", path)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no saved model at {path}")
    where = str(path)
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "meta.json" not in names:
                raise PersistenceError(f"{where} is not a bayesrec model file (no meta.json)")
            try:
                meta = json.loads(zf.read("meta.json"))
            except (ValueError, UnicodeDecodeError):
                raise PersistenceError(f"{where}: meta.json is not valid JSON (foreign or "
                                       "corrupted file)") from None
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                found = meta.get("format") if isinstance(meta, dict) else None
                raise PersistenceError(f"{where} is not a bayesrec model file (format "
                                       f"{found!r})")
            version = meta.get("format_version")
            if not isinstance(version, int) or isinstance(version, bool) or version < 1:
                raise PersistenceError(f"{where}: invalid format_version {version!r}")
            if version > FORMAT_VERSION:
                raise PersistenceError(
                    f"{where} was written in format version {version} by bayesrec "
                    f"{meta.get('library_version')}; this bayesrec ({_library_version()}) "
                    f"reads versions up to {FORMAT_VERSION}: upgrade bayesrec")
            if "arrays.npz" not in names:
                raise PersistenceError(f"{where}: arrays.npz is missing (truncated file)")
            for field, kind in (("class", str), ("params", dict), ("state", dict)):
                if not isinstance(meta.get(field), kind):
                    raise PersistenceError(f"{where}: meta.json field {field!r} must be a "
                                           f"{'string' if kind is str else 'JSON object'}, got "
                                           f"{meta.get(field)!r} (corrupted file)")
            with np.load(io.BytesIO(zf.read("arrays.npz")), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
            cls = _import(meta["class"], where)
            from .base import Recommender
            if not (isinstance(cls, type) and issubclass(cls, Recommender)):
                raise PersistenceError(f"{where}: {meta['class']} is not a bayesrec model")
            reader = _Reader(arrays, zf, where)
            params = {k: reader.decode(v) for k, v in meta["params"].items()}
            try:
                model = cls(**params)
            except TypeError as err:
                raise PersistenceError(f"{where}: the saved parameters do not fit "
                                       f"{cls.__name__} of this bayesrec version ({err})") from None
            vars(model).update({k: reader.decode(v) for k, v in meta["state"].items()})
            return model
    except zipfile.BadZipFile as err:
        raise PersistenceError(f"{where} is not a bayesrec model file, or it is truncated or "
                               f"corrupted ({err})") from None
    except (EOFError, OSError, KeyError, ValueError) as err:
        if isinstance(err, PersistenceError):
            raise
        raise PersistenceError(f"{where} is truncated or corrupted ({type(err).__name__}: "
                               f"{err})") from None
