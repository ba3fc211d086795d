"""End-to-end: `attr-utils search`, `extractor build` and `predict` on a tiny generated catalog.

Random ResNet-50 weights (``--weights random``) keep these fast and offline;
the assertions only rely on what random convolutional features still carry
(exact self-matches, dominant colour).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from attr_utils.cli import main

COLOURS = {"red": (210, 40, 40), "green": (40, 170, 60), "blue": (40, 70, 210)}
TEXTURES = ("plain", "stripes")
PER_CELL = 3


def garment(colour, texture, seed, size=64):
    rng = np.random.default_rng(seed)
    arr = np.empty((size, size, 3), dtype=np.float32)
    arr[:] = colour
    if texture == "stripes":
        arr[:, (np.arange(size) // 4) % 2 == 1] *= 0.45
    arr += rng.normal(0, 12, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    """A CSV manifest (path,color,texture) of 18 small PNGs, and a cache folder shared by the module."""
    root = tmp_path_factory.mktemp("catalog")
    rows = []
    seed = 0
    for colour, rgb in COLOURS.items():
        for texture in TEXTURES:
            for i in range(PER_CELL):
                name = f"images/{colour}_{texture}_{i}.png"
                (root / "images").mkdir(exist_ok=True)
                garment(rgb, texture, seed).save(root / name)
                rows.append({"path": name, "color": colour, "texture": texture})
                seed += 1
    with open(root / "labels.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["path", "color", "texture"])
        writer.writeheader()
        writer.writerows(rows)
    return root / "labels.csv", tmp_path_factory.mktemp("cache")


def run_json(capsys, argv):
    code = main(argv)
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def common(cache):
    return ["--weights", "random", "--cache-dir", str(cache)]


def test_search_json_query_in_catalog_ranks_first(catalog, capsys):
    manifest, cache = catalog
    query = manifest.parent / "images" / "green_stripes_1.png"
    out = run_json(capsys, ["search", str(manifest), "--query", str(query), "-k", "5", "--include-self", "--json",
                            *common(cache)])
    assert {"backbone", "weights", "mode", "alpha", "method", "exclude_self", "results"} <= set(out)
    assert out["backbone"] == "resnet50" and out["weights"] == "random:0"
    assert out["mode"] == "both" and out["alpha"] == 0.5 and out["method"] == "rrf" and out["exclude_self"] is False
    assert [r["rank"] for r in out["results"]] == [1, 2, 3, 4, 5]
    first = out["results"][0]
    assert Path(first["path"]).resolve() == query.resolve()
    assert first["labels"] == {"color": "green", "texture": "stripes"}
    assert {"rank", "path", "score", "labels"} <= set(first)
    scores = [r["score"] for r in out["results"]]
    assert scores == sorted(scores)


def test_search_leaves_the_query_out_by_default(catalog, capsys):
    # one behaviour for the CLI and the app: the query's own content is not a result
    manifest, cache = catalog
    query = manifest.parent / "images" / "green_stripes_1.png"
    out = run_json(capsys, ["search", str(manifest), "--query", str(query), "-k", "5", "--json", *common(cache)])
    assert out["exclude_self"] is True
    assert all(Path(r["path"]).resolve() != query.resolve() for r in out["results"])
    assert len(out["results"]) == 5


def test_search_color_mode_returns_same_colour(catalog, capsys):
    manifest, cache = catalog
    query = manifest.parent / "images" / "blue_plain_0.png"
    out = run_json(capsys, ["search", str(manifest), "--query", str(query), "--mode", "color", "-k", "4",
                            "--json", *common(cache)])
    assert out["mode"] == "color"
    assert [r["labels"]["color"] for r in out["results"]] == ["blue"] * 4


def test_search_human_output_names_random_weights(catalog, capsys):
    manifest, cache = catalog
    query = manifest.parent / "images" / "red_plain_0.png"
    assert main(["search", str(manifest), "--query", str(query), "-k", "2", "--include-self", *common(cache)]) == 0
    out = capsys.readouterr().out
    assert "RANDOM WEIGHTS" in out and "red_plain_0.png" in out


def test_unreadable_query_is_one_line_error(catalog, tmp_path, capsys):
    manifest, cache = catalog
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not an image")
    assert main(["search", str(manifest), "--query", str(bad), *common(cache)]) == 2
    err = capsys.readouterr().err
    assert "broken.png" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_missing_query_is_one_line_error(catalog, tmp_path, capsys):
    manifest, cache = catalog
    assert main(["search", str(manifest), "--query", str(tmp_path / "nope.png"), *common(cache)]) == 2
    err = capsys.readouterr().err
    assert "nope.png" in err and "Traceback" not in err


def test_search_unknown_block_is_one_line_error(catalog, capsys):
    manifest, cache = catalog
    query = manifest.parent / "images" / "red_plain_0.png"
    assert main(["search", str(manifest), "--query", str(query), "--color-block", "block9", *common(cache)]) == 2
    assert "block9" in capsys.readouterr().err


@pytest.mark.parametrize("option", [["--alpha", "1.5"], ["--mode", "shape"], ["-k", "0"], ["--method", "rrf60"]])
def test_search_invalid_options_exit_2(catalog, option, capsys):
    manifest, cache = catalog
    with pytest.raises(SystemExit) as exc:
        main(["search", str(manifest), "--query", "x.png", *option])
    assert exc.value.code == 2


def test_extractor_build_then_predict(catalog, tmp_path, capsys):
    manifest, cache = catalog
    out_dir = tmp_path / "colour-extractor"
    built = run_json(capsys, ["extractor", "build", str(manifest), "--label", "color", "--out", str(out_dir),
                              "-k", "3", "--json", *common(cache)])
    assert built["block"] == "block2" and built["examples"] == 18
    assert built["values"] == {"blue": 6, "green": 6, "red": 6}
    assert (out_dir / "extractor.json").is_file() and (out_dir / "examples.parquet").is_file()

    new = tmp_path / "new"
    new.mkdir()
    paths = []
    for i, (colour, rgb) in enumerate(COLOURS.items()):
        p = new / f"{colour}.png"
        garment(rgb, "plain", 1000 + i).save(p)
        paths.append(str(p))
    preds = run_json(capsys, ["predict", *paths, "--extractor", str(out_dir), "--cache-dir", str(cache), "--json"])
    assert [Path(p["path"]).name for p in preds] == ["red.png", "green.png", "blue.png"]
    assert [p["value"] for p in preds] == ["red", "green", "blue"]
    assert all(0 < p["confidence"] <= 1 for p in preds)
    assert {(p["pooling"], p["mask"]) for p in preds} == {("average", "")}  # the pooling is named
    assert main(["predict", *paths, "--extractor", str(out_dir), "--cache-dir", str(cache)]) == 0
    assert " · average pooling · 'color' on block2" in capsys.readouterr().out.splitlines()[0]


def test_predict_gives_the_reason_beside_unknown(catalog, tmp_path, capsys):
    """An unknown verdict says why (distance above the threshold) instead of a bare vote confidence."""
    import json

    manifest, cache = catalog
    out_dir = tmp_path / "tight"
    run_json(capsys, ["extractor", "build", str(manifest), "--label", "color", "--out", str(out_dir),
                      "-k", "3", "--json", *common(cache)])
    meta = json.loads((out_dir / "extractor.json").read_text())
    meta["threshold"] = 1e-9  # every new image is farther than this from every example
    (out_dir / "extractor.json").write_text(json.dumps(meta))
    img = tmp_path / "new.png"
    garment(COLOURS["red"], "plain", 4242).save(img)
    assert main(["predict", str(img), "--extractor", str(out_dir), "--cache-dir", str(cache)]) == 0
    path, value, why = capsys.readouterr().out.splitlines()[1].split("\t")
    assert value == "unknown"
    assert why.startswith("nearest example at distance ") and "> threshold 0.0000" in why
    assert "(the vote would say red, " in why and "confidence" not in why


def test_extractor_build_unknown_label_is_one_line_error(catalog, tmp_path, capsys):
    manifest, cache = catalog
    assert main(["extractor", "build", str(manifest), "--label", "fabric", "--out", str(tmp_path / "x"),
                 *common(cache)]) == 2
    assert "fabric" in capsys.readouterr().err


def test_predict_missing_extractor_is_one_line_error(tmp_path, capsys):
    img = tmp_path / "a.png"
    garment((10, 10, 10), "plain", 0).save(img)
    assert main(["predict", str(img), "--extractor", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "none" in err and "Traceback" not in err


def test_library_search_accepts_bytes_and_pil_queries(catalog):
    from attr_utils.embedder import embed
    from attr_utils.retrieval import Catalog

    manifest, cache = catalog
    emb = embed(manifest, weights="random", cache_dir=cache, progress=False)
    cat = Catalog(emb, cache_dir=cache)
    path = manifest.parent / "images" / "red_stripes_2.png"
    row = emb.paths.index(str(path.resolve())) if str(path.resolve()) in emb.paths else emb.paths.index(str(path))
    for query in (path.read_bytes(), Image.open(path), str(path)):
        out = cat.search(query, k=3, exclude_self=False)
        assert out["row"].iloc[0] == row
        assert out["distance_color"].iloc[0] < 1e-4 and out["distance_texture"].iloc[0] < 1e-4
    # by default a catalog image (path or bytes: same content hash) does not find itself
    for query in (path.read_bytes(), str(path)):
        assert row not in cat.search(query, k=5)["row"].tolist()


# -- evaluate-retrieval (issue 13) ---------------------------------------------------
def test_evaluate_retrieval_json_shape(catalog, capsys):
    manifest, cache = catalog
    out = run_json(capsys, ["evaluate-retrieval", str(manifest), "--color-label", "color", "--texture-label", "texture",
                            "-k", "2", "--alpha", "0.5", "1", "--json", *common(cache)])
    assert {"backbone", "weights", "pretrained", "k", "rows"} <= set(out)
    assert out["backbone"] == "resnet50" and out["weights"] == "random:0" and out["pretrained"] is False
    assert out["k"] == 2
    assert set(out["ceiling"]) == {"color", "texture", "both"}
    rows = out["rows"]
    assert all(set(r) == {"mode", "method", "alpha", "agreement", "precision", "sem", "chance", "default"} for r in rows)
    assert len(rows) == (2 + 3 * 2) * 3  # colour, texture, both x (rank, rrf, linear) x (0.5, 1); 3 agreements each
    defaults = {(r["mode"], r["method"], r["alpha"]) for r in rows if r["default"]}
    assert defaults == {("color", None, 1.0), ("texture", None, 0.0), ("both", "rrf", 0.5)}
    assert all(0.0 <= r["precision"] <= 1.0 and r["sem"] >= 0.0 for r in rows)
    # colour mode on a colour-only-separable catalog: random convolutions still find the colour
    colour = next(r for r in rows if r["mode"] == "color" and r["agreement"] == "color")
    assert colour["precision"] > colour["chance"]
    # alpha=1 of mode both equals colour mode, for both methods
    for method in ("rank", "rrf", "linear"):
        for g in ("color", "texture", "both"):
            a = next(r for r in rows if (r["mode"], r["method"], r["alpha"], r["agreement"]) == ("both", method, 1.0, g))
            c = next(r for r in rows if (r["mode"], r["agreement"]) == ("color", g))
            assert a["precision"] == pytest.approx(c["precision"])


def test_evaluate_retrieval_human_output(catalog, capsys):
    manifest, cache = catalog
    assert main(["evaluate-retrieval", str(manifest), "--color-label", "color", "--texture-label", "texture",
                 "-k", "2", "--alpha", "0.5", "--method", "rank", *common(cache)]) == 0
    out = capsys.readouterr().out
    assert "RANDOM WEIGHTS" in out and "ceiling" in out and "rank" in out


def test_evaluate_retrieval_unknown_label_is_one_line_error(catalog, capsys):
    manifest, cache = catalog
    assert main(["evaluate-retrieval", str(manifest), "--color-label", "colour", "--texture-label", "texture",
                 *common(cache)]) == 2
    err = capsys.readouterr().err
    assert "colour" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("option", [["--alpha", "2"], ["--method", "rrf60"], ["-k", "0"], ["--groups", "all"]])
def test_evaluate_retrieval_invalid_options_exit_2(catalog, option):
    manifest, _ = catalog
    with pytest.raises(SystemExit) as exc:
        main(["evaluate-retrieval", str(manifest), "--color-label", "color", "--texture-label", "texture", *option])
    assert exc.value.code == 2


def test_evaluate_retrieval_needs_both_labels(catalog):
    manifest, _ = catalog
    with pytest.raises(SystemExit) as exc:
        main(["evaluate-retrieval", str(manifest), "--color-label", "color"])
    assert exc.value.code == 2


def _manifest_with_result_named_columns(manifest):
    """The catalog's manifest plus user columns named like search's result columns."""
    import pandas as pd

    table = pd.read_csv(manifest)
    table["path"] = [str((manifest.parent / p).resolve()) for p in table["path"]]
    for col, value in (("rank", "gold"), ("score", "x9"), ("row", "r"), ("query", "q"), ("distance_color", "dc")):
        table[col] = value
    out = manifest.parent / "collide.csv"
    table.to_csv(out, index=False)
    return out


def test_search_keeps_computed_columns_when_manifest_columns_share_their_names(catalog, capsys):
    manifest, cache = catalog
    collide = _manifest_with_result_named_columns(manifest)
    query = manifest.parent / "images" / "green_stripes_1.png"
    out = run_json(capsys, ["search", str(collide), "--query", str(query), "-k", "4", "--include-self", "--json",
                            *common(cache)])
    assert [r["rank"] for r in out["results"]] == [1, 2, 3, 4]
    assert all(isinstance(r["score"], float) and isinstance(r["distance_color"], float) for r in out["results"])
    assert out["results"][0]["labels"]["rank"] == "gold" and out["results"][0]["labels"]["score"] == "x9"
    assert main(["search", str(collide), "--query", str(query), "-k", "4", "--include-self", *common(cache)]) == 0
    text = capsys.readouterr().out
    assert "user_rank" in text and "user_score" in text and "gold" in text


def test_evaluate_retrieval_k_at_the_candidate_count_is_one_line_error(catalog, capsys):
    manifest, cache = catalog
    # 18 items, no copies: each query has 17 candidates
    assert main(["evaluate-retrieval", str(manifest), "--color-label", "color", "--texture-label", "texture",
                 "-k", "17", "--alpha", "0.5", *common(cache)]) == 2
    err = capsys.readouterr().err
    assert "`k` must be < 17" in err and "got 17" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_evaluate_retrieval_reports_duplicates(catalog, capsys):
    import shutil

    import pandas as pd

    manifest, cache = catalog
    table = pd.read_csv(manifest)
    table["path"] = [str((manifest.parent / p).resolve()) for p in table["path"]]
    copy = manifest.parent / "copy_of_red.png"
    shutil.copyfile(table["path"].iloc[0], copy)
    table = pd.concat([table, table.iloc[[0]].assign(path=str(copy))], ignore_index=True)
    dup = manifest.parent / "dup.csv"
    table.to_csv(dup, index=False)
    out = run_json(capsys, ["evaluate-retrieval", str(dup), "--color-label", "color", "--texture-label", "texture",
                            "-k", "2", "--alpha", "0.5", "--method", "rrf", "--json", *common(cache)])
    assert out["duplicates"] == {"groups": "hash", "duplicate_groups": 1, "duplicate_items": 2, "conflicting_groups": 0}
    assert out["unlabelled"] == 0
    assert main(["evaluate-retrieval", str(dup), "--color-label", "color", "--texture-label", "texture",
                 "-k", "2", "--alpha", "0.5", "--method", "rrf", *common(cache)]) == 0
    assert "warning: 2 items are identical copies in 1 group(s)" in capsys.readouterr().err


# -- skip-and-report ----------------------------------------------------------
def _broken_png(path):
    """A PNG cut short: the header reads, the pixels do not."""
    garment((200, 40, 40), "plain", 99).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture(scope="module")
def with_broken(catalog):
    """The catalog's manifest plus one truncated red image."""
    import pandas as pd

    manifest, cache = catalog
    broken = _broken_png(manifest.parent / "broken_red.png")
    table = pd.read_csv(manifest)
    table["path"] = [str((manifest.parent / p).resolve()) for p in table["path"]]
    table = pd.concat([table, pd.DataFrame([{"path": str(broken), "color": "red", "texture": "plain"}])],
                      ignore_index=True)
    out = manifest.parent / "with_broken.csv"
    table.to_csv(out, index=False)
    return out, broken, cache


