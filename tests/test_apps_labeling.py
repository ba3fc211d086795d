"""The select-and-label loop's state (attr_utils.apps.labeling), without a browser."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import numpy as np
import pytest

from attr_utils.apps.labeling import LabelSession, check_folder_name, default_output_dir
from attr_utils.embeddings import Embeddings
from attr_utils.errors import DatasetError, ParameterError
from attr_utils.retrieval.extractor import AttributeExtractor

DIM = 16
PER = 8
CENTRES = {"red": 0, "green": 1, "blue": 2, "cluster": 3}  # "cluster": a 4th group the catalog calls red/green


def make_catalog(seed=0) -> Embeddings:
    """4 well-separated clusters of 8; the 4th is labelled half red, half green (a value the catalog lacks)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(CENTRES), DIM)) * 5
    vectors = np.vstack([centres[i] + 0.3 * rng.normal(size=(PER, DIM)) for i in range(len(CENTRES))])
    color = ["red"] * PER + ["green"] * PER + ["blue"] * PER + ["red", "green"] * (PER // 2)
    shape = ["round", "square"] * (len(color) // 2)
    emb = Embeddings.from_arrays({"b1": rng.normal(size=(len(color), 4)), "b2": vectors},
                                 {"color": color, "shape": shape},
                                 paths=[f"img/{i:03d}.png" for i in range(len(color))])
    table = emb.table.copy()
    table["hash"] = [f"h{i}" for i in range(len(table))]  # distinct content: every item its own group
    return replace(emb, table=table)


CLUSTER = np.arange(3 * PER, 4 * PER)


@pytest.fixture()
def session(tmp_path):
    return LabelSession(make_catalog(), attribute="color", output_dir=tmp_path / "extractors")


# -- gallery --------------------------------------------------------------------------------------------------------
def test_selection_fills_gallery_in_order_without_duplicates(session):
    g = session.select([5, 2, 5, 9])
    assert g["row"].tolist() == [5, 2, 9]
    assert g["name"].tolist() == ["005.png", "002.png", "009.png"]
    assert g["color"].tolist() == ["red", "red", "green"]
    assert g["shape"].tolist() == ["square", "round", "square"]
    assert g["current"].tolist() == ["red", "red", "green"]
    assert session.count == 3 and session.source == "selection"


def test_exclude_and_include_change_the_count(session):
    session.select([1, 2, 3])
    session.exclude(2)
    assert session.count == 2 and session.kept.tolist() == [1, 3]
    assert session.gallery()["excluded"].tolist() == [False, True, False]
    session.include([2])
    assert session.count == 3


def test_new_selection_clears_exclusions(session):
    session.select([1, 2])
    session.exclude([1])
    session.select([1, 2])
    assert session.count == 2


def test_exclude_row_not_in_gallery_raises(session):
    session.select([1, 2])
    with pytest.raises(ParameterError):
        session.exclude(7)


def test_selection_out_of_range_raises(session):
    with pytest.raises(ParameterError):
        session.select([0, 99])


def test_selection_too_large_raises(tmp_path):
    s = LabelSession(make_catalog(), max_items=4, output_dir=tmp_path)
    with pytest.raises(ParameterError, match="at most 4"):
        s.select(range(5))


def test_invalid_session_parameters_raise(tmp_path):
    emb = make_catalog()
    with pytest.raises(ParameterError):
        LabelSession(emb, attribute="size", output_dir=tmp_path)
    with pytest.raises(ParameterError):
        LabelSession(emb, k=0, output_dir=tmp_path)
    with pytest.raises(ParameterError):
        LabelSession(emb, block="b9", output_dir=tmp_path)
    with pytest.raises(ParameterError):
        LabelSession(emb, max_items=0, output_dir=tmp_path)


def test_unlabelled_catalog_raises(tmp_path):
    emb = Embeddings.from_arrays({"b": np.zeros((3, 2))})
    with pytest.raises(DatasetError):
        LabelSession(emb, output_dir=tmp_path)


# -- naming and the extractor ---------------------------------------------------------------------------------------
def test_name_selection_as_new_value_predicts_it(session):
    emb = session.emb
    before = session.extractor.predict(emb.subset([int(CLUSTER[0])]))["value"].iloc[0]
    assert before in {"red", "green"}
    assert session.is_new_value("teal")
    session.select(CLUSTER)
    session.exclude(int(CLUSTER[-1]))
    update = session.add("teal")
    assert update.new_value and update.value == "teal" and update.added == PER - 1
    assert update.moved == PER - 1  # they were examples of red/green
    assert update.values == 4 and update.examples == len(emb)
    assert "teal" in session.values() and not session.is_new_value("teal")
    pred = session.extractor.predict(emb.subset(CLUSTER))
    assert (pred["value"].iloc[:-1] == "teal").all()
    # the excluded item keeps its label (it is an example of it, at distance 0)
    assert pred["value"].iloc[-1] == session.current_labels()[CLUSTER[-1]] == "green"
    assert session.extractor.examples_["value"].tolist().count("teal") == PER - 1


def test_name_selection_as_existing_value(session):
    session.select(CLUSTER)
    update = session.add("blue")
    assert not update.new_value and update.values == 3
    pred = session.extractor.predict(session.emb.subset([int(CLUSTER[0])]))
    assert pred["value"].iloc[0] == "blue"


def test_unlabelled_items_are_added_without_rebuilding(tmp_path):
    emb = make_catalog()
    table = emb.table.copy()
    table.loc[CLUSTER, "color"] = None
    s = LabelSession(replace(emb, table=table), output_dir=tmp_path)
    ex = s.extractor
    assert len(ex.examples_) == 3 * PER
    s.select(CLUSTER)
    update = s.add("teal")
    assert s.extractor is ex  # add_examples on the same extractor: no rebuild
    assert not update.rebuilt and update.moved == 0 and update.added == PER
    assert s.extractor.predict(s.emb.subset([int(CLUSTER[2])]))["value"].iloc[0] == "teal"


def test_naming_same_value_again_counts_unchanged(session):
    session.select(CLUSTER[:3])
    session.add("teal")
    session.select(CLUSTER[:3])
    update = session.add("teal")
    assert update.added == 0 and update.unchanged == 3 and not update.new_value


def test_add_empty_selection_raises(session):
    with pytest.raises(ParameterError):
        session.add("teal")


@pytest.mark.parametrize("value", ["", "   ", "two\nlines", 3, "unknown", "Unknown ", "tab\there", "bell\x07"])
def test_invalid_value_raises(session, value):
    session.select([0])
    with pytest.raises(ParameterError):
        session.add(value)


def test_changing_attribute_starts_a_new_extractor(session):
    session.select(CLUSTER)
    session.add("teal")
    session.set_attribute("shape")
    assert session.extractor.label_ == "shape" and "teal" not in session.values()


def test_switching_attribute_back_keeps_the_names_given(session):
    session.select(CLUSTER)
    session.add("teal")
    session.set_attribute("shape")
    session.select([0, 1])
    session.add("oval")
    assert session.named == {"color": PER, "shape": 2}
    session.set_attribute("color")
    assert "teal" in session.values() and "teal" in session.extractor.classes_ and "oval" not in session.values()
    session.set_attribute("shape")
    assert "oval" in session.extractor.classes_


def test_boolean_mask_selects_its_true_rows(session):
    mask = np.zeros(len(session.emb), dtype=bool)
    mask[[2, 7]] = True
    assert session.select(mask)["row"].tolist() == [2, 7]
    with pytest.raises(ParameterError, match="one value per catalog item"):
        session.select(np.array([True, False, True]))


@pytest.mark.parametrize("rows", [[1.7, 2.2], ["a"], [0.5]])
def test_non_integer_rows_raise(session, rows):
    with pytest.raises(ParameterError, match="integers"):
        session.select(rows)


def test_integral_float_rows_are_rows(session):
    assert session.select([3.0, 1.0])["row"].tolist() == [3, 1]


def test_include_row_not_in_gallery_raises_like_exclude(session):
    session.select([1, 2])
    with pytest.raises(ParameterError, match="not in the gallery"):
        session.include([30])
    with pytest.raises(ParameterError, match="not in the gallery"):
        session.exclude([30])


def test_refused_oversize_selection_empties_the_gallery(tmp_path):
    s = LabelSession(make_catalog(), attribute="color", max_items=3, output_dir=tmp_path)
    s.select([0, 1])
    with pytest.raises(ParameterError, match="emptied"):
        s.select([0, 1, 2, 3])
    assert s.count == 0 and len(s.gallery()) == 0
    with pytest.raises(ParameterError, match="empty"):
        s.add("red")  # nothing the map no longer highlights can be added


def test_is_saved_tells_a_replacement(session):
    session.select([0])
    session.add("red")
    assert not session.is_saved("ex")
    first = session.save("ex")
    assert session.is_saved("ex") and session.save("ex") == first


# -- suspects -------------------------------------------------------------------------------------------------------
def test_suspects_fill_the_gallery_with_disagreeing_labels(tmp_path):
    emb = make_catalog()
    table = emb.table.copy()
    table.loc[[0, 1], "color"] = "blue"  # two red-cluster items mislabelled blue
    s = LabelSession(replace(emb, table=table), output_dir=tmp_path)
    suspects = s.select_suspects()
    assert {0, 1} <= set(suspects["row"].tolist())
    g = s.gallery()
    assert s.source == "suspects" and g["row"].tolist() == suspects["row"].tolist()
    assert g.set_index("row").loc[0, "suggested"] == "red" and g.set_index("row").loc[0, "current"] == "blue"
    s.exclude([r for r in g["row"] if r not in (0, 1)])
    s.add("red")  # fix them
    assert s.current_labels()[[0, 1]].tolist() == ["red", "red"]
    assert not {0, 1} & set(s.select_suspects()["row"].tolist())


def test_suspects_note_values_too_small_to_check(session):
    session.select(CLUSTER[:3])
    session.add("teal")
    suspects = session.select_suspects()
    assert any("'teal' (3)" in n for n in suspects.attrs["notes"])
    assert suspects.attrs["block"] == session.extractor.block_ and suspects.attrs["k"] == 5


# -- saving ---------------------------------------------------------------------------------------------------------
def test_save_goes_under_the_output_folder_and_loads(session, tmp_path):
    session.select(CLUSTER)
    session.add("teal")
    folder = session.save("my-colours_v1.2")
    assert folder == (tmp_path / "extractors" / "my-colours_v1.2").resolve()
    meta = json.loads((folder / "extractor.json").read_text())
    assert meta["label"] == "color" and "teal" in meta["classes"]
    loaded = AttributeExtractor.load(folder)
    pred = loaded.predict(session.emb.subset(CLUSTER[:2]))
    assert pred["value"].tolist() == ["teal", "teal"]
    session.save("my-colours_v1.2")  # saving again replaces it


def test_default_output_dir_is_under_the_cache_root(monkeypatch, tmp_path):
    monkeypatch.setenv("ATTR_UTILS_CACHE", str(tmp_path / "c"))
    assert default_output_dir() == tmp_path / "c" / "extractors"
    assert LabelSession(make_catalog()).output_dir == tmp_path / "c" / "extractors"


def test_save_refuses_a_folder_holding_something_else(session):
    other = session.output_dir / "taken"
    other.mkdir(parents=True)
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ParameterError, match="not a saved extractor"):
        session.save("taken")


def test_save_refuses_a_symlink_out_of_the_output_folder(session, tmp_path):
    session.output_dir.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, session.output_dir / "link")
    with pytest.raises(ParameterError, match="outside"):
        session.save("link")
    assert not any(outside.iterdir())


