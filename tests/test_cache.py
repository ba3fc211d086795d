"""The Parquet embedding cache: round trips, atomicity, corruption, compaction."""

from __future__ import annotations

import os
import stat
import warnings

import numpy as np
import pyarrow.parquet as pq
import pytest

from attr_utils.cache import EmbeddingCache, signature_hash
from attr_utils.errors import CacheError

DIMS = {"block1": 4, "block2": 3}
SIG = {"backbone": "toy", "weights": "random:0", "resize": "stretch"}


def _vectors(n, seed=0):
    rng = np.random.default_rng(seed)
    return {b: rng.normal(size=(n, d)).astype(np.float32) for b, d in DIMS.items()}


def test_round_trip_and_missing_rows(tmp_path):
    store = EmbeddingCache(tmp_path).store(SIG, DIMS)
    vec = _vectors(3)
    store.write(["a", "b", "c"], vec)
    found, blocks = store.get(["c", "x", "a", "a"])
    assert found.tolist() == [True, False, True, True]
    np.testing.assert_array_equal(blocks["block1"][0], vec["block1"][2])
    np.testing.assert_array_equal(blocks["block2"][2], vec["block2"][0])
    assert np.isnan(blocks["block1"][1]).all()


def test_parts_are_plain_parquet_readable_by_pyarrow(tmp_path):
    store = EmbeddingCache(tmp_path).store(SIG, DIMS)
    store.write(["a", "b"], _vectors(2))
    table = pq.read_table(store.folder)  # the folder is one dataset
    assert table.num_rows == 2 and set(table.column_names) >= {"hash", "block1", "block2"}


def test_signature_change_uses_another_folder(tmp_path):
    cache = EmbeddingCache(tmp_path)
    a = cache.store(SIG, DIMS)
    b = cache.store({**SIG, "weights": "random:1"}, DIMS)
    c = cache.store({**SIG, "resize": "pad"}, DIMS)
    assert len({a.folder, b.folder, c.folder}) == 3
    a.write(["h"], _vectors(1))
    assert not b.get(["h"])[0].any() and not c.get(["h"])[0].any()
    assert signature_hash(SIG) == signature_hash(dict(reversed(list(SIG.items()))))


def test_temporary_files_of_dead_writers_are_ignored_and_swept(tmp_path):
    store = EmbeddingCache(tmp_path).store(SIG, DIMS)
    (store.folder / ".tmp-part-123.parquet").write_bytes(b"half a file")
    store.write(["a"], _vectors(1))
    assert store.hashes() == {"a"}
    assert store.sweep_temporary(older_than=-1) == 1
    assert not list(store.folder.glob(".tmp-*"))


def test_corrupt_part_is_quarantined_not_trusted(tmp_path):
    store = EmbeddingCache(tmp_path).store(SIG, DIMS)
    store.write(["a"], _vectors(1))
    (store.folder / "part-99999999999999999999-1-deadbeef.parquet").write_bytes(b"PAR1 garbage")
    with pytest.warns(RuntimeWarning, match="unreadable"):
        assert store.hashes() == {"a"}
    assert list(store.folder.glob("_corrupt-part-*"))


def test_compaction_merges_and_drops_duplicates(tmp_path):
    store = EmbeddingCache(tmp_path).store(SIG, DIMS)
    v1, v2 = _vectors(2, seed=1), _vectors(2, seed=2)
    store.write(["a", "b"], v1)
    store.write(["b", "c"], v2)  # "b" written twice, as two concurrent writers would
    before = store.get(["a", "b", "c"])[1]
    assert store.compact()
    assert len(store.parts()) == 1
    assert pq.read_table(store.parts()[0]).num_rows == 3
    after = store.get(["a", "b", "c"])[1]
    for block in DIMS:
        np.testing.assert_array_equal(before[block], after[block])


