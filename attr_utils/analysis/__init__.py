"""The paper's analyses: per-block kNN accuracy, clustering, UMAP reduction.

Every function takes an :class:`~attr_utils.Embeddings` first, then the label
column, then keyword-only options whose defaults are the paper's protocol,
and returns a tidy :class:`pandas.DataFrame` whose ``.attrs`` record the
provenance (backbone, weights) and the protocol.

================================  ==============================================
:func:`block_accuracy`            kNN accuracy per (block, fold)  (Table 1)
:func:`summarize_accuracy`        mean, std, 95 % interval per block
:func:`per_class_accuracy`        accuracy of every class, per block
:func:`confusion_matrices`        confusion counts per block (tidy)
:func:`knn_predictions`           out-of-fold prediction of every item
:func:`recommend_blocks`          best block per label
:func:`clustering_metrics`        HDBSCAN ARI/AMI per block  (Figure 3)
:func:`reduction_sweep`           accuracy after UMAP, two protocols  (Table 2)
:func:`umap_embedding`            cached 2-D/3-D UMAP coordinates for plots
:func:`audit_labels`              suspect labels, duplicate groups, outliers of a catalog
:func:`probe_layers`              kNN + linear probe of every tap, shared folds, best-tap tests
:func:`paired_difference`         paired t-interval of two taps' fold accuracies
:func:`compare_poolings`          probe accuracy per tap under several poolings, same folds
:func:`linear_cka`                debiased linear CKA between two feature matrices
:func:`cka_matrix`                CKA between every pair of taps (one or two Embeddings)
================================  ==============================================

Options are validated by :mod:`attr_utils.validation` (``ParameterError``);
:mod:`attr_utils.analysis.checks` checks them against the data (blocks,
labels, fold sizes, distinct vectors). See ``docs/protocols.md`` for the
protocols and the interval formula.
"""

from __future__ import annotations

from attr_utils.analysis.accuracy import (
    block_accuracy,
    confusion_matrices,
    knn_predictions,
    per_class_accuracy,
    recommend_blocks,
    summarize_accuracy,
)
from attr_utils.analysis.audit import CatalogAudit, audit_labels, knn_probabilities, near_duplicate_threshold
from attr_utils.analysis.cka import cka_matrix, linear_cka
from attr_utils.analysis.clustering import clustering_metrics
from attr_utils.analysis.probe import ProbeResult, compare_poolings, paired_difference, probe_layers, probe_poolings
from attr_utils.analysis.reduction import default_dims, reduction_sweep, umap_embedding

__all__ = [
    "CatalogAudit",
    "ProbeResult",
    "audit_labels",
    "block_accuracy",
    "cka_matrix",
    "clustering_metrics",
    "compare_poolings",
    "confusion_matrices",
    "default_dims",
    "knn_predictions",
    "knn_probabilities",
    "linear_cka",
    "near_duplicate_threshold",
    "paired_difference",
    "per_class_accuracy",
    "probe_layers",
    "probe_poolings",
    "recommend_blocks",
    "reduction_sweep",
    "summarize_accuracy",
    "umap_embedding",
]
