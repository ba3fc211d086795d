"""``attr-utils tag DATA --extractor NAME=DIR ... --out tags.parquet``: tag a whole catalog."""

from __future__ import annotations

import argparse

from attr_utils.cli._common import add_json_option, print_json

ORDER = 76


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "tag",
        help="tag every image of a dataset with one or more extractors, into a Parquet file (incremental)",
        description=(
            "One row per image: path, hash and, per attribute NAME, NAME (value or null), NAME_confidence, "
            "NAME_margin, NAME_unknown, NAME_neighbours. A rerun tags only new images, and retags only the "
            "attributes whose extractor changed. The file is replaced atomically. See docs/catalog.md."
        ),
    )
    p.add_argument("data", help="image folder, CSV manifest or Kaggle styles.csv")
    p.add_argument("--extractor", action="append", required=True, metavar="NAME=DIR",
                   help="attribute name and a folder written by `attr-utils extractor build` (repeatable)")
    p.add_argument("--out", required=True, help="Parquet file to write (an earlier tag file there is reused)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--min-confidence", type=float, default=None, metavar="P",
                   help="values below this confidence are null (default: only the extractor's unknown threshold)")
    g.add_argument("--target-precision", type=float, default=None, metavar="P",
                   help="per attribute, the confidence threshold whose out-of-fold precision on the extractor's examples reaches P")
    p.add_argument("--cache-dir", default=None, help="embedding cache folder (default: $ATTR_UTILS_CACHE or ~/.cache/attr-utils)")
    p.add_argument("--batch-size", type=int, default=32, help="images per forward pass (default: 32)")
    p.add_argument("--path-column", default=None, help="CSV manifest column holding the image paths")
    add_json_option(p)
    p.set_defaults(func=run)


def _extractors(specs: list[str]) -> dict[str, str]:
    from attr_utils.errors import ParameterError

    out: dict[str, str] = {}
    for spec in specs:
        name, sep, folder = spec.partition("=")
        if not sep or not name or not folder:
            raise ParameterError(f"--extractor must be NAME=DIR, got {spec!r}")
        if name in out:
            raise ParameterError(f"--extractor names attribute {name!r} twice")
        out[name] = folder
    return out


def run(args: argparse.Namespace) -> int:
    import sys

    from attr_utils.retrieval.tagging import tag_catalog

    report = tag_catalog(
        args.data, _extractors(args.extractor), args.out, min_confidence=args.min_confidence,
        target_precision=args.target_precision, cache_dir=args.cache_dir, batch_size=args.batch_size,
        path_column=args.path_column, progress=not args.json,
    )
    if args.json:
        print_json(report.to_dict())
        return 0
    print(f"{report.out}: {report.rows} rows; {report.embedded} images embedded in this run")
    for name in report.tagged:
        t = report.thresholds[name]
        print(f"  {name}: {report.tagged[name]} tagged, {report.reused[name]} reused" + (f", min confidence {t:.3f}" if t else ""))
    for s in report.skipped:
        print(f"skipped {s.path}: {s.reason}", file=sys.stderr)
    return 0
