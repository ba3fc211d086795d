"""Interactive retrieval by colour, texture or both (ipywidgets).

The logic (ranking, standardised scores) is :class:`attr_utils.retrieval.Catalog`;
this module only wires widgets to it. The query is a catalog item chosen from a
dropdown (never a path typed by a visitor) or an uploaded image checked by
:func:`attr_utils.apps.upload.read_upload`.

Texture read from the garment interior
--------------------------------------
The deep block that reads texture also encodes the garment's shape, so
texture-mode neighbours of a whole-image (average pooled) catalog follow the
garment type. When the catalog's images can be embedded again with
``pooling="interior"`` (:mod:`attr_utils.pooling`: the average over the
eroded garment mask), the app offers "Texture read from: garment interior":
texture search then reads the interior-pooled vectors of one block
(computed on demand, once, through the embedding cache:
:func:`interior_embeddings`), colour search the catalog's own. That block is
by default the one just shallower than the catalog's texture block: on the
default catalog with EfficientNet-Lite0, block5 stays shape-bound whatever
the pooling (same garment type in 95 % of the top 5), while block4 pooled over
the interior finds the same texture in 96 % of the top 5 and the same
garment type in 54 % (whole-image block5: 82 % and 95 %); see
``docs/protocols.md`` ("Foreground-aware pooling").
"""

from __future__ import annotations

import dataclasses
import html

import numpy as np
import pandas as pd

from attr_utils.apps._ui import describe_row, error_html, info_html, label_column
from attr_utils.apps.upload import MAX_UPLOAD_BYTES, Upload, UploadError, read_upload
from attr_utils.apps.upload_button import UploadButton
from attr_utils.errors import AttrUtilsError, ParameterError
from attr_utils.retrieval.catalog import DEFAULT_METHOD
from attr_utils.validation import check_choice, check_int, check_real

__all__ = ["RetrievalApp", "TEXTURE_SOURCES", "block_label", "interior_available", "interior_embeddings", "query_matches",
           "query_precision", "retrieval_app", "with_interior_texture"]

MODE_OPTIONS = (("Colour", "color"), ("Texture", "texture"), ("Both", "both"))
#: Where texture-mode (and both-mode) vectors come from: the catalog's own pooling, or the garment interior.
TEXTURE_SOURCES = ("image", "interior")
TEXTURE_SOURCE_OPTIONS = (("whole image", "image"), ("garment interior", "interior"))
#: Suffix of the texture block holding interior-pooled vectors in the app's catalog.
INTERIOR_SUFFIX = "@interior"
METHOD_OPTIONS = (("reciprocal rank", "rrf"), ("rank product", "rank"), ("linear mix", "linear"))
_MARK = {True: "\u2713", False: "\u2717"}  # check mark, cross


def query_matches(results: pd.DataFrame, query_labels: dict[str, object]) -> pd.DataFrame:
    """Whether each result agrees with the query on each label.

    Parameters
    ----------
    results : DataFrame
        Output of :meth:`attr_utils.retrieval.Catalog.search` (label columns included).
    query_labels : dict
        ``{label column: the query's value}``.

    Returns
    -------
    pandas.DataFrame
        One boolean column per label, one row per result (same order).
    """
    out = {}
    shown = results.attrs.get("label_columns", {})  # a label named like a result column is shown as user_<name>
    for col, value in query_labels.items():
        name = shown.get(col, col)
        if name not in results.columns:
            raise KeyError(f"results have no label column {col!r}")
        out[col] = results[name].to_numpy() == value
    return pd.DataFrame(out, index=results.index)


