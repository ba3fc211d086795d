"""Per-block kNN accuracy under stratified cross-validation (the paper's Table 1).

The protocol, with the paper's values as defaults: for every block, a
k-nearest-neighbours classifier (k=5, uniform votes, Euclidean distance) is
evaluated under stratified 5-fold cross-validation with shuffled, seeded
folds. The same folds are used for every block, so blocks are compared on
identical splits. Feature scaling, when asked for, is fitted on the training
folds only (a scikit-learn Pipeline).

Results are tidy DataFrames: :func:`block_accuracy` gives one row per
(block, fold); :func:`summarize_accuracy` turns any such frame into one row
per block with mean, sample standard deviation and a 95 % t-interval;
:func:`recommend_blocks` picks the best block per label.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from attr_utils.analysis.checks import (
    METRICS,
    SCALINGS,
    check_blocks,
    check_k_fits,
    check_knn_protocol,
    labels_for_analysis,
    provenance_attrs,
)
from attr_utils.analysis.result_cache import cached_result
from attr_utils.errors import ParameterError
from attr_utils.validation import check_choice, check_int, check_real, check_seed

__all__ = [
    "block_accuracy",
    "confusion_matrices",
    "knn_predictions",
    "per_class_accuracy",
    "recommend_blocks",
    "summarize_accuracy",
]

# Columns that identify a measurement but are not grouping keys when summarising.
_FOLD_COLUMNS = ("fold", "accuracy", "n_test")


def knn_classifier(*, k: int = 5, metric: str = "euclidean", scaling: str = "none"):
    """The scikit-learn Pipeline used for every accuracy in this package.

    ``scaling`` is ``"none"``, ``"l2"`` (each vector to unit length:
    :class:`~sklearn.preprocessing.Normalizer`) or ``"standardize"``
    (zero mean, unit variance per feature, fitted on the training rows:
    :class:`~sklearn.preprocessing.StandardScaler`).

    Raises
    ------
    ParameterError
        ``k`` < 1, or ``metric``/``scaling`` not among the choices (an
        unknown ``scaling`` would otherwise mean no scaling, silently).
    """
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import Normalizer, StandardScaler

    k = check_int("k", k, min=1)
    check_choice("metric", metric, METRICS)
    check_choice("scaling", scaling, SCALINGS)
    steps = []
    if scaling == "l2":
        steps.append(("scale", Normalizer(norm="l2")))
    elif scaling == "standardize":
        steps.append(("scale", StandardScaler()))
    algorithm = "brute" if metric == "cosine" else "auto"
    steps.append(
        ("knn", KNeighborsClassifier(n_neighbors=k, weights="uniform", metric=metric, algorithm=algorithm))
    )
    return Pipeline(steps)


def stratified_folds(
    y: np.ndarray, *, folds: int = 5, seed: int = 0, groups: np.ndarray | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs of shuffled, seeded stratified k-fold CV.

    With ``groups`` (one content-group id per row, see
    :func:`attr_utils.duplicates.content_groups`) the rows of a group never
    straddle train and test (scikit-learn's ``StratifiedGroupKFold``). When
    every group is a single row (no duplicates) or ``groups`` is None, the
    folds are exactly those of ``StratifiedKFold`` (the paper's protocol),
    so figures without duplicates do not change.

    Raises
    ------
    ParameterError
        ``folds`` < 2 or ``seed`` < 0, or ``folds`` exceeds the number of
        items, or of distinct content groups.
    """
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    folds = check_int("folds", folds, min=2)
    seed = check_seed(seed)
    n = len(y)
    if folds > n:
        raise ParameterError(f"`folds`={folds} needs at least {folds} items; got {n}")
    if groups is None or len(np.unique(groups)) == n:
        skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        return list(skf.split(np.zeros(n), y))
    n_groups = len(np.unique(groups))
    if folds > n_groups:
        raise ParameterError(
            f"`folds`={folds} needs at least {folds} distinct images (content groups); got {n_groups} "
            f"among {n} items; lower `folds` or pass groups=None"
        )
    sgkf = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(sgkf.split(np.zeros(n), y, groups))


