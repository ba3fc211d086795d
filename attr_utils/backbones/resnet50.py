"""ResNet-50 (Keras applications), the paper's backbone.

Taps (all from one forward pass, each globally average pooled):

======  ====================  ====  ===========
block   Keras layer           dim   resolution
======  ====================  ====  ===========
block1  ``conv1_relu``        64    112 px
block2  ``conv2_block3_out``  256   56 px
block3  ``conv3_block4_out``  512   28 px
block4  ``conv4_block6_out``  1024  14 px
block5  ``conv5_block3_out``  2048  7 px
======  ====================  ====  ===========

Tap candidates for probing (``taps="all"``, 17 in depth order, named by
their Keras layers): the stem ``conv1_relu`` (64, 112 px) and the output of
every bottleneck unit, ``conv2_block1_out`` ... ``conv2_block3_out`` (256,
56 px), ``conv3_block1_out`` ... ``conv3_block4_out`` (512, 28 px),
``conv4_block1_out`` ... ``conv4_block6_out`` (1024, 14 px) and
``conv5_block1_out`` ... ``conv5_block3_out`` (2048, 7 px): the units of
He et al. 2016, Table 1 (3, 4, 6, 3 per stage).

Preprocessing is Keras's ``resnet50.preprocess_input`` ("caffe": RGB to BGR,
ImageNet channel means subtracted, no scaling) on a 224 x 224 input.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from attr_utils.backbones import (
    BackboneSpec,
    ResolvedWeights,
    Tap,
    file_weights,
    parse_random_spec,
    random_weights,
)
from attr_utils.backbones.keras_support import import_keras, seed_random_weights
from attr_utils.errors import WeightsError, WeightsUnavailableError
from attr_utils.hashing import file_sha256

__all__ = ["ALL_TAPS", "IMAGENET_FILE", "IMAGENET_URL", "SPEC", "imagenet_cache_path", "imagenet_weights"]

#: File name Keras downloads for ``ResNet50(include_top=False, weights="imagenet")``.
IMAGENET_FILE = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
IMAGENET_URL = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/" + IMAGENET_FILE
#: Keras's published md5 of that file (keras.src.applications.resnet).
IMAGENET_MD5 = "4d473c1dd8becc155b73f8504c6f6626"

TAPS = (
    Tap("block1", "conv1_relu", 64),
    Tap("block2", "conv2_block3_out", 256),
    Tap("block3", "conv3_block4_out", 512),
    Tap("block4", "conv4_block6_out", 1024),
    Tap("block5", "conv5_block3_out", 2048),
)

#: Bottleneck units per stage (He et al. 2016, Table 1) and their output channels.
STAGE_UNITS = ((2, 3, 256), (3, 4, 512), (4, 6, 1024), (5, 3, 2048))

#: Every tap candidate in depth order: the stem and the 16 residual-unit outputs.
ALL_TAPS = (Tap("conv1_relu", "conv1_relu", 64),) + tuple(
    Tap(f"conv{stage}_block{unit}_out", f"conv{stage}_block{unit}_out", dim)
    for stage, units, dim in STAGE_UNITS
    for unit in range(1, units + 1)
)


def keras_home() -> Path:
    """Keras's cache folder: ``$KERAS_HOME`` or ``~/.keras`` (as Keras decides it)."""
    if "KERAS_HOME" in os.environ:
        return Path(os.environ["KERAS_HOME"])
    home = Path(os.path.expanduser("~")) / ".keras"
    if not os.access(home if home.exists() else home.parent, os.W_OK):
        return Path("/tmp/.keras")
    return home


def imagenet_cache_path() -> Path:
    """Where Keras keeps (or would download) the ImageNet weights file."""
    return keras_home() / "models" / IMAGENET_FILE


