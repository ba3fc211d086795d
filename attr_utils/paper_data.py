"""Manifests for the paper's datasets, built from downloads the user provides.

The paper's colour dataset is 100 images per colour for 10 colours sampled
from the Kaggle *Fashion Product Images* dataset, whose ``styles.csv`` has a
``baseColour`` column with ~46 values; its texture dataset (100 images per
texture for 10 textures) was collected online. Neither can be redistributed,
so this module turns a local copy into a CSV manifest that
:func:`attr_utils.datasets.load_dataset` reads:

- :func:`build_paper_colors` maps ``baseColour`` to the paper's ten colour
  families with :data:`PAPER_COLOR_MAP` (documented in ``data/README.md``)
  and draws a stratified, seeded sample of ``per_class`` images per family;
- :func:`build_folder_manifest` lists a folder with one sub-folder per class
  (how texture datasets are usually shared), optionally sampling
  ``per_class`` images per class.

Missing image files are reported in the result, not fatal; classes with
fewer images than requested are kept whole and reported as short.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from attr_utils.embeddings import Skipped
from attr_utils.errors import DatasetError
from attr_utils.images import IMAGE_EXTENSIONS as _DECODABLE
from attr_utils.validation import check_int, check_seed

__all__ = [
    "IMAGE_EXTENSIONS",
    "PAPER_COLORS",
    "PAPER_COLOR_MAP",
    "ManifestReport",
    "build_folder_manifest",
    "build_paper_colors",
    "read_styles",
]

#: The paper's ten colour families (same order as the synthetic catalog).
PAPER_COLORS: tuple[str, ...] = ("red", "black", "blue", "green", "yellow", "gray", "brown", "pink", "purple", "orange")

#: Kaggle ``baseColour`` -> paper colour family; ``None`` excludes the value.
#: Only unambiguous shades are mapped; values that sit between two families
#: (Maroon and Burgundy between red and brown/purple, Teal and Turquoise
#: between blue and green, Olive and Khaki between green, brown and beige,
#: Magenta and Mauve between pink and purple, Rust between red, orange and
#: brown, Mustard between yellow and brown) and values outside the ten
#: families (white, beige, metallics, multi) are excluded. Values not listed
#: are excluded too and reported as unmapped.
PAPER_COLOR_MAP: dict[str, str | None] = {
    "Red": "red",
    "Maroon": None,
    "Burgundy": None,
    "Rust": None,
    "Black": "black",
    "Blue": "blue",
    "Navy Blue": "blue",
    "Turquoise Blue": None,
    "Teal": None,
    "Green": "green",
    "Sea Green": "green",
    "Lime Green": "green",
    "Fluorescent Green": "green",
    "Olive": None,
    "Yellow": "yellow",
    "Mustard": None,
    "Grey": "gray",
    "Grey Melange": "gray",
    "Charcoal": "gray",
    "Steel": None,
    "Silver": None,
    "Brown": "brown",
    "Coffee Brown": "brown",
    "Mushroom Brown": "brown",
    "Tan": None,
    "Taupe": None,
    "Khaki": None,
    "Beige": None,
    "Pink": "pink",
    "Rose": "pink",
    "Peach": None,
    "Magenta": None,
    "Mauve": None,
    "Purple": "purple",
    "Lavender": "purple",
    "Orange": "orange",
    "White": None,
    "Off White": None,
    "Cream": None,
    "Skin": None,
    "Nude": None,
    "Gold": None,
    "Bronze": None,
    "Copper": None,
    "Metallic": None,
    "Multi": None,
}

#: File name endings treated as images when listing a folder: the one list of
#: every reader, :data:`attr_utils.images.IMAGE_EXTENSIONS` (what the
#: installed Pillow decodes).
IMAGE_EXTENSIONS: tuple[str, ...] = tuple(sorted(_DECODABLE))


@dataclass(frozen=True)
class ManifestReport:
    """What a manifest builder wrote and what it could not use.

    Attributes
    ----------
    path : pathlib.Path
        The manifest CSV (``file`` relative to it, then label columns).
    table : pandas.DataFrame
        The manifest rows as written.
    counts : pandas.DataFrame
        One row per class: ``label``, ``available`` (images found),
        ``missing`` (referenced but not found), ``requested``, ``selected``
        and ``short`` (requested - selected, 0 when complete).
    missing : tuple of str
        Image paths referenced by rows of a mapped class that do not exist.
    unmapped : pandas.DataFrame
        Source values left out (``value``, ``rows``, ``reason``: "excluded"
        by the mapping or "unknown" to it).
    bad_lines : int
        Malformed ``styles.csv`` lines that were repaired (extra commas in the
        product name), as :func:`attr_utils.datasets.read_manifest` does for
        every manifest.
    skipped : tuple of Skipped
        Files of a class folder that were not listed, with the reason (images
        beside the class folders, undecodable types, broken links...).
    """

    path: Path
    table: pd.DataFrame
    counts: pd.DataFrame
    missing: tuple[str, ...] = ()
    unmapped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["value", "rows", "reason"]))
    bad_lines: int = 0
    skipped: tuple[Skipped, ...] = ()

    @property
    def complete(self) -> bool:
        """Whether every class got the requested number of images."""
        return bool((self.counts["short"] == 0).all())

    @property
    def short_classes(self) -> list[str]:
        """Classes with fewer images than requested."""
        return self.counts.loc[self.counts["short"] > 0, "label"].tolist()

    def summary(self) -> dict:
        """A JSON-friendly summary (for the CLI's ``--json``)."""
        return {
            "manifest": str(self.path),
            "images": int(len(self.table)),
            "complete": self.complete,
            "short_classes": self.short_classes,
            "missing_files": len(self.missing),
            "missing_examples": list(self.missing[:10]),
            "bad_lines": int(self.bad_lines),
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "counts": self.counts.to_dict(orient="records"),
            "unmapped": self.unmapped.to_dict(orient="records"),
        }


def _check_sampling(per_class, seed):
    """``per_class`` (>= 1 or None) and ``seed`` (>= 0) through the one validator."""
    return check_int("per_class", per_class, min=1, allow_none=True), check_seed(seed)


def read_styles(styles) -> tuple[pd.DataFrame, int]:
    """Read a Kaggle ``styles.csv``, repairing its malformed lines.

    A few rows of the published file have commas inside
    ``productDisplayName`` (the last column, a free-text column) and more
    fields than the header; their extra fields are joined back into it. A row
    with extra fields whose last column is not free text is left out (see
    :func:`attr_utils.datasets.read_manifest`). The file goes
    through :func:`attr_utils.datasets.read_manifest`, the reader of every
    manifest, so ``load_dataset`` reads it identically.

    Parameters
    ----------
    styles : str or path-like
        Path of ``styles.csv``.

    Returns
    -------
    table : pandas.DataFrame
        All columns as strings.
    bad_lines : int
        How many lines were repaired or left out.

    Raises
    ------
    DatasetError
        The file is missing or has no ``id`` / ``baseColour`` column.
    """
    styles = Path(styles)
    if not styles.is_file():
        raise DatasetError(
            f"styles file {styles} not found; download styles.csv of the Kaggle Fashion Product Images dataset"
        )
    from attr_utils.datasets import read_manifest

    manifest = read_manifest(styles)  # the one manifest reader: BOM, CRLF, spaces, extra fields
    table, bad = manifest.table, len(manifest.repaired) + len(manifest.rejected)
    for col in ("id", "baseColour"):
        if col not in table.columns:
            raise DatasetError(
                f"{styles} has no {col!r} column (columns: {', '.join(table.columns)}); "
                "expected the Kaggle Fashion Product Images styles.csv"
            )
    return table, bad


def _relative(path: Path, start: Path) -> str:
    try:
        return Path(os.path.relpath(path, start)).as_posix()
    except ValueError:  # another drive (Windows)
        return path.resolve().as_posix()


def _write_csv(table: pd.DataFrame, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    table.to_csv(tmp, index=False, lineterminator="\n")
    os.replace(tmp, out)


def _sample(groups: dict[str, pd.DataFrame], per_class, seed, order) -> tuple[pd.DataFrame, list[dict]]:
    """Seeded sample of ``per_class`` rows per class; one stream per class."""
    picked, counts = [], []
    for ci, label in enumerate(order):
        rows = groups.get(label)
        available = 0 if rows is None else len(rows)
        want = available if per_class is None else per_class
        take = min(want, available)
        if take:
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(ci,)))
            idx = np.sort(rng.choice(available, size=take, replace=False))
            picked.append(rows.iloc[idx])
        counts.append(
            {"label": label, "available": available, "requested": want, "selected": take, "short": want - take}
        )
    table = pd.concat(picked, ignore_index=True) if picked else pd.DataFrame()
    return table, counts


