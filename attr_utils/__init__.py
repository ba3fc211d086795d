"""attr-utils: visual attributes from the hidden layers of a pretrained ConvNet.

The public API is imported lazily so that ``import attr_utils`` (and the CLI)
start fast; TensorFlow is imported only when a model is actually built.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "load_dataset": "attr_utils.datasets",
    "Dataset": "attr_utils.datasets",
    "embed": "attr_utils.embedder",
    "embed_images": "attr_utils.embedder",
    "Embeddings": "attr_utils.embeddings",
    "EmbedReport": "attr_utils.embeddings",
    "Skipped": "attr_utils.embeddings",
    "EmbeddingCache": "attr_utils.cache",
    "get_backbone": "attr_utils.backbones",
    "list_backbones": "attr_utils.backbones",
    "resolve_backbone": "attr_utils.backbones.auto",
    "make_catalog": "attr_utils.synth",
    "default_catalog": "attr_utils.synth",
    "build_paper_colors": "attr_utils.paper_data",
    "Catalog": "attr_utils.retrieval",
    "search": "attr_utils.retrieval",
    "evaluate_retrieval": "attr_utils.retrieval",
    "AttributeExtractor": "attr_utils.attribute_extractor",
    "build_index": "attr_utils.index",
    "load_index": "attr_utils.index",
    "block_accuracy": "attr_utils.analysis",
    "summarize_accuracy": "attr_utils.analysis",
    "recommend_blocks": "attr_utils.analysis",
    "clustering_metrics": "attr_utils.analysis",
    "reduction_sweep": "attr_utils.analysis",
    "umap_embedding": "attr_utils.analysis",
    "embed_distributed": "attr_utils.distributed",
    "embed_on_cluster": "attr_utils.distributed",
    "build_index_from_cache": "attr_utils.streaming",
    "load_block": "attr_utils.streaming",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'attr_utils' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
