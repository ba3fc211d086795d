"""The package's layout holds: a thin core with wings (docs/architecture.md).

* installed metadata: a core install (no extras) pulls none of the wings' packages;
* a process that cannot import any wing package still imports every core
  module and writes and reads the cache;
* an AST check over attr_utils/ (imports inside functions too): every import
  goes along an allowed arrow, no import cycles, no private names reached
  across modules;
* the explicit package list of pyproject.toml misses no subpackage.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "attr_utils"

#: distributions a core install must not pull (each belongs to a wing's extra)
WING_DISTRIBUTIONS = {
    "anywidget",
    "bokeh",
    "dask",
    "distributed",
    "faiss-cpu",
    "faiss-gpu",
    "hdbscan",
    "ipywidgets",
    "jupyterlab",
    "plotly",
    "pynndescent",
    "scikit-learn",
    "scipy",
    "umap-learn",
    "voila",
}
#: import names of the wings' packages, refused in the core-import subprocess
WING_IMPORTS = (
    "anywidget",
    "bokeh",
    "dask",
    "distributed",
    "faiss",
    "hdbscan",
    "ipywidgets",
    "plotly",
    "scipy",
    "sklearn",
    "umap",
    "voila",
)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads pyproject.toml")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def core_closure(requirements: list[str]) -> dict[str, str | None]:
    """Every distribution a core install pulls: ``requirements`` without extras, then theirs, recursively.

    Uses the installed distributions' metadata (a distribution not installed
    here maps to None and is not followed).
    """
    from packaging.requirements import Requirement

    seen: dict[str, str | None] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue  # an extra's requirement (or another platform's)
        name = _norm(req.name)
        if name in seen:
            continue
        try:
            dist = importlib.metadata.distribution(req.name)
        except importlib.metadata.PackageNotFoundError:
            seen[name] = None
            continue
        seen[name] = dist.version
        todo.extend(Requirement(r) for r in dist.requires or [])
    return seen


# -- (a) metadata --------------------------------------------------------------------------------------------------------
def test_pyproject_core_dependencies_exclude_the_wings():
    project = _pyproject()["project"]
    core = {_norm(re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0]) for r in project["dependencies"]}
    assert not core & WING_DISTRIBUTIONS
    extras = project["optional-dependencies"]
    names = {k: " ".join(v) for k, v in extras.items()}
    # figures call analysis.summarize_accuracy, which needs scipy.stats
    assert "scipy" in names["viz"] and "plotly" in names["viz"]
    assert "scipy" in names["analysis"] and "threadpoolctl" in names["analysis"]
    assert "faiss-cpu" in names["search"] and "dask[distributed]" in names["scale"]


def test_installed_core_requirements_pull_no_wing():
    dist = importlib.metadata.distribution("attr-utils")
    if dist.version != _pyproject()["project"]["version"]:
        pytest.skip(f"installed attr-utils {dist.version} is not this checkout's version: reinstall (make test does)")
    core = [r for r in dist.requires or [] if "extra ==" not in r]
    assert core, "the installed metadata lists no core requirement"
    pulled = core_closure(core)
    assert not set(pulled) & WING_DISTRIBUTIONS, sorted(set(pulled) & WING_DISTRIBUTIONS)


def test_package_list_misses_no_subpackage():
    setuptools = pytest.importorskip("setuptools")
    cfg = _pyproject()["tool"]["setuptools"]
    listed = set(cfg["packages"])
    found = set(setuptools.find_packages(str(ROOT), include=["attr_utils*"]))
    assert found <= listed, f"add {sorted(found - listed)} to [tool.setuptools] packages in pyproject.toml"
    assert cfg["package-dir"] == {"attr_utils.notebooks": "notebooks"}
    assert listed - found == {"attr_utils.notebooks"}, "listed packages that do not exist"


# -- (b) the core imports without the wings ------------------------------------------------------------------------------
_CORE_IMPORT_SCRIPT = """
import importlib, importlib.abc, sys, tempfile
from pathlib import Path

BLOCKED = set({blocked!r})

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} is a wing's package: the core must not import it")
        return None

sys.meta_path.insert(0, Refuse())
for name in {modules!r}:
    importlib.import_module(name)
import attr_utils.apps  # the apps package itself is lazy: no ipywidgets until an app is used

import numpy as np
from attr_utils.cache import EmbeddingCache

with tempfile.TemporaryDirectory() as tmp:
    store = EmbeddingCache(tmp).store({{"backbone": "toy", "weights": "random:0"}}, {{"block1": 3}})
    vectors = np.arange(6, dtype=np.float32).reshape(2, 3)
    store.write(["a" * 64, "b" * 64], {{"block1": vectors}})
    found, blocks = store.get(["b" * 64, "c" * 64])
    assert found.tolist() == [True, False], found
    assert blocks["block1"][0].tolist() == [3.0, 4.0, 5.0], blocks
