"""Plotly figures of the analyses: Table 1, Figure 3, Table 2, confusion, UMAP scatter.

Every function takes the tidy result of the matching analysis function
(:mod:`attr_utils.analysis`), returns a :class:`plotly.graph_objects.Figure`
and titles it with the backbone and weights the result came from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import PurePath

import numpy as np
import pandas as pd

from attr_utils.errors import ParameterError
from attr_utils.figures._style import apply_style, color_for, titled
from attr_utils.validation import check_choice

__all__ = [
    "accuracy_per_block",
    "clustering_per_block",
    "confusion_heatmap",
    "empty_clusterings_note",
    "reduction_curve",
    "umap_scatter",
]

_ERRORS = ("ci", "std", "none")
#: marker of each series (label) in figures with several labels: shape tells them apart as well as colour
_SYMBOLS = ("circle", "square", "triangle-up", "diamond", "cross", "x")


def _as_frame(results, what: str) -> pd.DataFrame:
    if isinstance(results, pd.DataFrame):
        frame = results
    else:
        frames = list(results)
        if not frames:
            raise ParameterError(f"`{what}` is empty")
        frame = pd.concat(frames, ignore_index=True)
        frame.attrs = dict(frames[0].attrs)
    if len(frame) == 0:
        raise ParameterError(f"`{what}` is empty")
    return frame


def _summary(results) -> pd.DataFrame:
    from attr_utils.analysis.accuracy import summarize_accuracy

    frame = _as_frame(results, "results")
    if "mean" in frame.columns:
        return frame
    if "accuracy" not in frame.columns:
        raise ParameterError("`results` needs per-fold `accuracy` or summary `mean` columns")
    return summarize_accuracy(frame)


def _error_arrays(summary: pd.DataFrame, error: str):
    error = check_choice("error", error, _ERRORS)
    if error == "none":
        return None
    if error == "std":
        return dict(type="data", array=summary["std"].to_numpy(), visible=True)
    return dict(
        type="data",
        symmetric=False,
        array=(summary["ci_high"] - summary["mean"]).to_numpy(),
        arrayminus=(summary["mean"] - summary["ci_low"]).to_numpy(),
        visible=True,
    )


def _protocol_text(attrs: dict) -> str:
    parts = []
    if "k" in attrs:
        parts.append(f"k={attrs['k']}")
    if "folds" in attrs:
        parts.append(f"{attrs['folds']}-fold CV")
    if attrs.get("metric", "euclidean") != "euclidean":
        parts.append(str(attrs["metric"]))
    if attrs.get("scaling", "none") != "none":
        parts.append(f"{attrs['scaling']} scaling")
    return ", ".join(parts)


def accuracy_per_block(results, *, error: str = "ci", title: str | None = None):
    """kNN accuracy per block with error bars, one bar series per label (Table 1).

    Parameters
    ----------
    results : DataFrame or list of DataFrames
        :func:`~attr_utils.analysis.block_accuracy` results (per fold) or
        their :func:`~attr_utils.analysis.summarize_accuracy`; pass one per
        label (e.g. colour and texture) to compare them.
    error : {"ci", "std", "none"}, default="ci"
        Error bars: 95 % t-interval of the mean over folds, the sample
        standard deviation of the folds, or none.
    title : str, optional
        Replaces ``"Table 1 · kNN accuracy per block"``; the provenance is
        appended either way.

    Returns
    -------
    plotly.graph_objects.Figure

    Raises
    ------
    ParameterError
        ``results`` is empty or holds neither per-fold ``accuracy`` nor summary
        ``mean`` columns, or ``error`` is not one of the choices.
    """
    import plotly.graph_objects as go

    summary = _summary(results)
    fig = go.Figure()
    for i, (lab, part) in enumerate(summary.groupby("label", sort=False)):
        fig.add_trace(
            go.Bar(
                x=[f"{b}<br>{d}-d" for b, d in zip(part["block"], part["dim"])],
                y=part["mean"],
                error_y=_error_arrays(part, error),
                name=str(lab),
                marker_color=color_for(lab, i),
                customdata=np.stack([part["std"], part["ci_low"], part["ci_high"]], axis=1),
                hovertemplate=(
                    "%{x}<br>accuracy %{y:.3f}<br>std %{customdata[0]:.3f}"
                    "<br>95% CI [%{customdata[1]:.3f}, %{customdata[2]:.3f}]<extra>%{fullData.name}</extra>"
                ),
            )
        )
    proto = _protocol_text(summary.attrs)
    text = title or "Table 1 · kNN accuracy per block" + (f" ({proto})" if proto else "")
    fig.update_layout(
        title=titled(text, summary),
        barmode="group",
        xaxis_title="block",
        yaxis=dict(title="accuracy", range=[0, 1.05]),
    )
    return apply_style(fig)


def clustering_per_block(results, *, title: str | None = None):
    """Adjusted Rand index and adjusted mutual information per block (Figure 3).

    Parameters
    ----------
    results : DataFrame or list of DataFrames
        :func:`~attr_utils.analysis.clustering_metrics` results, one per
        label or concatenated; one panel per label. Rows clustered on a UMAP
        reduction (``space="umap"``) are drawn hatched next to the raw ones.
        Blocks where HDBSCAN found fewer than two clusters (empty bars) are
        named under the figure, with why (:func:`empty_clusterings_note`).
    title : str, optional
        Replaces ``"Figure 3 · HDBSCAN clustering vs labels per block"``.

    Returns
    -------
    plotly.graph_objects.Figure

    Raises
    ------
    ParameterError
        ``results`` is empty or lacks the columns of
        :func:`~attr_utils.analysis.clustering_metrics`.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    frame = _as_frame(results, "results")
    missing = {"label", "block", "ari", "ami"} - set(frame.columns)
    if missing:
        raise ParameterError(f"`results` lacks column(s) {sorted(missing)}; pass clustering_metrics results")
    if "space" not in frame.columns:
        frame = frame.assign(space="raw")
    labels = list(dict.fromkeys(frame["label"]))
    fig = make_subplots(rows=1, cols=len(labels), subplot_titles=[str(lab) for lab in labels], shared_yaxes=True)
    for col, lab in enumerate(labels, start=1):
        part = frame[frame["label"] == lab]
        for space, sp in part.groupby("space", sort=False):
            x = [f"{b}<br>{d}-d" if "dim" in sp else str(b) for b, d in zip(sp["block"], sp.get("dim", sp["block"]))]
            for metric in ("ari", "ami"):
                fig.add_trace(
                    go.Bar(
                        x=x,
                        y=sp[metric],
                        name=f"{metric.upper()} ({space})",
                        legendgroup=f"{metric}-{space}",
                        showlegend=col == 1,
                        marker=dict(color=color_for(metric), pattern_shape="/" if space == "umap" else ""),
                        customdata=np.stack([sp["n_clusters"], sp["noise_fraction"]], axis=1)
                        if {"n_clusters", "noise_fraction"} <= set(sp.columns)
                        else None,
                        hovertemplate=(
                            "%{x}<br>" + metric.upper() + " %{y:.3f}"
                            + ("<br>clusters %{customdata[0]}<br>noise %{customdata[1]:.0%}"
                               if "n_clusters" in sp.columns else "")
                            + "<extra>%{fullData.name}</extra>"
                        ),
                    ),
                    row=1,
                    col=col,
                )
    text = title or "Figure 3 · HDBSCAN clustering vs labels per block"
    fig.update_layout(title=titled(text, frame), barmode="group")
    fig.update_yaxes(title_text="score", row=1, col=1)
    note = empty_clusterings_note(frame)
    if note:
        fig.add_annotation(
            text=note, xref="paper", yref="paper", x=0, y=-0.22, xanchor="left", yanchor="top",
            showarrow=False, align="left", font=dict(size=12, color="#555"),
        )
    apply_style(fig)
    if note:
        lines = note.count("<br>") + 1
        fig.update_layout(margin=dict(b=70 + 17 * lines), height=430 + 17 * lines)
    return fig