def query_precision(results: pd.DataFrame, query_labels: dict[str, object]) -> pd.DataFrame:
    """Precision@k of one query's results: the share agreeing with it on each label and on all.

    Parameters
    ----------
    results : DataFrame
        Output of :meth:`attr_utils.retrieval.Catalog.search` (label columns included).
    query_labels : dict
        ``{label column: the query's value}``, e.g. ``{"color": "red", "texture": "striped"}``.

    Returns
    -------
    pandas.DataFrame
        One row per label plus ``"all"`` (every label agrees): ``agreement``,
        ``precision``, ``k``.
    """
    k = len(results)
    rows = []
    every = np.ones(k, dtype=bool)
    for col, value in query_labels.items():
        if col not in results.columns:
            raise KeyError(f"results have no label column {col!r}")
        hit = results[col].to_numpy() == value
        every &= hit
        rows.append({"agreement": col, "precision": float(hit.mean()) if k else float("nan"), "k": k})
    if len(query_labels) > 1:
        rows.append({"agreement": "all", "precision": float(every.mean()) if k else float("nan"), "k": k})
    return pd.DataFrame(rows)


def block_label(block: str) -> str:
    """A block name as the page shows it: ``"block4@interior"`` reads ``"block4, garment interior pooling"``."""
    if block.endswith(INTERIOR_SUFFIX):
        return f"{block[: -len(INTERIOR_SUFFIX)]}, garment interior pooling"
    return block


def interior_available(emb) -> bool:
    """Whether ``emb``'s images can be embedded again with ``pooling="interior"``.

    True when the toolkit has the interior pooling, ``emb`` comes from a
    registered backbone (not from plain arrays) and was not already pooled
    over a mask.
    """
    from attr_utils.backbones import list_backbones
    from attr_utils.model import ModelSpec

    if "pooling" not in {f.name for f in dataclasses.fields(ModelSpec)}:
        return False
    if getattr(emb, "pooling", "average") in ("foreground", "interior"):
        return False
    return emb.backbone in list_backbones() and len(emb) > 0


def interior_embeddings(emb, *, cache_dir=None):
    """``emb``'s images embedded exactly as ``emb`` was, but pooled over the garment interior.

    Parameters
    ----------
    emb : Embeddings
        A catalog embedded from image files by a registered backbone.
    cache_dir : path-like, optional
        The embedding cache (default: the toolkit's); vectors already there
        (an earlier call, ``attr-utils embed --pooling interior``) are read,
        not recomputed.

    Returns
    -------
    Embeddings
        One row per row of ``emb``, same order, ``pooling="interior"``.

    Raises
    ------
    ParameterError
        ``emb`` cannot be embedded again with the interior pooling (see
        :func:`interior_available`).
    ImageDecodeError
        A catalog image can no longer be read.
    """
    from attr_utils.embedder import embed_images

    return embed_images(emb.paths, model=_interior_spec(emb), cache_dir=cache_dir, on_error="raise")


def _interior_spec(emb):
    """The ModelSpec that embeds like ``emb`` but pools over the garment interior."""
    from attr_utils.model import ModelSpec

    if not interior_available(emb):
        raise ParameterError(
            f"the catalog ({emb.provenance}) cannot be embedded again with pooling 'interior': it needs a registered "
            "backbone, image files and an attr-utils with mask poolings"
        )
    return dataclasses.replace(ModelSpec.from_embeddings(emb), pooling="interior")


def _hashes(emb):
    """Every row's content hash, or None when some row has none (embeddings made from arrays or PIL images)."""
    hashes = emb.table["hash"].to_numpy(dtype=object) if "hash" in emb.table.columns else None
    if hashes is not None and all(isinstance(h, str) and h for h in hashes):
        return hashes
    return None


