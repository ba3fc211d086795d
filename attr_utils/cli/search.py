"""``attr-utils search DATA --query IMG``: rank a catalog by colour, texture or both."""

from __future__ import annotations

import argparse
import warnings

from attr_utils.cli._common import (
    add_embedding_options,
    add_json_option,
    embed_from_args,
    positive_int,
    unit_interval,
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
from attr_utils.retrieval.catalog import DEFAULT_METHOD, METHODS

ORDER = 60



def register(subparsers) -> None:
    p = subparsers.add_parser(
        "search",
        help="find catalog items similar to a query image by colour, texture or both",
        description=(
            "Rank the images of DATA by their distance to the query image in the colour block, the texture "
            "block, or both at once (default method rank: score = alpha * log(colour rank) + (1 - alpha) * "
            "log(texture rank), so a result must be close in both; method linear mixes the standardised "
            "distances). Catalog items with the query's content hash (the query itself and its byte-identical "
            "copies) are left out unless --include-self is given, as in the retrieval app. The catalog is "
            "embedded through the cache (a rerun does no forward pass)."
        ),
    )
    p.add_argument("data", help="catalog: folder of images, CSV manifest, or Kaggle styles.csv")
    p.add_argument("--query", required=True, action="append",
                   help="query image file; repeat for several queries (unreadable ones are listed as skipped)")
    p.add_argument("--mode", choices=["color", "texture", "both"], default="both", help="what to match (default: both)")
    p.add_argument("--alpha", type=unit_interval, default=0.5,
                   help="how much colour counts in mode both, in [0, 1]: 1 = colour mode, 0 = texture mode (default: 0.5)")
    p.add_argument("--method", choices=list(METHODS), default=DEFAULT_METHOD,
                   help=f"how mode both combines colour and texture (default: {DEFAULT_METHOD}, reciprocal-rank fusion)")
    p.add_argument("--include-self", action="store_true",
                   help="keep catalog items with the query's content hash (by default they are left out)")
    p.add_argument("-k", type=positive_int, default=10, help="number of results (default: 10)")
    p.add_argument("--color-block", default=None, help="block used for colour (default: the backbone's, block2 on resnet50)")
    p.add_argument("--texture-block", default=None, help="block used for texture (default: the backbone's, block4 on resnet50)")
    p.add_argument("--index", choices=["auto", "exact", "ann"], default="auto",
                   help="exact search, approximate index, or auto by catalog size (default: auto)")
    add_embedding_options(p)
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from attr_utils.embeddings import Skipped
    from attr_utils.errors import ImageDecodeError
    from attr_utils.retrieval.catalog import Catalog

    missing = [Skipped(q, "no such file") for q in args.query if not Path(q).is_file()]
    queries = [q for q in args.query if Path(q).is_file()]
    if not queries:  # fail before embedding the whole catalog
        first = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ImageDecodeError(f"cannot read query image {first.path!r}: no such file{more}")
    emb = embed_from_args(args, args.data)
    blocks = {m: b for m, b in (("color", args.color_block), ("texture", args.texture_block)) if b}
    catalog = Catalog(emb, blocks=blocks or None, index=args.index, cache_dir=args.cache_dir)
    # a list of queries: unreadable images are skipped and reported; none readable raises ImageDecodeError
    with warnings.catch_warnings():  # the skipped queries are listed below, one line each
        warnings.filterwarnings("ignore", message=r"\d+ of \d+ queries skipped")
        result = catalog.search(queries, mode=args.mode, alpha=args.alpha, method=args.method, k=args.k,
                                exclude_self=not args.include_self)
    skipped = missing + list(result.attrs.get("skipped", []))
    labels = result.attrs["label_columns"]  # {user column: its name in the result} (collisions as user_<name>)
    shown = ["rank", "path", "score", "distance_color", "distance_texture"]
    if args.json:
        print_json({
            **backbone_choice(emb),
            "mode": args.mode,
            "alpha": result.attrs["alpha"],
            "method": result.attrs["method"],
            "exclude_self": not args.include_self,
            "blocks": catalog.blocks,
            "index": catalog.kind,
            "queries": [q for q in queries if q not in {s.path for s in skipped}],
            "results": [
                {"query": r["query_path"], **{c: r[c] for c in shown},
                 "labels": {c: plain(r[s]) for c, s in labels.items()}}
                for r in records(result, ["query_path", *shown, *labels.values()])
            ],
            "skipped": skipped_records(skipped),
        })
        return 0
    print(f"{emb.provenance} · colour {catalog.blocks['color']}, texture {catalog.blocks['texture']} · "
          f"mode {args.mode}" + (f" ({args.method} fusion, alpha {args.alpha:g})" if args.mode == "both" else ""))
    if backbone_reason_line(emb):
        print(backbone_reason_line(emb))
    for i, part in result.groupby("query", sort=False):
        left_out = "" if args.include_self else (
            f" · {result.attrs['excluded'][i]} item(s) with the query's content left out")
        print(f"query {part['query_path'].iloc[0]}{left_out}")
        print(part[[*shown, *labels.values()]].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print_skipped(skipped)
    return 0
