"""First render time and kernel memory of every dashboard page, after the warm-up (issue 18).

Starts ``python -m attr_utils.dashboard`` (the warm-up of ``make dashboard``,
then Voilà) on a free port, waits until it prints its URL, then opens every
notebook's page once in headless Chromium (Playwright, ``/usr/bin/chromium``
or ``$ATTR_UTILS_CHROMIUM``) and measures:

* ``first_render_s``: from the request until the page is rendered (Voilà has
  run every cell and shown them, and the page's figure or app is drawn);
* ``kernel_rss_mb``: resident memory of the kernel Voilà started for that
  page, right after it rendered (``/proc/PID/status`` VmRSS), i.e. what one
  visitor holding that page open costs;
* ``upload_rss_mb``: the same kernel's memory after an image is uploaded to
  the retrieval app (05), which embeds it in the kernel (``upload_loaded``:
  whether TensorFlow or OpenVINO was loaded for it);
* ``kernel_alive_20s_after_leaving``: whether Voilà still ran the page's
  kernel 20 s after the visitor left it (``--leave navigate``, the default:
  the tab goes to another address; ``--leave close``: the tab is closed).

Each page is left before the next one opens, in the same tab (``--leave``). Prints one JSON document on stdout; progress on stderr.

Usage::

    python benchmarks/bench_dashboard.py                     # the default full catalog, the user's cache
    python benchmarks/bench_dashboard.py --smoke 10          # 10 images per class (ATTR_UTILS_SMOKE)
    python benchmarks/bench_dashboard.py --cache DIR         # a fresh cache: measures the cold warm-up too

Needs the ``playwright`` Python package and Chromium (the ``dev`` extra and
Debian's ``chromium``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
#: What shows that a page is drawn, beyond Voilà's own "cells shown" (figures and apps render after).
READY = {
    "01_block_accuracy.ipynb": ".js-plotly-plot .main-svg",
    "01b_probe.ipynb": ".js-plotly-plot .main-svg",
    "02_clustering.ipynb": ".js-plotly-plot .main-svg",
    "03_umap_explorer.ipynb": ".attr-utils-umap-explorer .scatterlayer .point",
    "04_reduced_space.ipynb": ".js-plotly-plot .main-svg",
    "05_retrieval_app.ipynb": ".attr-utils-result-grid",
    "06_extractor_app.ipynb": ".attr-utils-prediction",
    "08_catalog_audit.ipynb": ".widget-gridbox img",
}
TIMEOUT_MS = 600_000


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chromium() -> str:
    for path in (os.environ.get("ATTR_UTILS_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"):
        if path and os.path.isfile(path):
            return path
    raise SystemExit("no Chromium: install Debian's chromium or set ATTR_UTILS_CHROMIUM")


def children(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (Voilà's kernels)."""
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.add(int(entry.name))
    return out


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def loaded(pid: int, library: str) -> bool:
    """Whether process ``pid`` has a shared library whose path contains ``library`` mapped (e.g. TensorFlow)."""
    try:
        return library in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def machine() -> dict:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    mem = None
    try:
        mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "memory_mb": mem, "load_avg_at_start": [round(x, 2) for x in load] if load else None}


def start_dashboard(port: int, env: dict, log_path: Path) -> tuple[subprocess.Popen, float]:
    started = time.perf_counter()
    with open(log_path, "wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "attr_utils.dashboard", "--no-browser", "--port", str(port)],
            cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
        )
    marker = "Dashboard: "
    while marker not in log_path.read_text(errors="replace"):
        if proc.poll() is not None:
            raise SystemExit(f"the dashboard exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.5)
    warm = time.perf_counter() - started
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    while True:  # the URL is printed just before Voilà starts listening; `/` answers a redirect (no kernel started)
        try:
            opener.open(f"http://127.0.0.1:{port}/", timeout=120).close()
            break
        except urllib.error.HTTPError:
            break
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"Voilà exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}") from None
            time.sleep(0.5)
    return proc, warm