def empty_clusterings_note(results) -> str:
    """Why some bars of :func:`clustering_per_block` are empty, or ``""`` when none is.

    A block where HDBSCAN found fewer than two clusters scores ARI = AMI = 0
    (one cluster, or every item noise, says nothing about the labels): its
    bars are empty. The note names those blocks and says why.

    Parameters
    ----------
    results : DataFrame
        :func:`~attr_utils.analysis.clustering_metrics` results with
        ``n_clusters`` (and ``noise_fraction``) columns.

    Returns
    -------
    str
        One line per (label, space) with such blocks, lines joined by
        ``"<br>"`` (Plotly's line break); ``""`` when every block found at
        least two clusters or the counts are not in ``results``.
    """
    frame = results if isinstance(results, pd.DataFrame) else _as_frame(results, "results")
    if "n_clusters" not in frame.columns:
        return ""
    if "space" not in frame.columns:
        frame = frame.assign(space="raw")
    size = frame.attrs.get("min_cluster_size")
    size_text = f"min_cluster_size={size}" if size else "min_cluster_size"
    lines = []
    for (lab, space), part in frame.groupby(["label", "space"], sort=False):
        empty = part[part["n_clusters"] < 2]
        if empty.empty:
            continue
        if len(empty) == len(part) > 1:
            noise = empty["noise_fraction"] if "noise_fraction" in empty.columns else pd.Series(dtype=float)
            everything = " (every item noise)" if len(noise) and bool((noise >= 1.0).all()) else ""
            lines.append(f"Empty bars, {lab} ({space}): all {len(empty)} blocks{everything}.")
            continue
        what = ", ".join(
            f"{b} ({int(c)} cluster{'s' if int(c) != 1 else ''}"
            + (f", {nf:.0%} noise)" if "noise_fraction" in part.columns and pd.notna(nf) else ")")
            for b, c, nf in zip(empty["block"], empty["n_clusters"], empty.get("noise_fraction", empty["n_clusters"]))
        )
        lines.append(f"Empty bars, {lab} ({space}): {what}.")
    if not lines:
        return ""
    items = ""
    if "n" in frame.columns and frame["n"].nunique() == 1:
        items = f" among the {int(frame['n'].iloc[0])} items"
    lines.append(
        f"HDBSCAN found fewer than two dense groups of at least {size_text} items{items} there, so ARI and AMI are 0: "
        "no separate groups at that density, not a failed run."
    )
    return "<br>".join(lines)


