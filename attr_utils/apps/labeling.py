"""Select-and-label loop: a selection of catalog items becomes examples of an attribute value.

:class:`LabelSession` is the state behind the UMAP explorer's labelling panel,
plain Python so it can be tested without a browser:

1. fill the gallery from a selection on the map (:meth:`~LabelSession.select`)
   or from the catalog audit's suspect labels (:meth:`~LabelSession.select_suspects`);
2. leave items out of it (:meth:`~LabelSession.exclude`);
3. name what is left as a value of an attribute, new or existing, and add it
   to the session's :class:`~attr_utils.retrieval.extractor.AttributeExtractor`
   (:meth:`~LabelSession.add`): the items become examples of that value,
   nothing is trained;
4. save the extractor (:meth:`~LabelSession.save`) into a folder under one
   fixed output folder, in the extractor's own format, ready for
   ``attr-utils predict --extractor DIR`` and ``attr-utils tag --extractor NAME=DIR``.

The extractor starts from the catalog's own labels of the attribute (every
labelled item is an example of its value). Naming items relabels them: an item
that was an example of another value is moved to the new one. When no item
moves, the examples are appended with
:meth:`~attr_utils.retrieval.extractor.AttributeExtractor.add_examples`;
when some move, the extractor is rebuilt from the stored vectors with the
current labels (no image is embedded again, nothing is trained either way).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from attr_utils.datasets import missing_labels
from attr_utils.errors import DatasetError, ParameterError
from attr_utils.validation import check_choice, check_int

__all__ = ["LabelSession", "LabelUpdate", "check_folder_name", "default_output_dir"]

#: Sub-folder of the attr-utils cache root that saved extractors go to.
EXTRACTORS_FOLDER = "extractors"
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_MAX_NAME = 64


def default_output_dir() -> Path:
    """``<cache root>/extractors``: the one folder the apps save extractors under.

    The cache root is :func:`attr_utils.cache.cache_root` (``$ATTR_UTILS_CACHE``
    or the platform's user cache folder).
    """
    from attr_utils.cache import cache_root

    return cache_root() / EXTRACTORS_FOLDER


def check_folder_name(name) -> str:
    """A saved extractor's folder name, checked: one plain name, never a path.

    Parameters
    ----------
    name : str
        Letters, digits, ``.``, ``_`` and ``-``; starts with a letter or digit;
        at most 64 characters; no ``..``. Surrounding spaces are stripped.

    Returns
    -------
    str
        The stripped name.

    Raises
    ------
    ParameterError
        Not a string, empty, a path (``/`` or ``\\``), holding ``..``, or other characters.
    """
    if not isinstance(name, str):
        raise ParameterError(f"the folder name must be a string, got {type(name).__name__}")
    name = name.strip()
    allowed = "letters, digits, '.', '_' and '-', starting with a letter or digit"
    if not name:
        raise ParameterError(f"the folder name is empty; use {allowed}")
    if "/" in name or "\\" in name:
        raise ParameterError(f"the folder name must be a plain name, not a path: got {name!r} (use {allowed})")
    if ".." in name:
        raise ParameterError(f"the folder name must not contain '..': got {name!r} (use {allowed})")
    if len(name) > _MAX_NAME:
        raise ParameterError(f"the folder name must be at most {_MAX_NAME} characters, got {len(name)}")
    if not _NAME_RE.fullmatch(name):
        raise ParameterError(f"the folder name may hold only {allowed}: got {name!r}")
    return name


@dataclass(frozen=True)
class LabelUpdate:
    """What :meth:`LabelSession.add` did.

    Attributes
    ----------
    attribute, value : str
    new_value : bool
        The value was not known to the extractor before.
    added : int
        Items that became examples of ``value`` (moved ones included).
    moved : int
        Of those, items that were examples of another value before.
    unchanged : int
        Items that already were examples of ``value``.
    examples, values : int
        The extractor's examples and values afterwards.
    rebuilt : bool
        The extractor was rebuilt from stored vectors (items moved) rather
        than extended with ``add_examples``.
    """

    attribute: str
    value: str
    new_value: bool
    added: int
    moved: int
    unchanged: int
    examples: int
    values: int
    rebuilt: bool

    def message(self) -> str:
        """One line for the page."""
        kind = "new value" if self.new_value else "existing value"
        moved = f" ({self.moved} moved from other values)" if self.moved else ""
        same = f"; {self.unchanged} already were" if self.unchanged else ""
        return (f"Added {self.added} example(s) of {self.value!r} ({kind}) to the {self.attribute!r} extractor{moved}{same}; "
                f"it now holds {self.examples} examples of {self.values} values.")


class LabelSession:
    """The select-and-label loop over one catalog: gallery, exclusions, naming, extractor, save.

    Parameters
    ----------
    emb : Embeddings
        The catalog, with at least one label column.
    attribute : str, optional
        Attribute (label column) the selections are named in; default the
        first label column. Change it with :meth:`set_attribute`.
    block : str, optional
        Block the extractor compares; default the backbone's registered block
        for the attribute (see :class:`~attr_utils.retrieval.extractor.AttributeExtractor`).
    k : int, default=5
        Voting neighbours of the extractor, and of the suspect-label audit
        (the paper's kNN uses 5).
    max_items : int, default=120
        Largest selection the gallery shows (>= 1); a larger one is refused,
        so every item added is one the user could see.
    output_dir : path-like, optional
        The fixed folder extractors are saved under; default
        :func:`default_output_dir`.

    Attributes
    ----------
    items : ndarray of int
        Catalog rows in the gallery, in selection order.
    excluded : set of int
        Rows of ``items`` the user left out.
    source : str
        Where the gallery's items came from (``"selection"``, ``"suspects"``...).
    suspects : pandas.DataFrame or None
        The last suspect-label audit (see :func:`attr_utils.analysis.audit_labels`).
    """

    def __init__(self, emb, *, attribute: str | None = None, block: str | None = None, k: int = 5,
                 max_items: int = 120, output_dir=None):
        if not emb.label_columns:
            raise DatasetError("labelling needs a catalog with at least one label column")
        self.emb = emb
        self.k = check_int("k", k, min=1)
        self.block = check_choice("block", block, [*emb.block_names, None])
        self.max_items = check_int("max_items", max_items, min=1)
        self.output_dir = Path(output_dir) if output_dir is not None else default_output_dir()
        self.items = np.zeros(0, dtype=np.int64)
        self.excluded: set[int] = set()
        self.source = ""
        self.suspects: pd.DataFrame | None = None
        self.attribute: str | None = None
        self._kept: dict[str, tuple[dict[int, str], object, list[int]]] = {}  # other attributes' names and extractors
        self.set_attribute(attribute or emb.label_columns[0])

    # -- attribute and labels -----------------------------------------------------------------------
    @property
    def attributes(self) -> list[str]:
        """The catalog's attribute (label) columns."""
        return list(self.emb.label_columns)

    def set_attribute(self, attribute: str) -> None:
        """Name selections in ``attribute`` from now on.

        Each attribute keeps its own names and extractor for the session:
        switching to another attribute and back finds the names given before
        (nothing named is thrown away); an attribute met for the first time
        starts a new extractor.
        """
        attribute = check_choice("attribute", attribute, self.attributes)
        if getattr(self, "attribute", None) is not None:
            self._kept[self.attribute] = (self._named, self._extractor, self._example_rows)
        self.attribute = attribute
        self._named, self._extractor, self._example_rows = self._kept.pop(attribute, ({}, None, []))
        self.suspects = None

    @property
    def named(self) -> dict[str, int]:
        """Items named in this session per attribute (attributes with none left out)."""
        counts = {a: len(named) for a, (named, _, _) in self._kept.items() if named}
        if self._named:
            counts[self.attribute] = len(self._named)
        return counts

    def current_labels(self) -> np.ndarray:
        """Every catalog row's value of the attribute: the catalog's, overridden by the names given here.

        Returns
        -------
        ndarray of object, shape (n_items,)
            str values; None where the item has no value.
        """
        catalog = self.emb.labels(self.attribute)
        out = np.array([None if m else str(v) for v, m in zip(catalog, missing_labels(catalog))], dtype=object)
        for row, value in self._named.items():
            out[row] = value
        return out

    def values(self) -> list[str]:
        """Known values of the attribute (catalog and named here), sorted."""
        return sorted({v for v in self.current_labels() if v is not None})

    # -- gallery ----------------------------------------------------------------------------------------
    def select(self, rows, *, source: str = "selection") -> pd.DataFrame:
        """Fill the gallery with catalog ``rows`` (duplicates dropped, order kept); clears exclusions.

        Parameters
        ----------
        rows : sequence of int, or boolean mask of shape (n_items,)
            Catalog rows (integers, or integral floats such as 3.0), or one
            boolean per catalog item (its True rows, in catalog order).

        Raises
        ------
        ParameterError
            A row that is not an integer or outside the catalog, a boolean mask
            of another length than the catalog, or more than ``max_items``
            rows: then the gallery is emptied, so nothing the map no longer
            highlights can be added.
        """
        rows = _check_rows(rows, len(self.emb))
        _, first = np.unique(rows, return_index=True)
        rows = rows[np.sort(first)]
        if len(rows) > self.max_items:
            self.items, self.excluded, self.source = np.zeros(0, dtype=np.int64), set(), ""
            raise ParameterError(
                f"{len(rows)} items selected; the gallery shows at most {self.max_items}: select a smaller region "
                "(the gallery was emptied)"
            )
        self.items = rows
        self.excluded = set()
        self.source = source
        return self.gallery()

    def clear(self) -> None:
        """Empty the gallery."""
        self.select([], source="")

    def select_suspects(self, *, folds: int = 5, seed: int = 0, top: int | None = None) -> pd.DataFrame:
        """Fill the gallery with the items whose label disagrees with their neighbours.

        Every labelled item is predicted out of fold by the toolkit's kNN at
        the extractor's block (:func:`attr_utils.analysis.audit_labels`, with
        the labels as they are now, names given here included, ``k`` of the
        session, ``folds`` folds); an item whose label loses the vote is a
        suspect. Values with fewer than ``folds`` items are left out of the check.

        Parameters
        ----------
        folds : int, default=5
        seed : int, default=0
        top : int, optional
            Keep the ``top`` highest-scoring suspects (default: up to ``max_items``).

        Returns
        -------
        pandas.DataFrame
            The audit's suspects (``row``, ``path``, ``label``, ``suggested``,
            ``score``...), highest score first; also kept in :attr:`suspects`.
            ``attrs`` hold the audit's (``block``, ``k``, ``folds``...) and
            ``notes``: what the audit warned about (values left out), as text.
        """
        from attr_utils.analysis import audit_labels

        top = check_int("top", top, min=1, allow_none=True)
        emb = self._labelled_emb()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            audit = audit_labels(emb, self.attribute, block=self.extractor.block_, k=self.k, folds=folds, seed=seed,
                                 drop_small_classes=True)
        suspects = audit.suspects.head(min(top or self.max_items, self.max_items)).reset_index(drop=True)
        suspects.attrs.update(audit.attrs)
        suspects.attrs["notes"] = [str(w.message) for w in caught]
        self.suspects = suspects
        self.select(suspects["row"].to_numpy(), source="suspects")
        return suspects

    def _gallery_rows(self, rows) -> set[int]:
        rows = {int(r) for r in _check_rows(np.atleast_1d(rows), len(self.emb), masks=False)}
        missing = rows - set(self.items.tolist())
        if missing:
            raise ParameterError(f"rows {sorted(missing)} are not in the gallery")
        return rows

    def exclude(self, rows) -> None:
        """Leave gallery items ``rows`` out of the selection (rows not in the gallery raise ParameterError)."""
        self.excluded |= self._gallery_rows(rows)

    def include(self, rows) -> None:
        """Take excluded gallery items ``rows`` back into the selection (rows not in the gallery raise ParameterError)."""
        self.excluded -= self._gallery_rows(rows)

    @property
    def kept(self) -> np.ndarray:
        """Gallery rows not excluded, in gallery order."""
        return np.array([r for r in self.items.tolist() if r not in self.excluded], dtype=np.int64)

    @property
    def count(self) -> int:
        """How many items the selection holds (exclusions left out)."""
        return len(self.kept)

    def gallery(self) -> pd.DataFrame:
        """The gallery's items: ``row``, ``path``, ``name``, every label column, ``current`` and ``excluded``.

        ``current`` is the item's value of the attribute now (names given here
        included); with a suspect-label gallery, ``suggested`` and ``score``
        come from the audit.
        """
        from pathlib import PurePath

        rows = self.items
        table = self.emb.table.iloc[rows]
        out = pd.DataFrame({"row": rows, "path": table["path"].astype(str).to_numpy()})
        out["name"] = [PurePath(p).name for p in out["path"]]
        for col in self.emb.label_columns:
            out[col] = table[col].to_numpy()
        out["current"] = self.current_labels()[rows] if len(rows) else np.array([], dtype=object)
        if self.source == "suspects" and self.suspects is not None and len(rows):
            by_row = self.suspects.set_index("row")
            out["suggested"] = by_row.loc[rows, "suggested"].to_numpy()
            out["score"] = by_row.loc[rows, "score"].to_numpy()
        out["excluded"] = [int(r) in self.excluded for r in rows]
        return out

    # -- naming and the extractor ----------------------------------------------------------------------
    def is_new_value(self, value: str) -> bool:
        """Whether ``value`` is not yet a value of the attribute."""
        return _check_value(value) not in self.values()

    @property
    def extractor(self):
        """The session's :class:`~attr_utils.retrieval.extractor.AttributeExtractor` (built on first use)."""
        if self._extractor is None:
            self._rebuild()
        return self._extractor

    def _labelled_emb(self):
        """The catalog with the attribute column holding :meth:`current_labels`."""
        table = self.emb.table.copy()
        table[self.attribute] = self.current_labels()
        return replace(self.emb, table=table)

    def _rebuild(self) -> None:
        """Catalog examples with their current labels (base), then each named group added as examples."""
        from attr_utils.retrieval.extractor import AttributeExtractor

        labels = self.current_labels()
        labelled = np.array([r for r in range(len(labels)) if labels[r] is not None], dtype=np.int64)
        if not len(labelled):
            raise DatasetError(f"no item has a value of {self.attribute!r} yet: name a selection first")
        base = np.array([r for r in labelled.tolist() if r not in self._named], dtype=np.int64)
        groups: dict[str, list[int]] = {}
        for row, value in self._named.items():
            groups.setdefault(value, []).append(row)
        emb = self._labelled_emb()
        ex = AttributeExtractor(self.block, k=self.k)
        if len(base):
            ex.fit(emb.subset(base), self.attribute)
            order = base.tolist()
        else:  # every labelled item was named here: the first group is the base
            value, rows = next(iter(groups.items()))
            ex.fit(emb.subset(rows), self.attribute)
            order = list(rows)
            groups.pop(value)
        for value, rows in groups.items():
            ex.add_examples(value, emb.subset(rows))
            order += rows
        self._extractor, self._example_rows = ex, order

    def add(self, value: str) -> LabelUpdate:
        """Name the selection (gallery minus exclusions) as ``value`` and add it to the extractor.

        Parameters
        ----------
        value : str
            A new or an existing value of the attribute (surrounding spaces stripped).

        Returns
        -------
        LabelUpdate

        Raises
        ------
        ParameterError
            ``value`` is empty or not a string, or the selection is empty.
        """
        value = _check_value(value)
        rows = self.kept.tolist()
        if not rows:
            raise ParameterError("the selection is empty: select items on the map (or show the suspects) first")
        if self._extractor is None and all(v is None for v in self.current_labels()):
            # an attribute no item has a value of yet (a blank column): this selection is the first value
            self._named.update({int(r): value for r in rows})
            self._rebuild()
            ex = self._extractor
            return LabelUpdate(attribute=self.attribute, value=value, new_value=True, added=len(rows), moved=0,
                               unchanged=0, examples=len(ex.examples_), values=len(ex.classes_), rebuilt=False)
        extractor = self.extractor
        new_value = value not in extractor.classes_
        where = {row: i for i, row in enumerate(self._example_rows)}
        values = extractor.examples_["value"].astype(str).to_numpy()
        same = [r for r in rows if r in where and values[where[r]] == value]
        moved = [r for r in rows if r in where and values[where[r]] != value]
        fresh = [r for r in rows if r not in where]
        for r in rows:
            self._named[int(r)] = value
        rebuilt = bool(moved)
        if moved:
            self._rebuild()
        elif fresh:
            extractor.add_examples(value, self.emb.subset(fresh))
            self._example_rows += fresh
        ex = self._extractor
        return LabelUpdate(attribute=self.attribute, value=value, new_value=new_value, added=len(moved) + len(fresh),
                           moved=len(moved), unchanged=len(same), examples=len(ex.examples_),
                           values=len(ex.classes_), rebuilt=rebuilt)

    # -- saving -------------------------------------------------------------------------------------------
    def folder_for(self, name: str) -> Path:
        """The folder ``name`` saves to: ``output_dir / name``, checked to stay inside ``output_dir``.

        Raises
        ------
        ParameterError
            ``name`` is not a plain folder name (see :func:`check_folder_name`).
        """
        name = check_folder_name(name)
        root = self.output_dir.resolve()
        folder = (root / name).resolve()
        if folder.parent != root:  # a symlink planted under the output folder
            raise ParameterError(f"the folder name {name!r} leads outside {str(root)!r}")
        return folder

    def is_saved(self, name: str) -> bool:
        """Whether a saved extractor is at ``output_dir / name`` (:meth:`save` would replace it)."""
        return (self.folder_for(name) / "extractor.json").is_file()

    def save(self, name: str) -> Path:
        """Save the extractor to ``output_dir / name`` (its own format: ``extractor.json`` + ``examples.parquet``).

        A folder of that name that already holds a saved extractor is replaced
        (ask :meth:`is_saved` first to say so).

        Returns
        -------
        pathlib.Path
            The folder, for ``attr-utils predict --extractor``.

        Raises
        ------
        ParameterError
            An invalid ``name``, or a folder of that name holding something else.
        """
        folder = self.folder_for(name)
        if folder.exists() and any(folder.iterdir()) and not self.is_saved(name):
            raise ParameterError(f"{str(folder)!r} exists and is not a saved extractor; choose another name")
        return self.extractor.save(folder)


def _check_value(value) -> str:
    from attr_utils.retrieval.extractor import check_value_name

    return check_value_name(value)


def _check_rows(rows, n: int, *, masks: bool = True) -> np.ndarray:
    """Catalog rows as int64: integers (or integral floats) in [0, n), or (``masks``) a boolean mask of length n."""
    values = np.asarray(list(rows) if not isinstance(rows, np.ndarray) else rows).reshape(-1)
    if values.dtype == bool:
        if not masks:
            raise ParameterError("rows must be integers, got booleans")
        if len(values) != n:
            raise ParameterError(f"a boolean selection needs one value per catalog item ({n}), got {len(values)}")
        return np.flatnonzero(values).astype(np.int64)
    if not len(values):
        return np.zeros(0, dtype=np.int64)
    if values.dtype.kind == "f" and np.all(np.isfinite(values)) and np.all(values == np.round(values)):
        values = values.astype(np.int64)
    if values.dtype.kind not in "iu":
        shown = [v.item() if hasattr(v, "item") else v for v in values[:3]]
        raise ParameterError(f"rows must be integers (catalog row numbers), got {shown}")
    if values.min() < 0 or values.max() >= n:
        raise ParameterError(f"selected rows must be in [0, {n - 1}], got {values.min()}..{values.max()}")
    return values.astype(np.int64)
