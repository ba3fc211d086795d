"""Figures of the layer probes: accuracy against depth with bands, and the CKA heatmap."""

from __future__ import annotations

import numpy as np
import pytest

from attr_utils.analysis import cka_matrix, probe_layers
from attr_utils.embeddings import Embeddings
from attr_utils.errors import ParameterError
from attr_utils.figures.probe import cka_heatmap, probe_curve


@pytest.fixture(scope="module")
def emb():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 10)
    blocks = {f"block{i}": (rng.normal(size=(30, 4)) + i * np.eye(3, 4)[y]).astype(np.float32) for i in range(1, 6)}
    return Embeddings.from_arrays(blocks, {"color": y.astype(str), "texture": rng.permutation(y).astype(str)},
                                  backbone="resnet50", weights="random:0", pretrained=False)


def test_probe_curve_lines_bands_blocks_and_title(emb):
    results = [probe_layers(emb, "color", folds=3), probe_layers(emb, "texture", folds=3, probes="knn")]
    fig = probe_curve(results)
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert [t.name for t in lines] == ["color · knn", "color · linear", "texture · knn"]
    assert len(fig.data) == 6  # one band per line
    assert list(lines[0].x) == [0, 3, 7, 13, 16]  # depths of resnet50's five blocks among its 17 taps
    assert lines[0].line.dash == "solid" and lines[1].line.dash == "dash"
    assert list(lines[0].marker.symbol) == ["diamond"] * 5
    assert "resnet50" in fig.layout.title.text and "RANDOM WEIGHTS" in fig.layout.title.text
    assert "block2" in fig.layout.xaxis.ticktext[1]
    assert len(probe_curve(results[0], bands=False).data) == 2


def test_cka_heatmap(emb):
    fig = cka_heatmap(cka_matrix(emb))
    assert list(fig.data[0].x) == list(fig.data[0].y) == emb.block_names
    np.testing.assert_allclose(np.diag(np.array(fig.data[0].z)), 1.0)
    assert "CKA" in fig.layout.title.text and "resnet50" in fig.layout.title.text


@pytest.mark.parametrize("bad", [[], "nope", [3]])
def test_probe_curve_rejects_non_results(bad):
    with pytest.raises(ParameterError):
        probe_curve(bad)


def test_cka_heatmap_rejects_empty():
    import pandas as pd

    with pytest.raises(ParameterError):
        cka_heatmap(pd.DataFrame())
