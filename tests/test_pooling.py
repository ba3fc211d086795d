"""Pooling options (issue 19): the signature, the masks on constructed images, and foreground pooling doing its job."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from PIL import Image

from attr_utils import pooling as P
from attr_utils.embedder import Embedder, embed, embed_images
from attr_utils.engines import PARITY_RTOL, parity_error
from attr_utils.errors import ParameterError
from attr_utils.model import ModelSpec

LITE = "efficientnet-lite0"


# -- options and signature ----------------------------------------------------------------------------------------


def test_average_signature_is_unchanged():
    """Caches written before the pooling option stay valid: "average" hashes as it always did."""
    spec = ModelSpec("resnet50", "random")
    assert spec.signature()["pooling"] == "global_average"
    assert spec.signature_hash() == "ee57cc0754b4bd7353c0394e65db31b7e4e4796e7611167c39a2bb1fc190b57f"
    assert ModelSpec("resnet50", "random", pooling="average").signature_hash() == spec.signature_hash()


def test_signature_differs_per_pooling_and_mask():
    hashes = {
        (p, m): ModelSpec("resnet50", "random", pooling=p, mask=m).signature_hash()
        for p in P.POOLINGS
        for m in (P.MASK_SOURCES if P.uses_mask(p) else ("auto",))
    }
    assert len(set(hashes.values())) == len(hashes) == 2 + 2 * len(P.MASK_SOURCES)


def test_spec_round_trips_pooling():
    spec = ModelSpec(LITE, pooling="interior", mask="border")
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    assert spec.pinned().pooling == "interior" and spec.pinned().mask == "border"
    prov = spec.provenance()
    assert (prov["pooling"], prov["mask"]) == ("interior", "border")
    assert ModelSpec(LITE).provenance()["pooling"] == "average"


def test_old_spec_dicts_still_load():
    assert ModelSpec.from_dict({"backbone": LITE, "weights": None, "resize": "stretch", "seed": 0, "taps": "blocks"}).pooling == "average"


@pytest.mark.parametrize("value", ["mean", "", None, 3, "Foreground"])
def test_invalid_pooling(value):
    with pytest.raises(ParameterError):
        ModelSpec(LITE, pooling=value)


@pytest.mark.parametrize("value", ["edge", None, 1])
def test_invalid_mask(value):
    with pytest.raises(ParameterError):
        ModelSpec(LITE, pooling="foreground", mask=value)


def test_mask_without_mask_pooling():
    with pytest.raises(ParameterError):
        ModelSpec(LITE, pooling="average", mask="border")


def test_invalid_pooling_in_embed(tmp_path):
    with pytest.raises(ParameterError):
        embed(tmp_path, backbone=LITE, pooling="median")


def test_pooling_with_model_raises(tmp_path):
    with pytest.raises(ParameterError):
        Embedder(model=ModelSpec(LITE), pooling="max", cache_dir=tmp_path)


# -- masks on constructed images (exact) ---------------------------------------------------------------------------


def _garment_on(background, *, size=224, box=(60, 80, 150, 170), colour=(200, 30, 40)):
    img = np.empty((size, size, 3), dtype=np.uint8)
    img[:] = background
    top, left, bottom, right = box
    img[top:bottom, left:right] = colour
    truth = np.zeros((size, size), dtype=np.float32)
    truth[top:bottom, left:right] = 1.0
    return img, truth


@pytest.mark.parametrize("background", [(255, 255, 255), (20, 160, 60), (0, 0, 0)])
def test_border_mask_is_exact_on_a_uniform_background(background):
    img, truth = _garment_on(background)
    found = P.border_mask(img)
    assert found.source == "border"
    np.testing.assert_array_equal(found.weights, truth)
    assert found.fraction == pytest.approx(truth.mean())


def test_border_mask_tolerates_noise_within_tolerance():
    img, truth = _garment_on((240, 240, 240))
    noise = np.random.default_rng(0).integers(-8, 9, size=img.shape)
    noisy = np.clip(img.astype(int) + noise * (truth[..., None] == 0), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(P.border_mask(noisy).weights, truth)


def test_alpha_mask_is_exact():
    alpha = np.zeros((64, 64), dtype=np.uint8)
    alpha[10:40, 20:50] = 255
    found = P.alpha_mask(alpha)
    assert found.source == "alpha"
    np.testing.assert_array_equal(found.weights, (alpha > 0).astype(np.float32))


def test_alpha_mask_from_a_decoded_png(tmp_path):
    """The embedder reads the file's alpha channel: the mask channel is the alpha, the RGB is composited on white."""
    rgba = np.zeros((224, 224, 4), dtype=np.uint8)
    rgba[..., :3] = (10, 200, 30)  # hidden colour under transparent pixels
    rgba[50:150, 70:170] = (200, 30, 40, 255)
    path = tmp_path / "cut-out.png"
    Image.fromarray(rgba, "RGBA").save(path)
    x = Embedder(LITE, pooling="foreground", cache_dir=tmp_path / "c").decode(path.read_bytes())
    assert x.shape == (224, 224, 4)
    np.testing.assert_array_equal(P.decode_mask(x[..., 3]), rgba[..., 3] / 255.0)  # binary alpha: exact
    assert (x[0, 0, :3] == 255).all() and tuple(x[100, 100, :3]) == (200, 30, 40)
    plain = Embedder(LITE, cache_dir=tmp_path / "c").decode(path.read_bytes())
    np.testing.assert_array_equal(x[..., :3], plain)  # same pixels as the average path


