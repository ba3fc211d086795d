"""Peak memory of one streamed build, in this (fresh) process; prints one JSON line.

Usage: ``python benchmarks/streaming_memory_job.py FOLDER BLOCK {load,exact,ivf,compact} [OPTIONS_JSON]``

``compact`` merges the folder's parts (:meth:`SignatureStore.compact`, which
changes the folder: run it last) and reports its peak against the size of
every block's vectors.

FOLDER is a signature folder of the embedding cache. Two baselines are
reported, both as bytes above them at the peak (VmHWM) and as a ratio to the
float32 vectors' size:

* ``cold``: resident memory after importing the modules. The peak above it
  includes one-time initialisation that does not grow with the catalog: the
  Parquet reader's and faiss's code pages and the allocators' first arenas
  (tens of MB).
* ``warm``: resident memory after the same build over a 2,000-row store (4 parts) with
  the same blocks, so that the one-time costs are paid before the baseline:
  what the catalog itself costs.

Run by ``bench_distributed.py`` and by ``tests/test_streaming.py``.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import faiss  # noqa: F401  (imported before the baselines: module code is not data)
import numpy as np
import pyarrow.parquet as pq

import attr_utils.retrieval.index  # noqa: F401
import attr_utils.retrieval.index_from_cache as streaming
from attr_utils.cache import EmbeddingCache, SignatureStore


def _status(field: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status (Linux only)")


def _build(source, block: str, what: str, options: dict):
    if what == "compact":
        store = source if isinstance(source, SignatureStore) else SignatureStore.open(Path(source))
        rows = sum(pq.ParquetFile(p).metadata.num_rows for p in store.parts())
        if not store.compact(**options):
            raise SystemExit(f"nothing to compact in {store.folder}")
        return rows, rows * 4 * sum(store.dims.values())
    if what == "load":
        hashes, vectors = streaming.load_block(source, block, **options)
        return len(hashes), vectors.nbytes
    index, hashes = streaming.build_index_from_cache(source, block, kind=what, **options)
    return len(hashes), index.ntotal * index.dim * 4


def main(argv: list[str]) -> int:
    folder, block, what = argv[:3]
    options = json.loads(argv[3]) if len(argv) > 3 else {}
    cold = _status("VmRSS")
    dims = SignatureStore.open(Path(folder)).dims
    with tempfile.TemporaryDirectory(prefix="warmup-") as tmp:
        warmup = EmbeddingCache(tmp).store({"backbone": "warmup"}, dims)
        rng = np.random.default_rng(0)
        for start in range(0, 2000, 500):
            warmup.write([hashlib.sha256(b"warmup%d" % i).hexdigest() for i in range(start, start + 500)],
                         {b: rng.standard_normal((500, d), dtype=np.float32) for b, d in dims.items()})
        _build(warmup, block, what, options)
        del warmup, rng
        warm = _status("VmRSS")
        cold_peak = _status("VmHWM")  # the warm-up's own peak, above the cold baseline
        start = time.perf_counter()
        n, size = _build(folder, block, what, options)
        seconds = time.perf_counter() - start
    peak = _status("VmHWM")
    print(json.dumps({
        "what": what, "rows": n, "vectors_bytes": size, "seconds": round(seconds, 2),
        "cold_extra_bytes": peak - cold, "warm_extra_bytes": peak - warm,
        "cold_ratio": round((peak - cold) / size, 3), "warm_ratio": round((peak - warm) / size, 3),
        "warmup_peak_extra_bytes": cold_peak - cold,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