@pytest.mark.parametrize(
    "name",
    ["a/b", "/etc", "..", "../up", "a..b", "a\\b", "", "   ", ".hidden", "-dash", "has space", "semi;colon",
     "x" * 65, 3, None],
)
def test_invalid_folder_name_raises(name):
    with pytest.raises(ParameterError):
        check_folder_name(name)


@pytest.mark.parametrize("name", ["../escape", "/tmp/abs", "sub/dir", ".."])
def test_save_with_invalid_name_writes_nothing(session, name):
    with pytest.raises(ParameterError):
        session.save(name)
    assert not session.output_dir.exists() or not any(session.output_dir.iterdir())


def test_valid_folder_name_is_stripped():
    assert check_folder_name("  teal-2 ") == "teal-2"


# -- the explorer's panel (widgets, no browser) ---------------------------------------------------------------------
class _Points:
    """What Plotly passes to a trace's selection callback."""

    def __init__(self, trace_index, point_inds):
        self.trace_index, self.point_inds = trace_index, point_inds


class _Selector:
    def __init__(self, kind):
        self.type = kind


@pytest.fixture()
def explorer(monkeypatch, tmp_path):
    from attr_utils.apps.umap_explorer import UmapExplorer

    def fake_coords(self):
        return np.random.default_rng(0).normal(size=(len(self.emb), self.n_components.value))

    monkeypatch.setattr(UmapExplorer, "coordinates", fake_coords)
    return UmapExplorer(make_catalog(), output_dir=tmp_path / "extractors")


