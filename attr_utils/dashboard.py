"""Serve the notebooks as a Voilà dashboard: ``python -m attr_utils.dashboard`` (``make dashboard``).

Before starting Voilà the command makes sure the default catalog exists and
the embedding cache is warm (the first run embeds the catalog once, with a
progress bar), so every page opens in seconds. Voilà runs with the notebooks
folder's ``voila.json``: code cells hidden, tracebacks hidden from visitors, no
static files served from the notebooks folder, bound to 127.0.0.1 unless
``--host`` says otherwise.

Usage::

    attr-utils dashboard [--port 8866] [--host 127.0.0.1] [--no-browser] [--no-warm] [--notebooks DIR]
    python -m attr_utils.dashboard ...     (the same)

Which notebooks are served (:func:`notebooks_dir`): ``--notebooks`` when
given; else the source checkout's top-level ``notebooks/`` when it holds
``index.ipynb`` (a clone, or an editable install); else the copy the wheel
carries as package data, ``attr_utils/notebooks`` (``pip install
attr-utils[app]``). Both are one folder in git: the wheel is built from it.

The notebook parameters come from the environment (``ATTR_UTILS_DATASET``,
``ATTR_UTILS_BACKBONE``, ``ATTR_UTILS_WEIGHTS``, ``ATTR_UTILS_SMOKE``; see
:mod:`attr_utils.apps.session`); Voilà's kernels inherit them.
"""

from __future__ import annotations

import argparse
import importlib.resources
import ipaddress
import os
import subprocess
import sys
from pathlib import Path

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "add_arguments",
    "landing_url",
    "main",
    "notebooks_dir",
    "run",
    "voila_command",
    "warm_cache",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8866
LANDING = "index.ipynb"
#: Voilà's settings, next to the notebooks they serve
CONFIG = "voila.json"


