"""The retrieval wing: nearest-neighbour indexes, catalog search, the few-shot extractor.

Install with ``pip install "attr-utils[search]"`` (faiss, scikit-learn).

==============================  ==================================================
:mod:`~.index`                  exact and approximate (IVF, HNSW) indexes over faiss
:mod:`~.index_from_cache`       an index built from the Parquet cache, row group by row group
:mod:`~.catalog`                :class:`Catalog`, :func:`search`: by colour, texture or both (Figure 6),
                                and :func:`evaluate_retrieval`, its leave-one-out score
:mod:`~.extractor`              :class:`AttributeExtractor`: a new attribute value from a few examples
:mod:`~.tagging`                :func:`tag_catalog`: every image's attributes, calibrated, in one Parquet file
==============================  ==================================================

The names of :mod:`~.catalog` are exported here too, so ``from
attr_utils.retrieval import Catalog`` works as it did when this wing was one
module.
"""

from __future__ import annotations

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=["catalog", "extractor", "index", "index_from_cache", "tagging"],
    submod_attrs={
        "catalog": ["DEFAULT_ALPHA", "DEFAULT_METHOD", "METHODS", "MODES", "RESULT_COLUMNS", "RRF_K", "Catalog", "default_alphas",
                    "evaluate_retrieval", "resolve_blocks", "search"],
        "extractor": ["AttributeExtractor"],
        "index": ["ExactIndex", "IVFIndex", "HNSWIndex", "build_index", "load_index"],
        "index_from_cache": ["build_index_from_cache", "load_block"],
        "tagging": ["read_tags", "tag_catalog"],
    },
)
