"""Catalog audit from embeddings alone: suspect labels, duplicates, outliers.

:func:`audit_labels` answers the first three questions of anyone cleaning a
catalog, at the block that carries the attribute:

Suspect labels
    Every labelled item is predicted out of fold by the toolkit's kNN
    (:func:`~attr_utils.analysis.accuracy.stratified_folds` over content
    groups, so a copy never votes for its original; the same classifier as
    :func:`~attr_utils.analysis.knn_predictions`). An item whose label loses
    the vote is suspect; its ``score`` is the winner's vote share minus the
    share of the item's own label, in (0, 1]: 1 when all ``k`` neighbours
    agree on another value and none on the label.
Near-duplicate groups
    Rows with the same content hash (``"identical"``), joined with rows whose
    vectors at ``duplicate_block`` (default the last block) are closer than a
    threshold (``"near"``): :func:`attr_utils.duplicates.content_groups`
    with ``groups="near"``. The threshold is calibrated on the catalog's own
    nearest-neighbour distances (see :func:`near_duplicate_threshold`).
Outliers
    Items farther from every labelled item (outside their own content group)
    than labelled items usually are from their nearest fellow: candidates
    for a new attribute value, or for a wrong photo.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from attr_utils.analysis.checks import METRICS, SCALINGS, check_block, labels_for_analysis
from attr_utils.analysis.accuracy import (
    block_accuracy,
    knn_classifier,
    recommend_blocks,
    single_threaded_knn,
    split_groups,
    stratified_folds,
)
from attr_utils.duplicates import content_groups
from attr_utils.errors import ParameterError
from attr_utils.validation import check_choice, check_int, check_real, check_seed

__all__ = ["CatalogAudit", "audit_labels", "knn_probabilities", "near_duplicate_threshold"]

#: The near-duplicate threshold is this fraction of the median nearest-neighbour distance.
NEAR_FRACTION = 0.1


@dataclass
class CatalogAudit:
    """Result of :func:`audit_labels`.

    Attributes
    ----------
    suspects : pandas.DataFrame
        One row per suspect label, highest score first: ``row``, ``path``,
        ``label``, ``suggested``, ``score``, ``label_share``,
        ``suggested_share``.
    duplicates : pandas.DataFrame
        One row per duplicate group: ``group``, ``rows`` and ``paths`` (lists),
        ``kind`` (``"identical"`` or ``"near"``), ``distance`` (largest cosine
        distance within the group, 0 for identical files).
    outliers : pandas.DataFrame
        ``row``, ``path``, ``label`` (may be missing), ``distance`` (to the
        nearest labelled item outside its group), ``score`` (that distance
        over the outlier threshold; > 1), highest first.
    attrs : dict
        ``label``, ``block``, ``duplicate_block``, ``near_threshold``,
        ``outlier_threshold``, ``k``, ``folds``, ``seed``, provenance.
    """

    suspects: pd.DataFrame
    duplicates: pd.DataFrame
    outliers: pd.DataFrame
    attrs: dict = field(default_factory=dict)

    def summary(self) -> pd.DataFrame:
        """What was checked and what was found, one row per item (for a report or a dashboard page)."""
        a = self.attrs
        rows = [
            ("attribute", a.get("label")),
            ("labels checked at", a.get("block")),
            ("duplicates checked at", a.get("duplicate_block")),
            ("near-copy distance below", f"{a['near_threshold']:.4f}" if "near_threshold" in a else None),
            ("outlier distance above", f"{a['outlier_threshold']:.4f}" if "outlier_threshold" in a else None),
            ("kNN", f"k={a.get('k')}, {a.get('folds')} folds, seed {a.get('seed')}, groups={a.get('groups')!r}"),
            ("suspect labels", len(self.suspects)),
            ("duplicate groups", len(self.duplicates)),
            ("outliers", len(self.outliers)),
            ("features", a.get("provenance")),
        ]
        return pd.DataFrame(rows, columns=["", "value"]).set_index("")

    def to_json(self) -> dict:
        """The issue's JSON shape: ``suspect_labels``, ``duplicates``, ``outliers``."""
        return {
            "suspect_labels": [
                {"path": r.path, "label": r.label, "suggested": r.suggested, "score": round(float(r.score), 6)}
                for r in self.suspects.itertuples()
            ],
            "duplicates": [
                {"paths": list(r.paths), "kind": r.kind, "distance": round(float(r.distance), 6)}
                for r in self.duplicates.itertuples()
            ],
            "outliers": [{"path": r.path, "score": round(float(r.score), 6)} for r in self.outliers.itertuples()],
        }


    def gallery(self, section: str, *, top: int = 12) -> tuple[list[str], list[str]]:
        """Paths and captions of a section's first ``top`` entries, for a thumbnail grid.

        Parameters
        ----------
        section : {"suspects", "duplicates", "outliers"}
            ``"duplicates"`` lists the members of the first ``top`` groups,
            group after group (captioned with the group's number and kind).
        top : int, default=12

        Returns
        -------
        paths, captions : list of str
            For :func:`attr_utils.apps.gallery.image_grid`.
        """
        check_choice("section", section, ("suspects", "duplicates", "outliers"))
        top = check_int("top", top, min=1)
        if section == "suspects":
            head = self.suspects.head(top)
            captions = [f"label {r.label}\nsuggested {r.suggested}\nscore {r.score:.2f}" for r in head.itertuples()]
            return head["path"].tolist(), captions
        if section == "outliers":
            head = self.outliers.head(top)
            captions = [f"score {r.score:.2f}\nlabel {'' if pd.isna(r.label) else r.label}" for r in head.itertuples()]
            return head["path"].tolist(), captions
        paths, captions = [], []
        for n, r in enumerate(self.duplicates.head(top).itertuples(), 1):
            paths += list(r.paths)
            captions += [f"group {n} · {r.kind}\n{r.distance:.4f}"] * len(r.paths)
        return paths, captions

