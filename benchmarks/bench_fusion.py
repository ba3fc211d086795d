"""Colour-and-texture retrieval: which combination of the two attributes works by default (issue 13).

Leave-one-out on a generated catalog (every item queries the rest, its content
group left out), EfficientNet-Lite0 ImageNet weights (offline), the
backbone's default blocks, k=10. For each combination method the share of
the top k that match the query on BOTH colour and texture is printed with
its standard error, the ratio to the better single mode, and the ceiling
(the mean of min(k, other items matching on both) / k).

Label-free methods (usable on an unlabelled catalog):

- ``rank`` (the first default): alpha log(colour rank) + (1 - alpha) log(texture rank);
- ``rrf`` (the library default): reciprocal-rank fusion, 1/(60 + r_c) + 1/(60 + r_t) (higher is better);
- ``filter-color`` / ``filter-texture``: the 10 k nearest in one attribute, ordered by the other;
- ``linear``: the standardised distance mix at alpha 0.5 (the previous default);
- ``linear-auto``: the mix at a label-free alpha that equalises the two modes'
  standardised distance to the k-th neighbour;
- ``calibrated``: per attribute, p(same value | distance) from a logistic fit
  of k-means co-membership (K chosen by silhouette) on the distance, product of
  the two probabilities.

With labels (references, not usable on an unlabelled catalog):

- ``calibrated-labels``: the same, fitted on the true labels;
- ``linear-best``: the linear mix at the best alpha of a 0.1 grid.

Run ``python benchmarks/bench_fusion.py`` (default catalog: 100 per class,
seed 0), ``python benchmarks/bench_fusion.py --per-class 60 --seed 1`` (a
catalog generated under the data root), or ``--data DIR`` for a folder made by
``attr-utils synth DIR --per-class N --seed S``. Embeddings go through the cache.
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def _ranks(s):
    order = np.argsort(s, axis=1, kind="stable")
    r = np.empty(s.shape)
    np.put_along_axis(r, order, np.broadcast_to(np.arange(1, s.shape[1] + 1, dtype=float), s.shape), axis=1)
    return r


def _calibrated_log_p(x, d, same_pairs, rng, pairs=20000):
    """log p(same | d) from a logistic fit on random pairs labelled by ``same_pairs(i, j)``."""
    from sklearn.linear_model import LogisticRegression

    n = len(x)
    i = rng.integers(n, size=pairs)
    j = (i + rng.integers(1, n, size=pairs)) % n
    y = same_pairs(i, j)
    fit = LogisticRegression().fit(d[i, j][:, None], y)
    z = fit.coef_[0, 0] * d + fit.intercept_[0]
    return -np.logaddexp(0.0, -z)


def _kmeans_labels(x, seed):
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    best = None
    for n_clusters in (4, 6, 8, 10, 12, 15, 20):
        labels = KMeans(n_clusters, n_init=3, random_state=seed).fit_predict(x)
        score = silhouette_score(x, labels, metric="cosine", sample_size=min(len(x), 1000), random_state=seed)
        if best is None or score > best[0]:
            best = (score, labels, n_clusters)
    return best[1], best[2]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--backbone", default="efficientnet-lite0")
    parser.add_argument("--data", default=None,
                        help="a catalog folder made by `attr-utils synth` (its labels.csv); default: generate under the data root")
    args = parser.parse_args(argv)

    from attr_utils import embed
    from attr_utils.retrieval import Catalog
    from attr_utils.synth import default_dataset, generator_fingerprint

    k = args.k
    if args.data is not None:
        from pathlib import Path

        meta = json.loads((Path(args.data) / "catalog.json").read_text())
        args.per_class, args.seed = meta["per_class"], meta["seed"]
        source = Path(args.data) / "labels.csv"
    else:
        source = default_dataset(per_class=args.per_class, seed=args.seed)
    emb = embed(source, backbone=args.backbone, progress=False)
    catalog = Catalog(emb, index="exact")
    n = len(emb)
    lc = np.unique(emb.labels("color"), return_inverse=True)[1]
    lt = np.unique(emb.labels("texture"), return_inverse=True)[1]
    out = catalog.groups[:, None] == catalog.groups[None, :]
    xc, xt = catalog._vectors["color"].astype(np.float64), catalog._vectors["texture"].astype(np.float64)
    dc, dt = 1.0 - xc @ xc.T, 1.0 - xt @ xt.T
    zc, zt = catalog.standardize("color", dc), catalog.standardize("texture", dt)
    same_c, same_t = lc[:, None] == lc[None, :], lt[:, None] == lt[None, :]
    both = same_c & same_t & ~out

    def precision(score):
        score = np.where(out, np.inf, score)
        top = np.argsort(score, axis=1, kind="stable")[:, :k]
        hit = np.take_along_axis(both, top, axis=1).mean(axis=1)
        return float(hit.mean()), float(hit.std(ddof=1) / np.sqrt(n))

    rc, rt = _ranks(np.where(out, np.inf, zc)), _ranks(np.where(out, np.inf, zt))
    rng = np.random.default_rng(args.seed)
    results = {
        "color": precision(zc),
        "texture": precision(zt),
        "rank": precision(0.5 * np.log(rc) + 0.5 * np.log(rt)),
        "rrf": precision(-(1.0 / (60.0 + rc) + 1.0 / (60.0 + rt))),
        "filter-color": precision(np.where(rc <= 10 * k, rt, np.inf)),
        "filter-texture": precision(np.where(rt <= 10 * k, rc, np.inf)),
        "linear": precision(0.5 * zc + 0.5 * zt),
    }
    kth = lambda z: abs(float(np.median(np.sort(np.where(out, np.inf, z), axis=1)[:, k - 1])))  # noqa: E731
    alpha_auto = kth(zt) / (kth(zc) + kth(zt))
    results["linear-auto"] = precision(alpha_auto * zc + (1 - alpha_auto) * zt)
    km_c, kc = _kmeans_labels(xc, args.seed)
    km_t, kt = _kmeans_labels(xt, args.seed)
    lp = _calibrated_log_p(xc, dc, lambda i, j: km_c[i] == km_c[j], rng) + _calibrated_log_p(
        xt, dt, lambda i, j: km_t[i] == km_t[j], rng)
    results["calibrated"] = precision(-lp)
    lp = _calibrated_log_p(xc, dc, lambda i, j: lc[i] == lc[j], rng) + _calibrated_log_p(
        xt, dt, lambda i, j: lt[i] == lt[j], rng)
    results["calibrated-labels"] = precision(-lp)
    grid = {a: precision(a * zc + (1 - a) * zt) for a in np.round(np.arange(0.1, 1.0, 0.1), 1)}
    best_alpha = max(grid, key=lambda a: grid[a][0])
    results["linear-best"] = grid[best_alpha]
    single = max(results["color"][0], results["texture"][0])
    ceiling = float((np.minimum(both.sum(axis=1), k) / k).mean())
    report = {
        "catalog": {"per_class": args.per_class, "seed": args.seed, "items": n, "generator": generator_fingerprint()},
        "backbone": emb.backbone, "weights": emb.weights, "blocks": catalog.blocks, "k": k,
        "ceiling": ceiling, "alpha_auto": alpha_auto, "best_alpha": float(best_alpha),
        "kmeans_clusters": {"color": kc, "texture": kt},
        "both_precision": {m: {"precision": p, "sem": s, "ratio": p / single} for m, (p, s) in results.items()},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