def build_paper_colors(
    styles,
    images,
    out,
    *,
    per_class: int | None = 100,
    seed: int = 0,
    mapping: dict[str, str | None] | None = None,
) -> ManifestReport:
    """Sample the paper's colour dataset from a local Kaggle download.

    Parameters
    ----------
    styles : str or path-like
        The Kaggle ``styles.csv``.
    images : str or path-like
        The folder of ``<id>.jpg`` images.
    out : str or path-like
        Manifest CSV to write: ``file`` (relative to the manifest), ``color``,
        ``id``, ``baseColour`` and, when present, ``articleType``.
    per_class : int or None, default=100
        Images per colour family (the paper's 100); ``None`` keeps every image.
    seed : int, default=0
        Seeds the stratified sample (one stream per family, so the sample of
        one family does not depend on the others).
    mapping : dict, optional
        ``baseColour`` -> family (or ``None`` to exclude); default
        :data:`PAPER_COLOR_MAP`. Pass ``{**PAPER_COLOR_MAP, "Maroon": "red"}``
        to change one decision.

    Returns
    -------
    ManifestReport

    Raises
    ------
    DatasetError
        ``styles`` or ``images`` cannot be used, or no image of any family exists.
    ParameterError
        Invalid ``per_class`` or ``seed`` (an int >= 1 or None; an int >= 0).
    ValueError
        A mapping value that is not one of :data:`PAPER_COLORS` or None.

    Examples
    --------
    >>> report = build_paper_colors("styles.csv", "images", "paper_colors.csv")  # doctest: +SKIP
    >>> report.counts  # doctest: +SKIP
    """
    per_class, seed = _check_sampling(per_class, seed)
    mapping = dict(PAPER_COLOR_MAP if mapping is None else mapping)
    for value, family in mapping.items():
        if family is not None and family not in PAPER_COLORS:
            raise ValueError(f"mapping sends {value!r} to {family!r}; families are {', '.join(PAPER_COLORS)} or None")
    images = Path(images)
    if not images.is_dir():
        raise DatasetError(f"image folder {images} not found; it should hold the Kaggle <id>.jpg files")
    table, bad = read_styles(styles)
    out = Path(out)

    values = table["baseColour"].str.strip()
    family = values.map(lambda v: mapping.get(v))
    unmapped = (
        pd.DataFrame({"value": values[family.isna()]})
        .assign(reason=lambda d: np.where(d["value"].isin(list(mapping)), "excluded", "unknown"))
        .groupby(["value", "reason"], as_index=False)
        .size()
        .rename(columns={"size": "rows"})[["value", "rows", "reason"]]
        .sort_values(["rows", "value"], ascending=[False, True], ignore_index=True)
    )
    keep = table.loc[family.notna()].copy()
    keep["color"] = family[family.notna()]
    keep["baseColour"] = values[family.notna()]
    keep["_path"] = [images / f"{i.strip()}.jpg" for i in keep["id"]]
    exists = np.array([p.is_file() for p in keep["_path"]], dtype=bool)
    missing = tuple(str(p) for p in keep.loc[~exists, "_path"])
    missing_by_family = keep.loc[~exists, "color"].value_counts()
    found = keep.loc[exists].copy()
    found["_key"] = pd.to_numeric(found["id"], errors="coerce")
    found = found.sort_values(["_key", "id"], kind="stable")
    groups = {c: g for c, g in found.groupby("color", sort=False)}
    sample, counts = _sample(groups, per_class, seed, PAPER_COLORS)
    if sample.empty:
        raise DatasetError(
            f"no image of any colour family was found under {images} "
            f"({len(missing)} referenced files missing); check --images"
        )
    out_dir = out.resolve().parent
    files = [_relative(p.resolve(), out_dir) for p in sample["_path"]]
    manifest = pd.DataFrame({"file": files, "color": sample["color"].to_numpy()})
    manifest["id"] = sample["id"].to_numpy()
    manifest["baseColour"] = sample["baseColour"].to_numpy()
    for col in ("articleType", "gender"):
        if col in sample.columns:
            manifest[col] = sample[col].to_numpy()
    _write_csv(manifest, out)
    counts_df = pd.DataFrame(counts)
    counts_df.insert(2, "missing", [int(missing_by_family.get(c, 0)) for c in counts_df["label"]])
    return ManifestReport(out, manifest, counts_df, missing, unmapped, bad)


