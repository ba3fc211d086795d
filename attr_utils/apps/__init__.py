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

ipywidgets and Plotly are imported only when an app is built (the names
below load lazily, lazy_loader's SPEC 1). Three names are both a module and
the factory it defines: ``attr_utils.apps.retrieval_app``, ``.extractor_app``
and ``.umap_explorer`` are the functions; import a module's other names from
it, e.g. ``from attr_utils.apps.retrieval_app import RetrievalApp``.
"""

from __future__ import annotations

import lazy_loader as lazy

# where each public name is defined (one table; lazy_loader, SPEC 1)
_EXPORTS = {
    "session": [
        "NotebookParams",
        "notebook_params",
        "load_notebook_dataset",
        "load_notebook_embeddings",
        "setup_notebook",
        "attribute_columns",
    ],
    "gallery": ["dataset_preview", "image_grid", "thumbnail_png", "class_examples"],
    "banner": ["provenance_banner", "provenance_html", "is_paper_setup"],
    "upload": ["MAX_UPLOAD_BYTES", "UploadError", "read_upload"],
    "upload_button": ["UploadButton"],
    "retrieval_app": ["RetrievalApp", "retrieval_app", "query_precision"],
    "umap_explorer": ["UmapExplorer", "umap_explorer"],
    "extractor_app": ["ExtractorApp", "extractor_app"],
}

__getattr__, __dir__, __all__ = lazy.attach(__name__, submod_attrs=_EXPORTS)
