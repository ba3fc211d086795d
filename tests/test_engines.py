"""Inference engines: parity with Keras per backbone, fallback with its reason, the conversion cache."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from attr_utils import embedder as embedder_module
from attr_utils import engines
from attr_utils.embedder import Embedder, embed
from attr_utils.errors import EngineError
from attr_utils.images import decode_image, to_model_input

needs_openvino = pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="openvino is not installed")

#: (backbone, weights): random weights for ResNet-50 (offline), the real ImageNet weights for Lite0.
CASES = [("resnet50", "random:0"), ("efficientnet-lite0", "imagenet")]
ROOT = Path(__file__).resolve().parents[1]


def _forget_models() -> None:
    """Drop this process's built models, as a new process would start."""
    with embedder_module._MODELS_LOCK:
        embedder_module._ENGINES.clear()


@pytest.fixture(scope="session")
def engine_cache(tmp_path_factory) -> Path:
    """One cache folder for the session, so each backbone is converted once."""
    return tmp_path_factory.mktemp("engine-cache")


@pytest.fixture(scope="session")
def photos(class_folder) -> list[Path]:
    """Real decoded images: 6 PNG files of three colours."""
    return sorted(class_folder.rglob("*.png"))[::3]


def _inputs(paths, size) -> np.ndarray:
    return np.stack([to_model_input(decode_image(p.read_bytes(), size=size), size=size, resize="stretch") for p in paths])


@pytest.fixture(scope="session", params=CASES, ids=[c[0] for c in CASES])
def pair(request, engine_cache, photos):
    """Keras and OpenVINO vectors of the same decoded images."""
    backbone, weights = request.param
    keras_side = Embedder(backbone, weights, cache_dir=engine_cache, engine="keras")
    ov_side = Embedder(backbone, weights, cache_dir=engine_cache, engine="openvino")
    x = _inputs(photos, keras_side.spec.input_size)
    return keras_side, ov_side, keras_side.forward(x), ov_side.forward(x)


@needs_openvino
def test_every_block_matches_keras(pair):
    keras_side, ov_side, ref, got = pair
    assert (keras_side.engine_used, ov_side.engine_used) == ("keras", "openvino")
    assert set(got) == {t.block for t in keras_side.spec.taps}
    for block, a in ref.items():
        b = got[block]
        assert b.dtype == np.float32 and b.shape == a.shape
        rel = np.linalg.norm(a - b, axis=1) / np.linalg.norm(a, axis=1)
        cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        assert rel.max() <= 1e-5, block
        assert cos.min() >= 0.9999, block


@needs_openvino
def test_vectors_do_not_depend_on_the_batch(pair, photos):
    _, ov_side, _, got = pair
    x = _inputs(photos[:1], ov_side.spec.input_size)
    one = ov_side.forward(x)
    for block, b in got.items():
        np.testing.assert_allclose(one[block][0], b[0], rtol=1e-5, atol=1e-6)


@needs_openvino
def test_preprocessing_is_numpy_and_the_graph_takes_floats(pair, engine_cache):
    _, ov_side, _, _ = pair
    model = ov_side.model
    assert isinstance(model, engines.OpenVINOBlockModel)
    (port,) = model.compiled.inputs
    assert port.get_element_type().get_type_name() == "f32"
    record = engines.conversion_key(ov_side.spec, ov_side.resolved.weights, "openvino", "x")
    assert record["preprocess"].startswith("numpy:")


@needs_openvino
def test_conversion_is_recorded(pair, engine_cache):
    _, ov_side, _, _ = pair
    (folder,) = (engine_cache / "engines").glob(f"{ov_side.spec.name}-*")
    record = json.loads((folder / "conversion.json").read_text())
    assert record["key"]["backbone"] == ov_side.spec.name
    assert record["key"]["runtime"] == "openvino" and record["key"]["runtime_version"]
    assert record["convert_seconds"] > 0
    assert record["bytes"]["model.bin"] == (folder / "model.bin").stat().st_size > 0
    assert record["parity_max_rel_error"] <= engines.PARITY_RTOL
    assert not list((engine_cache / "engines").glob(".tmp-*"))