def with_interior_texture(emb, interior, texture_block: str):
    """``emb`` plus one block, ``<texture_block>@interior``: the texture block of ``interior``, aligned to ``emb``'s rows.

    Parameters
    ----------
    emb : Embeddings
        The catalog.
    interior : Embeddings
        The same images pooled over the garment interior (any order; matched
        by content hash, else by path).
    texture_block : str
        The block texture search reads.

    Returns
    -------
    Embeddings
        ``emb`` with the extra block (every other field unchanged).

    Raises
    ------
    ParameterError
        ``interior`` lacks ``texture_block``, records another pooling than
        ``"interior"``, comes from another backbone or weights, or misses
        some of ``emb``'s images.
    """
    if texture_block not in interior.blocks:
        raise ParameterError(f"the interior embeddings have no block {texture_block!r}; blocks: {list(interior.blocks)}")
    if interior.pooling != "interior":
        raise ParameterError(f"the interior embeddings record pooling {interior.pooling!r}; embed them with pooling='interior'")
    if (interior.backbone, interior.weights) != (emb.backbone, emb.weights):
        raise ParameterError(
            f"the interior embeddings come from {interior.backbone} · {interior.weights}, the catalog from "
            f"{emb.backbone} · {emb.weights}"
        )
    by_hash = _hashes(emb) is not None and _hashes(interior) is not None
    keys_of = (lambda e: _hashes(e)) if by_hash else (lambda e: np.asarray(e.paths, dtype=object))
    where = {key: i for i, key in enumerate(keys_of(interior))}
    keys = keys_of(emb)
    missing = [k for k in keys if k not in where]
    if missing:
        raise ParameterError(f"the interior embeddings miss {len(missing)} catalog image(s) (first: {missing[0]})")
    rows = np.array([where[k] for k in keys], dtype=np.int64)
    return dataclasses.replace(emb, blocks={**emb.blocks, texture_block + INTERIOR_SUFFIX: interior[texture_block][rows]})


