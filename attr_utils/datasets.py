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
delimiters, a header ending with a delimiter, ``img\\a.jpg`` Windows
separators). A row with more fields than its header is repaired only when the
extra fields are empty or the last column is free text (Kaggle's
``productDisplayName``); otherwise it is skipped and reported with its line
number, never turned into a label such as ``'red,extra'``. User
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

import numpy as np
import pandas as pd

from attr_utils.embeddings import INTERNAL_COLUMNS, Skipped, user_column_name
from attr_utils.errors import DatasetError, ParameterError
from attr_utils.images import is_image_name, is_junk_name, undecodable_reason

__all__ = [
    "FREE_TEXT_COLUMNS",
    "PATH_COLUMNS",
    "Dataset",
    "Manifest",
    "ManifestWarning",
    "RejectedRow",
    "load_dataset",
    "missing_labels",
    "read_manifest",
    "scan_folder",
]

#: Column names recognised as the image path in a CSV manifest, in order.
PATH_COLUMNS = ("path", "file", "filename", "image", "image_path", "filepath")

#: Columns whose values are free text that may contain the delimiter unquoted:
#: extra fields of a row are joined back into the last column only when it is
#: one of these (the Kaggle ``styles.csv``'s ``productDisplayName``, whose
#: product names contain commas). Pass ``free_text=`` to declare others.
FREE_TEXT_COLUMNS: tuple[str, ...] = ("productDisplayName",)


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
    free_text: str | list[str] | tuple[str, ...] | None = FREE_TEXT_COLUMNS,
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
    free_text : str or list of str or None, default=FREE_TEXT_COLUMNS
        Manifest columns whose values may contain the delimiter unquoted
        (default: the Kaggle ``productDisplayName``). A row with more fields
        than the header has its extra fields joined into the last column only
        when that column is free text; otherwise the row is skipped, reported
        in ``skipped`` with its line number (see :func:`read_manifest`).

    Returns
    -------
    Dataset
        ``skipped`` lists, with a reason, every file or row not used.

    Warns
    -----
    ManifestWarning
        A manifest was repaired (spaces stripped, an unnamed empty column
        dropped, extra fields joined into a free-text last column), rows were
        left out (extra fields with no place), or a column renamed. Each
        message is one line starting with the file name.

    Raises
    ------
    DatasetError
        The source does not exist, a CSV has no path column or several
        path-like ones, a column without a name holds data, no row is usable,
        none of the listed files exists (the message names the likely cause:
        URLs, Windows paths and separators, paths not relative to the
        manifest's folder), a folder holds no image, or a requested label
        column is absent.
    ParameterError
        ``free_text`` is not a name, a list of names or None.

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
        raise DatasetError(f"dataset {_shown(path)} does not exist; pass a folder of images, a CSV manifest or a styles.csv")
    if path.is_dir():
        styles = path / "styles.csv"
        if styles.is_file() and (path / "images").is_dir():
            ds = _load_kaggle(styles, free_text)
        elif (path / "labels.csv").is_file():  # a catalog folder written by `attr-utils synth`
            ds = _load_csv(path / "labels.csv", path_column, free_text)
        else:
            ds = _load_folder(path)
    elif path.suffix.lower() == ".csv":
        ds = _load_kaggle(path, free_text) if _is_kaggle_styles(path) else _load_csv(path, path_column, free_text)
    else:
        raise DatasetError(f"dataset {_shown(path)} is neither a folder nor a .csv manifest")
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
                    skipped.append(Skipped(str(path), f"broken symbolic link (to {_shown(os.readlink(path))})"))
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


def missing_labels(values) -> np.ndarray:
    """Where a label is missing: the toolkit's one definition, used wherever labels are read.

    Parameters
    ----------
    values : array-like, shape (n_items,)
        Label values of one column (``Embeddings.labels(column)``, a Series, a list).

    Returns
    -------
    ndarray of bool, shape (n_items,)
        True for ``None``, NaN / ``pd.NA`` and strings that are empty or only
        whitespace (a blank CSV cell); False for every other value.
    """
    return np.fromiter((_is_missing(v) for v in list(values)), dtype=bool, count=len(values))


def _is_missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # array-like cells are values, not missing
        return False


def _load_folder(root: Path) -> Dataset:
    images, skipped = scan_folder(root)
    if not images:
        found = f"; {len(skipped)} other file(s), first: {skipped[0].path}: {skipped[0].reason}" if skipped else ""
        raise DatasetError(f"no image files found in {_shown(root)}{found}")
    table = pd.DataFrame([(str(p.absolute()), label) for p, label in images], columns=["path", "label"])
    if table["label"].isna().all():
        return Dataset(table[["path"]], [], root, "folder", skipped)
    return Dataset(table, ["label"], root, "folder", skipped)


# -- manifests ----------------------------------------------------------------------

_DELIMITER_NAMES = {",": "','", ";": "';'", "\t": "a tab"}


@dataclass(frozen=True)
class RejectedRow:
    """A manifest row that could not be read without guessing, and why.

    Attributes
    ----------
    line : int
        Line number in the file (1-based, the header is line 1).
    values : dict of str to str
        The row's values for the columns left of the last one (their place
        is certain even when the row has too many fields).
    reason : str
        One sentence naming the line, for :attr:`Dataset.skipped`.
    """

    line: int
    values: dict[str, str]
    reason: str


@dataclass
class Manifest:
    """A CSV manifest as read by :func:`read_manifest`.

    Attributes
    ----------
    table : pandas.DataFrame
        Every column as ``str``, values and column names stripped of
        surrounding spaces; unnamed empty columns dropped; rejected rows left
        out.
    repaired : list of int
        Line numbers (1-based, header is line 1) of kept rows that had more
        fields than the header: trailing empty fields dropped, or extra
        fields joined into a free-text last column.
    rejected : list of RejectedRow
        Rows with more (non-empty) fields than the header whose last column
        is not free text: their extra fields cannot be placed, so the row is
        left out and reported.
    notes : list of str
        What was tolerated or left out (encoding, delimiter, stripped spaces,
        dropped columns, repaired and rejected rows), one line each; also
        issued as :class:`ManifestWarning`.
    """

    table: pd.DataFrame
    repaired: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)