def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)


def _nearest_other(x: np.ndarray, groups: np.ndarray, candidates: np.ndarray | None = None) -> np.ndarray:
    """Cosine distance from every row of ``x`` to the nearest candidate row of another content group."""
    cand = np.arange(len(x)) if candidates is None else candidates
    out = np.full(len(x), np.inf)
    for s in range(0, len(x), 1024):
        d = 1.0 - x[s : s + 1024] @ x[cand].T
        d[groups[s : s + 1024, None] == groups[cand][None, :]] = np.inf
        out[s : s + 1024] = np.maximum(d.min(axis=1), 0.0) if len(cand) else np.inf
    return out


def near_duplicate_threshold(emb, *, block: str | None = None) -> float:
    """Cosine distance under which two images count as near-copies, from the catalog itself.

    For every image, the distance to its nearest other image at ``block``
    (byte-identical copies, same content hash, left out) is measured; the
    threshold is :data:`NEAR_FRACTION` (a tenth) of the median of those
    distances. The median is the typical gap between *distinct* products of
    this catalog and this backbone, and it is not moved by the copies
    themselves until half the catalog is copies; a re-encoded or resized copy
    sits one to two orders of magnitude closer to its original than that.
    Measured on the default synthetic catalog (EfficientNet-Lite0, ImageNet
    weights, last block): median nearest-neighbour distance 0.119, so a
    threshold of 0.012, while the closest two distinct images are 0.032
    apart and a JPEG re-encode moves an image by about 0.005.

    Parameters
    ----------
    emb : Embeddings
    block : str, optional
        Default: the last block (the least sensitive to re-encoding).

    Returns
    -------
    float
        The threshold, in [0, 2).
    """
    block = emb.block_names[-1] if block is None else check_block(emb, block)
    if len(emb) < 2:
        return 0.0
    groups = content_groups(emb, groups="hash")
    nn = _nearest_other(_unit(emb[block]), groups)
    nn = nn[np.isfinite(nn)]
    return float(NEAR_FRACTION * np.median(nn)) if len(nn) else 0.0


