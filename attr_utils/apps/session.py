"""Notebook parameters from environment variables, and the data every notebook starts from.

Every notebook's first code cell is ``params = notebook_params()``: the same
environment variables drive Jupyter, Voilà, nbval and CI, so a notebook never
hard-codes a path or a backbone.

=========================  ===========================================  ==================
variable                   meaning                                      default
=========================  ===========================================  ==================
``ATTR_UTILS_DATASET``     folder, CSV manifest or Kaggle styles.csv    the synthetic catalog
``ATTR_UTILS_BACKBONE``    registered backbone name or ``auto``         ``auto``
``ATTR_UTILS_WEIGHTS``     ``imagenet``, ``random[:SEED]`` or a file    the backbone's own
``ATTR_UTILS_ENGINE``      ``auto``, ``keras`` or ``openvino``          ``auto``
``ATTR_UTILS_POOLING``     ``average``, ``max``, ``foreground``,        ``average``
                           ``interior`` (see attr_utils.pooling)
``ATTR_UTILS_MASK``        mask of foreground/interior pooling:         ``auto``
                           ``auto``, ``alpha``, ``border``, ``saliency``
``ATTR_UTILS_SMOKE``       images per class for quick test runs         unset (everything)
=========================  ===========================================  ==================
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from dataclasses import dataclass

from attr_utils.engines import default_engine
from attr_utils.errors import ParameterError
from attr_utils.pooling import MASK_SOURCES, POOLINGS, uses_mask
from attr_utils.validation import check_choice, check_int

__all__ = [
    "ENV",
    "NotebookParams",
    "load_notebook_dataset",
    "load_notebook_embeddings",
    "attribute_columns",
    "notebook_params",
    "setup_notebook",
]

#: Environment variable read for each parameter.
ENV = {
    "dataset": "ATTR_UTILS_DATASET",
    "backbone": "ATTR_UTILS_BACKBONE",
    "weights": "ATTR_UTILS_WEIGHTS",
    "engine": "ATTR_UTILS_ENGINE",
    "smoke": "ATTR_UTILS_SMOKE",
    "pooling": "ATTR_UTILS_POOLING",
    "mask": "ATTR_UTILS_MASK",
}


@dataclass(frozen=True)
class NotebookParams:
    """What a notebook runs on.

    Attributes
    ----------
    dataset : str or None
        Dataset path; ``None`` means the bundled synthetic catalog (generated
        on first use).
    backbone : str
        Backbone name, or ``"auto"`` (the paper's ResNet-50 when its ImageNet
        weights are available, else the offline pretrained EfficientNet-Lite0).
    weights : str or None
        Weights specification; ``None`` lets the backbone use its pretrained
        weights.
    smoke : int or None
        When set, only this many images per class are used (test runs).
    engine : str
        Inference engine (``"auto"``, ``"keras"``, ``"openvino"``); the
        vectors agree within 1e-5 whichever runs.
    pooling : str
        How each block's feature map becomes a vector: ``"average"`` (the
        paper's), ``"max"``, ``"foreground"``, ``"interior"``
        (:mod:`attr_utils.pooling`).
    mask : str
        Mask source of the foreground/interior poolings (``"auto"``,
        ``"alpha"``, ``"border"``, ``"saliency"``).
    """

    dataset: str | None = None
    backbone: str = "auto"
    weights: str | None = None
    smoke: int | None = None
    engine: str = "auto"
    pooling: str = "average"
    mask: str = "auto"

    @property
    def dataset_label(self) -> str:
        """Human name of the dataset, for headers."""
        name = self.dataset or "synthetic catalog (bundled default)"
        return f"{name}, smoke run: {self.smoke} per class" if self.smoke else name

    def _repr_markdown_(self) -> str:
        rows = [
            ("dataset", self.dataset_label),
            ("backbone", self.backbone),
            ("weights", self.weights or "the backbone's pretrained weights"),
            ("engine", self.engine),
            ("pooling", self.pooling + (f" ({self.mask} mask)" if uses_mask(self.pooling) else "")),
        ]
        lines = ["| parameter | value |", "|---|---|"] + [f"| {k} | `{v}` |" for k, v in rows]
        return "\n".join(lines)


def _parse_smoke(text: str) -> int | None:
    text = text.strip()
    if not text or text.lower() in ("0", "false", "no", "off"):
        return None
    try:
        value = int(text)
    except ValueError:
        raise ParameterError(f"`{ENV['smoke']}` must be a positive integer (images per class), got {text!r}") from None
    if value < 1:
        raise ParameterError(f"`{ENV['smoke']}` must be a positive integer (images per class), got {value}")
    return value


def notebook_params(
    *,
    dataset: str | None = None,
    backbone: str | None = None,
    weights: str | None = None,
    smoke: int | None = None,
    engine: str | None = None,
    pooling: str | None = None,
    mask: str | None = None,
) -> NotebookParams:
    """Read the notebook parameters from the environment.

    Keyword arguments override the environment (handy in tests).

    Parameters
    ----------
    dataset, backbone, weights : str, optional
        Override ``ATTR_UTILS_DATASET``, ``ATTR_UTILS_BACKBONE`` and
        ``ATTR_UTILS_WEIGHTS``.
    smoke : int, optional
        Override ``ATTR_UTILS_SMOKE``.
    engine : str, optional
        Override ``ATTR_UTILS_ENGINE``.
    pooling, mask : str, optional
        Override ``ATTR_UTILS_POOLING`` and ``ATTR_UTILS_MASK``.

    Returns
    -------
    NotebookParams

    Raises
    ------
    ValueError
        ``ATTR_UTILS_SMOKE`` is not a positive integer, ``ATTR_UTILS_ENGINE``
        is not an engine, or ``ATTR_UTILS_POOLING`` / ``ATTR_UTILS_MASK`` are
        not a pooling / mask source (:class:`~attr_utils.errors.ParameterError`).

    Examples
    --------
    >>> notebook_params(backbone="resnet50", smoke=10).backbone
    'resnet50'
    """
    env = os.environ
    if smoke is not None:
        smoke = check_int("smoke", smoke, min=1)
    else:
        smoke = _parse_smoke(env.get(ENV["smoke"], ""))
    return NotebookParams(
        dataset=dataset or env.get(ENV["dataset"]) or None,
        backbone=backbone or env.get(ENV["backbone"]) or "auto",
        weights=weights or env.get(ENV["weights"]) or None,
        smoke=smoke,
        engine=default_engine(engine or env.get(ENV["engine"]) or "auto"),
        # a bad value from the environment is named by its variable ("`$ATTR_UTILS_POOLING` must be one of ...")
        pooling=check_choice("pooling" if pooling else f"${ENV['pooling']}", pooling or env.get(ENV["pooling"]) or "average", POOLINGS),
        mask=check_choice("mask" if mask else f"${ENV['mask']}", mask or env.get(ENV["mask"]) or "auto", MASK_SOURCES),
    )


def setup_notebook(**overrides) -> NotebookParams:
    """First call of every notebook: quiet logs, offline Plotly, parameters from the environment.

    * TensorFlow's C++ start-up logs are silenced (``TF_CPP_MIN_LOG_LEVEL=2``
      unless already set), so pages show results, not log noise.
    * Plotly renders with the ``plotly_mimetype`` renderer: the figure travels
      as JSON and is drawn by the plotly.js bundled with the Jupyter
      extension, so figures work in JupyterLab and Voilà without internet.

    Parameters
    ----------
    **overrides
        Passed to :func:`notebook_params`.

    Returns
    -------
    NotebookParams
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import plotly.io as pio

    pio.renderers.default = "plotly_mimetype"
    return notebook_params(**overrides)


