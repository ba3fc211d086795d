"""Embedding on a Dask cluster: same vectors, same cache, survives killed workers and clients.

One LocalCluster of 2 worker processes (1 thread each) serves the whole module;
starting it and importing TensorFlow in both workers is the slow part.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import attr_utils as au
from attr_utils.cache import SignatureStore
from attr_utils.cli import main
from attr_utils.scale.distributed import embed_distributed, embed_on_cluster, worker_thread_env
from attr_utils.errors import AttrUtilsError
from tests.conftest import make_class_folder

DIMS = {"block1": 64, "block2": 256, "block3": 512, "block4": 1024, "block5": 2048}
N_GOOD = 36


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=50, env=worker_thread_env(1)
    )
    client = Client(cluster, set_as_default=False)
    try:
        yield cluster, client
    finally:
        client.close()
        cluster.close()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """36 decodable images in 3 classes, plus an empty file and a text file posing as a JPEG."""
    root = make_class_folder(tmp_path_factory.mktemp("dist-data"), per_class=N_GOOD // 3)
    (root / "red" / "empty.png").write_bytes(b"")
    (root / "blue" / "text.jpg").write_bytes(b"this is not a jpeg")
    return root


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> str:
    """A random-init ResNet-50 saved to a file that every worker loads.

    ``weights="random"`` is not used here: Keras draws its initialisers' seeds
    from Python's process-global ``random``, which Dask's event-loop thread
    also consumes, so a seeded random model built inside a worker differs from
    one built in the test process.
    """
    import keras

    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(224, 224, 3))
    path = tmp_path_factory.mktemp("weights") / "resnet50_random0.weights.h5"
    model.save_weights(path)
    return str(path)


@pytest.fixture(scope="module")
def reference(data, weights, tmp_path_factory):
    """The single-process run."""
    return au.embed(data, weights=weights, cache_dir=tmp_path_factory.mktemp("single"), batch_size=2, progress=False)


@pytest.fixture(scope="module")
def distributed_run(cluster, data, weights, reference, tmp_path_factory):
    """The same dataset embedded on the 2-worker cluster (also warms the workers' models)."""
    cache = tmp_path_factory.mktemp("dist-cache")
    report = embed_distributed(
        data, scheduler=cluster[0].scheduler_address, weights=weights, cache_dir=cache, batch_size=2, shard_size=4, progress=False
    )
    return report, cache


def _parts(cache: Path) -> list[Path]:
    return sorted(cache.glob("embeddings/*/part-*.parquet"))


def _rows_and_unique(cache: Path) -> tuple[int, int]:
    hashes = [h for p in _parts(cache) for h in pq.read_table(p, columns=["hash"]).column("hash").to_pylist()]
    return len(hashes), len(set(hashes))


def _assert_same_vectors(emb, reference) -> None:
    assert emb.paths == reference.paths
    for block in DIMS:
        np.testing.assert_allclose(emb[block], reference[block], rtol=1e-4, atol=1e-5)


def test_results_equal_the_single_process_run(distributed_run, data, weights, reference):
    report, cache = distributed_run
    assert report.images == N_GOOD + 2 and report.embedded == N_GOOD and report.cached == 0
    assert report.workers == 2 and report.shards == 10 and report.dashboard.startswith("http")
    emb = au.embed(data, weights=weights, cache_dir=cache, batch_size=2, progress=False)
    assert emb.report.embedded == 0 and emb.report.cached == N_GOOD  # the distributed run filled the same cache
    assert emb.signature == report.signature == reference.signature
    _assert_same_vectors(emb, reference)
    assert _rows_and_unique(cache) == (N_GOOD, N_GOOD)


def test_skipped_files_are_reported_like_the_single_process_run(distributed_run, reference):
    report, _ = distributed_run
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert reasons == {Path(s.path).name: s.reason for s in reference.report.skipped}
    assert reasons["empty.png"] == "empty file" and "not an image" in reasons["text.jpg"]


@pytest.mark.slow
def test_many_parts_are_compacted_once_at_the_end(cluster, data, weights, reference, tmp_path, monkeypatch):
    import attr_utils.cache as cache

    monkeypatch.setattr(cache, "COMPACT_THRESHOLD", 4)  # the run writes 18 parts of 2 rows
    report = embed_distributed(data, scheduler=cluster[1], weights=weights, cache_dir=tmp_path, batch_size=2, shard_size=4, progress=False)
    assert report.embedded == N_GOOD
    assert len(_parts(tmp_path)) == 1 and _rows_and_unique(tmp_path) == (N_GOOD, N_GOOD)
    _assert_same_vectors(au.embed(data, weights=weights, cache_dir=tmp_path, batch_size=2, progress=False), reference)


def test_rerun_computes_nothing(cluster, distributed_run, data, weights):
    _, cache = distributed_run
    again = embed_distributed(data, scheduler=cluster[1], weights=weights, cache_dir=cache, batch_size=2, progress=False)
    assert again.embedded == 0 and again.cached == N_GOOD and len(again.skipped) == 2
    assert again.shards == 7  # default: ~4 tasks per worker in whole batches: ceil(38 / 8) -> 3 batches of 2 -> 7 shards of <= 6


def test_embed_on_cluster_returns_the_same_embeddings(cluster, distributed_run, data, weights, reference):
    _, cache = distributed_run
    emb = embed_on_cluster(data, scheduler=cluster[1], weights=weights, cache_dir=cache, batch_size=2, progress=False)
    _assert_same_vectors(emb, reference)
    assert emb.table.equals(reference.table) and emb.label_columns == reference.label_columns
    assert emb.report.cached == N_GOOD and emb.report.dashboard.startswith("http") and emb.weights == reference.weights


@pytest.mark.slow
def test_killing_a_worker_mid_run_still_completes_without_duplicates(cluster, distributed_run, data, weights, reference, tmp_path):
    _, client = cluster
    cache = tmp_path / "cache"
    outcome: dict = {}

    def run():
        try:
            outcome["report"] = embed_distributed(
                data, scheduler=cluster[0].scheduler_address, weights=weights, cache_dir=cache, batch_size=2, shard_size=4, progress=False
            )
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.time() + 240
    while len(_parts(cache)) < 2 and thread.is_alive() and time.time() < deadline:
        time.sleep(0.02)
    if not thread.is_alive():
        pytest.fail(f"the run ended before a worker could be killed: {outcome}")
    writer = int(_parts(cache)[-1].name.split("-")[2])  # part-<time>-<pid>-<random>.parquet
    assert writer in client.run(os.getpid).values()
    os.kill(writer, signal.SIGKILL)
    thread.join(timeout=600)
    assert "error" not in outcome, outcome.get("error")
    report = outcome["report"]
    assert report.images == N_GOOD + 2 and report.embedded + report.cached == N_GOOD and len(report.skipped) == 2
    assert writer not in client.run(os.getpid).values()  # the worker really died (its nanny restarted it)
    assert _rows_and_unique(cache) == (N_GOOD, N_GOOD)  # committed batches were not redone
    emb = au.embed(data, weights=weights, cache_dir=cache, batch_size=2, progress=False)
    assert emb.report.embedded == 0
    _assert_same_vectors(emb, reference)


CLIENT = textwrap.dedent(
    """
    import sys
    from attr_utils.scale.distributed import embed_distributed
    if __name__ == "__main__":
        embed_distributed(sys.argv[1], scheduler=sys.argv[2], weights=sys.argv[4], cache_dir=sys.argv[3],
                          batch_size=2, shard_size=2, progress=False)
    """
)


@pytest.mark.slow
def test_killed_client_leaves_a_resumable_cache(cluster, distributed_run, data, weights, reference, tmp_path):
    cache = tmp_path / "cache"
    script = tmp_path / "client.py"
    script.write_text(CLIENT)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, str(script), str(data), cluster[0].scheduler_address, str(cache), weights],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while len(_parts(cache)) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    if proc.poll() is not None:
        pytest.fail(f"the client ended before it could be killed: {proc.stderr.read().decode()[-2000:]}")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    committed = _rows_and_unique(cache)[1]
    assert 0 < committed < N_GOOD
    report = embed_distributed(data, scheduler=cluster[1], weights=weights, cache_dir=cache, batch_size=2, progress=False)
    assert report.cached >= committed and report.embedded + report.cached == N_GOOD
    emb = au.embed(data, weights=weights, cache_dir=cache, batch_size=2, progress=False)
    assert emb.report.embedded == 0
    _assert_same_vectors(emb, reference)
    merged = SignatureStore.open(cache / "embeddings" / report.signature)
    merged.compact()
    assert len(merged.parts()) == 1 and _rows_and_unique(cache) == (N_GOOD, N_GOOD)


