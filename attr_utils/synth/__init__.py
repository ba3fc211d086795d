"""A labelled synthetic clothing catalog that ships as code.

The paper's colour and texture datasets cannot be redistributed, so the
toolkit's default data is generated: product-photo-like images of garments
where every item carries a colour label (10 families), a texture label
(10 classes) and a garment name, balanced over the colour x texture cells.

Modules, one per concept:

- :mod:`~attr_utils.synth.palette`: colour families (HSV boxes), sampling and
  the documented rules that map a colour back to its family;
- :mod:`~attr_utils.synth.textures`: the ten pattern generators;
- :mod:`~attr_utils.synth.garments`: garment silhouettes and their masks;
- :mod:`~attr_utils.synth.render`: compositing one photo (lighting, folds,
  shadow, blur, noise);
- :mod:`~attr_utils.synth.scene`: the harder ``"scene"`` variant (off-centre
  garments at several scales on coloured or printed backgrounds, with a
  skin-tone model and props; the labels stay the garment's);
- :mod:`~attr_utils.synth.catalog`: datasets on disk
  (:func:`generate_dataset`), the contact sheet and the default dataset
  generated on first use (:func:`default_dataset`, which returns its
  ``labels.csv``).

"Catalog" elsewhere in attr-utils means a searchable
:class:`attr_utils.retrieval.Catalog`; here the generated thing is a labelled
*dataset*. ``make_catalog`` and ``default_catalog`` are the 0.1 names, kept
for one release as aliases that emit a ``DeprecationWarning``.
"""

from __future__ import annotations

from attr_utils.synth.catalog import (
    GENERATOR_VERSION,
    GENERATOR_VERSIONS,
    LABEL_COLUMNS,
    SCENE_COLUMNS,
    VARIANTS,
    SyntheticDataset,
    catalog_plan,
    contact_sheet,
    data_root,
    default_catalog,
    default_dataset,
    generate_dataset,
    generator_fingerprint,
    make_catalog,
)
from attr_utils.synth.garments import GARMENTS
from attr_utils.synth.palette import COLORS, FAMILIES, color_family, dominant_family
from attr_utils.synth.render import render_item
from attr_utils.synth.scene import render_scene
from attr_utils.synth.textures import TEXTURE_ALIASES, TEXTURES

__all__ = [
    "COLORS",
    "FAMILIES",
    "GARMENTS",
    "GENERATOR_VERSION",
    "GENERATOR_VERSIONS",
    "LABEL_COLUMNS",
    "SCENE_COLUMNS",
    "SyntheticDataset",
    "TEXTURES",
    "TEXTURE_ALIASES",
    "catalog_plan",
    "color_family",
    "contact_sheet",
    "data_root",
    "default_catalog",
    "default_dataset",
    "dominant_family",
    "generate_dataset",
    "generator_fingerprint",
    "make_catalog",
    "render_item",
    "render_scene",
    "VARIANTS",
]
