"""Write a :class:`~attr_utils.reproduce.run.Reproduction` as ``results.json`` and a self-contained ``index.html``.

``results.json`` (schema :data:`SCHEMA`) holds the setting (backbone,
weights, whether it is the paper's), the versions, the datasets (sizes,
per-class counts, duplicate counts), one entry per claim (paper value,
measured value, difference with its 95 % interval, verdict and reason), the
tables behind every figure, what could not be computed and why, and the
timings. ``index.html`` shows the same, with the figures of
:mod:`attr_utils.figures` embedded (plotly.js inlined once: it opens
offline) and thumbnails of the example queries.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import platform
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from attr_utils.reproduce.claims import CLAIMS

__all__ = ["SCHEMA", "results_dict", "versions", "write_report"]

#: Identifies the layout of ``results.json``; bumped when a key changes meaning.
SCHEMA = "attr-utils.reproduce/1"
_PAPER = "Scalable Visual Attribute Extraction through Hidden Layers of a Residual ConvNet"
_PACKAGES = ("attr-utils", "numpy", "pandas", "scikit-learn", "scipy", "umap-learn", "hdbscan", "plotly",
             "tensorflow", "Pillow", "faiss-cpu")


def versions() -> dict:
    """Python and the installed versions of the packages behind the numbers (None when absent)."""
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _clean(value):
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def _records(frame: pd.DataFrame) -> list:
    return [] if frame is None or frame.empty else _clean(frame.to_dict(orient="records"))


def results_dict(result) -> dict:
    """The JSON document of ``result`` (see the module notes)."""
    by_id = {v.claim: v for v in result.verdicts}
    claims = []
    for claim in CLAIMS:
        v = by_id.get(claim.id)
        entry = {"id": claim.id, "title": claim.title, "kind": claim.kind, "source": claim.source,
                 "paper_value": claim.paper, "paper_note": claim.note,
                 "paper_setting": bool(result.setting.get("paper_setting", False))}
        if v is not None:
            entry.update({k: val for k, val in v.to_dict().items() if k not in ("claim", "paper")})
        claims.append(entry)
    table1 = result.table1_summary.copy() if not result.table1_summary.empty else pd.DataFrame()
    if not table1.empty:
        paper = {("color", "block2"): 0.937, ("texture", "block4"): 0.939}
        table1["paper"] = [paper.get((lab, b)) for lab, b in zip(table1["label"], table1["block"])]
    return _clean({
        "schema": SCHEMA,
        "paper": _PAPER,
        "setting": result.setting,
        "versions": versions(),
        "datasets": result.datasets,
        "claims": claims,
        "table1": _records(table1),
        "table1_folds": _records(result.table1),
        "figure3": _records(result.figure3),
        "table2": _records(result.table2),
        "figure6": _records(result.figure6),
        "retrieval_score": _records(result.retrieval_score),
        "status": result.status,
        "timings": result.timings,
    })


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;font-size:14px}
th{background:#f3f3f3}.banner{padding:.8em;border-radius:6px;margin:1em 0;font-weight:600}
.paper{background:#e6f4ea}.notpaper{background:#fde8e8;color:#8a1c1c}
.v-reproduced{background:#c8ecd0}.v-not{background:#f6c6c6}.v-inconclusive{background:#fbe9b7}.v-nc{background:#ddd}
.grid{display:flex;flex-wrap:wrap;gap:6px}.q img{width:64px;height:64px;object-fit:cover;margin:1px}
.status li{margin:.2em 0}.small{font-size:13px;color:#555}
"""


def _verdict_class(verdict: str) -> str:
    return {"reproduced": "v-reproduced", "not reproduced": "v-not", "inconclusive": "v-inconclusive"}.get(verdict, "v-nc")


def _fmt(x, digits=3):
    return "—" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}f}"


