"""Duplicate content: which rows of a catalog hold the same (or nearly the same) image.

Real catalogs list the same photo several times under different names. When
one copy lands in a training fold and the other in the test fold, a kNN
classifier "recognises" the copy and every figure computed from the split
(Table 1, Table 2, retrieval precision, calibrated thresholds) is inflated.
Every split attr-utils makes therefore keeps the rows of one *content group*
together. This module says what the groups are:

``groups="hash"`` (the default everywhere)
    rows with the same content hash (SHA-256 of the file's bytes) share a
    group: byte-identical copies, whatever their names.
``groups="near"``
    additionally, rows whose vectors at ``block`` are within ``threshold``
    cosine distance of each other are merged (connected components, so
    chains of near-copies form one group): the same photo re-encoded or
    resized.
``groups=None``
    every row is its own group: the paper's protocol, exactly.

Rows without a content hash (images embedded from memory) are singletons
under ``"hash"``.

See ``docs/protocols.md`` for what each grouping does to the figures.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from attr_utils.errors import AttrUtilsError, ParameterError
from attr_utils.validation import check_choice, check_real

__all__ = [
    "DEFAULT_NEAR_THRESHOLD",
    "GROUPINGS",
    "content_groups",
    "duplicate_summary",
    "duplicate_warning",
    "resolve_groups",
]

#: Accepted values of ``groups`` besides an explicit array of group ids.
GROUPINGS = ("hash", "near", None)

#: Default cosine distance under which two vectors count as near-copies for
#: ``groups="near"`` (cosine similarity >= 0.95), measured with
#: EfficientNet-Lite0 (ImageNet) at its last block on 23 photographs (the
#: scikit-image and scikit-learn sample photos): a JPEG re-encode (quality 75)
#: moved a photo by 0.005 (median), halving it and re-encoding by 0.018; at
#: 0.05 the copies of 20 of the 23 photos joined their original and no two
#: distinct photos were merged (the closest distinct pair, a stereo pair of
#: one motorcycle, is 0.055 apart; the 100 synthetic catalog images are at
#: least 0.15 apart). Pass ``threshold`` to be stricter or looser for your
#: catalog and backbone.
DEFAULT_NEAR_THRESHOLD = 0.05


def _hash_groups(emb) -> np.ndarray:
    n = len(emb)
    if "hash" not in emb.table.columns:
        return np.arange(n, dtype=np.int64)
    hashes = emb.table["hash"].to_numpy(dtype=object)
    out = np.empty(n, dtype=np.int64)
    first: dict[str, int] = {}
    for i, h in enumerate(hashes):
        if isinstance(h, str) and h.strip():
            out[i] = first.setdefault(h, i)
        else:
            out[i] = i  # no content hash (in-memory image): a singleton
    return out


def _relabel(ids: np.ndarray) -> np.ndarray:
    """Consecutive group ids 0..g-1 in order of first appearance."""
    _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[inverse].astype(np.int64)


def content_groups(emb, *, groups="hash", block: str | None = None, threshold: float | None = None) -> np.ndarray:
    """Content-group id of every row of ``emb``.

    Parameters
    ----------
    emb : Embeddings
        Vectors and their table (whose ``hash`` column holds each file's
        SHA-256; empty for images embedded from memory).
    groups : {"hash", "near"} or None, default="hash"
        ``"hash"``: rows with the same content hash share a group.
        ``"near"``: as ``"hash"``, and rows whose ``block`` vectors are within
        ``threshold`` cosine distance are merged (connected components).
        ``None``: every row is its own group (the paper's protocol).
    block : str, optional
        Block whose vectors decide near-copies (``"near"`` only); default the
        last block, whose pooled features are the least sensitive to
        re-encoding and resizing.
    threshold : float, optional
        Largest cosine distance, in [0, 2), between two near-copies
        (``"near"`` only); default :data:`DEFAULT_NEAR_THRESHOLD` (0.05).

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
        Group id per row, consecutive from 0 in order of first appearance.

    Raises
    ------
    ParameterError
        Unknown ``groups``, unknown ``block``, or ``threshold`` out of range.

    Examples
    --------
    >>> g = content_groups(emb)                                  # doctest: +SKIP
    >>> duplicate_summary(g, emb.labels("color"))                 # doctest: +SKIP
    {'duplicate_groups': 3, 'duplicate_items': 7, 'conflicting_groups': 1}
    """
    n = len(emb)
    groups = check_choice("groups", groups, GROUPINGS)
    if groups is None:
        return np.arange(n, dtype=np.int64)
    ids = _hash_groups(emb)
    if groups == "hash":
        if block is not None or threshold is not None:
            raise ParameterError("`block` and `threshold` apply to groups='near' only")
        return _relabel(ids)
    if block is None:
        block = emb.block_names[-1]
    if block not in emb.block_names:
        raise ParameterError(f"unknown block {block!r} for near-duplicate grouping; available: {emb.block_names}")
    if threshold is None:
        threshold = DEFAULT_NEAR_THRESHOLD
    threshold = check_real("threshold", threshold, min=0.0, max=2.0, closed="left")  # a cosine distance
    if n < 2:
        return _relabel(ids)

    try:  # radius search and connected components: scikit-learn and scipy, in the [search] and [analysis] extras
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components
        from sklearn.neighbors import NearestNeighbors
        from sklearn.preprocessing import normalize
    except ModuleNotFoundError as exc:
        raise AttrUtilsError(
            f"groups='near' needs scikit-learn and scipy ({exc}): pip install 'attr-utils[analysis]'; "
            "groups='hash' needs neither"
        ) from None

    x = normalize(np.asarray(emb[block], dtype=np.float64))
    # For unit vectors, cosine distance d = |a-b|^2 / 2, so a Euclidean radius
    # of sqrt(2 d) finds the same pairs and lets scikit-learn use a tree.
    nn = NearestNeighbors(radius=float(np.sqrt(2.0 * threshold)) + 1e-9).fit(x)
    graph = nn.radius_neighbors_graph(x, mode="connectivity").tocoo()
    same_hash = coo_matrix((np.ones(n), (np.arange(n), ids)), shape=(n, n))
    both = (graph + same_hash).tocsr()
    _, labels = connected_components(both, directed=False)
    return _relabel(labels)


def _missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def duplicate_summary(group_ids, labels: Sequence | np.ndarray | None = None) -> dict:
    """How many duplicate groups there are, and how many disagree on a label.

    Parameters
    ----------
    group_ids : array-like of int, shape (n,)
        Output of :func:`content_groups`.
    labels : array-like, shape (n,), optional
        Labels of the same rows; missing values (None, NaN, empty) are ignored.

    Returns
    -------
    dict
        ``duplicate_groups``: groups of more than one row;
        ``duplicate_items``: rows in such groups (the originals included);
        ``conflicting_groups``: such groups whose rows carry more than one
        distinct label (0 without ``labels``).
    """
    ids = np.asarray(group_ids)
    if ids.ndim != 1:
        raise ParameterError(f"`group_ids` must be one-dimensional, got shape {ids.shape}")
    if len(ids) == 0:
        return {"duplicate_groups": 0, "duplicate_items": 0, "conflicting_groups": 0}
    uniq, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    dup = counts > 1
    conflicting = 0
    if labels is not None:
        lab = np.asarray(labels, dtype=object)
        if len(lab) != len(ids):
            raise ParameterError(f"`labels` has {len(lab)} rows but `group_ids` has {len(ids)}")
        seen: dict[int, set] = {}
        for g, v in zip(inverse, lab):
            if dup[g] and not _missing(v):
                seen.setdefault(int(g), set()).add(str(v))
        conflicting = sum(1 for s in seen.values() if len(s) > 1)
    return {
        "duplicate_groups": int(dup.sum()),
        "duplicate_items": int(counts[dup].sum()),
        "conflicting_groups": int(conflicting),
    }


def duplicate_warning(summary: dict, *, grouping="hash") -> str | None:
    """One-line warning for the CLI and notebooks, or None when there are no duplicates."""
    if not summary.get("duplicate_groups"):
        return None
    kind = {"hash": "identical", "near": "identical or near-identical"}.get(grouping, "duplicate")
    text = (
        f"warning: {summary['duplicate_items']} items are {kind} copies in "
        f"{summary['duplicate_groups']} group(s)"
    )
    if summary.get("conflicting_groups"):
        text += f", {summary['conflicting_groups']} with conflicting labels"
    if grouping is None:
        text += "; groups=None lets copies straddle train and test (the paper's protocol), which inflates accuracy"
    else:
        text += "; each group is kept within one split"
    return text


def resolve_groups(emb, groups) -> np.ndarray:
    """Group ids from ``groups`` as accepted by the analysis functions.

    ``groups`` is ``"hash"``, ``"near"`` (default block and threshold),
    None, or an array of ``len(emb)`` group ids (e.g. from
    :func:`content_groups` with a chosen ``block`` and ``threshold``).
    """
    if groups is None or isinstance(groups, str):
        return content_groups(emb, groups=groups)
    ids = np.asarray(groups)
    if ids.ndim != 1 or len(ids) != len(emb):
        raise ParameterError(
            f"`groups` must be 'hash', 'near', None or {len(emb)} group ids; got an array of shape {ids.shape}"
        )
    return _relabel(ids)
