"""Linear CKA between layers: how alike two taps (or two backbones) represent the same images.

Centred kernel alignment (Kornblith, Norouzi, Lee & Hinton, "Similarity of
Neural Network Representations Revisited", ICML 2019) with a linear kernel,
debiased: the HSIC terms use the unbiased estimator of Song, Smola,
Gretton, Bedo & Borgwardt (JMLR 2012), so CKA of independent features is
about 0 at any sample size (the biased estimator is positive for small
``n`` and wide features). Computed in feature space (``O(n d^2)`` memory
``O(d^2)``), never forming the ``n x n`` Gram matrices, following the
reference implementation of Kornblith et al. (``feature_space_linear_cka``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from attr_utils.analysis.checks import check_blocks
from attr_utils.analysis.result_cache import cached_result
from attr_utils.errors import ParameterError

__all__ = ["cka_matrix", "linear_cka"]


def _as_features(name: str, X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ParameterError(f"`{name}` must be a 2-D array (n_items, n_features), got shape {X.shape}")
    return X - X.mean(axis=0, keepdims=True)


def _debiased(xty: float, rows_x: np.ndarray, rows_y: np.ndarray, n: int) -> float:
    """Unbiased HSIC (times n(n-3)) from feature-space terms, as in Kornblith et al.'s reference code."""
    return float(
        xty - n / (n - 2.0) * rows_x.dot(rows_y) + rows_x.sum() * rows_y.sum() / ((n - 1.0) * (n - 2.0))
    )


def linear_cka(X, Y, *, debiased: bool = True) -> float:
    """Linear CKA between two representations of the same items.

    Parameters
    ----------
    X : array-like, shape (n_items, d1)
        First representation (e.g. one tap's pooled vectors).
    Y : array-like, shape (n_items, d2)
        Second representation of the same items, in the same order.
    debiased : bool, default=True
        Use the unbiased HSIC estimator (Song et al. 2012), so independent
        features give about 0; False gives the original (biased) CKA.

    Returns
    -------
    float
        CKA in [0, 1] for the biased estimator; the debiased one can be
        slightly negative. NaN when a representation is constant (no
        variance to compare).

    Raises
    ------
    ParameterError
        Not 2-D, different numbers of items, or fewer than 4 items (the
        unbiased estimator needs ``n > 3``).

    Notes
    -----
    Invariant to orthogonal transformations and isotropic scaling of either
    representation, not to arbitrary invertible linear maps. With centred
    ``X`` and ``Y``: ``HSIC(K, L)`` for ``K = X X^T``, ``L = Y Y^T`` is
    ``||Y^T X||_F^2`` (biased), and the debiased CKA is
    ``HSIC_u(K, L) / sqrt(HSIC_u(K, K) HSIC_u(L, L))``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(50, 8))
    >>> round(linear_cka(X, 3 * X), 6)
    1.0
    """
    if not isinstance(debiased, (bool, np.bool_)):
        raise ParameterError(f"`debiased` must be True or False, got {debiased!r}")
    X = _as_features("X", X)
    Y = _as_features("Y", Y)
    n = X.shape[0]
    if Y.shape[0] != n:
        raise ParameterError(f"`X` and `Y` must hold the same items: {n} rows against {Y.shape[0]}")
    if n < 4:
        raise ParameterError(f"CKA needs at least 4 items, got {n}")
    xty = float(np.sum((X.T @ Y) ** 2))
    xtx = float(np.sum((X.T @ X) ** 2))
    yty = float(np.sum((Y.T @ Y) ** 2))
    if debiased:
        rx = np.einsum("ij,ij->i", X, X)
        ry = np.einsum("ij,ij->i", Y, Y)
        xty, xtx, yty = _debiased(xty, rx, ry, n), _debiased(xtx, rx, rx, n), _debiased(yty, ry, ry, n)
    if xtx <= 0 or yty <= 0:
        return float("nan")
    return xty / np.sqrt(xtx * yty)


def _rows_of(emb, other) -> np.ndarray:
    """Row of ``other`` for every row of ``emb`` (the same images), by content hash when both have them."""
    if len(emb) != len(other):
        raise ParameterError(f"the two Embeddings must hold the same images: {len(emb)} rows against {len(other)}")
    a, b = emb.table["hash"].astype(str).tolist(), other.table["hash"].astype(str).tolist()
    if all(a) and all(b):
        if a == b:
            return np.arange(len(b))
        where = {h: i for i, h in enumerate(b)}
        if sorted(a) != sorted(b):
            raise ParameterError("the two Embeddings must hold the same images (their content hashes differ)")
        return np.array([where[h] for h in a])
    return np.arange(len(b))


@cached_result("cka_matrix")
def cka_matrix(
    emb,
    other=None,
    *,
    taps: Iterable[str] | str | None = None,
    other_taps: Iterable[str] | str | None = None,
    debiased: bool = True,
) -> pd.DataFrame:
    """Linear CKA between every pair of taps: of one Embeddings, or of two on the same images.

    Parameters
    ----------
    emb : Embeddings
        Rows are images, one array per tap.
    other : Embeddings, optional
        A second embedding of the same images (e.g. another backbone);
        rows are matched by content hash when both have hashes, else by
        position. Default: ``emb`` itself.
    taps, other_taps : str or list of str, optional
        Taps of ``emb`` (rows) and of ``other`` (columns); default all, in
        network order.
    debiased : bool, default=True
        As in :func:`linear_cka`.
    cache : bool, default=True
        Reuse the matrix cached on disk for the same vectors and options
        (:mod:`attr_utils.analysis.result_cache`; no pickle).
    cache_dir : path-like, optional
        attr-utils cache root (default: :func:`attr_utils.cache.cache_root`).

    Returns
    -------
    pandas.DataFrame
        Square (or rectangular, with ``other``) matrix: index the taps of
        ``emb``, columns those of ``other``; ``.attrs`` name both backbones
        and weights. ``.stack()`` gives the tidy long form.

    Raises
    ------
    ParameterError
        Unknown taps, or ``other`` does not hold the same images.
    """
    names = check_blocks(emb, taps)
    second = emb if other is None else other
    other_names = check_blocks(second, other_taps)
    order = np.arange(len(emb)) if other is None else _rows_of(emb, second)
    centred = {n: _as_features(n, emb[n]) for n in names}
    values = np.empty((len(names), len(other_names)))
    for i, a in enumerate(names):
        for j, b in enumerate(other_names):
            if other is None and j < i:  # symmetric: computed as (j, i) already
                values[i, j] = values[j, i]
                continue
            Y = centred[b] if other is None else second[b][order]
            values[i, j] = linear_cka(centred[a], Y, debiased=debiased)
    out = pd.DataFrame(values, index=pd.Index(names, name="tap"), columns=pd.Index(other_names, name="other_tap"))
    out.attrs = {
        "backbone": emb.backbone,
        "weights": emb.weights,
        "provenance": emb.provenance,
        "other_backbone": second.backbone,
        "other_weights": second.weights,
        "other_provenance": second.provenance,
        "debiased": bool(debiased),
    }
    return out
