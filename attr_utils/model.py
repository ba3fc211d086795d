"""One multi-output Keras model that yields every block's pooled vector in a single forward pass."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from attr_utils.backbones import BackboneSpec, ResolvedWeights, get_backbone
from attr_utils.backbones.keras_support import RANDOM_INIT_VERSION, import_keras, seed_random_weights
from attr_utils.errors import BackboneError, ParameterError
from attr_utils.images import RESIZE_POLICIES
from attr_utils.pooling import check_mask_source, check_pooling, pooling_signature, uses_mask
from attr_utils.validation import check_choice, check_seed

__all__ = ["RANDOM_INIT_VERSION", "BlockModel", "ModelSpec", "check_taps", "import_keras", "model_spec", "seed_random_weights"]

#: The named tap selections: the five blocks (the paper's setup) or every candidate layer.
TAPS = ("blocks", "all")


def check_taps(taps) -> str | tuple[str, ...]:
    """``taps`` as ``"blocks"``, ``"all"`` or a tuple of layer names (checked against a backbone on resolve).

    Raises
    ------
    ParameterError
        A string other than ``"blocks"`` and ``"all"`` (one layer is
        ``["conv1_relu"]``), or not a non-empty sequence of non-empty strings.
    """
    if isinstance(taps, str):
        return check_choice("taps", taps, TAPS)
    if isinstance(taps, (list, tuple)) and taps and all(isinstance(t, str) and t for t in taps):
        return tuple(taps)
    raise ParameterError(f"`taps` must be 'blocks', 'all' or a non-empty list of layer names, got {taps!r}")


@dataclass(frozen=True)
class ModelSpec:
    """Which vectors to compute: backbone, weights, resize policy, seed, taps and pooling.

    One frozen value configured once and passed around (``embed(data,
    model=spec)``, to Dask workers as :meth:`to_dict`), instead of the same
    options repeated in every signature. Two specs that resolve alike give
    the same vectors and share one cache folder (:meth:`signature`). The
    inference engine is not part of it: every engine gives the same vectors.

    Parameters
    ----------
    backbone : str, default="resnet50"
        The paper's ResNet-50, another registered backbone, or ``"auto"``
        (see :func:`attr_utils.backbones.auto.resolve_backbone`).
    weights : str or path-like, optional
        ``"imagenet"``, ``"random[:SEED]"`` or a weights file. Default:
        ``$ATTR_UTILS_WEIGHTS``, else the backbone's pretrained weights
        (resolved by :meth:`resolve`, never silently replaced).
    resize : {"stretch", "pad", "crop"}, default="stretch"
        How images become square (stretch is Keras's ``load_img`` behaviour).
    seed : int, default=0
        Seed of ``"random"`` weights (an integer >= 0).
    taps : {"blocks", "all"} or sequence of str, default="blocks"
        Which layers are tapped, each globally average pooled, all in one
        forward pass. ``"blocks"``: the backbone's five blocks, named
        ``block1`` ... ``block5`` (the paper's setup; its cache signature is
        that of earlier releases). ``"all"``: every tap candidate of the
        backbone (:attr:`~attr_utils.backbones.BackboneSpec.all_taps`: the
        stem and every residual / MBConv unit output), named by layer. A list
        of layer names: those, in depth order. The taps are part of the
        cache signature, so each selection has its own cache folder; vectors
        a folder of the same model with more taps already holds (the blocks
        after ``"all"``) are copied from it, not recomputed
        (:meth:`attr_utils.cache.EmbeddingCache.stores_with_taps`).
    pooling : {"average", "max", "foreground", "interior"}, default="average"
        How each tap's feature map becomes one vector (see
        :mod:`attr_utils.pooling`). ``"average"``: global average pooling
        (the paper's; same vectors and cache signature as earlier releases).
        ``"max"``: global max pooling. ``"foreground"``: the average weighted
        by a per-image foreground mask (resized to each tap by area
        interpolation), so a studio background does not dilute the product's
        colour. ``"interior"``: the same over the mask eroded by 15 % of the
        object's size, for texture read inside the garment rather than from
        its outline. Part of the cache signature: poolings never share vectors.
    mask : {"auto", "alpha", "border", "saliency"}, default="auto"
        Where the foreground mask of ``"foreground"`` / ``"interior"`` comes
        from: the image's alpha channel, the border colour (near-uniform
        studio background), the saliency of the deepest tap's activations,
        or ``"auto"`` (alpha, else border, else saliency, each when plausible,
        else the plain average). Only with a mask pooling; each source's
        failure modes are documented in :mod:`attr_utils.pooling` and
        ``docs/pooling.md``.

    Raises
    ------
    ParameterError
        An option has the wrong type or value. An unknown backbone or
        unusable weights raise when resolved (:meth:`resolve`).

    Examples
    --------
    >>> spec = ModelSpec("efficientnet-lite0", resize="pad")
    >>> ModelSpec.from_dict(spec.to_dict()) == spec
    True
    """

    backbone: str = "resnet50"
    weights: str | None = None
    resize: str = "stretch"
    seed: int = 0
    taps: str | tuple[str, ...] = "blocks"
    pooling: str = "average"
    mask: str = "auto"

    def __post_init__(self) -> None:
        if not isinstance(self.backbone, str) or not self.backbone:
            raise ParameterError(f"`backbone` must be a backbone name or 'auto', got {self.backbone!r}")
        weights = self.weights
        if isinstance(weights, os.PathLike):
            weights = os.fspath(weights)
        if weights is not None and not isinstance(weights, str):
            raise ParameterError(f"`weights` must be 'imagenet', 'random[:SEED]', a weights file or None, got {weights!r}")
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "resize", check_choice("resize", self.resize, RESIZE_POLICIES))
        object.__setattr__(self, "seed", check_seed(self.seed))
        object.__setattr__(self, "taps", check_taps(self.taps))
        object.__setattr__(self, "pooling", check_pooling(self.pooling))
        object.__setattr__(self, "mask", check_mask_source(self.mask))
        if self.mask != "auto" and not uses_mask(self.pooling):
            raise ParameterError(
                f"`mask` applies only to pooling 'foreground' or 'interior', got mask={self.mask!r} with pooling={self.pooling!r}"
            )

    # -- resolving -------------------------------------------------------
    def resolve(self):
        """The backbone and weights this spec means, and why (no TensorFlow).

        Returns
        -------
        attr_utils.backbones.auto.ResolvedBackbone
            ``spec`` (the BackboneSpec), ``weights`` (ResolvedWeights) and ``reason``.

        The spec's ``taps`` are those :attr:`taps` selects (the backbone's
        five blocks for ``"blocks"``), so everything built from it (the
        signature, :class:`BlockModel`, the cache columns) follows them.

        Raises
        ------
        BackboneError, WeightsError, WeightsUnavailableError
            Unknown backbone, or weights that cannot be used.
        ParameterError
            A tap that is not a candidate of the backbone (the message lists them).
        """
        from dataclasses import replace

        from attr_utils.backbones.auto import resolve_backbone

        resolved = resolve_backbone(self.backbone, self.weights, seed=self.seed)
        if self.taps == "blocks":
            return resolved
        taps = resolved.spec.select_taps(self.taps)
        return replace(resolved, spec=replace(resolved.spec, taps=taps))

    def signature(self, resolved=None) -> dict:
        """Everything that determines the vectors; its hash names the cache folder.

        Parameters
        ----------
        resolved : ResolvedBackbone, optional
            This spec's :meth:`resolve` result, when already at hand.
        """
        from attr_utils.images import DECODE_VERSION

        resolved = resolved if resolved is not None else self.resolve()
        spec = resolved.spec
        return {
            "format": 1,
            "backbone": spec.name,
            "weights": resolved.weights.identity,
            "input_size": spec.input_size,
            "resize": self.resize,
            "preprocess": f"{spec.preprocess.__module__}.{spec.preprocess.__qualname__}",
            "taps": [[t.block, t.layer, t.dim] for t in spec.taps],
            "pooling": pooling_signature(self.pooling, self.mask),
            "decode": DECODE_VERSION,
        }

    def signature_hash(self, resolved=None) -> str:
        """Hash of :meth:`signature` (the cache folder is ``<backbone>-<hash[:16]>``)."""
        from attr_utils.cache import signature_hash

        return signature_hash(self.signature(resolved))

    def pinned(self, resolved=None) -> ModelSpec:
        """The same spec with the backbone and weights it resolved to written out.

        ``"auto"`` becomes the chosen backbone and default weights become their
        spec (a file as its absolute path), so the pinned spec gives the same
        vectors on another machine or process (Dask workers) whatever their
        ``$ATTR_UTILS_WEIGHTS``.
        """
        resolved = resolved if resolved is not None else self.resolve()
        w = resolved.weights
        weights = str(Path(w.path).resolve()) if w.kind == "file" else w.name if w.kind == "random" else w.spec
        return ModelSpec(resolved.spec.name, weights, resize=self.resize, seed=self.seed, taps=self.taps,
                         pooling=self.pooling, mask=self.mask)

    def provenance(self, resolved=None) -> dict:
        """The provenance fields of :class:`~attr_utils.embeddings.Embeddings` this spec gives."""
        resolved = resolved if resolved is not None else self.resolve()
        w = resolved.weights
        return {
            "backbone": resolved.spec.name,
            "weights": w.name,
            "weights_label": w.label,
            "pretrained": w.pretrained,
            "backbone_reason": resolved.reason,
            "weights_spec": str(w.path) if w.kind == "file" else w.name if w.kind == "random" else w.spec,
            "resize": self.resize,
            "pooling": self.pooling,
            "mask": self.mask if uses_mask(self.pooling) else "",
        }

    # -- plain data --------------------------------------------------------
    def to_dict(self) -> dict:
        """The options as a plain JSON-able dict (what :meth:`from_dict` reads back)."""
        out = asdict(self)
        if isinstance(self.taps, tuple):
            out["taps"] = list(self.taps)
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> ModelSpec:
        """A spec from :meth:`to_dict`'s output; unknown keys raise ParameterError."""
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ParameterError(f"unknown model spec keys {unknown}; allowed: {sorted(cls.__dataclass_fields__)}")
        return cls(**data)

    @classmethod
    def from_embeddings(cls, emb) -> ModelSpec:
        """The spec that embeds more images exactly as ``emb`` was embedded (same backbone, weights, resize, taps, pooling).

        ``taps`` is ``"blocks"`` when ``emb`` holds (some of) the backbone's
        blocks or its backbone is not registered, else ``emb``'s layer names.
        """
        taps: str | tuple[str, ...] = "blocks"
        try:
            blocks = get_backbone(emb.backbone).blocks
        except BackboneError:
            blocks = ()
        if blocks and emb.block_names and not set(emb.block_names) <= set(blocks):
            taps = tuple(emb.block_names)
        pooling = getattr(emb, "pooling", "average") or "average"
        mask = (getattr(emb, "mask", "") or "auto") if uses_mask(pooling) else "auto"
        return cls(emb.backbone, emb.weights_spec or emb.weights, resize=emb.resize, taps=taps, pooling=pooling, mask=mask)


