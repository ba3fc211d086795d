"""A one-line header saying which backbone and weights produced what the page shows."""

from __future__ import annotations

import html
import re

__all__ = ["is_paper_setup", "provenance_banner", "provenance_html", "provenance_line", "sentence_case"]

_OK = "#e8f5e9;border-left:6px solid #2e7d32"
_WARN = "#fff4e5;border-left:6px solid #e65100"
_DANGER = "#fdecea;border-left:6px solid #b71c1c"


def is_paper_setup(emb) -> bool:
    """True when ``emb`` comes from the paper's ResNet-50 with ImageNet weights."""
    return emb.backbone == "resnet50" and emb.weights == "imagenet" and bool(emb.pretrained)


def sentence_case(text: str) -> str:
    """``text`` with the first letter of each sentence upper-cased (the rest unchanged).

    Messages are joined from parts that each start lower-case (``"... is used
    instead. the ResNet-50 weights are not available: ..."``); a sentence
    starts at the beginning and after ``". "``, ``"! "`` or ``"? "``.
    """
    return re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text.strip())


def _reason(reason: str) -> str:
    """The backbone choice's reason as a sentence: ``"auto: X"`` reads ``"Chosen automatically: X"``."""
    if reason.startswith("auto:"):
        reason = "chosen automatically: " + reason[len("auto:"):].strip()
    return sentence_case(reason)


def _verdict(emb) -> tuple[str, str, str]:
    """(style, short line, full explanation) for ``emb``'s backbone and weights."""
    if is_paper_setup(emb):
        return _OK, "Paper setup: ResNet-50 with ImageNet weights", "Paper setup: ResNet-50 with ImageNet weights."
    if not emb.pretrained:
        return (
            _DANGER,
            f"RANDOM WEIGHTS ({emb.backbone}): not the paper's results",
            "RANDOM WEIGHTS: these numbers and pictures say nothing about the paper's method; "
            "use them only to check that the pipeline runs.",
        )
    return (
        _WARN,
        f"Not the paper's backbone: {emb.backbone}, {emb.weights_label or emb.weights}",
        f"Not the paper's backbone: {emb.backbone} instead of ResNet-50 with ImageNet weights. "
        "Block numbers refer to this network's stages, so results differ from the paper's tables.",
    )


def _pooling(emb) -> str:
    """``"foreground pooling (auto mask)"`` for a pooling other than the paper's average, else ``""``."""
    pooling = getattr(emb, "pooling", "average") or "average"
    if pooling == "average":
        return ""
    mask = getattr(emb, "mask", "") or ""
    return f"{pooling} pooling" + (f" ({mask} mask)" if mask else "")


def provenance_html(emb, *, dataset: str | None = None) -> str:
    """The banner as an HTML string (see :func:`provenance_banner`).

    A pooling other than the paper's global average is named in the line
    itself (``"... · foreground pooling (auto mask), not the paper's average"``)
    and in the details.
    """
    esc = html.escape
    style, line, explanation = _verdict(emb)
    pooled = _pooling(emb)
    if pooled:
        line += f" · {pooled}, not the paper's average"
    images = f"{len(emb)} images"
    rows = [("backbone", emb.backbone), ("weights", emb.weights_label or emb.weights)]
    if pooled:
        rows.append(("pooling", pooled))
    if emb.backbone_reason and emb.backbone_reason != "requested":
        rows.append(("why", _reason(emb.backbone_reason)))
    if dataset:
        rows.append(("dataset", dataset))
    report = getattr(emb, "report", None)
    if report is not None:
        rows.append(("images", f"{len(emb)} ({report.embedded} embedded now, {report.cached} from the cache)"))
    else:
        rows.append(("images", str(len(emb))))
    body = "".join(f"<div><b>{esc(k)}:</b> {esc(str(v))}</div>" for k, v in rows)
    return (
        f'<div class="attr-utils-banner" style="background:{style};padding:4px 12px;margin:4px 0 10px 0;'
        'font-size:13px;line-height:1.45">'
        '<details><summary style="cursor:pointer">'
        f'<b>{esc(line)}</b> · {esc(images)} · <span style="text-decoration:underline">details</span></summary>'
        f'<div style="margin:4px 0 2px 0">{esc(explanation)}</div>{body}</details></div>'
    )


def provenance_banner(emb, *, dataset: str | None = None):
    """An ``ipywidgets.HTML`` line naming the backbone and weights in use, details folded.

    One line says whose setup produced the page (green: the paper's
    ResNet-50 with ImageNet weights; orange: another pretrained backbone;
    red: random weights), so a visitor never mistakes a stand-in for the
    paper. Its "details" expander (an HTML ``<details>``) holds the
    explanation, the weights, why this backbone was chosen, the dataset and
    how many images were embedded now or read from the cache.

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


def provenance_line(emb, *, dataset: str | None = None):
    """The same line as :func:`provenance_banner`, as a static HTML output (no widget).

    For a page that only shows the line: a static output is drawn with the
    page, while a widget waits for its model to load from the kernel (on a
    busy server, seconds after the rest of the page).

    Parameters
    ----------
    emb : Embeddings
    dataset : str, optional

    Returns
    -------
    IPython.display.HTML
    """
    from IPython.display import HTML

    return HTML(provenance_html(emb, dataset=dataset))
