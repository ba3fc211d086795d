"""A real browser drives the Voilà dashboard: ``python -m attr_utils.dashboard`` + Chromium via Playwright.

Needs the ``playwright`` Python package and a Chromium binary (Debian's
``chromium`` package; Playwright's own browser download is not used). Outside
CI a missing browser skips these tests with the reason; in CI (``CI=true``) it
fails them.

Screenshots go to ``tests/_artifacts/`` (git-ignored). With
``ATTR_UTILS_DOCS_SCREENSHOTS=1`` the app screenshots are also written to
``docs/`` for the README (run with ``ATTR_UTILS_SMOKE=0`` for the full catalog).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "tests" / "_artifacts"
DOCS = REPO / "docs"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGE_TIMEOUT_MS = 300_000
ERROR_SELECTOR = '.jp-OutputArea-output[data-mime-type*="error"]'
ERROR_TEXTS = ("Traceback", "error when executing", "Error:")


def _missing(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser test cannot run in CI: {reason}")
    pytest.skip(reason)


def _chromium() -> str:
    candidates = [os.environ.get("ATTR_UTILS_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"]
    for path in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    _missing("no Chromium found (install Debian's `chromium` package, or set ATTR_UTILS_CHROMIUM)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the `playwright` Python package is not installed")
    path = _chromium()
    with sync_playwright() as pw:
        try:
            b = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        except Exception as exc:  # a broken browser install is "missing" too
            _missing(f"Chromium at {path} does not start: {exc}")
        yield b
        b.close()


@pytest.fixture(scope="module")
def dashboard(browser, tmp_path_factory):
    """``python -m attr_utils.dashboard`` on a free port, smoke-sized, with its own cache."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("dashboard") / "dashboard.log"
    env = dict(os.environ)
    env.setdefault("ATTR_UTILS_SMOKE", "10")
    env["ATTR_UTILS_CACHE"] = os.environ.get("ATTR_UTILS_BROWSER_CACHE") or str(
        tmp_path_factory.mktemp("browser-cache")
    )
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "attr_utils.dashboard", "--no-browser", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"the dashboard exited with {proc.returncode}:\n{log_path.read_text(errors='replace')[-3000:]}"
                )
            try:
                with urllib.request.urlopen(base + "/", timeout=5) as resp:
                    if resp.status < 500:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the dashboard did not answer in time:\n{log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(1)
        assert f"Dashboard: {base}/voila/render/index.ipynb" in log_path.read_text(errors="replace")
        yield base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the session we started: voila and its kernels
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _open(browser, url, wait_for):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(url, timeout=PAGE_TIMEOUT_MS)
    page.wait_for_selector(wait_for, timeout=PAGE_TIMEOUT_MS)
    return page


def _assert_no_errors(page):
    assert page.locator(ERROR_SELECTOR).count() == 0
    assert page.locator(".attr-utils-warning").count() == 0, page.locator(".attr-utils-warning").first.inner_text()
    text = page.inner_text("body")
    for bad in ERROR_TEXTS:
        assert bad not in text, f"{bad!r} on the page:\n{text[-2000:]}"


def _shot(locator, name: str, *, docs: bool = True) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    locator.scroll_into_view_if_needed()
    locator.screenshot(path=str(ARTIFACTS / name))
    if docs and os.environ.get("ATTR_UTILS_DOCS_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        shutil.copyfile(ARTIFACTS / name, DOCS / name)


def _wait_for_change(page, selector: str, old: str, what: str, timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = page.inner_text(selector)
        if new and new != old:
            return new
        page.wait_for_timeout(250)
    raise AssertionError(f"the result grid did not change after {what}")


def test_retrieval_app_reacts_to_mode_query_and_upload(browser, dashboard, tmp_path):
    page = _open(browser, f"{dashboard}/voila/render/05_retrieval_app.ipynb", ".attr-utils-result-grid")
    try:
        app = page.locator(".attr-utils-retrieval-app")
        grid = ".attr-utils-result-grid"
        first = page.inner_text(grid)
        assert "#1 score" in first
        _assert_no_errors(page)
        _shot(app, "retrieval_app.png")

        app.locator(".widget-toggle-button", has_text="Colour").click()
        by_colour = _wait_for_change(page, grid, first, "switching to colour mode")
        _shot(app, "retrieval_app_colour.png", docs=False)

        app.locator("select").first.select_option(index=7)
        new_query = _wait_for_change(page, grid, by_colour, "choosing another query")
        assert "#1 score" in new_query
        _shot(app, "retrieval_app_query.png", docs=False)
        _assert_no_errors(page)

        # an uploaded photo becomes the query (decoded and embedded in the kernel)
        upload = tmp_path / "query.png"
        Image.new("RGB", (64, 48), (30, 60, 200)).save(upload)
        button = app.locator("button.attr-utils-upload-button", has_text="Upload an image")
        with page.expect_file_chooser() as chooser:
            button.click()
        chooser.value.set_files(str(upload))
        uploaded = _wait_for_change(page, grid, new_query, "uploading an image", timeout=180)
        page.wait_for_function(
            "() => document.querySelector('.attr-utils-retrieval-app').innerText.includes('Uploaded: query.png')",
            timeout=60_000,
        )
        _shot(app, "retrieval_app_upload.png", docs=False)
        _assert_no_errors(page)

        # a file over the websocket's 32 MiB message limit is refused in the browser: the page says
        # so and keeps working (FileUpload would have sent it and lost the kernel connection)
        huge = tmp_path / "huge.png"
        huge.write_bytes(os.urandom(40 * 1024 * 1024))
        with page.expect_file_chooser() as chooser:
            button.click()
        chooser.value.set_files(str(huge))
        warning = app.locator(".attr-utils-warning", has_text="huge.png is 40.0 MB; the limit is 10 MB")
        warning.wait_for(timeout=30_000)
        _shot(app, "retrieval_app_refused.png", docs=False)
        app.locator("select").first.select_option(index=3)
        _wait_for_change(page, grid, uploaded, "choosing a query after a refused upload")
    finally:
        page.close()


@pytest.mark.parametrize(
    ("notebook", "ready", "shot"),
    [
        ("index.ipynb", "text=Attribute extractor", "dashboard.png"),
        ("01_block_accuracy.ipynb", ".js-plotly-plot .main-svg", "block_accuracy.png"),
        ("01b_probe.ipynb", ".js-plotly-plot .main-svg", "probe.png"),
        ("03_umap_explorer.ipynb", ".attr-utils-umap-explorer .scatterlayer .point", "umap_explorer.png"),
        ("06_extractor_app.ipynb", ".attr-utils-prediction", "extractor_app.png"),
        ("07_reproduce.ipynb", "text=attr-utils reproduce --styles", "reproduce_page.png"),
        ("08_catalog_audit.ipynb", ".widget-gridbox img", "catalog_audit.png"),
    ],
)
def test_pages_render_without_errors(browser, dashboard, notebook, ready, shot, tmp_path):
    page = _open(browser, f"{dashboard}/voila/render/{notebook}", ready)
    try:
        page.wait_for_timeout(1500)
        _assert_no_errors(page)
        if notebook == "03_umap_explorer.ipynb":
            app = page.locator(".attr-utils-umap-explorer")
            app.scroll_into_view_if_needed()
            page.locator(".attr-utils-umap-explorer .scatterlayer .point").nth(3).hover(force=True)
            page.wait_for_function(
                "() => document.querySelector('.attr-utils-umap-explorer').innerText.includes('.png')",
                timeout=60_000,
            )
            _shot(app, shot)
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
            _assert_no_errors(page)
            _shot(app, shot)
        elif notebook in ("index.ipynb", "07_reproduce.ipynb", "08_catalog_audit.ipynb"):
            _shot(page.locator("body"), shot)
        else:
            _shot(page.locator(".js-plotly-plot").first, shot)
    finally:
        page.close()


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
        _chromium()
