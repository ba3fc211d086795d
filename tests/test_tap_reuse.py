"""Issue 15: a tap selection reuses the vectors another selection of the same model already cached."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from attr_utils.cache import EmbeddingCache
from attr_utils.embedder import Embedder
from attr_utils.model import ModelSpec
from tests.conftest import make_image

ALL = ModelSpec("resnet50", "random:0", taps="all")
BLOCKS = ModelSpec("resnet50", "random:0")
LAYER_OF = {"block1": "conv1_relu", "block2": "conv2_block3_out", "block3": "conv3_block4_out",
            "block4": "conv4_block6_out", "block5": "conv5_block3_out"}


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Six tiny distinct images."""
    root = tmp_path_factory.mktemp("tap-reuse")
    colors = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200), (120, 120, 120)]
    return [str(make_image(root / f"img{i}.png", c, size=(40, 32), seed=i)) for i, c in enumerate(colors)]


@pytest.fixture(scope="module")
def fresh(images, tmp_path_factory):
    """The five blocks computed directly (blocks-only model, own cache)."""
    return _embed(BLOCKS, images, tmp_path_factory.mktemp("fresh"))[1]


class Run:
    """What one fill of the cache did: hashes, how many went through the network, the vectors."""

    def __init__(self, embedder, paths):
        self.hashes, skipped, self.computed = embedder.fill(paths, progress=False)
        assert not skipped
        found, self.blocks = embedder.store.get(self.hashes)
        assert found.all()

    def __getitem__(self, block):
        return self.blocks[block]


def _embed(model, images, cache_dir):
    embedder = Embedder(model=model, cache_dir=cache_dir, batch_size=8)
    return embedder, Run(embedder, images)


def test_blocks_after_all_do_no_forward_pass_and_equal_a_fresh_computation(images, fresh, tmp_path):
    _, every = _embed(ALL, images, tmp_path)
    embedder, emb = _embed(BLOCKS, images, tmp_path)
    assert embedder.forward_passes == 0 and emb.computed == 0
    assert list(emb.blocks) == ["block1", "block2", "block3", "block4", "block5"]
    assert embedder.store.signature == BLOCKS.signature()  # the requested signature, not the all-taps one
    for block, layer in LAYER_OF.items():
        np.testing.assert_array_equal(emb[block], every[layer])  # copied, not recomputed
        np.testing.assert_allclose(emb[block], fresh[block], rtol=1e-5, atol=1e-6)
    # committed into the blocks store: the next run is a plain hit, even with the all folder gone
    assert embedder.store.hashes() == set(emb.hashes)
    again = Embedder(model=BLOCKS, cache_dir=tmp_path, batch_size=8)
    [(source, columns)] = again.cache.stores_with_taps(again.signature)
    assert columns == LAYER_OF and source.signature == ALL.signature()
    shutil.rmtree(source.folder)
    second = Run(again, images)
    assert again.forward_passes == 0 and second.computed == 0
    np.testing.assert_array_equal(second["block2"], emb["block2"])


def test_a_partial_hit_computes_only_the_rest(images, fresh, tmp_path):
    _embed(ALL, images[:3], tmp_path)
    embedder, emb = _embed(BLOCKS, images, tmp_path)
    assert emb.computed == 3
    assert embedder.forward_passes == 1  # the three missing images, one batch
    for block in LAYER_OF:
        np.testing.assert_allclose(emb[block], fresh[block], rtol=1e-5, atol=1e-6)


def test_a_list_of_layers_inside_all_reuses_it(images, tmp_path):
    _, every = _embed(ALL, images, tmp_path)
    layers = ["conv2_block1_out", "conv4_block6_out"]
    embedder, emb = _embed(ModelSpec("resnet50", "random:0", taps=layers), images, tmp_path)
    assert embedder.forward_passes == 0 and list(emb.blocks) == layers
    for layer in layers:
        np.testing.assert_array_equal(emb[layer], every[layer])


def test_query_images_read_another_selection_too(images, tmp_path):
    _, every = _embed(ALL, images, tmp_path)
    embedder = Embedder(model=BLOCKS, cache_dir=tmp_path)
    emb = embedder.embed_images(images[:2])
    assert embedder.forward_passes == 0 and emb.report.cached == 2
    np.testing.assert_array_equal(emb["block4"], every["conv4_block6_out"][:2])


@pytest.mark.parametrize("field, value", [("weights", "random:1"), ("resize", "pad"), ("decode", -1), ("input_size", 192)])
def test_a_sibling_that_differs_beyond_taps_is_not_used(images, fresh, tmp_path, field, value):
    signature = {**ALL.signature(), field: value}
    dims = ALL.resolve().spec.dims
    decoy = EmbeddingCache(tmp_path).store(signature, dims)
    decoy.write(fresh.hashes, {b: np.zeros((6, d), np.float32) for b, d in dims.items()})
    embedder, emb = _embed(BLOCKS, images, tmp_path)
    assert embedder.cache.stores_with_taps(embedder.signature) == []
    assert emb.computed == 6 and embedder.forward_passes == 1
    np.testing.assert_allclose(emb["block2"], fresh["block2"], rtol=1e-5, atol=1e-6)


def test_a_sibling_missing_a_requested_tap_is_not_used(tmp_path):
    cache = EmbeddingCache(tmp_path)
    some = ModelSpec("resnet50", "random:0", taps=["conv1_relu", "conv2_block3_out"])
    cache.store(some.signature(), some.resolve().spec.dims)
    assert cache.stores_with_taps(BLOCKS.signature()) == []
    found = cache.stores_with_taps(ModelSpec("resnet50", "random:0", taps=["conv2_block3_out"]).signature())
    assert [cols for _, cols in found] == [{"conv2_block3_out": "conv2_block3_out"}]


def test_get_reads_only_the_columns_asked_for(tmp_path):
    from attr_utils.errors import BlockError

    store = EmbeddingCache(tmp_path).store({"backbone": "toy"}, {"a": 2, "b": 3})
    store.write(["h1", "h2"], {"a": np.ones((2, 2), np.float32), "b": np.arange(6, dtype=np.float32).reshape(2, 3)})
    found, blocks = store.get(["h2", "nope"], columns=["b"])
    assert found.tolist() == [True, False] and list(blocks) == ["b"]
    np.testing.assert_array_equal(blocks["b"][0], [3, 4, 5])
    assert np.isnan(blocks["b"][1]).all()
    with pytest.raises(BlockError):
        store.get(["h1"], columns=["c"])
