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
from attr_utils.analysis.accuracy import _attrs
from attr_utils.analysis._validation import check_blocks, check_choice, check_int, check_seed, labels_for_analysis

__all__ = ["clustering_metrics"]

_SPACES = ("raw", "umap", "both")


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
    cache : bool, default=True
        Reuse cached UMAP coordinates (see :mod:`attr_utils.analysis.umap_cache`).
    cache_dir : path-like, optional
        attr-utils cache root for the UMAP coordinates.

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
    ValueError, TypeError
        Invalid parameter or unknown block.

    Notes
    -----
    ARI and AMI are computed over all items, HDBSCAN's noise points (label
    -1) counting as one more cluster, so an all-noise result scores 0. Items
    with a missing label are left out. The dataset is clustered as a whole
    (no folds: clustering uses no labels).
    """
    names = check_blocks(emb, blocks)
    check_choice("space", space, _SPACES)
    min_cluster_size = check_int("min_cluster_size", min_cluster_size, 2)
    min_samples = check_int("min_samples", min_samples, 1)
    leaf_size = check_int("leaf_size", leaf_size, 1)
    umap_components = check_int("umap_components", umap_components, 1)
    umap_neighbors = check_int("umap_neighbors", umap_neighbors, 2)
    seed = check_seed(seed)
    rows, y = labels_for_analysis(emb, label, folds=None, drop_small_classes=False)
    spaces = ["raw", "umap"] if space == "both" else [space]

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
                    n_neighbors=min(umap_neighbors, len(X) - 1),
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
    out.attrs = _attrs(
        emb,
        label,
        min_cluster_size=min_cluster_size,
        min_samples=min_samples,
        leaf_size=leaf_size,
        umap_components=umap_components,
        umap_neighbors=umap_neighbors,
        umap_min_dist=umap_min_dist,
        seed=seed,
    )
    return out
