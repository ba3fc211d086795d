"""Exceptions raised by attr-utils.

Every error the library raises on purpose derives from :class:`AttrUtilsError`,
so callers (the CLI, the notebooks, user code) can catch one type and show its
message, which always says what was wrong and what to do about it.
"""

from __future__ import annotations

__all__ = [
    "AttrUtilsError",
    "BackboneError",
    "BlockError",
    "CacheError",
    "DatasetError",
    "EngineError",
    "ImageDecodeError",
    "MissingFileError",
    "NotFittedError",
    "ParameterError",
    "QueryError",
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


class ParameterError(AttrUtilsError, ValueError, TypeError):
    """A parameter of the wrong type, out of its allowed range, or unable to work for the data.

    Raised by :mod:`attr_utils.validation`, and where a parameter is checked
    against the data it is applied to (``min_cluster_size=50`` for 12 images,
    ``k=5`` with 4 training items, ``folds=5`` with 3 distinct images: the
    message names the parameter, its value and the count). Like scikit-learn's
    ``InvalidParameterError`` it is both a ``ValueError`` and a ``TypeError``,
    so code written against the builtin exceptions keeps catching it.
    """


class NotFittedError(AttrUtilsError, RuntimeError):
    """A model or index is used before it was fitted or built."""


class BlockError(AttrUtilsError, KeyError):
    """A block name that the embeddings, cache or backbone do not hold."""

    def __str__(self) -> str:  # KeyError's str() is the repr of its argument: keep the message readable
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class MissingFileError(AttrUtilsError, FileNotFoundError):
    """A file or folder the call needs (a saved index or model) does not exist."""


class QueryError(AttrUtilsError, IndexError):
    """A query refers to a row or item that does not exist."""


class EngineError(AttrUtilsError, RuntimeError):
    """An inference engine is not installed, fails to convert, or disagrees with Keras."""
