"""analysis.result_cache: slow analyses cached on disk (Parquet + JSON, no pickle), keyed by vectors, labels and options."""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pandas as pd
import pytest

from attr_utils.analysis import probe as probe_module
from attr_utils.analysis import probe_layers
from attr_utils.analysis.result_cache import embeddings_digest, result_cache_dir
from attr_utils.embeddings import Embeddings


def _emb(shift: float = 0.0) -> Embeddings:
    rng = np.random.default_rng(0)
    labels = np.repeat(["red", "green", "blue"], 10)
    centre = {"red": 0.0, "green": 2.0, "blue": 4.0}
    first = rng.normal(size=(30, 4)) + np.array([centre[v] for v in labels])[:, None] + shift
    return Embeddings.from_arrays({"block1": first, "block2": rng.normal(size=(30, 6))}, {"color": labels},
                                  backbone="efficientnet-lite0", weights="imagenet")


def _boom(*args, **kwargs):
    raise AssertionError("recomputed although cached")


def _same(a, b):
    for field in ("folds", "summary", "comparisons"):
        pd.testing.assert_frame_equal(getattr(a, field), getattr(b, field))
    assert a.to_dict() == b.to_dict()
    assert a.summary.attrs["label"] == b.summary.attrs["label"] == "color"


def test_a_second_probe_is_read_from_disk_identical(tmp_path, monkeypatch):
    emb = _emb()
    first = probe_layers(emb, "color", folds=3, cache_dir=tmp_path)
    monkeypatch.setattr(probe_module, "stratified_folds", _boom)
    again = probe_layers(emb, "color", folds=3, cache_dir=tmp_path)
    _same(first, again)
    assert again.best("knn") == first.best("knn") == "block1"
    assert isinstance(again.summary["fold_accuracies"].iloc[0], list)
    files = {p.suffix for p in (result_cache_dir(tmp_path) / "probe_layers").rglob("*") if p.is_file()}
    assert files == {".parquet", ".json"}  # nothing pickled


@pytest.mark.parametrize(
    ("change", "options"),
    [("seed", {"seed": 1}), ("folds", {"folds": 2}), ("probes", {"probes": "knn"}), ("vectors", {})],
)
def test_another_input_or_option_is_computed_not_served(tmp_path, monkeypatch, change, options):
    probe_layers(_emb(), "color", folds=3, cache_dir=tmp_path)
    emb = _emb(shift=0.5) if change == "vectors" else _emb()
    calls = []
    real = probe_module.stratified_folds
    monkeypatch.setattr(probe_module, "stratified_folds", lambda *a, **k: calls.append(1) or real(*a, **k))
    probe_layers(emb, "color", **{"folds": 3, **options}, cache_dir=tmp_path)
    assert calls == [1]


def test_cache_false_always_computes(tmp_path, monkeypatch):
    probe_layers(_emb(), "color", folds=3, cache_dir=tmp_path)
    monkeypatch.setattr(probe_module, "stratified_folds", _boom)
    with pytest.raises(AssertionError, match="recomputed"):
        probe_layers(_emb(), "color", folds=3, cache=False, cache_dir=tmp_path)


def test_an_unreadable_entry_is_recomputed(tmp_path):
    first = probe_layers(_emb(), "color", folds=3, cache_dir=tmp_path)
    for meta in (result_cache_dir(tmp_path) / "probe_layers").rglob("meta.json"):
        meta.write_text("{not json")
    _same(first, probe_layers(_emb(), "color", folds=3, cache_dir=tmp_path))


def test_the_digest_follows_vectors_labels_and_provenance():
    base = _emb()
    assert embeddings_digest(base) == embeddings_digest(_emb())
    assert embeddings_digest(base) != embeddings_digest(_emb(shift=1e-3))
    relabelled = dataclasses.replace(base, table=base.table.assign(color=base.table["color"][::-1].to_numpy()))
    assert embeddings_digest(base) != embeddings_digest(relabelled)
    assert embeddings_digest(base) != embeddings_digest(dataclasses.replace(base, weights="random:0", pretrained=False))


def test_the_signature_shows_the_cache_options():
    params = inspect.signature(probe_layers).parameters
    assert params["cache"].default is True and params["cache_dir"].default is None
    assert params["cache"].kind is inspect.Parameter.KEYWORD_ONLY


def test_a_cka_matrix_is_read_from_disk_identical(tmp_path, monkeypatch):
    from attr_utils.analysis import cka as cka_module
    from attr_utils.analysis import cka_matrix

    emb = _emb()
    first = cka_matrix(emb, cache_dir=tmp_path)
    monkeypatch.setattr(cka_module, "linear_cka", _boom)
    again = cka_matrix(emb, cache_dir=tmp_path)
    pd.testing.assert_frame_equal(first, again)
    assert again.index.name == "tap" and again.columns.name == "other_tap" and again.attrs == first.attrs
    with pytest.raises(AssertionError, match="recomputed"):  # another Embeddings as `other`: its own entry
        cka_matrix(emb, _emb(shift=1.0), cache_dir=tmp_path)


def test_clustering_and_sweep_tables_are_cached_where_their_umap_coordinates_are(tmp_path, monkeypatch):
    from attr_utils.analysis import clustering_metrics, reduction_sweep
    from attr_utils.analysis import umap_cache

    emb = _emb()
    table = clustering_metrics(emb, "color", space="both", min_cluster_size=5, umap_neighbors=5, cache_dir=tmp_path)
    sweep = reduction_sweep(emb, "color", block="block2", dims=[2], folds=3, n_neighbors=5, cache_dir=tmp_path)
    assert (result_cache_dir(tmp_path) / "clustering_metrics").is_dir()
    assert (result_cache_dir(tmp_path) / "reduction_sweep").is_dir()
    assert any((tmp_path / "umap").rglob("*.npz"))  # cache_dir reached the UMAP coordinates too
    monkeypatch.setattr(umap_cache, "cached_umap", _boom)
    pd.testing.assert_frame_equal(
        table, clustering_metrics(emb, "color", space="both", min_cluster_size=5, umap_neighbors=5, cache_dir=tmp_path))
    again = reduction_sweep(emb, "color", block="block2", dims=[2], folds=3, n_neighbors=5, cache_dir=tmp_path)
    pd.testing.assert_frame_equal(sweep, again)
    assert again.attrs == sweep.attrs


def test_block_accuracy_is_cached_and_warns_again_when_read(tmp_path, monkeypatch):
    """A cached result raises the warnings its computation raised (here: a class too small to stratify)."""
    from attr_utils.analysis import accuracy as accuracy_module
    from attr_utils.analysis import block_accuracy

    base = _emb()
    keep = np.r_[0:30][np.r_[np.ones(28, bool), [False, False]]]  # blue keeps 8 of 10
    small = base.subset(np.r_[keep[:10], keep[10:20], keep[20:22]])  # blue: 2 items < 3 folds
    with pytest.warns(UserWarning, match="blue") as first_warnings:
        first = block_accuracy(small, "color", folds=3, drop_small_classes=True, cache_dir=tmp_path)
    monkeypatch.setattr(accuracy_module, "stratified_folds", _boom)
    with pytest.warns(UserWarning, match="blue") as again_warnings:
        again = block_accuracy(small, "color", folds=3, drop_small_classes=True, cache_dir=tmp_path)
    pd.testing.assert_frame_equal(first, again)
    assert again.attrs == first.attrs
    assert [str(w.message) for w in again_warnings] == [str(w.message) for w in first_warnings]
