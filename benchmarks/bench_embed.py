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

``engines`` (issue 14): for each installed engine (``--engines keras,openvino``),
interleaved in one process over ``--rounds`` rounds (best round kept), the
bare forward pass and the cold end-to-end run (decoding included, a fresh
embedding cache each time; the converted model is built before timing), with
each engine's ratio to Keras. Targets: cold end-to-end with openvino >= 1.3x
Keras for resnet50 and >= 2x for efficientnet-lite0; cold/bare >= 0.9.
``--engines keras,openvino,openvino-before`` also times OpenVINO and the input
path as they were before the streams / fast-decoder / read-once changes
(``X-before``), in the same rounds; each cold run also reports its CPU ms per
image (``time.process_time``), less sensitive to other jobs than wall time, and
``*_paired`` gives the median [min, max] over rounds of each round's own ratio
(runs seconds apart share the load: steadier than ratios of best rounds).
``--onednn`` also times Keras's bare forward pass in two fresh processes,
``TF_ENABLE_ONEDNN_OPTS=0`` and ``=1``. The load average is recorded before
and after: the figures are only comparable within one run.

``--decode-only`` times only the embedder's input path, per stage, in CPU
milliseconds per image (``time.process_time``, median of ``--rounds`` passes
over the images, 5 at least; no model is built): the first read and hash of
``Embedder.fill``, then the producer thread's read, sha256,
``decode_image``, ``to_model_input`` and batch stacking. CPU time, not wall
time, so that other jobs on the machine change the figures less.
``--folder DIR`` times the images of a folder instead of generated ones.
``input_path_before`` and ``input_path_now`` add up the stages before and after
the fast PNG decoder and the single read and hash.

``--memory N`` also embeds N images in a fresh process and reports its peak
RSS (target: <= 3 GB for 1,000 images: images stream, they are not all held).

Usage: python benchmarks/bench_embed.py [--images 256] [--backbones resnet50,efficientnet-lite0] [--memory 1000]
                                       [--engines keras,openvino] [--rounds 2] [--onednn] [--skip-naive]
       python benchmarks/bench_embed.py --decode-only [--images 256 | --folder DIR] [--rounds 15]
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


#: Seconds of rest before each timed run: TensorFlow's and OpenVINO's worker threads spin for a
#: while after a run, and would otherwise slow down whichever engine is timed next.
PAUSE = 2.0


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _before(model, folder: Path, name: str) -> None:
    """Give an OpenVINO runner the configuration it had before this run's changes: LATENCY hint, one stream."""
    import threading

    import openvino as ov

    xml = next((folder / "engines").glob(f"{name}-*/model.xml"))
    model.compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"})
    model._outputs = {o.get_any_name(): o for o in model.compiled.outputs}
    model.streams, model._pool, model._local = 1, None, threading.local()


class _InputPath:
    """The embedder's input path as it is (``before=False``) or as it was: Pillow's PNG decoder and a second read and hash."""

    def __init__(self, before: bool):
        self.before = before

    def __enter__(self):
        from attr_utils import embedder, images

        self.saved = images.FAST_PNG, embedder.READ_AHEAD_BYTES
        if self.before:
            images.FAST_PNG, embedder.READ_AHEAD_BYTES = False, 0

    def __exit__(self, *exc):
        from attr_utils import embedder, images

        images.FAST_PNG, embedder.READ_AHEAD_BYTES = self.saved