def reduction_curve(results, *, error: str = "ci", title: str | None = None):
    """kNN accuracy against UMAP dimension, one line per protocol (Table 2).

    Parameters
    ----------
    results : DataFrame or list of DataFrames
        :func:`~attr_utils.analysis.reduction_sweep` results (per fold or
        summarised). The unreduced block is drawn as a separate marker at
        its own dimension.
    error : {"ci", "std", "none"}, default="ci"
        Error bars, as in :func:`accuracy_per_block`.
    title : str, optional
        Replaces ``"Table 2 · kNN accuracy after UMAP reduction"``.

    Returns
    -------
    plotly.graph_objects.Figure

    Raises
    ------
    ParameterError
        ``results`` is empty or lacks the columns of
        :func:`~attr_utils.analysis.reduction_sweep`, or ``error`` is not
        one of the choices.
    """
    import plotly.graph_objects as go

    summary = _summary(results)
    missing = {"protocol", "dim", "reduced"} - set(summary.columns)
    if missing:
        raise ParameterError(f"`results` lacks column(s) {sorted(missing)}; pass reduction_sweep results")
    series = ["label", "block"]
    several = any(summary[c].nunique() > 1 for c in series if c in summary)
    # one colour and marker per label (colour vs texture), one line style per protocol
    series_keys = list(dict.fromkeys(zip(summary["label"], summary["block"])))
    look = {
        key: (color_for(key[0], i), _SYMBOLS[i % len(_SYMBOLS)]) for i, key in enumerate(series_keys)
    }
    fig = go.Figure()
    for (lab, block, protocol), part in summary.groupby(["label", "block", "protocol"], sort=False):
        part = part.sort_values("dim")
        red = part[part["reduced"].astype(bool)]
        name = f"{lab} · {block} · {protocol}" if several else f"{protocol}"
        colour, symbol = look[(lab, block)]
        fig.add_trace(
            go.Scatter(
                x=red["dim"],
                y=red["mean"],
                error_y=_error_arrays(red, error),
                mode="lines+markers",
                name=name,
                legendgroup=f"{lab} · {block}",
                line=dict(color=colour if several else color_for(protocol), dash="solid" if protocol == "paper" else "dash"),
                marker=dict(symbol=symbol, size=8),
                hovertemplate="%{x}-d<br>accuracy %{y:.3f}<extra>%{fullData.name}</extra>",
            )
        )
    raw = summary[~summary["reduced"].astype(bool)].drop_duplicates(["label", "block", "dim"])
    for _, row in raw.iterrows():
        colour, symbol = look[(row["label"], row["block"])]
        fig.add_trace(
            go.Scatter(
                x=[row["dim"]],
                y=[row["mean"]],
                error_y=_error_arrays(raw.loc[[row.name]], error),
                mode="markers",
                legendgroup=f"{row['label']} · {row['block']}",
                marker=dict(
                    symbol=f"{symbol}-open" if several else "diamond",
                    size=12,
                    color=colour if several else "#000000",
                    line=dict(width=2, color=colour if several else "#000000"),
                ),
                name=(f"{row['label']} · {row['block']} unreduced" if several else f"unreduced {row['block']}"),
                hovertemplate="unreduced %{x}-d<br>accuracy %{y:.3f}<extra>%{fullData.name}</extra>",
            )
        )
    dims = sorted(summary["dim"].unique())
    proto = _protocol_text(summary.attrs)
    block_text = ", ".join(dict.fromkeys(summary["block"].astype(str)))
    text = title or f"Table 2 · kNN accuracy after UMAP reduction of {block_text}" + (f" ({proto})" if proto else "")
    fig.update_layout(
        title=titled(text, summary),
        xaxis=dict(title="UMAP dimension", type="log", tickvals=dims, ticktext=[str(d) for d in dims]),
        yaxis=dict(title="accuracy", range=[0, 1.05]),
    )
    return apply_style(fig)


