"""The dashboard as part of the package: which notebooks it serves, its CLI command, and what the wheel carries."""

from __future__ import annotations

import importlib.resources
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from attr_utils import dashboard
from attr_utils.dashboard import notebooks_dir, voila_command

ROOT = Path(__file__).resolve().parents[1]


def _landing(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.ipynb").write_text("{}")
    return folder


# -- which notebooks ------------------------------------------------------------------------------------------------------
def test_notebooks_dir_explicit_folder_wins(tmp_path):
    _landing(tmp_path / "repo" / "notebooks")
    assert notebooks_dir(tmp_path / "mine", package_dir=tmp_path / "repo" / "attr_utils") == tmp_path / "mine"


def test_notebooks_dir_prefers_the_checkout(tmp_path):
    checkout = _landing(tmp_path / "repo" / "notebooks")
    _landing(tmp_path / "repo" / "attr_utils" / "notebooks")
    assert notebooks_dir(package_dir=tmp_path / "repo" / "attr_utils") == checkout


def test_notebooks_dir_uses_the_installed_copy_without_a_checkout(tmp_path):
    site = tmp_path / "site-packages"
    installed = _landing(site / "attr_utils" / "notebooks")
    assert notebooks_dir(package_dir=site / "attr_utils") == installed
    (site / "notebooks").mkdir()  # some other project's folder beside the package, with no landing page
    assert notebooks_dir(package_dir=site / "attr_utils") == installed


def test_notebooks_dir_default_is_this_checkout():
    assert notebooks_dir() == ROOT / "notebooks"
    assert (notebooks_dir() / "voila.json").is_file()


def test_voila_reads_its_settings_from_the_notebooks_folder(tmp_path):
    cmd = voila_command(tmp_path, port=9001)
    assert str(tmp_path) in cmd and f"--Voila.config_file_paths={tmp_path}" in cmd


def test_voila_loads_the_safe_settings_from_the_notebooks_folder():
    """The command the dashboard runs makes Voilà read notebooks/voila.json (no file serving, no sources)."""
    voila_app = pytest.importorskip("voila.app")
    cmd = voila_command(notebooks_dir(), port=9123)
    assert cmd[1:4] == ["-m", "attr_utils.dashboard", dashboard.SERVE_FLAG]
    app = voila_app.Voila()
    app.initialize(cmd[4:])
    assert app.voila_configuration.file_denylist == [".*"] and app.voila_configuration.file_allowlist == []
    assert app.voila_configuration.strip_sources is True and app.voila_configuration.show_tracebacks is False
    assert app.port_retries == 0 and app.tornado_settings["websocket_max_message_size"] == 32 * 1024 * 1024


def test_py_typed_ships_with_the_package():
    assert importlib.resources.files("attr_utils").joinpath("py.typed").is_file()


# -- `attr-utils dashboard` == `python -m attr_utils.dashboard` -----------------------------------------------------------
def _options(parser) -> list[tuple]:
    return sorted((tuple(a.option_strings), a.default, a.type) for a in parser._actions if a.option_strings)


def test_cli_command_has_the_module_options():
    from attr_utils.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    assert _options(sub.choices["dashboard"]) == _options(dashboard._parser())


def test_cli_command_refuses_a_folder_without_landing_page(tmp_path, capsys):
    from attr_utils.cli import main

    assert main(["dashboard", "--notebooks", str(tmp_path), "--no-warm", "--no-browser"]) == 2
    assert f"no index.ipynb in {tmp_path}" in capsys.readouterr().err


@pytest.mark.parametrize("entry", ["module", "cli"])
def test_both_entry_points_start_voila_on_the_resolved_folder(monkeypatch, entry):
    started = []

    class Started(Exception):
        pass

    def fake_exec(path, cmd, env):
        started.append(cmd)
        raise Started

    monkeypatch.setattr(os, "execve", fake_exec)
    monkeypatch.setattr(dashboard.subprocess, "call", lambda cmd, env: fake_exec(None, cmd, env))
    argv = ["--no-warm", "--no-browser", "--port", "9002"]
    with pytest.raises(Started):
        if entry == "module":
            dashboard.main(argv)
        else:
            from attr_utils.cli import main

            main(["dashboard", *argv])
    (cmd,) = started
    folder = ROOT / "notebooks"
    assert cmd[:5] == [sys.executable, "-m", "attr_utils.dashboard", dashboard.SERVE_FLAG, str(folder)]
    assert f"--Voila.config_file_paths={folder}" in cmd and "--port=9002" in cmd


# -- the wheel -----------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of this checkout (the checkout gets no build/ or egg-info)."""
    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip(f"building the wheel needs setuptools>=77 (the dev extra), found {setuptools.__version__}")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
    for name in ("attr_utils", "notebooks"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(src), "-w", str(tmp / "dist")],
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    (path,) = (tmp / "dist").glob("attr_utils-*.whl")
    return path


def test_wheel_carries_notebooks_voila_config_and_py_typed(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("attr_utils/notebooks/index.ipynb", "attr_utils/notebooks/voila.json", "attr_utils/py.typed"):
        assert name in names
    shipped = {n.rsplit("/", 1)[1] for n in names if n.startswith("attr_utils/notebooks/") and n.endswith(".ipynb")}
    assert shipped == {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}


def test_wheel_core_requirements_pull_no_wing(wheel):
    from email.parser import Parser

    from tests.test_layout import WING_DISTRIBUTIONS, core_closure

    meta_name = next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".dist-info/METADATA"))
    meta = Parser().parsestr(zipfile.ZipFile(wheel).read(meta_name).decode())
    requires = meta.get_all("Requires-Dist")
    core = [r for r in requires if "extra ==" not in r]
    assert {"numpy", "pandas", "pyarrow", "pillow", "keras"} <= {r.split("<")[0].split(">")[0].split("=")[0] for r in core}
    pulled = core_closure(core)
    assert not set(pulled) & WING_DISTRIBUTIONS, sorted(set(pulled) & WING_DISTRIBUTIONS)


