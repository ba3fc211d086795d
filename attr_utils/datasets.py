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

Every file is accounted for: images (any extension the installed Pillow
decodes, :data:`attr_utils.images.IMAGE_EXTENSIONS`, the one list of every
reader) are embedded; listed-but-missing files, images beside the class
folders, broken symlinks, undecodable image types (``.heic`` without a
plugin) and other files are reported in :attr:`Dataset.skipped` with a
reason; only system junk (``.DS_Store``, ``Thumbs.db``, ``desktop.ini``,
``__MACOSX/``, ``._*`` and other hidden files) is ignored silently. Symlink
loops are not followed.

Manifests (and ``styles.csv``) go through one reader, :func:`read_manifest`,
tolerant of the dialects people write (BOM, CRLF, ``;``, spaces around
delimiters, rows with extra fields, ``img\\a.jpg`` Windows separators). User
columns never overwrite the internal ``path`` and ``hash`` columns: a user
column with such a name is renamed ``user_path`` / ``user_hash`` (with a
:class:`ManifestWarning`).
"""

from __future__ import annotations

import csv
import io
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from attr_utils.embeddings import INTERNAL_COLUMNS, Skipped, user_column_name
from attr_utils.errors import DatasetError
from attr_utils.images import is_image_name, is_junk_name, undecodable_reason

__all__ = ["PATH_COLUMNS", "Dataset", "Manifest", "ManifestWarning", "load_dataset", "read_manifest", "scan_folder"]

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
        Files that will not be embedded, with the reason: listed files that
        do not exist; in a folder, images beside the class folders, broken
        links, undecodable image types and other non-image files.
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
        Name of the path column of a CSV manifest (default: the one column of
        ``PATH_COLUMNS`` present; several present is an error). The CLI's
        ``--path-column``.
    label_columns : list of str, optional
        Keep only these label columns (default: all other columns). A user
        column named like an internal one (``path``, ``hash``) is renamed
        ``user_path`` / ``user_hash``.

    Returns
    -------
    Dataset
        ``skipped`` lists, with a reason, every file or row not used.

    Warns
    -----
    ManifestWarning
        A manifest was repaired (spaces stripped, extra fields joined into
        the last column) or a column renamed.

    Raises
    ------
    DatasetError
        The source does not exist, a CSV has no path column or several
        path-like ones, none of the listed files exists (the message names
        the likely cause), a folder holds no image, or a requested label
        column is absent.

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


def scan_folder(root: Path, *, classes: bool = True) -> tuple[list[tuple[Path, str | None]], list[Skipped]]:
    """Every file below ``root``, accounted for: images to embed, the rest reported.

    Walks in sorted order without following a symlink loop. System junk
    (hidden files, AppleDouble ``._*``, ``.DS_Store``, ``Thumbs.db``,
    ``desktop.ini``, ``__MACOSX``) is ignored silently; every other file that
    will not be embedded is returned as :class:`Skipped` with the reason: a
    broken symbolic link, an unreadable folder, an image type the installed
    Pillow cannot decode (``.heic`` without pillow-heif...), a non-image file,
    or (``classes=True``, when ``root`` has class sub-folders) an image lying
    beside the class folders, which has no class.

    Parameters
    ----------
    root : pathlib.Path
        The folder.
    classes : bool, default=True
        Label each image with the name of its top-level sub-folder.

    Returns
    -------
    images : list of (pathlib.Path, str or None)
        Image files (by extension: :data:`attr_utils.images.IMAGE_EXTENSIONS`)
        and their class (None for files directly in ``root``).
    skipped : list of Skipped
        Files not embedded, with the reason.
    """
    seen: set[tuple[int, int]] = set()
    images: list[tuple[Path, str | None]] = []
    skipped: list[Skipped] = []

    def walk(folder: Path, label: str | None):
        try:
            st = folder.stat()
        except OSError as exc:
            skipped.append(Skipped(str(folder), f"cannot open folder: {exc.strerror or exc}"))
            return
        key = (st.st_dev, st.st_ino)
        if key in seen:
            return  # a symlink loop, or a folder linked twice: listed once
        seen.add(key)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            skipped.append(Skipped(str(folder), f"cannot list folder: {exc.strerror or exc}"))
            return
        for entry in entries:
            if is_junk_name(entry.name):
                continue
            path = Path(entry.path)
            try:
                if entry.is_dir():  # follows symlinks; loops stop at `seen`
                    walk(path, entry.name if label is None and folder == root and classes else label)
                elif entry.is_file():
                    if is_image_name(entry.name):
                        images.append((path, label))
                    else:
                        skipped.append(Skipped(str(path), undecodable_reason(entry.name)))
                elif entry.is_symlink():
                    skipped.append(Skipped(str(path), f"broken symbolic link (to {os.readlink(path)!r})"))
                else:
                    skipped.append(Skipped(str(path), "not a regular file"))
            except OSError as exc:
                skipped.append(Skipped(str(path), f"cannot read: {exc.strerror or exc}"))

    walk(root, None)
    if classes and any(label is not None for _, label in images):
        loose = [p for p, label in images if label is None]
        skipped += [Skipped(str(p), "image beside the class folders (it has no class); move it into one") for p in loose]
        images = [(p, label) for p, label in images if label is not None]
    return images, skipped


def iter_image_files(root: Path):
    """Yield image files below ``root`` in sorted order (see :func:`scan_folder` for the rest)."""
    for path, _ in scan_folder(Path(root), classes=False)[0]:
        yield path


def _load_folder(root: Path) -> Dataset:
    images, skipped = scan_folder(root)
    if not images:
        found = f"; {len(skipped)} other file(s), first: {skipped[0].path}: {skipped[0].reason}" if skipped else ""
        raise DatasetError(f"no image files found in {str(root)!r}{found}")
    table = pd.DataFrame([(str(p.absolute()), label) for p, label in images], columns=["path", "label"])
    if table["label"].isna().all():
        return Dataset(table[["path"]], [], root, "folder", skipped)
    return Dataset(table, ["label"], root, "folder", skipped)


# -- manifests ----------------------------------------------------------------------


@dataclass
class Manifest:
    """A CSV manifest as read by :func:`read_manifest`.

    Attributes
    ----------
    table : pandas.DataFrame
        Every column as ``str``, values and column names stripped of
        surrounding spaces.
    repaired : list of int
        Line numbers (1-based, header is line 1) of rows that had more
        fields than the header; their extra fields were joined into the last
        column (or dropped when empty).
    notes : list of str
        What was tolerated (BOM, encoding, delimiter, stripped spaces,
        repaired rows), one sentence each; also issued as
        :class:`ManifestWarning`.
    """

    table: pd.DataFrame
    repaired: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class ManifestWarning(UserWarning):
    """A manifest was read with a repair (spaces stripped, extra fields joined, columns renamed)."""


def read_manifest(path: str | os.PathLike, *, warn: bool = True) -> Manifest:
    """Read a CSV manifest in the dialects people write: the one reader of every path.

    Tolerates a UTF-8 byte-order mark, Windows (CRLF) and old Mac line
    endings, a cp1252 (Excel on Windows) encoding, ``;`` or tab delimiters
    (sniffed from the header line), spaces around delimiters (stripped, with
    a warning), blank lines, rows with fewer fields than the header (padded
    with empty values) and rows with more fields than the header, wherever
    they occur: empty extra fields are dropped and non-empty ones are joined
    (with the delimiter) into the last column, as in the Kaggle
    ``styles.csv`` whose product names contain commas. Columns never shift.

    Parameters
    ----------
    path : str or path-like
        The CSV file.
    warn : bool, default=True
        Issue each note as a :class:`ManifestWarning`.

    Returns
    -------
    Manifest

    Raises
    ------
    DatasetError
        The file cannot be read, is empty, is not text, or has duplicate or
        empty column names.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read CSV {str(path)!r}: {exc.strerror or exc}") from None
    notes: list[str] = []
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        if b"\0" in raw[:4096]:
            raise DatasetError(f"CSV {str(path)!r} is not a text file (or is UTF-16); save it as UTF-8 CSV") from None
        text = raw.decode("cp1252", errors="replace")
        notes.append("not UTF-8; read as cp1252 (Windows)")
    first = next((line for line in text.splitlines() if line.strip()), None)
    if first is None:
        raise DatasetError(f"CSV {str(path)!r} is empty")
    delimiter = max(",;\t", key=lambda d: first.count(d)) if any(d in first for d in ",;\t") else ","
    if delimiter != ",":
        notes.append(f"delimiter {delimiter!r}")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = []
    try:
        for row in reader:  # quoted fields may span lines; line_num counts physical lines
            if any(f.strip() for f in row):
                rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise DatasetError(f"cannot parse CSV {str(path)!r}: {exc}") from None
    (_, header), body = rows[0], rows[1:]
    columns = [c.strip() for c in header]
    spaced = sum(c != h for c, h in zip(columns, header))
    if "" in columns:
        raise DatasetError(f"CSV {str(path)!r} has an empty column name (column {columns.index('') + 1}); name every column")
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise DatasetError(f"CSV {str(path)!r} has duplicate column names {dupes}; rename them")
    width = len(columns)
    repaired: list[int] = []
    records = []
    for line_no, row in body:
        if len(row) > width:
            # never shift columns: extras belong to the last column (unquoted delimiters in free text)
            row = row[: width - 1] + [delimiter.join(row[width - 1 :]) if any(f.strip() for f in row[width:]) else row[width - 1]]
            repaired.append(line_no)
        elif len(row) < width:
            row = row + [""] * (width - len(row))
        fields = [f.strip() for f in row]
        spaced += sum(f != r for f, r in zip(fields, row))
        records.append(fields)
    if spaced:
        notes.append(f"stripped spaces around {spaced} value(s) or column name(s)")
    if repaired:
        shown = ", ".join(map(str, repaired[:5])) + (" ..." if len(repaired) > 5 else "")
        notes.append(
            f"{len(repaired)} row(s) had more fields than the header (line {shown}); "
            f"their extra fields were joined into the last column {columns[-1]!r}"
        )
    if warn:
        for note in notes:
            warnings.warn(f"{path.name}: {note}", ManifestWarning, stacklevel=3)
    table = pd.DataFrame(records, columns=columns, dtype=str) if records else pd.DataFrame(columns=columns, dtype=str)
    return Manifest(table, repaired, notes)