def test_search_answers_several_queries_and_lists_unreadable_ones(catalog, tmp_path, capsys):
    manifest, cache = catalog
    good = [manifest.parent / "images" / "green_stripes_1.png", manifest.parent / "images" / "red_plain_0.png"]
    bad = _broken_png(tmp_path / "bad.png")
    argv = ["search", str(manifest), "--query", str(good[0]), "--query", str(bad), "--query", str(tmp_path / "nope.png"),
            "--query", str(good[1]), "-k", "3", "--include-self", *common(cache)]
    out = run_json(capsys, [*argv, "--json"])
    assert out["queries"] == [str(good[0]), str(good[1])]
    assert [(Path(r["query"]), r["rank"]) for r in out["results"]] == [(good[0], 1), (good[0], 2), (good[0], 3),
                                                                        (good[1], 1), (good[1], 2), (good[1], 3)]
    assert Path(out["results"][0]["path"]).resolve() == good[0].resolve()  # each query finds itself first
    assert Path(out["results"][3]["path"]).resolve() == good[1].resolve()
    reasons = {Path(s["path"]).name: s["reason"] for s in out["skipped"]}
    assert set(reasons) == {"bad.png", "nope.png"} and reasons["nope.png"] == "no such file"
    assert "cannot use image" not in reasons["bad.png"] and "no usable image" not in reasons["bad.png"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert f"query {good[0]}" in captured.out and f"query {good[1]}" in captured.out
    skipped_lines = [line for line in captured.err.splitlines() if line.startswith("skipped ")]
    assert len(skipped_lines) == 2 and any("nope.png: no such file" in line for line in skipped_lines)
    assert "UserWarning" not in captured.err


def test_search_with_no_readable_query_is_one_line_error(catalog, tmp_path, capsys):
    manifest, cache = catalog
    bad = _broken_png(tmp_path / "bad.png")
    assert main(["search", str(manifest), "--query", str(bad), "--query", str(bad), *common(cache)]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1 and "bad.png" in err[0] and "Traceback" not in err[0]


def test_extractor_build_lists_skipped_files(with_broken, tmp_path, capsys):
    manifest, broken, cache = with_broken
    built = run_json(capsys, ["extractor", "build", str(manifest), "--label", "color", "--out", str(tmp_path / "a"),
                              "--json", *common(cache)])
    assert [s["path"] for s in built["skipped"]] == [str(broken)] and built["examples"] == 18
    assert main(["extractor", "build", str(manifest), "--label", "color", "--out", str(tmp_path / "b"),
                 *common(cache)]) == 0
    err = capsys.readouterr().err
    assert f"skipped {broken}: " in err


def test_extractor_build_with_no_readable_image_says_so(tmp_path, capsys):
    for name in ("red", "blue"):
        (tmp_path / "data" / name).mkdir(parents=True)
        _broken_png(tmp_path / "data" / name / "x.png")
    assert main(["extractor", "build", str(tmp_path / "data"), "--out", str(tmp_path / "out"), "--label", "label",
                 "--weights", "random", "--cache-dir", str(tmp_path / "cache")]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1 and "no image could be read: 2 file(s) skipped" in err[0]
    assert "no labelled examples" not in err[0]


def test_evaluate_and_evaluate_retrieval_list_skipped_files(with_broken, capsys):
    manifest, broken, cache = with_broken
    out = run_json(capsys, ["evaluate", str(manifest), "--label", "color", "--json", *common(cache)])
    assert out["skipped"] == [{"path": str(broken), "reason": out["skipped"][0]["reason"]}]
    assert out["skipped"][0]["reason"]
    assert main(["evaluate", str(manifest), "--label", "color", *common(cache)]) == 0
    assert f"skipped {broken}: " in capsys.readouterr().err
    er = ["evaluate-retrieval", str(manifest), "--color-label", "color", "--texture-label", "texture", "-k", "2",
          "--alpha", "0.5", "--method", "rrf", *common(cache)]
    out = run_json(capsys, [*er, "--json"])
    assert [s["path"] for s in out["skipped"]] == [str(broken)]
    assert main(er) == 0
    assert f"skipped {broken}: " in capsys.readouterr().err
