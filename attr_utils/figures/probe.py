"""Plotly figures of the layer probes: accuracy against depth, and CKA between taps.

:func:`probe_curve` draws :func:`attr_utils.analysis.probe_layers` results
(one line per probe and label, its 95 % interval as a band, the paper's five
blocks marked); :func:`cka_heatmap` draws
:func:`attr_utils.analysis.cka_matrix`. Both titles name the backbone and
weights.
"""

from __future__ import annotations

import pandas as pd

from attr_utils.errors import ParameterError
from attr_utils.figures._style import PALETTE, apply_style, titled

__all__ = ["cka_heatmap", "probe_curve"]

_DASH = {"knn": "solid", "linear": "dash"}


def _summaries(results) -> pd.DataFrame:
    items = [results] if isinstance(results, pd.DataFrame) or hasattr(results, "summary") else list(results)
    frames = [getattr(r, "summary", r) for r in items]
    if not frames or any(not isinstance(f, pd.DataFrame) for f in frames):
        raise ParameterError("`results` must be probe_layers results (or their summaries), one or a list")
    frame = pd.concat(frames, ignore_index=True)
    frame.attrs = dict(frames[0].attrs)
    missing = {"probe", "tap", "depth", "mean", "ci_low", "ci_high", "label"} - set(frame.columns)
    if len(frame) == 0 or missing:
        raise ParameterError(f"`results` lacks column(s) {sorted(missing)} or is empty; pass probe_layers results")
    if {"backbone", "weights"} <= set(frame.columns) and len(frame[["backbone", "weights"]].drop_duplicates()) > 1:
        raise ParameterError("`results` mixes backbones or weights; draw one model per figure")
    return frame


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def probe_curve(results, *, bands: bool = True, title: str | None = None):
    """Probe accuracy against depth: one line per (label, probe), interval bands, the paper's blocks marked.

    Parameters
    ----------
    results : ProbeResult, DataFrame, or list of them
        :func:`~attr_utils.analysis.probe_layers` results (or their
        ``summary``), e.g. one per label column, of one backbone and weights.
    bands : bool, default=True
        Shade the 95 % t-interval over folds around each line.
    title : str, optional
        Replaces ``"Where does each attribute live? · probe accuracy per layer"``;
        the provenance is appended either way.

    Returns
    -------
    plotly.graph_objects.Figure
        x: depth (tick labels: tap names), y: mean accuracy over folds. The
        line of the kNN probe is solid, that of the linear probe dashed;
        taps that are one of the paper-style five blocks get a diamond and
        their block name.

    Raises
    ------
    ParameterError
        ``results`` empty, without the probe columns, or mixing backbones.
    """
    import plotly.graph_objects as go

    frame = _summaries(results)
    fig = go.Figure()
    labels = list(dict.fromkeys(frame["label"]))
    for li, lab in enumerate(labels):
        colour = PALETTE[li % len(PALETTE)]
        for probe, part in frame[frame["label"] == lab].groupby("probe", sort=False):
            part = part.sort_values("depth")
            name = f"{lab} · {probe}"
            if bands:
                fig.add_trace(
                    go.Scatter(
                        x=list(part["depth"]) + list(part["depth"])[::-1],
                        y=list(part["ci_high"]) + list(part["ci_low"])[::-1],
                        fill="toself", fillcolor=_rgba(colour, 0.15 if probe == "knn" else 0.08),
                        line=dict(width=0), hoverinfo="skip", showlegend=False, legendgroup=name,
                    )
                )
            blocks = part["block"] if "block" in part.columns else pd.Series([""] * len(part), index=part.index)
            fig.add_trace(
                go.Scatter(
                    x=part["depth"], y=part["mean"], mode="lines+markers", name=name, legendgroup=name,
                    line=dict(color=colour, dash=_DASH.get(str(probe), "dot")),
                    marker=dict(symbol=["diamond" if b else "circle" for b in blocks],
                                size=[11 if b else 6 for b in blocks], color=colour),
                    customdata=list(zip(part["tap"], blocks, part["ci_low"], part["ci_high"])),
                    hovertemplate=(
                        "%{customdata[0]} %{customdata[1]}<br>accuracy %{y:.3f}"
                        "<br>95% CI [%{customdata[2]:.3f}, %{customdata[3]:.3f}]<extra>%{fullData.name}</extra>"
                    ),
                )
            )
    taps = frame.drop_duplicates("depth").sort_values("depth")
    ticks = [f"{t}<br><b>{b}</b>" if b else t for t, b in zip(taps["tap"], taps.get("block", [""] * len(taps)))]
    text = title or "Where does each attribute live? · probe accuracy per layer"
    fig.update_layout(
        title=titled(text, frame),
        xaxis=dict(title="depth (tap)", tickmode="array", tickvals=list(taps["depth"]), ticktext=ticks, tickangle=-45),
        yaxis=dict(title="accuracy (mean over folds, 95% interval)", range=[0, 1.05]),
        hovermode="closest",
    )
    return apply_style(fig)


def cka_heatmap(matrix: pd.DataFrame, *, title: str | None = None):
    """Linear CKA between taps as a heatmap.

    Parameters
    ----------
    matrix : DataFrame
        :func:`~attr_utils.analysis.cka_matrix` result (index: taps of the
        first Embeddings, columns: taps of the second, or the same).
    title : str, optional
        Replaces ``"Linear CKA (debiased) between taps"``; the provenance of
        both models is appended either way.

    Returns
    -------
    plotly.graph_objects.Figure

    Raises
    ------
    ParameterError
        ``matrix`` is not a non-empty DataFrame.
    """
    import plotly.graph_objects as go

    if not isinstance(matrix, pd.DataFrame) or matrix.empty:
        raise ParameterError("`matrix` must be a non-empty cka_matrix result")
    attrs = matrix.attrs
    z = matrix.to_numpy(dtype=float)
    fig = go.Figure(
        go.Heatmap(
            z=z, x=[str(c) for c in matrix.columns], y=[str(i) for i in matrix.index],
            zmin=min(0.0, float(pd.Series(z.ravel()).min())), zmax=1.0, colorscale="Viridis",
            colorbar=dict(title="CKA"),
            hovertemplate="%{y} vs %{x}<br>CKA %{z:.3f}<extra></extra>",
        )
    )
    kind = "debiased" if attrs.get("debiased", True) else "biased"
    text = title or f"Linear CKA ({kind}) between taps"
    prov = attrs.get("provenance", "")
    other = attrs.get("other_provenance", prov)
    source = prov if other == prov else f"{prov} vs {other}"
    same = other == prov
    fig.update_layout(
        title=titled(text, source),
        xaxis=dict(title="tap" if same else f"tap ({attrs.get('other_backbone', '')})", tickangle=-45),
        yaxis=dict(title="tap" if same else f"tap ({attrs.get('backbone', '')})", autorange="reversed"),
    )
    return apply_style(fig)
