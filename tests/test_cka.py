"""Debiased linear CKA: properties, a direct small-n computation, and the matrix between taps."""

from __future__ import annotations

import numpy as np
import pytest

from attr_utils.analysis import cka_matrix, linear_cka
from attr_utils.embeddings import Embeddings
from attr_utils.errors import ParameterError


def _hsic_unbiased(K: np.ndarray, L: np.ndarray) -> float:
    """Song et al. 2012, eq. (5), written out on Gram matrices."""
    n = K.shape[0]
    K, L = K.copy(), L.copy()
    np.fill_diagonal(K, 0)
    np.fill_diagonal(L, 0)
    one = np.ones(n)
    return (
        np.trace(K @ L) + (one @ K @ one) * (one @ L @ one) / ((n - 1) * (n - 2)) - 2 / (n - 2) * (one @ K @ L @ one)
    ) / (n * (n - 3))


def _hsic_biased(K, L):
    n = K.shape[0]
    H = np.eye(n) - np.ones((n, n)) / n
    return np.trace(K @ H @ L @ H) / (n - 1) ** 2


def _direct(X, Y, hsic):
    K, L = X @ X.T, Y @ Y.T
    return hsic(K, L) / np.sqrt(hsic(K, K) * hsic(L, L))


@pytest.fixture()
def rng():
    return np.random.default_rng(0)


def test_cka_of_a_representation_with_itself_is_one(rng):
    X = rng.normal(size=(40, 7))
    assert linear_cka(X, X) == pytest.approx(1.0)
    assert linear_cka(X, X, debiased=False) == pytest.approx(1.0)


def test_invariant_to_isotropic_scaling_and_orthogonal_rotation(rng):
    X = rng.normal(size=(60, 6))
    Y = X @ rng.normal(size=(6, 9)) + 0.5 * rng.normal(size=(60, 9))
    Q, _ = np.linalg.qr(rng.normal(size=(9, 9)))
    base = linear_cka(X, Y)
    assert 0.2 < base < 0.99
    assert linear_cka(X, 7.5 * Y) == pytest.approx(base)
    assert linear_cka(0.01 * X, Y) == pytest.approx(base)
    assert linear_cka(X, Y @ Q) == pytest.approx(base)
    assert linear_cka(X + 3.0, Y - 1.0) == pytest.approx(base)  # centring is part of the estimator


def test_independent_features_give_about_zero_only_when_debiased(rng):
    X, Y = rng.normal(size=(200, 300)), rng.normal(size=(200, 300))
    assert abs(linear_cka(X, Y)) < 0.02
    assert linear_cka(X, Y, debiased=False) > 0.4  # the biased estimator's known inflation (n < d)


@pytest.mark.parametrize("debiased", [True, False])
def test_agrees_with_a_direct_small_n_computation(rng, debiased):
    X = rng.normal(size=(9, 4))
    Y = np.tanh(X @ rng.normal(size=(4, 5))) + 0.3 * rng.normal(size=(9, 5))
    direct = _direct(X - X.mean(0), Y - Y.mean(0), _hsic_unbiased if debiased else _hsic_biased)
    assert linear_cka(X, Y, debiased=debiased) == pytest.approx(direct, rel=1e-10)


def test_constant_representation_is_nan(rng):
    assert np.isnan(linear_cka(rng.normal(size=(10, 3)), np.ones((10, 2))))


@pytest.mark.parametrize(
    ("X", "Y", "options"),
    [
        (np.zeros((5, 2)), np.zeros((6, 2)), {}),
        (np.zeros((3, 2)), np.zeros((3, 2)), {}),
        (np.zeros(5), np.zeros((5, 2)), {}),
        (np.zeros((5, 2)), np.zeros((5, 2)), {"debiased": "yes"}),
    ],
)
def test_invalid_inputs(X, Y, options):
    with pytest.raises(ParameterError):
        linear_cka(X, Y, **options)


def test_matrix_between_taps_is_symmetric_with_unit_diagonal(rng):
    a = rng.normal(size=(30, 4))
    emb = Embeddings.from_arrays({"block1": a, "block2": 2 * a, "block3": rng.normal(size=(30, 6))}, backbone="resnet50")
    m = cka_matrix(emb)
    assert list(m.index) == list(m.columns) == ["block1", "block2", "block3"]
    np.testing.assert_allclose(np.diag(m.to_numpy()), 1.0)
    np.testing.assert_allclose(m.to_numpy(), m.to_numpy().T)
    assert m.loc["block1", "block2"] == pytest.approx(1.0)
    assert m.loc["block1", "block3"] == pytest.approx(linear_cka(a, emb["block3"]))
    assert m.attrs["backbone"] == "resnet50" and m.attrs["debiased"] is True


def test_matrix_between_two_embeddings_matches_rows_by_hash(rng):
    a, b = rng.normal(size=(12, 3)), rng.normal(size=(12, 5))
    first = Embeddings.from_arrays({"block1": a}, backbone="resnet50")
    second = Embeddings.from_arrays({"stem_relu": b[::-1]}, backbone="efficientnet-lite0")
    hashes = [f"h{i}" for i in range(12)]
    first.table["hash"] = hashes
    second.table["hash"] = hashes[::-1]
    m = cka_matrix(first, second)
    assert m.shape == (1, 1) and m.columns.tolist() == ["stem_relu"]
    assert m.iloc[0, 0] == pytest.approx(linear_cka(a, b))
    assert m.attrs["other_backbone"] == "efficientnet-lite0"


def test_two_embeddings_of_different_images_are_refused(rng):
    first = Embeddings.from_arrays({"block1": rng.normal(size=(6, 2))})
    second = Embeddings.from_arrays({"block1": rng.normal(size=(7, 2))})
    with pytest.raises(ParameterError):
        cka_matrix(first, second)
    with pytest.raises(ParameterError):
        cka_matrix(first, taps=["nope"])