def test_auto_prefers_alpha_then_border():
    img, truth = _garment_on((255, 255, 255))
    alpha = np.zeros(truth.shape, dtype=np.uint8)
    alpha[:100, :100] = 255  # a different shape than the border mask would give
    assert P.image_mask(img, alpha, mask="auto").source == "alpha"
    assert P.image_mask(img, None, mask="auto").source == "border"
    assert P.image_mask(img, alpha, mask="border").source == "border"
    assert P.image_mask(img, alpha, mask="saliency") is None


@pytest.mark.parametrize(
    "box, why",
    [((110, 110, 114, 114), "<"), ((2, 2, 222, 222), "not uniform"), ((0, 0, 224, 224), "0.0% <")],
    ids=["tiny", "fills-frame", "all-garment"],
)
def test_implausible_border_mask_falls_back(box, why):
    img, _ = _garment_on((255, 255, 255), box=box)
    found = P.border_mask(img)
    assert found.weights is None and found.source == "none" and why in found.reason
    assert P.image_mask(img, None, mask="border").weights is None  # explicit source: plain average
    auto = P.image_mask(img, None, mask="auto")
    if why == "not uniform":
        assert auto is None  # auto: the saliency of the forward pass is next
    else:  # a uniform border with (almost) no foreground: blank, plain average without trying saliency
        assert auto.weights is None and auto.kind == P.BLANK_KIND
    assert (P.encode_mask(P.image_mask(img, None, mask="border"), 224) == 254).all()  # plain average: uniform weights


def test_textured_background_is_not_uniform():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, size=(224, 224, 3), dtype=np.uint8)
    assert "not uniform" in P.border_mask(img).reason


def test_opaque_alpha_falls_back():
    found = P.alpha_mask(np.full((32, 32), 255, dtype=np.uint8))
    assert found.weights is None and ">" in found.reason


def test_interior_erodes_by_a_fraction_of_the_object():
    img, truth = _garment_on((255, 255, 255), box=(40, 40, 140, 140))  # 100 x 100 object
    inner = P.erode_interior(P.border_mask(img))
    r = int(np.ceil(P.INTERIOR_EROSION * 100))
    expected = np.zeros_like(truth)
    expected[40 + r : 140 - r, 40 + r : 140 - r] = 1
    assert inner.source == "border+interior"
    np.testing.assert_array_equal(inner.weights, expected)


