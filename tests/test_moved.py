"""Old module paths (attr-utils 0.1) still import, warn, and are the new modules."""

import importlib
import subprocess
import sys

import pytest

import attr_utils
from attr_utils.moved import MOVED_MODULES

# every public module path of 0.1 with one name users import from it
OLD_PATHS = {
    "attr_utils.index": "build_index",
    "attr_utils.streaming": "build_index_from_cache",
    "attr_utils.attribute_extractor": "AttributeExtractor",
    "attr_utils.distributed": "embed_on_cluster",
    "attr_utils.apps.params": "notebook_params",
    "attr_utils.torch_legacy": "load_state_dict",
}


def test_the_table_lists_every_old_path():
    assert set(MOVED_MODULES) == set(OLD_PATHS)


@pytest.mark.parametrize("old", sorted(OLD_PATHS))
def test_old_path_imports_the_new_module_with_a_deprecation_warning(old):
    # a fresh interpreter: the warning fires on the first import only
    code = (
        "import warnings, importlib; warnings.simplefilter('error', DeprecationWarning)\n"
        f"try:\n    importlib.import_module({old!r})\nexcept DeprecationWarning as w:\n    print(w)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert f"{old} moved to {MOVED_MODULES[old]}" in out


@pytest.mark.parametrize("old", sorted(OLD_PATHS))
def test_old_path_is_the_same_module_object(old):
    with pytest.warns(DeprecationWarning):
        sys.modules.pop(old, None)
        module = importlib.import_module(old)
    new = importlib.import_module(MOVED_MODULES[old])
    assert module is new
    assert module.__spec__.name == MOVED_MODULES[old]  # the real spec, not the alias's
    assert hasattr(module, OLD_PATHS[old])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_patching_an_old_path_patches_the_real_module(monkeypatch):
    monkeypatch.setattr("attr_utils.distributed.CONNECT_TIMEOUT", 12345)
    from attr_utils.scale import distributed

    assert distributed.CONNECT_TIMEOUT == 12345


@pytest.mark.parametrize(
    "path, name",
    [
        ("attr_utils.retrieval", "Catalog"),
        ("attr_utils.retrieval", "search"),
        ("attr_utils.retrieval", "evaluate_retrieval"),
        ("attr_utils.retrieval", "resolve_blocks"),
        ("attr_utils.images", "decode_image"),
        ("attr_utils.datasets", "load_dataset"),
        ("attr_utils.errors", "AttrUtilsError"),
        ("attr_utils.analysis", "block_accuracy"),
        ("attr_utils.apps", "retrieval_app"),
    ],
)
def test_unmoved_public_paths_still_import_without_warning(path, name, recwarn):
    module = importlib.import_module(path)
    assert getattr(module, name) is not None
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning) and "attr_utils" in str(w.message)]


def test_every_top_level_export_resolves():
    for name in attr_utils.__all__:
        assert getattr(attr_utils, name) is not None, name
