"""``attr-utils reduce DATA --label COL --block B``: kNN accuracy after UMAP (the paper's Table 2)."""

from __future__ import annotations

import argparse

from attr_utils.cli._common import (
    add_embedding_options,
    add_json_option,
    duplicates_json,
    embed_from_args,
    groups_from_args,
    warn_duplicates,
)
from attr_utils.cli.evaluate import add_figure_option, add_knn_options
from attr_utils.cli.output import backbone_choice, embedding_summary, print_json, provenance_header, records

ORDER = 32


def _dims(text: str) -> list[int]:
    try:
        dims = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 2,4,8; got {text!r}") from None
    if not dims:
        raise argparse.ArgumentTypeError("expected at least one dimension")
    return dims


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "reduce",
        help="kNN accuracy of one block after UMAP to 2, 4, 8, ... dimensions (the paper's Table 2)",
        description=(
            "Embed DATA through the cache, reduce one block with UMAP to each dimension and measure "
            "cross-validated kNN accuracy. Protocol 'paper': UMAP fitted on all images (as the paper "
            "appears to do); 'inductive': UMAP fitted on each training fold only (no leakage)."
        ),
    )
    p.add_argument("data", help="folder of images (one sub-folder per class), CSV manifest, or Kaggle styles.csv")
    p.add_argument("--label", required=True, help="label column to predict")
    p.add_argument("--block", required=True, help="block to reduce, e.g. block2")
    p.add_argument("--dims", type=_dims, default=None, help="comma-separated UMAP dimensions (default: 2,4,8,... below the block's)")
    p.add_argument(
        "--protocol",
        choices=["paper", "inductive", "both"],
        default="both",
        help="UMAP fitted on all images (paper), on training folds only (inductive), or both (default)",
    )
    p.add_argument("--n-neighbors", type=int, default=15, help="UMAP neighbours (default: 15, umap-learn's)")
    p.add_argument("--n-jobs", type=int, default=1, help="UMAP fits in parallel processes (-1: all cores; default: 1)")
    add_knn_options(p)
    add_figure_option(p)
    add_embedding_options(p)
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from attr_utils.analysis import reduction_sweep, summarize_accuracy

    emb = embed_from_args(args, args.data, label=args.label)
    per_fold = reduction_sweep(
        emb,
        args.label,
        block=args.block,
        dims=args.dims,
        protocol=args.protocol,
        k=args.k,
        folds=args.folds,
        metric=args.metric,
        scaling=args.scaling,
        seed=args.seed,
        drop_small_classes=args.drop_small_classes,
        groups=groups_from_args(args),
        n_neighbors=args.n_neighbors,
        n_jobs=args.n_jobs,
        cache_dir=args.cache_dir,
    )
    summary = summarize_accuracy(per_fold)
    if args.figure:
        from attr_utils.figures import reduction_curve

        reduction_curve(summary).write_html(args.figure, include_plotlyjs=True)
    if args.json:
        print_json(
            {
                **backbone_choice(emb),
                "label": args.label,
                "block": args.block,
                "rows": records(
                    summary.rename(columns={"mean": "accuracy"}), ["protocol", "dim", "reduced", "accuracy", "std"], digits=6
                ),
                "protocol": {"k": args.k, "folds": args.folds, "seed": args.seed, "metric": args.metric, "scaling": args.scaling},
                "duplicates": duplicates_json(per_fold.attrs),
                "embedding": embedding_summary(emb),
            }
        )
        warn_duplicates(per_fold.attrs)
        return 0
    warn_duplicates(per_fold.attrs)
    print(provenance_header(emb))
    print(f"kNN accuracy for {args.label!r} after UMAP of {args.block} (k={args.k}, {args.folds}-fold CV, seed {args.seed})")
    print(f"{'protocol':<11}{'dim':>6}  {'accuracy':>8}  {'std':>6}")
    for r in summary.itertuples():
        dim = f"{int(r.dim)}" + ("" if r.reduced else "*")
        print(f"{r.protocol:<11}{dim:>6}  {r.mean:>8.3f}  {r.std:>6.3f}")
    print("* unreduced block")
    if args.figure:
        print(f"figure written to {args.figure}")
    return 0