def test_thin_object_keeps_its_mask():
    _, truth = _garment_on((255, 255, 255), box=(20, 100, 204, 104))  # a 4 px wide strip
    found = P.Mask(truth, "border", float(truth.mean()))
    assert P.erode_interior(found).source == "border+no-interior"


def test_saliency_mask_marks_the_energetic_cells():
    fmap = np.zeros((7, 7, 4), dtype=np.float32)
    fmap[2:5, 1:4] = 3.0
    found = P.saliency_mask(fmap, 224)
    expected = np.zeros((224, 224), dtype=np.float32)
    expected[64:160, 32:128] = 1
    assert found.source == "saliency"
    np.testing.assert_array_equal(found.weights, expected)
    assert P.saliency_mask(np.ones((7, 7, 4)), 224).weights is None  # flat map: nothing above the mean


def test_area_resize_is_block_mean_and_keeps_mass():
    rng = np.random.default_rng(0)
    m = rng.random((2, 224, 224)).astype(np.float32)
    small = P.area_resize(m, 7, 7)
    np.testing.assert_allclose(small, m.reshape(2, 7, 32, 7, 32).mean(axis=(2, 4)), rtol=1e-5)
    odd = P.area_resize(m, 10, 10)  # not a divisor: still the covered mean
    np.testing.assert_allclose(odd.mean(axis=(1, 2)), m.mean(axis=(1, 2)), rtol=1e-5)


def test_pool_maps_with_all_ones_equals_the_average():
    rng = np.random.default_rng(0)
    maps = {"a": rng.random((3, 14, 14, 5)).astype(np.float32), "b": rng.random((3, 7, 7, 6)).astype(np.float32)}
    ones = np.full((3, 224, 224), 254, dtype=np.uint8)  # encode_mask of a "none" mask
    vectors, _ = P.pool_maps(maps, ones, pooling="foreground")
    for k, f in maps.items():
        np.testing.assert_allclose(vectors[k], f.mean(axis=(1, 2)), rtol=1e-6)


def test_pool_maps_weights_by_the_mask():
    f = np.zeros((1, 2, 2, 1), dtype=np.float32)
    f[0, 0, 0, 0] = 8.0
    channel = np.zeros((1, 224, 224), dtype=np.uint8)
    channel[0, :112, :112] = 254
    vectors, _ = P.pool_maps({"a": f}, channel, pooling="foreground")
    assert vectors["a"][0, 0] == pytest.approx(8.0)


# -- the model ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def squares(tmp_path_factory):
    """Garments on backgrounds: 4 PNG files (white, green and red studio backgrounds, one cut-out with alpha)."""
    folder = tmp_path_factory.mktemp("squares")
    paths = []
    for i, bg in enumerate([(255, 255, 255), (30, 170, 60), (200, 40, 40)]):
        img, _ = _garment_on(bg, colour=(40, 60, 200 - 20 * i))
        paths.append(folder / f"s{i}.png")
        Image.fromarray(img).save(paths[-1])
    rgba = np.zeros((224, 224, 4), dtype=np.uint8)
    rgba[40:180, 60:160] = (230, 200, 20, 255)
    paths.append(folder / "cut.png")
    Image.fromarray(rgba, "RGBA").save(paths[-1])
    return paths


def test_average_vectors_are_bitwise_unchanged(squares, tmp_path):
    """The default path is today's: the same graph (global average pooling layer) and the same vectors."""
    from attr_utils.model import BlockModel

    emb = Embedder(LITE, cache_dir=tmp_path)
    assert emb.graph == "global_average" and isinstance(emb._keras_model(), BlockModel)
    x = np.stack([emb.decode(p.read_bytes()) for p in squares])
    got = emb.forward(x)
    keras = emb._keras_model().model
    assert [type(layer).__name__ for layer in keras.layers[-5:]] == ["GlobalAveragePooling2D"] * 5
    ref = keras.predict_on_batch(emb.spec.preprocess(x.astype(np.float32)))
    for tap, r in zip(emb.spec.taps, ref):
        np.testing.assert_array_equal(got[tap.block], np.asarray(r, dtype=np.float32))