def _unavailable_message(reason: str) -> str:
    where = imagenet_cache_path()
    return (
        f"the ResNet-50 ImageNet weights are not available: Keras expects the file {IMAGENET_FILE} "
        f"in {where.parent}/ and downloading it failed ({reason}). "
        f"Fix: on a machine with internet, download {IMAGENET_URL} and copy it to {where}. "
        "Alternatives: pass weights='/path/to/" + IMAGENET_FILE + "' (a local weights file), "
        "or weights='random' (seeded random weights: structure tests only, results are not the paper's); "
        "backbone='efficientnet-lite0' or 'auto' gives pretrained features offline."
    )


def _reachable(url: str, timeout: float = 5.0) -> str | None:
    """None when ``url`` answers, else the reason (checked without importing TensorFlow)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"{url} is unreachable: {getattr(exc, 'reason', exc)}"


def download_imagenet() -> Path:
    """Download the weights with Keras's own ``get_file`` into its cache.

    A cheap reachability probe comes first, so an offline machine learns it
    in milliseconds without importing TensorFlow.

    Raises
    ------
    WeightsUnavailableError
        When the download fails (no internet, blocked host).
    """
    problem = _reachable(IMAGENET_URL)
    if problem is not None:
        raise WeightsUnavailableError(_unavailable_message(problem))
    keras = import_keras()

    try:
        path = keras.utils.get_file(IMAGENET_FILE, IMAGENET_URL, cache_subdir="models", file_hash=IMAGENET_MD5)
    except Exception as exc:  # Keras wraps network errors in a plain Exception
        raise WeightsUnavailableError(_unavailable_message(str(exc).splitlines()[0][:200])) from None
    return Path(path)


def imagenet_weights(*, download: bool = True) -> ResolvedWeights:
    """Resolve ``"imagenet"``: the Keras cache, else a download, else an error."""
    path = imagenet_cache_path()
    if not path.is_file():
        if not download:
            raise WeightsUnavailableError(_unavailable_message("download not attempted"))
        path = download_imagenet()
    digest = file_sha256(path)
    return ResolvedWeights(
        spec="imagenet",
        kind="pretrained",
        identity=f"imagenet:sha256:{digest}",
        label="ImageNet weights (Keras)",
        pretrained=True,
        path=path,
    )


def resolve_weights(spec: str, seed: int = 0) -> ResolvedWeights:
    """Resolve a weights spec for ResNet-50 without importing TensorFlow."""
    if spec == "imagenet":
        return imagenet_weights()
    if parse_random_spec(spec, seed) is not None:
        return random_weights(spec, seed)
    if spec in ("", "none", "None"):
        raise WeightsError("weights must be 'imagenet', 'random[:SEED]' or a path to a weights file, got an empty value")
    return file_weights(spec)


def build(weights: ResolvedWeights):
    """Build ``keras.applications.ResNet50`` without its top, with ``weights``."""
    keras = import_keras()
    shape = (224, 224, 3)
    model = keras.applications.ResNet50(include_top=False, weights=None, input_shape=shape)
    if weights.kind == "random":
        seed_random_weights(model, int(weights.seed or 0))
        return model
    try:
        model.load_weights(str(weights.path))
    except Exception as exc:
        raise WeightsError(
            f"cannot load ResNet-50 weights from {str(weights.path)!r} ({type(exc).__name__}: {str(exc)[:200]}); "
            f"expected Keras's {IMAGENET_FILE} (ResNet-50 without top) or a .weights.h5 saved from "
            "keras.applications.ResNet50(include_top=False)"
        ) from None
    return model


def preprocess(batch: np.ndarray) -> np.ndarray:
    """Keras's ``resnet50.preprocess_input`` (caffe mode) on float32 RGB 0..255."""
    return import_keras().applications.resnet50.preprocess_input(np.array(batch, dtype=np.float32, copy=True))


SPEC = BackboneSpec(
    name="resnet50",
    description="ResNet-50, ImageNet (Keras applications): the paper's backbone",
    input_size=224,
    taps=TAPS,
    build=build,
    preprocess=preprocess,
    resolve_weights=resolve_weights,
    default_weights="imagenet",
    default_blocks={"color": "block2", "texture": "block4"},
    reference="Scalable Visual Attribute Extraction through Hidden Layers of a Residual ConvNet (Table 1)",
    candidate_taps=ALL_TAPS,
)
