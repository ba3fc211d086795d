"""End-to-end CLI: evaluate (Table 1), cluster (Figure 3), reduce (Table 2) on a tiny image folder."""

from __future__ import annotations

import json

import pytest

from attr_utils.cli import main


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cli-analysis-cache")


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_evaluate_json_then_cached(class_folder, cache, capsys):
    argv = ["evaluate", str(class_folder), "--label", "label", "--weights", "random", "--cache-dir", str(cache), "--json"]
    code, out, _ = _run(capsys, *argv)
    assert code == 0
    first = json.loads(out)
    assert {"backbone", "weights", "label", "rows", "best_block"} <= set(first)
    assert (first["backbone"], first["weights"], first["label"]) == ("resnet50", "random:0", "label")
    assert [r["block"] for r in first["rows"]] == ["block1", "block2", "block3", "block4", "block5"]
    assert [r["dim"] for r in first["rows"]] == [64, 256, 512, 1024, 2048]
    for row in first["rows"]:
        assert {"block", "dim", "accuracy", "std"} <= set(row)
        assert 0 <= row["accuracy"] <= 1 and row["std"] >= 0
    best = max(first["rows"], key=lambda r: r["accuracy"])["accuracy"]
    assert next(r for r in first["rows"] if r["block"] == first["best_block"])["accuracy"] == best
    assert first["pretrained"] is False
    code, out, _ = _run(capsys, *argv)
    second = json.loads(out)
    assert second["embedding"]["embedded"] == 0 and second["embedding"]["cached"] == 18
    assert second["rows"] == first["rows"]


def test_evaluate_human_output_names_random_weights(class_folder, cache, capsys, tmp_path):
    figure = tmp_path / "table1.html"
    code, out, _ = _run(
        capsys, "evaluate", str(class_folder), "--label", "label", "--weights", "random", "--cache-dir", str(cache),
        "--blocks", "block1,block2", "--folds", "3", "--figure", str(figure),
    )
    assert code == 0
    assert "RANDOM WEIGHTS" in out and "3-fold" in out and "block2" in out and "block3" not in out
    assert "RANDOM WEIGHTS" in figure.read_text()


def test_cluster_json(class_folder, cache, capsys):
    code, out, _ = _run(
        capsys, "cluster", str(class_folder), "--label", "label", "--weights", "random", "--cache-dir", str(cache),
        "--min-cluster-size", "5", "--min-samples", "3", "--json",
    )
    assert code == 0
    result = json.loads(out)
    assert result["label"] == "label" and len(result["rows"]) == 5
    for row in result["rows"]:
        assert {"block", "ari", "ami", "n_clusters", "noise_fraction"} <= set(row)
        assert 0 <= row["noise_fraction"] <= 1
    assert result["embedding"]["embedded"] == 0


def test_reduce_json(class_folder, cache, capsys):
    code, out, _ = _run(
        capsys, "reduce", str(class_folder), "--label", "label", "--block", "block1", "--dims", "2,4",
        "--protocol", "inductive", "--folds", "3", "--n-neighbors", "5", "--weights", "random",
            "--cache-dir", str(cache), "--json",
    )
    assert code == 0
    result = json.loads(out)
    assert result["block"] == "block1"
    assert [(r["dim"], r["reduced"]) for r in result["rows"]] == [(2, True), (4, True), (64, False)]
    assert {r["protocol"] for r in result["rows"]} == {"inductive"}
    for row in result["rows"]:
        assert {"dim", "accuracy", "std"} <= set(row)
    assert list((cache / "umap").rglob("*.npz")), "UMAP coordinates were not cached under --cache-dir"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["evaluate", "{data}", "--label", "colour"], "label column"),
        (["evaluate", "{data}", "--label", "label", "--k", "0"], "`k` must be >= 1, got 0"),
        (["cluster", "{data}", "--label", "label", "--min-cluster-size", "1"], "`min_cluster_size` must be >= 2"),
        (["reduce", "{data}", "--label", "label", "--block", "block9"], "unknown block 'block9'"),
        (["reduce", "{data}", "--label", "label", "--block", "block1", "--dims", "64"], "`dims` must be <"),
    ],
)
def test_invalid_arguments_exit_2_with_one_line(argv, message, class_folder, cache, capsys):
    argv = [a.replace("{data}", str(class_folder)) for a in argv] + ["--weights", "random", "--cache-dir", str(cache)]
    code, _, err = _run(capsys, *argv)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_malformed_dims_is_a_usage_error(class_folder, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["reduce", str(class_folder), "--label", "label", "--block", "block1", "--dims", "2,x"])
    assert exc.value.code == 2
    assert "comma-separated integers" in capsys.readouterr().err