def test_max_and_foreground_with_ones_against_the_feature_maps(squares, tmp_path):
    avg = Embedder(LITE, cache_dir=tmp_path)
    mx = Embedder(LITE, pooling="max", cache_dir=tmp_path)
    fg = Embedder(LITE, pooling="foreground", cache_dir=tmp_path)
    x = np.stack([avg.decode(p.read_bytes()) for p in squares])
    maps = fg._keras_model()(x)
    assert maps["block1"].ndim == 4
    a, m = avg.forward(x), mx.forward(x)
    ones = np.concatenate([x, np.full(x.shape[:3] + (1,), 254, np.uint8)], axis=-1)
    f = fg.forward(ones)
    for block, fmap in maps.items():
        np.testing.assert_allclose(m[block], fmap.max(axis=(1, 2)), rtol=1e-6)
        exact = fmap.astype(np.float64).mean(axis=(1, 2))  # all-ones mask = the plain average
        np.testing.assert_allclose(f[block], exact, rtol=1e-5, atol=1e-6)
    # the global average layer sums in float32 (about 2e-5 relative off the exact mean at 112 x 112); pool_maps in float64
    assert parity_error(a, f) <= 10 * PARITY_RTOL


def test_foreground_uses_the_decoded_masks(squares, tmp_path):
    fg = Embedder(LITE, pooling="foreground", cache_dir=tmp_path)
    emb = fg.embed(squares[0].parent, progress=False)
    assert emb.pooling == "foreground" and emb.mask == "auto"
    assert "foreground pooling" in emb.provenance
    assert dict(fg.mask_sources) == {"border": 3, "alpha": 1}
    again = embed(squares[0].parent, backbone=LITE, pooling="foreground", cache_dir=tmp_path, progress=False)
    assert again.report.embedded == 0 and again.signature == emb.signature  # cached under its own signature
    avg = embed(squares[0].parent, backbone=LITE, cache_dir=tmp_path, progress=False)
    assert avg.report.embedded == 4 and avg.signature != emb.signature  # never mixed with the average's


def test_queries_like_embeddings_keep_the_pooling(squares, tmp_path):
    emb = embed(squares[0].parent, backbone=LITE, pooling="interior", cache_dir=tmp_path, progress=False)
    q = embed_images([squares[1].read_bytes()], like=emb, cache_dir=tmp_path)
    assert q.pooling == "interior"
    row = emb.paths.index(str(squares[1]))
    np.testing.assert_allclose(q["block3"][0], emb["block3"][row], rtol=1e-6)


def test_foreground_beats_average_on_a_colour_task(tmp_path):
    """A small garment on a large saturated background: its colour is read only when the background is left out.

    Reference images: red garments on green, blue garments on yellow; queries:
    the swap (red on yellow, blue on green). Garments cover about 9 % of the
    image. The query's nearest reference by the colour block (block2) must
    have the query's garment colour: the average follows the background
    (wrong), foreground pooling the garment (right).
    """
    rng = np.random.default_rng(7)
    red, blue = (210, 30, 35), (30, 50, 210)
    green, yellow = (40, 190, 60), (240, 200, 20)
    cases = {"ref": [("red", red, green), ("blue", blue, yellow)], "query": [("red", red, yellow), ("blue", blue, green)]}
    for split, pairs in cases.items():
        for name, colour, bg in pairs:
            (tmp_path / split / name).mkdir(parents=True)
            for k in range(4):
                top, left = rng.integers(20, 140, size=2)
                side = int(rng.integers(64, 72))
                shade = rng.integers(-20, 21, size=3)
                img, _ = _garment_on(bg, box=(top, left, top + side, left + side),
                                     colour=tuple(int(np.clip(c + s, 0, 255)) for c, s in zip(colour, shade)))
                Image.fromarray(img).save(tmp_path / split / name / f"{k}.png")
    scores = {}
    for pooling in ("average", "foreground"):
        ref, query = (embed(tmp_path / split, backbone=LITE, pooling=pooling, cache_dir=tmp_path / "c", progress=False)
                      for split in ("ref", "query"))
        unit = [e["block2"] / np.linalg.norm(e["block2"], axis=1, keepdims=True) for e in (ref, query)]
        nearest = (unit[1] @ unit[0].T).argmax(axis=1)
        column = ref.label_columns[0]
        scores[pooling] = float((ref.labels(column)[nearest] == query.labels(column)).mean())
    assert scores["foreground"] == 1.0, scores
    assert scores["average"] <= 0.25, scores


