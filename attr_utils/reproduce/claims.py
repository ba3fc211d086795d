"""The paper's claims, the values it gives for them, and how a verdict is reached.

Only values this repository documents are written here (``README.md``,
``docs/protocols.md``); where the paper's exact value is not known here,
:attr:`Claim.paper` is ``None`` and :attr:`Claim.note` says so. Nothing is
guessed.

Verdicts
--------
Every claim gets one of :data:`VERDICTS` from the measured value's 95 %
interval (never from the point estimate alone):

``value`` claims ("block 2 colour accuracy is 0.937")
    an equivalence test on the difference measured - paper: *reproduced*
    when its whole interval lies within ``±tolerance``; *not reproduced*
    when the whole interval lies outside it (the difference is real and
    larger than the tolerance); *inconclusive* otherwise (the interval is
    too wide to tell).
``at_least`` claims ("8 dims keep >= 0.90")
    *reproduced* when the interval's lower end is >= the threshold; *not
    reproduced* when its upper end is below it; *inconclusive* otherwise.
``best`` claims ("colour peaks at block 2") and ``beats`` claims ("both
beats either alone")
    one interval per rival for the paired difference claimed - rival:
    *reproduced* when every lower end is > 0; *not reproduced* when some
    upper end is < 0 (a rival is significantly better); *inconclusive*
    otherwise.

A claim that cannot be computed from the data given (too few images for
HDBSCAN's ``min_cluster_size=50``, no dataset with both labels) is *not
computable*, with the reason.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from attr_utils.validation import check_choice, check_int, check_real

__all__ = [
    "CLAIMS",
    "DEFAULT_TOLERANCE",
    "VERDICTS",
    "Claim",
    "Verdict",
    "paired_interval",
    "verdict_at_least",
    "verdict_beats",
    "verdict_value",
]

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
INCONCLUSIVE = "inconclusive"
NOT_COMPUTABLE = "not computable"
#: Every verdict a claim can get.
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_COMPUTABLE)

#: How far (in accuracy) a measured value may sit from the paper's and still
#: count as the same: our choice, not the paper's. The paper prints three
#: decimals and no interval; 0.03 is about the half-width of a 5-fold
#: t-interval on 1,000 images (see ``docs/reproduce.md``).
DEFAULT_TOLERANCE = 0.03

_PAPER = "Scalable Visual Attribute Extraction through Hidden Layers of a Residual ConvNet"


@dataclass(frozen=True)
class Claim:
    """One statement of the paper the report checks.

    Attributes
    ----------
    id : str
        Stable key in ``results.json``.
    title : str
        The claim in words.
    kind : {"value", "at_least", "best", "beats"}
        How its verdict is reached (module notes).
    source : str
        Where in the paper it is, and where this repository records it.
    paper : float or None
        The paper's number; None when the paper gives none or it is not known here.
    note : str
        Caveats about the paper's value.
    """

    id: str
    title: str
    kind: str
    source: str
    paper: float | None = None
    note: str = ""


#: The claims the report checks, in report order.
CLAIMS: tuple[Claim, ...] = (
    Claim("table1_color_block2", "kNN accuracy of colour at block 2 is 0.937", "value",
          "Table 1 (README.md, docs/protocols.md)", 0.937),
    Claim("table1_texture_block4", "kNN accuracy of texture at block 4 is 0.939", "value",
          "Table 1 (README.md, docs/protocols.md)", 0.939),
    Claim("color_peaks_block2", "colour peaks at block 2", "best", "Table 1 (docs/protocols.md)", None,
          "a ranking claim: block 2 beats every other block on the same folds"),
    Claim("texture_peaks_block4", "texture peaks at block 4", "best", "Table 1 (docs/protocols.md)", None,
          "a ranking claim: block 4 beats every other block on the same folds"),
    Claim("figure3_clustering", "HDBSCAN (50/10/40) clusters follow the attribute at the best block", "report",
          "Figure 3", None,
          "the paper's ARI/AMI values are not recorded in this repository; the measured values are reported "
          "without a verdict"),
    Claim("table2_8dims", "8 UMAP dimensions keep >= 0.90 accuracy (paper protocol)", "at_least",
          "Table 2", 0.90,
          "the threshold ~0.90 at 8 dimensions comes from issue 20's summary of Table 2; the paper's exact "
          "per-dimension values are not recorded in this repository"),
    Claim("figure6_both_beats", "retrieving by both beats colour or texture alone (agreement on both)", "beats",
          "Figure 6", None, "a qualitative claim in the paper (example queries); scored here by evaluate_retrieval"),
)


@dataclass(frozen=True)
class Verdict:
    """A claim's verdict with what it rests on (JSON-friendly via :meth:`to_dict`)."""

    claim: str
    verdict: str
    measured: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    paper: float | None = None
    difference: float | None = None
    diff_low: float | None = None
    diff_high: float | None = None
    reason: str = ""

    def to_dict(self) -> dict:
        out = asdict(self)
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in out.items()}


def _interval(ci_low, ci_high) -> tuple[float, float]:
    lo, hi = float(ci_low), float(ci_high)
    if np.isnan(lo) or np.isnan(hi):
        raise ValueError(f"the interval must be numbers, got [{ci_low}, {ci_high}]")
    if lo > hi:
        raise ValueError(f"`ci_low` must be <= `ci_high`, got {lo} > {hi}")
    return lo, hi


