"""Issue 18: the extractor app's upload defects, driven in Chromium (``python -m attr_utils.dashboard``).

Each test would have caught one defect seen by a visitor:

* several files picked at once lost some (3 picked: 2 arrived; 5 picked: 3 arrived);
* a refused file's message was overwritten by the next file's;
* uploaded examples among the voters read "cannot show image: cannot read file";
* after an upload the "Catalog item" dropdown kept the old item and choosing it did nothing;
* the five preselected examples were scrolled out of view of "Add value".

The tests share one page (module scope) and run in file order; each starts from
"Clear choice" so it does not depend on what the previous one left chosen.
"""

from __future__ import annotations

import os

import pytest
from PIL import Image

from tests.browser_support import open_page, shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

APP = ".attr-utils-extractor-app"
EMBED_TIMEOUT_MS = 240_000  # the first uploaded image loads TensorFlow in the kernel (2 shared cores)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("upload-images")

    def make(name, rgb, size=(48, 40)):
        path = root / name
        Image.new("RGB", size, rgb).save(path)
        return str(path)

    return {
        "three": [make(f"three{i}.png", (200, 30 * i, 40)) for i in range(3)],
        "five": [make(f"five{i}.png", (30 * i, 160, 200)) for i in range(5)],
        "magenta": [make(f"magenta{i}.png", (220, 20 + 5 * i, 220)) for i in range(3)],
        "query": make("query.png", (220, 25, 220)),
        "root": root,
    }


@pytest.fixture(scope="module")
def page(browser, dashboard):
    page = open_page(browser, f"{dashboard}/voila/render/06_extractor_app.ipynb", ".attr-utils-prediction")
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    yield page
    page.close()


def _pick(page, button_text, files):
    app = page.locator(APP)
    with page.expect_file_chooser() as chooser:
        app.locator("button.attr-utils-upload-button", has_text=button_text).click()
    chooser.value.set_files(files)


def _clear(page):
    button = page.locator(APP).locator("button", has_text="Clear choice")
    if button.is_enabled():
        button.click()
    page.locator(".attr-utils-extractor-choice", has_text="No examples chosen").wait_for(timeout=60_000)


def _app_text(page) -> str:
    return page.inner_text(APP)


def test_preselected_examples_are_shown_beside_add_value(page):
    app = page.locator(APP)
    add = app.locator("button", has_text="Add value")
    assert add.inner_text().strip() == "Add value (5 examples)"
    choice = page.locator(".attr-utils-extractor-choice")
    assert "5 catalog item(s)" in choice.inner_text()
    thumbs = choice.locator("img")
    assert thumbs.count() == 5
    # the chosen examples are in view together with the button that adds them
    add.scroll_into_view_if_needed()
    viewport = page.viewport_size
    for i in range(5):
        box = thumbs.nth(i).bounding_box()
        assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= viewport["height"], box
    shot(app, "extractor_app_choice.png", docs=False)


def test_three_and_five_file_picks_deliver_every_file(page, images):
    _clear(page)
    app = page.locator(APP)
    _pick(page, "Upload examples", images["three"])
    app.get_by_text("3 uploaded example(s) ready").wait_for(timeout=60_000)
    assert page.locator(".attr-utils-upload-ok").count() == 3
    _pick(page, "Upload examples", images["five"])
    app.get_by_text("8 uploaded example(s) ready").wait_for(timeout=60_000)
    report = page.inner_text(".attr-utils-upload-report")
    assert page.locator(".attr-utils-upload-ok").count() == 5, report
    for i in range(5):
        assert f"five{i}.png: accepted" in report
    assert page.locator(".attr-utils-extractor-choice img").count() == 8
    assert app.locator("button", has_text="Add value").inner_text().strip() == "Add value (8 examples)"
    shot(app, "extractor_app_multi_upload.png", docs=False)


def test_a_refused_file_keeps_its_message_beside_the_next_files(page, images):
    _clear(page)
    root = images["root"]
    bad = root / "notes.txt"
    bad.write_text("not an image")
    huge = root / "huge.png"
    huge.write_bytes(os.urandom(12 * 1024 * 1024))  # over the 10 MB limit: refused in the browser
    _pick(page, "Upload examples", [str(bad), images["three"][0], str(huge)])
    page.locator(APP).get_by_text("1 uploaded example(s) ready").wait_for(timeout=60_000)
    refused = page.locator(".attr-utils-upload-refused")
    assert refused.count() == 2
    report = page.inner_text(".attr-utils-upload-report")
    assert "notes.txt is not a usable image" in report
    assert "huge.png is 12.0 MB; the limit is 10 MB" in report
    assert "three0.png: accepted" in report
    shot(page.locator(APP), "extractor_app_refused_file.png", docs=False)


def test_uploaded_examples_are_shown_as_pictures_among_the_voters(page, images):
    _clear(page)
    app = page.locator(APP)
    _pick(page, "Upload examples", images["magenta"])
    app.get_by_text("3 uploaded example(s) ready").wait_for(timeout=60_000)
    app.locator(".widget-text", has_text="New value").locator("input").fill("magenta")
    app.locator("button", has_text="Add value").click()
    app.get_by_text("Added 3 example(s) of 'magenta'").wait_for(timeout=EMBED_TIMEOUT_MS)
    _pick(page, "Upload a query", [images["query"]])
    result = page.locator(".attr-utils-extractor-result")
    result.get_by_text("Uploaded: query.png").wait_for(timeout=EMBED_TIMEOUT_MS)
    voters = page.locator(".attr-utils-voters")
    uploaded = voters.locator(".widget-vbox", has_text="uploaded: magenta")
    assert uploaded.count() >= 1, voters.inner_text()
    for i in range(uploaded.count()):
        assert uploaded.nth(i).locator("img").count() == 1
    assert "cannot show image" not in _app_text(page)
    assert "No such file" not in _app_text(page)
    shot(app, "extractor_app_uploaded_voters.png", docs=False)


def test_the_catalog_dropdown_fires_after_an_upload(page, images):
    result = page.locator(".attr-utils-extractor-result")
    select = page.locator(APP).locator(".widget-dropdown", has_text="Catalog item").locator("select")
    options = select.locator("option").all_inner_texts()
    assert len(options) > 3
    # after the previous test's query upload the dropdown names no item...
    assert select.evaluate("s => s.selectedIndex") == -1
    # ...so choosing any item fires, the one shown before the upload too
    select.select_option(label=options[2])
    result.get_by_text(f"Query: {options[2]}").wait_for(timeout=60_000)
    assert "Uploaded: query.png" not in result.inner_text()
    _pick(page, "Upload a query", [images["query"]])
    result.get_by_text("Uploaded: query.png").wait_for(timeout=EMBED_TIMEOUT_MS)
    assert select.evaluate("s => s.selectedIndex") == -1
    select.select_option(label=options[2])
    result.get_by_text(f"Query: {options[2]}").wait_for(timeout=60_000)
    assert not page.errors, page.errors