@needs_openvino
def test_a_second_process_converts_nothing(pair, engine_cache, photos):
    _, ov_side, _, got = pair
    code = (
        "import sys, numpy as np; from attr_utils import engines; from attr_utils.embedder import Embedder;"
        f"e = Embedder({ov_side.spec.name!r}, {ov_side.resolved.weights.name!r}, cache_dir=sys.argv[1], engine='openvino');"
        "m = e.model; print(engines.conversion_count(), e.engine_used, 'tensorflow' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(engine_cache)], capture_output=True, text=True, check=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout.split()
    assert out == ["0", "openvino", "False"]  # no conversion, and no TensorFlow import either


def test_provenance_records_the_engine(class_folder, tmp_path):
    emb = embed(class_folder, backbone="efficientnet-lite0", cache_dir=tmp_path, engine="keras", progress=False)
    assert emb.engine == "keras"
    again = embed(class_folder, backbone="efficientnet-lite0", cache_dir=tmp_path, engine="keras", progress=False)
    assert again.report.embedded == 0 and again.engine == ""  # every vector from the cache
    # equal vectors, equal titles: the provenance string does not depend on which engine ran in this process
    assert emb.provenance == again.provenance and "keras" not in emb.provenance


@needs_openvino
def test_corrupt_conversion_is_rebuilt(tmp_path, photos):
    first = Embedder("efficientnet-lite0", cache_dir=tmp_path, engine="openvino")
    x = _inputs(photos, first.spec.input_size)
    reference = first.forward(x)
    (folder,) = (tmp_path / "engines").glob("efficientnet-lite0-*")
    blob = folder / "model.bin"
    blob.write_bytes(blob.read_bytes()[: blob.stat().st_size // 2])
    leftover = tmp_path / "engines" / ".tmp-deadbeef-efficientnet-lite0-x"  # a killed conversion's, hours old
    leftover.mkdir()
    os.utime(leftover, (time.time() - 7200, time.time() - 7200))
    _forget_models()
    before = engines.conversion_count()
    second = Embedder("efficientnet-lite0", cache_dir=tmp_path, engine="openvino")
    again = second.forward(x)
    assert engines.conversion_count() == before + 1
    assert second.engine_used == "openvino"
    for block in reference:
        np.testing.assert_allclose(again[block], reference[block], rtol=1e-6, atol=1e-7)
    record = json.loads((folder / "conversion.json").read_text())
    assert record["bytes"]["model.bin"] == blob.stat().st_size
    assert not leftover.exists()


def test_auto_falls_back_to_keras_when_openvino_is_missing(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(engines, "_installed", lambda name: False)
    _forget_models()
    e = Embedder("efficientnet-lite0", cache_dir=tmp_path, engine="auto")
    with caplog.at_level(logging.WARNING, logger="attr_utils.engines"):
        e.model
    assert e.engine_used == "keras"
    assert "openvino is not installed" in e.engine_reason
    assert "openvino is not installed" in caplog.text


def test_explicit_openvino_missing_raises(tmp_path, monkeypatch):
    monkeypatch.setattr(engines, "_installed", lambda name: False)
    _forget_models()
    with pytest.raises(EngineError, match="not installed"):
        Embedder("efficientnet-lite0", cache_dir=tmp_path, engine="openvino").model


@needs_openvino
def test_auto_falls_back_when_parity_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(engines, "PARITY_RTOL", -1.0)  # nothing can pass
    _forget_models()
    e = Embedder("efficientnet-lite0", cache_dir=tmp_path, engine="auto")
    e.model
    assert e.engine_used == "keras"
    assert "differ from keras" in e.engine_reason
    assert not [p for p in (tmp_path / "engines").iterdir() if not p.name.startswith(".")]  # nothing committed
    assert not list((tmp_path / "engines").iterdir())  # and no temporary left


@needs_openvino
def test_auto_picks_openvino(engine_cache, pair):
    _forget_models()
    e = Embedder(pair[1].spec.name, pair[1].resolved.weights.name, cache_dir=engine_cache, engine="auto")
    e.model
    assert e.engine_used == "openvino" and e.engine_reason.startswith("auto")


def test_engine_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(engines.ENGINE_ENV, "openvino")
    assert Embedder("efficientnet-lite0", cache_dir=tmp_path).engine == "openvino"


@pytest.mark.parametrize("engine", ["tensorrt", "", 1, "Keras"])
def test_invalid_engine(engine, tmp_path):
    with pytest.raises(ValueError):
        Embedder("efficientnet-lite0", cache_dir=tmp_path, engine=engine)


def test_invalid_engine_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(engines.ENGINE_ENV, "cuda")
    with pytest.raises(ValueError):
        Embedder("efficientnet-lite0", cache_dir=tmp_path)


def test_notebook_params_engine(monkeypatch):
    from attr_utils.apps.session import notebook_params

    monkeypatch.setenv("ATTR_UTILS_ENGINE", "openvino")
    assert notebook_params().engine == "openvino"
    assert notebook_params(engine="keras").engine == "keras"
    monkeypatch.setenv("ATTR_UTILS_ENGINE", "fast")
    with pytest.raises(ValueError):
        notebook_params()


def test_cli_engine_option(class_folder, tmp_path, capsys):
    from attr_utils.cli import main

    rc = main(["embed", str(class_folder), "--backbone", "efficientnet-lite0", "--cache-dir", str(tmp_path),
               "--engine", "keras", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["engine"] == "keras" and out["engine_reason"]
    # the human summary names the engine that computed the vectors (a warm rerun computes none)
    assert main(["embed", str(class_folder), "--backbone", "efficientnet-lite0", "--cache-dir", str(tmp_path / "b"),
                 "--engine", "keras"]) == 0
    assert "engine: keras" in capsys.readouterr().out


def test_cli_rejects_unknown_engine(class_folder, tmp_path):
    from attr_utils.cli import main

    with pytest.raises(SystemExit):
        main(["embed", str(class_folder), "--cache-dir", str(tmp_path), "--engine", "tensorrt"])


@needs_openvino
def test_dask_workers_use_the_chosen_engine(class_folder, engine_cache, pair):
    from attr_utils.scale.distributed import embed_distributed

    _, ov_side, _, _ = pair
    if ov_side.spec.name != "efficientnet-lite0":
        pytest.skip("one backbone is enough for the Dask check")
    report = embed_distributed(class_folder, workers=1, backbone="efficientnet-lite0", cache_dir=engine_cache,
                               engine="openvino", progress=False)
    assert report.embedded == 18
    assert report.engine == "openvino"