def test_wrong_shape_is_refused(tmp_path):
    from attr_utils.errors import CacheError

    store = EmbeddingCache(tmp_path).store(SIG, DIMS)
    with pytest.raises(CacheError, match="shape"):
        store.write(["a"], {"block1": np.zeros((1, 5)), "block2": np.zeros((1, 3))})


def test_info_and_clear(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.store(SIG, DIMS).write(["a", "b"], _vectors(2))
    info = cache.info()
    assert info.loc[0, "backbone"] == "toy" and info.loc[0, "images"] == 2 and info.loc[0, "parts"] == 1
    assert cache.clear() == 1
    assert cache.info().empty


def test_compaction_skips_a_part_that_vanishes_while_it_runs(tmp_path, monkeypatch):
    store = EmbeddingCache(tmp_path).store(SIG, DIMS)
    store.write(["a"], _vectors(1, seed=1))
    store.write(["b"], _vectors(1, seed=2))
    store.write(["c"], _vectors(1, seed=3))
    vanishing = store.parts()[1]
    real_open = pq.ParquetFile

    def open_part(path, *args, **kwargs):
        if str(path) == str(vanishing):
            vanishing.unlink(missing_ok=True)
            raise FileNotFoundError(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(pq, "ParquetFile", open_part)
    assert store.compact()
    monkeypatch.undo()
    assert len(store.parts()) == 1 and store.hashes() == {"a", "c"}


# -- bounded parts: row groups and tiered, streamed compaction ----------------------------


@pytest.fixture
def small_parts(monkeypatch):
    """Row groups of 64 rows and full parts of 192 rows for DIMS (7 floats per row)."""
    import attr_utils.cache as cache

    monkeypatch.setattr(cache, "ROW_GROUP_BYTES", 4 * 4 * 64)  # widest block 4 floats -> 64 rows
    monkeypatch.setattr(cache, "PART_BYTES", 4 * 7 * 64 * 3)


def _names(n, start=0):
    return [f"h{i:05d}" for i in range(start, start + n)]


def test_row_groups_are_sized_by_the_widest_block(tmp_path, small_parts):
    store = EmbeddingCache(tmp_path).store(SIG, DIMS)
    assert (store.row_group_rows, store.part_rows) == (64, 192)
    part = store.write(_names(200), _vectors(200))
    meta = pq.ParquetFile(part).metadata
    assert [meta.row_group(g).num_rows for g in range(meta.num_row_groups)] == [64, 64, 64, 8]


def test_get_reads_the_right_rows_across_row_groups(tmp_path, small_parts):
    store = EmbeddingCache(tmp_path).store(SIG, DIMS)
    vec = _vectors(200, seed=4)
    store.write(_names(200), vec)
    picks = [199, 3, 64, 130, 63, 3]
    found, blocks = store.get([_names(200)[i] for i in picks])
    assert found.all()
    for block in DIMS:
        np.testing.assert_array_equal(blocks[block], vec[block][picks])


def test_compaction_writes_bounded_parts_and_keeps_every_row_once(tmp_path, small_parts):
    store = EmbeddingCache(tmp_path).store(SIG, DIMS)
    vec = _vectors(500, seed=5)
    for s in range(0, 500, 50):  # ten parts of 50 rows, as an embedding run writes them
        store.write(_names(50, s), {b: v[s : s + 50] for b, v in vec.items()})
    store.write(_names(30, 100), _vectors(30, seed=6))  # 30 duplicates, written later: dropped
    assert store.compact()
    rows = [pq.ParquetFile(p).metadata.num_rows for p in store.parts()]
    assert sorted(rows) == [116, 192, 192]  # two full parts and the remainder
    found, blocks = store.get(_names(500))
    assert found.all()
    for block in DIMS:
        np.testing.assert_array_equal(blocks[block], vec[block])


def test_compaction_leaves_full_parts_alone(tmp_path, small_parts):
    store = EmbeddingCache(tmp_path).store(SIG, DIMS)
    full = store.write(_names(192), _vectors(192, seed=7))
    mtime = full.stat().st_mtime_ns
    store.write(_names(10, 192), _vectors(10, seed=8))
    store.write(_names(10, 5), _vectors(10, seed=9))  # 5..14: already in the full part
    assert store.compact()
    assert full in store.parts() and full.stat().st_mtime_ns == mtime
    others = [p for p in store.parts() if p != full]
    assert len(others) == 1 and pq.read_table(others[0]).column("hash").to_pylist() == _names(10, 192)
    assert not store.compact()  # one small part left: nothing to merge


def test_compaction_that_fails_midway_loses_nothing(tmp_path, small_parts, monkeypatch):
    import attr_utils.cache as cache

    store = EmbeddingCache(tmp_path).store(SIG, DIMS)
    vec = _vectors(400, seed=10)
    for s in range(0, 400, 100):
        store.write(_names(100, s), {b: v[s : s + 100] for b, v in vec.items()})
    before = set(store.parts())
    calls = []
    real = cache._PartWriter._finish

    def finish(self):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(self)

    monkeypatch.setattr(cache._PartWriter, "_finish", finish)
    with pytest.raises(CacheError, match="No space.*no vectors are lost"):
        store.compact()
    assert before <= set(store.parts())  # the merged parts are deleted only after every new one is in place
    assert not list(store.folder.glob(".tmp-*"))
    monkeypatch.undo()
    found, blocks = store.get(_names(400))
    assert found.all()
    np.testing.assert_array_equal(blocks["block1"], vec["block1"])


def _four_parts(store, seed=10):
    vec = _vectors(400, seed=seed)
    for s in range(0, 400, 100):
        store.write(_names(100, s), {b: v[s : s + 100] for b, v in vec.items()})
    return vec


def test_compaction_quarantines_a_part_with_a_damaged_page(tmp_path, small_parts):
    store = EmbeddingCache(tmp_path).store(SIG, DIMS)
    vec = _four_parts(store)
    damaged = store.parts()[2]  # rows 200..299; row group 1 holds rows 264..299
    data = bytearray(damaged.read_bytes())
    offset = pq.ParquetFile(damaged).metadata.row_group(1).column(1).data_page_offset
    for i in range(offset + 20, offset + 200):
        data[i] ^= 0xFF  # inside a data page: the footer still reads, the page does not
    damaged.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="unreadable"):
        assert store.compact()
    assert not damaged.exists() and list(store.folder.glob("_corrupt-part-*"))
    kept = _names(264) + _names(100, 300)  # rows before the damaged row group are kept
    assert store.hashes() == set(kept)
    found, blocks = store.get(kept)
    assert found.all()
    np.testing.assert_array_equal(blocks["block1"], vec["block1"][list(range(264)) + list(range(300, 400))])


def test_compaction_failing_on_its_last_part_leaves_no_temporary_file(tmp_path, small_parts, monkeypatch):
    import attr_utils.cache as cache

    store = EmbeddingCache(tmp_path).store(SIG, DIMS)
    _four_parts(store)  # 400 rows: two full parts of 192, then the remainder of 16
    real_fsync, calls = os.fsync, []

    def fsync(fd):
        if stat.S_ISREG(os.fstat(fd).st_mode):
            calls.append(fd)
            if len(calls) == 3:
                raise OSError(28, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(cache.os, "fsync", fsync)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)  # the part's file is closed, not leaked
        with pytest.raises(CacheError, match="No space"):
            store.compact()
    monkeypatch.undo()
    assert not list(store.folder.glob(".tmp-*"))
    assert len(store.hashes()) == 400


def test_compaction_rewrites_parts_with_oversized_row_groups_once(tmp_path, small_parts):
    store = EmbeddingCache(tmp_path).store(SIG, DIMS)
    old = store.write(_names(400), _vectors(400, seed=11))
    table = pq.read_table(old)
    pq.write_table(table, old, row_group_size=400)  # as an older version wrote it: one large group
    store.write(_names(10, 400), _vectors(10, seed=12))
    assert store.compact()
    assert not old.exists()
    groups = [pq.ParquetFile(p).metadata.row_group(g).num_rows for p in store.parts() for g in range(pq.ParquetFile(p).metadata.num_row_groups)]
    assert max(groups) == 64 and sum(groups) == 410
    assert not store.compact()  # two full parts and a remainder: nothing more to do


def test_compact_if_needed_counts_only_parts_that_are_not_full(tmp_path, small_parts, monkeypatch):
    import attr_utils.cache as cache

    monkeypatch.setattr(cache, "COMPACT_THRESHOLD", 2)
    store = EmbeddingCache(tmp_path).store(SIG, DIMS)
    for s in range(0, 576, 192):
        store.write(_names(192, s), _vectors(192, seed=s))  # three full parts
    assert not store.compact_if_needed()
    store.write(_names(5, 1000), _vectors(5))
    store.write(_names(5, 1005), _vectors(5))
    assert not store.compact_if_needed()  # two small parts: not more than the threshold
    store.write(_names(5, 1010), _vectors(5))
    assert store.compact_if_needed() and len(store.parts()) == 4


def test_compact_if_needed_reports_a_failure_as_a_warning(tmp_path, monkeypatch):
    import attr_utils.cache as cache

    monkeypatch.setattr(cache, "COMPACT_THRESHOLD", 1)
    store = EmbeddingCache(tmp_path).store(SIG, DIMS)
    store.write(["a"], _vectors(1))
    store.write(["b"], _vectors(1))

    def full_disk(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache._PartWriter, "_write", full_disk)
    with pytest.warns(RuntimeWarning, match="cannot compact.*No space"):
        assert not store.compact_if_needed()
    assert store.hashes() == {"a", "b"}


# -- the public seams: one cache root, opening a folder, streaming row groups ----------------

import pyarrow as pa  # noqa: E402

from attr_utils.cache import CACHE_ENV, SignatureStore, cache_root, default_cache_dir  # noqa: E402
from attr_utils.errors import BlockError, ParameterError  # noqa: E402


def test_cache_root_order(tmp_path, monkeypatch):
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "attr-utils"  # XDG honoured (platformdirs, Linux)
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "attr-utils"  # today's default on Linux
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "env"))
    assert cache_root() == default_cache_dir() == tmp_path / "env"
    assert cache_root(tmp_path / "explicit") == tmp_path / "explicit"
    assert cache_root("~/c") == tmp_path / "home" / "c"


