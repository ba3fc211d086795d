"""Shared look of every attr-utils figure: provenance in the title, one template, one palette.

Two functions make up the API other figure modules rely on:

* :func:`titled` builds a title that always names the backbone and weights
  (``"Table 1 · kNN accuracy per block — resnet50 · imagenet"``), flagging
  random weights, so no figure is mistaken for the paper's results.
* :func:`apply_style` gives a figure the shared template, font and margins.

``COLORS`` maps the usual series names (labels, protocols, metrics, spaces)
to fixed colours so that the same thing has the same colour in every figure;
:func:`color_for` falls back to a qualitative palette for other names.
"""

from __future__ import annotations

from typing import Any

__all__ = ["COLORS", "PALETTE", "TEMPLATE", "apply_style", "color_for", "provenance_of", "titled"]

TEMPLATE = "plotly_white"

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]

COLORS = {
    "color": "#0072B2",
    "colour": "#0072B2",
    "texture": "#E69F00",
    "paper": "#0072B2",
    "inductive": "#D55E00",
    "ari": "#009E73",
    "ami": "#CC79A7",
    "raw": "#0072B2",
    "umap": "#E69F00",
}


def color_for(name: Any, index: int = 0) -> str:
    """Colour of a series: its fixed colour in ``COLORS``, else the palette's ``index``-th."""
    return COLORS.get(str(name).lower(), PALETTE[index % len(PALETTE)])


def provenance_of(source: Any) -> str:
    """Provenance text of an Embeddings, a result DataFrame (its ``.attrs``) or a string."""
    if source is None:
        return ""
    if isinstance(source, str):
        return source
    prov = getattr(source, "provenance", None)
    if isinstance(prov, str):
        return prov
    attrs = getattr(source, "attrs", None)
    if isinstance(attrs, dict):
        if attrs.get("provenance"):
            return str(attrs["provenance"])
        if attrs.get("backbone"):
            text = f"{attrs['backbone']} · {attrs.get('weights_label') or attrs.get('weights', '?')}"
            if attrs.get("pretrained") is False:
                text += " (RANDOM WEIGHTS: not the paper's results)"
            return text
    columns = getattr(source, "columns", None)
    if columns is not None and {"backbone", "weights"} <= set(columns) and len(source):
        pairs = source[["backbone", "weights"]].drop_duplicates()
        return "; ".join(f"{b} · {w}" for b, w in pairs.itertuples(index=False))
    return ""


def titled(text: str, source: Any = None) -> str:
    """``text`` followed by the provenance of ``source``.

    Parameters
    ----------
    text : str
        What the figure shows, e.g. ``"Table 1 · kNN accuracy per block"``.
    source : Embeddings, DataFrame, str or None
        Where the provenance comes from: an Embeddings, a result frame
        carrying ``.attrs["provenance"]`` (every analysis result does), or
        the provenance string itself.

    Returns
    -------
    str
        ``"<text> — <backbone> · <weights>"``, or ``text`` alone when no
        provenance is known.
    """
    prov = provenance_of(source)
    return f"{text} — {prov}" if prov else text


def apply_style(fig):
    """Give ``fig`` the shared template, font, legend and margins; returns it."""
    fig.update_layout(
        template=TEMPLATE,
        font=dict(family="Inter, Helvetica, Arial, sans-serif", size=13),
        title=dict(x=0.01, xanchor="left", font=dict(size=15)),
        legend=dict(title_text=""),
        margin=dict(l=60, r=20, t=70, b=50),
        colorway=PALETTE,
    )
    return fig
