"""``attr-utils predict IMG... --extractor DIR``: attribute values of images."""

from __future__ import annotations

import argparse

from attr_utils.cli._common import add_json_option
from attr_utils.cli.output import print_json, records

ORDER = 75


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "predict",
        help="predict an attribute of images with an extractor built by `attr-utils extractor build`",
        description=(
            "Embed the images with the extractor's own backbone and weights, and let the k nearest labelled "
            "examples vote. `unknown` marks images farther from every example than the calibrated threshold."
        ),
    )
    p.add_argument("images", nargs="+", help="image files (unreadable ones are listed as skipped, with the reason)")
    p.add_argument("--extractor", required=True, help="directory written by `attr-utils extractor build`")
    p.add_argument("--cache-dir", default=None, help="embedding cache folder (default: $ATTR_UTILS_CACHE or ~/.cache/attr-utils)")
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from attr_utils.retrieval.extractor import AttributeExtractor

    extractor = AttributeExtractor.load(args.extractor, cache_dir=args.cache_dir)
    # unreadable images are skipped and listed; predict raises only when none is usable
    result = extractor.predict(args.images)
    skipped = result.attrs.get("skipped", [])
    pooling = getattr(extractor, "pooling_", "average") or "average"
    mask = (getattr(extractor, "mask_", "") or "auto") if pooling in ("foreground", "interior") else ""
    if args.json:  # every row names the pooling its vectors were read with
        provenance = {"pooling": pooling, "mask": mask}
        print_json([{**r, **provenance} for r in records(result, ["path", "value", "confidence", "unknown", "distance"], digits=6)]
                   + [{"path": s.path, "value": None, "skipped": s.reason, **provenance} for s in skipped])
        return 0
    flag = "" if extractor.pretrained_ else "  [RANDOM WEIGHTS: not pretrained]"
    pooled = f"{pooling} pooling" + (f" ({mask} mask)" if mask else "")
    print(f"{extractor.backbone_} · {extractor.weights_label_}{flag} · {pooled} · {extractor.label_!r} on {extractor.block_}")
    for r in result.to_dict("records"):
        if r["unknown"]:  # the vote's confidence is never shown beside unknown without the reason
            why = (f"nearest example at distance {r['distance']:.4f} > threshold {extractor.threshold_:.4f} "
                   f"(the vote would say {r['value']}, {r['confidence']:.2f})")
            print(f"{r['path']}\tunknown\t{why}")
        else:
            print(f"{r['path']}\t{r['value']}\tconfidence {r['confidence']:.2f}")
    for s in skipped:
        print(f"skipped {s.path}: {s.reason}", file=sys.stderr)
    return 0
