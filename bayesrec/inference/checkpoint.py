"""Chain checkpoints: one ``.npz`` file per chain (arrays) with a JSON header, no pickle.

A checkpoint holds a *key* (a dict ``field -> short string``) naming everything that changes the
chain's numbers, and the payload needed to resume: the sampler state, the sweep counter, the
generator's ``bit_generator`` state, the traces and the accumulator.

Format: a NumPy ``.npz`` archive (read with ``allow_pickle=False``, so a file can never run code)
whose entry ``__meta__`` is the UTF-8 JSON header ``{"format", "version", "key", "tree"}``.
``tree`` describes the payload; every array in it is a reference ``{"@a": n}`` to the entry
``a<n>`` of the archive.  Other nodes: ``{"@t": [...]}`` (tuple), ``{"@l": [...]}`` (list),
``{"@d": {...}}`` (dict with str keys), ``{"@o": "module:QualName", "f": {...}}`` (an object of a
``bayesrec`` class rebuilt from its fields / ``__dict__``, never any other class), and JSON
scalars (Python ``float`` survives JSON exactly: ``repr`` round-trips).

Writes are atomic: the archive goes to a temporary file in the same folder, is flushed and
``fsync``-ed, then renamed over the old file (and the folder is synced), so a kill at any moment
leaves either the previous checkpoint or the new one, never a torn file.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
from pathlib import Path

import numpy as np

from ..exceptions import CheckpointError

FORMAT = "bayesrec-chain-checkpoint"
VERSION = 1


# ------------------------------------------------------------------ payload <-> JSON + arrays
def _encode(obj, arrays: list):
    if isinstance(obj, np.ndarray) or isinstance(obj, np.generic):
        arr = np.asarray(obj)
        if arr.dtype == object:
            raise TypeError("object arrays cannot be checkpointed")
        arrays.append(arr)
        node = {"@a": len(arrays) - 1}
        if isinstance(obj, np.generic):
            node["s"] = 1  # a NumPy scalar: restored as one, not as a 0-d array
        return node
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, tuple):
        return {"@t": [_encode(v, arrays) for v in obj]}
    if isinstance(obj, list):
        return {"@l": [_encode(v, arrays) for v in obj]}
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise TypeError("only dicts with str keys can be checkpointed")
        return {"@d": {k: _encode(v, arrays) for k, v in obj.items()}}
    cls = type(obj)
    if not cls.__module__.startswith("bayesrec."):
        raise TypeError(f"cannot checkpoint an object of type {cls.__module__}.{cls.__qualname__}"
                        " (use arrays, scalars, dicts, lists or a bayesrec dataclass)")
    if dataclasses.is_dataclass(obj):
        fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    else:
        fields = {k: v for k, v in vars(obj).items() if not k.startswith("_")}
    return {"@o": f"{cls.__module__}:{cls.__qualname__}",
            "f": {k: _encode(v, arrays) for k, v in fields.items()}}


def _resolve_class(name: str):
    module, _, qualname = name.partition(":")
    if not module.startswith("bayesrec.") or not qualname:
        raise ValueError(f"refusing to rebuild an object of class {name!r}")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not isinstance(obj, type):
        raise ValueError(f"{name!r} is not a class")
    return obj


def _decode(node, arrays):
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if not isinstance(node, dict) or len(node) == 0:
        raise ValueError(f"malformed node {node!r:.80}")
    if "@a" in node:
        arr = arrays[f"a{int(node['@a'])}"]
        return arr[()] if node.get("s") else arr
    if "@t" in node:
        return tuple(_decode(v, arrays) for v in node["@t"])
    if "@l" in node:
        return [_decode(v, arrays) for v in node["@l"]]
    if "@d" in node:
        return {k: _decode(v, arrays) for k, v in node["@d"].items()}
    if "@o" in node:
        cls = _resolve_class(node["@o"])
        fields = {k: _decode(v, arrays) for k, v in node["f"].items()}
        if dataclasses.is_dataclass(cls):
            return cls(**fields)
        obj = cls.__new__(cls)
        obj.__dict__.update(fields)
        return obj
    raise ValueError(f"malformed node {node!r:.80}")


# ------------------------------------------------------------------ files
def write_checkpoint(path, key: dict, payload: dict) -> None:
    """Write ``payload`` under ``key`` to ``path`` atomically (temp file, fsync, rename)."""
    path = Path(path)
    arrays: list = []
    tree = _encode(payload, arrays)
    meta = json.dumps({"format": FORMAT, "version": VERSION, "key": key, "tree": tree})
    entries = {f"a{n}": a for n, a in enumerate(arrays)}
    entries["__meta__"] = np.frombuffer(meta.encode("utf-8"), dtype=np.uint8)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, **entries)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # pragma: no cover - platforms without directory fsync
        pass


def read_checkpoint(path) -> tuple[dict, dict]:
    """``(key, payload)`` of a checkpoint file; :class:`CheckpointError` naming the file if it is
    truncated, corrupt or not a bayesrec chain checkpoint."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            if "__meta__" not in z.files:
                raise ValueError("no __meta__ header")
            meta = json.loads(z["__meta__"].tobytes().decode("utf-8"))
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                raise ValueError("not a bayesrec chain checkpoint")
            if meta.get("version") != VERSION:
                raise ValueError(f"format version {meta.get('version')!r}, this bayesrec reads "
                                 f"version {VERSION}")
            arrays = {name: z[name] for name in z.files if name != "__meta__"}
        key = meta["key"]
        if not isinstance(key, dict):
            raise ValueError("malformed key")
        return key, _decode(meta["tree"], arrays)
    except Exception as exc:  # any failure to parse the file means "unreadable"
        raise CheckpointError(f"checkpoint file {path} is unreadable (truncated, corrupt or not "
                              f"a bayesrec chain checkpoint: {exc}); delete it or use another "
                              "checkpoint_dir") from exc


def check_key(path, saved: dict, expected: dict) -> None:
    """Refuse a checkpoint whose key differs from this run's, naming every differing field."""
    fields = sorted(set(saved) | set(expected))
    diff = [f for f in fields if saved.get(f) != expected.get(f)]
    if diff:
        detail = "; ".join(f"{f}: file has {saved.get(f)!r}, this run has {expected.get(f)!r}"
                           for f in diff)
        raise CheckpointError(f"checkpoint file {path} belongs to a different run ({detail}); "
                              "delete it or use another checkpoint_dir")