def knn_probabilities(
    emb, label: str, *, block: str, k: int = 5, folds: int = 5, seed: int = 0, groups="hash",
    metric: str = "euclidean", scaling: str = "none", drop_small_classes: bool = False,
) -> pd.DataFrame:
    """Out-of-fold kNN vote shares of every labelled item (one column per class).

    The folds and classifier are the toolkit's own (those of
    :func:`~attr_utils.analysis.knn_predictions`): stratified, seeded,
    content duplicates kept within one fold.

    Returns
    -------
    pandas.DataFrame
        Index: row of ``emb``; columns: the sorted class names; values: the
        share of the ``k`` out-of-fold neighbours voting for each class.
        ``attrs["label"]`` holds the given labels (array of str).
    """
    from sklearn.base import clone

    k = check_int("k", k, min=1)
    folds = check_int("folds", folds, min=2)
    seed = check_seed(seed)
    block = check_block(emb, block)
    rows, y = labels_for_analysis(emb, label, folds=folds, drop_small_classes=drop_small_classes)
    group_ids, _ = split_groups(emb, rows, y, groups)
    splits = stratified_folds(y, folds=folds, seed=seed, groups=group_ids)
    smallest = min(len(train) for train, _ in splits)
    if k > smallest:
        raise ParameterError(f"`k` must be <= the smallest training fold ({smallest} items), got {k}")
    classes = np.unique(y)
    proba = np.zeros((len(y), len(classes)))
    x = emb[block][rows]
    model = knn_classifier(k=k, metric=metric, scaling=scaling)
    with single_threaded_knn():
        for train, test in splits:
            m = clone(model).fit(x[train], y[train])
            cols = np.searchsorted(classes, m.classes_)
            proba[np.ix_(test, cols)] = m.predict_proba(x[test])
    out = pd.DataFrame(proba, index=rows, columns=classes)
    out.attrs["label"] = y
    return out


