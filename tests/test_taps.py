"""Tap discovery per backbone, the ``taps`` option of ModelSpec, and one forward pass for every tap."""

from __future__ import annotations

import numpy as np
import pytest

from attr_utils.backbones import get_backbone
from attr_utils.errors import ParameterError
from attr_utils.model import BlockModel, ModelSpec

RESNET_UNITS = [f"conv{s}_block{u}_out" for s, n in ((2, 3), (3, 4), (4, 6), (5, 3)) for u in range(1, n + 1)]


def test_resnet50_candidates_are_the_stem_and_16_units_in_depth_order():
    spec = get_backbone("resnet50")
    assert spec.layers == ("conv1_relu", *RESNET_UNITS)
    assert len(RESNET_UNITS) == 16
    assert [t.dim for t in spec.all_taps] == [64] + [256] * 3 + [512] * 4 + [1024] * 6 + [2048] * 3
    # the five blocks are among the candidates, in order, with their dims
    assert [spec.depth(t.layer) for t in spec.taps] == [0, 3, 7, 13, 16]
    assert [spec.block_of(t.layer) for t in spec.taps] == list(spec.blocks)
    assert spec.block_of("conv3_block1_out") == ""


def test_efficientnet_candidates_are_stem_16_mbconv_blocks_and_head():
    spec = get_backbone("efficientnet-lite0")
    assert spec.layers == ("stem_relu", *[f"mbconv{i}_out" for i in range(16)], "head_relu")
    assert [t.dim for t in spec.all_taps] == [32, 16, 24, 24, 40, 40, 80, 80, 80, 112, 112, 112, 192, 192, 192, 192, 320, 1280]
    assert [spec.depth(t.layer) for t in spec.taps] == [0, 3, 5, 11, 17]
    for tap in spec.taps:
        assert spec.all_taps[spec.depth(tap.layer)].dim == tap.dim


@pytest.mark.parametrize("name", ["resnet50", "efficientnet-lite0"])
def test_candidates_exist_in_the_built_model_with_their_dims_in_depth_order(name):
    from attr_utils.backbones import random_weights

    spec = get_backbone(name)
    model = spec.build(random_weights("random", 0))
    order = {layer.name: i for i, layer in enumerate(model.layers)}
    assert all(layer in order for layer in spec.layers)
    assert [order[layer] for layer in spec.layers] == sorted(order[layer] for layer in spec.layers)
    assert [model.get_layer(t.layer).output.shape[-1] for t in spec.all_taps] == [t.dim for t in spec.all_taps]


def test_blocks_keep_the_cache_signature_and_all_gets_its_own():
    blocks = ModelSpec("efficientnet-lite0", taps="blocks")
    assert blocks.signature_hash() == ModelSpec("efficientnet-lite0").signature_hash()
    assert blocks.resolve().spec.blocks == ("block1", "block2", "block3", "block4", "block5")
    every = ModelSpec("efficientnet-lite0", taps="all")
    assert every.signature_hash() != blocks.signature_hash()
    assert every.resolve().spec.blocks == get_backbone("efficientnet-lite0").layers
    # a list naming every candidate is the same model as "all"
    listed = ModelSpec("efficientnet-lite0", taps=list(get_backbone("efficientnet-lite0").layers))
    assert listed.signature_hash() == every.signature_hash()


def test_a_list_of_layers_is_put_in_depth_order_without_duplicates():
    spec = ModelSpec("resnet50", "random", taps=["conv4_block6_out", "conv1_relu", "conv4_block6_out"])
    assert spec.resolve().spec.blocks == ("conv1_relu", "conv4_block6_out")
    assert spec.resolve().spec.dims == {"conv1_relu": 64, "conv4_block6_out": 1024}


def test_taps_round_trip_through_a_dict():
    spec = ModelSpec("resnet50", "random", taps=["conv1_relu", "conv2_block1_out"])
    data = spec.to_dict()
    assert data["taps"] == ["conv1_relu", "conv2_block1_out"]
    assert ModelSpec.from_dict(data) == spec
    assert hash(spec) == hash(ModelSpec.from_dict(data))


def test_from_embeddings_keeps_layer_taps():
    from attr_utils.embeddings import Embeddings

    emb = Embeddings.from_arrays({"conv1_relu": np.zeros((2, 64)), "conv5_block3_out": np.zeros((2, 2048))}, backbone="resnet50", weights="random:0")
    assert ModelSpec.from_embeddings(emb).taps == ("conv1_relu", "conv5_block3_out")
    emb5 = Embeddings.from_arrays({f"block{i}": np.zeros((2, 3)) for i in range(1, 6)}, backbone="resnet50", weights="random:0")
    assert ModelSpec.from_embeddings(emb5).taps == "blocks"


def test_unknown_layer_is_a_parameter_error_listing_the_valid_names():
    with pytest.raises(ParameterError, match="conv2_block1_out"):
        ModelSpec("resnet50", "random", taps=["conv9_block1_out"]).resolve()


@pytest.mark.parametrize("taps", ["layers", "conv1_relu", [], [""], [3], 3, None])
def test_invalid_taps(taps):
    with pytest.raises(ParameterError):
        ModelSpec("resnet50", "random", taps=taps)


def test_one_forward_pass_equals_truncated_models_on_a_few_taps():
    from attr_utils.backbones.keras_support import import_keras

    keras = import_keras()
    resolved = ModelSpec("efficientnet-lite0", "random", taps=["stem_relu", "mbconv4_out", "mbconv9_out"]).resolve()
    model = BlockModel(resolved.spec, resolved.weights)
    images = np.random.default_rng(0).integers(0, 256, size=(3, 224, 224, 3), dtype=np.uint8)
    together = model(images)
    assert list(together) == ["stem_relu", "mbconv4_out", "mbconv9_out"]
    base = model.model
    x = resolved.spec.preprocess(images.astype(np.float32))
    for tap in resolved.spec.taps:
        truncated = keras.Model(base.input, base.get_layer(tap.layer).output)
        alone = np.asarray(truncated.predict_on_batch(x)).mean(axis=(1, 2))
        np.testing.assert_allclose(together[tap.block], alone, rtol=1e-5, atol=1e-6)
        assert together[tap.block].shape == (3, tap.dim)