@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="openvino is not installed")
def test_openvino_feature_maps_match_keras(squares, tmp_path):
    """Mask poolings convert a graph that ends at the feature maps; its parity check compares the maps themselves."""
    from attr_utils import engines

    keras_side = Embedder(LITE, pooling="foreground", cache_dir=tmp_path, engine="keras")
    ov_side = Embedder(LITE, pooling="interior", cache_dir=tmp_path, engine="openvino")  # shares the conversion
    x = np.stack([keras_side.decode(p.read_bytes()) for p in squares])
    assert x.shape[-1] == 4
    ref, got = keras_side.forward(x), Embedder(LITE, pooling="foreground", cache_dir=tmp_path, engine="openvino").forward(x)
    assert ov_side.model is not None and ov_side.engine_used == "openvino"
    assert parity_error(ref, got) <= PARITY_RTOL
    record = ov_side.engine_conversion
    assert record["key"]["pooling"] == "spatial" and record["parity_max_rel_error"] <= PARITY_RTOL
    assert engines.conversion_key(keras_side.spec, keras_side.resolved.weights, "openvino", "v")["pooling"] == "global_average"


# -- probe, CLI, notebook parameters ----------------------------------------------------------------------------------


def _pooled_pair(n_per_class=10, seed=0):
    """Two Embeddings of the same 'images': the average blurs the classes, the foreground separates them."""
    from dataclasses import replace

    from attr_utils.embeddings import Embeddings

    rng = np.random.default_rng(seed)
    y = np.repeat(["red", "blue", "green"], n_per_class)
    centres = {"red": 0.0, "blue": 1.0, "green": 2.0}
    signal = np.array([centres[c] for c in y])[:, None]
    noise = rng.normal(size=(len(y), 4))
    avg = Embeddings.from_arrays({"block1": (0.1 * signal + noise).astype(np.float32),
                                  "block2": (0.2 * signal + noise).astype(np.float32)}, {"color": y})
    avg = replace(avg, table=avg.table.assign(hash=[f"h{i}" for i in range(len(y))]))
    fg = replace(avg, blocks={"block1": (5 * signal + 0.2 * noise).astype(np.float32),
                              "block2": (5 * signal + 0.2 * noise).astype(np.float32)}, pooling="foreground", mask="auto")
    return avg, fg


def test_probe_layers_names_the_pooling():
    from attr_utils.analysis import probe_layers

    _, fg = _pooled_pair()
    result = probe_layers(fg, "color", probes="knn", groups=None)
    assert set(result.folds["pooling"]) == {"foreground"} and set(result.summary["pooling"]) == {"foreground"}
    assert result.attrs["pooling"] == "foreground" and result.to_dict()["pooling"] == "foreground"
    assert "foreground pooling" in result.attrs["provenance"]