def widen_to_binomial(ci_low: float, ci_high: float, mean: float, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """The fold interval of an accuracy, widened to at least the exact binomial interval of its pooled hits.

    Cross-validation intervals come from the spread over folds: when every
    fold scores the same (often 1.0 on a small, easy set) that interval is a
    single point and would state a verdict with false certainty. Each item
    is tested once across the folds, so ``round(mean * n)`` hits out of ``n``
    items also give a Clopper-Pearson interval (scipy's ``binomtest``); the
    verdict uses the union of both.

    Raises
    ------
    ParameterError
        ``n`` < 1 or ``mean`` outside [0, 1].
    """
    from scipy.stats import binomtest

    n = check_int("n", n, min=1)
    mean = check_real("mean", mean, min=0.0, max=1.0)
    ci = binomtest(int(round(mean * n)), n).proportion_ci(confidence_level=confidence, method="exact")
    return min(float(ci_low), float(ci.low)), max(float(ci_high), float(ci.high))


def verdict_value(claim: str, measured: float, ci_low: float, ci_high: float, paper: float, *,
                  tolerance: float = DEFAULT_TOLERANCE) -> Verdict:
    """Verdict on "the value is ``paper``" from the measured 95 % interval.

    Parameters
    ----------
    claim : str
        Claim id.
    measured, ci_low, ci_high : float
        Measured mean and its interval.
    paper : float
        The paper's value.
    tolerance : float, default=DEFAULT_TOLERANCE
        Half-width of the equivalence band around ``paper``.

    Returns
    -------
    Verdict
        ``difference`` = measured - paper with its interval ``diff_low``, ``diff_high``.
    """
    lo, hi = _interval(ci_low, ci_high)
    tol = check_real("tolerance", tolerance, min=0.0)
    d_lo, d_hi = lo - paper, hi - paper
    if -tol <= d_lo and d_hi <= tol:
        v, why = REPRODUCED, f"the difference's interval [{d_lo:+.3f}, {d_hi:+.3f}] lies within ±{tol:g}"
    elif d_hi < -tol or d_lo > tol:
        v, why = NOT_REPRODUCED, f"the difference's interval [{d_lo:+.3f}, {d_hi:+.3f}] lies outside ±{tol:g}"
    else:
        v, why = INCONCLUSIVE, f"the difference's interval [{d_lo:+.3f}, {d_hi:+.3f}] straddles ±{tol:g}"
    return Verdict(claim, v, float(measured), lo, hi, float(paper), float(measured) - paper, d_lo, d_hi, why)


def verdict_at_least(claim: str, measured: float, ci_low: float, ci_high: float, threshold: float) -> Verdict:
    """Verdict on "the value is >= ``threshold``" from the measured 95 % interval."""
    lo, hi = _interval(ci_low, ci_high)
    if lo >= threshold:
        v, why = REPRODUCED, f"the interval [{lo:.3f}, {hi:.3f}] lies at or above {threshold:g}"
    elif hi < threshold:
        v, why = NOT_REPRODUCED, f"the interval [{lo:.3f}, {hi:.3f}] lies below {threshold:g}"
    else:
        v, why = INCONCLUSIVE, f"the interval [{lo:.3f}, {hi:.3f}] contains {threshold:g}"
    return Verdict(claim, v, float(measured), lo, hi, float(threshold), float(measured) - threshold,
                   lo - threshold, hi - threshold, why)


def verdict_beats(claim: str, measured: float, differences) -> Verdict:
    """Verdict on "the claimed option beats every rival" from paired difference intervals.

    Parameters
    ----------
    claim : str
        Claim id.
    measured : float
        The claimed option's value (reported, not used for the verdict).
    differences : mapping of str to (float, float, float)
        Rival -> (difference claimed - rival, its interval low, high).

    Returns
    -------
    Verdict
        ``difference``/``diff_low``/``diff_high`` are those of the closest rival
        (the smallest lower end).
    """
    if not differences:
        raise ValueError("`differences` must hold at least one rival")
    items = {name: (float(d), *_interval(lo, hi)) for name, (d, lo, hi) in differences.items()}
    closest = min(items, key=lambda n: items[n][1])
    d, lo, hi = items[closest]
    losing = [n for n, (_, _, h) in items.items() if h < 0]
    if all(low > 0 for _, low, _ in items.values()):
        v, why = REPRODUCED, f"better than every rival; closest {closest}: difference interval [{lo:+.3f}, {hi:+.3f}] > 0"
    elif losing:
        v, why = NOT_REPRODUCED, f"{', '.join(losing)} significantly better (difference interval below 0)"
    else:
        v, why = INCONCLUSIVE, f"not significantly better than {closest}: difference interval [{lo:+.3f}, {hi:+.3f}] contains 0"
    return Verdict(claim, v, float(measured), None, None, None, d, lo, hi, why)


def paired_interval(a, b, *, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``a - b`` over paired folds with its Student-t interval.

    Parameters
    ----------
    a, b : array-like of shape (n_folds,)
        Per-fold values on the same folds (e.g. two blocks' accuracies).
    confidence : float, default=0.95

    Returns
    -------
    (mean, low, high) : tuple of float
        ``low``/``high`` are -inf/+inf with a single fold.
    """
    from scipy import stats

    check_real("confidence", confidence, min=0.0, max=1.0, closed="neither")
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if d.ndim != 1 or len(d) == 0:
        raise ValueError(f"`a` and `b` must be 1-D of equal, non-zero length, got {np.shape(a)} and {np.shape(b)}")
    m = float(d.mean())
    if len(d) < 2:
        return m, -np.inf, np.inf
    half = float(stats.t.ppf((1 + confidence) / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)))
    return m, m - half, m + half


def not_computable(claim: str, reason: str) -> Verdict:
    """A claim the data given cannot test, with the reason."""
    return Verdict(claim, NOT_COMPUTABLE, reason=reason)


def check_verdict(value: str) -> str:
    """``value`` if it is one of :data:`VERDICTS` (ParameterError otherwise)."""
    return check_choice("verdict", value, VERDICTS)
