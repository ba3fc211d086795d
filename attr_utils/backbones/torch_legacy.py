"""Read PyTorch state dicts into NumPy arrays without PyTorch and without running code.

``torch.save`` writes pickles. Unpickling an untrusted pickle can run any
code, so this module never hands a file to :mod:`pickle` as is: its
unpickler resolves only the handful of globals a state dict needs
(``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2``,
``torch._utils._rebuild_parameter`` and the ``torch.*Storage`` type names),
each to a harmless stand-in defined here, and refuses every other global
with :class:`UnsafePickleError` before anything is called.

Two layouts are read:

* the legacy (non-zip) format of ``torch.save(...,
  _use_new_zipfile_serialization=False)`` and of every PyTorch before 1.6:
  five consecutive pickles (magic number, protocol version, system info, the
  object with persistent storage ids, the list of storage keys) followed by
  the raw storages, each an int64 element count and the little-endian bytes;
* the zip format of current ``torch.save``: ``<name>/data.pkl`` with the
  same persistent ids and the storages as ``<name>/data/<key>`` members.

Examples
--------
>>> from attr_utils.backbones.torch_legacy import load_state_dict  # doctest: +SKIP
>>> arrays = load_state_dict("efficientnet-lite0-57934424.pth")  # doctest: +SKIP
>>> arrays["_conv_stem.weight"].shape  # doctest: +SKIP
(32, 3, 3, 3)
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from attr_utils.errors import WeightsError

__all__ = [
    "LEGACY_MAGIC",
    "TorchFormatError",
    "UnsafePickleError",
    "is_legacy_torch_file",
    "load_state_dict",
]

#: The magic number the legacy format starts with (a pickled int).
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
#: The legacy format's protocol version.
LEGACY_PROTOCOL = 1001

#: ``torch.<Name>Storage`` -> NumPy dtype (little endian).
STORAGE_DTYPES: dict[str, np.dtype] = {
    "DoubleStorage": np.dtype("<f8"),
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}

#: Largest storage accepted (elements); guards against absurd headers.
MAX_STORAGE_ELEMENTS = 1 << 34


class TorchFormatError(WeightsError):
    """The file is not a readable PyTorch state dict (truncated, corrupted, other layout)."""


class UnsafePickleError(TorchFormatError):
    """The pickle asks for a global outside the state-dict allow-list (refused, nothing run)."""


@dataclass
class _Storage:
    """Stand-in for a typed storage: filled with bytes after the main pickle."""

    key: str
    dtype: np.dtype
    numel: int
    data: np.ndarray | None = None


@dataclass
class _TensorRef:
    """Stand-in for a tensor: a strided view of a storage, materialised at the end."""

    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    def to_numpy(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise TorchFormatError(f"storage {self.storage.key!r} has no data")
        n = int(np.prod(self.size)) if self.size else 1
        if n == 0:
            return np.zeros(self.size, dtype=data.dtype)
        last = self.offset + sum((s - 1) * st for s, st in zip(self.size, self.stride))
        if self.offset < 0 or last >= data.size or any(st < 0 for st in self.stride):
            raise TorchFormatError(
                f"tensor of shape {self.size} (offset {self.offset}, stride {self.stride}) "
                f"reaches past its storage of {data.size} elements"
            )
        if not self.size:  # 0-d tensor (as_strided treats shape=() as "keep")
            return np.array(data[self.offset], copy=True)
        item = data.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[self.offset:],
            shape=self.size,
            strides=tuple(st * item for st in self.stride),
            writeable=False,
        )
        return np.array(view, copy=True)


class _StorageType:
    """Stand-in for ``torch.FloatStorage`` etc.: only carries the dtype."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = STORAGE_DTYPES[name]

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"torch.{self.name}"


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    if not isinstance(storage, _Storage):
        raise TorchFormatError(f"tensor rebuilt from {type(storage).__name__}, expected a storage")
    try:
        size_t = tuple(int(s) for s in size)
        stride_t = tuple(int(s) for s in stride)
        offset = int(storage_offset)
    except (TypeError, ValueError):
        raise TorchFormatError("tensor with a malformed size, stride or offset") from None
    if len(size_t) != len(stride_t) or any(s < 0 for s in size_t):
        raise TorchFormatError(f"tensor with a malformed size {size_t} or stride {stride_t}")
    return _TensorRef(storage, offset, size_t, stride_t)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *state):
    return data


