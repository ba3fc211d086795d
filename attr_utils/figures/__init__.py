"""Plotly figures. Every figure names the backbone and weights it came from.

Analysis figures (:mod:`attr_utils.figures.analysis`):
:func:`accuracy_per_block` (Table 1), :func:`clustering_per_block`
(Figure 3; :func:`empty_clusterings_note` says why a block's bars are empty), :func:`reduction_curve` (Table 2), :func:`confusion_heatmap`,
:func:`umap_scatter`. Retrieval figures (:mod:`attr_utils.figures.retrieval`):
:func:`precision_vs_alpha`. Catalog figures (:mod:`attr_utils.figures.catalog`):
:func:`reliability_curve` (the extractor's calibration). Probe figures
(:mod:`attr_utils.figures.probe`): :func:`probe_curve` (accuracy vs depth),
:func:`cka_heatmap`. Shared styling: :func:`titled`, :func:`apply_style`.

Plotly is imported only when a figure is built.
"""

from __future__ import annotations

from attr_utils.figures._style import apply_style, titled
from attr_utils.figures.analysis import (
    accuracy_per_block,
    clustering_per_block,
    confusion_heatmap,
    empty_clusterings_note,
    reduction_curve,
    umap_scatter,
)
from attr_utils.figures.catalog import reliability_curve
from attr_utils.figures.probe import cka_heatmap, probe_curve
from attr_utils.figures.retrieval import precision_vs_alpha

__all__ = [
    "accuracy_per_block",
    "apply_style",
    "cka_heatmap",
    "clustering_per_block",
    "confusion_heatmap",
    "empty_clusterings_note",
    "precision_vs_alpha",
    "probe_curve",
    "reduction_curve",
    "reliability_curve",
    "titled",
    "umap_scatter",
]
