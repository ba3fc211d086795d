"""Plotly figures of the analyses: provenance in every title, shapes, error bars, validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs

from attr_utils.analysis import block_accuracy, clustering_metrics, confusion_matrices, summarize_accuracy
from attr_utils.embeddings import Embeddings
from attr_utils.figures import (
    accuracy_per_block,
    apply_style,
    clustering_per_block,
    confusion_heatmap,
    empty_clusterings_note,
    reduction_curve,
    titled,
    umap_scatter,
)

PROV = "toy · random:3 (RANDOM WEIGHTS: not the paper's results)"


@pytest.fixture(scope="session")
def emb() -> Embeddings:
    X, y = make_blobs(n_samples=150, n_features=12, centers=3, random_state=0)
    rng = np.random.default_rng(0)
    return Embeddings.from_arrays(
        {"block1": X[:, :4], "block2": X},
        {"color": [f"c{i}" for i in y], "texture": rng.choice(["plain", "striped"], 150)},
        backbone="toy",
        weights="random:3",
        pretrained=False,
    )


@pytest.fixture(scope="session")
def sweep(emb) -> pd.DataFrame:
    """A reduction_sweep-shaped frame (built by hand: figures need no UMAP)."""
    rows = []
    for protocol in ("paper", "inductive"):
        for dim, reduced in ((2, True), (4, True), (12, False)):
            for fold in range(3):
                acc = 0.9 if reduced else 0.95
                rows.append(("toy", "random:3", "color", "block2", protocol, dim, reduced, fold, 50, acc - 0.01 * fold))
    frame = pd.DataFrame(
        rows, columns=["backbone", "weights", "label", "block", "protocol", "dim", "reduced", "fold", "n_test", "accuracy"]
    )
    frame.attrs = {"provenance": PROV, "k": 5, "folds": 3}
    return frame


def test_titled_appends_provenance(emb):
    assert titled("Table 1", emb) == f"Table 1 — {PROV}"
    assert titled("Table 1", "resnet50 · imagenet") == "Table 1 — resnet50 · imagenet"
    assert titled("Table 1", None) == "Table 1"
    frame = pd.DataFrame(); frame.attrs = {"backbone": "resnet50", "weights": "random:0", "pretrained": False}
    assert "RANDOM WEIGHTS" in titled("x", frame)


def test_apply_style_sets_template():
    import plotly.graph_objects as go

    fig = apply_style(go.Figure())
    assert fig.layout.template.layout.paper_bgcolor == "white"


def test_accuracy_per_block_two_labels_with_ci_error_bars(emb):
    color = block_accuracy(emb, "color")
    texture = block_accuracy(emb, "texture")
    fig = accuracy_per_block([color, texture])
    assert PROV in fig.layout.title.text and fig.layout.title.text.startswith("Table 1")
    assert [t.name for t in fig.data] == ["color", "texture"]
    summary = summarize_accuracy(texture)
    bar = fig.data[1]
    assert len(bar.x) == 2 and "block2" in bar.x[1]
    np.testing.assert_allclose(bar.y, summary["mean"])
    np.testing.assert_allclose(bar.error_y.array, summary["ci_high"] - summary["mean"])
    np.testing.assert_allclose(bar.error_y.arrayminus, summary["mean"] - summary["ci_low"])


def test_accuracy_per_block_std_error_bars(emb):
    summary = summarize_accuracy(block_accuracy(emb, "texture"))
    fig = accuracy_per_block(summary, error="std")
    np.testing.assert_allclose(fig.data[0].error_y.array, summary["std"])


def test_accuracy_per_block_invalid_error(emb):
    with pytest.raises(ValueError, match="`error` must be one of"):
        accuracy_per_block(block_accuracy(emb, "color"), error="sem")


def test_clustering_per_block(emb):
    res = clustering_metrics(emb, "color")
    fig = clustering_per_block(res)
    assert PROV in fig.layout.title.text and fig.layout.title.text.startswith("Figure 3")
    assert [t.name for t in fig.data] == ["ARI (raw)", "AMI (raw)"]
    np.testing.assert_allclose(fig.data[0].y, res["ari"])
    np.testing.assert_allclose(fig.data[1].y, res["ami"])


def test_clustering_per_block_rejects_other_frames(emb):
    with pytest.raises(ValueError, match="clustering_metrics"):
        clustering_per_block(block_accuracy(emb, "color"))


def test_reduction_curve_both_protocols_and_unreduced_marker(sweep):
    fig = reduction_curve(sweep)
    assert PROV in fig.layout.title.text and fig.layout.title.text.startswith("Table 2")
    names = [t.name for t in fig.data]
    assert names == ["paper", "inductive", "unreduced block2"]
    assert list(fig.data[0].x) == [2, 4]
    assert list(fig.data[2].x) == [12]
    assert fig.layout.xaxis.type == "log"


def test_reduction_curve_tells_labels_apart_by_colour_and_marker(sweep):
    texture = sweep.assign(label="texture", block="block4", accuracy=sweep["accuracy"] - 0.2)
    both = pd.concat([sweep, texture], ignore_index=True)
    both.attrs = dict(sweep.attrs)
    fig = reduction_curve(both)
    lines = {t.name: t for t in fig.data if t.mode == "lines+markers"}
    assert set(lines) == {
        "color · block2 · paper", "color · block2 · inductive", "texture · block4 · paper", "texture · block4 · inductive"
    }
    for protocol in ("paper", "inductive"):
        colour, texture_ = lines[f"color · block2 · {protocol}"], lines[f"texture · block4 · {protocol}"]
        assert colour.line.color != texture_.line.color
        assert colour.marker.symbol != texture_.marker.symbol
        assert colour.line.dash == texture_.line.dash  # the protocol is the line style
    assert lines["color · block2 · paper"].line.dash != lines["color · block2 · inductive"].line.dash
    raw = {t.name: t for t in fig.data if t.mode == "markers"}
    assert set(raw) == {"color · block2 unreduced", "texture · block4 unreduced"}
    assert raw["color · block2 unreduced"].marker.color == lines["color · block2 · paper"].line.color
    assert raw["color · block2 unreduced"].marker.color != raw["texture · block4 unreduced"].marker.color


def _metrics(n_clusters):
    frame = pd.DataFrame(
        {
            "label": "color", "space": "raw", "block": [f"block{i + 1}" for i in range(len(n_clusters))],
            "n_clusters": n_clusters, "noise_fraction": [1.0 if c == 0 else 0.2 for c in n_clusters],
            "ari": [0.0 if c < 2 else 0.5 for c in n_clusters], "ami": [0.0 if c < 2 else 0.4 for c in n_clusters],
        }
    )
    frame.attrs = {"provenance": PROV, "min_cluster_size": 50}
    return frame


def test_empty_hdbscan_bars_are_explained_in_the_figure():
    frame = _metrics([0, 3, 1])
    note = empty_clusterings_note(frame)
    assert "Empty bars, color (raw): block1 (0 clusters, 100% noise), block3 (1 cluster, 20% noise)." in note
    assert "min_cluster_size=50" in note and "ARI and AMI are 0" in note and "block2" not in note
    fig = clustering_per_block(frame)
    assert [a.text for a in fig.layout.annotations if "Empty bars" in (a.text or "")] == [note]


def test_note_is_short_when_every_block_is_empty():
    frame = _metrics([0, 0, 0]).assign(n=100)
    note = empty_clusterings_note(frame)
    assert note.split("<br>")[0] == "Empty bars, color (raw): all 3 blocks (every item noise)."
    assert "among the 100 items" in note


def test_no_note_when_every_block_found_clusters():
    frame = _metrics([2, 3])
    assert empty_clusterings_note(frame) == ""
    assert not [a for a in clustering_per_block(frame).layout.annotations if "Empty bars" in (a.text or "")]
    assert empty_clusterings_note(frame.drop(columns=["n_clusters"])) == ""


def test_reduction_curve_rejects_accuracy_frames(emb):
    with pytest.raises(ValueError, match="reduction_sweep"):
        reduction_curve(block_accuracy(emb, "color"))


def test_confusion_heatmap_rows_sum_to_one(emb):
    cm = confusion_matrices(emb, "texture")
    fig = confusion_heatmap(cm, block="block1")
    assert PROV in fig.layout.title.text and "block1" in fig.layout.title.text
    z = np.asarray(fig.data[0].z, dtype=float)
    assert z.shape == (2, 2)
    np.testing.assert_allclose(z.sum(axis=1), 1.0)
    counts = np.asarray(fig.data[0].text, dtype=int)
    assert counts.sum() == 150


def test_confusion_heatmap_needs_a_block_when_several(emb):
    with pytest.raises(ValueError, match="pass block="):
        confusion_heatmap(confusion_matrices(emb, "color"))


def test_confusion_heatmap_unknown_block(emb):
    with pytest.raises(ValueError, match="unknown block"):
        confusion_heatmap(confusion_matrices(emb, "color"), block="block7")


def test_umap_scatter_2d_with_paths_and_hover(emb):
    coords = emb["block2"][:, :2]
    fig = umap_scatter(coords, emb.labels("color"), paths=emb.paths, hover={"texture": emb.labels("texture")}, provenance=emb)
    assert PROV in fig.layout.title.text
    assert [t.name for t in fig.data] == ["c0", "c1", "c2"]
    assert sum(len(t.x) for t in fig.data) == 150
    first = fig.data[0]
    row, path = int(first.customdata[0][0]), first.customdata[0][1]
    assert emb.paths[row] == path
    assert first.customdata[0][2] == emb.labels("texture")[row]
    np.testing.assert_allclose([first.x[0], first.y[0]], coords[row])


def test_umap_scatter_3d(emb):
    fig = umap_scatter(emb["block2"][:, :3], emb.labels("color"))
    assert {t.type for t in fig.data} == {"scatter3d"}
    # not clipped: a cube seen from farther than Plotly's default eye (1.25, 1.25, 1.25), filling the figure
    assert fig.layout.scene.aspectmode == "cube"
    eye = fig.layout.scene.camera.eye
    assert (eye.x**2 + eye.y**2 + eye.z**2) ** 0.5 > (3 * 1.25**2) ** 0.5
    assert fig.layout.margin.l == 0 and fig.layout.margin.r == 0


def test_umap_scatter_invalid_shape(emb):
    with pytest.raises(ValueError, match=r"shape \(n, 2\) or \(n, 3\)"):
        umap_scatter(emb["block2"][:, :4])


def test_umap_scatter_label_length_mismatch(emb):
    with pytest.raises(ValueError, match="`labels` has 3 entries"):
        umap_scatter(emb["block2"][:, :2], ["a", "b", "c"])


@pytest.mark.parametrize(
    "draw",
    [
        lambda emb: accuracy_per_block(block_accuracy(emb, "color"), error="sem"),
        lambda emb: accuracy_per_block([]),
        lambda emb: accuracy_per_block(pd.DataFrame({"block": ["block1"]})),
        lambda emb: clustering_per_block(block_accuracy(emb, "color")),
        lambda emb: reduction_curve(block_accuracy(emb, "color")),
        lambda emb: confusion_heatmap(confusion_matrices(emb, "color")),
        lambda emb: confusion_heatmap(pd.DataFrame({"x": [1]})),
        lambda emb: umap_scatter(emb["block2"][:, :4]),
        lambda emb: umap_scatter(emb["block2"][:, :2], paths=["a.png"]),
    ],
    ids=["error", "empty", "no-accuracy", "clustering", "reduction", "several-blocks", "confusion-columns",
         "coords-shape", "paths-length"],
)
def test_figure_input_errors_are_parameter_errors(emb, draw):
    """Every input a figure refuses raises the library's ParameterError (an AttrUtilsError, still a ValueError)."""
    from attr_utils.errors import AttrUtilsError, ParameterError

    with pytest.raises(ParameterError) as info:
        draw(emb)
    assert isinstance(info.value, AttrUtilsError) and isinstance(info.value, ValueError)
