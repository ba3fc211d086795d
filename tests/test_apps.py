"""The apps' logic without a browser: uploads, parameters, banner, retrieval, extractor, UMAP explorer, dashboard."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ipywidgets = pytest.importorskip("ipywidgets")

from attr_utils.apps import banner  # noqa: E402
from attr_utils.apps import session as params  # noqa: E402
from attr_utils.apps.upload import MAX_UPLOAD_BYTES, UploadError, read_upload  # noqa: E402
from attr_utils.embeddings import Embeddings  # noqa: E402

COLOURS = {"red": (210, 30, 30), "green": (30, 170, 60), "blue": (40, 60, 210)}
TEXTURES = ["plain", "striped"]


def _png(rgb=(200, 30, 30), size=(24, 24)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, rgb).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="session")
def catalog_emb(tmp_path_factory) -> Embeddings:
    """3 colours x 2 textures x 4 items; block 'c' separates colours, block 't' textures."""
    root = tmp_path_factory.mktemp("app-images")
    rng = np.random.default_rng(0)
    centres_c = {c: rng.normal(0, 1, 8) * 6 for c in COLOURS}
    centres_t = {t: rng.normal(0, 1, 8) * 6 for t in TEXTURES}
    rows, c_vecs, t_vecs = [], [], []
    for c, rgb in COLOURS.items():
        for t in TEXTURES:
            for i in range(4):
                path = root / f"{c}_{t}_{i}.png"
                path.write_bytes(_png(rgb))
                rows.append((str(path), c, t))
                c_vecs.append(centres_c[c] + rng.normal(0, 0.3, 8))
                t_vecs.append(centres_t[t] + rng.normal(0, 0.3, 8))
    return Embeddings.from_arrays(
        {"c": np.array(c_vecs), "t": np.array(t_vecs)},
        {"color": [r[1] for r in rows], "texture": [r[2] for r in rows]},
        paths=[r[0] for r in rows],
    )


def _widgets_in(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _widgets_in(child)


# -- uploads -------------------------------------------------------------------------
def test_read_upload_accepts_a_small_png():
    up = read_upload(({"name": "a.png", "size": 100, "content": memoryview(_png(size=(30, 20)))},))
    assert (up.name, up.width, up.height) == ("a.png", 30, 20)


def test_upload_repr_is_short():
    data = _png(size=(30, 20))
    up = read_upload(({"name": "a.png", "size": len(data), "content": memoryview(data)},))
    assert repr(up) == f"Upload(name='a.png', size={len(data)} bytes, 30x20 px)"
    assert "\\x" not in repr(up) and "b'" not in repr(up)


def test_read_upload_empty_is_none():
    assert read_upload(()) is None


def test_read_upload_rejects_declared_oversize_before_decoding():
    # the content is not an image: only the size check can have produced the message
    item = {"name": "big.png", "size": MAX_UPLOAD_BYTES + 1, "content": memoryview(b"x")}
    with pytest.raises(UploadError, match="limit is 10 MB"):
        read_upload((item,))


def test_read_upload_rejects_oversized_content():
    item = {"name": "big.png", "size": 10, "content": memoryview(bytes(MAX_UPLOAD_BYTES + 1))}
    with pytest.raises(UploadError, match="limit"):
        read_upload((item,))


def test_read_upload_rejects_several_files():
    item = {"name": "a.png", "size": 10, "content": memoryview(_png())}
    with pytest.raises(UploadError, match="one image at a time"):
        read_upload((item, item))


def test_read_upload_rejects_non_images():
    with pytest.raises(UploadError, match="not a usable image"):
        read_upload(({"name": "x.png", "size": 5, "content": memoryview(b"hello")},))


def test_read_upload_rejects_bad_limit():
    with pytest.raises(ValueError):
        read_upload((), max_bytes=0)


# -- parameters -------------------------------------------------------------------------
def test_notebook_params_from_environment(monkeypatch):
    monkeypatch.setenv("ATTR_UTILS_DATASET", "/data/x.csv")
    monkeypatch.setenv("ATTR_UTILS_BACKBONE", "resnet50")
    monkeypatch.setenv("ATTR_UTILS_WEIGHTS", "random:3")
    monkeypatch.setenv("ATTR_UTILS_SMOKE", "7")
    p = params.notebook_params()
    assert (p.dataset, p.backbone, p.weights, p.smoke) == ("/data/x.csv", "resnet50", "random:3", 7)


def test_notebook_params_defaults(monkeypatch):
    for var in params.ENV.values():
        monkeypatch.delenv(var, raising=False)
    p = params.notebook_params()
    assert (p.dataset, p.backbone, p.weights, p.smoke) == (None, "auto", None, None)


@pytest.mark.parametrize("text", ["abc", "-2", "1.5"])
def test_notebook_params_rejects_bad_smoke(monkeypatch, text):
    monkeypatch.setenv("ATTR_UTILS_SMOKE", text)
    with pytest.raises(ValueError, match="ATTR_UTILS_SMOKE"):
        params.notebook_params()


def test_notebook_params_rejects_bad_smoke_override():
    with pytest.raises(ValueError, match="smoke"):
        params.notebook_params(smoke=0)


def test_smoke_dataset_keeps_n_per_class(class_folder):
    ds = params.load_notebook_dataset(params.notebook_params(dataset=str(class_folder), smoke=2))
    assert ds.table["label"].value_counts().to_dict() == {"blue": 2, "green": 2, "red": 2}


def test_synthetic_catalog_size_for_smoke_runs():
    assert params._synthetic_per_class(None) == 100
    assert params._synthetic_per_class(3) == 10
    assert params._synthetic_per_class(25) == 30


def test_attribute_columns(catalog_emb):
    assert params.attribute_columns(catalog_emb) == ["color", "texture"]


# -- banner ------------------------------------------------------------------------------------
def _emb_like(backbone, weights, pretrained):
    base = Embeddings.from_arrays({"b": np.zeros((2, 3))}, {"label": ["a", "b"]})
    return Embeddings(
        table=base.table,
        blocks=base.blocks,
        backbone=backbone,
        weights=weights,
        weights_label=weights,
        pretrained=pretrained,
        label_columns=("label",),
    )


def test_banner_paper_setup():
    emb = _emb_like("resnet50", "imagenet", True)
    assert banner.is_paper_setup(emb)
    assert "Paper setup" in banner.provenance_html(emb)


def test_banner_warns_for_other_backbone():
    text = banner.provenance_html(_emb_like("efficientnet-lite0", "imagenet", True))
    assert "Not the paper&#x27;s backbone" in text and "efficientnet-lite0" in text


def test_banner_flags_random_weights():
    emb = _emb_like("resnet50", "random:0", False)
    assert not banner.is_paper_setup(emb)
    assert "RANDOM WEIGHTS" in banner.provenance_html(emb)


# -- retrieval app -----------------------------------------------------------------------------------
@pytest.fixture()
def retrieval(catalog_emb):
    from attr_utils.apps import retrieval_app

    return retrieval_app(catalog_emb, k=4, blocks={"color": "c", "texture": "t"})


def test_catalog_dropdown_holds_only_catalog_rows(retrieval, catalog_emb):
    values = [v for _, v in retrieval.query_picker.options]
    assert values == list(range(len(catalog_emb)))
    assert all(Path(catalog_emb.paths[v]).name in label for label, v in retrieval.query_picker.options)
    # no widget lets a visitor type a path
    assert not any(isinstance(w, (ipywidgets.Text, ipywidgets.Textarea)) for w in _widgets_in(retrieval.widget))


def test_changing_mode_changes_results(retrieval, catalog_emb):
    retrieval.set_query_row(0)  # red / plain
    retrieval.mode.value = "color"
    by_colour = retrieval.results
    assert (by_colour["color"] == "red").all()
    assert retrieval.alpha.disabled
    retrieval.mode.value = "texture"
    by_texture = retrieval.results
    assert (by_texture["texture"] == "plain").all()
    assert by_colour["row"].tolist() != by_texture["row"].tolist()
    assert 0 not in by_texture["row"].tolist()  # the query itself is excluded
    retrieval.mode.value = "both"
    assert not retrieval.alpha.disabled


def test_precision_at_k_of_the_query(retrieval):
    retrieval.set_query_row(0)
    retrieval.mode.value = "color"
    prec = retrieval.precision.set_index("agreement")["precision"]
    assert prec["color"] == 1.0


def test_changing_query_changes_results(retrieval):
    retrieval.mode.value = "color"
    retrieval.set_query_row(0)
    first = retrieval.results["row"].tolist()
    retrieval.set_query_row(len(retrieval.emb) - 1)  # blue
    assert retrieval.results["row"].tolist() != first
    assert (retrieval.results["color"] == "blue").all()


def test_retrieval_app_uses_the_library_default_combination(retrieval):
    from attr_utils.retrieval import DEFAULT_ALPHA, DEFAULT_METHOD

    assert retrieval.mode.value == "both"
    assert retrieval.method.value == DEFAULT_METHOD and retrieval.alpha.value == DEFAULT_ALPHA
    retrieval.set_query_row(5)
    expected = retrieval.catalog.search(5, k=retrieval.k.value)  # the library's defaults, query left out
    assert retrieval.results["row"].tolist() == expected["row"].tolist()
    assert 5 not in retrieval.results["row"].tolist()
    retrieval.mode.value = "color"
    assert retrieval.method.disabled


def test_each_result_says_whether_colour_and_texture_match(retrieval):
    retrieval.set_query_row(0)  # red / plain
    retrieval.mode.value = "color"
    m = retrieval.matches
    assert list(m.columns) == ["color", "texture"]
    assert m["color"].all()  # colour mode on separable colours
    np.testing.assert_array_equal(m["texture"].to_numpy(), (retrieval.results["texture"] == "plain").to_numpy())
    captions = [w.value for w in _widgets_in(retrieval.results_box) if isinstance(w, ipywidgets.HTML)]
    text = " ".join(captions)
    assert text.count("colour \u2713") == len(retrieval.results)
    assert text.count("texture \u2713") == int(m["texture"].sum())
    assert text.count("texture \u2717") == int((~m["texture"]).sum())


def test_each_result_shows_the_distances_it_was_ranked_by(retrieval):
    """Captions give the cosine distance(s), not the fused score (near-constant and negative to a reader)."""
    retrieval.set_query_row(0)
    for mode, shown in (("color", ["colour distance"]), ("texture", ["texture distance"]), ("both", ["colour", "texture"])):
        retrieval.mode.value = mode
        text = " ".join(w.value for w in _widgets_in(retrieval.results_box) if isinstance(w, ipywidgets.HTML))
        first = retrieval.results.iloc[0]
        for what in shown:
            column = "distance_color" if what.startswith("colour") else "distance_texture"
            assert f"{what} {first[column]:.3f}" in text
        assert "score" not in text


def test_retrieval_app_invalid_method(catalog_emb):
    from attr_utils.apps import retrieval_app

    with pytest.raises(ValueError, match="method"):
        retrieval_app(catalog_emb, method="sum", blocks={"color": "c", "texture": "t"})


def test_result_grid_has_one_cell_per_result(retrieval):
    grid = retrieval.results_box.children[0]
    assert len(grid.children) == len(retrieval.results) == retrieval.k.value


def test_oversized_upload_is_refused_and_cleared(retrieval):
    before = retrieval.results["row"].tolist()
    import datetime

    retrieval.upload.value = (
        {
            "name": "huge.png",
            "type": "image/png",
            "size": MAX_UPLOAD_BYTES + 1,
            "last_modified": datetime.datetime.now(datetime.timezone.utc),
            "content": memoryview(b"0"),
        },
    )
    assert "limit" in retrieval.status.value
    assert retrieval.upload.value == ()
    assert retrieval.results["row"].tolist() == before


def test_upload_refused_in_the_browser_is_reported(retrieval):
    before = retrieval.results["row"].tolist()
    # what the browser side sets when a picked file is over max_bytes (nothing is sent)
    retrieval.upload.refused = "raw.tif is 40.0 MB; the limit is 10 MB"
    retrieval.upload.refusals += 1
    assert "raw.tif is 40.0 MB" in retrieval.status.value
    assert retrieval.results["row"].tolist() == before


def test_retrieval_app_empties_the_catalog_dropdown_after_an_upload(retrieval, monkeypatch):
    # issue 18: after an upload the dropdown kept the old item, and choosing it again did nothing
    from attr_utils.apps.upload import Upload

    search = retrieval.catalog.search
    monkeypatch.setattr(retrieval.catalog, "search", lambda q, **kw: search(0 if isinstance(q, bytes) else q, **kw))
    old = retrieval.query_picker.value
    retrieval.set_upload(Upload(name="q.png", data=_png(), width=24, height=24))
    assert retrieval.query_picker.value is None
    assert "Uploaded: q.png" in " ".join(w.value for w in _widgets_in(retrieval.widget) if isinstance(w, ipywidgets.HTML))
    retrieval.query_picker.value = old
    shown = " ".join(w.value for w in _widgets_in(retrieval.widget) if isinstance(w, ipywidgets.HTML))
    assert "Uploaded: q.png" not in shown and "Query: " in shown


def test_upload_button_carries_the_limit_to_the_browser(retrieval):
    from attr_utils.apps import UploadButton

    assert isinstance(retrieval.upload, UploadButton)
    state = retrieval.upload.get_state()
    assert state["max_bytes"] == retrieval.max_upload_bytes == MAX_UPLOAD_BYTES
    assert state["accept"] == "image/*" and state["multiple"] is False


def test_upload_button_rejects_a_bad_limit():
    import traitlets

    from attr_utils.apps import UploadButton

    with pytest.raises(traitlets.TraitError, match="`max_bytes` must be >= 1"):
        UploadButton(max_bytes=0)


def test_query_precision_counts_agreement():
    import pandas as pd

    from attr_utils.apps import query_precision

    res = pd.DataFrame({"color": ["red", "red", "blue", "red"], "texture": ["a", "b", "a", "a"]})
    out = query_precision(res, {"color": "red", "texture": "a"}).set_index("agreement")["precision"]
    assert out.to_dict() == {"color": 0.75, "texture": 0.75, "all": 0.5}


def test_query_matches_reads_a_label_named_like_a_result_column():
    import numpy as np

    from attr_utils.apps.retrieval_app import query_matches
    from attr_utils.embeddings import Embeddings
    from attr_utils.retrieval import Catalog

    rng = np.random.default_rng(0)
    emb = Embeddings.from_arrays({"c": rng.normal(size=(6, 3)), "t": rng.normal(size=(6, 3))},
                                 {"rank": ["gold", "gold", "silver", "gold", "silver", "gold"]})
    res = Catalog(emb, blocks=("c", "t")).search(0, k=5)
    got = query_matches(res, {"rank": "gold"})["rank"].tolist()
    assert got == (res["user_rank"] == "gold").tolist() and sum(got) == 3  # not the computed ranks 1..5


def test_retrieval_app_rejects_bad_mode(catalog_emb):
    from attr_utils.apps import retrieval_app

    with pytest.raises(ValueError, match="mode"):
        retrieval_app(catalog_emb, mode="shape", blocks={"color": "c", "texture": "t"})


def test_retrieval_app_rejects_bad_k(catalog_emb):
    from attr_utils.apps import retrieval_app

    with pytest.raises(ValueError, match="k"):
        retrieval_app(catalog_emb, k=0, blocks={"color": "c", "texture": "t"})


def _upload_item(name: str, data: bytes) -> dict:
    return {"name": name, "type": "image/png", "size": len(data), "content": memoryview(data)}


def test_upload_button_delivers_every_file_of_a_pick():
    # issue 18: files written one by one to a synced trait were merged by the browser (5 picked: 3 arrived);
    # now each file is its own custom message and the kernel assembles the pick
    from attr_utils.apps import UploadButton

    button = UploadButton(multiple=True)
    seen = []
    button.observe(lambda change: seen.append([f["name"] for f in button.value]), names="picks")
    for i in range(5):
        content = {"event": "file", "pick": "p1", "name": f"f{i}.png", "type": "image/png", "size": 3}
        button._handle_custom_msg(content, [memoryview(b"abc")])
    assert seen == []  # nothing is announced before the pick is complete
    button._handle_custom_msg({"event": "done", "pick": "p1", "sent": 5, "refused": []}, [])
    assert seen == [["f0.png", "f1.png", "f2.png", "f3.png", "f4.png"]]
    assert bytes(button.value[4]["content"]) == b"abc" and button.refused == "" and button.refusals == 0


def test_upload_button_reports_the_files_refused_in_the_browser():
    from attr_utils.apps import UploadButton

    button = UploadButton(multiple=True)
    button._handle_custom_msg({"event": "file", "pick": "p", "name": "ok.png", "size": 3}, [memoryview(b"abc")])
    refused = [{"name": "big.png", "size": 12 << 20, "reason": "big.png is 12.0 MB; the limit is 10 MB"}]
    button._handle_custom_msg({"event": "done", "pick": "p", "sent": 1, "refused": refused}, [])
    assert [f["name"] for f in button.value] == ["ok.png"]
    assert button.refused_files == tuple(refused) and button.refused == refused[0]["reason"]
    assert (button.refusals, button.picks) == (1, 1)


def test_upload_button_keeps_the_bytes_in_the_kernel():
    from attr_utils.apps import UploadButton

    state = UploadButton().get_state()
    assert "value" not in state and "refused" not in state  # never echoed back to the browser


def test_upload_button_rejects_a_bad_file_limit():
    import traitlets

    from attr_utils.apps import UploadButton

    with pytest.raises(traitlets.TraitError, match="`max_files` must be >= 1"):
        UploadButton(max_files=0)


# -- extractor app ----------------------------------------------------------------------------------------
def test_extractor_app_lists_every_file_of_a_pick(catalog_emb):
    from attr_utils.apps import extractor_app

    app = extractor_app(catalog_emb, label="color", holdout="red", examples=3, block="c")
    # one pick: a good image, a file that is not an image, and one the browser refused as too big
    app.example_upload.receive(
        [_upload_item("ok.png", _png()), _upload_item("notes.txt", b"not an image")],
        refused=[{"name": "big.png", "size": 12 << 20, "reason": "big.png is 12.0 MB; the limit is 10 MB"}],
    )
    assert app.example_upload.value == ()  # the bytes are dropped from the widget once checked
    assert [(r["name"], r["accepted"]) for r in app.upload_results] == [
        ("big.png", False), ("ok.png", True), ("notes.txt", False)]
    report = app.upload_report.value
    assert "big.png is 12.0 MB" in report and "notes.txt is not a usable image" in report and "ok.png: accepted" in report
    assert "1 uploaded example(s) ready" in app.status.value
    # the next pick lists its own files; the examples ready add up
    app.example_upload.receive([_upload_item("two.png", _png((10, 200, 10)))])
    assert "two.png: accepted" in app.upload_report.value and "big.png" not in app.upload_report.value
    assert "2 uploaded example(s) ready" in app.status.value


def test_extractor_app_shows_the_chosen_examples_beside_add_value(catalog_emb):
    from attr_utils.apps import extractor_app

    app = extractor_app(catalog_emb, label="color", holdout="red", examples=3, block="c")
    pictures = [w for w in _widgets_in(app.choice) if isinstance(w, ipywidgets.Image)]
    assert len(pictures) == 3 and app.add_button.description == "Add value (3 examples)"
    assert "3 catalog item(s)" in app.choice.children[0].value
    app.example_upload.receive([_upload_item("mine.png", _png())])
    assert app.add_button.description == "Add value (4 examples)"
    assert len([w for w in _widgets_in(app.choice) if isinstance(w, ipywidgets.Image)]) == 4
    app.clear_choice()
    assert app.add_button.description == "Add value" and app.example_picker.value == ()
    assert "No examples chosen" in app.choice.children[0].value
    n = len(app.extractor.examples_)
    app.add_value()  # nothing chosen: nothing added, and the visitor is told
    assert len(app.extractor.examples_) == n and "pick example items" in app.status.value


def _fake_embedder(app, catalog_emb, colour):
    """Uploads become the catalog's mean vector of ``colour`` (the test catalog has no backbone to embed with)."""
    from attr_utils.embeddings import Embeddings

    centre = catalog_emb["c"][np.asarray(catalog_emb.labels("color")) == colour].mean(axis=0)

    def embed(images, on_error="raise"):
        images = list(images)
        return Embeddings.from_arrays({"c": np.tile(centre, (len(images), 1)), "t": np.zeros((len(images), 8))},
                                      paths=[f"<upload {i}>" for i in range(len(images))])

    app.extractor._embed_images = embed


