"""``attr-utils embed DATA``: embed a dataset into the cache."""

from __future__ import annotations

import argparse

from attr_utils.cli._common import add_embedding_options, add_json_option, print_json

ORDER = 10


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "embed",
        help="embed a dataset (folder, CSV manifest or styles.csv) into the cache",
        description="Embed every image of DATA with one forward pass per batch; cached images are not recomputed.",
    )
    p.add_argument("data", help="folder of images (one sub-folder per class), CSV manifest, or Kaggle styles.csv")
    p.add_argument("--label", default=None, help="require this label column to exist")
    add_embedding_options(p)
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from attr_utils.datasets import load_dataset
    from attr_utils.embedder import Embedder

    dataset = load_dataset(args.data)
    if args.label is not None:
        dataset.require_label(args.label)
    embedder = Embedder(args.backbone, args.weights, cache_dir=args.cache_dir, batch_size=args.batch_size, resize=args.resize)
    resolved = embedder.resolved
    report = embedder.fill_dataset(dataset, progress=not args.json)
    summary = {
        "backbone": resolved.spec.name,
        "weights": resolved.weights.name,
        "pretrained": resolved.weights.pretrained,
        "backbone_reason": resolved.reason,
        "images": report.images,
        "embedded": report.embedded,
        "cached": report.cached,
        "skipped": [{"path": s.path, "reason": s.reason} for s in report.skipped],
        "blocks": resolved.spec.dims,
        "seconds": round(report.seconds, 3),
    }
    if args.json:
        print_json(summary)
        return 0
    flag = "" if resolved.weights.pretrained else "  [RANDOM WEIGHTS: not pretrained]"
    print(f"{resolved.spec.name} · {resolved.weights.label}{flag}")
    if resolved.reason not in ("requested",):
        print(resolved.reason)
    print(
        f"{report.images} images: {report.embedded} embedded now, {report.cached} from cache, "
        f"{len(report.skipped)} skipped, in {report.seconds:.1f} s"
    )
    for s in report.skipped[:20]:
        print(f"  skipped {s.path}: {s.reason}")
    if len(report.skipped) > 20:
        print(f"  ... and {len(report.skipped) - 20} more (use --json for the full list)")
    return 0