def test_installed_wheel_serves_its_own_notebooks(wheel, tmp_path):
    """Unpacked like pip installs it, with no checkout around: the dashboard finds attr_utils/notebooks."""
    site = tmp_path / "site-packages"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        "import attr_utils, attr_utils.dashboard as d; nb = d.notebooks_dir(); "
        "print(attr_utils.__file__); print(nb); print(d.voila_command(nb)[-2])"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    package_file, folder, config = out.stdout.split("\n")[:3]
    assert Path(package_file).parent == site / "attr_utils"
    assert Path(folder) == site / "attr_utils" / "notebooks"
    assert (Path(folder) / "index.ipynb").is_file() and (Path(folder) / "voila.json").is_file()
    assert config == f"--Voila.config_file_paths={folder}"


# -- one dashboard per port, and `/` lands on the landing page ----------------------------------------------------------
def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fake_exec(monkeypatch):
    started = []

    class Started(Exception):
        pass

    def fake_exec(path, cmd, env):
        started.append(cmd)
        raise Started

    monkeypatch.setattr(os, "execve", fake_exec)
    monkeypatch.setattr(dashboard.subprocess, "call", lambda cmd, env: fake_exec(None, cmd, env))
    return started, Started


def test_a_port_held_by_another_program_is_skipped_and_the_served_port_printed(monkeypatch, capsys):
    import socket

    started, Started = _fake_exec(monkeypatch)
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        busy = other.getsockname()[1]
        with pytest.raises(Started):
            dashboard.main(["--no-warm", "--no-browser", "--port", str(busy)])
    (cmd,) = started
    served = int(next(a for a in cmd if a.startswith("--port=")).split("=")[1])
    assert served != busy and busy < served <= busy + dashboard.PORT_TRIES
    out = capsys.readouterr().out
    assert f"Port {busy} is in use by another program; using port {served}." in out
    assert f"Dashboard: http://127.0.0.1:{served}/voila/render/index.ipynb" in out


