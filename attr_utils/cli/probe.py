"""``attr-utils probe DATA --label COL``: kNN and linear probes of every tap, and CKA between taps."""

from __future__ import annotations

import argparse

from attr_utils.cli._common import (
    add_embedding_options,
    add_groups_option,
    add_json_option,
    groups_from_args,
    model_from_args,
    print_json,
    warn_duplicates,
)
from attr_utils.cli.output import backbone_choice, print_skipped, provenance_header

ORDER = 33


def taps_from_text(text: str):
    """``--taps``: ``blocks``, ``all`` or comma-separated layer names (a list)."""
    text = text.strip()
    if text in ("blocks", "all"):
        return text
    return [t.strip() for t in text.split(",") if t.strip()]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "probe",
        help="where does an attribute live? kNN + linear probe accuracy of every layer, CKA between layers",
        description=(
            "Embed DATA through the cache with the chosen taps (all from one forward pass), then measure the "
            "kNN (the paper's, k=5) and linear (standardised multinomial logistic regression, C fixed) probe "
            "accuracy of every tap on the same duplicate-grouped stratified folds, test the best tap against "
            "the runner-up and the reference block (paired t-interval over folds), and compute linear CKA "
            "(debiased) between the taps."
        ),
    )
    p.add_argument("data", help="folder of images (one sub-folder per class), CSV manifest, or Kaggle styles.csv")
    p.add_argument("--label", required=True, help="label column to predict (a class folder's label is 'label')")
    p.add_argument(
        "--taps", default="blocks",
        help="blocks (the five, default), all (stem + every residual/MBConv unit), or comma-separated layer names",
    )
    p.add_argument("--probes", default="knn,linear", help="comma-separated probes: knn, linear (default: both)")
    g = p.add_argument_group("protocol (defaults: the paper's)")
    g.add_argument("--k", type=int, default=5, help="neighbours of the kNN probe (default: 5)")
    g.add_argument("--folds", type=int, default=5, help="stratified folds shared by every tap and probe (default: 5)")
    g.add_argument("--seed", type=int, default=0, help="seed of the fold shuffle (default: 0)")
    g.add_argument("--C", dest="C", type=float, default=1.0, help="inverse L2 regularisation of the linear probe (default: 1.0)")
    g.add_argument("--reference", default=None, help="tap or block the best tap is tested against (default: the backbone's block for the label)")
    g.add_argument("--drop-small-classes", action="store_true", help="leave out classes with fewer members than folds instead of failing")
    add_groups_option(g)
    p.add_argument("--figure", metavar="HTML", default=None, help="also write the accuracy-per-layer and CKA figures to this HTML file")
    p.add_argument(
        "--compare-poolings", metavar="LIST", default=None,
        help="comma-separated poolings to compare per tap on the same folds, the first the base "
        "(e.g. average,foreground): one row per pooling, probe and tap, with the paired difference to the base",
    )
    add_embedding_options(p)
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from attr_utils.analysis import cka_matrix, probe_layers
    from attr_utils.analysis.probe import PROBES
    from attr_utils.datasets import load_dataset
    from attr_utils.embedder import embed
    from attr_utils.errors import ParameterError

    probes = [p.strip() for p in args.probes.split(",") if p.strip()]
    if not probes or not set(probes) <= set(PROBES):  # before any image goes through the network
        raise ParameterError(f"--probes must be a comma-separated subset of {','.join(PROBES)}, got {args.probes!r}")
    if args.compare_poolings is not None:
        return _run_compare(args, probes)
    model = replace(model_from_args(args), taps=taps_from_text(args.taps))
    model.resolve()  # an unknown tap fails here, listing the valid layer names
    dataset = load_dataset(args.data, path_column=args.path_column)
    dataset.require_label(args.label)
    emb = embed(dataset, model=model, cache_dir=args.cache_dir, batch_size=args.batch_size,
                engine=args.engine, progress=not args.json)
    result = probe_layers(
        emb, args.label, probes=probes, k=args.k,
        folds=args.folds, seed=args.seed, groups=groups_from_args(args), C=args.C, reference=args.reference,
        drop_small_classes=args.drop_small_classes,
    )
    cka = cka_matrix(emb, taps=result.taps)
    if args.figure:
        from attr_utils.figures.probe import cka_heatmap, probe_curve

        html = probe_curve(result).to_html(full_html=False, include_plotlyjs=True)
        html += cka_heatmap(cka).to_html(full_html=False, include_plotlyjs=False)
        with open(args.figure, "w", encoding="utf-8") as f:
            f.write(f"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>{html}</body></html>")
    if args.json:
        data = {**result.to_dict(), **backbone_choice(emb)}
        data["cka"] = {"taps": list(cka.index), "matrix": [[float(v) for v in row] for row in cka.to_numpy()]}
        print_json(data)
        warn_duplicates(result.attrs)
        return 0
    warn_duplicates(result.attrs)
    print_skipped(emb.report.skipped)
    print(provenance_header(emb))
    print(f"probe accuracy for {args.label!r} ({args.folds}-fold stratified CV, seed {args.seed}; kNN k={args.k}, linear C={args.C})")
    s = result.summary
    print(f"{'tap':<20}{'block':<8}{'depth':>5}{'dim':>6}  {'probe':<7}{'accuracy':>8}  95% interval")
    for r in s.itertuples():
        mark = "  <- best" if r.tap == result.best(r.probe) else ""
        print(f"{r.tap:<20}{r.block:<8}{int(r.depth):>5}{int(r.dim):>6}  {r.probe:<7}{r.mean:>8.3f}  [{r.ci_low:.3f}, {r.ci_high:.3f}]{mark}")
    for c in result.comparisons.itertuples():
        verdict = ("NOT distinguishable (" + ("equal on every fold)" if c.mean_diff == 0 else
                                              "degenerate interval: every fold differs by the same amount)")
                   if c.degenerate else "distinguishable" if c.distinguishable else "NOT distinguishable")
        print(
            f"{c.probe}: best {c.best} vs {c.comparison} {c.other}: difference {c.mean_diff:+.3f} "
            f"[{c.ci_low:+.3f}, {c.ci_high:+.3f}] -> {verdict}"
        )
    if args.figure:
        print(f"figures written to {args.figure}")
    return 0


