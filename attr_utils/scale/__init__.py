"""The scale-out wing: embedding a catalog on a Dask cluster.

Install with ``pip install "attr-utils[scale]"`` (dask[distributed], bokeh).
The workers run the core's single-process embedder; the core never imports
Dask.
"""

from __future__ import annotations

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=["distributed"],
    submod_attrs={
        "distributed": ["DaskRunner", "DistributedEmbedReport", "embed_distributed", "embed_on_cluster", "worker_thread_env"],
    },
)
