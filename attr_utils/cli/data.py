"""``attr-utils data``: build manifests for the paper's datasets; locate the default catalog."""

from __future__ import annotations

import argparse

ORDER = 81


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "data",
        help="build dataset manifests (paper colours, folder-per-class) or locate the default catalog",
        description="Dataset helpers; see data/README.md for every supported dataset, its layout and licence.",
    )
    sub = p.add_subparsers(dest="data_command", metavar="DATA_COMMAND")
    sub.required = True

    pc = sub.add_parser(
        "paper-colors",
        help="sample the paper's 10 colour families from a local Kaggle Fashion Product Images copy",
        description=(
            "Map styles.csv baseColour to the paper's colour families (see PAPER_COLOR_MAP / data/README.md) and "
            "write a stratified, seeded sample as a manifest (file,color,id,baseColour,...). Missing image files "
            "and short classes are reported, not fatal."
        ),
    )
    pc.add_argument("--styles", required=True, help="the Kaggle styles.csv")
    pc.add_argument("--images", required=True, help="folder of <id>.jpg images")
    pc.add_argument("--out", required=True, help="manifest CSV to write")
    pc.add_argument(
        "--per-class", type=int, default=100, help="images per colour (default: 100, the paper's); 0 keeps all"
    )
    pc.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    pc.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="VALUE=FAMILY",
        help="override one mapping decision, e.g. 'Maroon=red' or 'Navy Blue=none' (repeatable)",
    )
    pc.add_argument("--json", action="store_true", help="print one JSON object instead of a human summary")
    pc.set_defaults(func=run_paper_colors)

    fo = sub.add_parser(
        "folder",
        help="write a manifest for a folder with one sub-folder per class (e.g. the texture dataset)",
        description="List DIR/<class>/<image> into a manifest (file,<label>), optionally sampling per class.",
    )
    fo.add_argument("root", metavar="DIR", help="folder with one sub-folder of images per class")
    fo.add_argument("--out", required=True, help="manifest CSV to write")
    fo.add_argument("--label", default="label", help="label column name, e.g. texture (default: label)")
    fo.add_argument("--per-class", type=int, default=0, help="seeded sample size per class (default: 0 = all)")
    fo.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    fo.add_argument("--rename", action="append", default=[], metavar="FOLDER=CLASS", help="rename a class (repeatable)")
    fo.add_argument("--json", action="store_true", help="print one JSON object instead of a human summary")
    fo.set_defaults(func=run_folder)

    de = sub.add_parser(
        "default",
        help="print the default synthetic catalog's labels.csv, generating it on first use",
        description="Generate (first use only) and print the path of the default synthetic catalog.",
    )
    de.add_argument("--per-class", type=int, default=100, help="images per colour and texture (default: 100)")
    de.add_argument("--seed", type=int, default=0, help="generation seed (default: 0)")
    de.add_argument("--json", action="store_true", help="print one JSON object instead of the path")
    de.set_defaults(func=run_default)


def _pairs(items: list[str], what: str) -> dict[str, str]:
    from attr_utils.errors import AttrUtilsError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise AttrUtilsError(f"{what} expects KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _print_report(report, args) -> int:
    from attr_utils.cli.output import print_json

    if args.json:
        print_json(report.summary())
        return 0
    print(f"wrote {len(report.table)} images to {report.path}")
    print(report.counts.to_string(index=False))
    if report.missing:
        examples = ", ".join(report.missing[:3])
        print(f"warning: {len(report.missing)} referenced image file(s) missing, e.g. {examples}")
    if report.bad_lines:
        print(f"note: repaired {report.bad_lines} malformed styles.csv line(s)")
    for s in report.skipped[:20]:
        print(f"  skipped {s.path}: {s.reason}")
    if len(report.skipped) > 20:
        print(f"  ... and {len(report.skipped) - 20} more skipped (use --json for the full list)")
    if not report.complete:
        print(f"warning: fewer images than requested for: {', '.join(report.short_classes)}")
    return 0


def run_paper_colors(args: argparse.Namespace) -> int:
    from attr_utils.paper_data import PAPER_COLOR_MAP, build_paper_colors

    mapping = dict(PAPER_COLOR_MAP)
    for value, family in _pairs(args.map, "--map").items():
        mapping[value] = None if family.lower() in ("none", "exclude", "-") else family
    report = build_paper_colors(
        args.styles, args.images, args.out, per_class=args.per_class or None, seed=args.seed, mapping=mapping
    )
    return _print_report(report, args)


def run_folder(args: argparse.Namespace) -> int:
    from attr_utils.paper_data import build_folder_manifest

    report = build_folder_manifest(
        args.root,
        args.out,
        label=args.label,
        per_class=args.per_class or None,
        seed=args.seed,
        rename=_pairs(args.rename, "--rename"),
    )
    return _print_report(report, args)


def run_default(args: argparse.Namespace) -> int:
    from attr_utils.cli.output import print_json
    from attr_utils.synth import data_root, default_dataset

    labels = default_dataset(per_class=args.per_class, seed=args.seed)
    if args.json:
        print_json({"labels": str(labels), "data_root": str(data_root())})
    else:
        print(labels)
    return 0
