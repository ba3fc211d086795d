"""Throughput of the synthetic catalog generator (images per second).

Generates the same catalog (default: per_class=100, i.e. 1000 images at 224 px)
with 1 and with 2 worker processes into temporary folders, checks that both
runs wrote byte-identical files, and prints one JSON object:

    python benchmarks/bench_synth.py [--per-class 100] [--size 224] [--workers 1 2]

Wall-clock figures depend on what else the machine is running; the load
average at the start is recorded next to them, and the CPU time per image
(this process plus its workers) gives a load-independent figure: on an idle
machine, W workers reach about ``W * 1000 / cpu_ms_per_image`` images/s.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import tempfile
import time
from pathlib import Path


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted((folder / "images").iterdir()):
        h.update(p.read_bytes())
    h.update((folder / "labels.csv").read_bytes())
    return h.hexdigest()


def main() -> None:
    from attr_utils.synth import generate_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    load = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    results = []
    digests = set()
    with tempfile.TemporaryDirectory() as tmp:
        for w in args.workers:
            out = Path(tmp) / f"w{w}"
            t0 = os.times()
            start = time.perf_counter()
            generate_dataset(out, per_class=args.per_class, seed=args.seed, size=args.size, workers=w, sheet=False)
            seconds = time.perf_counter() - start
            t1 = os.times()
            cpu = (t1.user + t1.system + t1.children_user + t1.children_system) - (
                t0.user + t0.system + t0.children_user + t0.children_system
            )
            n = 10 * args.per_class
            digests.add(_digest(out))
            results.append(
                {
                    "workers": w,
                    "images": n,
                    "seconds": round(seconds, 2),
                    "images_per_second": round(n / seconds, 1),
                    # CPU time of this process and its workers: independent of other load
                    "cpu_ms_per_image": round(1000 * cpu / n, 1),
                }
            )
    print(
        json.dumps(
            {
                "benchmark": "synth",
                "size": args.size,
                "per_class": args.per_class,
                "seed": args.seed,
                "cpu_count": os.cpu_count(),
                "load_average_at_start": load,
                "python": platform.python_version(),
                "identical_across_workers": len(digests) == 1,
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