def test_compare_poolings_is_a_tidy_table():
    from attr_utils.analysis import compare_poolings

    avg, fg = _pooled_pair()
    table = compare_poolings([avg, fg], "color", groups=None)
    assert list(table[["pooling", "tap"]].itertuples(index=False, name=None)) == [
        ("average", "block1"), ("average", "block2"), ("foreground", "block1"), ("foreground", "block2")]
    assert (table["base"] == "average").all() and table.loc[table.pooling == "average", "mean_diff"].isna().all()
    fg_rows = table[table.pooling == "foreground"]
    assert (fg_rows["mean"] == 1.0).all() and (fg_rows["mean_diff"] > 0.3).all() and fg_rows["distinguishable"].all()
    assert set(table.attrs["poolings"]) == {"average", "foreground"}


def test_compare_poolings_refuses_other_images():
    from dataclasses import replace

    from attr_utils.analysis import compare_poolings

    avg, fg = _pooled_pair()
    other = replace(fg, table=fg.table.assign(hash=[f"x{i}" for i in range(len(fg))]))
    with pytest.raises(ParameterError):
        compare_poolings([avg, other], "color", groups=None)
    with pytest.raises(ParameterError):
        compare_poolings([avg, avg], "color", groups=None)


def test_probe_poolings_rejects_unknown_pooling(tmp_path):
    from attr_utils.analysis import probe_poolings

    with pytest.raises(ParameterError):
        probe_poolings(tmp_path, "color", poolings=("average", "mean"), backbone=LITE)
    with pytest.raises(ParameterError):
        probe_poolings(tmp_path, "color", poolings=("average", "average"), backbone=LITE)


def test_probe_poolings_embeds_each_pooling(squares, tmp_path):
    from attr_utils.analysis import probe_poolings

    folder = tmp_path / "data"
    for i in range(8):  # two colours of garment on white: 4 per class
        (folder / ("red" if i % 2 else "blue")).mkdir(parents=True, exist_ok=True)
        img, _ = _garment_on((255, 255, 255), box=(40 + 5 * i, 50, 120 + 5 * i, 140),
                             colour=(200, 30, 30 + 3 * i) if i % 2 else (30, 40, 200 - 3 * i))
        Image.fromarray(img).save(folder / ("red" if i % 2 else "blue") / f"{i}.png")
    table = probe_poolings(folder, "label", poolings=("average", "max", "foreground"), backbone=LITE,
                           cache_dir=tmp_path / "c", k=1, folds=2, taps=["block2"])
    assert list(table["pooling"]) == ["average", "max", "foreground"]
    assert table["mean"].between(0, 1).all()


