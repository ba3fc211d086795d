"""ModelSpec (one value for backbone, weights, resize, seed) and the embedder's runners."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import attr_utils as au
from attr_utils import backbones
from attr_utils.embedder import Embedder, LocalRunner, load_runner, model_signature
from attr_utils.embeddings import EmbedReport, Embeddings, Skipped
from attr_utils.errors import AttrUtilsError, CacheError, ParameterError
from attr_utils.model import ModelSpec
from tests.conftest import make_class_folder

ROOT = Path(__file__).resolve().parents[1]


# -- the spec -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backbone", "weights", "folder"),
    [
        # the folder names main computed before ModelSpec existed: the cache of every user stays valid
        ("resnet50", "random", "resnet50-ee57cc0754b4bd73"),
        ("efficientnet-lite0", None, "efficientnet-lite0-5c3fd21a6297f1a3"),
    ],
)
def test_cache_folder_name_is_unchanged(backbone, weights, folder, tmp_path):
    spec = ModelSpec(backbone, weights)
    assert f"{backbone}-{spec.signature_hash()[:16]}" == folder
    assert Embedder(model=spec, cache_dir=tmp_path).store.signature_id == folder
    assert Embedder(backbone, weights, cache_dir=tmp_path).store.signature_id == folder


def test_signature_equals_model_signature():
    spec = ModelSpec(weights="random:3", resize="pad")
    resolved = spec.resolve()
    assert spec.signature(resolved) == model_signature(resolved, "pad")
    assert spec.signature()["weights"] == f"random:3:{backbones.RANDOM_INIT_VERSION}"


def test_random_init_version_changes_the_signature(monkeypatch):
    before = ModelSpec(weights="random").signature_hash()
    monkeypatch.setattr(backbones, "RANDOM_INIT_VERSION", "numpy-glorot-v2")
    assert ModelSpec(weights="random").signature_hash() != before


def test_engine_is_not_part_of_the_spec():
    assert "engine" not in ModelSpec().to_dict()


def test_round_trip_through_a_dict():
    spec = ModelSpec("efficientnet-lite0", "random:2", resize="crop", seed=5)
    assert spec.to_dict() == {"backbone": "efficientnet-lite0", "weights": "random:2", "resize": "crop", "seed": 5, "taps": "blocks",
                              "pooling": "average", "mask": "auto"}
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ParameterError, match="unknown model spec keys"):
        ModelSpec.from_dict({"backbone": "resnet50", "engine": "keras"})


def test_spec_is_frozen_and_hashable():
    spec = ModelSpec()
    with pytest.raises(AttributeError):
        spec.resize = "pad"
    assert {spec: 1}[ModelSpec("resnet50")] == 1


def test_numpy_and_path_values_become_plain(tmp_path):
    spec = ModelSpec(weights=tmp_path / "w.h5", seed=np.int64(4), resize=np.str_("pad"))
    assert spec.weights == str(tmp_path / "w.h5") and type(spec.seed) is int and spec.seed == 4
    assert type(spec.resize) is str


@pytest.mark.parametrize(
    "options",
    [
        {"resize": "squash"},
        {"seed": -1},
        {"seed": 1.5},
        {"seed": True},
        {"taps": "layers"},
        {"backbone": 3},
        {"backbone": ""},
        {"weights": 3},
    ],
)
def test_invalid_spec(options):
    with pytest.raises(ParameterError):
        ModelSpec(**options)


def test_unknown_backbone_raises_when_resolved():
    from attr_utils.errors import BackboneError

    spec = ModelSpec("vgg16")
    with pytest.raises(BackboneError, match="unknown backbone"):
        spec.resolve()


def test_resolving_imports_no_tensorflow():
    code = textwrap.dedent(
        """
        import sys
        from attr_utils.model import ModelSpec
        spec = ModelSpec("efficientnet-lite0")
        r = spec.resolve()
        spec.signature(r); spec.pinned(r); spec.provenance(r)
        ModelSpec(weights="random").signature()
        print(sorted(m for m in ("tensorflow", "keras") if m in sys.modules))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_pinned_writes_out_auto_and_default_weights(monkeypatch):
    monkeypatch.delenv("ATTR_UTILS_WEIGHTS", raising=False)
    pinned = ModelSpec("efficientnet-lite0", resize="pad").pinned()
    assert pinned.backbone == "efficientnet-lite0" and pinned.weights == "imagenet" and pinned.resize == "pad"
    assert ModelSpec(weights="random", seed=7).pinned().weights == "random:7"
    assert ModelSpec(weights="random", seed=7).pinned().signature_hash() == ModelSpec(weights="random", seed=7).signature_hash()


