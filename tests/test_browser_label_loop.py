"""The select-and-label loop of the UMAP explorer, driven in Chromium: lasso, gallery, name, add, save, predict.

The lasso is drawn with the real mouse on the Plotly map (dragmode ``lasso``); the saved extractor is then
used by ``attr-utils predict`` in a subprocess, as a user would.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.browser_support import REPO, assert_no_errors, open_page, shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

POINTS = ".attr-utils-umap-explorer .scatterlayer .point"
PANEL = ".attr-utils-label-panel"
COUNT = ".attr-utils-label-count"
STATUS = ".attr-utils-label-status"

#: centres of the map's points on the screen (every trace)
CENTRES_JS = """
() => Array.from(document.querySelectorAll(arguments_selector)).map(e => {
  const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2];
})
""".replace("arguments_selector", repr(POINTS))


def lasso_region(centres: np.ndarray, area: dict) -> tuple[list[tuple[float, float]], int]:
    """A lasso around the points left of a clear vertical gap (about the left 40%), and how many it holds."""
    xs = np.sort(centres[:, 0])
    lo, hi = int(len(xs) * 0.2), int(len(xs) * 0.6)
    gaps = np.diff(xs[lo:hi])
    i = lo + int(np.argmax(gaps))
    cut = (xs[i] + xs[i + 1]) / 2
    left, top = area["x"] + 3, area["y"] + 3
    bottom = area["y"] + area["height"] - 3
    polygon = [(left, top), (cut, top), (cut, (top + bottom) / 2), (cut, bottom), (left, bottom), (left, top + 1)]
    return polygon, int((centres[:, 0] < cut).sum())


def wait_text(page, selector: str, pattern: str, timeout: float = 120_000) -> str:
    page.wait_for_function(
        "([sel, pat]) => { const e = document.querySelector(sel); return e && new RegExp(pat).test(e.innerText); }",
        arg=[selector, pattern],
        timeout=timeout,
    )
    return page.inner_text(selector)


def test_lasso_label_save_and_predict_from_the_cli(browser, dashboard, tmp_path):
    page = open_page(browser, f"{dashboard}/voila/render/03_umap_explorer.ipynb", POINTS)
    try:
        page.wait_for_timeout(1500)
        assert_no_errors(page)
        app = page.locator(".attr-utils-umap-explorer")
        plot = page.locator(".attr-utils-umap-explorer .js-plotly-plot").first
        plot.scroll_into_view_if_needed()
        area = page.locator(".attr-utils-umap-explorer .nsewdrag").first.bounding_box()
        centres = np.array(page.evaluate(CENTRES_JS), dtype=float)
        assert len(centres) == 100  # SMOKE=10: 10 colours x 10
        polygon, expected = lasso_region(centres, area)
        assert 0 < expected < len(centres)

        # a real lasso with the mouse (the map's default drag mode is the lasso)
        page.mouse.move(*polygon[0])
        page.mouse.down()
        for x, y in polygon[1:]:
            page.mouse.move(x, y, steps=12)
        page.mouse.up()
        text = wait_text(page, COUNT, r"\d+ selected")
        n = int(re.search(r"(\d+) selected", text).group(1))
        assert n == expected, text
        assert "lasso" in text
        items = page.locator(f"{PANEL} .attr-utils-label-item")
        assert items.count() == n
        assert items.locator("img").count() == n  # pictures, not errors
        assert "color:" in items.first.inner_text()  # each with its labels

        # leave one out
        items.nth(n - 1).locator("input[type=checkbox]").uncheck()
        wait_text(page, COUNT, rf"{n - 1} selected \(1 of {n} excluded\)")

        # name it as a new value and add it to the page's extractor
        page.locator(f"{PANEL} input[placeholder='new or existing value']").fill("teal")
        page.locator(f"{PANEL} button", has_text="Add to extractor").click()
        wait_text(page, STATUS, rf"Added {n - 1} example\(s\) of 'teal' \(new value\)")
        assert_no_errors(page)

        # a path as folder name is refused in one line; a plain name saves under the fixed folder
        folder_input = page.locator(f"{PANEL} input[placeholder='e.g. my-colours']")
        folder_input.fill("../escape")
        page.locator(f"{PANEL} button", has_text="Save extractor").click()
        wait_text(page, STATUS, r"not saved: the folder name must be a plain name, not a path")
        folder_input.fill("lasso-teal")
        page.locator(f"{PANEL} button", has_text="Save extractor").click()
        page.locator(".attr-utils-saved-folder").wait_for(timeout=60_000)
        folder = Path(page.inner_text(".attr-utils-saved-folder"))
        assert folder.name == "lasso-teal" and folder.parent.name == "extractors"
        assert_no_errors(page)
        page.set_viewport_size({"width": 1400, "height": 2000})  # the map, the gallery and the form in one picture
        page.locator(".attr-utils-label-gallery").evaluate("e => { e.scrollTop = 0; }")
        page.wait_for_timeout(500)
        shot(app, "label_loop.png")
    finally:
        page.close()

    # one selected image, predicted with the saved extractor by the CLI
    import pyarrow.parquet as pq

    ex = pq.read_table(folder / "examples.parquet").to_pandas()
    teal = ex[ex["value"] == "teal"]
    assert len(teal) == n - 1
    vectors = np.stack(ex["vector"].to_numpy())
    others = vectors[(ex["value"] != "teal").to_numpy()]
    # an image with no byte-identical twin labelled otherwise (a tie at distance 0 would be a coin toss)
    image = next(
        p for p, v in zip(teal["path"], np.stack(teal["vector"].to_numpy())) if np.abs(others - v).sum(axis=1).min() > 1e-6
    )
    out = subprocess.run(
        [sys.executable, "-m", "attr_utils", "predict", image, "--extractor", str(folder), "--json",
         "--cache-dir", str(folder.parent.parent)],
        capture_output=True, text=True, cwd=REPO, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    assert result[0]["path"] == image
    assert result[0]["value"] == "teal" and result[0]["unknown"] is False, result

    # and `attr-utils tag` takes the same folder for the whole catalog
    tags = tmp_path / "tags.parquet"
    out = subprocess.run(
        [sys.executable, "-m", "attr_utils", "tag", str(Path(image).parent.parent), "--extractor", f"color={folder}",
         "--out", str(tags), "--json", "--cache-dir", str(folder.parent.parent)],
        capture_output=True, text=True, cwd=REPO, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    import pandas as pd

    tagged = pd.read_parquet(tags).set_index("path")
    assert tagged.loc[image, "color"] == "teal"
