"""Retrieval by colour, texture or both (the paper's Figure 6), and its evaluation.

A :class:`Catalog` wraps an :class:`~attr_utils.embeddings.Embeddings` for
search: one block answers for colour, one for texture (by default the
backbone's registered ``default_blocks``; for resnet50 block2 and block4, as
the paper found), each block's vectors are L2-normalised and compared by
cosine distance ``d = 1 - cos``.

Making the two modes comparable
-------------------------------
Cosine distances of different blocks live on different scales (early blocks
are post-ReLU averages whose vectors all point the same way, so their
distances are small and bunched). Each mode's distance is therefore
standardised with robust statistics of the catalog itself: on a seeded sample
of random pairs of catalog items (``scale_pairs``, default 10,000)

    z_mode = (d_mode - median_mode) / IQR_mode

(IQR = interquartile range; the standard deviation, then 1, if the IQR is 0).
The combined score is

    score = alpha * z_color + (1 - alpha) * z_texture,

lower is better; ``score < 0`` means "closer than a typical pair of items".
Because the standardisation is an increasing affine map per mode, ``alpha=1``
ranks exactly as colour mode and ``alpha=0`` exactly as texture mode.

Search at scale
---------------
Up to :data:`attr_utils.retrieval.index.AUTO_EXACT_MAX` items, search is exact: one
matrix-vector product per block over the whole catalog. Above it (or with
``index="ann"``) each block gets an approximate index
(:func:`attr_utils.retrieval.index.build_index`); a query takes the union of the top
``candidates`` items of every mode it weighs (default ``max(100, 10 k)``) and
re-scores that union exactly in both blocks. See ``docs/retrieval.md``.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from attr_utils.embeddings import Embeddings
from attr_utils.errors import BackboneError, WeightsError
from attr_utils.retrieval.index import AUTO_EXACT_MAX, build_index, normalize_rows, resolve_kind

__all__ = ["MODES", "Catalog", "default_alphas", "evaluate_retrieval", "resolve_blocks", "search"]

MODES = ("color", "texture", "both")
_BLOCK_KEYS = {"color": "color", "colour": "color", "texture": "texture"}


def default_alphas() -> np.ndarray:
    """The alpha sweep of :func:`evaluate_retrieval`: 0, 0.1, ..., 1."""
    return np.round(np.linspace(0.0, 1.0, 11), 10)


# -- validation ---------------------------------------------------------------
def _check_mode(mode) -> str:
    if mode not in MODES:
        raise ValueError(f"`mode` must be one of {MODES}, got {mode!r}")
    return mode


def _check_alpha(alpha) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"`alpha` must be a number in [0, 1], got {alpha!r}")
    return float(alpha)


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"`k` must be an integer >= 1, got {k!r}")
    return int(k)


def _effective_alpha(mode: str, alpha: float) -> float:
    return {"color": 1.0, "texture": 0.0}.get(mode, alpha)


def resolve_blocks(emb: Embeddings, blocks=None) -> dict[str, str]:
    """The colour and texture blocks to use for ``emb``.

    Parameters
    ----------
    emb : Embeddings
        The catalog.
    blocks : mapping or (str, str), optional
        ``{"color": "block2", "texture": "block4"}`` (e.g. the output of
        :func:`attr_utils.analysis.recommend_blocks`), a partial mapping that
        overrides one of the defaults, or a ``(color_block, texture_block)``
        pair. Default: the backbone's registered ``default_blocks``.

    Returns
    -------
    dict
        ``{"color": block, "texture": block}``.

    Raises
    ------
    ValueError
        A block that ``emb`` does not have, an unknown key, or no default for
        an unregistered backbone (pass ``blocks``).
    """
    chosen: dict[str, str] = {}
    try:
        from attr_utils.backbones import get_backbone

        chosen.update(get_backbone(emb.backbone).default_blocks)
    except BackboneError:
        pass
    if blocks is not None:
        if isinstance(blocks, Mapping):
            for key, block in blocks.items():
                if key not in _BLOCK_KEYS:
                    raise ValueError(f"`blocks` keys must be 'color' and/or 'texture', got {key!r}")
                chosen[_BLOCK_KEYS[key]] = block
        elif isinstance(blocks, Sequence) and not isinstance(blocks, str) and len(blocks) == 2:
            chosen["color"], chosen["texture"] = blocks
        else:
            raise ValueError(f"`blocks` must be a mapping {{'color': ..., 'texture': ...}} or a pair, got {blocks!r}")
    for mode in ("color", "texture"):
        if mode not in chosen:
            raise ValueError(
                f"no default {mode} block for backbone {emb.backbone!r}; pass blocks={{'color': ..., 'texture': ...}} "
                f"choosing among {emb.block_names}"
            )
        if chosen[mode] not in emb.blocks:
            raise ValueError(f"{mode} block {chosen[mode]!r} is not in these embeddings; available: {emb.block_names}")
    return {"color": chosen["color"], "texture": chosen["texture"]}


def _robust_scale(x: np.ndarray, rng: np.random.Generator, pairs: int) -> tuple[float, float]:
    """Median and IQR of cosine distances between random pairs of rows of ``x`` (normalised)."""
    n = len(x)
    if n < 2:
        return 0.0, 1.0
    i = rng.integers(n, size=pairs)
    j = (i + rng.integers(1, n, size=pairs)) % n  # j != i
    d = 1.0 - np.einsum("ij,ij->i", x[i], x[j], dtype=np.float64)
    q25, med, q75 = np.percentile(d, [25, 50, 75])
    scale = q75 - q25
    if not scale > 1e-12:
        scale = float(d.std())
    if not scale > 1e-12:
        scale = 1.0
    return float(med), float(scale)


class Catalog:
    """An Embeddings prepared for colour/texture/both search.

    Parameters
    ----------
    emb : Embeddings
        The catalog's embeddings (paths, labels, blocks).
    blocks : mapping or pair, optional
        Colour and texture blocks (see :func:`resolve_blocks`).
    index : {"auto", "exact", "ann", "ivf", "hnsw"}, default="auto"
        Exact search up to :data:`~attr_utils.retrieval.index.AUTO_EXACT_MAX` items,
        an approximate per-block index above (built on first use).
    scale_pairs : int, default=10000
        Random pairs used to estimate each mode's distance median and IQR.
    seed : int, default=0
        Seed of the pair sample and of the ANN index builds.
    cache_dir : path-like, optional
        Embedding cache used when a query image has to be embedded.

    Attributes
    ----------
    blocks : dict
        ``{"color": block, "texture": block}``.
    scales : pandas.DataFrame
        One row per mode: ``block``, ``median``, ``iqr`` of pairwise distances.
    kind : str
        ``"exact"``, ``"ivf"`` or ``"hnsw"``.

    Examples
    --------
    >>> catalog = Catalog(emb)  # doctest: +SKIP
    >>> catalog.search("query.jpg", mode="both", alpha=0.5, k=5)  # doctest: +SKIP
    """

    def __init__(self, emb: Embeddings, *, blocks=None, index: str = "auto", scale_pairs: int = 10_000, seed: int = 0,
                 cache_dir: str | os.PathLike | None = None):
        if not isinstance(emb, Embeddings):
            raise TypeError(f"`emb` must be an Embeddings, got {type(emb).__name__}")
        if len(emb) == 0:
            raise ValueError("the catalog is empty")
        if isinstance(scale_pairs, bool) or not isinstance(scale_pairs, (int, np.integer)) or scale_pairs < 1:
            raise ValueError(f"`scale_pairs` must be an integer >= 1, got {scale_pairs!r}")
        self.emb = emb
        self.blocks = resolve_blocks(emb, blocks)
        self.kind = resolve_kind(index, len(emb))
        self.seed = int(seed)
        self.cache_dir = cache_dir
        self._vectors = {mode: normalize_rows(emb[block]) for mode, block in self.blocks.items()}
        rng = np.random.default_rng(seed)
        self._scale = {mode: _robust_scale(self._vectors[mode], rng, int(scale_pairs)) for mode in ("color", "texture")}
        self.scales = pd.DataFrame(
            [{"mode": m, "block": self.blocks[m], "median": s[0], "iqr": s[1]} for m, s in self._scale.items()]
        )
        self._indexes: dict = {}

    def __len__(self) -> int:
        return len(self.emb)

    def __repr__(self) -> str:
        return f"Catalog({len(self)} items, {self.emb.provenance}, color={self.blocks['color']}, texture={self.blocks['texture']}, index={self.kind})"

    # -- pieces ---------------------------------------------------------------
    def index_for(self, mode: str):
        """The ANN index of ``mode``'s block (built on first use); None for exact catalogs."""
        if self.kind == "exact":
            return None
        if mode not in self._indexes:
            self._indexes[mode] = build_index(self._vectors[mode], kind=self.kind, metric="cosine", seed=self.seed)
        return self._indexes[mode]

    def standardize(self, mode: str, distances: np.ndarray) -> np.ndarray:
        """``(d - median) / IQR`` of ``mode`` (see the module notes)."""
        med, iqr = self._scale[mode]
        return (np.asarray(distances, dtype=np.float64) - med) / iqr

    def query_vectors(self, query) -> tuple[dict[str, np.ndarray], int | None]:
        """Normalised colour/texture vectors of ``query`` and its catalog row (or None).

        ``query`` may be a catalog row number, an image (path, ``bytes``, PIL
        image; embedded like the catalog), a one-row Embeddings from the same
        backbone and weights, or a mapping ``{"color"|"texture"|block: vector}``.
        """
        if isinstance(query, (int, np.integer)) and not isinstance(query, bool):
            row = int(query)
            if not -len(self) <= row < len(self):
                raise IndexError(f"query row {row} is out of range for a catalog of {len(self)} items")
            row %= len(self)
            return {m: self._vectors[m][row] for m in ("color", "texture")}, row
        if isinstance(query, Mapping):
            out = {}
            for mode, block in self.blocks.items():
                vec = query.get(mode, query.get(block))
                if vec is None:
                    raise ValueError(f"query mapping needs a vector for {mode!r} (or block {block!r}); got keys {list(query)}")
                vec = np.asarray(vec, dtype=np.float32).reshape(-1)
                if vec.shape[0] != self._vectors[mode].shape[1]:
                    raise ValueError(f"{mode} query vector has length {vec.shape[0]}; block {block!r} has {self._vectors[mode].shape[1]}")
                out[mode] = normalize_rows(vec[None, :])[0]
            return out, None
        if isinstance(query, np.ndarray):
            raise TypeError("a bare vector is ambiguous: pass {'color': v_color, 'texture': v_texture}, a row number or an image")
        if not isinstance(query, Embeddings):
            from attr_utils.embedder import embed_images

            query = embed_images([query], like=self.emb, cache_dir=self.cache_dir)
        _check_same_model(query, self.emb, "query")
        if len(query) != 1:
            raise ValueError(f"a query Embeddings must hold exactly one row, got {len(query)}")
        return {m: normalize_rows(query[b][:1])[0] for m, b in self.blocks.items()}, None

    def _score_rows(self, qv: dict, rows: np.ndarray | None, alpha: float):
        dist = {}
        for mode in ("color", "texture"):
            x = self._vectors[mode] if rows is None else self._vectors[mode][rows]
            dist[mode] = np.maximum(1.0 - x @ qv[mode], 0.0).astype(np.float32)
        score = alpha * self.standardize("color", dist["color"]) if alpha > 0 else 0.0
        if alpha < 1:
            score = score + (1.0 - alpha) * self.standardize("texture", dist["texture"])
        return dist, np.broadcast_to(np.asarray(score, dtype=np.float64), dist["color"].shape)

    # -- search ---------------------------------------------------------------
    def search(self, query, *, mode: str = "both", alpha: float = 0.5, k: int = 10, exclude_self: bool = False,
               candidates: int | None = None) -> pd.DataFrame:
        """Rank the catalog for ``query``; see :func:`search`."""
        mode = _check_mode(mode)
        alpha = _effective_alpha(mode, _check_alpha(alpha))
        k = _check_k(k)
        if candidates is not None and (isinstance(candidates, bool) or not isinstance(candidates, (int, np.integer)) or candidates < 1):
            raise ValueError(f"`candidates` must be an integer >= 1, got {candidates!r}")
        qv, row = self.query_vectors(query)
        drop = row if exclude_self else None
        if self.kind == "exact":
            rows = None
        else:
            want = int(candidates or max(100, 10 * k)) + (drop is not None)
            found = [self.index_for(m).search(qv[m], want)[1][0] for m, w in (("color", alpha), ("texture", 1 - alpha)) if w > 0]
            rows = np.unique(np.concatenate(found))
            rows = rows[rows >= 0]
        dist, score = self._score_rows(qv, rows, alpha)
        all_rows = np.arange(len(self)) if rows is None else rows
        keep = np.ones(len(all_rows), dtype=bool)
        if drop is not None:
            keep &= all_rows != drop
        all_rows, score = all_rows[keep], score[keep]
        dist = {m: d[keep] for m, d in dist.items()}
        order = np.lexsort((all_rows, score))[:k]
        top = all_rows[order]
        table = self.emb.table.iloc[top]
        out = pd.DataFrame({
            "rank": np.arange(1, len(top) + 1),
            "row": top,
            "path": table["path"].to_numpy(),
            "distance_color": dist["color"][order],
            "distance_texture": dist["texture"][order],
            "score": score[order],
        })
        for col in self.emb.label_columns:
            out[col] = table[col].to_numpy()
        out.attrs.update(self._attrs(mode=mode, alpha=alpha, k=k))
        return out

    def _attrs(self, **extra) -> dict:
        e = self.emb
        return {
            "backbone": e.backbone, "weights": e.weights, "weights_label": e.weights_label, "pretrained": e.pretrained,
            "provenance": e.provenance, "color_block": self.blocks["color"], "texture_block": self.blocks["texture"],
            "index": self.kind, **extra,
        }