def audit_labels(
    emb,
    label: str,
    *,
    block: str | None = None,
    k: int = 5,
    folds: int = 5,
    seed: int = 0,
    groups="hash",
    metric: str = "euclidean",
    scaling: str = "none",
    duplicate_block: str | None = None,
    near_threshold: float | None = None,
    outlier_quantile: float = 0.95,
    outlier_margin: float = 0.25,
    drop_small_classes: bool = False,
) -> CatalogAudit:
    """Suspect labels, near-duplicate groups and outliers of one attribute.

    Parameters
    ----------
    emb : Embeddings
        Per-block vectors, content hashes and the label column.
    label : str
        The attribute's label column.
    block : str, optional
        Block the labels are checked at. Default: the block with the best
        out-of-fold kNN accuracy for ``label``
        (:func:`~attr_utils.analysis.recommend_blocks` over
        :func:`~attr_utils.analysis.block_accuracy`, same protocol).
    k : int, default=5
        Neighbours that vote (the paper's 5).
    folds : int, default=5
        Cross-validation folds (the paper's 5).
    seed : int, default=0
        Seed of the fold shuffle.
    groups : {"hash", "near"}, None or array, default="hash"
        Rows kept within one fold (see :func:`attr_utils.duplicates.content_groups`).
    metric, scaling : str
        As in :func:`~attr_utils.analysis.block_accuracy` (defaults: the paper's).
    duplicate_block : str, optional
        Block whose vectors decide near-copies; default the last block.
    near_threshold : float, optional
        Largest cosine distance between near-copies; default calibrated by
        :func:`near_duplicate_threshold`.
    outlier_quantile : float, default=0.95
        Quantile of the labelled items' nearest-other distances that
        calibrates the outlier threshold (as the extractor's unknown threshold).
    outlier_margin : float, default=0.25
        The outlier threshold is that quantile times ``1 + outlier_margin``.
    drop_small_classes : bool, default=False
        Leave out classes with fewer members than ``folds``.

    Returns
    -------
    CatalogAudit
        ``suspects``, ``duplicates``, ``outliers`` DataFrames and ``attrs``;
        ``to_json()`` gives the CLI's JSON.

    Raises
    ------
    ParameterError
        An invalid option, or an unknown block.
    DatasetError
        No such label column, or a class smaller than ``folds``.

    Examples
    --------
    >>> audit = audit_labels(emb, "color")              # doctest: +SKIP
    >>> audit.suspects.head()                           # doctest: +SKIP
    """
    k = check_int("k", k, min=1)
    folds = check_int("folds", folds, min=2)
    seed = check_seed(seed)
    check_choice("metric", metric, METRICS)
    check_choice("scaling", scaling, SCALINGS)
    near_threshold = check_real("near_threshold", near_threshold, min=0.0, max=2.0, closed="left", allow_none=True)
    outlier_quantile = check_real("outlier_quantile", outlier_quantile, min=0.0, max=1.0, closed="right")
    outlier_margin = check_real("outlier_margin", outlier_margin, min=0.0)
    if duplicate_block is not None:
        duplicate_block = check_block(emb, duplicate_block, name="duplicate_block")
    if block is None:
        acc = block_accuracy(emb, label, k=k, folds=folds, seed=seed, groups=groups, metric=metric,
                             scaling=scaling, drop_small_classes=drop_small_classes)
        block = recommend_blocks(acc)[label]
    block = check_block(emb, block)

    # -- suspect labels -----------------------------------------------------------------
    proba = knn_probabilities(emb, label, block=block, k=k, folds=folds, seed=seed, groups=groups, metric=metric,
                              scaling=scaling, drop_small_classes=drop_small_classes)
    y = proba.attrs["label"]
    classes = proba.columns.to_numpy()
    p = proba.to_numpy()
    own = p[np.arange(len(y)), np.searchsorted(classes, y)]
    best = np.argmax(p, axis=1)  # ties: the first class in sorted order
    best_share = p[np.arange(len(y)), best]
    suspect = best_share > own
    rows = proba.index.to_numpy()
    paths = np.asarray(emb.paths, dtype=object)
    suspects = pd.DataFrame({
        "row": rows[suspect], "path": paths[rows[suspect]], "label": y[suspect], "suggested": classes[best[suspect]],
        "score": (best_share - own)[suspect], "label_share": own[suspect], "suggested_share": best_share[suspect],
    }).sort_values(["score", "row"], ascending=[False, True], kind="stable").reset_index(drop=True)

    # -- duplicates ---------------------------------------------------------------------
    dup_block = duplicate_block or emb.block_names[-1]
    if near_threshold is None:
        near_threshold = near_duplicate_threshold(emb, block=dup_block)
    hash_ids = content_groups(emb, groups="hash")
    near_ids = content_groups(emb, groups="near", block=dup_block, threshold=near_threshold)
    xd = _unit(emb[dup_block])
    dup_rows = []
    for g in np.unique(near_ids):
        members = np.flatnonzero(near_ids == g)
        if len(members) < 2:
            continue
        identical = len(np.unique(hash_ids[members])) == 1
        dist = 0.0 if identical else float(np.maximum(1.0 - xd[members] @ xd[members].T, 0.0).max())
        dup_rows.append({"group": int(g), "rows": members.tolist(), "paths": paths[members].tolist(),
                         "kind": "identical" if identical else "near", "distance": dist})
    duplicates = pd.DataFrame(dup_rows, columns=["group", "rows", "paths", "kind", "distance"])

    # -- outliers -----------------------------------------------------------------------
    xb = _unit(emb[block])
    nearest = _nearest_other(xb, hash_ids, candidates=rows)
    labelled = nearest[rows]
    finite = labelled[np.isfinite(labelled)]
    outlier_threshold = float(np.quantile(finite, outlier_quantile) * (1.0 + outlier_margin)) if len(finite) else np.inf
    score = nearest / outlier_threshold if outlier_threshold > 0 else np.zeros(len(nearest))
    far = np.flatnonzero(np.isfinite(score) & (score > 1.0))
    labels_all = emb.table[label].to_numpy(dtype=object)
    outliers = pd.DataFrame({"row": far, "path": paths[far], "label": labels_all[far], "distance": nearest[far],
                             "score": score[far]}).sort_values(["score", "row"], ascending=[False, True],
                                                               kind="stable").reset_index(drop=True)

    attrs = {
        "label": label, "block": block, "duplicate_block": dup_block, "near_threshold": float(near_threshold),
        "outlier_threshold": outlier_threshold, "k": k, "folds": folds, "seed": seed,
        "groups": groups if groups is None or isinstance(groups, str) else "custom",
        "backbone": emb.backbone, "weights": emb.weights, "weights_label": emb.weights_label or emb.weights,
        "pretrained": bool(emb.pretrained), "provenance": emb.provenance,
    }
    for frame in (suspects, duplicates, outliers):
        frame.attrs.update(attrs)
    return CatalogAudit(suspects=suspects, duplicates=duplicates, outliers=outliers, attrs=attrs)
