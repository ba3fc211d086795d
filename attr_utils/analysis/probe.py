"""Where does an attribute live? kNN and linear probes of every tapped layer, on shared folds.

The paper answers "which block carries colour, which texture?" with five
coarse taps and a kNN classifier. :func:`probe_layers` gives the curve: for
every tap of an :class:`~attr_utils.Embeddings` (the five blocks, or every
residual / MBConv unit with ``ModelSpec(taps="all")``), the accuracy of

* ``"knn"``: the paper's kNN (k=5, uniform votes, Euclidean distance; the
  pipeline of :func:`attr_utils.analysis.accuracy.knn_classifier`), and
* ``"linear"``: a multinomial logistic regression on standardised features
  (scikit-learn ``StandardScaler`` + ``LogisticRegression``, L2 penalty with
  fixed ``C=1.0``, lbfgs), the scaler fitted inside each training fold,

on the SAME duplicate-grouped stratified folds
(:func:`attr_utils.analysis.accuracy.stratified_folds`, seeded), so the kNN
rows of the five blocks are exactly :func:`~attr_utils.analysis.block_accuracy`'s
Table 1, and the two probes and all taps are compared on identical splits.
Per tap: mean, standard deviation and 95 % t-interval over folds (the formula
of :func:`~attr_utils.analysis.summarize_accuracy`), and a paired t-interval over
folds of the best tap against the runner-up and against the reference block.

:func:`compare_poolings` (and :func:`probe_poolings`, which embeds the data
with each pooling first) asks the same question across poolings
(:mod:`attr_utils.pooling`: the paper's average, max, foreground, interior):
every pooling probed on the same folds, one tidy row per (pooling, probe,
tap), each with its paired difference to the first pooling.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from attr_utils.analysis.accuracy import (
    knn_classifier,
    single_threaded_knn,
    split_groups,
    stratified_folds,
    summarize_accuracy,
)
from attr_utils.analysis.checks import (
    check_blocks,
    check_k_fits,
    labels_for_analysis,
    provenance_attrs,
)
from attr_utils.analysis.result_cache import cached_result
from attr_utils.errors import BackboneError, ParameterError
from attr_utils.validation import check_int, check_real, check_seed

__all__ = [
    "PROBES",
    "ProbeResult",
    "compare_poolings",
    "linear_probe",
    "paired_difference",
    "probe_layers",
    "probe_poolings",
    "tap_info",
]

#: The probes :func:`probe_layers` runs.
PROBES = ("knn", "linear")


def linear_probe(*, C: float = 1.0, seed: int = 0, max_iter: int = 1000):
    """The linear probe: ``StandardScaler`` then multinomial ``LogisticRegression`` (a Pipeline).

    Parameters
    ----------
    C : float, default=1.0
        Inverse L2 regularisation strength (scikit-learn's default), fixed,
        not tuned per tap, so taps are compared under one regularisation.
    seed : int, default=0
        ``random_state`` of the classifier (lbfgs is deterministic; kept for
        solvers that are not).
    max_iter : int, default=1000
        lbfgs iterations.

    Notes
    -----
    The scaler is part of the pipeline, so cross-validation fits it on the
    training folds only. With more than two classes lbfgs fits the
    multinomial (softmax) model.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    C = check_real("C", C, min=0.0, closed="right")
    max_iter = check_int("max_iter", max_iter, min=1)
    return Pipeline(
        [
            ("scale", StandardScaler()),
            ("logreg", LogisticRegression(C=C, solver="lbfgs", max_iter=max_iter, random_state=check_seed(seed))),
        ]
    )


def tap_info(emb) -> pd.DataFrame:
    """Layer, paper-style block and depth of every tap of ``emb``.

    Parameters
    ----------
    emb : Embeddings

    Returns
    -------
    pandas.DataFrame
        One row per tap of ``emb`` in depth order: ``tap`` (the name in
        ``emb``), ``layer`` (Keras layer), ``block`` (``"block2"`` when the
        layer is one of the backbone's five block taps, else ``""``),
        ``depth`` (position among the backbone's tap candidates,
        :attr:`~attr_utils.backbones.BackboneSpec.all_taps`; for an
        unregistered backbone the position in ``emb``) and ``dim``.
    """
    from attr_utils.backbones import get_backbone

    try:
        spec = get_backbone(emb.backbone)
    except BackboneError:
        spec = None
    rows = []
    for i, name in enumerate(emb.block_names):
        layer, block, depth = name, "", i
        if spec is not None:
            if name in spec.blocks:
                layer, block = spec.tap(name).layer, name
            elif name in spec.layers:
                block = spec.block_of(name)
            depth = spec.depth(layer) if spec.depth(layer) >= 0 else i
        rows.append({"tap": name, "layer": layer, "block": block, "depth": int(depth), "dim": int(emb.dims[name])})
    return pd.DataFrame(rows).sort_values("depth", kind="stable").reset_index(drop=True)


def paired_difference(a, b, *, confidence: float = 0.95) -> dict:
    """Paired t-interval of the mean difference ``a - b`` of per-fold accuracies.

    Parameters
    ----------
    a, b : array-like of float, shape (n_folds,)
        Accuracies of two taps (or probes) on the same folds, in fold order.
    confidence : float, default=0.95
        Coverage of the interval.

    Returns
    -------
    dict
        ``mean_diff``, ``std_diff`` (sample std of the differences),
        ``ci_low``, ``ci_high`` (``mean ± t((1 + confidence) / 2, n - 1) ·
        std / sqrt(n)``), ``p_value`` (two-sided paired t-test),
        ``distinguishable`` (the interval excludes 0 and is not degenerate)
        and ``degenerate``: every fold differs by the same amount (fewer than
        2 distinct differences, zero variance, e.g. few items per fold), so
        the interval has zero width and says nothing about the spread; then
        ``p_value`` is NaN and ``distinguishable`` False.

    Raises
    ------
    ParameterError
        ``a`` and ``b`` differ in length or hold fewer than 2 folds.

    Notes
    -----
    Folds share training items, so fold differences are not independent and
    the interval is approximate (typically too narrow, Nadeau & Bengio 2003):
    "not distinguishable" is the robust reading; "distinguishable" with a
    difference of a fold or two of items deserves a repeat with other seeds.
    """
    from scipy import stats

    confidence = check_real("confidence", confidence, min=0.0, max=1.0, closed="neither")
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ParameterError(f"paired accuracies need two equal-length lists of >= 2 folds, got {a.shape} and {b.shape}")
    d = a - b
    n = len(d)
    mean, std = float(d.mean()), float(d.std(ddof=1))
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * std / np.sqrt(n)
    low, high = mean - half, mean + half
    # fewer than 2 distinct differences (e.g. 30 images, 3 folds: every fold one item apart): the
    # zero-width interval measures nothing about the spread, so it never makes a difference significant
    degenerate = bool(np.ptp(d) <= _DEGENERATE_SPREAD)
    p = float("nan") if degenerate else float(2 * stats.t.sf(abs(mean) / (std / np.sqrt(n)), n - 1))
    return {
        "mean_diff": mean,
        "std_diff": std,
        "ci_low": low,
        "ci_high": high,
        "p_value": p,
        "distinguishable": bool(not degenerate and (low > 0 or high < 0)),
        "degenerate": degenerate,
    }


#: Fold differences closer than this are one value (accuracies are fractions of items: floating-point noise only).
_DEGENERATE_SPREAD = 1e-12


@dataclass(frozen=True)
class ProbeResult:
    """What :func:`probe_layers` measured: per fold, per tap, and the best-tap tests.

    Attributes
    ----------
    folds : pandas.DataFrame
        One row per (probe, tap, fold): ``backbone``, ``weights``,
        ``pooling``, ``label``, ``probe``, ``tap``, ``layer``, ``block``, ``depth``, ``dim``,
        ``fold``, ``n_test``, ``accuracy``.
    summary : pandas.DataFrame
        One row per (probe, tap) in depth order: the identifying columns,
        ``n_folds``, ``mean``, ``std``, ``ci_low``, ``ci_high`` (as
        :func:`~attr_utils.analysis.summarize_accuracy`) and
        ``fold_accuracies`` (list, fold order).
    comparisons : pandas.DataFrame
        Per probe, the best tap against the runner-up (``comparison ==
        "runner-up"``) and against the reference block (``"reference"``,
        when probed and not the best itself): ``probe``, ``comparison``, ``best``, ``other``,
        ``other_block``, ``best_mean``, ``other_mean`` and the columns of
        :func:`paired_difference`.
    attrs : dict
        Provenance and protocol (backbone, weights, pooling, pretrained,
        label, k, folds, seed, groups, C, duplicates, ``reference``).
    """

    folds: pd.DataFrame
    summary: pd.DataFrame
    comparisons: pd.DataFrame
    attrs: dict

    @property
    def taps(self) -> list[str]:
        """Probed taps in depth order."""
        return list(dict.fromkeys(self.summary.sort_values("depth", kind="stable")["tap"]))

    def best(self, probe: str = "knn") -> str:
        """The tap with the highest mean accuracy under ``probe`` (ties: the shallower)."""
        rows = self.comparisons[self.comparisons["probe"] == probe]
        if rows.empty:
            part = self.summary[self.summary["probe"] == probe]
            if part.empty:
                raise ParameterError(f"no probe {probe!r} in this result; probed: {sorted(self.summary['probe'].unique())}")
            return str(part.sort_values(["mean", "depth"], ascending=[False, True], kind="stable")["tap"].iloc[0])
        return str(rows["best"].iloc[0])

    def to_dict(self) -> dict:
        """Plain JSON-able data: provenance, ``taps`` (depth order), ``rows`` (one per tap and probe), ``best``."""
        rows = [
            {
                "tap": r.tap,
                "depth": int(r.depth),
                "dim": int(r.dim),
                "probe": r.probe,
                "accuracy": float(r.mean),
                "std": float(r.std),
                "ci_low": float(r.ci_low),
                "ci_high": float(r.ci_high),
                "fold_accuracies": [float(x) for x in r.fold_accuracies],
            }
            for r in self.summary.itertuples(index=False)
        ]
        best: dict = {}
        for probe in dict.fromkeys(self.summary["probe"]):
            tap = self.best(probe)
            mean = float(self.summary.loc[(self.summary["probe"] == probe) & (self.summary["tap"] == tap), "mean"].iloc[0])
            entry = {"tap": tap, "accuracy": mean}
            for c in self.comparisons[self.comparisons["probe"] == probe].itertuples(index=False):
                entry["vs_" + c.comparison.replace("-", "_")] = {
                    "tap": c.other,
                    "accuracy": float(c.other_mean),
                    "mean_diff": float(c.mean_diff),
                    "ci_low": float(c.ci_low),
                    "ci_high": float(c.ci_high),
                    "p_value": float(c.p_value),
                    "distinguishable": bool(c.distinguishable),
                    "degenerate": bool(c.degenerate),
                }
            best[probe] = entry
        a = self.attrs
        return {
            "backbone": a["backbone"],
            "weights": a["weights"],
            "pooling": a.get("pooling", "average"),
            "pretrained": bool(a["pretrained"]),
            "label": a["label"],
            "taps": self.taps,
            "rows": rows,
            "best": best,
        }


def _check_probes(probes) -> tuple[str, ...]:
    if isinstance(probes, str):
        probes = (probes,)
    probes = tuple(probes)
    bad = [p for p in probes if p not in PROBES]
    if not probes or bad:
        raise ParameterError(f"`probes` must be a non-empty subset of {list(PROBES)}, got {list(probes)}")
    return tuple(p for p in PROBES if p in probes)


def _reference_tap(emb, info: pd.DataFrame, label: str, reference) -> str | None:
    """The probed tap of the reference block: ``reference`` (a tap or block name), else the backbone's default for ``label``."""
    from attr_utils.backbones import get_backbone

    if reference is None:
        try:
            reference = get_backbone(emb.backbone).default_blocks.get(label)
        except BackboneError:
            return None
        if reference is None:
            return None
    elif not isinstance(reference, str):
        raise ParameterError(f"`reference` must be a tap or block name, got {reference!r}")
    hit = info[(info["tap"] == reference) | (info["block"] == reference)]
    if hit.empty:
        return None
    return str(hit["tap"].iloc[0])


@cached_result("probe_layers", result_type=ProbeResult)
def probe_layers(
    emb,
    label: str,
    *,
    taps: Iterable[str] | str | None = None,
    probes: Iterable[str] | str = PROBES,
    k: int = 5,
    folds: int = 5,
    seed: int = 0,
    groups="hash",
    C: float = 1.0,
    reference: str | None = None,
    confidence: float = 0.95,
    drop_small_classes: bool = False,
) -> ProbeResult:
    """kNN and linear probe accuracy of every tap, on the same folds, with the best-tap tests.

    Parameters
    ----------
    emb : Embeddings
        Per-tap vectors and labels (``embed(..., model=ModelSpec(taps="all"))``
        for every unit; the five blocks otherwise).
    label : str
        Label column to predict.
    taps : str or list of str, optional
        Taps of ``emb`` to probe; default all, in depth order.
    probes : {"knn", "linear"} or list of them, default=("knn", "linear")
        Which probes to run.
    k : int, default=5
        Neighbours of the kNN probe (the paper's value).
    folds : int, default=5
        Stratified folds (the paper's value), shared by every tap and probe.
    seed : int, default=0
        Seed of the fold shuffle (and of the linear probe).
    groups : {"hash", "near"}, None or array of int, default="hash"
        Items kept in one fold, as in :func:`~attr_utils.analysis.block_accuracy`.
    C : float, default=1.0
        Inverse L2 regularisation of the linear probe (scikit-learn's
        default), fixed for every tap; see :func:`linear_probe`.
    reference : str, optional
        Tap or block the best tap is tested against; default the backbone's
        default block for ``label`` (ResNet-50: the paper's ``block2`` for
        colour, ``block4`` for texture). No reference row when it is not
        probed or is the best tap (``attrs["reference"]`` names it either way).
    confidence : float, default=0.95
        Coverage of the intervals.
    drop_small_classes : bool, default=False
        As in :func:`~attr_utils.analysis.block_accuracy`.
    cache : bool, default=True
        Reuse the result cached on disk for the same vectors, labels and
        options (:mod:`attr_utils.analysis.result_cache`; no pickle).
    cache_dir : path-like, optional
        attr-utils cache root (default: :func:`attr_utils.cache.cache_root`).

    Returns
    -------
    ProbeResult
        ``folds`` (per fold), ``summary`` (per tap and probe, with intervals
        and fold accuracies), ``comparisons`` (paired tests), ``attrs``;
        ``to_dict()`` for JSON.

    Raises
    ------
    DatasetError
        Unknown label column, fewer than 2 classes, or a class smaller than
        ``folds`` (unless ``drop_small_classes``).
    ParameterError
        An invalid option, an unknown tap or probe, ``k`` larger than a
        training fold.

    See Also
    --------
    attr_utils.analysis.block_accuracy : the kNN rows of the five blocks, per fold.
    attr_utils.analysis.linear_cka : how similar the taps' representations are.

    Notes
    -----
    The kNN fold accuracies are computed exactly as
    :func:`~attr_utils.analysis.block_accuracy` computes them (same folds,
    same pipeline), so its Table 1 is the five block rows of the kNN probe.
    The best tap has the highest mean accuracy (ties: the shallower one);
    see :func:`paired_difference` for the test and its caveat. A linear
    probe that stops at ``max_iter`` before converging is counted in
    ``attrs["linear_not_converged"]``.

    Examples
    --------
    >>> result = probe_layers(emb, "color")                # doctest: +SKIP
    >>> result.summary[["probe", "tap", "mean", "ci_low", "ci_high"]]  # doctest: +SKIP
    """
    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning

    probes = _check_probes(probes)
    k = check_int("k", k, min=1)
    folds = check_int("folds", folds, min=2)
    seed = check_seed(seed)
    C = check_real("C", C, min=0.0, closed="right")
    confidence = check_real("confidence", confidence, min=0.0, max=1.0, closed="neither")
    names = check_blocks(emb, taps)
    pooling = getattr(emb, "pooling", "average") or "average"
    info = tap_info(emb)
    info = info[info["tap"].isin(names)].reset_index(drop=True)
    rows, y = labels_for_analysis(emb, label, folds=folds, drop_small_classes=drop_small_classes)
    group_ids, dup = split_groups(emb, rows, y, groups)
    splits = stratified_folds(y, folds=folds, seed=seed, groups=group_ids)
    check_k_fits(k, splits)
    models = {"knn": knn_classifier(k=k), "linear": linear_probe(C=C, seed=seed)}
    not_converged = 0
    records = []
    for tap in info.itertuples(index=False):
        X = emb[tap.tap][rows]
        for probe in probes:
            for fold, (train, test) in enumerate(splits):
                model = clone(models[probe])
                with warnings.catch_warnings(record=True) as caught, single_threaded_knn():
                    warnings.simplefilter("always", ConvergenceWarning)
                    model.fit(X[train], y[train])
                    pred = model.predict(X[test])
                not_converged += sum(issubclass(w.category, ConvergenceWarning) for w in caught)
                records.append(
                    {
                        "backbone": emb.backbone,
                        "weights": emb.weights,
                        "pooling": pooling,
                        "label": label,
                        "probe": probe,
                        "tap": tap.tap,
                        "layer": tap.layer,
                        "block": tap.block,
                        "depth": tap.depth,
                        "dim": tap.dim,
                        "fold": fold,
                        "n_test": len(test),
                        "accuracy": float(np.mean(pred.astype(str) == y[test])),
                    }
                )
    per_fold = pd.DataFrame(records)
    ref = _reference_tap(emb, info, label, reference)
    attrs = provenance_attrs(
        emb, label, k=k, folds=folds, seed=seed, C=C, probes=list(probes), reference=ref or "",
        linear_not_converged=not_converged, mask=getattr(emb, "mask", ""), **dup,
    )
    per_fold.attrs = dict(attrs)
    summary = summarize_accuracy(per_fold, confidence=confidence)
    lists = per_fold.groupby(["probe", "tap"], sort=False)["accuracy"].agg(list).rename("fold_accuracies")
    summary = summary.join(lists, on=["probe", "tap"])
    summary["_p"] = summary["probe"].map({p: i for i, p in enumerate(PROBES)})
    summary = summary.sort_values(["_p", "depth"], kind="stable").drop(columns="_p").reset_index(drop=True)
    summary.attrs = dict(attrs, confidence=confidence)
    comparisons = _comparisons(summary, probes, ref, confidence)
    comparisons.attrs = dict(summary.attrs)
    return ProbeResult(folds=per_fold, summary=summary, comparisons=comparisons, attrs=dict(summary.attrs))


_COMPARISON_COLUMNS = ["probe", "comparison", "best", "other", "other_block", "best_mean", "other_mean",
                       "mean_diff", "std_diff", "ci_low", "ci_high", "p_value", "distinguishable", "degenerate"]


def _comparisons(summary: pd.DataFrame, probes, ref: str | None, confidence: float) -> pd.DataFrame:
    out = []
    for probe in probes:
        part = summary[summary["probe"] == probe].sort_values(["mean", "depth"], ascending=[False, True], kind="stable")
        if len(part) < 2:
            continue
        best = part.iloc[0]
        others = [("runner-up", part.iloc[1])]
        if ref is not None and ref != best["tap"]:  # the best tap itself needs no test
            others.append(("reference", part[part["tap"] == ref].iloc[0]))
        for name, other in others:
            test = paired_difference(best["fold_accuracies"], other["fold_accuracies"], confidence=confidence)
            out.append({"probe": probe, "comparison": name, "best": best["tap"], "other": other["tap"],
                        "other_block": other["block"], "best_mean": float(best["mean"]),
                        "other_mean": float(other["mean"]), **test})
    return pd.DataFrame(out, columns=_COMPARISON_COLUMNS)


def _named_poolings(embeddings) -> dict:
    """``{pooling name: Embeddings}`` from a mapping, or a sequence named by each one's ``pooling``."""
    from collections.abc import Mapping

    if isinstance(embeddings, Mapping):
        named = dict(embeddings)
    else:
        named = {}
        for emb in embeddings:
            name = getattr(emb, "pooling", "average") or "average"
            mask = getattr(emb, "mask", "")
            if mask and mask != "auto":
                name = f"{name} ({mask} mask)"
            if name in named:
                raise ParameterError(f"two embeddings have pooling {name!r}; pass a dict naming each")
            named[name] = emb
    if not named:
        raise ParameterError("`embeddings` must hold at least one Embeddings")
    return named


def compare_poolings(
    embeddings,
    label: str,
    *,
    taps: Iterable[str] | str | None = None,
    probes: Iterable[str] | str = ("knn",),
    k: int = 5,
    folds: int = 5,
    seed: int = 0,
    groups="hash",
    C: float = 1.0,
    confidence: float = 0.95,
    drop_small_classes: bool = False,
) -> pd.DataFrame:
    """Probe accuracy per tap under several poolings of the same images, on the same folds.

    Parameters
    ----------
    embeddings : mapping of str to Embeddings, or sequence of Embeddings
        The same images (same content hashes, same order) embedded with each
        pooling (``embed(data, pooling=...)``); a sequence is named by each
        one's ``pooling``. The first is the base every other is compared with
        (put the paper's ``"average"`` first).
    label : str
        Label column to predict.
    taps, probes, k, folds, seed, C, confidence, drop_small_classes
        As in :func:`probe_layers` (``probes`` defaults to the paper's kNN only).
    groups : {"hash", "near"}, None or array of int, default="hash"
        Items kept in one fold; resolved once on the base embeddings, so
        every pooling is split into identical folds (``"near"`` groups depend
        on the vectors, hence on the pooling).

    Returns
    -------
    pandas.DataFrame
        One row per (pooling, probe, tap), poolings in the given order, taps in
        depth order: ``pooling``, ``probe``, ``tap``, ``layer``, ``block``,
        ``depth``, ``dim``, ``n_folds``, ``mean``, ``std``, ``ci_low``,
        ``ci_high``, and against the base pooling's same (probe, tap): ``base``,
        ``mean_diff``, ``diff_ci_low``, ``diff_ci_high``, ``p_value``,
        ``distinguishable``, ``degenerate`` (paired over folds,
        :func:`paired_difference`; NaN and False on the base's own rows).
        ``attrs`` holds the base's provenance and protocol, and ``poolings``:
        ``{pooling: provenance string}`` in the given order.

    Raises
    ------
    ParameterError
        Embeddings of different images, of different backbones or weights,
        or an invalid option (see :func:`probe_layers`).
    DatasetError
        As in :func:`probe_layers`.

    Examples
    --------
    >>> avg = embed(data, backbone="efficientnet-lite0")                          # doctest: +SKIP
    >>> fg = embed(data, backbone="efficientnet-lite0", pooling="foreground")      # doctest: +SKIP
    >>> compare_poolings([avg, fg], "color")[["pooling", "tap", "mean", "mean_diff"]]  # doctest: +SKIP
    """
    from attr_utils.duplicates import resolve_groups

    named = _named_poolings(embeddings)
    base_name, base = next(iter(named.items()))
    for name, emb in named.items():
        if (emb.backbone, emb.weights) != (base.backbone, base.weights):
            raise ParameterError(
                f"pooling {name!r} was embedded with {emb.backbone} · {emb.weights}, the base with "
                f"{base.backbone} · {base.weights}: compare poolings of one model"
            )
        if len(emb) != len(base) or not np.array_equal(emb.table["hash"].to_numpy(), base.table["hash"].to_numpy()):
            raise ParameterError(f"pooling {name!r} holds other images than {base_name!r}: embed the same dataset with each")
    group_name = groups if groups is None or isinstance(groups, str) else "custom"
    ids = None if groups is None else resolve_groups(base, groups)
    options = dict(taps=taps, probes=probes, k=k, folds=folds, seed=seed, C=C, confidence=confidence,
                   drop_small_classes=drop_small_classes)
    results = {name: probe_layers(emb, label, groups=ids, **options) for name, emb in named.items()}
    keys = ["probe", "tap"]
    base_summary = results[base_name].summary.set_index(keys)
    tables = []
    for name, result in results.items():
        summary = result.summary.drop(columns=["backbone", "weights", "label"], errors="ignore").copy()
        summary["pooling"] = name
        summary["base"] = base_name
        diffs = []
        for row in summary.itertuples(index=False):
            if name == base_name:
                diffs.append({"mean_diff": np.nan, "diff_ci_low": np.nan, "diff_ci_high": np.nan, "p_value": np.nan,
                              "distinguishable": False, "degenerate": False})
                continue
            other = base_summary.loc[(row.probe, row.tap)]
            test = paired_difference(row.fold_accuracies, other["fold_accuracies"], confidence=confidence)
            diffs.append({"mean_diff": test["mean_diff"], "diff_ci_low": test["ci_low"], "diff_ci_high": test["ci_high"],
                          "p_value": test["p_value"], "distinguishable": test["distinguishable"],
                          "degenerate": test["degenerate"]})
        tables.append(pd.concat([summary.reset_index(drop=True), pd.DataFrame(diffs)], axis=1))
    table = pd.concat(tables, ignore_index=True)
    first = ["pooling", "probe", "tap", "layer", "block", "depth", "dim", "n_folds", "mean", "std", "ci_low", "ci_high",
             "base", "mean_diff", "diff_ci_low", "diff_ci_high", "p_value", "distinguishable", "degenerate"]
    table = table[[c for c in first if c in table.columns] + [c for c in table.columns if c not in first]]
    table.attrs = dict(results[base_name].attrs, groups=group_name,
                       poolings={name: emb.provenance for name, emb in named.items()})
    return table


def probe_poolings(
    data,
    label: str,
    *,
    poolings: Iterable[str] = ("average", "foreground"),
    model=None,
    backbone: str | None = None,
    weights: str | None = None,
    cache_dir=None,
    batch_size: int = 32,
    engine: str | None = None,
    progress: bool = False,
    **options,
) -> pd.DataFrame:
    """Embed ``data`` once per pooling (cached) and :func:`compare_poolings` them.

    Parameters
    ----------
    data : str, path-like or Dataset
        As in :func:`attr_utils.embed`.
    label : str
        Label column to predict.
    poolings : sequence of str, default=("average", "foreground")
        Poolings to compare (:data:`attr_utils.pooling.POOLINGS`); the first is the base.
    model : ModelSpec, optional
        Backbone, weights, resize, taps and mask source (its ``pooling`` is
        replaced by each of ``poolings``); exclusive with ``backbone`` and ``weights``.
    backbone, weights, cache_dir, batch_size, engine, progress
        As in :func:`attr_utils.embed`.
    **options
        Passed to :func:`compare_poolings` (``taps``, ``probes``, ``k``, ``folds``, ``seed``, ``groups``...).

    Returns
    -------
    pandas.DataFrame
        :func:`compare_poolings`'s table.

    Raises
    ------
    ParameterError
        An unknown pooling, an empty ``poolings``, or an invalid option.
    """
    from dataclasses import replace

    from attr_utils.datasets import load_dataset
    from attr_utils.embedder import embed
    from attr_utils.model import model_spec
    from attr_utils.pooling import check_pooling, uses_mask

    if isinstance(poolings, str):
        poolings = (poolings,)
    names = [check_pooling(p) for p in poolings]
    if not names or len(set(names)) != len(names):
        raise ParameterError(f"`poolings` must be distinct poolings, at least one, got {list(poolings)}")
    spec = model_spec(model, backbone=backbone, weights=weights)
    dataset = load_dataset(data)
    embeddings = {}
    for name in names:
        variant = replace(spec, pooling=name, mask=spec.mask if uses_mask(name) else "auto")
        embeddings[name] = embed(dataset, model=variant, cache_dir=cache_dir, batch_size=batch_size, engine=engine,
                                progress=progress)
    return compare_poolings(embeddings, label, **options)