def bench_engines(name: str, folder: Path, batch_size: int, engines: list[str], rounds: int) -> dict:
    """Bare and cold end-to-end img/s per engine, interleaved, best of ``rounds``.

    An engine named ``X-before`` is engine ``X`` as it ran before the input-path and runtime changes
    of this benchmark's last update (Pillow decoding every PNG, each file read and hashed twice,
    OpenVINO with the LATENCY hint and one stream, one batch at a time), timed in the same rounds.
    Only the cache writes on their own thread cannot be turned back: ``X-before`` has them too.
    """
    import shutil

    import attr_utils as au
    from attr_utils.embedder import Embedder

    paths = sorted(str(p) for p in folder.glob("*.png"))
    n = len(paths)
    top = Path(tempfile.mkdtemp(prefix="bench-engines-"))
    roots = {engine: top / engine for engine in engines}  # one cache each: their runners are distinct objects
    try:
        embedders, inputs = {}, None
        for engine in engines:
            base, before = engine.removesuffix("-before"), engine.endswith("-before")
            converted = [roots[e] / "engines" for e in embedders if (roots[e] / "engines").exists()]
            if converted:
                shutil.copytree(converted[0], roots[engine] / "engines")
            t = time.perf_counter()
            e = Embedder(name, "random", cache_dir=roots[engine], batch_size=batch_size, engine=base)
            model = e.model  # converts (or loads the conversion) outside the timed region
            if before and base == "openvino":
                _before(model, roots[engine], name)
            model(np.zeros((batch_size, 224, 224, 3), dtype=np.uint8))
            embedders[engine] = (e, model, round(time.perf_counter() - t, 2))
            if inputs is None:
                inputs = np.stack([e.decode(p) for p in paths])
        best = {engine: {"bare": float("inf"), "cold": float("inf"), "cold_cpu": float("inf")} for engine in engines}
        times = {engine: {"bare": [], "cold": []} for engine in engines}  # every round: paired ratios
        for _ in range(rounds):
            for engine in engines:
                e, model, _ = embedders[engine]
                base, before = engine.removesuffix("-before"), engine.endswith("-before")
                time.sleep(PAUSE)
                t = time.perf_counter()
                if before or base != "openvino":
                    for s in range(0, n, batch_size):
                        model(inputs[s : s + batch_size])
                else:  # as the embedder runs it: `streams` batches in flight
                    from concurrent.futures import ThreadPoolExecutor

                    with ThreadPoolExecutor(max_workers=model.streams) as pool:
                        list(pool.map(model, [inputs[s : s + batch_size] for s in range(0, n, batch_size)]))
                times[engine]["bare"].append(time.perf_counter() - t)
                best[engine]["bare"] = min(best[engine]["bare"], times[engine]["bare"][-1])
                shutil.rmtree(roots[engine] / "embeddings", ignore_errors=True)
                time.sleep(PAUSE)
                with _InputPath(before):
                    t, c = time.perf_counter(), time.process_time()
                    emb = au.embed(folder, backbone=name, weights="random", cache_dir=roots[engine], batch_size=batch_size,
                                   engine=base, progress=False)
                    cold, cpu = time.perf_counter() - t, time.process_time() - c
                times[engine]["cold"].append(cold)
                if cold < best[engine]["cold"]:
                    best[engine]["cold"], best[engine]["cold_cpu"] = cold, cpu
                assert emb.report.embedded == n and emb.engine == base, (emb.report, emb.engine)
        out = {}
        for engine in engines:
            bare, cold = n / best[engine]["bare"], n / best[engine]["cold"]
            out[engine] = {
                "bare_images_per_s": round(bare, 2),
                "cold_images_per_s": round(cold, 2),
                "cold_over_bare": round(cold / bare, 3),
                "cold_cpu_ms_per_image": round(best[engine]["cold_cpu"] / n * 1e3, 2),
                "setup_seconds": embedders[engine][2],
            }
        if "keras" in out:
            for engine in engines:
                out[engine]["bare_over_keras"] = round(out[engine]["bare_images_per_s"] / out["keras"]["bare_images_per_s"], 3)
                out[engine]["cold_over_keras"] = round(out[engine]["cold_images_per_s"] / out["keras"]["cold_images_per_s"], 3)
                # the same ratios round by round (runs seconds apart see similar load): median and range
                for kind in ("bare", "cold"):
                    paired = np.array(times["keras"][kind]) / np.array(times[engine][kind])
                    out[engine][f"{kind}_over_keras_paired"] = [round(float(np.median(paired)), 3), round(float(paired.min()), 3),
                                                                round(float(paired.max()), 3)]
        for engine in engines:
            paired = np.array(times[engine]["bare"]) / np.array(times[engine]["cold"])
            out[engine]["cold_over_bare_paired"] = [round(float(np.median(paired)), 3), round(float(paired.min()), 3),
                                                    round(float(paired.max()), 3)]
        for engine in engines:
            record = getattr(embedders[engine][0], "engine_conversion", None)
            if record:
                out[engine]["conversion"] = {
                    "convert_seconds": record["convert_seconds"],
                    "megabytes": round(sum(record["bytes"].values()) / 1e6, 1),
                    "parity_max_rel_error": record["parity_max_rel_error"],
                    "runtime_version": record["key"]["runtime_version"],
                }
        return out
    finally:
        shutil.rmtree(top, ignore_errors=True)


