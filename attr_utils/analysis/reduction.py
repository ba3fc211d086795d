"""kNN accuracy after UMAP reduction (the paper's Table 2), and UMAP coordinates.

:func:`reduction_sweep` reduces one block with UMAP to 2, 4, 8, ... dimensions
and measures kNN accuracy under stratified cross-validation for each, ending
with the unreduced block (the last row of the paper's Table 2). Two protocols:

``"paper"``
    UMAP is fitted once on all items, then kNN is cross-validated on the
    reduced coordinates. This is what the paper appears to do. UMAP uses no
    labels, but the test items shape the embedding the training items live
    in (transductive), which can flatter the reduced spaces.
``"inductive"``
    For every fold, UMAP is fitted on the training items only and the test
    items are mapped with ``transform``: no test item influences anything
    fitted. This is how a reduction would be used on new images.

:func:`umap_embedding` gives cached 2-D/3-D coordinates of a block for
plots (e.g. :func:`attr_utils.figures.umap_scatter`).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable

import numpy as np
import pandas as pd

from attr_utils.analysis import umap_cache
from attr_utils.analysis.result_cache import cached_result
from attr_utils.analysis.accuracy import (
    knn_classifier,
    single_threaded_knn,
    split_groups,
    stratified_folds,
)
from attr_utils.analysis.checks import (
    METRICS,
    PROTOCOLS,
    check_block,
    check_k_fits,
    check_knn_protocol,
    check_umap_neighbors,
    labels_for_analysis,
    n_unique_rows,
    provenance_attrs,
)
from attr_utils.errors import ParameterError
from attr_utils.validation import check_choice, check_int, check_seed

__all__ = ["default_dims", "reduction_sweep", "umap_embedding"]


def default_dims(dim: int) -> list[int]:
    """Powers of two from 2 below ``dim``: ``default_dims(256) == [2, 4, ..., 128]``."""
    out, d = [], 2
    while d < dim:
        out.append(d)
        d *= 2
    return out


def _check_dims(dims, block_dim: int, n_fit: int | None = None) -> list[int]:
    """Validate ``dims``; ``n_fit`` is the fewest distinct rows a UMAP will be fitted on.

    UMAP's spectral initialisation needs ``n_components <= n_fit - 2``: the
    default sweep stops there, explicit larger dims are refused.
    """
    limit = block_dim if n_fit is None else min(block_dim, n_fit - 1)
    if dims is None:
        return default_dims(limit)
    if isinstance(dims, numbers.Integral):  # one dimension; check_int refuses a bool
        dims = [dims]
    dims = list(dims)
    for d in dims:
        check_int("dims", d, min=1)
        if d >= block_dim:
            raise ParameterError(
                f"`dims` must be < the block's dimension {block_dim} (the unreduced row is "
                f"always added), got {d}"
            )
        if d >= limit:
            raise ParameterError(
                f"`dims` must be < {limit}: UMAP is fitted on as few as {n_fit} rows of distinct vectors and "
                f"cannot produce more than {n_fit - 2} dimensions, got {d}"
            )
    return sorted(set(int(d) for d in dims))


def _fit_task(X, train, test, d, params):
    """One UMAP fit: on all rows (test is None) or on ``train`` with ``test`` transformed."""
    if test is None:
        emb, _ = umap_cache.cached_umap(X, n_components=d, **params)
        return emb, None
    return umap_cache.cached_umap(X[train], X[test], n_components=d, **params)


@cached_result("reduction_sweep")
def reduction_sweep(
    emb,
    label: str,
    *,
    block: str,
    dims: Iterable[int] | None = None,
    protocol: str = "both",
    k: int = 5,
    folds: int = 5,
    metric: str = "euclidean",
    scaling: str = "none",
    seed: int = 0,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    drop_small_classes: bool = False,
    groups="hash",
    n_jobs: int = 1,
    cache: bool = True,
    cache_dir=None,
) -> pd.DataFrame:
    """kNN accuracy of one block reduced by UMAP to each of ``dims`` dimensions.

    Parameters
    ----------
    emb : Embeddings
        Per-block vectors and labels.
    label : str
        Label column to predict.
    block : str
        Block to reduce (e.g. ``"block2"`` for colour on resnet50).
    dims : iterable of int, optional
        Target dimensions, each below the block's own. Default: 2, 4, 8, ...
        up to half the block's dimension. The unreduced block is always added
        as the last row (``reduced=False``), as in the paper's Table 2.
    protocol : {"both", "paper", "inductive"}, default="both"
        ``"paper"``: UMAP fitted on all items, then cross-validated kNN
        (what the paper appears to do). ``"inductive"``: UMAP fitted on each
        training fold only, test fold transformed (no leakage). ``"both"``
        reports both, distinguished by the ``protocol`` column.
    k, folds, metric, scaling, seed, drop_small_classes, groups
        kNN protocol, as in :func:`~attr_utils.analysis.block_accuracy`
        (same folds for every dimension and protocol; ``groups="hash"``
        keeps identical images in one fold under both protocols, so in the
        inductive protocol no copy of a test image is in the UMAP fit).
        ``seed`` also seeds UMAP. Scaling applies to the (reduced) vectors
        the kNN sees.
    n_neighbors : int, default=15
    min_dist : float, default=0.1
        UMAP settings (umap-learn's defaults); UMAP uses ``metric`` too.
    n_jobs : int, default=1
        UMAP fits run in parallel worker processes when > 1 (-1: all cores).
        A seeded UMAP is single-threaded, so this is how to use more cores
        while staying reproducible.
    cache : bool, default=True
        Reuse UMAP coordinates cached on disk (keyed by input bytes and
        parameters); a repeated sweep does not refit. The whole table is
        cached too (:mod:`attr_utils.analysis.result_cache`), so a repeated
        sweep neither refits nor rescores.
    cache_dir : path-like, optional
        attr-utils cache root for both.

    Returns
    -------
    pandas.DataFrame
        One row per (protocol, dim, fold): ``backbone``, ``weights``,
        ``label``, ``block``, ``protocol``, ``dim``, ``reduced``, ``fold``,
        ``n_test``, ``accuracy``. The unreduced rows are identical under both
        protocols. ``.attrs`` records the protocol and the duplicates, as in
        :func:`~attr_utils.analysis.block_accuracy`. Summarise with
        :func:`~attr_utils.analysis.summarize_accuracy`.

    Raises
    ------
    DatasetError
        Unknown label column, fewer than 2 classes, or a class smaller than
        ``folds`` (unless ``drop_small_classes``).
    ParameterError
        An invalid option (wrong type, out of range, unknown block, a
        dimension not below the block's), or ``k``, ``folds``,
        ``n_neighbors`` or ``dims`` too large for the number of items or of
        distinct vectors.

    Notes
    -----
    UMAP is fitted on distinct vectors (umap-learn's ``unique=True``), so
    duplicated images cannot pull a layout towards themselves; copies get
    their original's coordinates.
    """
    k, folds, seed = check_knn_protocol(k, folds, metric, scaling, seed)
    check_choice("protocol", protocol, PROTOCOLS + ("both",))
    n_neighbors = check_int("n_neighbors", n_neighbors, min=2)
    n_jobs = check_int("n_jobs", n_jobs, min=1, allow=(-1,))
    block = check_block(emb, block)
    block_dim = emb.dims[block]
    _check_dims(dims, block_dim)  # parameter errors first, before any data work
    protocols = list(PROTOCOLS) if protocol == "both" else [protocol]

    rows, y = labels_for_analysis(emb, label, folds=folds, drop_small_classes=drop_small_classes)
    X = np.ascontiguousarray(emb[block][rows], dtype=np.float32)
    group_ids, dup = split_groups(emb, rows, y, groups)
    splits = stratified_folds(y, folds=folds, seed=seed, groups=group_ids)
    check_k_fits(k, splits)
    if protocols == ["paper"]:
        n_fit = n_unique_rows(X)
    else:
        n_fit = min(n_unique_rows(X[train]) for train, _ in splits)
    check_umap_neighbors(n_neighbors, n_fit)
    dims = _check_dims(dims, block_dim, n_fit)
    model = knn_classifier(k=k, metric=metric, scaling=scaling)
    params = {
        "n_neighbors": n_neighbors,
        "min_dist": float(min_dist),
        "metric": metric,
        "random_state": seed,
        "cache": cache,
        "cache_dir": cache_dir,
    }

    tasks = []  # (protocol, dim, fold or None)
    for p in protocols:
        for d in dims:
            if p == "paper":
                tasks.append((p, d, None))
            else:
                tasks.extend((p, d, f) for f in range(folds))

    def args_of(task):
        p, d, f = task
        if f is None:
            return X, None, None, d, params
        train, test = splits[f]
        return X, train, test, d, params

    if n_jobs == 1 or len(tasks) <= 1:
        fitted = [_fit_task(*args_of(t)) for t in tasks]
    else:
        from joblib import Parallel, delayed

        fitted = Parallel(n_jobs=n_jobs)(delayed(_fit_task)(*args_of(t)) for t in tasks)
    results = dict(zip(tasks, fitted))

    from sklearn.base import clone

    records = []

    def score(p, d, reduced, fold, Ztrain, ytrain, Ztest, ytest):
        with single_threaded_knn():
            m = clone(model).fit(Ztrain, ytrain)
            acc = float(np.mean(m.predict(Ztest) == ytest))
        records.append((p, d, reduced, fold, len(ytest), acc))

    for p in protocols:
        for d in dims:
            for f, (train, test) in enumerate(splits):
                if p == "paper":
                    Z = results[(p, d, None)][0]
                    score(p, d, True, f, Z[train], y[train], Z[test], y[test])
                else:
                    Ztr, Zte = results[(p, d, f)]
                    score(p, d, True, f, Ztr, y[train], Zte, y[test])
        for f, (train, test) in enumerate(splits):
            score(p, block_dim, False, f, X[train], y[train], X[test], y[test])

    out = pd.DataFrame.from_records(
        records, columns=["protocol", "dim", "reduced", "fold", "n_test", "accuracy"]
    )
    out.insert(0, "block", block)
    out.insert(0, "label", label)
    out.insert(0, "weights", emb.weights)
    out.insert(0, "backbone", emb.backbone)
    out.attrs = provenance_attrs(
        emb, label, k=k, folds=folds, metric=metric, scaling=scaling, seed=seed,
        block=block, n_neighbors=n_neighbors, min_dist=float(min_dist), **dup,
    )
    return out


def umap_embedding(
    emb,
    *,
    block: str,
    n_components: int = 2,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    metric: str = "euclidean",
    seed: int = 0,
    cache: bool = True,
    cache_dir=None,
) -> np.ndarray:
    """UMAP coordinates of one block, for plotting (cached on disk).

    Parameters
    ----------
    emb : Embeddings
        Per-block vectors.
    block : str
        Block to embed.
    n_components : int, default=2
        2 or 3 for plots (any positive int is accepted).
    n_neighbors : int, default=15
    min_dist : float, default=0.1
    metric : {"euclidean", "cosine"}, default="euclidean"
        UMAP settings.
    seed : int, default=0
        UMAP seed: identical seeds give identical coordinates.
    cache : bool, default=True
        Reuse coordinates cached for the same vectors and settings.
    cache_dir : path-like, optional
        attr-utils cache root.

    Returns
    -------
    ndarray of shape (len(emb), n_components), float32
        Row ``i`` is item ``i`` of ``emb``; pass it with
        ``emb.labels(...)`` to :func:`attr_utils.figures.umap_scatter`.
        UMAP is fitted on distinct vectors: copies share coordinates.

    Raises
    ------
    ParameterError
        ``n_neighbors`` not below the number of distinct vectors, or
        ``n_components`` above it minus 2.
    """
    block = check_block(emb, block)
    n_components = check_int("n_components", n_components, min=1)
    n_neighbors = check_int("n_neighbors", n_neighbors, min=2)
    check_choice("metric", metric, METRICS)
    seed = check_seed(seed)
    X = emb[block]
    n_unique = n_unique_rows(X)
    if n_unique < 3:
        raise ParameterError(f"UMAP needs at least 3 distinct vectors, got {n_unique} among {len(X)} items")
    check_umap_neighbors(n_neighbors, n_unique)
    if n_components > n_unique - 2:
        raise ParameterError(
            f"`n_components`={n_components} must be <= {n_unique - 2}: UMAP is fitted on {n_unique} "
            "distinct vectors"
        )
    coords, _ = umap_cache.cached_umap(
        X,
        n_components=n_components,
        n_neighbors=n_neighbors,
        min_dist=min_dist,
        metric=metric,
        random_state=seed,
        cache=cache,
        cache_dir=cache_dir,
    )
    return coords
