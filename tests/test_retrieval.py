"""Retrieval by colour, texture or both, and its leave-one-out evaluation (attr_utils.retrieval)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from attr_utils.embeddings import Embeddings
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
            out = catalog.search(row, mode=mode, k=3)
            assert out["row"].iloc[0] == row
            assert out["path"].iloc[0] == emb.paths[row]


def test_vector_query_of_a_catalog_item_ranks_it_first(catalog, emb):
    row = 42
    out = catalog.search({"color": emb["block2"][row], "texture": emb["block4"][row]}, k=1)
    assert out["row"].iloc[0] == row


def test_exclude_self(catalog):
    out = catalog.search(5, k=5, exclude_self=True)
    assert 5 not in out["row"].tolist()
    assert len(out) == 5


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
        pd.testing.assert_frame_equal(catalog.search(row, mode="both", alpha=1.0, k=25), color, check_like=False)
        pd.testing.assert_frame_equal(catalog.search(row, mode="both", alpha=0.0, k=25), texture, check_like=False)


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
    out = catalog.search(0, mode="both", alpha=0.3, k=5)
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
            a = ann.search(row, mode=mode, k=10)
            e = catalog.search(row, mode=mode, k=10)
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
    assert len(evaluation) == (2 + 11) * 3
    assert (evaluation["n_queries"] == len(emb)).all()
    assert evaluation["precision"].between(0, 1).all()
    assert evaluation.attrs["provenance"] == emb.provenance


def test_both_beats_single_modes_on_both_agreement(evaluation):
    p = evaluation[evaluation["agreement"] == "both"].set_index(["mode", "alpha"])["precision"]
    best_both = p.loc["both"].max()
    assert best_both > p.loc[("color", 1.0)] + 0.05
    assert best_both > p.loc[("texture", 0.0)] + 0.05
    assert p.loc[("both", 0.5)] > max(p.loc[("color", 1.0)], p.loc[("texture", 0.0)])


def test_sweep_endpoints_equal_single_modes(evaluation):
    p = evaluation.set_index(["mode", "alpha", "agreement"])["precision"]
    for g in ("color", "texture", "both"):
        assert p.loc[("both", 1.0, g)] == pytest.approx(p.loc[("color", 1.0, g)])
        assert p.loc[("both", 0.0, g)] == pytest.approx(p.loc[("texture", 0.0, g)])


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


def test_figure_rejects_other_frames():
    from attr_utils.figures.retrieval import precision_vs_alpha

    with pytest.raises(ValueError):
        precision_vs_alpha(pd.DataFrame({"x": [1]}))