def _select(ex, rows, kind="box"):
    """Deliver a selection of catalog ``rows`` as Plotly does: one callback per trace, every trace."""
    for t, trace in enumerate(ex.figure.data):
        inds = [i for i, c in enumerate(trace.customdata) if int(c[0]) in set(rows)]
        ex._on_selection(trace, _Points(t, inds), _Selector(kind))


def test_explorer_map_is_in_lasso_mode_and_3d_disables_selection(explorer):
    assert explorer.figure.layout.dragmode == "lasso"
    explorer.drag_mode.value = "select"
    assert explorer.figure.layout.dragmode == "select"
    explorer.n_components.value = 3
    assert explorer.drag_mode.disabled
    explorer.n_components.value = 2
    assert not explorer.drag_mode.disabled and explorer.figure.layout.dragmode == "select"


def test_explorer_box_selection_fills_gallery_then_name_add_save(explorer):
    rows = CLUSTER.tolist()
    _select(explorer, rows, "box")
    assert sorted(explorer.labels.items.tolist()) == rows  # gathered across the traces
    assert len(explorer.gallery.children) == PER
    assert f"{PER} selected" in explorer.gallery_count.value and "box on" in explorer.gallery_count.value
    first = explorer.gallery.children[0]
    assert "color: " in first.children[1].value and "shape: " in first.children[1].value  # its labels
    first.children[2].value = False  # untick
    assert f"{PER - 1} selected" in explorer.gallery_count.value and "1 of 8 excluded" in explorer.gallery_count.value
    explorer.value_name.value = "teal"
    explorer.add_button.click()
    assert f"Added {PER - 1} example(s) of &#x27;teal&#x27; (new value)" in explorer.label_status.value
    assert "teal" in explorer.value_name.options
    explorer.save_name.value = "../up"
    explorer.save_button.click()
    assert "attr-utils-warning" in explorer.label_status.value and "not a path" in explorer.label_status.value
    explorer.save_name.value = "teal-1"
    explorer.save_button.click()
    folder = explorer.labels.output_dir.resolve() / "teal-1"
    assert str(folder) in explorer.label_status.value and "replaced" not in explorer.label_status.value
    explorer.save_button.click()
    assert "replaced the extractor saved at that folder" in explorer.label_status.value
    kept = [r for r in rows if r != int(explorer.labels.gallery()["row"].iloc[0])]
    pred = AttributeExtractor.load(folder).predict(explorer.emb.subset(kept))
    assert (pred["value"] == "teal").all()


