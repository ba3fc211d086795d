"""Whole-catalog tagging into Parquet (attr_utils.retrieval.tagging, issue 16 item 1).

The network is replaced by the image's mean colour (a fake ``Embedder.forward``
that also counts the images it sees), so no TensorFlow is needed, the right
values are known, and "only new images are computed" is checked by counting
what went through the network.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image

from attr_utils.cli import main
from attr_utils.embedder import Embedder
from attr_utils.errors import DatasetError, NotFittedError, ParameterError
from attr_utils.retrieval.extractor import AttributeExtractor
from attr_utils.retrieval.tagging import METADATA_KEY, read_tags, tag_catalog, tag_columns

COLOURS = {"red": (200, 30, 30), "green": (30, 170, 50), "blue": (30, 60, 200)}
SHADES = {"light": (235, 235, 235), "dark": (20, 20, 20)}


class Counter:
    images = 0


@pytest.fixture(autouse=True)
def mean_colour_network(monkeypatch):
    Counter.images = 0

    def forward(self, images):
        self.forward_passes += 1
        Counter.images += len(images)
        mean = images.reshape(len(images), -1, 3).mean(axis=1) / 255.0
        return {b: np.tile(mean, (1, -(-d // 3)))[:, :d].astype(np.float32) for b, d in self.spec.dims.items()}

    monkeypatch.setattr(Embedder, "forward", forward)


def _img(path, rgb, jitter=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (24, 24), tuple(int(np.clip(c + jitter, 0, 255)) for c in rgb)).save(path)
    return str(path)


@pytest.fixture()
def examples(tmp_path):
    ex = {}
    for name, rgb in COLOURS.items():
        ex[name] = [_img(tmp_path / "examples" / f"{name}{j}.png", rgb, jitter=3 * j - 3) for j in range(3)]
    return ex


def _extractor(examples, tmp_path, **kw):
    return AttributeExtractor.from_examples(examples, label="color", k=3, backbone="resnet50", weights="random:0",
                                            cache_dir=tmp_path / "excache", **kw)


@pytest.fixture()
def catalog(tmp_path):
    root = tmp_path / "catalog"
    for name, rgb in COLOURS.items():
        for j in range(2):
            _img(root / f"{name}_{j}.png", rgb, jitter=5 * j + 1)
    return root


def test_tag_output_schema_and_values(examples, catalog, tmp_path):
    out = tmp_path / "tags.parquet"
    report = tag_catalog(catalog, {"color": _extractor(examples, tmp_path)}, out, cache_dir=tmp_path / "c1", progress=False)
    df = pd.read_parquet(out)
    assert list(df.columns) == ["path", "hash", *tag_columns("color")]
    assert tag_columns("color") == ["color", "color_confidence", "color_margin", "color_unknown", "color_neighbours"]
    assert len(df) == report.rows == 6
    truth = [p.split("/")[-1].split("_")[0] for p in df["path"]]
    assert df["color"].tolist() == truth
    assert df["hash"].str.len().eq(64).all()
    assert df["color_confidence"].between(0, 1).all() and df["color_margin"].between(0, 1).all()
    assert (df["color_margin"] <= df["color_confidence"]).all()
    assert df["color_unknown"].dtype == bool and not df["color_unknown"].any()
    assert all(len(n) == 3 and all("examples" in p for p in n) for n in df["color_neighbours"])
    schema = pq.read_schema(out)
    meta = json.loads(schema.metadata[METADATA_KEY])
    assert meta["extractors"]["color"]["block"] and len(meta["extractors"]["color"]["key"]["fingerprint"]) == 64
    assert report.embedded == 6 and report.tagged == {"color": 6} and report.reused == {"color": 0}


def test_min_confidence_nulls_weak_values(examples, catalog, tmp_path):
    out = tmp_path / "tags.parquet"
    tag_catalog(catalog, {"color": _extractor(examples, tmp_path)}, out, min_confidence=1.0, cache_dir=tmp_path / "c", progress=False)
    df = pd.read_parquet(out)
    weak = df["color_confidence"] < 1.0
    assert df.loc[weak, "color"].isna().all() and df.loc[weak, "color_unknown"].all()
    assert df.loc[~weak, "color"].notna().all()


def test_rerun_after_adding_images_computes_only_new_rows(examples, catalog, tmp_path):
    out = tmp_path / "tags.parquet"
    ex = {"color": _extractor(examples, tmp_path)}
    tag_catalog(catalog, ex, out, cache_dir=tmp_path / "run1", progress=False)
    first = pd.read_parquet(out)
    _img(catalog / "red_new.png", COLOURS["red"], jitter=2)
    _img(catalog / "blue_new.png", COLOURS["blue"], jitter=2)
    Counter.images = 0
    # a fresh, empty embedding cache: only what the tag file lacks can reach the network
    report = tag_catalog(catalog, ex, out, cache_dir=tmp_path / "run2", progress=False)
    assert Counter.images == 2
    assert report.embedded == 2 and report.tagged == {"color": 2} and report.reused == {"color": 6}
    df = pd.read_parquet(out)
    assert len(df) == 8
    kept = df.set_index("path").loc[first["path"], first.columns[1:]]
    pd.testing.assert_frame_equal(kept.reset_index(drop=True), first[first.columns[1:]].reset_index(drop=True))
    assert df.set_index("path").loc[str(catalog / "red_new.png"), "color"] == "red"


def test_rerun_after_changing_one_extractor_retags_only_that_attribute(examples, catalog, tmp_path):
    out = tmp_path / "tags.parquet"
    colour = _extractor(examples, tmp_path)
    other = _extractor(examples, tmp_path, block="block1")
    tag_catalog(catalog, {"color": colour, "tone": other}, out, cache_dir=tmp_path / "c", progress=False)
    other.add_examples("dark", [_img(tmp_path / "examples" / "dark.png", SHADES["dark"])])
    report = tag_catalog(catalog, {"color": colour, "tone": other}, out, cache_dir=tmp_path / "c", progress=False)
    assert report.reused == {"color": 6, "tone": 0}
    assert report.tagged == {"color": 0, "tone": 6}
    meta = read_tags(out)[1]
    assert meta["extractors"]["tone"]["key"]["fingerprint"] == other.fingerprint()


def test_unreadable_files_are_skipped_not_fatal(examples, catalog, tmp_path):
    (catalog / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "tags.parquet"
    report = tag_catalog(catalog, {"color": _extractor(examples, tmp_path)}, out, cache_dir=tmp_path / "c", progress=False)
    assert report.rows == 6
    assert str(catalog / "broken.png") in {s.path for s in report.skipped}
    assert {"path": str(catalog / "broken.png"), "reason": report.skipped[0].reason} in report.to_dict()["skipped"]
    json.dumps(report.to_dict())


def test_failed_write_leaves_the_old_file_intact(examples, catalog, tmp_path, monkeypatch):
    out = tmp_path / "tags.parquet"
    ex = {"color": _extractor(examples, tmp_path)}
    tag_catalog(catalog, ex, out, cache_dir=tmp_path / "c", progress=False)
    before = out.read_bytes()
    _img(catalog / "green_new.png", COLOURS["green"])

    def dies_mid_write(table, where, **kw):
        where.write(b"PAR1 half a file")
        raise KeyboardInterrupt  # as if the run were killed while writing

    monkeypatch.setattr(pq, "write_table", dies_mid_write)
    with pytest.raises(KeyboardInterrupt):
        tag_catalog(catalog, ex, out, cache_dir=tmp_path / "c", progress=False)
    assert out.read_bytes() == before
    assert len(pd.read_parquet(out)) == 6
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_cli_tag_json(examples, catalog, tmp_path, capsys):
    folder = _extractor(examples, tmp_path).save(tmp_path / "color_ex")
    out = tmp_path / "tags.parquet"
    rc = main(["tag", str(catalog), "--extractor", f"color={folder}", "--out", str(out), "--json",
               "--cache-dir", str(tmp_path / "excache")])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 6 and summary["tagged"] == {"color": 6} and summary["skipped"] == []
    assert pd.read_parquet(out)["color"].notna().all()


def test_cli_tag_bad_extractor_spec_exits_2(catalog, tmp_path, capsys):
    rc = main(["tag", str(catalog), "--extractor", "no-equals-sign", "--out", str(tmp_path / "t.parquet")])
    assert rc == 2
    assert "NAME=DIR" in capsys.readouterr().err


# -- invalid parameters: one test each ---------------------------------------------
def test_invalid_min_confidence(examples, catalog, tmp_path):
    with pytest.raises(ParameterError):
        tag_catalog(catalog, {"color": _extractor(examples, tmp_path)}, tmp_path / "t.parquet", min_confidence=1.5)


def test_invalid_target_precision(examples, catalog, tmp_path):
    with pytest.raises(ParameterError):
        tag_catalog(catalog, {"color": _extractor(examples, tmp_path)}, tmp_path / "t.parquet", target_precision=0.0)


def test_both_thresholds(examples, catalog, tmp_path):
    with pytest.raises(ParameterError):
        tag_catalog(catalog, {"color": _extractor(examples, tmp_path)}, tmp_path / "t.parquet",
                    min_confidence=0.5, target_precision=0.9)


def test_invalid_batch_size(examples, catalog, tmp_path):
    with pytest.raises(ParameterError):
        tag_catalog(catalog, {"color": _extractor(examples, tmp_path)}, tmp_path / "t.parquet", batch_size=0)


@pytest.mark.parametrize("name", ["path", "hash", "has space", ""])
def test_invalid_attribute_name(examples, catalog, tmp_path, name):
    with pytest.raises(ParameterError):
        tag_catalog(catalog, {name: _extractor(examples, tmp_path)}, tmp_path / "t.parquet")


def test_no_extractors(catalog, tmp_path):
    with pytest.raises(ParameterError):
        tag_catalog(catalog, {}, tmp_path / "t.parquet")


def test_unfitted_extractor(catalog, tmp_path):
    with pytest.raises(NotFittedError):
        tag_catalog(catalog, {"color": AttributeExtractor()}, tmp_path / "t.parquet")


def test_extractor_fitted_on_arrays(catalog, tmp_path):
    from attr_utils.embeddings import Embeddings

    emb = Embeddings.from_arrays({"b": np.eye(4)}, {"color": ["a", "a", "b", "b"]})
    with pytest.raises(ParameterError):
        tag_catalog(catalog, {"color": AttributeExtractor("b", k=1).fit(emb, "color")}, tmp_path / "t.parquet")


def test_out_is_not_a_tag_file(examples, catalog, tmp_path):
    out = tmp_path / "someone_elses.parquet"
    pd.DataFrame({"x": [1]}).to_parquet(out)
    before = out.read_bytes()
    with pytest.raises(DatasetError, match="not an attr-utils tag file"):
        tag_catalog(catalog, {"color": _extractor(examples, tmp_path)}, out, cache_dir=tmp_path / "c", progress=False)
    assert out.read_bytes() == before


def test_target_precision_uses_the_extractors_threshold(examples, catalog, tmp_path):
    ex = _extractor(examples, tmp_path)
    out = tmp_path / "tags.parquet"
    report = tag_catalog(catalog, {"color": ex}, out, target_precision=1.0, cache_dir=tmp_path / "c", progress=False)
    t = ex.threshold_for_precision(1.0)
    assert report.thresholds == {"color": t}
    df = pd.read_parquet(out)
    assert (df["color"].isna() == ((df["color_confidence"] < t) | df["color_unknown"])).all()
    # a different threshold is a different tagging: the rerun recomputes, it does not reuse
    again = tag_catalog(catalog, {"color": ex}, out, min_confidence=0.0, cache_dir=tmp_path / "c", progress=False)
    assert again.reused == {"color": 0} or t == 0.0


def test_tag_file_reads_with_dask(examples, catalog, tmp_path):
    dd = pytest.importorskip("dask.dataframe")
    out = tmp_path / "tags.parquet"
    tag_catalog(catalog, {"color": _extractor(examples, tmp_path)}, out, cache_dir=tmp_path / "c", progress=False)
    df = dd.read_parquet(str(out)).compute()
    assert len(df) == 6 and set(df["color"]) == set(COLOURS)


def test_tag_file_reads_with_duckdb(examples, catalog, tmp_path):
    duckdb = pytest.importorskip("duckdb")
    out = tmp_path / "tags.parquet"
    tag_catalog(catalog, {"color": _extractor(examples, tmp_path)}, out, cache_dir=tmp_path / "c", progress=False)
    rows = duckdb.sql(f"SELECT color, count(*) AS n FROM read_parquet('{out}') GROUP BY color ORDER BY color").fetchall()
    assert {value for value, _ in rows} == set(COLOURS) and sum(n for _, n in rows) == 6
