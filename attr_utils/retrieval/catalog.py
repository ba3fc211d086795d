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
Combining them (``mode="both"``)
--------------------------------
The default ``method="rrf"`` asks for both attributes at once: every
catalog item gets its rank in colour (``r_c``, 1 = closest) and in texture
(``r_t``) among the items searched, and

    score = -(alpha / (60 + r_c) + (1 - alpha) / (60 + r_t))

(weighted reciprocal-rank fusion, Cormack, Clarke and Buettcher, SIGIR 2009,
with their constant 60, not tuned here; lower is better). An item near the
query in *both* blocks collects both terms; being the very closest in colour
earns at most one. Ranks need no scale, so nothing is tuned per catalog.
``method="rank"`` is the weighted product of ranks,
``alpha * log(r_c) + (1 - alpha) * log(r_t)`` (the first default: chosen on
one catalog, then beaten by reciprocal-rank fusion on every catalog it was not
chosen on), and ``method="linear"`` keeps the earlier standardised mix

    score = alpha * z_color + (1 - alpha) * z_texture,

``score < 0`` meaning "closer than a typical pair of items". In both methods
``alpha=1`` ranks exactly as colour mode and ``alpha=0`` exactly as texture
mode (ties go to the lower row). ``docs/retrieval.md`` gives the measurements
that chose the default (rank fusion against calibrated match probabilities,
reciprocal-rank fusion, filter-then-rank and the linear mix).

The query itself
----------------
``exclude_self=True`` (the default) leaves out every catalog item whose
content hash equals the query's: the query row and its byte-identical copies
for a row query, the catalog's copies of the file for an image query. The
CLI and the retrieval app behave the same way.

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

import os
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from attr_utils.datasets import missing_labels
from attr_utils.embeddings import Embeddings, Skipped, user_column_name
from attr_utils.errors import BackboneError, DatasetError, ImageDecodeError, ParameterError, QueryError, WeightsError
from attr_utils.retrieval.index import AUTO_EXACT_MAX, build_index, normalize_rows, resolve_kind
from attr_utils.validation import check_choice, check_int, check_real, check_seed

__all__ = ["DEFAULT_ALPHA", "DEFAULT_METHOD", "METHODS", "MODES", "RESULT_COLUMNS", "RRF_K", "Catalog", "default_alphas", "evaluate_retrieval",
           "resolve_blocks", "search"]

MODES = ("color", "texture", "both")
#: How mode ``both`` combines colour and texture (see the module notes).
METHODS = ("rank", "rrf", "linear")
#: The constant of reciprocal-rank fusion (Cormack, Clarke and Buettcher, SIGIR 2009), not tuned here.
RRF_K = 60
#: What a user gets without options (chosen by measurement, ``docs/retrieval.md``).
DEFAULT_METHOD = "rrf"
DEFAULT_ALPHA = 0.5
#: The columns :meth:`Catalog.search` computes; a catalog label column of the same name is shown as ``user_<name>``.
RESULT_COLUMNS = ("query", "query_path", "rank", "row", "path", "distance_color", "distance_texture", "score")
_BLOCK_KEYS = {"color": "color", "colour": "color", "texture": "texture"}


