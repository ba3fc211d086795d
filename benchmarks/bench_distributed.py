"""Benchmark: one process vs a Dask LocalCluster, and the streaming index build's memory.

What it measures (prints one JSON document; ``--out`` also writes it to a file):

* ``embedding``: ``N`` generated 224 px JPEGs embedded with ResNet-50 (random
  initialisation saved to a weights file, which every worker loads: the
  figures are throughput, not accuracy) into fresh caches

  - by one process (TensorFlow using every core), and
  - by a LocalCluster of ``--workers`` processes with one thread each
    (:func:`attr_utils.scale.distributed.embed_distributed`),

  with the cluster's start-up (processes, TensorFlow import, model build)
  timed apart from its steady-state throughput; ``per_worker_images_per_s``
  and the overhead of the cluster against the single process on the same
  cores follow, then an estimate for 1M images on N workers.
* ``streaming_index``: peak resident memory of
  :func:`attr_utils.retrieval.index_from_cache.load_block` and of
  :func:`attr_utils.retrieval.index_from_cache.build_index_from_cache` (exact and IVF) on a
  synthetic cache of ``--index-rows`` x ``--index-dim``, each in a fresh
  subprocess (``streaming_memory_job.py``: VmHWM above a cold baseline, after
  imports, and above a warm one, after the same build on 2,000 rows), against
  the size of the float32 vectors; then the same for the compaction of that
  cache (:meth:`attr_utils.cache.SignatureStore.compact`).

Run: ``python benchmarks/bench_distributed.py --images 256 --workers 2``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_images(folder: Path, n: int, size: int = 224, seed: int = 0) -> Path:
    """``n`` noisy colour JPEGs of ``size`` px in 3 class folders."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for i in range(n):
        cls = folder / f"class{i % 3}"
        cls.mkdir(parents=True, exist_ok=True)
        base = rng.integers(0, 256, 3)
        arr = np.clip(base + rng.normal(0, 30, (size, size, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(arr).save(cls / f"img{i:06d}.jpg", quality=90)
    return folder


def random_weights_file(path: Path) -> str:
    """A seeded random-init ResNet-50 saved to ``path`` (workers load the file)."""
    from attr_utils.model import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(0)
    keras.applications.ResNet50(include_top=False, weights=None, input_shape=(224, 224, 3)).save_weights(path)
    return str(path)


def bench_single(data: Path, weights: str, cache: Path, batch_size: int) -> dict:
    from attr_utils.embedder import Embedder

    t0 = time.perf_counter()
    embedder = Embedder("resnet50", weights, cache_dir=cache, batch_size=batch_size)
    embedder.forward(np.zeros((1, 224, 224, 3), dtype=np.uint8))  # build + first call (graph tracing)
    startup = time.perf_counter() - t0
    t1 = time.perf_counter()
    report = embedder.fill_dataset(data, progress=False)
    seconds = time.perf_counter() - t1
    return {
        "startup_s": round(startup, 2),
        "embed_s": round(seconds, 2),
        "images": report.embedded,
        "images_per_s": round(report.embedded / seconds, 2),
        "wall_s": round(startup + seconds, 2),
    }


def bench_cluster(data: Path, weights: str, cache: Path, warm_cache: Path, batch_size: int, workers: int, warm_data: Path) -> dict:
    from distributed import Client, LocalCluster

    from attr_utils.scale.distributed import embed_distributed, worker_thread_env

    threads = max(1, (os.cpu_count() or 1) // workers)
    t0 = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=50, env=worker_thread_env(threads)) as cluster, Client(cluster) as client:
        cluster_s = time.perf_counter() - t0
        # warm every worker: one tiny shard each loads TensorFlow and builds the model
        embed_distributed(warm_data, scheduler=client, weights=weights, cache_dir=warm_cache, batch_size=batch_size,
                          shard_size=1, progress=False)
        startup = time.perf_counter() - t0
        report = embed_distributed(data, scheduler=client, weights=weights, cache_dir=cache, batch_size=batch_size, progress=False)
    return {
        "workers": workers,
        "tf_threads_per_worker": threads,
        "cluster_start_s": round(cluster_s, 2),
        "startup_s": round(startup, 2),
        "embed_s": round(report.seconds, 2),
        "images": report.embedded,
        "shards": report.shards,
        "images_per_s": round(report.embedded / report.seconds, 2),
        "per_worker_images_per_s": round(report.embedded / report.seconds / workers, 2),
        "wall_s": round(startup + report.seconds, 2),
    }


MEMORY_JOB = Path(__file__).with_name("streaming_memory_job.py")


def bench_streaming_memory(rows: int, dim: int, part_rows: int, folder: Path) -> dict:
    from attr_utils.cache import EmbeddingCache

    store = EmbeddingCache(folder).store({"backbone": "synthetic", "dim": dim}, {"block": dim})
    rng = np.random.default_rng(0)
    written = 0
    while written < rows:
        m = min(part_rows, rows - written)
        hashes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(written, written + m)]
        store.write(hashes, {"block": rng.standard_normal((m, dim), dtype=np.float32)})
        written += m
    dup = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(part_rows)]
    store.write(dup, {"block": rng.standard_normal((part_rows, dim), dtype=np.float32)})  # duplicates
    out = {"rows": rows, "dim": dim, "parts": len(store.parts()), "duplicate_rows": part_rows,
           "row_group_rows": store.row_group_rows}
    for what in ("load", "exact", "ivf", "compact"):  # compact last: it rewrites the folder
        out[what] = json.loads(subprocess.run([sys.executable, str(MEMORY_JOB), str(store.folder), "block", what],
                                              check=True, capture_output=True, text=True).stdout)
    return out


def estimate(single: dict, cluster: dict, images: int = 1_000_000) -> dict:
    per_worker = cluster["per_worker_images_per_s"]
    efficiency = cluster["images_per_s"] / max(1e-9, single["images_per_s"])
    rows = []
    for n in (2, 8, 32, 64, 128):
        rate = n * per_worker
        rows.append({"workers": n, "images_per_s": round(rate, 1), "hours": round((images / rate + cluster["startup_s"]) / 3600, 2)})
    return {
        "images": images,
        "per_worker_images_per_s": per_worker,
        "cluster_vs_single_process_same_cores": round(efficiency, 3),
        "by_workers": rows,
        "reasoning": (
            "Shards are independent (no communication between workers; each writes its own Parquet parts), so "
            "throughput scales with the number of workers until the shared storage or the scheduler saturates: "
            "hours = 1e6 / (N x per-worker rate) + start-up. The per-worker rate measured here is one worker "
            "process on ONE core of this machine (ResNet-50, 224 px, batch 32); a worker owning a c-core machine "
            "runs at roughly c x that rate (TensorFlow parallelises the convolutions; less than linear), so count "
            "N in cores, not machines. Storage: each image adds 3904 float32 (15.6 KB) over the five blocks, "
            "i.e. ~16 GB for 1M images, written at N x rate x 15.6 KB/s (a few MB/s at 128 workers), and the "
            "images themselves are read once; the scheduler handles ~1000 tasks/s, far above the ~N/100 "
            "shard completions per second here. With fewer than ~4 shards per worker the tail (the last "
            "shards running alone) adds up to one shard's time."
        ),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--index-rows", type=int, default=400_000)
    parser.add_argument("--index-dim", type=int, default=256)
    parser.add_argument("--skip-embedding", action="store_true")
    parser.add_argument("--skip-index", action="store_true")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "backbone": "resnet50",
        "weights": "random init saved to a file (RANDOM WEIGHTS: throughput only)",
    }
    with tempfile.TemporaryDirectory(prefix="bench-distributed-") as tmp:
        tmp = Path(tmp)
        if not args.skip_embedding:
            data = make_images(tmp / "data", args.images)
            warm = make_images(tmp / "warm", 2 * args.workers, seed=1)
            weights = random_weights_file(tmp / "resnet50_random0.weights.h5")
            single = bench_single(data, weights, tmp / "cache-single", args.batch_size)
            cluster = bench_cluster(data, weights, tmp / "cache-cluster", tmp / "cache-warm", args.batch_size, args.workers, warm)
            result["embedding"] = {
                "images": args.images,
                "image_size": 224,
                "batch_size": args.batch_size,
                "single_process": single,
                "local_cluster": cluster,
                "steady_state_overhead": round(1 - cluster["images_per_s"] / single["images_per_s"], 3),
                "extra_startup_s": round(cluster["startup_s"] - single["startup_s"], 2),
            }
            result["estimate_1M"] = estimate(single, cluster)
        if not args.skip_index:
            result["streaming_index"] = bench_streaming_memory(args.index_rows, args.index_dim, 8192, tmp / "synthetic-cache")
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
