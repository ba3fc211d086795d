"""Shared fixtures: small generated image sets and an isolated cache per session."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

COLORS = {
    "red": (200, 30, 30),
    "green": (30, 170, 50),
    "blue": (30, 60, 200),
}


def make_image(path: Path, color, *, size=(64, 48), seed=0, fmt=None) -> Path:
    """A small noisy image of one dominant colour (deterministic)."""
    rng = np.random.default_rng(seed)
    base = np.array(color, dtype=np.float32)
    arr = np.clip(base + rng.normal(0, 25, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, format=fmt)
    return path


def make_class_folder(root: Path, per_class: int = 6, colors=COLORS) -> Path:
    for name, color in colors.items():
        for i in range(per_class):
            make_image(root / name / f"{name}_{i}.png", color, seed=zlib.crc32(f"{name}/{i}".encode()))
    return root


@pytest.fixture(scope="session")
def class_folder(tmp_path_factory) -> Path:
    """3 colour classes x 6 images, one sub-folder per class."""
    return make_class_folder(tmp_path_factory.mktemp("classes"))


@pytest.fixture()
def cache_dir(tmp_path) -> Path:
    return tmp_path / "cache"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path_factory):
    """Never touch the user's real caches or weights settings from tests."""
    monkeypatch.delenv("ATTR_UTILS_WEIGHTS", raising=False)
    monkeypatch.setenv("ATTR_UTILS_ENGINE", "keras")  # engine tests ask for theirs; conversions stay in tests/test_engines.py
    monkeypatch.setenv("ATTR_UTILS_CACHE", str(tmp_path_factory.getbasetemp() / "default-cache"))


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole run (``tests/browser_support.py``)."""
    from tests.browser_support import browser_fixture

    yield from browser_fixture()


@pytest.fixture(scope="session")
def dashboard(browser, tmp_path_factory):
    """One ``python -m attr_utils.dashboard`` for every browser test module; yields its base URL."""
    from tests.browser_support import dashboard_fixture

    yield from dashboard_fixture(browser, tmp_path_factory)