def test_embedding_cache_uses_cache_root(tmp_path, monkeypatch):
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    store = EmbeddingCache().store(SIG, DIMS)
    assert EmbeddingCache().root == tmp_path / "attr-utils"
    assert store.cache_root == tmp_path / "attr-utils"
    assert store.signature_id == store.folder.name and store.signature_id.startswith("toy-")
    assert store.folder == store.cache_root / "embeddings" / store.signature_id


def test_open_reads_the_signature_folder(tmp_path):
    store = EmbeddingCache(tmp_path).store(SIG, DIMS)
    opened = SignatureStore.open(str(store.folder))
    assert opened.signature == SIG and opened.dims == DIMS and opened.signature_id == store.signature_id


def test_open_without_signature_file_is_a_cache_error(tmp_path):
    with pytest.raises(CacheError, match="not a signature folder.*no _signature.json"):
        SignatureStore.open(tmp_path / "nothing")
    assert not (tmp_path / "nothing").exists()  # opening creates nothing


def test_open_with_a_corrupt_signature_file_is_a_cache_error(tmp_path):
    (tmp_path / "_signature.json").write_text("{not json")
    with pytest.raises(CacheError, match="unreadable _signature.json"):
        SignatureStore.open(tmp_path)


def test_info_still_lists_a_folder_without_signature(tmp_path):
    cache = EmbeddingCache(tmp_path)
    (cache.embeddings_dir / "stray").mkdir(parents=True)
    info = cache.info()
    assert info["folder"].tolist() == ["stray"] and info.loc[0, "backbone"] == "?"


