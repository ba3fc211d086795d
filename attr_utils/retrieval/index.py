"""Nearest-neighbour indexes over one block's vectors: exact or approximate, one API.

Two index families stand behind :class:`VectorIndex`:

* :class:`ExactIndex` -- brute force: ``faiss.knn`` (blocked float32 matrix
  products and a heap per query) for batches of queries, numpy products and
  an exact top-k for a few queries; no copy of the catalog, bounded memory.
  Exact, no build cost, and the fastest choice up to ~10^5 vectors.
* :class:`IVFIndex` -- faiss ``IndexIVFFlat`` (an inverted file over k-means
  cells, full-precision vectors). Its ``nprobe`` is calibrated at build time on
  a seeded sample of the catalog's own vectors so that recall@10 against exact
  search reaches ``target_recall`` (default 0.95).
* :class:`HNSWIndex` -- faiss ``IndexHNSWFlat``; better recall per query on
  unstructured data but its build is slow on few cores (measured in
  ``benchmarks/bench_search.py``), so it is only used when asked for.

:func:`build_index` picks with ``kind="auto"``: exact below
:data:`AUTO_EXACT_MAX` vectors, IVF from there on (see ``docs/retrieval.md``
for the measurements behind the threshold).

Distances are always "smaller is nearer": ``1 - cosine similarity`` for
``metric="cosine"`` (vectors are L2-normalised inside the index) and the
Euclidean distance for ``metric="l2"``.

Indexes are saved without pickle: a JSON header, the vectors as ``.npy``
(exact) or faiss's own ``write_index`` format (IVF, HNSW). The exact index
keeps ``.npy`` rather than a faiss ``IndexFlat``: it loads without faiss, the
format is unchanged, and an ``IndexFlat`` would copy the catalog (the build
from the cache owns one array, 1.0x).

What faiss does and what stays ours:

* faiss: the search itself (``knn``, ``IndexIVFFlat``, ``IndexHNSWFlat``), the
  k-means of :func:`train_ivf`, serialisation of the ANN indexes, and the
  top-k merge of the streamed build's ground truth (``ResultHeap``).
* ours, :func:`calibrate_nprobe`: the chosen ``nprobe`` is a pure function of
  (vectors, seed, target_recall) -- doubling then bisection on recall@k
  against seeded, self-excluded exact ground truth -- so a rebuilt or
  streamed index gets the same ``nprobe`` on every machine. faiss's
  ``ParameterSpace``/``OperatingPoints`` (and autofaiss) choose by *measured
  query time*, which differs from run to run and machine to machine.
* ours, exact search below faiss's BLAS threshold (``len(queries) * dim <
  faiss.cvar.distance_compute_blas_threshold``, i.e. fewer than 500 queries
  at 256 dims, which includes every interactive query): there faiss scans
  without BLAS and starts OpenMP teams per call, measured 4-5x slower than
  numpy's products at 50 queries x 20k x 256 on one thread, and 2-4x slower
  for a single query on 2 busy cores. Above it ``faiss.knn`` is 1.9-4.6x
  faster than 0.1's numpy loop (see :class:`ExactIndex`).
* ours, tie order: faiss returns exact ties in descending row order; results
  are re-sorted so that ties list the lower row first (deterministic, as
  before the move to faiss).
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from attr_utils.errors import MissingFileError, ParameterError
from attr_utils.validation import check_choice, check_int, check_real, check_seed

__all__ = [
    "ANN_KIND",
    "AUTO_EXACT_MAX",
    "ExactIndex",
    "HNSWIndex",
    "IVFIndex",
    "VectorIndex",
    "build_index",
    "calibrate_nprobe",
    "check_metric",
    "ivf_nlist",
    "load_index",
    "normalize_rows",
    "resolve_kind",
    "train_ivf",
]

#: ``kind="auto"`` uses exact search for catalogs of at most this many vectors.
#: At 10^5 x 256 exact search takes ~3-6 ms per query on 2 cores (see
#: ``benchmarks/bench_search.py``); beyond it an ANN index is cheaper.
AUTO_EXACT_MAX = 100_000

#: The approximate index that ``kind="ann"`` (and ``"auto"`` above the threshold) builds.
ANN_KIND = "ivf"

METRICS = ("cosine", "l2")
KINDS = ("auto", "exact", "ann", "ivf", "hnsw")
_FORMAT = 1


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """``x`` as float32 with each row scaled to unit L2 norm (zero rows stay zero).

    A C-contiguous float32 array whose rows are already unit (or zero) norm is
    returned as is, without a copy (large catalogs are not duplicated); any
    other input is copied, never modified.
    """
    x = np.asarray(x)
    norms = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))[:, None]  # no (n, dim) temporary
    if x.dtype == np.float32 and x.flags.c_contiguous and np.all((np.abs(norms - 1) < 1e-5) | (norms == 0)):
        return x
    x = np.array(x, dtype=np.float32, copy=True, order="C")
    np.divide(x, norms.astype(np.float32), out=x, where=norms > 0)
    return x


def _as_matrix(x, name: str, dim: int | None = None) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ParameterError(f"`{name}` must be a 2-D array (n, dim), got shape {arr.shape}")
    if dim is not None and arr.shape[1] != dim:
        raise ParameterError(f"`{name}` has dimension {arr.shape[1]}; the index holds vectors of dimension {dim}")
    arr = np.ascontiguousarray(arr)
    if not _all_finite(arr):
        raise ParameterError(f"`{name}` contains NaN or infinite values")
    return arr


def _all_finite(x: np.ndarray, chunk_bytes: int = 8 << 20) -> bool:
    """``np.isfinite(x).all()`` without an (n, dim) temporary (a large catalog is checked in 8 MiB slices)."""
    rows = max(1, chunk_bytes // max(1, x.shape[1] * x.itemsize))
    return all(np.isfinite(x[s : s + rows]).all() for s in range(0, len(x), rows))


def _faiss_metric(metric: str):
    import faiss

    return faiss.METRIC_INNER_PRODUCT if metric == "cosine" else faiss.METRIC_L2


def check_metric(metric) -> str:
    """``metric`` if it is one of :data:`METRICS` (``"cosine"``, ``"l2"``).

    Raises
    ------
    ParameterError
        Any other value.
    """
    return check_choice("metric", metric, METRICS)


def _top_k(scores: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest ``scores`` of each row and their ``ids``, best first; equal scores keep the lower id.

    ``ids`` has shape (m,) (the same for every row) or the shape of ``scores``.
    One partition finds each row's k-th largest score; only the candidates at
    or above it (k per row, more on ties) are sorted, by (score, id), so the
    selection is exact whatever the partition does with ties.
    """
    nq, m = scores.shape
    k = min(k, m)
    kth = np.partition(scores, m - k, axis=1)[:, m - k : m - k + 1]
    r, c = np.nonzero(scores >= kth)
    s = scores[r, c]
    i = ids[c] if ids.ndim == 1 else ids[r, c]
    order = np.lexsort((i, -s, r))
    r, s, i = r[order], s[order], i[order]
    keep = np.arange(len(r)) - np.searchsorted(r, np.arange(nq))[r] < k
    return s[keep].reshape(nq, k), i[keep].reshape(nq, k)


