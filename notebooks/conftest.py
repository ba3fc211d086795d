"""nbval settings for the notebooks (``pytest --nbval-lax notebooks/``).

Every notebook runs in smoke mode (10 images per class of the synthetic
catalog, unless ``ATTR_UTILS_SMOKE`` is already set) and all notebook kernels
of one test session share a fresh embedding cache, so the network runs once
per session and the user's own cache is never touched. Kernels inherit these
variables from the pytest process.
"""

from __future__ import annotations

import os
import shutil
import tempfile

_SESSION_CACHE: str | None = None


def pytest_configure(config):
    global _SESSION_CACHE
    os.environ.setdefault("ATTR_UTILS_SMOKE", "10")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _SESSION_CACHE = tempfile.mkdtemp(prefix="attr-utils-nbval-cache-")
    os.environ["ATTR_UTILS_CACHE"] = _SESSION_CACHE


def pytest_unconfigure(config):
    if _SESSION_CACHE:
        shutil.rmtree(_SESSION_CACHE, ignore_errors=True)
