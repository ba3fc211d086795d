"""The embedder: one forward pass for all blocks, cache reuse, crash safety, weights."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import attr_utils as au
from attr_utils.embedder import Embedder
from attr_utils.errors import ImageDecodeError, WeightsError, WeightsUnavailableError
from tests.conftest import COLORS, make_class_folder, make_image

DIMS = {"block1": 64, "block2": 256, "block3": 512, "block4": 1024, "block5": 2048}


@pytest.fixture(scope="module")
def reference(class_folder, tmp_path_factory):
    """The class folder embedded once with random weights (seed 0)."""
    return au.embed(class_folder, weights="random", cache_dir=tmp_path_factory.mktemp("ref-cache"), batch_size=4, progress=False)


def test_five_blocks_with_the_paper_dims(reference):
    assert reference.dims == DIMS
    assert reference.backbone == "resnet50" and reference.weights == "random:0"
    assert not reference.pretrained and "RANDOM WEIGHTS" in reference.provenance
    assert len(reference) == 18 and reference.report.embedded == 18
    assert all(np.isfinite(v).all() for v in reference.blocks.values())
    assert set(reference.table.columns) == {"path", "hash", "label"}


def test_one_forward_pass_per_batch_gives_every_block(class_folder, tmp_path):
    embedder = Embedder("resnet50", "random", cache_dir=tmp_path, batch_size=4)
    emb = embedder.embed(class_folder, progress=False)
    assert embedder.forward_passes == 5  # ceil(18 / 4), not 5 blocks x 5 batches
    assert len(embedder.model.model.outputs) == 5
    assert len(emb) == 18


def test_taps_equal_truncated_models(reference, tmp_path):
    """Each pooled tap equals the naive truncated model ending at that layer."""
    import keras

    embedder = Embedder("resnet50", "random", cache_dir=tmp_path)
    full = embedder.model.model
    images = np.stack([embedder.decode(p) for p in reference.paths[:3]])
    x = embedder.spec.preprocess(images.astype(np.float32))
    for tap in embedder.spec.taps[:3]:
        truncated = keras.Model(full.input, full.get_layer(tap.layer).output)
        naive = truncated.predict_on_batch(x).mean(axis=(1, 2))
        np.testing.assert_allclose(naive, reference[tap.block][:3], rtol=1e-4, atol=1e-4)


def test_rerun_does_no_forward_pass(class_folder, reference, tmp_path, monkeypatch):
    au.embed(class_folder, weights="random", cache_dir=tmp_path, progress=False)

    def boom(self, images):
        raise AssertionError("forward pass on a warm cache")

    monkeypatch.setattr(Embedder, "forward", boom)
    again = au.embed(class_folder, weights="random", cache_dir=tmp_path, progress=False)
    assert again.report.embedded == 0 and again.report.cached == 18
    np.testing.assert_allclose(again["block4"], reference["block4"], rtol=1e-4, atol=1e-5)


def test_adding_images_embeds_only_the_new_ones(tmp_path):
    root = make_class_folder(tmp_path / "data", per_class=2)
    au.embed(root, weights="random", cache_dir=tmp_path / "c", progress=False)
    make_image(root / "red" / "new.png", COLORS["red"], seed=99)
    emb = au.embed(root, weights="random", cache_dir=tmp_path / "c", progress=False)
    assert emb.report.embedded == 1 and emb.report.cached == 6


def test_changed_weights_or_resize_never_return_stale_vectors(class_folder, reference, tmp_path):
    other_seed = au.embed(class_folder, weights="random:1", cache_dir=tmp_path, progress=False)
    assert other_seed.report.embedded == 18
    assert not np.allclose(other_seed["block2"], reference["block2"])
    padded = au.embed(class_folder, weights="random", resize="pad", cache_dir=tmp_path, progress=False)
    assert padded.report.embedded == 18


def test_bad_files_are_skipped_with_reasons_and_do_not_stop_the_run(tmp_path):
    root = make_class_folder(tmp_path / "data", per_class=2)
    (root / "red" / "empty.png").write_bytes(b"")
    (root / "red" / "text.jpg").write_bytes(b"this is not a jpeg at all")
    good = make_image(tmp_path / "big.png", (1, 2, 3), size=(300, 300))
    (root / "blue" / "truncated.png").write_bytes(good.read_bytes()[:200])
    emb = au.embed(root, weights="random", cache_dir=tmp_path / "c", progress=False)
    assert len(emb) == 6
    reasons = {Path(s.path).name: s.reason for s in emb.report.skipped}
    assert reasons.keys() == {"empty.png", "text.jpg", "truncated.png"}
    assert reasons["empty.png"] == "empty file"
    assert "not an image" in reasons["text.jpg"]


def test_env_variable_supplies_default_weights(class_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("ATTR_UTILS_WEIGHTS", "random:3")
    emb = au.embed(class_folder, cache_dir=tmp_path, progress=False)
    assert emb.weights == "random:3" and not emb.pretrained


def test_weights_file_path(class_folder, reference, tmp_path):
    import keras

    from attr_utils.model import seed_random_weights

    model = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(224, 224, 3))
    seed_random_weights(model, 0)
    path = tmp_path / "resnet50_seed0.weights.h5"
    model.save_weights(path)
    emb = au.embed(class_folder, weights=str(path), cache_dir=tmp_path / "c", progress=False)
    assert emb.weights == f"file:{path.name}" and emb.pretrained
    np.testing.assert_allclose(emb["block3"], reference["block3"], rtol=1e-4, atol=1e-4)


def test_unusable_weights_file_is_a_clear_error(class_folder, tmp_path):
    bad = tmp_path / "bad.weights.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(WeightsError, match="cannot load ResNet-50 weights from"):
        au.embed(class_folder, weights=str(bad), cache_dir=tmp_path, progress=False)
    with pytest.raises(WeightsError, match="does not exist"):
        au.embed(class_folder, weights=str(tmp_path / "missing.h5"), cache_dir=tmp_path, progress=False)


def test_imagenet_unavailable_error_names_file_place_and_alternatives(class_folder, tmp_path, monkeypatch):
    import keras

    from attr_utils.backbones import resnet50

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: None -- [Errno -2] Name or service not known")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    monkeypatch.setattr(resnet50, "_reachable", lambda url, timeout=5.0: None)  # pretend online: get_file fails
    with pytest.raises(WeightsUnavailableError) as info:
        au.embed(class_folder, cache_dir=tmp_path, progress=False)
    message = str(info.value)
    assert "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert str(tmp_path / "keras-home" / "models") in message
    assert "weights='random'" in message and "a local weights file" in message


@pytest.mark.parametrize(("option", "value"), [("batch_size", 0), ("batch_size", 2.5), ("resize", "squash")])
def test_invalid_options(class_folder, tmp_path, option, value):
    with pytest.raises(ValueError, match=option):
        au.embed(class_folder, weights="random", cache_dir=tmp_path, **{option: value})


def test_unknown_backbone(class_folder, tmp_path):
    from attr_utils.errors import BackboneError

    with pytest.raises(BackboneError, match="unknown backbone"):
        au.embed(class_folder, backbone="vgg16", weights="random", cache_dir=tmp_path)


def test_embed_images_paths_bytes_and_pil_agree(reference):
    path = reference.paths[0]
    data = Path(path).read_bytes()
    q = au.embed_images([path, data, Image.open(path)], like=reference)
    for block in ("block2", "block5"):
        np.testing.assert_allclose(q[block], np.repeat(reference[block][:1], 3, axis=0), rtol=1e-4, atol=1e-4)


def test_embed_images_refuses_undecodable_query(reference):
    with pytest.raises(ImageDecodeError, match="upload 0"):
        au.embed_images([b"definitely not an image"], like=reference)


# -- crash safety and concurrency, in real processes ---------------------------------

SCRIPT = textwrap.dedent(
    """
    import sys
    import attr_utils as au
    au.embed(sys.argv[1], weights="random", cache_dir=sys.argv[2], batch_size=int(sys.argv[3]), progress=False)
    """
)


def _spawn(tmp_path, data, cache, batch_size):
    script = tmp_path / "embed_job.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.Popen([sys.executable, str(script), str(data), str(cache), str(batch_size)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _parts(cache: Path):
    return list(cache.glob("embeddings/*/part-*.parquet"))


def test_sigkill_mid_run_loses_at_most_the_batch_in_flight(tmp_path):
    data = make_class_folder(tmp_path / "data", per_class=14)  # 42 images, 21 batches of 2
    cache = tmp_path / "cache"
    proc = _spawn(tmp_path, data, cache, batch_size=2)
    deadline = time.time() + 240
    while len(_parts(cache)) < 3 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    if proc.poll() is not None:
        pytest.fail(f"the embedding job ended before it could be killed: {proc.stderr.read().decode()[-2000:]}")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    committed = sum(1 for _ in _parts(cache))
    assert 3 <= committed < 21
    resumed = au.embed(data, weights="random", cache_dir=cache, batch_size=2, progress=False)
    assert resumed.report.cached >= 2 * committed  # everything committed before the kill is reused
    assert resumed.report.embedded + resumed.report.cached == 42
    clean = au.embed(data, weights="random", cache_dir=tmp_path / "clean", batch_size=2, progress=False)
    for block in DIMS:
        np.testing.assert_allclose(resumed[block], clean[block], rtol=1e-4, atol=1e-5)


def test_two_concurrent_writers_leave_a_consistent_cache(tmp_path):
    data = make_class_folder(tmp_path / "data", per_class=6)
    cache = tmp_path / "cache"
    procs = [_spawn(tmp_path, data, cache, batch_size=3) for _ in range(2)]
    for p in procs:
        assert p.wait(timeout=600) == 0, p.stderr.read().decode()[-2000:]
    again = au.embed(data, weights="random", cache_dir=cache, progress=False)
    assert again.report.embedded == 0 and again.report.cached == 18
    clean = au.embed(data, weights="random", cache_dir=tmp_path / "clean", progress=False)
    for block in DIMS:
        np.testing.assert_allclose(again[block], clean[block], rtol=1e-4, atol=1e-5)
    store = Embedder("resnet50", "random", cache_dir=cache).store
    store.compact()
    assert len(store.parts()) == 1 and len(store.hashes()) == 18


def test_imagenet_unreachable_host_is_reported_without_tensorflow(tmp_path, monkeypatch):
    from attr_utils.backbones import resnet50

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(resnet50, "_reachable", lambda url, timeout=5.0: "host unreachable (test)")
    with pytest.raises(WeightsUnavailableError, match=r"host unreachable \(test\)"):
        resnet50.resolve_weights("imagenet")


@pytest.fixture()
def offline_keras(tmp_path, monkeypatch):
    from attr_utils.backbones import resnet50

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(resnet50, "_reachable", lambda url, timeout=5.0: "offline (test)")
    return tmp_path / "keras" / "models" / resnet50.IMAGENET_FILE


def test_auto_falls_back_to_efficientnet_lite0_offline_and_says_why(offline_keras):
    resolved = au.resolve_backbone("auto")
    assert resolved.spec.name == "efficientnet-lite0" and resolved.weights.pretrained
    assert "neither cached nor downloadable" in resolved.reason


def test_auto_uses_resnet50_when_imagenet_weights_are_cached(offline_keras):
    offline_keras.parent.mkdir(parents=True)
    offline_keras.write_bytes(b"stand-in for the cached weights file")
    resolved = au.resolve_backbone("auto")
    assert resolved.spec.name == "resnet50" and resolved.weights.kind == "pretrained"
    assert "paper" in resolved.reason


def test_strict_default_never_falls_back(offline_keras, class_folder, tmp_path):
    with pytest.raises(WeightsUnavailableError):
        au.embed(class_folder, cache_dir=tmp_path, progress=False)


def test_auto_records_the_choice_in_results(offline_keras, class_folder, tmp_path):
    emb = au.embed(class_folder, backbone="auto", cache_dir=tmp_path, progress=False)
    assert emb.backbone == "efficientnet-lite0" and emb.pretrained
    assert emb.backbone_reason.startswith("auto:")


def test_random_weights_do_not_depend_on_pythons_global_random_state():
    """Keras's own seeding reads Python's `random`; a busy background thread must not change the weights."""
    import random
    import threading

    from attr_utils.backbones import get_backbone
    from attr_utils.model import BlockModel

    spec = get_backbone("resnet50")
    first = BlockModel(spec, spec.resolve_weights("random:7", 0)).model.get_layer("conv2_block1_1_conv").get_weights()[0]
    stop = threading.Event()

    def churn():
        while not stop.is_set():
            random.random()

    thread = threading.Thread(target=churn, daemon=True)
    thread.start()
    try:
        random.seed(12345)
        second = BlockModel(spec, spec.resolve_weights("random:7", 0)).model.get_layer("conv2_block1_1_conv").get_weights()[0]
    finally:
        stop.set()
        thread.join()
    np.testing.assert_array_equal(first, second)
    other = BlockModel(spec, spec.resolve_weights("random:8", 0)).model.get_layer("conv2_block1_1_conv").get_weights()[0]
    assert not np.array_equal(first, other)


def test_layer_taps_from_one_pass_equal_truncated_models(class_folder, tmp_path):
    """Taps between the blocks (issue 15) come from the same single pass and equal truncated models too."""
    import keras

    from attr_utils.model import ModelSpec

    layers = ["conv1_relu", "conv2_block2_out", "conv3_block1_out"]
    embedder = Embedder(model=ModelSpec("resnet50", "random:0", taps=layers), cache_dir=tmp_path, batch_size=8)
    emb = embedder.embed(class_folder, progress=False)
    assert emb.block_names == layers and embedder.forward_passes == 3  # ceil(18 / 8): one pass per batch
    full = embedder.model.model
    images = np.stack([embedder.decode(p) for p in emb.paths[:3]])
    x = embedder.spec.preprocess(images.astype(np.float32))
    base = keras.Model(full.input, [full.get_layer(name).output for name in layers])
    for name, out in zip(layers, base.predict_on_batch(x)):
        np.testing.assert_allclose(out.mean(axis=(1, 2)), emb[name][:3], rtol=1e-4, atol=1e-4)
