"""Interactive apps (ipywidgets) behind the notebooks and the Voilà dashboard.

The notebooks stay thin: each app is one call here, and every app holds only
user-interface wiring over the library's functions.

==================================  ==============================================
:func:`setup_notebook`              first cell of every notebook: quiet logs, offline Plotly, parameters
:func:`notebook_params`             parameters from ``ATTR_UTILS_*`` environment variables
:func:`load_notebook_embeddings`    the dataset embedded with the chosen backbone (cached)
:func:`provenance_banner`           which backbone and weights are in use, with a warning
                                    when they are not the paper's ResNet-50 ImageNet
:func:`umap_explorer`               UMAP per block, coloured by any label, image on hover
:func:`retrieval_app`               search by colour / texture / both, with uploads
:func:`extractor_app`               define a new attribute value from a few examples
:func:`image_grid`                  thumbnails with captions
==================================  ==============================================

ipywidgets and Plotly are imported only when an app is built.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "NotebookParams": "attr_utils.apps.session",
    "notebook_params": "attr_utils.apps.session",
    "load_notebook_dataset": "attr_utils.apps.session",
    "load_notebook_embeddings": "attr_utils.apps.session",
    "setup_notebook": "attr_utils.apps.session",
    "attribute_columns": "attr_utils.apps.session",
    "dataset_preview": "attr_utils.apps.gallery",
    "provenance_banner": "attr_utils.apps.banner",
    "provenance_html": "attr_utils.apps.banner",
    "is_paper_setup": "attr_utils.apps.banner",
    "image_grid": "attr_utils.apps.gallery",
    "thumbnail_png": "attr_utils.apps.gallery",
    "class_examples": "attr_utils.apps.gallery",
    "MAX_UPLOAD_BYTES": "attr_utils.apps.upload",
    "UploadError": "attr_utils.apps.upload",
    "read_upload": "attr_utils.apps.upload",
    "UploadButton": "attr_utils.apps.upload_button",
    "RetrievalApp": "attr_utils.apps.retrieval_app",
    "retrieval_app": "attr_utils.apps.retrieval_app",
    "query_precision": "attr_utils.apps.retrieval_app",
    "UmapExplorer": "attr_utils.apps.umap_explorer",
    "umap_explorer": "attr_utils.apps.umap_explorer",
    "ExtractorApp": "attr_utils.apps.extractor_app",
    "extractor_app": "attr_utils.apps.extractor_app",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'attr_utils.apps' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
