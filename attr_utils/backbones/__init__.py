"""Backbone registry: name -> model builder, block taps, preprocessing, weights.

A backbone is described by a :class:`BackboneSpec`. Specs are registered by
name with a lazy ``"module:attribute"`` reference, so listing backbones (and
starting the CLI) never imports TensorFlow or the backbone's module.

Examples
--------
>>> from attr_utils.backbones import get_backbone
>>> spec = get_backbone("resnet50")
>>> [tap.dim for tap in spec.taps]
[64, 256, 512, 1024, 2048]
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from attr_utils.errors import BackboneError, ParameterError, WeightsError

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import numpy as np

__all__ = [
    "BackboneSpec",
    "ResolvedWeights",
    "Tap",
    "get_backbone",
    "list_backbones",
    "register_backbone",
    "weights_from_env",
]

#: Environment variable that supplies the default weights specification.
WEIGHTS_ENV = "ATTR_UTILS_WEIGHTS"

#: Version of the seeded random initialisation (:func:`attr_utils.backbones.keras_support.seed_random_weights`).
#: It is part of random weights' identity, hence of the cache signature: bump it
#: when the draw changes, so vectors cached under the old draw are not served.
RANDOM_INIT_VERSION = "numpy-glorot-v1"


@dataclass(frozen=True)
class Tap:
    """One block output of a backbone, globally average pooled.

    Parameters
    ----------
    block : str
        Public name of the block (``"block1"`` ... ``"block5"``).
    layer : str
        Name of the Keras layer whose output is tapped.
    dim : int
        Number of channels, i.e. the length of the pooled vector.
    """

    block: str
    layer: str
    dim: int


@dataclass(frozen=True)
class ResolvedWeights:
    """Weights a backbone will be built with, resolved without building it.

    Parameters
    ----------
    spec : str
        What the user asked for (``"imagenet"``, ``"random"``, a path).
    kind : {"pretrained", "file", "random"}
        Where the values come from.
    identity : str
        Stable identity that goes into the cache signature: a content hash
        for files, the seed for random weights.
    label : str
        Short human-readable description for tables and figure titles.
    pretrained : bool
        False for random weights: results then carry a warning label.
    path : pathlib.Path or None
        The weights file, when there is one.
    seed : int or None
        Seed of a random initialisation.
    """

    spec: str
    kind: str
    identity: str
    label: str
    pretrained: bool
    path: Path | None = None
    seed: int | None = None

    @property
    def name(self) -> str:
        """Short name for tables and JSON: ``imagenet``, ``random:0``, ``file:NAME``."""
        if self.kind == "random":
            return f"random:{self.seed}"
        if self.kind == "file" and self.path is not None:
            return f"file:{self.path.name}"
        return self.spec


@dataclass(frozen=True)
class BackboneSpec:
    """Everything attr-utils needs to know about one backbone.

    Parameters
    ----------
    name : str
        Registry name.
    description : str
        One line for ``attr-utils --help`` and reports.
    input_size : int
        Square input side in pixels.
    taps : tuple of Tap
        The five (or more) block outputs, in network order.
    build : callable
        ``build(weights: ResolvedWeights) -> keras.Model``; the returned model
        must contain every tap layer by name.
    preprocess : callable
        ``preprocess(batch) -> batch``: float32 RGB in [0, 255], shape
        ``(n, H, W, 3)``, to the model's input convention.
    resolve_weights : callable
        ``resolve_weights(spec: str, seed: int) -> ResolvedWeights``. Must not
        import TensorFlow and must raise :class:`~attr_utils.errors.WeightsError`
        (or its subclass ``WeightsUnavailableError``) with a helpful message.
    default_weights : str
        Weights used when neither the caller nor ``ATTR_UTILS_WEIGHTS`` says.
    default_blocks : mapping
        Default block per attribute, e.g. ``{"color": "block2", "texture": "block4"}``.
    reference : str
        Where the taps and defaults come from (paper, reference model).
    candidate_taps : tuple of Tap, default=()
        Every tap a probe may ask for (``taps="all"``), in depth order, each
        named by its Keras layer (the field's names, e.g. ``conv3_block2_out``);
        it must include the layers of ``taps``. Empty means ``taps`` only.
    """

    name: str
    description: str
    input_size: int
    taps: tuple[Tap, ...]
    build: Callable[[ResolvedWeights], keras.Model]
    preprocess: Callable[[np.ndarray], np.ndarray]
    resolve_weights: Callable[[str, int], ResolvedWeights]
    default_weights: str = "imagenet"
    default_blocks: Mapping[str, str] = field(default_factory=dict)
    reference: str = ""
    candidate_taps: tuple[Tap, ...] = ()

    @property
    def all_taps(self) -> tuple[Tap, ...]:
        """Every tap candidate in depth order, named by layer (``taps="all"``)."""
        return self.candidate_taps or tuple(Tap(t.layer, t.layer, t.dim) for t in self.taps)

    @property
    def layers(self) -> tuple[str, ...]:
        """Layer names of :attr:`all_taps`, in depth order."""
        return tuple(t.layer for t in self.all_taps)

    def depth(self, layer: str) -> int:
        """Position (0-based) of ``layer`` among :attr:`all_taps`; -1 when it is not a candidate."""
        return self.layers.index(layer) if layer in self.layers else -1

    def block_of(self, layer: str) -> str:
        """The paper-style block (``"block2"``) whose tap is ``layer``, else ``""``."""
        return next((t.block for t in self.taps if t.layer == layer), "")

    def select_taps(self, taps: str | tuple[str, ...] | list[str] = "blocks") -> tuple[Tap, ...]:
        """The taps a model computes for a ``taps`` option, in depth order.

        Parameters
        ----------
        taps : {"blocks", "all"} or sequence of str, default="blocks"
            ``"blocks"``: the five block taps (:attr:`taps`, named
            ``block1`` ... ``block5``; the paper's setup); ``"all"``: every
            candidate (:attr:`all_taps`, named by layer); a sequence of layer
            names (from :attr:`layers`): those, named by layer, sorted into
            depth order, duplicates dropped.

        Raises
        ------
        ParameterError
            A name that is not a tap candidate of this backbone (the message
            lists the valid names), or an empty list.
        """
        if isinstance(taps, str) and taps == "blocks":
            return self.taps
        if isinstance(taps, str) and taps == "all":
            return self.all_taps
        if isinstance(taps, str):
            raise ParameterError(f"`taps` must be 'blocks', 'all' or a list of layer names, got {taps!r}")
        names = list(taps)
        if not names:
            raise ParameterError("`taps` is an empty list; pass 'blocks', 'all' or at least one layer name")
        unknown = [n for n in names if n not in self.layers]
        if unknown:
            raise ParameterError(
                f"backbone {self.name!r} has no tap {unknown[0]!r}; valid layer names: {list(self.layers)}"
            )
        wanted = set(names)
        return tuple(t for t in self.all_taps if t.layer in wanted)

    @property
    def blocks(self) -> tuple[str, ...]:
        """Block names in network order."""
        return tuple(t.block for t in self.taps)

    @property
    def dims(self) -> dict[str, int]:
        """Block name -> vector length."""
        return {t.block: t.dim for t in self.taps}

    def tap(self, block: str) -> Tap:
        """Return the tap of ``block``; raise ``BackboneError`` if unknown."""
        for t in self.taps:
            if t.block == block:
                return t
        raise BackboneError(
            f"backbone {self.name!r} has no block {block!r}; choose one of {list(self.blocks)}"
        )


_REGISTRY: dict[str, str | BackboneSpec] = {
    "resnet50": "attr_utils.backbones.resnet50:SPEC",
    "efficientnet-lite0": "attr_utils.backbones.efficientnet_lite0:SPEC",
}


def register_backbone(name: str, spec: str | BackboneSpec, *, overwrite: bool = False) -> None:
    """Register a backbone under ``name``.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"resnet50"``.
    spec : BackboneSpec or str
        The spec, or a lazy ``"package.module:ATTRIBUTE"`` reference to it.
    overwrite : bool, default=False
        Replace an existing registration of the same name.
    """
    if not name or name == "auto":
        raise BackboneError(f"invalid backbone name {name!r}")
    if name in _REGISTRY and not overwrite:
        raise BackboneError(f"backbone {name!r} is already registered; pass overwrite=True")
    _REGISTRY[name] = spec


def list_backbones() -> list[str]:
    """Names of the registered backbones, plus ``"auto"``."""
    return sorted(_REGISTRY) + ["auto"]


def get_backbone(name: str) -> BackboneSpec:
    """Return the :class:`BackboneSpec` registered as ``name``.

    ``"auto"`` is not a spec: resolve it first with
    :func:`attr_utils.backbones.auto.resolve_auto`.
    """
    if name == "auto":
        raise BackboneError("'auto' is resolved by resolve_backbone(); it has no spec of its own")
    try:
        entry = _REGISTRY[name]
    except KeyError:
        raise BackboneError(
            f"unknown backbone {name!r}; choose one of {list_backbones()}"
        ) from None
    if isinstance(entry, str):
        module_name, _, attr = entry.partition(":")
        module = importlib.import_module(module_name)
        entry = getattr(module, attr)
        _REGISTRY[name] = entry
    return entry


def weights_from_env(default: str) -> str:
    """The weights spec from ``ATTR_UTILS_WEIGHTS``, else ``default``."""
    value = os.environ.get(WEIGHTS_ENV, "").strip()
    return value or default


def parse_random_spec(spec: str, seed: int) -> int | None:
    """Seed of a ``"random"`` / ``"random:SEED"`` spec, or None for other specs."""
    if spec == "random":
        return int(seed)
    if spec.startswith("random:"):
        try:
            return int(spec.split(":", 1)[1])
        except ValueError:
            raise WeightsError(f"invalid weights {spec!r}; use 'random' or 'random:SEED' with an integer seed") from None
    return None


def random_weights(spec: str, seed: int) -> ResolvedWeights:
    """ResolvedWeights for a seeded random initialisation."""
    s = parse_random_spec(spec, seed)
    assert s is not None
    return ResolvedWeights(
        spec=spec,
        kind="random",
        identity=f"random:{s}:{RANDOM_INIT_VERSION}",
        label=f"random weights (seed {s})",
        pretrained=False,
        seed=s,
    )


def file_weights(spec: str) -> ResolvedWeights:
    """ResolvedWeights for a local weights file, identified by its sha256."""
    from attr_utils.hashing import file_sha256

    path = Path(spec).expanduser()
    if not path.is_file():
        raise WeightsError(
            f"weights file {str(path)!r} does not exist; pass 'imagenet', 'random' or the path of an existing file"
        )
    digest = file_sha256(path)
    return ResolvedWeights(
        spec=str(path),
        kind="file",
        identity=f"file:sha256:{digest}",
        label=f"weights file {path.name} (sha256 {digest[:12]})",
        pretrained=True,
        path=path.resolve(),
    )