def default_alphas() -> np.ndarray:
    """The alpha sweep of :func:`evaluate_retrieval`: 0, 0.1, ..., 1."""
    return np.round(np.linspace(0.0, 1.0, 11), 10)


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
    ParameterError
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
                    raise ParameterError(f"`blocks` keys must be 'color' and/or 'texture', got {key!r}")
                chosen[_BLOCK_KEYS[key]] = block
        elif isinstance(blocks, Sequence) and not isinstance(blocks, str) and len(blocks) == 2:
            chosen["color"], chosen["texture"] = blocks
        else:
            raise ParameterError(f"`blocks` must be a mapping {{'color': ..., 'texture': ...}} or a pair, got {blocks!r}")
    for mode in ("color", "texture"):
        if mode not in chosen:
            raise ParameterError(
                f"no default {mode} block for backbone {emb.backbone!r}; pass blocks={{'color': ..., 'texture': ...}} "
                f"choosing among {emb.block_names}"
            )
        if chosen[mode] not in emb.blocks:
            raise ParameterError(f"{mode} block {chosen[mode]!r} is not in these embeddings; available: {emb.block_names}")
    return {"color": chosen["color"], "texture": chosen["texture"]}


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks along the last axis (ascending; ties go to the lower position), as float64."""
    order = np.argsort(values, axis=-1, kind="stable")
    ranks = np.empty(values.shape, dtype=np.float64)
    np.put_along_axis(ranks, order, np.broadcast_to(np.arange(1, values.shape[-1] + 1, dtype=np.float64), values.shape), axis=-1)
    return ranks


def _combine(method: str, alpha: float, zc, zt):
    """Score of mode ``both`` from the two standardised distances (rows: queries, or one query).

    Items to leave out should carry ``inf`` distances: they rank last and do
    not push the others down.
    """
    if method == "linear":
        score = alpha * zc if alpha > 0 else 0.0
        if alpha < 1:
            score = score + (1.0 - alpha) * zt
        return np.broadcast_to(np.asarray(score, dtype=np.float64), np.shape(zc))
    f = np.log if method == "rank" else (lambda r: -1.0 / (RRF_K + r))  # rrf: higher is better, so negated
    score = alpha * f(_ranks(zc)) if alpha > 0 else 0.0
    if alpha < 1:
        score = score + (1.0 - alpha) * f(_ranks(zt))
    return np.broadcast_to(np.asarray(score, dtype=np.float64), np.shape(zc))


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
    groups : numpy.ndarray of int64, shape (n,)
        Content group of every row (same content hash, same group; see
        :func:`attr_utils.duplicates.content_groups`): what ``exclude_self`` leaves out.
    scales : pandas.DataFrame
        One row per mode: ``block``, ``median``, ``iqr`` of pairwise distances.
    kind : str
        ``"exact"``, ``"ivf"`` or ``"hnsw"``.

    Raises
    ------
    ParameterError
        ``emb`` is not an Embeddings, or an invalid ``blocks`` (see
        :func:`resolve_blocks`), ``index``, ``scale_pairs`` or ``seed``.
    DatasetError
        ``emb`` holds no item.

    Examples
    --------
    >>> catalog = Catalog(emb)  # doctest: +SKIP
    >>> catalog.search("query.jpg", mode="both", alpha=0.5, k=5)  # doctest: +SKIP
    """

    def __init__(self, emb: Embeddings, *, blocks=None, index: str = "auto", scale_pairs: int = 10_000, seed: int = 0,
                 cache_dir: str | os.PathLike | None = None):
        if not isinstance(emb, Embeddings):
            raise ParameterError(f"`emb` must be an Embeddings, got {type(emb).__name__}")
        if len(emb) == 0:
            raise DatasetError("the catalog is empty")
        scale_pairs = check_int("scale_pairs", scale_pairs, min=1)
        self.seed = check_seed(seed)
        self.emb = emb
        self.blocks = resolve_blocks(emb, blocks)
        self.kind = resolve_kind(index, len(emb))
        self.cache_dir = cache_dir
        self._vectors = {mode: normalize_rows(emb[block]) for mode, block in self.blocks.items()}
        rng = np.random.default_rng(self.seed)
        self._scale = {mode: _robust_scale(self._vectors[mode], rng, scale_pairs) for mode in ("color", "texture")}
        self.scales = pd.DataFrame(
            [{"mode": m, "block": self.blocks[m], "median": s[0], "iqr": s[1]} for m, s in self._scale.items()]
        )
        self._indexes: dict = {}
        self._groups: np.ndarray | None = None
        self._hashes = emb.table["hash"].to_numpy(dtype=object) if "hash" in emb.table.columns else None

    def __len__(self) -> int:
        return len(self.emb)

    def to_dict(self) -> dict:
        """What the catalog is, as plain JSON-ready values (what the CLI prints).

        Returns
        -------
        dict
            ``n_items``, ``backbone``, ``weights``, ``weights_label``,
            ``pretrained``, ``provenance``, ``blocks`` (``{"color": ...,
            "texture": ...}``), ``index`` (the kind), ``seed`` and ``scales``
            (one record per mode: ``mode``, ``block``, ``median``, ``iqr``).
        """
        e = self.emb
        return {
            "n_items": len(self), "backbone": e.backbone, "weights": e.weights, "weights_label": e.weights_label,
            "pretrained": bool(e.pretrained), "provenance": e.provenance, "blocks": dict(self.blocks),
            "index": self.kind, "seed": self.seed, "scales": self.scales.to_dict("records"),
        }

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
        vectors, row, _ = self._resolve_query(query)
        return vectors, row

    @property
    def groups(self) -> np.ndarray:
        """Content group of every row (computed on first use)."""
        if self._groups is None:
            from attr_utils.duplicates import content_groups

            self._groups = content_groups(self.emb, groups="hash")
        return self._groups

    def excluded_rows(self, row: int | None = None, content_hash: str | None = None) -> np.ndarray:
        """Rows that ``exclude_self`` leaves out: the query row and every row with its content hash.

        For a row query the hash is the row's own (its content group); rows
        without a hash (embedded from memory) exclude only themselves.
        """
        if row is not None and self._hashes is not None and isinstance(self._hashes[row], str) and self._hashes[row].strip():
            content_hash = self._hashes[row]
        out = np.zeros(len(self), dtype=bool)
        if row is not None:
            out[row] = True
        if content_hash and self._hashes is not None:
            out |= self._hashes == content_hash
        return np.flatnonzero(out)

    def _resolve_query(self, query) -> tuple[dict[str, np.ndarray], int | None, str | None]:
        if isinstance(query, (int, np.integer)) and not isinstance(query, bool):
            row = int(query)
            if not -len(self) <= row < len(self):
                raise QueryError(f"query row {row} is out of range for a catalog of {len(self)} items")
            row %= len(self)
            return {m: self._vectors[m][row] for m in ("color", "texture")}, row, None
        if isinstance(query, Mapping):
            out = {}
            for mode, block in self.blocks.items():
                vec = query.get(mode, query.get(block))
                if vec is None:
                    raise ParameterError(f"query mapping needs a vector for {mode!r} (or block {block!r}); got keys {list(query)}")
                vec = np.asarray(vec, dtype=np.float32).reshape(-1)
                if vec.shape[0] != self._vectors[mode].shape[1]:
                    raise ParameterError(f"{mode} query vector has length {vec.shape[0]}; block {block!r} has {self._vectors[mode].shape[1]}")
                out[mode] = normalize_rows(vec[None, :])[0]
            return out, None, None
        if isinstance(query, np.ndarray):
            raise ParameterError("a bare vector is ambiguous: pass {'color': v_color, 'texture': v_texture}, a row number or an image")
        if not isinstance(query, Embeddings):
            from attr_utils.embedder import embed_images

            query = embed_images([query], like=self.emb, cache_dir=self.cache_dir)
        _check_same_model(query, self.emb, "query")
        if len(query) != 1:
            raise ParameterError(f"a query Embeddings must hold exactly one row, got {len(query)}")
        content_hash = str(query.table["hash"].iloc[0]) if "hash" in query.table.columns else None
        return {m: normalize_rows(query[b][:1])[0] for m, b in self.blocks.items()}, None, content_hash or None

    def _distances(self, qv: dict, rows: np.ndarray | None) -> dict[str, np.ndarray]:
        dist = {}
        for mode in ("color", "texture"):
            x = self._vectors[mode] if rows is None else self._vectors[mode][rows]
            dist[mode] = np.maximum(1.0 - x @ qv[mode], 0.0).astype(np.float32)
        return dist

    # -- search ---------------------------------------------------------------
    def search(self, query, *, mode: str = "both", alpha: float = DEFAULT_ALPHA, method: str = DEFAULT_METHOD,
               k: int = 10, exclude_self: bool = True, candidates: int | None = None) -> pd.DataFrame:
        """Rank the catalog for ``query`` (or each query of a list); see :func:`search`."""
        mode = check_choice("mode", mode, MODES)
        alpha = _effective_alpha(mode, check_real("alpha", alpha, min=0.0, max=1.0))
        method = check_choice("method", method, METHODS)
        k = check_int("k", k, min=1)
        candidates = check_int("candidates", candidates, min=1, allow_none=True)
        options = {"mode": mode, "alpha": alpha, "method": method, "k": k, "exclude_self": bool(exclude_self),
                   "candidates": candidates}
        if isinstance(query, (list, tuple)):
            return self._search_many(query, options)
        return self._search_one(query, **options)

    def _search_many(self, queries, options: dict) -> pd.DataFrame:
        """One table for a list of queries; an image that cannot be read is skipped and reported."""
        frames, skipped, excluded = [], [], {}
        for i, query in enumerate(queries):
            try:
                part = self._search_one(query, **options)
            except ImageDecodeError as exc:
                skipped.append(Skipped(_query_name(query, i), _bare_reason(str(exc))))
                continue
            excluded[i] = part.attrs["excluded"]
            part.insert(0, "query_path", _query_name(query, i))
            part.insert(0, "query", i)
            frames.append(part)
        if not frames and skipped:  # like embed_images and predict: nothing usable is an error
            first = skipped[0]
            more = f" (and {len(skipped) - 1} more unusable)" if len(skipped) > 1 else ""
            raise ImageDecodeError(f"no usable image: cannot use image {first.path!r}: {first.reason}{more}")
        if frames:
            out = pd.concat(frames, ignore_index=True)
        else:
            out = pd.DataFrame(columns=[*RESULT_COLUMNS, *self.result_label_columns().values()])
        out.attrs.update(self._attrs(mode=options["mode"], alpha=options["alpha"],
                                     method=options["method"] if options["mode"] == "both" else None,
                                     k=options["k"], skipped=skipped, excluded=excluded))
        if skipped:
            first = skipped[0]
            warnings.warn(f"{len(skipped)} of {len(queries)} queries skipped (first: {first.path}: {first.reason}); "
                          "see .attrs['skipped']", stacklevel=3)
        return out

    def _search_one(self, query, *, mode, alpha, method, k, exclude_self, candidates) -> pd.DataFrame:
        qv, row, content_hash = self._resolve_query(query)
        drop = self.excluded_rows(row, content_hash) if exclude_self else np.empty(0, dtype=np.intp)
        if self.kind == "exact":
            rows = np.arange(len(self))
        else:
            want = int(candidates or max(100, 10 * k)) + len(drop)
            found = [self.index_for(m).search(qv[m], want)[1][0] for m, w in (("color", alpha), ("texture", 1 - alpha)) if w > 0]
            rows = np.unique(np.concatenate(found))
            rows = rows[rows >= 0]
        rows = rows[~np.isin(rows, drop)]
        dist = self._distances(qv, None if len(rows) == len(self) else rows)
        zc, zt = self.standardize("color", dist["color"]), self.standardize("texture", dist["texture"])
        score = _combine("linear" if mode != "both" else method, alpha, zc, zt)
        order = np.lexsort((rows, score))[:k]
        top = rows[order]
        table = self.emb.table.iloc[top]
        out = pd.DataFrame({
            "rank": np.arange(1, len(top) + 1),
            "row": top,
            "path": table["path"].to_numpy(),
            "distance_color": dist["color"][order],
            "distance_texture": dist["texture"][order],
            "score": score[order],
        })
        for col, shown in self.result_label_columns().items():
            out[shown] = table[col].to_numpy()
        out.attrs.update(self._attrs(mode=mode, alpha=alpha, method=method if mode == "both" else None, k=k,
                                     excluded=len(drop)))
        return out

    def result_label_columns(self) -> dict[str, str]:
        """``{label column: its name in search results}``.

        A label column named like a computed result column (:data:`RESULT_COLUMNS`:
        ``rank``, ``score``, ``path``...) is shown as ``user_<name>``
        (:func:`attr_utils.embeddings.user_column_name`), so it never
        overwrites the computed value.
        """
        labels = list(self.emb.label_columns)
        out = {}
        for col in labels:
            if col in RESULT_COLUMNS:
                out[col] = user_column_name(col, [*RESULT_COLUMNS, *labels, *out.values()])
            else:
                out[col] = col
        return out

    def _attrs(self, **extra) -> dict:
        e = self.emb
        return {
            "backbone": e.backbone, "weights": e.weights, "weights_label": e.weights_label, "pretrained": e.pretrained,
            "provenance": e.provenance, "color_block": self.blocks["color"], "texture_block": self.blocks["texture"],
            "index": self.kind, "label_columns": self.result_label_columns(), **extra,
        }