def split_groups(emb, rows: np.ndarray, y: np.ndarray, groups) -> tuple[np.ndarray | None, dict]:
    """Group ids of ``rows`` for :func:`stratified_folds`, and the duplicate summary.

    ``groups`` is ``"hash"``, ``"near"``, None or an array of ``len(emb)``
    group ids. The summary (``duplicate_groups``, ``duplicate_items``,
    ``conflicting_groups``, and ``groups``: how rows were grouped) is counted
    by content hash even when ``groups`` is None, so results always say
    whether copies could have straddled the splits.
    """
    from attr_utils.duplicates import content_groups, duplicate_summary, resolve_groups

    name = groups if groups is None or isinstance(groups, str) else "custom"
    ids = resolve_groups(emb, groups)
    summary_ids = ids if groups is not None else content_groups(emb, groups="hash")
    summary = {"groups": name, **duplicate_summary(summary_ids[rows], y)}
    return (None if groups is None else ids[rows]), summary


def single_threaded_knn():
    """Context in which scikit-learn's neighbour search runs on one OpenMP thread.

    Fold-sized searches (hundreds of queries) are dominated by OpenMP
    start-up and spin-waiting whenever the cores are shared (a notebook
    kernel beside a browser, parallel test runs): measured 6x slower on two
    busy cores than one thread. One thread keeps Table 1 for five blocks of
    1,000 vectors under a second.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


def _fold_of(splits, n: int) -> np.ndarray:
    """The test fold of every one of ``n`` rows, for ``splits`` that partition them."""
    out = np.empty(n, dtype=np.int64)
    for fold, (_, test) in enumerate(splits):
        out[test] = fold
    return out


def knn_predictions(
    emb,
    label: str,
    *,
    blocks: Iterable[str] | str | None = None,
    k: int = 5,
    folds: int = 5,
    metric: str = "euclidean",
    scaling: str = "none",
    seed: int = 0,
    drop_small_classes: bool = False,
    groups="hash",
) -> pd.DataFrame:
    """Out-of-fold kNN predictions for every item and block.

    Every item is predicted exactly once per block, by the model trained on
    the other folds (scikit-learn's ``cross_val_predict`` on the folds of
    :func:`stratified_folds`). This is what :func:`per_class_accuracy` and
    :func:`confusion_matrices` are computed from.

    Parameters
    ----------
    emb : Embeddings
        Per-block vectors and labels.
    label : str
        Label column to predict.
    blocks, k, folds, metric, scaling, seed, drop_small_classes, groups
        As in :func:`block_accuracy`.

    Returns
    -------
    pandas.DataFrame
        One row per (block, item): ``block``, ``row`` (position in ``emb``),
        ``path``, ``fold``, ``true``, ``predicted``, ``correct``.
    """
    from sklearn.model_selection import cross_val_predict

    k, folds, seed = check_knn_protocol(k, folds, metric, scaling, seed)
    names = check_blocks(emb, blocks)
    rows, y = labels_for_analysis(emb, label, folds=folds, drop_small_classes=drop_small_classes)
    group_ids, dup = split_groups(emb, rows, y, groups)
    splits = stratified_folds(y, folds=folds, seed=seed, groups=group_ids)
    check_k_fits(k, splits)
    model = knn_classifier(k=k, metric=metric, scaling=scaling)
    paths = np.asarray(emb.paths, dtype=object)[rows]
    folds_of_rows = _fold_of(splits, len(y))
    frames = []
    for name in names:
        with single_threaded_knn():  # cross_val_predict clones, fits and predicts once per split
            pred = cross_val_predict(model, emb[name][rows], y, cv=splits).astype(str)
        frames.append(
            pd.DataFrame(
                {
                    "block": name,
                    "row": rows,
                    "path": paths,
                    "fold": folds_of_rows,
                    "true": y,
                    "predicted": pred,
                    "correct": pred == y,
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    out.attrs = provenance_attrs(emb, label, k=k, folds=folds, metric=metric, scaling=scaling, seed=seed, **dup)
    return out


@cached_result("block_accuracy")
def block_accuracy(
    emb,
    label: str,
    *,
    blocks: Iterable[str] | str | None = None,
    k: int = 5,
    folds: int = 5,
    metric: str = "euclidean",
    scaling: str = "none",
    seed: int = 0,
    drop_small_classes: bool = False,
    groups="hash",
) -> pd.DataFrame:
    """kNN accuracy of every block under stratified k-fold cross-validation.

    The paper's Table 1: for each block, a kNN classifier with uniform votes
    is trained on all folds but one and scored on the held-out fold. Folds are
    stratified by ``label``, shuffled with ``seed``, and shared by all blocks.

    Parameters
    ----------
    emb : Embeddings
        Per-block vectors and labels (e.g. from :func:`attr_utils.embed`).
    label : str
        Label column to predict (e.g. ``"color"``).
    blocks : str or list of str, optional
        Blocks to evaluate; default every block, in network order.
    k : int, default=5
        Number of neighbours (the paper's value).
    folds : int, default=5
        Number of stratified folds (the paper's value).
    metric : {"euclidean", "cosine"}, default="euclidean"
        Distance between vectors.
    scaling : {"none", "l2", "standardize"}, default="none"
        Feature scaling before kNN, fitted on the training folds only.
        The paper uses none.
    seed : int, default=0
        Seed of the fold shuffle; identical seeds give identical tables.
    drop_small_classes : bool, default=False
        A class with fewer members than ``folds`` is an error (it cannot be
        stratified); with True it is left out with a warning instead.
    groups : {"hash", "near"}, None or array of int, default="hash"
        Which items must stay in the same fold (see
        :mod:`attr_utils.duplicates`): ``"hash"`` keeps byte-identical copies
        together, ``"near"`` also near-copies (re-encoded, resized), None
        lets copies straddle folds (the paper's exact protocol), an array
        gives one group id per row of ``emb``. Grouped folds are built with
        scikit-learn's ``StratifiedGroupKFold``; without duplicates they are
        the paper's ``StratifiedKFold`` folds, unchanged.
    cache : bool, default=True
        Reuse the table cached on disk for the same vectors, labels and
        options (:mod:`attr_utils.analysis.result_cache`; no pickle).
    cache_dir : path-like, optional
        attr-utils cache root (default: :func:`attr_utils.cache.cache_root`).

    Returns
    -------
    pandas.DataFrame
        One row per (block, fold) with columns ``backbone``, ``weights``,
        ``label``, ``block``, ``dim``, ``fold``, ``n_test``, ``accuracy``.
        ``.attrs`` records the provenance, the protocol (k, folds,
        metric, scaling, seed, groups) and the duplicates found by content
        hash (``duplicate_groups``, ``duplicate_items``,
        ``conflicting_groups``: same content, different labels). Pass it
        to :func:`summarize_accuracy` for
        mean, std and 95 % interval per block.

    Raises
    ------
    DatasetError
        Unknown label column, fewer than 2 classes, or a class smaller than
        ``folds`` (unless ``drop_small_classes``).
    ParameterError
        An invalid option (wrong type, out of range, unknown block), ``k``
        larger than a training fold, or ``folds`` larger than the number of
        items or of distinct content groups. It is a ``ValueError`` and a
        ``TypeError``, like scikit-learn's ``InvalidParameterError``.

    See Also
    --------
    summarize_accuracy, per_class_accuracy, confusion_matrices, recommend_blocks

    Notes
    -----
    Items with a missing label are left out with a warning.

    Examples
    --------
    >>> per_fold = block_accuracy(emb, "color")            # doctest: +SKIP
    >>> summarize_accuracy(per_fold)[["block", "mean", "std"]]  # doctest: +SKIP
    """
    preds = knn_predictions(
        emb,
        label,
        blocks=blocks,
        k=k,
        folds=folds,
        metric=metric,
        scaling=scaling,
        seed=seed,
        drop_small_classes=drop_small_classes,
        groups=groups,
    )
    return _accuracy_from_predictions(emb, label, preds)


def _accuracy_from_predictions(emb, label, preds: pd.DataFrame) -> pd.DataFrame:
    dims = emb.dims
    grouped = (
        preds.groupby(["block", "fold"], sort=False)["correct"]
        .agg(n_test="size", accuracy="mean")
        .reset_index()
    )
    order = {name: i for i, name in enumerate(dict.fromkeys(preds["block"]))}
    grouped = (
        grouped.assign(_order=grouped["block"].map(order))
        .sort_values(["_order", "fold"], kind="stable")
        .reset_index(drop=True)
    )
    out = pd.DataFrame(
        {
            "backbone": emb.backbone,
            "weights": emb.weights,
            "label": label,
            "block": grouped["block"],
            "dim": grouped["block"].map(dims).astype(int),
            "fold": grouped["fold"].astype(int),
            "n_test": grouped["n_test"].astype(int),
            "accuracy": grouped["accuracy"].astype(float),
        }
    )
    out.attrs = dict(preds.attrs)
    return out


def summarize_accuracy(results: pd.DataFrame, *, confidence: float = 0.95) -> pd.DataFrame:
    """Mean, standard deviation and confidence interval of per-fold accuracies.

    Parameters
    ----------
    results : pandas.DataFrame
        Per-fold rows with ``fold`` and ``accuracy`` columns, as returned by
        :func:`block_accuracy` or :func:`~attr_utils.analysis.reduction_sweep`
        (several such frames may be concatenated).
    confidence : float, default=0.95
        Coverage of the interval.

    Returns
    -------
    pandas.DataFrame
        One row per group of the non-fold columns (e.g. per block, or per
        block, protocol and dim): those columns plus ``n_folds``, ``mean``,
        ``std``, ``ci_low``, ``ci_high``.

    Raises
    ------
    ParameterError
        ``confidence`` outside (0, 1), or ``results`` without ``fold`` and
        ``accuracy`` columns.

    Notes
    -----
    ``std`` is the sample standard deviation of the fold accuracies
    (``ddof=1``). The interval is the Student-t interval of the mean over
    folds, ``mean ± t((1 + confidence) / 2, n_folds - 1) · std / sqrt(n_folds)``,
    clipped to [0, 1]. Folds share training items, so the interval is
    approximate (typically too narrow); it conveys fold-to-fold spread, not a
    guarantee.
    """
    from scipy import stats

    confidence = check_real("confidence", confidence, min=0.0, max=1.0, closed="neither")
    missing = {"fold", "accuracy"} - set(results.columns)
    if missing:
        raise ParameterError(f"`results` lacks column(s) {sorted(missing)}; pass per-fold results")
    keys = [c for c in results.columns if c not in _FOLD_COLUMNS]
    g = results.groupby(keys, sort=False, dropna=False)["accuracy"]
    out = g.agg(n_folds="size", mean="mean", std=lambda s: s.std(ddof=1)).reset_index()
    n = out["n_folds"].to_numpy()
    t = np.where(n > 1, stats.t.ppf((1 + confidence) / 2, np.maximum(n - 1, 1)), np.nan)
    half = t * out["std"].to_numpy() / np.sqrt(n)
    out["ci_low"] = np.clip(out["mean"] - half, 0.0, 1.0)
    out["ci_high"] = np.clip(out["mean"] + half, 0.0, 1.0)
    out.attrs = dict(results.attrs)
    out.attrs["confidence"] = confidence
    return out


def per_class_accuracy(
    emb,
    label: str,
    *,
    blocks: Iterable[str] | str | None = None,
    k: int = 5,
    folds: int = 5,
    metric: str = "euclidean",
    scaling: str = "none",
    seed: int = 0,
    drop_small_classes: bool = False,
    groups="hash",
) -> pd.DataFrame:
    """Accuracy (recall) of every class, per block, from out-of-fold predictions.

    Parameters are those of :func:`block_accuracy`.

    Returns
    -------
    pandas.DataFrame
        One row per (block, class): ``backbone``, ``weights``, ``label``,
        ``block``, ``class``, ``n`` (members), ``correct``, ``accuracy``
        (fraction of the class predicted as itself).
    """
    preds = knn_predictions(
        emb, label, blocks=blocks, k=k, folds=folds, metric=metric, scaling=scaling,
        seed=seed, drop_small_classes=drop_small_classes, groups=groups,
    )
    g = preds.groupby(["block", "true"], sort=False)["correct"].agg(n="size", correct="sum").reset_index()
    out = pd.DataFrame(
        {
            "backbone": emb.backbone,
            "weights": emb.weights,
            "label": label,
            "block": g["block"],
            "class": g["true"],
            "n": g["n"].astype(int),
            "correct": g["correct"].astype(int),
        }
    )
    out["accuracy"] = out["correct"] / out["n"]
    out = out.sort_values(["block", "class"], key=_block_order_key(emb)).reset_index(drop=True)
    out.attrs = dict(preds.attrs)
    return out


def confusion_matrices(
    emb,
    label: str,
    *,
    blocks: Iterable[str] | str | None = None,
    k: int = 5,
    folds: int = 5,
    metric: str = "euclidean",
    scaling: str = "none",
    seed: int = 0,
    drop_small_classes: bool = False,
    groups="hash",
) -> pd.DataFrame:
    """Confusion matrices of every block, as a tidy frame.

    Parameters are those of :func:`block_accuracy`.

    Returns
    -------
    pandas.DataFrame
        One row per (block, true class, predicted class), every pair present
        (zeros included): ``block``, ``true``, ``predicted``, ``count``,
        ``fraction`` (count divided by the size of the true class, so each
        true class's row sums to 1). Use
        ``df[df.block == "block2"].pivot(index="true", columns="predicted", values="count")``
        for a square matrix, or :func:`attr_utils.figures.confusion_heatmap`.
    """
    preds = knn_predictions(
        emb, label, blocks=blocks, k=k, folds=folds, metric=metric, scaling=scaling,
        seed=seed, drop_small_classes=drop_small_classes, groups=groups,
    )
    classes = sorted(preds["true"].unique())
    frames = []
    for name, part in preds.groupby("block", sort=False):
        counts = pd.crosstab(part["true"], part["predicted"]).reindex(
            index=classes, columns=classes, fill_value=0
        )
        long = counts.rename_axis(index="true", columns="predicted").stack().rename("count").reset_index()
        long.insert(0, "block", name)
        frames.append(long)
    out = pd.concat(frames, ignore_index=True)
    out["count"] = out["count"].astype(int)
    totals = out.groupby(["block", "true"])["count"].transform("sum")
    out["fraction"] = np.where(totals > 0, out["count"] / totals.where(totals > 0, 1), 0.0)
    out.insert(0, "label", label)
    out.insert(0, "weights", emb.weights)
    out.insert(0, "backbone", emb.backbone)
    out.attrs = dict(preds.attrs)
    return out


def _block_order_key(emb):
    order = {name: i for i, name in enumerate(emb.block_names)}

    def key(col: pd.Series) -> pd.Series:
        return col.map(order) if col.name == "block" else col

    return key


def recommend_blocks(
    results: pd.DataFrame | Iterable[pd.DataFrame],
) -> dict[str, str]:
    """The block with the highest mean kNN accuracy, per label.

    Parameters
    ----------
    results : DataFrame or iterable of DataFrames
        Output(s) of :func:`block_accuracy` (per fold) or
        :func:`summarize_accuracy`, for one backbone and weights, any number
        of labels (e.g. one frame for ``"color"`` and one for ``"texture"``).

    Returns
    -------
    dict of str to str
        Label column -> best block, e.g. ``{"color": "block2",
        "texture": "block4"}`` (the paper's finding on resnet50). Ties go to
        the smaller (cheaper) block.

    Raises
    ------
    ParameterError
        Empty results, missing columns, or results that mix backbones or
        weights (filter them first: the best block is per model).
    """
    if isinstance(results, pd.DataFrame):
        frames = [results]
    elif isinstance(results, Mapping):
        frames = list(results.values())
    else:
        frames = list(results)
    if not frames or all(len(f) == 0 for f in frames):
        raise ParameterError("`results` is empty")
    summaries = []
    for f in frames:
        if "mean" not in f.columns:
            if "accuracy" not in f.columns:
                raise ParameterError("`results` needs an `accuracy` (per fold) or `mean` (summary) column")
            f = summarize_accuracy(f)
        missing = {"label", "block", "dim"} - set(f.columns)
        if missing:
            raise ParameterError(f"`results` lacks column(s) {sorted(missing)}")
        summaries.append(f)
    table = pd.concat(summaries, ignore_index=True)
    for col in ("backbone", "weights"):
        if col in table.columns and table[col].nunique() > 1:
            raise ParameterError(
                f"`results` mixes several {col} values {sorted(table[col].unique())}; "
                "recommend blocks for one backbone and weights at a time"
            )
    if "protocol" in table.columns:
        raise ParameterError("`results` looks like a reduction sweep; pass block_accuracy results")
    best = {}
    for lab, part in table.groupby("label", sort=False):
        part = part.sort_values(["mean", "dim"], ascending=[False, True], kind="stable")
        best[str(lab)] = str(part["block"].iloc[0])
    return best
