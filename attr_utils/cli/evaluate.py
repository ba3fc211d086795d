"""``attr-utils evaluate DATA --label COL``: kNN accuracy per block (the paper's Table 1)."""

from __future__ import annotations

import argparse

from attr_utils.cli._common import (
    add_embedding_options,
    add_groups_option,
    add_json_option,
    duplicates_json,
    embed_from_args,
    groups_from_args,
    warn_duplicates,
)
from attr_utils.cli.output import backbone_choice, embedding_summary, print_json, print_skipped, provenance_header, records, skipped_records

ORDER = 30


def add_knn_options(parser: argparse.ArgumentParser, *, folds_help: str = "stratified folds") -> None:
    """``--k --folds --seed --metric --scaling --drop-small-classes`` (shared with ``reduce``)."""
    g = parser.add_argument_group("kNN protocol (defaults: the paper's)")
    g.add_argument("--k", type=int, default=5, help="neighbours (default: 5)")
    g.add_argument("--folds", type=int, default=5, help=f"{folds_help} (default: 5)")
    g.add_argument("--seed", type=int, default=0, help="seed of the fold shuffle (and of UMAP) (default: 0)")
    g.add_argument("--metric", choices=["euclidean", "cosine"], default="euclidean", help="distance (default: euclidean)")
    g.add_argument(
        "--scaling",
        choices=["none", "l2", "standardize"],
        default="none",
        help="feature scaling fitted on training folds (default: none)",
    )
    g.add_argument(
        "--drop-small-classes",
        action="store_true",
        help="leave out classes with fewer members than folds instead of failing",
    )
    add_groups_option(g)


def add_figure_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--figure", metavar="HTML", default=None, help="also write the Plotly figure to this HTML file")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="kNN accuracy of every block for one label (the paper's Table 1)",
        description=(
            "Embed DATA through the cache, then measure the kNN accuracy of every block under "
            "stratified, shuffled, seeded k-fold cross-validation (paper: k=5, 5 folds, Euclidean)."
        ),
    )
    p.add_argument("data", help="folder of images (one sub-folder per class), CSV manifest, or Kaggle styles.csv")
    p.add_argument("--label", required=True, help="label column to predict (a class folder's label is 'label')")
    p.add_argument("--blocks", default=None, help="comma-separated blocks to evaluate (default: all)")
    add_knn_options(p)
    add_figure_option(p)
    add_embedding_options(p)
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from attr_utils.analysis import block_accuracy, recommend_blocks, summarize_accuracy

    emb = embed_from_args(args, args.data, label=args.label)
    per_fold = block_accuracy(
        emb,
        args.label,
        blocks=args.blocks.split(",") if args.blocks else None,
        k=args.k,
        folds=args.folds,
        metric=args.metric,
        scaling=args.scaling,
        seed=args.seed,
        drop_small_classes=args.drop_small_classes,
        groups=groups_from_args(args),
    )
    summary = summarize_accuracy(per_fold)
    best = recommend_blocks(summary)[args.label]
    if args.figure:
        from attr_utils.figures import accuracy_per_block

        accuracy_per_block(summary).write_html(args.figure, include_plotlyjs=True)
    if args.json:
        print_json(
            {
                **backbone_choice(emb),
                "label": args.label,
                "rows": records(
                    summary.rename(columns={"mean": "accuracy"}),
                    ["block", "dim", "accuracy", "std", "ci_low", "ci_high"],
                    digits=6,
                ),
                "best_block": best,
                "protocol": {"k": args.k, "folds": args.folds, "seed": args.seed, "metric": args.metric, "scaling": args.scaling},
                "duplicates": duplicates_json(per_fold.attrs),
                "embedding": embedding_summary(emb),
                "skipped": skipped_records(emb.report.skipped),
            }
        )
        warn_duplicates(per_fold.attrs)
        return 0
    warn_duplicates(per_fold.attrs)
    print_skipped(emb.report.skipped)
    print(provenance_header(emb))
    print(
        f"kNN accuracy for {args.label!r} (k={args.k}, {args.folds}-fold stratified CV, seed {args.seed}, "
        f"{args.metric}, scaling {args.scaling})"
    )
    print(f"{'block':<10}{'dim':>6}  {'accuracy':>8}  {'std':>6}  95% interval")
    for r in summary.itertuples():
        mark = "  <- best" if r.block == best else ""
        print(f"{r.block:<10}{int(r.dim):>6}  {r.mean:>8.3f}  {r.std:>6.3f}  [{r.ci_low:.3f}, {r.ci_high:.3f}]{mark}")
    if args.figure:
        print(f"figure written to {args.figure}")
    return 0
