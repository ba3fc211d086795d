"""The ``attr-utils`` command line.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``; ``register`` adds an argparse parser whose default
``func`` runs the command. Command modules import only argparse at module
level and the heavy parts of the library inside ``func``, so ``--help`` stays
fast (no TensorFlow import).

Errors are translated in one place, :func:`main`: every error the library
raises on purpose is an :class:`~attr_utils.errors.AttrUtilsError`, printed
as one line on stderr (advice naming a keyword argument is rewritten as the
command's option, see :func:`~attr_utils.cli._common.cli_message`) with exit
status 2. A command whose wing is not installed (``pip install attr-utils``
without the extra) says which extra to add, also in one line (:data:`EXTRA_OF`).
Commands neither catch nor re-raise library errors; anything else is a bug
and keeps its traceback.

TensorFlow's native start-up lines (CUDA probing, oneDNN notices), which
no environment variable silences, are kept off stderr while a command runs
(:func:`attr_utils.native_logs.filter_native_stderr`); ``TF_CPP_MIN_LOG_LEVEL``
defaults to 2 unless the user set it.

Python warnings raised while a command runs are shown the same way, as one
``warning: <message>`` line on stderr (not Python's ``file.py:LINE:
XWarning: ...`` plus a source line); after :data:`WARNINGS_SHOWN` of one
category the rest are counted in a closing line. This applies only inside
:func:`main`: the library's warnings are unchanged for Python users.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import warnings

from attr_utils import __version__

__all__ = ["EXTRA_OF", "WARNINGS_SHOWN", "build_parser", "main"]

#: Warnings of one category shown during a command before the rest are only counted.
WARNINGS_SHOWN = 5

#: Top-level module -> the install extra that provides it (pyproject.toml): a command
#: whose wing is not installed says which extra to add instead of a traceback.
EXTRA_OF = {
    "sklearn": "analysis",
    "scipy": "analysis",
    "umap": "analysis",
    "hdbscan": "analysis",
    "joblib": "analysis",
    "threadpoolctl": "analysis",
    "faiss": "search",
    "dask": "scale",
    "distributed": "scale",
    "plotly": "viz",
    "ipywidgets": "app",
    "anywidget": "app",
    "voila": "app",
    "openvino": "fast",
}


def _command_modules():
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            yield module


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="attr-utils",
        description=(
            "Visual attributes (colour, texture, ...) from the hidden layers of a "
            "pretrained ConvNet: embed, evaluate per block, search, extract."
        ),
    )
    parser.add_argument("--version", action="version", version=f"attr-utils {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = sorted(_command_modules(), key=lambda m: getattr(m, "ORDER", 100))
    for module in modules:
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``attr-utils`` console script."""
    from attr_utils.cli._common import cli_message
    from attr_utils.errors import AttrUtilsError

    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    counts: dict[str, int] = {}

    def show_warning(message, category, filename, lineno, file=None, line=None):
        name = getattr(category, "__name__", "Warning")
        counts[name] = counts.get(name, 0) + 1
        if counts[name] <= WARNINGS_SHOWN:
            print(f"warning: {' '.join(str(message).split())}", file=sys.stderr)

    from attr_utils.native_logs import filter_native_stderr

    # TensorFlow (imported lazily, only when a model is built) logs below warnings are not for users;
    # its native CUDA-probing lines ignore this setting and are filtered from file descriptor 2 instead
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        with warnings.catch_warnings(), filter_native_stderr():  # both restored when the command ends
            warnings.showwarning = show_warning
            return int(func(args) or 0)
    except AttrUtilsError as exc:
        print(f"attr-utils {args.command}: error: {cli_message(str(exc), args)}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        extra = EXTRA_OF.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        print(
            f"attr-utils {args.command}: error: this command needs the [{extra}] extra "
            f"(no module named {exc.name!r}): pip install 'attr-utils[{extra}]'",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("attr-utils: interrupted", file=sys.stderr)
        return 130
    finally:
        for name, n in counts.items():
            if n > WARNINGS_SHOWN:
                print(f"warning: ... and {n - WARNINGS_SHOWN} more {name}(s) not shown", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
