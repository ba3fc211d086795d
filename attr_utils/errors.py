"""Exceptions raised by attr-utils.

Every error the library raises on purpose derives from :class:`AttrUtilsError`,
so callers (the CLI, the notebooks, user code) can catch one type and show its
message, which always says what was wrong and what to do about it.
"""

from __future__ import annotations

__all__ = [
    "AttrUtilsError",
    "BackboneError",
    "CacheError",
    "DatasetError",
    "EngineError",
    "ImageDecodeError",
    "WeightsError",
    "WeightsUnavailableError",
]


class AttrUtilsError(Exception):
    """Base class of every error attr-utils raises on purpose."""


class DatasetError(AttrUtilsError, ValueError):
    """A dataset path, manifest or label column cannot be used."""


class ImageDecodeError(AttrUtilsError, ValueError):
    """An image cannot be decoded (empty, truncated, not an image, too large)."""


class BackboneError(AttrUtilsError, ValueError):
    """An unknown backbone or an invalid backbone option."""


class WeightsError(AttrUtilsError, ValueError):
    """A weights specification or weights file cannot be used."""


class WeightsUnavailableError(WeightsError):
    """Pretrained weights are neither cached locally nor downloadable."""


class CacheError(AttrUtilsError):
    """The embedding cache cannot be read or written."""


class EngineError(AttrUtilsError, RuntimeError):
    """An inference engine is not installed, fails to convert, or disagrees with Keras."""
