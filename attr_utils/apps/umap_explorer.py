"""Interactive UMAP explorer: one block at a time, coloured by any label, with the hovered image beside the plot.

Below the map, a select-and-label panel: a lasso or box drawn on the 2-D map
(or the catalog audit's suspect labels) fills a gallery; the user leaves items
out, names the rest as a value of an attribute, adds them to the session's
attribute extractor and saves it for ``attr-utils predict`` / ``tag``. The
state lives in :class:`attr_utils.apps.labeling.LabelSession`; this module
holds only the widgets.
"""

from __future__ import annotations

import html
import re
import time

import numpy as np

from attr_utils.apps._ui import label_column
from attr_utils.validation import check_choice, check_int

__all__ = ["UmapExplorer", "points_in_polygon", "rows_in_selection", "umap_explorer"]

#: Seconds within which the same rows from the points event and from ``layout.selections`` are one gesture.
SAME_GESTURE_S = 5.0


class UmapExplorer:
    """A Plotly ``FigureWidget`` of UMAP coordinates with block, colour and 2-D/3-D selectors.

    Coordinates come from :func:`attr_utils.analysis.umap_embedding` (cached
    on disk, so switching back to a block is instant); the figure from
    :func:`attr_utils.figures.umap_scatter`. Hovering or clicking a point
    shows its image and labels beside the plot. On the 2-D map, a lasso or a
    box selection fills the select-and-label panel's gallery (see
    :class:`~attr_utils.apps.labeling.LabelSession` for what naming, adding
    and saving do).

    Parameters
    ----------
    emb : Embeddings
    block : str, optional
        Block shown first (default: the first block).
    color_by : str, optional
        Label column used for colours (default: the first).
    n_components : {2, 3}, default=2
    n_neighbors, min_dist, seed
        UMAP parameters (see :func:`~attr_utils.analysis.umap_embedding`).
    thumb : int, default=192
        Size of the hovered image in pixels (>= 16).
    cache_dir : path-like, optional
        attr-utils cache root holding the UMAP coordinates (default: the
        embedding cache's, see :func:`~attr_utils.analysis.umap_embedding`).
    output_dir : path-like, optional
        The fixed folder the labelling panel saves extractors under (default
        ``<cache root>/extractors``, see :func:`attr_utils.apps.labeling.default_output_dir`);
        the page chooses only a folder name inside it.
    max_items : int, default=120
        Largest selection the gallery shows.

    Attributes
    ----------
    widget : ipywidgets.Widget
    figure : plotly.graph_objects.FigureWidget
        The figure currently shown.
    selected : int or None
        Catalog row of the last hovered or clicked point.
    labels : LabelSession or None
        State of the select-and-label panel (None for an unlabelled catalog).
    """

    def __init__(
        self,
        emb,
        *,
        block: str | None = None,
        color_by: str | None = None,
        n_components: int = 2,
        n_neighbors: int = 15,
        min_dist: float = 0.1,
        seed: int = 0,
        thumb: int = 192,
        cache_dir=None,
        output_dir=None,
        max_items: int = 120,
    ):
        import ipywidgets as widgets

        from attr_utils.apps.banner import provenance_banner

        n_components = check_int("n_components", n_components, min=2, max=3)
        block = check_choice("block", block or emb.block_names[0], emb.block_names)
        labels = list(emb.label_columns)
        color_by = check_choice("color_by", color_by, [*labels, None])
        self.emb = emb
        self.umap_params = dict(n_neighbors=n_neighbors, min_dist=min_dist, seed=seed, cache_dir=cache_dir)
        self.thumb = check_int("thumb", thumb, min=16)
        self.selected: int | None = None
        self.figure = None
        dims = emb.dims
        self.block = widgets.Dropdown(
            options=[(f"{b} ({dims[b]} dims)", b) for b in emb.block_names], value=block, description="Block"
        )
        self.color_by = widgets.Dropdown(
            options=labels or ["(none)"], value=color_by or (labels[0] if labels else "(none)"), description="Colour by"
        )
        self.n_components = widgets.ToggleButtons(options=[("2-D", 2), ("3-D", 3)], value=n_components)
        self.status = widgets.HTML()
        self.plot_box = widgets.Box(layout=widgets.Layout(width="800px"))
        self.detail_image = widgets.Image(format="png", layout=widgets.Layout(width=f"{self.thumb}px", display="none"))
        self.detail_text = widgets.HTML(
            "<i>Hover over or click a point to see its image.</i>", layout=widgets.Layout(width=f"{self.thumb + 40}px")
        )
        self._pending: dict[int, list[int]] = {}
        self.labels = None
        panel = []
        if labels:
            from attr_utils.apps.labeling import LabelSession

            self.labels = LabelSession(emb, attribute=label_column(emb, "color") or labels[0], output_dir=output_dir,
                                       max_items=max_items)
            panel = [self._label_panel(widgets)]
        self.widget = widgets.VBox(
            [
                provenance_banner(emb),
                widgets.HBox([self.block, self.color_by, self.n_components]),
                self.status,
                widgets.HBox(
                    [self.plot_box, widgets.VBox([self.detail_image, self.detail_text])],
                    layout=widgets.Layout(align_items="flex-start"),
                ),
                *panel,
            ]
        )
        self.widget.add_class("attr-utils-umap-explorer")
        for w in (self.block, self.color_by, self.n_components):
            w.observe(lambda change: self.refresh(), names="value")
        self.refresh()

    # -- select-and-label panel ----------------------------------------------------------------------
    def _label_panel(self, widgets):
        s = self.labels
        self.drag_mode = widgets.ToggleButtons(
            options=[("Lasso", "lasso"), ("Box", "select"), ("Zoom", "zoom"), ("Pan", "pan")],
            value="lasso", style={"button_width": "64px"},
        )
        self.drag_label = widgets.HTML("Drag on the map:")
        self.suspects_button = widgets.Button(description="Show suspect labels", icon="search",
                                              layout=widgets.Layout(width="180px"))
        self.clear_button = widgets.Button(description="Clear", icon="times", layout=widgets.Layout(width="90px"))
        self.gallery_count = widgets.HTML("<i>Draw a lasso or a box around points on the 2-D map to see them here.</i>")
        self.gallery_count.add_class("attr-utils-label-count")
        self.gallery = widgets.GridBox(
            layout=widgets.Layout(grid_template_columns="repeat(auto-fill, 128px)", grid_gap="6px", width="100%",
                                  max_height="400px", overflow="auto")
        )
        self.gallery.add_class("attr-utils-label-gallery")
        self.attribute = widgets.Dropdown(options=s.attributes, value=s.attribute, description="Attribute")
        self.value_name = widgets.Combobox(
            options=s.values(), placeholder="new or existing value", description="Name it", ensure_option=False
        )
        self.add_button = widgets.Button(description="Add to extractor", button_style="primary", icon="plus",
                                         layout=widgets.Layout(width="170px"))
        self.save_name = widgets.Text(placeholder="e.g. my-colours", description="Folder")
        self.save_button = widgets.Button(description="Save extractor", icon="save", layout=widgets.Layout(width="150px"))
        self.label_status = widgets.HTML()
        self.label_status.add_class("attr-utils-label-status")
        hint = widgets.HTML(
            f"<span style='color:#555;font-size:12px'>Saved under {html.escape(str(s.output_dir))}/FOLDER, "
            "for <code>attr-utils predict IMAGE --extractor DIR</code> and "
            "<code>attr-utils tag DATA --extractor NAME=DIR</code>.</span>"
        )
        self.drag_mode.observe(lambda change: self._set_dragmode(), names="value")
        self.suspects_button.on_click(lambda _: self.show_suspects())
        self.clear_button.on_click(lambda _: self.select_rows([], source=""))
        self.add_button.on_click(lambda _: self.add_selection())
        self.save_button.on_click(lambda _: self.save_extractor())
        self.attribute.observe(self._on_attribute, names="value")
        box = widgets.VBox(
            [
                widgets.HTML(
                    "<h4 style='margin:8px 0 2px'>Select and label</h4><span style='font-size:13px'>Drag a lasso or a "
                    "box around points of the 2-D map, or show the items whose label disagrees with their neighbours. "
                    "Untick what does not belong, name the rest as a value (new or existing) and add it to this "
                    "page's attribute extractor: nothing is trained, the items become its examples.</span>"
                ),
                widgets.HBox([self.drag_label, self.drag_mode, self.suspects_button, self.clear_button],
                             layout=widgets.Layout(align_items="center")),
                self.gallery_count,
                self.gallery,
                widgets.HBox([self.attribute, self.value_name, self.add_button]),
                widgets.HBox([self.save_name, self.save_button]),
                hint,
                self.label_status,
            ],
            layout=widgets.Layout(width="1040px"),
        )
        box.add_class("attr-utils-label-panel")
        return box

    def _set_dragmode(self) -> None:
        if self.figure is not None and self.n_components.value == 2 and self.labels is not None:
            self.figure.layout.dragmode = self.drag_mode.value

    def _on_selection(self, trace, points, selector) -> None:
        """Plotly calls this once per trace for one selection: gather them, act after the last trace."""
        self._pending[int(points.trace_index)] = [int(trace.customdata[i][0]) for i in points.point_inds]
        if int(points.trace_index) == len(self.figure.data) - 1:
            rows = [r for t in sorted(self._pending) for r in self._pending[t]]
            self._pending = {}
            kind = {"lasso": "lasso", "box": "box"}.get(getattr(selector, "type", ""), "selection")
            self._select_once(rows, source=f"{kind} on {self.block.value}")

    def _on_selections(self, layout, selections) -> None:
        """The drawn selection shape (``layout.selections``), as the browser's relayout message carries it.

        Plotly's ``plotly_selected`` points event shares one synced trait with
        hover and unhover; while the kernel is busy with a hover, the browser
        merges pending updates of that trait and a later unhover can replace
        the selection, so it never reaches the kernel. The shape arrives
        through another trait, so the rows inside it are computed here too
        (:func:`rows_in_selection`); whichever arrives first fills the gallery.
        """
        if not selections or self.figure is None:
            return
        rows = rows_in_selection(self.figure.data, selections[-1])
        if rows is not None:
            kind = "box" if _field(selections[-1], "type") == "rect" else "lasso"
            self._select_once(rows, source=f"{kind} on {self.block.value}")

    def _on_relayout(self, change) -> None:
        """A relayout message from the browser; one holding ``selections`` is a drawn lasso or box."""
        data = (change.get("new") or {}).get("relayout_data") or {}
        selections = data.get("selections")
        if selections:
            self._on_selections(None, tuple(selections))

    def _select_once(self, rows, *, source: str) -> None:
        key, now = sorted(rows), time.monotonic()
        last = getattr(self, "_last_selection", None)
        if last is not None and last[0] == key and now - last[1] < SAME_GESTURE_S:
            return  # the same gesture arriving by its second channel
        self._last_selection = (key, now)
        self.select_rows(rows, source=source)

    def select_rows(self, rows, *, source: str = "selection") -> None:
        """Show catalog ``rows`` in the gallery (what a lasso or a box on the map does)."""
        from attr_utils.apps._ui import error_html

        try:
            self.labels.select(rows, source=source)
        except Exception as exc:
            self.label_status.value = error_html(str(exc))
            self._draw_gallery()  # a refused selection empties the gallery: nothing unseen can be added
            self.gallery_count.value = error_html(str(exc))  # said where the gallery is, not only below the form
            return
        self.label_status.value = ""
        self._draw_gallery()

    def show_suspects(self) -> None:
        """Fill the gallery with the items whose label loses their neighbours' vote (the catalog audit)."""
        from attr_utils.apps._ui import error_html, info_html

        self.label_status.value = info_html("Checking every label against its neighbours...")
        try:
            suspects = self.labels.select_suspects()
        except Exception as exc:
            self.label_status.value = error_html(f"cannot check the labels: {exc}")
            return
        a = suspects.attrs
        self.label_status.value = info_html(
            f"{len(suspects)} suspect {self.labels.attribute} label(s) at {a.get('block')}: each item's label loses "
            f"the out-of-fold vote of its k={a.get('k')} nearest neighbours ({a.get('folds')} folds), highest score first."
            + "".join(f" Note: {n}." for n in a.get("notes", []))
        )
        self._draw_gallery()

    def _count_html(self) -> str:
        s = self.labels
        n, total = s.count, len(s.items)
        if not total:
            return "<i>Nothing selected: draw a lasso or a box around points on the 2-D map.</i>"
        out = f"<b>{n} selected</b>"
        if n != total:
            out += f" ({total - n} of {total} excluded)"
        return out + f" · {html.escape(s.source)} · untick an image to leave it out"

    def _draw_gallery(self) -> None:
        import ipywidgets as widgets

        from attr_utils.apps.gallery import thumbnail_png

        s = self.labels
        cells = []
        for r in s.gallery().to_dict("records"):
            row = int(r["row"])
            try:
                pic = widgets.Image(value=thumbnail_png(r["path"], size=112), format="png",
                                    layout=widgets.Layout(width="112px"))
            except Exception as exc:  # one unreadable file must not break the gallery
                pic = widgets.HTML(f"<i>cannot show image: {html.escape(str(exc))}</i>")
            lines = [r["name"]] + [f"{c}: {r[c]}" for c in self.emb.label_columns]
            if str(r["current"]) != str(r[s.attribute]):
                lines.append(f"now: {r['current']}")
            if "suggested" in r:
                lines.append(f"suggested: {r['suggested']} ({r['score']:.2f})")
            caption = widgets.HTML(
                "<div style='font-size:11px;line-height:1.3'>" + "<br>".join(html.escape(str(x)) for x in lines) + "</div>"
            )
            keep = widgets.Checkbox(value=not r["excluded"], description="keep", indent=False,
                                    layout=widgets.Layout(width="110px"))
            keep.observe(lambda change, row=row: self._on_keep(row, change["new"]), names="value")
            cell = widgets.VBox([pic, caption, keep], layout=widgets.Layout(width="128px", align_items="center"))
            cell.add_class("attr-utils-label-item")
            cells.append(cell)
        self.gallery.children = cells
        self.gallery_count.value = self._count_html()

    def _on_keep(self, row: int, keep: bool) -> None:
        if keep:
            self.labels.include(row)
        else:
            self.labels.exclude(row)
        self.gallery_count.value = self._count_html()

    def _on_attribute(self, change) -> None:
        from attr_utils.apps._ui import info_html

        before = change.get("old")
        self.labels.set_attribute(change["new"])
        self.value_name.options = self.labels.values()
        self._draw_gallery()
        named = self.labels.named
        kept = (f" The {named[before]} name(s) given to {before!r} items are kept: switch back to go on."
                if before in named else "")
        now = (f"its {named[change['new']]} name(s) given before are back" if change["new"] in named
               else "a new extractor for it")
        self.label_status.value = info_html(f"Naming values of {change['new']!r} now ({now}).{kept}")

    def add_selection(self, value: str | None = None) -> None:
        """Name the selection (gallery minus unticked items) and add it to the session's extractor."""
        from attr_utils.apps._ui import error_html, info_html

        value = self.value_name.value if value is None else value
        try:
            update = self.labels.add(value)
        except Exception as exc:
            self.label_status.value = error_html(f"cannot add: {exc}")
            return
        self.value_name.options = self.labels.values()
        self._draw_gallery()
        self.label_status.value = info_html(update.message())

    def save_extractor(self, name: str | None = None) -> None:
        """Save the session's extractor to a folder named ``name`` under the fixed output folder."""
        from attr_utils.apps._ui import error_html

        name = self.save_name.value if name is None else name
        try:
            replaced = self.labels.is_saved(name)
            folder = self.labels.save(name)
        except Exception as exc:
            self.label_status.value = error_html(f"not saved: {exc}")
            return
        ex = self.labels.extractor
        self.label_status.value = (
            f"<div class='attr-utils-message attr-utils-saved'>Saved the {html.escape(repr(ex.label_))} extractor "
            f"({len(ex.examples_)} examples of {len(ex.classes_)} values) to "
            f"<code class='attr-utils-saved-folder'>{html.escape(str(folder))}</code>"
            + (" (replaced the extractor saved at that folder)" if replaced else "") + ": "
            f"<code>attr-utils predict IMAGE --extractor {html.escape(str(folder))}</code></div>"
        )

    def coordinates(self):
        """UMAP coordinates of the selected block and dimensionality (cached)."""
        from attr_utils.analysis import umap_embedding

        return umap_embedding(
            self.emb, block=self.block.value, n_components=self.n_components.value, **self.umap_params
        )

    def refresh(self) -> None:
        """Recompute (or load) the coordinates and redraw the figure."""
        import plotly.graph_objects as go

        from attr_utils.apps._ui import error_html, info_html
        from attr_utils.figures import umap_scatter

        self.status.value = info_html(f"Computing UMAP of {self.block.value} (cached after the first time)...")
        try:
            coords = self.coordinates()
        except Exception as exc:
            self.status.value = error_html(f"UMAP failed: {exc}")
            return
        label = self.color_by.value if self.color_by.value in self.emb.label_columns else None
        hover = {c: self.emb.table[c].to_numpy() for c in self.emb.label_columns if c != label}
        fig = umap_scatter(
            coords,
            self.emb.labels(label) if label else None,
            paths=self.emb.paths,
            hover=hover or None,
            provenance=self.emb,
            title=f"UMAP of {self.block.value} ({self.emb.dims[self.block.value]} dims), coloured by {label or 'nothing'}",
        )
        _readable(fig, label)
        selectable = self.labels is not None and self.n_components.value == 2
        if selectable:
            fig.update_layout(dragmode=self.drag_mode.value)
        fw = go.FigureWidget(fig)
        for trace in fw.data:
            trace.on_hover(self._on_point)
            trace.on_click(self._on_point)
            if selectable:
                trace.on_selection(self._on_selection)
        if selectable:
            # the shape comes in the widget's relayout message; plotly.py does not apply a
            # selection's relayout to ``layout.selections`` (measured in Chromium), so read the message
            fw.observe(self._on_relayout, names="_js2py_relayout")
        self._pending = {}
        self.figure = fw
        if self.labels is not None:
            self.drag_mode.disabled = not selectable
            self.drag_label.value = "Drag on the map:" if selectable else "Selection works on the 2-D map:"
        self.plot_box.children = [fw]
        self.status.value = ""

    def _on_point(self, trace, points, state) -> None:
        if not points.point_inds:
            return
        custom = trace.customdata[points.point_inds[0]]
        self.show_row(int(custom[0]))

    def show_row(self, row: int) -> None:
        """Show the image and labels of catalog row ``row`` beside the plot."""
        from pathlib import PurePath

        from attr_utils.apps.gallery import thumbnail_png

        rec = self.emb.table.iloc[row]
        self.selected = int(row)
        try:
            self.detail_image.value = thumbnail_png(rec["path"], size=self.thumb)
            self.detail_image.layout.display = None
        except Exception as exc:
            self.detail_image.layout.display = "none"
            self.detail_text.value = f"<i>cannot show image: {html.escape(str(exc))}</i>"
            return
        lines = [f"<b>{html.escape(PurePath(str(rec['path'])).name)}</b>"]
        lines += [f"{html.escape(str(c))}: {html.escape(str(rec[c]))}" for c in self.emb.label_columns]
        self.detail_text.value = "<br>".join(lines)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