def test_explorer_suspects_button_fills_gallery(explorer):
    explorer.suspects_button.click()
    n = len(explorer.labels.items)
    assert n and len(explorer.gallery.children) == n  # the catalog's half-red, half-green 4th cluster
    assert "suspect color label(s)" in explorer.label_status.value
    assert "suggested:" in explorer.gallery.children[0].children[1].value


def test_blank_catalog_labels_are_missing_not_a_value(tmp_path):
    emb = make_catalog()
    table = emb.table.copy()
    table["color"] = table["color"].astype(object)
    table.loc[:1, "color"] = ["", "   "]
    s = LabelSession(replace(emb, table=table), attribute="color", output_dir=tmp_path)
    assert s.values() == ["blue", "green", "red"]
    assert s.current_labels()[:2].tolist() == [None, None]
    assert "" not in s.extractor.classes_


def test_explorer_attribute_switch_says_names_are_kept(explorer):
    _select(explorer, CLUSTER.tolist())
    explorer.value_name.value = "teal"
    explorer.add_button.click()
    explorer.attribute.value = "shape"
    assert "are kept" in explorer.label_status.value and "&#x27;color&#x27;" in explorer.label_status.value
    explorer.attribute.value = "color"
    assert "given before are back" in explorer.label_status.value and "teal" in explorer.value_name.options


