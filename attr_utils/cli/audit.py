"""``attr-utils audit DATA --label COL``: suspect labels, near-duplicates and outliers of one attribute."""

from __future__ import annotations

import argparse
import sys

from attr_utils.cli._common import add_embedding_options, add_json_option, embed_from_args, print_json
from attr_utils.cli.output import backbone_choice, backbone_reason_line

ORDER = 77


def register(subparsers) -> None:
    from attr_utils.cli.evaluate import add_knn_options

    p = subparsers.add_parser(
        "audit",
        help="suspect labels, near-duplicate groups and outliers of one attribute (from embeddings alone)",
        description=(
            "At the attribute's recommended block (or --block): labels that lose the out-of-fold kNN vote, "
            "ranked by how clearly; groups of identical files and of near-copies (threshold calibrated on the "
            "catalog's own nearest-neighbour distances); items far from every labelled value. See docs/catalog.md."
        ),
    )
    p.add_argument("data", help="folder of images (one sub-folder per class), CSV manifest, or Kaggle styles.csv")
    p.add_argument("--label", required=True, help="label column to audit (a class folder's label is 'label')")
    p.add_argument("--block", default=None, help="block to check the labels at (default: the best for --label)")
    p.add_argument("--near-threshold", type=float, default=None,
                   help="cosine distance below which two images are near-copies (default: calibrated on the catalog)")
    p.add_argument("--top", type=int, default=None, help="print at most this many rows per section (default: all)")
    p.add_argument("--html", metavar="REPORT", default=None, help="also write an HTML report to this file")
    add_knn_options(p)
    add_embedding_options(p)
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from attr_utils.analysis.audit import audit_labels
    from attr_utils.cli._common import groups_from_args

    emb = embed_from_args(args, args.data, label=args.label)
    audit = audit_labels(
        emb, args.label, block=args.block, k=args.k, folds=args.folds, seed=args.seed, groups=groups_from_args(args),
        metric=args.metric, scaling=args.scaling, near_threshold=args.near_threshold,
        drop_small_classes=args.drop_small_classes,
    )
    if args.html:
        write_html(audit, args.html)
    if args.json:
        print_json({**backbone_choice(emb), **audit.to_json()})
        return 0
    a = audit.attrs
    print(f"{a['provenance']} · {a['label']!r} checked at {a['block']}; near-copies at {a['duplicate_block']} "
          f"below cosine distance {a['near_threshold']:.4f}")
    if backbone_reason_line(emb):
        print(backbone_reason_line(emb))
    top = args.top
    print(f"\n{len(audit.suspects)} suspect label(s):")
    for r in audit.suspects.head(top).itertuples():
        print(f"  {r.score:.2f}  {r.path}\tlabel {r.label} -> suggested {r.suggested}")
    print(f"\n{len(audit.duplicates)} duplicate group(s):")
    for r in audit.duplicates.head(top).itertuples():
        print(f"  {r.kind} ({r.distance:.4f}): " + ", ".join(r.paths))
    print(f"\n{len(audit.outliers)} outlier(s):")
    for r in audit.outliers.head(top).itertuples():
        print(f"  {r.score:.2f}  {r.path}")
    for s in emb.report.skipped:
        print(f"skipped {s.path}: {s.reason}", file=sys.stderr)
    return 0


def write_html(audit, path: str) -> None:
    """A self-contained HTML page with the three tables (no images embedded)."""
    import html

    a = audit.attrs
    parts = [
        "<!doctype html><meta charset='utf-8'><title>attr-utils audit</title>",
        f"<h1>Catalog audit: {html.escape(str(a['label']))}</h1>",
        f"<p>{html.escape(a['provenance'])}; labels checked at {a['block']}, near-copies at {a['duplicate_block']} "
        f"below cosine distance {a['near_threshold']:.4f}.</p>",
        "<h2>Suspect labels</h2>", audit.suspects[["path", "label", "suggested", "score"]].to_html(index=False),
        "<h2>Duplicate groups</h2>", audit.duplicates[["kind", "distance", "paths"]].to_html(index=False),
        "<h2>Outliers</h2>", audit.outliers[["path", "score"]].to_html(index=False),
    ]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(parts))