def _thumb(path: str, size: int = 64) -> str:
    try:
        from PIL import Image

        with Image.open(path) as im:
            im = im.convert("RGB")
            im.thumbnail((size, size))
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=80)
        src = "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()
        return f'<img src="{src}" title="{html.escape(os.path.basename(path))}">'
    except Exception:  # noqa: BLE001 - a thumbnail is decoration; the path is still listed
        return f"<span>{html.escape(os.path.basename(path))}</span>"


def _figure_html(fig, state: dict, *, toolbar: bool = True) -> str:
    include = "inline" if not state.get("js") else False
    state["js"] = True
    return fig.to_html(full_html=False, include_plotlyjs=include, config={"displayModeBar": toolbar})


def _table(frame: pd.DataFrame, columns) -> str:
    cols = [c for c in columns if c in frame.columns]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    rows = []
    for _, r in frame[cols].iterrows():
        cells = []
        for c in cols:
            v = r[c]
            cells.append(f"<td>{_fmt(v) if isinstance(v, (float, np.floating)) else html.escape(str(v))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _html(result, doc: dict) -> str:
    from attr_utils import figures

    s = doc["setting"]
    state: dict = {}
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>Reproduction report</title><style>{_CSS}</style>"
           "</head><body>", f"<h1>Reproduction report</h1><p><i>{html.escape(_PAPER)}</i></p>"]
    cls = "paper" if s.get("paper_setting") else "notpaper"
    out.append(f"<div class='banner {cls}'>{html.escape(s.get('setting_note', ''))}</div>")
    versions_text = ", ".join(f"{k} {v}" for k, v in doc["versions"].items() if v and k != "platform")
    out.append("<table>" + "".join(f"<tr><th>{k}</th><td>{html.escape(str(v))}</td></tr>" for k, v in [
        ("backbone", s.get("backbone")), ("weights", s.get("weights_label") or s.get("weights")),
        ("seed", s.get("seed")), ("images per class", s.get("per_class")),
        ("best blocks (measured)", s.get("best_blocks")), ("tolerance of value claims", s.get("tolerance")),
        ("versions", versions_text)]) + "</table>")
    out.append("<h2>Datasets</h2><table><tr><th>dataset</th><th>images</th><th>classes</th><th>short classes</th>"
               "<th>missing files</th><th>duplicate groups</th><th>duplicate items</th><th>conflicting groups</th></tr>")
    for name, d in doc["datasets"].items():
        dup = d.get("duplicates", {})
        out.append(f"<tr><td>{name}</td><td>{d['images']}</td><td>{d['classes']}</td>"
                   f"<td>{html.escape(', '.join(d['short_classes'])) or '—'}</td><td>{d['missing_files']}</td>"
                   f"<td>{dup.get('duplicate_groups', 0)}</td><td>{dup.get('duplicate_items', 0)}</td>"
                   f"<td>{dup.get('conflicting_groups', 0)}</td></tr>")
    out.append("</table><p class='small'>Splits keep byte-identical copies in one fold (groups=\"hash\").</p>")

    out.append("<h2>Claims</h2><table><tr><th>claim</th><th>source</th><th>paper</th><th>measured [95 % CI]</th>"
               "<th>difference [95 % CI]</th><th>verdict</th><th>why</th></tr>")
    for c in doc["claims"]:
        measured = "—" if c.get("measured") is None else (
            f"{_fmt(c['measured'])} [{_fmt(c.get('ci_low'))}, {_fmt(c.get('ci_high'))}]")
        diff = "—" if c.get("difference") is None else (
            f"{c['difference']:+.3f} [{_fmt(c.get('diff_low'))}, {_fmt(c.get('diff_high'))}]")
        tag = "" if c["paper_setting"] else " <span class='small'>(not the paper's setting)</span>"
        out.append(f"<tr><td>{html.escape(c['title'])}</td><td>{html.escape(c['source'])}</td>"
                   f"<td>{_fmt(c['paper_value']) if c['paper_value'] is not None else 'not given here'}</td>"
                   f"<td>{measured}{tag}</td><td>{diff}</td>"
                   f"<td class='{_verdict_class(c.get('verdict', ''))}'>{html.escape(c.get('verdict', ''))}</td>"
                   f"<td class='small'>{html.escape(c.get('reason', ''))}"
                   f"{'<br>' + html.escape(c['paper_note']) if c['paper_note'] else ''}</td></tr>")
    out.append("</table>")

    out.append("<h2>Table 1 · kNN accuracy per block (k=5, stratified 5-fold)</h2>")
    if not result.table1.empty:
        out.append(_table(pd.DataFrame(doc["table1"]), ["label", "block", "dim", "paper", "mean", "std", "ci_low", "ci_high"]))
        out.append(_figure_html(figures.accuracy_per_block(result.table1), state))
    out.append("<h2>Figure 3 · HDBSCAN (50/10/40) ARI and AMI per block</h2>")
    if not result.figure3.empty:
        out.append(_table(result.figure3, ["label", "block", "n", "n_clusters", "noise_fraction", "ari", "ami"]))
        out.append(_figure_html(figures.clustering_per_block(result.figure3), state))
    out.append("<h2>Figures 4-5 · UMAP of every block</h2>")
    for attr, labels in result.umap_labels.items():
        cells = [(b, xy) for (a, b), xy in result.umap.items() if a == attr]
        if not cells:
            continue
        out.append(f"<h3>{attr}</h3><div class='grid'>")
        emb = result.embeddings.get(attr)
        for block, xy in cells:
            fig = figures.umap_scatter(xy, labels, provenance=emb, title=f"{attr} · {block}", marker_size=4)
            fig.update_layout(width=380, height=340, showlegend=False, margin=dict(l=10, r=10, t=60, b=10))
            out.append(f"<div>{_figure_html(fig, state, toolbar=False)}</div>")
        out.append("</div>")
    out.append("<h2>Table 2 · accuracy after UMAP on the best block (paper and leak-free protocols)</h2>")
    if not result.table2.empty:
        out.append(_table(result.table2, ["label", "block", "protocol", "dim", "reduced", "mean", "ci_low", "ci_high"]))
        for _, part in result.table2.groupby("label", sort=False):
            out.append(_figure_html(figures.reduction_curve(part), state))
    out.append("<h2>Figure 6 · retrieval by colour, texture and both</h2>")
    if not result.figure6.empty:
        for (ds, q), part in result.figure6.groupby(["dataset", "query"], sort=False):
            first = part.iloc[0]
            out.append(f"<div class='q'><b>{ds} query {q}</b> ({html.escape(str(first['query_label']))}) "
                       f"{_thumb(first['query_path'])}<table>")
            for mode, rows in part.groupby("mode", sort=False):
                thumbs = "".join(_thumb(p) for p in rows["path"])
                labels = ", ".join(str(x) for x in rows["label"])
                out.append(f"<tr><th>{mode}</th><td>{thumbs}</td><td class='small'>{html.escape(labels)}</td></tr>")
            out.append("</table></div>")
    if not result.retrieval_score.empty:
        out.append(_table(result.retrieval_score[result.retrieval_score["default"]],
                          ["mode", "method", "alpha", "agreement", "precision", "sem", "chance", "ceiling"]))
    if doc["status"]:
        out.append("<h2>Not computed, and why</h2><ul class='status'>" + "".join(
            f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in doc["status"].items()) + "</ul>")
    out.append("<h2>Timings (s)</h2>" + "<p class='small'>" + ", ".join(
        f"{k} {v}" for k, v in doc["timings"].items()) + "</p></body></html>")
    return "\n".join(out)


def write_report(result, out_dir) -> dict:
    """Write ``out_dir/results.json`` and ``out_dir/index.html``.

    Parameters
    ----------
    result : Reproduction
        From :func:`attr_utils.reproduce.reproduce`.
    out_dir : str or path-like
        Report folder (created).

    Returns
    -------
    dict
        The ``results.json`` document.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = results_dict(result)
    (out_dir / "results.json").write_text(json.dumps(doc, indent=2, default=str))
    (out_dir / "index.html").write_text(_html(result, doc), encoding="utf-8")
    return doc