def test_extractor_app_shows_uploaded_examples_among_the_voters(catalog_emb):
    from attr_utils.apps import extractor_app

    app = extractor_app(catalog_emb, label="color", holdout="red", examples=1, block="c")
    app.clear_choice()
    _fake_embedder(app, catalog_emb, "red")
    app.example_upload.receive([_upload_item(f"red{i}.png", _png((200, 20 + i, 20))) for i in range(3)])
    app.add_value()
    app.query_upload.receive([_upload_item("query.png", _png())])
    voters = next(w for w in _widgets_in(app.result) if "attr-utils-voters" in w._dom_classes)
    captions = [cell.children[1].value for cell in voters.children]
    uploaded = [cell for cell, cap in zip(voters.children, captions, strict=True) if "uploaded: red" in cap]
    assert len(uploaded) == 3
    assert all(isinstance(cell.children[0], ipywidgets.Image) for cell in uploaded)
    assert not any("cannot show image" in getattr(w, "value", "") for w in _widgets_in(app.result) if isinstance(w, ipywidgets.HTML))


def test_extractor_app_empties_the_catalog_dropdown_after_an_upload(catalog_emb):
    from attr_utils.apps import extractor_app

    app = extractor_app(catalog_emb, label="color", holdout="red", examples=1, block="c")
    _fake_embedder(app, catalog_emb, "green")
    old = app.query_picker.value
    app.query_upload.receive([_upload_item("query.png", _png())])
    assert app.query_picker.value is None and app.prediction["value"].iloc[0] == "green"
    title = next(w for w in _widgets_in(app.result.children[0]) if isinstance(w, ipywidgets.HTML)).value
    assert "Uploaded: query.png" in title
    app.query_picker.value = old  # choosing the item shown before the upload fires again
    title = next(w for w in _widgets_in(app.result.children[0]) if isinstance(w, ipywidgets.HTML)).value
    assert "Query: " in title and app.prediction["value"].iloc[0] != "green"


