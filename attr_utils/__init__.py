"""attr-utils: visual attributes from the hidden layers of a pretrained ConvNet.

The public API is imported lazily so that ``import attr_utils`` (and the CLI)
start fast; TensorFlow is imported only when a model is actually built.
"""

from __future__ import annotations

import lazy_loader as lazy

from attr_utils import moved

__version__ = "0.2.0"

# where each public name is defined (one table; lazy_loader, SPEC 1)
_EXPORTS = {
    "datasets": ["load_dataset", "Dataset"],
    "embedder": ["embed", "embed_images"],
    "model": ["ModelSpec"],
    "embeddings": ["Embeddings", "EmbedReport", "Skipped"],
    "cache": ["EmbeddingCache"],
    "backbones": ["get_backbone", "list_backbones"],
    "backbones.auto": ["resolve_backbone"],
    "paper_data": ["build_paper_colors"],
    "synth": ["generate_dataset", "default_dataset", "make_catalog", "default_catalog"],
    "retrieval.catalog": ["Catalog", "search", "evaluate_retrieval"],
    "retrieval.extractor": ["AttributeExtractor"],
    "retrieval.tagging": ["tag_catalog"],
    "retrieval.index": ["build_index", "load_index"],
    "retrieval.index_from_cache": ["build_index_from_cache", "load_block"],
    "analysis": ["block_accuracy", "summarize_accuracy", "recommend_blocks", "clustering_metrics",
                 "reduction_sweep", "umap_embedding", "audit_labels", "probe_layers", "compare_poolings", "cka_matrix"],
    "scale.distributed": ["embed_distributed", "embed_on_cluster"],
}

__getattr__, __dir__, __all__ = lazy.attach(__name__, submod_attrs=_EXPORTS)
__all__ = [*__all__, "__version__"]

moved.install()