ONEDNN_SCRIPT = """
import sys, time, numpy as np
from attr_utils.embedder import Embedder
e = Embedder(sys.argv[1], "random", cache_dir=sys.argv[2], engine="keras")
m = e.model
x = np.random.default_rng(0).integers(0, 255, (32, 224, 224, 3), dtype=np.uint8)
m(x)
t = time.perf_counter()
for _ in range(int(sys.argv[3])):
    m(x)
print(32 * int(sys.argv[3]) / (time.perf_counter() - t))
"""


def bench_onednn(name: str, batches: int = 3, repeats: int = 2) -> dict:
    """Keras bare img/s with TF's oneDNN kernels off and on: fresh processes, alternated, best of ``repeats``."""
    best = {"0": 0.0, "1": 0.0}
    for _ in range(repeats):
        for flag in ("0", "1"):
            with tempfile.TemporaryDirectory() as cache:
                env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": flag}
                run = subprocess.run([sys.executable, "-c", ONEDNN_SCRIPT, name, cache, str(batches)],
                                     capture_output=True, text=True, check=True, env=env)
                best[flag] = max(best[flag], float(run.stdout.strip().splitlines()[-1]))
    return {
        "TF_ENABLE_ONEDNN_OPTS=0": round(best["0"], 2),
        "TF_ENABLE_ONEDNN_OPTS=1": round(best["1"], 2),
        "on_over_off": round(best["1"] / best["0"], 3),
    }


def bench_backbone(name: str, folder: Path, batch_size: int) -> dict:
    import attr_utils as au
    from attr_utils.embedder import Embedder
    from attr_utils.model import import_keras

    keras = import_keras()
    paths = sorted(str(p) for p in folder.glob("*.png"))
    n = len(paths)
    with tempfile.TemporaryDirectory() as cache:
        # build (and warm up) the model outside the timed region: all variants pay it once
        embedder = Embedder(name, "random", cache_dir=cache, batch_size=batch_size, engine="keras")
        model = embedder.model
        warm_x = np.zeros((batch_size, 224, 224, 3), dtype=np.uint8)
        model(warm_x)

        t = time.perf_counter()
        emb = au.embed(folder, backbone=name, weights="random", cache_dir=cache, batch_size=batch_size, engine="keras", progress=False)
        cold = time.perf_counter() - t
        assert emb.report.embedded == n

        t = time.perf_counter()
        again = au.embed(folder, backbone=name, weights="random", cache_dir=cache, batch_size=batch_size, engine="keras", progress=False)
        warm = time.perf_counter() - t
        assert again.report.embedded == 0

    decoded = np.stack([embedder.decode(p) for p in paths])
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


