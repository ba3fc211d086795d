"""Catalog figures: the extractor's reliability (calibration) curve.

Plotly is imported only when a figure is built.
"""

from __future__ import annotations

import pandas as pd

from attr_utils.errors import ParameterError
from attr_utils.figures._style import apply_style, color_for, titled

__all__ = ["reliability_curve"]


def reliability_curve(curve: pd.DataFrame, *, title: str | None = None):
    """Accuracy against confidence per bin, with the diagonal of perfect calibration.

    Parameters
    ----------
    curve : pandas.DataFrame
        Output of :meth:`AttributeExtractor.calibration_curve
        <attr_utils.retrieval.extractor.AttributeExtractor.calibration_curve>`
        (or :func:`attr_utils.retrieval.extractor.reliability_table`):
        ``confidence``, ``accuracy``, ``count`` per bin; ``attrs`` carry the
        provenance and ``ece``.
    title : str, optional
        Default: "Reliability of <label> at <block>", with the backbone and weights.

    Returns
    -------
    plotly.graph_objects.Figure
        Markers sized by the number of examples in each bin; hover shows the count.

    Raises
    ------
    ParameterError
        ``curve`` lacks the columns.
    """
    import plotly.graph_objects as go

    missing = {"confidence", "accuracy", "count"} - set(getattr(curve, "columns", ()))
    if missing:
        raise ParameterError(f"`curve` must be a calibration curve with columns confidence, accuracy, count; missing {sorted(missing)}")
    attrs = dict(curve.attrs)
    what = f"{attrs.get('label', 'attribute')} at {attrs.get('block', '?')}"
    ece = attrs.get("ece")
    text = title or f"Reliability of {what}" + (f" (ECE {ece:.3f})" if ece is not None else "")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                             line={"dash": "dash", "color": "#999999"}))
    size = 8 + 22 * (curve["count"] / max(int(curve["count"].max()), 1)) if len(curve) else []
    fig.add_trace(go.Scatter(
        x=curve["confidence"], y=curve["accuracy"], mode="lines+markers", name="out-of-fold examples",
        marker={"size": size, "color": color_for(attrs.get("label", "color"))},
        customdata=curve["count"], hovertemplate="confidence %{x:.2f}<br>accuracy %{y:.2f}<br>%{customdata} examples",
    ))
    fig.update_layout(title=titled(text, curve), xaxis_title="vote confidence (mean in bin)",
                      yaxis_title="accuracy (out of fold)", xaxis_range=[0, 1.02], yaxis_range=[0, 1.02])
    return apply_style(fig)
