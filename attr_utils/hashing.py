"""Content hashes used by the cache and by weights identities."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["bytes_sha256", "file_sha256"]

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
