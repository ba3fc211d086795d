"""Streaming one block out of the Parquet cache: same vectors, deduplicated, bounded memory."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from attr_utils.cache import EmbeddingCache
from attr_utils.errors import CacheError
from attr_utils.retrieval.index import ExactIndex, IVFIndex, build_index
from attr_utils.retrieval.index_from_cache import build_index_from_cache, iter_block_batches, load_block

DIMS = {"small": 8, "big": 32}


def _hash(i: int) -> str:
    """Zero-padded, so every hash shares its first 16 hex digits: exercises the exact path behind the 64-bit keys."""
    return f"{i:064x}"


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    """5 parts of 120 rows, then a part repeating 40 of those hashes with other values (a second writer)."""
    store = EmbeddingCache(tmp_path_factory.mktemp("stream-cache")).store({"backbone": "synthetic"}, DIMS)
    rng = np.random.default_rng(0)
    # clustered vectors, so that an IVF index has structure to find
    centres = rng.normal(size=(6, DIMS["small"])).astype(np.float32) * 4
    small, big = [], []
    for p in range(5):
        s = centres[rng.integers(0, 6, 120)] + rng.normal(size=(120, DIMS["small"])).astype(np.float32)
        b = rng.normal(size=(120, DIMS["big"])).astype(np.float32)
        store.write([_hash(p * 120 + i) for i in range(120)], {"small": s, "big": b})
        small.append(s)
        big.append(b)
    store.write([_hash(i) for i in range(0, 80, 2)], {"small": np.full((40, 8), 9.0, np.float32), "big": np.zeros((40, 32), np.float32)})
    return store, np.concatenate(small), np.concatenate(big)


def test_load_block_is_every_image_once_first_copy_wins(catalog):
    store, small, big = catalog
    hashes, vectors = load_block(store, "small")
    assert list(hashes) == [_hash(i) for i in range(600)]
    assert vectors.dtype == np.float32 and vectors.flags.c_contiguous
    np.testing.assert_array_equal(vectors, small)
    np.testing.assert_array_equal(load_block(store.folder, "big")[1], big)


@pytest.mark.parametrize("batch_rows", [1, 7, 120, 100_000])
def test_batch_size_does_not_change_the_result(catalog, batch_rows):
    store, small, _ = catalog
    np.testing.assert_array_equal(load_block(store, "small", batch_rows=batch_rows)[1], small)


def test_iter_block_batches_yields_the_stored_rows(catalog):
    store, small, _ = catalog
    batches = list(iter_block_batches(store, "small", batch_rows=50))
    assert sum(len(h) for h, _ in batches) == 640  # duplicates included: this is the raw stream
    assert all(v.shape[1] == 8 and v.dtype == np.float32 for _, v in batches)
    np.testing.assert_array_equal(np.concatenate([v for _, v in batches])[:600], small)


def test_requested_hashes_come_back_in_their_order(catalog):
    store, small, _ = catalog
    wanted = [_hash(7), _hash(599), _hash(3), _hash(7)]
    hashes, vectors = load_block(store, "small", hashes=wanted)
    assert list(hashes) == wanted
    np.testing.assert_array_equal(vectors, small[[7, 599, 3, 7]])


def test_missing_requested_hash_is_a_cache_error(catalog):
    store, _, _ = catalog
    with pytest.raises(CacheError, match="1 of the 2 requested hashes are not in"):
        load_block(store, "small", hashes=[_hash(1), _hash(10_000)])


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_exact_index_equals_the_in_memory_build(catalog, metric):
    store, small, _ = catalog
    index, hashes = build_index_from_cache(store, "small", kind="exact", metric=metric, batch_rows=64)
    reference = build_index(small, kind="exact", metric=metric)
    assert isinstance(index, ExactIndex) and index.ntotal == 600 and len(hashes) == 600
    queries = np.random.default_rng(1).normal(size=(20, 8))
    d, i = index.search(queries, k=5)
    d_ref, i_ref = reference.search(queries, k=5)
    np.testing.assert_array_equal(i, i_ref)
    np.testing.assert_allclose(d, d_ref, rtol=1e-5, atol=1e-5)


def test_ivf_index_equals_the_in_memory_build(catalog, tmp_path):
    store, small, _ = catalog
    index, _ = build_index_from_cache(store, "small", kind="ivf", seed=3, batch_rows=100)
    reference = build_index(small, kind="ivf", seed=3)
    assert isinstance(index, IVFIndex) and index.params == reference.params
    queries = small[::17] + 0.01
    np.testing.assert_array_equal(index.search(queries, k=5)[1], reference.search(queries, k=5)[1])
    # the streamed index saves and loads like any other
    from attr_utils.retrieval.index import load_index

    loaded = load_index(index.save(tmp_path / "ivf"))
    np.testing.assert_array_equal(loaded.search(queries, k=5)[1], reference.search(queries, k=5)[1])


def test_ivf_with_fixed_nprobe(catalog):
    store, _, _ = catalog
    index, _ = build_index_from_cache(store, "small", kind="ivf", nlist=4, nprobe=2)
    assert index.nlist == 4 and index.nprobe == 2 and index.calibrated_recall is None


def test_corrupt_part_is_quarantined_and_skipped(tmp_path):
    store = EmbeddingCache(tmp_path).store({"backbone": "synthetic"}, {"small": 8})
    store.write([_hash(1)], {"small": np.ones((1, 8), np.float32)})
    bad = store.write([_hash(2)], {"small": np.ones((1, 8), np.float32)})
    bad.write_bytes(bad.read_bytes()[:40])
    with pytest.warns(RuntimeWarning, match="unreadable"):
        hashes, vectors = load_block(store, "small")
    assert list(hashes) == [_hash(1)] and not bad.exists()


def test_unknown_block(catalog):
    with pytest.raises(KeyError, match="no block 'block9'"):
        load_block(catalog[0], "block9")


@pytest.mark.parametrize("batch_rows", [0, -1, 2.5, True])
def test_invalid_batch_rows(catalog, batch_rows):
    with pytest.raises(ValueError, match="`batch_rows` must be"):
        load_block(catalog[0], "small", batch_rows=batch_rows)


def test_not_a_signature_folder(tmp_path):
    with pytest.raises(CacheError, match="not a signature folder"):
        load_block(tmp_path, "small")


def test_invalid_source_type():
    with pytest.raises(TypeError, match="`source` must be"):
        load_block(42, "small")


def test_invalid_kind(catalog):
    with pytest.raises(ValueError, match="`kind` must be one of"):
        build_index_from_cache(catalog[0], "small", kind="annoy")


# -- memory, measured in a fresh process -----------------------------------------------

MEMORY_JOB = Path(__file__).resolve().parents[1] / "benchmarks" / "streaming_memory_job.py"


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "options"), [("exact", {}), ("ivf", {"nlist": 64})])
def test_peak_memory_is_the_vectors_plus_a_quarter(tmp_path_factory, kind, options):
    """Issue 8's bound, above a warm baseline: building the index peaks at <= 1.25x the vectors'
    size (a build that loaded the block and then built from the array would peak at >= 2x).

    Warm: the same build on 2,000 rows runs first, so one-time library initialisation (code
    pages, the allocators' first arenas; ~30-60 MB, ~10-20 % of these vectors) is not charged
    to the catalog; above the cold baseline the bound asserted is 1.5x.
    Seen here at 246 MB of vectors: exact 1.07x, IVF 1.05x warm; 1.18x and 1.24x cold.
    """
    folder = tmp_path_factory.getbasetemp() / "stream-memory"
    store = EmbeddingCache(folder).store({"backbone": "synthetic"}, {"block4": 1024})
    rows = 60_000  # 246 MB of float32
    if not store.parts():
        rng = np.random.default_rng(0)
        for s in range(0, rows, 2048):
            m = min(2048, rows - s)
            hashes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(s, s + m)]
            store.write(hashes, {"block4": rng.standard_normal((m, 1024), dtype=np.float32)})
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run([sys.executable, str(MEMORY_JOB), str(store.folder), "block4", kind, json.dumps({"batch_rows": 2048, **options})],
                         env=env, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result["rows"] == rows and result["vectors_bytes"] == rows * 1024 * 4
    assert result["warm_extra_bytes"] <= 1.25 * result["vectors_bytes"], result
    assert result["cold_extra_bytes"] <= 1.5 * result["vectors_bytes"], result


def test_ivf_default_nlist_is_the_in_memory_default(tmp_path):
    """Above 1,521 rows the 39-points-per-cell cap no longer binds: both builds pick round(sqrt(n))."""
    store = EmbeddingCache(tmp_path).store({"backbone": "synthetic"}, {"small": 8})
    x = np.random.default_rng(2).normal(size=(2500, 8)).astype(np.float32)
    store.write([_hash(i) for i in range(2500)], {"small": x})
    index, _ = build_index_from_cache(store, "small", kind="ivf", nprobe=1)
    assert index.nlist == build_index(x, kind="ivf", nprobe=1).nlist == 50


# -- public seams only: errors of the family, the l2 ground truth through faiss.ResultHeap ----------
from attr_utils.errors import BlockError, ParameterError  # noqa: E402


def test_unknown_block_is_a_block_error(catalog):
    with pytest.raises(BlockError, match="no block 'block9' in synthetic-"):
        build_index_from_cache(catalog[0], "block9")


def test_invalid_source_type_is_a_parameter_error():
    with pytest.raises(ParameterError, match="`source` must be"):
        iter_block_batches(42, "small").__next__()


def test_repeated_hashes_for_ivf_is_a_parameter_error(catalog):
    with pytest.raises(ParameterError, match="must not repeat a hash"):
        build_index_from_cache(catalog[0], "small", kind="ivf", hashes=[_hash(1), _hash(1), _hash(2)])


def test_invalid_metric_is_a_parameter_error(catalog):
    with pytest.raises(ParameterError, match="`metric` must be one of"):
        build_index_from_cache(catalog[0], "small", metric="manhattan")


def test_ivf_l2_calibration_equals_the_in_memory_build(catalog):
    """The streamed ground truth (faiss.knn per batch, merged by a ResultHeap keeping the smallest
    squared L2) gives the same calibrated nprobe and recall as the in-memory exact search."""
    store, small, _ = catalog
    index, _ = build_index_from_cache(store, "small", kind="ivf", metric="l2", seed=1, batch_rows=37)
    reference = build_index(small, kind="ivf", metric="l2", seed=1)
    assert index.params == reference.params and index.calibrated_recall is not None
    queries = small[::13] + 0.01
    np.testing.assert_array_equal(index.search(queries, k=5)[1], reference.search(queries, k=5)[1])


def test_exact_from_cache_accepts_numpy_options_and_warns_on_chunk_bytes(catalog):
    store, small, _ = catalog
    with pytest.warns(DeprecationWarning, match="`chunk_bytes` is ignored"):
        index, _ = build_index_from_cache(store, "small", kind="exact", seed=np.int64(0), batch_rows=np.int64(64),
                                          query_batch=np.int64(5), chunk_bytes=1024)
    assert index.params == {"query_batch": 5} and index.build_seconds > 0
    np.testing.assert_array_equal(index.search(small[:3], k=1)[1][:, 0], [0, 1, 2])
