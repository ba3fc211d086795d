"""Real-world inputs: every file accounted for, manifest dialects, user columns (issue 12, items 4-6)."""

from __future__ import annotations

import json
import os
import zlib

import numpy as np
import pandas as pd
import pytest
from PIL import Image, features

import attr_utils as au
from attr_utils import images as images_mod
from attr_utils.cli import main
from attr_utils.datasets import ManifestWarning, load_dataset, read_manifest
from attr_utils.embedder import Embedder
from attr_utils.embeddings import Embeddings
from attr_utils.errors import DatasetError, ImageDecodeError, ParameterError
from attr_utils.paper_data import IMAGE_EXTENSIONS as PAPER_EXTENSIONS
from attr_utils.paper_data import build_folder_manifest, read_styles
from tests.conftest import make_image

pytestmark = pytest.mark.filterwarnings("ignore::attr_utils.datasets.ManifestWarning")


@pytest.fixture()
def mean_colour_network(monkeypatch):
    """Every block's vector is the image's mean colour: no TensorFlow, known answers."""

    def forward(self, images):
        self.forward_passes += 1
        mean = images.reshape(len(images), -1, 3).mean(axis=1) / 255.0
        return {b: np.tile(mean, (1, -(-d // 3)))[:, :d].astype(np.float32) for b, d in self.spec.dims.items()}

    monkeypatch.setattr(Embedder, "forward", forward)


# -- item 4: the folder walker accounts for every file ---------------------------------------


def _messy_folder(root):
    make_image(root / "red" / "a.png", (200, 0, 0))
    img = Image.new("RGB", (24, 24), (200, 0, 0))
    if features.check("avif"):
        img.save(root / "red" / "b.avif", quality=100)
    else:
        (root / "red" / "b.avif").write_bytes(b"\0\0\0\x1cftypavif")
    img.save(root / "red" / "c.mpo", format="MPO", save_all=True, append_images=[Image.new("RGB", (24, 24))])
    make_image(root / "blue" / "d.png", (0, 0, 200))
    (root / "blue" / "e.heic").write_bytes(b"\0\0\0\x18ftypheic")
    (root / "blue" / "notes.txt").write_text("where these came from")
    os.symlink(root / "blue" / "gone.png", root / "blue" / "f.png")
    make_image(root / "loose.png", (9, 9, 9))
    for junk in (".DS_Store", "Thumbs.db", "desktop.ini", "._a.png", ".hidden.png"):
        (root / "red" / junk).write_bytes(b"junk")
    make_image(root / "__MACOSX" / "red" / "x.png", (0, 0, 0))
    return root


def test_every_file_of_a_class_folder_is_embedded_or_reported(tmp_path):
    ds = load_dataset(_messy_folder(tmp_path))
    names = sorted(os.path.basename(p) for p in ds.paths)
    expected = ["a.png", "c.mpo", "d.png"] + (["b.avif"] if features.check("avif") else [])
    assert names == sorted(expected)
    reasons = {os.path.basename(s.path): s.reason for s in ds.skipped}
    assert "beside the class folders" in reasons.pop("loose.png")
    assert "broken symbolic link" in reasons.pop("f.png")
    assert "HEIF/HEIC" in reasons.pop("e.heic") or features.check("heif")
    assert "not an image file (.txt)" == reasons.pop("notes.txt")
    if not features.check("avif"):
        assert "AVIF" in reasons.pop("b.avif")
    assert reasons == {}  # junk (.DS_Store, Thumbs.db, desktop.ini, ._*, hidden, __MACOSX) stays silent


def test_mpo_and_avif_decode_with_their_colour(tmp_path):
    _messy_folder(tmp_path)
    assert np.abs(np.asarray(images_mod.decode_image(tmp_path / "red" / "c.mpo"), int)[12, 12] - (200, 0, 0)).max() <= 3
    if features.check("avif"):
        assert np.abs(np.asarray(images_mod.decode_image(tmp_path / "red" / "b.avif"), int)[12, 12] - (200, 0, 0)).max() <= 6


def test_extension_list_comes_from_pillow_and_is_shared():
    assert {".jpg", ".png", ".webp", ".tiff", ".mpo"} <= images_mod.IMAGE_EXTENSIONS
    assert (".avif" in images_mod.IMAGE_EXTENSIONS) == features.check("avif")
    assert ".heic" not in images_mod.IMAGE_EXTENSIONS or features.check("heif")
    assert set(PAPER_EXTENSIONS) == images_mod.IMAGE_EXTENSIONS


def test_folder_manifest_builder_agrees_with_load_dataset(tmp_path):
    root = _messy_folder(tmp_path / "data")
    report = build_folder_manifest(root, tmp_path / "m.csv", label="color")
    ds = load_dataset(root)
    assert sorted(os.path.basename(f) for f in report.table["file"]) == sorted(os.path.basename(p) for p in ds.paths)
    assert sorted(s.path for s in report.skipped) == sorted(s.path for s in ds.skipped)
    assert report.summary()["skipped"]


def test_undecodable_type_listed_in_a_manifest_gets_a_clear_reason(tmp_path):
    (tmp_path / "x.heic").write_bytes(b"\0\0\0\x18ftypheic")
    with pytest.raises(ImageDecodeError, match="HEIF"):
        images_mod.decode_image(tmp_path / "x.heic")


# -- item 5: manifest dialects -----------------------------------------------------------------


def _two_images(root):
    make_image(root / "img" / "a.png", (200, 0, 0))
    make_image(root / "img" / "b.png", (0, 0, 200))


def test_windows_manifest_bom_crlf_backslashes(tmp_path):
    _two_images(tmp_path)
    (tmp_path / "m.csv").write_bytes(b"\xef\xbb\xbffile,color\r\nimg\\a.png,red\r\nimg\\b.png,blue\r\n")
    ds = load_dataset(tmp_path / "m.csv")
    assert ds.label_columns == ["color"]
    assert [os.path.basename(p) for p in ds.paths] == ["a.png", "b.png"]
    assert ds.table["color"].tolist() == ["red", "blue"] and ds.skipped == []


def test_spaces_around_delimiters_are_stripped_with_a_warning(tmp_path):
    _two_images(tmp_path)
    (tmp_path / "m.csv").write_text("file, color\nimg/a.png, blue\nimg/b.png,blue\n")
    with pytest.warns(ManifestWarning, match="stripped spaces"):
        ds = load_dataset(tmp_path / "m.csv")
    assert ds.label_columns == ["color"] and ds.table["color"].unique().tolist() == ["blue"]


def test_semicolon_manifest(tmp_path):
    _two_images(tmp_path)
    (tmp_path / "m.csv").write_text("file;color\nimg/a.png;red\nimg/b.png;blue\n")
    assert load_dataset(tmp_path / "m.csv").table["color"].tolist() == ["red", "blue"]


@pytest.mark.parametrize("position", ["first", "middle", "last"])
def test_extra_fields_never_join_into_a_label_column(tmp_path, position):
    _two_images(tmp_path)
    make_image(tmp_path / "img" / "c.png", (210, 0, 0))
    rows = ["img/a.png,red", "img/b.png,blue"]
    idx = {"first": 0, "middle": 1, "last": 2}[position]
    rows.insert(idx, "img/c.png,red,extra")
    (tmp_path / "m.csv").write_text("file,color\n" + "\n".join(rows) + "\n")
    with pytest.warns(ManifestWarning, match=f"left out 1 row.*line {idx + 2}"):
        ds = load_dataset(tmp_path / "m.csv")
    assert ds.table.columns.tolist() == ["path", "color"]
    assert sorted(ds.table["color"]) == ["blue", "red"]  # never a class 'red,extra'
    assert [os.path.basename(p) for p in ds.paths] == ["a.png", "b.png"]
    (skip,) = ds.skipped
    assert os.path.basename(skip.path) == "c.png"
    assert f"line {idx + 2} of m.csv has 3 fields but its header 2" in skip.reason
    assert [r.line for r in read_manifest(tmp_path / "m.csv", warn=False).rejected] == [idx + 2]


@pytest.mark.parametrize("position", ["first", "middle", "last"])
def test_extra_fields_join_into_a_declared_free_text_column(tmp_path, position):
    _two_images(tmp_path)
    rows = ["img/a.png,red,plain", "img/b.png,blue,plain"]
    idx = {"first": 0, "middle": 1, "last": 2}[position]
    rows.insert(idx, "img/a.png,red,soft, warm, cotton")
    (tmp_path / "m.csv").write_text("file,color,note\n" + "\n".join(rows) + "\n")
    with pytest.warns(ManifestWarning, match=f"line {idx + 2}.*joined into the free-text column 'note'"):
        ds = load_dataset(tmp_path / "m.csv", free_text="note")
    assert ds.table.columns.tolist() == ["path", "color", "note"]
    assert sorted(ds.table["color"]) == ["blue", "red", "red"]
    assert "soft, warm, cotton" in ds.table["note"].tolist() and ds.skipped == []
    # not declared free text: the row is reported, the others keep their columns
    ds = load_dataset(tmp_path / "m.csv")
    assert sorted(ds.table["color"]) == ["blue", "red"] and ds.table["note"].tolist() == ["plain", "plain"]
    assert len(ds.skipped) == 1 and f"line {idx + 2}" in ds.skipped[0].reason


def test_a_row_with_extra_fields_is_reported_identically_by_both_readers(tmp_path):
    make_image(tmp_path / "images" / "1.jpg", (0, 0, 128), fmt="JPEG")
    make_image(tmp_path / "images" / "2.jpg", (128, 128, 128), fmt="JPEG")
    make_image(tmp_path / "images" / "3.jpg", (128, 0, 0), fmt="JPEG")
    # a re-ordered export: the free-text column is not last, so extras cannot be placed
    (tmp_path / "styles.csv").write_text(
        "id,productDisplayName,baseColour\n1,Plain Shirt,Navy Blue\n2,Slim, faded Jeans,Grey\n3,Red Top,Red\n"
    )
    with pytest.warns(ManifestWarning, match="line 3"):
        ds = load_dataset(tmp_path / "styles.csv")
    table, _ = read_styles(tmp_path / "styles.csv")
    assert table["id"].tolist() == ["1", "3"] and table["baseColour"].tolist() == ["Navy Blue", "Red"]
    pd.testing.assert_frame_equal(ds.table.drop(columns="path"), table.drop(columns="id"))
    (skip,) = ds.skipped
    assert os.path.basename(skip.path) == "2.jpg" and "line 3 of styles.csv" in skip.reason


def _colour_catalog(root, n=6):
    lines = ["file,color"]
    for colour, rgb in (("red", (200, 30, 30)), ("blue", (30, 60, 200))):
        for i in range(n + 1):
            make_image(root / "img" / f"{colour}{i}.png", rgb, seed=zlib.crc32(f"{colour}{i}".encode()))
            lines.append(f"img/{colour}{i}.png,{colour}" + (",extra" if i == n else ""))
    (root / "m.csv").write_text("\n".join(lines) + "\n")
    return root / "m.csv"


def test_cli_evaluate_label_never_gains_a_joined_class(tmp_path, mean_colour_network, capsys):
    manifest = _colour_catalog(tmp_path)
    emb = au.embed(manifest, weights="random:0", cache_dir=tmp_path / "cache", progress=False)
    assert sorted(set(emb.labels("color"))) == ["blue", "red"]
    assert sorted(os.path.basename(s.path) for s in emb.report.skipped) == ["blue6.png", "red6.png"]
    common = ["--weights", "random", "--cache-dir", str(tmp_path / "cache"), "--json"]
    assert main(["evaluate", str(manifest), "--label", "color", *common]) == 0, capsys.readouterr().err
    out = json.loads(capsys.readouterr().out)
    assert out["embedding"]["images"] == 14 and out["embedding"]["skipped"] == 2  # every row counted once


def test_every_row_rejected_is_one_clear_error(tmp_path):
    _two_images(tmp_path)
    (tmp_path / "m.csv").write_text("file,color\nimg/a.png,red,x\nimg/b.png,blue,y\n")
    with pytest.raises(DatasetError, match="no usable row.*2 row.*line 2 of m.csv has 3 fields"):
        load_dataset(tmp_path / "m.csv")


@pytest.mark.parametrize("free_text", [3, ["note", 4], object()])
def test_free_text_must_be_names(tmp_path, free_text):
    _two_images(tmp_path)
    (tmp_path / "m.csv").write_text("file,color\nimg/a.png,red\n")
    with pytest.raises(ParameterError, match="`free_text` must be"):
        load_dataset(tmp_path / "m.csv", free_text=free_text)


@pytest.mark.parametrize("ending", [",", ",,", ", "])
def test_header_ending_with_a_delimiter_is_accepted_when_that_column_is_empty(tmp_path, ending):
    _two_images(tmp_path)
    text = f"file,color{ending}\r\nimg/a.png,red{ending}\r\nimg/b.png,blue\r\n"
    (tmp_path / "m.csv").write_text(text)
    with pytest.warns(ManifestWarning, match="unnamed empty column.*ends with a delimiter"):
        ds = load_dataset(tmp_path / "m.csv")
    assert ds.label_columns == ["color"] and ds.table["color"].tolist() == ["red", "blue"]


@pytest.mark.parametrize(
    ("text", "where"),
    [("file,color,\na.png,red,\nb.png,blue,x\n", "column 3.*line 3"), ("file,,color\na.png,x,red\n", "column 2.*line 2")],
)
def test_unnamed_column_with_data_is_refused(tmp_path, text, where):
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(DatasetError, match=f"without a name \\({where}"):
        read_manifest(tmp_path / "m.csv")


def test_interior_unnamed_empty_column_is_dropped(tmp_path):
    (tmp_path / "m.csv").write_text("file,,color\na.png,,red\nb.png,,blue\n")
    with pytest.warns(ManifestWarning, match=r"unnamed empty column\(s\) \(column 2\)"):
        m = read_manifest(tmp_path / "m.csv")
    assert m.table.columns.tolist() == ["file", "color"] and m.table["color"].tolist() == ["red", "blue"]


def test_manifest_warnings_are_one_line_naming_the_file(tmp_path):
    _two_images(tmp_path)
    (tmp_path / "m.csv").write_bytes(
        b"\xef\xbb\xbffile; color;;hash\r\nimg\\a.png; red;;x;y\r\nimg/b.png;blue;;z\r\nimg/a.png;red;;h;;\r\n"
    )
    with pytest.warns(ManifestWarning) as caught:
        load_dataset(tmp_path / "m.csv")
    messages = [str(w.message) for w in caught]
    assert len(messages) >= 5  # delimiter, unnamed column, spaces, dropped empties, left out, renamed
    assert all(m.startswith("m.csv: ") and "\n" not in m and "\\\\" not in m for m in messages)


def _styles(root, *, bom=False, extra_first=False):
    make_image(root / "images" / "1.jpg", (0, 0, 128), fmt="JPEG")
    make_image(root / "images" / "2.jpg", (128, 128, 128), fmt="JPEG")
    rows = ["1,Men,Shirts,Navy Blue,Plain Shirt", "2,Men,Jeans,Grey,Slim, faded, Jeans"]
    if extra_first:
        rows.reverse()
    text = "id,gender,articleType,baseColour,productDisplayName\r\n" + "\r\n".join(rows) + "\r\n"
    (root / "styles.csv").write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return root / "styles.csv"


@pytest.mark.parametrize("extra_first", [False, True])
def test_kaggle_styles_with_bom_is_detected_and_both_readers_agree(tmp_path, extra_first):
    styles = _styles(tmp_path, bom=True, extra_first=extra_first)
    for source in (styles, tmp_path):
        ds = load_dataset(source)
        assert ds.kind == "kaggle-styles" and len(ds) == 2
    table, bad = read_styles(styles)
    assert bad == 1
    ours = ds.table.drop(columns="path").reset_index(drop=True)
    pd.testing.assert_frame_equal(ours, table.drop(columns="id").reset_index(drop=True))
    assert "Slim, faded, Jeans" in table["productDisplayName"].tolist()


def test_kaggle_styles_exported_with_a_trailing_delimiter_still_repairs(tmp_path):
    make_image(tmp_path / "images" / "1.jpg", (0, 0, 128), fmt="JPEG")
    make_image(tmp_path / "images" / "2.jpg", (128, 128, 128), fmt="JPEG")
    (tmp_path / "styles.csv").write_text(
        "id,gender,baseColour,productDisplayName,\n1,Men,Navy Blue,Plain Shirt,\n2,Men,Grey,Slim, faded, Jeans,\n"
    )
    ds = load_dataset(tmp_path / "styles.csv")
    table, bad = read_styles(tmp_path / "styles.csv")
    assert bad == 1 and ds.skipped == []
    assert table["productDisplayName"].tolist() == ["Plain Shirt", "Slim, faded, Jeans"]
    assert ds.table["baseColour"].tolist() == ["Navy Blue", "Grey"]
    assert table.columns.tolist() == ["id", "gender", "baseColour", "productDisplayName"]


@pytest.mark.parametrize(
    ("paths", "cause"),
    [
        (["C:\\photos\\a.png", "C:\\photos\\b.png"], "absolute Windows paths.*folder separator"),
        (["photos\\a.png", "photos\\b.png"], "with \\\\ or / as the folder separator \\(both were tried\\)"),
        (["https://example.com/a.png", "https://example.com/b.png"], "URLs"),
        (["photos/a.png", "photos/b.png"], "manifest's folder"),
    ],
)
def test_every_row_missing_names_the_likely_cause(tmp_path, paths, cause):
    (tmp_path / "m.csv").write_text("file,color\n" + "\n".join(f"{p},red" for p in paths) + "\n")
    with pytest.raises(DatasetError, match=f"none of the 2 files.*{cause}") as info:
        load_dataset(tmp_path / "m.csv")
    message = str(info.value)
    assert f"(first: '{paths[0]}', looked up as '" in message  # as written: one backslash, not repr's two
    assert "\\\\" not in message.replace("\\\\server", "")
    if "\\" in paths[0] and "C:" not in paths[0]:
        assert f"looked up as '{tmp_path / 'photos' / 'a.png'}'" in message


def test_read_manifest_reports_repairs(tmp_path):
    (tmp_path / "m.csv").write_bytes(b"\xef\xbb\xbf file , label \r\na.png,x,,\r\n\r\nb.png , y\r\n")
    with pytest.warns(ManifestWarning):
        m = read_manifest(tmp_path / "m.csv")
    assert m.table.columns.tolist() == ["file", "label"]
    assert m.table.values.tolist() == [["a.png", "x"], ["b.png", "y"]]
    assert m.repaired == [2]


@pytest.mark.parametrize("text", ["file,file\na,b\n", ",color\na,b\n", "file,color,\na,b,c\n"])
def test_read_manifest_refuses_bad_headers(tmp_path, text):
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(DatasetError):
        read_manifest(tmp_path / "m.csv")


def test_empty_manifest_is_refused(tmp_path):
    (tmp_path / "m.csv").write_text("\n\n")
    with pytest.raises(DatasetError, match="empty"):
        read_manifest(tmp_path / "m.csv")


# -- item 6: user columns never collide with internal ones ---------------------------------------


def _catalog_with_hash_column(root, n=6):
    lines = ["file,color,hash"]
    for colour, rgb in (("red", (200, 30, 30)), ("blue", (30, 60, 200))):
        for i in range(n):
            make_image(root / "img" / f"{colour}{i}.png", rgb, seed=zlib.crc32(f"{colour}{i}".encode()))
            lines.append(f"img/{colour}{i}.png,{colour},user-{colour}-{i}")
    (root / "m.csv").write_text("\n".join(lines) + "\n")
    return root / "m.csv"


def test_user_hash_column_is_renamed_not_lost(tmp_path):
    manifest = _catalog_with_hash_column(tmp_path)
    with pytest.warns(ManifestWarning, match="'hash' -> 'user_hash'"):
        ds = load_dataset(manifest)
    assert ds.label_columns == ["color", "user_hash"]
    assert ds.table["user_hash"].iloc[0] == "user-red-0"


def test_embed_with_a_user_hash_column(tmp_path, mean_colour_network):
    emb = au.embed(_catalog_with_hash_column(tmp_path), weights="random:0", cache_dir=tmp_path / "cache", progress=False)
    assert len(emb) == 12 and emb.table["hash"].str.len().eq(64).all()
    assert emb.table["user_hash"].iloc[0] == "user-red-0"
    assert list(emb.labels("color")[:2]) == ["red", "red"]


def test_cli_embed_and_evaluate_agree_on_a_user_hash_column(tmp_path, mean_colour_network, capsys):
    manifest = _catalog_with_hash_column(tmp_path)
    common = ["--weights", "random", "--cache-dir", str(tmp_path / "cache")]
    assert main(["embed", str(manifest), "--json", *common]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 12
    code = main(["evaluate", str(manifest), "--label", "color", "--json", *common])
    assert code == 0, capsys.readouterr().err


def test_from_arrays_renames_internal_label_names():
    emb = Embeddings.from_arrays({"b": np.zeros((2, 3))}, {"hash": ["x", "y"], "color": ["r", "g"]})
    assert emb.label_columns == ("user_hash", "color") and emb.table["hash"].tolist() == ["", ""]


def test_several_path_columns_need_a_choice(tmp_path):
    _two_images(tmp_path)
    (tmp_path / "m.csv").write_text(
        "path,file,color\nhttps://cdn.example.com/a.png,img/a.png,red\nhttps://cdn.example.com/b.png,img/b.png,blue\n"
    )
    with pytest.raises(DatasetError, match=r"several path-like columns \['path', 'file'\].*path_column"):
        load_dataset(tmp_path / "m.csv")
    ds = load_dataset(tmp_path / "m.csv", path_column="file")
    assert [os.path.basename(p) for p in ds.paths] == ["a.png", "b.png"]
    assert ds.label_columns == ["user_path", "color"]
    assert ds.table["user_path"].iloc[0].startswith("https://")


def test_cli_path_column_option(tmp_path, capsys, mean_colour_network):
    _two_images(tmp_path)
    (tmp_path / "m.csv").write_text("path,file,color\nhttps://x/a.png,img/a.png,red\nhttps://x/b.png,img/b.png,blue\n")
    common = ["--weights", "random", "--cache-dir", str(tmp_path / "cache"), "--json"]
    assert main(["embed", str(tmp_path / "m.csv"), *common]) == 2
    assert "--path-column" in capsys.readouterr().err
    assert main(["embed", str(tmp_path / "m.csv"), "--path-column", "file", *common]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 2


def test_unknown_path_column_is_refused(tmp_path):
    _two_images(tmp_path)
    (tmp_path / "m.csv").write_text("file,color\nimg/a.png,red\n")
    with pytest.raises(DatasetError, match="no column 'url'"):
        load_dataset(tmp_path / "m.csv", path_column="url")