def test_extractor_app_reports_a_refused_query_upload(catalog_emb):
    from attr_utils.apps import extractor_app

    app = extractor_app(catalog_emb, label="color", holdout="red", examples=1, block="c")
    before = app.prediction.copy()
    app.query_upload.receive([], refused=[{"name": "big.png", "size": 1, "reason": "big.png is 40.0 MB; the limit is 10 MB"}])
    assert "big.png is 40.0 MB" in app.status.value
    assert app.prediction.equals(before)


def test_explain_verdict_gives_the_reason_for_unknown():
    from attr_utils.apps.extractor_app import explain_verdict

    pred = {"value": "red", "confidence": 0.95, "unknown": True, "distance": 0.6123}
    text = explain_verdict(pred, k=5, threshold=0.4)
    assert text.startswith("Unknown: the nearest example is at distance 0.612, farther than the threshold 0.400")
    assert "'red' would get 95% of the vote" in text and "weighted by 1/distance" in text


def test_explain_verdict_says_votes_are_distance_weighted():
    from attr_utils.apps.extractor_app import explain_verdict

    pred = {"value": "teal", "confidence": 0.8, "unknown": False, "distance": 0.05}
    text = explain_verdict(pred, k=5, threshold=0.4)
    assert text == ("Confidence 0.80 is teal's share of the vote: the 5 nearest examples vote, each weighted by "
                    "1/distance (closer examples count more). Nearest example at distance 0.050; 'unknown' beyond 0.400.")
    assert "beyond" not in explain_verdict(pred, k=5, threshold=float("inf"))


