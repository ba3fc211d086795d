"""reduction_sweep (paper / inductive protocols), umap_embedding and the UMAP coordinate cache."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs

from attr_utils.analysis import default_dims, reduction_sweep, summarize_accuracy, umap_cache, umap_embedding
from attr_utils.analysis.accuracy import stratified_folds
from attr_utils.embeddings import Embeddings
from attr_utils.errors import DatasetError


@pytest.fixture(scope="session")
def blobs_emb() -> Embeddings:
    X, y = make_blobs(n_samples=120, n_features=16, centers=3, cluster_std=1.0, random_state=0)
    rng = np.random.default_rng(0)
    labels = np.array([f"c{i}" for i in y])
    return Embeddings.from_arrays(
        {"block1": X, "noise": rng.normal(size=(120, 16))},
        {"color": labels, "shuffled": rng.permutation(labels)},
        backbone="toy",
        weights="random:0",
        pretrained=False,
    )


class FakeUMAP:
    """Stands in for cached_umap: records the exact rows each fit saw; coords = first d features."""

    def __init__(self):
        self.fits = []

    def __call__(self, X, X_new=None, *, n_components, **params):
        self.fits.append({"fit": np.array(X, copy=True), "new": None if X_new is None else np.array(X_new, copy=True), "d": n_components})
        return X[:, :n_components].astype(np.float32), (None if X_new is None else X_new[:, :n_components].astype(np.float32))


def _row_ids(emb, block, arr):
    lookup = {emb[block][i].tobytes(): i for i in range(len(emb))}
    return {lookup[r.astype(np.float32).tobytes()] for r in arr}


@pytest.fixture()
def fake_umap(monkeypatch):
    fake = FakeUMAP()
    monkeypatch.setattr(umap_cache, "cached_umap", fake)
    return fake


def test_default_dims():
    assert default_dims(64) == [2, 4, 8, 16, 32]
    assert default_dims(2048)[-1] == 1024
    assert default_dims(2) == []


def test_sweep_frame_layout(blobs_emb, fake_umap):
    res = reduction_sweep(blobs_emb, "color", block="block1", dims=[2, 4], folds=3)
    assert list(res.columns) == [
        "backbone", "weights", "label", "block", "protocol", "dim", "reduced", "fold", "n_test", "accuracy",
    ]
    # 2 protocols x (2 reduced dims + the unreduced row) x 3 folds
    assert len(res) == 2 * 3 * 3
    assert set(res.loc[~res["reduced"], "dim"]) == {16}
    summary = summarize_accuracy(res)
    assert len(summary) == 6
    assert summary["dim"].tolist() == [2, 4, 16, 2, 4, 16]
    raw = res[~res["reduced"]]
    np.testing.assert_array_equal(
        raw[raw.protocol == "paper"]["accuracy"].to_numpy(), raw[raw.protocol == "inductive"]["accuracy"].to_numpy()
    )
    # paper: one fit per dim; inductive: one fit per dim and fold
    assert len(fake_umap.fits) == 2 + 2 * 3


def test_inductive_protocol_never_fits_on_test_rows(blobs_emb, fake_umap):
    reduction_sweep(blobs_emb, "color", block="block1", dims=[2, 4], folds=4, protocol="inductive", seed=5)
    splits = stratified_folds(blobs_emb.labels("color").astype(str), folds=4, seed=5)
    assert len(fake_umap.fits) == 2 * 4
    test_sets = [set(test.tolist()) for _, test in splits]
    for call in fake_umap.fits:
        fitted = _row_ids(blobs_emb, "block1", call["fit"])
        transformed = _row_ids(blobs_emb, "block1", call["new"])
        assert transformed in test_sets, "the transformed rows must be exactly one test fold"
        assert not fitted & transformed, "UMAP was fitted on test rows"
        assert fitted | transformed == set(range(len(blobs_emb)))


def test_paper_protocol_fits_on_all_rows(blobs_emb, fake_umap):
    reduction_sweep(blobs_emb, "color", block="block1", dims=[2], protocol="paper")
    (call,) = fake_umap.fits
    assert call["new"] is None
    assert _row_ids(blobs_emb, "block1", call["fit"]) == set(range(len(blobs_emb)))


def test_real_umap_inductive_fit_sees_training_rows_only(blobs_emb, monkeypatch):
    umap = umap_cache.import_umap()
    seen = []
    original_fit = umap.UMAP.fit

    def recording_fit(self, X, *args, **kwargs):
        seen.append(_row_ids(blobs_emb, "block1", np.asarray(X)))
        return original_fit(self, X, *args, **kwargs)

    monkeypatch.setattr(umap.UMAP, "fit", recording_fit)
    reduction_sweep(blobs_emb, "color", block="block1", dims=[2], folds=3, protocol="inductive", cache=False)
    splits = stratified_folds(blobs_emb.labels("color").astype(str), folds=3, seed=0)
    assert len(seen) == 3
    for fitted, (train, test) in zip(seen, splits):
        assert fitted == set(train.tolist())
        assert not fitted & set(test.tolist())


@pytest.fixture(scope="session")
def real_sweep(blobs_emb, tmp_path_factory):
    cache = tmp_path_factory.mktemp("umap-cache")
    return cache, reduction_sweep(blobs_emb, "color", block="block1", dims=[2], folds=3, cache_dir=cache)


def test_real_umap_separated_blobs_stay_separable(real_sweep):
    _, res = real_sweep
    assert res["accuracy"].mean() > 0.95


def test_shuffled_labels_near_chance(blobs_emb, real_sweep):
    cache, _ = real_sweep
    res = reduction_sweep(blobs_emb, "shuffled", block="block1", dims=[2], folds=3, protocol="paper", cache_dir=cache)
    assert res["accuracy"].mean() < 0.6  # chance is 1/3


def test_identical_seeds_identical_tables_from_cache(blobs_emb, real_sweep, monkeypatch):
    cache, first = real_sweep
    files = sorted((cache / "umap").rglob("*.npz"))
    assert len(files) == 1 + 3  # paper fit + one per inductive fold

    def no_umap():
        raise AssertionError("UMAP was refitted although its coordinates are cached")

    monkeypatch.setattr(umap_cache, "import_umap", no_umap)
    again = reduction_sweep(blobs_emb, "color", block="block1", dims=[2], folds=3, cache_dir=cache)
    pd.testing.assert_frame_equal(first, again)


def test_cache_holds_plain_arrays_and_no_temporary_files(real_sweep):
    cache, _ = real_sweep
    for path in (cache / "umap").rglob("*"):
        assert not path.name.startswith(".tmp-")
        if path.is_file():
            with np.load(path, allow_pickle=False) as data:
                assert data["embedding"].dtype == np.float32


def test_cached_umap_key_depends_on_data_and_parameters(tmp_path):
    X = np.random.default_rng(0).normal(size=(40, 5)).astype(np.float32)
    a, _ = umap_cache.cached_umap(X, n_components=2, cache_dir=tmp_path)
    b, _ = umap_cache.cached_umap(X, n_components=2, cache_dir=tmp_path)
    np.testing.assert_array_equal(a, b)
    umap_cache.cached_umap(X, n_components=2, min_dist=0.5, cache_dir=tmp_path)
    umap_cache.cached_umap(X + 1, n_components=2, cache_dir=tmp_path)
    assert len(list((tmp_path / "umap").rglob("*.npz"))) == 3


def test_cached_umap_recovers_from_a_corrupt_entry(tmp_path):
    X = np.random.default_rng(1).normal(size=(30, 4)).astype(np.float32)
    a, _ = umap_cache.cached_umap(X, n_components=2, cache_dir=tmp_path)
    (entry,) = list((tmp_path / "umap").rglob("*.npz"))
    entry.write_bytes(b"not an npz")
    b, _ = umap_cache.cached_umap(X, n_components=2, cache_dir=tmp_path)
    np.testing.assert_array_equal(a, b)


def test_unseeded_umap_is_not_cached(tmp_path, monkeypatch):
    class FakeReducer:
        def __init__(self, **params):
            self.params = params

        def fit_transform(self, X):
            return np.zeros((len(X), self.params["n_components"]))

    class FakeModule:
        UMAP = FakeReducer

    monkeypatch.setattr(umap_cache, "import_umap", lambda: FakeModule)
    X = np.random.default_rng(2).normal(size=(30, 4)).astype(np.float32)
    emb, _ = umap_cache.cached_umap(X, n_components=2, random_state=None, cache_dir=tmp_path)
    assert emb.shape == (30, 2)
    assert not (tmp_path / "umap").exists()


class _FakeUmapModule:
    """umap-learn stand-in: coordinates are the first columns (fast, deterministic)."""

    class UMAP:
        def __init__(self, **params):
            self.params = params

        def fit_transform(self, X):
            return np.asarray(X[:, : self.params["n_components"]], dtype=np.float32)

        def transform(self, X):
            return self.fit_transform(X)


def test_umap_cache_lives_under_the_one_cache_root(tmp_path, monkeypatch):
    """No own resolver: $XDG_CACHE_HOME is honoured when $ATTR_UTILS_CACHE is unset (plan 1.5)."""
    from attr_utils.cache import cache_root

    monkeypatch.delenv("ATTR_UTILS_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(umap_cache, "import_umap", lambda: _FakeUmapModule)
    assert umap_cache.umap_cache_dir() == cache_root() / "umap" == tmp_path / "xdg" / "attr-utils" / "umap"
    X = np.random.default_rng(3).normal(size=(20, 4)).astype(np.float32)
    umap_cache.cached_umap(X, n_components=2)
    assert len(list((tmp_path / "xdg" / "attr-utils" / "umap").rglob("*.npz"))) == 1


def test_umap_cache_root_order(tmp_path, monkeypatch):
    """cache_dir (--cache-dir) wins over $ATTR_UTILS_CACHE, which wins over $XDG_CACHE_HOME."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("ATTR_UTILS_CACHE", str(tmp_path / "env"))
    assert umap_cache.umap_cache_dir() == tmp_path / "env" / "umap"
    assert umap_cache.umap_cache_dir(tmp_path / "explicit") == tmp_path / "explicit" / "umap"
    monkeypatch.setattr(umap_cache, "import_umap", lambda: _FakeUmapModule)
    X = np.random.default_rng(4).normal(size=(20, 4)).astype(np.float32)
    umap_cache.cached_umap(X, n_components=2, cache_dir=tmp_path / "explicit")
    assert len(list((tmp_path / "explicit" / "umap").rglob("*.npz"))) == 1
    assert not (tmp_path / "env").exists() and not (tmp_path / "xdg").exists()


