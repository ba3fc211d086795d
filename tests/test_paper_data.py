"""Tests of the manifest builders for the paper's datasets (attr_utils.paper_data)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from attr_utils.errors import DatasetError
from attr_utils.paper_data import (
    PAPER_COLOR_MAP,
    PAPER_COLORS,
    build_folder_manifest,
    build_paper_colors,
    read_styles,
)

HEADER = "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName\n"

# baseColour -> number of rows in the fake styles.csv
ROWS = {
    "Navy Blue": 3,
    "Blue": 4,
    "Red": 6,
    "Maroon": 2,  # excluded by the documented mapping
    "Black": 5,
    "Grey": 2,
    "Charcoal": 2,
    "Pink": 1,  # short: fewer than per_class
    "White": 3,  # outside the ten families
    "Chartreuse": 1,  # unknown to the mapping
}
MISSING_IDS = {1002, 1008}  # a Navy Blue and a Red row whose image file is absent


@pytest.fixture(scope="module")
def kaggle(tmp_path_factory):
    root = tmp_path_factory.mktemp("kaggle")
    images = root / "images"
    images.mkdir()
    lines, i = [HEADER], 1000
    rng = np.random.default_rng(0)
    for colour, n in ROWS.items():
        for _ in range(n):
            name = f"Brand Men {colour} Tshirt"
            if i == 1003:  # a malformed line: a comma inside the product name
                name = "Brand Men, Blue Tshirt, Slim"
            lines.append(f"{i},Men,Apparel,Topwear,Tshirts,{colour},Summer,2012,Casual,{name}\n")
            if i not in MISSING_IDS:
                arr = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
                Image.fromarray(arr).save(images / f"{i}.jpg", quality=80)
            i += 1
    styles = root / "styles.csv"
    styles.write_text("".join(lines))
    return styles, images


def test_read_styles_repairs_extra_commas(kaggle):
    styles, _ = kaggle
    table, bad = read_styles(styles)
    assert bad == 1
    assert len(table) == sum(ROWS.values())
    assert table.loc[table["id"] == "1003", "productDisplayName"].item() == "Brand Men, Blue Tshirt, Slim"
    assert table.loc[table["id"] == "1003", "baseColour"].item() == "Blue"


def test_mapping_covers_the_documented_decisions():
    assert PAPER_COLOR_MAP["Navy Blue"] == "blue"
    assert PAPER_COLOR_MAP["Grey"] == PAPER_COLOR_MAP["Charcoal"] == "gray"
    assert PAPER_COLOR_MAP["Maroon"] is None
    assert set(v for v in PAPER_COLOR_MAP.values() if v) == set(PAPER_COLORS)


def test_build_paper_colors_samples_maps_and_reports(kaggle, tmp_path):
    styles, images = kaggle
    out = tmp_path / "paper_colors.csv"
    report = build_paper_colors(styles, images, out, per_class=3, seed=0)
    manifest = pd.read_csv(out, dtype={"id": str})
    assert list(manifest.columns[:4]) == ["file", "color", "id", "baseColour"]
    assert len(manifest) == len(report.table)
    counts = report.counts.set_index("label")
    # blue: Navy Blue (3) + Blue (4) - 1 missing = 6 available, 3 taken
    assert counts.loc["blue", "available"] == 6 and counts.loc["blue", "selected"] == 3
    assert counts.loc["blue", "missing"] == 1
    assert counts.loc["red", "available"] == 5 and counts.loc["red", "missing"] == 1
    assert counts.loc["gray", "selected"] == 3  # Grey + Charcoal
    assert counts.loc["pink", "selected"] == 1 and counts.loc["pink", "short"] == 2
    assert counts.loc["green", "available"] == 0 and counts.loc["green", "short"] == 3
    assert not report.complete
    assert set(report.short_classes) >= {"pink", "green"}
    assert "Maroon" not in set(manifest["baseColour"])
    assert sorted(int(p.split("/")[-1][:-4]) for p in [m.replace("\\", "/") for m in report.missing]) == sorted(MISSING_IDS)
    unmapped = report.unmapped.set_index("value")
    assert unmapped.loc["Maroon", "reason"] == "excluded" and unmapped.loc["Maroon", "rows"] == 2
    assert unmapped.loc["Chartreuse", "reason"] == "unknown"
    # every manifest path resolves relative to the manifest and exists
    for f in manifest["file"]:
        assert (out.parent / f).resolve().is_file()
    # labels follow the mapping
    for colour, base in zip(manifest["color"], manifest["baseColour"]):
        assert PAPER_COLOR_MAP[base] == colour
    json.dumps(report.summary())


def test_paper_colors_sample_is_reproducible(kaggle, tmp_path):
    styles, images = kaggle
    a = build_paper_colors(styles, images, tmp_path / "a.csv", per_class=2, seed=7).table
    b = build_paper_colors(styles, images, tmp_path / "b.csv", per_class=2, seed=7).table
    assert a.equals(b)
    seeds = {tuple(build_paper_colors(styles, images, tmp_path / "c.csv", per_class=2, seed=s).table["id"]) for s in range(6)}
    assert len(seeds) > 1  # the seed matters


def test_paper_colors_sample_does_not_depend_on_row_order(kaggle, tmp_path):
    styles, images = kaggle
    lines = styles.read_text().splitlines(keepends=True)
    shuffled = tmp_path / "styles.csv"
    shuffled.write_text(lines[0] + "".join(reversed(lines[1:])))
    a = build_paper_colors(styles, images, tmp_path / "a.csv", per_class=2, seed=1).table
    b = build_paper_colors(shuffled, images, tmp_path / "b.csv", per_class=2, seed=1).table
    assert sorted(a["id"]) == sorted(b["id"])


def test_mapping_override(kaggle, tmp_path):
    styles, images = kaggle
    report = build_paper_colors(
        styles, images, tmp_path / "m.csv", per_class=None, mapping={**PAPER_COLOR_MAP, "Maroon": "red"}
    )
    counts = report.counts.set_index("label")
    assert counts.loc["red", "selected"] == 5 + 2
    assert "Maroon" in set(report.table["baseColour"])


def test_per_class_none_keeps_everything(kaggle, tmp_path):
    styles, images = kaggle
    report = build_paper_colors(styles, images, tmp_path / "all.csv", per_class=None)
    assert report.complete
    assert len(report.table) == 6 + 5 + 5 + 4 + 1


def test_manifest_loads_with_load_dataset(kaggle, tmp_path):
    datasets = pytest.importorskip("attr_utils.datasets")
    styles, images = kaggle
    out = tmp_path / "sub" / "paper_colors.csv"
    build_paper_colors(styles, images, out, per_class=2)
    ds = datasets.load_dataset(out)
    assert "color" in ds.label_columns
    assert len(ds.table) == len(pd.read_csv(out))


# --- invalid inputs ------------------------------------------------------------------


def test_missing_styles(kaggle, tmp_path):
    _, images = kaggle
    with pytest.raises(DatasetError, match="styles"):
        build_paper_colors(tmp_path / "nope.csv", images, tmp_path / "o.csv")


def test_missing_images_folder(kaggle, tmp_path):
    styles, _ = kaggle
    with pytest.raises(DatasetError, match="image folder"):
        build_paper_colors(styles, tmp_path / "nope", tmp_path / "o.csv")


def test_styles_without_basecolour(tmp_path):
    f = tmp_path / "styles.csv"
    f.write_text("id,colour\n1,Red\n")
    with pytest.raises(DatasetError, match="baseColour"):
        read_styles(f)


def test_no_image_found(kaggle, tmp_path):
    styles, _ = kaggle
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="no image"):
        build_paper_colors(styles, empty, tmp_path / "o.csv")


def test_bad_per_class(kaggle, tmp_path):
    styles, images = kaggle
    with pytest.raises(ValueError, match="per_class"):
        build_paper_colors(styles, images, tmp_path / "o.csv", per_class=0)


def test_bad_seed(kaggle, tmp_path):
    styles, images = kaggle
    with pytest.raises(ValueError, match="seed"):
        build_paper_colors(styles, images, tmp_path / "o.csv", seed=-1)


def test_mapping_to_unknown_family(kaggle, tmp_path):
    styles, images = kaggle
    with pytest.raises(ValueError, match="families"):
        build_paper_colors(styles, images, tmp_path / "o.csv", mapping={"Red": "crimson"})


# --- folder-per-class ----------------------------------------------------------------


@pytest.fixture
def texture_folder(tmp_path):
    root = tmp_path / "textures"
    for cls, n in (("leopard", 4), ("houndstooth", 3), ("striped", 1)):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (8, 8), (i * 20, 0, 0)).save(root / cls / f"{i}.png")
    (root / "striped" / "notes.txt").write_text("not an image")
    (root / "empty").mkdir()
    return root


def test_folder_manifest(texture_folder, tmp_path):
    out = tmp_path / "textures.csv"
    report = build_folder_manifest(
        texture_folder, out, label="texture", per_class=2, seed=0, rename={"houndstooth": "crows_feet"}
    )
    manifest = pd.read_csv(out)
    assert list(manifest.columns) == ["file", "texture"]
    assert manifest["texture"].value_counts().to_dict() == {"crows_feet": 2, "leopard": 2, "striped": 1}
    assert report.short_classes == ["striped"]
    for f in manifest["file"]:
        assert (out.parent / f).is_file()
    again = build_folder_manifest(texture_folder, tmp_path / "again.csv", label="texture", per_class=2, seed=0,
                                  rename={"houndstooth": "crows_feet"})
    assert again.table.equals(report.table)


def test_folder_manifest_without_classes(tmp_path):
    (tmp_path / "flat").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "flat" / "x.png")
    with pytest.raises(DatasetError, match="sub-folder"):
        build_folder_manifest(tmp_path / "flat", tmp_path / "o.csv")


def test_folder_manifest_bad_label(texture_folder, tmp_path):
    with pytest.raises(ValueError, match="label"):
        build_folder_manifest(texture_folder, tmp_path / "o.csv", label="file")


# --- CLI ------------------------------------------------------------------------------------


def test_cli_paper_colors(kaggle, tmp_path, capsys):
    from attr_utils.cli import main

    styles, images = kaggle
    out = tmp_path / "cli.csv"
    rc = main(["data", "paper-colors", "--styles", str(styles), "--images", str(images), "--out", str(out),
               "--per-class", "2", "--map", "Maroon=red", "--json"])
    assert rc == 0
    info = json.loads(capsys.readouterr().out)
    assert info["missing_files"] == len(MISSING_IDS)
    assert "green" in info["short_classes"]
    assert out.is_file()


def test_cli_paper_colors_human_output_warns(kaggle, tmp_path, capsys):
    from attr_utils.cli import main

    styles, images = kaggle
    assert main(["data", "paper-colors", "--styles", str(styles), "--images", str(images), "--out",
                 str(tmp_path / "h.csv"), "--per-class", "2"]) == 0
    text = capsys.readouterr().out
    assert "missing" in text and "fewer images than requested" in text


def test_cli_bad_map_value(kaggle, tmp_path, capsys):
    from attr_utils.cli import main

    styles, images = kaggle
    rc = main(["data", "paper-colors", "--styles", str(styles), "--images", str(images), "--out",
               str(tmp_path / "x.csv"), "--map", "Maroon"])
    assert rc == 2
    assert "KEY=VALUE" in capsys.readouterr().err


def test_cli_folder(texture_folder, tmp_path, capsys):
    from attr_utils.cli import main

    out = tmp_path / "f.csv"
    assert main(["data", "folder", str(texture_folder), "--out", str(out), "--label", "texture", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["images"] == 8


def test_cli_default_uses_data_root(tmp_path, monkeypatch, capsys):
    from attr_utils.cli import main

    monkeypatch.setenv("ATTR_UTILS_DATA", str(tmp_path))
    assert main(["data", "default", "--per-class", "10", "--seed", "4", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["labels"].startswith(str(tmp_path))
    assert len(pd.read_csv(info["labels"])) == 100