def test_extractor_app_explains_an_unknown_verdict(catalog_emb):
    from attr_utils.apps import extractor_app

    app = extractor_app(catalog_emb, label="color", holdout="red", examples=1, block="c")
    app.extractor.threshold_ = 1e-9  # every query is now farther than the threshold
    app.predict()
    assert bool(app.prediction["unknown"].iloc[0])
    shown = " ".join(w.value for w in _widgets_in(app.result) if isinstance(w, ipywidgets.HTML))
    assert "unknown (nearest example too far)" in shown and "farther than the threshold 0.000" in shown
    assert "confidence 1.00" not in shown  # the vote's confidence is never a headline beside unknown


def test_extractor_app_holds_out_then_learns_a_value(catalog_emb):
    from attr_utils.apps import extractor_app

    app = extractor_app(catalog_emb, label="color", holdout="red", examples=3, block="c")
    assert "red" not in app.extractor.classes_
    assert app.holdout_report["correct"].sum() == 0
    app.add_value()
    assert "red" in app.extractor.classes_
    assert app.holdout_report["correct"].all()
    assert app.prediction["value"].iloc[0] == "red"


def test_extractor_app_requires_a_name(catalog_emb):
    from attr_utils.apps import extractor_app

    app = extractor_app(catalog_emb, label="color", holdout="red", block="c")
    n = len(app.extractor.examples_)
    app.add_value(name="  ")
    assert "name" in app.status.value and len(app.extractor.examples_) == n


