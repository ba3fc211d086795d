"""``attr-utils embed DATA``: embed a dataset into the cache, in this process or on a Dask cluster."""

from __future__ import annotations

import argparse

from attr_utils.cli._common import add_embedding_options, add_json_option, model_from_args, positive_int, print_json

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
    g = p.add_argument_group("scale-out on Dask (see docs/distributed.md)")
    where = g.add_mutually_exclusive_group()
    where.add_argument("--workers", type=positive_int, default=None, metavar="N",
                       help="run on a local Dask cluster of N worker processes (one model per process)")
    where.add_argument("--scheduler", default=None, metavar="ADDR",
                       help="run on an existing Dask cluster, e.g. tcp://HOST:8786 (cache and images on shared storage)")
    g.add_argument("--shard-size", type=positive_int, default=None, metavar="K",
                   help="images per Dask task (default: about 4 tasks per worker, at most 4096)")
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from attr_utils.datasets import load_dataset
    from attr_utils.embedder import Embedder
    from attr_utils.errors import DatasetError

    dataset = load_dataset(args.data, path_column=args.path_column)
    if args.label is not None:
        dataset.require_label(args.label)
    embedder = Embedder(model=model_from_args(args), cache_dir=args.cache_dir, batch_size=args.batch_size, engine=args.engine)
    resolved = embedder.resolved
    distributed = args.workers is not None or args.scheduler is not None
    runner = None
    if distributed:
        from attr_utils.scale.distributed import DaskRunner

        runner = DaskRunner(args.workers, args.scheduler, shard_size=args.shard_size)
    report = embedder.fill_dataset(dataset, progress=not args.json, runner=runner)
    if report.images and report.embedded + report.cached == 0:
        first = report.skipped[0] if report.skipped else None
        reason = f"; first: {first.path}: {first.reason}" if first else ""
        raise DatasetError(f"none of the {report.images} images of {args.data} could be used{reason}")
    summary = {
        "backbone": resolved.spec.name,
        "weights": resolved.weights.name,
        "pretrained": resolved.weights.pretrained,
        "backbone_reason": resolved.reason,
        **report.to_dict(),
        "blocks": resolved.spec.dims,
        "engine": embedder.engine_used,
        "engine_reason": embedder.engine_reason,
        "pooling": embedder.pooling,
        "mask_sources": dict(embedder.mask_sources),
        "mask_sources_counted": report.embedded,  # only images embedded now: cached rows do not record their mask
        "signature": embedder.store.signature_id,
    }
    if args.json:
        print_json(summary)
        return 0
    flag = "" if resolved.weights.pretrained else "  [RANDOM WEIGHTS: not pretrained]"
    pooling = "" if embedder.pooling == "average" else f" · {embedder.pooling} pooling"
    print(f"{resolved.spec.name} · {resolved.weights.label}{pooling}{flag}")
    if embedder.mask_sources:
        print(f"masks (of the {report.embedded} embedded now; cached rows do not record theirs): "
              + ", ".join(f"{n} {source}" for source, n in embedder.mask_sources.most_common()))
    if resolved.reason not in ("requested",):
        print(resolved.reason)
    print(
        f"{report.images} images: {report.embedded} embedded now, {report.cached} from cache, "
        f"{len(report.skipped)} skipped, in {report.seconds:.1f} s"
    )
    if report.embedded:
        print(f"engine: {embedder.engine_used}" + (f" ({embedder.engine_reason})" if embedder.engine_reason else ""))
    if distributed:
        print(f"on {report.workers} Dask workers in {report.shards} shards; dashboard: {report.dashboard}")
    for s in report.skipped[:20]:
        print(f"  skipped {s.path}: {s.reason}")
    if len(report.skipped) > 20:
        print(f"  ... and {len(report.skipped) - 20} more (use --json for the full list)")
    return 0