def _sorted_ties_lower_first(d: np.ndarray, i: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row of (d, i) ordered by distance, equal distances by the lower row."""
    order = np.lexsort((i, d), axis=1)
    return np.take_along_axis(d, order, axis=1), np.take_along_axis(i, order, axis=1)


class VectorIndex(ABC):
    """Common interface of every index: ``search``, ``save``, ``load_index``.

    Attributes
    ----------
    kind : str
        ``"exact"``, ``"ivf"`` or ``"hnsw"``.
    metric : {"cosine", "l2"}
        Distance the index answers in.
    dim : int
        Vector length.
    ntotal : int
        Number of indexed vectors.
    build_seconds : float
        Wall-clock time of the build (0 for a loaded index).
    """

    kind: str = ""
    metric: str = "cosine"
    dim: int = 0
    ntotal: int = 0
    build_seconds: float = 0.0

    @abstractmethod
    def search(self, queries, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest indexed vectors of each query.

        Parameters
        ----------
        queries : array-like of shape (q, dim) or (dim,)
            Query vectors (raw: cosine indexes normalise them).
        k : int, default=10
            Neighbours per query (capped at ``ntotal``).

        Returns
        -------
        distances : ndarray of shape (q, k), float32
            Ascending distances; ``inf`` where an approximate index found fewer
            than ``k`` neighbours.
        indices : ndarray of shape (q, k), int64
            Row numbers of the neighbours; ``-1`` where none was found.
        """

    @property
    def params(self) -> dict:
        """Build/search parameters, for reports and the saved header."""
        return {}

    @property
    def memory_bytes(self) -> int:
        """Approximate memory held by the index."""
        return 0

    def save(self, folder: str | os.PathLike) -> Path:
        """Write the index to ``folder`` (created if needed); returns the folder."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        header = {
            "format": _FORMAT,
            "kind": self.kind,
            "metric": self.metric,
            "dim": self.dim,
            "ntotal": self.ntotal,
            "params": self.params,
        }
        self._save_payload(folder)
        (folder / "index.json").write_text(json.dumps(header, indent=2))
        return folder

    @abstractmethod
    def _save_payload(self, folder: Path) -> None: ...

    def _prepare_queries(self, queries) -> np.ndarray:
        q = _as_matrix(queries, "queries", self.dim)
        return normalize_rows(q) if self.metric == "cosine" else q

    def __repr__(self) -> str:
        return f"{type(self).__name__}(ntotal={self.ntotal}, dim={self.dim}, metric={self.metric!r}, {self.params})"


class ExactIndex(VectorIndex):
    """Exact search: ``faiss.knn`` over the catalog's float32 vectors.

    Parameters
    ----------
    vectors : array-like of shape (n, dim)
        The catalog's vectors (copied to float32 unless they already are
        C-contiguous float32, and unit-norm for ``"cosine"``).
    metric : {"cosine", "l2"}, default="cosine"
        ``1 - cosine similarity`` or Euclidean distance.
    query_batch : int, default=4096
        Queries scored per call (faiss's own query block size; 0.1's default
        was 256, below what faiss needs for its BLAS path at 256 dims).
    chunk_bytes : None
        Deprecated and ignored since 0.2 (``faiss.knn`` blocks the catalog
        itself); removed in 0.3.

    Attributes
    ----------
    vectors : ndarray of shape (n, dim), float32
        The indexed vectors (unit rows for ``"cosine"``).

    See Also
    --------
    ExactIndex.from_normalized : an index over a prepared array, without a copy.

    Notes
    -----
    From ``faiss.cvar.distance_compute_blas_threshold / dim`` queries per
    call (500 at 256 dims) the search is ``faiss.knn``: measured 2.2-2.7x
    faster than 0.1's chunked numpy products at 500 queries x 256 dims and
    1.9-4.6x at 2,000 queries (20k-100k rows, 64-256 dims, one thread), with
    the same ids. For fewer queries faiss would scan without BLAS (slower),
    so numpy's BLAS scores a 64 MiB slice of the catalog at a time and an
    exact top-k keeps the best (0.1's speed: 0.8-1.4x of it, measured).
    Equal distances come back lower row first, on both paths.

    Examples
    --------
    >>> import numpy as np
    >>> index = ExactIndex(np.eye(3), metric="l2")
    >>> index.search([[1, 0, 0]], k=1)[1]
    array([[0]])
    """

    kind = "exact"

    def __init__(self, vectors, *, metric: str = "cosine", query_batch: int = 4096, chunk_bytes: int | None = None):
        start = time.perf_counter()
        self.metric = check_metric(metric)
        self.query_batch = check_int("query_batch", query_batch, min=1)
        if chunk_bytes is not None:
            warnings.warn(
                "`chunk_bytes` is ignored since attr-utils 0.2 (faiss.knn blocks the catalog itself) and is removed in 0.3",
                DeprecationWarning,
                stacklevel=2,
            )
        x = _as_matrix(vectors, "vectors")
        self.vectors = normalize_rows(x) if self.metric == "cosine" else x
        self.ntotal, self.dim = self.vectors.shape
        self.build_seconds = time.perf_counter() - start

    @classmethod
    def from_normalized(cls, vectors: np.ndarray, *, metric: str = "cosine", query_batch: int = 4096) -> ExactIndex:
        """An index that takes ``vectors`` as its storage, without a copy.

        Parameters
        ----------
        vectors : ndarray of shape (n, dim), float32, C-contiguous
            Finite vectors, with unit-norm (or zero) rows for ``"cosine"``
            (e.g. normalised in place). The index holds this very array.
        metric : {"cosine", "l2"}, default="cosine"
        query_batch : int, default=4096

        Returns
        -------
        ExactIndex
            ``index.vectors is vectors``.

        Raises
        ------
        ParameterError
            ``vectors`` is not a C-contiguous float32 2-D array, holds NaN or
            infinite values, or (cosine) has rows that are not unit-norm.
        """
        if not (isinstance(vectors, np.ndarray) and vectors.ndim == 2 and vectors.dtype == np.float32 and vectors.flags.c_contiguous):
            got = f"{type(vectors).__name__} of dtype {getattr(vectors, 'dtype', '?')}, shape {getattr(vectors, 'shape', '?')}"
            raise ParameterError(f"`vectors` must be a C-contiguous float32 array of shape (n, dim), got {got}")
        index = cls(vectors, metric=metric, query_batch=query_batch)
        if index.vectors is not vectors:
            raise ParameterError("`vectors` must have unit-norm (or zero) rows for metric='cosine'; ExactIndex(vectors) normalises a copy")
        return index

    @property
    def memory_bytes(self) -> int:
        return int(self.vectors.nbytes + (0 if self._sqnorms is None else self._sqnorms.nbytes))

    _sqnorms = None

    def _row_sqnorms(self) -> np.ndarray:
        """|x|^2 of every row, float32, computed on first use by an l2 search (4 bytes per row)."""
        if self._sqnorms is None:
            self._sqnorms = np.einsum("ij,ij->i", self.vectors, self.vectors, dtype=np.float64).astype(np.float32)
        return self._sqnorms

    def distances(self, queries, rows=None) -> np.ndarray:
        """Exact distances from each query to every indexed vector (or to ``rows``), shape (q, n)."""
        q = self._prepare_queries(queries)
        x = self.vectors if rows is None else self.vectors[rows]
        dots = q @ x.T
        if self.metric == "cosine":
            return np.subtract(1.0, dots, out=dots)
        sq = np.einsum("ij,ij->i", x, x, dtype=np.float64).astype(np.float32)
        d2 = (q.astype(np.float64) ** 2).sum(axis=1, keepdims=True).astype(np.float32) - 2.0 * dots + sq[None, :]
        np.maximum(d2, 0.0, out=d2)
        return np.sqrt(d2, out=d2)

    def search(self, queries, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        k = min(check_int("k", k, min=1), self.ntotal)
        q = self._prepare_queries(queries)
        d = np.empty((len(q), k), dtype=np.float32)
        i = np.empty((len(q), k), dtype=np.int64)
        if k == 0:
            return d, i
        for s in range(0, len(q), self.query_batch):
            d[s : s + self.query_batch], i[s : s + self.query_batch] = self._knn(faiss, q[s : s + self.query_batch], k)
        if self.metric == "cosine":  # inner product -> 1 - cos
            np.subtract(1.0, d, out=d)
        else:  # squared L2 -> L2
            np.sqrt(np.maximum(d, 0.0, out=d), out=d)
        return _sorted_ties_lower_first(d, i)

    def _knn(self, faiss, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Inner products (cosine) or squared L2 of the ``k`` best rows for each of ``q``.

        ``faiss.knn`` when faiss takes its BLAS path (``len(q) * dim`` at least
        ``faiss.cvar.distance_compute_blas_threshold``: 500 queries at 256
        dims): 1.9-4.6x faster than 0.1's numpy loop. Below it faiss scans without
        BLAS and starts OpenMP teams even for one query (measured 4-5x slower
        than numpy at 50 queries x 20k x 256, and 2-4x slower for one query on
        2 busy cores), so the scores come from numpy's BLAS, a 64 MiB slice of
        the catalog at a time, and :func:`_top_k` selects.
        """
        if len(q) * self.dim >= faiss.cvar.distance_compute_blas_threshold:
            return faiss.knn(q, self.vectors, k, metric=_faiss_metric(self.metric))
        cosine = self.metric == "cosine"
        scores = ids = None
        rows = max(k, (64 << 20) // (4 * len(q)))
        for c in range(0, self.ntotal, rows):
            x = self.vectors[c : c + rows]
            chunk = q @ x.T  # larger is nearer: q.x, or 2 q.x - |x|^2 = |q|^2 - |q - x|^2
            if not cosine:
                chunk *= 2.0
                chunk -= self._row_sqnorms()[None, c : c + rows]
            chunk_scores, chunk_ids = _top_k(chunk, np.arange(c, c + len(x), dtype=np.int64), k)
            if scores is None:
                scores, ids = chunk_scores, chunk_ids
            else:
                scores, ids = _top_k(np.concatenate([scores, chunk_scores], axis=1), np.concatenate([ids, chunk_ids], axis=1), k)
        return (scores, ids) if cosine else (np.einsum("ij,ij->i", q, q)[:, None] - scores, ids)

    @property
    def params(self) -> dict:
        return {"query_batch": self.query_batch}

    def _save_payload(self, folder: Path) -> None:
        np.save(folder / "vectors.npy", self.vectors, allow_pickle=False)

    @classmethod
    def _load(cls, folder: Path, header: dict) -> ExactIndex:
        vectors = np.load(folder / "vectors.npy", allow_pickle=False)
        index = cls(vectors, metric=header["metric"], query_batch=int(header["params"].get("query_batch", 4096)))
        index.build_seconds = 0.0
        return index


class _FaissIndex(VectorIndex):
    """Shared search/save code of the faiss-backed indexes."""

    _index = None

    @classmethod
    def _wrap(cls, faiss_index, metric: str, expected_type: str):
        """A new instance around ``faiss_index`` (checked); the subclass's ``_adopt`` sets its state.

        The one place an index object is made without running ``__init__``
        (which builds from vectors): every alternate constructor comes here.
        """
        import faiss

        metric = check_metric(metric)
        if not isinstance(faiss_index, getattr(faiss, expected_type)):
            raise ParameterError(f"`faiss_index` must be a faiss.{expected_type}, got {type(faiss_index).__name__}")
        if faiss_index.metric_type != _faiss_metric(metric):
            want = "METRIC_INNER_PRODUCT" if metric == "cosine" else "METRIC_L2"
            raise ParameterError(f"`faiss_index` must use faiss.{want} for metric={metric!r}")
        index = cls.__new__(cls)
        index._index, index.metric = faiss_index, metric
        index.dim, index.ntotal = int(faiss_index.d), int(faiss_index.ntotal)
        index.build_seconds = 0.0
        return index

    @property
    def faiss_index(self):
        """The wrapped faiss index (shared, not a copy)."""
        return self._index

    def _faiss_search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        d, i = self._index.search(q, k)
        d = d.astype(np.float32, copy=False)
        if self.metric == "cosine":  # inner product -> 1 - cos
            d = np.where(i >= 0, 1.0 - d, np.inf).astype(np.float32)
        else:  # squared L2 -> L2
            d = np.where(i >= 0, np.sqrt(np.maximum(d, 0.0)), np.inf).astype(np.float32)
        return d, i.astype(np.int64, copy=False)

    def search(self, queries, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        k = min(check_int("k", k, min=1), self.ntotal)
        return self._faiss_search(self._prepare_queries(queries), k)

    def _save_payload(self, folder: Path) -> None:
        import faiss

        faiss.write_index(self._index, str(folder / "faiss.index"))

    @property
    def memory_bytes(self) -> int:
        return int(self.ntotal * self.dim * 4)


def ivf_nlist(n: int, *, nlist=None, nprobe="auto", target_recall=0.95) -> int:
    """Validate the IVF options for ``n`` vectors; return ``nlist`` (default ``round(sqrt(n))``,
    capped so that every cell has >= 39 training points). Shared by the in-memory and the
    streamed builds, so that both make the same index.

    Raises
    ------
    ParameterError
        Fewer than 2 vectors, or an invalid ``nlist``, ``nprobe`` or ``target_recall``.
    """
    if n < 2:
        raise ParameterError(f"an IVF index needs at least 2 vectors, got {n}")
    check_real("target_recall", target_recall, min=0, max=1, closed="right")
    check_int("nprobe", nprobe, min=1, allow=("auto",))
    if nlist is None:
        return int(min(max(1, n // 39), max(1, round(math.sqrt(n)))))
    return check_int("nlist", nlist, min=1, max=n)


def train_ivf(train, *, nlist: int, metric: str = "cosine", seed: int = 0):
    """An empty, trained faiss ``IndexIVFFlat``: k-means on ``train`` into ``nlist`` cells.

    Shared by :class:`IVFIndex` and the streamed build of
    :func:`attr_utils.retrieval.index_from_cache.build_index_from_cache`, so
    both train the same quantizer from the same sample.

    Parameters
    ----------
    train : array-like of shape (m, dim)
        Training vectors (normalised here for ``"cosine"``; no copy when they
        already are unit-norm float32).
    nlist : int
        Number of cells, at most ``m``.
    metric : {"cosine", "l2"}, default="cosine"
        Inner product on unit vectors, or L2.
    seed : int, default=0
        Seed of faiss's k-means.

    Returns
    -------
    faiss.IndexIVFFlat
        Trained, ``ntotal == 0``, ``nprobe == 1``; its quantizer is kept alive
        by the index (``index.quantizer``).

    Notes
    -----
    The k-means sees up to ``max(64, ceil(m / nlist))`` points per centroid,
    so the whole sample is used (faiss's default subsamples to 256 per cell).
    """
    import faiss

    metric = check_metric(metric)
    x = _as_matrix(train, "train")
    if metric == "cosine":
        x = normalize_rows(x)
    nlist = check_int("nlist", nlist, min=1, max=len(x))
    dim = x.shape[1]
    quantizer = faiss.IndexFlatIP(dim) if metric == "cosine" else faiss.IndexFlatL2(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, _faiss_metric(metric))  # keeps a reference to quantizer
    index.cp.seed = check_seed(seed)
    index.cp.max_points_per_centroid = max(64, math.ceil(len(x) / nlist))
    index.train(x)
    return index


def calibrate_nprobe(index, queries, query_rows, truth, *, k: int, nlist: int, target_recall: float) -> tuple[int, float]:
    """Smallest ``nprobe`` of a faiss IVF ``index`` whose recall@k reaches ``target_recall`` + 0.01.

    ``queries`` are catalog rows ``query_rows``; ``truth`` holds their exact
    ``k + 1`` nearest rows (themselves included, excluded when scoring).
    ``nprobe`` doubles until the aim is met, then bisects between the last
    miss and the hit; the aim is 0.01 above the target to absorb the
    sampling error of the calibration queries. Returns (nprobe, recall).

    Notes
    -----
    Kept rather than faiss's ``ParameterSpace().explore()`` /
    ``contrib.evaluation.OperatingPoints`` (or autofaiss): those choose the
    operating point by *measured query time*, so the same catalog gets a
    different ``nprobe`` from run to run and machine to machine. Here the
    result is a pure function of (vectors, seed, target_recall): a rebuilt,
    reloaded or streamed index gets the same ``nprobe`` everywhere (the tests
    assert the streamed build's ``params`` equal the in-memory build's).
    """
    truth_sets = [set(np.asarray(t)[np.asarray(t) != r][:k].tolist()) for t, r in zip(truth, query_rows)]

    def measure(nprobe: int) -> float:
        index.nprobe = nprobe
        _, found = index.search(queries, k + 1)
        hits = sum(len(ts & set(f[f != r][:k].tolist())) for ts, f, r in zip(truth_sets, found, query_rows))
        return hits / max(1, sum(len(ts) for ts in truth_sets))

    aim = min(1.0, target_recall + 0.01)
    lo, hi = 0, 1
    recall = measure(hi)
    while recall < aim and hi < nlist:
        lo, hi = hi, min(nlist, hi * 2)
        recall = measure(hi)
    while hi - lo > max(1, hi // 8):
        mid = (lo + hi) // 2
        r = measure(mid)
        if r >= aim:
            hi, recall = mid, r
        else:
            lo = mid
    return hi, recall


class IVFIndex(_FaissIndex):
    """Inverted-file index (faiss ``IndexIVFFlat``) with a calibrated ``nprobe``.

    Parameters
    ----------
    vectors : array-like of shape (n, dim)
        The catalog's vectors (n >= 2).
    metric : {"cosine", "l2"}, default="cosine"
        Distance.
    nlist : int, optional
        Number of k-means cells. Default ``round(sqrt(n))`` (1,000 at 1M:
        build time grows with nlist, and on few cores it dominates), capped so
        that every cell has >= 39 training points.
    nprobe : int or "auto", default="auto"
        Cells visited per query. ``"auto"`` doubles nprobe from 1 until the
        recall@10 of ``calibration_queries`` catalog vectors (each searching the
        catalog without itself) against exact search reaches ``target_recall``
        + 0.01 (a margin for the sampling error of the calibration queries),
        then bisects back to within 1/8 of the smallest such nprobe
        (:func:`calibrate_nprobe`, deterministic).
    target_recall : float, default=0.95
        Recall@10 aimed at by ``nprobe="auto"``.
    calibration_queries : int, default=500
        Queries used for the calibration.
    train_size : int, optional
        Vectors the k-means is trained on (seeded sample). Default
        ``min(n, 40 * nlist)``.
    seed : int, default=0
        Seed of the training sample, the k-means and the calibration queries.

    Attributes
    ----------
    calibrated_recall : float or None
        Recall@10 measured at the chosen ``nprobe`` (None when ``nprobe`` was given).

    See Also
    --------
    IVFIndex.from_faiss : wrap an IndexIVFFlat built elsewhere (e.g. from the cache).
    """

    kind = "ivf"

    def __init__(
        self,
        vectors,
        *,
        metric: str = "cosine",
        nlist: int | None = None,
        nprobe: int | str = "auto",
        target_recall: float = 0.95,
        calibration_queries: int = 500,
        train_size: int | None = None,
        seed: int = 0,
    ):
        start = time.perf_counter()
        self.metric = check_metric(metric)
        x = _as_matrix(vectors, "vectors")
        nlist = ivf_nlist(len(x), nlist=nlist, nprobe=nprobe, target_recall=target_recall)
        self.seed = check_seed(seed)
        calibration_queries = check_int("calibration_queries", calibration_queries, min=1)
        train_size = check_int("train_size", train_size, min=1, allow_none=True)
        if metric == "cosine":
            x = normalize_rows(x)
        n, self.dim = x.shape
        self.ntotal = n
        self.nlist = nlist
        rng = np.random.default_rng(self.seed)
        train_n = min(n, train_size or 40 * self.nlist)
        train = x if train_n >= n else x[np.sort(rng.choice(n, train_n, replace=False))]
        self._index = train_ivf(train, nlist=self.nlist, metric=self.metric, seed=self.seed)
        del train
        self._index.add(x)
        self.target_recall = float(target_recall)
        self.calibrated_recall = None
        if nprobe == "auto":
            self.nprobe, self.calibrated_recall = self._calibrate(x, calibration_queries, rng)
        else:
            self.nprobe = int(min(nprobe, self.nlist))
        self._index.nprobe = self.nprobe
        self.build_seconds = time.perf_counter() - start

    @classmethod
    def from_faiss(cls, faiss_index, *, metric: str, seed: int = 0, target_recall: float = 0.95,
                   calibrated_recall: float | None = None) -> IVFIndex:
        """Wrap a trained, filled faiss ``IndexIVFFlat`` (no copy).

        Parameters
        ----------
        faiss_index : faiss.IndexIVFFlat
            ``nlist``, ``nprobe``, ``d`` and ``ntotal`` are read from it.
            Its vectors must be unit-norm for ``"cosine"``.
        metric : {"cosine", "l2"}
            ``"cosine"`` needs ``METRIC_INNER_PRODUCT``, ``"l2"`` ``METRIC_L2``.
        seed, target_recall, calibrated_recall
            Recorded in :attr:`params` (how the index was built).

        Raises
        ------
        ParameterError
            Not an ``IndexIVFFlat``, or its metric does not match ``metric``.
        """
        index = cls._wrap(faiss_index, metric, "IndexIVFFlat")
        index.nlist = int(faiss_index.nlist)
        index.nprobe = min(check_int("nprobe", int(faiss_index.nprobe), min=1), index.nlist)
        faiss_index.nprobe = index.nprobe
        index.seed = check_seed(seed)
        index.target_recall = check_real("target_recall", target_recall, min=0, max=1, closed="right")
        index.calibrated_recall = check_real("calibrated_recall", calibrated_recall, min=0, max=1, allow_none=True)
        return index

    def _calibrate(self, x: np.ndarray, m: int, rng) -> tuple[int, float]:
        n = len(x)
        m = min(m, n)
        rows = np.sort(rng.choice(n, m, replace=False))
        k = min(10, n - 1)
        exact = ExactIndex(x, metric=self.metric)  # shares x (already normalised for cosine)
        _, truth = exact.search(x[rows], k + 1)
        return calibrate_nprobe(self._index, x[rows], rows, truth, k=k, nlist=self.nlist, target_recall=self.target_recall)

    def set_nprobe(self, nprobe: int) -> None:
        """Change the number of cells visited per query."""
        self.nprobe = min(check_int("nprobe", nprobe, min=1), self.nlist)
        self._index.nprobe = self.nprobe

    @property
    def params(self) -> dict:
        return {
            "nlist": self.nlist,
            "nprobe": self.nprobe,
            "target_recall": self.target_recall,
            "calibrated_recall": self.calibrated_recall,
            "seed": self.seed,
        }

    @property
    def memory_bytes(self) -> int:
        return int(self.ntotal * (self.dim * 4 + 8) + self.nlist * self.dim * 4)

    @classmethod
    def _load(cls, folder: Path, header: dict) -> IVFIndex:
        import faiss

        p = header["params"]
        faiss_index = faiss.read_index(str(folder / "faiss.index"))
        faiss_index.nprobe = p["nprobe"]
        return cls.from_faiss(faiss_index, metric=header["metric"], seed=p["seed"], target_recall=p["target_recall"],
                              calibrated_recall=p["calibrated_recall"])


class HNSWIndex(_FaissIndex):
    """Hierarchical navigable small-world graph (faiss ``IndexHNSWFlat``).

    Parameters
    ----------
    vectors : array-like of shape (n, dim)
        The catalog's vectors.
    metric : {"cosine", "l2"}, default="cosine"
        Distance.
    M : int, default=32
        Graph degree.
    ef_construction : int, default=80
        Candidate list size while building.
    ef_search : int, default=128
        Candidate list size while searching (recall/latency trade-off).
    seed : int, default=0
        Recorded only: faiss draws HNSW levels from its own fixed-seed
        generator, so builds are already deterministic for one insertion order.

    See Also
    --------
    HNSWIndex.from_faiss : wrap an IndexHNSWFlat built elsewhere.
    """

    kind = "hnsw"

    def __init__(self, vectors, *, metric: str = "cosine", M: int = 32, ef_construction: int = 80, ef_search: int = 128, seed: int = 0):
        import faiss

        start = time.perf_counter()
        self.metric = check_metric(metric)
        x = _as_matrix(vectors, "vectors")
        if metric == "cosine":
            x = normalize_rows(x)
        self.ntotal, self.dim = x.shape
        self.M, self.ef_construction = check_int("M", M, min=2), check_int("ef_construction", ef_construction, min=1)
        self.ef_search, self.seed = check_int("ef_search", ef_search, min=1), check_seed(seed)
        index = faiss.IndexHNSWFlat(self.dim, self.M, _faiss_metric(self.metric))
        index.hnsw.efConstruction = self.ef_construction
        index.hnsw.efSearch = self.ef_search
        index.add(x)
        self._index = index
        self.build_seconds = time.perf_counter() - start

    @classmethod
    def from_faiss(cls, faiss_index, *, metric: str, seed: int = 0) -> HNSWIndex:
        """Wrap a filled faiss ``IndexHNSWFlat`` (no copy).

        ``M``, ``ef_construction`` and ``ef_search`` are read from the index;
        its vectors must be unit-norm for ``"cosine"``.

        Raises
        ------
        ParameterError
            Not an ``IndexHNSWFlat``, or its metric does not match ``metric``.
        """
        index = cls._wrap(faiss_index, metric, "IndexHNSWFlat")
        hnsw = faiss_index.hnsw
        index.M, index.ef_construction, index.ef_search = int(hnsw.nb_neighbors(1)), int(hnsw.efConstruction), int(hnsw.efSearch)
        index.seed = check_seed(seed)
        return index

    def set_ef_search(self, ef_search: int) -> None:
        """Change the search-time candidate list size."""
        self.ef_search = check_int("ef_search", ef_search, min=1)
        self._index.hnsw.efSearch = self.ef_search

    @property
    def params(self) -> dict:
        return {"M": self.M, "ef_construction": self.ef_construction, "ef_search": self.ef_search, "seed": self.seed}

    @property
    def memory_bytes(self) -> int:
        return int(self.ntotal * (self.dim * 4 + self.M * 2 * 4 * 1.1))

    @classmethod
    def _load(cls, folder: Path, header: dict) -> HNSWIndex:
        import faiss

        p = header["params"]
        faiss_index = faiss.read_index(str(folder / "faiss.index"))
        faiss_index.hnsw.efSearch = p["ef_search"]
        return cls.from_faiss(faiss_index, metric=header["metric"], seed=p["seed"])


_CLASSES = {"exact": ExactIndex, "ivf": IVFIndex, "hnsw": HNSWIndex}


def resolve_kind(kind: str, n: int) -> str:
    """The concrete index kind (``exact``/``ivf``/``hnsw``) ``kind`` means for ``n`` vectors."""
    kind = check_choice("kind", kind, KINDS)
    if kind == "auto":
        return "exact" if n <= AUTO_EXACT_MAX else ANN_KIND
    if kind == "ann":
        return ANN_KIND
    return kind


def build_index(vectors, *, kind: str = "auto", metric: str = "cosine", seed: int = 0, **options) -> VectorIndex:
    """Build a nearest-neighbour index over ``vectors``.

    Parameters
    ----------
    vectors : array-like of shape (n, dim)
        The vectors to index (float32 internally).
    kind : {"auto", "exact", "ann", "ivf", "hnsw"}, default="auto"
        ``"exact"``: :class:`ExactIndex`. ``"ann"``: the approximate index
        chosen by measurement (:data:`ANN_KIND`, IVF). ``"auto"``: exact for at
        most :data:`AUTO_EXACT_MAX` vectors, ANN above.
    metric : {"cosine", "l2"}, default="cosine"
        Distance.
    seed : int, default=0
        Seed of every random choice of the build (ignored by exact search).
    **options
        Passed to the index class (e.g. ``nlist``, ``nprobe``, ``target_recall``
        for IVF; ``M``, ``ef_search`` for HNSW).

    Returns
    -------
    VectorIndex

    Raises
    ------
    ParameterError
        Unknown ``kind`` or ``metric``, vectors that are not a finite 2-D
        array, or an invalid option (a ``ValueError`` and a ``TypeError``).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(1000, 16))
    >>> index = build_index(x)
    >>> index.kind
    'exact'
    >>> d, i = index.search(x[:2], k=3)
    >>> i[:, 0].tolist()
    [0, 1]
    """
    check_metric(metric)
    x = _as_matrix(vectors, "vectors")
    concrete = resolve_kind(kind, len(x))
    if concrete == "exact":
        return ExactIndex(x, metric=metric, **options)
    return _CLASSES[concrete](x, metric=metric, seed=seed, **options)


def load_index(folder: str | os.PathLike) -> VectorIndex:
    """Load an index written by :meth:`VectorIndex.save`.

    Raises
    ------
    MissingFileError
        ``folder`` holds no ``index.json`` (a ``FileNotFoundError``).
    ParameterError
        The header is of an unknown format or kind (a ``ValueError``).
    """
    folder = Path(folder)
    header_path = folder / "index.json"
    if not header_path.is_file():
        raise MissingFileError(f"no saved index in {str(folder)!r} (index.json is missing)")
    header = json.loads(header_path.read_text())
    if header.get("format") != _FORMAT or header.get("kind") not in _CLASSES:
        raise ParameterError(f"{str(header_path)!r} is not an attr-utils index of format {_FORMAT}")
    return _CLASSES[header["kind"]]._load(folder, header)