def test_extractor_app_rejects_unknown_holdout(catalog_emb):
    from attr_utils.apps import extractor_app

    with pytest.raises(ValueError, match="holdout"):
        extractor_app(catalog_emb, label="color", holdout="violet", block="c")


# -- UMAP explorer (coordinates stubbed: the layout itself is tested with the analysis) -------------------------------
def test_umap_explorer_switches_block_and_shows_hovered_row(catalog_emb, monkeypatch):
    from attr_utils.apps import umap_explorer
    from attr_utils.apps.umap_explorer import UmapExplorer

    calls = []

    def fake_coords(self):
        calls.append((self.block.value, self.n_components.value))
        return np.random.default_rng(0).normal(size=(len(self.emb), self.n_components.value))

    monkeypatch.setattr(UmapExplorer, "coordinates", fake_coords)
    ex = umap_explorer(catalog_emb)
    assert catalog_emb.provenance.split(" · ")[0] in ex.figure.layout.title.text
    ex.block.value = "t"
    ex.n_components.value = 3
    assert calls == [("c", 2), ("t", 2), ("t", 3)]
    assert ex.figure.data[0].type == "scatter3d"
    ex.show_row(5)
    assert ex.selected == 5 and "green" not in ex.detail_text.value
    assert Path(catalog_emb.paths[5]).name in ex.detail_text.value


