"""Shared browser-test support: Chromium via Playwright against one ``python -m attr_utils.dashboard``.

The ``browser`` and ``dashboard`` fixtures are session-scoped (registered in ``tests/conftest.py``)
so every ``tests/test_browser*.py`` module drives the same server: the warm-up runs once per run.

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


def missing(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser test cannot run in CI: {reason}")
    pytest.skip(reason)


def chromium_path() -> str:
    candidates = [os.environ.get("ATTR_UTILS_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"]
    for path in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    missing("no Chromium found (install Debian's `chromium` package, or set ATTR_UTILS_CHROMIUM)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def browser_fixture():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the `playwright` Python package is not installed")
    path = chromium_path()
    with sync_playwright() as pw:
        try:
            b = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        except Exception as exc:  # a broken browser install is "missing" too
            missing(f"Chromium at {path} does not start: {exc}")
        yield b
        b.close()


def dashboard_fixture(browser, tmp_path_factory):
    """``python -m attr_utils.dashboard`` on a free port, smoke-sized, with its own cache."""
    port = free_port()
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


#: console errors that are not the page's fault, each with why it is allowed: (message start, URL start)
EXTERNAL_CONSOLE_NOISE = (
    # Voilà's lab template links Font Awesome from cdn.jsdelivr.net; offline (CI, demos without internet) the
    # stylesheet cannot load. The pages use no Font Awesome icon, so nothing visible is lost.
    ("Failed to load resource: net::ERR_NAME_NOT_RESOLVED", "https://cdn.jsdelivr.net/npm/@fortawesome/"),
    ("Failed to load resource: net::ERR_INTERNET_DISCONNECTED", "https://cdn.jsdelivr.net/npm/@fortawesome/"),
)


def is_external_noise(text: str, url: str) -> bool:
    """True for a console error of :data:`EXTERNAL_CONSOLE_NOISE` (an external resource, not the page)."""
    return any(text.startswith(message) and url.startswith(where) for message, where in EXTERNAL_CONSOLE_NOISE)


def open_page(browser, url, wait_for):
    """A new page at ``url``, waited for ``wait_for``; its uncaught errors and console errors are recorded.

    ``page.attr_utils_errors`` collects every uncaught exception or unhandled promise rejection
    (``pageerror``) and every console message of type ``error`` except :data:`EXTERNAL_CONSOLE_NOISE`;
    :func:`assert_no_errors` fails on any of them.
    """
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    errors: list[str] = []
    page.attr_utils_errors = errors
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))

    def on_console(message):
        if message.type != "error":
            return
        url = (message.location or {}).get("url", "")
        if not is_external_noise(message.text, url):
            errors.append(f"console error: {message.text} ({url})")

    page.on("console", on_console)
    page.goto(url, timeout=PAGE_TIMEOUT_MS)
    page.wait_for_selector(wait_for, timeout=PAGE_TIMEOUT_MS)
    return page


def assert_no_errors(page):
    """The page shows no error output or warning, and its browser console holds no error (see :func:`open_page`)."""
    errors = getattr(page, "attr_utils_errors", [])
    assert not errors, "errors in the browser:\n" + "\n".join(e[:500] for e in errors)
    assert page.locator(ERROR_SELECTOR).count() == 0
    assert page.locator(".attr-utils-warning").count() == 0, page.locator(".attr-utils-warning").first.inner_text()
    text = page.inner_text("body")
    for bad in ERROR_TEXTS:
        assert bad not in text, f"{bad!r} on the page:\n{text[-2000:]}"


def shot(locator, name: str, *, docs: bool = True) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    locator.scroll_into_view_if_needed()
    locator.screenshot(path=str(ARTIFACTS / name))
    if docs and os.environ.get("ATTR_UTILS_DOCS_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        shutil.copyfile(ARTIFACTS / name, DOCS / name)


def wait_for_change(page, selector: str, old: str, what: str, timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = page.inner_text(selector)
        if new and new != old:
            return new
        page.wait_for_timeout(250)
    raise AssertionError(f"the result grid did not change after {what}")


