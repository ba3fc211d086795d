"""Nearest-neighbour indexes over one block's vectors: exact or approximate, one API.

Two index families stand behind :class:`VectorIndex`:

* :class:`ExactIndex` -- brute force with float32 matrix products, queries
  processed in batches and the catalog in chunks, so memory stays bounded.
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
(exact) or faiss's own ``write_index`` format (IVF, HNSW).
"""

from __future__ import annotations

import json
import math
import os
import time
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from attr_utils.errors import ParameterError
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
    if not np.isfinite(arr).all():
        raise ParameterError(f"`{name}` contains NaN or infinite values")
    return np.ascontiguousarray(arr)


def check_metric(metric) -> str:
    """``metric`` if it is one of :data:`METRICS` (``"cosine"``, ``"l2"``).

    Raises
    ------
    ParameterError
        Any other value.
    """
    return check_choice("metric", metric, METRICS)


def _topk(dist: np.ndarray, k: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise k smallest of ``dist``, ties broken by the lower index (deterministic)."""
    n = dist.shape[1]
    k = min(k, n)
    if k < n:
        part = np.argpartition(dist, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n), dist.shape).copy()
    d = np.take_along_axis(dist, part, axis=1)
    order = np.lexsort((part, d), axis=1)
    return np.take_along_axis(d, order, axis=1), np.take_along_axis(part, order, axis=1) + offset


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
    """Brute-force search with float32 matrix products.

    Parameters
    ----------
    vectors : array-like of shape (n, dim)
        The catalog's vectors.
    metric : {"cosine", "l2"}, default="cosine"
        ``1 - cosine similarity`` or Euclidean distance.
    query_batch : int, default=256
        Queries scored per matrix product.
    chunk_bytes : int, default=256 MiB
        Upper bound on the score matrix of one (query batch x catalog chunk).

    Examples
    --------
    >>> import numpy as np
    >>> index = ExactIndex(np.eye(3), metric="l2")
    >>> index.search([[1, 0, 0]], k=1)[1]
    array([[0]])
    """

    kind = "exact"

    def __init__(self, vectors, *, metric: str = "cosine", query_batch: int = 256, chunk_bytes: int = 256 * 2**20):
        start = time.perf_counter()
        self.metric = check_metric(metric)
        x = _as_matrix(vectors, "vectors")
        self.vectors = normalize_rows(x) if metric == "cosine" else x
        self.ntotal, self.dim = self.vectors.shape
        self.query_batch = check_int("query_batch", query_batch, min=1)
        self.chunk_bytes = check_int("chunk_bytes", chunk_bytes, min=1)
        self._sqnorms = (self.vectors.astype(np.float64) ** 2).sum(axis=1).astype(np.float32) if metric == "l2" else None
        self.build_seconds = time.perf_counter() - start

    @property
    def memory_bytes(self) -> int:
        return int(self.vectors.nbytes + (self._sqnorms.nbytes if self._sqnorms is not None else 0))

    def distances(self, queries, rows=None) -> np.ndarray:
        """Exact distances from each query to every indexed vector (or to ``rows``)."""
        q = self._prepare_queries(queries)
        x = self.vectors if rows is None else self.vectors[rows]
        return self._dist(q, x, None if self._sqnorms is None else (self._sqnorms if rows is None else self._sqnorms[rows]))

    def _dist(self, q: np.ndarray, x: np.ndarray, sq: np.ndarray | None) -> np.ndarray:
        dots = q @ x.T
        if self.metric == "cosine":
            return np.subtract(1.0, dots, out=dots)
        d2 = (q.astype(np.float64) ** 2).sum(axis=1, keepdims=True).astype(np.float32) - 2.0 * dots + sq[None, :]
        np.maximum(d2, 0.0, out=d2)
        return np.sqrt(d2, out=d2)

    def search(self, queries, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        k = min(check_int("k", k, min=1), self.ntotal)
        q = self._prepare_queries(queries)
        out_d = np.empty((len(q), k), dtype=np.float32)
        out_i = np.empty((len(q), k), dtype=np.int64)
        chunk = max(k, self.chunk_bytes // (4 * min(self.query_batch, max(len(q), 1))))
        for s in range(0, len(q), self.query_batch):
            qb = q[s : s + self.query_batch]
            best_d = best_i = None
            for c in range(0, self.ntotal, chunk):
                x = self.vectors[c : c + chunk]
                sq = None if self._sqnorms is None else self._sqnorms[c : c + chunk]
                d, i = _topk(self._dist(qb, x, sq), k, offset=c)
                if best_d is None:
                    best_d, best_i = d, i
                else:
                    best_d, pos = _topk(np.concatenate([best_d, d], axis=1), k)
                    best_i = np.take_along_axis(np.concatenate([best_i, i], axis=1), pos, axis=1)
            out_d[s : s + len(qb)] = best_d
            out_i[s : s + len(qb)] = best_i
        return out_d, out_i

    @property
    def params(self) -> dict:
        return {"query_batch": self.query_batch}

    def _save_payload(self, folder: Path) -> None:
        np.save(folder / "vectors.npy", self.vectors, allow_pickle=False)

    @classmethod
    def _load(cls, folder: Path, header: dict) -> ExactIndex:
        vectors = np.load(folder / "vectors.npy", allow_pickle=False)
        index = cls.__new__(cls)
        index.metric = header["metric"]
        index.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        index.ntotal, index.dim = index.vectors.shape
        index.query_batch = int(header["params"].get("query_batch", 256))
        index.chunk_bytes = 256 * 2**20
        index._sqnorms = (
            (index.vectors.astype(np.float64) ** 2).sum(axis=1).astype(np.float32) if index.metric == "l2" else None
        )
        index.build_seconds = 0.0
        return index


class _FaissIndex(VectorIndex):
    """Shared search/save code of the faiss-backed indexes."""

    _index = None

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

    def _metric_type(self):
        import faiss

        return faiss.METRIC_INNER_PRODUCT if self.metric == "cosine" else faiss.METRIC_L2

    def _save_payload(self, folder: Path) -> None:
        import faiss

        faiss.write_index(self._index, str(folder / "faiss.index"))

    @property
    def memory_bytes(self) -> int:
        return int(self.ntotal * self.dim * 4)


def ivf_nlist(n: int, *, nlist=None, nprobe="auto", target_recall=0.95) -> int:
    """Validate the IVF options for ``n`` vectors; return ``nlist`` (default ``round(sqrt(n))``,
    capped so that every cell has >= 39 training points). Shared by the in-memory and the
    streamed builds, so that both make the same index."""
    if n < 2:
        raise ParameterError(f"an IVF index needs at least 2 vectors, got {n}")
    check_real("target_recall", target_recall, min=0, max=1, closed="right")
    check_int("nprobe", nprobe, min=1, allow=("auto",))
    if nlist is None:
        return int(min(max(1, n // 39), max(1, round(math.sqrt(n)))))
    return check_int("nlist", nlist, min=1, max=n)


def calibrate_nprobe(index, queries, query_rows, truth, *, k: int, nlist: int, target_recall: float) -> tuple[int, float]:
    """Smallest ``nprobe`` of a faiss IVF ``index`` whose recall@k reaches ``target_recall`` + 0.01.

    ``queries`` are catalog rows ``query_rows``; ``truth`` holds their exact
    ``k + 1`` nearest rows (themselves included, excluded when scoring).
    ``nprobe`` doubles until the aim is met, then bisects between the last
    miss and the hit; the aim is 0.01 above the target to absorb the
    sampling error of the calibration queries. Returns (nprobe, recall).
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
        then bisects back to within 1/8 of the smallest such nprobe.
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
        import faiss

        start = time.perf_counter()
        self.metric = check_metric(metric)
        x = _as_matrix(vectors, "vectors")
        nlist = ivf_nlist(len(x), nlist=nlist, nprobe=nprobe, target_recall=target_recall)
        if metric == "cosine":
            x = normalize_rows(x)
        n, self.dim = x.shape
        self.ntotal = n
        self.nlist = nlist
        self.seed = check_seed(seed)
        calibration_queries = check_int("calibration_queries", calibration_queries, min=1)
        train_size = check_int("train_size", train_size, min=1, allow_none=True)
        rng = np.random.default_rng(seed)
        train_n = min(n, train_size or 40 * self.nlist)
        train = x if train_n >= n else x[np.sort(rng.choice(n, train_n, replace=False))]
        quantizer = faiss.IndexFlatIP(self.dim) if metric == "cosine" else faiss.IndexFlatL2(self.dim)
        index = faiss.IndexIVFFlat(quantizer, self.dim, self.nlist, self._metric_type())
        index.cp.seed = self.seed
        index.cp.max_points_per_centroid = max(64, math.ceil(train_n / self.nlist))
        index.train(train)
        index.add(x)
        self._index = index
        self._quantizer = quantizer  # keep the quantizer alive alongside the index
        self.target_recall = float(target_recall)
        self.calibrated_recall = None
        if nprobe == "auto":
            self.nprobe, self.calibrated_recall = self._calibrate(x, calibration_queries, rng)
        else:
            self.nprobe = int(min(nprobe, self.nlist))
        index.nprobe = self.nprobe
        self.build_seconds = time.perf_counter() - start

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

        index = cls.__new__(cls)
        index._index = faiss.read_index(str(folder / "faiss.index"))
        index.metric, index.dim, index.ntotal = header["metric"], header["dim"], header["ntotal"]
        p = header["params"]
        index.nlist, index.nprobe, index.seed = p["nlist"], p["nprobe"], p["seed"]
        index.target_recall, index.calibrated_recall = p["target_recall"], p["calibrated_recall"]
        index._index.nprobe = index.nprobe
        index.build_seconds = 0.0
        return index


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
        index = faiss.IndexHNSWFlat(self.dim, self.M, self._metric_type())
        index.hnsw.efConstruction = self.ef_construction
        index.hnsw.efSearch = self.ef_search
        index.add(x)
        self._index = index
        self.build_seconds = time.perf_counter() - start

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

        index = cls.__new__(cls)
        index._index = faiss.read_index(str(folder / "faiss.index"))
        index.metric, index.dim, index.ntotal = header["metric"], header["dim"], header["ntotal"]
        p = header["params"]
        index.M, index.ef_construction, index.ef_search, index.seed = p["M"], p["ef_construction"], p["ef_search"], p["seed"]
        index._index.hnsw.efSearch = index.ef_search
        index.build_seconds = 0.0
        return index


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
    ValueError
        Unknown ``kind`` or ``metric``, or vectors that are not a finite 2-D array.

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
    FileNotFoundError
        ``folder`` holds no ``index.json``.
    ValueError
        The header is of an unknown format or kind.
    """
    folder = Path(folder)
    header_path = folder / "index.json"
    if not header_path.is_file():
        raise FileNotFoundError(f"no saved index in {str(folder)!r} (index.json is missing)")
    header = json.loads(header_path.read_text())
    if header.get("format") != _FORMAT or header.get("kind") not in _CLASSES:
        raise ValueError(f"{str(header_path)!r} is not an attr-utils index of format {_FORMAT}")
    return _CLASSES[header["kind"]]._load(folder, header)