def test_readable_parts_counts_rows_and_quarantines(tmp_path):
    store = EmbeddingCache(tmp_path).store(SIG, DIMS)
    good = store.write(["a", "b"], _vectors(2))
    bad = store.write(["c"], _vectors(1))
    bad.write_bytes(bad.read_bytes()[:30])
    with pytest.warns(RuntimeWarning, match="unreadable"):
        assert store.readable_parts() == {good: 2}
    assert not bad.exists() and list(store.folder.glob("_corrupt-*"))


def _parted_store(tmp_path, monkeypatch, rows=300):
    monkeypatch.setattr("attr_utils.cache.ROW_GROUP_BYTES", 64 * 4 * 4)  # 64 rows per row group here
    store = EmbeddingCache(tmp_path).store(SIG, DIMS)
    vec = _vectors(rows)
    store.write([f"h{i}" for i in range(200)], {b: v[:200] for b, v in vec.items()})
    store.write([f"h{i}" for i in range(200, rows)], {b: v[200:] for b, v in vec.items()})
    return store, vec


def test_iter_row_groups_streams_every_row_one_group_at_a_time(tmp_path, monkeypatch):
    store, vec = _parted_store(tmp_path, monkeypatch)
    batches = list(store.iter_row_groups(["block2", "hash"]))
    assert all(isinstance(b, pa.RecordBatch) and b.schema.names == ["block2", "hash"] for b in batches)
    assert [b.num_rows for b in batches] == [64, 64, 64, 8, 64, 36]  # the row groups of the two parts
    values = np.concatenate([b.column(0).flatten().to_numpy().reshape(-1, 3) for b in batches])
    np.testing.assert_array_equal(values, vec["block2"])
    assert sum((b.column(1).to_pylist() for b in batches), []) == [f"h{i}" for i in range(300)]


