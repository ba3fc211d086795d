"""Small shared pieces of the apps' user interface."""

from __future__ import annotations

import html

__all__ = ["error_html", "info_html", "label_column", "describe_row"]


def error_html(message: str) -> str:
    """A visible, friendly error line (never a traceback)."""
    return f'<div class="attr-utils-message attr-utils-warning" style="color:#b71c1c;font-weight:bold">{html.escape(message)}</div>'


def info_html(message: str) -> str:
    return f'<div class="attr-utils-message" style="color:#37474f">{html.escape(message)}</div>'


def label_column(emb, name: str) -> str | None:
    """The label column of ``emb`` meaning ``name`` (``"color"`` also matches ``"colour"``), or None."""
    wanted = {"color": ("color", "colour"), "texture": ("texture", "pattern")}.get(name, (name,))
    for col in emb.label_columns:
        if str(col).lower() in wanted:
            return col
    return None


def describe_row(table, row: int, columns) -> str:
    """``"000123.png · red / striped"``: file name and label values of a table row."""
    from pathlib import PurePath

    rec = table.iloc[int(row)]
    labels = " / ".join(str(rec[c]) for c in columns)
    name = PurePath(str(rec["path"])).name
    return f"{name} · {labels}" if labels else name