# -- dashboard ------------------------------------------------------------------------------------------------------------
def test_voila_command_binds_host_and_port(tmp_path):
    from attr_utils.dashboard import voila_command

    cmd = voila_command(tmp_path, port=9000, host="127.0.0.1", config_dir=tmp_path)
    assert "--port=9000" in cmd and "--Voila.ip=127.0.0.1" in cmd and "--no-browser" in cmd
    assert f"--Voila.config_file_paths={tmp_path}" in cmd


@pytest.mark.parametrize("port", [0, 70000, True])
def test_voila_command_rejects_bad_port(tmp_path, port):
    from attr_utils.dashboard import voila_command

    with pytest.raises(ValueError, match="port"):
        voila_command(tmp_path, port=port)


def test_landing_url_brackets_ipv6():
    from attr_utils.dashboard import landing_url

    assert landing_url("::1", 8866) == "http://[::1]:8866/voila/render/index.ipynb"


def test_dashboard_refuses_folder_without_landing_page(tmp_path, capsys):
    from attr_utils.dashboard import main

    assert main(["--notebooks", str(tmp_path), "--no-warm"]) == 2
    assert "index.ipynb" in capsys.readouterr().err


def test_voila_config_is_safe():
    import json

    cfg = json.loads((Path(__file__).resolve().parents[1] / "notebooks" / "voila.json").read_text())
    assert cfg["Voila"]["ip"] == "127.0.0.1"
    assert cfg["VoilaConfiguration"]["show_tracebacks"] is False
    assert cfg["VoilaConfiguration"]["strip_sources"] is True
    assert cfg["VoilaConfiguration"]["file_allowlist"] == []
    # websocket messages must carry a 10 MB upload (the app refuses larger ones with a message)
    assert cfg["Voila"]["tornado_settings"]["websocket_max_message_size"] > MAX_UPLOAD_BYTES


def test_extractor_app_rejects_bad_per_value(catalog_emb):
    from attr_utils.apps import extractor_app

    with pytest.raises(ValueError, match="per_value"):
        extractor_app(catalog_emb, label="color", per_value=0, block="c")


def test_extractor_app_keeps_few_examples_per_known_value(catalog_emb):
    from attr_utils.apps import extractor_app

    app = extractor_app(catalog_emb, label="color", holdout="red", per_value=2, block="c")
    assert app.extractor.examples_["value"].value_counts().to_dict() == {"blue": 2, "green": 2}


