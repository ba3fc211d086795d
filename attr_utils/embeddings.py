"""The result of embedding a dataset: one row per image, one array per block."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from attr_utils.errors import BlockError, CacheError, ParameterError

__all__ = ["INTERNAL_COLUMNS", "EmbedReport", "Embeddings", "Skipped", "user_column_name"]

#: Columns of :attr:`Embeddings.table` (and a dataset's table) that the toolkit
#: owns; a user column with one of these names is renamed ``user_<name>``.
INTERNAL_COLUMNS: tuple[str, ...] = ("path", "hash")


def user_column_name(name: str, taken) -> str:
    """The name a user column ``name`` gets when it collides with an internal column.

    ``"hash"`` -> ``"user_hash"`` (``"user_hash_2"``... if that is taken too).
    """
    taken = set(taken)
    new, i = f"user_{name}", 2
    while new in taken or new in INTERNAL_COLUMNS:
        new, i = f"user_{name}_{i}", i + 1
    return new


@dataclass(frozen=True)
class Skipped:
    """A file that was not embedded, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class EmbedReport:
    """What one embedding run did.

    Attributes
    ----------
    images : int
        Inputs the dataset listed, usable or not: ``embedded + cached +
        len(skipped)`` (files the reader already left out, such as a
        missing file or a manifest row it could not use, count too).
    embedded : int
        Images that went through the network in this run.
    cached : int
        Images served from the cache.
    skipped : list of Skipped
        Files that could not be used, with a per-file reason.
    seconds : float
        Wall-clock time of the run.
    """

    images: int = 0
    embedded: int = 0
    cached: int = 0
    skipped: tuple[Skipped, ...] = ()
    seconds: float = 0.0

    def to_dict(self) -> dict:
        """The report as plain JSON-able data (``skipped`` as ``{"path", "reason"}`` dicts, seconds to the ms)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["skipped"] = [{"path": s.path, "reason": s.reason} for s in self.skipped]
        out["seconds"] = round(self.seconds, 3)
        return out


@dataclass(frozen=True)
class Embeddings:
    """Per-block feature vectors of a set of images, with their provenance.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per embedded image: ``path``, ``hash`` and the label columns.
    blocks : mapping of str to ndarray
        Block name -> float32 array of shape ``(len(table), dim)``.
    backbone : str
        Registry name of the backbone.
    weights : str
        Identity of the weights (``"imagenet"``, ``"random:0"``,
        ``"file:sha256:..."``).
    weights_label : str
        Human-readable weights description, used in figure titles.
    pretrained : bool
        False when the weights are random: such results are not the paper's.
    label_columns : tuple of str
        Which columns of ``table`` are labels.
    signature : str
        Model signature the vectors were computed (or cached) under.
    report : EmbedReport
        What the run did.
    backbone_reason : str
        Why this backbone was used (filled when ``backbone="auto"`` chose it).
    weights_spec : str
        The weights specification that reproduces these vectors (pass it back
        as ``weights=`` to embed more images the same way).
    resize : str
        Resize policy the images went through.
    engine : str
        Inference engine that computed this call's vectors (``"keras"``,
        ``"openvino"``; ``""`` when every vector came from the cache). Engines
        agree within 1e-5 relative, so they share the cache.
    engine_reason : str
        Why that engine (e.g. why ``engine="auto"`` fell back to Keras).
    pooling : str
        How each tap's feature map became a vector (``"average"``, the
        paper's; ``"max"``, ``"foreground"``, ``"interior"``: see
        :mod:`attr_utils.pooling`).
    mask : str
        The mask source of a mask pooling (``"auto"``, ``"alpha"``,
        ``"border"``, ``"saliency"``); ``""`` otherwise.
    """

    table: pd.DataFrame
    blocks: Mapping[str, np.ndarray]
    backbone: str
    weights: str
    weights_label: str = ""
    pretrained: bool = True
    label_columns: tuple[str, ...] = ()
    signature: str = ""
    report: EmbedReport = field(default_factory=EmbedReport)
    backbone_reason: str = ""
    weights_spec: str = ""
    resize: str = "stretch"
    engine: str = ""
    engine_reason: str = ""
    pooling: str = "average"
    mask: str = ""

    def __post_init__(self) -> None:
        n = len(self.table)
        for name, arr in self.blocks.items():
            if arr.ndim != 2 or arr.shape[0] != n:
                raise ParameterError(
                    f"block {name!r} has shape {arr.shape}; expected ({n}, dim) to match the table"
                )

    @classmethod
    def from_arrays(
        cls,
        blocks: Mapping[str, np.ndarray],
        labels: Mapping[str, object] | pd.DataFrame | None = None,
        *,
        paths: list[str] | None = None,
        backbone: str = "arrays",
        weights: str = "none",
        pretrained: bool = True,
    ) -> Embeddings:
        """Wrap plain arrays (for tests, or vectors computed elsewhere)."""
        blocks = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in blocks.items()}
        n = len(next(iter(blocks.values())))
        table = pd.DataFrame(labels) if labels is not None else pd.DataFrame(index=range(n))
        table = table.rename(columns={c: user_column_name(c, table.columns) for c in table.columns if c in INTERNAL_COLUMNS})
        label_columns = tuple(table.columns)
        table.insert(0, "path", paths if paths is not None else [f"item-{i}" for i in range(n)])
        table.insert(1, "hash", [""] * n)
        return cls(
            table=table.reset_index(drop=True),
            blocks=blocks,
            backbone=backbone,
            weights=weights,
            weights_label=weights,
            pretrained=pretrained,
            label_columns=label_columns,
        )

    @classmethod
    def from_store(
        cls,
        store,
        table: pd.DataFrame,
        *,
        label_columns: tuple[str, ...] = (),
        report: EmbedReport | None = None,
        **provenance,
    ) -> Embeddings:
        """The Embeddings of ``table``'s rows, their vectors read from a cache store.

        Parameters
        ----------
        store : attr_utils.cache.SignatureStore
            The cache folder of one model signature.
        table : pandas.DataFrame
            One row per image, with a ``hash`` column (content hashes in the store).
        label_columns : tuple of str, default=()
            Which columns of ``table`` are labels.
        report : EmbedReport, optional
            What the run that filled the store did.
        **provenance
            The remaining fields (``backbone``, ``weights``, ``weights_label``,
            ``pretrained``, ``backbone_reason``, ``weights_spec``, ``resize``,
            ``engine``, ``engine_reason``, ``pooling``, ``mask``; see
            :meth:`attr_utils.model.ModelSpec.provenance`).

        Raises
        ------
        CacheError
            Some hashes are not in the store (it was cleared during the run,
            or a Dask worker wrote to a folder this process does not see).
        """
        hashes = table["hash"].tolist()
        found, blocks = store.get(hashes)
        if not found.all():
            missing = np.asarray(table["path"] if "path" in table else hashes)[~found]
            raise CacheError(
                f"{len(missing)} embedded images are missing from the cache {store.folder} (first: {missing[0]}): "
                "it was cleared during the run, or is not on storage shared by this process and every worker; run again"
            )
        return cls(table=table, blocks=blocks, label_columns=tuple(label_columns), signature=store.signature_id,
                   report=report if report is not None else EmbedReport(), **provenance)

    def provenance_dict(self) -> dict:
        """Where the vectors come from, as plain data: backbone, weights, signature, engine, resize..."""
        names = ("backbone", "weights", "weights_label", "pretrained", "backbone_reason", "weights_spec",
                 "resize", "signature", "engine", "engine_reason", "pooling", "mask")
        return {**{n: getattr(self, n) for n in names}, "label_columns": list(self.label_columns), "dims": self.dims}

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, block: str) -> np.ndarray:
        try:
            return self.blocks[block]
        except KeyError:
            raise BlockError(f"no block {block!r}; available: {list(self.blocks)}") from None

    @property
    def block_names(self) -> list[str]:
        """Block names in network order."""
        return list(self.blocks)

    @property
    def dims(self) -> dict[str, int]:
        """Block name -> vector length."""
        return {k: int(v.shape[1]) for k, v in self.blocks.items()}

    @property
    def paths(self) -> list[str]:
        """Image paths, in row order."""
        return self.table["path"].tolist()

    def labels(self, column: str) -> np.ndarray:
        """Labels of ``column`` as an array; ``KeyError`` names the choices."""
        if column not in self.table.columns or column in ("path", "hash"):
            raise KeyError(
                f"no label column {column!r}; available: {list(self.label_columns)}"
            )
        return self.table[column].to_numpy()

    @property
    def provenance(self) -> str:
        """``"resnet50 · imagenet"``-style string for figure titles and tables.

        Random weights are always flagged, so such results are never mistaken
        for the paper's. A pooling other than the paper's average is named
        (``"efficientnet-lite0 · imagenet · foreground pooling (auto mask)"``).
        The engine is not: every engine gives the same vectors (within 1e-5),
        and vectors served from the cache have none, so naming it would give
        equal vectors different titles (it stays in :attr:`engine`).
        """
        text = f"{self.backbone} · {self.weights_label or self.weights}"
        if self.pooling != "average":
            text += f" · {self.pooling} pooling" + (f" ({self.mask} mask)" if self.mask else "")
        if not self.pretrained:
            text += " (RANDOM WEIGHTS: not the paper's results)"
        return text

    def subset(self, rows) -> Embeddings:
        """A new Embeddings holding only ``rows`` (boolean mask or indices)."""
        idx = np.arange(len(self))[rows]
        return Embeddings(
            table=self.table.iloc[idx].reset_index(drop=True),
            blocks={k: v[idx] for k, v in self.blocks.items()},
            backbone=self.backbone,
            weights=self.weights,
            weights_label=self.weights_label,
            pretrained=self.pretrained,
            label_columns=self.label_columns,
            signature=self.signature,
            report=self.report,
            backbone_reason=self.backbone_reason,
            weights_spec=self.weights_spec,
            resize=self.resize,
            engine=self.engine,
            engine_reason=self.engine_reason,
            pooling=self.pooling,
            mask=self.mask,
        )