def _check_same_model(a: Embeddings, b: Embeddings, what: str) -> None:
    if a.backbone != b.backbone:
        raise BackboneError(f"the {what} was embedded with backbone {a.backbone!r} but the catalog with {b.backbone!r}")
    if a.weights != b.weights or (a.signature and b.signature and a.signature != b.signature):
        raise WeightsError(f"the {what} was embedded with weights {a.weights!r} but the catalog with {b.weights!r}")


def search(emb, query, *, mode: str = "both", alpha: float = 0.5, k: int = 10, blocks=None, index: str = "auto",
           exclude_self: bool = False, seed: int = 0, cache_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Rank a catalog by colour, texture or both for one query image.

    Parameters
    ----------
    emb : Embeddings or Catalog
        The catalog. Pass a :class:`Catalog` to reuse its scales and indexes
        across queries (``blocks``, ``index``, ``seed`` and ``cache_dir`` are
        then ignored).
    query : str, path-like, bytes, PIL.Image.Image, int, Embeddings or mapping
        An image (embedded exactly like the catalog, through the cache), a
        catalog row number, a one-row Embeddings, or ``{"color": v, "texture": w}``.
    mode : {"color", "texture", "both"}, default="both"
        Which distance ranks: the colour block's, the texture block's, or
        their weighted combination.
    alpha : float, default=0.5
        Weight of colour in ``mode="both"`` (1 = colour only, 0 = texture only).
    k : int, default=10
        Results returned.
    blocks : mapping or pair, optional
        Colour and texture blocks; default the backbone's (resnet50: block2
        and block4). Accepts :func:`attr_utils.analysis.recommend_blocks`'s output.
    index : {"auto", "exact", "ann", "ivf", "hnsw"}, default="auto"
        Exact search up to 100,000 items, approximate above.
    exclude_self : bool, default=False
        Leave the query's own row out (when ``query`` is a row number).
    seed : int, default=0
        Seed of the scale estimate and of the ANN build.
    cache_dir : path-like, optional
        Embedding cache for query images.

    Returns
    -------
    pandas.DataFrame
        One row per result, best first: ``rank`` (1-based), ``row`` (catalog
        row), ``path``, ``distance_color`` and ``distance_texture`` (cosine
        distances), ``score`` (the standardised combination that ranks; lower
        is better) and the catalog's label columns. ``.attrs`` holds the
        backbone, weights, provenance, blocks, mode, alpha and index kind.

    Raises
    ------
    ValueError
        Invalid ``mode``, ``alpha``, ``k``, ``blocks`` or ``index``.
    ImageDecodeError
        The query image cannot be read or decoded.
    BackboneError, WeightsError
        A query Embeddings from another model than the catalog's.

    Notes
    -----
    Distances are standardised per mode by the median and interquartile range
    of distances between random catalog pairs, so ``alpha`` weighs comparable
    quantities; ``alpha=1`` reproduces colour mode's ranking exactly and
    ``alpha=0`` texture mode's.

    Examples
    --------
    >>> search(emb, "shirt.jpg", mode="color", k=5)[["rank", "path", "color"]]  # doctest: +SKIP
    """
    catalog = emb if isinstance(emb, Catalog) else Catalog(emb, blocks=blocks, index=index, seed=seed, cache_dir=cache_dir)
    return catalog.search(query, mode=mode, alpha=alpha, k=k, exclude_self=exclude_self)


def evaluate_retrieval(
    emb,
    *,
    k: int = 10,
    alphas=None,
    color_label: str = "color",
    texture_label: str = "texture",
    blocks=None,
    max_queries: int | None = None,
    seed: int = 0,
    batch_size: int = 256,
) -> pd.DataFrame:
    """Leave-one-out precision@k of colour, texture and both-agreement, per mode and alpha.

    Every item (or a seeded sample of ``max_queries`` items) queries the rest
    of the catalog (exact search, itself left out). For its top ``k``
    results, precision is the share that agree with it on colour, on texture,
    and on both. Modes: ``color`` (alpha=1), ``texture`` (alpha=0) and
    ``both`` for each alpha of the sweep.

    Parameters
    ----------
    emb : Embeddings or Catalog
        A labelled catalog.
    k : int, default=10
        Results per query.
    alphas : sequence of float, optional
        Colour weights of mode ``both``; default 0, 0.1, ..., 1.
    color_label, texture_label : str, default="color", "texture"
        Label columns holding the ground truth.
    blocks : mapping or pair, optional
        Colour and texture blocks (see :func:`resolve_blocks`).
    max_queries : int, optional
        Evaluate a seeded random sample of this many queries (large catalogs).
    seed : int, default=0
        Seed of the scale estimate and of the query sample.
    batch_size : int, default=256
        Queries scored per matrix product.

    Returns
    -------
    pandas.DataFrame
        Tidy: one row per (mode, alpha, agreement) with ``precision`` (mean
        over queries), ``sem`` (its standard error), ``chance`` (expected
        precision of a random ranking), ``k``, ``n_queries``, ``color_block``,
        ``texture_block``, ``backbone``, ``weights``. ``.attrs`` carries the
        provenance.

    Raises
    ------
    ValueError
        Invalid ``k``, ``alphas``, ``max_queries``, or a catalog too small for ``k``.
    KeyError
        A missing label column (the message lists the available ones).
    """
    catalog = emb if isinstance(emb, Catalog) else Catalog(emb, blocks=blocks, index="exact", seed=seed)
    emb = catalog.emb
    k = _check_k(k)
    n = len(catalog)
    if k > n - 1:
        raise ValueError(f"`k` must be <= n - 1 = {n - 1} for leave-one-out evaluation, got {k}")
    alphas = default_alphas() if alphas is None else np.asarray([_check_alpha(a) for a in np.atleast_1d(alphas)], dtype=float)
    if len(alphas) == 0:
        raise ValueError("`alphas` must hold at least one value in [0, 1]")
    if max_queries is not None and (isinstance(max_queries, bool) or not isinstance(max_queries, (int, np.integer)) or max_queries < 1):
        raise ValueError(f"`max_queries` must be an integer >= 1, got {max_queries!r}")
    labels = {"color": pd.factorize(emb.labels(color_label))[0], "texture": pd.factorize(emb.labels(texture_label))[0]}
    queries = np.arange(n)
    if max_queries is not None and max_queries < n:
        queries = np.sort(np.random.default_rng(seed).choice(n, max_queries, replace=False))
    runs = [("color", 1.0), ("texture", 0.0)] + [("both", float(a)) for a in alphas]
    hits = {(m, a, g): [] for m, a in runs for g in ("color", "texture", "both")}
    xc, xt = catalog._vectors["color"], catalog._vectors["texture"]
    for s in range(0, len(queries), batch_size):
        q = queries[s : s + batch_size]
        zc = catalog.standardize("color", 1.0 - xc[q] @ xc.T)
        zt = catalog.standardize("texture", 1.0 - xt[q] @ xt.T)
        same_c = labels["color"][q][:, None] == labels["color"][None, :]
        same_t = labels["texture"][q][:, None] == labels["texture"][None, :]
        for mode, a in runs:
            score = zc if a == 1.0 else zt if a == 0.0 else a * zc + (1.0 - a) * zt
            score = score.copy() if a in (0.0, 1.0) else score
            score[np.arange(len(q)), q] = np.inf  # leave the query out
            top = np.argpartition(score, k - 1, axis=1)[:, :k]
            c = np.take_along_axis(same_c, top, axis=1)
            t = np.take_along_axis(same_t, top, axis=1)
            hits[(mode, a, "color")].append(c.mean(axis=1))
            hits[(mode, a, "texture")].append(t.mean(axis=1))
            hits[(mode, a, "both")].append((c & t).mean(axis=1))
    chance = {}
    for g in ("color", "texture", "both"):
        if g == "both":
            key = labels["color"] * (labels["texture"].max() + 1) + labels["texture"]
        else:
            key = labels[g]
        counts = np.bincount(key)
        chance[g] = float(np.mean((counts[key[queries]] - 1) / (n - 1)))
    rows = []
    for (mode, a, g), parts in hits.items():
        p = np.concatenate(parts)
        rows.append({
            "mode": mode, "alpha": a, "agreement": g, "precision": float(p.mean()),
            "sem": float(p.std(ddof=1) / np.sqrt(len(p))) if len(p) > 1 else 0.0, "chance": chance[g],
            "k": k, "n_queries": len(p), "color_block": catalog.blocks["color"],
            "texture_block": catalog.blocks["texture"], "backbone": emb.backbone, "weights": emb.weights,
        })
    out = pd.DataFrame(rows)
    out.attrs.update(catalog._attrs(k=k, color_label=color_label, texture_label=texture_label))
    return out
