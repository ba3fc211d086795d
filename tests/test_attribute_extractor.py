"""The trainless few-shot attribute extractor (attr_utils.retrieval.extractor)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from attr_utils.retrieval.extractor import AttributeExtractor
from attr_utils.embeddings import Embeddings
from attr_utils.errors import BackboneError, WeightsError

DIM = 32


def make_centres(n_values=5, seed=0):
    rng = np.random.default_rng(seed)
    return {f"v{i}": rng.normal(size=DIM) * 3 for i in range(n_values)}


def sample(centre, n, rng, noise=0.6):
    return centre + noise * rng.normal(size=(n, DIM))


def examples_emb(centres, per_value=12, seed=1, backbone="arrays", weights="none"):
    rng = np.random.default_rng(seed)
    vectors = np.vstack([sample(c, per_value, rng) for c in centres.values()])
    values = np.repeat(list(centres), per_value)
    return Embeddings.from_arrays(
        {"block1": rng.normal(size=(len(values), 4)), "block3": vectors},
        {"color": values},
        paths=[f"ex/{i}.png" for i in range(len(values))],
        backbone=backbone,
        weights=weights,
    )


@pytest.fixture(scope="module")
def centres():
    return make_centres()


@pytest.fixture(scope="module")
def queries(centres):
    rng = np.random.default_rng(7)
    names = list(centres)
    x = np.vstack([sample(centres[v], 10, rng) for v in names])
    return x, np.repeat(names, 10)


@pytest.fixture()
def extractor(centres):
    return AttributeExtractor("block3", k=5).fit(examples_emb(centres), "color")


def test_predicts_known_values(extractor, queries):
    x, truth = queries
    out = extractor.predict(x)
    assert list(out.columns) == ["path", "value", "confidence", "unknown", "distance"]
    assert (out["value"] == truth).mean() == 1.0
    assert out["confidence"].between(0, 1).all()
    assert not out["unknown"].any()


def test_fitted_state(extractor, centres):
    assert extractor.classes_ == sorted(centres)
    assert extractor.block_ == "block3" and extractor.label_ == "color"
    assert extractor.vectors_.shape == (60, DIM)
    np.testing.assert_allclose(np.linalg.norm(extractor.vectors_, axis=1), 1.0, rtol=1e-5)
    assert np.isfinite(extractor.threshold_) and extractor.threshold_ > 0


def test_confidence_is_weighted_vote_share(centres):
    # 3 examples of "a" at the query's direction, 2 of "b" farther away
    a, b = np.eye(DIM)[0], np.eye(DIM)[1]
    vecs = np.vstack([a, a + 0.01 * b, a + 0.02 * b, a + 0.5 * b, a + 0.6 * b])
    emb = Embeddings.from_arrays({"x": vecs}, {"color": ["a", "a", "a", "b", "b"]})
    ex = AttributeExtractor("x", k=5).fit(emb, "color")
    out = ex.predict(a[None, :])
    d = 1 - (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)) @ a
    w = 1 / (np.maximum(d, 0) + 1e-6)
    assert out["value"].iloc[0] == "a"
    assert out["confidence"].iloc[0] == pytest.approx(w[:3].sum() / w.sum(), rel=1e-4)


def test_new_value_learned_from_a_handful_without_changing_others(extractor, centres, queries):
    x, _ = queries
    before = extractor.predict(x)
    rng = np.random.default_rng(3)
    new_centre = np.random.default_rng(99).normal(size=DIM) * 3
    extractor.add_examples("teal", sample(new_centre, 4, rng))
    assert "teal" in extractor.classes_
    new_queries = sample(new_centre, 10, rng)
    assert (extractor.predict(new_queries)["value"] == "teal").all()
    after = extractor.predict(x)
    pd.testing.assert_series_equal(before["value"], after["value"])
    np.testing.assert_allclose(before["confidence"], after["confidence"])


def test_more_examples_of_an_existing_value_keep_the_others(extractor, centres, queries):
    x, _ = queries
    n = len(extractor.vectors_)
    old = extractor.vectors_.copy()
    extractor.add_examples("v0", sample(centres["v0"], 3, np.random.default_rng(5)))
    assert len(extractor.vectors_) == n + 3
    np.testing.assert_array_equal(extractor.vectors_[:n], old)
    assert extractor.examples_["value"].tolist()[-3:] == ["v0"] * 3


def test_far_away_query_is_unknown(extractor):
    far = np.random.default_rng(11).normal(size=(3, DIM)) * 3  # random directions, none near a centre
    out = extractor.predict(far)
    assert out["unknown"].all()
    assert (out["distance"] > extractor.threshold_).all()


def test_threshold_is_calibrated_quantile_of_loo_distances(extractor):
    q = np.quantile(extractor.loo_distances_, 0.95) * 1.25
    assert extractor.threshold_ == pytest.approx(q)


def test_unknown_disabled(centres, queries):
    ex = AttributeExtractor("block3", unknown_quantile=None).fit(examples_emb(centres), "color")
    far = np.random.default_rng(11).normal(size=(3, DIM))
    assert not ex.predict(far)["unknown"].any()


def test_save_load_round_trips_exactly(tmp_path, extractor, queries):
    x, _ = queries
    extractor.add_examples("teal", np.random.default_rng(2).normal(size=(4, DIM)))
    extractor.save(tmp_path / "ex")
    files = sorted(p.name for p in (tmp_path / "ex").iterdir())
    assert files == ["examples.parquet", "extractor.json"]
    loaded = AttributeExtractor.load(tmp_path / "ex")
    np.testing.assert_array_equal(loaded.vectors_, extractor.vectors_)
    pd.testing.assert_frame_equal(loaded.examples_, extractor.examples_)
    assert loaded.threshold_ == extractor.threshold_
    assert loaded.classes_ == extractor.classes_
    assert (loaded.block_, loaded.k, loaded.backbone_, loaded.weights_) == ("block3", 5, "arrays", "none")
    pd.testing.assert_frame_equal(loaded.predict(x), extractor.predict(x))


def test_load_refuses_other_backbone(tmp_path, extractor):
    extractor.save(tmp_path / "ex")
    with pytest.raises(BackboneError, match="arrays"):
        AttributeExtractor.load(tmp_path / "ex", backbone="resnet50")


def test_load_refuses_other_weights(tmp_path, centres):
    ex = AttributeExtractor("block3").fit(examples_emb(centres, backbone="resnet50", weights="random:0"), "color")
    ex.save(tmp_path / "ex")
    assert AttributeExtractor.load(tmp_path / "ex", backbone="resnet50", weights="random").weights_ == "random:0"
    with pytest.raises(WeightsError, match="random:0"):
        AttributeExtractor.load(tmp_path / "ex", weights="random:1")


def test_predict_refuses_embeddings_of_other_model(extractor, centres):
    other = examples_emb(centres, backbone="resnet50", weights="random:0")
    with pytest.raises(BackboneError):
        extractor.predict(other)


def test_predict_accepts_embeddings_of_same_model(extractor, centres):
    emb = examples_emb(centres, seed=4)
    out = extractor.predict(emb)
    assert (out["value"].to_numpy() == emb.labels("color")).mean() == 1.0
    assert out["path"].tolist() == emb.paths


def test_default_block_from_backbone_registry(centres):
    rng = np.random.default_rng(0)
    blocks = {f"block{i}": rng.normal(size=(10, 8)) for i in range(1, 6)}
    emb = Embeddings.from_arrays(blocks, {"color": list("aabbccddee"), "texture": list("abababab" + "ab")},
                                 backbone="resnet50", weights="random:0")
    assert AttributeExtractor().fit(emb, "color").block_ == "block2"
    assert AttributeExtractor().fit(emb, "texture").block_ == "block4"


def test_saved_json_names_model(tmp_path, extractor):
    extractor.save(tmp_path / "ex")
    meta = json.loads((tmp_path / "ex" / "extractor.json").read_text())
    assert meta["backbone"] == "arrays" and meta["weights"] == "none" and meta["block"] == "block3"


# -- invalid parameters: one test each ---------------------------------------------
@pytest.mark.parametrize("k", [0, -1, 2.5])
def test_invalid_k(centres, k):
    with pytest.raises(ValueError):
        AttributeExtractor("block3", k=k).fit(examples_emb(centres), "color")


def test_invalid_unknown_quantile(centres):
    with pytest.raises(ValueError):
        AttributeExtractor("block3", unknown_quantile=1.5).fit(examples_emb(centres), "color")


def test_invalid_unknown_margin(centres):
    with pytest.raises(ValueError):
        AttributeExtractor("block3", unknown_margin=-1).fit(examples_emb(centres), "color")


def test_unknown_block(centres):
    with pytest.raises(ValueError):
        AttributeExtractor("block9").fit(examples_emb(centres), "color")


def test_missing_label(centres):
    with pytest.raises(KeyError):
        AttributeExtractor("block3").fit(examples_emb(centres), "texture")


def test_predict_before_fit():
    with pytest.raises(RuntimeError):
        AttributeExtractor().predict(np.zeros((1, DIM)))


def test_vector_dimension_mismatch(extractor):
    with pytest.raises(ValueError):
        extractor.predict(np.zeros((1, DIM + 1)))


def test_images_for_array_fitted_extractor(extractor):
    with pytest.raises(TypeError):
        extractor.predict(["some.png"])


def test_load_missing(tmp_path):
    with pytest.raises(FileNotFoundError):
        AttributeExtractor.load(tmp_path / "nothing")


def test_load_foreign_json(tmp_path, extractor):
    extractor.save(tmp_path / "ex")
    (tmp_path / "ex" / "extractor.json").write_text('{"kind": "other", "format": 1}')
    with pytest.raises(ValueError):
        AttributeExtractor.load(tmp_path / "ex")


def test_blank_labels_are_left_out_with_a_warning_never_a_value(centres):
    emb = examples_emb(centres)
    table = emb.table.copy()
    table["color"] = table["color"].astype(object)
    table.loc[:2, "color"] = ["", "  ", None]
    from dataclasses import replace

    with pytest.warns(UserWarning, match="3 example"):
        ex = AttributeExtractor("block3").fit(replace(emb, table=table), "color")
    assert "" not in ex.classes_ and "  " not in ex.classes_ and len(ex.examples_) == len(emb) - 3


@pytest.mark.parametrize("value", ["unknown", "UNKNOWN", "a\tb", "two\nlines", "", 3])
def test_add_examples_refuses_reserved_or_multiline_value_names(centres, value):
    from attr_utils.errors import ParameterError

    emb = examples_emb(centres)
    ex = AttributeExtractor("block3").fit(emb, "color")
    with pytest.raises(ParameterError):
        ex.add_examples(value, emb.subset([0, 1]))
    assert len(ex.examples_) == len(emb)


def test_saved_params_record_the_model_the_examples_came_from(tmp_path, centres):
    from dataclasses import replace

    emb = replace(examples_emb(centres, backbone="efficientnet-lite0", weights="random:0"),
                  weights_spec="random:0", resize="pad")
    AttributeExtractor("block3").fit(emb, "color").save(tmp_path / "ex")  # constructor defaults: resnet50
    params = json.loads((tmp_path / "ex" / "extractor.json").read_text())["params"]
    assert (params["backbone"], params["weights"], params["resize"]) == ("efficientnet-lite0", "random:0", "pad")
    loaded = AttributeExtractor.load(tmp_path / "ex")
    assert (loaded.backbone, loaded.weights, loaded.resize) == ("efficientnet-lite0", "random:0", "pad")


def test_exclude_self_leaves_an_example_out_of_its_own_vote(centres):
    """An example predicted from its own catalog row votes for itself at distance 0 unless exclude_self."""
    emb = examples_emb(centres)
    table = emb.table.copy()
    table.loc[0, "color"] = "v1"  # a mislabelled example among v0's: only its own vote says v1
    emb = Embeddings(table=table, blocks=emb.blocks, backbone=emb.backbone, weights=emb.weights)
    ex = AttributeExtractor("block3", k=5).fit(emb, "color")
    one = emb.subset([0])
    with_self = ex.votes(one)
    assert with_self["distance"].iloc[0] == 0.0 and with_self["neighbours"].iloc[0][0] == "ex/0.png"
    assert with_self["value"].iloc[0] == "v1"  # distance 0 outweighs four neighbours
    left_out = ex.votes(one, exclude_self=True)
    assert "ex/0.png" not in left_out["neighbours"].iloc[0]
    assert left_out["value"].iloc[0] == "v0" and left_out["distance"].iloc[0] > 0
    dist, rows, _ = ex.kneighbors(one, exclude_self=True)
    assert 0 not in rows[0] and np.isfinite(dist).all()
    assert ex.predict(one, exclude_self=True)["value"].iloc[0] == "v0"
