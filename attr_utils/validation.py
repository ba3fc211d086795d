"""Parameter checks shared by every module: one behaviour, one family of errors.

Each ``check_*`` function returns the value converted to a plain Python type
(so numpy scalars such as ``np.int64(8)`` are accepted everywhere) and raises
:class:`~attr_utils.errors.ParameterError` otherwise. ``ParameterError`` is an
:class:`~attr_utils.errors.AttrUtilsError` and, like scikit-learn's
``InvalidParameterError``, both a ``ValueError`` and a ``TypeError``.

Messages follow two templates, naming the parameter, what is allowed and
what was given::

    `k` must be an integer >= 1, got 2.5 (float)      # wrong type
    `k` must be >= 1, got 0                           # out of range

Examples
--------
>>> import numpy as np
>>> check_int("batch_size", np.int64(8), min=1)
8
>>> check_int("n_jobs", -1, min=1, allow=(-1,))
-1
>>> check_choice("metric", "cosine", ("cosine", "l2"))
'cosine'
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

from attr_utils.errors import ParameterError

__all__ = ["check_choice", "check_int", "check_real", "check_seed"]

_CLOSED = ("both", "left", "right", "neither")


def _given(value) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _bounds(min, max, closed: str = "both") -> str:
    lo = ">=" if closed in ("both", "left") else ">"
    hi = "<=" if closed in ("both", "right") else "<"
    if min is not None and max is not None:
        left = "[" if lo == ">=" else "("
        right = "]" if hi == "<=" else ")"
        return f"in {left}{min}, {max}{right}"
    if min is not None:
        return f"{lo} {min}"
    if max is not None:
        return f"{hi} {max}"
    return ""


def _extra(allow_none: bool, allow: tuple) -> str:
    extras = [repr(a) for a in allow] + (["None"] if allow_none else [])
    return "".join(f" or {e}" for e in extras)


def check_int(name: str, value, *, min: int | None = None, max: int | None = None, allow_none: bool = False, allow: Iterable = ()):
    """``value`` as an ``int``, checked against ``[min, max]``.

    Parameters
    ----------
    name : str
        Parameter name, quoted in the message.
    value : object
        Any ``numbers.Integral`` (Python or numpy integer); ``bool`` is refused.
    min, max : int, optional
        Inclusive bounds.
    allow_none : bool, default=False
        Accept ``None`` (returned as is).
    allow : iterable of int or str, default=()
        Special values accepted outside the bounds (e.g. ``-1`` for "all
        cores", ``"auto"``); returned as given.

    Returns
    -------
    int, None or a member of ``allow``

    Raises
    ------
    ParameterError
        ``value`` is not an integer, or out of range.
    """
    allow = tuple(allow)
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if any(isinstance(value, str) and isinstance(a, str) and value == a for a in allow):
            return value  # a named special value, e.g. nprobe="auto"
        what = " ".join(p for p in ("an integer", _bounds(min, max)) if p)
        raise ParameterError(f"`{name}` must be {what}{_extra(allow_none, allow)}, got {_given(value)}")
    value = int(value)
    if value in allow:
        return value
    if (min is not None and value < min) or (max is not None and value > max):
        raise ParameterError(f"`{name}` must be {_bounds(min, max)}{_extra(allow_none, allow)}, got {value!r}")
    return value


def check_real(name: str, value, *, min: float | None = None, max: float | None = None, closed: str = "both", allow_none: bool = False):
    """``value`` as a finite ``float``, checked against its bounds.

    Parameters
    ----------
    name : str
        Parameter name, quoted in the message.
    value : object
        Any ``numbers.Real`` (int, float, numpy floating); ``bool`` and NaN are refused.
    min, max : float, optional
        Bounds.
    closed : {"both", "left", "right", "neither"}, default="both"
        Which bounds are inclusive.
    allow_none : bool, default=False
        Accept ``None`` (returned as is).

    Returns
    -------
    float or None

    Raises
    ------
    ParameterError
        ``value`` is not a real number, is NaN, or is out of range.
    """
    if closed not in _CLOSED:
        raise ParameterError(f"`closed` must be one of {', '.join(map(repr, _CLOSED))}; got {closed!r}")
    if value is None and allow_none:
        return None
    bounds = _bounds(min, max, closed)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        what = " ".join(p for p in ("a real number", bounds) if p)
        raise ParameterError(f"`{name}` must be {what}{_extra(allow_none, ())}, got {_given(value)}")
    value = float(value)
    lo_ok = min is None or (value >= min if closed in ("both", "left") else value > min)
    hi_ok = max is None or (value <= max if closed in ("both", "right") else value < max)
    if not (lo_ok and hi_ok):
        raise ParameterError(f"`{name}` must be {bounds}, got {value!r}")
    return value


def check_choice(name: str, value, choices: Iterable):
    """The element of ``choices`` equal to ``value``.

    Returns
    -------
    object
        The matching element of ``choices`` (so ``numpy.str_("l2")`` comes back as ``"l2"``).

    Raises
    ------
    ParameterError
        ``value`` is not one of ``choices`` (the message lists them).
    """
    choices = tuple(choices)
    for choice in choices:
        try:
            if value is choice or (not isinstance(value, bool) and bool(value == choice)):
                return choice
        except (TypeError, ValueError):  # e.g. an array compared with a string
            break
    got = repr(value) if isinstance(value, str) else _given(value)
    raise ParameterError(f"`{name}` must be one of {', '.join(map(repr, choices))}; got {got}")


def check_seed(value, *, name: str = "seed") -> int:
    """A random seed: an integer >= 0 (what ``numpy.random.default_rng`` accepts).

    Raises
    ------
    ParameterError
        ``value`` is not an integer, or is negative.
    """
    return check_int(name, value, min=0)
