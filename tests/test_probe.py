"""probe_layers: kNN and linear probes on shared folds, intervals, and the best-tap paired tests."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from attr_utils.analysis import block_accuracy
from attr_utils.analysis.accuracy import split_groups, stratified_folds
from attr_utils.analysis.checks import labels_for_analysis
from attr_utils.analysis.probe import linear_probe, paired_difference, probe_layers, tap_info
from attr_utils.backbones import get_backbone
from attr_utils.embeddings import Embeddings
from attr_utils.errors import DatasetError, ParameterError

N, CLASSES = 100, 4


def _arrays(seed=0):
    """Five blocks of increasing colour signal (block3 best), labels with 4 classes."""
    rng = np.random.default_rng(seed)
    color = np.repeat(np.arange(CLASSES), N // CLASSES)
    texture = rng.permutation(np.tile(np.arange(CLASSES), N // CLASSES))
    signal = {"block1": 0.3, "block2": 1.0, "block3": 2.0, "block4": 0.8, "block5": 0.1}
    dims = {"block1": 6, "block2": 8, "block3": 8, "block4": 10, "block5": 12}
    blocks = {}
    for b, s in signal.items():
        X = rng.normal(size=(N, dims[b]))
        X[:, :CLASSES] += s * np.eye(CLASSES)[color]
        blocks[b] = X.astype(np.float32)
    labels = {"color": [f"c{c}" for c in color], "texture": [f"t{t}" for t in texture]}
    return blocks, labels


@pytest.fixture(scope="module")
def emb5():
    blocks, labels = _arrays()
    return Embeddings.from_arrays(blocks, labels, backbone="resnet50", weights="random:0")


@pytest.fixture(scope="module")
def emb_all(emb5):
    """The same vectors as an all-taps embedding: block layers carry the block arrays, other units noise."""
    spec = get_backbone("resnet50")
    rng = np.random.default_rng(1)
    layer_of = {t.layer: t.block for t in spec.taps}
    blocks = {
        t.layer: emb5[layer_of[t.layer]] if t.layer in layer_of else rng.normal(size=(N, 5)).astype(np.float32)
        for t in spec.all_taps
    }
    labels = {c: emb5.table[c].tolist() for c in emb5.label_columns}
    return Embeddings.from_arrays(blocks, labels, backbone="resnet50", weights="random:0")


def test_knn_rows_of_the_five_blocks_equal_table_1_exactly(emb5):
    result = probe_layers(emb5, "color")
    table1 = block_accuracy(emb5, "color")
    knn = result.folds[result.folds["probe"] == "knn"]
    assert knn["tap"].tolist() == table1["block"].tolist()
    assert knn["fold"].tolist() == table1["fold"].tolist()
    assert knn["n_test"].tolist() == table1["n_test"].tolist()
    assert knn["accuracy"].tolist() == table1["accuracy"].tolist()  # exactly, not approximately


def test_all_taps_knn_at_the_five_block_layers_equals_the_five_block_run(emb5, emb_all):
    five = probe_layers(emb5, "color", probes="knn").summary
    every = probe_layers(emb_all, "color", probes="knn").summary
    assert len(every) == 17
    at_blocks = every[every["block"] != ""]
    assert at_blocks["block"].tolist() == five["block"].tolist() == ["block1", "block2", "block3", "block4", "block5"]
    assert at_blocks["layer"].tolist() == five["layer"].tolist()
    assert at_blocks["depth"].tolist() == five["depth"].tolist() == [0, 3, 7, 13, 16]
    assert at_blocks["mean"].tolist() == five["mean"].tolist()
    assert list(every["depth"]) == list(range(17))


def test_both_probes_share_the_folds_and_the_linear_probe_fits_inside_each_training_fold(emb5):
    result = probe_layers(emb5, "color", taps=["block3"])
    f = result.folds
    assert f[f.probe == "knn"]["n_test"].tolist() == f[f.probe == "linear"]["n_test"].tolist()
    rows, y = labels_for_analysis(emb5, "color", folds=5, drop_small_classes=False)
    ids, _ = split_groups(emb5, rows, y, "hash")
    X = emb5["block3"][rows]
    expected = []
    for train, test in stratified_folds(y, folds=5, seed=0, groups=ids):
        model = linear_probe().fit(X[train], y[train])
        expected.append(float(np.mean(model.predict(X[test]) == y[test])))
    assert f[f.probe == "linear"]["accuracy"].tolist() == expected
    assert [name for name, _ in linear_probe().steps] == ["scale", "logreg"]


def test_summary_intervals_and_fold_lists(emb5):
    s = probe_layers(emb5, "color").summary
    assert s["probe"].tolist() == ["knn"] * 5 + ["linear"] * 5
    row = s.iloc[2]
    accs = np.array(row["fold_accuracies"])
    assert row["mean"] == pytest.approx(accs.mean())
    assert row["std"] == pytest.approx(accs.std(ddof=1))
    half = stats.t.ppf(0.975, 4) * accs.std(ddof=1) / np.sqrt(5)
    assert row["ci_low"] == pytest.approx(max(0.0, accs.mean() - half))
    assert row["ci_high"] == pytest.approx(min(1.0, accs.mean() + half))


def test_best_tap_and_paired_tests_against_runner_up_and_the_papers_block(emb5):
    result = probe_layers(emb5, "color")
    assert result.best("knn") == "block3"
    c = result.comparisons
    assert set(c["comparison"]) == {"runner-up", "reference"}
    ref = c[(c.probe == "knn") & (c.comparison == "reference")].iloc[0]
    assert ref["other"] == "block2"  # resnet50's default colour block (the paper's)
    best = result.summary.set_index(["probe", "tap"])
    d = np.array(best.loc[("knn", "block3"), "fold_accuracies"]) - np.array(best.loc[("knn", "block2"), "fold_accuracies"])
    assert ref["mean_diff"] == pytest.approx(d.mean())
    assert ref["p_value"] == pytest.approx(stats.ttest_rel(d, np.zeros(5)).pvalue)
    assert result.attrs["reference"] == "block2"


def test_paired_difference_on_constructed_data():
    a = [0.90, 0.92, 0.91, 0.93, 0.90]
    clear = paired_difference(a, [x - 0.10 for x in [0.90, 0.91, 0.92, 0.93, 0.91]])
    assert clear["distinguishable"] and clear["ci_low"] > 0
    noisy = paired_difference(a, [0.91, 0.90, 0.93, 0.91, 0.91])
    assert not noisy["distinguishable"] and noisy["ci_low"] < 0 < noisy["ci_high"]
    p = stats.ttest_rel(a, [0.91, 0.90, 0.93, 0.91, 0.91]).pvalue
    assert noisy["p_value"] == pytest.approx(p)
    half = stats.t.ppf(0.975, 4) * noisy["std_diff"] / np.sqrt(5)
    assert noisy["ci_high"] - noisy["mean_diff"] == pytest.approx(half)
    assert not clear["degenerate"] and not noisy["degenerate"]
    same = paired_difference(a, a)
    assert same["mean_diff"] == 0 and not same["distinguishable"] and same["degenerate"]


def test_zero_width_paired_interval_is_degenerate_not_significant():
    # 30 images, 3 folds: every fold one item (1/10) apart -> all differences equal, a zero-width interval
    constant = paired_difference([0.9, 0.8, 0.7], [0.8, 0.7, 0.6])
    assert constant["ci_low"] == pytest.approx(constant["ci_high"]) == pytest.approx(0.1)
    assert constant["degenerate"] and not constant["distinguishable"] and np.isnan(constant["p_value"])
    two = paired_difference([0.9, 0.8, 0.8], [0.8, 0.7, 0.8])  # 2 distinct differences: a real interval
    assert not two["degenerate"]


def test_explicit_reference_and_unprobed_reference(emb5):
    r = probe_layers(emb5, "color", probes="knn", reference="block5")
    assert r.comparisons[r.comparisons.comparison == "reference"]["other"].tolist() == ["block5"]
    r = probe_layers(emb5, "color", probes="knn", taps=["block1", "block3"])
    assert r.comparisons["comparison"].tolist() == ["runner-up"]  # block2 not probed: no reference row
    r = probe_layers(emb5, "color", probes="knn", reference="block3")
    assert r.comparisons["comparison"].tolist() == ["runner-up"] and r.attrs["reference"] == "block3"  # the best


def test_to_dict_is_json_with_the_documented_shape(emb5):
    data = json.loads(json.dumps(probe_layers(emb5, "texture").to_dict()))
    assert set(data) == {"backbone", "weights", "pooling", "pretrained", "label", "taps", "rows", "best"}
    assert data["taps"] == ["block1", "block2", "block3", "block4", "block5"]
    assert set(data["rows"][0]) == {"tap", "depth", "dim", "probe", "accuracy", "std", "ci_low", "ci_high", "fold_accuracies"}
    assert len(data["rows"]) == 10 and len(data["rows"][0]["fold_accuracies"]) == 5
    assert set(data["best"]) == {"knn", "linear"}
    assert "vs_runner_up" in data["best"]["knn"] and "vs_reference" in data["best"]["knn"]


def test_tap_info_of_unregistered_backbone_uses_embedding_order():
    emb = Embeddings.from_arrays({"a": np.zeros((4, 2)), "b": np.zeros((4, 3))})
    info = tap_info(emb)
    assert info["tap"].tolist() == ["a", "b"] and info["depth"].tolist() == [0, 1] and info["block"].tolist() == ["", ""]


@pytest.mark.parametrize(
    "options",
    [{"probes": "svm"}, {"probes": []}, {"k": 0}, {"folds": 1}, {"C": 0}, {"C": "x"}, {"taps": ["nope"]},
     {"reference": 3}, {"confidence": 1.0}, {"seed": -1}],
)
def test_invalid_options(emb5, options):
    with pytest.raises(ParameterError):
        probe_layers(emb5, "color", **options)


def test_unknown_label_is_a_dataset_error(emb5):
    with pytest.raises(DatasetError):
        probe_layers(emb5, "shape")
