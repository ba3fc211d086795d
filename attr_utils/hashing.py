"""Content hashes used by the cache and by weights identities."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["bytes_sha256", "file_sha256", "read_and_hash", "read_bytes_and_hash"]

_CHUNK = 1 << 20
_FILE_MEMO: dict[tuple[str, int, int], str] = {}


def bytes_sha256(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, streamed, memoised on (path, size, mtime).

    Weights files are large (about 100 MB); the memo makes repeated
    resolutions in one process free while still noticing a replaced file.
    """
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    cached = _FILE_MEMO.get(key)
    if cached is not None:
        return cached
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    digest = h.hexdigest()
    _FILE_MEMO[key] = digest
    return digest


def read_and_hash(path: str | os.PathLike) -> tuple[str | None, str | None]:
    """``(sha256, None)`` of a file's bytes, or ``(None, reason)`` when it cannot be used.

    The one reader of every per-image path that hashes before decoding (the
    embedder, the Dask workers, catalog tagging): a missing, unreadable or
    empty file is a reason to report, never an exception.
    """
    _, digest, reason = read_bytes_and_hash(path)
    return digest, reason


def read_bytes_and_hash(path: str | os.PathLike) -> tuple[bytes | None, str | None, str | None]:
    """``(data, sha256, None)`` of a file, or ``(None, None, reason)`` when it cannot be used.

    :func:`read_and_hash` that also returns the bytes it hashed, so that a
    caller that decodes them next (the embedder) reads and hashes each file
    once; same reasons.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return None, None, "missing file"
    except OSError as exc:
        return None, None, f"cannot read file: {exc.strerror or exc}"
    if not data:
        return None, None, "empty file"
    return data, bytes_sha256(data), None
