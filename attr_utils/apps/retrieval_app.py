"""Interactive retrieval by colour, texture or both (ipywidgets).

The logic (ranking, standardised scores) is :class:`attr_utils.retrieval.Catalog`;
this module only wires widgets to it. The query is a catalog item chosen from a
dropdown (never a path typed by a visitor) or an uploaded image checked by
:func:`attr_utils.apps.upload.read_upload`.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from attr_utils.apps._ui import describe_row, error_html, info_html, label_column
from attr_utils.apps.upload import MAX_UPLOAD_BYTES, Upload, UploadError, read_upload
from attr_utils.apps.upload_button import UploadButton
from attr_utils.retrieval.catalog import DEFAULT_METHOD
from attr_utils.validation import check_choice, check_int, check_real

__all__ = ["RetrievalApp", "query_matches", "query_precision", "retrieval_app"]

MODE_OPTIONS = (("Colour", "color"), ("Texture", "texture"), ("Both", "both"))
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
        self.emb = emb
        self.catalog = catalog if catalog is not None else Catalog(emb, blocks=blocks)
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
        self.status = widgets.HTML()
        self.query_view = widgets.VBox()
        self.metrics = widgets.HTML()
        self.results_box = widgets.VBox()
        self.results_box.add_class("attr-utils-results")
        blocks = self.catalog.blocks
        help_text = widgets.HTML(
            info_html(
                f"Colour search compares {blocks['color']} vectors, texture search {blocks['texture']} vectors; "
                f"'both' asks for both at once: by default reciprocal-rank fusion adds 1/(60 + colour rank) and "
                f"1/(60 + texture rank) (weighted by alpha, how much colour counts), so a result close in both "
                f"collects both terms. "
                f"Under each result, \u2713/\u2717 says whether its colour and texture labels match the query's. "
                f"Uploads: one image, at most {self.max_upload_bytes // 1048576} MB."
            )
        )
        controls = widgets.VBox(
            [
                widgets.HBox([self.query_picker, self.upload]),
                widgets.HBox([self.mode, self.method]),
                widgets.HBox([self.alpha, self.k]),
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
        self._sync_alpha()
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

    # -- drawing ------------------------------------------------------------------
    def refresh(self) -> None:
        """Run the search for the current query and controls, and redraw."""
        from attr_utils.apps.gallery import image_grid

        self._sync_alpha()
        if self._upload is not None:
            query, title = self._upload.data, f"Uploaded: {self._upload.name}"
            query_image, query_labels = self._upload.data, None
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
        self.status.value = ""
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
            caption = f"#{r.rank} score {r.score:+.2f}\n{labels}"
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
) -> RetrievalApp:
    """Build the retrieval app for catalog ``emb`` (display the returned object).

    See :class:`RetrievalApp` for the parameters.

    Examples
    --------
    >>> app = retrieval_app(emb)  # doctest: +SKIP
    >>> app  # in a notebook or Voilà: the widgets  # doctest: +SKIP
    """
    return RetrievalApp(emb, k=k, mode=mode, alpha=alpha, method=method, columns=columns, thumb=thumb, blocks=blocks,
                        catalog=catalog, max_upload_bytes=max_upload_bytes)