def bench_decode(folder: Path, rounds: int, size: int = 224) -> dict:
    """CPU ms per image of each stage of the embedder's input path (median over ``rounds`` passes).

    ``input_path_before``: the path before this benchmark's last update (fill's read and hash, the
    producer's second read and hash, Pillow's decode, ``to_model_input``, stacking);
    ``input_path_now``: fill's one read and hash (the bytes kept for the decoder), the fast PNG
    decoder when installed (``decode_model_input``), stacking.
    """
    import hashlib

    from attr_utils import images
    from attr_utils.hashing import read_bytes_and_hash
    from attr_utils.images import decode_image, decode_model_input, is_image_name, to_model_input

    paths = sorted(str(p) for p in folder.iterdir() if is_image_name(p.name))
    datas = [Path(p).read_bytes() for p in paths]
    images_ = [decode_image(d, size=size) for d in datas]
    arrays = [to_model_input(img, size=size) for img in images_]

    def pillow(i):
        saved, images.FAST_PNG = images.FAST_PNG, False
        try:
            return to_model_input(decode_image(datas[i], size=size), size=size)
        finally:
            images.FAST_PNG = saved

    stages = {
        "fill_read_and_hash": lambda i: read_bytes_and_hash(paths[i]),
        "read": lambda i: Path(paths[i]).read_bytes(),
        "sha256": lambda i: hashlib.sha256(datas[i]).hexdigest(),
        "decode_image": lambda i: decode_image(datas[i], size=size),
        "to_model_input": lambda i: to_model_input(images_[i], size=size),
        "pillow_decode_and_to_model_input": pillow,
        "decode_model_input": lambda i: decode_model_input(datas[i], size=size),
        "stack_per_image": lambda i: np.stack(arrays[i : i + 32]) if i % 32 == 0 else None,
    }
    times: dict[str, list[float]] = {k: [] for k in stages}
    for _ in range(max(rounds, 5)):
        for name, stage in stages.items():  # interleaved: every stage sees the same load
            start = time.process_time()
            for i in range(len(paths)):
                stage(i)
            times[name].append((time.process_time() - start) / len(paths) * 1e3)
    result = {k: round(float(np.median(v)), 4) for k, v in times.items()}
    result["input_path_before"] = round(sum(result[k] for k in (
        "fill_read_and_hash", "read", "sha256", "pillow_decode_and_to_model_input", "stack_per_image")), 4)
    result["input_path_now"] = round(sum(result[k] for k in ("fill_read_and_hash", "decode_model_input", "stack_per_image")), 4)
    result["fast_png_decoder"] = images._spng_decode() is not None and images.FAST_PNG
    result["images"] = len(paths)
    result["mean_file_kb"] = round(sum(map(len, datas)) / len(datas) / 1024, 1)
    return result


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
    parser.add_argument("--engines", default="keras,openvino",
                        help="engines to compare, interleaved (empty to skip); X-before: engine X as it was before the last update")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds per engine (best kept)")
    parser.add_argument("--onednn", action="store_true", help="also time Keras with TF_ENABLE_ONEDNN_OPTS=0 and 1")
    parser.add_argument("--skip-naive", action="store_true", help="skip the issue-2 figures (naive, warm, keras cold/bare)")
    parser.add_argument("--decode-only", action="store_true", help="only CPU ms per image of each input-path stage")
    parser.add_argument("--folder", type=Path, help="with --decode-only: time this folder's images")
    args = parser.parse_args()
    if args.decode_only:
        with tempfile.TemporaryDirectory() as tmp:
            folder = args.folder or make_images(Path(tmp) / "images", args.images)
            result = {"loadavg_start": loadavg(), "cpu_ms_per_image": bench_decode(folder, args.rounds), "loadavg_end": loadavg()}
        print(json.dumps(result, indent=2))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = make_images(root / "images", args.images)
        result = {
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                        "cpu": cpu_model()},
            "loadavg_start": loadavg(),
            "backbones": {},
            "engines": {},
            "onednn": {},
        }
        engines = [e for e in args.engines.split(",") if e]
        for name in [b for b in args.backbones.split(",") if b]:
            if not args.skip_naive:
                result["backbones"][name] = bench_backbone(name, folder, args.batch_size)
            if engines:
                result["engines"][name] = bench_engines(name, folder, args.batch_size, engines, args.rounds)
            if args.onednn:
                result["onednn"][name] = bench_onednn(name)
        result["loadavg_end"] = loadavg()
        if args.memory:
            result["memory"] = bench_memory(args.memory, "resnet50", root)
    result["this_process_peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 3)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
