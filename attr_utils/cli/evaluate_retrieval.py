"""``attr-utils evaluate-retrieval DATA --color-label COL --texture-label COL``: leave-one-out precision@k."""

from __future__ import annotations

import argparse

from attr_utils.cli._common import (
    add_embedding_options,
    add_json_option,
    duplicates_json,
    embed_from_args,
    positive_int,
    unit_interval,
    warn_duplicates,
)
from attr_utils.cli.output import (
    backbone_choice,
    backbone_reason_line,
    plain,
    print_json,
    print_skipped,
    records,
    skipped_records,
)

ORDER = 62


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate-retrieval",
        help="leave-one-out precision@k of colour, texture and both-mode retrieval",
        description=(
            "Every catalog item queries the rest (its own content group left out). For its top k results, "
            "precision is the share agreeing with it on colour, on texture and on both. Rows: colour mode, "
            "texture mode, and mode both for each method and alpha; 'default' marks what a user gets without "
            "options. The catalog is embedded through the cache."
        ),
    )
    p.add_argument("data", help="labelled catalog: folder of images, CSV manifest, or Kaggle styles.csv")
    p.add_argument("--color-label", required=True, help="label column holding the colour")
    p.add_argument("--texture-label", required=True, help="label column holding the texture")
    p.add_argument("-k", type=positive_int, default=10, help="results per query (default: 10)")
    p.add_argument("--alpha", type=unit_interval, nargs="+", default=None, metavar="A",
                   help="colour weights of mode both (default: 0, 0.1, ..., 1)")
    p.add_argument("--method", choices=["rank", "rrf", "linear"], nargs="+", default=["rank", "rrf", "linear"],
                   help="combinations of mode both to evaluate (default: rank rrf linear)")
    p.add_argument("--groups", choices=["hash", "near", "none"], default="hash",
                   help="content left out with each query: same file hash (default), near-copies too, or only the query row")
    p.add_argument("--color-block", default=None, help="block used for colour (default: the backbone's)")
    p.add_argument("--texture-block", default=None, help="block used for texture (default: the backbone's)")
    p.add_argument("--max-queries", type=positive_int, default=None, help="evaluate a seeded sample of queries")
    p.add_argument("--seed", type=int, default=0, help="seed of the scale estimate and the query sample (default: 0)")
    add_embedding_options(p)
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from attr_utils.datasets import load_dataset
    from attr_utils.retrieval.catalog import Catalog, evaluate_retrieval

    dataset = load_dataset(args.data)
    for column in (args.color_label, args.texture_label):
        dataset.require_label(column)  # before any forward pass; the message lists the columns
    emb = embed_from_args(args, dataset)
    blocks = {m: b for m, b in (("color", args.color_block), ("texture", args.texture_block)) if b}
    catalog = Catalog(emb, blocks=blocks or None, index="exact", seed=args.seed)
    table = evaluate_retrieval(
        catalog, k=args.k, alphas=args.alpha, methods=args.method, color_label=args.color_label,
        texture_label=args.texture_label, groups=None if args.groups == "none" else args.groups,
        max_queries=args.max_queries, seed=args.seed,
    )
    warn_duplicates(table.attrs)
    if args.json:
        print_json(to_json(table, emb, catalog))
        return 0
    print_skipped(emb.report.skipped)
    print(f"{emb.provenance} · colour {catalog.blocks['color']}, texture {catalog.blocks['texture']} · "
          f"k={args.k} · {int(table['n_queries'].iloc[0])} leave-one-out queries")
    if backbone_reason_line(emb):
        print(backbone_reason_line(emb))
    wide = table.assign(method=table["method"].fillna("-")).pivot_table(
        index=["mode", "method", "alpha", "default"], columns="agreement", values=["precision", "sem"], sort=False)
    wide.columns = [f"{a}" if s == "precision" else f"{a} sem" for s, a in wide.columns]
    print(wide.reset_index().to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    ceiling = table.groupby("agreement")["ceiling"].first()
    chance = table.groupby("agreement")["chance"].first()
    print("chance: " + ", ".join(f"{g} {chance[g]:.3f}" for g in ("color", "texture", "both"))
          + " · ceiling: " + ", ".join(f"{g} {ceiling[g]:.3f}" for g in ("color", "texture", "both")))
    return 0


def to_json(table, emb, catalog) -> dict:
    """The JSON document: provenance, k, one row per (mode, method, alpha, agreement)."""
    rows = [
        {**r, "method": plain(r["method"]), "alpha": float(r["alpha"])}
        for r in records(table, ["mode", "method", "alpha", "agreement", "precision", "sem", "chance", "default"])
    ]
    return {
        **backbone_choice(emb),
        "k": int(table["k"].iloc[0]),
        "blocks": catalog.blocks,
        "n_queries": int(table["n_queries"].iloc[0]),
        "ceiling": {g: float(v) for g, v in table.groupby("agreement")["ceiling"].first().items()},
        "unlabelled": int(table.attrs.get("unlabelled", 0)),
        "duplicates": duplicates_json(table.attrs),
        "skipped": skipped_records(emb.report.skipped),
        "rows": rows,
    }