def test_cached_umap_refuses_a_1d_array():
    from attr_utils.errors import ParameterError

    with pytest.raises(ParameterError, match="2-D array of at least 3 rows"):
        umap_cache.cached_umap(np.zeros(5, dtype=np.float32))


def test_umap_embedding_2d_and_3d(blobs_emb, tmp_path):
    two = umap_embedding(blobs_emb, block="block1", cache_dir=tmp_path)
    three = umap_embedding(blobs_emb, block="block1", n_components=3, cache_dir=tmp_path)
    assert two.shape == (120, 2) and three.shape == (120, 3)
    np.testing.assert_array_equal(two, umap_embedding(blobs_emb, block="block1", cache_dir=tmp_path))


def test_import_umap_skips_tensorflow():
    import subprocess
    import sys

    code = (
        "import sys; from attr_utils.analysis.umap_cache import import_umap; u = import_umap(); "
        "print(hasattr(u, 'UMAP'), 'tensorflow' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "False", "False"]


# ---- one test per invalid parameter -------------------------------------------------------------


def test_invalid_protocol(blobs_emb):
    with pytest.raises(ValueError, match="`protocol` must be one of"):
        reduction_sweep(blobs_emb, "color", block="block1", protocol="transductive")


def test_dim_not_below_block_dim(blobs_emb):
    with pytest.raises(ValueError, match="`dims` must be < the block's dimension 16"):
        reduction_sweep(blobs_emb, "color", block="block1", dims=[2, 16])


def test_invalid_dim(blobs_emb):
    with pytest.raises(ValueError, match="`dims` must be >= 1"):
        reduction_sweep(blobs_emb, "color", block="block1", dims=[0])


def test_unknown_block(blobs_emb):
    with pytest.raises(ValueError, match="unknown block 'block9'"):
        reduction_sweep(blobs_emb, "color", block="block9")


def test_unknown_label(blobs_emb):
    with pytest.raises(DatasetError, match="no label column"):
        reduction_sweep(blobs_emb, "texture", block="block1")


def test_invalid_k(blobs_emb):
    with pytest.raises(ValueError, match="`k` must be >= 1"):
        reduction_sweep(blobs_emb, "color", block="block1", k=0)


def test_invalid_folds(blobs_emb):
    with pytest.raises(ValueError, match="`folds` must be >= 2"):
        reduction_sweep(blobs_emb, "color", block="block1", folds=1)


def test_invalid_metric(blobs_emb):
    with pytest.raises(ValueError, match="`metric` must be one of"):
        reduction_sweep(blobs_emb, "color", block="block1", metric="hamming")


def test_invalid_scaling(blobs_emb):
    with pytest.raises(ValueError, match="`scaling` must be one of"):
        reduction_sweep(blobs_emb, "color", block="block1", scaling="max")


def test_invalid_n_jobs(blobs_emb):
    with pytest.raises(ValueError, match="`n_jobs`"):
        reduction_sweep(blobs_emb, "color", block="block1", n_jobs=0)


def test_umap_embedding_unknown_block(blobs_emb):
    with pytest.raises(ValueError, match="unknown block"):
        umap_embedding(blobs_emb, block="nope")


def test_umap_embedding_invalid_components(blobs_emb):
    with pytest.raises(ValueError, match="`n_components` must be >= 1"):
        umap_embedding(blobs_emb, block="block1", n_components=0)


def test_default_dims_stop_below_the_rows_umap_is_fitted_on():
    from attr_utils.analysis.reduction import _check_dims

    assert _check_dims(None, 1280, n_fit=40) == [2, 4, 8, 16, 32]
    assert _check_dims(None, 256) == [2, 4, 8, 16, 32, 64, 128]


def test_explicit_dims_above_the_fitted_rows_are_refused():
    from attr_utils.analysis.reduction import _check_dims

    with pytest.raises(ValueError, match="fitted on as few as 40 rows"):
        _check_dims([2, 64], 1280, n_fit=40)
