"""Add a new attribute value from a few examples and predict with it, live (ipywidgets).

The logic is :class:`attr_utils.retrieval.extractor.AttributeExtractor`: its
examples are the catalog's labelled items; adding a value appends a few
example vectors, nothing is trained. To make that visible on a labelled
catalog the app can *hold out* one value: the extractor starts without it
(its items are predicted as something else, or flagged unknown), then the
visitor adds it back from a handful of examples and sees the held-out items
recognised.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from attr_utils.apps._ui import describe_row, error_html, info_html, label_column
from attr_utils.apps.upload import MAX_UPLOAD_BYTES, UploadError, read_upload
from attr_utils.apps.upload_button import UploadButton
from attr_utils.errors import DatasetError, ParameterError
from attr_utils.validation import check_choice, check_int

__all__ = ["ExtractorApp", "explain_verdict", "extractor_app", "holdout_accuracy"]

_NONE = "(none)"
_SHOWN_CHOICES = 12  # thumbnails of the chosen examples shown beside "Add value"


def explain_verdict(pred, *, k: int, threshold: float) -> str:
    """One plain-text explanation of the extractor's answer for one image (shown under the verdict).

    Parameters
    ----------
    pred : mapping or pandas.Series
        One row of :meth:`AttributeExtractor.predict`: ``value``,
        ``confidence``, ``unknown``, ``distance`` (cosine distance).
    k : int
        Number of voting neighbours.
    threshold : float
        The extractor's ``threshold_`` (cosine distance; ``inf`` when unknown is off).

    Returns
    -------
    str
        For a known value: that its confidence is its share of the ``k``
        nearest examples' votes, each weighted by 1/distance, and the nearest
        distance. For ``unknown``: the reason first (the nearest example is
        farther than the threshold), the vote's value and share only after it,
        so a high confidence never stands beside "unknown" unexplained.
    """
    value, conf, dist = str(pred["value"]), float(pred["confidence"]), float(pred["distance"])
    weighting = f"the {k} nearest examples vote, each weighted by 1/distance (closer examples count more)"
    if bool(pred["unknown"]):
        return (f"Unknown: the nearest example is at distance {dist:.3f}, farther than the threshold "
                f"{threshold:.3f}, so no known value is trusted. Ignoring that, {value!r} would get "
                f"{conf:.0%} of the vote ({weighting}).")
    limit = f"; 'unknown' beyond {threshold:.3f}" if np.isfinite(threshold) else ""
    return (f"Confidence {conf:.2f} is {value}'s share of the vote: {weighting}. "
            f"Nearest example at distance {dist:.3f}{limit}.")


def holdout_accuracy(extractor, emb, rows, truth) -> pd.DataFrame:
    """Predictions of an extractor on catalog ``rows`` compared with their ``truth`` values.

    Returns
    -------
    pandas.DataFrame
        One row per item: ``row``, ``truth``, ``value``, ``confidence``,
        ``unknown``, ``correct`` (predicted value equals truth and not unknown).
    """
    rows = np.asarray(rows, dtype=int)
    if len(rows) == 0:
        return pd.DataFrame(columns=["row", "truth", "value", "confidence", "unknown", "correct"])
    pred = extractor.predict(emb.subset(rows))
    out = pd.DataFrame(
        {
            "row": rows,
            "truth": [str(t) for t in truth],
            "value": pred["value"].to_numpy(),
            "confidence": pred["confidence"].to_numpy(),
            "unknown": pred["unknown"].to_numpy(),
        }
    )
    out["correct"] = (out["value"] == out["truth"]) & ~out["unknown"]
    return out


class ExtractorApp:
    """Widgets to teach an attribute extractor a new value and query it.

    Parameters
    ----------
    emb : Embeddings
        A labelled catalog: its items are the extractor's examples.
    label : str, optional
        Attribute (label column); default the colour column, else the first.
    holdout : str or None, optional
        Value left out of the initial examples (default: the last value of
        ``label`` in sorted order); ``None`` keeps every value.
    examples : int, default=5
        How many held-out items are preselected as the new value's examples.
    per_value : int or None, default=10
        Examples kept per known value (the first ones in catalog order), the
        few-shot setting the extractor is meant for; ``None`` keeps every
        labelled item. Catalog items that are not examples are what the
        summary scores.
    k : int, default=5
        Voting neighbours of the extractor.
    block : str, optional
        Block the extractor compares (default: the backbone's registered
        block for the attribute, see :class:`~attr_utils.retrieval.extractor.AttributeExtractor`).
    thumb : int, default=112
        Thumbnail size in pixels (>= 16).
    max_upload_bytes : int, default=MAX_UPLOAD_BYTES
        Upload size limit (examples and queries).

    Attributes
    ----------
    widget : ipywidgets.Widget
    extractor : AttributeExtractor
        The extractor as the visitor has shaped it.
    prediction : pandas.DataFrame or None
        The last prediction shown.
    holdout_report : pandas.DataFrame or None
        Current predictions on the held-out items (see :func:`holdout_accuracy`).
    upload_results : list of dict
        One entry per file of the last pick of example images, in the order
        shown: ``name``, ``accepted`` (bool), ``message`` (why it was refused,
        or its size when accepted).
    choice : ipywidgets.VBox
        What "Add value" will add (count and a thumbnail per example), shown
        beside the button: the preselected catalog items and the uploaded
        images not yet added.

    Notes
    -----
    Uploaded images are kept in the session (memory) once checked: those
    waiting for "Add value", and those added as examples, so that they show as
    pictures among the voting neighbours (the extractor only knows them as
    ``<upload i>``). The catalog dropdown is emptied after a query upload, so
    choosing any item afterwards, the one shown before included, predicts it.
    """

    def __init__(
        self,
        emb,
        *,
        label: str | None = None,
        holdout: str | None = "auto",
        examples: int = 5,
        per_value: int | None = 10,
        k: int = 5,
        block: str | None = None,
        thumb: int = 112,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
    ):
        import ipywidgets as widgets

        from attr_utils.apps.banner import provenance_banner

        if not emb.label_columns:
            raise DatasetError("the extractor app needs a labelled catalog (no label columns found)")
        label = check_choice("label", label or label_column(emb, "color") or emb.label_columns[0], emb.label_columns)
        self.n_examples = check_int("examples", examples, min=1)
        self.per_value = check_int("per_value", per_value, min=1, allow_none=True)
        self.k = check_int("k", k, min=1)
        self.block = check_choice("block", block, [*emb.block_names, None])
        self.thumb = check_int("thumb", thumb, min=16)
        self.max_upload_bytes = check_int("max_upload_bytes", max_upload_bytes, min=1)
        self.emb = emb
        self._added_rows: set[int] = set()
        self.prediction: pd.DataFrame | None = None
        self.holdout_report: pd.DataFrame | None = None
        self._uploaded_examples: list[tuple[str, bytes]] = []  # picked, not yet added
        self._example_images: dict[int, tuple[str, bytes]] = {}  # extractor example row -> uploaded (name, bytes)
        self._query_upload: tuple[str, bytes] | None = None
        self.upload_results: list[dict] = []
        self._describe_cols = list(emb.label_columns)
        item_options = [(describe_row(emb.table, i, self._describe_cols), i) for i in range(len(emb))]

        self.attribute = widgets.Dropdown(options=list(emb.label_columns), value=label, description="Attribute")
        self.holdout = widgets.Dropdown(description="Start without", style={"description_width": "initial"})
        self.value_name = widgets.Text(
            description="New value", placeholder="e.g. teal", style={"description_width": "initial"}
        )
        self.example_picker = widgets.SelectMultiple(
            options=item_options, rows=8, description="Examples", layout=widgets.Layout(width="420px")
        )
        self.example_upload = UploadButton(description="Upload examples", accept="image/*", multiple=True, max_bytes=self.max_upload_bytes)
        self.add_button = widgets.Button(description="Add value", button_style="primary", icon="plus",
                                         layout=widgets.Layout(width="auto"))
        self.clear_button = widgets.Button(description="Clear choice", icon="times", layout=widgets.Layout(width="auto"))
        self.choice = widgets.VBox()
        self.choice.add_class("attr-utils-extractor-choice")
        self.upload_report = widgets.HTML()
        self.upload_report.add_class("attr-utils-upload-report")
        self.query_picker = widgets.Dropdown(
            options=item_options,
            description="Catalog item",
            layout=widgets.Layout(width="420px"),
            style={"description_width": "initial"},
        )
        self.query_upload = UploadButton(description="Upload a query", accept="image/*", max_bytes=self.max_upload_bytes)
        self.status = widgets.HTML()
        self.summary = widgets.HTML()
        self.result = widgets.VBox()
        self.result.add_class("attr-utils-extractor-result")

        teach = widgets.VBox(
            [
                widgets.HTML("<h4>1 · Teach a value</h4>"),
                widgets.HBox([self.attribute, self.holdout]),
                widgets.HBox([self.example_picker, widgets.VBox([self.example_upload, self.upload_report])]),
                self.choice,
                widgets.HBox([self.value_name, self.add_button, self.clear_button]),
            ]
        )
        ask = widgets.VBox(
            [
                widgets.HTML("<h4>2 · Predict</h4>"),
                widgets.HBox([self.query_picker, self.query_upload]),
            ]
        )
        self.widget = widgets.VBox([provenance_banner(emb), teach, self.status, self.summary, ask, self.result])
        self.widget.add_class("attr-utils-extractor-app")

        self.attribute.observe(self._on_attribute, names="value")
        self._quiet = False
        self.holdout.observe(self._on_holdout, names="value")
        self.add_button.on_click(lambda _: self.add_value())
        self.clear_button.on_click(lambda _: self.clear_choice())
        self.example_picker.observe(lambda _: self._show_choice(), names="value")
        # one event per whole pick (every file of it, accepted or refused): see UploadButton
        self.example_upload.observe(self._on_example_pick, names="picks")
        self.query_picker.observe(self._on_query_pick, names="value")
        self.query_upload.observe(self._on_query_upload_pick, names="picks")
        self._fill_holdout(holdout)
        self.reset()

    # -- setup ------------------------------------------------------------------
    def _values(self) -> list[str]:
        from attr_utils.datasets import missing_labels

        values = self.emb.labels(self.attribute.value)
        return sorted({str(v) for v, m in zip(values, missing_labels(values)) if not m})

    def _fill_holdout(self, holdout) -> None:
        values = self._values()
        if holdout == "auto":
            holdout = values[-1] if len(values) > 1 else None
        if holdout is not None and str(holdout) not in values:
            raise ParameterError(f"`holdout` must be one of {values} or None, got {holdout!r}")
        self._quiet = True
        try:
            self.holdout.options = [_NONE, *values]
            self.holdout.value = _NONE if holdout is None else str(holdout)
        finally:
            self._quiet = False

    def _on_attribute(self, change) -> None:
        self._fill_holdout("auto")
        self.reset()

    def _on_holdout(self, change) -> None:
        if not self._quiet:
            self.reset()

    def reset(self) -> None:
        """Refit the extractor on every catalog item except the held-out value's."""
        from attr_utils.retrieval.extractor import AttributeExtractor

        label = self.attribute.value
        truth = np.array([str(v) for v in self.emb.labels(label)], dtype=object)
        held = None if self.holdout.value == _NONE else self.holdout.value
        self._held_rows = np.flatnonzero(truth == held) if held is not None else np.array([], dtype=int)
        rest = np.setdiff1d(np.arange(len(self.emb)), self._held_rows)
        if self.per_value is not None:
            keep = pd.Series(truth[rest]).groupby(truth[rest], sort=False).cumcount().to_numpy() < self.per_value
            rest = rest[keep]
        train = rest
        self._uploaded_examples = []
        self._example_images = {}
        self.upload_results = []
        self.upload_report.value = ""
        self._added_rows = set()
        self._baseline = None
        try:
            self.extractor = AttributeExtractor(self.block, k=self.k).fit(self.emb.subset(train), label)
        except Exception as exc:
            self.status.value = error_html(f"cannot build the extractor: {exc}")
            return
        self.value_name.value = held or ""
        self.example_picker.value = tuple(int(r) for r in self._held_rows[: self.n_examples])
        self._show_choice()
        if len(self._held_rows):
            self._quiet = True
            try:
                self.query_picker.value = int(self._held_rows[-1])
            finally:
                self._quiet = False
        self.status.value = info_html(
            f"Extractor on {self.extractor.block_} with {len(self.extractor.examples_)} examples of "
            f"{len(self.extractor.classes_)} values" + (f"; {held!r} is held out." if held else ".")
        )
        self._update_summary()
        self.predict()

    # -- the choice shown beside "Add value" ----------------------------------------------
    def _show_choice(self) -> None:
        """Show what "Add value" will add: the count on the button and a thumbnail of each example."""
        import ipywidgets as widgets

        from attr_utils.apps.gallery import image_grid

        rows = [int(r) for r in self.example_picker.value]
        n_up = len(self._uploaded_examples)
        n = len(rows) + n_up
        self.add_button.description = f"Add value ({n} example{'s' if n != 1 else ''})" if n else "Add value"
        self.clear_button.disabled = n == 0
        if not n:
            self.choice.children = [widgets.HTML(
                "<i>No examples chosen: pick catalog items in the list or upload images.</i>")]
            return
        parts = []
        if rows:
            parts.append(f"{len(rows)} catalog item(s)")
        if n_up:
            parts.append(f"{n_up} uploaded image(s)")
        images = [self.emb.table["path"].iloc[r] for r in rows] + [data for _, data in self._uploaded_examples]
        captions = [describe_row(self.emb.table, r, self._describe_cols) for r in rows]
        captions += [f"{name}\n(uploaded)" for name, _ in self._uploaded_examples]
        more = n - _SHOWN_CHOICES
        header = widgets.HTML(
            f"<b>Chosen for 'Add value'</b>: {' + '.join(parts)}" + (f" (first {_SHOWN_CHOICES} shown)" if more > 0 else "")
        )
        grid = image_grid(images[:_SHOWN_CHOICES], captions[:_SHOWN_CHOICES], size=64,
                          columns=min(_SHOWN_CHOICES, max(1, min(n, 8))))
        self.choice.children = [header, grid]

    def clear_choice(self) -> None:
        """Forget the chosen catalog items and the uploaded examples not yet added."""
        self._uploaded_examples = []
        self.example_picker.value = ()
        self.upload_report.value = ""
        self._show_choice()

    # -- teaching -----------------------------------------------------------------
    def _read_pick(self, button) -> tuple[list, list[dict]]:
        """Check every file of the button's last pick: the accepted uploads and one result per file."""
        results, accepted = [], []
        for item in button.refused_files:
            results.append({"name": item["name"], "accepted": False, "message": item["reason"]})
        for item in button.value:
            try:
                up = read_upload((item,), max_bytes=self.max_upload_bytes)
            except UploadError as exc:
                results.append({"name": str(item.get("name", "upload")), "accepted": False, "message": str(exc)})
                continue
            if up is None:
                continue
            accepted.append(up)
            results.append({"name": up.name, "accepted": True,
                            "message": f"{up.name}: accepted ({up.width}x{up.height} px)"})
        button.value = ()  # drop the bytes from the widget: the checked ones are kept above
        return accepted, results

    def _on_example_pick(self, change) -> None:
        accepted, results = self._read_pick(self.example_upload)
        self._uploaded_examples.extend((up.name, up.data) for up in accepted)
        self.upload_results = results
        self.upload_report.value = _results_html(results)
        self._show_choice()
        self.status.value = self._examples_ready_html() or error_html("no usable image in that pick")

    def _examples_ready_html(self) -> str:
        n = len(self._uploaded_examples)
        return info_html(f"{n} uploaded example(s) ready; press 'Add value'.") if n else ""

    def add_value(self, name: str | None = None, rows=None) -> None:
        """Add ``name`` with the picked catalog items (``rows``) and uploaded examples, then re-predict."""
        name = (name if name is not None else self.value_name.value).strip()
        rows = list(rows if rows is not None else self.example_picker.value)
        if not name:
            self.status.value = error_html("type a name for the new value first")
            return
        if not rows and not self._uploaded_examples:
            self.status.value = error_html("pick example items (or upload example images) first")
            return
        try:
            if rows:
                self.extractor.add_examples(name, self.emb.subset(np.asarray(rows, dtype=int)))
                self._added_rows.update(int(r) for r in rows)
            if self._uploaded_examples:
                start = len(self.extractor.examples_)
                self.extractor.add_examples(name, [data for _, data in self._uploaded_examples])
                # the extractor names uploads "<upload i>": remember their pictures to show them as voters
                for offset, upload in enumerate(self._uploaded_examples):
                    self._example_images[start + offset] = upload
        except Exception as exc:
            self.status.value = error_html(f"cannot add {name!r}: {exc}")
            return
        n = len(rows) + len(self._uploaded_examples)
        self._uploaded_examples = []
        self.upload_report.value = ""
        self.example_picker.value = ()
        self._show_choice()
        self.status.value = info_html(
            f"Added {n} example(s) of {name!r}; the extractor now knows {len(self.extractor.classes_)} values."
        )
        self._update_summary()
        self.predict()

    def _update_summary(self) -> None:
        if not len(self._held_rows):
            self.holdout_report = None
            self.summary.value = ""
            return
        scored = np.array([r for r in self._held_rows if int(r) not in self._added_rows], dtype=int)
        truth = self.emb.labels(self.attribute.value)[scored]
        report = holdout_accuracy(self.extractor, self.emb, scored, truth)
        self.holdout_report = report
        held = self.holdout.value
        if self._baseline is None:
            self._baseline = int(report["correct"].sum())
        self.summary.value = (
            f"<b>Items of {html.escape(held)} that are not examples</b>: {int(report['correct'].sum())} of "
            f"{len(report)} recognised (before adding it: {self._baseline}), "
            f"{int(report['unknown'].sum())} flagged unknown. "
            f"The extractor knows {len(self.extractor.examples_)} examples of {len(self.extractor.classes_)} values."
        )

    # -- prediction -----------------------------------------------------------------
    def _on_query_pick(self, change) -> None:
        if self._quiet or change["new"] is None:
            return
        self._query_upload = None
        self.predict()

    def _on_query_upload_pick(self, change) -> None:
        accepted, results = self._read_pick(self.query_upload)
        problems = [r["message"] for r in results if not r["accepted"]]
        if problems:
            self.status.value = "".join(error_html(m) for m in problems)
        if not accepted:
            return
        up = accepted[0]
        self._query_upload = (up.name, up.data)
        # the dropdown no longer names the query: empty it, so choosing any item (the old one too) fires
        self._quiet = True
        try:
            self.query_picker.value = None
        finally:
            self._quiet = False
        self.predict()

    def _example_picture(self, row: int, path: str):
        """What to draw for extractor example ``row``: the uploaded bytes, else the catalog path."""
        upload = self._example_images.get(int(row))
        return (upload[1], f"\n(uploaded: {upload[0]})") if upload is not None else (path, "")

    def predict(self) -> None:
        """Predict the current query and show the value and the nearest examples."""
        from attr_utils.apps.gallery import image_grid

        if self._query_upload is not None:
            name, data = self._query_upload
            query, image, title = [data], data, f"Uploaded: {name}"
        else:
            if self.query_picker.value is None:
                self._quiet = True
                try:
                    self.query_picker.value = self.query_picker.options[0][1]
                finally:
                    self._quiet = False
            row = int(self.query_picker.value)
            query = self.emb.subset([row])
            image = self.emb.table["path"].iloc[row]
            title = f"Query: {describe_row(self.emb.table, row, self._describe_cols)}"
        own = self._query_upload is None  # a catalog item that is an example does not vote for itself
        try:
            pred = self.extractor.predict(query, exclude_self=own)
            dist, rows, _ = self.extractor.kneighbors(query, exclude_self=own)
        except Exception as exc:
            self.status.value = error_html(f"prediction failed: {exc}")
            return
        self.prediction = pred
        p = pred.iloc[0]
        examples = self.extractor.examples_.iloc[rows[0]]
        pictures, captions = [], []
        for r, path, v, d in zip(rows[0], examples["path"], examples["value"], dist[0], strict=True):
            picture, note = self._example_picture(r, path)
            pictures.append(picture)
            captions.append(f"{v}\ndistance {d:.3f}{note}")
        grid = image_grid(pictures, captions, size=self.thumb, columns=min(5, len(examples)))
        grid.add_class("attr-utils-voters")
        verdict = "unknown" if p["unknown"] else str(p["value"])
        why = explain_verdict(p, k=self.extractor.k, threshold=self.extractor.threshold_)
        headline = (f"{self.attribute.value}: unknown (nearest example too far)" if p["unknown"]
                    else f"{self.attribute.value}: {verdict} · confidence {p['confidence']:.2f}")
        answer = widgets_html(
            f"<div class='attr-utils-prediction' style='font-size:15px'><b>{html.escape(headline)}</b></div>"
            f"<div class='attr-utils-verdict-reason' style='font-size:12px;color:#37474f'>{html.escape(why)}</div>"
        )
        self.result.children = [
            image_grid([image], [title], size=self.thumb + 48, columns=1),
            answer,
            widgets_html(f"<i>The {len(examples)} nearest examples that voted:</i>"),
            grid,
        ]

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def _results_html(results: list[dict]) -> str:
    """One line per file of a pick: accepted ones plain, refused ones in red."""
    if not results:
        return ""
    items = []
    for r in results:
        cls = "attr-utils-upload-ok" if r["accepted"] else "attr-utils-upload-refused attr-utils-warning"
        style = "color:#2e7d32" if r["accepted"] else "color:#b71c1c;font-weight:bold"
        mark = "\u2713" if r["accepted"] else "\u2717"
        items.append(f"<li class='{cls}' style='{style}'>{mark} {html.escape(r['message'])}</li>")
    return f"<ul class='attr-utils-upload-results' style='margin:4px 0;padding-left:18px;font-size:12px'>{''.join(items)}</ul>"


def widgets_html(text: str):
    import ipywidgets as widgets

    return widgets.HTML(text)


def extractor_app(
    emb,
    *,
    label: str | None = None,
    holdout: str | None = "auto",
    examples: int = 5,
    per_value: int | None = 10,
    k: int = 5,
    block: str | None = None,
    thumb: int = 112,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
) -> ExtractorApp:
    """Build the attribute extractor app for catalog ``emb`` (display the returned object).

    See :class:`ExtractorApp` for the parameters.
    """
    return ExtractorApp(emb, label=label, holdout=holdout, examples=examples, per_value=per_value, k=k, block=block,
                        thumb=thumb, max_upload_bytes=max_upload_bytes)
