"""Analysis results cached on disk as Parquet + JSON, keyed by the input vectors, labels, options and seed.

Some analyses take minutes on two cores and are pure functions of their
input (:func:`~attr_utils.analysis.probe_layers` fits a linear probe per tap
and fold). :func:`cached_result` wraps such a function: it adds the
keyword-only options ``cache=True`` and ``cache_dir=None``; the key is the
SHA-256 of

* every vector block of the :class:`~attr_utils.Embeddings` (the bytes, so
  vectors computed anywhere are keyed by what they are), the content hashes
  and label columns of its table, and its backbone and weights (the
  result's ``attrs`` name them);
* every other argument after defaults are applied (arrays by their bytes),
  the function's name and version, and the versions of scikit-learn, NumPy
  and pandas.

Warnings the computation raised (a class left out, a probe that did not
converge) are stored with the result and raised again when it is read, so a
cached call warns as the first one did.

A result is stored in ``results/<function>/<key>/`` of the attr-utils cache
folder (:func:`attr_utils.cache.cache_root`): each DataFrame as a Parquet
file, everything else (``attrs``, plain fields) as JSON. Nothing is pickled,
so a shared cache folder cannot make a later reader run code (see
:mod:`attr_utils.analysis.umap_cache`). Writes are atomic (a temporary folder
renamed into place). A result that cannot be written as Parquet/JSON is
returned uncached; an unreadable entry is recomputed.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import json
import os
import importlib
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from attr_utils.cache import cache_root

__all__ = ["cached_result", "embeddings_digest", "result_cache_dir"]

_FORMAT = 1


def result_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """Folder of cached analysis results: ``results/`` of the attr-utils cache folder (not created here)."""
    return cache_root(cache_dir) / "results"


def _update_array(h, arr) -> None:
    arr = np.ascontiguousarray(arr)
    if arr.dtype == object:
        h.update(json.dumps([str(x) for x in arr.ravel()]).encode())
        return
    h.update(f"{arr.dtype.str}{arr.shape}".encode())
    h.update(memoryview(arr).cast("B"))


def embeddings_digest(emb) -> str:
    """SHA-256 of what an analysis of ``emb`` can depend on: vectors, content hashes, labels, provenance."""
    h = hashlib.sha256()
    for name, block in emb.blocks.items():
        h.update(f"|block {name}|".encode())
        _update_array(h, block)
    table = emb.table
    for column in ["hash", *emb.label_columns]:
        if column in table.columns:
            h.update(f"|column {column}|".encode())
            _update_array(h, table[column].astype(str).to_numpy(dtype=object))
    # the network and weights the results' attrs name; not the engine or the reasons, which can differ between
    # the run that embedded and a later cache hit for the very same vectors (hashed above)
    provenance = {k: v for k, v in emb.provenance_dict().items()
                  if k not in ("signature", "engine", "engine_reason", "backbone_reason")}
    h.update(json.dumps(provenance, sort_keys=True, default=str).encode())
    return h.hexdigest()


def _plain(value):
    """A JSON-able stand-in for an argument value (arrays and Embeddings by digest)."""
    if hasattr(value, "blocks") and hasattr(value, "table") and hasattr(value, "provenance_dict"):
        return {"embeddings": embeddings_digest(value)}
    if isinstance(value, np.ndarray):
        h = hashlib.sha256()
        _update_array(h, value)
        return {"array": h.hexdigest()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (np.generic,)):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"numpy": np.__version__, "pandas": pd.__version__}
    try:
        out["scikit-learn"] = version("scikit-learn")
    except PackageNotFoundError:  # pragma: no cover
        out["scikit-learn"] = "none"
    return out


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON: {type(obj).__name__}")


def _to_parts(result) -> tuple[dict[str, pd.DataFrame], dict]:
    """DataFrames (by field name) and a JSON-able description of everything else."""
    if isinstance(result, pd.DataFrame):
        return {"result": result}, {"kind": "frame", "attrs": {"result": result.attrs}}
    if dataclasses.is_dataclass(result):
        frames, plain, attrs = {}, {}, {}
        for field in dataclasses.fields(result):
            value = getattr(result, field.name)
            if isinstance(value, pd.DataFrame):
                frames[field.name] = value
                attrs[field.name] = value.attrs
            else:
                plain[field.name] = value
        return frames, {"kind": "dataclass", "fields": plain, "attrs": attrs}
    raise TypeError(f"cannot cache a {type(result).__name__}")


def _from_parts(frames: dict[str, pd.DataFrame], meta: dict, result_type):
    for name, attrs in meta.get("attrs", {}).items():
        frames[name].attrs = attrs
    if meta["kind"] == "frame":
        return frames["result"]
    return result_type(**frames, **meta["fields"])


def _load(folder: Path, result_type):
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if meta.get("format") != _FORMAT:
            return None
        frames = {name: pd.read_parquet(folder / f"{name}.parquet") for name in meta["frames"]}
        for name, columns in meta.get("list_columns", {}).items():
            for column in columns:
                frames[name][column] = frames[name][column].map(list)
        return _from_parts(frames, meta, result_type), meta.get("warnings", [])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _category(path: str) -> type[Warning]:
    module, _, name = path.rpartition(".")
    try:
        found = getattr(importlib.import_module(module or "builtins"), name)
    except (ImportError, AttributeError):
        return UserWarning
    return found if isinstance(found, type) and issubclass(found, Warning) else UserWarning


def _save(folder: Path, result, raised: list[dict]) -> None:
    frames, meta = _to_parts(result)
    meta["format"] = _FORMAT
    meta["warnings"] = raised
    meta["frames"] = list(frames)
    meta["list_columns"] = {
        name: [c for c in frame.columns if frame[c].map(lambda v: isinstance(v, list)).any()]
        for name, frame in frames.items()
    }
    text = json.dumps(meta, default=_json_default)  # raises TypeError before anything is written
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
    try:
        for name, frame in frames.items():
            bare = frame.copy(deep=False)
            bare.attrs = {}  # kept in meta.json (pandas would write them as JSON it cannot always encode)
            bare.to_parquet(tmp / f"{name}.parquet")
        (tmp / "meta.json").write_text(text, encoding="utf-8")
        try:
            os.replace(tmp, folder)
        except OSError:  # another process stored the same result first
            if not folder.is_dir():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def cached_result(name: str, *, version: int = 1, result_type=None):
    """Decorate an analysis ``f(emb, *args, **options)`` so that its results are cached on disk.

    Parameters
    ----------
    name : str
        Folder of this function's results (``results/<name>/``).
    version : int, default=1
        Bump it when the function's results change for the same inputs.
    result_type : type, optional
        The dataclass the function returns (default: it returns a DataFrame).

    Returns
    -------
    callable
        The decorator. The wrapped function takes two more keyword-only
        options: ``cache`` (bool, default True: read and write the cache) and
        ``cache_dir`` (the attr-utils cache root; default that of
        :func:`attr_utils.cache.cache_root`); a function that already has
        both (for its UMAP coordinates) receives them too.
    """

    def decorate(func):
        signature = inspect.signature(func)
        # a function that takes cache/cache_dir itself (for its UMAP coordinates) gets them passed on
        passes = {"cache", "cache_dir"} <= set(signature.parameters)

        @functools.wraps(func)
        def wrapper(emb, *args, cache: bool = True, cache_dir=None, **kwargs):
            if passes:
                kwargs.update(cache=cache, cache_dir=cache_dir)
            if not cache:
                return func(emb, *args, **kwargs)
            bound = signature.bind(emb, *args, **kwargs)
            bound.apply_defaults()
            options = {k: _plain(v) for k, v in list(bound.arguments.items())[1:] if k not in ("cache", "cache_dir")}
            h = hashlib.sha256()
            h.update(json.dumps({"function": name, "version": version, "format": _FORMAT, "options": options,
                                 "versions": _versions()}, sort_keys=True).encode())
            h.update(embeddings_digest(emb).encode())
            key = h.hexdigest()
            folder = result_cache_dir(cache_dir) / name / key[:2] / key
            if folder.is_dir():
                found = _load(folder, result_type)
                if found is not None:
                    result, raised = found
                    for w in raised:  # warn as the computation did
                        warnings.warn(w["message"], _category(w["category"]), stacklevel=2)
                    return result
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result = func(emb, *args, **kwargs)
            raised = []
            for w in caught:  # shown now through the caller's filters, and stored for later readers
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
                raised.append({"category": f"{w.category.__module__}.{w.category.__qualname__}",
                               "message": str(w.message)})
            try:
                _save(folder, result, raised)
            except (OSError, TypeError, ValueError, ImportError):
                pass  # not storable as Parquet/JSON, or the folder is read-only: the result stands uncached
            return result

        if not passes:
            extra = [
                inspect.Parameter("cache", inspect.Parameter.KEYWORD_ONLY, default=True, annotation="bool"),
                inspect.Parameter("cache_dir", inspect.Parameter.KEYWORD_ONLY, default=None),
            ]
            wrapper.__signature__ = signature.replace(parameters=[*signature.parameters.values(), *extra])
        return wrapper

    return decorate
