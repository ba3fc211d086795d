"""Options and helpers shared by the sub-commands that embed a dataset."""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

__all__ = [
    "add_embedding_options",
    "add_groups_option",
    "add_json_option",
    "cli_message",
    "duplicates_json",
    "embed_from_args",
    "groups_from_args",
    "model_from_args",
    "positive_int",
    "print_json",
    "warn_duplicates",
]


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
    """``--backbone --weights --cache-dir --batch-size --resize --engine --pooling --mask``."""
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
    g.add_argument("--cache-dir", default=None, help="embedding cache folder (default: $ATTR_UTILS_CACHE, else $XDG_CACHE_HOME/attr-utils or ~/.cache/attr-utils)")
    g.add_argument("--batch-size", type=positive_int, default=32, help="images per forward pass (default: 32)")
    g.add_argument("--path-column", default=None, help="CSV manifest column holding the image paths (default: the one of path/file/filename/image...)")
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
    g.add_argument(
        "--pooling",
        choices=["average", "max", "foreground", "interior"],
        default=None,
        help="how each block's feature map becomes a vector: average (the paper's, default), max, foreground "
        "(average over the product only, by a per-image mask), interior (over the inside of the mask: texture without shape)",
    )
    g.add_argument(
        "--mask",
        choices=["auto", "alpha", "border", "saliency"],
        default=None,
        help="foreground mask of --pooling foreground/interior: the alpha channel, the border colour (studio background), "
        "the network's own saliency, or auto (alpha, else border, else saliency, each when plausible; default); "
        "refused with any other pooling",
    )


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a human summary")


def model_from_args(args: argparse.Namespace):
    """The :class:`~attr_utils.model.ModelSpec` of ``--backbone --weights --resize --pooling --mask``."""
    from attr_utils.model import ModelSpec

    from attr_utils.errors import ParameterError
    from attr_utils.pooling import uses_mask

    pooling = getattr(args, "pooling", None) or "average"
    mask = getattr(args, "mask", None)
    if mask is not None and not uses_mask(pooling):  # an option that would do nothing is refused, not dropped
        raise ParameterError(f"--mask applies only to --pooling foreground or interior, got --mask {mask} with --pooling {pooling}")
    return ModelSpec(args.backbone, args.weights, resize=args.resize, pooling=pooling, mask=mask or "auto")


def embed_from_args(args: argparse.Namespace, data: str, *, label: str | None = None, progress: bool | None = None):
    """Load ``data`` and embed it through the cache with the CLI options."""
    from attr_utils.datasets import load_dataset
    from attr_utils.embedder import embed

    dataset = load_dataset(data, path_column=getattr(args, "path_column", None))
    if label is not None:
        dataset.require_label(label)
    return embed(
        dataset,
        model=model_from_args(args),
        cache_dir=args.cache_dir,
        batch_size=args.batch_size,
        engine=args.engine,
        progress=(not getattr(args, "json", False)) if progress is None else progress,
    )


def print_json(obj: Any) -> None:
    """Write ``obj`` (plain data, or a result with ``to_dict()``) as one JSON document on stdout.

    The one printer of :func:`attr_utils.cli.output.print_json` (NaN printed as ``null``).
    """
    from attr_utils.cli import output

    output.print_json(obj)


def add_groups_option(parser: argparse.ArgumentParser) -> None:
    """``--groups {hash,near,none}``: which images are kept together (see docs/protocols.md)."""
    parser.add_argument(
        "--groups",
        choices=["hash", "near", "none"],
        default="hash",
        help=(
            "keep duplicates together: hash = identical files (default), near = also re-encoded/resized "
            "copies (cosine distance <= 0.05 at the last block), none = the paper's exact protocol"
        ),
    )


def groups_from_args(args: argparse.Namespace):
    """The API's ``groups`` value for ``--groups``."""
    value = getattr(args, "groups", "hash")
    return None if value == "none" else value


def duplicates_json(attrs: dict) -> dict:
    """The duplicate report of an analysis result, for ``--json``."""
    return {
        "groups": "none" if attrs.get("groups") is None else attrs.get("groups"),
        "duplicate_groups": int(attrs.get("duplicate_groups", 0)),
        "duplicate_items": int(attrs.get("duplicate_items", 0)),
        "conflicting_groups": int(attrs.get("conflicting_groups", 0)),
    }


def warn_duplicates(attrs: dict) -> None:
    """One-line warning on stderr when the analysed items hold duplicates."""
    from attr_utils.duplicates import duplicate_warning

    text = duplicate_warning(attrs, grouping=attrs.get("groups"))
    if text:
        print(text, file=sys.stderr)


def cli_message(text: str, args: argparse.Namespace | None = None) -> str:
    """Rewrite an API error's advice in command-line terms.

    Library messages name keyword arguments (``drop_small_classes=True``,
    "lower `folds`"); on the command line the same advice is an option
    (``--drop-small-classes``, "lower --folds", ``weights='random'`` ->
    ``--weights random``). Only names that are options
    of the running command are rewritten, and only in advice ("pass X=True",
    "lower/raise `X`"), so the rest of the message stays as the API says it.
    """
    if args is None:
        return text
    for dest in vars(args):
        flag = "--" + dest.replace("_", "-")
        text = re.sub(rf"\b{re.escape(dest)}=True\b", flag, text)
        text = re.sub(rf"\b{re.escape(dest)}='([^']*)'", rf"{flag} \1", text)
        text = re.sub(rf"\b(lower|raise|increase|decrease) `{re.escape(dest)}`", rf"\1 {flag}", text)
        text = text.replace(f"or pass {dest}=None", f"or pass {flag} none")
    return text


def unit_interval(text: str) -> float:
    """argparse type: a number in [0, 1] (``--alpha``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {value}")
    return value
