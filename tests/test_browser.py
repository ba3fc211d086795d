"""A real browser drives the Voilà dashboard: ``python -m attr_utils.dashboard`` + Chromium via Playwright.

Fixtures and helpers live in ``tests/browser_support.py`` (one dashboard server per test run).
"""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request

import pytest
from PIL import Image

from tests.browser_support import (
    REPO,
    assert_no_errors,
    chromium_path,
    is_external_noise,
    open_page,
    shot,
    wait_for_change,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_retrieval_app_reacts_to_mode_query_and_upload(browser, dashboard, tmp_path):
    page = open_page(browser, f"{dashboard}/voila/render/05_retrieval_app.ipynb", ".attr-utils-result-grid")
    try:
        app = page.locator(".attr-utils-retrieval-app")
        grid = ".attr-utils-result-grid"
        first = page.inner_text(grid)
        assert "#1 colour " in first and " · texture " in first  # "both": the two distances it was ranked by
        assert_no_errors(page)
        shot(app, "retrieval_app.png")

        app.locator(".widget-toggle-button", has_text="Colour").click()
        by_colour = wait_for_change(page, grid, first, "switching to colour mode")
        shot(app, "retrieval_app_colour.png", docs=False)

        app.locator("select").first.select_option(index=7)
        new_query = wait_for_change(page, grid, by_colour, "choosing another query")
        assert "#1 colour distance " in new_query  # colour mode: the colour distance
        shot(app, "retrieval_app_query.png", docs=False)
        assert_no_errors(page)

        # an uploaded photo becomes the query (decoded and embedded in the kernel)
        upload = tmp_path / "query.png"
        Image.new("RGB", (64, 48), (30, 60, 200)).save(upload)
        button = app.locator("button.attr-utils-upload-button", has_text="Upload an image")
        with page.expect_file_chooser() as chooser:
            button.click()
        chooser.value.set_files(str(upload))
        uploaded = wait_for_change(page, grid, new_query, "uploading an image", timeout=180)
        page.wait_for_function(
            "() => document.querySelector('.attr-utils-retrieval-app').innerText.includes('Uploaded: query.png')",
            timeout=60_000,
        )
        shot(app, "retrieval_app_upload.png", docs=False)
        assert_no_errors(page)

        # a file over the websocket's 32 MiB message limit is refused in the browser: the page says
        # so and keeps working (FileUpload would have sent it and lost the kernel connection)
        huge = tmp_path / "huge.png"
        huge.write_bytes(os.urandom(40 * 1024 * 1024))
        with page.expect_file_chooser() as chooser:
            button.click()
        chooser.value.set_files(str(huge))
        warning = app.locator(".attr-utils-warning", has_text="huge.png is 40.0 MB; the limit is 10 MB")
        warning.wait_for(timeout=30_000)
        shot(app, "retrieval_app_refused.png", docs=False)
        app.locator("select").first.select_option(index=3)
        wait_for_change(page, grid, uploaded, "choosing a query after a refused upload")
    finally:
        page.close()


@pytest.mark.parametrize(
    ("notebook", "ready", "image"),
    [
        ("index.ipynb", "text=Attribute extractor", "dashboard.png"),
        ("00_overview.ipynb", ".attr-utils-banner", "overview.png"),
        ("01_block_accuracy.ipynb", ".js-plotly-plot .main-svg", "block_accuracy.png"),
        ("01b_probe.ipynb", ".js-plotly-plot .main-svg", "probe.png"),
        ("02_clustering.ipynb", ".js-plotly-plot .main-svg", "clustering.png"),
        ("04_reduced_space.ipynb", ".js-plotly-plot .main-svg", "reduced_space.png"),
        ("05_retrieval_app.ipynb", ".attr-utils-result-grid", "retrieval_page.png"),
        ("03_umap_explorer.ipynb", ".attr-utils-umap-explorer .scatterlayer .point", "umap_explorer.png"),
        ("06_extractor_app.ipynb", ".attr-utils-prediction", "extractor_app.png"),
        ("07_reproduce.ipynb", "text=attr-utils reproduce --styles", "reproduce_page.png"),
        ("08_catalog_audit.ipynb", ".widget-gridbox img", "catalog_audit.png"),
    ],
)
def test_pages_render_without_errors(browser, dashboard, notebook, ready, image, tmp_path):
    page = open_page(browser, f"{dashboard}/voila/render/{notebook}", ready)
    try:
        page.wait_for_timeout(1500)
        assert_no_errors(page)
        assert_nav_bar(page, notebook)
        # cells that exist for the notebook tests (NBVAL_CHECK_OUTPUT) are in the page but not shown
        for cell in page.locator(".celltag_test-only").all():
            assert cell.is_hidden()
        if notebook == "03_umap_explorer.ipynb":
            app = page.locator(".attr-utils-umap-explorer")
            app.scroll_into_view_if_needed()
            page.locator(".attr-utils-umap-explorer .scatterlayer .point").nth(3).hover(force=True)
            page.wait_for_function(
                "() => document.querySelector('.attr-utils-umap-explorer').innerText.includes('.png')",
                timeout=60_000,
            )
            shot(app, image)
        elif notebook == "06_extractor_app.ipynb":
            app = page.locator(".attr-utils-extractor-app")
            # two example photos picked at once reach the kernel one message each
            examples = [tmp_path / f"example{i}.png" for i in range(2)]
            for i, path in enumerate(examples):
                Image.new("RGB", (40, 40), (200, 40 * i, 30)).save(path)
            with page.expect_file_chooser() as chooser:
                app.locator("button.attr-utils-upload-button", has_text="Upload examples").click()
            chooser.value.set_files([str(p) for p in examples])
            app.get_by_text("2 uploaded example(s) ready").wait_for(timeout=60_000)
            before = page.inner_text(".attr-utils-extractor-app")
            app.locator("button", has_text="Add value").click()
            page.wait_for_function(
                "(old) => document.querySelector('.attr-utils-extractor-app').innerText !== old",
                arg=before,
                timeout=60_000,
            )
            assert_no_errors(page)
            shot(app, image)
        elif notebook in ("index.ipynb", "07_reproduce.ipynb", "08_catalog_audit.ipynb"):
            shot(page.locator("body"), image)
        elif notebook in ("00_overview.ipynb", "05_retrieval_app.ipynb"):
            shot(page.locator("body"), image, docs=False)
        elif notebook == "02_clustering.ipynb":
            shot(page.locator(".js-plotly-plot").last, image)
        elif notebook == "04_reduced_space.ipynb":
            shot(page.locator(".js-plotly-plot").first, image)
        else:
            shot(page.locator(".js-plotly-plot").first, image)
        assert_no_errors(page)  # also after the figures finished drawing
    finally:
        page.close()


def assert_nav_bar(page, notebook):
    """One navigation bar, linking every page of the notebooks folder, ``notebook`` marked as the current page."""
    nav = page.locator("nav.attr-utils-nav")
    assert nav.count() == 1
    hrefs = nav.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert sorted(hrefs) == sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
    current = nav.locator('a[aria-current="page"]')
    assert current.count() == 1 and current.get_attribute("href") == notebook
    # the links open the other Voilà pages: /voila/render/<page>.ipynb
    target = nav.locator("a", has_text="Table 2").evaluate("a => a.href")
    assert target.endswith("/voila/render/04_reduced_space.ipynb")


def _leave_page_by_nav_bar(browser, dashboard):
    page = open_page(browser, f"{dashboard}/voila/render/07_reproduce.ipynb", "nav.attr-utils-nav")
    page.locator("nav.attr-utils-nav a", has_text="Home").click()
    # in place, not in a new tab (JupyterLab's HTML renderer gives links without a target `_blank`)
    page.wait_for_url(f"{dashboard}/voila/render/index.ipynb", wait_until="commit", timeout=60_000)
    page.wait_for_selector('nav.attr-utils-nav a[aria-current="page"][href="index.ipynb"]', timeout=300_000)
    return page


def test_nav_bar_opens_another_page(browser, dashboard):
    page = _leave_page_by_nav_bar(browser, dashboard)
    try:
        assert_no_errors(page)
    finally:
        page.close()


def test_leaving_a_page_shuts_its_kernel_down(browser, dashboard):
    """The shutdown Voilà sends for a page left is accepted (the dashboard sets the _xsrf cookie it needs)."""
    page = _leave_page_by_nav_bar(browser, dashboard)
    try:
        assert not [e for e in page.attr_utils_errors if "/voila/api/shutdown/" in e], page.attr_utils_errors
    finally:
        page.close()


def test_page_errors_fail_the_browser_tests(browser):
    """A page error (here an unhandled rejection like Plotly's setData one) makes assert_no_errors fail."""
    page = open_page(browser, "data:text/html,<p id=ok>x</p>", "#ok")
    try:
        page.evaluate("() => { Promise.reject(new TypeError('r.setData is not a function')); }")
        page.wait_for_timeout(300)
        with pytest.raises(AssertionError, match="setData is not a function"):
            assert_no_errors(page)
    finally:
        page.close()


def test_external_font_noise_is_the_only_allowed_console_error():
    assert is_external_noise(
        "Failed to load resource: net::ERR_NAME_NOT_RESOLVED",
        "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@%5E5/css/all.min.css",
    )
    assert not is_external_noise("Failed to load resource: net::ERR_NAME_NOT_RESOLVED", "http://127.0.0.1:8866/x.js")
    assert not is_external_noise("Error: widget model not found", "https://cdn.jsdelivr.net/npm/@fortawesome/x")


@pytest.mark.parametrize("path", ["/voila/files/conftest.py", "/voila/files/index.ipynb", "/voila/files/voila.json", "/voila/files/../voila.json"])
def test_server_serves_no_files(dashboard, path):
    """voila.json allows no static files: the notebooks folder (and above) cannot be read through the server."""
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(dashboard + path, timeout=30)
    assert err.value.code in (403, 404)


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_missing_browser_fails_in_ci_and_skips_elsewhere(monkeypatch, ci, outcome):
    monkeypatch.setenv("CI", ci)
    monkeypatch.delenv("ATTR_UTILS_CHROMIUM", raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(os.path, "isfile", lambda path: False)
    with pytest.raises(outcome, match="Chromium"):
        chromium_path()
