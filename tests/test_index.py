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
    index = ExactIndex(x[:800], metric=metric, query_batch=7, chunk_bytes=4 * 7 * 100)  # force batching and chunking
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
