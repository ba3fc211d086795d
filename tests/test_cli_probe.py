"""End-to-end ``attr-utils probe`` on a tiny image folder (random weights: structure only)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from attr_utils.backbones import get_backbone
from attr_utils.cli import main

COMMON = ["--label", "label", "--backbone", "efficientnet-lite0", "--weights", "random", "--folds", "3"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cli-probe-cache")


def _json(capsys, *argv):
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_probe_all_taps_json_shape_and_equalities(class_folder, cache, capsys):
    data = _json(capsys, "probe", str(class_folder), *COMMON, "--taps", "all", "--cache-dir", str(cache), "--json")
    layers = list(get_backbone("efficientnet-lite0").layers)
    assert set(data) == {"backbone", "weights", "pooling", "pretrained", "backbone_reason", "label", "taps", "rows", "best", "cka"}
    assert (data["backbone"], data["weights"], data["pretrained"]) == ("efficientnet-lite0", "random:0", False)
    assert data["pooling"] == "average"
    assert data["backbone_reason"] == "requested"  # named, not chosen by auto
    assert data["taps"] == layers
    assert [r["depth"] for r in data["rows"] if r["probe"] == "knn"] == list(range(18))
    assert {r["probe"] for r in data["rows"]} == {"knn", "linear"} and len(data["rows"]) == 36
    assert all(len(r["fold_accuracies"]) == 3 and r["ci_low"] <= r["accuracy"] <= r["ci_high"] for r in data["rows"])
    matrix = np.array(data["cka"]["matrix"])
    assert data["cka"]["taps"] == layers and matrix.shape == (18, 18)
    np.testing.assert_allclose(np.diag(matrix), 1.0)

    # the five blocks: kNN rows equal `evaluate`'s Table 1, and the all-taps run at the block layers
    blocks = _json(capsys, "probe", str(class_folder), *COMMON, "--probes", "knn", "--cache-dir", str(cache), "--json")
    table1 = _json(capsys, "evaluate", str(class_folder), *COMMON, "--cache-dir", str(cache), "--json")
    assert blocks["taps"] == ["block1", "block2", "block3", "block4", "block5"]
    assert [round(r["accuracy"], 6) for r in blocks["rows"]] == [r["accuracy"] for r in table1["rows"]]
    at_blocks = {r["tap"]: r["fold_accuracies"] for r in data["rows"] if r["probe"] == "knn"}
    spec = get_backbone("efficientnet-lite0")
    for r in blocks["rows"]:
        assert at_blocks[spec.tap(r["tap"]).layer] == r["fold_accuracies"]


def test_probe_human_output_and_figure(class_folder, cache, capsys, tmp_path):
    figure = tmp_path / "probe.html"
    code = main(["probe", str(class_folder), *COMMON, "--taps", "stem_relu,mbconv0_out", "--cache-dir", str(cache),
                 "--figure", str(figure)])
    out = capsys.readouterr().out
    assert code == 0
    assert "RANDOM WEIGHTS" in out and "stem_relu" in out and "mbconv1_out" not in out and "distinguishable" in out
    html = figure.read_text()
    assert "RANDOM WEIGHTS" in html and "Linear CKA" in html and "efficientnet-lite0" in html


def test_probe_unknown_layer_is_a_one_line_error(class_folder, cache, capsys):
    code = main(["probe", str(class_folder), *COMMON, "--taps", "conv9_block1_out", "--cache-dir", str(cache)])
    err = capsys.readouterr().err
    assert code == 2 and "conv9_block1_out" in err and "stem_relu" in err and len(err.strip().splitlines()) == 1


def test_probe_unknown_probe_is_an_error(class_folder, cache, capsys):
    code = main(["probe", str(class_folder), *COMMON, "--probes", "svm", "--cache-dir", str(cache)])
    assert code == 2 and "svm" in capsys.readouterr().err


# --compare-poolings: every option honoured or refused in one line (exit 2), never silently dropped


def _alpha_folder(root):
    """Two classes told apart only by a small centred square on a transparent (alpha 0) background."""
    from PIL import Image

    for name, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        (root / name).mkdir(parents=True)
        for i in range(4):
            img = Image.new("RGBA", (48, 48), (0, 200 - 20 * i, 0, 0))
            img.paste(Image.new("RGBA", (16, 16), (*colour, 255)), (16, 16))
            img.save(root / name / f"{i}.png")
    return root


def test_compare_poolings_honours_mask_and_prints_valid_json(tmp_path, cache, capsys):
    folder = _alpha_folder(tmp_path / "alpha")
    code = main(["probe", str(folder), *COMMON[:-1], "2", "--probes", "knn", "--k", "1", "--taps", "stem_relu", "--cache-dir", str(cache),
                 "--compare-poolings", "average,foreground", "--mask", "alpha", "--json"])
    captured = capsys.readouterr()
    out = captured.out
    assert code == 0, captured.err

    def refuse(constant):
        raise AssertionError(f"invalid JSON constant {constant}")

    data = json.loads(out, parse_constant=refuse)  # the base rows' differences are null, not NaN
    assert "alpha mask" in data["poolings"]["foreground"] and "mask" not in data["poolings"]["average"]
    base = [r for r in data["rows"] if r["pooling"] == "average"]
    assert base and all(r["mean_diff"] is None for r in base)


@pytest.mark.parametrize("extra, flag", [
    (["--compare-poolings", "average,max", "--mask", "alpha"], "--mask"),
    (["--compare-poolings", "foreground,average", "--pooling", "max"], "--pooling"),
    (["--compare-poolings", "foreground,average", "--figure", "x.html"], "--figure"),
    (["--compare-poolings", "foreground,average", "--reference", "block2"], "--reference"),
    (["--pooling", "average", "--mask", "alpha"], "--mask"),
])
def test_probe_refuses_options_it_would_ignore(class_folder, cache, capsys, tmp_path, extra, flag):
    code = main(["probe", str(class_folder), *COMMON, "--cache-dir", str(cache), *extra])
    err = capsys.readouterr().err
    assert code == 2 and flag in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.html").exists()


def test_embed_refuses_mask_without_mask_pooling(class_folder, cache, capsys):
    code = main(["embed", str(class_folder), "--backbone", "efficientnet-lite0", "--weights", "random",
                 "--cache-dir", str(cache), "--pooling", "average", "--mask", "alpha"])
    err = capsys.readouterr().err
    assert code == 2 and "--mask applies only to --pooling foreground or interior" in err


def test_print_json_writes_nan_as_null(capsys):
    import pandas as pd

    from attr_utils.cli._common import print_json as common_print
    from attr_utils.cli.output import print_json

    for printer in (print_json, common_print):
        printer({"a": float("nan"), "b": np.float64("nan"), "c": [1.5, float("inf")],
                 "t": pd.DataFrame({"x": [np.nan, 2.0]}), "arr": np.array([np.nan, 1.0])})
        data = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(c))
        assert data == {"a": None, "b": None, "c": [1.5, None], "t": [{"x": None}, {"x": 2.0}], "arr": [None, 1.0]}
