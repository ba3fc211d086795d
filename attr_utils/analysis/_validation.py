"""Parameter checks and label handling shared by the analysis functions."""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd

from attr_utils.errors import DatasetError

METRICS = ("euclidean", "cosine")
SCALINGS = ("none", "l2", "standardize")
PROTOCOLS = ("paper", "inductive")


def plain(value):
    """``value`` as a plain Python scalar (``np.str_('red')`` -> ``'red'``) for messages."""
    return value.item() if isinstance(value, np.generic) else value


def plain_list(values) -> list:
    """Sorted distinct values as plain Python scalars, for messages."""
    return sorted({plain(v) for v in values}, key=str)


def check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {value}")
    return int(value)


def check_choice(name: str, value, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_seed(value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`seed` must be an int, got {type(value).__name__}")
    return int(value)


def check_blocks(emb, blocks) -> list[str]:
    """Requested block names in network order (all when ``blocks`` is None)."""
    available = emb.block_names
    if blocks is None:
        return available
    if isinstance(blocks, str):
        blocks = [blocks]
    blocks = list(blocks)
    if not blocks:
        raise ValueError("`blocks` is empty; pass None for every block")
    unknown = [b for b in blocks if b not in available]
    if unknown:
        raise ValueError(f"unknown block(s) {unknown}; available: {available}")
    return [b for b in available if b in blocks]


def check_block(emb, block) -> str:
    if not isinstance(block, str) or block not in emb.block_names:
        raise ValueError(f"unknown block {block!r}; available: {emb.block_names}")
    return block


def labels_for_analysis(
    emb, label: str, *, folds: int | None, drop_small_classes: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices used and their labels (as strings).

    Rows whose label is missing are left out with a warning. A class with
    fewer members than ``folds`` cannot be stratified: DatasetError naming
    it, or (``drop_small_classes=True``) the class is left out with a warning.
    """
    if not isinstance(label, str) or label not in emb.label_columns:
        raise DatasetError(
            f"no label column {plain(label)!r}; available label columns: {[plain(c) for c in emb.label_columns]}"
        )
    values = emb.table[label]
    missing = values.isna().to_numpy() | (values.astype(str).str.strip() == "").to_numpy()
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
