"""``attr-utils extractor build DATA --label COL --out DIR``: a trainless attribute extractor."""

from __future__ import annotations

import argparse

from attr_utils.cli._common import add_embedding_options, add_json_option, embed_from_args, positive_int
from attr_utils.cli.output import backbone_choice, backbone_reason_line, print_json, print_skipped, skipped_records

ORDER = 70



def register(subparsers) -> None:
    p = subparsers.add_parser(
        "extractor",
        help="build a few-shot attribute extractor from labelled examples (no training)",
        description="Manage attribute extractors: labelled example vectors of one block that vote on new images.",
    )
    sub = p.add_subparsers(dest="extractor_command", metavar="ACTION")
    b = sub.add_parser(
        "build",
        help="build an extractor from a labelled dataset",
        description=(
            "Embed DATA (through the cache), keep the vectors of one block with their LABEL values, calibrate "
            "the unknown threshold, and save everything to OUT (Parquet + JSON). Use it with `attr-utils predict`."
        ),
    )
    b.add_argument("data", help="labelled examples: folder per value, or CSV manifest with a label column")
    b.add_argument("--label", required=True, help="label column holding the attribute values")
    b.add_argument("--block", default=None, help="block to compare (default: the backbone's block for this attribute)")
    b.add_argument("-k", type=positive_int, default=5, help="nearest examples that vote (default: 5)")
    b.add_argument("--out", required=True, help="directory to write the extractor to")
    add_embedding_options(b)
    add_json_option(b)
    b.set_defaults(func=run_build)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_build(args: argparse.Namespace) -> int:
    from attr_utils.retrieval.extractor import AttributeExtractor

    emb = embed_from_args(args, args.data, label=args.label)
    extractor = AttributeExtractor(args.block, k=args.k, cache_dir=args.cache_dir).fit(emb, args.label)
    folder = extractor.save(args.out)
    counts = extractor.examples_["value"].value_counts().sort_index()
    summary = {
        "out": str(folder),
        "backbone": extractor.backbone_,
        "weights": extractor.weights_,
        "pretrained": extractor.pretrained_,
        "backbone_reason": backbone_choice(emb)["backbone_reason"],
        "label": extractor.label_,
        "block": extractor.block_,
        "k": extractor.k,
        "examples": int(len(extractor.examples_)),
        "values": {str(v): int(c) for v, c in counts.items()},
        "threshold": extractor.threshold_,
        "skipped": skipped_records(emb.report.skipped),
    }
    if args.json:
        print_json(summary)
        return 0
    print(f"{emb.provenance} · {extractor.label_!r} on {extractor.block_}, k={extractor.k}")
    if backbone_reason_line(emb):
        print(backbone_reason_line(emb))
    print(f"{summary['examples']} examples of {len(counts)} values; unknown beyond distance {extractor.threshold_:.4f}")
    print(f"saved to {folder}")
    print_skipped(emb.report.skipped)
    return 0