#: (module, name) -> the stand-in returned by find_class. Nothing else resolves.
_ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType for name in STORAGE_DTYPES},
}


class _NoGlobalsUnpickler(pickle.Unpickler):
    """Unpickler for plain data: refuses every global and persistent id."""

    def find_class(self, module, name):
        raise UnsafePickleError(
            f"refused to load global {module}.{name}: a PyTorch state dict needs only "
            f"OrderedDict, tensor rebuilders and storage types"
        )

    def persistent_load(self, pid):
        raise UnsafePickleError("unexpected persistent id in a header pickle")


class _StateDictUnpickler(_NoGlobalsUnpickler):
    """Unpickler for the main pickle: allow-listed globals, storages by persistent id."""

    def __init__(self, file, *, storage_data=None):
        super().__init__(file)
        self.storages: dict[str, _Storage] = {}
        self._storage_data = storage_data

    def find_class(self, module, name):
        try:
            found = _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            return super().find_class(module, name)
        # a fresh stand-in per reference: a crafted BUILD cannot alter shared state
        return _StorageType(name) if found is _StorageType else found

    def persistent_load(self, pid):
        # legacy: ('storage', storage_type, key, location, numel, view_metadata)
        # zip:    ('storage', storage_type, key, location, numel)
        if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage":
            raise UnsafePickleError(f"unsupported persistent id {str(pid)[:80]!r}; only tensor storages are allowed")
        storage_type, key, numel = pid[1], str(pid[2]), pid[4]
        if not isinstance(storage_type, _StorageType):
            raise TorchFormatError(f"storage {key!r} has an unsupported type {storage_type!r}")
        if len(pid) > 5 and pid[5] is not None:
            raise TorchFormatError("storage views (PyTorch < 0.4 files) are not supported")
        if not isinstance(numel, int) or not 0 <= numel <= MAX_STORAGE_ELEMENTS:
            raise TorchFormatError(f"storage {key!r} declares an invalid size {numel!r}")
        storage = self.storages.get(key)
        if storage is None:
            storage = _Storage(key, storage_type.dtype, numel)
            if self._storage_data is not None:
                storage.data = self._storage_data(key, storage.dtype, numel)
            self.storages[key] = storage
        return storage


def _load_plain(f) -> object:
    return _NoGlobalsUnpickler(f).load()


def _materialise(obj, path: Path) -> dict[str, np.ndarray]:
    if not isinstance(obj, dict):
        raise TorchFormatError(f"{path} holds a pickled {type(obj).__name__}, not a state dict")
    out: dict[str, np.ndarray] = {}
    for name, value in obj.items():
        if not isinstance(name, str):
            raise TorchFormatError(f"{path}: state dict key {name!r} is not a string")
        if not isinstance(value, _TensorRef):
            raise TorchFormatError(f"{path}: entry {name!r} is a {type(value).__name__}, not a tensor")
        out[name] = value.to_numpy()
    return out


