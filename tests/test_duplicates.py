"""Content groups: exact copies by hash, near copies by vector distance."""

import numpy as np
import pytest

from attr_utils.duplicates import content_groups, duplicate_summary, duplicate_warning, resolve_groups
from attr_utils.embeddings import Embeddings
from attr_utils.errors import ParameterError


def _emb(vectors, hashes, labels=None):
    emb = Embeddings.from_arrays({"b1": vectors, "b2": vectors}, {"color": labels} if labels is not None else None)
    emb.table["hash"] = hashes
    return emb


def test_hash_groups_join_identical_content_and_keep_empty_hashes_apart():
    rng = np.random.default_rng(0)
    emb = _emb(rng.normal(size=(6, 4)), ["a", "b", "a", "", "", "b"])
    g = content_groups(emb)
    assert g.dtype == np.int64
    assert g.tolist() == [0, 1, 0, 2, 3, 1]
    assert content_groups(emb, groups=None).tolist() == list(range(6))


def test_near_groups_merge_close_vectors_transitively():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(4, 16))
    near = base[0] + 1e-3 * rng.normal(size=16)  # a re-encoded copy of row 0
    vectors = np.vstack([base, near])
    emb = _emb(vectors, ["h0", "h1", "h2", "h1", "h4"])
    assert content_groups(emb, groups="hash").tolist() == [0, 1, 2, 1, 3]
    assert content_groups(emb, groups="near").tolist() == [0, 1, 2, 1, 0]
    # a threshold of 0 only keeps exact hash groups (plus identical vectors)
    assert content_groups(emb, groups="near", threshold=0.0).tolist() == [0, 1, 2, 1, 3]


def test_duplicate_summary_counts_groups_items_and_conflicts():
    g = np.array([0, 1, 0, 2, 1, 1, 3])
    labels = np.array(["a", "b", "b", "a", "b", None, "a"], dtype=object)
    assert duplicate_summary(g, labels) == {"duplicate_groups": 2, "duplicate_items": 5, "conflicting_groups": 1}
    assert duplicate_summary(g) == {"duplicate_groups": 2, "duplicate_items": 5, "conflicting_groups": 0}
    assert duplicate_summary(np.arange(3), ["a", "b", "a"])["duplicate_groups"] == 0
    text = duplicate_warning(duplicate_summary(g, labels))
    assert "5 items" in text and "2 group(s)" in text and "1 with conflicting labels" in text
    assert duplicate_warning(duplicate_summary(np.arange(3))) is None


def test_invalid_groups_raises_parameter_error():
    emb = _emb(np.eye(3), ["a", "b", "c"])
    with pytest.raises(ParameterError):
        content_groups(emb, groups="content")


def test_invalid_threshold_raises_parameter_error():
    emb = _emb(np.eye(3), ["a", "b", "c"])
    with pytest.raises(ParameterError):
        content_groups(emb, groups="near", threshold=2.5)


@pytest.mark.parametrize("threshold", [-0.1, 2.0, float("nan"), True, "0.05"])
def test_threshold_out_of_range_or_not_a_number(threshold):
    emb = _emb(np.eye(3), ["a", "b", "c"])
    with pytest.raises(ParameterError, match="`threshold`"):
        content_groups(emb, groups="near", threshold=threshold)


def test_numpy_scalars_are_accepted():
    emb = _emb(np.eye(3), ["a", "b", "c"])
    assert content_groups(emb, groups=np.str_("near"), threshold=np.float32(0.05)).tolist() == [0, 1, 2]
    assert content_groups(emb, groups=np.str_("hash")).tolist() == [0, 1, 2]


def test_unknown_near_block_raises_parameter_error():
    emb = _emb(np.eye(3), ["a", "b", "c"])
    with pytest.raises(ParameterError):
        content_groups(emb, groups="near", block="block9")


def test_group_array_of_wrong_length_raises_parameter_error():
    emb = _emb(np.eye(3), ["a", "b", "c"])
    with pytest.raises(ParameterError):
        resolve_groups(emb, np.zeros(5))


def test_near_grouping_without_scikit_learn_names_the_extra(monkeypatch):
    import sys

    from attr_utils.errors import AttrUtilsError

    monkeypatch.setitem(sys.modules, "sklearn.neighbors", None)
    emb = _emb(np.eye(3, dtype=np.float32), ["a", "b", "c"])
    with pytest.raises(AttrUtilsError, match=r"attr-utils\[analysis\]"):
        content_groups(emb, groups="near")