def test_from_embeddings_reproduces_the_spec():
    emb = Embeddings.from_arrays({"block1": np.zeros((2, 3))})
    emb = Embeddings(table=emb.table, blocks=emb.blocks, backbone="resnet50", weights="random:3", weights_spec="random:3", resize="crop")
    assert ModelSpec.from_embeddings(emb) == ModelSpec("resnet50", "random:3", resize="crop")


def test_model_and_shorthands_are_exclusive(tmp_path):
    with pytest.raises(ParameterError, match="not both"):
        Embedder(model=ModelSpec(weights="random"), backbone="resnet50", cache_dir=tmp_path)
    with pytest.raises(ParameterError, match="not both"):
        au.embed(tmp_path, model=ModelSpec(weights="random"), resize="pad", cache_dir=tmp_path)
    with pytest.raises(ParameterError, match="not both"):
        au.embed_images([], model=ModelSpec(weights="random"), like=Embeddings.from_arrays({"b": np.zeros((1, 2))}))
    with pytest.raises(ParameterError, match="`model` must be"):
        Embedder(model={"backbone": "resnet50"}, cache_dir=tmp_path)


@pytest.mark.parametrize(("option", "value"), [("batch_size", 0), ("batch_size", "8"), ("on_error", "ignore")])
def test_invalid_embedder_options_are_parameter_errors(tmp_path, option, value):
    with pytest.raises(ParameterError, match=option):
        if option == "on_error":
            au.embed_images([b"x"], weights="random", cache_dir=tmp_path, on_error=value)
        else:
            Embedder(weights="random", cache_dir=tmp_path, **{option: value})


def test_numpy_batch_size_is_accepted(tmp_path):
    assert Embedder(weights="random", cache_dir=tmp_path, batch_size=np.int64(8)).batch_size == 8


# -- results as plain data ------------------------------------------------------------------------------------------


def test_report_to_dict():
    report = EmbedReport(images=3, embedded=1, cached=1, skipped=(Skipped("a.png", "empty file"),), seconds=1.23456)
    assert report.to_dict() == {
        "images": 3, "embedded": 1, "cached": 1, "skipped": [{"path": "a.png", "reason": "empty file"}], "seconds": 1.235,
    }


class _Store:
    folder = Path("/cache/embeddings/toy-0123")
    signature_id = "toy-0123"

    def __init__(self, vectors):
        self.vectors = vectors

    def get(self, hashes):
        found = np.array([h in self.vectors for h in hashes])
        rows = np.array([self.vectors.get(h, [np.nan, np.nan]) for h in hashes], dtype=np.float32)
        return found, {"block1": rows}


def test_from_store_reads_the_rows_and_names_the_signature():
    table = pd.DataFrame({"path": ["a", "b"], "hash": ["h2", "h1"], "label": ["x", "y"]})
    emb = Embeddings.from_store(_Store({"h1": [1, 2], "h2": [3, 4]}), table, label_columns=("label",), backbone="toy", weights="w")
    assert emb["block1"].tolist() == [[3, 4], [1, 2]]
    assert emb.signature == "toy-0123" and emb.label_columns == ("label",)
    prov = emb.provenance_dict()
    assert prov["signature"] == "toy-0123" and prov["backbone"] == "toy" and prov["dims"] == {"block1": 2}


def test_from_store_with_missing_rows_is_a_cache_error():
    table = pd.DataFrame({"path": ["a", "b"], "hash": ["h1", "gone"]})
    with pytest.raises(CacheError, match="1 embedded images are missing from the cache .*first: b"):
        Embeddings.from_store(_Store({"h1": [1, 2]}), table, backbone="toy", weights="w")


# -- runners -------------------------------------------------------------------------------------------------------


class _EntryPoint:
    def __init__(self, name, obj=None, error=None):
        self.name, self.obj, self.error = name, obj, error

    def load(self):
        if self.error is not None:
            raise self.error
        return self.obj


class RecordingRunner(LocalRunner):
    made: list = []

    def __init__(self, **options):
        RecordingRunner.made.append(options)


def _entry_points(monkeypatch, *eps):
    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group=None, **kw: [ep for ep in eps if group == "attr_utils.runners"])


def test_runner_found_through_the_entry_point(monkeypatch):
    _entry_points(monkeypatch, _EntryPoint("dask", RecordingRunner))
    runner = load_runner("dask", workers=2)
    assert isinstance(runner, RecordingRunner) and RecordingRunner.made[-1] == {"workers": 2}


def test_missing_extra_names_it(monkeypatch):
    _entry_points(monkeypatch, _EntryPoint("dask", error=ModuleNotFoundError("No module named 'distributed'")))
    with pytest.raises(AttrUtilsError, match=r"pip install 'attr-utils\[scale\]'") as info:
        load_runner("dask", workers=2)
    assert "\n" not in str(info.value)


def test_unknown_runner(monkeypatch):
    _entry_points(monkeypatch)
    with pytest.raises(ParameterError, match="no runner 'slurm'"):
        load_runner("slurm")


