"""The labelled synthetic clothing catalog: generation, contact sheet, default copy.

A catalog is a folder::

    OUT/images/000000.png ...   product photos, names in a seeded random order
    OUT/labels.csv              file,color,texture,garment (file relative to the CSV)
    OUT/catalog.json            generation parameters; written last (completion marker)
    OUT/contact_sheet.png       one thumbnail per colour x texture cell

Every item carries both a colour and a texture label, balanced over the
10 x 10 cells, so colour, texture and combined retrieval can all be scored.
Each image is rendered from its own random stream, derived with
:class:`numpy.random.SeedSequence` from ``(seed, colour, texture, repeat)``,
so the files are byte-identical whatever the number of worker processes (and
a larger catalog with the same seed contains the smaller one's images).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from attr_utils.errors import CacheError, DatasetError, ParameterError
from attr_utils.validation import check_choice, check_int, check_seed
from attr_utils.synth.garments import GARMENTS
from attr_utils.synth.palette import COLORS
from attr_utils.synth.textures import TEXTURES

__all__ = [
    "GENERATOR_VERSION",
    "GENERATOR_VERSIONS",
    "LABEL_COLUMNS",
    "SCENE_COLUMNS",
    "VARIANTS",
    "SyntheticDataset",
    "catalog_plan",
    "contact_sheet",
    "data_root",
    "default_catalog",
    "default_dataset",
    "generate_dataset",
    "generator_fingerprint",
    "make_catalog",
]

#: Bumped whenever the rendering changes on purpose (release notes); cached
#: default catalogs are also rebuilt whenever the rendering source changes
#: (see :func:`generator_fingerprint`).
GENERATOR_VERSION = 2

#: Catalog variants: ``"studio"`` (the default: one centred garment on a light
#: studio background) and ``"scene"`` (the harder variant of
#: :mod:`attr_utils.synth.scene`: off-centre garments at several scales on
#: coloured or printed backgrounds, with a skin-tone model and props).
VARIANTS = ("studio", "scene")

#: Generator version per variant. The studio catalog keeps version 2 (its
#: bytes are unchanged by the scene variant); the scene variant starts at 3.
GENERATOR_VERSIONS = {"studio": GENERATOR_VERSION, "scene": 3}

#: Columns of ``labels.csv`` after ``file``.
LABEL_COLUMNS = ("color", "texture", "garment")

#: Extra columns of a scene catalog's ``labels.csv`` (after the labels): how
#: the scene was drawn (see :func:`attr_utils.synth.scene.render_scene`).
SCENE_COLUMNS = ("background", "model", "props", "scale", "offset_x", "offset_y", "garment_fraction")

# seed-stream prefixes: the studio keys stay (colour, texture, repeat) so its
# bytes do not change; the scene variant draws from other streams
_SCENE_KEY = 0x5CE4E

_GARMENT_NAMES = tuple(GARMENTS)
_PNG = {"format": "PNG", "compress_level": 1, "optimize": False}
_FILE_RE = re.compile(r"^\d+\.png$")


def _check_variant(variant) -> str:
    return check_choice("variant", variant, VARIANTS)


def generator_fingerprint(variant: str = "studio") -> str:
    """A short hash of what the generator draws, to detect a changed generator.

    Ten small probe images (one per colour and texture, 64 px) are rendered
    and their pixels hashed, so any change that alters the pixels (an edited
    pattern, another numpy or Pillow behaviour) changes the fingerprint while
    cosmetic source edits do not. Stored in ``catalog.json``; a cached default
    catalog whose fingerprint differs is regenerated.

    Parameters
    ----------
    variant : {"studio", "scene"}, default="studio"
        Which renderer to fingerprint (see :data:`VARIANTS`).
    """
    return _fingerprint(_check_variant(variant))


@functools.lru_cache(maxsize=2)
def _fingerprint(variant: str) -> str:
    import hashlib

    from attr_utils.synth.render import render_item
    from attr_utils.synth.scene import render_scene

    if variant == "studio":
        h = hashlib.sha256(f"v{GENERATOR_VERSION}".encode())
    else:
        h = hashlib.sha256(f"{variant}-v{GENERATOR_VERSIONS[variant]}".encode())
    for i, (color, texture) in enumerate(zip(COLORS, TEXTURES)):
        rng = np.random.default_rng(np.random.SeedSequence(0, spawn_key=(i,)))
        garment = _GARMENT_NAMES[i % len(_GARMENT_NAMES)]
        if variant == "studio":
            pixels = render_item(color, texture, garment, size=64, rng=rng)
        else:
            pixels = render_scene(color, texture, garment, size=64, rng=rng)[0]
        h.update(pixels.tobytes())
    return h.hexdigest()[:16]


def _check_params(per_class, seed, size, workers):
    """The four generation parameters, checked by :mod:`attr_utils.validation` (numpy ints accepted, bools refused)."""
    per_class = check_int("per_class", per_class)
    if per_class < 10 or per_class % 10:
        raise ParameterError(
            f"`per_class` must be a positive multiple of 10 (each of the 10 x 10 colour-texture cells "
            f"gets per_class/10 images), got {per_class}"
        )
    seed = check_seed(seed)
    size = check_int("size", size, min=32, max=2048)
    workers = check_int("workers", workers, min=1, allow_none=True)
    return per_class, seed, size, workers


def catalog_plan(*, per_class: int = 100, seed: int = 0, variant: str = "studio"):
    """The items of a catalog, without rendering them.

    Parameters
    ----------
    per_class : int, default=100
        Images per colour and per texture; a multiple of 10 (each colour x
        texture cell gets ``per_class / 10`` images). 100 gives the paper's
        size: 1000 images.
    seed : int, default=0
        Seeds the file order and every image.
    variant : {"studio", "scene"}, default="studio"
        The studio catalog or the harder scene variant (see :data:`VARIANTS`);
        the variants draw from different random streams.

    Returns
    -------
    pandas.DataFrame
        One row per image in file order: ``file``, ``color``, ``texture``,
        ``garment`` and the integer seed key ``key`` (colour, texture, repeat;
        prefixed by a variant tag for the scene variant).
    """
    import pandas as pd

    per_class, seed, _, _ = _check_params(per_class, seed, 224, None)
    variant = _check_variant(variant)
    prefix = () if variant == "studio" else (_SCENE_KEY,)
    reps = per_class // 10
    rows = []
    for ci, color in enumerate(COLORS):
        for ti, texture in enumerate(TEXTURES):
            for r in range(reps):
                garment = _GARMENT_NAMES[(r + 3 * ci + ti) % len(_GARMENT_NAMES)]
                rows.append((color, texture, garment, (*prefix, ci, ti, r)))
    order = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(*prefix, 0xCA7A))).permutation(len(rows))
    width = max(6, len(str(len(rows) - 1)))
    table = pd.DataFrame(
        [
            {"file": f"images/{i:0{width}d}.png", "color": c, "texture": t, "garment": g, "key": k}
            for i, (c, t, g, k) in enumerate(rows[j] for j in order)
        ]
    )
    return table


def _render_to_file(job):
    """Worker: render one item and write its PNG (module level for pickling)."""
    from PIL import Image

    from attr_utils.synth.render import render_item

    path, color, texture, garment, size, seed, key, variant = job
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=tuple(key)))
    if variant == "studio":
        arr, info = render_item(color, texture, garment, size=size, rng=rng), {}
    else:
        from attr_utils.synth.scene import render_scene

        arr, _, info = render_scene(color, texture, garment, size=size, rng=rng)
    Image.fromarray(arr, "RGB").save(path, **_PNG)
    return info


def _mp_context():
    """``fork`` when it is safe (fast, works from unguarded scripts), else ``spawn``.

    Forking a process that runs other threads (TensorFlow, a GUI) can deadlock
    the children, so such processes spawn fresh interpreters instead.
    """
    import multiprocessing
    import sys
    import threading

    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1 and not any(
        m in sys.modules for m in ("tensorflow", "torch", "jax")
    ):
        return get_context("fork")
    return get_context("spawn")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@dataclass(frozen=True)
class SyntheticDataset:
    """What :func:`generate_dataset` wrote: where, how many images, with which parameters, how fast.

    Attributes
    ----------
    labels : pathlib.Path
        The dataset's ``labels.csv`` (pass it to :func:`attr_utils.load_dataset`).
    images : int
        Number of images written.
    per_class, seed, size : int
        The generation parameters (``size`` in pixels).
    workers : int
        Worker processes actually used.
    seconds : float
        Wall time of the whole call, contact sheet included.
    render_seconds : float
        Time spent rendering the images (as stored in ``catalog.json``).
    contact_sheet : pathlib.Path or None
        The contact sheet, when one was written.
    variant : str
        ``"studio"`` or ``"scene"`` (see :data:`VARIANTS`).
    """

    labels: Path
    images: int
    per_class: int
    seed: int
    size: int
    workers: int
    seconds: float
    render_seconds: float
    contact_sheet: Path | None = None
    variant: str = "studio"

    @property
    def images_per_second(self) -> float | None:
        """Rendering throughput (images per second of rendering), or None when too fast to time."""
        return self.images / self.render_seconds if self.render_seconds else None

    def to_dict(self) -> dict:
        """A JSON-ready summary (what ``attr-utils synth --json`` prints)."""
        rate = self.images_per_second
        return {
            "labels": str(self.labels),
            "images": self.images,
            "per_class": self.per_class,
            "seed": self.seed,
            "size": self.size,
            "workers": self.workers,
            "seconds": round(self.seconds, 2),
            "images_per_second": round(rate, 1) if rate is not None else None,
            "contact_sheet": str(self.contact_sheet) if self.contact_sheet is not None else None,
            "variant": self.variant,
        }


def generate_dataset(
    out,
    *,
    per_class: int = 100,
    seed: int = 0,
    size: int = 224,
    workers: int | None = None,
    sheet: bool = True,
    overwrite: bool = False,
    variant: str = "studio",
) -> SyntheticDataset:
    """Generate a labelled synthetic clothing dataset into folder ``out``.

    Parameters
    ----------
    out : str or path-like
        Output folder; created if missing.
    per_class : int, default=100
        Images per colour and per texture (a multiple of 10); the catalog has
        ``10 * per_class`` images, ``per_class / 10`` per colour x texture cell.
    seed : int, default=0
        Same seed, same bytes (whatever ``workers``).
    size : int, default=224
        Image side in pixels (the backbones' input size).
    workers : int or None, default=None
        Worker processes; ``None`` uses every core.
    sheet : bool, default=True
        Also write ``contact_sheet.png``.
    overwrite : bool, default=False
        Replace a catalog already in ``out``.
    variant : {"studio", "scene"}, default="studio"
        ``"studio"``: one centred garment on a light studio background (the
        default catalog). ``"scene"``: the harder variant (off-centre garments
        at several scales on coloured or printed backgrounds, with a skin-tone
        model and props; :func:`attr_utils.synth.scene.render_scene`); its
        ``labels.csv`` adds the columns of :data:`SCENE_COLUMNS`.

    Returns
    -------
    SyntheticDataset
        Its ``labels`` is the path of ``labels.csv``; ``to_dict()`` summarises
        the run.

    Raises
    ------
    ParameterError
        Invalid parameters (a ``ValueError`` and a ``TypeError``).
    DatasetError
        ``out`` already holds a catalog and ``overwrite`` is False, or is not
        a folder.

    See Also
    --------
    default_dataset : the default dataset, generated once and reused.

    Examples
    --------
    >>> ds = generate_dataset("/tmp/catalog", per_class=10)  # doctest: +SKIP
    >>> load_dataset(ds.labels).table.groupby(["color", "texture"]).size().unique()  # doctest: +SKIP
    array([1])
    """
    started = time.perf_counter()
    per_class, seed, size, workers = _check_params(per_class, seed, size, workers)
    variant = _check_variant(variant)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DatasetError(f"catalog output {out} exists and is not a folder")
    images = out / "images"
    existing = [p for p in images.iterdir() if _FILE_RE.match(p.name)] if images.is_dir() else []
    if (existing or (out / "labels.csv").exists()) and not overwrite:
        raise DatasetError(
            f"{out} already holds a catalog (labels.csv or images/*.png); "
            "pass overwrite=True to replace it, or choose another folder"
        )
    for name in ("catalog.json", "labels.csv", "contact_sheet.png"):
        with contextlib.suppress(FileNotFoundError):
            (out / name).unlink()
    for p in existing:
        p.unlink()
    images.mkdir(parents=True, exist_ok=True)

    plan = catalog_plan(per_class=per_class, seed=seed, variant=variant)
    jobs = [
        (str(out / f), c, t, g, int(size), int(seed), tuple(int(x) for x in k), variant)
        for f, c, t, g, k in plan[["file", "color", "texture", "garment", "key"]].itertuples(index=False)
    ]
    n_workers = min(len(jobs), workers or os.cpu_count() or 1)
    start = time.perf_counter()
    if n_workers <= 1:
        infos = [_render_to_file(job) for job in jobs]
    else:
        with ProcessPoolExecutor(max_workers=n_workers, mp_context=_mp_context()) as pool:
            chunk = max(1, len(jobs) // (n_workers * 8))
            infos = list(pool.map(_render_to_file, jobs, chunksize=chunk))
    seconds = time.perf_counter() - start

    labels = out / "labels.csv"
    columns = ["file", *LABEL_COLUMNS]
    if variant == "scene":
        import pandas as pd

        plan = pd.concat([plan, pd.DataFrame(infos, index=plan.index)[list(SCENE_COLUMNS)]], axis=1)
        columns += list(SCENE_COLUMNS)
    _write_atomic(labels, plan[columns].to_csv(index=False, lineterminator="\n"))
    sheet_path = contact_sheet(labels, out / "contact_sheet.png") if sheet else None
    meta = {
        "generator": "attr_utils.synth",
        "generator_version": GENERATOR_VERSIONS[variant],
        "generator_fingerprint": generator_fingerprint(variant),
        "per_class": int(per_class),
        "seed": int(seed),
        "size": int(size),
        "images": len(jobs),
        "colors": list(COLORS),
        "textures": list(TEXTURES),
        "garments": list(_GARMENT_NAMES),
        "workers": n_workers,
        "seconds": round(seconds, 3),
        "complete": True,
    }
    if variant != "studio":  # the studio catalog.json stays as version 2 wrote it
        meta["variant"] = variant
    _write_atomic(out / "catalog.json", json.dumps(meta, indent=2) + "\n")
    return SyntheticDataset(
        labels=labels,
        images=len(jobs),
        per_class=per_class,
        seed=seed,
        size=size,
        workers=n_workers,
        seconds=time.perf_counter() - started,
        render_seconds=meta["seconds"],
        contact_sheet=sheet_path,
        variant=variant,
    )


def _deprecated(old: str, new: str) -> None:
    warnings.warn(
        f"attr_utils.synth.{old} is deprecated and will be removed in the next release; use "
        f"attr_utils.synth.{new} instead",
        DeprecationWarning,
        stacklevel=3,
    )


def make_catalog(out, **kwargs) -> Path:
    """Deprecated alias of :func:`generate_dataset` returning its ``labels`` path (removed in the next release)."""
    _deprecated("make_catalog", "generate_dataset")
    return generate_dataset(out, **kwargs).labels


def contact_sheet(labels, out=None, *, thumb: int = 96, columns: str = "texture", rows: str = "color") -> Path:
    """Write a grid with one labelled thumbnail per ``rows`` x ``columns`` cell.

    Parameters
    ----------
    labels : str or path-like
        A catalog's ``labels.csv`` (or its folder).
    out : str or path-like, optional
        Output PNG; default ``contact_sheet.png`` next to ``labels.csv``.
    thumb : int, default=96
        Thumbnail side in pixels.
    columns, rows : str, default="texture", "color"
        Label columns spread along the grid's axes.

    Returns
    -------
    pathlib.Path
        The written PNG.
    """
    import pandas as pd
    from PIL import Image, ImageDraw, ImageFont

    thumb = check_int("thumb", thumb, min=16)
    labels = Path(labels)
    if labels.is_dir():
        labels = labels / "labels.csv"
    if not labels.is_file():
        raise DatasetError(f"no catalog labels at {labels}")
    table = pd.read_csv(labels)
    for col in (rows, columns):
        if col not in table.columns:
            raise DatasetError(f"{labels} has no column {col!r}; columns: {', '.join(table.columns)}")
    row_vals = [c for c in COLORS if c in set(table[rows])] if rows == "color" else sorted(table[rows].unique())
    col_vals = (
        [t for t in TEXTURES if t in set(table[columns])] if columns == "texture" else sorted(table[columns].unique())
    )
    first = table.sort_values("file").drop_duplicates([rows, columns]).set_index([rows, columns])["file"]
    try:
        font = ImageFont.load_default(size=max(10, thumb // 7))
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    left, top, pad = thumb + 8, thumb // 3 + 8, 2
    sheet = Image.new("RGB", (left + len(col_vals) * (thumb + pad), top + len(row_vals) * (thumb + pad)), "white")
    draw = ImageDraw.Draw(sheet)
    for j, cv in enumerate(col_vals):
        draw.text((left + j * (thumb + pad) + thumb // 2, top // 2), str(cv), fill="black", font=font, anchor="mm")
    for i, rv in enumerate(row_vals):
        y = top + i * (thumb + pad)
        draw.text((left - 6, y + thumb // 2), str(rv), fill="black", font=font, anchor="rm")
        for j, cv in enumerate(col_vals):
            if (rv, cv) not in first.index:
                continue
            with Image.open(labels.parent / first[(rv, cv)]) as im:
                tile = im.convert("RGB").resize((thumb, thumb), Image.Resampling.LANCZOS)
                sheet.paste(tile, (left + j * (thumb + pad), y))
    dest = Path(out) if out is not None else labels.parent / "contact_sheet.png"
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    sheet.save(tmp, **_PNG)
    os.replace(tmp, dest)
    return dest


def data_root() -> Path:
    """Where the default catalog (and other generated data) lives.

    ``$ATTR_UTILS_DATA`` if set; else the ``data/`` folder of the source
    checkout when attr-utils runs from one (the folder above the package holds
    ``pyproject.toml``); else ``~/.cache/attr-utils/data``.
    """
    env = os.environ.get("ATTR_UTILS_DATA")
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").is_file() and (repo / "attr_utils").is_dir():
        return repo / "data"
    return Path.home() / ".cache" / "attr-utils" / "data"


def _complete(folder: Path, per_class: int, seed: int, size: int, variant: str = "studio") -> bool:
    try:
        meta = json.loads((folder / "catalog.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        meta.get("complete") is True
        and meta.get("variant", "studio") == variant
        and meta.get("generator_version") == GENERATOR_VERSIONS[variant]
        and meta.get("generator_fingerprint") == generator_fingerprint(variant)
        and (meta.get("per_class"), meta.get("seed"), meta.get("size")) == (per_class, seed, size)
        and (folder / "labels.csv").is_file()
    )


@contextlib.contextmanager
def _lock(path: Path):
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: rely on the atomic rename
        yield
        return
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def default_dataset(
    *, per_class: int = 100, seed: int = 0, size: int = 224, workers: int | None = None, variant: str = "studio"
) -> Path:
    """The default synthetic dataset's ``labels.csv``, generated on first use and reused afterwards.

    Parameters
    ----------
    per_class : int, default=100
        Images per colour and per texture (1000 images: the paper's size).
    seed : int, default=0
        Generation seed.
    size : int, default=224
        Image side in pixels.
    workers : int or None, default=None
        Worker processes for a first generation (``None``: every core).
    variant : {"studio", "scene"}, default="studio"
        The default studio catalog or the harder scene variant (see
        :func:`generate_dataset`).

    Returns
    -------
    pathlib.Path
        The catalog's ``labels.csv``.

    Notes
    -----
    The catalog lives under :func:`data_root` in ``synthetic/`` (default
    parameters) or ``synthetic-p{per_class}-s{seed}-{size}px/``; the scene
    variant in ``synthetic-scene/`` or ``synthetic-scene-p{per_class}-s{seed}-{size}px/``. It is
    generated into a temporary sibling folder and renamed into place under a
    file lock, so concurrent first uses do not collide and an interrupted
    generation (no ``catalog.json`` completion marker) or one made by another
    version of the generator (see :func:`generator_fingerprint`) is
    regenerated.
    """
    per_class, seed, size, workers = _check_params(per_class, seed, size, workers)
    variant = _check_variant(variant)
    root = data_root()
    stem = "synthetic" if variant == "studio" else f"synthetic-{variant}"
    name = stem if (per_class, seed, size) == (100, 0, 224) else f"{stem}-p{per_class}-s{seed}-{size}px"
    final = root / name
    if _complete(final, per_class, seed, size, variant):
        return final / "labels.csv"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheError(
            f"cannot create the data folder {root}: {exc}; set ATTR_UTILS_DATA to a writable folder"
        ) from exc
    with _lock(root / f".{name}.lock"):
        if _complete(final, per_class, seed, size, variant):
            return final / "labels.csv"
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=root))
        try:
            generate_dataset(tmp, per_class=per_class, seed=seed, size=size, workers=workers, variant=variant)
            if final.exists():  # stale or incomplete: move aside, then delete
                stale = Path(tempfile.mkdtemp(prefix=f".{name}.stale-", dir=root))
                os.replace(final, stale / name)
                shutil.rmtree(stale, ignore_errors=True)
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return final / "labels.csv"


def default_catalog(**kwargs) -> Path:
    """Deprecated alias of :func:`default_dataset` (removed in the next release)."""
    _deprecated("default_catalog", "default_dataset")
    return default_dataset(**kwargs)
