"""Speed of the analyses (issue 5 targets), on synthetic vectors shaped like cached embeddings.

Prints one JSON object with these sections:

* ``table1``     block_accuracy + summarize_accuracy for 5 blocks
                 (64/256/512/1024/2048-d) on N vectors, 10 classes.
                 Target: <= 5 s for N=1,000.
* ``clustering`` clustering_metrics (raw HDBSCAN, paper settings) for the
                 same 5 blocks.
* ``table2``     the full reduction_sweep (both protocols, 5 folds, default
                 dims 2, 4, ... below the block's dimension, then the
                 unreduced row) of one block per requested dimension, on a
                 cold UMAP cache, for each requested ``n_jobs``; then the
                 same sweep again on the warm cache, in this process and in a
                 fresh one (which neither fits nor imports umap, so compiles
                 nothing). Target: <= 180 s on 2
                 cores for N=1,000. numba's one-off compilation in this
                 process is paid by a small warm-up fit before the timer and
                 reported as ``umap_warmup_s``.
* ``numba``      two fresh processes, one after the other, each timing
                 ``import_umap()`` and a first small fit: the second should
                 not recompile what numba caches (``cache=True`` functions).

Wall-clock times depend on what else runs on the machine (``loadavg`` is
recorded); with ``n_jobs=1`` every step is single-threaded, so the CPU time
(``cpu_s``) is what the same step takes on an otherwise idle machine.

Usage: python benchmarks/bench_analysis.py [--n 1000] [--sweep-dims 256,1024] [--n-jobs 1,2] [--skip-numba]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

BLOCK_DIMS = {"block1": 64, "block2": 256, "block3": 512, "block4": 1024, "block5": 2048}


def synthetic_embeddings(n: int, dims: dict[str, int], *, classes: int = 10, seed: int = 0):
    from sklearn.datasets import make_blobs

    from attr_utils.embeddings import Embeddings

    blocks, y = {}, None
    for i, (name, d) in enumerate(dims.items()):
        X, y_i = make_blobs(n_samples=n, n_features=d, centers=classes, cluster_std=6.0, random_state=seed + i)
        if y is None:
            y = y_i
        else:  # align rows with the first block's classes
            order = np.argsort(y_i, kind="stable")
            target = np.argsort(np.argsort(y, kind="stable"), kind="stable")
            X = X[order][target]
        blocks[name] = X.astype(np.float32)
    return Embeddings.from_arrays(blocks, {"color": [f"c{c}" for c in y]}, backbone="synthetic", weights="none")


def bench_table1(emb) -> dict:
    from attr_utils.analysis import block_accuracy, summarize_accuracy

    block_accuracy(emb.subset(np.arange(0, len(emb), 5)), "color")  # import scikit-learn/scipy outside the timer
    t, c = time.perf_counter(), time.process_time()
    summary = summarize_accuracy(block_accuracy(emb, "color"))
    seconds = time.perf_counter() - t
    return {
        "seconds": round(seconds, 3),
        "cpu_s": round(time.process_time() - c, 3),
        "target_s": 5.0,
        "meets_target": seconds <= 5.0,
        "mean_accuracy": {r.block: round(float(r.mean), 4) for r in summary.itertuples()},
    }


def bench_clustering(emb) -> dict:
    from attr_utils.analysis import clustering_metrics

    t, c = time.perf_counter(), time.process_time()
    res = clustering_metrics(emb, "color")
    return {
        "seconds": round(time.perf_counter() - t, 3),
        "cpu_s": round(time.process_time() - c, 3),
        "ari": {r.block: round(float(r.ari), 4) for r in res.itertuples()},
        "noise_fraction": {r.block: round(float(r.noise_fraction), 4) for r in res.itertuples()},
    }


def bench_table2(n: int, dim: int, n_jobs_list: list[int]) -> dict:
    from attr_utils.analysis import default_dims, reduction_sweep, summarize_accuracy

    emb = synthetic_embeddings(n, {"block": dim})
    out = {"dim": dim, "umap_dims": default_dims(dim), "runs": []}
    for n_jobs in n_jobs_list:
        with tempfile.TemporaryDirectory() as cache:
            t, c = time.perf_counter(), time.process_time()
            res = reduction_sweep(emb, "color", block="block", n_jobs=n_jobs, cache_dir=cache)
            cold = time.perf_counter() - t
            cold_cpu = time.process_time() - c  # this process only: meaningful for n_jobs=1
            t = time.perf_counter()
            reduction_sweep(emb, "color", block="block", n_jobs=n_jobs, cache_dir=cache)
            warm = time.perf_counter() - t
            fresh = _fresh_process_sweep(n, dim, cache)
        summary = summarize_accuracy(res)
        print(f"table2 dim={dim} n_jobs={n_jobs}: cold {cold:.1f} s, warm {warm:.1f} s", file=sys.stderr, flush=True)
        out["runs"].append(
            {
                "n_jobs": n_jobs,
                "cold_cache_s": round(cold, 2),
                "cold_cache_cpu_s_this_process": round(cold_cpu, 2),
                "warm_cache_s": round(warm, 2),
                "warm_cache_fresh_process": fresh,
                "target_s": 180.0,
                "meets_target": cold <= 180.0,
                "accuracy": {
                    f"{r.protocol}:{r.dim}": round(float(r.mean), 4) for r in summary.itertuples()
                },
            }
        )
    return out


_FRESH_SWEEP = """
import json, sys, time
sys.path.insert(0, {bench_dir!r})
from bench_analysis import synthetic_embeddings
from attr_utils.analysis import reduction_sweep
emb = synthetic_embeddings({n}, {{"block": {dim}}})
t = time.perf_counter()
reduction_sweep(emb, "color", block="block", cache_dir={cache!r})
print(json.dumps({{"sweep_s": round(time.perf_counter() - t, 2), "umap_imported": "umap" in sys.modules}}))
"""


def _fresh_process_sweep(n: int, dim: int, cache: str) -> dict:
    """The same sweep in a new process on the warm coordinate cache: nothing to fit or compile."""
    code = _FRESH_SWEEP.format(bench_dir=os.path.dirname(os.path.abspath(__file__)), n=n, dim=dim, cache=cache)
    proc = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


_NUMBA_PROBE = """
import json, time
t = time.perf_counter()
from attr_utils.analysis.umap_cache import import_umap
umap = import_umap()
t_import = time.perf_counter() - t
import numpy as np
X = np.random.default_rng(0).normal(size=(300, 32)).astype(np.float32)
t = time.perf_counter()
umap.UMAP(n_components=2, random_state=0, n_jobs=1).fit_transform(X)
print(json.dumps({"import_s": round(t_import, 2), "first_fit_s": round(time.perf_counter() - t, 2)}))
"""


def bench_numba() -> dict:
    runs = []
    for _ in range(2):
        proc = subprocess.run(
            [sys.executable, "-W", "ignore", "-c", _NUMBA_PROBE], capture_output=True, text=True, check=True
        )
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    import numba

    return {
        "first_process": runs[0],
        "second_process": runs[1],
        "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", "(numba default: __pycache__ beside sources, else user cache)"),
        "numba": numba.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="vectors (default: 1000)")
    parser.add_argument("--sweep-dims", default="256,1024", help="block dimensions swept for Table 2 (default: 256,1024)")
    parser.add_argument("--n-jobs", default="1,2", help="n_jobs values for the sweep (default: 1,2)")
    parser.add_argument("--skip-numba", action="store_true", help="skip the two-process numba cache check")
    parser.add_argument("--skip-sweep", action="store_true", help="skip Table 2")
    args = parser.parse_args()

    result = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        },
        "n": args.n,
    }
    if not args.skip_numba:
        result["numba"] = bench_numba()
    emb = synthetic_embeddings(args.n, BLOCK_DIMS)
    result["table1"] = bench_table1(emb)
    result["clustering"] = bench_clustering(emb)
    if not args.skip_sweep:
        from attr_utils.analysis.umap_cache import cached_umap

        t = time.perf_counter()
        X = np.random.default_rng(0).normal(size=(200, 16)).astype(np.float32)
        cached_umap(X, n_components=2, cache=False)
        cached_umap(X[:150], X[150:], n_components=2, cache=False)
        result["umap_warmup_s"] = round(time.perf_counter() - t, 2)
        n_jobs = [int(j) for j in args.n_jobs.split(",")]
        result["table2"] = [bench_table2(args.n, int(d), n_jobs) for d in args.sweep_dims.split(",")]
    result["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
