"""``attr-utils synth``: generate the labelled synthetic clothing dataset (:func:`attr_utils.synth.generate_dataset`)."""

from __future__ import annotations

import argparse

ORDER = 80


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "synth",
        help="generate a labelled synthetic clothing catalog (colour x texture x garment)",
        description=(
            "Write OUT/images/*.png, OUT/labels.csv (file,color,texture,garment), OUT/catalog.json and "
            "OUT/contact_sheet.png: 10 colours x 10 textures, per-class/10 images per cell. "
            "The same seed gives byte-identical files whatever the number of workers."
        ),
    )
    p.add_argument("out", metavar="OUT", help="output folder")
    p.add_argument(
        "--per-class",
        type=int,
        default=100,
        help="images per colour and per texture, a multiple of 10 (default: 100 -> 1000 images)",
    )
    p.add_argument("--seed", type=int, default=0, help="generation seed (default: 0)")
    p.add_argument("--size", type=int, default=224, help="image side in pixels (default: 224)")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: every core)")
    p.add_argument(
        "--variant",
        choices=("studio", "scene"),
        default="studio",
        help="studio: centred garment on a light background (default); scene: the harder variant "
        "(off-centre, several scales, coloured or printed backgrounds, skin-tone model, props)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace a catalog already in OUT")
    p.add_argument("--no-contact-sheet", action="store_true", help="do not write contact_sheet.png")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a human summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from attr_utils.cli.output import print_json
    from attr_utils.synth import generate_dataset

    result = generate_dataset(
        args.out,
        per_class=args.per_class,
        seed=args.seed,
        size=args.size,
        workers=args.workers,
        sheet=not args.no_contact_sheet,
        overwrite=args.overwrite,
        variant=args.variant,
    )
    info = result.to_dict()
    if args.json:
        print_json(info)
    else:
        print(
            f"wrote {info['images']} images ({info['size']} px, seed {info['seed']}) with {info['workers']} worker(s) "
            f"in {info['seconds']} s ({info['images_per_second']} images/s)"
        )
        print(f"labels: {info['labels']}")
        if info["contact_sheet"]:
            print(f"contact sheet: {info['contact_sheet']}")
    return 0
