"""Content-addressed, crash-safe embedding cache stored as Parquet.

Layout (``CACHE_DIR`` is :func:`cache_root`)::

    CACHE_DIR/
      embeddings/
        <backbone>-<signature[:16]>/       one folder per model signature
          _signature.json                  what the vectors were computed with
          part-<time>-<pid>-<random>.parquet

Each part file holds rows ``hash`` (sha256 of the image file's bytes) and one
``fixed_size_list<float32>`` column per block, so pandas, Dask, DuckDB and
pyarrow read the folder directly as one dataset.

Guarantees, and how they are kept:

* **Atomic writes.** A part is written to a hidden temporary file in the same
  folder, flushed, fsynced and renamed into place. Readers only look at
  ``part-*.parquet``; a process killed with SIGKILL leaves at most a hidden
  temporary file (swept later), never a half-written part.
* **No stale vectors.** The folder is chosen by the model signature: a hash of
  the backbone, the weights' identity (content hash of a weights file, seed of
  random weights), preprocessing, resize policy, input size and taps. Change
  any of them and you read another folder.
* **Reuse across tap selections.** Folders whose signatures differ only in
  their taps hold the same vectors for the layers they share:
  :meth:`EmbeddingCache.stores_with_taps` finds those that hold every tap of a
  signature, and the embedder copies the rows it misses from them (only the
  needed columns, renamed) instead of computing them.
* **Concurrent writers.** Part names are unique per process and batch, so two
  processes never write the same file. When both embed the same image, two
  identical rows exist; readers keep the first. :meth:`SignatureStore.compact`
  merges parts and drops duplicates; each part it writes is committed
  atomically, and a crash midway leaves only duplicates, never a loss.
* **Corruption.** A part that cannot be read (truncated by a disk failure,
  edited by hand) is reported, moved aside as ``_corrupt-*`` and ignored; its
  images are simply embedded again.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
import uuid
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from attr_utils.errors import BlockError, CacheError
from attr_utils.hashing import bytes_sha256
from attr_utils.validation import check_int, check_real

__all__ = ["CACHE_ENV", "EmbeddingCache", "SignatureStore", "cache_root", "default_cache_dir", "fsync_path", "signature_hash"]

#: Environment variable naming the cache folder.
CACHE_ENV = "ATTR_UTILS_CACHE"
#: Bump when the on-disk layout changes.
FORMAT_VERSION = 1
#: Merge parts when a signature folder holds more than this many.
COMPACT_THRESHOLD = 64
#: Bytes of the widest vector column per Parquet row group: a reader decodes one row group of one
#: column at a time (a few times this size, transiently), so a large compacted part streams in
#: bounded memory (block5 of resnet50, 2048 dims: 128 rows per group).
ROW_GROUP_BYTES = 1 << 20
#: Bounds on the rows per row group.
ROW_GROUP_ROWS = (64, 8192)
#: Size (float32 vectors of every block) of a full part: compaction merges only smaller parts into
#: parts of about this size, so it never rewrites a large cache whole and a lookup that needs one row
#: decodes one row group of one bounded part (resnet50, 3,904 dims: 17,152 rows per part).
PART_BYTES = 256 << 20
#: Hidden temporary files older than this (seconds) belong to dead writers.
STALE_TMP_SECONDS = 3600


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The folder attr-utils caches in: the one resolver every cache uses.

    Parameters
    ----------
    cache_dir : str or path-like, optional
        An explicit folder (``--cache-dir``, ``cache_dir=``); wins over everything.

    Returns
    -------
    pathlib.Path
        ``cache_dir``, else ``$ATTR_UTILS_CACHE``, else the platform's user
        cache folder from ``platformdirs.user_cache_path("attr-utils")``:
        ``$XDG_CACHE_HOME/attr-utils``, by default ``~/.cache/attr-utils``, on
        Linux; ``~/Library/Caches/attr-utils`` on macOS. Not created here.

    Examples
    --------
    >>> cache_root("/tmp/my-cache")
    PosixPath('/tmp/my-cache')
    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    import platformdirs

    return platformdirs.user_cache_path("attr-utils", appauthor=False)


def default_cache_dir() -> Path:
    """``cache_root()`` with no explicit folder (kept for callers of attr-utils 0.1)."""
    return cache_root()


def signature_hash(signature: Mapping) -> str:
    """Stable sha256 of a signature mapping (canonical JSON)."""
    return bytes_sha256(json.dumps(dict(signature), sort_keys=True, separators=(",", ":")).encode())


def fsync_path(path: str | os.PathLike) -> None:
    """Flush a file, or a folder's entries, to disk; best effort (silently skipped where unsupported).

    Called on a file before it is renamed into place and on the folder after
    the rename, so that the write survives power loss, not only SIGKILL.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}-{path.name}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_path(path.parent)


