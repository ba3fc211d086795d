"""Dataset layouts: class folders, CSV manifests, Kaggle styles.csv, odd files."""

from __future__ import annotations

import os

import pytest

from attr_utils.datasets import ManifestWarning, load_dataset
from attr_utils.errors import DatasetError
from tests.conftest import make_image


def test_class_folder_labels_from_subfolders(class_folder):
    ds = load_dataset(class_folder)
    assert ds.kind == "folder" and ds.label_columns == ["label"]
    assert sorted(ds.table["label"].unique()) == ["blue", "green", "red"]
    assert len(ds) == 18
    assert all(os.path.isabs(p) for p in ds.paths)


def test_folder_ignores_junk_and_non_images_and_follows_no_loops(tmp_path):
    make_image(tmp_path / "red" / "Été.JPG", (200, 0, 0), fmt="JPEG")
    make_image(tmp_path / "red" / "b.PNG", (200, 0, 0))
    (tmp_path / "red" / ".DS_Store").write_bytes(b"junk")
    (tmp_path / "red" / "Thumbs.db").write_bytes(b"junk")
    (tmp_path / "red" / "notes.txt").write_text("hi")
    make_image(tmp_path / "__MACOSX" / "red" / "._b.png", (0, 0, 0))
    make_image(tmp_path / "red" / ".hidden.png", (0, 0, 0))
    os.symlink(tmp_path, tmp_path / "red" / "loop")
    ds = load_dataset(tmp_path)
    names = sorted(os.path.basename(p) for p in ds.paths)
    assert names == ["b.PNG", "Été.JPG"]


def test_plain_folder_has_no_labels(tmp_path):
    make_image(tmp_path / "a.png", (1, 2, 3))
    ds = load_dataset(tmp_path)
    assert ds.label_columns == [] and len(ds) == 1


def test_csv_manifest_relative_paths_and_missing_files(tmp_path):
    make_image(tmp_path / "img" / "a.png", (200, 0, 0))
    make_image(tmp_path / "img" / "b.png", (0, 0, 200))
    (tmp_path / "m.csv").write_text("file,color,texture\nimg/a.png,red,basic\nimg/b.png,blue,striped\nimg/gone.png,red,basic\n")
    ds = load_dataset(tmp_path / "m.csv")
    assert ds.kind == "csv" and ds.label_columns == ["color", "texture"]
    assert ds.table["color"].tolist() == ["red", "blue"]
    assert [s.reason for s in ds.skipped] == ["missing file"]
    assert ds.skipped[0].path.endswith("gone.png")


def test_csv_without_path_column_is_refused(tmp_path):
    (tmp_path / "m.csv").write_text("name,color\na,red\n")
    with pytest.raises(DatasetError, match="no path column"):
        load_dataset(tmp_path / "m.csv")


def test_kaggle_styles_layout(tmp_path):
    make_image(tmp_path / "images" / "15970.jpg", (0, 0, 128), fmt="JPEG")
    make_image(tmp_path / "images" / "39386.jpg", (128, 128, 128), fmt="JPEG")
    (tmp_path / "styles.csv").write_text(
        "id,gender,articleType,baseColour,productDisplayName\n"
        "15970,Men,Shirts,Navy Blue,Turtle Check Men Navy Blue Shirt\n"
        "39386,Men,Jeans,Grey,Peter England Men Party Blue Jeans\n"
        "11111,Men,Jeans,Blue,Missing image\n"
        "22222,Men,Watches,Black,Broken, row, with, too, many, commas\n"
    )
    for source in (tmp_path, tmp_path / "styles.csv"):
        # the row with commas in its product name is repaired (as paper_data.read_styles does), not dropped
        with pytest.warns(ManifestWarning, match="line 5"):
            ds = load_dataset(source)
        assert ds.kind == "kaggle-styles"
        assert ds.table["baseColour"].tolist() == ["Navy Blue", "Grey"]
        assert sorted(os.path.basename(s.path) for s in ds.skipped) == ["11111.jpg", "22222.jpg"]
        assert {s.reason for s in ds.skipped} == {"missing file"}


def test_missing_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "nope")


def test_unknown_label_column_names_the_choices(class_folder):
    with pytest.raises(DatasetError, match=r"unknown label column 'color'.*\['label'\]"):
        load_dataset(class_folder).require_label("color")
    with pytest.raises(DatasetError):
        load_dataset(class_folder, label_columns=["color"])


def test_empty_folder_is_refused(tmp_path):
    with pytest.raises(DatasetError, match="no image files"):
        load_dataset(tmp_path)


def test_catalog_folder_is_read_through_its_labels_csv(tmp_path):
    make_image(tmp_path / "images" / "000001.png", (200, 0, 0))
    (tmp_path / "labels.csv").write_text("file,color,texture,garment\nimages/000001.png,red,basic,sock\n")
    ds = load_dataset(tmp_path)
    assert ds.kind == "csv" and ds.label_columns == ["color", "texture", "garment"]


def test_missing_labels_is_one_definition():
    import numpy as np
    import pandas as pd

    from attr_utils.datasets import missing_labels

    values = ["red", "", "  ", None, float("nan"), pd.NA, "\t", "0", 0, "unknown"]
    assert missing_labels(values).tolist() == [False, True, True, True, True, True, True, False, False, False]
    assert missing_labels(np.array([], dtype=object)).tolist() == []


def test_blank_label_cells_are_missing_not_empty_strings(tmp_path):
    make_image(tmp_path / "img" / "a.png", (200, 0, 0))
    make_image(tmp_path / "img" / "b.png", (0, 0, 200))
    (tmp_path / "m.csv").write_text("file,color,texture\nimg/a.png,,basic\nimg/b.png,blue,\n")
    ds = load_dataset(tmp_path / "m.csv")
    assert ds.table["color"].isna().tolist() == [True, False] and ds.table["color"].iloc[1] == "blue"
    assert ds.table["texture"].isna().tolist() == [False, True] and ds.table["texture"].iloc[0] == "basic"