class ManifestWarning(UserWarning):
    """A manifest was read with a repair or left rows out; the message is one line naming the file."""


def _free_text_names(free_text) -> frozenset[str]:
    if free_text is None:
        return frozenset()
    if isinstance(free_text, str):
        return frozenset([free_text])
    try:
        names = list(free_text)
    except TypeError:
        names = None
    if names is None or not all(isinstance(n, str) for n in names):
        raise ParameterError(
            f"`free_text` must be a column name, a list of column names or None, got {free_text!r} "
            f"({type(free_text).__name__})"
        )
    return frozenset(names)


def _lines(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers[:5])) + (" ..." if len(numbers) > 5 else "")


def read_manifest(
    path: str | os.PathLike,
    *,
    free_text: str | list[str] | tuple[str, ...] | None = FREE_TEXT_COLUMNS,
    warn: bool = True,
) -> Manifest:
    """Read a CSV manifest in the dialects people write: the one reader of every path.

    Tolerates a UTF-8 byte-order mark, Windows (CRLF) and old Mac line
    endings, a cp1252 (Excel on Windows) encoding, ``;`` or tab delimiters
    (sniffed from the header line), spaces around delimiters (stripped, with
    a warning), blank lines, a header ending with a delimiter (``file,color,``
    as spreadsheets export: an unnamed column that is empty in every row is
    dropped, with a warning), rows with fewer fields than the header (padded
    with empty values) and rows with more fields than the header, wherever
    they occur. Columns never shift; for a row with more fields than the
    header:

    * extra fields that are all empty (trailing delimiters) are dropped;
    * otherwise, when the last column is free text (``free_text``, default
      the Kaggle ``styles.csv``'s ``productDisplayName``, whose product names
      contain unquoted commas), the extra fields are joined, with the
      delimiter, back into it;
    * otherwise the row is left out and reported in
      :attr:`Manifest.rejected` with its line number: joining would invent
      a label such as ``'red,extra'``.

    Parameters
    ----------
    path : str or path-like
        The CSV file.
    free_text : str or list of str or None, default=FREE_TEXT_COLUMNS
        Columns whose values may contain the delimiter unquoted. Only the
        last column can take extra fields; names absent from the header are
        ignored. ``None``: no column (every row with extra non-empty fields
        is rejected).
    warn : bool, default=True
        Issue each note as a :class:`ManifestWarning`.

    Returns
    -------
    Manifest

    Raises
    ------
    DatasetError
        The file cannot be read, is empty, is not text, has duplicate column
        names, or has a column without a name that holds data.
    ParameterError
        ``free_text`` is not a name, a list of names or None.

    See Also
    --------
    load_dataset : turns rejected rows into :attr:`Dataset.skipped` entries.
    """
    free = _free_text_names(free_text)
    path = Path(path)
    shown = _shown(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read CSV {shown}: {exc.strerror or exc}") from None
    notes: list[str] = []
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        if b"\0" in raw[:4096]:
            raise DatasetError(f"CSV {shown} is not a text file (or is UTF-16); save it as UTF-8 CSV") from None
        text = raw.decode("cp1252", errors="replace")
        notes.append("not UTF-8; read as cp1252 (Windows)")
    first = next((line for line in text.splitlines() if line.strip()), None)
    if first is None:
        raise DatasetError(f"CSV {shown} is empty")
    delimiter = max(",;\t", key=lambda d: first.count(d)) if any(d in first for d in ",;\t") else ","
    if delimiter != ",":
        notes.append(f"read with delimiter {_DELIMITER_NAMES[delimiter]}")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = []
    try:
        for row in reader:  # quoted fields may span lines; line_num counts physical lines
            if any(f.strip() for f in row):
                rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise DatasetError(f"cannot parse CSV {shown}: {exc}") from None
    (_, header), body = rows[0], rows[1:]
    columns = [c.strip() for c in header]
    spaced = sum(c != h for c, h in zip(columns, header) if c)
    named = [i for i, c in enumerate(columns) if c]  # never empty: a line of bare delimiters counts as blank
    dupes = sorted({c for c in columns if c and columns.count(c) > 1})
    if dupes:
        raise DatasetError(f"CSV {shown} has duplicate column names {dupes}; rename them")
    width, last = len(columns), named[-1]
    joins = columns[last] in free
    repaired: list[int] = []
    joined: list[int] = []
    rejected: list[RejectedRow] = []
    records, record_lines = [], []
    sep = _DELIMITER_NAMES[delimiter]
    for line_no, row in body:
        if len(row) > last + 1 and any(f.strip() for f in row[last + 1 :]):
            if joins:  # unquoted delimiters inside free text: the extras belong to the last column
                tail = row[last + 1 :]
                while not tail[-1].strip():  # trailing delimiters (a header ending with one, say)
                    tail.pop()
                row = row[:last] + [delimiter.join([row[last], *tail])]
                joined.append(line_no)
            elif len(row) > width:  # extra fields with no place: report the row, never invent a label
                reason = (
                    f"line {line_no} of {path.name} has {len(row)} fields but its header {width}; the last column "
                    f"'{columns[last]}' is not free text, so the extra fields cannot be placed (quote values that "
                    f"contain {sep})"
                )
                values = {columns[i]: row[i].strip() for i in named if i < last}
                rejected.append(RejectedRow(line_no, values, reason))
                continue
            # else: data under an unnamed header column (refused below)
        if len(row) > width:  # only empty fields beyond the header
            row = row[:width]
            repaired.append(line_no)
        elif len(row) < width:
            row = row + [""] * (width - len(row))
        fields = [f.strip() for f in row]
        spaced += sum(f != r for f, r in zip(fields, row))
        records.append(fields)
        record_lines.append(line_no)
    unnamed = [i for i, c in enumerate(columns) if not c]
    for i in unnamed:
        holding = next((n for n, r in zip(record_lines, records) if r[i]), None)
        if holding is not None:
            raise DatasetError(
                f"CSV {shown} has a column without a name (column {i + 1}) that holds data (line {holding}); "
                "name every column that holds data"
            )
    if unnamed:
        trailing = all(i > last for i in unnamed)
        notes.append(
            f"dropped {len(unnamed)} unnamed empty column(s) (column {', '.join(str(i + 1) for i in unnamed)}"
            + ("; the header ends with a delimiter)" if trailing else ")")
        )
        records = [[f for i, f in enumerate(r) if columns[i]] for r in records]
        columns = [c for c in columns if c]
    if spaced:
        notes.append(f"stripped spaces around {spaced} value(s) or column name(s)")
    if joined:
        notes.append(
            f"{len(joined)} row(s) had more fields than the header (line {_lines(joined)}); their extra fields "
            f"were joined into the free-text column '{columns[-1]}'"
        )
    if repaired:
        notes.append(f"dropped empty fields beyond the header on {len(repaired)} row(s) (line {_lines(repaired)})")
    if rejected:
        notes.append(
            f"left out {len(rejected)} row(s) with more fields than the header (line "
            f"{_lines([r.line for r in rejected])}): the last column '{columns[-1]}' is not free text, so the "
            f"extra fields cannot be placed; quote values that contain {sep}"
        )
    if warn:
        for note in notes:
            warnings.warn(f"{path.name}: {note}", ManifestWarning, stacklevel=3)
    table = pd.DataFrame(records, columns=columns, dtype=str) if records else pd.DataFrame(columns=columns, dtype=str)
    return Manifest(table, sorted(set(repaired) | set(joined)), notes, rejected)


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


def _shown(value) -> str:
    """A path or value quoted as written (``repr`` would double a Windows path's backslashes)."""
    return f"'{value}'"


def _looks(values: list[str]) -> str:
    """The likely reason none of ``values`` names an existing file (one clause, as written)."""
    sample = [v for v in values if v][:50]
    if not sample:
        return "the path column is empty"
    if all("://" in v for v in sample):
        return "they are URLs, not local files; choose the column with local paths: load_dataset(..., path_column=NAME), then embed the Dataset (CLI: --path-column NAME)"
    if any(re.match(r"^[A-Za-z]:[\\/]", v) or v.startswith("\\\\") for v in sample):
        return (
            "they are absolute Windows paths (drive letter or \\\\server) that do not exist on this machine; "
            "make them relative to the manifest's folder (either folder separator, \\ or /, works there)"
        )
    if all(os.path.isabs(v) for v in sample):
        return "they are absolute paths that do not exist on this machine; make them relative to the manifest's folder"
    if any("\\" in v for v in sample):
        return (
            "relative paths are read from the manifest's folder, with \\ or / as the folder separator (both were "
            "tried); check that the images sit there and the names match (case included)"
        )
    return "relative paths are read from the manifest's folder; check that the images sit there and the names match (case included)"


def _resolve(root: Path, value: str) -> str:
    """Absolute path of a manifest entry: as written, then with ``\\`` read as a folder separator.

    When neither exists, the ``/`` reading is returned (what the user meant, for the report).
    """
    if not value:
        return ""
    candidate = os.path.normpath(os.path.join(root, value))
    if "\\" in value and os.sep == "/" and not os.path.isfile(candidate):
        alt = os.path.normpath(os.path.join(root, value.replace("\\", "/")))
        if os.path.isfile(alt) or not os.path.lexists(candidate):
            return alt
    return candidate


def _rejected_skips(rejected: list[RejectedRow], column: str, to_file, root: Path, source: Path) -> list[Skipped]:
    """:class:`Skipped` entries for rows the manifest reader left out: the row's file when its place is certain."""
    out = []
    for row in rejected:
        value = row.values.get(column, "")
        name = to_file(value) if value else ""
        out.append(Skipped(_resolve(root, name) if name else f"{source} (line {row.line})", row.reason))
    return out


def _finish_manifest(
    table: pd.DataFrame, files: pd.Series, root: Path, kind: str, source: Path, rejected: list[Skipped]
) -> Dataset:
    values = files.tolist()
    if not values and rejected:
        raise DatasetError(
            f"no usable row in {_shown(source)}: {len(rejected)} row(s) left out, the first because {rejected[0].reason}"
        )
    paths = [_resolve(root, f) for f in values]
    exists = [bool(p) and os.path.isfile(p) for p in paths]
    if values and not any(exists):
        raise DatasetError(
            f"none of the {len(values)} files listed in {_shown(source)} exists (first: {_shown(values[0])}, looked up "
            f"as {_shown(paths[0])}); {_looks(values)}"
        )
    skipped = list(rejected) + [Skipped(p or "<empty path>", "missing file") for p, ok in zip(paths, exists) if not ok]
    labels = list(table.columns)
    table = table.copy()
    for column in labels:  # a blank cell is a missing label (NaN), never the value ""
        blank = missing_labels(table[column])
        if blank.any():
            table[column] = table[column].where(~blank)
    out = table.assign(path=paths)[["path", *labels]]
    out = out[exists].reset_index(drop=True)
    return Dataset(out, labels, root, kind, skipped)


def _path_column(table: pd.DataFrame, path: Path, path_column: str | None) -> str:
    if path_column is not None:
        if path_column not in table.columns:
            raise DatasetError(f"CSV {_shown(path)} has no column {path_column!r}; columns: {list(table.columns)}")
        return path_column
    found = [c for c in PATH_COLUMNS if c in table.columns]
    if not found:
        raise DatasetError(
            f"CSV {_shown(path)} has no path column; name one of {list(PATH_COLUMNS)} or pass load_dataset(..., path_column=NAME)"
        )
    if len(found) > 1:
        raise DatasetError(
            f"CSV {_shown(path)} has several path-like columns {found}; choose one: load_dataset(..., path_column=NAME), then embed the Dataset (CLI: --path-column NAME)"
        )
    return found[0]


def _load_csv(path: Path, path_column: str | None, free_text) -> Dataset:
    manifest = read_manifest(path, free_text=free_text)
    table = manifest.table
    column = _path_column(table, path, path_column)
    files = table.pop(column)
    table = _rename_internal(table, None, path.name)
    root = path.parent.absolute()
    rejected = _rejected_skips(manifest.rejected, column, lambda v: v, root, path)
    return _finish_manifest(table, files, root, "csv", path, rejected)


def _is_kaggle_styles(path: Path) -> bool:
    if path.name.lower() != "styles.csv":
        return False
    try:
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
            header = [c.strip() for c in next(csv.reader([f.readline()]), [])]
    except OSError:
        return False
    return "id" in header and not any(c in header for c in PATH_COLUMNS)


def _load_kaggle(styles: Path, free_text) -> Dataset:
    manifest = read_manifest(styles, free_text=free_text)
    table = manifest.table
    if "id" not in table.columns:
        raise DatasetError(f"{_shown(styles)} has no 'id' column; is it the Kaggle Fashion Product Images styles.csv?")
    ids = table.pop("id")
    files = ids.map(_kaggle_file)
    table = _rename_internal(table, None, styles.name)
    root = styles.parent.absolute()
    rejected = _rejected_skips(manifest.rejected, "id", _kaggle_file, root, styles)
    return _finish_manifest(table, files, root, "kaggle-styles", styles, rejected)


def _kaggle_file(image_id: str) -> str:
    return f"images/{image_id}.jpg" if image_id else ""