def confusion_heatmap(confusion: pd.DataFrame, *, block: str | None = None, normalize: bool = True, title: str | None = None):
    """Confusion matrix of one block as a heatmap.

    Parameters
    ----------
    confusion : DataFrame
        :func:`~attr_utils.analysis.confusion_matrices` result.
    block : str, optional
        Which block to draw; required when ``confusion`` holds several.
    normalize : bool, default=True
        Colour by the fraction of each true class (rows sum to 1); counts
        are shown in the cells either way.
    title : str, optional
        Replaces ``"Confusion matrix · <label> · <block>"``.

    Returns
    -------
    plotly.graph_objects.Figure

    Raises
    ------
    ParameterError
        ``confusion`` lacks the columns of
        :func:`~attr_utils.analysis.confusion_matrices`, holds several
        blocks and ``block`` is None, or does not hold ``block``.
    """
    import plotly.graph_objects as go

    missing = {"block", "true", "predicted", "count"} - set(confusion.columns)
    if missing:
        raise ParameterError(f"`confusion` lacks column(s) {sorted(missing)}; pass confusion_matrices results")
    blocks = list(dict.fromkeys(confusion["block"]))
    if block is None:
        if len(blocks) != 1:
            raise ParameterError(f"`confusion` holds several blocks {blocks}; pass block=")
        block = blocks[0]
    elif block not in blocks:
        raise ParameterError(f"unknown block {block!r}; available: {blocks}")
    part = confusion[confusion["block"] == block]
    counts = part.pivot(index="true", columns="predicted", values="count").fillna(0).astype(int)
    classes = sorted(set(counts.index) | set(counts.columns))
    counts = counts.reindex(index=classes, columns=classes, fill_value=0)
    totals = counts.sum(axis=1).replace(0, 1)
    frac = counts.div(totals, axis=0)
    z = frac.to_numpy() if normalize else counts.to_numpy()
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=classes,
            y=classes,
            text=counts.to_numpy(),
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0,
            zmax=1 if normalize else None,
            colorbar=dict(title="fraction of true class" if normalize else "count"),
            hovertemplate="true %{y}<br>predicted %{x}<br>count %{text}<extra></extra>",
        )
    )
    label = str(part["label"].iloc[0]) if "label" in part.columns and len(part) else ""
    text = title or f"Confusion matrix · {label} · {block}".replace(" ·  ·", " ·")
    fig.update_layout(
        title=titled(text, confusion),
        xaxis=dict(title="predicted", side="bottom"),
        yaxis=dict(title="true", autorange="reversed"),
    )
    return apply_style(fig)