_CSS_COLORS = {
    "black",
    "blue",
    "brown",
    "gray",
    "grey",
    "green",
    "orange",
    "pink",
    "purple",
    "red",
    "yellow",
    "white",
    "beige",
    "navy",
    "teal",
    "olive",
    "maroon",
    "cyan",
    "magenta",
    "gold",
    "silver",
    "khaki",
    "turquoise",
}


def _readable(fig, label) -> None:
    """Explorer-specific touches: provenance on its own title line, distinct colours for every class.

    Colour labels that are colour names are drawn in that colour (a "red" point is red); other
    labels with more classes than the shared palette holds get a longer qualitative palette.
    """
    import plotly.express as px

    title = fig.layout.title.text or ""
    if " — " in title:
        head, prov = title.split(" — ", 1)
        fig.update_layout(title=dict(text=f"{head}<br><sup>{prov}</sup>", font=dict(size=15)))
    names = [t.name for t in fig.data]
    if label and names and all(str(n).lower() in _CSS_COLORS for n in names):
        for t in fig.data:
            t.marker.color = str(t.name).lower()
            t.marker.line = dict(width=0.5, color="#555")
    elif len(names) > 8:
        palette = px.colors.qualitative.Dark24
        for i, t in enumerate(fig.data):
            t.marker.color = palette[i % len(palette)]
    fig.update_layout(width=780, height=580, margin=dict(t=80))