def _read_legacy(f, path: Path) -> dict[str, np.ndarray]:
    magic = _load_plain(f)
    if magic != LEGACY_MAGIC:
        raise TorchFormatError(f"{path} is not a legacy PyTorch file (wrong magic number)")
    protocol = _load_plain(f)
    if protocol != LEGACY_PROTOCOL:
        raise TorchFormatError(f"{path}: unsupported legacy protocol version {protocol!r}")
    sys_info = _load_plain(f)
    if not isinstance(sys_info, dict) or not sys_info.get("little_endian", False):
        raise TorchFormatError(f"{path} was written on a big-endian machine or has no system info")
    unpickler = _StateDictUnpickler(f)
    obj = unpickler.load()
    keys = _load_plain(f)
    if not isinstance(keys, list) or set(map(str, keys)) != set(unpickler.storages):
        raise TorchFormatError(f"{path}: the storage key list does not match the tensors")
    for key in keys:
        storage = unpickler.storages[str(key)]
        header = f.read(8)
        if len(header) != 8:
            raise TorchFormatError(f"{path} is truncated (storage {key!r} missing)")
        (numel,) = struct.unpack("<q", header)
        if numel != storage.numel:
            raise TorchFormatError(
                f"{path}: storage {key!r} holds {numel} elements, its tensors expect {storage.numel}"
            )
        nbytes = numel * storage.dtype.itemsize
        raw = f.read(nbytes)
        if len(raw) != nbytes:
            raise TorchFormatError(f"{path} is truncated (storage {key!r} has {len(raw)} of {nbytes} bytes)")
        storage.data = np.frombuffer(raw, dtype=storage.dtype)
    return _materialise(obj, path)


def _read_zip(path: Path) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise TorchFormatError(f"{path} is a zip file but not a PyTorch checkpoint (no <name>/data.pkl)")
        prefix = pkl[0][: -len("data.pkl")]

        def storage_data(key: str, dtype: np.dtype, numel: int) -> np.ndarray:
            member = f"{prefix}data/{key}"
            try:
                raw = zf.read(member)
            except KeyError:
                raise TorchFormatError(f"{path}: storage member {member!r} is missing") from None
            if len(raw) != numel * dtype.itemsize:
                raise TorchFormatError(
                    f"{path}: storage {key!r} has {len(raw)} bytes, expected {numel * dtype.itemsize}"
                )
            return np.frombuffer(raw, dtype=dtype)

        obj = _StateDictUnpickler(io.BytesIO(zf.read(pkl[0])), storage_data=storage_data).load()
    return _materialise(obj, path)


def is_legacy_torch_file(path: str | os.PathLike) -> bool:
    """True if ``path`` starts like a legacy PyTorch file (pickled magic number)."""
    with open(path, "rb") as f:
        head = f.read(4)
    return head == b"\x80\x02\x8a\x0a"


def load_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a PyTorch state dict into NumPy arrays, safely and without PyTorch.

    Parameters
    ----------
    path : str or path-like
        A file written by ``torch.save(model.state_dict(), path)``, in the
        legacy (non-zip) or the zip format.

    Returns
    -------
    dict of str to numpy.ndarray
        Tensor name -> array (a copy; dtype as stored, e.g. float32, int64),
        in the file's order.

    Raises
    ------
    UnsafePickleError
        The pickle names a global outside the allow-list (for example
        ``os.system``); it is refused before anything is called.
    TorchFormatError
        The file is truncated, corrupted, big-endian, not a state dict, or
        not a PyTorch file at all. Both are
        :class:`~attr_utils.errors.WeightsError` subclasses.

    Notes
    -----
    Allowed globals: ``collections.OrderedDict``,
    ``torch._utils._rebuild_tensor_v2``, ``torch._utils._rebuild_parameter``
    and ``torch.{Double,Float,Half,Long,Int,Short,Char,Byte,Bool}Storage``.
    None of them is imported: each resolves to a stand-in defined in this
    module, so loading a crafted file cannot run code.
    """
    p = Path(path)
    try:
        if zipfile.is_zipfile(p):
            return _read_zip(p)
        with open(p, "rb") as f:
            return _read_legacy(f, p)
    except TorchFormatError as exc:
        if str(p) in str(exc):
            raise
        raise type(exc)(f"{p}: {exc}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError,
            AttributeError, struct.error, zipfile.BadZipFile, MemoryError, RecursionError) as exc:
        raise TorchFormatError(
            f"{p} is not a readable PyTorch state dict (truncated or corrupted?): "
            f"{type(exc).__name__}: {str(exc)[:160]}"
        ) from None