loaded = sorted({{m.partition(".")[0] for m in sys.modules}} & BLOCKED)
assert not loaded, loaded
print("core ok", len({modules!r}))
"""


def test_core_imports_and_caches_without_any_wing_package(tmp_path):
    modules = sorted(m for m, layer in _layers().items() if layer in ("core", "synth") and m != "attr_utils.__main__")
    for required in ("attr_utils.embedder", "attr_utils.cache", "attr_utils.model", "attr_utils.backbones.auto"):
        assert required in modules
    script = _CORE_IMPORT_SCRIPT.format(blocked=WING_IMPORTS, modules=modules)
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=tmp_path,
        env={**_env(), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"core ok {len(modules)}" in out.stdout


def _env() -> dict:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


# -- (c) layering by AST -------------------------------------------------------------------------------------------------
#: layer of each module: the first matching prefix wins (longest first); everything else is core
LAYER_PREFIXES = {
    "attr_utils.retrieval": "retrieval",
    "attr_utils.analysis": "analysis",
    "attr_utils.analysis.pooling_study": "analysis",  # Table 1 per pooling (issue 19): analysis only, no retrieval
    "attr_utils.scale": "scale",
    "attr_utils.figures": "figures",
    "attr_utils.apps": "apps",
    "attr_utils.reproduce": "reproduce",
    "attr_utils.dashboard": "apps",
    "attr_utils.notebooks": "apps",
    "attr_utils.synth": "synth",
    "attr_utils.cli": "cli",
    "attr_utils.__main__": "cli",
}
#: the one-way arrows: layer -> the layers it may import (docs/architecture.md)
ALLOWED = {
    "core": {"core"},
    "retrieval": {"core", "retrieval"},
    "analysis": {"core", "analysis"},
    "scale": {"core", "scale"},
    "synth": {"core", "synth"},
    "figures": {"core", "figures", "analysis"},  # figures draw analysis summaries
    "apps": {"core", "apps", "retrieval", "analysis", "figures", "synth"},
    "reproduce": {"core", "reproduce", "retrieval", "analysis", "figures"},  # the paper's report, above the wings
    "cli": {"core", "cli", "retrieval", "analysis", "scale", "figures", "apps", "synth", "reproduce"},
}

def _modname(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _sources() -> dict[str, tuple[Path, ast.Module]]:
    return {_modname(p): (p, ast.parse(p.read_text(), str(p))) for p in sorted(PACKAGE.rglob("*.py"))}


def _layer(module: str) -> str:
    for prefix in sorted(LAYER_PREFIXES, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return LAYER_PREFIXES[prefix]
    return "core"


def _layers() -> dict[str, str]:
    return {m: _layer(m) for m in _sources()}


def _imports(module: str, path: Path, tree: ast.Module, modules: set[str]):
    """``(target module, imported name or None, line)`` for every attr_utils import in ``tree``, at any depth.

    Imports under ``if TYPE_CHECKING:`` are skipped (they never run).
    """
    out = []

    def visit(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.split(".")[0] == "attr_utils":
                        out.append((alias.name, None, child.lineno))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                if target.split(".")[0] == "attr_utils":
                    for alias in child.names:
                        sub = f"{target}.{alias.name}"
                        if sub in modules:  # ``from pkg import submodule``
                            out.append((sub, None, child.lineno))
                        else:
                            out.append((target, alias.name, child.lineno))
            visit(child)

    visit(tree)
    return out


def _unit(module: str, packages: set[str]) -> str:
    """The module itself, or its subpackage below attr_utils (cycles are looked for between these units)."""
    parts = module.split(".")
    if len(parts) >= 2 and ".".join(parts[:2]) in packages:
        return ".".join(parts[:2])
    return module


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def strongconnect(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return found


def _private_definitions(tree: ast.Module) -> set[str]:
    """Private names a module defines: functions, classes, methods, module and ``self.`` attributes."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and isinstance(node.value, ast.Name):
            if node.value.id in ("self", "cls"):
                names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def layering_violations() -> set[str]:
    """Every violation of the layering rules in attr_utils/ today, as one line each."""
    sources = _sources()
    modules = set(sources)
    packages = {m for m, (p, _) in sources.items() if p.name == "__init__.py"}
    violations = set()
    graph: dict[str, set[str]] = {}
    for module, (path, tree) in sources.items():
        layer = _layer(module)
        for target, name, _line in _imports(module, path, tree, modules):
            target_layer = _layer(target)
            if target_layer not in ALLOWED[layer]:
                violations.add(f"layer: {module} ({layer}) imports {target} ({target_layer})")
            if target != module:
                graph.setdefault(_unit(module, packages), set()).add(_unit(target, packages))
            # a private name from another module; a private helper module only from inside its own package
            if name is not None and name.startswith("_") and not name.startswith("__"):
                violations.add(f"private: {module} imports {target}.{name}")
            private_module = next((p for p in target.split(".") if p.startswith("_") and not p.startswith("__")), None)
            if private_module is not None:
                owner = target.rsplit(".", 1)[0]
                if not (module == owner or module.startswith(owner + ".")):
                    violations.add(f"private: {module} imports {target}, private to {owner}")
    graph = {u: {w for w in ws if w != u} for u, ws in graph.items()}
    for component in _cycles(graph):
        violations.add("cycle: " + " -> ".join(component))
    # ``obj._name`` where ``_name`` is private to another attr_utils module
    defined = {m: _private_definitions(tree) for m, (_, tree) in sources.items()}
    owners: dict[str, set[str]] = {}
    for m, names in defined.items():
        for n in names:
            owners.setdefault(n, set()).add(m)
    imported_modules = {}
    for module, (path, tree) in sources.items():
        # names bound to attr_utils modules by ``import``/``from pkg import module``
        aliases = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("attr_utils"):
                for alias in node.names:
                    if f"{node.module}.{alias.name}" in modules:
                        aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("attr_utils") and alias.asname:
                        aliases[alias.asname] = alias.name
        imported_modules[module] = aliases
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")):
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            if isinstance(node.value, ast.Name) and node.value.id in aliases:
                target = aliases[node.value.id]
                if target != module:
                    violations.add(f"private: {module} uses {target}.{node.attr}")
                continue
            if node.attr in defined[module] or node.attr not in owners:
                continue  # the module's own private name, or not one of ours
            where = ", ".join(sorted(owners[node.attr]))
            violations.add(f"private: {module} uses .{node.attr} (defined in {where})")
    return violations