def notebooks_dir(notebooks: str | os.PathLike | None = None, *, package_dir: str | os.PathLike | None = None) -> Path:
    """The folder of notebooks the dashboard serves (it also holds ``voila.json``).

    Parameters
    ----------
    notebooks : path-like, optional
        An explicit folder (``--notebooks``); returned as given.
    package_dir : path-like, optional
        The ``attr_utils`` package folder (default: where it is imported from,
        ``importlib.resources.files("attr_utils")``); a parameter for tests.

    Returns
    -------
    pathlib.Path
        ``notebooks`` when given; else ``<package_dir>/../notebooks`` when it
        holds ``index.ipynb`` (a source checkout or an editable install); else
        ``<package_dir>/notebooks``, the copy a wheel installs. The caller
        checks that the folder holds ``index.ipynb``.
    """
    if notebooks is not None:
        return Path(notebooks)
    package = Path(package_dir) if package_dir is not None else Path(str(importlib.resources.files("attr_utils")))
    checkout = package.parent / "notebooks"
    if (checkout / LANDING).is_file():
        return checkout
    return package / "notebooks"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def landing_url(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> str:
    """URL of the dashboard's landing page."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/voila/render/{LANDING}"


def voila_command(
    notebooks: str | os.PathLike,
    *,
    port: int = DEFAULT_PORT,
    host: str = DEFAULT_HOST,
    config_dir: str | os.PathLike | None = None,
) -> list[str]:
    """The Voilà command line serving ``notebooks`` with ``voila.json`` from ``config_dir``.

    Parameters
    ----------
    notebooks : path-like
        Folder of notebooks.
    port : int, default=8866
    host : str, default="127.0.0.1"
    config_dir : path-like, optional
        Folder holding ``voila.json`` (default: ``notebooks``, where it lives).

    Returns
    -------
    list of str

    Raises
    ------
    ParameterError
        ``port`` is not an integer in [1, 65535], or ``host`` is empty or holds spaces.
    """
    from attr_utils.errors import ParameterError
    from attr_utils.validation import check_int

    port = check_int("port", port, min=1, max=65535)
    if not isinstance(host, str) or not host or any(c.isspace() for c in host):
        raise ParameterError(f"`host` must be a host name or IP address, got {host!r}")
    config_dir = Path(config_dir) if config_dir is not None else Path(notebooks)
    cmd = [
        sys.executable,
        "-m",
        "voila",
        str(notebooks),
        f"--port={port}",
        f"--Voila.ip={host}",
        f"--Voila.config_file_paths={config_dir}",
        "--no-browser",  # Voilà would open its file list; main() opens the landing page instead
    ]
    return cmd


_OPEN_WHEN_READY = """
import sys, time, urllib.request, webbrowser
url = sys.argv[1]
for _ in range(240):
    try:
        urllib.request.urlopen(url, timeout=2).close()
        break
    except Exception:
        time.sleep(0.5)
webbrowser.open(url)
"""


def _open_browser_when_ready(url: str) -> None:
    """Open ``url`` in a web browser once the server answers (from a detached helper process)."""
    subprocess.Popen(
        [sys.executable, "-c", _OPEN_WHEN_READY, url],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def warm_cache(*, progress: bool = True):
    """Generate the default catalog if needed and embed it into the cache (what every page needs).

    Also computes the UMAP layout the explorer opens with, the slowest first step.
    Returns the :class:`~attr_utils.Embeddings`.
    """
    from attr_utils.analysis import umap_embedding
    from attr_utils.apps.session import load_notebook_embeddings, notebook_params

    params = notebook_params()
    emb = load_notebook_embeddings(params, progress=progress)
    umap_embedding(emb, block=emb.block_names[0], n_components=2)
    return emb


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the dashboard's options to ``p`` (shared by this module's parser and ``attr-utils dashboard``)."""
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to bind (default {DEFAULT_HOST}: this machine only; the dashboard has no login, "
        "so bind other addresses only on a trusted network)",
    )
    p.add_argument("--no-browser", action="store_true", help="do not open a web browser")
    p.add_argument("--no-warm", action="store_true", help="skip generating the catalog and warming the cache first")
    p.add_argument(
        "--notebooks",
        type=Path,
        default=None,
        help="folder of notebooks to serve (default: the checkout's notebooks/, else the installed copy)",
    )
    return p


def _parser() -> argparse.ArgumentParser:
    return add_arguments(
        argparse.ArgumentParser(
            prog="python -m attr_utils.dashboard",
            description="Serve the attr-utils notebooks as a Voilà dashboard (code hidden, apps live).",
        )
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m attr_utils.dashboard``; returns Voilà's exit code.

    Like ``attr-utils dashboard`` (whose errors the CLI reports), an
    :class:`~attr_utils.errors.AttrUtilsError` is printed as one line on
    stderr, with exit status 2.
    """
    from attr_utils.errors import AttrUtilsError

    try:
        return run(_parser().parse_args(argv))
    except AttrUtilsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    """Warm the cache and become Voilà, for parsed :func:`add_arguments` options; returns the exit code.

    Raises
    ------
    MissingFileError
        The notebooks folder has no ``index.ipynb``.
    AttrUtilsError
        An invalid ``--port``/``--host`` (:class:`~attr_utils.errors.ParameterError`), or warming the cache failed.
    """
    from attr_utils.errors import MissingFileError

    notebooks = notebooks_dir(args.notebooks)
    if not (notebooks / LANDING).is_file():
        hint = "" if args.notebooks is not None else "; pass --notebooks DIR, or reinstall: pip install 'attr-utils[app]'"
        raise MissingFileError(f"no {LANDING} in {notebooks}{hint}")
    cmd = voila_command(notebooks, port=args.port, host=args.host)
    if not _is_loopback(args.host):
        print(
            f"warning: binding to {args.host}: anyone who can reach this address can use the dashboard "
            "(it has no login)",
            file=sys.stderr,
        )
    if not args.no_warm:
        print("Preparing the catalog and the embedding cache (only slow the first time)...", flush=True)
        emb = warm_cache()
        print(f"Ready: {len(emb)} images, {emb.provenance}", flush=True)
    url = landing_url(args.host, args.port)
    print(f"Dashboard: {url}  (Ctrl+C to stop)", flush=True)
    if not args.no_browser:
        _open_browser_when_ready(url)
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        # become Voilà: Ctrl+C and SIGTERM reach it directly, and it shuts its kernels down
        os.execve(cmd[0], cmd, env)
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
