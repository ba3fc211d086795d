"""AttributeExtractor calibration: out-of-fold confidence vs accuracy, threshold for a precision (issue 16 item 2)."""

from __future__ import annotations

import numpy as np
import pytest

from attr_utils.embeddings import Embeddings
from attr_utils.errors import MissingFileError, NotFittedError, ParameterError
from attr_utils.retrieval.extractor import AttributeExtractor, reliability_table, threshold_for_precision

DIM = 16


def _emb(n_per=20, noise=0.9, seed=0, copies=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, DIM)) * 2
    x = np.vstack([c + noise * rng.normal(size=(n_per, DIM)) for c in centres])
    y = np.repeat(["a", "b", "c"], n_per)
    if copies:
        x = np.vstack([x, x[:copies]])
        y = np.concatenate([y, y[:copies]])
    return Embeddings.from_arrays({"b": x}, {"color": y})


# -- threshold_for_precision on constructed scores -----------------------------------
def test_threshold_for_precision_constructed():
    conf = [0.95, 0.9, 0.8, 0.7, 0.6, 0.5]
    ok = [True, True, True, False, True, False]
    assert threshold_for_precision(conf, ok, 1.0) == 0.8        # top 3 all right
    assert threshold_for_precision(conf, ok, 0.8) == 0.6        # 4/5 right at >= 0.6
    assert threshold_for_precision(conf, ok, 0.5) == 0.5        # everything kept: 4/6
    assert threshold_for_precision([0.9, 0.8], [False, False], 0.5) == float("inf")


def test_threshold_for_precision_keeps_ties_together():
    # the two items at 0.9 are kept or dropped together: 1 of 2 right is 0.5
    assert threshold_for_precision([0.9, 0.9, 0.5], [True, False, True], 1.0) == float("inf")
    assert threshold_for_precision([0.9, 0.9, 0.5], [True, False, True], 0.6) == 0.5


def test_reliability_table_constructed():
    t = reliability_table([0.05, 0.15, 0.95, 0.95], [False, True, True, False], bins=10)
    assert t["count"].tolist() == [1, 1, 2]
    assert t["accuracy"].tolist() == [0.0, 1.0, 0.5]
    assert t.attrs["ece"] == pytest.approx((0.05 + 0.85 + 2 * 0.45) / 4)


# -- on the extractor's own examples -----------------------------------------------
def test_calibration_is_out_of_fold_and_grouped():
    emb = _emb(copies=10)
    ex = AttributeExtractor("b", k=3).fit(emb, "color")
    cal = ex.calibration(folds=5, seed=0)
    assert len(cal) == len(emb) and set(cal.columns) >= {"value", "predicted", "confidence", "margin", "correct", "fold"}
    # every copy sits in the fold of its original: it never votes for itself
    assert (cal["fold"].to_numpy()[:10] == cal["fold"].to_numpy()[-10:]).all()
    curve = ex.calibration_curve(bins=5)
    assert curve["count"].sum() == len(emb)
    assert 0.0 <= curve.attrs["ece"] <= 1.0


def test_threshold_for_precision_reaches_it_out_of_fold():
    ex = AttributeExtractor("b", k=5).fit(_emb(noise=4.0, seed=3), "color")
    cal = ex.calibration()
    t = ex.threshold_for_precision(0.9)
    kept = cal[cal["confidence"] >= t]
    assert len(kept) and kept["correct"].mean() >= 0.9
    assert cal["correct"].mean() < 0.9  # the threshold did something


def test_votes_margin_and_neighbours():
    emb = _emb()
    ex = AttributeExtractor("b", k=3).fit(emb, "color")
    v = ex.votes(emb["b"][:5])
    assert list(v.columns) == ["path", "value", "confidence", "margin", "unknown", "distance", "neighbours"]
    assert (v["margin"] <= v["confidence"]).all() and all(len(n) == 3 for n in v["neighbours"])


def test_fingerprint_changes_with_examples():
    emb = _emb()
    ex = AttributeExtractor("b", k=3).fit(emb, "color")
    before = ex.fingerprint()
    assert AttributeExtractor("b", k=3).fit(emb, "color").fingerprint() == before
    ex.add_examples("d", np.ones((2, DIM)))
    assert ex.fingerprint() != before


# -- invalid parameters: one test each ---------------------------------------------
def test_invalid_precision():
    with pytest.raises(ParameterError):
        threshold_for_precision([0.5], [True], 0.0)


def test_precision_lengths_differ():
    with pytest.raises(ParameterError):
        threshold_for_precision([0.5, 0.6], [True], 0.9)


def test_precision_empty():
    with pytest.raises(ParameterError):
        threshold_for_precision([], [], 0.9)


def test_invalid_bins():
    with pytest.raises(ParameterError):
        reliability_table([0.5], [True], bins=0)


def test_invalid_folds():
    with pytest.raises(ParameterError):
        AttributeExtractor("b").fit(_emb(), "color").calibration(folds=1)


def test_invalid_seed():
    with pytest.raises(ParameterError):
        AttributeExtractor("b").fit(_emb(), "color").calibration(seed=-1)


def test_calibration_needs_two_images_per_value():
    emb = Embeddings.from_arrays({"b": np.eye(3)}, {"color": ["a", "b", "b"]})
    with pytest.raises(ParameterError, match="at least 2"):
        AttributeExtractor("b", k=1).fit(emb, "color").calibration()


def test_calibration_before_fit():
    with pytest.raises(NotFittedError):
        AttributeExtractor().calibration()


def test_invalid_k_is_a_parameter_error():
    with pytest.raises(ParameterError):
        AttributeExtractor("b", k=0).fit(_emb(), "color")


def test_load_missing_is_missing_file_error(tmp_path):
    with pytest.raises(MissingFileError):
        AttributeExtractor.load(tmp_path / "none")