def _bare_reason(message: str) -> str:
    """The reason of an image error without its "no usable image: cannot use image 'NAME': " preamble."""
    import re

    found = re.match(r"(?:no usable image: )?cannot use image (?:'[^']*'|\"[^\"]*\"): (.*)", message, re.S)
    return found.group(1) if found else message


def _query_name(query, i: int) -> str:
    if isinstance(query, (str, os.PathLike)):
        return str(query)
    if isinstance(query, (int, np.integer)) and not isinstance(query, bool):
        return f"<row {int(query)}>"
    return f"<query {i}>"


def _check_same_model(a: Embeddings, b: Embeddings, what: str) -> None:
    if a.backbone != b.backbone:
        raise BackboneError(f"the {what} was embedded with backbone {a.backbone!r} but the catalog with {b.backbone!r}")
    if a.weights != b.weights:
        raise WeightsError(f"the {what} was embedded with weights {a.weights!r} but the catalog with {b.weights!r}")
    fields = (("pooling", a.pooling or "average", b.pooling or "average"), ("mask", a.mask, b.mask), ("resize", a.resize, b.resize))
    for name, mine, theirs in fields:
        if mine and theirs and mine != theirs:
            raise WeightsError(f"the {what} was embedded with {name} {mine!r} but the catalog with {theirs!r}; embed it like the catalog")
    if a.signature and b.signature and a.signature != b.signature:
        raise WeightsError(
            f"the {what} was embedded under model signature {a.signature!r} but the catalog under {b.signature!r} "
            "(same backbone, weights, pooling and resize: taps, input size or decoding differ)"
        )


