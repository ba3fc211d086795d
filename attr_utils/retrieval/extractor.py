"""A trainless attribute classifier over one block: nearest labelled examples vote.

The paper's practical point: an eCommerce catalog's attribute values change
often (a new colour name, a new pattern), so the extractor must take new
values from a few examples without any training. :class:`AttributeExtractor`
stores L2-normalised example vectors of one block with their values and
classifies a new image by a distance-weighted vote of its ``k`` nearest
examples (cosine distance). Adding a value or more examples of one appends
rows: nothing else is recomputed except the unknown threshold.

Unknown threshold
-----------------
For every example, the distance to its nearest *other* example is measured
(leave-one-out). ``threshold_`` is the ``unknown_quantile`` quantile of those
distances (default 0.95) times ``1 + unknown_margin`` (default 0.25): a query
farther from every example than known items typically are from their nearest
fellow example is flagged ``unknown``. It is recomputed whenever examples are
added.

Calibration
-----------
``calibration()`` predicts every example out of fold (stratified folds that
keep content duplicates together, via :mod:`attr_utils.duplicates`) with the
extractor's own vote, so ``calibration_curve()`` says how often a prediction
of a given confidence is right, and ``threshold_for_precision(p)`` picks the
smallest confidence at which the kept predictions reach precision ``p``.
``votes()`` is ``predict()`` with the vote's margin and the voters' paths.

Saved form
----------
``save(dir)`` writes ``extractor.json`` (parameters, backbone, weights
identity, model signature, threshold, format version) and ``examples.parquet``
(``path``, ``value`` and the float32 vector as a fixed-size list): no pickle.
``load(dir, backbone=..., weights=...)`` refuses a directory written by a
different backbone or weights, saying which.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from attr_utils.datasets import missing_labels
from attr_utils.embeddings import Embeddings
from attr_utils.errors import (
    BackboneError,
    DatasetError,
    ImageDecodeError,
    MissingFileError,
    NotFittedError,
    ParameterError,
    WeightsError,
)
from attr_utils.retrieval.index import normalize_rows
from attr_utils.validation import check_int, check_real, check_seed

__all__ = ["RESERVED_VALUE", "AttributeExtractor", "check_value_name", "reliability_table", "threshold_for_precision"]

#: The verdict of an image no example is near; never a value's name.
RESERVED_VALUE = "unknown"


def check_value_name(value) -> str:
    """An attribute value's name, checked: a non-empty one-line string, not the reserved verdict.

    Parameters
    ----------
    value : str
        The name; surrounding spaces are stripped.

    Returns
    -------
    str
        The stripped name.

    Raises
    ------
    ParameterError
        Not a string, empty, holding a control character (tab, newline...:
        the CLI prints one value per line and column), or ``"unknown"``
        (any case: the verdict of an image no example is near).
    """
    if not isinstance(value, str):
        raise ParameterError(f"the value must be a string, got {type(value).__name__}")
    value = value.strip()
    if not value:
        raise ParameterError("the value is empty: type a name for the selection")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ParameterError(f"the value must be one line without tabs or control characters, got {value!r}")
    if value.casefold() == RESERVED_VALUE:
        raise ParameterError(f"{value!r} is reserved for the verdict of an image no example is near; choose another name")
    return value

_FORMAT = 1
_META = "extractor.json"
_EXAMPLES = "examples.parquet"


class AttributeExtractor:
    """Classify one attribute (colour, texture, ...) from labelled examples, without training.

    Parameters
    ----------
    block : str, optional
        Block whose vectors are compared. Default: the backbone's registered
        default block for the attribute named like the label column (e.g.
        ``"color"`` -> block2 on resnet50), else the backbone's last block.
    k : int, default=5
        Nearest examples that vote (the paper's kNN uses 5).
    unknown_quantile : float or None, default=0.95
        Quantile of the leave-one-out nearest-example distances that
        calibrates the unknown threshold; None disables ``unknown``.
    unknown_margin : float, default=0.25
        The threshold is the quantile times ``1 + unknown_margin``.
    backbone : str, default="resnet50"
        Backbone used to embed images given as paths/bytes/PIL (when fitting
        on Embeddings, the Embeddings' backbone wins).
    weights : str, optional
        Weights spec for the same purpose (default: the backbone's).
    resize : {"stretch", "pad", "crop"}, default="stretch"
        Resize policy for the same purpose.
    cache_dir : path-like, optional
        Embedding cache.

    Attributes
    ----------
    classes_ : list of str
        Known values, sorted.
    examples_ : pandas.DataFrame
        ``path`` and ``value`` of every example, in insertion order.
    vectors_ : ndarray of shape (n_examples, dim)
        L2-normalised example vectors.
    threshold_ : float
        Distance above which a prediction is ``unknown`` (inf if disabled).
    block_, backbone_, weights_, weights_spec_, signature_, resize_ : str
        The model identity the examples were embedded with.
    pooling_, mask_ : str
        Their pooling and mask source (:mod:`attr_utils.pooling`): image
        queries are embedded with the same.

    Notes
    -----
    Values are stored as strings (labels read from CSV files may be numbers).

    Examples
    --------
    >>> ex = AttributeExtractor(k=5).fit(emb, "color")  # doctest: +SKIP
    >>> ex.add_examples("teal", ["teal1.jpg", "teal2.jpg", "teal3.jpg"])  # doctest: +SKIP
    >>> ex.predict(["new.jpg"])  # doctest: +SKIP
    """

    def __init__(self, block: str | None = None, *, k: int = 5, unknown_quantile: float | None = 0.95,
                 unknown_margin: float = 0.25, backbone: str = "resnet50", weights: str | None = None,
                 resize: str = "stretch", cache_dir: str | os.PathLike | None = None):
        self.block = block
        self.k = k
        self.unknown_quantile = unknown_quantile
        self.unknown_margin = unknown_margin
        self.backbone = backbone
        self.weights = weights
        self.resize = resize
        self.cache_dir = cache_dir

    # -- validation ---------------------------------------------------------
    def _validate_params(self) -> None:
        check_int("k", self.k, min=1)
        check_real("unknown_quantile", self.unknown_quantile, min=0.0, max=1.0, closed="right", allow_none=True)
        check_real("unknown_margin", self.unknown_margin, min=0.0)
        if self.block is not None and not isinstance(self.block, str):
            raise ParameterError(f"`block` must be a block name or None, got {type(self.block).__name__}")

    def _check_fitted(self) -> None:
        if not hasattr(self, "vectors_"):
            raise NotFittedError("this AttributeExtractor is not fitted yet; call fit() or from_examples() first")

    # -- embedding ------------------------------------------------------------
    def _embed_dataset(self, data, label: str) -> Embeddings:
        from attr_utils.datasets import load_dataset
        from attr_utils.embedder import embed

        dataset = load_dataset(data)
        dataset.require_label(label)
        return embed(dataset, backbone=self.backbone, weights=self.weights, cache_dir=self.cache_dir,
                     resize=self.resize, progress=False)

    def _model_params(self) -> dict:
        """``backbone``, ``weights``, ``resize`` of the fitted examples (the constructor's for vectors from arrays)."""
        if getattr(self, "backbone_", "arrays") == "arrays" or not getattr(self, "weights_spec_", None):
            return {"backbone": self.backbone, "weights": self.weights, "resize": self.resize}
        return {"backbone": self.backbone_, "weights": self.weights_spec_, "resize": self.resize_}

    def _embed_images(self, images, on_error: str = "raise") -> Embeddings:
        from attr_utils.embedder import embed_images

        if self.backbone_ == "arrays" or not self.weights_spec_:
            raise ParameterError(
                f"this extractor was fitted on precomputed vectors ({self.backbone_} · {self.weights_}); "
                "pass Embeddings or an array of block vectors instead of images"
            )
        from attr_utils.model import ModelSpec

        pooling, mask = getattr(self, "pooling_", "average"), getattr(self, "mask_", "") or "auto"
        model = ModelSpec(self.backbone_, self.weights_spec_, resize=self.resize_, pooling=pooling, mask=mask)
        return embed_images(list(images), model=model, cache_dir=self.cache_dir, on_error=on_error)

    def _vectors_of(self, images, skipped: list | None = None) -> tuple[np.ndarray, list[str]]:
        """Block vectors (normalised) and names of ``images``: Embeddings, array, or images.

        With a ``skipped`` list, images that cannot be read or decoded are left
        out and appended to it as :class:`~attr_utils.embeddings.Skipped`
        (an error only when none is usable); without, the first one raises
        (examples must all be usable).
        """
        if isinstance(images, Embeddings):
            emb = images
            if skipped is not None:
                skipped.extend(emb.report.skipped)
        elif isinstance(images, np.ndarray) and images.dtype != object:
            x = np.atleast_2d(np.asarray(images, dtype=np.float32))
            if x.shape[1] != self.vectors_.shape[1]:
                raise ParameterError(f"vectors have dimension {x.shape[1]}; block {self.block_!r} has {self.vectors_.shape[1]}")
            return normalize_rows(x), [f"vector-{i}" for i in range(len(x))]
        else:
            if isinstance(images, (str, os.PathLike, bytes)) or not isinstance(images, Iterable):
                images = [images]
            emb = self._embed_images(images, on_error="raise" if skipped is None else "skip")
            if skipped is not None:
                skipped.extend(emb.report.skipped)
        self._check_identity(emb.backbone, emb.weights, emb.signature, what="these images")
        if self.block_ not in emb.blocks:
            raise ParameterError(f"block {self.block_!r} is not in these embeddings; available: {emb.block_names}")
        return normalize_rows(emb[self.block_]), emb.paths

    def _check_identity(self, backbone: str | None, weights: str | None, signature: str | None = None, *, what: str) -> None:
        if backbone is not None and backbone != self.backbone_:
            raise BackboneError(
                f"{what} come from backbone {backbone!r}, but the extractor was built with {self.backbone_!r}; "
                "embed with the same backbone or rebuild the extractor"
            )
        if weights is not None and weights != self.weights_:
            raise WeightsError(
                f"{what} come from weights {weights!r}, but the extractor was built with {self.weights_!r}; "
                "use the same weights or rebuild the extractor"
            )
        if signature and self.signature_ and signature != self.signature_:
            raise WeightsError(
                f"{what} were embedded under model signature {signature}, the extractor under {self.signature_} "
                "(same names, different model or preprocessing); rebuild the extractor"
            )

    # -- fitting --------------------------------------------------------------
    def fit(self, X, label: str | None = None) -> AttributeExtractor:
        """Store the labelled examples of ``X``.

        Parameters
        ----------
        X : Embeddings, Dataset, str or path-like
            Embeddings with a label column, or a dataset (folder per class,
            CSV manifest) that is embedded with ``backbone``/``weights``.
        label : str
            The label column holding the attribute values. Default ``"label"``
            (the column of a folder-per-class dataset).

        Returns
        -------
        self

        Raises
        ------
        ImageDecodeError
            No image of the dataset could be read (the message names the
            first skipped file and its reason).
        DatasetError
            No example carries a label in ``label``.
        """
        self._validate_params()
        label = label or "label"
        emb = X if isinstance(X, Embeddings) else self._embed_dataset(X, label)
        if len(emb) == 0 and emb.report.skipped:
            skipped = emb.report.skipped
            more = f" and {len(skipped) - 1} more" if len(skipped) > 1 else ""
            raise ImageDecodeError(f"no image could be read: {len(skipped)} file(s) skipped "
                                   f"({skipped[0].path}: {skipped[0].reason}{more})")
        values = emb.labels(label)
        keep = ~missing_labels(values)  # None, NaN and blank cells: never a value ""
        if not keep.all():
            warnings.warn(f"{int((~keep).sum())} example(s) without a {label!r} label are left out", UserWarning,
                          stacklevel=2)
            emb = emb.subset(np.flatnonzero(keep))
            values = values[keep]
        if len(emb) == 0:
            raise DatasetError(f"no labelled examples in column {label!r}")
        self.label_ = label
        self.block_ = self._choose_block(emb, label)
        self.backbone_, self.weights_ = emb.backbone, emb.weights
        self.weights_label_, self.pretrained_ = emb.weights_label or emb.weights, bool(emb.pretrained)
        self.weights_spec_, self.signature_, self.resize_ = emb.weights_spec, emb.signature, emb.resize
        self.pooling_, self.mask_ = getattr(emb, "pooling", "average"), getattr(emb, "mask", "")  # queries pooled alike
        self.vectors_ = normalize_rows(emb[self.block_])
        self.examples_ = pd.DataFrame({"path": emb.paths, "value": [str(v) for v in values]})
        self._calibrate()
        return self

    def _choose_block(self, emb: Embeddings, label: str) -> str:
        block = self.block
        if block is None:
            try:
                from attr_utils.backbones import get_backbone

                defaults = get_backbone(emb.backbone).default_blocks
            except BackboneError:
                defaults = {}
            key = {"colour": "color", "pattern": "texture"}.get(label.lower(), label.lower())
            block = defaults.get(key) or emb.block_names[-1]
        if block not in emb.blocks:
            raise ParameterError(f"block {block!r} is not in these embeddings; available: {emb.block_names}")
        return block

    @classmethod
    def from_examples(cls, examples: Mapping[str, Iterable] | pd.DataFrame | str | os.PathLike, *,
                      label: str | None = None, **params) -> AttributeExtractor:
        """Build an extractor from ``{value: [images...]}``, a dataset path or a CSV.

        Parameters
        ----------
        examples : mapping, Dataset, str or path-like
            ``{"red": ["a.jpg", ...], "blue": [...]}`` (images as paths,
            bytes or PIL images), or anything :meth:`fit` accepts.
        label : str, optional
            Label column when ``examples`` is a dataset; with a mapping, the
            attribute's name (``"color"`` picks the backbone's colour block).
        **params
            Constructor parameters (``block``, ``k``, ``backbone``, ``weights``...).
        """
        self = cls(**params)
        if not isinstance(examples, Mapping):
            return self.fit(examples, label)
        self._validate_params()
        if not examples:
            raise ParameterError("`examples` is empty: give at least one value with its images")
        from attr_utils.embedder import embed_images

        names, values, parts = [], [], []
        for value, images in examples.items():
            images = list(images)
            if not images:
                raise ParameterError(f"value {value!r} has no example images")
            emb = embed_images(images, backbone=self.backbone, weights=self.weights, resize=self.resize,
                               cache_dir=self.cache_dir, on_error="raise")  # every example must be usable
            parts.append(emb)
            names += emb.paths
            values += [str(value)] * len(emb)
        first = parts[0]
        blocks = {b: np.concatenate([p[b] for p in parts]) for b in first.block_names}
        column = label or "value"
        table = pd.DataFrame({"path": names, "hash": "", column: values})
        emb = Embeddings(table=table, blocks=blocks, backbone=first.backbone, weights=first.weights,
                         weights_label=first.weights_label, pretrained=first.pretrained, label_columns=(column,),
                         signature=first.signature, weights_spec=first.weights_spec, resize=first.resize)
        return self.fit(emb, column)

    def add_examples(self, value, images) -> AttributeExtractor:
        """Add a new attribute value, or more examples of a known one.

        Existing examples are kept as they are; only the unknown threshold is
        recalibrated.

        Parameters
        ----------
        value : str
            The attribute value the images show: one line, not ``"unknown"``
            (surrounding spaces stripped).
        images : Embeddings, ndarray or iterable of images
            Example images (paths, bytes, PIL), their Embeddings (same
            backbone/weights), or vectors of the extractor's block.

        Returns
        -------
        self

        Raises
        ------
        ParameterError
            ``value`` is not a valid name (:func:`check_value_name`), or ``images`` is empty.
        """
        self._check_fitted()
        value = check_value_name(value)
        x, names = self._vectors_of(images)
        if len(x) == 0:
            raise ParameterError("`images` is empty")
        self.vectors_ = np.concatenate([self.vectors_, x.astype(np.float32)])
        self.examples_ = pd.concat(
            [self.examples_, pd.DataFrame({"path": names, "value": [str(value)] * len(x)})], ignore_index=True
        )
        self._calibrate()
        return self

    def _calibrate(self) -> None:
        """Unknown threshold from each example's distance to its nearest *other* image.

        Leave-one-out, with the item's whole content group left out: examples
        with identical vectors (the same image listed twice, whatever its
        name: identical content gives identical vectors) are one group, so a
        copy at distance 0 cannot shrink the threshold. Examples whose only
        neighbours are their own copies have no distance (NaN in
        ``loo_distances_``) and do not enter the quantile.
        """
        self.classes_ = sorted(self.examples_["value"].unique().tolist())
        n = len(self.vectors_)
        if self.unknown_quantile is None or n < 2:
            self.threshold_ = float("inf")
            self.loo_distances_ = np.full(n, np.nan)
            return
        _, group = np.unique(self.vectors_, axis=0, return_inverse=True)
        group = np.asarray(group).reshape(-1)
        nearest = np.empty(n)
        for s in range(0, n, 1024):
            d = 1.0 - self.vectors_[s : s + 1024] @ self.vectors_.T
            d[group[s : s + 1024, None] == group[None, :]] = np.inf  # self and its copies
            nearest[s : s + 1024] = np.maximum(d.min(axis=1), 0.0)
        nearest[~np.isfinite(nearest)] = np.nan
        self.loo_distances_ = nearest
        if np.isnan(nearest).all():
            self.threshold_ = float("inf")
            return
        self.threshold_ = float(np.nanquantile(nearest, self.unknown_quantile) * (1.0 + self.unknown_margin))

    # -- prediction -----------------------------------------------------------
    def kneighbors(self, images, *, exclude_self: bool = False, return_skipped: bool = False):
        """Distances and example rows of the ``k`` nearest examples of each image.

        Parameters
        ----------
        images : Embeddings, ndarray or iterable of images
            As in :meth:`predict`.
        exclude_self : bool, default=False
            Leave out of an image's neighbours the examples with its own
            content (bitwise the same vector: the image itself when it is an
            example), as :func:`attr_utils.retrieval.catalog.search` leaves the
            query out; such examples get distance ``inf`` and no vote.
        return_skipped : bool, default=False
            Also return the images that could not be read or decoded.

        Returns
        -------
        distances : ndarray of shape (n_usable, k), float
            Cosine distances, nearest first.
        rows : ndarray of shape (n_usable, k), int
            Rows of ``examples_``.
        names : list of str
            The usable images, in input order (unusable ones are left out).
        skipped : list of Skipped
            Only with ``return_skipped=True``: path and reason of each image
            left out.

        Raises
        ------
        ImageDecodeError
            No image could be used.
        """
        self._check_fitted()
        skipped: list = []
        x, names = self._vectors_of(images, skipped)
        if len(x) == 0:
            empty = np.zeros((0, min(int(self.k), len(self.vectors_))))
            return (empty, empty.astype(int), names, skipped) if return_skipped else (empty, empty.astype(int), names)
        k = min(int(self.k), len(self.vectors_))
        d = np.maximum(1.0 - x @ self.vectors_.T, 0.0)
        if exclude_self:
            own = _row_digests(self.vectors_)
            for i, digest in enumerate(_row_digests(x.astype(self.vectors_.dtype, copy=False))):
                d[i, own == digest] = np.inf
        part = np.argpartition(d, k - 1, axis=1)[:, :k] if k < d.shape[1] else np.tile(np.arange(d.shape[1]), (len(d), 1))
        dd = np.take_along_axis(d, part, axis=1)
        order = np.lexsort((part, dd), axis=1)
        out = np.take_along_axis(dd, order, axis=1), np.take_along_axis(part, order, axis=1), names
        return (*out, skipped) if return_skipped else out

    def predict(self, images, *, exclude_self: bool = False) -> pd.DataFrame:
        """Attribute value of each image.

        Parameters
        ----------
        images : Embeddings, ndarray or iterable of images
            Paths, bytes or PIL images (embedded like the examples), their
            Embeddings, or vectors of the extractor's block.
        exclude_self : bool, default=False
            An image that is itself an example does not vote for itself
            (see :meth:`kneighbors`): for predicting catalog items that are examples.

        Returns
        -------
        pandas.DataFrame
            One row per usable image, in input order: ``path``, ``value`` (the winning value),
            ``confidence`` (its share of the inverse-distance-weighted vote of
            the ``k`` nearest examples, in (0, 1]), ``unknown`` (True when
            even the nearest example is farther than ``threshold_``),
            ``distance`` (to the nearest example). Images that cannot be
            read or decoded are not answered: ``attrs["skipped"]`` lists them
            (:class:`~attr_utils.embeddings.Skipped`: path and reason).

        Raises
        ------
        ImageDecodeError
            No image could be read and decoded (a single bad image included).
        BackboneError, WeightsError
            Embeddings from a different model than the examples'.
        """
        out = self.votes(images, exclude_self=exclude_self)
        return out.drop(columns=["margin", "neighbours"])

    def votes(self, images, *, exclude_self: bool = False) -> pd.DataFrame:
        """:meth:`predict` with the vote's details: margin and voters.

        Parameters
        ----------
        images : Embeddings, ndarray or iterable of images
            As in :meth:`predict`.
        exclude_self : bool, default=False
            As in :meth:`predict`.

        Returns
        -------
        pandas.DataFrame
            :meth:`predict`'s columns plus ``margin`` (vote share of the
            winner minus that of the runner-up, in [0, 1]; 1 when every voter
            agrees) and ``neighbours`` (``path`` of the ``k`` examples that
            voted, nearest first, as a list of str).
        """
        dist, rows, names, skipped = self.kneighbors(images, exclude_self=exclude_self, return_skipped=True)
        value, conf, margin = _vote(dist, self.examples_["value"].to_numpy()[rows])
        example_paths = self.examples_["path"].astype(str).to_numpy()
        nearest = dist[:, 0] if dist.shape[1] else np.zeros(len(dist))
        out = pd.DataFrame({
            "path": names, "value": value, "confidence": conf, "margin": margin,
            "unknown": nearest > self.threshold_, "distance": nearest.astype(float),
            "neighbours": [example_paths[r].tolist() for r in rows],
        })
        out.attrs.update(self._provenance())
        out.attrs["skipped"] = list(skipped)
        return out

    def _provenance(self) -> dict:
        return {"backbone": self.backbone_, "weights": self.weights_, "block": self.block_,
                "pretrained": self.pretrained_, "weights_label": self.weights_label_}

    # -- calibration ------------------------------------------------------------
    def _example_groups(self) -> np.ndarray:
        """Content group of every example (attr_utils.duplicates, ``groups="hash"``).

        Examples carry no file hash once fitted; identical content gives
        identical vectors, so the digest of each vector stands for it.
        """
        import hashlib

        from attr_utils.duplicates import content_groups

        digests = [hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest() for v in self.vectors_]
        table = pd.DataFrame({"path": self.examples_["path"].astype(str).tolist(), "hash": digests})
        emb = Embeddings(table=table, blocks={self.block_: self.vectors_}, backbone=self.backbone_, weights=self.weights_)
        return content_groups(emb, groups="hash")

    def calibration(self, *, folds: int = 5, seed: int = 0) -> pd.DataFrame:
        """Out-of-fold vote of every example: how confidence relates to accuracy.

        Each example is predicted by the extractor's own vote (same ``k``,
        same distance weighting) from the examples of the other folds.
        Folds are stratified by value and keep content duplicates together
        (scikit-learn's ``StratifiedGroupKFold`` over
        :func:`attr_utils.duplicates.content_groups`), so a copy of an
        example never votes for itself.

        Parameters
        ----------
        folds : int, default=5
            Number of folds (the paper's 5); lowered to the size of the
            smallest value when that is smaller (at least 2).
        seed : int, default=0
            Seed of the fold shuffle.

        Returns
        -------
        pandas.DataFrame
            One row per example: ``path``, ``value`` (its label),
            ``predicted``, ``confidence``, ``margin``, ``correct`` (bool),
            ``fold``. ``attrs`` hold the provenance, ``folds`` and ``seed``.

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        ParameterError
            ``folds`` is not an integer >= 2, ``seed`` is negative, or the
            examples hold fewer than 2 distinct images of some value.
        """
        from sklearn.model_selection import StratifiedGroupKFold

        self._check_fitted()
        folds = check_int("folds", folds, min=2)
        seed = check_seed(seed)
        y = self.examples_["value"].astype(str).to_numpy()
        groups = self._example_groups()
        smallest = min(len(np.unique(groups[y == v])) for v in np.unique(y))
        n_splits = min(folds, smallest)
        if n_splits < 2:
            raise ParameterError(
                f"calibration needs at least 2 distinct example images of every value; the smallest value has {smallest}"
            )
        splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        n = len(y)
        pred = np.empty(n, dtype=object)
        conf, margin, fold_of = np.zeros(n), np.zeros(n), np.zeros(n, dtype=np.int64)
        for fold, (train, test) in enumerate(splitter.split(np.zeros(n), y, groups)):
            k = min(int(self.k), len(train))
            d = np.maximum(1.0 - self.vectors_[test] @ self.vectors_[train].T, 0.0)
            part = np.argsort(d, axis=1, kind="stable")[:, :k]
            v, c, m = _vote(np.take_along_axis(d, part, axis=1), y[train][part])
            pred[test], conf[test], margin[test], fold_of[test] = v, c, m, fold
        out = pd.DataFrame({"path": self.examples_["path"].astype(str).to_numpy(), "value": y,
                            "predicted": pred.astype(str), "confidence": conf, "margin": margin,
                            "correct": pred.astype(str) == y, "fold": fold_of})
        out.attrs.update(self._provenance())
        out.attrs.update({"label": self.label_, "k": int(self.k), "folds": n_splits, "seed": seed})
        return out

    def calibration_curve(self, *, bins: int = 10, folds: int = 5, seed: int = 0) -> pd.DataFrame:
        """Reliability curve: accuracy per confidence bin, on the extractor's own examples.

        Parameters
        ----------
        bins : int, default=10
            Equal-width confidence bins over [0, 1].
        folds, seed
            As in :meth:`calibration`.

        Returns
        -------
        pandas.DataFrame
            One row per non-empty bin: ``bin_low``, ``bin_high``,
            ``confidence`` (mean confidence in the bin), ``accuracy``,
            ``count``. ``attrs`` add ``ece`` (expected calibration error:
            count-weighted mean of ``|accuracy - confidence|``) and
            ``accuracy`` (overall).
        """
        bins = check_int("bins", bins, min=1)
        cal = self.calibration(folds=folds, seed=seed)
        return reliability_table(cal["confidence"].to_numpy(), cal["correct"].to_numpy(), bins=bins, attrs=cal.attrs)

    def threshold_for_precision(self, precision: float, *, folds: int = 5, seed: int = 0) -> float:
        """Smallest confidence threshold whose out-of-fold precision reaches ``precision``.

        Parameters
        ----------
        precision : float
            Requested precision, in (0, 1].
        folds, seed
            As in :meth:`calibration`.

        Returns
        -------
        float
            Keep predictions whose ``confidence >= threshold``; ``inf`` when
            no threshold reaches the precision on the examples.

        See Also
        --------
        threshold_for_precision : the same on any scores.
        """
        precision = check_real("precision", precision, min=0.0, max=1.0, closed="right")
        cal = self.calibration(folds=folds, seed=seed)
        return threshold_for_precision(cal["confidence"].to_numpy(), cal["correct"].to_numpy(), precision)

    def fingerprint(self) -> str:
        """SHA-256 of everything that decides a prediction: model identity, block, parameters, examples.

        Two extractors with the same fingerprint tag every image alike, so
        :func:`attr_utils.retrieval.tagging.tag_catalog` reuses the tags of
        one for the other.
        """
        import hashlib

        self._check_fitted()
        h = hashlib.sha256()
        ident = {"backbone": self.backbone_, "weights": self.weights_, "signature": self.signature_,
                 "resize": self.resize_, "block": self.block_, "k": int(self.k),
                 "threshold": self.threshold_ if np.isfinite(self.threshold_) else None}
        h.update(json.dumps(ident, sort_keys=True).encode())
        h.update(np.ascontiguousarray(self.vectors_, dtype=np.float32).tobytes())
        h.update("\x1f".join(self.examples_["value"].astype(str)).encode())
        h.update("\x1f".join(self.examples_["path"].astype(str)).encode())
        return h.hexdigest()

    # -- persistence ----------------------------------------------------------
    def save(self, folder: str | os.PathLike) -> Path:
        """Write the extractor to ``folder`` (``extractor.json`` + ``examples.parquet``)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._check_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        dim = int(self.vectors_.shape[1])
        vectors = pa.FixedSizeListArray.from_arrays(pa.array(self.vectors_.reshape(-1), type=pa.float32()), dim)
        table = pa.table({"path": self.examples_["path"].astype(str).tolist(),
                          "value": self.examples_["value"].astype(str).tolist(), "vector": vectors})
        pq.write_table(table, folder / _EXAMPLES)
        meta = {
            "format": _FORMAT, "kind": "attr_utils.AttributeExtractor",
            # the model the examples were embedded with, not the constructor's defaults (fit(Embeddings)
            # takes the vectors as they are): a loaded extractor embeds new examples the same way
            "params": {"block": self.block, "k": self.k, "unknown_quantile": self.unknown_quantile,
                       "unknown_margin": self.unknown_margin, **self._model_params()},
            "label": self.label_, "block": self.block_, "dim": dim, "n_examples": len(self.vectors_),
            "classes": self.classes_, "threshold": self.threshold_ if np.isfinite(self.threshold_) else None,
            "backbone": self.backbone_, "weights": self.weights_, "weights_label": self.weights_label_,
            "pretrained": self.pretrained_, "weights_spec": self.weights_spec_, "signature": self.signature_,
            "resize": self.resize_, "pooling": getattr(self, "pooling_", "average"), "mask": getattr(self, "mask_", ""),
        }
        (folder / _META).write_text(json.dumps(meta, indent=2))
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike, *, backbone: str | None = None, weights: str | None = None,
             cache_dir: str | os.PathLike | None = None) -> AttributeExtractor:
        """Load an extractor written by :meth:`save`.

        Parameters
        ----------
        folder : path-like
            The directory.
        backbone, weights : str, optional
            The model the caller will embed with; a directory written by a
            different backbone or weights raises.
        cache_dir : path-like, optional
            Embedding cache for later predictions.

        Raises
        ------
        MissingFileError
            ``folder`` holds no saved extractor.
        DatasetError
            A file of an unknown format, or inconsistent contents.
        BackboneError, WeightsError
            ``backbone`` or ``weights`` differ from the saved ones.
        """
        import pyarrow.parquet as pq

        folder = Path(folder)
        meta_path = folder / _META
        if not meta_path.is_file() or not (folder / _EXAMPLES).is_file():
            raise MissingFileError(f"{str(folder)!r} holds no saved attribute extractor ({_META} and {_EXAMPLES} expected)")
        try:
            meta = json.loads(meta_path.read_text())
        except (ValueError, UnicodeDecodeError):
            raise DatasetError(f"{str(meta_path)!r} is not valid JSON; it is not an attr-utils attribute extractor") from None
        if meta.get("kind") != "attr_utils.AttributeExtractor" or meta.get("format") != _FORMAT:
            raise DatasetError(f"{str(meta_path)!r} is not an attr-utils attribute extractor of format {_FORMAT}")
        params = dict(meta["params"])
        params["cache_dir"] = cache_dir
        self = cls(**params)
        self.label_, self.block_ = meta["label"], meta["block"]
        self.backbone_, self.weights_ = meta["backbone"], meta["weights"]
        self.weights_label_, self.pretrained_ = meta["weights_label"], meta["pretrained"]
        self.weights_spec_, self.signature_, self.resize_ = meta["weights_spec"], meta["signature"], meta["resize"]
        self.pooling_, self.mask_ = meta.get("pooling", "average"), meta.get("mask", "")
        if backbone is not None or weights is not None:
            self._check_identity(backbone, _weights_name(weights, backbone or self.backbone_), what=f"the requested model ({backbone or self.backbone_} · {weights or self.weights_})")
        table = pq.read_table(folder / _EXAMPLES)
        flat = table.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        vectors = np.ascontiguousarray(flat.reshape(len(table), -1), dtype=np.float32)
        if vectors.shape != (meta["n_examples"], meta["dim"]):
            raise DatasetError(f"{str(folder)!r}: examples.parquet holds {vectors.shape}, extractor.json says "
                             f"({meta['n_examples']}, {meta['dim']}); the directory is inconsistent")
        self.vectors_ = vectors
        self.examples_ = pd.DataFrame({"path": table.column("path").to_pylist(), "value": table.column("value").to_pylist()})
        self._calibrate()
        saved = meta["threshold"]
        self.threshold_ = float("inf") if saved is None else float(saved)
        return self

    def __repr__(self) -> str:
        if not hasattr(self, "vectors_"):
            return f"AttributeExtractor(block={self.block!r}, k={self.k})"
        return (f"AttributeExtractor({self.label_!r} on {self.block_} of {self.backbone_} · {self.weights_}: "
                f"{len(self.vectors_)} examples, {len(self.classes_)} values, k={self.k})")


def _vote(dist: np.ndarray, values: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Inverse-distance-weighted vote of each row's neighbours: winner, its share, its margin.

    Ties go to the alphabetically first value.
    """
    weights = 1.0 / (np.asarray(dist, dtype=float) + 1e-6)
    winner, share, margin = [], np.zeros(len(weights)), np.zeros(len(weights))
    for i, (v_row, w_row) in enumerate(zip(values, weights)):
        totals: dict[str, float] = {}
        for v, w in zip(v_row, w_row):
            totals[str(v)] = totals.get(str(v), 0.0) + float(w)
        ranked = sorted(totals, key=lambda v: (-totals[v], v))
        total = sum(totals.values())
        winner.append(ranked[0])
        if total == 0:  # every voter left out (``exclude_self`` on an extractor of that one example)
            continue
        share[i] = totals[ranked[0]] / total
        margin[i] = share[i] - (totals[ranked[1]] / total if len(ranked) > 1 else 0.0)
    return winner, share, margin


def threshold_for_precision(confidence, correct, precision: float) -> float:
    """Smallest confidence threshold at which the kept predictions reach ``precision``.

    Parameters
    ----------
    confidence : array-like of float, shape (n,)
        Confidence of each prediction.
    correct : array-like of bool, shape (n,)
        Whether each prediction was right (out of fold).
    precision : float
        Requested precision, in (0, 1].

    Returns
    -------
    float
        The smallest ``t`` among the observed confidences such that the
        predictions with ``confidence >= t`` are right in at least
        ``precision`` of cases; ``inf`` when none is (keep nothing).

    Raises
    ------
    ParameterError
        ``precision`` out of (0, 1], or inputs of different lengths or empty.

    Examples
    --------
    >>> threshold_for_precision([0.9, 0.8, 0.6, 0.4], [True, True, False, True], 1.0)
    0.8
    """
    precision = check_real("precision", precision, min=0.0, max=1.0, closed="right")
    conf = np.asarray(confidence, dtype=float).reshape(-1)
    ok = np.asarray(correct, dtype=bool).reshape(-1)
    if len(conf) != len(ok):
        raise ParameterError(f"`confidence` has {len(conf)} values but `correct` has {len(ok)}")
    if len(conf) == 0:
        raise ParameterError("`confidence` is empty")
    order = np.argsort(-conf, kind="stable")
    c, o = conf[order], ok[order]
    cum = np.cumsum(o) / np.arange(1, len(o) + 1)
    # only cut between distinct confidences: all items tied at t are kept together
    last_of_tie = np.r_[c[1:] != c[:-1], True]
    reach = np.flatnonzero(last_of_tie & (cum >= precision - 1e-12))
    return float(c[reach[-1]]) if len(reach) else float("inf")


def reliability_table(confidence, correct, *, bins: int = 10, attrs: Mapping | None = None) -> pd.DataFrame:
    """Accuracy per equal-width confidence bin (the reliability curve's points).

    Returns
    -------
    pandas.DataFrame
        ``bin_low``, ``bin_high``, ``confidence``, ``accuracy``, ``count``
        per non-empty bin; ``attrs["ece"]`` and ``attrs["accuracy"]``.
    """
    bins = check_int("bins", bins, min=1)
    conf = np.asarray(confidence, dtype=float)
    ok = np.asarray(correct, dtype=bool)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    rows = []
    for b in range(bins):
        m = which == b
        if m.any():
            rows.append({"bin_low": edges[b], "bin_high": edges[b + 1], "confidence": float(conf[m].mean()),
                         "accuracy": float(ok[m].mean()), "count": int(m.sum())})
    out = pd.DataFrame(rows, columns=["bin_low", "bin_high", "confidence", "accuracy", "count"])
    out.attrs.update(dict(attrs or {}))
    n = max(int(out["count"].sum()), 1)
    out.attrs["ece"] = float((out["count"] * (out["accuracy"] - out["confidence"]).abs()).sum() / n)
    out.attrs["accuracy"] = float(ok.mean()) if len(ok) else float("nan")
    return out


def _weights_name(spec: str | None, backbone: str) -> str | None:
    """The identity name ``spec`` resolves to for ``backbone`` (``random`` -> ``random:0``)."""
    if spec is None:
        return None
    from attr_utils.backbones import get_backbone

    try:
        return get_backbone(backbone).resolve_weights(spec, 0).name
    except (BackboneError, WeightsError):  # unregistered backbone (precomputed arrays) or unusable spec: compare as given
        return spec


def _row_digests(vectors: np.ndarray) -> np.ndarray:
    """SHA-256 of each row's bytes, shape (n,), dtype object: identical content has identical vectors."""
    import hashlib

    rows = np.ascontiguousarray(vectors)
    return np.array([hashlib.sha256(r.tobytes()).hexdigest() for r in rows], dtype=object)

