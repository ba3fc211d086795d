"""Tag a whole catalog with attribute extractors, incrementally, into one Parquet file.

:func:`tag_catalog` writes one row per usable image of a dataset: ``path``,
``hash`` (SHA-256 of the file's bytes) and, per attribute ``<name>``:

==========================  =====================================================
``<name>``                  the value, or null when unknown / below threshold
``<name>_confidence``       the winner's share of the distance-weighted vote
``<name>_margin``           winner's share minus the runner-up's
``<name>_unknown``          True when ``<name>`` is null: the image is farther
                            from every example than the extractor's unknown
                            threshold, or its confidence is below the
                            requested one
``<name>_neighbours``       paths of the examples that voted, nearest first
==========================  =====================================================

Incremental
-----------
The file's Parquet metadata (key ``attr_utils.tags``) records, per
attribute, the extractor's :meth:`~AttributeExtractor.fingerprint` and the
confidence threshold used. A rerun reuses every row whose content hash is
already in the file for every attribute whose fingerprint and threshold are
unchanged, so only new images go through the network; changing one
extractor retags that attribute only (its images are usually all in the
embedding cache already, so that costs no forward pass either).

Atomic
------
The new file is written beside the old one under a temporary name, flushed
to disk, then renamed over it (``os.replace``): a run killed at any point
leaves the previous file whole (and at most a stray ``.tmp`` file, removed
on the next run).

The file is plain Parquet (pyarrow): ``pandas.read_parquet``, DuckDB's
``read_parquet`` and ``dask.dataframe.read_parquet`` read it as is.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from attr_utils.embeddings import Skipped
from attr_utils.errors import DatasetError, NotFittedError, ParameterError
from attr_utils.hashing import read_and_hash
from attr_utils.retrieval.extractor import AttributeExtractor
from attr_utils.validation import check_int, check_real

__all__ = ["METADATA_KEY", "TagReport", "read_tags", "tag_catalog", "tag_columns"]

#: Parquet metadata key holding the extractors' identities.
METADATA_KEY = b"attr_utils.tags"
_FORMAT = 1
_SUFFIXES = ("", "_confidence", "_margin", "_unknown", "_neighbours")


@dataclass
class TagReport:
    """What one :func:`tag_catalog` run did.

    Attributes
    ----------
    out : str
        The Parquet file written.
    rows : int
        Rows in the file (usable images of the dataset).
    embedded : int
        Images that went through the network in this run.
    tagged : dict of str to int
        Per attribute, rows whose tags were computed in this run.
    reused : dict of str to int
        Per attribute, rows taken over from the previous file.
    thresholds : dict of str to float
        Per attribute, the confidence threshold applied (0 when none).
    skipped : list of Skipped
        Files not tagged, with the reason.
    """

    out: str
    rows: int = 0
    embedded: int = 0
    tagged: dict = field(default_factory=dict)
    reused: dict = field(default_factory=dict)
    thresholds: dict = field(default_factory=dict)
    skipped: list = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready form (``skipped`` as ``[{"path", "reason"}]``)."""
        return {
            "out": self.out, "rows": self.rows, "embedded": self.embedded, "tagged": dict(self.tagged),
            "reused": dict(self.reused),
            "thresholds": {k: (float(v) if np.isfinite(v) else None) for k, v in self.thresholds.items()},
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
        }


def tag_columns(name: str) -> list[str]:
    """The five columns of attribute ``name`` in a tag file."""
    return [name + s for s in _SUFFIXES]




def read_tags(path: str | os.PathLike) -> tuple[pd.DataFrame, dict]:
    """A tag file and its metadata (``{"format", "extractors": {name: {...}}}``).

    Raises
    ------
    DatasetError
        The file is not a tag file written by :func:`tag_catalog`.
    """
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a foreign or broken file
        raise DatasetError(f"{str(path)!r} is not a readable Parquet file ({exc}); move it away or pick another --out") from None
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise DatasetError(f"{str(path)!r} is a Parquet file but not an attr-utils tag file; refusing to overwrite it")
    meta = json.loads(raw)
    return table.to_pandas(), meta


def _check_name(name) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        raise ParameterError(f"attribute names must be identifiers (letters, digits, _), got {name!r}")
    if name in ("path", "hash"):
        raise ParameterError(f"attribute name {name!r} is taken by a tag-file column; pick another")
    return name


