"""Plotly figure of retrieval quality: precision@k of each agreement against alpha."""

from __future__ import annotations

import pandas as pd

from attr_utils.errors import ParameterError
from attr_utils.figures._style import apply_style, color_for, titled

__all__ = ["precision_vs_alpha"]

_NEEDED = {"mode", "alpha", "agreement", "precision", "chance", "k"}
_NAMES = {"color": "colour agrees", "texture": "texture agrees", "both": "both agree"}


def precision_vs_alpha(results: pd.DataFrame, *, method: str | None = None, title: str | None = None, error: bool = True):
    """Precision@k of colour, texture and both-agreement as the colour weight alpha varies.

    Parameters
    ----------
    results : pandas.DataFrame
        Output of :func:`attr_utils.retrieval.evaluate_retrieval`.
    method : {"rank", "rrf", "linear"}, optional
        Which combination's sweep to draw when ``results`` holds several;
        default: the library's default method (``"rrf"``) if present.
    title : str, optional
        Figure title; the backbone and weights are always appended.
    error : bool, default=True
        Draw +-1 standard error bars (``sem`` column).

    Returns
    -------
    plotly.graph_objects.Figure
        One line per agreement over the ``both`` sweep (alpha=0 is texture
        mode, alpha=1 colour mode) and a dotted line at each chance level.

    Raises
    ------
    ParameterError
        ``results`` is empty or lacks the evaluation's columns, or ``method``
        is not among its methods.
    """
    import plotly.graph_objects as go

    if not isinstance(results, pd.DataFrame) or len(results) == 0:
        raise ParameterError("`results` must be the non-empty DataFrame returned by evaluate_retrieval()")
    missing = _NEEDED - set(results.columns)
    if missing:
        raise ParameterError(f"`results` lacks columns {sorted(missing)}; pass the output of evaluate_retrieval()")
    sweep = results[results["mode"] == "both"].sort_values("alpha")
    if "method" in sweep.columns and sweep["method"].nunique() > 0:
        available = list(dict.fromkeys(sweep["method"].dropna()))
        # the method a user gets without options is the one of the rows marked ``default``
        defaults = sweep.loc[sweep["default"].astype(bool), "method"] if "default" in sweep.columns else ()
        chosen = method if method is not None else (defaults.iloc[0] if len(defaults) else available[0])
        if chosen not in available:
            raise ParameterError(f"`method` must be one of {available} (the methods in `results`), got {method!r}")
        sweep = sweep[sweep["method"] == chosen]
    else:
        chosen = None
    if len(sweep) == 0:
        raise ParameterError("`results` holds no mode='both' rows to plot against alpha")
    k = int(results["k"].iloc[0])
    fig = go.Figure()
    for i, (agreement, rows) in enumerate(sweep.groupby("agreement", sort=False)):
        colour = color_for(agreement, i + 2)
        fig.add_trace(go.Scatter(
            x=rows["alpha"], y=rows["precision"], mode="lines+markers", name=_NAMES.get(agreement, agreement),
            line=dict(color=colour, width=2.5 if agreement == "both" else 1.8),
            error_y=dict(type="data", array=rows["sem"], visible=True) if error and "sem" in rows else None,
            hovertemplate="alpha=%{x:.2f}<br>precision@" + str(k) + "=%{y:.3f}<extra>" + str(agreement) + "</extra>",
        ))
        fig.add_hline(y=float(rows["chance"].iloc[0]), line=dict(color=colour, dash="dot", width=1),
                      annotation_text=f"chance ({agreement})", annotation_position="bottom right",
                      annotation_font_size=10)
    blocks = ""
    if {"color_block", "texture_block"} <= set(results.columns):
        blocks = f" (colour {results['color_block'].iloc[0]}, texture {results['texture_block'].iloc[0]})"
    how = f", {chosen} fusion" if chosen else ""
    text = title or f"Retrieval precision@{k} vs colour weight alpha{blocks}{how}"
    fig.update_layout(
        title=titled(text, results),
        xaxis_title="alpha (0 = texture mode, 1 = colour mode)",
        yaxis_title=f"precision@{k} (leave-one-out)",
        yaxis_range=[0, 1.02],
        hovermode="x unified",
    )
    return apply_style(fig)