def test_explorer_oversize_selection_clears_the_gallery(explorer):
    _select(explorer, [0, 1])
    assert len(explorer.gallery.children) == 2
    explorer.labels.max_items = 3
    _select(explorer, list(range(10)))
    assert len(explorer.gallery.children) == 0 and "emptied" in explorer.label_status.value


def test_first_value_of_an_attribute_with_only_blank_cells(tmp_path):
    emb = make_catalog()
    table = emb.table.copy()
    table["style"] = [""] * len(table)  # a blank column: read as missing, so no value exists yet
    s = LabelSession(replace(emb, table=table, label_columns=(*emb.label_columns, "style")), attribute="style",
                     output_dir=tmp_path)
    assert s.values() == []
    s.select(CLUSTER)
    update = s.add("boho")
    assert update.new_value and update.added == PER and s.extractor.classes_ == ["boho"]
    s.select([0, 1])
    assert s.add("plain").values == 2 and s.values() == ["boho", "plain"]


# -- the selection's shape (layout.selections), the channel hover events cannot overwrite ---------------------------
def _points_of(ex, rows):
    xy = {}
    for trace in ex.figure.data:
        for x, y, c in zip(trace.x, trace.y, trace.customdata):
            xy[int(c[0])] = (float(x), float(y))
    return np.array([xy[r] for r in rows])


def test_points_in_polygon_even_odd_rule():
    from attr_utils.apps.umap_explorer import points_in_polygon

    square = np.array([[0, 0], [2, 0], [2, 2], [0, 2]], dtype=float)
    x = np.array([1.0, 3.0, -0.5, 1.9, 1.0])
    y = np.array([1.0, 1.0, 1.0, 0.1, 2.5])
    assert points_in_polygon(x, y, square).tolist() == [True, False, False, True, False]
    # a concave "C": the notch is outside
    c_shape = np.array([[0, 0], [3, 0], [3, 1], [1, 1], [1, 2], [3, 2], [3, 3], [0, 3]], dtype=float)
    assert points_in_polygon(np.array([2.0, 0.5, 2.0]), np.array([1.5, 1.5, 0.5]), c_shape).tolist() == [False, True, True]