class SignatureStore:
    """The vectors of one model signature: lookup, write, compaction, streaming reads.

    Created by :meth:`EmbeddingCache.store`, or opened from its folder with
    :meth:`open`; not usually built directly.

    Attributes
    ----------
    folder : pathlib.Path
        ``CACHE_DIR/embeddings/<signature_id>``.
    signature : dict
        What the vectors were computed with.
    dims : dict of str to int
        Block name -> vector length.
    """

    def __init__(self, folder: Path, signature: Mapping, dims: Mapping[str, int]):
        self.folder = folder
        self.signature = dict(signature)
        self.dims = dict(dims)
        self._index_memo: dict[str, np.ndarray] = {}  # part name -> hashes (parts are immutable)
        self.folder.mkdir(parents=True, exist_ok=True)
        sig_file = folder / "_signature.json"
        if self.signature and not sig_file.exists():
            payload = {"format": FORMAT_VERSION, "signature": self.signature, "dims": self.dims}
            _atomic_write_bytes(sig_file, json.dumps(payload, indent=2, sort_keys=True).encode())

    @classmethod
    def open(cls, folder: str | os.PathLike) -> SignatureStore:
        """Open an existing signature folder (its ``_signature.json`` says what it holds).

        Parameters
        ----------
        folder : str or path-like
            ``CACHE_DIR/embeddings/<backbone>-<signature>``.

        Raises
        ------
        CacheError
            ``folder`` has no readable ``_signature.json``: it is not a
            signature folder of the embedding cache.
        """
        folder = Path(folder).expanduser()
        try:
            meta = json.loads((folder / "_signature.json").read_text())
            signature, dims = dict(meta["signature"]), {str(b): int(d) for b, d in meta["dims"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            reason = "no _signature.json" if isinstance(exc, FileNotFoundError) else f"unreadable _signature.json: {exc}"
            raise CacheError(
                f"{str(folder)!r} is not a signature folder of the embedding cache ({reason}); "
                "pass CACHE/embeddings/<backbone>-<signature>"
            ) from None
        return cls(folder, signature, dims)

    @property
    def signature_id(self) -> str:
        """The folder name, ``<backbone>-<signature hash[:16]>``: what names this signature in reports."""
        return self.folder.name

    @property
    def cache_root(self) -> Path:
        """The cache folder this store lives in (``CACHE_DIR`` of the layout above)."""
        return self.folder.parent.parent

    # -- reading ---------------------------------------------------------
    def parts(self) -> list[Path]:
        """Committed part files, oldest first."""
        return sorted(self.folder.glob("part-*.parquet"))

    def readable_parts(self) -> dict[Path, int]:
        """Committed parts whose Parquet footer reads, oldest first, with their row counts.

        A part that cannot be parsed is quarantined (moved aside as
        ``_corrupt-*`` with a RuntimeWarning, as every reader of the cache
        does); a part removed meanwhile by a concurrent compaction is skipped.

        Returns
        -------
        dict of pathlib.Path to int
            Part -> rows, in :meth:`parts` order. Pass it (or its keys) as
            ``parts=`` to :meth:`iter_row_groups` to read one snapshot in several passes.
        """
        out = {}
        for part in self.parts():
            try:
                rows = pq.ParquetFile(part).metadata.num_rows
            except FileNotFoundError:
                continue  # compacted away meanwhile
            except Exception as exc:  # noqa: BLE001 - any parse error means corruption
                self._quarantine(part, exc)
                continue
            out[part] = rows
        return out

    def iter_row_groups(self, columns: Sequence[str], *, batch_rows: int | None = None,
                        parts: Iterable[Path] | None = None) -> Iterator[pa.RecordBatch]:
        """Stream the stored rows (duplicates included), one Parquet row group at a time.

        Parameters
        ----------
        columns : sequence of str
            ``"hash"`` and/or block names, in the order wanted.
        batch_rows : int, optional
            Split each row group into record batches of at most this many
            rows. Default: one batch per row group.
        parts : iterable of pathlib.Path, optional
            The parts to read, in order (e.g. an earlier :meth:`readable_parts`,
            so that several passes read the same rows). Default:
            :meth:`readable_parts` now.

        Yields
        ------
        pyarrow.RecordBatch
            The ``columns`` of up to ``batch_rows`` rows; a block column is a
            ``fixed_size_list<float32>[dim]``.

        Raises
        ------
        BlockError
            A column that is neither ``"hash"`` nor a block of this signature.
        FileNotFoundError
            A part vanished while it was read (a concurrent compaction):
            list the parts again and restart.

        Notes
        -----
        Memory: the Parquet reader decodes a nested column one whole row group
        at a time, whatever batch size it is asked for, so one row group
        (:data:`ROW_GROUP_BYTES` of the widest column in parts written here)
        bounds the transient memory; parts are read without memory mapping or
        pre-buffering, and each row group is released before the next is read.
        """
        columns = list(columns)
        unknown = [c for c in columns if c != "hash" and c not in self.dims]
        if unknown:
            raise BlockError(f"no block {unknown[0]!r} in {self.signature_id}; available: {list(self.dims)}")
        batch_rows = check_int("batch_rows", batch_rows, min=1, allow_none=True)
        for part in self.readable_parts() if parts is None else parts:
            reader = pq.ParquetFile(part, memory_map=False, pre_buffer=False)
            for group in range(reader.num_row_groups):
                table = reader.read_row_group(group, columns=columns, use_threads=False)
                yield from table.to_batches(max_chunksize=batch_rows)
                del table

    def _quarantine(self, part: Path, exc: Exception) -> None:
        warnings.warn(f"embedding cache part {part} is unreadable ({exc}); it is moved aside and its images will be embedded again", RuntimeWarning, stacklevel=3)
        try:
            os.replace(part, part.with_name("_corrupt-" + part.name))
        except OSError:
            pass
        self._index_memo.pop(part.name, None)

    def _part_hashes(self, part: Path) -> np.ndarray | None:
        hashes = self._index_memo.get(part.name)
        if hashes is None:
            try:
                table = pq.read_table(part, columns=["hash"])
            except FileNotFoundError:
                return None  # compacted away by another process
            except Exception as exc:  # noqa: BLE001 - any parse error means corruption
                self._quarantine(part, exc)
                return None
            hashes = np.asarray(table.column("hash").to_pylist(), dtype=object)
            self._index_memo[part.name] = hashes
        return hashes

    def hashes(self) -> set[str]:
        """Every hash held for this signature."""
        out: set[str] = set()
        for part in self.parts():
            h = self._part_hashes(part)
            if h is not None:
                out.update(h.tolist())
        return out

    def get(self, hashes: Sequence[str], *, columns: Sequence[str] | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Vectors of ``hashes``.

        Parameters
        ----------
        hashes : sequence of str
            Content hashes (repeats allowed).
        columns : sequence of str, optional
            The blocks (tap columns) to read; only their Parquet columns are
            decoded. Default: every block of this signature.

        Returns
        -------
        found : ndarray of bool
            Which of ``hashes`` are in the cache.
        blocks : dict of str to ndarray
            Block -> ``(len(hashes), dim)`` float32, for each of ``columns``;
            rows not found are NaN.

        Raises
        ------
        BlockError
            A column that is not a block of this signature.
        """
        if columns is not None:
            columns = list(dict.fromkeys(columns))
            unknown = [c for c in columns if c not in self.dims]
            if unknown:
                raise BlockError(f"no block {unknown[0]!r} in {self.signature_id}; available: {list(self.dims)}")
        for attempt in range(3):
            try:
                return self._get(hashes, list(self.dims) if columns is None else columns)
            except FileNotFoundError:  # a part vanished under a concurrent compaction: relist
                if attempt == 2:
                    raise
                time.sleep(0.05)
        raise AssertionError("unreachable")

    def _get(self, hashes: Sequence[str], columns: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        wanted: dict[str, list[int]] = {}
        for i, h in enumerate(hashes):
            wanted.setdefault(h, []).append(i)
        n = len(hashes)
        found = np.zeros(n, dtype=bool)
        dims = {b: self.dims[b] for b in columns}
        blocks = {b: np.full((n, d), np.nan, dtype=np.float32) for b, d in dims.items()}
        remaining = set(wanted)
        for part in self.parts():
            if not remaining:
                break
            part_hashes = self._part_hashes(part)
            if part_hashes is None:
                continue
            rows = np.flatnonzero(np.isin(part_hashes, list(remaining))).tolist()
            if not rows:
                continue
            try:
                table, take = self._read_rows(part, np.asarray(rows), columns)
            except FileNotFoundError:
                raise
            except Exception as exc:  # noqa: BLE001
                self._quarantine(part, exc)
                continue
            for block, dim in dims.items():
                values = table.column(block).combine_chunks().flatten().to_numpy(zero_copy_only=False).reshape(-1, dim)[take]
                for r, j in enumerate(rows):
                    h = part_hashes[j]
                    if h in remaining:
                        blocks[block][wanted[h]] = values[r]
            for j in rows:
                h = part_hashes[j]
                if h in remaining:
                    found[wanted[h]] = True
                    remaining.discard(h)
        return found, blocks

    def _read_rows(self, part: Path, rows: np.ndarray, columns: list[str]) -> tuple[pa.Table, np.ndarray]:
        """The row groups of ``part`` holding ``rows`` (sorted positions), and where the rows are in them."""
        reader = pq.ParquetFile(part)
        meta = reader.metadata
        starts = np.cumsum([0] + [meta.row_group(g).num_rows for g in range(meta.num_row_groups)])
        group_of = np.searchsorted(starts, rows, side="right") - 1
        groups = np.unique(group_of)
        offsets = np.concatenate([[0], np.cumsum(np.diff(starts)[groups])[:-1]])
        table = reader.read_row_groups(groups.tolist(), columns=columns)
        return table, rows - starts[group_of] + offsets[np.searchsorted(groups, group_of)]

    # -- writing ---------------------------------------------------------
    def _table(self, hashes: Sequence[str], blocks: Mapping[str, np.ndarray]) -> pa.Table:
        columns = {"hash": pa.array(list(hashes), type=pa.string())}
        for block, dim in self.dims.items():
            arr = np.ascontiguousarray(blocks[block], dtype=np.float32)
            if arr.shape != (len(hashes), dim):
                raise CacheError(f"block {block} has shape {arr.shape}, expected {(len(hashes), dim)}")
            columns[block] = pa.FixedSizeListArray.from_arrays(pa.array(arr.reshape(-1)), dim)
        return pa.table(columns)

    @property
    def row_group_rows(self) -> int:
        """Rows per Parquet row group of the parts written here (see :data:`ROW_GROUP_BYTES`)."""
        widest = 4 * max(self.dims.values(), default=1)
        return int(np.clip(ROW_GROUP_BYTES // widest, *ROW_GROUP_ROWS))

    @property
    def part_rows(self) -> int:
        """Rows of a full part (see :data:`PART_BYTES`): whole row groups, at least one."""
        row_bytes = 4 * max(1, sum(self.dims.values()))
        return int(max(1, PART_BYTES // (row_bytes * self.row_group_rows)) * self.row_group_rows)

    def _schema(self) -> pa.Schema:
        return pa.schema([("hash", pa.string())] + [(b, pa.list_(pa.float32(), d)) for b, d in self.dims.items()])

    def _begin_part(self) -> tuple[Path, Path]:
        name = f"part-{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.parquet"
        return self.folder / f".tmp-{name}", self.folder / name

    def _writer(self, sink) -> pq.ParquetWriter:
        # no dictionary encoding: hashes are unique and float vectors hardly repeat, so the writer's
        # dictionary attempt only costs time before it falls back to plain; statistics only for the
        # hash (min/max of a vector's elements say nothing)
        return pq.ParquetWriter(sink, self._schema(), compression="zstd", use_dictionary=False, write_statistics=["hash"])

    def _end_part(self, tmp: Path, final: Path, f) -> None:
        f.flush()
        os.fsync(f.fileno())
        f.close()
        os.replace(tmp, final)
        fsync_path(self.folder)

    def write(self, hashes: Sequence[str], blocks: Mapping[str, np.ndarray]) -> Path | None:
        """Commit one batch of vectors as a new part, atomically. Returns its path."""
        if len(hashes) == 0:
            return None
        table = self._table(hashes, blocks)
        tmp, final = self._begin_part()
        try:
            with open(tmp, "wb") as f:
                with self._writer(f) as writer:
                    writer.write_table(table, row_group_size=self.row_group_rows)
                self._end_part(tmp, final, f)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise CacheError(f"cannot write to the embedding cache {self.folder}: {exc}") from None
        self._index_memo[final.name] = np.asarray(list(hashes), dtype=object)
        return final

    def sweep_temporary(self, older_than: float = STALE_TMP_SECONDS) -> int:
        """Delete hidden temporary files left by writers that died. Returns the count."""
        older_than = check_real("older_than", older_than)
        now, removed = time.time(), 0
        for tmp in self.folder.glob(".tmp-*"):
            try:
                if now - tmp.stat().st_mtime > older_than:
                    tmp.unlink()
                    removed += 1
            except OSError:
                continue
        return removed

    def compact(self, *, min_parts: int = 2) -> bool:
        """Merge the parts that are not full, dropping duplicate hashes.

        Full parts (:attr:`part_rows` rows or more, written with this
        version's row groups) are left as they are, so compacting a growing cache never
        rewrites it whole, and the merge streams one row group at a time into
        new full parts (plus one remainder): its memory is a few row groups
        and the hashes, whatever the cache's size. A hash already in a full
        part, or earlier in the merge, is dropped.

        Safe with concurrent writers and readers: it takes a non-blocking
        lock (another compaction in progress means this one is skipped), writes
        each new part atomically, then deletes only the parts it merged (a
        crash in between leaves duplicate rows, which readers skip and the next
        compaction drops). Returns True when it merged.
        """
        min_parts = check_int("min_parts", min_parts, min=1)
        lock_path = self.folder / ".compact.lock"
        with open(lock_path, "a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            full, small = [], []
            for part in self.parts():
                is_full = self._full(part)
                if is_full is not None:
                    (full if is_full else small).append(part)
            if len(small) < min_parts:
                return False
            seen: set[str] = set()
            for part in full:
                hashes = self._part_hashes(part)
                if hashes is not None:
                    seen.update(hashes.tolist())
            merged = []
            try:
                self._merge(small, seen, merged)
            except OSError as exc:
                raise CacheError(
                    f"cannot compact the embedding cache {self.folder}: {exc}; no vectors are lost (the parts "
                    "written before the error duplicate rows that readers skip and the next compaction drops)"
                ) from None
            for part in merged:
                part.unlink(missing_ok=True)
                self._index_memo.pop(part.name, None)
            fsync_path(self.folder)
            return True

    def compact_if_needed(self) -> bool:
        """Compact when more than :data:`COMPACT_THRESHOLD` parts are not full (see :meth:`compact`).

        Called after an embedding run, when its vectors are committed: a
        compaction that fails (a full disk, say) is reported as a warning, not
        raised, since nothing was lost. Returns True when it merged.
        """
        if len(self.parts()) <= COMPACT_THRESHOLD:  # cheap test first: a directory listing
            return False
        try:
            return self.compact(min_parts=COMPACT_THRESHOLD + 1)
        except CacheError as exc:
            warnings.warn(str(exc), RuntimeWarning, stacklevel=2)
            return False

    def _merge(self, parts: list[Path], seen: set[str], merged: list[Path]) -> None:
        """Stream ``parts`` into new parts, skipping hashes in ``seen``; append each part read to ``merged``.

        A source part that cannot be read is quarantined like the readers do (the rows read before
        the damage are kept); an error on the output side propagates.
        """
        with _PartWriter(self) as out:
            for part in parts:
                try:
                    reader = pq.ParquetFile(part)
                except FileNotFoundError:  # moved aside by a reader meanwhile: nothing to merge
                    continue
                except Exception as exc:  # noqa: BLE001 - any parse error means corruption
                    self._quarantine(part, exc)
                    continue
                damaged = False
                for group in range(reader.num_row_groups):
                    try:
                        table = reader.read_row_group(group, columns=["hash", *self.dims])
                    except Exception as exc:  # noqa: BLE001 - a damaged page (pyarrow says OSError)
                        self._quarantine(part, exc)
                        damaged = True
                        break
                    keep = []
                    for row, h in enumerate(table.column("hash").to_pylist()):
                        if h not in seen:
                            seen.add(h)
                            keep.append(row)
                    if keep:
                        out.add(table if len(keep) == table.num_rows else table.take(keep))
                if not damaged:
                    merged.append(part)

    def _full(self, part: Path) -> bool | None:
        """Whether compaction leaves ``part`` alone: at least :attr:`part_rows` rows, in row groups
        no larger than this version writes (older, larger ones are rewritten once). None: unreadable."""
        try:
            meta = pq.ParquetFile(part).metadata
        except FileNotFoundError:  # moved aside by a reader meanwhile
            return None
        except Exception as exc:  # noqa: BLE001 - any parse error means corruption
            self._quarantine(part, exc)
            return None
        groups = (meta.row_group(g).num_rows for g in range(meta.num_row_groups))
        return meta.num_rows >= self.part_rows and all(rows <= self.row_group_rows for rows in groups)


class _PartWriter:
    """Streams tables into new parts of a store: row groups of ``store.row_group_rows``, a new part
    every ``store.part_rows`` rows, each committed atomically as it fills (the last on exit)."""

    def __init__(self, store: SignatureStore):
        self.store = store
        self.schema = store._schema()
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.open = None  # (tmp, final, file, writer, hashes)
        self.rows = 0

    def __enter__(self):
        return self

    def add(self, table: pa.Table) -> None:
        self.pending.append(table.select(self.schema.names).cast(self.schema))
        self.pending_rows += table.num_rows
        group = self.store.row_group_rows
        if self.pending_rows < group:
            return
        joined = pa.concat_tables(self.pending)
        whole = self.pending_rows // group * group
        for start in range(0, whole, group):
            self._write(joined.slice(start, group))
        rest = joined.slice(whole)
        self.pending, self.pending_rows = [rest], rest.num_rows

    def _write(self, table: pa.Table) -> None:
        if self.open is None:
            tmp, final = self.store._begin_part()
            f = open(tmp, "wb")
            self.open = (tmp, final, f, self.store._writer(f), [])
            self.rows = 0
        writer, hashes = self.open[3], self.open[4]
        writer.write_table(table, row_group_size=self.store.row_group_rows)
        hashes.extend(table.column("hash").to_pylist())
        self.rows += table.num_rows
        if self.rows >= self.store.part_rows:
            self._finish()

    def _finish(self) -> None:
        tmp, final, f, writer, hashes = self.open
        writer.close()
        self.store._end_part(tmp, final, f)
        self.open = None
        self.store._index_memo[final.name] = np.asarray(hashes, dtype=object)

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                if self.pending_rows:
                    self._write(pa.concat_tables(self.pending))
                if self.open is not None:
                    self._finish()
            except BaseException:
                self._discard()
                raise
        else:
            self._discard()
        return False

    def _discard(self) -> None:
        """Close and delete the part being written, if any (its rows were never committed)."""
        if self.open is None:
            return
        tmp, _, f, writer, _ = self.open
        self.open = None
        try:
            if writer.is_open:
                writer.close()
        except Exception:  # noqa: BLE001 - the first error is the one to report
            pass
        f.close()
        tmp.unlink(missing_ok=True)


class EmbeddingCache:
    """A folder of :class:`SignatureStore` s, one per model signature.

    Parameters
    ----------
    cache_dir : str or path-like, optional
        Default: :func:`cache_root` (``$ATTR_UTILS_CACHE``, else the platform's user cache folder).
    """

    def __init__(self, cache_dir: str | os.PathLike | None = None):
        self.root = cache_root(cache_dir)
        self.embeddings_dir = self.root / "embeddings"

    def store(self, signature: Mapping, dims: Mapping[str, int]) -> SignatureStore:
        """The store for ``signature`` (created on first use)."""
        digest = signature_hash(signature)
        name = f"{signature.get('backbone', 'model')}-{digest[:16]}"
        try:
            return SignatureStore(self.embeddings_dir / name, signature, dims)
        except OSError as exc:
            raise CacheError(f"cannot create the embedding cache in {self.embeddings_dir}: {exc}; pass another cache_dir or set {CACHE_ENV}") from None

    def stores_with_taps(self, signature: Mapping) -> list[tuple[SignatureStore, dict[str, str]]]:
        """The other stores of this cache that hold every tap of ``signature``.

        A store qualifies when its signature equals ``signature`` in every
        entry but ``"taps"`` (same backbone, weights, preprocessing, resize,
        input size, pooling, decoder) and its taps include each of
        ``signature``'s taps, matched by layer name and dimension: a
        ``taps="all"`` store holds the five blocks (``block2`` of ResNet-50 is
        its column ``conv2_block3_out``), and so does a list of layers that
        names them. One forward pass computes every tap, so such a column is
        the vector the requested signature would compute.

        Parameters
        ----------
        signature : mapping
            A model signature (:meth:`attr_utils.model.ModelSpec.signature`),
            whose ``"taps"`` lists ``[block, layer, dim]`` per tap.

        Returns
        -------
        list of (SignatureStore, dict of str to str)
            Each qualifying store (``signature``'s own folder excluded) with
            its column for each of ``signature``'s blocks, in folder-name
            order. Folders without a readable ``_signature.json`` are skipped.
        """
        taps = signature.get("taps")
        if not taps or not self.embeddings_dir.is_dir():
            return []
        rest = {k: v for k, v in signature.items() if k != "taps"}
        own = f"{signature.get('backbone', 'model')}-{signature_hash(signature)[:16]}"
        out = []
        for folder in sorted(p for p in self.embeddings_dir.iterdir() if p.is_dir() and p.name != own):
            try:
                store = SignatureStore.open(folder)
            except CacheError:
                continue
            other = store.signature
            if {k: v for k, v in other.items() if k != "taps"} != rest:
                continue
            by_layer = {}
            for tap in other.get("taps") or []:
                try:
                    block, layer, dim = tap
                except (TypeError, ValueError):
                    continue
                if store.dims.get(block) == dim:
                    by_layer[(layer, dim)] = block
            columns = {}
            for block, layer, dim in taps:
                column = by_layer.get((layer, dim))
                if column is None:
                    break
                columns[block] = column
            else:
                out.append((store, columns))
        return out

    def info(self) -> pd.DataFrame:
        """One row per signature: backbone, weights, resize, pooling, taps, rows, unique images, parts, bytes.

        ``pooling`` reads ``"average"``, ``"max"`` or ``"foreground (auto mask)"``
        (``"?"`` for a folder without a signature); ``taps`` reads ``"blocks"``
        for the backbone's five blocks, else the layer names (the first and
        last with a count when more than three).
        """
        rows = []
        if self.embeddings_dir.is_dir():
            for folder in sorted(p for p in self.embeddings_dir.iterdir() if p.is_dir()):
                try:
                    store = SignatureStore.open(folder)
                except CacheError:  # a stray folder without _signature.json: listed, not trusted
                    store = SignatureStore(folder, {}, {})
                sig = store.signature
                parts = store.parts()
                n_rows = 0
                for p in parts:
                    try:
                        n_rows += pq.ParquetFile(p).metadata.num_rows
                    except Exception:  # noqa: BLE001
                        continue
                rows.append({
                    "folder": folder.name,
                    "backbone": sig.get("backbone", "?"),
                    "weights": sig.get("weights", "?"),
                    "resize": sig.get("resize", "?"),
                    "pooling": _pooling_label(sig.get("pooling", "?")),
                    "taps": _taps_label(sig.get("taps")),
                    "rows": n_rows,
                    "images": len(store.hashes()),
                    "parts": len(parts),
                    "bytes": sum(f.stat().st_size for f in folder.iterdir() if f.is_file()),
                })
        return pd.DataFrame(
            rows, columns=["folder", "backbone", "weights", "resize", "pooling", "taps", "rows", "images", "parts", "bytes"]
        )

    def clear(self) -> int:
        """Delete every cached embedding. Returns the number of signatures removed."""
        if not self.embeddings_dir.is_dir():
            return 0
        folders = [p for p in self.embeddings_dir.iterdir() if p.is_dir()]
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        return len(folders)


def _pooling_label(pooling) -> str:
    """A signature's ``"pooling"`` entry for :meth:`EmbeddingCache.info`."""
    if isinstance(pooling, dict):
        return f"{pooling.get('kind', '?')} ({pooling.get('mask', '?')} mask)"
    return {"global_average": "average", "global_max": "max"}.get(str(pooling), str(pooling))


def _taps_label(taps) -> str:
    """A signature's ``"taps"`` entry (``[[block, layer, dim], ...]``) for :meth:`EmbeddingCache.info`."""
    if not taps:
        return "?"
    names = [str(t[0]) for t in taps]
    if all(t[0] != t[1] for t in taps):  # named blocks (block1 ...), not layers
        return "blocks"
    return ", ".join(names) if len(names) <= 3 else f"{len(names)} layers: {names[0]} ... {names[-1]}"