def _rename_internal(table: pd.DataFrame, keep: str | None, where: str) -> pd.DataFrame:
    """Rename user columns that carry an internal name (``path``, ``hash``) to ``user_<name>``."""
    renames = {}
    for col in table.columns:
        if col in INTERNAL_COLUMNS and col != keep:
            renames[col] = user_column_name(col, list(table.columns) + list(renames.values()))
    if renames:
        text = ", ".join(f"{a!r} -> {b!r}" for a, b in renames.items())
        warnings.warn(f"{where}: column(s) renamed because their names are internal: {text}", ManifestWarning, stacklevel=4)
        table = table.rename(columns=renames)
    return table


def _looks(values: list[str]) -> str:
    """The likely reason none of ``values`` names an existing file."""
    sample = [v for v in values if v][:50]
    if not sample:
        return "the path column is empty"
    if all("://" in v for v in sample):
        return "they are URLs, not local files; choose the column with local paths with path_column= (CLI: --path-column)"
    if any(re.match(r"^[A-Za-z]:[\\/]", v) or v.startswith("\\\\") for v in sample):
        return "they are absolute Windows paths (drive letter or \\\\server); make them relative to the manifest"
    if all(os.path.isabs(v) for v in sample):
        return "they are absolute paths that do not exist on this machine; make them relative to the manifest"
    return "relative paths are read from the manifest's folder; check that the images sit there and the names match (case included)"