def test_iter_row_groups_batch_rows_splits_groups(tmp_path, monkeypatch):
    store, _ = _parted_store(tmp_path, monkeypatch)
    sizes = [b.num_rows for b in store.iter_row_groups(["hash"], batch_rows=50)]
    assert sizes == [50, 14, 50, 14, 50, 14, 8, 50, 14, 36] and sum(sizes) == 300


def test_iter_row_groups_reads_the_given_snapshot(tmp_path, monkeypatch):
    store, _ = _parted_store(tmp_path, monkeypatch)
    snapshot = store.readable_parts()
    store.write(["late"], _vectors(1))
    assert sum(b.num_rows for b in store.iter_row_groups(["hash"], parts=snapshot)) == 300
    assert sum(b.num_rows for b in store.iter_row_groups(["hash"])) == 301


def test_iter_row_groups_unknown_block_is_a_block_error(tmp_path):
    store = EmbeddingCache(tmp_path).store(SIG, DIMS)
    with pytest.raises(BlockError, match="no block 'block9'"):
        next(store.iter_row_groups(["hash", "block9"]))


@pytest.mark.parametrize("batch_rows", [0, 2.5, True])
def test_iter_row_groups_invalid_batch_rows(tmp_path, batch_rows):
    store = EmbeddingCache(tmp_path).store(SIG, DIMS)
    store.write(["a"], _vectors(1))
    with pytest.raises(ParameterError, match="`batch_rows` must be"):
        next(store.iter_row_groups(["hash"], batch_rows=batch_rows))


def test_compact_invalid_min_parts(tmp_path):
    with pytest.raises(ParameterError, match="`min_parts` must be >= 1"):
        EmbeddingCache(tmp_path).store(SIG, DIMS).compact(min_parts=0)
