"""What the commands print with ``--json``: one printer, and plain rows from result tables.

Commands do not build JSON by hand: they pass a result object with
``to_dict()``, a DataFrame, or a dict of those to :func:`print_json`, and
turn a result table into rows with :func:`records` (``DataFrame.to_dict("records")``
with numpy scalars made plain and floats optionally rounded).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from typing import Any

__all__ = [
    "backbone_choice",
    "backbone_reason_line",
    "embedding_summary",
    "plain",
    "print_json",
    "print_skipped",
    "provenance_header",
    "records",
    "skipped_records",
]

#: Skipped files listed one per line on stderr before "... and N more".
SKIPPED_SHOWN = 20


def plain(value):
    """A JSON-friendly scalar: numpy scalars as Python ones, NaN and pandas' missing values as ``None``."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def records(frame, columns: Sequence[str] | None = None, *, digits: int | None = None) -> list[dict]:
    """Rows of ``frame[columns]`` as plain dicts (``DataFrame.to_dict("records")``).

    Parameters
    ----------
    frame : pandas.DataFrame
    columns : sequence of str, optional
        Columns to keep, in this order (default: all).
    digits : int, optional
        Round float values to this many decimals (Python's ``round``).

    Returns
    -------
    list of dict
        numpy scalars converted to Python ones; NaN kept as NaN.
    """
    rows = (frame if columns is None else frame[list(columns)]).to_dict("records")
    for row in rows:
        for key, value in row.items():
            if hasattr(value, "item") and not isinstance(value, (str, bytes)):
                value = value.item()
            if digits is not None and isinstance(value, float):
                value = round(value, digits)
            row[key] = value
    return rows


def _default(obj: Any):
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        import pandas as pd

        return records(obj) if isinstance(obj, pd.DataFrame) else obj.to_dict()
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    return str(obj)  # paths and anything else printable


def print_json(obj: Any) -> None:
    """Write ``obj`` as one JSON document on stdout.

    Result objects with ``to_dict()`` and DataFrames (as records) may appear
    anywhere in ``obj``; numpy scalars become Python numbers, paths strings,
    and NaN / infinity ``null`` (the output is always valid JSON).
    """
    json.dump(_finite(obj), sys.stdout, indent=2, default=_default, allow_nan=False)
    sys.stdout.write("\n")


def _finite(obj: Any):
    """``obj`` with results as plain data and NaN / infinity as ``None`` (JSON has no NaN: it prints ``null``)."""
    if isinstance(obj, dict):
        return {key: _finite(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(value) for value in obj]
    if isinstance(obj, (str, bytes, bool, int)) or obj is None:
        return obj
    if hasattr(obj, "tolist") and getattr(obj, "ndim", 0):  # numpy arrays
        return _finite(obj.tolist())
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return _finite(_default(obj))
    if hasattr(obj, "item"):  # numpy scalars
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def embedding_summary(emb) -> dict:
    """How the embeddings were obtained: images, embedded now, from cache, skipped."""
    rep = emb.report
    return {"images": rep.images, "embedded": rep.embedded, "cached": rep.cached, "skipped": len(rep.skipped)}


def backbone_choice(emb) -> dict:
    """Which network produced the vectors and why, for ``--json``: ``backbone``, ``weights``, ``pretrained``, ``backbone_reason``.

    ``backbone_reason`` is ``"requested"`` when the backbone was named, and
    says what ``--backbone auto`` chose and why otherwise (e.g. "auto:
    ResNet-50 ImageNet weights are neither cached nor downloadable, so
    efficientnet-lite0 ... is used instead ...").
    """
    return {
        "backbone": emb.backbone,
        "weights": emb.weights,
        "pretrained": bool(emb.pretrained),
        "backbone_reason": emb.backbone_reason or "requested",
    }


def backbone_reason_line(emb) -> str | None:
    """The line a human summary prints when ``--backbone auto`` chose the backbone (its reason); else ``None``."""
    reason = emb.backbone_reason or "requested"
    return None if reason == "requested" else reason


def provenance_header(emb) -> str:
    """The first lines of a human summary: backbone, weights, why (``auto``), and where the vectors came from."""
    rep = emb.report
    reason = backbone_reason_line(emb)
    return (
        f"{emb.provenance}\n" + (f"{reason}\n" if reason else "")
        + f"{len(emb)} images ({rep.embedded} embedded now, {rep.cached} from cache, {len(rep.skipped)} skipped)"
    )


def skipped_records(skipped) -> list[dict]:
    """Skipped files (:class:`attr_utils.embeddings.Skipped`) as ``[{"path", "reason"}]`` for ``--json``."""
    return [{"path": str(s.path), "reason": str(s.reason)} for s in skipped]


def print_skipped(skipped, *, limit: int = SKIPPED_SHOWN) -> None:
    """List skipped files on stderr, one ``skipped PATH: REASON`` line each, the first ``limit`` of them."""
    skipped = list(skipped)
    for s in skipped[:limit]:
        print(f"skipped {s.path}: {s.reason}", file=sys.stderr)
    if len(skipped) > limit:
        print(f"... and {len(skipped) - limit} more skipped (use --json for the full list)", file=sys.stderr)
