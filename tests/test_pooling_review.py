"""Regression tests for the pooling review: saliency tap, mask encoding, blank images, API and provenance."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from attr_utils import pooling as P
from attr_utils.embedder import Embedder, embed
from attr_utils.model import ModelSpec

LITE = "efficientnet-lite0"


def _noise_folder(root, n=3, seed=3):
    """Images without alpha or uniform border: "auto" must end with the saliency of the activations."""
    folder = root / "data" / "x"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        img = rng.integers(0, 256, size=(224, 224, 3), dtype=np.uint8)
        img[60:160, 70:170] = (200, 30, 40)
        Image.fromarray(img).save(folder / f"{i}.png")
    return folder.parent


# -- 1. the saliency mask comes from block5 whatever the taps ---------------------------------------------------


def test_saliency_tap_is_block5_whatever_the_taps(tmp_path):
    one = Embedder(model=ModelSpec(LITE, pooling="foreground", taps=("stem_relu",)), cache_dir=tmp_path)
    blocks = Embedder(model=ModelSpec(LITE, pooling="foreground"), cache_dir=tmp_path)
    assert one.saliency_tap == "head_relu" and blocks.saliency_tap == "block5"
    folder = _noise_folder(tmp_path)
    x = np.stack([one.decode(p.read_bytes()) for p in sorted(folder.rglob("*.png"))])
    got = one.forward(x)
    assert list(got) == ["stem_relu"]  # the extra saliency output is dropped
    assert set(one.mask_sources) <= {"saliency"} or all(k.startswith("none: saliency") for k in one.mask_sources)


def test_tap_list_vectors_do_not_depend_on_the_cache_history(tmp_path):
    """The same request gives the same vectors fresh and when reused from an earlier "blocks" folder."""
    data = _noise_folder(tmp_path)
    one = ModelSpec(LITE, pooling="foreground", taps=("stem_relu",))
    fresh = embed(data, model=one, cache_dir=tmp_path / "a", progress=False)
    embed(data, model=ModelSpec(LITE, pooling="foreground"), cache_dir=tmp_path / "b", progress=False)
    reused = embed(data, model=one, cache_dir=tmp_path / "b", progress=False)
    assert reused.report.embedded == 0  # served from the blocks folder
    ia, ib = np.argsort(fresh.paths), np.argsort(reused.paths)
    np.testing.assert_allclose(fresh["stem_relu"][ia], reused["stem_relu"][ib], rtol=1e-5, atol=1e-6)


# -- 2. mask encoding: "from the activations" is a flag, not all-zero ------------------------------------------


def test_encoding_keeps_an_all_zero_mask_apart_from_the_activations_flag():
    zero = P.Mask(np.zeros((8, 8), dtype=np.float32), "alpha", 0.0)
    np.testing.assert_array_equal(P.decode_mask(P.encode_mask(zero, 8)), np.zeros((8, 8)))
    assert P.decode_mask(P.encode_mask(None, 8)) is None
    np.testing.assert_array_equal(P.decode_mask(P.encode_mask(P.Mask(None, "none"), 8)), np.ones((8, 8)))
    soft = P.Mask(np.full((8, 8), 0.25, dtype=np.float32), "alpha", 0.25)
    np.testing.assert_allclose(P.decode_mask(P.encode_mask(soft, 8)), 0.25, atol=1 / 254)


def test_translucent_alpha_keeps_its_soft_mask_for_interior():
    found = P.alpha_mask(np.full((32, 32), 100, dtype=np.uint8))  # every pixel < 128: no binary interior
    inner = P.erode_interior(found)
    assert inner.source == "alpha+no-interior"
    np.testing.assert_array_equal(inner.weights, found.weights)


@pytest.mark.parametrize("pooling", ["foreground", "interior"])
def test_translucent_alpha_is_counted_once_and_pooled_with_its_alpha(tmp_path, pooling):
    folder = tmp_path / "data" / "g"
    folder.mkdir(parents=True)
    rgba = np.zeros((224, 224, 4), dtype=np.uint8)
    rgba[..., :3] = (30, 160, 60)
    rgba[40:180, 60:160] = (200, 30, 40, 100)  # a translucent "ghost" product
    Image.fromarray(rgba, "RGBA").save(folder / "ghost.png")
    fg = Embedder(model=ModelSpec(LITE, pooling=pooling), cache_dir=tmp_path / "c")
    emb = fg.embed(folder.parent, progress=False)
    assert sum(fg.mask_sources.values()) == 1
    assert set(fg.mask_sources) == {"alpha" if pooling == "foreground" else "alpha+no-interior"}
    if pooling == "interior":  # no interior: pooled exactly as foreground (the whole soft alpha)
        ref = embed(folder.parent, model=ModelSpec(LITE, pooling="foreground"), cache_dir=tmp_path / "c", progress=False)
        np.testing.assert_allclose(emb["block1"], ref["block1"], rtol=1e-5, atol=1e-6)


# -- 3. blank images: plain average, not the saliency map's padding artefact -------------------------------------


def _blank_images(folder):
    folder.mkdir(parents=True)
    Image.fromarray(np.full((224, 224, 3), 255, np.uint8)).save(folder / "white.png")
    Image.fromarray(np.array([[[90, 120, 200]]], np.uint8)).save(folder / "one.png")  # 1 x 1, stretched
    shirt = np.full((224, 224, 3), 255, np.uint8)
    shirt[40:180, 60:160] = 245  # a white shirt on white: within the border tolerance
    Image.fromarray(shirt).save(folder / "shirt.png")


@pytest.mark.parametrize("mask", ["auto", "saliency"])
def test_blank_images_fall_back_to_the_plain_average(tmp_path, mask):
    _blank_images(tmp_path / "data" / "x")
    fg = Embedder(model=ModelSpec(LITE, pooling="foreground", mask=mask), cache_dir=tmp_path / "c")
    emb = fg.embed(tmp_path / "data", progress=False)
    assert dict(fg.mask_sources) == {f"none: {P.BLANK_KIND}": 3}
    avg = embed(tmp_path / "data", backbone=LITE, cache_dir=tmp_path / "c", progress=False)
    assert avg.paths == emb.paths
    for block in ("block1", "block5"):  # pooled in float64: equal to the graph's float32 average to rounding
        np.testing.assert_allclose(emb[block], avg[block], rtol=1e-4, atol=1e-5)


def test_blank_mask_keeps_saliency_for_busy_images():
    rng = np.random.default_rng(0)
    busy = rng.integers(0, 256, size=(224, 224, 3), dtype=np.uint8)
    assert P.image_mask(busy, None, mask="auto") is None
    assert P.image_mask(busy, None, mask="saliency") is None


# -- 4. the API takes mask=; errors name the field that differs ------------------------------------------------


def test_embed_takes_mask(tmp_path):
    from attr_utils.embedder import embed_images, fill_cache

    _blank_images(tmp_path / "data" / "x")
    emb = embed(tmp_path / "data", backbone=LITE, pooling="foreground", mask="border", cache_dir=tmp_path / "c",
                progress=False)
    assert emb.mask == "border"
    assert fill_cache(tmp_path / "data", backbone=LITE, pooling="foreground", mask="border",
                      cache_dir=tmp_path / "c", progress=False).cached == 3
    q = embed_images([tmp_path / "data" / "x" / "white.png"], backbone=LITE, pooling="foreground", mask="border",
                     cache_dir=tmp_path / "c")
    assert q.mask == "border" and q.signature == emb.signature


def test_embed_mask_without_mask_pooling_raises(tmp_path):
    from attr_utils.errors import ParameterError

    with pytest.raises(ParameterError):
        embed(tmp_path, backbone=LITE, mask="border", cache_dir=tmp_path / "c", progress=False)


def test_catalog_names_the_pooling_that_differs():
    from dataclasses import replace

    from attr_utils.embeddings import Embeddings
    from attr_utils.errors import WeightsError
    from attr_utils.retrieval.catalog import Catalog

    rng = np.random.default_rng(0)
    base = Embeddings.from_arrays({"block1": rng.normal(size=(6, 4)), "block5": rng.normal(size=(6, 4))},
                                  {"color": list("aabbcc"), "texture": list("xyxyxy")}, weights="imagenet")
    fg = replace(base, pooling="foreground", mask="auto", signature="fg")
    avg = replace(base, pooling="average", mask="", signature="avg")
    with pytest.raises(WeightsError, match="pooling 'average' but the catalog with 'foreground'"):
        Catalog(fg, blocks={"color": "block1", "texture": "block5"}).search(avg.subset([0]), mode="color")


# -- 4. provenance names the pooling ----------------------------------------------------------------------------


def _toy(pooling="average", mask=""):
    from dataclasses import replace

    from attr_utils.embeddings import Embeddings

    rng = np.random.default_rng(0)
    emb = Embeddings.from_arrays({"block1": rng.normal(size=(4, 3))}, {"color": list("abab")}, backbone=LITE,
                                 weights="imagenet")
    return replace(emb, pooling=pooling, mask=mask, pretrained=True)


def test_banner_names_a_pooling_other_than_average():
    from attr_utils.apps.banner import provenance_html

    assert "pooling" not in provenance_html(_toy())
    text = provenance_html(_toy("foreground", "auto"))
    assert "foreground pooling (auto mask), not the paper&#x27;s average" in text
    assert "<b>pooling:</b> foreground pooling (auto mask)" in text


def test_cache_info_shows_pooling_and_taps(tmp_path):
    from attr_utils.cache import EmbeddingCache

    cache = EmbeddingCache(tmp_path)
    blocks = {"backbone": "toy", "weights": "w", "resize": "stretch", "pooling": "global_average",
              "taps": [["block1", "l1", 2], ["block2", "l2", 3]]}
    fg = {**blocks, "pooling": P.pooling_signature("foreground", "border"), "taps": [["stem_relu", "stem_relu", 2]]}
    for sig in (blocks, fg):
        dims = {t[0]: t[2] for t in sig["taps"]}
        cache.store(sig, dims).write(["a"], {k: np.zeros((1, d), np.float32) for k, d in dims.items()})
    info = cache.info().sort_values("pooling")
    assert info[["pooling", "taps"]].values.tolist() == [["average", "blocks"], ["foreground (border mask)", "stem_relu"]]