def _synthetic_per_class(smoke: int | None) -> int:
    """Catalog size for a smoke run: the smallest multiple of 10 holding ``smoke`` per class."""
    if smoke is None:
        return 100
    return max(10, int(math.ceil(smoke / 10.0)) * 10)


def load_notebook_dataset(params: NotebookParams | None = None):
    """The :class:`~attr_utils.datasets.Dataset` a notebook runs on.

    The synthetic catalog is generated on first use (a smaller one in smoke
    runs). In smoke runs every dataset keeps only the first ``smoke`` images
    of each class of its first label column.

    Parameters
    ----------
    params : NotebookParams, optional
        Default: :func:`notebook_params`.

    Returns
    -------
    attr_utils.datasets.Dataset
    """
    from attr_utils.datasets import Dataset, load_dataset

    params = params or notebook_params()
    if params.dataset is None:
        from attr_utils.synth import default_dataset

        source = default_dataset(per_class=_synthetic_per_class(params.smoke))
    else:
        source = params.dataset
    ds = load_dataset(source)
    if params.smoke and ds.label_columns:
        first = ds.label_columns[0]
        table = ds.table.groupby(first, sort=False, group_keys=False).head(params.smoke).reset_index(drop=True)
        ds = Dataset(table, list(ds.label_columns), ds.root, ds.kind, list(ds.skipped))
    elif params.smoke:
        ds = ds.head(params.smoke)
    return ds


@contextlib.contextmanager
def quiet_native_logs():
    """Inside a Jupyter kernel, drop what native libraries write straight to file descriptor 2.

    TensorFlow's C++ start-up messages ("oneDNN custom operations are on",
    "Could not find cuda drivers") bypass Python and ``TF_CPP_MIN_LOG_LEVEL``
    when absl logging is not initialised yet; ipykernel forwards them into the
    page. Python-level ``sys.stderr`` (progress bars, warnings) is untouched, and
    outside a kernel nothing is redirected.
    """
    if not type(sys.stderr).__module__.startswith("ipykernel"):
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def load_notebook_embeddings(params: NotebookParams | None = None, *, progress: bool = True):
    """Embed the notebook's dataset with its backbone, weights and pooling (cached).

    Parameters
    ----------
    params : NotebookParams, optional
        Default: :func:`notebook_params`.
    progress : bool, default=True
        Show a progress bar while images go through the network (a warm cache
        skips the network entirely).

    Returns
    -------
    Embeddings
    """
    import io

    from attr_utils.embedder import embed
    from attr_utils.model import ModelSpec

    params = params or notebook_params()
    data = load_notebook_dataset(params)
    # Keras prints "Downloading data from ..." on stdout while backbone="auto" probes for the
    # ResNet-50 weights; the outcome is reported by the provenance banner instead.
    with contextlib.redirect_stdout(io.StringIO()), quiet_native_logs():
        model = ModelSpec(params.backbone, params.weights, pooling=params.pooling,
                          mask=params.mask if uses_mask(params.pooling) else "auto")
        return embed(data, model=model, engine=params.engine, progress=progress)


def attribute_columns(emb) -> list[str]:
    """The label columns the analyses run on: colour and texture when present, else every label column.

    The paper studies colour and texture; a user's dataset may call its single
    label ``label`` (folder per class) or have other attributes.
    """
    from attr_utils.apps._ui import label_column

    found = [c for c in (label_column(emb, "color"), label_column(emb, "texture")) if c]
    return found or list(emb.label_columns)