def umap_scatter(
    coords,
    labels: Sequence | None = None,
    *,
    paths: Sequence[str] | None = None,
    hover: pd.DataFrame | dict | None = None,
    provenance=None,
    title: str = "UMAP",
    marker_size: int = 5,
):
    """2-D or 3-D scatter of precomputed coordinates, coloured by label.

    Parameters
    ----------
    coords : array-like of shape (n, 2) or (n, 3)
        Coordinates, e.g. from :func:`~attr_utils.analysis.umap_embedding`
        or any other layout the user brings.
    labels : sequence of length n, optional
        Category of every point; one legend entry (toggleable) per category.
    paths : sequence of str, optional
        Image path of every point: its file name shows on hover and the full
        path is in each point's ``customdata`` (``[row, path]``), so a
        notebook can display the hovered or clicked image (FigureWidget
        ``on_hover``/``on_click``; Plotly cannot draw images in a tooltip).
    hover : DataFrame or dict of sequences, optional
        Extra columns shown on hover.
    provenance : Embeddings, DataFrame or str, optional
        Backbone and weights appended to the title.
    title : str, default="UMAP"
        What the figure shows.
    marker_size : int, default=5

    Returns
    -------
    plotly.graph_objects.Figure

    Raises
    ------
    ParameterError
        ``coords`` is not of shape (n, 2) or (n, 3), or ``labels``,
        ``paths`` or ``hover`` do not have n entries.
    """
    import plotly.graph_objects as go

    coords = np.asarray(coords, dtype=float)
    if coords.ndim != 2 or coords.shape[1] not in (2, 3):
        raise ParameterError(f"`coords` must have shape (n, 2) or (n, 3), got {coords.shape}")
    n = len(coords)
    if labels is not None and len(labels) != n:
        raise ParameterError(f"`labels` has {len(labels)} entries for {n} points")
    if paths is not None and len(paths) != n:
        raise ParameterError(f"`paths` has {len(paths)} entries for {n} points")
    extra = pd.DataFrame(hover) if hover is not None else pd.DataFrame(index=range(n))
    if len(extra) != n:
        raise ParameterError(f"`hover` has {len(extra)} rows for {n} points")
    cats = np.asarray(labels, dtype=object) if labels is not None else np.full(n, "all", dtype=object)
    path_arr = np.asarray(paths if paths is not None else [""] * n, dtype=object)
    names = np.array([PurePath(p).name if p else "" for p in path_arr], dtype=object)
    three = coords.shape[1] == 3
    fig = go.Figure()
    order = sorted(pd.unique(pd.Series(cats).astype(str)))
    for i, cat in enumerate(order):
        idx = np.flatnonzero(pd.Series(cats).astype(str).to_numpy() == cat)
        lines = ["%{hovertext}" if paths is not None else f"{cat}"]
        for j, col in enumerate(extra.columns):
            lines.append(f"{col}: %{{customdata[{j + 2}]}}")
        custom = np.column_stack(
            [idx, path_arr[idx]] + [extra[col].to_numpy()[idx] for col in extra.columns]
        ).astype(object)
        common = dict(
            mode="markers",
            name=str(cat),
            marker=dict(size=marker_size, color=color_for(cat, i)),
            customdata=custom,
            hovertext=names[idx],
            hovertemplate="<br>".join(lines) + "<extra>%{fullData.name}</extra>",
        )
        if three:
            fig.add_trace(go.Scatter3d(x=coords[idx, 0], y=coords[idx, 1], z=coords[idx, 2], **common))
        else:
            trace = go.Scattergl if n > 5000 else go.Scatter
            fig.add_trace(trace(x=coords[idx, 0], y=coords[idx, 1], **common))
    fig.update_layout(title=titled(title, provenance), showlegend=labels is not None)
    apply_style(fig)
    if three:
        # a cube seen from a little farther than Plotly's default camera: no corner of the cloud is cut off
        fig.update_layout(
            scene=dict(
                xaxis_title="UMAP 1",
                yaxis_title="UMAP 2",
                zaxis_title="UMAP 3",
                aspectmode="cube",
                camera=dict(eye=dict(x=1.75, y=1.75, z=1.2)),
                domain=dict(x=[0, 1], y=[0.04, 1]),
            ),
        )
        fig.update_layout(margin=dict(l=0, r=0, t=70, b=0))
    else:
        fig.update_layout(xaxis_title="UMAP 1", yaxis_title="UMAP 2")
    return fig