# -- issue 17: factories forward every keyword, one validator, UploadError is an AttrUtilsError -----------------
@pytest.mark.parametrize(
    ("module", "factory", "cls"),
    [
        ("retrieval_app", "retrieval_app", "RetrievalApp"),
        ("extractor_app", "extractor_app", "ExtractorApp"),
        ("umap_explorer", "umap_explorer", "UmapExplorer"),
    ],
)
def test_each_factory_takes_exactly_its_classes_keywords(module, factory, cls):
    import importlib
    import inspect

    mod = importlib.import_module(f"attr_utils.apps.{module}")

    def keywords(func):
        params = inspect.signature(func).parameters.values()
        return {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY}

    assert keywords(getattr(mod, factory)) == keywords(getattr(mod, cls).__init__)


def test_retrieval_app_forwards_max_upload_bytes(catalog_emb):
    from attr_utils.apps import retrieval_app

    app = retrieval_app(catalog_emb, blocks={"color": "c", "texture": "t"}, max_upload_bytes=1000)
    assert app.max_upload_bytes == 1000 and app.upload.max_bytes == 1000


def test_extractor_app_forwards_max_upload_bytes(catalog_emb):
    from attr_utils.apps import extractor_app

    app = extractor_app(catalog_emb, label="color", holdout="red", block="c", max_upload_bytes=1000)
    assert app.max_upload_bytes == 1000
    assert app.example_upload.max_bytes == app.query_upload.max_bytes == 1000


def test_upload_error_is_an_attr_utils_error():
    from attr_utils.errors import AttrUtilsError, ImageDecodeError

    assert issubclass(UploadError, AttrUtilsError) and issubclass(UploadError, ImageDecodeError)
    assert issubclass(UploadError, ValueError)  # as before


def test_apps_accept_numpy_integers(catalog_emb):
    from attr_utils.apps import extractor_app, retrieval_app

    app = retrieval_app(catalog_emb, k=np.int64(3), columns=np.int32(2), thumb=np.int64(64),
                        blocks={"color": "c", "texture": "t"}, max_upload_bytes=np.int64(2000))
    assert (app.k.value, app.columns, app.thumb, app.max_upload_bytes) == (3, 2, 64, 2000)
    assert type(app.max_upload_bytes) is int
    ext = extractor_app(catalog_emb, label="color", holdout="red", block="c", examples=np.int64(2),
                        per_value=np.int64(2), k=np.int64(3))
    assert (ext.n_examples, ext.per_value, ext.k) == (2, 2, 3)
    assert read_upload((), max_bytes=np.int64(10)) is None


_BLOCKS = {"color": "c", "texture": "t"}


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"k": True}, "k"),
        ({"k": 2.0}, "k"),
        ({"mode": "shape"}, "mode"),
        ({"method": "sum"}, "method"),
        ({"alpha": 1.5}, "alpha"),
        ({"alpha": "0.5"}, "alpha"),
        ({"columns": 0}, "columns"),
        ({"columns": True}, "columns"),
        ({"thumb": 8}, "thumb"),
        ({"max_upload_bytes": 0}, "max_upload_bytes"),
        ({"max_upload_bytes": 1.5}, "max_upload_bytes"),
    ],
)
def test_retrieval_app_invalid_parameter(catalog_emb, kwargs, name):
    from attr_utils.apps import retrieval_app
    from attr_utils.errors import ParameterError

    with pytest.raises(ParameterError, match=f"`{name}`"):
        retrieval_app(catalog_emb, blocks=_BLOCKS, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"label": "fabric"}, "label"),
        ({"examples": 0}, "examples"),
        ({"examples": True}, "examples"),
        ({"per_value": 1.5}, "per_value"),
        ({"per_value": False}, "per_value"),
        ({"k": 0}, "k"),
        ({"k": "5"}, "k"),
        ({"block": "block9"}, "block"),
        ({"thumb": 4}, "thumb"),
        ({"max_upload_bytes": 0}, "max_upload_bytes"),
        ({"holdout": "violet"}, "holdout"),
    ],
)
def test_extractor_app_invalid_parameter(catalog_emb, kwargs, name):
    from attr_utils.apps import extractor_app
    from attr_utils.errors import ParameterError

    with pytest.raises(ParameterError, match=f"`{name}`"):
        extractor_app(catalog_emb, **{"label": "color", "block": "c", **kwargs})


