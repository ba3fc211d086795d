"""Catalog audit: suspect labels, duplicates, outliers (attr_utils.analysis.audit, issue 16 item 3)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from attr_utils.analysis.audit import CatalogAudit, audit_labels, knn_probabilities, near_duplicate_threshold
from attr_utils.embeddings import Embeddings
from attr_utils.errors import DatasetError, ParameterError

DIM = 12
FLIPPED = [3, 25, 47, 58]


def constructed(*, flips=FLIPPED, seed=0):
    """3 well separated values x 20 items; labels of ``flips`` moved to the next value.

    Rows 60 and 61 copy row 0 (same hash) and row 1 (re-encoded: a tiny shift, new hash);
    row 62 is far from everything and unlabelled.
    """
    rng = np.random.default_rng(seed)
    centres = np.eye(3, DIM) * 10
    x = np.vstack([c + rng.normal(size=(20, DIM)) for c in centres])
    values = np.array(["red", "green", "blue"])
    y = np.repeat(values, 20).astype(object)
    for i in flips:
        y[i] = values[(list(values).index(y[i]) + 1) % 3]
    x = np.vstack([x, x[0], x[1] + 1e-3 * rng.normal(size=DIM), -30 * np.ones(DIM)])
    y = np.concatenate([y, [y[0], y[1], None]])
    noise = rng.normal(size=x.shape)  # a block that carries nothing
    emb = Embeddings.from_arrays({"b1": noise, "b2": x, "b3": x}, {"color": y},
                                 paths=[f"img/{i}.png" for i in range(len(x))])
    hashes = [f"h{i:03d}" for i in range(len(x))]
    hashes[60] = hashes[0]
    emb.table["hash"] = hashes
    return emb


def _audit(emb, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the unlabelled row is left out of the vote
        return audit_labels(emb, "color", **kw)


def test_injected_flips_ranked_first():
    audit = _audit(constructed())
    top = audit.suspects.head(len(FLIPPED))
    assert sorted(top["row"]) == FLIPPED
    assert (top["score"] == 1.0).all()
    truth = {3: "red", 25: "green", 47: "blue", 58: "blue"}
    assert dict(zip(top["row"], top["suggested"])) == truth
    assert audit.attrs["block"] in ("b2", "b3")  # the recommended block, not the noise


def test_exact_and_near_duplicates_found():
    audit = _audit(constructed(flips=[]))
    groups = {tuple(r.rows): (r.kind, r.distance) for r in audit.duplicates.itertuples()}
    assert set(groups) == {(0, 60), (1, 61)}
    assert groups[(0, 60)] == ("identical", 0.0)
    assert groups[(1, 61)][0] == "near" and 0 < groups[(1, 61)][1] < audit.attrs["near_threshold"]


def test_near_threshold_is_a_tenth_of_the_median_nearest_distance():
    emb = constructed(flips=[])
    x = emb["b3"] / np.linalg.norm(emb["b3"], axis=1, keepdims=True)
    d = 1 - x @ x.T
    np.fill_diagonal(d, np.inf)
    d[0, 60] = d[60, 0] = np.inf  # same hash: not a distinct neighbour
    assert near_duplicate_threshold(emb, block="b3") == pytest.approx(0.1 * np.median(d.min(axis=1)))


def test_outlier_found():
    audit = _audit(constructed(flips=[]))
    assert audit.outliers["row"].tolist()[:1] == [62]
    assert audit.outliers["score"].iloc[0] > 1


def test_json_shape():
    out = _audit(constructed()).to_json()
    assert set(out) == {"suspect_labels", "duplicates", "outliers"}
    assert set(out["suspect_labels"][0]) == {"path", "label", "suggested", "score"}
    assert set(out["duplicates"][0]) == {"paths", "kind", "distance"}
    assert set(out["outliers"][0]) == {"path", "score"}
    json.dumps(out)


def test_knn_probabilities_rows_sum_to_one():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        p = knn_probabilities(constructed(), "color", block="b2")
    assert np.allclose(p.sum(axis=1), 1.0) and list(p.columns) == ["blue", "green", "red"]


# -- invalid parameters: one test each ---------------------------------------------
@pytest.mark.parametrize("kw", [{"k": 0}, {"folds": 1}, {"seed": -1}, {"metric": "hamming"}, {"scaling": "max"},
                                {"near_threshold": 2.5}, {"outlier_quantile": 0.0}, {"outlier_margin": -0.1},
                                {"block": "b9"}, {"duplicate_block": "b9"}])
def test_invalid_parameter(kw):
    with pytest.raises(ParameterError):
        _audit(constructed(), **kw)


def test_unknown_label_column():
    with pytest.raises(DatasetError):
        audit_labels(constructed(), "texture", block="b2")


# -- CLI --------------------------------------------------------------------------
@pytest.fixture()
def mean_colour_network(monkeypatch):
    from attr_utils.embedder import Embedder

    def forward(self, images):
        mean = images.reshape(len(images), -1, 3).mean(axis=1) / 255.0
        return {b: np.tile(mean, (1, -(-d // 3)))[:, :d].astype(np.float32) for b, d in self.spec.dims.items()}

    monkeypatch.setattr(Embedder, "forward", forward)


def test_cli_audit_json_and_html(class_folder, tmp_path, capsys, mean_colour_network):
    import shutil

    from attr_utils.cli import main

    data = tmp_path / "data"
    shutil.copytree(class_folder, data)
    shutil.copy(data / "red" / "red_0.png", data / "red" / "red_copy.png")
    shutil.copy(data / "red" / "red_1.png", data / "blue" / "mislabelled.png")
    html = tmp_path / "report.html"
    rc = main(["audit", str(data), "--label", "label", "--json", "--html", str(html), "--weights", "random:0",
               "--cache-dir", str(tmp_path / "cache"), "--block", "block2", "--near-threshold", "0"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["suspect_labels"][0]["path"].endswith("mislabelled.png")
    assert out["suspect_labels"][0]["suggested"] == "red" and out["suspect_labels"][0]["label"] == "blue"
    kinds = {tuple(sorted(p.split("/")[-1] for p in d["paths"])): d["kind"] for d in out["duplicates"]}
    assert kinds[("red_0.png", "red_copy.png")] == "identical"
    assert kinds[("mislabelled.png", "red_1.png")] == "identical"
    assert len(kinds) == 2  # --near-threshold 0: identical files only
    assert "Suspect labels" in html.read_text()


def test_gallery_items_for_the_dashboard():
    audit = _audit(constructed())
    paths, captions = audit.gallery("suspects", top=2)
    assert paths == audit.suspects["path"].head(2).tolist() and "suggested" in captions[0]
    paths, captions = audit.gallery("duplicates")
    assert len(paths) == 4 and captions[0].startswith("group 1")
    with pytest.raises(ParameterError):
        audit.gallery("clusters")


def test_summary_is_a_tidy_table_of_what_was_checked_and_found():
    audit = CatalogAudit(
        suspects=pd.DataFrame({"path": ["a", "b"]}),
        duplicates=pd.DataFrame({"paths": [["c", "d"]]}),
        outliers=pd.DataFrame({"path": []}),
        attrs={"label": "color", "block": "block1", "near_threshold": 0.0125, "k": 5, "folds": 5, "seed": 0},
    )
    table = audit.summary()
    assert table.loc["suspect labels", "value"] == 2 and table.loc["duplicate groups", "value"] == 1
    assert table.loc["outliers", "value"] == 0 and table.loc["near-copy distance below", "value"] == "0.0125"