def upload_to_retrieval_app(page, tmp: Path) -> None:
    from PIL import Image

    image = tmp / "query.png"
    Image.new("RGB", (64, 48), (30, 60, 200)).save(image)
    app = page.locator(".attr-utils-retrieval-app")
    with page.expect_file_chooser() as chooser:
        app.locator("button.attr-utils-upload-button", has_text="Upload an image").click()
    chooser.value.set_files(str(image))
    page.wait_for_function(
        "() => document.querySelector('.attr-utils-retrieval-app').innerText.includes('Uploaded: query.png')",
        timeout=TIMEOUT_MS,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", type=int, default=None, help="images per class (ATTR_UTILS_SMOKE); default: the full catalog")
    p.add_argument("--cache", default=None, help="attr-utils cache folder for the run (default: the user's)")
    p.add_argument("--pages", default=None, help="comma-separated notebooks (default: every one, index first)")
    p.add_argument("--no-upload", action="store_true", help="skip the upload that loads TensorFlow in a kernel")
    p.add_argument("--leave", choices=["navigate", "close"], default="navigate",
                   help="how a page is left: navigate away in the same tab (default) or close the tab")
    args = p.parse_args(argv)

    env = dict(os.environ)
    env.pop("ATTR_UTILS_SMOKE", None)
    if args.smoke:
        env["ATTR_UTILS_SMOKE"] = str(args.smoke)
    if args.cache:
        env["ATTR_UTILS_CACHE"] = str(Path(args.cache).resolve())
    pages = args.pages.split(",") if args.pages else (
        ["index.ipynb"] + sorted(p.name for p in NOTEBOOKS.glob("*.ipynb") if p.name != "index.ipynb"))
    port = free_port()
    result = {"machine": machine(), "smoke": args.smoke, "cache": args.cache or "the user's default", "pages": []}
    tmp = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    log_path = tmp / "dashboard.log"
    log(f"starting the dashboard on port {port} (log: {log_path})")
    proc, warm = start_dashboard(port, env, log_path)
    result["warm_up_s"] = round(warm, 1)
    log(f"warm-up done in {warm:.1f} s; server up")
    result["server_rss_mb"] = rss_mb(proc.pid)
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium(), args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1400, "height": 1100})  # one tab, as one visitor
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            for name in pages:
                before = children(proc.pid)
                errors.clear()
                if args.leave == "close" and page.is_closed():
                    page = browser.new_page(viewport={"width": 1400, "height": 1100})
                    page.on("pageerror", lambda exc: errors.append(str(exc)))
                t0 = time.perf_counter()
                page.goto(f"http://127.0.0.1:{port}/voila/render/{name}", timeout=TIMEOUT_MS)
                page.wait_for_selector("#rendered_cells", state="visible", timeout=TIMEOUT_MS)
                if name in READY:
                    page.wait_for_selector(READY[name], timeout=TIMEOUT_MS)
                seconds = time.perf_counter() - t0
                kernels = sorted(children(proc.pid) - before)
                row = {"page": name, "first_render_s": round(seconds, 1),
                       "kernel_rss_mb": sum(rss_mb(k) or 0 for k in kernels) or None, "page_errors": list(errors)}
                if name == "05_retrieval_app.ipynb" and not args.no_upload:
                    try:
                        t1 = time.perf_counter()
                        upload_to_retrieval_app(page, tmp)
                        row["upload_s"] = round(time.perf_counter() - t1, 1)
                        row["upload_rss_mb"] = sum(rss_mb(k) or 0 for k in kernels) or None
                        row["upload_loaded"] = {lib: any(loaded(k, lib) for k in kernels)
                                                for lib in ("libtensorflow", "libopenvino")}
                    except Exception as exc:  # the page changed: report, keep measuring the others
                        row["upload_error"] = f"{type(exc).__name__}: {exc}"[:300]
                log(json.dumps(row))
                result["pages"].append(row)
                if args.leave == "close":
                    page.close(run_before_unload=True)
                else:  # the visitor follows a link: the page unloads (Voilà's beforeunload beacon), the tab lives on
                    page.goto("about:blank")
                deadline = time.monotonic() + 20  # let Voilà shut the page's kernel down before the next page
                while set(kernels) & children(proc.pid) and time.monotonic() < deadline:
                    time.sleep(0.5)
                row["kernel_alive_20s_after_leaving"] = bool(set(kernels) & children(proc.pid))
            browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    result["slowest_first_render_s"] = max(r["first_render_s"] for r in result["pages"])
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
