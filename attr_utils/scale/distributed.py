"""Embedding a catalog on a Dask cluster: the same cache, many machines.

:class:`DaskRunner` (``attr_utils.embed(data, runner=DaskRunner(workers=2))``)
and :func:`embed_distributed` run the single-process embedder
(:class:`~attr_utils.embedder.Embedder`) on the workers of a Dask cluster:

* the client lists the dataset (no image is read or hashed there), splits its
  paths into shards and submits one task per shard;
* each worker process builds the model once (a per-process memo; with
  ``engine="openvino"`` it loads the conversion cached in the shared cache
  folder, converting once if absent) and, for
  every shard it is given, calls :meth:`Embedder.fill`, which hashes the
  shard's files, skips those already in the cache, runs the network and
  commits every batch to the cache as an atomic Parquet part;
* the client gathers each shard's hashes and skipped files as they complete
  and returns an :class:`EmbedReport` like the single-process path.

Guarantees, and why they hold:

* **Same results.** Workers run exactly the single-process code, under the
  same model signature (checked: a worker whose signature differs, e.g.
  because its weights file has other contents, fails the run), so the cache
  folder and the vectors are the ones :func:`attr_utils.embed` would produce.
* **Worker death.** A killed worker loses at most the batch it was computing:
  its committed parts stay. Dask reschedules its shards on other workers
  (``distributed.scheduler.allowed-failures`` times, 3 by default) and the
  retried shard only recomputes the batches that were not committed.
* **Client death.** Everything committed stays; rerunning the same command
  skips it (cache hits), so a run is resumable from any point.
* **No duplicate or corrupt rows.** Parts are written to a temporary name,
  fsynced and renamed; readers deduplicate by hash (two workers may embed two
  copies of the same image) and compaction drops duplicates.

The cache folder (and the images) must be on storage every worker sees under
the same path: a shared file system (NFS, Lustre, EFS, a Kubernetes
ReadWriteMany volume) mounted at the same place on the client and the workers.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from attr_utils.backbones.keras_support import TF_THREADS_ENV
from attr_utils.datasets import Dataset
from attr_utils.embedder import Embedder, embed, fill_cache
from attr_utils.embeddings import EmbedReport, Embeddings, Skipped
from attr_utils.errors import AttrUtilsError, CacheError, ParameterError
from attr_utils.model import ModelSpec
from attr_utils.validation import check_int

__all__ = ["DaskRunner", "DistributedEmbedReport", "embed_distributed", "embed_on_cluster", "worker_thread_env"]
#: Largest default shard (images per task).
MAX_SHARD = 4096
#: Seconds to wait for a scheduler given by address.
CONNECT_TIMEOUT = 20

#: Per worker process: embedder configuration -> Embedder (the model is built once per process).
_EMBEDDERS: dict[tuple, object] = {}
_EMBEDDERS_LOCK = threading.Lock()


@dataclass(frozen=True)
class DistributedEmbedReport(EmbedReport):
    """What one distributed embedding run did.

    Attributes
    ----------
    images, embedded, cached, skipped, seconds
        As in :class:`~attr_utils.embeddings.EmbedReport`.
    dashboard : str
        Address of the Dask dashboard of the cluster that ran it.
    workers : int
        Workers the cluster had when the run started.
    shards : int
        Tasks the manifest was split into.
    signature : str
        Cache folder (``<backbone>-<signature>``) the vectors were written to.
    engine : str
        Inference engine(s) the workers computed with (``"openvino"``,
        ``"keras"``, ``"keras+openvino"`` if workers differ; ``""`` if nothing
        was computed).
    engine_reason : str
        Why (one worker's reason per engine).
    """

    dashboard: str = ""
    workers: int = 0
    shards: int = 0
    signature: str = ""
    engine: str = ""
    engine_reason: str = ""


def worker_thread_env(threads: int) -> dict[str, str]:
    """Environment that limits a worker process's compute threads to ``threads``.

    Pass it to ``LocalCluster(env=...)`` or export it before ``dask worker``
    when several worker processes share one machine, so they do not
    oversubscribe its cores (TensorFlow otherwise starts one thread per core
    in every process).
    """
    n = str(check_int("threads", threads, min=1))
    return {
        TF_THREADS_ENV: n,
        "TF_NUM_INTRAOP_THREADS": n,
        "TF_NUM_INTEROP_THREADS": "1",
        "OMP_NUM_THREADS": n,
        "OPENBLAS_NUM_THREADS": n,
        "MKL_NUM_THREADS": n,
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }


# -- what runs on the workers -------------------------------------------------------


def _worker_embedder(config: dict):
    """The Embedder of this worker process for ``config`` (built once, then reused)."""
    import json

    key = json.dumps(config, sort_keys=True)
    with _EMBEDDERS_LOCK:
        embedder = _EMBEDDERS.get(key)
        if embedder is None:
            embedder = Embedder(
                model=ModelSpec.from_dict(config["model"]),
                cache_dir=config["cache_dir"],
                batch_size=config["batch_size"],
                engine=config.get("engine"),
            )
            _EMBEDDERS[key] = embedder
    return embedder


def _embed_shard(paths: Sequence[str], config: dict) -> dict:
    """Task body: embed one shard into the shared cache; return hashes and skips."""
    embedder = _worker_embedder(config)
    folder = embedder.store.signature_id
    if folder != config["signature"]:
        raise CacheError(
            f"worker {os.uname().nodename} (pid {os.getpid()}) computes signature {folder}, the client "
            f"{config['signature']}: the workers must see the same weights file and run the same attr-utils version"
        )
    start = time.perf_counter()
    hashes, skipped, computed = embedder.fill(list(paths), progress=False, compact=False)
    return {
        "hashes": hashes,
        "skipped": [(s.path, s.reason) for s in skipped],
        "computed": computed,
        "seconds": time.perf_counter() - start,
        "pid": os.getpid(),
        "engine": embedder.engine_used if computed else "",
        "engine_reason": embedder.engine_reason if computed else "",
    }


# -- the client ----------------------------------------------------------------------


class DaskRunner:
    """Run the embedder on the workers of a Dask cluster: a runner for :func:`attr_utils.embed`.

    ``embed(data, runner=DaskRunner(workers=2))`` embeds exactly as
    ``embed(data)`` does (same cache folder, same vectors), with the forward
    passes on the cluster; see the module docstring for the guarantees.
    Registered as the ``dask`` entry point of the ``attr_utils.runners``
    group, so the core finds it without importing it.

    Parameters
    ----------
    workers : int, optional
        Start a local cluster (``LocalCluster``) of this many worker
        processes, run, and shut it down. Exclusive with ``scheduler``.
    scheduler : str or distributed.Client, optional
        Address of a running scheduler (``"tcp://HOST:8786"``) or a connected
        ``Client``. Exclusive with ``workers``.
    shard_size : int, optional
        Images per task. Default: about four tasks per worker, whole batches,
        at most 4096 images (a killed worker loses at most one batch; smaller
        shards balance better, larger ones cost less scheduling).
    threads_per_worker : int, optional
        TensorFlow threads of each local worker process (``workers=`` only).
        Default: the machine's cores divided by ``workers``.

    Raises
    ------
    ParameterError
        Invalid options, or neither/both of ``workers`` and ``scheduler``.
    AttrUtilsError
        Dask is not installed (``pip install 'attr-utils[scale]'``).
    """

    def __init__(self, workers: int | None = None, scheduler=None, *, shard_size: int | None = None, threads_per_worker: int | None = None):
        import importlib.util

        if workers is not None and scheduler is not None:
            raise ParameterError("pass either `workers` (a local cluster) or `scheduler` (an existing cluster), not both")
        if workers is None and scheduler is None:
            raise ParameterError("pass `workers` (number of local worker processes) or `scheduler` (address of a Dask scheduler)")
        if scheduler is not None and not isinstance(scheduler, str) and not hasattr(scheduler, "submit"):
            raise ParameterError(f"`scheduler` must be an address like 'tcp://host:8786' or a distributed.Client, got {type(scheduler).__name__}")
        self.workers = check_int("workers", workers, min=1, allow_none=True)
        self.scheduler = scheduler
        self.shard_size = check_int("shard_size", shard_size, min=1, allow_none=True)
        self.threads_per_worker = check_int("threads_per_worker", threads_per_worker, min=1, allow_none=True)
        if importlib.util.find_spec("distributed") is None:
            raise AttrUtilsError("embedding on Dask needs the [scale] extra: pip install 'attr-utils[scale]'")

    def run(self, embedder: Embedder, dataset: Dataset, *, progress: bool = True) -> tuple[list[str | None], DistributedEmbedReport]:
        """Fill ``embedder``'s cache with ``dataset`` on the cluster (the runner protocol of :class:`attr_utils.embedder.LocalRunner`).

        Sets ``embedder.engine_used``/``engine_reason`` from what the workers used.
        """
        from tqdm.auto import tqdm

        start = time.perf_counter()
        paths = [str(p) for p in dataset.paths]
        batch_size = embedder.batch_size
        config = {
            "model": embedder.model_spec.pinned(embedder.resolved).to_dict(),
            "cache_dir": str(embedder.store.cache_root.resolve()),
            "batch_size": batch_size,
            "signature": embedder.store.signature_id,
            "engine": embedder.engine,
        }
        workers = self.workers
        client, cluster, owns = _connect(workers, self.scheduler, self.threads_per_worker)
        try:
            from dask.base import tokenize
            from distributed import KilledWorker, as_completed

            n_workers = len(client.scheduler_info().get("workers", {})) if cluster is None else workers
            if cluster is None and n_workers == 0:
                try:
                    client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
                except TimeoutError:
                    raise AttrUtilsError(f"the Dask cluster at {client.scheduler.address} has no workers; start some with `dask worker {client.scheduler.address}`") from None
                n_workers = len(client.scheduler_info().get("workers", {}))
            dashboard = client.dashboard_link or ""
            if progress:
                print(f"Dask dashboard: {dashboard}", file=sys.stderr, flush=True)
            size = self.shard_size or default_shard_size(len(paths), n_workers, batch_size)
            shards = [paths[i : i + size] for i in range(0, len(paths), size)]
            run_token = tokenize(config, time.time_ns())
            futures = {}
            for i, shard in enumerate(shards):
                fut = client.submit(_embed_shard, shard, config, key=f"attr-utils-embed-{run_token[:12]}-{i:06d}", retries=2)
                futures[fut] = i
            results: list[dict | None] = [None] * len(shards)
            bar = tqdm(total=len(paths), desc=f"embedding with {embedder.spec.name} on {n_workers} Dask workers", unit="img", disable=not progress)
            try:
                for fut in as_completed(list(futures), loop=client.loop):
                    i = futures[fut]
                    try:
                        results[i] = fut.result()
                    except KilledWorker as exc:
                        raise AttrUtilsError(
                            f"Dask gave up on shard {i} ({len(shards[i])} images from {shards[i][0]}): workers died "
                            f"while running it ({exc}); everything committed is kept, so running again resumes"
                        ) from None
                    fut.release()
                    bar.update(len(shards[i]))
            finally:
                bar.close()
        finally:
            if owns:
                client.close()
            if cluster is not None:
                cluster.close()

        embedder.store.compact_if_needed()  # once, here: the workers leave their parts as they are
        hashes = [h for r in results for h in r["hashes"]]
        skipped = list(dataset.skipped) + [Skipped(p, reason) for r in results for p, reason in r["skipped"]]
        computed = sum(r["computed"] for r in results)
        kept = sum(h is not None for h in hashes)
        reasons = {r["engine"]: r["engine_reason"] for r in results if r.get("engine")}
        embedder.engine_used = "+".join(sorted(reasons))
        embedder.engine_reason = "; ".join(f"{k}: {v}" for k, v in sorted(reasons.items()))
        report = DistributedEmbedReport(
            images=len(dataset) + len(dataset.skipped),  # every listed input: embedded + cached + skipped
            embedded=computed,
            cached=kept - computed,
            skipped=tuple(skipped),
            seconds=time.perf_counter() - start,
            dashboard=dashboard,
            workers=n_workers,
            shards=len(shards),
            signature=config["signature"],
            engine=embedder.engine_used,
            engine_reason=embedder.engine_reason,
        )
        return hashes, report


def default_shard_size(n_images: int, n_workers: int, batch_size: int) -> int:
    """Images per task: ~4 tasks per worker (load balance, small retries), whole batches, <= 4096."""
    per_task = math.ceil(n_images / max(1, 4 * n_workers))
    batches = max(1, math.ceil(per_task / batch_size))
    return min(max(batch_size, MAX_SHARD - MAX_SHARD % batch_size), batches * batch_size)


def _connect(workers, scheduler, threads_per_worker):
    """(client, cluster-or-None, owns_client) for the requested cluster."""
    from distributed import Client, LocalCluster

    if scheduler is not None and not isinstance(scheduler, str):
        return scheduler, None, False
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise AttrUtilsError(
                f"cannot reach the Dask scheduler at {scheduler!r} ({type(exc).__name__}: {exc}); "
                "start one with `dask scheduler` and pass its tcp://HOST:8786 address"
            ) from None
        return client, None, True
    cores = os.cpu_count() or 1
    threads = threads_per_worker or max(1, cores // workers)
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=40,
        env=worker_thread_env(threads),
    )
    return Client(cluster, set_as_default=False), cluster, True


def embed_distributed(
    data: str | os.PathLike | Dataset,
    *,
    workers: int | None = None,
    scheduler=None,
    model: ModelSpec | None = None,
    backbone: str | None = None,
    weights: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    batch_size: int = 32,
    resize: str | None = None,
    seed: int | None = None,
    shard_size: int | None = None,
    threads_per_worker: int | None = None,
    progress: bool = True,
    engine: str | None = None,
) -> DistributedEmbedReport:
    """Embed a dataset into the cache on a Dask cluster.

    Parameters
    ----------
    data : str, path-like or Dataset
        A folder, CSV manifest or Kaggle ``styles.csv`` (see
        :func:`~attr_utils.datasets.load_dataset`). The image paths must be
        readable by every worker under the same names.
    workers : int, optional
        Start a local cluster (``LocalCluster``) of this many worker
        processes, run, and shut it down. Exclusive with ``scheduler``.
    scheduler : str or distributed.Client, optional
        Address of a running scheduler (``"tcp://HOST:8786"``) or a connected
        ``Client``. Exclusive with ``workers``.
    model, backbone, weights, batch_size, resize, seed
        As in :func:`attr_utils.embed`. A weights file must exist at the same
        path on every worker.
    cache_dir : path-like, optional
        Embedding cache, on storage that the client and all workers share
        (default ``$ATTR_UTILS_CACHE`` or ``~/.cache/attr-utils``, which must
        then resolve to the same shared folder everywhere).
    shard_size : int, optional
        Images per task. Default: about four tasks per worker, whole batches,
        at most 4096 images (a killed worker loses at most one batch; smaller
        shards balance better, larger ones cost less scheduling).
    threads_per_worker : int, optional
        TensorFlow threads of each local worker process (``workers=`` only).
        Default: the machine's cores divided by ``workers``.
    progress : bool, default=True
        Print the dashboard address and show a progress bar (on stderr).
    engine : {"auto", "keras", "openvino"}, optional
        Inference engine of every worker (as in :func:`attr_utils.embed`;
        resolved on each worker, whose converted model is cached once in the
        shared cache folder). ``report.engine`` says what the workers used.

    Returns
    -------
    DistributedEmbedReport
        The :class:`~attr_utils.embeddings.EmbedReport` fields (images,
        embedded, cached, skipped with reasons, seconds) plus the dashboard
        address, the number of workers and shards, and the cache folder.

    Raises
    ------
    AttrUtilsError
        The scheduler cannot be reached.
    CacheError
        A worker computes another model signature than the client (different
        weights file or attr-utils version).
    ParameterError
        Invalid parameters (a ValueError and a TypeError).

    Notes
    -----
    The model is built once per worker process and reused for every shard.
    Rerunning after any failure (a worker, the client or the whole cluster
    killed) resumes: committed batches are cache hits.

    Examples
    --------
    >>> report = embed_distributed("catalog.csv", workers=2, weights="random")  # doctest: +SKIP
    >>> report = embed_distributed("catalog.csv", scheduler="tcp://10.0.0.5:8786")  # doctest: +SKIP
    >>> report.embedded, report.dashboard  # doctest: +SKIP
    """
    runner = DaskRunner(workers, scheduler, shard_size=shard_size, threads_per_worker=threads_per_worker)
    return fill_cache(
        data, model=model, backbone=backbone, weights=weights, cache_dir=cache_dir, batch_size=batch_size,
        resize=resize, seed=seed, progress=progress, runner=runner, engine=engine,
    )


def embed_on_cluster(
    data: str | os.PathLike | Dataset,
    *,
    workers: int | None = None,
    scheduler=None,
    model: ModelSpec | None = None,
    backbone: str | None = None,
    weights: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    batch_size: int = 32,
    resize: str | None = None,
    seed: int | None = None,
    shard_size: int | None = None,
    threads_per_worker: int | None = None,
    progress: bool = True,
    engine: str | None = None,
) -> Embeddings:
    """Like :func:`attr_utils.embed`, computed on a Dask cluster: returns the Embeddings.

    The workers fill the shared cache exactly as :func:`embed_distributed`
    does; the client then reads the vectors of the dataset's images from the
    cache (no image is read or hashed on the client). Use
    :func:`embed_distributed` when the catalog's vectors do not fit in the
    client's memory, and :mod:`attr_utils.retrieval.index_from_cache` to index them.

    Parameters
    ----------
    data, workers, scheduler, model, backbone, weights, cache_dir, batch_size, resize, seed, shard_size, threads_per_worker, progress, engine
        As in :func:`embed_distributed`; same as ``attr_utils.embed(data, ...,
        runner=DaskRunner(workers, scheduler, shard_size=..., threads_per_worker=...))``.

    Returns
    -------
    Embeddings
        As :func:`attr_utils.embed` returns; ``report`` is the run's
        :class:`DistributedEmbedReport` (with the dashboard address).

    Raises
    ------
    CacheError
        Vectors the workers reported are missing from the cache (the cache
        folder is not shared between the workers and the client).
    """
    runner = DaskRunner(workers, scheduler, shard_size=shard_size, threads_per_worker=threads_per_worker)
    return embed(
        data, model=model, backbone=backbone, weights=weights, cache_dir=cache_dir, batch_size=batch_size,
        resize=resize, seed=seed, progress=progress, runner=runner, engine=engine,
    )
