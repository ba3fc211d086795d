"""One multi-output Keras model that yields every block's pooled vector in a single forward pass."""

from __future__ import annotations

import os

import numpy as np

from attr_utils.backbones import BackboneSpec, ResolvedWeights

__all__ = ["BlockModel", "import_keras", "seed_random_weights"]

#: Bump when :func:`seed_random_weights` draws differently (it is part of the
#: cache signature of random weights).
RANDOM_INIT_VERSION = "numpy-glorot-v1"


def import_keras():
    """Import Keras (TensorFlow backend) quietly; the only place TF is imported.

    Turns on TensorFlow's oneDNN kernels (``TF_ENABLE_ONEDNN_OPTS=1``) unless
    the user set the variable: TF enables them by default only on some Intel
    CPUs, and on AMD Zen 3 they run ResNet-50 1.30x and EfficientNet-Lite0
    1.59x faster (issue 14; benchmarks/README.md). Set before the import, as
    TF reads it once.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    threads = os.environ.get("ATTR_UTILS_TF_THREADS")  # set by distributed.worker_thread_env
    if threads:
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # the TF runtime is already initialised in this process
            pass
    return keras


def seed_random_weights(model, seed: int) -> None:
    """Redraw every kernel of ``model`` from ``numpy.random.default_rng(seed)``.

    Keras's seeded initialisation (``keras.utils.set_random_seed``) draws
    each layer's seed from Python's global ``random`` module, which other
    threads (a Dask worker's, a Jupyter kernel's) may advance at the same
    time: the same seed then gives different weights in different processes.
    Drawing the kernels here, Glorot-uniform like Keras's default, from one
    generator in the model's fixed weight order makes ``"random:SEED"``
    reproducible everywhere. Biases and batch-norm parameters keep their
    constant initial values.
    """
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        name = getattr(variable, "path", variable.name)
        if not name.endswith("kernel"):
            continue
        shape = tuple(int(d) for d in variable.shape)
        receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
        fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        variable.assign(rng.uniform(-limit, limit, size=shape).astype(np.float32))


class BlockModel:
    """Backbone truncated at its last tap, with a global average pool on every tap.

    Parameters
    ----------
    spec : BackboneSpec
        The backbone.
    weights : ResolvedWeights
        Weights to build it with.

    Notes
    -----
    One ``keras.Model`` with one output per tap: the network runs once per
    batch, however many blocks are tapped, instead of once per block with
    truncated copies of the network.
    """

    def __init__(self, spec: BackboneSpec, weights: ResolvedWeights):
        keras = import_keras()
        self.spec = spec
        self.weights = weights
        base = spec.build(weights)
        outputs = [
            keras.layers.GlobalAveragePooling2D(name=f"{tap.block}_gap")(base.get_layer(tap.layer).output)
            for tap in spec.taps
        ]
        self.model = keras.Model(base.input, outputs, name=f"{spec.name}_blocks")

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Pooled vectors of a batch of uint8 RGB images ``(n, size, size, 3)``."""
        x = self.spec.preprocess(images.astype(np.float32))
        outputs = self.model.predict_on_batch(x)
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        return {tap.block: np.asarray(out, dtype=np.float32) for tap, out in zip(self.spec.taps, outputs)}