def test_no_layering_violation():
    """No upward import, no cycle between modules or packages, no private name reached across modules."""
    found = layering_violations()
    assert not found, "imports against docs/architecture.md:\n" + "\n".join(sorted(found))


def test_layering_check_catches_an_upward_import(tmp_path, monkeypatch):
    """The checker itself: a core module importing a wing, a cycle and a private reach-in are all reported."""
    pkg = tmp_path / "attr_utils"
    (pkg / "analysis").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "analysis" / "__init__.py").write_text("")
    (pkg / "analysis" / "accuracy.py").write_text("def _attrs():\n    pass\n")
    (pkg / "analysis" / "clustering.py").write_text("from attr_utils.analysis.accuracy import _attrs\n")
    (pkg / "cache.py").write_text("def f():\n    from attr_utils.analysis import clustering\n")
    (pkg / "embedder.py").write_text("import attr_utils.model\n")
    (pkg / "model.py").write_text("def g():\n    from attr_utils import embedder\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", pkg)
    assert layering_violations() == {
        "layer: attr_utils.cache (core) imports attr_utils.analysis.clustering (analysis)",
        "private: attr_utils.analysis.clustering imports attr_utils.analysis.accuracy._attrs",
        "cycle: attr_utils.embedder -> attr_utils.model",
    }


# -- lazy exports ---------------------------------------------------------------------------------------------------------
#: attr_utils.apps.X names of 0.1 and the module defining each (they must keep working)
APPS_EXPORTS = {
    "NotebookParams": "session",
    "notebook_params": "session",
    "load_notebook_dataset": "session",
    "load_notebook_embeddings": "session",
    "setup_notebook": "session",
    "attribute_columns": "session",
    "dataset_preview": "gallery",
    "provenance_banner": "banner",
    "provenance_html": "banner",
    "is_paper_setup": "banner",
    "image_grid": "gallery",
    "thumbnail_png": "gallery",
    "class_examples": "gallery",
    "MAX_UPLOAD_BYTES": "upload",
    "UploadError": "upload",
    "read_upload": "upload",
    "UploadButton": "upload_button",
    "RetrievalApp": "retrieval_app",
    "retrieval_app": "retrieval_app",
    "query_precision": "retrieval_app",
    "UmapExplorer": "umap_explorer",
    "umap_explorer": "umap_explorer",
    "ExtractorApp": "extractor_app",
    "extractor_app": "extractor_app",
}


def test_apps_exports_resolve_to_their_modules():
    import importlib

    import attr_utils.apps as apps

    assert sorted(apps.__all__) == sorted(APPS_EXPORTS)
    for name, module in APPS_EXPORTS.items():
        assert getattr(apps, name) is getattr(importlib.import_module(f"attr_utils.apps.{module}"), name), name
    # a factory named like its module stays the function once the module is imported
    assert callable(apps.retrieval_app) and apps.retrieval_app.__name__ == "retrieval_app"
    with pytest.raises(AttributeError):
        apps.no_such_app