@pytest.mark.slow
def test_cli_workers_starts_a_local_cluster(tmp_path, capsys):
    data = make_class_folder(tmp_path / "data", per_class=1)
    code = main(["embed", str(data), "--workers", "1", "--weights", "random", "--cache-dir", str(tmp_path / "c"), "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["embedded"] == 3 and out["workers"] == 1 and out["dashboard"].startswith("http")
    assert {"backbone", "weights", "pretrained", "images", "cached", "skipped", "blocks", "seconds"} <= out.keys()


def test_cli_scheduler_json(cluster, distributed_run, data, weights, capsys):
    _, cache = distributed_run
    code = main(["embed", str(data), "--scheduler", cluster[0].scheduler_address, "--weights", weights,
                 "--cache-dir", str(cache), "--batch-size", "2", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["cached"] == N_GOOD and out["embedded"] == 0 and len(out["skipped"]) == 2
    assert out["workers"] == 2 and out["dashboard"].startswith("http")


# -- invalid input -------------------------------------------------------------------


def test_unreachable_scheduler_is_a_clear_error(data, tmp_path, monkeypatch):
    monkeypatch.setattr("attr_utils.scale.distributed.CONNECT_TIMEOUT", 1)
    with pytest.raises(AttrUtilsError, match="cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'"):
        embed_distributed(data, scheduler="tcp://127.0.0.1:9", weights="random", cache_dir=tmp_path, progress=False)


def test_unreachable_scheduler_cli_prints_one_line(data, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("attr_utils.scale.distributed.CONNECT_TIMEOUT", 1)
    code = main(["embed", str(data), "--scheduler", "tcp://127.0.0.1:9", "--weights", "random", "--cache-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "cannot reach the Dask scheduler" in err


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_invalid_workers(data, tmp_path, workers):
    with pytest.raises(ValueError, match="`workers` must be"):
        embed_distributed(data, workers=workers, weights="random", cache_dir=tmp_path)


def test_workers_and_scheduler_are_exclusive(data, tmp_path):
    with pytest.raises(ValueError, match="not both"):
        embed_distributed(data, workers=2, scheduler="tcp://127.0.0.1:9", weights="random", cache_dir=tmp_path)


def test_workers_or_scheduler_is_required(data, tmp_path):
    with pytest.raises(ValueError, match="pass `workers`"):
        embed_distributed(data, weights="random", cache_dir=tmp_path)


def test_invalid_scheduler_type(data, tmp_path):
    with pytest.raises(TypeError, match="`scheduler` must be an address"):
        embed_distributed(data, scheduler=8786, weights="random", cache_dir=tmp_path)


def test_invalid_shard_size(data, tmp_path):
    with pytest.raises(ValueError, match="`shard_size` must be"):
        embed_distributed(data, workers=1, shard_size=0, weights="random", cache_dir=tmp_path)


@pytest.mark.parametrize(
    "argv",
    [["--workers", "0"], ["--workers", "two"], ["--workers", "2", "--scheduler", "tcp://127.0.0.1:9"], ["--shard-size", "0"]],
)
def test_cli_rejects_bad_cluster_options(data, argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(["embed", str(data), *argv])
    assert info.value.code == 2
    assert "error: argument" in capsys.readouterr().err


def test_embed_with_scheduler_and_seeded_random_weights_matches_one_process(cluster, data, tmp_path):
    """`embed(scheduler=...)` delegates to the cluster; "random" weights built in a worker equal the client's."""
    local = au.embed(data, weights="random", cache_dir=tmp_path / "local", batch_size=2, progress=False)
    remote = au.embed(data, weights="random", scheduler=cluster[1], cache_dir=tmp_path / "remote", batch_size=2, progress=False)
    assert remote.report.embedded == N_GOOD and remote.weights == "random:0"
    _assert_same_vectors(remote, local)


def test_dask_runner_accepts_numpy_ints_like_the_single_process_path(cluster, data, tmp_path):
    """Plan 1.11 group C: ``batch_size=np.int64(2)`` on a cluster works as without one (it raised before)."""
    from attr_utils.scale import DaskRunner

    local = au.embed(data, weights="random", cache_dir=tmp_path, batch_size=np.int64(2), progress=False)
    remote = au.embed(
        data, weights="random", cache_dir=tmp_path, batch_size=np.int64(2), progress=False,
        runner=DaskRunner(scheduler=cluster[1], shard_size=np.int64(8)),
    )
    assert remote.report.cached == N_GOOD and remote.report.shards == 5 and remote.signature == local.signature
    _assert_same_vectors(remote, local)
