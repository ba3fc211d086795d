"""The shared parameter checks (attr_utils.validation) and the error family (attr_utils.errors)."""

from __future__ import annotations

import numpy as np
import pytest

from attr_utils.errors import (
    AttrUtilsError,
    BlockError,
    MissingFileError,
    NotFittedError,
    ParameterError,
    QueryError,
)
from attr_utils.validation import check_choice, check_int, check_real, check_seed


# -- the error family keeps the builtin bases callers catch ----------------------------
@pytest.mark.parametrize(
    ("cls", "builtins"),
    [
        (ParameterError, (ValueError, TypeError)),
        (NotFittedError, (RuntimeError,)),
        (BlockError, (KeyError,)),
        (MissingFileError, (FileNotFoundError,)),
        (QueryError, (IndexError,)),
    ],
)
def test_errors_are_attr_utils_errors_and_keep_their_builtin_base(cls, builtins):
    assert issubclass(cls, AttrUtilsError)
    for base in builtins:
        assert issubclass(cls, base)


def test_block_error_message_is_not_quoted_like_a_key_error():
    assert str(BlockError("no block 'b9'")) == "no block 'b9'"


# -- check_int --------------------------------------------------------------------------
@pytest.mark.parametrize("value", [3, np.int64(3), np.uint8(3), np.int32(3)])
def test_check_int_accepts_python_and_numpy_integers(value):
    out = check_int("k", value, min=1)
    assert out == 3 and type(out) is int


@pytest.mark.parametrize("value", [2.5, 3.0, "3", True, np.bool_(True), None, [3]])
def test_check_int_wrong_type_is_a_parameter_error(value):
    with pytest.raises(ParameterError, match=r"^`k` must be an integer >= 1, got "):
        check_int("k", value, min=1)


@pytest.mark.parametrize("value", [0, -1, np.int64(0)])
def test_check_int_below_min_is_a_parameter_error(value):
    with pytest.raises(ParameterError, match=rf"^`k` must be >= 1, got {int(value)}$"):
        check_int("k", value, min=1)


def test_check_int_above_max_is_a_parameter_error():
    with pytest.raises(ParameterError, match=r"^`nlist` must be in \[1, 10\], got 11$"):
        check_int("nlist", 11, min=1, max=10)


def test_check_int_catches_as_value_error_and_as_type_error():
    with pytest.raises(ValueError):
        check_int("k", 0, min=1)
    with pytest.raises(TypeError):
        check_int("k", "a", min=1)


def test_check_int_special_values_and_none():
    assert check_int("n_jobs", -1, min=1, allow=(-1,)) == -1
    assert check_int("n_jobs", np.int64(-1), min=1, allow=(-1,)) == -1
    assert check_int("nprobe", "auto", min=1, allow=("auto",)) == "auto"
    assert check_int("train_size", None, min=1, allow_none=True) is None
    with pytest.raises(ParameterError, match=r"`n_jobs` must be >= 1 or -1, got -2"):
        check_int("n_jobs", -2, min=1, allow=(-1,))
    with pytest.raises(ParameterError, match=r"`nprobe` must be an integer >= 1 or 'auto', got 'fast'"):
        check_int("nprobe", "fast", min=1, allow=("auto",))
    with pytest.raises(ParameterError, match="or None"):
        check_int("train_size", 0.5, min=1, allow_none=True)


# -- check_real -------------------------------------------------------------------------
@pytest.mark.parametrize("value", [0.5, np.float32(0.5), 1, np.int64(1)])
def test_check_real_accepts_numbers(value):
    out = check_real("alpha", value, min=0, max=1)
    assert out == float(value) and type(out) is float


@pytest.mark.parametrize("value", ["0.5", True, None, float("nan")])
def test_check_real_wrong_type_or_nan_is_a_parameter_error(value):
    with pytest.raises(ParameterError, match=r"^`alpha` must be a real number in \[0, 1\], got "):
        check_real("alpha", value, min=0, max=1)


def test_check_real_open_bound_is_a_parameter_error():
    assert check_real("target_recall", 1.0, min=0, max=1, closed="right") == 1.0
    with pytest.raises(ParameterError, match=r"^`target_recall` must be in \(0, 1\], got 0.0$"):
        check_real("target_recall", 0.0, min=0, max=1, closed="right")


def test_check_real_above_max_is_a_parameter_error():
    with pytest.raises(ParameterError, match=r"`target_recall` must be in \(0, 1\], got 1.5"):
        check_real("target_recall", 1.5, min=0, max=1, closed="right")


def test_check_real_invalid_closed_is_a_parameter_error():
    with pytest.raises(ParameterError, match="`closed` must be one of"):
        check_real("x", 1.0, min=0, closed="open")


# -- check_choice -----------------------------------------------------------------------
def test_check_choice_returns_the_canonical_choice():
    out = check_choice("metric", np.str_("l2"), ("cosine", "l2"))
    assert out == "l2" and type(out) is str


@pytest.mark.parametrize("value", ["manhattan", None, 1, np.array(["l2", "cosine"]), True])
def test_check_choice_unknown_value_is_a_parameter_error(value):
    with pytest.raises(ParameterError, match=r"^`metric` must be one of 'cosine', 'l2'; got "):
        check_choice("metric", value, ("cosine", "l2"))


# -- check_seed -------------------------------------------------------------------------
def test_check_seed_accepts_numpy_integers():
    assert check_seed(np.int64(7)) == 7


@pytest.mark.parametrize("value", [1.5, "0", True, None])
def test_check_seed_wrong_type_is_a_parameter_error(value):
    with pytest.raises(ParameterError, match=r"^`seed` must be an integer >= 0, got "):
        check_seed(value)


def test_check_seed_negative_is_a_parameter_error():
    with pytest.raises(ParameterError, match=r"^`seed` must be >= 0, got -1$"):
        check_seed(-1)
