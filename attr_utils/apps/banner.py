"""A header saying which backbone and weights produced what the page shows."""

from __future__ import annotations

import html

__all__ = ["is_paper_setup", "provenance_banner", "provenance_html"]

_OK = "#e8f5e9;border-left:6px solid #2e7d32"
_WARN = "#fff4e5;border-left:6px solid #e65100"
_DANGER = "#fdecea;border-left:6px solid #b71c1c"


def is_paper_setup(emb) -> bool:
    """True when ``emb`` comes from the paper's ResNet-50 with ImageNet weights."""
    return emb.backbone == "resnet50" and emb.weights == "imagenet" and bool(emb.pretrained)


def provenance_html(emb, *, dataset: str | None = None) -> str:
    """The banner as an HTML string (see :func:`provenance_banner`)."""
    esc = html.escape
    if is_paper_setup(emb):
        style, headline = _OK, "Paper setup: ResNet-50 with ImageNet weights."
    elif not emb.pretrained:
        style, headline = (
            _DANGER,
            (
                "RANDOM WEIGHTS: these numbers and pictures say nothing about the paper's method; "
                "use them only to check that the pipeline runs."
            ),
        )
    else:
        style, headline = (
            _WARN,
            (
                f"Not the paper's backbone: {emb.backbone} instead of ResNet-50 with ImageNet weights. "
                "Block numbers refer to this network's stages, so results differ from the paper's tables."
            ),
        )
    rows = [("backbone", emb.backbone), ("weights", emb.weights_label or emb.weights)]
    if emb.backbone_reason and emb.backbone_reason != "requested":
        rows.append(("why", emb.backbone_reason))
    if dataset:
        rows.append(("dataset", dataset))
    rows.append(("images", f"{len(emb)} ({emb.report.embedded} embedded now, {emb.report.cached} from the cache)"))
    body = "".join(f"<div><b>{esc(k)}:</b> {esc(str(v))}</div>" for k, v in rows)
    return (
        f'<div class="attr-utils-banner" style="background:{style};padding:8px 12px;margin:4px 0 12px 0;'
        f'font-size:13px;line-height:1.45"><div style="font-weight:bold;margin-bottom:4px">{esc(headline)}</div>{body}</div>'
    )


def provenance_banner(emb, *, dataset: str | None = None):
    """An ``ipywidgets.HTML`` banner naming the backbone and weights in use.

    The banner is green for the paper's setup (ResNet-50, ImageNet weights),
    orange with an explanation for any other pretrained backbone, and red for
    random weights, so a visitor never mistakes a stand-in for the paper.

    Parameters
    ----------
    emb : Embeddings
        Where the backbone, weights and the reason for choosing them come from.
    dataset : str, optional
        Dataset description to show as well.

    Returns
    -------
    ipywidgets.HTML
    """
    import ipywidgets as widgets

    return widgets.HTML(provenance_html(emb, dataset=dataset))
