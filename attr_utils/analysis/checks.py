"""Checks of the analysis options against the data they are applied to.

Parameter types and ranges go through the one validator,
:mod:`attr_utils.validation`; this module holds what only the analyses
know: which blocks and labels an :class:`~attr_utils.Embeddings` has, whether
``k`` fits the training folds, whether UMAP can be fitted on the distinct
vectors, and the provenance every result records in ``.attrs``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from attr_utils.datasets import missing_labels
from attr_utils.errors import DatasetError, ParameterError
from attr_utils.validation import check_choice, check_int, check_seed

__all__ = [
    "METRICS",
    "PROTOCOLS",
    "SCALINGS",
    "check_block",
    "check_blocks",
    "check_k_fits",
    "check_knn_protocol",
    "check_umap_neighbors",
    "labels_for_analysis",
    "n_unique_rows",
    "plain",
    "plain_list",
    "provenance_attrs",
]

METRICS = ("euclidean", "cosine")
SCALINGS = ("none", "l2", "standardize")
PROTOCOLS = ("paper", "inductive")


def plain(value):
    """``value`` as a plain Python scalar (``np.str_('red')`` -> ``'red'``) for messages."""
    return value.item() if isinstance(value, np.generic) else value


def plain_list(values) -> list:
    """Sorted distinct values as plain Python scalars, for messages."""
    return sorted({plain(v) for v in values}, key=str)


def check_knn_protocol(k, folds, metric, scaling, seed) -> tuple[int, int, int]:
    """The kNN cross-validation options, checked: ``(k, folds, seed)`` as ints.

    Raises
    ------
    ParameterError
        ``k`` < 1, ``folds`` < 2, a negative ``seed``, a non-integer, or
        ``metric``/``scaling`` not among :data:`METRICS`/:data:`SCALINGS`.
    """
    k = check_int("k", k, min=1)
    folds = check_int("folds", folds, min=2)
    check_choice("metric", metric, METRICS)
    check_choice("scaling", scaling, SCALINGS)
    return k, folds, check_seed(seed)


def check_blocks(emb, blocks) -> list[str]:
    """Requested block names in network order (all when ``blocks`` is None).

    Raises
    ------
    ParameterError
        ``blocks`` is empty or names a block ``emb`` does not hold.
    """
    available = emb.block_names
    if blocks is None:
        return available
    if isinstance(blocks, str):
        blocks = [blocks]
    blocks = list(blocks)
    if not blocks:
        raise ParameterError("`blocks` is empty; pass None for every block")
    unknown = [b for b in blocks if b not in available]
    if unknown:
        raise ParameterError(f"unknown block(s) {unknown}; available: {available}")
    return [b for b in available if b in blocks]


def check_block(emb, block, *, name: str = "block") -> str:
    """``block`` if ``emb`` holds it; ParameterError naming ``name`` and the available blocks otherwise."""
    if not isinstance(block, str) or block not in emb.block_names:
        raise ParameterError(f"unknown {name} {block!r}; available: {emb.block_names}")
    return block


def check_k_fits(k: int, splits) -> None:
    """``k`` neighbours must exist in every training fold of ``splits``.

    Raises
    ------
    ParameterError
        ``k`` exceeds the smallest training fold.
    """
    smallest = min(len(train) for train, _ in splits)
    if k > smallest:
        raise ParameterError(f"`k` must be <= the smallest training fold ({smallest} items), got {k}")


def n_unique_rows(X: np.ndarray) -> int:
    """Number of distinct rows of ``X`` (UMAP is fitted on these, ``unique=True``)."""
    return int(len(np.unique(np.ascontiguousarray(X), axis=0)))


def check_umap_neighbors(n_neighbors: int, n_unique: int, *, name: str = "n_neighbors") -> None:
    """UMAP's neighbour graph needs ``n_neighbors`` < the number of distinct vectors.

    Raises
    ------
    ParameterError
        ``n_neighbors >= n_unique``.
    """
    if n_neighbors >= n_unique:
        raise ParameterError(
            f"`{name}`={n_neighbors} must be < the number of distinct vectors UMAP is fitted on "
            f"({n_unique}); lower `{name}` or use more images"
        )


def provenance_attrs(emb, label, **protocol) -> dict:
    """The ``.attrs`` of an analysis result: where the vectors came from, the label and the protocol."""
    return {
        "provenance": emb.provenance,
        "backbone": emb.backbone,
        "weights": emb.weights,
        "weights_label": emb.weights_label or emb.weights,
        "pretrained": bool(emb.pretrained),
        "pooling": getattr(emb, "pooling", "average"),
        "label": label,
        **protocol,
    }


def labels_for_analysis(
    emb, label: str, *, folds: int | None, drop_small_classes: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices used and their labels (as strings).

    Rows whose label is missing are left out with a warning. A class with
    fewer members than ``folds`` cannot be stratified: DatasetError naming
    it, or (``drop_small_classes=True``) the class is left out with a warning.

    Raises
    ------
    DatasetError
        No label column ``label``, fewer than 2 classes, or a class smaller
        than ``folds`` (unless ``drop_small_classes``).
    """
    if not isinstance(label, str) or label not in emb.label_columns:
        raise DatasetError(
            f"no label column {plain(label)!r}; available label columns: {[plain(c) for c in emb.label_columns]}"
        )
    values = emb.table[label]
    missing = missing_labels(values)
    if missing.any():
        warnings.warn(
            f"{int(missing.sum())} item(s) without a {label!r} label are left out",
            UserWarning,
            stacklevel=3,
        )
    rows = np.flatnonzero(~missing)
    y = values.to_numpy()[rows].astype(str)
    if folds is not None:
        counts = pd.Series(y).value_counts()
        small = counts[counts < folds]
        if len(small):
            desc = ", ".join(f"{plain(cls)!r} ({int(n)})" for cls, n in small.items())
            if not drop_small_classes:
                raise DatasetError(
                    f"class(es) of {label!r} with fewer members than folds={folds}: {desc}; "
                    "stratified cross-validation needs at least one per fold; pass "
                    "drop_small_classes=True to leave them out, or lower `folds`"
                )
            warnings.warn(
                f"leaving out class(es) of {label!r} with fewer than {folds} members: {desc}",
                UserWarning,
                stacklevel=3,
            )
            keep = ~np.isin(y, small.index.to_numpy())
            rows, y = rows[keep], y[keep]
    if len(np.unique(y)) < 2:
        raise DatasetError(
            f"label {label!r} needs at least 2 classes to evaluate; found {plain_list(y)}"
        )
    return rows, y