def build_folder_manifest(
    root,
    out,
    *,
    label: str = "label",
    per_class: int | None = None,
    seed: int = 0,
    rename: dict[str, str] | None = None,
) -> ManifestReport:
    """Write a manifest for a folder with one sub-folder of images per class.

    Parameters
    ----------
    root : str or path-like
        Folder whose sub-folders are the classes (e.g. ``textures/leopard/``).
    out : str or path-like
        Manifest CSV to write: ``file`` (relative to the manifest) and ``label``.
    label : str, default="label"
        Name of the label column (e.g. ``"texture"``).
    per_class : int or None, default=None
        Seeded sample size per class; ``None`` keeps every image.
    seed : int, default=0
        Seeds the sample.
    rename : dict, optional
        Folder name -> class name (e.g. ``{"houndstooth": "crows_feet"}``).

    Returns
    -------
    ManifestReport

    Raises
    ------
    DatasetError
        ``root`` is not a folder or holds no class sub-folder with images.
    ParameterError
        Invalid ``per_class`` or ``seed`` (an int >= 1 or None; an int >= 0).
    """
    per_class, seed = _check_sampling(per_class, seed)
    if not isinstance(label, str) or not label or label == "file":
        raise ValueError(f"`label` must be a non-empty column name other than 'file', got {label!r}")
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} not found")
    from attr_utils.datasets import scan_folder

    rename = dict(rename or {})
    groups: dict[str, list[Path]] = {}
    found, skipped = scan_folder(root)
    for path, cls in found:
        if cls is None:
            skipped.append(Skipped(str(path), "image beside the class folders (it has no class); move it into one"))
        else:
            groups.setdefault(rename.get(cls, cls), []).append(path)
    if not groups:
        raise DatasetError(
            f"{root} has no sub-folder with images (extensions the installed Pillow decodes: "
            f"{', '.join(IMAGE_EXTENSIONS[:8])}...); expected ROOT/<class>/<image>"
        )
    order = sorted(groups)
    frames = {k: pd.DataFrame({"_path": v}) for k, v in groups.items()}
    sample, counts = _sample(frames, per_class, seed, order)
    labels = [lab for lab, c in zip(order, counts) for _ in range(c["selected"])]
    out = Path(out)
    out_dir = out.resolve().parent
    manifest = pd.DataFrame({"file": [_relative(p.resolve(), out_dir) for p in sample["_path"]], label: labels})
    _write_csv(manifest, out)
    counts_df = pd.DataFrame(counts)
    counts_df.insert(2, "missing", 0)
    return ManifestReport(out, manifest, counts_df, skipped=tuple(skipped))