def test_cli_pooling_reaches_the_signature(squares, tmp_path, capsys):
    import json

    from attr_utils.cache import EmbeddingCache
    from attr_utils.cli import main

    assert main(["embed", str(squares[0].parent), "--backbone", LITE, "--cache-dir", str(tmp_path),
                 "--pooling", "foreground", "--mask", "border", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    expected = Embedder(model=ModelSpec(LITE, pooling="foreground", mask="border"), cache_dir=tmp_path)
    assert out["signature"] == expected.store.signature_id
    assert out["pooling"] == "foreground" and out["mask_sources"] == {"border": 4}  # the cut-out is composited on white: a border too
    assert expected.store.signature["pooling"]["mask"] == "border"
    assert out["mask_sources_counted"] == 4
    # warm cache: nothing embedded now, nothing counted, and the output says how many the count covers
    assert main(["embed", str(squares[0].parent), "--backbone", LITE, "--cache-dir", str(tmp_path),
                 "--pooling", "foreground", "--mask", "border", "--json"]) == 0
    warm = json.loads(capsys.readouterr().out)
    assert warm["mask_sources"] == {} and warm["mask_sources_counted"] == 0
    assert out["signature"] != Embedder(LITE, cache_dir=tmp_path).store.signature_id
    assert len(list((EmbeddingCache(tmp_path).root / "embeddings").iterdir())) >= 1


def test_cli_rejects_unknown_pooling(squares, tmp_path):
    from attr_utils.cli import main

    with pytest.raises(SystemExit):
        main(["embed", str(squares[0].parent), "--backbone", LITE, "--cache-dir", str(tmp_path), "--pooling", "median"])


def test_notebook_params_pooling(monkeypatch):
    from attr_utils.apps.session import notebook_params

    assert notebook_params().pooling == "average"
    monkeypatch.setenv("ATTR_UTILS_POOLING", "interior")
    monkeypatch.setenv("ATTR_UTILS_MASK", "border")
    p = notebook_params()
    assert (p.pooling, p.mask) == ("interior", "border") and "interior (border mask)" in p._repr_markdown_()
    assert notebook_params(pooling="max").pooling == "max"


def test_notebook_params_invalid_pooling(monkeypatch):
    from attr_utils.apps.session import notebook_params

    monkeypatch.setenv("ATTR_UTILS_POOLING", "median")
    with pytest.raises(ParameterError, match=r"`\$ATTR_UTILS_POOLING` must be one of"):  # names the variable
        notebook_params()
    monkeypatch.delenv("ATTR_UTILS_POOLING")
    monkeypatch.setenv("ATTR_UTILS_MASK", "edges")
    with pytest.raises(ParameterError, match=r"`\$ATTR_UTILS_MASK` must be one of"):
        notebook_params()
    with pytest.raises(ParameterError, match="`pooling` must be one of"):  # a keyword argument is named as such
        notebook_params(pooling="median", mask="auto")


def test_extractor_embeds_queries_with_its_pooling(squares, tmp_path):
    """An extractor fitted on foreground vectors pools image queries alike (same signature), also after save/load."""
    from attr_utils.retrieval.extractor import AttributeExtractor

    folder = tmp_path / "data"
    for i in range(6):
        name = "red" if i % 2 else "blue"
        (folder / name).mkdir(parents=True, exist_ok=True)
        img, _ = _garment_on((30, 170, 60), box=(40 + 6 * i, 50, 120 + 6 * i, 140),
                             colour=(200, 30, 30 + 5 * i) if i % 2 else (30, 40, 200 - 5 * i))
        Image.fromarray(img).save(folder / name / f"{i}.png")
    emb = embed(folder, backbone=LITE, pooling="foreground", cache_dir=tmp_path / "c", progress=False)
    ex = AttributeExtractor(k=1, block="block2", cache_dir=tmp_path / "c").fit(emb, emb.label_columns[0])
    query = sorted((folder / "red").glob("*.png"))[0]
    assert ex.predict([query.read_bytes()])["value"].iloc[0] == "red"
    loaded = AttributeExtractor.load(ex.save(tmp_path / "ex"), cache_dir=tmp_path / "c")
    assert loaded.pooling_ == "foreground"
    assert loaded.predict([query.read_bytes()])["value"].iloc[0] == "red"


def test_cli_probe_compares_poolings(squares, tmp_path, capsys):
    import json

    from attr_utils.cli import main

    folder = tmp_path / "data"
    for i in range(8):
        name = "red" if i % 2 else "blue"
        (folder / name).mkdir(parents=True, exist_ok=True)
        img, _ = _garment_on((255, 255, 255), box=(40 + 5 * i, 50, 120 + 5 * i, 140),
                             colour=(200, 30, 30 + 3 * i) if i % 2 else (30, 40, 200 - 3 * i))
        Image.fromarray(img).save(folder / name / f"{i}.png")
    args = ["probe", str(folder), "--label", "label", "--backbone", LITE, "--cache-dir", str(tmp_path / "c"),
            "--probes", "knn", "--k", "1", "--folds", "2", "--compare-poolings", "average,interior"]
    assert main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    blocks = [f"block{i}" for i in range(1, 6)]
    assert [(r["pooling"], r["tap"]) for r in data["rows"]] == [(p, b) for p in ("average", "interior") for b in blocks]
    assert "interior pooling" in data["poolings"]["interior"]
    assert main(args) == 0
    assert "poolings compared: average, interior" in capsys.readouterr().out


def test_fallbacks_are_counted_by_kind(tmp_path):
    """Images whose masks are implausible are pooled with the plain average and counted by reason."""
    folder = tmp_path / "data" / "x"
    folder.mkdir(parents=True)
    for i, box in enumerate([(110, 110, 114, 114), (111, 111, 116, 116), (60, 60, 160, 160)]):
        img, _ = _garment_on((255, 255, 255), box=box)
        Image.fromarray(img).save(folder / f"{i}.png")
    fg = Embedder(model=ModelSpec(LITE, pooling="foreground", mask="border"), cache_dir=tmp_path / "c")
    emb = fg.embed(folder.parent, progress=False)
    assert dict(fg.mask_sources) == {"none: border foreground < 5%": 2, "border": 1}
    avg = embed(folder.parent, backbone=LITE, cache_dir=tmp_path / "c", progress=False)
    tiny = [emb.paths.index(str(folder / f"{i}.png")) for i in (0, 1)]
    assert avg.paths == emb.paths
    assert parity_error({"b": avg["block3"][tiny]}, {"b": emb["block3"][tiny]}) <= 10 * PARITY_RTOL  # fallback = average
    big = emb.paths.index(str(folder / "2.png"))
    assert parity_error({"b": avg["block3"][[big]]}, {"b": emb["block3"][[big]]}) > 0.01  # a real mask changes the vector


def test_saliency_masks_come_from_the_same_forward_pass(tmp_path):
    """No alpha, no uniform border: "auto" ends with the saliency of block5's activations, counted per image."""
    folder = tmp_path / "data" / "x"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    for i in range(3):
        img = rng.integers(0, 256, size=(224, 224, 3), dtype=np.uint8)  # a busy background
        img[60:160, 70:170] = (200, 30, 40)
        Image.fromarray(img).save(folder / f"{i}.png")
    for mask in ("auto", "saliency"):
        fg = Embedder(model=ModelSpec(LITE, pooling="foreground", mask=mask), cache_dir=tmp_path / "c")
        x = np.stack([fg.decode(p.read_bytes()) for p in sorted(folder.glob("*.png"))])
        assert (x[..., 3] == P.FROM_ACTIVATIONS).all()  # nothing at decode time: the forward pass decides
        passes = fg.forward_passes
        fg.forward(x)
        assert fg.forward_passes == passes + 1
        assert sum(fg.mask_sources.values()) == 3
        assert all(k == "saliency" or k.startswith("none: saliency") for k in fg.mask_sources), fg.mask_sources


@pytest.mark.parametrize("mode", ["LA", "P", "RGBA"])
@pytest.mark.parametrize("resize", ["stretch", "pad", "crop"])
def test_alpha_follows_the_image_geometry(tmp_path, mode, resize):
    """Every transparent mode keeps its alpha; the mask goes through the image's resize policy (pad = background)."""
    rgba = np.zeros((100, 200, 4), dtype=np.uint8)
    rgba[..., :3] = 255
    rgba[20:80, 120:180] = (200, 30, 40, 255)  # opaque product on the right, transparent elsewhere
    img = Image.fromarray(rgba, "RGBA")
    if mode == "LA":
        img = img.convert("LA")
    elif mode == "P":
        img = img.convert("RGB").quantize(4)
        alpha_index = img.getpixel((0, 0))
        img.info["transparency"] = alpha_index
    path = tmp_path / f"x-{mode}.png"
    img.save(path)
    fg = Embedder(model=ModelSpec(LITE, resize=resize, pooling="foreground", mask="alpha"), cache_dir=tmp_path / "c")
    x = fg.decode(path.read_bytes())
    plain = Embedder(model=ModelSpec(LITE, resize=resize), cache_dir=tmp_path / "c").decode(path.read_bytes())
    np.testing.assert_array_equal(x[..., :3], plain)
    mask = x[..., 3] > 127
    product = (np.abs(plain.astype(int) - (255, 255, 255)).sum(axis=-1) > 60)
    assert mask.any() and (mask == product).mean() > 0.98  # the alpha outlines what is drawn, after the same resize
