"""block_accuracy, summarize_accuracy, per-class accuracy, confusion matrices, recommend_blocks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.datasets import make_blobs
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from attr_utils.analysis import (
    block_accuracy,
    confusion_matrices,
    knn_predictions,
    per_class_accuracy,
    recommend_blocks,
    summarize_accuracy,
)
from attr_utils.embeddings import Embeddings
from attr_utils.errors import DatasetError


@pytest.fixture(scope="session")
def blobs_emb() -> Embeddings:
    """4 well-separated classes in 'sep' (32-d), pure noise in 'noise' (16-d); 'shuffled' labels."""
    X, y = make_blobs(n_samples=200, n_features=32, centers=4, cluster_std=1.0, random_state=0)
    rng = np.random.default_rng(1)
    labels = np.array([f"c{i}" for i in y])
    return Embeddings.from_arrays(
        {"sep": X, "noise": rng.normal(size=(200, 16))},
        {"color": labels, "shuffled": rng.permutation(labels)},
        backbone="toy",
        weights="random:0",
        pretrained=False,
    )


@pytest.fixture(scope="session")
def per_fold(blobs_emb) -> pd.DataFrame:
    return block_accuracy(blobs_emb, "color")


def test_tidy_per_fold_frame(per_fold, blobs_emb):
    assert list(per_fold.columns) == ["backbone", "weights", "label", "block", "dim", "fold", "n_test", "accuracy"]
    assert len(per_fold) == 2 * 5
    assert per_fold["block"].tolist() == ["sep"] * 5 + ["noise"] * 5
    assert per_fold.groupby("block")["n_test"].sum().tolist() == [200, 200]
    assert set(per_fold["dim"]) == {32, 16}
    assert (per_fold["backbone"] == "toy").all() and (per_fold["weights"] == "random:0").all()
    assert per_fold.attrs["k"] == 5 and per_fold.attrs["folds"] == 5
    assert "RANDOM WEIGHTS" in per_fold.attrs["provenance"]


def test_separated_blobs_near_perfect_noise_near_chance(per_fold):
    acc = per_fold.groupby("block")["accuracy"].mean()
    assert acc["sep"] > 0.98
    assert acc["noise"] < 0.45  # chance is 0.25


def test_shuffled_labels_near_chance(blobs_emb):
    acc = block_accuracy(blobs_emb, "shuffled", blocks="sep")["accuracy"].mean()
    assert 0.1 < acc < 0.45


def test_matches_scikit_learn_cross_val_score(blobs_emb):
    X, y = blobs_emb["noise"], blobs_emb.labels("color").astype(str)
    expected = cross_val_score(
        KNeighborsClassifier(n_neighbors=5), X, y, cv=StratifiedKFold(5, shuffle=True, random_state=3)
    )
    got = block_accuracy(blobs_emb, "color", blocks=["noise"], seed=3)["accuracy"].to_numpy()
    np.testing.assert_allclose(got, expected)


def test_identical_seeds_identical_tables_different_seeds_differ(blobs_emb):
    a = block_accuracy(blobs_emb, "color", seed=7)
    b = block_accuracy(blobs_emb, "color", seed=7)
    c = block_accuracy(blobs_emb, "color", seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert not np.array_equal(a["accuracy"].to_numpy(), c["accuracy"].to_numpy())


def test_summary_mean_std_and_t_interval(per_fold):
    summary = summarize_accuracy(per_fold)
    assert list(summary["block"]) == ["sep", "noise"]
    for block, row in summary.set_index("block").iterrows():
        acc = per_fold.loc[per_fold["block"] == block, "accuracy"].to_numpy()
        std = acc.std(ddof=1)
        half = stats.t.ppf(0.975, 4) * std / np.sqrt(5)
        assert row["n_folds"] == 5
        assert row["mean"] == pytest.approx(acc.mean())
        assert row["std"] == pytest.approx(std)
        assert row["ci_low"] == pytest.approx(max(acc.mean() - half, 0))
        assert row["ci_high"] == pytest.approx(min(acc.mean() + half, 1))
    assert summary.attrs["provenance"] == per_fold.attrs["provenance"]


def test_cosine_equals_l2_scaling(blobs_emb):
    cos = block_accuracy(blobs_emb, "color", blocks="noise", metric="cosine")["accuracy"]
    l2 = block_accuracy(blobs_emb, "color", blocks="noise", scaling="l2")["accuracy"]
    np.testing.assert_allclose(cos.to_numpy(), l2.to_numpy())


def test_l2_scaling_ignores_vector_length(blobs_emb):
    X = blobs_emb["noise"]
    factors = np.random.default_rng(0).uniform(1, 1000, size=(len(X), 1))
    scaled = Embeddings.from_arrays({"noise": X * factors}, {"color": blobs_emb.labels("color")})
    a = block_accuracy(blobs_emb, "color", blocks="noise", scaling="l2")["accuracy"]
    b = block_accuracy(scaled, "color", scaling="l2")["accuracy"]
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), atol=1e-12)


def test_standardize_fitted_on_training_folds_only(blobs_emb):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = blobs_emb["noise"], blobs_emb.labels("color").astype(str)
    expected = cross_val_score(
        make_pipeline(StandardScaler(), KNeighborsClassifier(5)), X, y, cv=StratifiedKFold(5, shuffle=True, random_state=0)
    )
    got = block_accuracy(blobs_emb, "color", blocks="noise", scaling="standardize")["accuracy"]
    np.testing.assert_allclose(got.to_numpy(), expected)


def test_predictions_cover_every_item_once_per_block(blobs_emb):
    preds = knn_predictions(blobs_emb, "color")
    assert len(preds) == 400
    assert preds.groupby("block")["row"].apply(lambda r: sorted(r) == list(range(200))).all()
    assert (preds["correct"] == (preds["true"] == preds["predicted"])).all()


def test_per_class_accuracy(blobs_emb):
    pc = per_class_accuracy(blobs_emb, "color")
    assert len(pc) == 2 * 4
    assert list(pc["block"].unique()) == ["sep", "noise"]
    sep = pc[pc["block"] == "sep"]
    assert sep["n"].sum() == 200 and (sep["accuracy"] > 0.95).all()
    assert np.allclose(pc["accuracy"], pc["correct"] / pc["n"])


def test_confusion_matrices_consistent_with_accuracy(blobs_emb, per_fold):
    cm = confusion_matrices(blobs_emb, "color")
    assert len(cm) == 2 * 4 * 4
    for block, part in cm.groupby("block"):
        assert part["count"].sum() == 200
        diag = part.loc[part["true"] == part["predicted"], "count"].sum()
        folds = per_fold[per_fold["block"] == block]
        assert diag == pytest.approx((folds["accuracy"] * folds["n_test"]).sum())
        np.testing.assert_allclose(part.groupby("true")["fraction"].sum(), 1.0)


def test_recommend_blocks_per_label(blobs_emb, per_fold):
    noise_best = Embeddings.from_arrays(
        {"a": blobs_emb["noise"], "b": blobs_emb["sep"]}, {"texture": blobs_emb.labels("color")},
        backbone="toy", weights="random:0",
    )
    other = block_accuracy(noise_best, "texture")
    assert recommend_blocks([per_fold, other]) == {"color": "sep", "texture": "b"}
    assert recommend_blocks(summarize_accuracy(per_fold)) == {"color": "sep"}


def test_recommend_blocks_ties_go_to_smaller_block():
    frame = pd.DataFrame(
        {"label": "color", "block": ["big", "small"], "dim": [2048, 64], "fold": 0, "accuracy": [0.9, 0.9]}
    )
    assert recommend_blocks(frame) == {"color": "small"}


def test_recommend_blocks_refuses_mixed_backbones(per_fold):
    other = per_fold.assign(backbone="other")
    with pytest.raises(ValueError, match="backbone"):
        recommend_blocks([per_fold, other])


def test_recommend_blocks_refuses_empty():
    with pytest.raises(ValueError, match="empty"):
        recommend_blocks([])


# ---- classes, labels ---------------------------------------------------------------------------


@pytest.fixture()
def small_class_emb() -> Embeddings:
    X, y = make_blobs(n_samples=40, n_features=4, centers=2, random_state=0)
    labels = np.array([f"c{i}" for i in y], dtype=object)
    labels[:3] = "rare"
    return Embeddings.from_arrays({"b": X}, {"color": labels})


def test_small_class_is_an_error_naming_it(small_class_emb):
    with pytest.raises(DatasetError, match="'rare' \\(3\\)"):
        block_accuracy(small_class_emb, "color")


def test_small_class_dropped_with_warning(small_class_emb):
    with pytest.warns(UserWarning, match="rare"):
        res = block_accuracy(small_class_emb, "color", drop_small_classes=True)
    assert res["n_test"].sum() == 37


def test_missing_labels_left_out_with_warning():
    X, y = make_blobs(n_samples=30, n_features=4, centers=2, random_state=0)
    labels = pd.Series([f"c{i}" for i in y], dtype=object)
    labels[[0, 1]] = None
    emb = Embeddings.from_arrays({"b": X}, {"color": labels})
    with pytest.warns(UserWarning, match="2 item"):
        res = block_accuracy(emb, "color")
    assert res["n_test"].sum() == 28


def test_single_class_is_an_error():
    emb = Embeddings.from_arrays({"b": np.zeros((10, 2))}, {"color": ["a"] * 10})
    with pytest.raises(DatasetError, match="at least 2 classes"):
        block_accuracy(emb, "color")


# ---- one test per invalid parameter -------------------------------------------------------------


def test_invalid_k(blobs_emb):
    with pytest.raises(ValueError, match="`k` must be >= 1, got 0"):
        block_accuracy(blobs_emb, "color", k=0)


def test_non_integer_k(blobs_emb):
    with pytest.raises(TypeError, match="`k` must be an int"):
        block_accuracy(blobs_emb, "color", k=2.5)


def test_k_larger_than_training_fold(blobs_emb):
    with pytest.raises(ValueError, match="smallest training fold"):
        block_accuracy(blobs_emb, "color", k=500)


def test_invalid_folds(blobs_emb):
    with pytest.raises(ValueError, match="`folds` must be >= 2, got 1"):
        block_accuracy(blobs_emb, "color", folds=1)


def test_invalid_metric(blobs_emb):
    with pytest.raises(ValueError, match="`metric` must be one of"):
        block_accuracy(blobs_emb, "color", metric="manhattan")


def test_invalid_scaling(blobs_emb):
    with pytest.raises(ValueError, match="`scaling` must be one of"):
        block_accuracy(blobs_emb, "color", scaling="minmax")


def test_invalid_seed(blobs_emb):
    with pytest.raises(TypeError, match="`seed` must be an int"):
        block_accuracy(blobs_emb, "color", seed="0")


def test_unknown_block(blobs_emb):
    with pytest.raises(ValueError, match="unknown block"):
        block_accuracy(blobs_emb, "color", blocks=["block9"])


def test_unknown_label(blobs_emb):
    with pytest.raises(DatasetError, match="no label column 'texture'"):
        block_accuracy(blobs_emb, "texture")


def test_invalid_confidence(per_fold):
    with pytest.raises(ValueError, match="`confidence`"):
        summarize_accuracy(per_fold, confidence=1.5)


def test_knn_classifier_refuses_an_unknown_scaling():
    """A misspelt scaling used to mean no scaling, silently."""
    from attr_utils.analysis.accuracy import knn_classifier
    from attr_utils.errors import ParameterError

    with pytest.raises(ParameterError, match="`scaling` must be one of"):
        knn_classifier(scaling="L2")
    assert [name for name, _ in knn_classifier(scaling="l2").steps] == ["scale", "knn"]


@pytest.mark.parametrize("options", [{"folds": 1}, {"folds": 2.0}, {"seed": -1}])
def test_stratified_folds_invalid_options(options):
    from attr_utils.analysis.accuracy import stratified_folds
    from attr_utils.errors import ParameterError

    with pytest.raises(ParameterError):
        stratified_folds(np.array(["a", "b"] * 5), **options)
