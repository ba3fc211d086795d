"""cli/output.py: the one JSON printer and plain rows from result tables (issue 17)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attr_utils.cli.output import plain, print_json, records


class _Result:
    def to_dict(self):
        return {"images": 3, "labels": "x.csv"}


def test_records_are_plain_and_rounded():
    frame = pd.DataFrame({"block": ["b1", "b2"], "dim": np.array([64, 256]), "acc": [0.123456789, np.nan],
                          "ok": np.array([True, False])})
    rows = records(frame, ["block", "dim", "acc", "ok"], digits=6)
    assert rows[0] == {"block": "b1", "dim": 64, "acc": 0.123457, "ok": True}
    assert type(rows[0]["dim"]) is int and type(rows[0]["ok"]) is bool
    assert np.isnan(rows[1]["acc"])  # NaN kept, as the hand-built rows did
    assert list(records(frame, ["dim", "block"])[0]) == ["dim", "block"]


def test_plain_makes_missing_values_none():
    assert plain(np.float64("nan")) is None and plain(np.int64(3)) == 3 and plain("red") == "red"


def test_print_json_accepts_results_frames_numpy_and_paths(capsys):
    print_json({"result": _Result(), "rows": pd.DataFrame({"n": np.array([1, 2])}), "k": np.int64(5),
                "path": Path("/tmp/a")})
    out = json.loads(capsys.readouterr().out)
    assert out == {"result": {"images": 3, "labels": "x.csv"}, "rows": [{"n": 1}, {"n": 2}], "k": 5, "path": "/tmp/a"}


def test_library_errors_are_one_line_in_command_line_terms(monkeypatch, capsys):
    """The one handler: an AttrUtilsError from any command is one stderr line, exit 2, advice as options."""
    from attr_utils.cli import main
    from attr_utils.cli import synth as synth_cmd
    from attr_utils.errors import ParameterError

    def fail(args):
        raise ParameterError("`per_class`=5 is too small; pass overwrite=True or lower `per_class`")

    monkeypatch.setattr(synth_cmd, "run", fail)
    assert main(["synth", "/nonexistent/out", "--per-class", "10"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "attr-utils synth: error: `per_class`=5 is too small; pass --overwrite or lower --per-class"
    ]


def test_cli_shows_python_warnings_as_one_line(monkeypatch, capsys):
    import warnings

    import attr_utils.cli.cache as cache_cmd
    from attr_utils.cli import WARNINGS_SHOWN, main

    def noisy(args):
        warnings.warn("image 'a.jpg': embedded profile ignored\n(second line)", UserWarning)
        for i in range(WARNINGS_SHOWN + 3):
            warnings.warn(f"profile of image {i} ignored", RuntimeWarning)
        return 0

    before = warnings.showwarning
    monkeypatch.setattr(cache_cmd, "run_info", noisy)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["cache", "info"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "warning: image 'a.jpg': embedded profile ignored (second line)"
    assert err[1:1 + WARNINGS_SHOWN] == [f"warning: profile of image {i} ignored" for i in range(WARNINGS_SHOWN)]
    assert err[-1] == "warning: ... and 3 more RuntimeWarning(s) not shown"
    assert len(err) == WARNINGS_SHOWN + 2
    assert not any("UserWarning:" in line or ".py:" in line for line in err)
    assert warnings.showwarning is before  # the library's warnings are untouched outside the command


def test_api_keyword_advice_reads_as_options():
    """The offline-weights advice names --weights/--backbone on the command line, not weights='...'."""
    import argparse

    from attr_utils.cli._common import cli_message

    args = argparse.Namespace(weights=None, backbone="resnet50", folds=5)
    text = "pass weights='random' (seeded), or backbone='efficientnet-lite0'; lower `folds`; keep seed='x'"
    assert cli_message(text, args) == (
        "pass --weights random (seeded), or --backbone efficientnet-lite0; lower --folds; keep seed='x'"
    )


def test_a_missing_extra_is_one_line_naming_it(monkeypatch, capsys):
    """A core-only install running `attr-utils evaluate` says which extra to add, not a traceback."""
    import sys

    from attr_utils.cli import main

    monkeypatch.setitem(sys.modules, "sklearn", None)  # "not installed": importing it raises ModuleNotFoundError

    def needs_sklearn(*args, **kwargs):
        import sklearn  # noqa: F401  (what the analysis wing does first)

    monkeypatch.setattr("attr_utils.cli.evaluate.embed_from_args", needs_sklearn)
    assert main(["evaluate", "data", "--label", "color"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "pip install 'attr-utils[analysis]'" in err and "sklearn" in err


def test_a_missing_module_outside_the_extras_keeps_its_traceback(monkeypatch):
    import sys

    from attr_utils.cli import main

    monkeypatch.setitem(sys.modules, "not_a_wing_dependency", None)

    def broken(*args, **kwargs):
        import not_a_wing_dependency  # noqa: F401

    monkeypatch.setattr("attr_utils.cli.evaluate.embed_from_args", broken)
    with pytest.raises(ModuleNotFoundError):
        main(["evaluate", "data", "--label", "color"])
