"""Tests of attr_utils.analysis.pooling_study (Table 1 per pooling)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from attr_utils.analysis import summarize_accuracy
from attr_utils.analysis.pooling_study import pooling_accuracy
from attr_utils.embeddings import Embeddings
from attr_utils.errors import ParameterError


def _pair(n_per_class=10, seed=0):
    """Two poolings of one constructed catalog: 'foreground' separates the colours, 'average' does not."""
    rng = np.random.default_rng(seed)
    colors = np.repeat(["red", "blue", "green"], n_per_class)
    textures = np.tile(["plain", "striped"], len(colors) // 2)
    centres = {"red": [5.0, 0, 0], "blue": [0, 5.0, 0], "green": [0, 0, 5.0]}
    clean = np.array([centres[c] for c in colors]) + 0.1 * rng.standard_normal((len(colors), 3))
    noise = rng.standard_normal((len(colors), 3))  # the background dominates: no colour signal
    tex = np.where(textures == "striped", 3.0, -3.0)[:, None] + 0.1 * rng.standard_normal((len(colors), 2))
    labels = {"color": colors, "texture": textures}
    fg = Embeddings.from_arrays({"block1": clean, "block2": tex}, labels, backbone="toy", weights="w")
    if "pooling" in {f.name for f in dataclasses.fields(Embeddings)}:
        fg = dataclasses.replace(fg, pooling="foreground", mask="auto")
    avg = Embeddings.from_arrays({"block1": noise, "block2": tex}, labels, backbone="toy", weights="w")
    return avg, fg


def test_rows_per_pooling_label_block_fold_on_shared_folds():
    avg, fg = _pair()
    out = pooling_accuracy({"average": avg, "foreground": fg})
    assert list(out.columns) == ["backbone", "weights", "pooling", "label", "block", "dim", "fold", "n_test", "accuracy"]
    assert len(out) == 2 * 2 * 2 * 5
    assert out.attrs["poolings"] == ["average", "foreground"] and out.attrs["labels"] == ["color", "texture"]
    # identical folds for every pooling: same test sizes fold by fold
    sizes = out.pivot_table(index=["label", "block", "fold"], columns="pooling", values="n_test")
    assert (sizes["average"] == sizes["foreground"]).all()


def test_foreground_beats_average_where_the_background_hides_the_colour():
    avg, fg = _pair()
    summary = summarize_accuracy(pooling_accuracy({"average": avg, "foreground": fg}, "color", blocks="block1"))
    acc = summary.set_index("pooling")["mean"]
    assert acc["foreground"] == pytest.approx(1.0)
    assert acc["average"] < 0.7
    assert {"ci_low", "ci_high"} <= set(summary.columns)


def test_texture_unaffected_when_blocks_agree():
    avg, fg = _pair()
    out = pooling_accuracy({"average": avg, "foreground": fg}, ["texture"], blocks=["block2"])
    assert out.groupby("pooling")["accuracy"].mean().tolist() == [1.0, 1.0]


def test_empty_mapping_is_a_parameter_error():
    with pytest.raises(ParameterError):
        pooling_accuracy({})


def test_not_a_mapping_is_a_parameter_error():
    avg, _ = _pair()
    with pytest.raises(ParameterError):
        pooling_accuracy([avg])


def test_no_label_is_a_parameter_error():
    avg, fg = _pair()
    with pytest.raises(ParameterError):
        pooling_accuracy({"average": avg}, [])


def test_other_images_are_a_parameter_error():
    avg, fg = _pair()
    with pytest.raises(ParameterError, match="different images"):
        pooling_accuracy({"average": avg, "foreground": fg.subset(np.arange(len(fg) - 3))})


def test_other_backbone_is_a_parameter_error():
    avg, fg = _pair()
    with pytest.raises(ParameterError, match="one backbone"):
        pooling_accuracy({"average": avg, "foreground": dataclasses.replace(fg, backbone="other")})


def test_mislabelled_pooling_is_a_parameter_error():
    avg, fg = _pair()
    if "pooling" not in {f.name for f in dataclasses.fields(Embeddings)}:
        pytest.skip("Embeddings records no pooling in this checkout")
    with pytest.raises(ParameterError, match="record pooling"):
        pooling_accuracy({"foreground": avg})  # avg records "average"


def test_near_groups_are_found_once_so_every_pooling_gets_the_same_folds(monkeypatch):
    import attr_utils.duplicates as duplicates

    avg, fg = _pair()
    calls = []

    real = duplicates.resolve_groups

    def spy(emb, groups):
        if isinstance(groups, str) and groups == "near":
            calls.append((emb, groups))
            return np.arange(len(emb)) // 2  # pairs of near-copies
        return real(emb, groups)

    monkeypatch.setattr(duplicates, "resolve_groups", spy)
    out = pooling_accuracy({"average": avg, "foreground": fg}, "color", groups="near")
    assert len(calls) == 1 and calls[0][0] is avg and calls[0][1] == "near"
    sizes = out.pivot_table(index=["block", "fold"], columns="pooling", values="n_test")
    assert (sizes["average"] == sizes["foreground"]).all()
    assert out.attrs["groups"] == "near"