def search(emb, query, *, mode: str = "both", alpha: float = DEFAULT_ALPHA, method: str = DEFAULT_METHOD, k: int = 10,
           blocks=None, index: str = "auto", exclude_self: bool = True, seed: int = 0,
           cache_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Rank a catalog by colour, texture or both for one query image (or each of a list).

    Parameters
    ----------
    emb : Embeddings or Catalog
        The catalog. Pass a :class:`Catalog` to reuse its scales and indexes
        across queries (``blocks``, ``index``, ``seed`` and ``cache_dir`` are
        then ignored).
    query : str, path-like, bytes, PIL.Image.Image, int, Embeddings, mapping, or a list of these
        An image (embedded exactly like the catalog, through the cache), a
        catalog row number, a one-row Embeddings, or ``{"color": v, "texture": w}``.
        A list answers every query in one table (columns ``query``, the
        position in the list, and ``query_path`` first); an image that cannot
        be read or decoded is skipped, listed in ``.attrs["skipped"]``
        (:class:`~attr_utils.embeddings.Skipped` path and reason) and
        reported by one warning.
    mode : {"color", "texture", "both"}, default="both"
        What to match: the colour block, the texture block, or both at once.
    alpha : float, default=0.5
        How much colour counts in ``mode="both"``, in [0, 1]: 1 ranks exactly
        as colour mode, 0 exactly as texture mode.
    method : {"rank", "rrf", "linear"}, default="rrf"
        How ``mode="both"`` combines: ``"rrf"`` is weighted reciprocal-rank
        fusion, ``-(alpha / (60 + colour rank) + (1 - alpha) / (60 + texture rank))``
        (constant 60 from Cormack et al. 2009, not tuned); ``"rank"`` scores
        ``alpha * log(colour rank) + (1 - alpha) * log(texture rank)`` (a
        weighted product of ranks); ``"linear"`` mixes the standardised distances. The default was
        chosen by the measurements in ``docs/retrieval.md``.
    k : int, default=10
        Results returned (per query).
    blocks : mapping or pair, optional
        Colour and texture blocks; default the backbone's (resnet50: block2
        and block4). Accepts :func:`attr_utils.analysis.recommend_blocks`'s output.
    index : {"auto", "exact", "ann", "ivf", "hnsw"}, default="auto"
        Exact search up to 100,000 items, approximate above.
    exclude_self : bool, default=True
        Leave out every catalog item with the query's content hash: for a row
        query its content group (the row and its byte-identical copies), for
        an image query the catalog's copies of that file. Mapping queries
        have no hash and exclude nothing.
    seed : int, default=0
        Seed of the scale estimate and of the ANN build.
    cache_dir : path-like, optional
        Embedding cache for query images.

    Returns
    -------
    pandas.DataFrame
        One row per result, best first: ``rank`` (1-based), ``row`` (catalog
        row), ``path``, ``distance_color`` and ``distance_texture`` (cosine
        distances), ``score`` (what ranks; lower is better) and the catalog's
        label columns. ``.attrs`` holds the backbone, weights, provenance,
        blocks, mode, alpha, method and index kind.

    Raises
    ------
    ParameterError
        Invalid ``mode``, ``alpha``, ``method``, ``k``, ``blocks``, ``index``
        or ``seed``, or a malformed query (a bare vector, a mapping without a
        vector per mode, a query Embeddings of several rows).
    QueryError
        A row number outside the catalog.
    ImageDecodeError
        A single query image cannot be read or decoded (lists skip it instead).
    BackboneError, WeightsError
        A query Embeddings from another model than the catalog's.

    Notes
    -----
    With an approximate index, ranks are taken within the re-scored union of
    each mode's candidates, which holds the top items of both modes; the
    ranks of the items that matter (near in both) are then exact or close.

    Examples
    --------
    >>> search(emb, "shirt.jpg", mode="color", k=5)[["rank", "path", "color"]]  # doctest: +SKIP
    """
    catalog = emb if isinstance(emb, Catalog) else Catalog(emb, blocks=blocks, index=index, seed=seed, cache_dir=cache_dir)
    return catalog.search(query, mode=mode, alpha=alpha, method=method, k=k, exclude_self=exclude_self)


def evaluate_retrieval(
    emb,
    *,
    k: int = 10,
    alphas=None,
    methods=METHODS,
    color_label: str = "color",
    texture_label: str = "texture",
    blocks=None,
    groups="hash",
    max_queries: int | None = None,
    seed: int = 0,
    batch_size: int = 256,
) -> pd.DataFrame:
    """Leave-one-out precision@k of colour, texture and both-agreement, per mode, method and alpha.

    Every item (or a seeded sample of ``max_queries`` items) queries the rest
    of the catalog (exact search). Its whole content group is left out of its
    neighbours, so a copy of the query never counts as a hit. For its top
    ``k`` results, precision is the share that agree with it on colour, on
    texture, and on both. Modes: ``color`` (alpha=1), ``texture`` (alpha=0)
    and ``both`` for each method and alpha.

    Parameters
    ----------
    emb : Embeddings or Catalog
        A labelled catalog.
    k : int, default=10
        Results per query.
    alphas : sequence of float, optional
        Colour weights of mode ``both``; default 0, 0.1, ..., 1.
    methods : sequence of {"rank", "rrf", "linear"}, default=("rank", "rrf", "linear")
        Combinations of mode ``both`` to evaluate (see :func:`search`).
    color_label, texture_label : str, default="color", "texture"
        Label columns holding the ground truth.
    blocks : mapping or pair, optional
        Colour and texture blocks (see :func:`resolve_blocks`).
    groups : {"hash", "near"}, None or array of int, default="hash"
        Content groups left out with the query
        (:func:`attr_utils.duplicates.resolve_groups`); None leaves out only
        the query row.
    max_queries : int, optional
        Evaluate a seeded random sample of this many queries (large catalogs).
    seed : int, default=0
        Seed of the scale estimate and of the query sample.
    batch_size : int, default=256
        Queries scored per matrix product.

    Returns
    -------
    pandas.DataFrame
        Tidy: one row per (mode, method, alpha, agreement) with ``precision``
        (mean over queries), ``sem`` (its standard error), ``chance``
        (expected precision of a random ranking of each query's candidates:
        the share of the items outside its content group that match it,
        averaged over queries), ``ceiling (the best
        precision possible: the mean of ``min(k, matching items)/k``),
        ``default`` (True for the rows a user gets without options: colour
        mode, texture mode, and ``both`` with the default method and alpha),
        ``k``, ``n_queries``, ``color_block``, ``texture_block``,
        ``backbone``, ``weights``. ``method`` is None for the single modes.
        ``.attrs`` carries the provenance, ``unlabelled`` (items left out as
        queries) and the duplicate report (``duplicate_groups``,
        ``duplicate_items``, ``conflicting_groups``; see
        :func:`attr_utils.duplicates.duplicate_summary`).

    Raises
    ------
    ParameterError
        Invalid ``k``, ``alphas``, ``methods``, ``max_queries``, ``seed`` or
        ``batch_size``; ``k`` at or above the number of candidates a query
        has (n minus its content group); no item with both labels.

    Warns
    -----
    UserWarning
        Items without a colour or texture label (None, NaN, empty): they are
        not used as queries and never count as matches (they stay in the
        catalog as candidates).
    KeyError
        A missing label column (the message lists the available ones).
    """
    from attr_utils.duplicates import duplicate_summary, resolve_groups

    catalog = emb if isinstance(emb, Catalog) else Catalog(emb, blocks=blocks, index="exact", seed=seed)
    emb = catalog.emb
    k = check_int("k", k, min=1)
    n = len(catalog)
    alphas = default_alphas() if alphas is None else np.asarray(
        [check_real("alpha", a, min=0.0, max=1.0) for a in np.atleast_1d(alphas)], dtype=float)
    if len(alphas) == 0:
        raise ParameterError("`alphas` must hold at least one value in [0, 1]")
    methods = [methods] if isinstance(methods, str) else list(methods)
    if not methods:
        raise ParameterError(f"`methods` must hold at least one of {METHODS}")
    methods = [check_choice("method", m, METHODS) for m in methods]
    max_queries = check_int("max_queries", max_queries, min=1, allow_none=True)
    seed = check_seed(seed)
    batch_size = check_int("batch_size", batch_size, min=1)
    group = resolve_groups(emb, groups)
    # unlabelled items (None, NaN, empty) get code -1: they are never queries and never count as matches
    labels = {"color": _label_codes(emb.labels(color_label)), "texture": _label_codes(emb.labels(texture_label))}
    labels["both"] = np.where((labels["color"] < 0) | (labels["texture"] < 0), -1,
                              labels["color"] * (labels["texture"].max() + 1) + labels["texture"])
    labelled = np.flatnonzero(labels["both"] >= 0)
    unlabelled = n - len(labelled)
    if len(labelled) == 0:
        raise ParameterError(f"no item carries both a {color_label!r} and a {texture_label!r} label; nothing to evaluate")
    if unlabelled:
        warnings.warn(f"{unlabelled} of {n} items lack a {color_label!r} or {texture_label!r} label: they are not "
                      "used as queries and never count as matches on the missing label", stacklevel=2)
    # every query's candidates are the items outside its content group
    group_sizes = np.bincount(pd.factorize(group)[0])[pd.factorize(group)[0]]
    candidates = n - int(group_sizes[labelled].max())
    if k >= candidates:
        raise ParameterError(f"`k` must be < {candidates}, the items a query can retrieve (n = {n} minus its largest "
                             f"content group), got {k}")
    queries = labelled
    if max_queries is not None and max_queries < len(labelled):
        queries = np.sort(np.random.default_rng(seed).choice(labelled, max_queries, replace=False))
    runs = [("color", None, 1.0), ("texture", None, 0.0)] + [("both", m, float(a)) for m in methods for a in alphas]
    hits = {(mode, m, a, g): [] for mode, m, a in runs for g in ("color", "texture", "both")}
    best = {g: [] for g in ("color", "texture", "both")}
    base = {g: [] for g in ("color", "texture", "both")}
    xc, xt = catalog._vectors["color"], catalog._vectors["texture"]
    for s in range(0, len(queries), batch_size):
        q = queries[s : s + batch_size]
        out = group[q][:, None] == group[None, :]  # the query's content group is never a neighbour
        zc = np.where(out, np.inf, catalog.standardize("color", 1.0 - xc[q] @ xc.T))
        zt = np.where(out, np.inf, catalog.standardize("texture", 1.0 - xt[q] @ xt.T))
        same = {g: (labels[g][q][:, None] == labels[g][None, :]) & ~out for g in ("color", "texture", "both")}
        for g in best:
            best[g].append(np.minimum(same[g].sum(axis=1), k) / k)
            base[g].append(same[g].sum(axis=1) / (~out).sum(axis=1))  # a random ranking of the candidates
        for mode, m, a in runs:
            score = _combine("linear" if mode != "both" else m, a, zc, zt)
            score = np.where(out, np.inf, score)
            top = np.argsort(score, axis=1, kind="stable")[:, :k]
            c = np.take_along_axis(same["color"], top, axis=1)
            t = np.take_along_axis(same["texture"], top, axis=1)
            hits[(mode, m, a, "color")].append(c.mean(axis=1))
            hits[(mode, m, a, "texture")].append(t.mean(axis=1))
            hits[(mode, m, a, "both")].append((c & t).mean(axis=1))
    chance, ceiling = {}, {}
    for g in ("color", "texture", "both"):
        chance[g] = float(np.concatenate(base[g]).mean())
        ceiling[g] = float(np.concatenate(best[g]).mean())
    rows = []
    for (mode, m, a, g), parts in hits.items():
        p = np.concatenate(parts)
        rows.append({
            "mode": mode, "method": m, "alpha": a, "agreement": g, "precision": float(p.mean()),
            "sem": float(p.std(ddof=1) / np.sqrt(len(p))) if len(p) > 1 else 0.0, "chance": chance[g],
            "ceiling": ceiling[g],
            "default": mode != "both" or (m == DEFAULT_METHOD and np.isclose(a, DEFAULT_ALPHA)),
            "k": k, "n_queries": len(p), "color_block": catalog.blocks["color"],
            "texture_block": catalog.blocks["texture"], "backbone": emb.backbone, "weights": emb.weights,
        })
    out = pd.DataFrame(rows)
    both_names = np.where(labels["both"] >= 0, labels["both"].astype(object), None)
    out.attrs.update(catalog._attrs(k=k, color_label=color_label, texture_label=texture_label,
                                    groups=groups if groups is None or isinstance(groups, str) else "custom",
                                    unlabelled=unlabelled, **duplicate_summary(group, both_names)))
    return out


def _label_codes(values) -> np.ndarray:
    """Integer codes of labels, -1 for a missing one (None, NaN, empty or blank string)."""
    values = pd.Series(np.asarray(values, dtype=object))
    return pd.factorize(values.mask(missing_labels(values)))[0]
