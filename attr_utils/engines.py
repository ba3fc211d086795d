"""Inference engines: who runs the multi-output block model (Keras or OpenVINO).

Keras stays the model *definition* (backbones, taps, weights, seeded random
init, see :mod:`attr_utils.model`); an engine only *runs* it. ``"openvino"``
converts the Keras :class:`~attr_utils.model.BlockModel` once with
``openvino.convert_model``, checks that every block's vectors agree with
Keras, and caches the converted model in the cache folder; later processes
load it without importing TensorFlow.

* ``engine="keras"``: TensorFlow's ``predict_on_batch`` (always available).
* ``engine="openvino"``: OpenVINO Runtime in fp32 (``pip install
  'attr-utils[fast]'``); raises :class:`~attr_utils.errors.EngineError` when it
  is not installed, or when its vectors disagree with Keras.
* ``engine="auto"`` (default): OpenVINO when installed and its parity check
  passes, else Keras; the reason is logged and recorded.

The engine is **not** part of the model signature: both engines give the same
vectors within :data:`PARITY_RTOL` (checked at conversion, and per backbone by
the tests), so they share one embedding cache. ``Embeddings.engine`` records
which engine computed the vectors of a call.

Preprocessing stays in numpy (``spec.preprocess``) for every engine, so its
arithmetic is identical; the converted graph starts at the preprocessed
float32 input.

Converted models live in ``<cache_dir>/engines/<backbone>-<key>/`` where
``key`` hashes the conversion signature (backbone, weights identity, taps,
input size, what the graph ends with (``"global_average"``, ``"global_max"``,
or ``"spatial"`` feature maps for the mask poolings, see
:func:`attr_utils.pooling.graph_pooling`), preprocessing placement, runtime
and its version). A ``"spatial"`` graph's parity check compares the feature
maps themselves, before any mask is applied. A conversion
is written to a temporary folder, fsynced and renamed; ``conversion.json``
(written last) records the sha256 of every file, the conversion time, the
sizes and the parity error. A folder whose files do not match it (corrupt,
truncated, stale) is moved aside and rebuilt, never used.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from attr_utils.cache import fsync_path
from attr_utils.errors import EngineError
from attr_utils.hashing import bytes_sha256

__all__ = [
    "ENGINES",
    "ENGINE_ENV",
    "PARITY_RTOL",
    "ResolvedEngine",
    "conversion_count",
    "default_engine",
    "parity_error",
    "resolve_engine",
    "validate_engine",
]

logger = logging.getLogger(__name__)

#: Accepted values of ``engine=``.
ENGINES = ("auto", "keras", "openvino")
#: Environment variable giving the default engine (else ``"auto"``).
ENGINE_ENV = "ATTR_UTILS_ENGINE"
#: Largest accepted relative error of an engine's vectors to Keras's, per image and block.
PARITY_RTOL = 1e-5
#: Bump when the conversion (inputs, outputs, options) changes: it is part of the conversion key.
CONVERSION_FORMAT = 1
#: Worker processes read this (set by ``worker_thread_env``): compute threads per process.
THREADS_ENV = "ATTR_UTILS_TF_THREADS"

_CONVERSIONS = 0
_CONVERSIONS_LOCK = threading.Lock()
_BUILD_LOCK = threading.Lock()


def conversion_count() -> int:
    """How many models this process has converted (tests check that a cached one is reused)."""
    return _CONVERSIONS


def validate_engine(engine) -> str:
    """Return ``engine`` if it is one of :data:`ENGINES`, else raise :class:`~attr_utils.errors.ParameterError`."""
    from attr_utils.validation import check_choice

    return check_choice("engine", engine, ENGINES)


def default_engine(engine: str | None = None) -> str:
    """``engine``, else ``$ATTR_UTILS_ENGINE``, else ``"auto"``; validated."""
    if engine is None:
        engine = os.environ.get(ENGINE_ENV) or "auto"
    return validate_engine(engine)


def parity_error(reference: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> float:
    """Largest relative error ``||a - b|| / ||a||`` over images and blocks.

    Each image's output is flattened first (vectors ``(n, dim)`` or feature
    maps ``(n, h, w, dim)``). An all-zero reference row (a dead random-weight
    unit) counts its absolute error instead.
    """
    worst = 0.0
    for block, a in reference.items():
        a = np.asarray(a, dtype=np.float64)
        b = np.asarray(other[block], dtype=np.float64)
        if a.shape != b.shape:
            return float("inf")
        a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
        diff = np.linalg.norm(a - b, axis=1)
        norm = np.linalg.norm(a, axis=1)
        rel = np.where(norm > 0, diff / np.where(norm > 0, norm, 1.0), diff)
        worst = max(worst, float(rel.max(initial=0.0)))
    return worst


def parity_images(size: int, n: int = 4) -> np.ndarray:
    """Deterministic uint8 test images ``(n, size, size, 3)``: smooth colour gradients with texture."""
    rng = np.random.default_rng(20240614)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / max(size - 1, 1)
    images = []
    for i in range(n):
        base = np.stack([xx, yy, (xx + yy) / 2], axis=-1) * 255.0
        stripes = 40.0 * np.sin((xx * (3 + 2 * i) + yy * i) * np.pi * 2)[..., None]
        noise = rng.normal(0, 12, size=(size, size, 3))
        images.append(np.clip(np.roll(base, i, axis=-1) + stripes + noise, 0, 255))
    return np.stack(images).astype(np.uint8)


# -- runners ------------------------------------------------------------------------


class OpenVINOBlockModel:
    """A converted block model compiled for the CPU; called like :class:`~attr_utils.model.BlockModel`.

    Compiled with OpenVINO's ``THROUGHPUT`` hint: the CPU runs ``streams``
    independent inference streams (two on a 2-core machine, one thread each)
    instead of one stream whose threads meet at every layer. A call splits its
    batch into up to ``streams`` contiguous chunks, one per stream, and joins
    the vectors in order; concurrent calls (the embedder keeps ``streams``
    batches in flight) queue their chunks on the same streams, so a stream
    that finishes early starts the next chunk instead of waiting for the
    other. The per-layer barrier of a multi-threaded stream is what made the
    forward pass stall whenever the decode thread took one of its cores.
    ``$ATTR_UTILS_TF_THREADS`` (set on Dask workers) caps the threads.
    """

    name = "openvino"

    def __init__(self, spec, xml_path: Path):
        import openvino as ov

        self.spec = spec
        core = ov.Core()
        # never bf16/fp16 on AMX/AVX512-FP16 CPUs: it changes the vectors
        config = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "THROUGHPUT"}
        threads = os.environ.get(THREADS_ENV)
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        self.compiled = core.compile_model(str(xml_path), "CPU", config)
        names = [next(iter(o.get_names()), "") for o in self.compiled.outputs]
        blocks = [t.block for t in spec.taps]
        if sorted(names) != sorted(blocks):
            raise EngineError(f"converted model outputs {names} do not match the taps {blocks}")
        self._outputs = {o.get_any_name(): o for o in self.compiled.outputs}
        try:
            streams = int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        except Exception:  # noqa: BLE001 - a runtime without the property: one stream
            streams = 1
        #: How many chunks run at once (inference streams); the embedder keeps this many batches in flight.
        self.streams = max(1, streams)
        self._local = threading.local()
        self._pool = None
        self._pool_lock = threading.Lock()

    def _infer(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """One chunk on this thread's own infer request (one request per pool thread)."""
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        result = request.infer([x])
        return {t.block: np.array(result[self._outputs[t.block]], dtype=np.float32) for t in self.spec.taps}

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Pooled vectors of a batch of uint8 RGB images ``(n, size, size, 3)``."""
        x = np.ascontiguousarray(self.spec.preprocess(images.astype(np.float32)), dtype=np.float32)
        with self._pool_lock:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(max_workers=self.streams, thread_name_prefix="openvino-stream")
        bounds = np.linspace(0, len(x), max(1, min(self.streams, len(x))) + 1).astype(int)
        futures = [self._pool.submit(self._infer, x[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
        chunks = [f.result() for f in futures]
        if len(chunks) == 1:
            return chunks[0]
        return {t.block: np.concatenate([c[t.block] for c in chunks]) for t in self.spec.taps}


@dataclass(frozen=True)
class ResolvedEngine:
    """The engine an Embedder runs, and why.

    Attributes
    ----------
    name : str
        ``"keras"`` or ``"openvino"``.
    model : callable
        ``model(uint8 images) -> {block: float32 (n, dim)}``.
    reason : str
        Why this engine (e.g. why ``auto`` fell back to Keras).
    conversion : dict
        The conversion record (``conversion.json``) of a converted engine; empty for Keras.
    """

    name: str
    model: object
    reason: str = ""
    conversion: dict | None = None


def _runtime_version(name: str) -> str:
    if name == "openvino":
        import openvino as ov

        return ov.get_version()
    raise ValueError(name)


def _installed(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def conversion_key(spec, weights, runtime: str, version: str, *, graph: str = "global_average") -> dict:
    """Everything that determines a converted model: its hash names the conversion folder.

    ``graph`` is what the graph ends with (:func:`attr_utils.pooling.graph_pooling`);
    ``"global_average"`` gives the key of earlier releases.
    """
    return {
        "format": CONVERSION_FORMAT,
        "backbone": spec.name,
        "weights": weights.identity,
        "input_size": spec.input_size,
        "taps": [[t.block, t.layer, t.dim] for t in spec.taps],
        "pooling": graph,
        "preprocess": f"numpy:{spec.preprocess.__module__}.{spec.preprocess.__qualname__}",
        "runtime": runtime,
        "runtime_version": version,
    }


def _read_record(folder: Path, key: dict) -> dict | None:
    """The conversion record of ``folder`` if every file matches it, else None."""
    try:
        record = json.loads((folder / "conversion.json").read_text())
        if record.get("key") != key:
            return None
        for name, digest in record["files"].items():
            if bytes_sha256((folder / name).read_bytes()) != digest:
                return None
        return record
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _set_aside(folder: Path) -> None:
    """Move a damaged conversion out of the way (then delete it), so it is never used again."""
    aside = folder.with_name(f".stale-{uuid.uuid4().hex}-{folder.name}")
    try:
        os.replace(folder, aside)
    except OSError:
        return
    shutil.rmtree(aside, ignore_errors=True)


def _convert_openvino(keras_model, spec, key: dict, folder: Path) -> dict:
    """Convert, check parity, and commit ``folder`` atomically; return its record."""
    global _CONVERSIONS
    import openvino as ov

    start = time.perf_counter()
    size = spec.input_size
    with warnings.catch_warnings():  # Keras warns that the traced input is a bare tensor, not its named structure
        warnings.simplefilter("ignore", UserWarning)
        ov_model = ov.convert_model(keras_model.model, input=[(-1, size, size, 3)])
    # The converted outputs need not come in the Keras outputs' order (they follow the traced tensors' names):
    # match them by name, in the Keras order only when the names say nothing.
    by_name = {t.name: tap for t, tap in zip(keras_model.model.outputs, spec.taps)}
    found = [next((by_name[n] for n in output.get_names() if n in by_name), None) for output in ov_model.outputs]
    if None in found or len({t.block for t in found}) != len(spec.taps):
        found = list(spec.taps)
    for output, tap in zip(ov_model.outputs, found):
        output.get_tensor().set_names({tap.block})
    seconds = time.perf_counter() - start
    with _CONVERSIONS_LOCK:
        _CONVERSIONS += 1
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".tmp-{uuid.uuid4().hex}-{folder.name}")
    tmp.mkdir()
    try:
        ov.save_model(ov_model, str(tmp / "model.xml"), compress_to_fp16=False)
        files = {}
        for name in ("model.xml", "model.bin"):
            fsync_path(tmp / name)
            files[name] = bytes_sha256((tmp / name).read_bytes())
        runner = OpenVINOBlockModel(spec, tmp / "model.xml")
        images = parity_images(size)
        error = parity_error(keras_model(images), runner(images))
        record = {
            "key": key,
            "files": files,
            "bytes": {n: (tmp / n).stat().st_size for n in files},
            "convert_seconds": round(seconds, 3),
            "parity_max_rel_error": error,
            "parity_rtol": PARITY_RTOL,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if not error <= PARITY_RTOL:
            raise EngineError(
                f"openvino vectors differ from keras by {error:.2e} relative (allowed {PARITY_RTOL:.0e}) for {spec.name}"
            )
        data = json.dumps(record, indent=2).encode()
        with open(tmp / "conversion.json", "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        fsync_path(tmp)
        if folder.exists():  # damaged (checked by the caller) or committed by another process meanwhile
            if _read_record(folder, key) is not None:
                shutil.rmtree(tmp, ignore_errors=True)
                return _read_record(folder, key)
            _set_aside(folder)
        try:
            os.replace(tmp, folder)
        except OSError:  # another process committed the same conversion first
            committed = _read_record(folder, key)
            if committed is None:
                raise
            shutil.rmtree(tmp, ignore_errors=True)
            return committed
        fsync_path(folder.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("converted %s to openvino in %.1f s (%d bytes) at %s", spec.name, seconds, sum(record["bytes"].values()), folder)
    return record


def _sweep(engines_dir: Path, older_than: float = 3600.0) -> None:
    """Delete temporary and set-aside folders left by killed conversions (older than an hour)."""
    if not engines_dir.is_dir():
        return
    now = time.time()
    for p in engines_dir.iterdir():
        if p.name.startswith((".tmp-", ".stale-")):
            try:
                if now - p.stat().st_mtime > older_than:
                    shutil.rmtree(p, ignore_errors=True)
            except OSError:
                pass


def _openvino_model(spec, weights, cache_root: Path, build_keras, graph: str = "global_average"):
    from attr_utils.cache import signature_hash

    key = conversion_key(spec, weights, "openvino", _runtime_version("openvino"), graph=graph)
    folder = Path(cache_root) / "engines" / f"{spec.name}-{signature_hash(key)[:16]}"
    with _BUILD_LOCK:
        record = _read_record(folder, key) if folder.exists() else None
        if record is None:
            _sweep(folder.parent)
            if folder.exists():
                logger.warning("rebuilding the damaged or stale openvino conversion at %s", folder)
                _set_aside(folder)
            record = _convert_openvino(build_keras(), spec, key, folder)
    try:
        return OpenVINOBlockModel(spec, folder / "model.xml"), record
    except Exception as exc:  # noqa: BLE001 - a file that passed its checksum but does not load
        with _BUILD_LOCK:
            _set_aside(folder)
            record = _convert_openvino(build_keras(), spec, key, folder)
        logger.warning("rebuilt the openvino conversion at %s after it failed to load: %s", folder, exc)
        return OpenVINOBlockModel(spec, folder / "model.xml"), record


def resolve_engine(
    engine: str, spec, weights, *, cache_root: str | os.PathLike, build_keras, graph: str = "global_average"
) -> ResolvedEngine:
    """Build the runner of ``engine`` for ``spec`` and ``weights``.

    Parameters
    ----------
    engine : {"auto", "keras", "openvino"}
        Requested engine.
    spec : BackboneSpec
        The backbone.
    weights : ResolvedWeights
        Its weights.
    cache_root : path-like
        Cache folder; converted models go in its ``engines/`` folder.
    build_keras : callable
        ``build_keras() -> BlockModel``, called only when Keras is needed (to
        run, or to convert from). It should memoise.
    graph : {"global_average", "global_max", "spatial"}, default="global_average"
        What the Keras model's graph ends with (part of the conversion key).

    Returns
    -------
    ResolvedEngine

    Raises
    ------
    EngineError
        ``engine="openvino"`` is not installed, fails to convert, or fails
        its parity check against Keras (``"auto"`` falls back instead).
    """
    validate_engine(engine)
    if engine == "keras":
        return ResolvedEngine("keras", build_keras(), "requested")
    if not _installed("openvino"):
        reason = "openvino is not installed (pip install 'attr-utils[fast]')"
        if engine == "openvino":
            raise EngineError(f"engine 'openvino' is unavailable: {reason}")
        logger.warning("engine auto: using keras because %s", reason)
        return ResolvedEngine("keras", build_keras(), f"auto: {reason}")
    try:
        model, record = _openvino_model(spec, weights, Path(cache_root), build_keras, graph)
    except Exception as exc:  # noqa: BLE001 - any conversion failure: auto falls back with the reason
        reason = f"openvino failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        if engine == "openvino":
            raise EngineError(f"engine 'openvino' is unavailable for {spec.name}: {reason}") from exc
        logger.warning("engine auto: using keras because %s", reason)
        return ResolvedEngine("keras", build_keras(), f"auto: {reason}")
    reason = "requested" if engine == "openvino" else "auto: fastest installed engine, parity with keras checked"
    return ResolvedEngine("openvino", model, reason, record)
