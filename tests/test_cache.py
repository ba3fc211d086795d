"""The Parquet embedding cache: round trips, atomicity, corruption, compaction."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from attr_utils.cache import EmbeddingCache, signature_hash

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
    real_read = pq.read_table

    def read(path, *args, **kwargs):
        if str(path) == str(vanishing):
            vanishing.unlink()
            raise FileNotFoundError(path)
        return real_read(path, *args, **kwargs)

    monkeypatch.setattr(pq, "read_table", read)
    assert store.compact()
    monkeypatch.undo()
    assert len(store.parts()) == 1 and store.hashes() == {"a", "c"}
