"""Datasets: which image files to embed and which labels they carry.

Three layouts are recognised by :func:`load_dataset`:

* a folder with one sub-folder per class (label column ``label``), or a
  plain folder of images (no labels); a folder holding a ``labels.csv``
  (as ``attr-utils synth`` writes) is read through that manifest;
* a CSV manifest with a path column (``path``, ``file``, ``filename`` or
  ``image``; paths relative to the CSV) and any number of label columns;
* the Kaggle "Fashion Product Images" layout: ``styles.csv`` with an ``id``
  column next to ``images/<id>.jpg``; every other column is a label
  (``baseColour``, ``articleType``...).

Files that are listed but missing are reported in :attr:`Dataset.skipped`;
system junk (``.DS_Store``, ``Thumbs.db``, ``__MACOSX/``, hidden files) and
non-image extensions are ignored silently; symlink loops are not followed.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from attr_utils.embeddings import Skipped
from attr_utils.errors import DatasetError
from attr_utils.images import is_image_name, is_junk_name

__all__ = ["PATH_COLUMNS", "Dataset", "load_dataset"]

#: Column names recognised as the image path in a CSV manifest, in order.
PATH_COLUMNS = ("path", "file", "filename", "image", "image_path", "filepath")


@dataclass
class Dataset:
    """Image files and their labels.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per image: absolute ``path`` then the label columns.
    label_columns : list of str
        The label columns of ``table``.
    root : pathlib.Path
        The folder or manifest the dataset was loaded from.
    kind : str
        ``"folder"``, ``"csv"`` or ``"kaggle-styles"``.
    skipped : list of Skipped
        Listed files that do not exist (or rows that could not be parsed).
    """

    table: pd.DataFrame
    label_columns: list[str]
    root: Path
    kind: str
    skipped: list[Skipped] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.table)

    @property
    def paths(self) -> list[str]:
        return self.table["path"].tolist()

    def require_label(self, column: str) -> None:
        """Raise :class:`DatasetError` unless ``column`` is a label column."""
        if column not in self.label_columns:
            raise DatasetError(
                f"unknown label column {column!r} in {self.root}; available: {self.label_columns or 'none'}"
            )

    def head(self, n: int) -> Dataset:
        """The first ``n`` images (for smoke runs)."""
        return Dataset(self.table.head(n).reset_index(drop=True), list(self.label_columns), self.root, self.kind, list(self.skipped))


def load_dataset(
    source: str | os.PathLike | Dataset,
    *,
    path_column: str | None = None,
    label_columns: list[str] | None = None,
) -> Dataset:
    """Load a dataset from a folder, a CSV manifest or a Kaggle ``styles.csv``.

    Parameters
    ----------
    source : str or path-like
        A folder (one sub-folder per class, or images directly), a CSV
        manifest, or a Kaggle ``styles.csv``. A :class:`Dataset` is returned
        as is.
    path_column : str, optional
        Name of the path column of a CSV manifest (default: the first of
        ``PATH_COLUMNS`` present).
    label_columns : list of str, optional
        Keep only these label columns (default: all other columns).

    Returns
    -------
    Dataset

    Raises
    ------
    DatasetError
        The source does not exist, a CSV has no path column, or a requested
        label column is absent.

    Examples
    --------
    >>> ds = load_dataset("data/synthetic/labels.csv")  # doctest: +SKIP
    >>> ds.label_columns  # doctest: +SKIP
    ['color', 'texture', 'garment']
    """
    if isinstance(source, Dataset):
        return source
    path = Path(source).expanduser()
    if not path.exists():
        raise DatasetError(f"dataset {str(path)!r} does not exist; pass a folder of images, a CSV manifest or a styles.csv")
    if path.is_dir():
        styles = path / "styles.csv"
        if styles.is_file() and (path / "images").is_dir():
            ds = _load_kaggle(styles)
        elif (path / "labels.csv").is_file():  # a catalog folder written by `attr-utils synth`
            ds = _load_csv(path / "labels.csv", path_column)
        else:
            ds = _load_folder(path)
    elif path.suffix.lower() == ".csv":
        ds = _load_kaggle(path) if _is_kaggle_styles(path) else _load_csv(path, path_column)
    else:
        raise DatasetError(f"dataset {str(path)!r} is neither a folder nor a .csv manifest")
    if label_columns is not None:
        for col in label_columns:
            ds.require_label(col)
        ds.table = ds.table[["path", *label_columns]]
        ds.label_columns = list(label_columns)
    return ds


def iter_image_files(root: Path):
    """Yield image files below ``root`` in sorted order, never following a symlink loop."""
    seen: set[tuple[int, int]] = set()

    def walk(folder: Path):
        try:
            st = folder.stat()
        except OSError:
            return
        key = (st.st_dev, st.st_ino)
        if key in seen:
            return
        seen.add(key)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if is_junk_name(entry.name):
                continue
            try:
                if entry.is_dir():  # follows symlinks; loops stop at `seen`
                    yield from walk(Path(entry.path))
                elif entry.is_file() and is_image_name(entry.name):
                    yield Path(entry.path)
            except OSError:
                continue

    yield from walk(root)


def _load_folder(root: Path) -> Dataset:
    rows = []
    for file in iter_image_files(root):
        rel = file.relative_to(root)
        label = rel.parts[0] if len(rel.parts) > 1 else None
        rows.append((str(file.absolute()), label))
    if not rows:
        raise DatasetError(f"no image files found in {str(root)!r}")
    table = pd.DataFrame(rows, columns=["path", "label"])
    if table["label"].isna().all():
        return Dataset(table[["path"]], [], root, "folder")
    if table["label"].isna().any():
        # images directly in the root next to class folders get no class
        table = table[table["label"].notna()].reset_index(drop=True)
    return Dataset(table, ["label"], root, "folder")


def _read_csv(path: Path) -> tuple[pd.DataFrame, list[Skipped]]:
    bad: list[Skipped] = []

    def on_bad(line: list[str]):
        bad.append(Skipped(str(path), f"unparseable CSV row: {','.join(line)[:80]}"))
        return None

    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, on_bad_lines=on_bad, engine="python")
    except (pd.errors.ParserError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot parse CSV {str(path)!r}: {exc}") from None
    except pd.errors.EmptyDataError:
        raise DatasetError(f"CSV {str(path)!r} is empty") from None
    return table, bad


def _finish_manifest(table: pd.DataFrame, files: pd.Series, root: Path, kind: str, bad: list[Skipped]) -> Dataset:
    paths = [os.path.normpath(os.path.join(root, f)) if f else "" for f in files]
    exists = [bool(p) and os.path.isfile(p) for p in paths]
    skipped = bad + [Skipped(p or "<empty path>", "missing file") for p, ok in zip(paths, exists) if not ok]
    labels = [c for c in table.columns]
    out = table.assign(path=paths)[["path", *labels]]
    out = out[exists].reset_index(drop=True)
    return Dataset(out, labels, root, kind, skipped)


def _load_csv(path: Path, path_column: str | None) -> Dataset:
    table, bad = _read_csv(path)
    if path_column is None:
        path_column = next((c for c in PATH_COLUMNS if c in table.columns), None)
        if path_column is None:
            raise DatasetError(
                f"CSV {str(path)!r} has no path column; name one of {list(PATH_COLUMNS)} or pass path_column="
            )
    elif path_column not in table.columns:
        raise DatasetError(f"CSV {str(path)!r} has no column {path_column!r}; columns: {list(table.columns)}")
    files = table.pop(path_column).str.strip()
    return _finish_manifest(table, files, path.parent.absolute(), "csv", bad)


def _is_kaggle_styles(path: Path) -> bool:
    if path.name.lower() != "styles.csv":
        return False
    with open(path, encoding="utf-8", errors="replace") as f:
        header = f.readline().strip().split(",")
    return "id" in header and not any(c in header for c in PATH_COLUMNS)


def _load_kaggle(styles: Path) -> Dataset:
    table, bad = _read_csv(styles)
    if "id" not in table.columns:
        raise DatasetError(f"{str(styles)!r} has no 'id' column; is it the Kaggle Fashion Product Images styles.csv?")
    ids = table.pop("id").str.strip()
    files = ids.map(lambda i: f"images/{i}.jpg" if i else "")
    return _finish_manifest(table, files, styles.parent.absolute(), "kaggle-styles", bad)
