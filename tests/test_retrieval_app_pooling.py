"""The retrieval app's "Texture read from: garment interior" choice (issue 19, item 2)."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
from PIL import Image

from attr_utils.apps.retrieval_app import (
    INTERIOR_SUFFIX,
    interior_available,
    retrieval_app,
    with_interior_texture,
)
from attr_utils.embeddings import Embeddings
from attr_utils.errors import DatasetError, ParameterError

TEXTURES = ("plain", "striped", "dotted", "leopard")
GARMENTS = ("sock", "dress", "trousers", "scarf")
BLOCKS = {"color": "c", "texture": "t"}


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """4 textures x 4 garments, one item each. Whole-image texture vectors follow the garment (shape),
    interior-pooled ones the texture; returns (catalog, interior embeddings in another row order)."""
    root = tmp_path_factory.mktemp("shop")
    rng = np.random.default_rng(0)
    shape = {g: rng.normal(0, 1, 6) * 8 for g in GARMENTS}
    pattern = {t: rng.normal(0, 1, 6) * 8 for t in TEXTURES}
    rows, c, t_image, t_inner = [], [], [], []
    for tex in TEXTURES:
        for gar in GARMENTS:
            for i in range(1):
                path = root / f"{tex}_{gar}_{i}.png"
                buf = io.BytesIO()
                Image.new("RGB", (8, 8), (40 * i, 90, 200)).save(buf, format="PNG")
                path.write_bytes(buf.getvalue())
                rows.append((str(path), tex, gar))
                c.append(rng.normal(0, 1, 4))
                t_image.append(shape[gar] + 0.2 * pattern[tex] + rng.normal(0, 0.2, 6))
                t_inner.append(pattern[tex] + 0.2 * shape[gar] + rng.normal(0, 0.2, 6))
    labels = {"color": ["blue"] * len(rows), "texture": [r[1] for r in rows], "garment": [r[2] for r in rows]}
    paths = [r[0] for r in rows]
    emb = Embeddings.from_arrays({"c": np.array(c), "t": np.array(t_image)}, labels, paths=paths)
    order = rng.permutation(len(rows))
    inner = Embeddings.from_arrays(
        {"c": np.array(c)[order], "t": np.array(t_inner)[order]},
        {k: np.asarray(v)[order] for k, v in labels.items()},
        paths=[paths[i] for i in order],
    )
    inner = dataclasses.replace(inner, pooling="interior", mask="auto")
    return emb, inner


def _texture_precision(app) -> float:
    return float(app.precision.set_index("agreement").loc["texture", "precision"])


def _garment_share(app, emb) -> float:
    row = int(app.query_picker.value)
    return float((app.results["garment"] == emb.table["garment"].iloc[row]).mean())


def test_interior_texture_follows_the_pattern_not_the_garment(shop):
    emb, inner = shop
    app = retrieval_app(emb, k=3, mode="texture", blocks=BLOCKS, interior=inner, interior_block="t")
    assert app.texture_source is not None and app.texture_source.value == "image"
    # whole image: the neighbours are the same garment in other patterns
    assert _garment_share(app, emb) == 1.0
    assert _texture_precision(app) == 0.0
    app.texture_source.value = "interior"
    assert app.interior_active
    assert app.catalog.blocks == {"color": "c", "texture": "t" + INTERIOR_SUFFIX}
    assert _texture_precision(app) == 1.0
    assert "interior pooling" in app.status.value
    # the page names the block as a person reads it, never the internal block name
    assert "t, garment interior pooling" in app.status.value and INTERIOR_SUFFIX not in app.status.value
    assert "texture search t, garment interior pooling vectors" in app.help_text.value
    assert INTERIOR_SUFFIX not in app.help_text.value
    app.texture_source.value = "image"
    assert not app.interior_active and _texture_precision(app) == 0.0
    assert "texture search t vectors" in app.help_text.value


def test_interior_is_computed_on_demand_once(shop):
    emb, inner = shop
    calls = []

    def loader(catalog_emb):
        calls.append(catalog_emb)
        return inner

    app = retrieval_app(emb, k=3, mode="texture", blocks=BLOCKS, interior=loader, interior_block="t")
    assert calls == []  # nothing computed until asked for
    app.texture_source.value = "interior"
    app.texture_source.value = "image"
    app.texture_source.value = "interior"
    assert len(calls) == 1 and calls[0] is emb
    assert _texture_precision(app) == 1.0


def test_texture_source_interior_at_start(shop):
    emb, inner = shop
    app = retrieval_app(emb, k=3, mode="texture", blocks=BLOCKS, interior=inner, texture_source="interior", interior_block="t")
    assert app.interior_active and _texture_precision(app) == 1.0


def test_colour_mode_disables_the_choice(shop):
    emb, inner = shop
    app = retrieval_app(emb, k=3, mode="color", blocks=BLOCKS, interior=inner, interior_block="t")
    assert app.texture_source.disabled
    app.mode.value = "both"
    assert not app.texture_source.disabled


def test_a_failing_loader_is_reported_and_the_app_stays_on_the_whole_image(shop):
    emb, _ = shop

    def loader(catalog_emb):
        raise DatasetError("catalog image gone")

    app = retrieval_app(emb, k=3, mode="texture", blocks=BLOCKS, interior=loader, interior_block="t")
    app.texture_source.value = "interior"
    assert app.texture_source.value == "image" and not app.interior_active
    assert "catalog image gone" in app.status.value
    app.set_query_row(5)
    assert app.results is not None and len(app.results) == 3


def test_not_offered_for_array_embeddings_by_default(shop):
    emb, _ = shop
    assert not interior_available(emb)  # from plain arrays: nothing to embed again
    app = retrieval_app(emb, k=3, blocks=BLOCKS)
    assert app.texture_source is None
    assert retrieval_app(emb, k=3, blocks=BLOCKS, interior=False).texture_source is None


def test_interior_at_start_without_a_source_is_a_parameter_error(shop):
    emb, _ = shop
    with pytest.raises(ParameterError, match="interior"):
        retrieval_app(emb, blocks=BLOCKS, texture_source="interior")


def test_interior_true_without_a_way_to_compute_it_is_a_parameter_error(shop):
    emb, _ = shop
    with pytest.raises(ParameterError, match="interior"):
        retrieval_app(emb, blocks=BLOCKS, interior=True)


def test_unknown_texture_source_is_a_parameter_error(shop):
    emb, inner = shop
    with pytest.raises(ParameterError, match="texture_source"):
        retrieval_app(emb, blocks=BLOCKS, interior=inner, texture_source="edges")


def test_wrong_interior_type_is_a_parameter_error(shop):
    emb, _ = shop
    with pytest.raises(ParameterError, match="interior"):
        retrieval_app(emb, blocks=BLOCKS, interior="yes")


def test_with_interior_texture_aligns_rows_by_path(shop):
    emb, inner = shop
    merged = with_interior_texture(emb, inner, "t")
    where = {p: i for i, p in enumerate(inner.paths)}
    expected = inner["t"][[where[p] for p in emb.paths]]
    assert np.array_equal(merged["t" + INTERIOR_SUFFIX], expected)
    assert np.array_equal(merged["t"], emb["t"]) and merged.paths == emb.paths


def test_with_interior_texture_missing_images_is_a_parameter_error(shop):
    emb, inner = shop
    with pytest.raises(ParameterError, match="miss 2"):
        with_interior_texture(emb, inner.subset(np.arange(len(inner) - 2)), "t")


def test_with_interior_texture_other_pooling_is_a_parameter_error(shop):
    emb, inner = shop
    with pytest.raises(ParameterError, match="pooling"):
        with_interior_texture(emb, dataclasses.replace(inner, pooling="average", mask=""), "t")


def test_with_interior_texture_unknown_block_is_a_parameter_error(shop):
    emb, inner = shop
    with pytest.raises(ParameterError, match="block"):
        with_interior_texture(emb, inner, "block9")


def test_with_interior_texture_other_backbone_is_a_parameter_error(shop):
    emb, inner = shop
    with pytest.raises(ParameterError, match="other|come from"):
        with_interior_texture(emb, dataclasses.replace(inner, backbone="resnet50"), "t")


def test_upload_with_a_given_interior_is_reported_not_crashed(shop):
    from attr_utils.apps.upload import Upload

    emb, inner = shop
    app = retrieval_app(emb, k=3, mode="texture", blocks=BLOCKS, interior=inner, interior_block="t")
    app.texture_source.value = "interior"
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 90, 200)).save(buf, format="PNG")
    app.set_upload(Upload(name="q.png", data=buf.getvalue(), width=8, height=8))
    assert "whole image" in app.status.value


def _as_lite0(emb):
    return dataclasses.replace(emb, backbone="efficientnet-lite0", weights="imagenet", weights_spec="imagenet",
                               weights_label="ImageNet")


def test_default_loader_embeds_the_catalog_images_with_interior_pooling(shop, monkeypatch):
    from attr_utils.apps.retrieval_app import interior_embeddings

    emb, inner = shop
    catalog = _as_lite0(emb)
    assert interior_available(catalog)
    seen = []

    def fake_embed_images(images, *, model=None, cache_dir=None, on_error="skip", **kw):
        seen.append({"images": list(images), "model": model, "on_error": on_error})
        return _as_lite0(inner)

    monkeypatch.setattr("attr_utils.embedder.embed_images", fake_embed_images)
    out = interior_embeddings(catalog)
    assert out.backbone == "efficientnet-lite0"
    (call,) = seen
    assert call["images"] == catalog.paths and call["on_error"] == "raise"
    assert (call["model"].backbone, call["model"].weights, call["model"].pooling) == ("efficientnet-lite0", "imagenet", "interior")
    # the app offers the choice by default for such a catalog, and computes it through the same loader on demand
    app = retrieval_app(catalog, k=3, mode="texture", blocks=BLOCKS, interior_block="t")
    assert app.texture_source is not None and len(seen) == 1
    app.texture_source.value = "interior"
    assert len(seen) == 2 and _texture_precision(app) == 1.0


def test_not_offered_when_the_catalog_is_already_mask_pooled(shop):
    emb, _ = shop
    if "pooling" not in {f.name for f in dataclasses.fields(Embeddings)}:
        pytest.skip("Embeddings records no pooling in this checkout")
    assert not interior_available(dataclasses.replace(_as_lite0(emb), pooling="interior", mask="auto"))
    assert retrieval_app(dataclasses.replace(_as_lite0(emb), pooling="interior", mask="auto"), blocks=BLOCKS).texture_source is None


def _five_blocks():
    rng = np.random.default_rng(1)
    blocks = {f"block{i}": rng.normal(size=(12, 3)) for i in range(1, 6)}
    return Embeddings.from_arrays(blocks, {"texture": list("ab") * 6, "color": ["red"] * 12})


def test_interior_block_defaults_to_the_block_before_the_texture_block():
    emb = _five_blocks()
    inner = dataclasses.replace(emb, pooling="interior", mask="auto")
    app = retrieval_app(emb, k=2, mode="texture", blocks={"color": "block1", "texture": "block5"}, interior=inner)
    assert app.interior_block == "block4"
    app.texture_source.value = "interior"
    assert app.catalog.blocks["texture"] == "block4" + INTERIOR_SUFFIX
    first = retrieval_app(emb, k=2, blocks={"color": "block2", "texture": "block1"}, interior=inner)
    assert first.interior_block == "block1"


def test_unknown_interior_block_is_a_block_error():
    from attr_utils.errors import BlockError

    emb = _five_blocks()
    inner = dataclasses.replace(emb, pooling="interior", mask="auto")
    with pytest.raises(BlockError):
        retrieval_app(emb, blocks={"color": "block1", "texture": "block5"}, interior=inner, interior_block="block9")


def test_interior_block_wrong_type_is_a_parameter_error():
    emb = _five_blocks()
    inner = dataclasses.replace(emb, pooling="interior", mask="auto")
    with pytest.raises(ParameterError, match="interior_block"):
        retrieval_app(emb, blocks={"color": "block1", "texture": "block5"}, interior=inner, interior_block=4)
