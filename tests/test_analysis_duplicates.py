"""Duplicate-aware splits (issue 12, items 1, 7, 8): copies never straddle train and test."""

from __future__ import annotations

import numpy as np
import pytest

from attr_utils.analysis import block_accuracy, clustering_metrics, reduction_sweep, umap_embedding
from attr_utils.analysis import umap_cache
from attr_utils.analysis.accuracy import stratified_folds
from attr_utils.retrieval.extractor import AttributeExtractor
from attr_utils.duplicates import content_groups
from attr_utils.embeddings import Embeddings
from attr_utils.errors import DatasetError, ParameterError

SEEDS = range(5)


def noise_pairs(seed: int, *, n: int = 20, dim: int = 64, jitter: float = 0.0) -> Embeddings:
    """``n`` random-noise images with random labels a/b, each listed twice.

    ``jitter=0``: byte-identical copies (same content hash). ``jitter>0``: a
    near copy (re-encoded: another hash, a slightly different vector).
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim))
    labels = rng.choice(["a", "b"], n)
    copies = x + jitter * rng.normal(size=x.shape)
    emb = Embeddings.from_arrays({"b1": np.vstack([x, copies])}, {"color": np.concatenate([labels, labels])})
    hashes = [f"h{i}" for i in range(n)]
    emb.table["hash"] = hashes + (hashes if jitter == 0 else [f"re{i}" for i in range(n)])
    return emb


def mean_accuracy(make, **kwargs) -> float:
    return float(np.mean([block_accuracy(make(s), "color", k=1, **kwargs)["accuracy"].mean() for s in SEEDS]))


# chance is 0.5; 5 seeds x 20 distinct images: standard error about sqrt(0.25 / 100) = 0.05
def test_exact_copies_do_not_leak_under_hash_groups():
    assert abs(mean_accuracy(noise_pairs) - 0.5) < 0.15


def test_exact_copies_leak_under_the_papers_protocol():
    assert mean_accuracy(noise_pairs, groups=None) > 0.85


def test_near_copies_are_grouped_by_near_and_leak_under_hash():
    def near(seed):
        return noise_pairs(seed, jitter=0.01)

    assert abs(mean_accuracy(near, groups="near") - 0.5) < 0.15
    assert mean_accuracy(near, groups="hash") > 0.85


def test_folds_keep_each_group_together():
    emb = noise_pairs(0)
    groups = content_groups(emb)
    y = emb.labels("color")
    for train, test in stratified_folds(y, folds=5, seed=0, groups=groups):
        assert not set(groups[train]) & set(groups[test])


def test_without_duplicates_folds_are_the_papers():
    rng = np.random.default_rng(0)
    y = rng.choice(["a", "b"], 30)
    plain = stratified_folds(y, folds=5, seed=3)
    grouped = stratified_folds(y, folds=5, seed=3, groups=np.arange(30))
    assert all((a[1] == b[1]).all() for a, b in zip(plain, grouped))


def test_results_carry_duplicate_and_conflict_counts():
    emb = noise_pairs(0)
    emb.table.loc[20, "color"] = "b" if emb.table.loc[0, "color"] == "a" else "a"  # same content, other label
    res = block_accuracy(emb, "color", k=1)
    assert res.attrs["groups"] == "hash"
    assert res.attrs["duplicate_groups"] == 20
    assert res.attrs["duplicate_items"] == 40
    assert res.attrs["conflicting_groups"] == 1
    # groups=None still reports what it lets leak
    assert block_accuracy(emb, "color", k=1, groups=None).attrs["duplicate_groups"] == 20


class _FakeUMAP:
    def __call__(self, X, X_new=None, *, n_components, **params):
        self.last = X
        return X[:, :n_components].astype(np.float32), (None if X_new is None else X_new[:, :n_components].astype(np.float32))


def test_reduction_sweep_is_group_aware_in_both_protocols(monkeypatch):
    fake = _FakeUMAP()
    monkeypatch.setattr(umap_cache, "cached_umap", fake)
    grouped = [reduction_sweep(noise_pairs(s), "color", block="b1", dims=[8], k=1, n_neighbors=5) for s in SEEDS]
    leaky = [
        reduction_sweep(noise_pairs(s), "color", block="b1", dims=[8], k=1, n_neighbors=5, groups=None) for s in SEEDS
    ]
    for protocol in ("paper", "inductive"):
        g = np.mean([r.loc[r.protocol == protocol, "accuracy"].mean() for r in grouped])
        leak = np.mean([r.loc[r.protocol == protocol, "accuracy"].mean() for r in leaky])
        assert abs(g - 0.5) < 0.15 and leak > 0.85, (protocol, g, leak)
    assert grouped[0].attrs["duplicate_groups"] == 20


def test_clustering_reports_duplicates():
    res = clustering_metrics(noise_pairs(0), "color", min_cluster_size=5, min_samples=2)
    assert res.attrs["duplicate_groups"] == 20 and res.attrs["duplicate_items"] == 40


def test_umap_is_fitted_on_unique_vectors(tmp_path):
    emb = noise_pairs(0, dim=8)
    coords = umap_embedding(emb, block="b1", n_neighbors=5, cache_dir=tmp_path)
    np.testing.assert_array_equal(coords[:20], coords[20:])  # copies share coordinates


def test_extractor_threshold_ignores_copies_of_an_example():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 16))
    labels = np.repeat(["a", "b", "c"], 10)
    single = Embeddings.from_arrays({"b1": x}, {"color": labels})
    doubled = Embeddings.from_arrays({"b1": np.vstack([x, x])}, {"color": np.concatenate([labels, labels])})
    a = AttributeExtractor("b1").fit(single, "color")
    b = AttributeExtractor("b1").fit(doubled, "color")
    # each example's distance is to its nearest *other* image, not to its own copy (0 before)
    np.testing.assert_allclose(b.loo_distances_, np.tile(a.loo_distances_, 2), rtol=1e-5)
    assert b.threshold_ == pytest.approx(a.threshold_, rel=0.05)


# ---- item 7: parameters checked against the data (one test per parameter) --------------------


def _twelve() -> Embeddings:
    rng = np.random.default_rng(0)
    return Embeddings.from_arrays({"b1": rng.normal(size=(12, 8))}, {"color": np.repeat(["a", "b"], 6)})


def test_min_cluster_size_above_item_count():
    with pytest.raises(ParameterError, match="`min_cluster_size`=50 exceeds the 12 items"):
        clustering_metrics(_twelve(), "color")


def test_min_samples_above_item_count():
    with pytest.raises(ParameterError, match="`min_samples`=12"):
        clustering_metrics(_twelve(), "color", min_cluster_size=3, min_samples=12)


def test_umap_neighbors_above_distinct_vectors():
    with pytest.raises(ParameterError, match="`umap_neighbors`=30 .* \\(12\\)"):
        clustering_metrics(_twelve(), "color", space="umap", min_cluster_size=3, min_samples=2)


def test_umap_components_above_distinct_vectors():
    with pytest.raises(ParameterError, match="`umap_components`=11"):
        clustering_metrics(_twelve(), "color", space="umap", min_cluster_size=3, min_samples=2,
                           umap_neighbors=5, umap_components=11)


def test_n_neighbors_counts_distinct_vectors_not_rows():
    emb = noise_pairs(0, n=10, dim=8)  # 20 rows, 10 distinct vectors
    with pytest.raises(ParameterError, match="`n_neighbors`=15 .* \\(10\\)"):
        umap_embedding(emb, block="b1")


def test_n_components_above_distinct_vectors():
    with pytest.raises(ParameterError, match="`n_components`=11 must be <= 10"):
        umap_embedding(_twelve(), block="b1", n_neighbors=5, n_components=11)


def test_reduction_n_neighbors_above_training_vectors():
    with pytest.raises(ParameterError, match="`n_neighbors`=15"):
        reduction_sweep(_twelve(), "color", block="b1", dims=[2], folds=2, k=1, protocol="inductive")


def test_k_above_training_fold():
    with pytest.raises(ParameterError, match="`k` must be <= the smallest training fold"):
        block_accuracy(_twelve(), "color", k=11, folds=2)


def test_folds_above_distinct_images():
    x = np.random.default_rng(0).normal(size=(4, 8))
    emb = Embeddings.from_arrays({"b1": np.vstack([x, x, x])}, {"color": ["a", "a", "b", "b"] * 3})
    emb.table["hash"] = [f"h{i}" for i in range(4)] * 3  # 12 rows, 4 distinct images, 6 per class
    with pytest.raises(ParameterError, match="`folds`=5 needs at least 5 distinct images .* got 4"):
        block_accuracy(emb, "color", k=1, folds=5)


# ---- item 8: plain values and caller-specific advice ---------------------------------------


def test_one_class_message_prints_plain_values():
    emb = Embeddings.from_arrays({"b": np.zeros((10, 2))}, {"color": np.array(["red"] * 10)})
    with pytest.raises(DatasetError) as info:
        block_accuracy(emb, "color")
    assert str(info.value).endswith("found ['red']")
    assert "np.str_" not in str(info.value)


def test_small_class_message_names_the_api_option():
    labels = np.array(["a"] * 10 + ["b"] * 10 + ["rare"] * 2)
    emb = Embeddings.from_arrays({"b": np.random.default_rng(0).normal(size=(22, 2))}, {"color": labels})
    with pytest.raises(DatasetError, match="pass drop_small_classes=True") as info:
        block_accuracy(emb, "color")
    assert "'rare' (2)" in str(info.value) and "np.str_" not in str(info.value)
