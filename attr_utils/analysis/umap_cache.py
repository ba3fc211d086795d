"""UMAP coordinates, computed once and cached on disk as plain arrays.

UMAP is the slow step of the analyses (a fit on 1,000 x 2,048 vectors takes
seconds, a full reduced-space sweep minutes), and its result is a pure
function of the input array, the parameters and the seed. This module keys
the *coordinates* (never a pickled reducer) by the SHA-256 of the input bytes
and the parameters, and stores them as ``.npz`` files without Python objects
under ``umap/`` of the attr-utils cache folder
(:func:`attr_utils.cache.cache_root`: ``cache_dir``, else
``$ATTR_UTILS_CACHE``, else the platform's user cache folder, honouring
``$XDG_CACHE_HOME``). Writes are atomic (temporary file + rename), so
concurrent runs never read a half-written file.

Why not ``joblib.Memory``: it would do the keying and the storing, but it
stores a function's result with pickle (``output.pkl``) and unpickles it on
the next call. Unpickling runs code, and this cache folder may be shared
(a cluster's cache, a colleague's ``--cache-dir``), so anyone who can write
there could make every later user run theirs. The project loads nothing a
user did not write with pickle; a ``.npz`` read with
``np.load(allow_pickle=False)`` holds only numbers and cannot run code.

It also owns how umap-learn is imported (:func:`import_umap`): umap-learn's
optional ParametricUMAP (which imports TensorFlow and PyTorch, ~15 s) is
skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from attr_utils.cache import cache_root
from attr_utils.errors import CacheError, ParameterError

__all__ = ["cached_umap", "import_umap", "umap_cache_dir"]

_KEY_VERSION = 2  # 2: fitted with unique=True (duplicate rows share coordinates)


def umap_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """Folder holding cached UMAP coordinates: ``umap/`` of the attr-utils cache folder.

    Parameters
    ----------
    cache_dir : path-like, optional
        The attr-utils cache root (``--cache-dir``). Default: that of
        :func:`attr_utils.cache.cache_root` (``$ATTR_UTILS_CACHE``, else
        ``$XDG_CACHE_HOME/attr-utils``, by default ``~/.cache/attr-utils``,
        on Linux).

    Returns
    -------
    pathlib.Path
        Not created here.
    """
    return cache_root(cache_dir) / "umap"


def import_umap():
    """Import and return the ``umap`` module without TensorFlow or PyTorch.

    umap-learn's ``__init__`` imports ParametricUMAP, which imports
    TensorFlow and PyTorch (about 15 s on two cores) although plain UMAP
    needs neither. Unless ``umap`` is already imported, that submodule is
    made unavailable during the import; ``umap.ParametricUMAP`` is then
    umap-learn's placeholder, and ``import umap.parametric_umap`` still
    works afterwards for users who want it.

    Notes
    -----
    numba's compilation cache is persistent by default (``__pycache__``
    next to the library's sources when writable, else a per-user cache
    folder; ``NUMBA_CACHE_DIR`` overrides both), so functions compiled with
    ``cache=True`` (most of pynndescent's, some of umap's) are not recompiled
    by the next process. umap's layout optimiser is not cached by umap-learn
    itself and is compiled once per process (about 10 s).
    """
    if "umap" in sys.modules:
        return sys.modules["umap"]
    blocked = "umap.parametric_umap" not in sys.modules
    if blocked:
        sys.modules["umap.parametric_umap"] = None  # makes the import raise ImportError
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import umap
    finally:
        if blocked and sys.modules.get("umap.parametric_umap", 0) is None:
            del sys.modules["umap.parametric_umap"]
    return umap


def _array_digest(h, arr: np.ndarray) -> None:
    arr = np.ascontiguousarray(arr)
    h.update(f"{arr.dtype.str}{arr.shape}".encode())
    h.update(memoryview(arr).cast("B"))


def _cache_key(X: np.ndarray, X_new: np.ndarray | None, params: dict) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"v": _KEY_VERSION, **params}, sort_keys=True).encode())
    _array_digest(h, X)
    if X_new is not None:
        h.update(b"|new|")
        _array_digest(h, X_new)
    return h.hexdigest()


def _atomic_save(path: Path, **arrays: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def cached_umap(
    X: np.ndarray,
    X_new: np.ndarray | None = None,
    *,
    n_components: int = 2,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    metric: str = "euclidean",
    random_state: int | None = 0,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Fit UMAP on ``X`` (and transform ``X_new``), through the coordinate cache.

    Parameters
    ----------
    X : ndarray of shape (n, dim)
        Vectors UMAP is fitted on. Duplicate rows are fitted once
        (umap-learn's ``unique=True``) and share their coordinates, so
        repeated images cannot distort the layout.
    X_new : ndarray of shape (m, dim), optional
        Vectors transformed by the fitted reducer without refitting (held-out
        points); their coordinates are returned second.
    n_components, n_neighbors, min_dist, metric
        Passed to :class:`umap.UMAP`.
    random_state : int or None, default=0
        Seed. An int makes the result reproducible (and cacheable) but makes
        umap-learn single-threaded; ``None`` lets it use every core but the
        result is neither reproducible nor cached.
    cache : bool, default=True
        Read and write the coordinate cache.
    cache_dir : path-like, optional
        attr-utils cache root (see :func:`umap_cache_dir`).

    Returns
    -------
    embedding : ndarray of shape (n, n_components), float32
    new_embedding : ndarray of shape (m, n_components) or None

    Raises
    ------
    ParameterError
        ``X`` is not 2-D or has fewer than 3 distinct rows.
    CacheError
        The cache folder cannot be written.
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    if X.ndim != 2 or len(X) < 3:
        raise ParameterError(f"UMAP needs a 2-D array of at least 3 rows, got shape {X.shape}")
    n_unique = len(np.unique(X, axis=0))
    if n_unique < 3:
        raise ParameterError(f"UMAP needs at least 3 distinct vectors, got {n_unique} among {len(X)} rows")
    if X_new is not None:
        X_new = np.ascontiguousarray(X_new, dtype=np.float32)
    params = {
        "n_components": int(n_components),
        "n_neighbors": int(min(n_neighbors, n_unique - 1)),
        "min_dist": float(min_dist),
        "metric": str(metric),
        "random_state": random_state,
    }
    use_cache = cache and random_state is not None
    path = None
    if use_cache:
        umap_version = _umap_version()
        key = _cache_key(X, X_new, {**params, "umap": umap_version})
        path = umap_cache_dir(cache_dir) / key[:2] / f"{key}.npz"
        if path.exists():
            try:
                with np.load(path, allow_pickle=False) as data:
                    emb = data["embedding"]
                    new = data["new_embedding"] if "new_embedding" in data else None
                return emb, new
            except (OSError, ValueError, KeyError):
                pass  # unreadable entry: recompute and overwrite it
    umap = import_umap()
    reducer = umap.UMAP(**params, unique=True, n_jobs=1 if random_state is not None else -1)
    with warnings.catch_warnings():
        # "n_jobs value 1 overridden ..." and spectral-init fallbacks are expected.
        warnings.simplefilter("ignore", UserWarning)
        emb = reducer.fit_transform(X).astype(np.float32)
        new = reducer.transform(X_new).astype(np.float32) if X_new is not None else None
    if use_cache:
        arrays = {"embedding": emb}
        if new is not None:
            arrays["new_embedding"] = new
        try:
            _atomic_save(path, **arrays)
        except OSError as exc:
            raise CacheError(f"cannot write the UMAP cache at {path.parent}: {exc}") from exc
    return emb, new


def _umap_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("umap-learn")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"
