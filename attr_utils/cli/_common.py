"""Options and helpers shared by the sub-commands that embed a dataset."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["add_embedding_options", "add_json_option", "embed_from_args", "positive_int", "print_json"]


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1, with a message saying what was wrong."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def add_embedding_options(parser: argparse.ArgumentParser) -> None:
    """``--backbone --weights --cache-dir --batch-size --resize --engine``."""
    g = parser.add_argument_group("embedding")
    g.add_argument(
        "--backbone",
        default="resnet50",
        help="backbone name: resnet50 (the paper's), efficientnet-lite0, or auto (default: resnet50)",
    )
    g.add_argument(
        "--weights",
        default=None,
        help="'imagenet', 'random[:SEED]' or a weights file (default: $ATTR_UTILS_WEIGHTS, else the backbone's pretrained weights)",
    )
    g.add_argument("--cache-dir", default=None, help="embedding cache folder (default: $ATTR_UTILS_CACHE or ~/.cache/attr-utils)")
    g.add_argument("--batch-size", type=positive_int, default=32, help="images per forward pass (default: 32)")
    g.add_argument(
        "--resize",
        choices=["stretch", "pad", "crop"],
        default="stretch",
        help="how images become square: stretch (default), pad on white, centre crop",
    )
    g.add_argument(
        "--engine",
        choices=["auto", "keras", "openvino"],
        default=None,
        help="what runs the network: auto (OpenVINO if installed and matching Keras, else Keras), keras, openvino "
        "(default: $ATTR_UTILS_ENGINE, else auto); the vectors agree within 1e-5",
    )


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a human summary")


def embed_from_args(args: argparse.Namespace, data: str, *, label: str | None = None, progress: bool | None = None):
    """Load ``data`` and embed it through the cache with the CLI options."""
    from attr_utils.datasets import load_dataset
    from attr_utils.embedder import embed

    dataset = load_dataset(data)
    if label is not None:
        dataset.require_label(label)
    return embed(
        dataset,
        backbone=args.backbone,
        weights=args.weights,
        cache_dir=args.cache_dir,
        batch_size=args.batch_size,
        resize=args.resize,
        engine=args.engine,
        progress=(not getattr(args, "json", False)) if progress is None else progress,
    )


def print_json(obj: Any) -> None:
    """Write ``obj`` as one JSON document on stdout."""
    json.dump(obj, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
