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

Warm-up (:func:`warm_cache`, skipped with ``--no-warm``) runs, before the
server opens, every heavy computation a page starts with (:func:`warm_steps`:
the embeddings, the UMAP fits of the clustering page, the explorer and
Table 2's reduction sweep, the every-layer embedding of the probe page), with
a progress bar; their results land in the on-disk caches the pages read
(:mod:`attr_utils.analysis.umap_cache`, the embedding cache), so a page's
first visit recomputes nothing slow.

One dashboard per address: a second start on a port another attr-utils
dashboard holds (still warming up, or serving) says so in one line and exits
(status 0) instead of failing later; a port held by another program is
skipped for the next free one, and the URL printed is the one served.
``/`` redirects to the landing page (Voilà would list the folder).

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
import errno
import importlib.resources
import ipaddress
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "add_arguments",
    "landing_url",
    "main",
    "notebooks_dir",
    "run",
    "serve",
    "voila_command",
    "warm_cache",
    "warm_steps",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8866
LANDING = "index.ipynb"
#: Voilà's settings, next to the notebooks they serve
CONFIG = "voila.json"
#: Ports tried after a busy ``--port`` held by another program.
PORT_TRIES = 20
#: First argument of ``python -m attr_utils.dashboard`` that runs Voilà itself (see :func:`serve`).
SERVE_FLAG = "--serve-voila"


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

    It runs Voilà through :func:`serve` (``python -m attr_utils.dashboard
    --serve-voila ...``, Voilà's own options after it), which adds the
    redirect of ``/`` to the landing page.

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
        "attr_utils.dashboard",
        SERVE_FLAG,
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


def serve(argv: list[str] | None = None) -> None:
    """Run Voilà with ``argv`` (its own options), ``/`` and ``/voila/tree`` redirecting to the landing page.

    Its pages also set the ``_xsrf`` cookie, so that the kernel-shutdown
    request a page sends when the visitor leaves it is accepted (Voilà
    0.5.13 does not set it: the request is refused and the page's kernel
    stays until culled).

    Voilà serving a folder answers ``/`` with its file list; the dashboard's
    visitors should land on ``index.ipynb`` instead. Voilà has no setting for
    that, so this runs a subclass of :class:`voila.app.Voila` whose handlers
    start with a :class:`tornado.web.RedirectHandler`; every other option and
    ``voila.json`` apply unchanged (traitlets reads the ``Voila`` section for
    the subclass). ``python -m attr_utils.dashboard --serve-voila ARGS`` calls it.
    """
    import inspect

    from jupyter_server.utils import url_path_join
    from tornado.web import RedirectHandler
    from voila.app import Voila
    from voila.tornado.handler import TornadoVoilaHandler

    class PageHandler(TornadoVoilaHandler):
        async def prepare(self, *args, **kwargs):
            result = super().prepare(*args, **kwargs)
            if inspect.isawaitable(result):
                await result
            # Set the `_xsrf` cookie: when a visitor leaves the page, its script posts the kernel's shutdown
            # with the cookie's value; without the cookie the post is refused (403 "_xsrf argument missing")
            # and the kernel lives on until culled (measured: benchmarks/README.md, dashboard section).
            self.xsrf_token  # noqa: B018 - tornado sets the cookie when the token is first read

    class DashboardVoila(Voila):
        def init_handlers(self):
            landing = url_path_join(self.server_url, "voila/render", LANDING)
            redirects = [
                (url_path_join(self.server_url, pattern), RedirectHandler, {"url": landing, "permanent": False})
                for pattern in ("/?", "/voila/tree/?")
            ]
            handlers = [
                (rule[0], PageHandler, *rule[2:]) if len(rule) > 1 and rule[1] is TornadoVoilaHandler else rule
                for rule in super().init_handlers()
            ]
            return redirects + handlers

    DashboardVoila.launch_instance(argv=argv)


def _lock_path(port: int) -> Path:
    """This user's lock file for a dashboard on ``port`` (in the temporary folder: machine-wide, whatever the cache)."""
    import tempfile

    uid = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    return Path(tempfile.gettempdir()) / f"attr-utils-dashboard-{uid}-{port}.lock"


def _claim_port(port: int):
    """Lock ``port`` for this dashboard: the open lock file, or the other holder's record (a dict) when taken.

    The lock (``fcntl.flock``) belongs to the open file, which :func:`run`
    hands to Voilà across ``exec``: it is held while this process warms up
    and while Voilà serves, and released when Voilà exits, however it exits.
    Returns ``None`` where ``fcntl`` is missing (Windows): only the port check applies there.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return None
    path = _lock_path(port)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:  # no writable temporary folder: only the port check applies
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            os.close(fd)
            raise
        try:
            with open(path, encoding="utf-8") as fh:
                record = json.load(fh)
        except (OSError, ValueError):
            record = {}
        os.close(fd)
        return record if isinstance(record, dict) else {}
    return fd


def _write_record(fd, **record) -> None:
    """Say in the lock file who holds it (pid, URL, state) for a second start to report."""
    if fd is None:
        return
    data = json.dumps({"pid": os.getpid(), **record}).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _port_free(host: str, port: int) -> bool:
    """Whether a server could listen on ``host:port`` now (bound with SO_REUSEADDR, as Voilà's tornado does)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return True  # let Voilà report the bad address
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError:
            return False
    return True


def _choose_port(host: str, port: int, *, tries: int = PORT_TRIES):
    """``(port, lock, None)`` for the first usable port from ``port``, or ``(port, None, record)`` when a dashboard holds it.

    A port locked by another attr-utils dashboard (warming up or serving)
    stops the search: that dashboard is the answer. A port some other
    program listens on is skipped; after ``tries`` busy ports the last one
    is returned and Voilà reports the error.
    """
    for candidate in range(port, min(port + tries, 65536)):
        lock = _claim_port(candidate)
        if isinstance(lock, dict):
            return candidate, None, lock
        if _port_free(host, candidate):
            return candidate, lock, None
        if lock is not None:
            os.close(lock)
    return port, None, None


def warm_steps(params=None, *, progress: bool = True) -> list[tuple[str, object]]:
    """What the pages compute when they open, as ``(title, function)`` steps to run before the server starts.

    Each step calls the same API function with the same arguments as the
    notebook whose page it prepares, so its results land in the caches the
    page then reads: the embedding cache (every page; the every-layer
    embedding of ``01b``) and the UMAP coordinate cache
    (:mod:`attr_utils.analysis.umap_cache`; ``02`` clusters a UMAP of every
    block, ``03`` draws every block in 2-D and 3-D, ``04`` fits a UMAP per
    fold, dimension and protocol for Table 2) and the analysis result cache
    (:mod:`attr_utils.analysis.result_cache`: ``01b``'s probes of every layer
    and its CKA matrix). The kNN and HDBSCAN computations left to the pages
    take seconds.

    Parameters
    ----------
    params : NotebookParams, optional
        The notebooks' parameters (default: :func:`attr_utils.apps.session.notebook_params`,
        from the environment, as Voilà's kernels read them).
    progress : bool, default=True
        Show the embedder's progress bar when images go through the network.

    Returns
    -------
    list of (str, callable)
        Run in order; the first one loads the embeddings the others use.
    """
    from attr_utils.apps.session import notebook_params

    params = params or notebook_params()
    state: dict = {}

    def embeddings():
        from attr_utils.apps.session import attribute_columns, load_notebook_embeddings

        state["emb"] = emb = load_notebook_embeddings(params, progress=progress)
        state["labels"] = attribute_columns(emb)

    def table1():  # 01 and 04 start from the best block of each label
        from attr_utils.analysis import block_accuracy, recommend_blocks

        emb = state["emb"]
        state["best"] = recommend_blocks([block_accuracy(emb, label) for label in state["labels"]])

    def clustering():  # 02: clustering_metrics(emb, label, space="both") for every label
        from attr_utils.analysis import clustering_metrics

        for label in state["labels"]:
            clustering_metrics(state["emb"], label, space="both")

    def explorer(n_components):  # 03: the explorer's default UMAP settings, for every block it offers
        from attr_utils.analysis import umap_embedding

        def step():
            for block in state["emb"].block_names:
                umap_embedding(state["emb"], block=block, n_components=n_components)

        return step

    def sweep():  # 04: reduction_sweep(emb, label, block=best[label], dims=dims) for every label
        from attr_utils.analysis import reduction_sweep

        dims = [2, 8] if params.smoke else [2, 4, 8, 16]
        for label in state["labels"]:
            reduction_sweep(state["emb"], label, block=state["best"][label], dims=dims)

    def every_layer():  # 01b: embed(..., model=ModelSpec(backbone, weights, taps="all"))
        import contextlib
        import io

        from attr_utils.apps.session import load_notebook_dataset
        from attr_utils.embedder import embed
        from attr_utils.model import ModelSpec

        model = ModelSpec(params.backbone, params.weights, taps="all")
        with contextlib.redirect_stdout(io.StringIO()):
            state["every_layer"] = embed(load_notebook_dataset(params), model=model, engine=params.engine,
                                         progress=progress)

    def probes():  # 01b: probe_layers(emb, label) for every label, cka_matrix(emb) (cached results)
        from attr_utils.analysis import cka_matrix, probe_layers

        emb = state["every_layer"]
        for label in state["labels"]:
            probe_layers(emb, label)
        cka_matrix(emb)

    return [
        ("embeddings (every page)", embeddings),
        ("kNN per block (01, 04)", table1),
        ("UMAP + HDBSCAN per block (02)", clustering),
        ("UMAP explorer 2-D (03)", explorer(2)),
        ("UMAP explorer 3-D (03)", explorer(3)),
        ("Table 2 reduction sweep (04)", sweep),
        ("every-layer embedding (01b)", every_layer),
        ("kNN and linear probes of every layer, CKA (01b)", probes),
    ]


def warm_cache(*, params=None, progress: bool = True, file=None):
    """Run :func:`warm_steps` with a progress bar (tqdm) on ``file`` (default stderr).

    Generates the default catalog if needed, embeds it, and fills the caches
    every page reads when it opens (see :func:`warm_steps`); a second run
    finds everything cached and takes seconds. A step that fails after the
    embeddings (an analysis whose defaults do not fit a user's dataset, say)
    is reported in one line and skipped: its page shows the error itself.

    Parameters
    ----------
    params : NotebookParams, optional
        Default: from the environment, as the pages read them.
    progress : bool, default=True
        Show the progress bar (and the embedder's).
    file : file-like, optional
        Where the bar goes (default ``sys.stderr``).

    Returns
    -------
    Embeddings
        The embeddings every page starts from.

    Raises
    ------
    AttrUtilsError
        The dataset cannot be loaded or embedded (the first step).
    """
    from tqdm.auto import tqdm

    from attr_utils.apps.session import load_notebook_embeddings, notebook_params

    params = params or notebook_params()
    steps = warm_steps(params, progress=progress)
    skipped: list[str] = []
    bar = tqdm(total=len(steps), desc="Warming up", unit="step", disable=not progress, file=file or sys.stderr,
               dynamic_ncols=True)
    with bar:
        for i, (title, step) in enumerate(steps):
            bar.set_postfix_str(title, refresh=True)
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - a page's own error is the page's to show
                if i == 0:  # no embeddings: no page can work, as before the warm-up covered the pages
                    raise
                skipped.append(title)
                bar.write(f"warm-up: skipped {title}: {type(exc).__name__}: {' '.join(str(exc).split())} "
                          "(that page computes it when opened)", file=file or sys.stderr)
            bar.update(1)
    return load_notebook_embeddings(params, progress=False)


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

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == [SERVE_FLAG]:
        serve(argv[1:])
        return 0
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
    voila_command(notebooks, port=args.port, host=args.host)  # validates --port and --host before anything runs
    port, lock, holder = _choose_port(args.host, args.port)
    if holder is not None:
        url = holder.get("url") or landing_url(args.host, port)
        state = holder.get("state", "running")
        pid = f", pid {holder['pid']}" if holder.get("pid") else ""
        print(
            f"An attr-utils dashboard is already {state} on port {port}{pid}: {url} "
            f"(stop it with Ctrl+C in its terminal, or start another with --port {port + 1})",
            flush=True,
        )
        if not args.no_browser:
            _open_browser_when_ready(url)
        return 0
    if port != args.port:
        print(f"Port {args.port} is in use by another program; using port {port}.", flush=True)
    url = landing_url(args.host, port)
    cmd = voila_command(notebooks, port=port, host=args.host)
    if not _is_loopback(args.host):
        print(
            f"warning: binding to {args.host}: anyone who can reach this address can use the dashboard "
            "(it has no login)",
            file=sys.stderr,
        )
    if not args.no_warm:
        _write_record(lock, url=url, state="warming up")
        print("Preparing the catalog, the embeddings and every page's results (only slow the first time)...",
              flush=True)
        started = time.perf_counter()
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        from attr_utils.native_logs import filter_native_stderr

        with filter_native_stderr():  # TensorFlow's CUDA probing lines, when the catalog is embedded
            emb = warm_cache()
        print(f"Ready in {time.perf_counter() - started:.0f} s: {len(emb)} images, {emb.provenance}", flush=True)
    _write_record(lock, url=url, state="running")
    print(f"Dashboard: {url}  (Ctrl+C to stop)", flush=True)
    if not args.no_browser:
        _open_browser_when_ready(url)
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        # become Voilà: Ctrl+C and SIGTERM reach it directly, and it shuts its kernels down;
        # the lock file stays open (and locked) in Voilà until it exits
        if lock is not None:
            os.set_inheritable(lock, True)
        try:
            os.execve(cmd[0], cmd, env)
        except BaseException:  # not replaced: release the port
            if lock is not None:
                os.close(lock)
            raise
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 0
    finally:
        if lock is not None:
            os.close(lock)


if __name__ == "__main__":
    sys.exit(main())
