"""Thumbnails and image grids as widgets (images travel inside the widget state, no file serving)."""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from functools import lru_cache

from attr_utils.errors import ParameterError
from attr_utils.validation import check_int

__all__ = ["class_examples", "dataset_preview", "image_grid", "thumbnail_png"]


@lru_cache(maxsize=4096)
def _thumbnail_cached(path: str, size: int, mtime_ns: int) -> bytes:
    from attr_utils.images import decode_image

    return _png(decode_image(path, size=size), size)


def _png(img, size: int) -> bytes:
    img = img.copy()
    img.thumbnail((size, size))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def thumbnail_png(source, *, size: int = 128) -> bytes:
    """A PNG thumbnail (longest side ``size``) of a catalog path, image bytes or PIL image.

    Catalog paths are cached in memory, so redrawing a grid is cheap.
    Raises :class:`~attr_utils.errors.ImageDecodeError` for undecodable images.
    """
    import os

    from attr_utils.images import decode_image

    size = check_int("size", size, min=16)
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            mtime = 0
        return _thumbnail_cached(path, size, mtime)
    return _png(decode_image(source, size=size), size)


def image_grid(
    images: Sequence,
    captions: Sequence[str] | None = None,
    *,
    size: int = 128,
    columns: int = 6,
):
    """A grid of thumbnails with HTML captions under each.

    Parameters
    ----------
    images : sequence
        Paths, image bytes or PIL images.
    captions : sequence of str, optional
        One caption per image (HTML is escaped; ``\\n`` starts a new line).
    size : int, default=128
        Thumbnail side in pixels.
    columns : int, default=6
        Thumbnails per row.

    Returns
    -------
    ipywidgets.GridBox
    """
    import ipywidgets as widgets

    columns = check_int("columns", columns, min=1)
    size = check_int("size", size, min=16)
    captions = list(captions) if captions is not None else [""] * len(images)
    if len(captions) != len(images):
        raise ParameterError(f"`captions` must hold one caption per image: got {len(images)} images but {len(captions)} captions")
    cells = []
    for img, cap in zip(images, captions, strict=True):
        try:
            pic = widgets.Image(
                value=thumbnail_png(img, size=size), format="png", layout=widgets.Layout(width=f"{size}px")
            )
        except Exception as exc:  # one unreadable file must not break the grid
            pic = widgets.HTML(f"<i>cannot show image: {html.escape(str(exc))}</i>")
        text = "<br>".join(html.escape(line) for line in str(cap).split("\n"))
        label = widgets.HTML(
            f'<div style="font-size:11px;line-height:1.3">{text}</div>', layout=widgets.Layout(width=f"{size + 8}px")
        )
        cells.append(widgets.VBox([pic, label], layout=widgets.Layout(align_items="center")))
    return widgets.GridBox(
        cells,
        layout=widgets.Layout(grid_template_columns=f"repeat({columns}, {size + 16}px)", grid_gap="6px"),
    )


def class_examples(table, label: str, *, per_class: int = 1):
    """Rows of ``table`` holding the first ``per_class`` images of every ``label`` value, classes sorted."""
    if label not in table.columns:
        raise KeyError(
            f"no label column {label!r}; available: {[c for c in table.columns if c not in ('path', 'hash')]}"
        )
    per_class = check_int("per_class", per_class, min=1)
    return table.sort_values(label, kind="stable").groupby(label, sort=True).head(per_class)


def dataset_preview(dataset, *, label: str | None = None, size: int = 96, columns: int = 10):
    """A picture of a dataset: its contact sheet when it has one, else one thumbnail per class.

    The synthetic catalog ships a ``contact_sheet.png`` (one image per colour x
    texture cell) next to its ``labels.csv``; other datasets get a grid with the
    first image of every value of ``label`` (default: the first label column).

    Parameters
    ----------
    dataset : Dataset
        As returned by :func:`attr_utils.load_dataset`.
    label : str, optional
    size : int, default=96
    columns : int, default=10

    Returns
    -------
    ipywidgets.Widget
    """
    from pathlib import Path

    import ipywidgets as widgets

    root = Path(dataset.root)
    sheet = (root if root.is_dir() else root.parent) / "contact_sheet.png"
    if label is None and sheet.is_file():
        return widgets.Image(value=sheet.read_bytes(), format="png", layout=widgets.Layout(max_width="100%"))
    if not dataset.label_columns:
        rows = dataset.table.head(columns * 2)
        return image_grid(rows["path"].tolist(), [Path(p).name for p in rows["path"]], size=size, columns=columns)
    label = label or dataset.label_columns[0]
    rows = class_examples(dataset.table, label)
    return image_grid(rows["path"].tolist(), [str(v) for v in rows[label]], size=size, columns=columns)