class RetrievalApp:
    """Widgets for searching a catalog by colour, texture or both.

    Parameters
    ----------
    emb : Embeddings
        The catalog.
    k : int, default=8
        Results shown.
    mode : {"color", "texture", "both"}, default="both"
    alpha : float, default=0.5
        How much colour counts in ``"both"`` mode (1 = colour mode, 0 = texture mode).
    method : {"rrf", "rank", "linear"}, default="rrf"
        How ``"both"`` combines colour and texture (see :func:`attr_utils.retrieval.search`).
    columns : int, default=4
        Result thumbnails per row.
    thumb : int, default=128
        Thumbnail size in pixels (>= 16).
    blocks : mapping, optional
        ``{"color": block, "texture": block}`` (default: the backbone's
        registered blocks; see :func:`attr_utils.retrieval.resolve_blocks`).
    catalog : attr_utils.retrieval.Catalog, optional
        A prepared catalog (default: built from ``emb`` and ``blocks``).
    max_upload_bytes : int, default=MAX_UPLOAD_BYTES
        Upload size limit.
    interior : None, bool, Embeddings or callable, default=None
        Texture read from the garment interior (see the module notes). None:
        offered when the catalog's images can be embedded again with
        ``pooling="interior"`` (:func:`interior_available`), computed on
        first use through the cache (:func:`interior_embeddings`). False:
        never offered. An Embeddings: those interior-pooled vectors of the
        catalog's images. A callable: called with ``emb`` on first use,
        returning such an Embeddings.
    texture_source : {"image", "interior"}, default="image"
        Where texture vectors come from at start (``"interior"`` computes
        them at once).
    interior_block : str, optional
        The block whose interior-pooled vectors texture search reads. Default:
        the block just before the catalog's texture block in network order
        (block4 for EfficientNet-Lite0, whose texture block is block5), or
        the texture block itself when it is the first.

    Attributes
    ----------
    widget : ipywidgets.Widget
        What to display.
    results : pandas.DataFrame or None
        The results currently shown.
    precision : pandas.DataFrame or None
        Precision@k of the current query (catalog queries only: uploads have no labels).
    matches : pandas.DataFrame or None
        Per result, whether its colour and texture labels equal the query's
        (catalog queries on a labelled catalog); shown as marks under each result.
    texture_source : ipywidgets.ToggleButtons or None
        "Texture read from": whole image / garment interior (None when the
        interior is not offered).

    Notes
    -----
    Like :func:`attr_utils.retrieval.search` and ``attr-utils search``, the
    query's own content (the picked item, its byte-identical copies, or the
    catalog's copy of an uploaded file) is never among the results.
    """

    def __init__(
        self,
        emb,
        *,
        k: int = 8,
        mode: str = "both",
        alpha: float = 0.5,
        method: str = DEFAULT_METHOD,
        columns: int = 4,
        thumb: int = 128,
        blocks=None,
        catalog=None,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
        interior=None,
        texture_source: str = "image",
        interior_block: str | None = None,
    ):
        import ipywidgets as widgets

        from attr_utils.apps.banner import provenance_banner
        from attr_utils.retrieval.catalog import METHODS, MODES, Catalog

        mode = check_choice("mode", mode, MODES)
        method = check_choice("method", method, METHODS)
        alpha = check_real("alpha", alpha, min=0.0, max=1.0)
        k = check_int("k", k, min=1)
        self.columns = check_int("columns", columns, min=1)
        self.thumb = check_int("thumb", thumb, min=16)
        self.max_upload_bytes = check_int("max_upload_bytes", max_upload_bytes, min=1)
        texture_source = check_choice("texture_source", texture_source, TEXTURE_SOURCES)
        self.emb = emb
        self.catalog = catalog if catalog is not None else Catalog(emb, blocks=blocks)
        self._catalogs = {"image": self.catalog}
        self._interior = self._interior_source(interior)
        self.interior_block = self._interior_block(interior_block) if self._interior is not None else None
        self.label_columns = {name: col for name in ("color", "texture") if (col := label_column(emb, name))}
        shown = list(self.label_columns.values()) or list(emb.label_columns)
        self._shown_labels = shown
        self.results: pd.DataFrame | None = None
        self.precision: pd.DataFrame | None = None
        self.matches: pd.DataFrame | None = None
        self._upload: Upload | None = None

        n = len(emb)
        self.query_picker = widgets.Dropdown(
            options=[(describe_row(emb.table, i, shown), i) for i in range(n)],
            value=0,
            description="Catalog item",
            layout=widgets.Layout(width="420px"),
            style={"description_width": "initial"},
        )
        self.upload = UploadButton(description="Upload an image", accept="image/*", max_bytes=self.max_upload_bytes)
        self.mode = widgets.ToggleButtons(options=list(MODE_OPTIONS), value=mode, description="Mode")
        self.method = widgets.Dropdown(
            options=list(METHOD_OPTIONS), value=method, description="combine", layout=widgets.Layout(width="240px")
        )
        self.alpha = widgets.FloatSlider(
            value=float(alpha),
            min=0.0,
            max=1.0,
            step=0.05,
            description="alpha (colour)",
            style={"description_width": "initial"},
            continuous_update=False,
        )
        self.k = widgets.IntSlider(
            value=int(min(k, n)), min=1, max=max(1, min(50, n)), description="k", continuous_update=False
        )
        self.texture_source = None
        if self._interior is not None:
            self.texture_source = widgets.ToggleButtons(
                options=list(TEXTURE_SOURCE_OPTIONS), value="image", description="Texture read from",
                style={"description_width": "initial"},
                tooltips=["the catalog's own vectors", "pooled over the inside of the garment (computed once, cached)"],
            )
        elif texture_source == "interior":
            raise ParameterError(
                "texture_source='interior' needs interior embeddings: pass `interior=` or embed the catalog with a "
                "registered backbone"
            )
        self.status = widgets.HTML()
        self.query_view = widgets.VBox()
        self.metrics = widgets.HTML()
        self.results_box = widgets.VBox()
        self.results_box.add_class("attr-utils-results")
        self.help_text = help_text = widgets.HTML(self._help_html())
        controls = widgets.VBox(
            [
                widgets.HBox([self.query_picker, self.upload]),
                widgets.HBox([self.mode, self.method]),
                widgets.HBox([self.alpha, self.k]),
                *([self.texture_source] if self.texture_source is not None else []),
                help_text,
            ]
        )
        self.widget = widgets.VBox(
            [
                provenance_banner(emb),
                controls,
                self.status,
                widgets.HBox(
                    [self.query_view, widgets.VBox([self.metrics, self.results_box])],
                    layout=widgets.Layout(align_items="flex-start", grid_gap="24px"),
                ),
            ]
        )
        self.widget.add_class("attr-utils-retrieval-app")

        self.query_picker.observe(self._on_pick, names="value")
        self.upload.observe(self._on_upload, names="value")
        self.upload.observe(lambda change: self._show_refusal(self.upload.refused), names="refusals")
        for w in (self.mode, self.method, self.alpha, self.k):
            w.observe(lambda change: self.refresh(), names="value")
        if self.texture_source is not None:
            self.texture_source.observe(self._on_texture_source, names="value")
        self._sync_alpha()
        if texture_source == "interior":
            self.texture_source.value = "interior"  # computes and refreshes
        else:
            self.refresh()

    def _help_html(self) -> str:
        """The help line, naming the vectors each mode compares now (the interior ones when active)."""
        blocks = self.catalog.blocks
        return info_html(
            f"Colour search compares {block_label(blocks['color'])} vectors, texture search "
            f"{block_label(blocks['texture'])} vectors; "
            f"'both' asks for both at once: by default reciprocal-rank fusion adds 1/(60 + colour rank) and "
            f"1/(60 + texture rank) (weighted by alpha, how much colour counts), so a result close in both "
            f"collects both terms. "
            f"Under each result, \u2713/\u2717 says whether its colour and texture labels match the query's. "
            f"Uploads: one image, at most {self.max_upload_bytes // 1048576} MB."
        )

    # -- texture from the garment interior -----------------------------------------
    def _interior_source(self, interior):
        from attr_utils.embeddings import Embeddings

        if interior is None:
            return interior_embeddings if interior_available(self.emb) else None
        if interior is False:
            return None
        if interior is True:
            if not interior_available(self.emb):
                raise ParameterError(
                    f"interior=True, but the catalog ({self.emb.provenance}) cannot be embedded again with pooling "
                    "'interior'; pass interior embeddings or a callable"
                )
            return interior_embeddings
        if isinstance(interior, Embeddings) or callable(interior):
            return interior
        raise ParameterError(f"`interior` must be None, a bool, an Embeddings or a callable, got {type(interior).__name__}")

    def _interior_block(self, block) -> str:
        from attr_utils.errors import BlockError

        names = list(self.emb.block_names)
        if block is None:
            texture = self.catalog.blocks["texture"]
            i = names.index(texture) if texture in names else 0
            return names[max(i - 1, 0)]
        if not isinstance(block, str):
            raise ParameterError(f"`interior_block` must be a block name, got {type(block).__name__}")
        if block not in names:
            raise BlockError(f"no block {block!r} for `interior_block`; available: {names}")
        return block

    def interior_catalog(self):
        """The catalog whose texture block holds interior-pooled vectors (built, and if need be computed, once)."""
        from attr_utils.embeddings import Embeddings
        from attr_utils.retrieval.catalog import Catalog

        if "interior" not in self._catalogs:
            if self._interior is None:
                raise ParameterError("texture read from the garment interior is not offered for this catalog")
            source = self._interior
            interior = source if isinstance(source, Embeddings) else source(self.emb)
            texture = self.interior_block
            emb = with_interior_texture(self.emb, interior, texture)
            self._catalogs["interior"] = Catalog(
                emb, blocks={"color": self.catalog.blocks["color"], "texture": texture + INTERIOR_SUFFIX},
                index=self.catalog.kind if self.catalog.kind == "exact" else "auto", seed=self.catalog.seed,
                cache_dir=self.catalog.cache_dir,
            )
        return self._catalogs["interior"]

    @property
    def interior_active(self) -> bool:
        """Whether texture is currently read from the garment interior."""
        return self.catalog is not self._catalogs["image"]

    def _interior_query(self, data):
        """An uploaded image as a one-row Embeddings whose texture block is pooled over its interior."""
        from attr_utils.embedder import embed_images

        if self._interior is not interior_embeddings:
            raise ParameterError(
                "an uploaded image can be read from the garment interior only when the app computes the interior "
                "embeddings itself (interior=None or True); switch 'Texture read from' to 'whole image'"
            )
        cache_dir = self._catalogs["image"].cache_dir
        base = embed_images([data], like=self.emb, cache_dir=cache_dir, on_error="raise")
        inner = embed_images([data], model=_interior_spec(self.emb), cache_dir=cache_dir, on_error="raise")
        return with_interior_texture(base, inner, self.interior_block)

    def _on_texture_source(self, change) -> None:
        if change["new"] == "interior":
            self.status.value = info_html(
                "Reading texture from the garment interior: embedding the catalog once with pooling 'interior' "
                "(cached afterwards)..."
            )
            try:
                self.catalog = self.interior_catalog()
            except (AttrUtilsError, OSError) as exc:
                self.status.value = error_html(f"texture from the garment interior is unavailable: {exc}")
                self.texture_source.unobserve(self._on_texture_source, names="value")
                self.texture_source.value = "image"
                self.texture_source.observe(self._on_texture_source, names="value")
                return
        else:
            self.catalog = self._catalogs["image"]
        self.help_text.value = self._help_html()
        self.refresh()

    # -- state changes ------------------------------------------------------------
    def _on_pick(self, change) -> None:
        if change["new"] is None:  # emptied by set_upload
            return
        self._upload = None
        self.refresh()

    def _on_upload(self, change) -> None:
        try:
            upload = read_upload(change["new"], max_bytes=self.max_upload_bytes)
        except UploadError as exc:
            self.status.value = error_html(str(exc))
            return
        finally:
            # drop the bytes from the widget state: they are kept (checked) in self._upload
            if change["new"]:
                self.upload.unobserve(self._on_upload, names="value")
                self.upload.value = ()
                self.upload.observe(self._on_upload, names="value")
        if upload is not None:
            self.set_upload(upload)

    def _show_refusal(self, message: str) -> None:
        self.status.value = error_html(message)

    def set_upload(self, upload: Upload) -> None:
        """Use a checked upload as the query."""
        self._upload = upload
        # the dropdown no longer names the query: empty it, so choosing any item (the old one too) fires
        self.query_picker.unobserve(self._on_pick, names="value")
        self.query_picker.value = None
        self.query_picker.observe(self._on_pick, names="value")
        self.refresh()

    def set_query_row(self, row: int) -> None:
        """Use catalog item ``row`` as the query."""
        self._upload = None
        if self.query_picker.value == row:
            self.refresh()
        else:
            self.query_picker.value = row  # triggers refresh

    def _sync_alpha(self) -> None:
        self.alpha.disabled = self.method.disabled = self.mode.value != "both"
        if self.texture_source is not None:
            self.texture_source.disabled = self.mode.value == "color"

    # -- drawing ------------------------------------------------------------------
    def refresh(self) -> None:
        """Run the search for the current query and controls, and redraw."""
        from attr_utils.apps.gallery import image_grid

        self._sync_alpha()
        if self._upload is not None:
            query, title = self._upload.data, f"Uploaded: {self._upload.name}"
            query_image, query_labels = self._upload.data, None
            if self.interior_active and self.mode.value != "color":
                try:
                    query = self._interior_query(query)
                except Exception as exc:  # shown to the visitor as one line; the app stays usable
                    self.status.value = error_html(f"search failed: {exc}")
                    return
        else:
            row = int(self.query_picker.value)
            query = row
            title = f"Query: {describe_row(self.emb.table, row, self._shown_labels)}"
            query_image = self.emb.table["path"].iloc[row]
            query_labels = {col: self.emb.table[col].iloc[row] for col in self.label_columns.values()}
        try:
            results = self.catalog.search(
                query, mode=self.mode.value, alpha=self.alpha.value, method=self.method.value, k=self.k.value
            )
        except Exception as exc:  # shown to the visitor as one line; the app stays usable
            self.status.value = error_html(f"search failed: {exc}")
            return
        self.results = results
        self.status.value = (
            info_html(f"Texture read from the garment interior: {block_label(self.catalog.blocks['texture'])} vectors pooled over "
                      f"the eroded garment mask ({self.emb.backbone} · {self.emb.weights_label or self.emb.weights}, "
                      "interior pooling); colour from the catalog's own vectors.")
            if self.interior_active and self.mode.value != "color" else ""
        )
        self.query_view.children = [
            image_grid([query_image], [title], size=self.thumb + 64, columns=1),
        ]
        if query_labels:
            self.precision = query_precision(results, query_labels)
            self.matches = query_matches(results, query_labels)
            text = ", ".join(f"{r.agreement}: {r.precision:.2f}" for r in self.precision.itertuples())
            self.metrics.value = (
                f"<b>precision@{len(results)}</b> (share of results with the query's label): {html.escape(text)}"
            )
        else:
            self.precision = self.matches = None
            self.metrics.value = "<b>precision@k</b>: not available for an uploaded image (it has no labels)"
        captions = []
        names = {col: name for name, col in self.label_columns.items()}
        for i, r in enumerate(results.itertuples(index=False)):
            labels = " / ".join(str(getattr(r, c)) for c in self._shown_labels)
            caption = f"#{r.rank} {_distances(self.mode.value, r)}\n{labels}"
            if self.matches is not None:
                caption += "\n" + " ".join(
                    f"{'colour' if names.get(c) == 'color' else names.get(c, c)} {_MARK[bool(self.matches[c].iloc[i])]}"
                    for c in self.matches.columns
                )
            captions.append(caption)
        grid = image_grid(results["path"].tolist(), captions, size=self.thumb, columns=self.columns)
        grid.add_class("attr-utils-result-grid")
        self.results_box.children = [grid]

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def _distances(mode: str, result) -> str:
    """A result's caption: the cosine distance(s) it was ranked by, which tell results apart.

    The fused score of "both" (reciprocal ranks, or standardised distances) is
    a near-constant negative number to a reader; the two distances are not.
    """
    if mode == "color":
        return f"colour distance {result.distance_color:.3f}"
    if mode == "texture":
        return f"texture distance {result.distance_texture:.3f}"
    return f"colour {result.distance_color:.3f} · texture {result.distance_texture:.3f}"


def retrieval_app(
    emb,
    *,
    k: int = 8,
    mode: str = "both",
    alpha: float = 0.5,
    method: str = DEFAULT_METHOD,
    columns: int = 4,
    thumb: int = 128,
    blocks=None,
    catalog=None,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    interior=None,
    texture_source: str = "image",
    interior_block: str | None = None,
) -> RetrievalApp:
    """Build the retrieval app for catalog ``emb`` (display the returned object).

    See :class:`RetrievalApp` for the parameters.

    Examples
    --------
    >>> app = retrieval_app(emb)  # doctest: +SKIP
    >>> app  # in a notebook or Voilà: the widgets  # doctest: +SKIP
    """
    return RetrievalApp(emb, k=k, mode=mode, alpha=alpha, method=method, columns=columns, thumb=thumb, blocks=blocks,
                        catalog=catalog, max_upload_bytes=max_upload_bytes, interior=interior,
                        texture_source=texture_source, interior_block=interior_block)