def model_spec(model: ModelSpec | None = None, **options) -> ModelSpec:
    """``model``, or a spec built from the older keyword options (``backbone=``, ``weights=``...).

    Options left at None are not given. Passing ``model`` together with any
    option raises :class:`~attr_utils.errors.ParameterError`.
    """
    given = {k: v for k, v in options.items() if v is not None}
    if model is None:
        return ModelSpec(**given)
    if not isinstance(model, ModelSpec):
        raise ParameterError(f"`model` must be an attr_utils.model.ModelSpec, got {type(model).__name__}")
    if given:
        raise ParameterError(f"pass either `model=` or {', '.join(f'`{k}`' for k in given)}, not both (a ModelSpec carries them)")
    return model


class BlockModel:
    """Backbone truncated at its last tap, with a global pool on every tap (or its feature map).

    Parameters
    ----------
    spec : BackboneSpec
        The backbone.
    weights : ResolvedWeights
        Weights to build it with.
    graph : {"global_average", "global_max", "spatial"}, default="global_average"
        What every tap output goes through (:func:`attr_utils.pooling.graph_pooling`):
        global average pooling (the paper's), global max pooling, or nothing:
        ``"spatial"`` returns each tap's feature map ``(n, h, w, c)``, pooled
        with the foreground masks by :func:`attr_utils.pooling.pool_maps`.

    Notes
    -----
    One ``keras.Model`` with one output per tap: the network runs once per
    batch, however many blocks are tapped, instead of once per block with
    truncated copies of the network.
    """

    def __init__(self, spec: BackboneSpec, weights: ResolvedWeights, *, graph: str = "global_average"):
        keras = import_keras()
        self.spec = spec
        self.weights = weights
        self.graph = check_choice("graph", graph, ("global_average", "global_max", "spatial"))
        base = spec.build(weights)
        if graph == "global_average":
            outputs = [
                keras.layers.GlobalAveragePooling2D(name=f"{tap.block}_gap")(base.get_layer(tap.layer).output)
                for tap in spec.taps
            ]
        elif graph == "global_max":
            outputs = [
                keras.layers.GlobalMaxPooling2D(name=f"{tap.block}_gmp")(base.get_layer(tap.layer).output)
                for tap in spec.taps
            ]
        else:
            outputs = [base.get_layer(tap.layer).output for tap in spec.taps]
        self.model = keras.Model(base.input, outputs, name=f"{spec.name}_blocks")

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Pooled vectors (``(n, dim)``; feature maps ``(n, h, w, dim)`` for ``"spatial"``) of uint8 RGB images ``(n, size, size, 3)``."""
        x = self.spec.preprocess(images.astype(np.float32))
        outputs = self.model.predict_on_batch(x)
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        return {tap.block: np.asarray(out, dtype=np.float32) for tap, out in zip(self.spec.taps, outputs)}