def _load_extractors(extractors, cache_dir) -> dict[str, AttributeExtractor]:
    if not isinstance(extractors, Mapping) or not extractors:
        raise ParameterError("`extractors` must be a non-empty mapping {attribute name: AttributeExtractor or saved folder}")
    out = {}
    for name, ex in extractors.items():
        _check_name(name)
        if not isinstance(ex, AttributeExtractor):
            ex = AttributeExtractor.load(ex, cache_dir=cache_dir)
        if not hasattr(ex, "vectors_"):
            raise NotFittedError(f"extractor {name!r} is not fitted; fit it or pass a folder written by save()")
        if ex.backbone_ == "arrays" or not ex.weights_spec_:
            raise ParameterError(
                f"extractor {name!r} was fitted on precomputed vectors ({ex.backbone_} · {ex.weights_}); "
                "tagging images needs an extractor built from images"
            )
        out[name] = ex
    columns = [c for n in out for c in tag_columns(n)]
    if len(set(columns)) != len(columns):
        raise ParameterError(f"attribute names {sorted(out)} give clashing column names (e.g. 'a' and 'a_margin'); rename one")
    return out


def _write_atomic(frame: pd.DataFrame, out: Path, meta: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), METADATA_KEY: json.dumps(meta).encode()})
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            pq.write_table(table, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def tag_catalog(
    data,
    extractors: Mapping[str, AttributeExtractor | str | os.PathLike],
    out: str | os.PathLike,
    *,
    min_confidence: float | None = None,
    target_precision: float | None = None,
    cache_dir: str | os.PathLike | None = None,
    batch_size: int = 32,
    path_column: str | None = None,
    progress: bool = True,
) -> TagReport:
    """Tag every image of a dataset with every extractor, into one Parquet file.

    Parameters
    ----------
    data : str, path-like or Dataset
        A folder, CSV manifest or Kaggle ``styles.csv``
        (:func:`attr_utils.datasets.load_dataset`).
    extractors : mapping of str to AttributeExtractor or path-like
        Attribute name -> fitted extractor, or a folder written by
        :meth:`AttributeExtractor.save`. Names must be identifiers other
        than ``path`` and ``hash``.
    out : path-like
        The Parquet file; if it exists (a tag file from an earlier run), its
        rows are reused where the image and the extractor are unchanged.
    min_confidence : float, optional
        Values whose confidence is below this, in [0, 1], are null
        (``<name>_unknown`` True). Default: none below the extractor's own
        unknown threshold.
    target_precision : float, optional
        Instead of ``min_confidence``: per attribute, the threshold at which
        the extractor's out-of-fold precision on its own examples reaches
        this (:meth:`AttributeExtractor.threshold_for_precision`).
    cache_dir : path-like, optional
        Embedding cache (default ``$ATTR_UTILS_CACHE``).
    batch_size : int, default=32
        Images per forward pass.
    path_column : str, optional
        Path column of a CSV manifest.
    progress : bool, default=True
        Show the embedding progress bar.

    Returns
    -------
    TagReport
        Rows written, images embedded, per-attribute computed/reused counts,
        thresholds and skipped files.

    Raises
    ------
    ParameterError
        Invalid thresholds, both thresholds given, bad attribute names, or an
        extractor fitted on precomputed vectors.
    DatasetError
        ``out`` exists and is not a tag file; no usable image.

    Examples
    --------
    >>> tag_catalog("catalog/", {"color": "extractors/color"}, "tags.parquet")  # doctest: +SKIP
    >>> pd.read_parquet("tags.parquet").head()  # doctest: +SKIP
    """
    from attr_utils.datasets import Dataset, load_dataset
    from attr_utils.embedder import embed
    from attr_utils.model import ModelSpec

    min_confidence = check_real("min_confidence", min_confidence, min=0.0, max=1.0, allow_none=True)
    target_precision = check_real("target_precision", target_precision, min=0.0, max=1.0, closed="right", allow_none=True)
    if min_confidence is not None and target_precision is not None:
        raise ParameterError("give `min_confidence` or `target_precision`, not both")
    batch_size = check_int("batch_size", batch_size, min=1)
    out = Path(out)
    exs = _load_extractors(extractors, cache_dir)

    dataset = load_dataset(data, path_column=path_column)
    paths = [str(p) for p in dataset.paths]
    with ThreadPoolExecutor(max_workers=4) as pool:
        read = list(pool.map(read_and_hash, paths))
    skipped = list(dataset.skipped) + [Skipped(p, r) for p, (h, r) in zip(paths, read) if h is None]
    rows = [(p, h) for p, (h, _) in zip(paths, read) if h is not None]

    old, old_meta = None, {}
    if out.exists():
        old, old_meta = read_tags(out)
    for stray in out.parent.glob(f".{out.name}.*.tmp"):
        stray.unlink(missing_ok=True)  # left by a killed run

    thresholds, keys = {}, {}
    for name, ex in exs.items():
        if target_precision is not None:
            t = ex.threshold_for_precision(target_precision)
        else:
            t = min_confidence or 0.0
        thresholds[name] = float(t)
        keys[name] = {"fingerprint": ex.fingerprint(), "min_confidence": float(t) if np.isfinite(t) else None}

    hashes_now = list(dict.fromkeys(h for _, h in rows))
    first_path = {}
    for p, h in rows:
        first_path.setdefault(h, p)
    results: dict[str, dict[str, dict]] = {}
    reused: dict[str, int] = {}
    need: dict[str, list[str]] = {}
    for name in exs:
        prev = (old_meta.get("extractors") or {}).get(name)
        cols = tag_columns(name)
        known: dict[str, dict] = {}
        if old is not None and prev is not None and prev.get("key") == keys[name] and set(cols) <= set(old.columns):
            for rec in old[["hash", *cols]].drop_duplicates("hash").to_dict("records"):
                known[rec["hash"]] = rec
        results[name] = {h: known[h] for h in hashes_now if h in known}
        reused[name] = sum(1 for _, h in rows if h in known)
        need[name] = [h for h in hashes_now if h not in known]

    # one embedding run per model identity, over the hashes some attribute still needs
    by_model: dict[tuple, list[str]] = {}
    for name, ex in exs.items():
        pooling = (getattr(ex, "pooling_", "average"), getattr(ex, "mask_", "") or "auto")
        by_model.setdefault((ex.backbone_, ex.weights_spec_, ex.resize_, pooling), []).append(name)
    embedded = 0
    tagged = {name: 0 for name in exs}
    for (backbone, weights, resize, (pooling, mask)), names in by_model.items():
        todo = list(dict.fromkeys(h for n in names for h in need[n]))
        if not todo:
            continue
        subset = Dataset(pd.DataFrame({"path": [first_path[h] for h in todo]}), [], dataset.root, dataset.kind)
        emb = embed(subset, model=ModelSpec(backbone, weights, resize=resize, pooling=pooling, mask=mask),
                    cache_dir=cache_dir, batch_size=batch_size, progress=progress)
        embedded += emb.report.embedded
        lost = {s.path: s.reason for s in emb.report.skipped}
        for h in todo:
            if first_path[h] in lost:  # changed or undecodable since it was hashed
                skipped += [Skipped(p, lost[first_path[h]]) for p, hh in rows if hh == h]
        by_hash = dict(zip(emb.table["hash"], range(len(emb))))
        for name in names:
            rows_needed = [by_hash[h] for h in need[name] if h in by_hash]
            if not rows_needed:
                continue
            votes = exs[name].votes(emb.subset(np.asarray(rows_needed, dtype=np.int64)))
            t = thresholds[name]
            for h, rec in zip(emb.table["hash"].to_numpy()[rows_needed], votes.to_dict("records")):
                unknown = bool(rec["unknown"]) or rec["confidence"] < t
                results[name][h] = {
                    name: None if unknown else rec["value"], f"{name}_confidence": float(rec["confidence"]),
                    f"{name}_margin": float(rec["margin"]), f"{name}_unknown": unknown,
                    f"{name}_neighbours": list(rec["neighbours"]),
                }
            done = set(need[name]) & set(results[name])
            tagged[name] = sum(1 for _, h in rows if h in done)

    skipped_paths = {s.path for s in skipped}
    rows = [(p, h) for p, h in rows if p not in skipped_paths and all(h in results[n] for n in exs)]
    if not rows:
        raise DatasetError(f"no usable image in {dataset.root} ({len(skipped)} skipped); nothing to tag")
    frame = pd.DataFrame({"path": [p for p, _ in rows], "hash": [h for _, h in rows]})
    for name in exs:
        cols = tag_columns(name)
        recs = [results[name][h] for _, h in rows]
        frame[name] = pd.array([r[name] for r in recs], dtype="string")
        frame[cols[1]] = np.array([r[cols[1]] for r in recs], dtype=np.float64)
        frame[cols[2]] = np.array([r[cols[2]] for r in recs], dtype=np.float64)
        frame[cols[3]] = np.array([bool(r[cols[3]]) for r in recs], dtype=bool)
        frame[cols[4]] = [list(r[cols[4]]) for r in recs]
    meta = {"format": _FORMAT, "extractors": {
        name: {"key": keys[name], "label": ex.label_, "block": ex.block_, "backbone": ex.backbone_,
               "weights": ex.weights_, "pretrained": bool(ex.pretrained_), "k": int(ex.k)}
        for name, ex in exs.items()}}
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(frame, out, meta)
    return TagReport(out=str(out), rows=len(frame), embedded=int(embedded), tagged=tagged, reused=reused,
                     thresholds=thresholds, skipped=skipped)
