"""The reliability curve figure (attr_utils.figures.catalog)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from attr_utils.errors import ParameterError
from attr_utils.figures.catalog import reliability_curve
from attr_utils.retrieval.extractor import reliability_table


def test_reliability_curve_names_provenance_and_points():
    t = reliability_table([0.2, 0.4, 0.9, 0.95], [False, True, True, True], bins=5,
                          attrs={"backbone": "efficientnet-lite0", "weights": "imagenet", "label": "color", "block": "block2"})
    fig = reliability_curve(t)
    assert "efficientnet-lite0" in fig.layout.title.text and "color at block2" in fig.layout.title.text
    assert list(fig.data[1].y) == t["accuracy"].tolist()
    assert np.allclose(fig.data[0].x, [0, 1])


def test_reliability_curve_needs_columns():
    with pytest.raises(ParameterError):
        reliability_curve(pd.DataFrame({"x": [1]}))
