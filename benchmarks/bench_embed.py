"""Embedding throughput and memory (issue 2 targets; efficientnet-lite0 beside resnet50).

Prints one JSON object. For each backbone, on N generated 224 px PNG images
with random weights (speed does not depend on the weights' values):

* ``cold``   attr_utils.embed on an empty cache, decoding included;
* ``naive``  what a user would write: decode every image with Keras's
  ``load_img``, then one truncated Keras model per block, each run over all
  images, pooled with numpy;
* ``bare``   one forward pass of the multi-output model on pre-decoded,
  preprocessed tensors (this machine's limit);
* ``warm``   attr_utils.embed again on the warm cache.

Targets (resnet50): cold/bare >= 0.9, cold/naive >= 2.3, warm >= 50x cold.
``--memory N`` also embeds N images in a fresh process and reports its peak
RSS (target: <= 3 GB for 1,000 images: images stream, they are not all held).

Usage: python benchmarks/bench_embed.py [--images 256] [--backbones resnet50,efficientnet-lite0] [--memory 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def make_images(folder: Path, n: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        base = rng.integers(0, 255, 3)
        arr = np.clip(base + rng.normal(0, 40, (224, 224, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(arr).save(folder / f"{i:05d}.png")
    return folder


def bench_backbone(name: str, folder: Path, batch_size: int) -> dict:
    import attr_utils as au
    from attr_utils.embedder import Embedder
    from attr_utils.model import import_keras

    keras = import_keras()
    paths = sorted(str(p) for p in folder.glob("*.png"))
    n = len(paths)
    with tempfile.TemporaryDirectory() as cache:
        # build (and warm up) the model outside the timed region: all variants pay it once
        embedder = Embedder(name, "random", cache_dir=cache, batch_size=batch_size)
        model = embedder.model
        warm_x = np.zeros((batch_size, 224, 224, 3), dtype=np.uint8)
        model(warm_x)

        t = time.perf_counter()
        emb = au.embed(folder, backbone=name, weights="random", cache_dir=cache, batch_size=batch_size, progress=False)
        cold = time.perf_counter() - t
        assert emb.report.embedded == n

        t = time.perf_counter()
        again = au.embed(folder, backbone=name, weights="random", cache_dir=cache, batch_size=batch_size, progress=False)
        warm = time.perf_counter() - t
        assert again.report.embedded == 0

    decoded = np.stack([embedder._decode(p) for p in paths])
    x = embedder.spec.preprocess(decoded.astype(np.float32))
    model.model.predict_on_batch(x[:batch_size])
    t = time.perf_counter()
    for s in range(0, n, batch_size):
        model.model.predict_on_batch(x[s : s + batch_size])
    bare = time.perf_counter() - t

    full = model.model
    truncated = [keras.Model(full.input, full.get_layer(tap.layer).output) for tap in embedder.spec.taps]
    for m in truncated:
        m.predict_on_batch(x[:batch_size])
    t = time.perf_counter()
    images = np.stack([keras.utils.img_to_array(keras.utils.load_img(p, target_size=(224, 224))) for p in paths])
    images = embedder.spec.preprocess(images)
    for m in truncated:
        for s in range(0, n, batch_size):
            m.predict_on_batch(images[s : s + batch_size]).mean(axis=(1, 2))
    naive = time.perf_counter() - t

    rate = lambda seconds: round(n / seconds, 2)  # noqa: E731
    return {
        "images": n,
        "batch_size": batch_size,
        "cold_images_per_s": rate(cold),
        "naive_images_per_s": rate(naive),
        "bare_images_per_s": rate(bare),
        "warm_images_per_s": rate(warm),
        "cold_over_bare": round(bare / cold, 3),
        "cold_over_naive": round(naive / cold, 3),
        "warm_speedup_over_cold": round(cold / warm, 1),
    }


MEMORY_SCRIPT = """
import resource, sys, attr_utils as au
au.embed(sys.argv[1], backbone=sys.argv[2], weights="random", cache_dir=sys.argv[3], progress=False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def bench_memory(n: int, backbone: str, root: Path) -> dict:
    folder = make_images(root / f"mem{n}", n, seed=1)
    with tempfile.TemporaryDirectory() as cache:
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(folder), backbone, cache], capture_output=True, text=True, check=True)
        seconds = time.perf_counter() - t
    peak_kb = int(out.stdout.strip().splitlines()[-1])
    return {"images": n, "backbone": backbone, "peak_rss_gb": round(peak_kb / 1024**2, 3), "seconds_including_startup": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--backbones", default="resnet50,efficientnet-lite0")
    parser.add_argument("--memory", type=int, default=1000, help="images for the peak-memory run (0 to skip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = make_images(root / "images", args.images)
        result = {
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
            "backbones": {},
        }
        for name in [b for b in args.backbones.split(",") if b]:
            result["backbones"][name] = bench_backbone(name, folder, args.batch_size)
        if args.memory:
            result["memory"] = bench_memory(args.memory, "resnet50", root)
    result["this_process_peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 3)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
