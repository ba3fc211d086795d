"""Interactive UMAP explorer: one block at a time, coloured by any label, with the hovered image beside the plot."""

from __future__ import annotations

import html

from attr_utils.validation import check_choice, check_int

__all__ = ["UmapExplorer", "umap_explorer"]


class UmapExplorer:
    """A Plotly ``FigureWidget`` of UMAP coordinates with block, colour and 2-D/3-D selectors.

    Coordinates come from :func:`attr_utils.analysis.umap_embedding` (cached
    on disk, so switching back to a block is instant); the figure from
    :func:`attr_utils.figures.umap_scatter`. Hovering or clicking a point
    shows its image and labels beside the plot.

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

    Attributes
    ----------
    widget : ipywidgets.Widget
    figure : plotly.graph_objects.FigureWidget
        The figure currently shown.
    selected : int or None
        Catalog row of the last hovered or clicked point.
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
        self.widget = widgets.VBox(
            [
                provenance_banner(emb),
                widgets.HBox([self.block, self.color_by, self.n_components]),
                self.status,
                widgets.HBox(
                    [self.plot_box, widgets.VBox([self.detail_image, self.detail_text])],
                    layout=widgets.Layout(align_items="flex-start"),
                ),
            ]
        )
        self.widget.add_class("attr-utils-umap-explorer")
        for w in (self.block, self.color_by, self.n_components):
            w.observe(lambda change: self.refresh(), names="value")
        self.refresh()

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
        fw = go.FigureWidget(fig)
        for trace in fw.data:
            trace.on_hover(self._on_point)
            trace.on_click(self._on_point)
        self.figure = fw
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
    )
