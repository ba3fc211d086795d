"""HDBSCAN clustering of every block, scored against a label (the paper's Figure 3).

The paper clusters each block's raw vectors with HDBSCAN (Euclidean,
min_cluster_size=50, min_samples=10, leaf_size=40) on the whole dataset and
compares the clusters with the colour / texture labels by adjusted Rand index
(ARI) and adjusted mutual information (AMI). Density-based clustering of raw
vectors in hundreds or thousands of dimensions often finds no dense region
and labels everything as noise; the usual practice is to cluster a UMAP
reduction instead. Both are offered and reported separately (``space``
column ``"raw"`` or ``"umap"``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from attr_utils.analysis import umap_cache
from attr_utils.analysis.result_cache import cached_result
from attr_utils.analysis.accuracy import split_groups
from attr_utils.analysis.checks import (
    check_blocks,
    check_umap_neighbors,
    labels_for_analysis,
    n_unique_rows,
    provenance_attrs,
)
from attr_utils.errors import ParameterError
from attr_utils.validation import check_choice, check_int, check_seed

__all__ = ["clustering_metrics"]

_SPACES = ("raw", "umap", "both")


@cached_result("clustering_metrics")
def clustering_metrics(
    emb,
    label: str,
    *,
    blocks: Iterable[str] | str | None = None,
    space: str = "raw",
    min_cluster_size: int = 50,
    min_samples: int = 10,
    leaf_size: int = 40,
    umap_components: int = 2,
    umap_neighbors: int = 30,
    umap_min_dist: float = 0.0,
    seed: int = 0,
    groups="hash",
    cache: bool = True,
    cache_dir=None,
) -> pd.DataFrame:
    """Cluster every block with HDBSCAN and score the clusters against ``label``.

    Parameters
    ----------
    emb : Embeddings
        Per-block vectors and labels.
    label : str
        Label column the clusters are compared with.
    blocks : str or list of str, optional
        Blocks to cluster; default every block.
    space : {"raw", "umap", "both"}, default="raw"
        ``"raw"`` clusters the block's vectors as they are (the paper);
        ``"umap"`` clusters a UMAP reduction of them (common practice, see
        Notes); ``"both"`` reports both, one row each.
    min_cluster_size : int, default=50
    min_samples : int, default=10
    leaf_size : int, default=40
        HDBSCAN settings (the paper's values); the metric is Euclidean.
    umap_components : int, default=2
    umap_neighbors : int, default=30
    umap_min_dist : float, default=0.0
        UMAP settings for ``space="umap"``: the clustering recipe of the
        umap-learn documentation (more neighbours, tightly packed points).
    seed : int, default=0
        UMAP seed (HDBSCAN is deterministic).
    groups : {"hash", "near"}, None or array of int, default="hash"
        How duplicates are counted for the report in ``.attrs`` (see
        :mod:`attr_utils.duplicates`). Clustering makes no split, so every
        listed row is clustered and scored whatever ``groups`` is; see Notes.
    cache : bool, default=True
        Reuse cached UMAP coordinates (see :mod:`attr_utils.analysis.umap_cache`)
        and the result cached for the same vectors, labels and options
        (:mod:`attr_utils.analysis.result_cache`).
    cache_dir : path-like, optional
        attr-utils cache root for both.

    Returns
    -------
    pandas.DataFrame
        One row per (block, space): ``backbone``, ``weights``, ``label``,
        ``block``, ``dim``, ``space``, ``n``, ``n_clusters``,
        ``noise_fraction``, ``ari``, ``ami``.

    Raises
    ------
    DatasetError
        Unknown label column or fewer than 2 classes.
    ParameterError
        An invalid option (wrong type, out of range, unknown block),
        ``min_cluster_size`` above half the number of items (HDBSCAN, with
        its default ``allow_single_cluster=False``, needs two clusters of
        that size: otherwise every item is noise), ``min_samples`` not below
        the number of items, or (``space="umap"``) ``umap_neighbors``/``umap_components``
        too large for the number of distinct vectors.

    Notes
    -----
    ARI and AMI are computed over all items, HDBSCAN's noise points (label
    -1) counting as one more cluster, so an all-noise result scores 0. Items
    with a missing label are left out. The dataset is clustered as a whole
    (no folds: clustering uses no labels).

    Duplicates: nothing is held out, so copies cannot leak from training to
    test as in the accuracy figures; the catalog is clustered as listed (the
    paper's protocol). Copies still weigh: ``min_cluster_size`` copies of one
    image form a dense cluster of their own, and each copy counts in ARI/AMI.
    ``.attrs`` therefore reports ``duplicate_groups``, ``duplicate_items`` and
    ``conflicting_groups`` (the CLI and notebooks warn when any), and the
    UMAP of ``space="umap"`` is fitted on distinct vectors (``unique=True``),
    so copies share coordinates instead of pulling the layout. To score
    distinct images only, pass ``emb.subset(first_rows)`` of
    :func:`attr_utils.duplicates.content_groups`.
    """
    names = check_blocks(emb, blocks)
    check_choice("space", space, _SPACES)
    min_cluster_size = check_int("min_cluster_size", min_cluster_size, min=2)
    min_samples = check_int("min_samples", min_samples, min=1)
    leaf_size = check_int("leaf_size", leaf_size, min=1)
    umap_components = check_int("umap_components", umap_components, min=1)
    umap_neighbors = check_int("umap_neighbors", umap_neighbors, min=2)
    seed = check_seed(seed)
    rows, y = labels_for_analysis(emb, label, folds=None, drop_small_classes=False)
    spaces = ["raw", "umap"] if space == "both" else [space]
    _, dup = split_groups(emb, rows, y, groups)
    n = len(rows)
    if 2 * min_cluster_size > n:
        # HDBSCAN (allow_single_cluster=False, its default) needs two clusters of min_cluster_size items each
        where = f"exceeds the {n} items" if min_cluster_size > n else f"is above half of the {n} items"
        raise ParameterError(
            f"`min_cluster_size`={min_cluster_size} {where} to cluster: HDBSCAN needs at least two clusters of "
            f"that size, so every item would be noise; lower `min_cluster_size` to at most {n // 2}"
        )
    if min_samples >= n:
        raise ParameterError(f"`min_samples`={min_samples} must be < the {n} items to cluster")
    if "umap" in spaces:
        for name in names:
            n_unique = n_unique_rows(emb[name][rows])
            check_umap_neighbors(umap_neighbors, n_unique, name="umap_neighbors")
            if umap_components > n_unique - 2:
                raise ParameterError(
                    f"`umap_components`={umap_components} must be <= {n_unique - 2}: UMAP of {name!r} is "
                    f"fitted on {n_unique} distinct vectors"
                )

    import hdbscan
    from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

    records = []
    for name in names:
        X = emb[name][rows]
        for sp in spaces:
            if sp == "umap":
                Z, _ = umap_cache.cached_umap(
                    X,
                    n_components=umap_components,
                    n_neighbors=umap_neighbors,
                    min_dist=umap_min_dist,
                    random_state=seed,
                    cache=cache,
                    cache_dir=cache_dir,
                )
            else:
                Z = X
            clusterer = hdbscan.HDBSCAN(
                min_cluster_size=min_cluster_size,
                min_samples=min_samples,
                leaf_size=leaf_size,
                metric="euclidean",
            )
            found = clusterer.fit_predict(np.asarray(Z, dtype=np.float64))
            records.append(
                {
                    "backbone": emb.backbone,
                    "weights": emb.weights,
                    "label": label,
                    "block": name,
                    "dim": int(emb.dims[name]),
                    "space": sp,
                    "n": int(len(found)),
                    "n_clusters": int(len(set(found.tolist()) - {-1})),
                    "noise_fraction": float(np.mean(found == -1)),
                    "ari": float(adjusted_rand_score(y, found)),
                    "ami": float(adjusted_mutual_info_score(y, found)),
                }
            )
    out = pd.DataFrame.from_records(records)
    out.attrs = provenance_attrs(
        emb,
        label,
        min_cluster_size=min_cluster_size,
        min_samples=min_samples,
        leaf_size=leaf_size,
        umap_components=umap_components,
        umap_neighbors=umap_neighbors,
        umap_min_dist=umap_min_dist,
        seed=seed,
        **dup,
    )
    return out