def _run_compare(args: argparse.Namespace, probes) -> int:
    """``--compare-poolings``: :func:`attr_utils.analysis.probe_poolings`'s table.

    Options this mode cannot honour are refused before any image is embedded
    (``--pooling``: the poolings are the list's; ``--figure``, ``--reference``:
    not drawn / not tested here; ``--mask`` when no listed pooling uses a mask).
    """
    from dataclasses import replace

    from attr_utils.analysis import probe_poolings
    from attr_utils.datasets import load_dataset
    from attr_utils.errors import ParameterError
    from attr_utils.pooling import check_pooling, uses_mask

    poolings = [check_pooling(p.strip()) for p in args.compare_poolings.split(",") if p.strip()]
    why = {"--pooling": "the poolings compared are the list's", "--figure": "the comparison draws no figure",
           "--reference": "the comparison tests each pooling against the first, not taps against a reference"}
    for flag, value in (("--pooling", args.pooling), ("--figure", args.figure), ("--reference", args.reference)):
        if value is not None:
            raise ParameterError(f"{flag} cannot be combined with --compare-poolings ({why[flag]}); leave it out")
    masked = [p for p in poolings if uses_mask(p)]
    if args.mask is not None and not masked:
        raise ParameterError(
            f"--mask applies only to the poolings foreground or interior, and --compare-poolings {args.compare_poolings} has neither"
        )
    # the spec's pooling is replaced by each listed one; a mask pooling carries --mask to every masked one
    base = argparse.Namespace(**{**vars(args), "pooling": masked[0] if masked else None})
    model = replace(model_from_args(base), taps=taps_from_text(args.taps))
    model.resolve()  # an unknown tap fails here, listing the valid layer names
    dataset = load_dataset(args.data, path_column=args.path_column)
    dataset.require_label(args.label)
    table = probe_poolings(
        dataset, args.label, poolings=poolings, model=model, cache_dir=args.cache_dir, batch_size=args.batch_size, engine=args.engine,
        progress=not args.json, probes=probes, k=args.k, folds=args.folds, seed=args.seed,
        groups=groups_from_args(args), C=args.C, drop_small_classes=args.drop_small_classes,
    )
    a = table.attrs
    if args.json:
        rows = table.drop(columns=["fold_accuracies"], errors="ignore").to_dict("records")
        print_json({"backbone": a["backbone"], "weights": a["weights"], "pretrained": bool(a["pretrained"]),
                    "label": args.label, "poolings": a["poolings"], "rows": rows})
        warn_duplicates(a)
        return 0
    warn_duplicates(a)
    print(f"{a['backbone']} · {a['weights_label']} · poolings compared: {', '.join(a['poolings'])}")
    print(f"probe accuracy for {args.label!r} ({args.folds}-fold stratified CV, seed {args.seed}, same folds for every pooling)")
    print(f"{'pooling':<12}{'tap':<20}{'probe':<7}{'accuracy':>8}  95% interval      vs {table['base'].iloc[0]}")
    for r in table.itertuples():
        diff = "" if r.pooling == r.base else (
            f"{r.mean_diff:+.3f} [{r.diff_ci_low:+.3f}, {r.diff_ci_high:+.3f}]"
            + ((" n.s. (equal on every fold)" if r.mean_diff == 0 else
                " n.s. (degenerate: every fold differs by the same amount)") if r.degenerate
               else "" if r.distinguishable else " n.s."))
        print(f"{r.pooling:<12}{r.tap:<20}{r.probe:<7}{r.mean:>8.3f}  [{r.ci_low:.3f}, {r.ci_high:.3f}]  {diff}")
    return 0
