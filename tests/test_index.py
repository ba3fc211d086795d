"""Exact and approximate nearest-neighbour indexes (attr_utils.retrieval.index)."""

from __future__ import annotations

import numpy as np
import pytest

from attr_utils.retrieval.index import (
    AUTO_EXACT_MAX,
    ExactIndex,
    HNSWIndex,
    IVFIndex,
    build_index,
    load_index,
    normalize_rows,
    resolve_kind,
)


@pytest.fixture(scope="module")
def clustered():
    """5,000 unit vectors in 40 Gaussian clusters (64 dims) and 100 held-out queries."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(40, 64))
    x = centres[rng.integers(40, size=5100)] + 0.3 * rng.normal(size=(5100, 64))
    return x[:5000].astype(np.float32), x[5000:].astype(np.float32)


def brute_force(x, q, k, metric):
    if metric == "cosine":
        xn = x / np.linalg.norm(x, axis=1, keepdims=True)
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        d = 1 - qn.astype(np.float64) @ xn.T.astype(np.float64)
    else:
        d = np.sqrt(((q[:, None, :].astype(np.float64) - x[None].astype(np.float64)) ** 2).sum(-1))
    return np.argsort(d, axis=1, kind="stable")[:, :k], np.sort(d, axis=1)[:, :k]


def recall_at(truth, found):
    return np.mean([len(set(t) & set(f)) / len(t) for t, f in zip(truth, found)])


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_exact_index_matches_brute_force(clustered, metric):
    x, q = clustered
    index = ExactIndex(x[:800], metric=metric, query_batch=7)  # force batching
    d, i = index.search(q, k=10)
    truth_i, truth_d = brute_force(x[:800], q, 10, metric)
    assert recall_at(truth_i, i) == 1.0
    np.testing.assert_allclose(d, truth_d, atol=2e-4)
    assert d.dtype == np.float32 and i.dtype == np.int64
    assert np.all(np.diff(d, axis=1) >= 0)


def test_exact_index_query_finds_itself_first(clustered):
    x, _ = clustered
    d, i = ExactIndex(x).search(x[:50], k=3)
    np.testing.assert_array_equal(i[:, 0], np.arange(50))
    assert np.all(d[:, 0] < 1e-5)


def test_exact_index_caps_k_at_catalog_size():
    d, i = ExactIndex(np.eye(3)).search(np.eye(3)[:1], k=10)
    assert i.shape == (1, 3)
    assert sorted(i[0].tolist()) == [0, 1, 2]


def test_exact_ties_broken_by_lower_row():
    x = np.ones((6, 4), dtype=np.float32)
    _, i = ExactIndex(x).search(x[:1], k=4)
    assert i[0].tolist() == [0, 1, 2, 3]


def test_ivf_recall_against_exact(clustered):
    x, q = clustered
    index = build_index(x, kind="ann", seed=0)
    assert isinstance(index, IVFIndex)
    truth = ExactIndex(x).search(q, 10)[1]
    found = index.search(q, 10)[1]
    assert index.calibrated_recall >= 0.95
    assert recall_at(truth, found) >= 0.9
    assert index.nprobe <= index.nlist


def test_ivf_fixed_nprobe_full_scan_is_exact(clustered):
    x, q = clustered
    index = IVFIndex(x, nlist=16, nprobe=16, seed=0)
    truth = ExactIndex(x).search(q, 10)[1]
    assert recall_at(truth, index.search(q, 10)[1]) == 1.0


def test_ivf_is_deterministic_for_a_seed(clustered):
    x, q = clustered
    a = IVFIndex(x, seed=3).search(q, 10)
    b = IVFIndex(x, seed=3).search(q, 10)
    np.testing.assert_array_equal(a[1], b[1])


def test_hnsw_recall_against_exact(clustered):
    x, q = clustered
    index = build_index(x, kind="hnsw")
    assert isinstance(index, HNSWIndex)
    truth = ExactIndex(x).search(q, 10)[1]
    assert recall_at(truth, index.search(q, 10)[1]) >= 0.95


def test_auto_kind_threshold():
    assert resolve_kind("auto", AUTO_EXACT_MAX) == "exact"
    assert resolve_kind("auto", AUTO_EXACT_MAX + 1) == "ivf"
    assert resolve_kind("ann", 10) == "ivf"
    assert build_index(np.random.default_rng(0).normal(size=(50, 8))).kind == "exact"


@pytest.mark.parametrize("kind", ["exact", "ivf", "hnsw"])
def test_save_load_round_trip(tmp_path, clustered, kind):
    x, q = clustered
    index = build_index(x[:2000], kind=kind, seed=0)
    before = index.search(q, 10)
    index.save(tmp_path / kind)
    assert not list((tmp_path / kind).glob("*.pkl"))
    loaded = load_index(tmp_path / kind)
    assert loaded.kind == index.kind and loaded.params == index.params
    after = loaded.search(q, 10)
    np.testing.assert_array_equal(before[1], after[1])
    np.testing.assert_allclose(before[0], after[0], atol=1e-6)


def test_load_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_index(tmp_path / "nothing")


def test_load_foreign_header(tmp_path):
    (tmp_path / "index.json").write_text('{"format": 99, "kind": "exact"}')
    with pytest.raises(ValueError):
        load_index(tmp_path)


def test_normalize_rows_keeps_zero_rows_and_does_not_modify_input():
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    out = normalize_rows(x)
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)
    assert x[0, 0] == 3.0


# -- invalid parameters: one test each ------------------------------------------
def test_unknown_kind():
    with pytest.raises(ValueError):
        build_index(np.eye(4), kind="annoy")


def test_unknown_metric():
    with pytest.raises(ValueError):
        build_index(np.eye(4), metric="manhattan")


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_invalid_k(k):
    with pytest.raises(ValueError):
        ExactIndex(np.eye(4)).search(np.eye(4)[:1], k=k)


def test_query_dimension_mismatch():
    with pytest.raises(ValueError):
        ExactIndex(np.eye(4)).search(np.ones((1, 3)), k=1)


def test_non_finite_vectors():
    x = np.eye(4)
    x[0, 0] = np.nan
    with pytest.raises(ValueError):
        build_index(x)


def test_vectors_not_2d():
    with pytest.raises(ValueError):
        build_index(np.zeros((2, 3, 4)))


def test_invalid_nprobe(clustered):
    with pytest.raises(ValueError):
        IVFIndex(clustered[0][:500], nprobe=0)


def test_invalid_nlist(clustered):
    with pytest.raises(ValueError):
        IVFIndex(clustered[0][:500], nlist=10_000)


def test_invalid_target_recall(clustered):
    with pytest.raises(ValueError):
        IVFIndex(clustered[0][:500], target_recall=1.5)


# -- public constructors and helpers (no __new__ outside the classes) --------------------
import faiss  # noqa: E402

from attr_utils.errors import MissingFileError, ParameterError  # noqa: E402
from attr_utils.retrieval.index import check_metric, train_ivf  # noqa: E402


def test_exact_ties_broken_by_lower_row_for_l2_and_beyond_the_first_block():
    x = np.ones((3000, 4), dtype=np.float32)  # more rows than one faiss block (1024)
    d, i = ExactIndex(x, metric="l2").search(x[:2], k=5)
    assert i.tolist() == [[0, 1, 2, 3, 4]] * 2 and np.all(d == 0)


def test_exact_search_of_many_queries_equals_one_by_one(clustered):
    x, q = clustered
    index = ExactIndex(x)
    d, i = index.search(q, k=7)  # >= 20 queries: faiss's BLAS path
    for j in (0, 13, 99):  # one query: faiss's direct path
        dj, ij = index.search(q[j], k=7)
        np.testing.assert_array_equal(ij[0], i[j])
        np.testing.assert_allclose(dj[0], d[j], atol=1e-5)


def test_from_normalized_takes_the_array_without_a_copy():
    x = normalize_rows(np.random.default_rng(0).normal(size=(50, 8)))
    index = ExactIndex.from_normalized(x, metric="cosine")
    assert index.vectors is x and index.ntotal == 50 and index.dim == 8
    np.testing.assert_array_equal(index.search(x[:3], k=1)[1][:, 0], [0, 1, 2])
    raw = np.random.default_rng(1).normal(size=(5, 8)).astype(np.float32)
    assert ExactIndex.from_normalized(raw, metric="l2").vectors is raw


def test_from_normalized_refuses_rows_that_are_not_unit_norm():
    with pytest.raises(ParameterError, match="unit-norm"):
        ExactIndex.from_normalized(np.full((4, 3), 2.0, np.float32), metric="cosine")


@pytest.mark.parametrize("bad", [np.eye(3), np.eye(3, dtype=np.float32)[:, :2], [[1.0, 0.0]]])
def test_from_normalized_refuses_arrays_it_would_have_to_copy(bad):
    with pytest.raises(ParameterError, match="C-contiguous float32"):
        ExactIndex.from_normalized(bad, metric="l2")


def test_chunk_bytes_is_deprecated_and_ignored():
    with pytest.warns(DeprecationWarning, match="`chunk_bytes` is ignored"):
        index = ExactIndex(np.eye(3), chunk_bytes=1 << 20)
    assert index.params == {"query_batch": 4096}


def test_train_ivf_is_the_in_memory_quantizer(clustered):
    x, q = clustered
    built = IVFIndex(x, nlist=16, nprobe=4, train_size=640, seed=5)
    rows = np.sort(np.random.default_rng(5).choice(len(x), 640, replace=False))
    trained = train_ivf(x[rows], nlist=16, metric="cosine", seed=5)
    assert trained.is_trained and trained.ntotal == 0 and trained.nlist == 16
    np.testing.assert_array_equal(trained.quantizer.reconstruct_n(0, 16), built.faiss_index.quantizer.reconstruct_n(0, 16))


def test_ivf_from_faiss_wraps_without_copy(clustered):
    x, q = clustered
    xn = normalize_rows(x)
    raw = train_ivf(xn, nlist=16, metric="cosine", seed=0)
    raw.add(xn)
    raw.nprobe = 16
    index = IVFIndex.from_faiss(raw, metric="cosine", seed=0)
    assert index.faiss_index is raw and index.ntotal == 5000 and index.dim == 64
    assert index.params == {"nlist": 16, "nprobe": 16, "target_recall": 0.95, "calibrated_recall": None, "seed": 0}
    truth = ExactIndex(x).search(q, 10)[1]
    assert recall_at(truth, index.search(q, 10)[1]) == 1.0  # every cell visited: exact


def test_hnsw_from_faiss_reads_its_parameters():
    raw = faiss.IndexHNSWFlat(8, 16, faiss.METRIC_L2)
    raw.hnsw.efConstruction, raw.hnsw.efSearch = 40, 64
    raw.add(np.random.default_rng(0).normal(size=(100, 8)).astype(np.float32))
    index = HNSWIndex.from_faiss(raw, metric="l2", seed=3)
    assert index.params == {"M": 16, "ef_construction": 40, "ef_search": 64, "seed": 3} and index.ntotal == 100


def test_from_faiss_refuses_a_mismatched_metric():
    raw = faiss.IndexHNSWFlat(8, 16, faiss.METRIC_L2)
    with pytest.raises(ParameterError, match="METRIC_INNER_PRODUCT"):
        HNSWIndex.from_faiss(raw, metric="cosine")


def test_from_faiss_refuses_another_index_type():
    with pytest.raises(ParameterError, match="must be a faiss.IndexIVFFlat"):
        IVFIndex.from_faiss(faiss.IndexFlatL2(8), metric="l2")


def test_check_metric_is_public():
    assert check_metric("l2") == "l2"
    with pytest.raises(ParameterError, match="`metric` must be one of 'cosine', 'l2'"):
        check_metric("manhattan")


def test_load_missing_folder_is_a_missing_file_error(tmp_path):
    with pytest.raises(MissingFileError, match="index.json is missing"):
        load_index(tmp_path / "nothing")


@pytest.mark.parametrize("k", [0, 2.5])
def test_invalid_k_is_a_parameter_error(k):
    with pytest.raises(ParameterError, match="`k` must be"):
        ExactIndex(np.eye(4)).search(np.eye(4)[:1], k=k)


def test_numpy_integer_options_are_accepted(clustered):
    index = IVFIndex(clustered[0][:500], nlist=np.int64(4), nprobe=np.int32(2), seed=np.int64(1))
    assert index.params["nlist"] == 4 and index.nprobe == 2 and type(index.seed) is int
    assert index.search(clustered[1][:2], k=np.int64(3))[1].shape == (2, 3)


def test_invalid_seed():
    with pytest.raises(ParameterError, match="`seed` must be >= 0"):
        IVFIndex(np.random.default_rng(0).normal(size=(100, 4)), seed=-1)


def test_invalid_query_batch():
    with pytest.raises(ParameterError, match="`query_batch` must be >= 1"):
        ExactIndex(np.eye(3), query_batch=0)


def test_invalid_ef_search():
    with pytest.raises(ParameterError, match="`ef_search` must be an integer >= 1"):
        HNSWIndex(np.eye(4), ef_search="many")


@pytest.mark.parametrize("metric", ["cosine", "l2"])
@pytest.mark.parametrize("n_queries", [1, 100, 2100])  # numpy products + ResultHeap (1, 100), faiss.knn's BLAS path (2100)
def test_exact_search_paths_match_brute_force(metric, n_queries):
    rng = np.random.default_rng(n_queries)
    x = rng.normal(size=(1500, 64)).astype(np.float32)
    q = rng.normal(size=(n_queries, 64)).astype(np.float32)
    d, i = ExactIndex(x, metric=metric).search(q, k=6)
    truth_i, truth_d = brute_force(x, q, 6, metric)
    # float32 scores: rows whose float64 distances differ by < 1e-6 may swap (0.1's numpy path did too)
    assert (i == truth_i).mean() > 0.999 and recall_at(truth_i, i) > 0.999
    np.testing.assert_allclose(d, truth_d, atol=2e-4)


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_exact_ties_lower_row_first_on_every_path(metric):
    x = np.ones((3000, 64), dtype=np.float32)
    for n_queries in (1, 50, 2000):  # 2000 x 64 reaches faiss's BLAS threshold (128,000)
        _, i = ExactIndex(x, metric=metric).search(np.ones((n_queries, 64)), k=4)
        assert (i == [0, 1, 2, 3]).all(), n_queries