def test_dask_runner_without_entry_point_metadata_names_the_extra(monkeypatch):
    # the core finds runners only through entry points: it never imports the scale wing itself
    _entry_points(monkeypatch)  # an install whose metadata lacks the entry point
    with pytest.raises(ParameterError, match=r"no runner 'dask' is installed.*pip install 'attr-utils\[scale\]'"):
        load_runner("dask", workers=np.int64(2))


def test_installed_metadata_finds_the_dask_runner():
    pytest.importorskip("distributed")
    from attr_utils.scale.distributed import DaskRunner

    runner = load_runner("dask", workers=np.int64(2))
    assert isinstance(runner, DaskRunner) and runner.workers == 2


def test_pyproject_declares_the_dask_runner():
    text = (ROOT / "pyproject.toml").read_text()
    assert '[project.entry-points."attr_utils.runners"]\ndask = "attr_utils.scale.distributed:DaskRunner"' in text


def test_dask_runner_without_dask_names_the_extra(monkeypatch):
    import importlib.util

    from attr_utils.scale.distributed import DaskRunner

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "distributed" else real(name, *a))
    with pytest.raises(AttrUtilsError, match=r"\[scale\] extra"):
        DaskRunner(workers=2)


@pytest.mark.parametrize(
    "options", [{"workers": 0}, {"workers": 1.5}, {"workers": 2, "shard_size": 0}, {"workers": 2, "threads_per_worker": -1}, {}]
)
def test_invalid_dask_runner_options(options):
    from attr_utils.scale.distributed import DaskRunner

    with pytest.raises(ParameterError):
        DaskRunner(**options)


def test_deprecated_workers_use_the_runner_and_accept_numpy_ints(monkeypatch, tmp_path):
    """Plan 1.11 group C: ``embed(batch_size=np.int64(8), workers=2)`` works like without workers."""
    folder = make_class_folder(tmp_path / "data", per_class=1)
    cache = tmp_path / "cache"
    plain = au.embed(folder, weights="random", cache_dir=cache, batch_size=8, progress=False)
    _entry_points(monkeypatch, _EntryPoint("dask", RecordingRunner))
    with pytest.warns(DeprecationWarning, match=r"runner=attr_utils\.scale\.DaskRunner"):
        viaworkers = au.embed(folder, weights="random", cache_dir=cache, batch_size=np.int64(8), workers=2, progress=False)
    assert RecordingRunner.made[-1] == {"workers": 2, "scheduler": None}
    assert viaworkers.signature == plain.signature and viaworkers.paths == plain.paths
    assert all(np.array_equal(viaworkers[b], plain[b]) for b in plain.block_names)
    with pytest.raises(ParameterError, match="not both"):
        au.embed(folder, weights="random", cache_dir=cache, workers=2, runner=LocalRunner())


# -- the one TensorFlow import ---------------------------------------------------------------------------------------


def test_only_keras_support_imports_keras_or_tensorflow():
    offenders = []
    for path in sorted((ROOT / "attr_utils").rglob("*.py")):
        if path.name == "keras_support.py":
            continue
        tree = ast.parse(path.read_text())
        skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                for n in ast.walk(node)}
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n.split(".")[0] in ("keras", "tensorflow") for n in names):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders


@pytest.mark.parametrize("runner", ["dask", 3, object()])
def test_invalid_runner(tmp_path, runner):
    from attr_utils import embed

    with pytest.raises(ParameterError, match="`runner` must be a runner object"):
        embed(tmp_path, weights="random:0", runner=runner, progress=False)


def test_queries_like_an_all_taps_embedding_get_the_same_taps(tmp_path):
    """embed_images(like=emb) embeds queries with emb's taps, so they can be compared tap by tap."""
    from PIL import Image

    from attr_utils import embed, embed_images

    folder = tmp_path / "data" / "red"
    folder.mkdir(parents=True)
    for i in range(2):
        Image.new("RGB", (32, 32), (200, 10 * i, 0)).save(folder / f"{i}.png")
    (tmp_path / "data" / "blue").mkdir()
    Image.new("RGB", (32, 32), (0, 0, 200)).save(tmp_path / "data" / "blue" / "0.png")
    model = ModelSpec("resnet50", "random:0", taps=["conv1_relu", "conv2_block1_out"])
    emb = embed(tmp_path / "data", model=model, cache_dir=tmp_path / "cache", progress=False)
    queries = embed_images([folder / "0.png"], like=emb, cache_dir=tmp_path / "cache")
    assert queries.block_names == emb.block_names == ["conv1_relu", "conv2_block1_out"]
    row = [str(p) for p in emb.table["path"]].index(str(folder / "0.png"))
    np.testing.assert_allclose(queries["conv2_block1_out"][0], emb["conv2_block1_out"][row], rtol=1e-5)