def test_extractor_app_needs_labels():
    from attr_utils.apps import extractor_app
    from attr_utils.errors import DatasetError

    emb = Embeddings.from_arrays({"c": np.zeros((3, 2))}, {}, paths=["a.png", "b.png", "c.png"])
    with pytest.raises(DatasetError, match="labelled catalog"):
        extractor_app(emb)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_components": 4}, "n_components"),
        ({"n_components": True}, "n_components"),
        ({"block": "block9"}, "block"),
        ({"color_by": "fabric"}, "color_by"),
        ({"thumb": 0}, "thumb"),
    ],
)
def test_umap_explorer_invalid_parameter(catalog_emb, kwargs, name):
    from attr_utils.apps import umap_explorer
    from attr_utils.errors import ParameterError

    with pytest.raises(ParameterError, match=f"`{name}`"):
        umap_explorer(catalog_emb, **kwargs)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: read_upload((), max_bytes=0), "max_bytes"),
        (lambda: read_upload((), max_bytes=True), "max_bytes"),
        (lambda: read_upload((), max_bytes="10"), "max_bytes"),
    ],
)
def test_read_upload_invalid_limit(call, name):
    from attr_utils.errors import ParameterError

    with pytest.raises(ParameterError, match=f"`{name}`"):
        call()


@pytest.mark.parametrize(
    ("func", "kwargs", "name"),
    [
        ("thumbnail_png", {"size": 8}, "size"),
        ("thumbnail_png", {"size": 64.0}, "size"),
        ("image_grid", {"columns": 0}, "columns"),
        ("image_grid", {"columns": True}, "columns"),
        ("image_grid", {"size": 8}, "size"),
        ("class_examples", {"per_class": 0}, "per_class"),
        ("class_examples", {"per_class": 1.0}, "per_class"),
        ("image_grid", {"captions": ["a", "b"]}, "captions"),
    ],
)
def test_gallery_invalid_parameter(catalog_emb, func, kwargs, name):
    from attr_utils.apps import gallery
    from attr_utils.errors import ParameterError

    first = {"thumbnail_png": (_png(),), "image_grid": ([_png()],), "class_examples": (catalog_emb.table, "color")}
    with pytest.raises(ParameterError, match=f"`{name}`"):
        getattr(gallery, func)(*first[func], **kwargs)


@pytest.mark.parametrize(("kwargs", "name"), [({"port": np.int64(0)}, "port"), ({"port": "8866"}, "port"),
                                               ({"host": ""}, "host"), ({"host": "a b"}, "host")])
def test_voila_command_invalid_parameter(tmp_path, kwargs, name):
    from attr_utils.dashboard import voila_command
    from attr_utils.errors import ParameterError

    with pytest.raises(ParameterError, match=f"`{name}`"):
        voila_command(tmp_path, **kwargs)


def test_voila_command_accepts_a_numpy_port(tmp_path):
    from attr_utils.dashboard import voila_command

    assert "--port=9001" in voila_command(tmp_path, port=np.int64(9001))


def test_umap_explorer_passes_cache_dir_to_the_umap_cache(catalog_emb, monkeypatch, tmp_path):
    import attr_utils.analysis
    from attr_utils.apps import umap_explorer

    seen = []

    def fake_umap(emb, *, block, n_components, **kwargs):
        seen.append(kwargs)
        return np.zeros((len(emb), n_components))

    monkeypatch.setattr(attr_utils.analysis, "umap_embedding", fake_umap)
    umap_explorer(catalog_emb, cache_dir=tmp_path, seed=3)
    assert seen and seen[0] == {"n_neighbors": 15, "min_dist": 0.1, "seed": 3, "cache_dir": tmp_path}


def test_upload_button_takes_one_file_when_not_multiple():
    # the kernel does not trust the browser: a single-file button keeps the first file of a pick
    from attr_utils.apps import UploadButton

    button = UploadButton()
    for i in range(3):
        button._handle_custom_msg({"event": "file", "pick": "p", "name": f"f{i}.png", "size": 3}, [memoryview(b"abc")])
    button._handle_custom_msg({"event": "done", "pick": "p", "sent": 3, "refused": []}, [])
    assert [f["name"] for f in button.value] == ["f0.png"]


def test_upload_button_says_when_files_of_a_pick_did_not_arrive():
    from attr_utils.apps import UploadButton

    button = UploadButton(multiple=True)
    button._handle_custom_msg({"event": "file", "pick": "p", "name": "a.png", "size": 3}, [memoryview(b"abc")])
    button._handle_custom_msg({"event": "done", "pick": "p", "sent": 3, "refused": []}, [])
    assert [f["name"] for f in button.value] == ["a.png"]
    assert button.refused == "2 file(s) of this pick did not arrive" and button.refusals == 1


def test_extractor_app_catalog_item_does_not_vote_for_itself(catalog_emb):
    """Predicting a catalog item that is an example: its own example is left out of the vote (as search leaves the query out)."""
    from attr_utils.apps import extractor_app

    app = extractor_app(catalog_emb, label="color", block="c")
    example_paths = set(app.extractor.examples_["path"].astype(str))
    row = next(i for i, p in enumerate(catalog_emb.paths) if str(p) in example_paths)
    app.query_picker.value = row
    app.predict()
    assert app.prediction["distance"].iloc[0] > 0  # not itself at distance 0
    assert app.extractor.votes(catalog_emb.subset([row]))["distance"].iloc[0] == 0  # it is an example
