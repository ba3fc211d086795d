"""Retrieval by colour, texture or both, and its leave-one-out evaluation (attr_utils.retrieval)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from attr_utils.embeddings import Embeddings
from attr_utils.errors import ParameterError
from attr_utils.retrieval import Catalog, evaluate_retrieval, resolve_blocks, search

N_COLORS, N_TEXTURES, REPEATS = 6, 5, 8


def blobs(seed=0, noise=0.35, leak=0.4, n_repeats=REPEATS):
    """Colour clusters in block2, texture clusters in block4, each block leaking some of the other attribute.

    The leak makes each single mode imperfect on the other attribute, so
    mode ``both`` has something to win.
    """
    rng = np.random.default_rng(seed)
    color = np.repeat(np.arange(N_COLORS), N_TEXTURES * n_repeats)
    texture = np.tile(np.repeat(np.arange(N_TEXTURES), n_repeats), N_COLORS)
    cc, tc = rng.normal(size=(N_COLORS, 24)), rng.normal(size=(N_TEXTURES, 24))
    n = len(color)
    block2 = np.hstack([cc[color], leak * tc[texture]]) + noise * rng.normal(size=(n, 48))
    block4 = np.hstack([tc[texture], leak * cc[color]]) + noise * rng.normal(size=(n, 48))
    block1 = rng.normal(size=(n, 16))
    return Embeddings.from_arrays(
        {"block1": block1, "block2": block2, "block4": block4},
        {"color": [f"c{c}" for c in color], "texture": [f"t{t}" for t in texture]},
        paths=[f"img/{i:04d}.png" for i in range(n)],
    )


BLOCKS = {"color": "block2", "texture": "block4"}


@pytest.fixture(scope="module")
def emb():
    return blobs()


@pytest.fixture(scope="module")
def catalog(emb):
    return Catalog(emb, blocks=BLOCKS)


def test_result_columns_and_order(catalog):
    out = catalog.search(0, k=7)
    assert list(out.columns[:6]) == ["rank", "row", "path", "distance_color", "distance_texture", "score"]
    assert {"color", "texture"} <= set(out.columns)
    assert out["rank"].tolist() == list(range(1, 8))
    assert out["score"].is_monotonic_increasing
    assert out.attrs["color_block"] == "block2" and out.attrs["texture_block"] == "block4"
    assert out.attrs["backbone"] == "arrays"


def test_catalog_item_ranks_itself_first(catalog, emb):
    for row in (0, 17, len(emb) - 1):
        for mode in ("color", "texture", "both"):
            out = catalog.search(row, mode=mode, k=3, exclude_self=False)
            assert out["row"].iloc[0] == row
            assert out["path"].iloc[0] == emb.paths[row]


def test_vector_query_of_a_catalog_item_ranks_it_first(catalog, emb):
    row = 42
    out = catalog.search({"color": emb["block2"][row], "texture": emb["block4"][row]}, k=1)  # no hash: nothing excluded
    assert out["row"].iloc[0] == row


def test_exclude_self_is_the_default(catalog):
    out = catalog.search(5, k=5)
    assert 5 not in out["row"].tolist()
    assert len(out) == 5
    pd.testing.assert_frame_equal(out, catalog.search(5, k=5, exclude_self=True))


def test_exclude_self_leaves_out_the_query_content_group():
    # rows 0, 1 and 7 are byte-identical copies (same hash); a row query excludes all three
    emb = blobs()
    emb.table["hash"] = [f"h{i}" for i in range(len(emb))]
    emb.table.loc[[1, 7], "hash"] = "h0"
    catalog = Catalog(emb, blocks=BLOCKS)
    for mode in ("color", "texture", "both"):
        rows = catalog.search(0, mode=mode, k=20)["row"].tolist()
        assert not {0, 1, 7} & set(rows)
        assert len(rows) == 20
    kept = catalog.search(0, k=20, exclude_self=False)["row"].tolist()
    assert kept[0] == 0
    assert catalog.excluded_rows(1).tolist() == [0, 1, 7]
    assert catalog.excluded_rows(content_hash="h0").tolist() == [0, 1, 7]
    assert catalog.excluded_rows(content_hash="nope").tolist() == []


def test_color_mode_returns_same_colour(catalog, emb):
    colors = emb.labels("color")
    for row in range(0, len(emb), 37):
        out = catalog.search(row, mode="color", k=REPEATS * N_TEXTURES)  # a whole colour class
        assert (out["color"] == colors[row]).mean() >= 0.95


def test_texture_mode_returns_same_texture(catalog, emb):
    textures = emb.labels("texture")
    for row in range(0, len(emb), 37):
        out = catalog.search(row, mode="texture", k=REPEATS * N_COLORS)
        assert (out["texture"] == textures[row]).mean() >= 0.95


def test_both_mode_returns_same_colour_and_texture(catalog, emb):
    colors, textures = emb.labels("color"), emb.labels("texture")
    row = 11
    out = catalog.search(row, mode="both", alpha=0.5, k=REPEATS, exclude_self=True)
    same = (out["color"] == colors[row]) & (out["texture"] == textures[row])
    assert same.mean() >= 0.85


def test_alpha_one_equals_color_mode_and_zero_texture_mode(catalog):
    for row in (3, 99, 200):
        color = catalog.search(row, mode="color", k=25)
        texture = catalog.search(row, mode="texture", k=25)
        for method in ("rank", "rrf", "linear"):
            both1 = catalog.search(row, mode="both", alpha=1.0, method=method, k=25)
            both0 = catalog.search(row, mode="both", alpha=0.0, method=method, k=25)
            assert both1["row"].tolist() == color["row"].tolist()
            assert both0["row"].tolist() == texture["row"].tolist()
            cols = ["rank", "row", "path", "distance_color", "distance_texture"]
            pd.testing.assert_frame_equal(both1[cols], color[cols])
            pd.testing.assert_frame_equal(both0[cols], texture[cols])
        pd.testing.assert_frame_equal(catalog.search(row, mode="both", alpha=1.0, method="linear", k=25), color)


def test_single_modes_ignore_alpha(catalog):
    a = catalog.search(9, mode="color", alpha=0.2, k=10)
    b = catalog.search(9, mode="color", alpha=0.9, k=10)
    pd.testing.assert_frame_equal(a, b)


def test_distances_are_cosine_distances(catalog, emb):
    out = catalog.search(0, k=5)
    x = emb["block2"]
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    expected = 1 - xn[out["row"].to_numpy()] @ xn[0]
    np.testing.assert_allclose(out["distance_color"], expected, atol=1e-5)


def test_scores_are_standardised_by_median_and_iqr(catalog):
    out = catalog.search(0, mode="both", alpha=0.3, method="linear", k=5)
    s = catalog.scales.set_index("mode")
    z_c = (out["distance_color"] - s.loc["color", "median"]) / s.loc["color", "iqr"]
    z_t = (out["distance_texture"] - s.loc["texture", "median"]) / s.loc["texture", "iqr"]
    np.testing.assert_allclose(out["score"], 0.3 * z_c + 0.7 * z_t, atol=1e-5)
    assert (s["iqr"] > 0).all()


def test_search_function_matches_catalog_method(catalog, emb):
    pd.testing.assert_frame_equal(search(emb, 4, blocks=BLOCKS, k=6), catalog.search(4, k=6))


def test_ann_catalog_agrees_with_exact(emb, catalog):
    ann = Catalog(emb, blocks=BLOCKS, index="ann")
    assert ann.kind == "ivf"
    for row in (0, 50, 123):
        for mode in ("color", "both"):
            a = ann.search(row, mode=mode, k=10, exclude_self=False)
            e = catalog.search(row, mode=mode, k=10, exclude_self=False)
            assert len(set(a["row"]) & set(e["row"])) >= 9
            assert a["row"].iloc[0] == row


def test_ann_index_recall_against_exact_on_block(emb):
    from attr_utils.retrieval.index import build_index

    x = emb["block2"]
    exact = build_index(x, kind="exact").search(x, 10)[1]
    approx = build_index(x, kind="ann", seed=0).search(x, 10)[1]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, approx)])
    assert recall >= 0.95


def test_default_blocks_from_backbone_registry():
    rng = np.random.default_rng(0)
    blocks = {f"block{i}": rng.normal(size=(5, 4)) for i in range(1, 6)}
    emb = Embeddings.from_arrays(blocks, {"color": list("abcde")}, backbone="resnet50", weights="random:0")
    assert resolve_blocks(emb) == {"color": "block2", "texture": "block4"}
    assert resolve_blocks(emb, {"texture": "block5"}) == {"color": "block2", "texture": "block5"}
    assert resolve_blocks(emb, ("block1", "block3")) == {"color": "block1", "texture": "block3"}


def test_recommend_blocks_output_is_accepted(emb):
    rec = {"color": "block2", "texture": "block4"}  # the shape of analysis.recommend_blocks()
    assert Catalog(emb, blocks=rec).blocks == rec


# -- evaluation -------------------------------------------------------------------
@pytest.fixture(scope="module")
def evaluation(catalog):
    return evaluate_retrieval(catalog, k=5)


def test_evaluation_is_tidy(evaluation, emb):
    assert set(evaluation["mode"]) == {"color", "texture", "both"}
    assert set(evaluation["agreement"]) == {"color", "texture", "both"}
    assert len(evaluation) == (2 + 3 * 11) * 3
    assert set(evaluation["method"].dropna()) == {"rank", "rrf", "linear"}
    assert evaluation.loc[evaluation["mode"] != "both", "method"].isna().all()
    defaults = evaluation[evaluation["default"]]
    assert sorted(set(zip(defaults["mode"], defaults["method"].fillna("-"), defaults["alpha"]))) == [
        ("both", "rrf", 0.5), ("color", "-", 1.0), ("texture", "-", 0.0)]
    assert (evaluation["n_queries"] == len(emb)).all()
    assert evaluation["precision"].between(0, 1).all()
    assert evaluation.attrs["provenance"] == emb.provenance


def test_both_beats_single_modes_on_both_agreement(evaluation):
    p = evaluation[evaluation["agreement"] == "both"].fillna({"method": "-"}).set_index(["mode", "method", "alpha"])["precision"]
    single = max(p.loc[("color", "-", 1.0)], p.loc[("texture", "-", 0.0)])
    assert p.loc["both"].max() > single + 0.05
    assert p.loc[("both", "rrf", 0.5)] > single + 0.05  # the default beats both single modes
    assert p.loc[("both", "rank", 0.5)] > single + 0.05
    assert p.loc[("both", "linear", 0.5)] > single


def test_sweep_endpoints_equal_single_modes(evaluation):
    p = evaluation.fillna({"method": "-"}).set_index(["mode", "method", "alpha", "agreement"])["precision"]
    for g in ("color", "texture", "both"):
        for method in ("rank", "rrf", "linear"):
            assert p.loc[("both", method, 1.0, g)] == pytest.approx(p.loc[("color", "-", 1.0, g)])
            assert p.loc[("both", method, 0.0, g)] == pytest.approx(p.loc[("texture", "-", 0.0, g)])


def test_evaluation_chance_levels(evaluation, emb):
    chance = evaluation.groupby("agreement")["chance"].first()
    n = len(emb)
    assert chance["color"] == pytest.approx((N_TEXTURES * REPEATS - 1) / (n - 1))
    assert chance["both"] == pytest.approx((REPEATS - 1) / (n - 1))


def test_evaluation_is_leave_one_out():
    # two identical items per label pair: with k=1 each query must find its twin, never itself
    rng = np.random.default_rng(1)
    base = rng.normal(size=(10, 8))
    x = np.repeat(base, 2, axis=0)
    labels = {"color": np.repeat(np.arange(10), 2), "texture": np.repeat(np.arange(10), 2)}
    emb = Embeddings.from_arrays({"a": x, "b": x}, labels)
    out = evaluate_retrieval(emb, k=1, blocks=("a", "b"), alphas=[0.5])
    assert (out["precision"] == 1.0).all()


def test_evaluation_max_queries_sample(emb):
    out = evaluate_retrieval(emb, k=5, blocks=BLOCKS, max_queries=30, alphas=[0.5])
    assert (out["n_queries"] == 30).all()


def test_figure_names_provenance(evaluation):
    from attr_utils.figures.retrieval import precision_vs_alpha

    fig = precision_vs_alpha(evaluation)
    assert "arrays" in fig.layout.title.text
    assert len(fig.data) == 3
    assert list(fig.data[0].x) == sorted(fig.data[0].x)


# -- invalid parameters: one test each ---------------------------------------------
def test_invalid_mode(catalog):
    with pytest.raises(ValueError):
        catalog.search(0, mode="shape")


@pytest.mark.parametrize("alpha", [-0.1, 1.5, "half", True])
def test_invalid_alpha(catalog, alpha):
    with pytest.raises(ValueError):
        catalog.search(0, alpha=alpha)


@pytest.mark.parametrize("k", [0, -3, 1.5])
def test_invalid_k(catalog, k):
    with pytest.raises(ValueError):
        catalog.search(0, k=k)


def test_unknown_block(emb):
    with pytest.raises(ValueError):
        Catalog(emb, blocks={"color": "block9", "texture": "block4"})


def test_unknown_blocks_key(emb):
    with pytest.raises(ValueError):
        Catalog(emb, blocks={"shape": "block2"})


def test_no_default_blocks_for_unregistered_backbone(emb):
    with pytest.raises(ValueError):
        Catalog(emb)


def test_unknown_index_kind(emb):
    with pytest.raises(ValueError):
        Catalog(emb, blocks=BLOCKS, index="annoy")


def test_query_row_out_of_range(catalog):
    with pytest.raises(IndexError):
        catalog.search(10_000)


def test_bare_vector_query_is_ambiguous(catalog, emb):
    with pytest.raises(TypeError):
        catalog.search(emb["block2"][0])


def test_query_from_other_model_is_refused(catalog):
    from attr_utils.errors import BackboneError

    other = blobs(seed=1, n_repeats=1).subset([0])
    other = Embeddings.from_arrays(dict(other.blocks), backbone="resnet50", weights="random:0")
    with pytest.raises(BackboneError):
        catalog.search(other)


def test_not_embeddings():
    with pytest.raises(TypeError):
        Catalog(np.zeros((3, 4)))


def test_evaluation_k_too_large(emb):
    with pytest.raises(ValueError):
        evaluate_retrieval(emb, blocks=BLOCKS, k=len(emb))


def test_evaluation_missing_label(emb):
    with pytest.raises(KeyError):
        evaluate_retrieval(emb, blocks=BLOCKS, color_label="colour")


def test_evaluation_invalid_alphas(emb):
    with pytest.raises(ValueError):
        evaluate_retrieval(emb, blocks=BLOCKS, alphas=[0.5, 2.0])


@pytest.mark.parametrize(
    "call",
    [
        lambda c, e: c.search(0, mode="shape"),
        lambda c, e: c.search(0, alpha=float("nan")),
        lambda c, e: c.search(0, k=True),
        lambda c, e: c.search(0, method="rrf60"),
        lambda c, e: c.search(0, candidates=0),
        lambda c, e: c.search(e["block2"][0]),
        lambda c, e: c.search({"color": e["block2"][0]}),
        lambda c, e: c.search({"color": e["block2"][0, :5], "texture": e["block4"][0]}),
        lambda c, e: Catalog(np.zeros((3, 4))),
        lambda c, e: Catalog(e, blocks={"color": "block9", "texture": "block4"}),
        lambda c, e: Catalog(e, blocks=BLOCKS, scale_pairs=0),
        lambda c, e: Catalog(e, blocks=BLOCKS, seed=-1),
        lambda c, e: Catalog(e, blocks=BLOCKS, seed=1.5),
        lambda c, e: evaluate_retrieval(c, k=len(e)),
        lambda c, e: evaluate_retrieval(c, alphas=[]),
        lambda c, e: evaluate_retrieval(c, max_queries=0),
        lambda c, e: evaluate_retrieval(c, batch_size=0),
    ],
    ids=["mode", "alpha-nan", "k-bool", "method", "candidates", "bare-vector", "mapping-missing-mode",
         "mapping-wrong-length", "not-embeddings", "unknown-block", "scale_pairs", "seed-negative", "seed-float",
         "eval-k", "eval-alphas", "eval-max_queries", "eval-batch_size"],
)
def test_invalid_parameters_raise_parameter_error(catalog, emb, call):
    """One validator: every refused option is a ParameterError (an AttrUtilsError, still a ValueError and TypeError)."""
    from attr_utils.errors import ParameterError

    with pytest.raises(ParameterError):
        call(catalog, emb)


def test_query_row_out_of_range_is_a_query_error(catalog):
    from attr_utils.errors import AttrUtilsError, QueryError

    with pytest.raises(QueryError, match="out of range") as info:
        catalog.search(len(catalog))
    assert isinstance(info.value, AttrUtilsError) and isinstance(info.value, IndexError)


def test_empty_catalog_is_a_dataset_error(emb):
    from attr_utils.errors import DatasetError

    with pytest.raises(DatasetError, match="empty"):
        Catalog(emb.subset([]), blocks=BLOCKS)


def test_numpy_integers_are_accepted(emb, catalog):
    small = Catalog(emb, blocks=BLOCKS, seed=np.int64(0), scale_pairs=np.int64(10_000))
    assert small.seed == 0 and isinstance(small.seed, int)
    pd.testing.assert_frame_equal(small.scales, catalog.scales)
    pd.testing.assert_frame_equal(catalog.search(3, k=np.int64(4), candidates=np.int64(50)), catalog.search(3, k=4))


def test_catalog_to_dict(catalog, emb):
    import json

    d = catalog.to_dict()
    assert d["n_items"] == len(emb) and d["blocks"] == BLOCKS and d["index"] == "exact" and d["seed"] == 0
    assert d["backbone"] == "arrays" and d["provenance"] == emb.provenance
    assert d["scales"] == catalog.scales.to_dict("records")
    assert [s["mode"] for s in d["scales"]] == ["color", "texture"]
    assert json.loads(json.dumps(d)) == d


def test_figure_refusal_is_a_parameter_error(evaluation):
    from attr_utils.errors import ParameterError
    from attr_utils.figures.retrieval import precision_vs_alpha

    with pytest.raises(ParameterError):
        precision_vs_alpha(pd.DataFrame({"x": [1]}))
    with pytest.raises(ParameterError, match="method"):
        precision_vs_alpha(evaluation, method="nope")


def test_figure_rejects_other_frames():
    from attr_utils.figures.retrieval import precision_vs_alpha

    with pytest.raises(ValueError):
        precision_vs_alpha(pd.DataFrame({"x": [1]}))


# -- fusion (issue 13) ---------------------------------------------------------------
def _unit(deg):
    rad = np.deg2rad(deg)
    return np.stack([np.cos(rad), np.sin(rad)], axis=-1)


def fusion_catalog():
    """Row 0 is the query; row 1 matches it in both blocks (2nd closest in each), row 2 only in colour
    (the closest), row 3 only in texture (the closest); rows 4.. are near in one block and far in the other."""
    color = [0.0, 0.8, 0.5, 120.0]
    texture = [0.0, 0.8, 120.0, 0.5]
    for i in range(20):  # distractors: 2nd/3rd-ish in one block, far in the other
        near = 1.0 + 0.05 * i
        color.append(near if i % 2 == 0 else 60.0 + i)
        texture.append(60.0 + i if i % 2 == 0 else near)
    n = len(color)
    emb = Embeddings.from_arrays(
        {"c": _unit(np.array(color)), "t": _unit(np.array(texture))},
        {"color": ["x"] * 2 + ["x", "y"] + ["z"] * (n - 4), "texture": ["x"] * 2 + ["y", "x"] + ["z"] * (n - 4)},
    )
    return Catalog(emb, blocks=("c", "t"))


def test_default_is_reciprocal_rank_fusion_and_puts_the_item_matching_both_first():
    from attr_utils.retrieval import DEFAULT_METHOD, RRF_K

    assert DEFAULT_METHOD == "rrf" and RRF_K == 60
    catalog = fusion_catalog()
    out = catalog.search(0, k=5)  # the defaults: mode both, reciprocal-rank fusion, alpha 0.5
    assert out.attrs["method"] == "rrf"
    assert out["row"].iloc[0] == 1
    everything = catalog.search(0, k=23).set_index("row")["score"]
    assert everything[1] < everything[2] and everything[1] < everything[3]
    # row 1 is 2nd in colour and 2nd in texture: -(0.5/62 + 0.5/62); row 2 is 1st in colour, 23rd in texture
    assert out["score"].iloc[0] == pytest.approx(-1.0 / 62)
    assert everything[2] == pytest.approx(-(0.5 / 61 + 0.5 / 83))


def test_default_method_alpha_ends_equal_single_modes():
    catalog = fusion_catalog()
    cols = ["rank", "row", "path", "distance_color", "distance_texture"]
    for row in (0, 5, 8):
        pd.testing.assert_frame_equal(catalog.search(row, alpha=1.0, k=10)[cols], catalog.search(row, mode="color", k=10)[cols])
        pd.testing.assert_frame_equal(catalog.search(row, alpha=0.0, k=10)[cols], catalog.search(row, mode="texture", k=10)[cols])


def test_rank_product_puts_the_item_matching_both_first():
    catalog = fusion_catalog()
    out = catalog.search(0, k=5, method="rank")
    assert out.attrs["method"] == "rank"
    assert out["row"].iloc[0] == 1
    rows = out["row"].tolist()
    assert rows.index(1) < rows.index(2) and (3 not in rows or rows.index(1) < rows.index(3))
    # the score is the weighted sum of log ranks among the searched items
    # row 1 is 2nd in colour (behind row 2) and 2nd in texture (behind row 3): score log 2
    assert out["score"].iloc[0] == pytest.approx(0.5 * np.log(2) + 0.5 * np.log(2))
    # row 2 is 1st in colour and last of the 23 searched items in texture
    assert out.set_index("row").loc[2, "score"] == pytest.approx(0.5 * np.log(1) + 0.5 * np.log(23))


def test_rank_fusion_weights_follow_alpha():
    catalog = fusion_catalog()
    for method in ("rank", "rrf"):
        assert catalog.search(0, k=1, alpha=0.99, method=method)["row"].iloc[0] == 2  # colour counts almost alone
        assert catalog.search(0, k=1, alpha=0.01, method=method)["row"].iloc[0] == 3  # texture counts almost alone


def test_evaluation_leaves_out_the_query_content_group():
    # each item has an identical copy with the same hash: with groups="hash" the copy is not a hit
    rng = np.random.default_rng(2)
    x = np.repeat(rng.normal(size=(12, 6)), 2, axis=0)
    labels = {"color": np.repeat(np.arange(12) % 3, 2), "texture": np.repeat(np.arange(12) % 4, 2)}
    emb = Embeddings.from_arrays({"a": x, "b": x}, labels)
    emb.table["hash"] = [f"h{i // 2}" for i in range(24)]
    grouped = evaluate_retrieval(emb, k=1, blocks=("a", "b"), alphas=[0.5], methods=["rank"])
    plain = evaluate_retrieval(emb, k=1, blocks=("a", "b"), alphas=[0.5], methods=["rank"], groups=None)
    both = lambda t: t[(t["agreement"] == "both") & (t["mode"] == "both")]["precision"].iloc[0]  # noqa: E731
    assert both(plain) == 1.0  # the copy is the nearest neighbour
    assert both(grouped) == 0.0  # no other item shares both labels once the copy is left out
    assert (grouped.loc[grouped["agreement"] == "both", "ceiling"] == 0.0).all()
    assert (plain.loc[plain["agreement"] == "both", "ceiling"] == 1.0).all()


def test_evaluation_ceiling(evaluation):
    ceiling = evaluation.groupby("agreement")["ceiling"].first()
    assert ceiling["both"] == pytest.approx(min(5, REPEATS - 1) / 5)
    assert ceiling["color"] == 1.0


def test_list_of_queries_skips_and_reports_unreadable_images(catalog, emb, monkeypatch):
    import attr_utils.embedder as embedder
    from attr_utils.errors import ImageDecodeError

    def fake_embed_images(images, *, like=None, cache_dir=None, **kw):
        (image,) = images
        if "bad" in str(image):
            raise ImageDecodeError(f"cannot use image {str(image)!r}: not an image")
        row = int(str(image).split("_")[1].split(".")[0])
        return emb.subset([row])

    monkeypatch.setattr(embedder, "embed_images", fake_embed_images)
    with pytest.warns(UserWarning, match="1 of 3 queries skipped"):
        out = catalog.search(["q_4.png", "bad.png", 9], k=3)
    assert out["query"].tolist() == [0, 0, 0, 2, 2, 2]
    assert out["query_path"].tolist()[:3] == ["q_4.png"] * 3
    assert [(s.path, "not an image" in s.reason) for s in out.attrs["skipped"]] == [("bad.png", True)]
    pd.testing.assert_frame_equal(out[out["query"] == 2].drop(columns=["query", "query_path"]).reset_index(drop=True),
                                  catalog.search(9, k=3), check_like=False)


def test_list_of_queries_all_bad(catalog, monkeypatch):
    import attr_utils.embedder as embedder
    from attr_utils.errors import ImageDecodeError

    def refuse(images, **kw):  # what embed_images raises for one unusable image
        (image,) = images
        raise ImageDecodeError(f"no usable image: cannot use image {str(image)!r}: not a PNG file")

    monkeypatch.setattr(embedder, "embed_images", refuse)
    # like embed_images and predict: nothing usable is an error, naming the first file once, with its bare reason
    with pytest.raises(ImageDecodeError) as exc:
        catalog.search(["a.png", "b.png"], k=3)
    assert str(exc.value) == "no usable image: cannot use image 'a.png': not a PNG file (and 1 more unusable)"


def test_list_of_queries_skip_reasons_do_not_repeat_the_preamble(catalog, emb, monkeypatch):
    import attr_utils.embedder as embedder
    from attr_utils.errors import ImageDecodeError

    def fake_embed_images(images, **kw):
        (image,) = images
        if "bad" in str(image):
            raise ImageDecodeError(f"no usable image: cannot use image {str(image)!r}: truncated image")
        return emb.subset([int(str(image).split("_")[1].split(".")[0])])

    monkeypatch.setattr(embedder, "embed_images", fake_embed_images)
    with pytest.warns(UserWarning, match="1 of 2 queries skipped"):
        out = catalog.search(["q_4.png", "bad.png"], k=3)
    assert [(s.path, s.reason) for s in out.attrs["skipped"]] == [("bad.png", "truncated image")]


def test_single_bad_image_query_raises(catalog, monkeypatch):
    import attr_utils.embedder as embedder
    from attr_utils.errors import ImageDecodeError

    def refuse(images, **kw):
        raise ImageDecodeError("cannot read image: no such file")

    monkeypatch.setattr(embedder, "embed_images", refuse)
    with pytest.raises(ImageDecodeError):
        catalog.search("a.png", k=3)


def test_invalid_method(catalog):
    with pytest.raises(ValueError, match="method"):
        catalog.search(0, method="rrf60")


def test_evaluation_invalid_methods(emb):
    with pytest.raises(ValueError, match="method"):
        evaluate_retrieval(emb, blocks=BLOCKS, methods=["nope"])
    with pytest.raises(ValueError, match="method"):
        evaluate_retrieval(emb, blocks=BLOCKS, methods=[])


def test_figure_draws_one_method(evaluation):
    from attr_utils.figures.retrieval import precision_vs_alpha

    fig = precision_vs_alpha(evaluation, method="linear")
    assert "linear" in fig.layout.title.text
    assert [len(t.x) for t in fig.data] == [11, 11, 11]
    with pytest.raises(ValueError, match="method"):
        precision_vs_alpha(evaluation, method="nope")


def test_rrf_scores_are_weighted_reciprocal_ranks():
    catalog = fusion_catalog()
    out = catalog.search(0, k=3, method="rrf", alpha=0.3).set_index("row")
    # row 1 is 2nd in colour and 2nd in texture
    assert out.loc[1, "score"] == pytest.approx(-(0.3 / 62 + 0.7 / 62))
    assert out.index[0] == 1


def test_label_columns_named_like_result_columns_do_not_overwrite_them():
    rng = np.random.default_rng(0)
    n = 12
    labels = {"color": ["a", "b"] * 6, "rank": ["gold"] * n, "score": ["x"] * n, "query": ["q"] * n,
              "distance_texture": ["d"] * n}
    emb = Embeddings.from_arrays({"c": rng.normal(size=(n, 4)), "t": rng.normal(size=(n, 4))}, labels)
    catalog = Catalog(emb, blocks=("c", "t"))
    out = catalog.search(0, k=5)
    assert out["rank"].tolist() == [1, 2, 3, 4, 5]
    assert out["score"].dtype.kind == "f" and out["distance_texture"].dtype.kind == "f"
    assert (out["user_rank"] == "gold").all() and (out["user_score"] == "x").all()
    assert (out["user_distance_texture"] == "d").all() and (out["color"].isin(["a", "b"])).all()
    assert out.attrs["label_columns"]["rank"] == "user_rank" and out.attrs["label_columns"]["color"] == "color"
    many = catalog.search([0, 1], k=3)
    assert many["query"].tolist() == [0, 0, 0, 1, 1, 1] and (many["user_query"] == "q").all()


def _duplicated_pairs():
    """24 items: 12 byte-identical pairs; colour i % 3, texture i % 4 of pair i (each colour x texture pair once)."""
    rng = np.random.default_rng(2)
    x = np.repeat(rng.normal(size=(12, 6)), 2, axis=0)
    labels = {"color": np.repeat(np.arange(12) % 3, 2), "texture": np.repeat(np.arange(12) % 4, 2)}
    emb = Embeddings.from_arrays({"a": x, "b": x}, labels)
    emb.table["hash"] = [f"h{i // 2}" for i in range(24)]
    return emb


def test_evaluation_chance_leaves_out_the_query_content_group():
    table = evaluate_retrieval(_duplicated_pairs(), k=1, blocks=("a", "b"), alphas=[0.5], methods=["rrf"])
    chance = table.groupby("agreement")["chance"].first()
    # candidates: the 22 items outside the query's pair; 3 other pairs share its colour, 2 its texture, none both
    assert chance["color"] == pytest.approx(6 / 22)
    assert chance["texture"] == pytest.approx(4 / 22)
    assert chance["both"] == 0.0
    plain = evaluate_retrieval(_duplicated_pairs(), k=1, blocks=("a", "b"), alphas=[0.5], methods=["rrf"], groups=None)
    assert plain.groupby("agreement")["chance"].first()["both"] == pytest.approx(1 / 23)


def test_evaluation_reports_duplicates():
    table = evaluate_retrieval(_duplicated_pairs(), k=1, blocks=("a", "b"), alphas=[0.5], methods=["rrf"])
    assert table.attrs["duplicate_groups"] == 12 and table.attrs["duplicate_items"] == 24
    assert table.attrs["conflicting_groups"] == 0 and table.attrs["unlabelled"] == 0


def test_evaluation_k_bound_counts_the_query_content_group():
    emb = _duplicated_pairs()
    with pytest.raises(ParameterError, match=r"`k` must be < 22.*got 22"):
        evaluate_retrieval(emb, k=22, blocks=("a", "b"), alphas=[0.5])
    assert len(evaluate_retrieval(emb, k=21, blocks=("a", "b"), alphas=[0.5], methods=["rrf"]))


def test_evaluation_leaves_unlabelled_items_out_as_queries_and_matches():
    # labelled items at 0, 90, 180, 270 degrees; an unlabelled one 5 degrees from each
    x = _unit([0.0, 90.0, 180.0, 270.0, 5.0, 95.0, 185.0, 275.0])
    labels = {"color": ["a", "b", "a", "b", None, np.nan, "", " "], "texture": ["t", "t", "u", "u", "t", "t", "u", "u"]}
    emb = Embeddings.from_arrays({"a": x, "b": x}, labels)
    with pytest.warns(UserWarning, match="4 of 8 items lack"):
        table = evaluate_retrieval(emb, k=1, blocks=("a", "b"), alphas=[0.5], methods=["rrf"], groups=None)
    assert (table["n_queries"] == 4).all() and table.attrs["unlabelled"] == 4
    p = table.fillna({"method": "-"}).set_index(["mode", "method", "agreement"])["precision"]
    assert p.loc[("color", "-", "color")] == 0.0  # the nearest item is unlabelled: never a match
    chance = table.groupby("agreement")["chance"].first()
    assert chance["color"] == pytest.approx(1 / 7)  # one other labelled item shares the colour among 7 candidates
    # texture is known for every item: a missing colour does not hide it (items 1, 4, 5 share item 0's texture)
    assert chance["texture"] == pytest.approx(3 / 7)
    assert chance["both"] == 0.0  # items 4-7 lack a colour: never a both-match


def test_evaluation_without_any_labelled_item_is_a_parameter_error():
    x = _unit([0.0, 90.0, 180.0])
    emb = Embeddings.from_arrays({"a": x, "b": x}, {"color": [None, "", np.nan], "texture": ["t", "t", "u"]})
    with pytest.raises(ParameterError, match="no item carries both"):
        evaluate_retrieval(emb, k=1, blocks=("a", "b"))
