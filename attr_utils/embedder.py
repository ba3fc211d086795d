"""Embedding images into per-block vectors, through the content-addressed cache.

:func:`embed` is the one entry point most users need: it takes a dataset (or
its path), resolves the backbone and weights, serves every image already in
the cache, copies those another tap selection of the same model already cached
(``taps="blocks"`` after ``taps="all"``), runs the network once per batch on
the rest (one forward pass gives every block), commits each batch to the cache
atomically, and returns an :class:`~attr_utils.embeddings.Embeddings`.

Images are decoded in a background thread while the network runs, so
decoding hides behind the forward pass. The model is built only when some
image actually needs computing: a warm rerun imports no TensorFlow.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from attr_utils.backbones.auto import ResolvedBackbone
from attr_utils.cache import EmbeddingCache, SignatureStore
from attr_utils.datasets import Dataset, load_dataset
from attr_utils.embeddings import EmbedReport, Embeddings, Skipped
from attr_utils.engines import default_engine
from attr_utils.errors import AttrUtilsError, ImageDecodeError, ParameterError
from attr_utils.hashing import bytes_sha256, read_bytes_and_hash
from attr_utils.images import composite_on_white, decode_image, decode_model_input, to_model_input
from attr_utils.model import ModelSpec, model_spec
from attr_utils.pooling import encode_mask, graph_pooling, image_mask, mask_to_model_input, pool_maps, uses_mask
from attr_utils.validation import check_choice, check_int

__all__ = ["RUNNERS_GROUP", "Embedder", "LocalRunner", "embed", "embed_images", "fill_cache", "load_runner", "model_signature"]

#: Entry-point group of runners other packages (or attr-utils's [scale] wing) provide.
RUNNERS_GROUP = "attr_utils.runners"
#: The install extra of each runner attr-utils's own wings provide (for the error message).
_RUNNER_EXTRAS = {"dask": "scale"}

#: Built models, by signature, reused across calls in one process.
_MODELS: dict[str, object] = {}
#: Resolved engines, by (signature, engine, cache folder), reused across calls in one process.
_ENGINES: dict[tuple, object] = {}
_MODELS_LOCK = threading.Lock()


def model_signature(resolved: ResolvedBackbone, resize: str) -> dict:
    """Everything that determines the vectors; its hash names the cache folder.

    Same as ``ModelSpec(resize=resize).signature(resolved)`` (:meth:`attr_utils.model.ModelSpec.signature`).
    """
    return ModelSpec(resize=resize).signature(resolved)


def _with_saliency_tap(spec):
    """``(saliency_tap, run_spec, extra)``: the block the saliency mask is read from, the spec the network runs.

    The saliency tap is the backbone's deepest block (its last of the five,
    block5); when ``spec``'s taps lack its layer, ``run_spec`` adds it (named
    by its layer, in depth order) and ``extra`` is True.
    """
    from dataclasses import replace

    from attr_utils.backbones import Tap, get_backbone

    deepest = get_backbone(spec.name).taps[-1]
    for tap in spec.taps:
        if tap.layer == deepest.layer:
            return tap.block, spec, False
    extra = Tap(deepest.layer, deepest.layer, deepest.dim)
    taps = tuple(sorted(spec.taps + (extra,), key=lambda t: spec.depth(t.layer)))
    return extra.block, replace(spec, taps=taps), True


# -- runners ---------------------------------------------------------------------------


class LocalRunner:
    """Fill the cache in this process: the default runner of :func:`embed`.

    A runner is any object with this ``run`` method; the [scale] wing's
    :class:`attr_utils.scale.DaskRunner` runs the same embedder on the workers
    of a Dask cluster. The core never imports a runner's module: other
    runners are found through the ``attr_utils.runners`` entry points
    (:func:`load_runner`).
    """

    def run(self, embedder: Embedder, dataset: Dataset, *, progress: bool = True) -> tuple[list[str | None], EmbedReport]:
        """Embed ``dataset``'s images into ``embedder``'s cache.

        Returns
        -------
        hashes : list
            Per path of ``dataset``, the content hash, or None when skipped.
        report : EmbedReport
            What the run did.
        """
        start = time.perf_counter()
        hashes, skipped, computed = embedder.fill(dataset.paths, progress=progress)
        kept = sum(h is not None for h in hashes)
        report = EmbedReport(
            images=len(dataset) + len(dataset.skipped),  # every listed input: embedded + cached + skipped
            embedded=computed,
            cached=kept - computed,
            skipped=tuple(list(dataset.skipped) + skipped),
            seconds=time.perf_counter() - start,
        )
        return hashes, report


def load_runner(name: str, **options):
    """The runner registered as ``name`` in the ``attr_utils.runners`` entry points, built with ``options``.

    Raises
    ------
    ParameterError
        No runner of that name is installed.
    AttrUtilsError
        The runner's install extra is missing (the message names it).
    """
    from importlib.metadata import entry_points

    found = {ep.name: ep for ep in entry_points(group=RUNNERS_GROUP)}
    extra = _RUNNER_EXTRAS.get(name)
    need = f"pip install 'attr-utils[{extra}]'" if extra else "install the package that provides it"
    if name not in found:
        raise ParameterError(f"no runner {name!r} is installed (installed: {sorted(found)}); {need}")
    try:
        cls = found[name].load()
    except ImportError as exc:
        raise AttrUtilsError(f"the {name!r} runner cannot be loaded ({exc}); {need}") from None
    return cls(**options)


def _runner(runner, workers, scheduler):
    """``runner``, or the Dask runner the deprecated ``workers=``/``scheduler=`` ask for."""
    if workers is None and scheduler is None:
        if runner is None:
            return LocalRunner()
        if not callable(getattr(runner, "run", None)):
            raise ParameterError(
                f"`runner` must be a runner object with a run() method (LocalRunner(), "
                f"attr_utils.scale.DaskRunner(...), or load_runner(name)), got {runner!r}"
            )
        return runner
    if runner is not None:
        raise ParameterError("pass either `runner=` or the deprecated `workers=`/`scheduler=`, not both")
    import warnings

    warnings.warn(
        "embed(workers=..., scheduler=...) is deprecated and will be removed in the next release; "
        "pass runner=attr_utils.scale.DaskRunner(workers=N) (or scheduler=ADDRESS) instead",
        DeprecationWarning,
        stacklevel=3,
    )
    return load_runner("dask", workers=workers, scheduler=scheduler)




def _query_key(i: int, image) -> tuple[str, str | None, str | None]:
    """Display name, cache key (content hash, None for PIL images) and unreadable reason of a query."""
    if isinstance(image, Image.Image):
        return f"<image {i}>", None, None
    if isinstance(image, (bytes, bytearray, memoryview)):
        return f"<upload {i}>", bytes_sha256(bytes(image)), None
    if not isinstance(image, (str, os.PathLike)):
        return f"<input {i}>", None, f"not an image path, bytes or PIL image ({type(image).__name__})"
    try:
        return str(image), bytes_sha256(Path(image).read_bytes()), None
    except FileNotFoundError:
        return str(image), None, "missing file"
    except IsADirectoryError:
        return str(image), None, "is a folder, not an image file"
    except OSError as exc:
        return str(image), None, f"cannot read file: {exc.strerror or exc}"


#: Bytes of files still to embed that :meth:`Embedder.fill`'s first read keeps for the decoder,
#: so that each is read and hashed once; files past this budget are read again (and re-hashed).
READ_AHEAD_BYTES = 256 * 2**20


class _ReadAhead:
    """The first read of :meth:`Embedder.fill`: hash each file, keep the bytes of those to embed (capped)."""

    def __init__(self, present, limit: int):
        self.present = present
        self.left = limit
        self.kept: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def read(self, path) -> tuple[str | None, str | None]:
        data, digest, reason = read_bytes_and_hash(path)
        if digest is not None and digest not in self.present:
            with self._lock:
                if digest not in self.kept and len(data) <= self.left:
                    self.kept[digest] = data
                    self.left -= len(data)
        return digest, reason


@dataclass
class _Batch:
    hashes: list[str]
    images: np.ndarray


class Embedder:
    """A resolved model spec bound to a cache.

    Parameters
    ----------
    backbone, weights : str, optional
        Shorthands for ``model=ModelSpec(backbone, weights)`` (default
        ``"resnet50"`` and its pretrained weights).
    model : ModelSpec, optional
        The model (backbone, weights, resize, seed, taps, pooling, mask);
        exclusive with ``backbone``, ``weights``, ``resize``, ``seed``,
        ``pooling`` and ``mask``.
    cache_dir : path-like, optional
        Cache folder (default: :func:`attr_utils.cache.cache_root`).
    batch_size : int, default=32
        Images per forward pass.
    resize : {"stretch", "pad", "crop"}, optional
        Shorthand for ``ModelSpec(resize=...)`` (default ``"stretch"``).
    seed : int, optional
        Shorthand for ``ModelSpec(seed=...)`` (default 0).
    pooling : {"average", "max", "foreground", "interior"}, optional
        Shorthand for ``ModelSpec(pooling=...)`` (default ``"average"``, the
        paper's; see :mod:`attr_utils.pooling`).
    mask : {"auto", "alpha", "border", "saliency"}, optional
        Shorthand for ``ModelSpec(mask=...)`` (default ``"auto"``; mask poolings only).
    engine : {"auto", "keras", "openvino"}, optional
        What runs the network (see :mod:`attr_utils.engines`). Default:
        ``$ATTR_UTILS_ENGINE``, else ``"auto"`` (OpenVINO when installed and
        its vectors match Keras's, else Keras).

    Attributes
    ----------
    engine_used : str
        The engine that ran the forward passes (``""`` until one ran).
    engine_reason : str
        Why that engine (e.g. why ``auto`` fell back to Keras).
    engine_conversion : dict or None
        The converted model's record (conversion time, sizes, parity error);
        None for Keras.
    mask_sources : collections.Counter
        With a mask pooling: how many images this embedder pooled with each
        mask source (``"alpha"``, ``"border"``, ``"saliency"``, with
        ``"+interior"``, or ``"none: <reason>"`` for the plain-average
        fallback, e.g. ``"none: border foreground < 5%"``).
    saliency_tap : str
        With a mask pooling: the output the saliency masks are read from (the
        backbone's deepest block, whatever the taps); ``""`` otherwise.
    """

    def __init__(
        self,
        backbone: str | None = None,
        weights: str | None = None,
        *,
        model: ModelSpec | None = None,
        cache_dir: str | os.PathLike | None = None,
        batch_size: int = 32,
        resize: str | None = None,
        seed: int | None = None,
        engine: str | None = None,
        pooling: str | None = None,
        mask: str | None = None,
    ):
        from collections import Counter

        self.model_spec = model_spec(model, backbone=backbone, weights=weights, resize=resize, seed=seed, pooling=pooling,
                                     mask=mask)
        self.pooling = self.model_spec.pooling
        self.graph = graph_pooling(self.pooling)
        self.mask_sources: Counter = Counter()
        self._mask_lock = threading.Lock()
        self.batch_size = check_int("batch_size", batch_size, min=1)
        self.engine = default_engine(engine)
        self.engine_used = ""
        self.engine_reason = ""
        self.engine_conversion = None
        self.resolved = self.model_spec.resolve()
        self.spec = self.resolved.spec
        self.resize = self.model_spec.resize
        self.signature = self.model_spec.signature(self.resolved)
        # The saliency mask always comes from the backbone's deepest block (block5), whatever the taps:
        # the network computes it as an extra output when not requested, and forward() drops it.
        self.saliency_tap, self._run_spec, self._extra_tap = "", self.spec, False
        if uses_mask(self.pooling):
            self.saliency_tap, self._run_spec, self._extra_tap = _with_saliency_tap(self.spec)
        cache = EmbeddingCache(cache_dir)
        self.cache = cache
        self.cache_root = cache.root
        self.store: SignatureStore = cache.store(self.signature, self.spec.dims)
        self.forward_passes = 0

    # -- model -----------------------------------------------------------
    def _graph_key(self) -> str:
        """Hash of the signature with the pooling replaced by the graph's (mask poolings share one model)."""
        from attr_utils.cache import signature_hash

        if self.pooling == "average":
            return signature_hash(self.signature)
        taps = [[t.block, t.layer, t.dim] for t in self._run_spec.taps]
        return signature_hash({**self.signature, "pooling": self.graph, "taps": taps})

    def _keras_model(self):
        """The Keras multi-output model, built once per process and graph."""
        from attr_utils.model import BlockModel

        key = self._graph_key()
        with _MODELS_LOCK:
            model = _MODELS.get(key)
            if model is None:
                from attr_utils.backbones.efficientnet_lite0 import cache_root

                with cache_root(self.store.cache_root):  # converted weights beside the embeddings
                    model = BlockModel(self._run_spec, self.resolved.weights, graph=self.graph)
                _MODELS[key] = model
        return model

    @property
    def model(self):
        """The engine's runner of the multi-output model, built on first use and shared in-process."""
        from attr_utils.engines import resolve_engine

        key = (self._graph_key(), self.engine, str(self.cache_root))
        with _MODELS_LOCK:
            resolved = _ENGINES.get(key)
        if resolved is None:
            resolved = resolve_engine(
                self.engine, self._run_spec, self.resolved.weights, cache_root=self.cache_root, build_keras=self._keras_model,
                graph=self.graph,
            )
            with _MODELS_LOCK:
                resolved = _ENGINES.setdefault(key, resolved)
        self.engine_used, self.engine_reason = resolved.name, resolved.reason
        self.engine_conversion = resolved.conversion
        return resolved.model

    def forward(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Run one batch of uint8 images through the network: ``{block: float32 (n, dim)}``.

        ``images`` is ``(n, size, size, 3)``, or ``(n, size, size, 4)`` with a
        mask pooling: the fourth channel is each image's decode-time mask
        (:func:`attr_utils.pooling.encode_mask`; see :meth:`decode`). The
        network returns the taps' feature maps and
        :func:`attr_utils.pooling.pool_maps` pools them with the masks (the
        saliency masks from these same activations); 3-channel input gets
        the masks of the activations (``mask`` "auto"/"saliency") or the plain
        average. The saliency mask is always read from the backbone's deepest
        block (:attr:`saliency_tap`, block5), computed as an extra output when
        the taps do not include it, so a tap's vector does not depend on
        which other taps were asked for.
        """
        self.forward_passes += 1
        if not uses_mask(self.pooling):
            return self.model(images)
        channel = images[..., 3] if images.shape[-1] == 4 else None
        maps = self.model(np.ascontiguousarray(images[..., :3]))
        vectors, masks = pool_maps(maps, channel, pooling=self.pooling, mask=self.model_spec.mask,
                                   saliency_tap=self.saliency_tap, size=self.spec.input_size)
        if self._extra_tap:
            vectors.pop(self.saliency_tap, None)
        self._count_masks(masks)
        return vectors

    def _count_masks(self, masks) -> None:
        with self._mask_lock:
            for found in masks:
                if found is not None:
                    self.mask_sources[found.source if found.weights is not None else f"none: {found.kind}"] += 1

    # -- reuse of other tap selections ------------------------------------
    def _sibling_rows(self, hashes: Sequence[str]):
        """Vectors of ``hashes`` that another tap selection of this model already cached.

        Yields ``(hashes, blocks)`` chunks (blocks named as in this store, each
        ``(len(hashes), dim)`` float32), at most :attr:`SignatureStore.part_rows`
        rows each, read from the stores of
        :meth:`~attr_utils.cache.EmbeddingCache.stores_with_taps` (only the
        needed columns of the needed rows); a hash is yielded once at most.
        """
        remaining = list(dict.fromkeys(hashes))
        if not remaining:
            return
        sources = self.cache.stores_with_taps(self.signature)
        chunk = self.store.part_rows
        for store, columns in sources:
            left = []
            for start in range(0, len(remaining), chunk):
                part = remaining[start : start + chunk]
                found, vectors = store.get(part, columns=list(columns.values()))
                if found.any():
                    rows = np.flatnonzero(found)
                    yield [part[i] for i in rows], {b: vectors[c][rows] for b, c in columns.items()}
                left.extend(h for h, f in zip(part, found) if not f)
            remaining = left
            if not remaining:
                return

    # -- pipeline --------------------------------------------------------
    def decode(self, source, *, name: str | None = None) -> np.ndarray:
        """The network's input for one image: decoded (colour-managed), resized, uint8 ``(size, size, 3)``.

        ``source`` is a path, bytes or a PIL image; ``name`` is what warnings
        call it. Raises :class:`ImageDecodeError` when it cannot be decoded.

        With a mask pooling the result is ``(size, size, 4)``: the fourth
        channel is the image's foreground mask, computed here once from the
        decoded pixels and alpha (:func:`attr_utils.pooling.image_mask`,
        :func:`attr_utils.pooling.encode_mask`; all 255 (:data:`attr_utils.pooling.FROM_ACTIVATIONS`) when it is to come
        from the activations).
        """
        size = self.spec.input_size
        if not uses_mask(self.pooling):
            return decode_model_input(source, size=size, resize=self.resize, name=name)
        image = decode_image(source, size=size, name=name, keep_alpha=True)
        alpha = None
        if image.mode == "RGBA":
            alpha = mask_to_model_input(image.getchannel("A"), size=size, resize=self.resize)
            image = composite_on_white(image)
        rgb = to_model_input(image, size=size, resize=self.resize)
        found = image_mask(rgb, alpha, pooling=self.pooling, mask=self.model_spec.mask)
        if found is not None:
            self._count_masks([found])
        return np.concatenate([rgb, encode_mask(found, size)[..., None]], axis=-1)

    def _producer(
        self, todo: list[tuple[str, str]], out: queue.Queue, bad: dict[str, str], stop: threading.Event,
        kept: dict[str, bytes] | None = None,
    ) -> None:
        """Decode ``todo``'s files into batches on ``out``; ``kept`` holds bytes already read and hashed."""
        hashes: list[str] = []
        arrays: list[np.ndarray] = []
        kept = {} if kept is None else kept
        try:
            for h, path in todo:
                if stop.is_set():
                    return
                try:
                    data = kept.pop(h, None)  # the bytes that were hashed: nothing to check
                    if data is None:
                        data = Path(path).read_bytes()
                        if bytes_sha256(data) != h:
                            bad[h] = "file changed while embedding; run again"
                            continue
                    arrays.append(self.decode(data, name=path))
                    hashes.append(h)
                except ImageDecodeError as exc:
                    bad[h] = str(exc)
                    continue
                except OSError as exc:
                    bad[h] = f"cannot read file: {exc.strerror or exc}"
                    continue
                if len(hashes) == self.batch_size:
                    out.put(_Batch(hashes, np.stack(arrays)))
                    hashes, arrays = [], []
            if hashes:
                out.put(_Batch(hashes, np.stack(arrays)))
        except BaseException as exc:  # surface unexpected errors in the consumer
            out.put(exc)
        finally:
            out.put(None)

    def fill(
        self, paths: Sequence[str], *, progress: bool = True, compact: bool = True
    ) -> tuple[list[str | None], list[Skipped], int]:
        """Make sure every decodable file of ``paths`` is in the cache.

        A file missing from this signature's store is first looked up in the
        stores of the same model with other taps that include all of this
        one's (:meth:`~attr_utils.cache.EmbeddingCache.stores_with_taps`: the
        five blocks after ``taps="all"``, or a list of layers inside it); the
        rows found there are copied into this store (the requested columns
        only, renamed) without a forward pass. The reverse, ``"all"`` after
        ``"blocks"``, is not served that way: the blocks store lacks the other
        taps, and one pass computes every tap anyway.

        ``compact=False`` leaves part files as they are (distributed workers
        pass it: one compaction at the end beats one per worker and shard).

        Each file is read and hashed once: the bytes of files that need a
        forward pass are kept for the decoder (up to :data:`READ_AHEAD_BYTES`;
        files past it are read again and checked against their hash). The
        network runs while the next batches decode and the previous one is
        written to the cache (its own thread, batch order kept).

        Returns
        -------
        hashes : list
            Per path, the content hash, or None when the file was skipped.
        skipped : list of Skipped
            Files that could not be read or decoded, with the reason.
        computed : int
            How many of ``paths`` went through the network in this call (rows
            copied from another tap selection are not counted).
        """
        from tqdm.auto import tqdm

        self.store.sweep_temporary()
        present = self.store.hashes()
        ahead = _ReadAhead(present, READ_AHEAD_BYTES)
        with ThreadPoolExecutor(max_workers=4) as pool:
            read = list(pool.map(ahead.read, paths))
        hashes: list[str | None] = [h for h, _ in read]
        skipped = [Skipped(p, reason) for p, (h, reason) in zip(paths, read) if h is None]
        del read
        todo: dict[str, str] = {}
        for h, p in zip(hashes, paths):
            if h is not None and h not in present and h not in todo:
                todo[h] = p
        if todo:  # another tap selection of this model may hold them: copy, no forward pass
            for served, vectors in self._sibling_rows(list(todo)):
                self.store.write(served, vectors)
                for h in served:
                    del todo[h]
                    ahead.kept.pop(h, None)
        bad: dict[str, str] = {}
        computed_hashes: set[str] = set()
        if todo:
            q: queue.Queue = queue.Queue(maxsize=3)
            stop = threading.Event()
            producer = threading.Thread(target=self._producer, args=(list(todo.items()), q, bad, stop, ahead.kept), daemon=True)
            producer.start()
            bar = tqdm(total=len(todo), desc=f"embedding with {self.spec.name}", unit="img", disable=not progress)
            # The cache is written by its own thread, in batch order (a write waits on fsync: the
            # network keeps running meanwhile), and the network gets as many batches at once as the
            # engine runs streams (OpenVINO: one per core), so that a stream that finishes early
            # takes the next batch instead of waiting for the other.
            pending: deque = deque()
            writes: deque = deque()
            forwards = None
            writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="attr-utils-write")

            def commit(batch: _Batch, vectors) -> None:
                self.store.write(batch.hashes, vectors)
                computed_hashes.update(batch.hashes)
                bar.update(len(batch.hashes))

            def write(batch: _Batch, vectors) -> None:
                writes.append(writer.submit(commit, batch, vectors))
                while len(writes) > 2:  # errors surface here; memory stays bounded
                    writes.popleft().result()

            try:
                depth = max(1, int(getattr(self.model, "streams", 1)))
                if depth > 1:
                    forwards = ThreadPoolExecutor(max_workers=depth, thread_name_prefix="attr-utils-forward")
                while (item := q.get()) is not None:
                    if isinstance(item, BaseException):
                        raise item
                    if forwards is None:
                        write(item, self.forward(item.images))
                        continue
                    pending.append((item, forwards.submit(self.forward, item.images)))
                    while len(pending) >= depth:
                        batch, future = pending.popleft()
                        write(batch, future.result())
                while pending:
                    batch, future = pending.popleft()
                    write(batch, future.result())
                while writes:
                    writes.popleft().result()
                bar.update(len(todo) - bar.n)
            finally:
                stop.set()
                if forwards is not None:
                    forwards.shutdown(wait=True, cancel_futures=True)
                writer.shutdown(wait=True, cancel_futures=True)
                bar.close()
                while producer.is_alive():  # drain so the producer can exit
                    try:
                        q.get(timeout=0.1)
                    except queue.Empty:
                        pass
            if compact:
                self.store.compact_if_needed()
        for i, (h, p) in enumerate(zip(hashes, paths)):
            if h is not None and h in bad:
                skipped.append(Skipped(p, bad[h]))
                hashes[i] = None
        computed = sum(1 for h in hashes if h is not None and h in computed_hashes)
        return hashes, skipped, computed

    def fill_dataset(self, data: str | os.PathLike | Dataset, *, progress: bool = True, runner=None) -> EmbedReport:
        """Embed a dataset into the cache only; see :func:`fill_cache`."""
        return (runner or LocalRunner()).run(self, load_dataset(data), progress=progress)[1]

    def embed(self, data: str | os.PathLike | Dataset, *, progress: bool = True, runner=None) -> Embeddings:
        """Embed a dataset (with ``runner``, default :class:`LocalRunner`); see :func:`embed`."""
        dataset = load_dataset(data)
        hashes, report = (runner or LocalRunner()).run(self, dataset, progress=progress)
        keep = np.array([h is not None for h in hashes], dtype=bool)
        table = dataset.table[keep].reset_index(drop=True)
        table.insert(1, "hash", [h for h in hashes if h is not None])
        return Embeddings.from_store(self.store, table, label_columns=tuple(dataset.label_columns), report=report, **self.provenance(report))

    def provenance(self, report: EmbedReport) -> dict:
        """The provenance fields of the :class:`Embeddings` this embedder returns after ``report``'s run."""
        computed = bool(report.embedded)
        return {
            **self.model_spec.provenance(self.resolved),
            "engine": self.engine_used if computed else "",
            "engine_reason": self.engine_reason if computed else "",
        }

    def embed_images(self, images: Iterable, *, on_error: str = "skip") -> Embeddings:
        """Embed query images (paths, bytes or PIL images); see :func:`embed_images`."""
        on_error = check_choice("on_error", on_error, ("skip", "raise"))
        names, arrays, keys = [], [], []
        skipped: list[Skipped] = []
        total = 0
        for i, image in enumerate(images):
            total += 1
            name, key, reason = _query_key(i, image)
            if reason is None:
                try:
                    array = self.decode(image)
                except ImageDecodeError as exc:
                    reason = str(exc)
            if reason is not None:
                if on_error == "raise":
                    raise ImageDecodeError(f"cannot use image {name!r}: {reason}")
                skipped.append(Skipped(name, reason))
                continue
            names.append(name)
            keys.append(key)
            arrays.append(array)
        if total and not arrays:
            first = skipped[0]
            more = f" (and {len(skipped) - 1} more unusable)" if len(skipped) > 1 else ""
            raise ImageDecodeError(f"no usable image: cannot use image {first.path!r}: {first.reason}{more}")
        n = len(arrays)
        blocks = {b: np.zeros((n, d), dtype=np.float32) for b, d in self.spec.dims.items()}
        cacheable = [i for i, k in enumerate(keys) if k is not None]
        found = np.zeros(n, dtype=bool)
        if cacheable:
            hit, cached = self.store.get([keys[i] for i in cacheable])
            for j, i in enumerate(cacheable):
                if hit[j]:
                    found[i] = True
                    for b in blocks:
                        blocks[b][i] = cached[b][j]
            missed: dict[str, list[int]] = {}
            for i in cacheable:
                if not found[i]:
                    missed.setdefault(keys[i], []).append(i)
            for served, vectors in self._sibling_rows(list(missed)):  # read only, as computed queries are
                for j, h in enumerate(served):
                    for i in missed[h]:
                        found[i] = True
                        for b in blocks:
                            blocks[b][i] = vectors[b][j]
        todo = np.flatnonzero(~found)
        for start in range(0, len(todo), self.batch_size):
            rows = todo[start : start + self.batch_size]
            vectors = self.forward(np.stack([arrays[i] for i in rows]))
            for b in blocks:
                blocks[b][rows] = vectors[b]
        table = pd.DataFrame({"path": names, "hash": [k or "" for k in keys]})
        report = EmbedReport(images=total, embedded=len(todo), cached=int(found.sum()), skipped=tuple(skipped))
        return Embeddings(table=table, blocks=blocks, signature=self.store.signature_id, report=report, **self.provenance(report))


def embed(
    data: str | os.PathLike | Dataset,
    *,
    model: ModelSpec | None = None,
    backbone: str | None = None,
    weights: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    batch_size: int = 32,
    resize: str | None = None,
    seed: int | None = None,
    progress: bool = True,
    runner=None,
    workers: int | None = None,
    scheduler=None,
    engine: str | None = None,
    pooling: str | None = None,
    mask: str | None = None,
) -> Embeddings:
    """Embed every image of a dataset into per-block vectors.

    Parameters
    ----------
    data : str, path-like or Dataset
        A folder, a CSV manifest, a Kaggle ``styles.csv`` or a loaded
        :class:`~attr_utils.datasets.Dataset`.
    model : ModelSpec, optional
        Backbone, weights, resize policy, seed, taps, pooling and mask in one
        value (:class:`attr_utils.model.ModelSpec`). Exclusive with the
        shorthands below (``backbone``, ``weights``, ``resize``, ``seed``,
        ``pooling``, ``mask``), which build one.
    backbone : str, default="resnet50"
        The paper's ResNet-50, another registered backbone, or ``"auto"``
        (ResNet-50 when its ImageNet weights can be had, else the offline
        pretrained EfficientNet-Lite0; the choice is recorded in
        ``backbone_reason``).
    weights : str, optional
        ``"imagenet"``, ``"random[:SEED]"`` or a weights file. Default:
        ``$ATTR_UTILS_WEIGHTS``, else the backbone's pretrained weights. Never
        falls back silently: unavailable weights raise
        :class:`~attr_utils.errors.WeightsUnavailableError`.
    cache_dir : path-like, optional
        Embedding cache (default: :func:`attr_utils.cache.cache_root`,
        ``$ATTR_UTILS_CACHE``, else ``$XDG_CACHE_HOME/attr-utils`` or
        ``~/.cache/attr-utils``).
    batch_size : int, default=32
        Images per forward pass.
    resize : {"stretch", "pad", "crop"}, default="stretch"
        How images become square (stretch is Keras's ``load_img`` behaviour).
    seed : int, default=0
        Seed of ``"random"`` weights.
    progress : bool, default=True
        Show a tqdm progress bar.
    runner : object, optional
        Where the network runs: :class:`LocalRunner` (default, this process)
        or ``attr_utils.scale.DaskRunner(workers=N)`` /
        ``DaskRunner(scheduler="tcp://HOST:8786")`` (the ``[scale]`` extra;
        the cache folder must be on storage every worker sees).
    workers, scheduler
        Deprecated: use ``runner=attr_utils.scale.DaskRunner(workers=...,
        scheduler=...)``. Kept for one release (DeprecationWarning).
    engine : {"auto", "keras", "openvino"}, optional
        What runs the network; the vectors agree within 1e-5 relative, so
        every engine shares the cache. Default: ``$ATTR_UTILS_ENGINE``, else
        ``"auto"`` (OpenVINO when installed and matching Keras, else Keras).
        ``Embeddings.engine`` records the one used.
    pooling : {"average", "max", "foreground", "interior"}, default="average"
        How each tap's feature map becomes a vector: the paper's global
        average, global max, or the average over the product only
        (``"foreground"``) or over its interior (``"interior"``), with a
        per-image mask (``mask=`` picks its source; see
        :mod:`attr_utils.pooling`). Part of the cache signature.
    mask : {"auto", "alpha", "border", "saliency"}, optional
        Shorthand for ``ModelSpec(mask=...)``: where the mask of ``"foreground"``
        and ``"interior"`` pooling comes from (default ``"auto"``; the CLI's
        ``--mask``). Any other value with another pooling raises
        :class:`~attr_utils.errors.ParameterError`.

    Returns
    -------
    Embeddings
        One row per decodable image (``path``, ``hash``, labels) and one
        float32 array per block. ``report`` says how many were computed,
        served from the cache, or skipped and why.

    Raises
    ------
    ParameterError
        An invalid option, or ``model`` together with a shorthand.
    BackboneError, WeightsError, WeightsUnavailableError
        Unknown backbone or unusable weights.

    Examples
    --------
    >>> emb = embed("data/synthetic/labels.csv", weights="random")  # doctest: +SKIP
    >>> emb = embed("data/synthetic/labels.csv", model=ModelSpec("efficientnet-lite0"))  # doctest: +SKIP
    >>> emb["block2"].shape  # doctest: +SKIP
    (1000, 256)
    """
    runner = _runner(runner, workers, scheduler)
    embedder = Embedder(backbone, weights, model=model, cache_dir=cache_dir, batch_size=batch_size, resize=resize, seed=seed,
                        engine=engine, pooling=pooling, mask=mask)
    return embedder.embed(data, progress=progress, runner=runner)


def fill_cache(
    data: str | os.PathLike | Dataset,
    *,
    model: ModelSpec | None = None,
    backbone: str | None = None,
    weights: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    batch_size: int = 32,
    resize: str | None = None,
    seed: int | None = None,
    progress: bool = True,
    runner=None,
    engine: str | None = None,
    pooling: str | None = None,
    mask: str | None = None,
) -> EmbedReport:
    """Embed a dataset into the cache without loading the vectors back (large catalogs).

    Same parameters as :func:`embed`; returns only the :class:`EmbedReport`.
    """
    embedder = Embedder(backbone, weights, model=model, cache_dir=cache_dir, batch_size=batch_size, resize=resize, seed=seed,
                        engine=engine, pooling=pooling, mask=mask)
    return embedder.fill_dataset(data, progress=progress, runner=runner)


def embed_images(
    images: Iterable,
    *,
    model: ModelSpec | None = None,
    like: Embeddings | None = None,
    backbone: str | None = None,
    weights: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    resize: str | None = None,
    seed: int | None = None,
    on_error: str = "skip",
    engine: str | None = None,
    pooling: str | None = None,
    mask: str | None = None,
) -> Embeddings:
    """Embed query images (paths, uploaded bytes or PIL images).

    Parameters
    ----------
    images : iterable
        Paths, ``bytes`` (e.g. an upload) or ``PIL.Image.Image`` objects.
    model : ModelSpec, optional
        As in :func:`embed`; ``ModelSpec.from_embeddings(emb)`` embeds
        exactly as ``emb`` was.
    like : Embeddings, optional
        Same as ``model=ModelSpec.from_embeddings(like)``; overrides
        ``backbone``, ``weights``, ``resize``, ``pooling`` and ``mask``.
    backbone, weights, cache_dir, resize, seed, engine, pooling, mask
        As in :func:`embed`.
    on_error : {"skip", "raise"}, default="skip"
        ``"skip"``: images that cannot be read or decoded are left out and
        listed in ``report.skipped`` (name and reason; bytes are named
        ``<upload i>``, PIL images ``<image i>``, ``i`` their position in
        ``images``), as :func:`embed` does for datasets. ``"raise"``: the
        first such image raises.

    Returns
    -------
    Embeddings
        One row per usable image, in input order (``path``, ``hash``; the
        hash is empty for PIL images); ``report.images`` counts every input,
        ``report.skipped`` the unusable ones.

    Raises
    ------
    ImageDecodeError
        No image could be used (so a single bad image is an error, nothing
        is answered), or, with ``on_error="raise"``, any one cannot; the
        message names the image and the reason.
    ParameterError
        ``on_error`` is not ``"skip"`` or ``"raise"``; ``model`` together
        with ``like`` or a shorthand.
    """
    if like is not None:
        if model is not None:
            raise ParameterError("pass either `model=` or `like=`, not both")
        like_spec = ModelSpec.from_embeddings(like)
        model = ModelSpec(like_spec.backbone, like_spec.weights, resize=like_spec.resize, seed=0 if seed is None else seed,
                          taps=like_spec.taps, pooling=like_spec.pooling, mask=like_spec.mask)  # queries as the embeddings
        backbone = weights = resize = seed = pooling = mask = None
    on_error = check_choice("on_error", on_error, ("skip", "raise"))
    embedder = Embedder(backbone, weights, model=model, cache_dir=cache_dir, resize=resize, seed=seed, engine=engine,
                        pooling=pooling, mask=mask)
    return embedder.embed_images(images, on_error=on_error)
