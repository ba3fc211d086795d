"""Table 1 per pooling: the paper's per-block kNN accuracy for several poolings of one catalog.

The paper pools every block by global average. :func:`pooling_accuracy`
runs its protocol (:func:`attr_utils.analysis.block_accuracy`: kNN k=5,
stratified 5-fold, duplicate-grouped folds, one seed) on the embeddings of
the *same images* pooled in different ways (``pooling="average"``,
``"max"``, ``"foreground"``, ``"interior"``; see :mod:`attr_utils.pooling`)
and stacks the per-fold rows with a ``pooling`` column. Every pooling is
scored on identical folds (same rows, same labels, same seed), so the rows
can be summarised side by side with
:func:`attr_utils.analysis.summarize_accuracy` (mean and 95 % t-interval over
folds) or compared fold by fold. ``benchmarks/bench_pooling.py`` and the
"Foreground-aware pooling" section of ``docs/protocols.md`` use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from attr_utils.analysis.accuracy import block_accuracy
from attr_utils.errors import ParameterError

__all__ = ["pooling_accuracy"]


def _pooling_of(emb) -> str:
    """The pooling an Embeddings records (``"average"`` for those made before poolings existed)."""
    return getattr(emb, "pooling", "average") or "average"


def pooling_accuracy(
    embeddings: Mapping[str, object],
    labels: Iterable[str] | str = ("color", "texture"),
    *,
    blocks: Iterable[str] | str | None = None,
    k: int = 5,
    folds: int = 5,
    seed: int = 0,
    groups="hash",
) -> pd.DataFrame:
    """Per-block kNN accuracy (the paper's Table 1) for each pooling of one catalog.

    Parameters
    ----------
    embeddings : mapping of str to Embeddings
        Pooling name -> the catalog's embeddings with that pooling, e.g.
        ``{"average": au.embed(data), "foreground": au.embed(data,
        pooling="foreground")}``. Every value holds the same images in the
        same order (checked by content hash) with the same backbone and
        weights; an Embeddings that records its pooling must record the
        key's.
    labels : str or iterable of str, default=("color", "texture")
        Label columns to predict.
    blocks : str or list of str, optional
        Blocks to evaluate; default every block.
    k : int, default=5
        Neighbours (the paper's value).
    folds : int, default=5
        Stratified folds (the paper's value).
    seed : int, default=0
        Seed of the fold shuffle, shared by every pooling.
    groups : {"hash", "near"}, None or array of int, default="hash"
        Items kept in one fold (see :func:`attr_utils.analysis.block_accuracy`).
        ``"near"`` groups depend on the vectors, hence on the pooling: they
        are found once, on the first embeddings, so every pooling is split
        into the same folds.

    Returns
    -------
    pandas.DataFrame
        One row per (pooling, label, block, fold): ``backbone``, ``weights``,
        ``pooling``, ``label``, ``block``, ``dim``, ``fold``, ``n_test``,
        ``accuracy`` (a fraction in [0, 1]). ``.attrs`` holds the protocol
        and provenance of the first run plus ``poolings`` (in the mapping's
        order). Pass it to :func:`attr_utils.analysis.summarize_accuracy` for
        mean, std and interval per (pooling, label, block).

    Raises
    ------
    ParameterError
        ``embeddings`` is empty or not a mapping, a key is not a string, an
        Embeddings records another pooling than its key, or the embeddings
        differ in images, order, backbone or weights; and every error of
        :func:`~attr_utils.analysis.block_accuracy`.
    DatasetError, KeyError
        As :func:`~attr_utils.analysis.block_accuracy` (an unknown label
        column, too small classes).

    Examples
    --------
    >>> per_fold = pooling_accuracy({"average": emb, "foreground": emb_fg})  # doctest: +SKIP
    >>> summarize_accuracy(per_fold)  # doctest: +SKIP
    """
    if not isinstance(embeddings, Mapping) or not embeddings:
        raise ParameterError("`embeddings` must be a non-empty mapping of pooling name -> Embeddings")
    labels = [labels] if isinstance(labels, str) else list(labels)
    if not labels:
        raise ParameterError("`labels` must name at least one label column")
    first_name, first = next(iter(embeddings.items()))
    for name, emb in embeddings.items():
        if not isinstance(name, str) or not name:
            raise ParameterError(f"pooling names must be non-empty strings, got {name!r}")
        recorded = _pooling_of(emb)
        if hasattr(emb, "pooling") and recorded != name:
            raise ParameterError(f"the embeddings under {name!r} record pooling {recorded!r}; key them by their pooling")
        if (emb.backbone, emb.weights) != (first.backbone, first.weights):
            raise ParameterError(
                f"the embeddings under {name!r} come from {emb.backbone} · {emb.weights}, those under {first_name!r} "
                f"from {first.backbone} · {first.weights}: compare poolings of one backbone and weights"
            )
        if len(emb) != len(first) or not np.array_equal(emb.table["hash"].to_numpy(), first.table["hash"].to_numpy()):
            raise ParameterError(
                f"the embeddings under {name!r} and {first_name!r} hold different images or another order; "
                "embed the same dataset with each pooling"
            )
    shared = groups
    if isinstance(groups, str) and groups == "near":
        from attr_utils.duplicates import resolve_groups

        shared = resolve_groups(first, groups)
    frames = []
    attrs: dict = {}
    for name, emb in embeddings.items():
        for label in labels:
            per_fold = block_accuracy(emb, label, blocks=blocks, k=k, folds=folds, seed=seed, groups=shared)
            if not attrs:
                attrs = dict(per_fold.attrs)
            per_fold.insert(per_fold.columns.get_loc("weights") + 1, "pooling", name)
            frames.append(per_fold)
    out = pd.concat(frames, ignore_index=True)
    attrs.pop("label", None)
    attrs["provenance"] = f"{first.backbone} · {first.weights_label or first.weights}"  # each row names its pooling
    attrs["labels"] = labels
    if isinstance(groups, str):
        attrs["groups"] = groups
    attrs["poolings"] = list(embeddings)
    out.attrs = attrs
    return out
