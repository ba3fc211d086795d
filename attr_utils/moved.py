"""Module paths that moved in attr-utils 0.2, kept importable for one release.

0.2 split the package into a thin core (embedding, cache, backbones, data)
and wings behind install extras (``docs/architecture.md``). Every module path
of 0.1 still imports: it returns the module at its new path and emits a
:class:`DeprecationWarning` naming that path. The aliases go in 0.3
(scikit-learn's two-release deprecation cycle). ``attr_utils.retrieval``
itself did not move: it is now the retrieval wing's package, which exports
the same names (``Catalog``, ``search``, ``evaluate_retrieval``, ...).

Why an import alias rather than a re-export file at each old path: the alias
*is* the new module, so ``isinstance`` checks, ``monkeypatch.setattr(
"attr_utils.distributed.CONNECT_TIMEOUT", ...)`` and module-level state keep
working exactly as before, where a ``from new import *`` file would copy the
names and silently ignore a patch; and one table, below, lists every move.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

__all__ = ["MOVED_MODULES", "install"]

#: old module path (0.1) -> new module path (0.2)
MOVED_MODULES: dict[str, str] = {
    "attr_utils.index": "attr_utils.retrieval.index",
    "attr_utils.streaming": "attr_utils.retrieval.index_from_cache",
    "attr_utils.attribute_extractor": "attr_utils.retrieval.extractor",
    "attr_utils.distributed": "attr_utils.scale.distributed",
    "attr_utils.apps.params": "attr_utils.apps.session",
    "attr_utils.torch_legacy": "attr_utils.backbones.torch_legacy",
}


#: new module path -> its own spec (write-once: the same value whichever thread writes it)
_REAL_SPECS: dict = {}


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolve an old path to the module at its new path, with a warning."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED_MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        new = MOVED_MODULES[spec.name]
        warnings.warn(
            f"{spec.name} moved to {new} in attr-utils 0.2; import it from there "
            "(the old path is removed in 0.3)",
            DeprecationWarning,
            stacklevel=2,  # importlib's own frames are skipped: this names the importing line
        )
        module = importlib.import_module(new)
        _REAL_SPECS[new] = module.__spec__
        return module

    def exec_module(self, module):
        # the import system has just set ``module.__spec__`` to the alias's
        # spec: give the real module its own back (reload and pickling use it)
        module.__spec__ = _REAL_SPECS[module.__name__]


def install() -> None:
    """Put the alias finder first on :data:`sys.meta_path` (idempotent).

    First, so that a stale file left at an old path by an earlier install
    can never shadow the module that replaced it.
    """
    if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _MovedModuleFinder())