# ---- issue 12: duplicates, parameters checked against the data, caller-specific advice -------------


@pytest.fixture(scope="module")
def doubled_noise(tmp_path_factory):
    """20 random-noise PNGs with random labels a/b, each listed twice under two names (byte-identical)."""
    import shutil

    import numpy as np
    from PIL import Image

    root = tmp_path_factory.mktemp("doubled-noise")
    rng = np.random.default_rng(0)
    lines = ["file,color"]
    for i, label in enumerate(rng.choice(["a", "b"], 20)):
        first = root / "img" / f"noise_{i}.png"
        first.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(first)
        shutil.copyfile(first, root / "img" / f"copy_of_{i}.png")
        lines += [f"img/noise_{i}.png,{label}", f"img/copy_of_{i}.png,{label}"]
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    return root / "manifest.csv"


def test_evaluate_keeps_copies_in_one_fold_and_warns(doubled_noise, cache, capsys):
    base = ["evaluate", str(doubled_noise), "--label", "color", "--k", "1", "--weights", "random",
            "--cache-dir", str(cache), "--json"]
    code, out, err = _run(capsys, *base)
    assert code == 0
    grouped = json.loads(out)
    assert grouped["duplicates"] == {"groups": "hash", "duplicate_groups": 20, "duplicate_items": 40,
                                     "conflicting_groups": 0}
    assert "40 items are identical copies in 20 group(s)" in err and len(err.strip().splitlines()) == 1
    code, out, err = _run(capsys, *base, "--groups", "none")
    leaky = json.loads(out)
    acc = {r["block"]: r["accuracy"] for r in grouped["rows"]}
    leak = {r["block"]: r["accuracy"] for r in leaky["rows"]}
    # chance 0.5; 20 distinct images: one standard error is about 0.11
    assert all(abs(a - 0.5) <= 0.3 for a in acc.values()), acc
    # about 4 in 5 copies land in a training fold and are found at distance 0: about 0.8 + 0.2 x 0.5
    assert all(a >= 0.75 for a in leak.values()), leak
    assert "groups=None" in err


def test_cluster_twelve_images_with_the_papers_min_cluster_size(tmp_path, cache, capsys):
    from tests.conftest import make_class_folder

    data = make_class_folder(tmp_path / "twelve", per_class=4)
    code, out, err = _run(capsys, "cluster", str(data), "--label", "label", "--weights", "random",
                          "--cache-dir", str(cache), "--json")
    assert code == 2 and out == ""
    assert "`min_cluster_size`=50 exceeds the 12 items" in err and "lower --min-cluster-size to at most 6" in err
    assert len(err.strip().splitlines()) == 1


def test_small_class_error_names_the_command_line_option(tmp_path, cache, capsys):
    from tests.conftest import make_class_folder

    data = make_class_folder(tmp_path / "small", per_class=3)
    code, _, err = _run(capsys, "evaluate", str(data), "--label", "label", "--weights", "random",
                        "--cache-dir", str(cache), "--json")
    assert code == 2
    assert "pass --drop-small-classes" in err and "drop_small_classes=True" not in err
    assert "lower --folds" in err and "np.str_" not in err


def test_cluster_and_reduce_report_duplicates(doubled_noise, cache, capsys):
    common = ["--label", "color", "--weights", "random", "--cache-dir", str(cache), "--json"]
    code, out, err = _run(capsys, "cluster", str(doubled_noise), *common, "--min-cluster-size", "3",
                          "--min-samples", "2", "--blocks", "block1")
    assert code == 0
    assert json.loads(out)["duplicates"]["duplicate_groups"] == 20
    assert "40 items are identical copies" in err
    code, out, err = _run(capsys, "reduce", str(doubled_noise), *common, "--block", "block1", "--dims", "2",
                          "--protocol", "paper", "--k", "1", "--n-neighbors", "5")
    assert code == 0
    assert json.loads(out)["duplicates"] == {"groups": "hash", "duplicate_groups": 20, "duplicate_items": 40,
                                             "conflicting_groups": 0}
