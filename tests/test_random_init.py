"""RANDOM_INIT_VERSION is part of random weights' identity, hence of the cache signature."""

from __future__ import annotations

import attr_utils.backbones as backbones
from attr_utils.backbones.auto import resolve_backbone
from attr_utils.cache import signature_hash
from attr_utils.embedder import model_signature


def _random_signature() -> tuple[str, str]:
    resolved = resolve_backbone("resnet50", "random:3")
    return resolved.weights.identity, signature_hash(model_signature(resolved, "stretch"))


def test_random_identity_names_the_init_version():
    identity, _ = _random_signature()
    assert identity == f"random:3:{backbones.RANDOM_INIT_VERSION}"


def test_bumping_random_init_version_changes_the_cache_signature(monkeypatch):
    identity, signature = _random_signature()
    monkeypatch.setattr(backbones, "RANDOM_INIT_VERSION", "numpy-glorot-v2")
    bumped_identity, bumped_signature = _random_signature()
    assert bumped_identity == "random:3:numpy-glorot-v2" != identity
    assert bumped_signature != signature  # vectors drawn the old way are not served for the new draw