def _resolve(root: Path, value: str) -> str:
    """Absolute path of a manifest entry: as written, then with ``\\`` read as a folder separator."""
    if not value:
        return ""
    candidate = os.path.normpath(os.path.join(root, value))
    if "\\" in value and os.sep == "/" and not os.path.isfile(candidate):
        alt = os.path.normpath(os.path.join(root, value.replace("\\", "/")))
        if os.path.isfile(alt):
            return alt
    return candidate


def _finish_manifest(table: pd.DataFrame, files: pd.Series, root: Path, kind: str, source: Path) -> Dataset:
    values = files.tolist()
    paths = [_resolve(root, f) for f in values]
    exists = [bool(p) and os.path.isfile(p) for p in paths]
    if values and not any(exists):
        raise DatasetError(
            f"none of the {len(values)} files listed in {str(source)!r} exists (first: {values[0]!r}, looked up as "
            f"{paths[0]!r}); {_looks(values)}"
        )
    skipped = [Skipped(p or "<empty path>", "missing file") for p, ok in zip(paths, exists) if not ok]
    labels = list(table.columns)
    out = table.assign(path=paths)[["path", *labels]]
    out = out[exists].reset_index(drop=True)
    return Dataset(out, labels, root, kind, skipped)


def _path_column(table: pd.DataFrame, path: Path, path_column: str | None) -> str:
    if path_column is not None:
        if path_column not in table.columns:
            raise DatasetError(f"CSV {str(path)!r} has no column {path_column!r}; columns: {list(table.columns)}")
        return path_column
    found = [c for c in PATH_COLUMNS if c in table.columns]
    if not found:
        raise DatasetError(
            f"CSV {str(path)!r} has no path column; name one of {list(PATH_COLUMNS)} or pass path_column="
        )
    if len(found) > 1:
        raise DatasetError(
            f"CSV {str(path)!r} has several path-like columns {found}; choose one with path_column= (CLI: --path-column)"
        )
    return found[0]


def _load_csv(path: Path, path_column: str | None) -> Dataset:
    table = read_manifest(path).table
    column = _path_column(table, path, path_column)
    files = table.pop(column)
    table = _rename_internal(table, None, path.name)
    return _finish_manifest(table, files, path.parent.absolute(), "csv", path)


def _is_kaggle_styles(path: Path) -> bool:
    if path.name.lower() != "styles.csv":
        return False
    try:
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
            header = [c.strip() for c in next(csv.reader([f.readline()]), [])]
    except OSError:
        return False
    return "id" in header and not any(c in header for c in PATH_COLUMNS)


def _load_kaggle(styles: Path) -> Dataset:
    table = read_manifest(styles).table
    if "id" not in table.columns:
        raise DatasetError(f"{str(styles)!r} has no 'id' column; is it the Kaggle Fashion Product Images styles.csv?")
    ids = table.pop("id")
    files = ids.map(lambda i: f"images/{i}.jpg" if i else "")
    table = _rename_internal(table, None, styles.name)
    return _finish_manifest(table, files, styles.parent.absolute(), "kaggle-styles", styles)