def test_a_second_start_while_one_warms_up_says_so_in_one_line(monkeypatch, capsys):
    started, _ = _fake_exec(monkeypatch)
    port = _free_port()
    first = dashboard._claim_port(port)  # what the first `make dashboard` holds while it warms up
    assert isinstance(first, int)
    try:
        url = dashboard.landing_url("127.0.0.1", port)
        dashboard._write_record(first, url=url, state="warming up")
        assert dashboard.main(["--no-warm", "--no-browser", "--port", str(port)]) == 0
    finally:
        os.close(first)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and started == []
    assert f"already warming up on port {port}, pid {os.getpid()}: {url}" in out
    # released: the next start gets the port
    lock = dashboard._claim_port(port)
    assert isinstance(lock, int)
    os.close(lock)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A real dashboard (no warm-up) on a tiny notebook folder: its port and its process."""
    pytest.importorskip("voila")
    import json as _json
    import signal
    import time
    import urllib.request

    folder = tmp_path_factory.mktemp("notebooks")
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# landing"]}], "metadata": {},
          "nbformat": 4, "nbformat_minor": 5}
    (folder / "index.ipynb").write_text(_json.dumps(nb))
    shutil.copy2(ROOT / "notebooks" / "voila.json", folder / "voila.json")
    port = _free_port()
    log = folder.parent / "served.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "attr_utils.dashboard", "--no-warm", "--no-browser", "--port", str(port),
             "--notebooks", str(folder)],
            cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/voila/render/index.ipynb", timeout=5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.5)
        yield port, folder
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/", "/voila/tree", "/voila/tree/"])
def test_root_redirects_to_the_landing_page(served, path):
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    port, _ = served
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as info:
        opener.open(f"http://127.0.0.1:{port}{path}", timeout=10)
    assert info.value.code == 302
    assert info.value.headers["Location"] == "/voila/render/index.ipynb"
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as resp:  # followed: the landing page
        assert resp.status == 200 and resp.url.endswith("/voila/render/index.ipynb")


@pytest.mark.slow
def test_a_second_start_while_one_serves_says_so_in_one_line(served):
    port, folder = served
    out = subprocess.run(
        [sys.executable, "-m", "attr_utils.dashboard", "--no-browser", "--port", str(port), "--notebooks", str(folder)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count("\n") == 1, out.stdout
    assert out.stdout.startswith(f"An attr-utils dashboard is already running on port {port}, pid ")
    assert f"http://127.0.0.1:{port}/voila/render/index.ipynb" in out.stdout


# -- the warm-up leaves every page's heavy results cached -----------------------------------------------------------------
HEAVY_PAGES = ["01_block_accuracy", "01b_probe", "02_clustering", "03_umap_explorer", "04_reduced_space"]


def _code_cells(name: str) -> list[str]:
    import json as _json

    nb = _json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


@pytest.mark.slow
def test_after_the_warm_up_no_page_fits_umap_or_probes_again(tmp_path, monkeypatch):
    """Run warm_cache, then every heavy notebook's code as Voilà would: a UMAP fit, a probe or a CKA computation
    that the warm-up did not leave in the cache fails the test (the notebook and warm_steps drifted apart)."""
    pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell

    from attr_utils.analysis import cka as cka_module
    from attr_utils.analysis import probe as probe_module
    from attr_utils.analysis import umap_cache
    from attr_utils.apps.session import notebook_params

    monkeypatch.setenv("ATTR_UTILS_SMOKE", "10")
    monkeypatch.setenv("ATTR_UTILS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ATTR_UTILS_ENGINE", raising=False)  # the pages' engine: auto
    params = notebook_params()
    dashboard.warm_cache(params=params, progress=False)

    def refit(*args, **kwargs):
        raise AssertionError("computed on the page although the warm-up should have cached it")

    monkeypatch.setattr(umap_cache, "import_umap", refit)
    monkeypatch.setattr(probe_module, "stratified_folds", refit)
    monkeypatch.setattr(cka_module, "linear_cka", refit)
    shell = InteractiveShell.instance()
    try:
        for name in HEAVY_PAGES:
            for source in _code_cells(name):
                result = shell.run_cell(source, silent=True)
                assert result.success, f"{name}: {result.error_in_exec or result.error_before_exec}\n{source}"
    finally:
        InteractiveShell.clear_instance()


def test_voila_culls_idle_kernels_even_with_a_page_open():
    """A visitor's page holds a kernel (0.16-0.34 GB; 0.85 GB after an upload with the Keras engine): idle ones
    go after 10 minutes, open tab or not, so 10 visitors fit in 8 GB (benchmarks/README.md, dashboard section)."""
    voila_app = pytest.importorskip("voila.app")
    app = voila_app.Voila()
    app.initialize(voila_command(notebooks_dir(), port=9124)[4:])
    from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager

    km = AsyncMappingKernelManager(config=app.config)  # the class Voilà's kernel manager derives from
    assert (km.cull_idle_timeout, km.cull_interval, km.cull_connected, km.cull_busy) == (600, 60, True, False)
    assert app.voila_configuration.preheat_kernel is False


def test_a_failing_warm_up_step_is_reported_and_skipped(monkeypatch):
    import io

    from attr_utils.errors import ParameterError

    ran = []

    def fails():
        raise ParameterError("`min_cluster_size`=50 is above half the 12 items")

    steps = [("embeddings (every page)", lambda: ran.append("emb")), ("UMAP + HDBSCAN per block (02)", fails),
             ("Table 2 reduction sweep (04)", lambda: ran.append("sweep"))]
    monkeypatch.setattr(dashboard, "warm_steps", lambda params, progress=True: steps)
    monkeypatch.setattr("attr_utils.apps.session.load_notebook_embeddings", lambda params, progress=True: "EMB")
    out = io.StringIO()
    assert dashboard.warm_cache(params=object(), file=out) == "EMB"
    assert ran == ["emb", "sweep"]
    assert ("warm-up: skipped UMAP + HDBSCAN per block (02): ParameterError: `min_cluster_size`=50 is above half "
            "the 12 items (that page computes it when opened)") in out.getvalue()
    steps[0] = ("embeddings (every page)", fails)
    with pytest.raises(ParameterError):  # without embeddings no page works: the start fails, as before
        dashboard.warm_cache(params=object(), file=io.StringIO())


@pytest.mark.slow
def test_leaving_a_page_can_shut_its_kernel_down(served):
    """A page sets the `_xsrf` cookie its unload beacon sends back, so Voilà accepts the kernel's shutdown
    (without it: 403 '_xsrf argument missing', and every page left kept its kernel until culled)."""
    import http.cookiejar
    import re
    import urllib.parse
    import urllib.request

    port, _ = served
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"http://127.0.0.1:{port}/voila/render/index.ipynb", timeout=120) as resp:
        html = resp.read().decode()
    xsrf = {c.name: c.value for c in jar}.get("_xsrf")
    assert xsrf, "the page set no _xsrf cookie"
    kernel = re.search(r'"kernelId":\s*"([0-9a-f-]+)"', html).group(1)
    body = urllib.parse.urlencode({"_xsrf": xsrf}).encode()  # what the page's beforeunload beacon posts
    with opener.open(f"http://127.0.0.1:{port}/voila/api/shutdown/{kernel}", data=body, timeout=60) as resp:
        assert resp.status == 204
