"""Keras support for the backbones: the one TensorFlow import and the seeded random initialisation.

Every module that needs Keras calls :func:`import_keras` instead of
``import keras``, so the environment it sets (quiet logs, oneDNN kernels,
the thread count of a Dask worker) applies before TensorFlow loads, and
importing the package never loads TensorFlow.
"""

from __future__ import annotations

import os

from attr_utils.backbones import RANDOM_INIT_VERSION

__all__ = ["RANDOM_INIT_VERSION", "import_keras", "seed_random_weights"]

#: Environment variable a Dask worker sets: TensorFlow intra-op threads of the process.
TF_THREADS_ENV = "ATTR_UTILS_TF_THREADS"


def import_keras():
    """Import Keras (TensorFlow backend) quietly; the only place TensorFlow is imported.

    Turns on TensorFlow's oneDNN kernels (``TF_ENABLE_ONEDNN_OPTS=1``) unless
    the user set the variable: TF enables them by default only on some Intel
    CPUs, and on AMD Zen 3 they run ResNet-50 1.30x and EfficientNet-Lite0
    1.59x faster (issue 14; benchmarks/README.md). Set before the import, as
    TF reads it once. ``$ATTR_UTILS_TF_THREADS`` (set by
    :func:`attr_utils.scale.distributed.worker_thread_env`) limits TensorFlow's
    threads.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    threads = os.environ.get(TF_THREADS_ENV)
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
    constant initial values. Change the draw only together with
    :data:`RANDOM_INIT_VERSION` (part of the cache signature).
    """
    import numpy as np

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
