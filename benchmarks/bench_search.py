"""Benchmark of the nearest-neighbour indexes behind retrieval (issue 6).

For each catalog size (10k, 100k, 1M) and vector dimension (256, 1024) this
builds the exact index and the ANN index that ``build_index(kind="ann")``
builds (faiss IVF-Flat, nprobe calibrated to recall@10 >= 0.95), and reports
per index: build time, memory, single-query latency p50/p99 (one query per
call, as a search request arrives) and recall@10 against exact search on
held-out queries.

Two kinds of data:

* ``uniform``: i.i.d. uniform [0, 1) vectors, as the issue asks. This is the
  worst case for any ANN method: no structure, neighbours barely nearer than
  anything else.
* ``clustered``: a Gaussian mixture (``n/1000`` centres, isotropic noise), closer
  to real embeddings, which concentrate around a few modes.

Every record is printed as one JSON line as soon as it is measured (partial
results survive a time limit); a final JSON array is written with ``--out``.

Usage::

    python benchmarks/bench_search.py                # full grid (about 20-30 min on 2 cores)
    python benchmarks/bench_search.py --sizes 10000 --dims 256 --data uniform
    python benchmarks/bench_search.py --hnsw         # also HNSW (slow to build)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time

import numpy as np

from attr_utils.retrieval.index import ANN_KIND, build_index


def make_data(kind: str, n: int, dim: int, rng: np.random.Generator, n_queries: int):
    """Catalog and held-out queries (both float32, rows L2-normalised in place)."""
    total = n + n_queries
    x = np.empty((total, dim), dtype=np.float32)
    if kind == "clustered":
        centres = rng.standard_normal((max(10, n // 1000), dim), dtype=np.float32)
    step = 65_536  # generate in chunks: no float64 temporaries at 1M x 1024
    for s in range(0, total, step):
        e = min(total, s + step)
        if kind == "uniform":
            x[s:e] = rng.random((e - s, dim), dtype=np.float32)
        else:
            x[s:e] = centres[rng.integers(len(centres), size=e - s)]
            x[s:e] += 0.35 * rng.standard_normal((e - s, dim), dtype=np.float32)
        x[s:e] /= np.sqrt(np.einsum("ij,ij->i", x[s:e], x[s:e]))[:, None]
    return x[:n], x[n:].copy()


def latencies_ms(index, queries: np.ndarray, k: int) -> np.ndarray:
    out = np.empty(len(queries))
    index.search(queries[:1], k)  # warm-up
    for i, q in enumerate(queries):
        t = time.perf_counter()
        index.search(q, k)
        out[i] = (time.perf_counter() - t) * 1e3
    return out


def recall(truth: np.ndarray, found: np.ndarray) -> float:
    return float(np.mean([len(set(t) & set(f)) / len(t) for t, f in zip(truth, found)]))


def run_one(data: str, n: int, dim: int, *, kinds, n_queries: int, n_latency_exact: int, k: int, seed: int, sweep: bool,
            nlist: int | None = None, calibrate: bool = True):
    rng = np.random.default_rng(seed)
    t = time.perf_counter()
    x, q = make_data(data, n, dim, rng, n_queries)
    gen_s = time.perf_counter() - t
    records = []
    exact = build_index(x, kind="exact")
    truth_d, truth = exact.search(q, k)  # batched ground truth
    lat = latencies_ms(exact, q[:n_latency_exact], k)
    base = {"data": data, "n": n, "dim": dim, "k": k}
    records.append(
        {**base, "index": "exact", "params": exact.params, "build_s": round(exact.build_seconds, 3),
         "memory_mb": round(exact.memory_bytes / 2**20, 1), "p50_ms": round(float(np.percentile(lat, 50)), 3),
         "p99_ms": round(float(np.percentile(lat, 99)), 3), "latency_queries": len(lat), "recall_at_10": 1.0,
         "data_s": round(gen_s, 1)}
    )
    emit(records[-1])
    for kind in kinds:
        options = {}
        if kind == "ivf":
            options = {"nlist": nlist} if nlist else {}
            if not calibrate:
                options["nprobe"] = 1
        index = build_index(x, kind=kind, seed=seed, **options)
        lat = latencies_ms(index, q, k)
        _, found = index.search(q, k)
        records.append(
            {**base, "index": index.kind, "params": index.params, "build_s": round(index.build_seconds, 2),
             "memory_mb": round(index.memory_bytes / 2**20, 1), "p50_ms": round(float(np.percentile(lat, 50)), 3),
             "p99_ms": round(float(np.percentile(lat, 99)), 3), "latency_queries": len(lat),
             "recall_at_10": round(recall(truth, found), 4)}
        )
        emit(records[-1])
        if index.kind == "ivf" and sweep:  # recall/latency trade-off
            for nprobe in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024):
                if nprobe >= index.nlist:
                    break
                index.set_nprobe(nprobe)
                lat = latencies_ms(index, q[:50], k)
                _, found = index.search(q, k)
                emit({**base, "index": "ivf-sweep", "nprobe": nprobe, "nlist": index.nlist,
                      "p50_ms": round(float(np.percentile(lat, 50)), 3), "recall_at_10": round(recall(truth, found), 4)})
                if np.percentile(lat, 50) > 20:
                    break
        del index
        gc.collect()
    del exact, x, q
    gc.collect()
    return records


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--dims", type=int, nargs="+", default=[256, 1024])
    p.add_argument("--data", nargs="+", default=["uniform", "clustered"], choices=["uniform", "clustered"])
    p.add_argument("--queries", type=int, default=200, help="held-out queries for recall and ANN latency")
    p.add_argument("--exact-latency-queries", type=int, default=50)
    p.add_argument("--hnsw", action="store_true", help="also build HNSW (slow on few cores)")
    p.add_argument("--hnsw-max-n", type=int, default=100_000)
    p.add_argument("--no-sweep", action="store_true", help="skip the IVF nprobe recall/latency sweep")
    p.add_argument("--nlist", type=int, default=None, help="IVF cells (default: the library's, round(sqrt(n)))")
    p.add_argument("--no-calibrate", action="store_true",
                   help="skip the nprobe calibration (report the fixed-nprobe sweep only; saves build time)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="also write all records to this JSON file")
    args = p.parse_args(argv)

    import faiss

    emit({"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
          "faiss": faiss.__version__, "faiss_threads": faiss.omp_get_max_threads(), "ann_kind": ANN_KIND,
          "python": sys.version.split()[0]})
    records = []
    for n in args.sizes:
        for data in args.data:
            for dim in args.dims:
                kinds = [ANN_KIND] + (["hnsw"] if args.hnsw and n <= args.hnsw_max_n else [])
                n_exact = args.exact_latency_queries if n < 1_000_000 else min(args.exact_latency_queries, 20)
                records += run_one(data, n, dim, kinds=kinds, n_queries=args.queries, n_latency_exact=n_exact,
                                   k=10, seed=args.seed, sweep=not args.no_sweep,
                                   nlist=args.nlist, calibrate=not args.no_calibrate)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(records, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
