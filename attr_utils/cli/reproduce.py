"""``attr-utils reproduce``: the paper's Table 1, Figure 3, Table 2 and Figure 6 in one report."""

from __future__ import annotations

import argparse

from attr_utils.cli._common import positive_int

ORDER = 35


def _dims(text: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 2,4,8, got {text!r}") from None


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "reproduce",
        help="reproduce the paper: build its datasets, run its protocols, write a report with verdicts",
        description=(
            "Build the paper's colour dataset from a Kaggle Fashion Product Images download (and a texture "
            "dataset from a class-folder tree), embed once, run Table 1, Figure 3, Figures 4-5, Table 2 and "
            "Figure 6, and write REPORT_DIR/index.html and results.json with the paper's values beside the "
            "measured ones and a verdict per claim. See docs/reproduce.md."
        ),
    )
    p.add_argument("--styles", required=True, help="the Kaggle styles.csv")
    p.add_argument("--images", required=True, help="folder of the Kaggle <id>.jpg images")
    p.add_argument("--textures", default=None, help="folder with one sub-folder of images per texture (optional)")
    p.add_argument("--out", required=True, metavar="REPORT_DIR", help="report folder (index.html, results.json, manifests)")
    p.add_argument("--backbone", default="resnet50", help="resnet50 (the paper's; default) or efficientnet-lite0")
    p.add_argument("--weights", default=None, help="imagenet (the paper's), random[:SEED] or a file (default: the backbone's pretrained)")
    p.add_argument("--per-class", type=positive_int, default=100, help="images per class (default: the paper's 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of samples, folds, UMAP and example queries (default: 0)")
    p.add_argument("--dims", type=_dims, default=None, help="Table 2's UMAP dimensions (default: 2,4,8,... below the block's)")
    p.add_argument("--queries", type=positive_int, default=3, help="example queries per dataset for Figure 6 (default: 3)")
    p.add_argument("--n-jobs", type=positive_int, default=1, help="parallel UMAP fits of Table 2 (default: 1)")
    p.add_argument("--cache-dir", default=None, help="embedding cache folder (default: $ATTR_UTILS_CACHE or ~/.cache/attr-utils)")
    p.add_argument("--json", action="store_true", help="print results.json on stdout instead of a summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from attr_utils.cli._common import print_json
    from attr_utils.reproduce import reproduce, write_report

    out = Path(args.out)
    result = reproduce(
        args.styles, args.images, textures=args.textures, workdir=out / "data", backbone=args.backbone,
        weights=args.weights, per_class=args.per_class, seed=args.seed, dims=args.dims, n_queries=args.queries,
        cache_dir=args.cache_dir, n_jobs=args.n_jobs, progress=not args.json,
    )
    doc = write_report(result, out)
    if args.json:
        print_json(doc)
        return 0
    print(doc["setting"]["setting_note"])
    for c in doc["claims"]:
        print(f"  {c['verdict']:>15}  {c['title']}")
    print(f"report: {out / 'index.html'}")
    return 0
