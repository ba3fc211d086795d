"""How well ``audit_labels`` finds injected label errors and duplicates (issue 16, item 4).

On the default synthetic catalog (1,000 images), embedded with EfficientNet-Lite0
(ImageNet weights, the offline pretrained backbone):

* ``--flip`` (5 %) of the colour labels are moved to another colour at random (seeded);
* ``--copies`` (10) files are copied under new names, the first one re-encoded as JPEG
  (quality 90), with their original's (correct) labels.

The labelled table is written to a temporary manifest; the shared catalog is not touched.
Prints one JSON object: precision and recall of the suspect list at the number of flips
(and of the whole list), of the duplicate pairs, and, if ``cleanlab`` imports, the same
figures for ``cleanlab.filter.find_label_issues`` fed the same out-of-fold kNN vote
shares (``knn_probabilities``). cleanlab is used for this measurement only; it is not a
dependency of attr-utils.

Usage: ATTR_UTILS_DATA=... python benchmarks/bench_audit.py [--flip 0.05] [--copies 10] [--seed 0]
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image


def _pr(found: set, truth: set) -> dict:
    hit = len(found & truth)
    return {"precision": round(hit / len(found), 4) if found else None,
            "recall": round(hit / len(truth), 4) if truth else None, "found": len(found), "true": len(truth)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flip", type=float, default=0.05)
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--label", default="color")
    args = parser.parse_args()

    import attr_utils as au
    from attr_utils.analysis.audit import audit_labels, knn_probabilities
    from attr_utils.synth import default_dataset

    labels_csv = default_dataset()
    root = labels_csv.parent
    table = pd.read_csv(labels_csv)
    table["file"] = [str((root / f).resolve()) for f in table["file"]]
    rng = np.random.default_rng(args.seed)
    values = sorted(table[args.label].unique())
    n_flip = int(round(args.flip * len(table)))
    flipped = rng.choice(len(table), size=n_flip, replace=False)
    for i in flipped:
        table.loc[i, args.label] = rng.choice([v for v in values if v != table.loc[i, args.label]])
    tmp = Path(tempfile.mkdtemp(prefix="bench_audit_"))
    try:
        sources = rng.choice(np.setdiff1d(np.arange(len(table)), flipped), size=args.copies, replace=False)
        rows, pairs = [], set()
        for j, i in enumerate(sources):
            src = Path(table.loc[i, "file"])
            if j == 0:
                dst = tmp / f"copy_{j:02d}.jpg"
                Image.open(src).convert("RGB").save(dst, quality=90)
            else:
                dst = tmp / f"copy_{j:02d}.png"
                shutil.copy(src, dst)
            row = table.loc[i].copy()
            row["file"] = str(dst)
            rows.append(row)
            pairs.add(frozenset((str(src), str(dst))))
        table = pd.concat([table, pd.DataFrame(rows)], ignore_index=True)
        manifest = tmp / "labels.csv"
        table.to_csv(manifest, index=False)
        flipped_paths = {table.loc[i, "file"] for i in flipped}

        emb = au.embed(manifest, backbone="efficientnet-lite0", progress=False)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            audit = audit_labels(emb, args.label)
        seconds = time.perf_counter() - start
        top = set(audit.suspects["path"].head(n_flip))
        found_pairs = set()
        for paths in audit.duplicates["paths"]:
            found_pairs |= {frozenset(p) for p in itertools.combinations(paths, 2)}
        jpeg = next(p for p in pairs if any(x.endswith(".jpg") for x in p))
        index = {p: i for i, p in enumerate(emb.paths)}
        a, b = (index[p] for p in jpeg)
        xd = emb[audit.attrs["duplicate_block"]]
        jpeg_distance = 1.0 - float(xd[a] @ xd[b] / (np.linalg.norm(xd[a]) * np.linalg.norm(xd[b])))
        out = {
            "catalog": str(labels_csv), "images": len(emb), "provenance": emb.provenance,
            "label": args.label, "block": audit.attrs["block"], "flips": n_flip, "copies": args.copies,
            "seed": args.seed, "audit_seconds": round(seconds, 2),
            "suspects_at_n_flips": _pr(top, flipped_paths),
            "suspects_all": _pr(set(audit.suspects["path"]), flipped_paths),
            "duplicate_pairs": _pr(found_pairs, pairs),
            "jpeg_copy_found": jpeg in found_pairs,
            "jpeg_copy_distance": round(jpeg_distance, 5),
            "near_threshold": round(audit.attrs["near_threshold"], 5),
            "duplicate_kinds": audit.duplicates["kind"].value_counts().to_dict(),
            "outliers": len(audit.outliers),
        }
        try:
            from cleanlab.filter import find_label_issues
        except ImportError:
            out["cleanlab"] = "not installed"
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                proba = knn_probabilities(emb, args.label, block=audit.attrs["block"])
                classes = list(proba.columns)
                y = np.array([classes.index(v) for v in proba.attrs["label"]])
                ranked = find_label_issues(y, proba.to_numpy(), return_indices_ranked_by="self_confidence")
            paths = np.asarray(emb.paths, dtype=object)[proba.index.to_numpy()]
            import cleanlab

            out["cleanlab"] = {
                "version": cleanlab.__version__,
                "issues_at_n_flips": _pr(set(paths[ranked[:n_flip]]), flipped_paths),
                "issues_all": _pr(set(paths[ranked]), flipped_paths),
            }
        print(json.dumps(out, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
