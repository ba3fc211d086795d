"""``attr-utils cluster DATA --label COL``: HDBSCAN ARI/AMI per block (the paper's Figure 3)."""

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
from attr_utils.cli.evaluate import add_figure_option
from attr_utils.cli.output import backbone_choice, embedding_summary, print_json, provenance_header, records

ORDER = 31


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "cluster",
        help="HDBSCAN clustering of every block vs a label: ARI, AMI (the paper's Figure 3)",
        description=(
            "Embed DATA through the cache, cluster every block with HDBSCAN (paper: Euclidean, "
            "min_cluster_size=50, min_samples=10, leaf_size=40) and compare with the label."
        ),
    )
    p.add_argument("data", help="folder of images (one sub-folder per class), CSV manifest, or Kaggle styles.csv")
    p.add_argument("--label", required=True, help="label column to compare the clusters with")
    p.add_argument("--blocks", default=None, help="comma-separated blocks (default: all)")
    p.add_argument(
        "--space",
        choices=["raw", "umap", "both"],
        default="raw",
        help="cluster the raw vectors (the paper), a UMAP reduction of them, or both (default: raw)",
    )
    g = p.add_argument_group("HDBSCAN (defaults: the paper's)")
    g.add_argument("--min-cluster-size", type=int, default=50, help="(default: 50)")
    g.add_argument("--min-samples", type=int, default=10, help="(default: 10)")
    g.add_argument("--leaf-size", type=int, default=40, help="(default: 40)")
    g.add_argument("--umap-components", type=int, default=2, help="UMAP dimensions for --space umap (default: 2)")
    g.add_argument("--umap-neighbors", type=int, default=30, help="UMAP neighbours for --space umap (default: 30)")
    add_groups_option(g)
    g.add_argument("--seed", type=int, default=0, help="UMAP seed (default: 0)")
    add_figure_option(p)
    add_embedding_options(p)
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from attr_utils.analysis import clustering_metrics

    emb = embed_from_args(args, args.data, label=args.label)
    result = clustering_metrics(
        emb,
        args.label,
        blocks=args.blocks.split(",") if args.blocks else None,
        space=args.space,
        min_cluster_size=args.min_cluster_size,
        min_samples=args.min_samples,
        leaf_size=args.leaf_size,
        umap_components=args.umap_components,
        umap_neighbors=args.umap_neighbors,
        seed=args.seed,
        groups=groups_from_args(args),
        cache_dir=args.cache_dir,
    )
    if args.figure:
        from attr_utils.figures import clustering_per_block

        clustering_per_block(result).write_html(args.figure, include_plotlyjs=True)
    if args.json:
        rows = records(result, ["block", "dim", "space", "ari", "ami", "n_clusters", "noise_fraction"], digits=6)
        print_json(
            {
                **backbone_choice(emb),
                "label": args.label,
                "rows": rows,
                "hdbscan": {
                    "min_cluster_size": args.min_cluster_size,
                    "min_samples": args.min_samples,
                    "leaf_size": args.leaf_size,
                    "metric": "euclidean",
                },
                "duplicates": duplicates_json(result.attrs),
                "embedding": embedding_summary(emb),
            }
        )
        warn_duplicates(result.attrs)
        return 0
    warn_duplicates(result.attrs)
    print(provenance_header(emb))
    print(
        f"HDBSCAN vs {args.label!r} (min_cluster_size={args.min_cluster_size}, "
        f"min_samples={args.min_samples}, leaf_size={args.leaf_size}, euclidean)"
    )
    print(f"{'block':<10}{'dim':>6}  {'space':<6}{'ARI':>7}{'AMI':>7}{'clusters':>10}{'noise':>8}")
    for r in result.itertuples():
        print(
            f"{r.block:<10}{int(r.dim):>6}  {r.space:<6}{r.ari:>7.3f}{r.ami:>7.3f}"
            f"{int(r.n_clusters):>10}{r.noise_fraction:>8.0%}"
        )
    raw_noise = (result.loc[result["space"] == "raw", "noise_fraction"] == 1).any()
    umap_rows = result.loc[result["space"] == "umap", "noise_fraction"]
    if raw_noise and umap_rows.empty:
        print("note: all-noise rows are common for raw high-dimensional vectors; try --space umap")
    elif (result["noise_fraction"] == 1).any():
        print(
            f"note: some rows are all noise; with {int(result['n'].iloc[0])} items, try a smaller "
            f"--min-cluster-size (now {args.min_cluster_size}) or --min-samples (now {args.min_samples})"
        )
    if args.figure:
        print(f"figure written to {args.figure}")
    return 0