def umap_explorer(
    emb,
    *,
    block: str | None = None,
    color_by: str | None = None,
    n_components: int = 2,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    seed: int = 0,
    thumb: int = 192,
    cache_dir=None,
    output_dir=None,
    max_items: int = 120,
) -> UmapExplorer:
    """Build the UMAP explorer for ``emb`` (display the returned object); see :class:`UmapExplorer`."""
    return UmapExplorer(
        emb,
        block=block,
        color_by=color_by,
        n_components=n_components,
        n_neighbors=n_neighbors,
        min_dist=min_dist,
        seed=seed,
        thumb=thumb,
        cache_dir=cache_dir,
        output_dir=output_dir,
        max_items=max_items,
    )


def _field(selection, name: str):
    """A field of a selection given as a Plotly ``layout.Selection`` or as the dict the browser sends."""
    if isinstance(selection, dict):
        return selection.get(name)
    return getattr(selection, name, None)


def _polygon(path: str) -> np.ndarray:
    """Vertices of an SVG path made of ``M``/``L`` segments (how Plotly writes a lasso), shape (m, 2)."""
    numbers = [float(v) for v in re.findall(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", path)]
    if len(numbers) % 2:  # not x,y pairs: unreadable, so no polygon (the caller then ignores the shape)
        return np.zeros((0, 2))
    return np.asarray(numbers, dtype=float).reshape(-1, 2)


def points_in_polygon(x: np.ndarray, y: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd rule: which points ``(x, y)`` (shape (n,)) lie inside ``polygon`` (shape (m, 2)); bool, shape (n,).

    A few lines of numpy rather than matplotlib's ``Path.contains_points`` or
    shapely, neither of which the ``[app]`` extra installs.
    """
    inside = np.zeros(len(x), dtype=bool)
    px, py = polygon[:, 0], polygon[:, 1]
    for x1, y1, x2, y2 in zip(px, py, np.roll(px, -1), np.roll(py, -1)):
        crosses = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = (x2 - x1) * (y - y1) / (y2 - y1) + x1
        inside ^= crosses & (x < at)
    return inside


def rows_in_selection(traces, selection) -> list[int] | None:
    """Catalog rows (``customdata[:, 0]``) of the points inside one ``layout.selections`` shape.

    ``selection`` is a Plotly ``layout.Selection`` or its dict: ``type="rect"`` with
    ``x0, x1, y0, y1`` (box) or ``type="path"`` with an SVG ``path`` (lasso),
    in data coordinates. Returns ``None`` for a shape it cannot read.
    """
    kind = _field(selection, "type")
    x0, x1, y0, y1, path = (_field(selection, f) for f in ("x0", "x1", "y0", "y1", "path"))
    rows: list[int] = []
    for trace in traces:
        if trace.x is None or trace.y is None or trace.customdata is None:
            continue
        x = np.asarray(trace.x, dtype=float)
        y = np.asarray(trace.y, dtype=float)
        if kind == "rect":
            if not all(isinstance(v, (int, float)) for v in (x0, x1, y0, y1)):
                return None
            (xa, xb), (ya, yb) = sorted((x0, x1)), sorted((y0, y1))
            inside = (x >= xa) & (x <= xb) & (y >= ya) & (y <= yb)
        elif kind == "path" and isinstance(path, str) and path:
            polygon = _polygon(path)
            if len(polygon) < 3:
                return None
            inside = points_in_polygon(x, y, polygon)
        else:
            return None
        rows += [int(trace.customdata[i][0]) for i in np.flatnonzero(inside)]
    return rows

