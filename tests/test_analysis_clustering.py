"""clustering_metrics: HDBSCAN per block, raw and on UMAP."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs

from attr_utils.analysis import clustering_metrics
from attr_utils.embeddings import Embeddings
from attr_utils.errors import DatasetError, ParameterError


@pytest.fixture(scope="session")
def blobs_emb() -> Embeddings:
    """3 blobs of 80 points: compact in 'sep' (8-d), uniform noise in 'noise' (64-d)."""
    X, y = make_blobs(n_samples=240, n_features=8, centers=3, cluster_std=0.5, random_state=0)
    rng = np.random.default_rng(0)
    return Embeddings.from_arrays(
        {"sep": X, "noise": rng.uniform(size=(240, 64))},
        {"color": [f"c{i}" for i in y]},
        backbone="toy",
        weights="imagenet",
    )


@pytest.fixture(scope="session")
def raw(blobs_emb) -> pd.DataFrame:
    return clustering_metrics(blobs_emb, "color")


def test_columns_and_rows(raw):
    assert list(raw.columns) == [
        "backbone", "weights", "label", "block", "dim", "space", "n", "n_clusters", "noise_fraction", "ari", "ami",
    ]
    assert raw["block"].tolist() == ["sep", "noise"]
    assert (raw["space"] == "raw").all() and (raw["n"] == 240).all()
    assert raw.attrs["min_cluster_size"] == 50 and raw.attrs["min_samples"] == 10 and raw.attrs["leaf_size"] == 40


def test_well_separated_blobs_recovered(raw):
    sep = raw.set_index("block").loc["sep"]
    assert sep["n_clusters"] == 3
    assert sep["ari"] > 0.95 and sep["ami"] > 0.95
    assert sep["noise_fraction"] < 0.05


def test_uniform_noise_gives_no_agreement(raw):
    noise = raw.set_index("block").loc["noise"]
    assert abs(noise["ari"]) < 0.05 and abs(noise["ami"]) < 0.05


def test_deterministic(blobs_emb, raw):
    pd.testing.assert_frame_equal(clustering_metrics(blobs_emb, "color"), raw)


def test_umap_space_reported_separately(blobs_emb, tmp_path):
    both = clustering_metrics(blobs_emb, "color", blocks="sep", space="both", cache_dir=tmp_path)
    assert both["space"].tolist() == ["raw", "umap"]
    umap_row = both.set_index("space").loc["umap"]
    assert umap_row["ari"] > 0.95 and umap_row["n_clusters"] == 3
    assert list((tmp_path / "umap").rglob("*.npz")), "UMAP coordinates were not cached"


def test_invalid_space(blobs_emb):
    with pytest.raises(ValueError, match="`space` must be one of"):
        clustering_metrics(blobs_emb, "color", space="pca")


def test_invalid_min_cluster_size(blobs_emb):
    with pytest.raises(ValueError, match="`min_cluster_size` must be >= 2, got 1"):
        clustering_metrics(blobs_emb, "color", min_cluster_size=1)


def test_invalid_min_samples(blobs_emb):
    with pytest.raises(ValueError, match="`min_samples` must be >= 1"):
        clustering_metrics(blobs_emb, "color", min_samples=0)


def test_invalid_leaf_size(blobs_emb):
    with pytest.raises(TypeError, match="`leaf_size` must be an int"):
        clustering_metrics(blobs_emb, "color", leaf_size=4.0)


def test_unknown_block(blobs_emb):
    with pytest.raises(ValueError, match="unknown block"):
        clustering_metrics(blobs_emb, "color", blocks="block2")


def test_unknown_label(blobs_emb):
    with pytest.raises(DatasetError, match="no label column"):
        clustering_metrics(blobs_emb, "texture")


def test_min_cluster_size_above_half_the_items_is_refused(blobs_emb):
    # 240 items: 121 would leave HDBSCAN no room for two clusters (all noise); 120 still can
    with pytest.raises(ParameterError, match=r"`min_cluster_size`=121 is above half of the 240 items.*at most 120"):
        clustering_metrics(blobs_emb, "color", blocks=["sep"], min_cluster_size=121, min_samples=5)


def test_min_cluster_size_of_half_the_items_is_accepted():
    # two tight blobs of 20 items each: min_cluster_size 20 (half of 40) finds both
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(0, 0.05, (20, 4)), rng.normal(5, 0.05, (20, 4))])
    emb = Embeddings.from_arrays({"b": x}, {"color": ["a"] * 20 + ["z"] * 20})
    out = clustering_metrics(emb, "color", blocks=["b"], min_cluster_size=20, min_samples=5)
    assert out["n_clusters"].iloc[0] == 2 and out["noise_fraction"].iloc[0] == 0.0 and out["ari"].iloc[0] == 1.0
