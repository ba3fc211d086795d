"""Skip-and-report on every per-image path (issue 12, item 3).

Good images are answered, bad ones are listed with path and reason; only when
nothing is usable is it an error. The network is replaced by the images' mean
colour (a fake ``Embedder.forward``), so these tests need no TensorFlow and
the right answers are known.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import attr_utils as au
from attr_utils.retrieval.extractor import AttributeExtractor
from attr_utils.cli import main
from attr_utils.embedder import Embedder
from attr_utils.errors import ImageDecodeError

RED, BLUE = (200, 30, 30), (30, 60, 200)


@pytest.fixture(autouse=True)
def mean_colour_network(monkeypatch):
    """Every block's vector is the image's mean colour, repeated to the block's width."""

    def forward(self, images):
        self.forward_passes += 1
        mean = images.reshape(len(images), -1, 3).mean(axis=1) / 255.0
        return {b: np.tile(mean, (1, -(-d // 3)))[:, :d].astype(np.float32) for b, d in self.spec.dims.items()}

    monkeypatch.setattr(Embedder, "forward", forward)


@pytest.fixture()
def files(tmp_path):
    out = {}
    for name, rgb in (("red", RED), ("blue", BLUE), ("red2", (190, 40, 35)), ("blue2", (40, 50, 190))):
        out[name] = tmp_path / f"{name}.png"
        Image.new("RGB", (40, 40), rgb).save(out[name])
    data = (tmp_path / "red.png").read_bytes()
    out["truncated"] = tmp_path / "truncated.png"
    out["truncated"].write_bytes(data[: len(data) // 2])
    out["text"] = tmp_path / "notes.png"
    out["text"].write_text("not an image at all")
    out["missing"] = tmp_path / "gone.png"
    return out


def _embed(images, tmp_path, **kw):
    return au.embed_images(images, weights="random:0", cache_dir=tmp_path / "cache", **kw)


def test_embed_images_answers_good_and_lists_bad(files, tmp_path):
    emb = _embed([str(files["red"]), str(files["truncated"]), str(files["missing"]), b"junk", str(files["blue"])], tmp_path)
    assert emb.paths == [str(files["red"]), str(files["blue"])]
    assert emb.report.images == 5 and len(emb) == 2
    reasons = {s.path: s.reason for s in emb.report.skipped}
    assert set(reasons) == {str(files["truncated"]), str(files["missing"]), "<upload 3>"}
    assert "truncated" in reasons[str(files["truncated"])]
    assert reasons[str(files["missing"])] == "missing file"
    assert "not an image" in reasons["<upload 3>"]


def test_embed_images_one_bad_image_alone_is_an_error(files, tmp_path):
    with pytest.raises(ImageDecodeError, match="truncated.png"):
        _embed([str(files["truncated"])], tmp_path)


def test_embed_images_all_bad_names_the_first_and_counts_the_rest(files, tmp_path):
    with pytest.raises(ImageDecodeError, match=r"truncated\.png.*1 more"):
        _embed([str(files["truncated"]), str(files["text"])], tmp_path)


def test_embed_images_on_error_raise(files, tmp_path):
    with pytest.raises(ImageDecodeError, match="notes.png"):
        _embed([str(files["red"]), str(files["text"])], tmp_path, on_error="raise")


def test_embed_images_invalid_on_error(files, tmp_path):
    with pytest.raises(ValueError, match="on_error"):
        _embed([str(files["red"])], tmp_path, on_error="ignore")


@pytest.fixture()
def extractor(files, tmp_path):
    return AttributeExtractor.from_examples(
        {"red": [str(files["red"]), str(files["red2"])], "blue": [str(files["blue"]), str(files["blue2"])]},
        k=1, backbone="resnet50", weights="random:0", cache_dir=tmp_path / "cache",
    )


def test_extractor_predict_skips_and_reports(extractor, files):
    out = extractor.predict([str(files["red2"]), str(files["truncated"]), str(files["blue2"]), str(files["missing"])])
    assert out["path"].tolist() == [str(files["red2"]), str(files["blue2"])]
    assert out["value"].tolist() == ["red", "blue"]
    assert [s.path for s in out.attrs["skipped"]] == [str(files["truncated"]), str(files["missing"])]


def test_extractor_kneighbors_returns_skipped_on_request(extractor, files):
    dist, rows, names, skipped = extractor.kneighbors([str(files["truncated"]), str(files["red"])], return_skipped=True)
    assert names == [str(files["red"])] and dist.shape == (1, 1) and dist[0, 0] < 1e-6
    assert skipped[0].path == str(files["truncated"])
    assert len(extractor.kneighbors([str(files["red"])])) == 3  # unchanged default signature


def test_extractor_predict_one_bad_image_is_an_error(extractor, files):
    with pytest.raises(ImageDecodeError, match="truncated.png"):
        extractor.predict([str(files["truncated"])])


def test_from_examples_still_refuses_a_bad_example(files, tmp_path):
    with pytest.raises(ImageDecodeError, match="truncated.png"):
        AttributeExtractor.from_examples({"red": [str(files["red"]), str(files["truncated"])]},
                                         backbone="resnet50", weights="random:0", cache_dir=tmp_path / "cache")


def test_cli_predict_answers_good_images_and_lists_bad_ones(extractor, files, tmp_path, capsys):
    extractor.save(tmp_path / "ex")
    argv = ["predict", str(files["red2"]), str(files["truncated"]), str(files["blue2"]),
            "--extractor", str(tmp_path / "ex"), "--cache-dir", str(tmp_path / "cache")]
    assert main(argv) == 0
    out = capsys.readouterr()
    assert "red2.png\tred" in out.out and "blue2.png\tblue" in out.out
    assert f"skipped {files['truncated']}: truncated" in out.err
    assert main([*argv, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["value"] for r in rows] == ["red", "blue", None]
    assert rows[2]["path"] == str(files["truncated"]) and "truncated" in rows[2]["skipped"]


def test_cli_predict_nothing_usable_exits_2_with_one_line(extractor, files, tmp_path, capsys):
    extractor.save(tmp_path / "ex")
    code = main(["predict", str(files["truncated"]), str(files["missing"]), "--extractor", str(tmp_path / "ex"),
                 "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "truncated.png" in err


def test_cli_embed_nothing_usable_exits_2(files, tmp_path, capsys):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.png").write_bytes(files["truncated"].read_bytes())
    (folder / "b.png").write_text("text")
    code = main(["embed", str(folder), "--weights", "random", "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert code == 2 and "none of the 2 images" in err


def test_report_counts_every_listed_input_once(tmp_path, mean_colour_network):
    """images == embedded + cached + skipped, a missing file (left out by the reader) included."""
    from tests.conftest import make_image

    (tmp_path / "img").mkdir()
    for name, rgb in [("a.png", (200, 0, 0)), ("b.png", (0, 0, 200))]:
        make_image(tmp_path / "img" / name, rgb)
    (tmp_path / "img" / "empty.png").write_bytes(b"")
    (tmp_path / "m.csv").write_text("file,color\nimg/a.png,red\nimg/b.png,blue\nimg/empty.png,red\nimg/missing.png,blue\n")
    rep = au.embed(tmp_path / "m.csv", weights="random:0", cache_dir=tmp_path / "cache", progress=False).report
    assert (rep.images, rep.embedded + rep.cached, len(rep.skipped)) == (4, 2, 2)
