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