def test_a_lasso_shape_from_layout_selections_fills_the_gallery(explorer):
    """The lasso's path alone (no points event, as when a hover replaced it in the browser) fills the gallery."""
    from plotly.graph_objs.layout import Selection

    rows = CLUSTER.tolist()
    pts = _points_of(explorer, rows)
    lo, hi = pts.min(axis=0) - 1e-6, pts.max(axis=0) + 1e-6
    path = f"M{lo[0]},{lo[1]}L{hi[0]},{lo[1]}L{hi[0]},{hi[1]}L{lo[0]},{hi[1]}Z"
    from attr_utils.apps.umap_explorer import rows_in_selection

    expected = sorted(rows_in_selection(explorer.figure.data, Selection(type="path", path=path)))
    assert set(rows) <= set(expected)  # every point of the cluster is inside its bounding lasso
    explorer._on_selections(explorer.figure.layout, (Selection(type="path", path=path),))
    assert sorted(explorer.labels.items.tolist()) == expected
    assert "lasso on" in explorer.gallery_count.value
    # the same gesture's points event arriving second changes nothing (one gesture, two channels)
    explorer.labels.exclude(expected[0])
    _select(explorer, expected, "lasso")
    assert expected[0] in explorer.labels.excluded


def test_a_box_shape_from_layout_selections_fills_the_gallery(explorer):
    from plotly.graph_objs.layout import Selection

    from attr_utils.apps.umap_explorer import rows_in_selection

    pts = _points_of(explorer, CLUSTER.tolist())
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    box = Selection(type="rect", x0=x1, x1=x0, y0=y0, y1=y1)  # corners in either order
    rows = rows_in_selection(explorer.figure.data, box)
    assert set(CLUSTER.tolist()) <= set(rows)
    explorer._on_selections(explorer.figure.layout, (box,))
    assert sorted(explorer.labels.items.tolist()) == sorted(rows) and "box on" in explorer.gallery_count.value


def test_an_unreadable_selection_shape_is_ignored(explorer):
    from plotly.graph_objs.layout import Selection

    from attr_utils.apps.umap_explorer import rows_in_selection

    assert rows_in_selection(explorer.figure.data, Selection(type="path", path="M1,1Z")) is None
    assert rows_in_selection(explorer.figure.data, {"type": "path", "path": "M0,0L5,0L5,5L0Z"}) is None  # odd count
    explorer._on_selections(explorer.figure.layout, (Selection(type="path", path="M1,1Z"),))
    assert len(explorer.labels.items) == 0


def test_a_refused_selection_is_said_where_the_gallery_is(explorer):
    explorer.labels.max_items = 3
    _select(explorer, CLUSTER.tolist(), "lasso")
    assert "the gallery was emptied" in explorer.gallery_count.value and len(explorer.gallery.children) == 0


def test_a_lasso_in_the_browsers_relayout_message_fills_the_gallery(explorer):
    """The message Chromium sends when a lasso ends (relayout_data.selections, a dict per shape; recorded)."""
    pts = _points_of(explorer, CLUSTER.tolist())
    lo, hi = pts.min(axis=0) - 1e-6, pts.max(axis=0) + 1e-6
    path = f"M{lo[0]},{lo[1]}L{hi[0]},{lo[1]}L{hi[0]},{hi[1]}L{lo[0]},{hi[1]}Z"
    message = {"relayout_data": {"selections": [{"xref": "x", "yref": "y", "type": "path", "path": path,
                                                 "line": {"width": 1, "dash": "dot"}}]}, "source_view_id": "v1"}
    explorer._on_relayout({"new": message})
    assert set(CLUSTER.tolist()) <= set(explorer.labels.items.tolist())
    assert "lasso on" in explorer.gallery_count.value
    explorer._on_relayout({"new": {"relayout_data": {"xaxis.range[0]": 1.0}}})  # a zoom is not a selection
    assert set(CLUSTER.tolist()) <= set(explorer.labels.items.tolist())
