"""Issue 14, speed of the cold path: the fast PNG decoder gives Pillow's pixels, each file is read
and hashed once, and OpenVINO runs one stream per core with batches kept in flight."""

from __future__ import annotations

import importlib.util
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from attr_utils import embedder as embedder_module
from attr_utils import images
from attr_utils.embedder import Embedder
from attr_utils.errors import ImageDecodeError
from attr_utils.images import decode_image, decode_model_input, to_model_input

needs_imagecodecs = pytest.mark.skipif(importlib.util.find_spec("imagecodecs") is None, reason="imagecodecs is not installed")
needs_openvino = pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="openvino is not installed")


def _png(array: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", **options)
    return buffer.getvalue()


def _chunks(data: bytes) -> list[tuple[int, bytes]]:
    """(offset, type) of every chunk."""
    out, pos = [], 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        out.append((pos, kind))
        pos += 12 + length
    return out


def _with_chunk(data: bytes, kind: bytes, payload: bytes) -> bytes:
    """``data`` with a chunk inserted right after IHDR."""
    chunk = struct.pack(">I4s", len(payload), kind) + payload + struct.pack(">I", zlib.crc32(kind + payload))
    return data[:33] + chunk + data[33:]


def _both(data, monkeypatch):
    """What the fast path and Pillow's path make of ``data``: arrays, or the error message."""
    out = []
    for fast in (True, False):
        monkeypatch.setattr(images, "FAST_PNG", fast)
        try:
            out.append(np.asarray(decode_image(data)))
        except ImageDecodeError as exc:
            out.append(str(exc))
    return out


def _rng_image(seed: int, shape) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, 3)
    smooth = np.linspace(0, 120, shape[1])[None, :, None]
    return np.clip(base + smooth + rng.normal(0, 30, shape), 0, 255).astype(np.uint8)


@needs_imagecodecs
@pytest.mark.parametrize("shape", [(224, 224, 3), (1, 1, 3), (37, 301, 3), (300, 200, 3)])
@pytest.mark.parametrize("level", [0, 1, 6, 9])
def test_fast_png_gives_pillows_pixels(shape, level, monkeypatch):
    data = _png(_rng_image(level, shape), compress_level=level)
    assert images._is_plain_png(data)
    fast, pillow = _both(data, monkeypatch)
    assert fast.shape == shape and np.array_equal(fast, pillow)


@needs_imagecodecs
def test_fast_png_on_the_test_catalog(class_folder, monkeypatch):
    paths = sorted(class_folder.rglob("*.png"))
    assert paths
    for path in paths:
        data = path.read_bytes()
        fast, pillow = _both(data, monkeypatch)
        assert np.array_equal(fast, pillow), path


@needs_imagecodecs
@pytest.mark.parametrize("resize", ["stretch", "pad", "crop"])
@pytest.mark.parametrize("shape", [(224, 224, 3), (160, 224, 3)])
def test_decode_model_input_is_decode_then_to_model_input(resize, shape, monkeypatch):
    data = _png(_rng_image(3, shape))
    expected = to_model_input(decode_image(data), size=224, resize=resize)
    for fast in (True, False):
        monkeypatch.setattr(images, "FAST_PNG", fast)
        got = decode_model_input(data, size=224, resize=resize)
        assert got.dtype == np.uint8 and got.shape == (224, 224, 3)
        assert np.array_equal(got, expected)


def test_decode_model_input_invalid_resize():
    with pytest.raises(ValueError):
        decode_model_input(_png(_rng_image(0, (8, 8, 3))), size=8, resize="squash")


def _exif_rotated(array: np.ndarray) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", exif=exif)
    return buffer.getvalue()


def _icc(array: np.ndarray) -> bytes:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return _png(array, icc_profile=profile)


@needs_imagecodecs
@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda a: _exif_rotated(a), id="exif-orientation"),
        pytest.param(lambda a: _icc(a), id="icc-profile"),
        pytest.param(lambda a: _png(np.dstack([a, a[..., :1]])), id="rgba"),
        pytest.param(lambda a: _png(a[..., 0]), id="grey"),
        pytest.param(lambda a: _png_image(Image.fromarray(a).quantize(16)), id="palette"),
        pytest.param(lambda a: _with_chunk(_png(a), b"tRNS", b"\x00\x01\x00\x02\x00\x03"), id="rgb-trns"),
        pytest.param(lambda a: _with_chunk(_png(a), b"tEXt", b"Raw profile type exif\x00\nexif\n 0\n"), id="exif-text"),
        pytest.param(lambda a: _with_chunk(_png(a), b"zzZz", b"private"), id="unknown-chunk"),
    ],
)
def test_other_pngs_take_pillows_path(make, monkeypatch):
    array = _rng_image(5, (24, 40, 3))
    data = make(array)
    assert not images._is_plain_png(data)
    fast, pillow = _both(data, monkeypatch)
    assert np.array_equal(fast, pillow)


def _png_image(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@needs_imagecodecs
def test_exif_orientation_is_still_applied(monkeypatch):
    array = _rng_image(6, (24, 40, 3))
    monkeypatch.setattr(images, "FAST_PNG", True)
    assert np.asarray(decode_image(_exif_rotated(array))).shape == (40, 24, 3)


def _flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0xFF]) + data[offset + 1 :]


@needs_imagecodecs
@pytest.mark.parametrize("damage", ["truncated", "idat-byte", "idat-crc", "phys-crc", "no-iend"])
def test_damaged_pngs_fail_or_decode_exactly_as_with_pillow(damage, monkeypatch):
    data = _png(_rng_image(7, (64, 64, 3)), compress_level=6)
    data = _with_chunk(data, b"pHYs", struct.pack(">IIB", 2835, 2835, 1))
    chunks = dict((kind, pos) for pos, kind in _chunks(data))
    idat = chunks[b"IDAT"]
    idat_len = struct.unpack_from(">I", data, idat)[0]
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "idat-byte":
        data = _flip(data, idat + 8 + idat_len // 2)
    elif damage == "idat-crc":
        data = _flip(data, idat + 8 + idat_len)  # Pillow does not check IDAT CRCs: still decodes
    elif damage == "phys-crc":
        data = _flip(data, chunks[b"pHYs"] + 8 + 9)
    else:
        data = data[: chunks[b"IEND"]]
    fast, pillow = _both(data, monkeypatch)
    if isinstance(pillow, str):
        assert fast == pillow
    else:
        assert np.array_equal(fast, pillow)
    if damage == "idat-crc":
        assert not isinstance(fast, str)


def test_without_imagecodecs_pillow_decodes(monkeypatch):
    monkeypatch.setattr(images, "_spng_decode", lambda: None)
    array = _rng_image(8, (16, 16, 3))
    assert np.array_equal(np.asarray(decode_image(_png(array))), array)


# -- read and hash once -------------------------------------------------------------------


def _count_reads(monkeypatch) -> dict[str, int]:
    counts: dict[str, int] = {}
    original = Path.read_bytes

    def read_bytes(self):
        if self.suffix == ".png":
            counts[self.name] = counts.get(self.name, 0) + 1
        return original(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    return counts


class _Net:
    """A stand-in network: the embedder's pipeline without TensorFlow."""

    def __init__(self, spec, streams=1):
        self.spec, self.streams, self.calls = spec, streams, 0

    def __call__(self, x):
        self.calls += 1
        return {b: np.tile(x.reshape(len(x), -1)[:, :1].astype(np.float32), (1, d)) for b, d in self.spec.dims.items()}


@pytest.fixture()
def fake_net(monkeypatch):
    nets = {}

    def model(self):
        net = nets.setdefault(id(self), _Net(self.spec, streams=nets.get("streams", 1)))
        self.engine_used, self.engine_reason = "keras", "test"
        return net

    monkeypatch.setattr(Embedder, "model", property(model))
    return nets


def _folder(tmp_path: Path, n: int) -> list[str]:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(n):
        Image.fromarray(_rng_image(i, (32, 32, 3))).save(folder / f"{i:03d}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (folder / "dup.png").write_bytes((folder / "000.png").read_bytes())
    return sorted(str(p) for p in folder.iterdir())


@pytest.mark.parametrize("budget", [embedder_module.READ_AHEAD_BYTES, 0])
def test_each_file_is_read_once_within_the_budget(tmp_path, monkeypatch, fake_net, budget):
    monkeypatch.setattr(embedder_module, "READ_AHEAD_BYTES", budget)
    paths = _folder(tmp_path, 9)
    counts = _count_reads(monkeypatch)
    e = Embedder("efficientnet-lite0", "random", cache_dir=tmp_path / "cache", batch_size=4)
    hashes, skipped, computed = e.fill(paths, progress=False)
    assert computed == 10  # 9 images + the duplicate's path (same hash, one forward row)
    assert [s.path for s in skipped] == [p for p in paths if p.endswith("broken.png")]
    assert sum(h is not None for h in hashes) == 10
    expected = 1 if budget else 2
    assert counts["001.png"] == expected
    assert counts["broken.png"] == expected  # read, hashed, then its decode failed
    again, skipped2, computed2 = Embedder("efficientnet-lite0", "random", cache_dir=tmp_path / "cache").fill(paths, progress=False)
    assert computed2 == 0 and again == hashes and len(skipped2) == 1  # the broken file is skipped again


@pytest.mark.parametrize("streams", [1, 2, 3])
def test_batches_in_flight_keep_the_order_and_counts(tmp_path, fake_net, streams):
    fake_net["streams"] = streams
    paths = _folder(tmp_path, 11)
    e = Embedder("efficientnet-lite0", "random", cache_dir=tmp_path / "cache", batch_size=2)
    hashes, skipped, computed = e.fill(paths, progress=False)
    assert computed == 12 and len(skipped) == 1
    kept = [h for h in hashes if h is not None]
    found, vectors = e.store.get(kept)
    assert found.all()
    for path, row in zip([p for p, h in zip(paths, hashes) if h], next(iter(vectors.values()))):
        assert row[0] == e.decode(path)[0, 0, 0], path


# -- OpenVINO streams ---------------------------------------------------------------------


@needs_openvino
def test_openvino_streams_give_the_vectors_of_one_stream(tmp_path, monkeypatch, photos_for_speed):
    from attr_utils import engines

    e = Embedder("efficientnet-lite0", "imagenet", cache_dir=tmp_path, engine="openvino")
    model = e.model
    assert model.streams >= 1
    x = photos_for_speed(e.spec.input_size)
    together = model(x)
    one_by_one = [model(x[i : i + 1]) for i in range(len(x))]
    for block, vectors in together.items():
        assert np.array_equal(vectors, np.concatenate([v[block] for v in one_by_one]))
    monkeypatch.setenv(engines.THREADS_ENV, "1")
    single = engines.OpenVINOBlockModel(e.spec, next((tmp_path / "engines").glob("efficientnet-lite0-*/model.xml")))
    assert single.streams == 1
    for block, vectors in single(x).items():
        assert np.allclose(vectors, together[block], rtol=1e-5, atol=1e-6)


@pytest.fixture()
def photos_for_speed(class_folder):
    def make(size):
        paths = sorted(class_folder.rglob("*.png"))[:5]
        return np.stack([to_model_input(decode_image(p), size=size) for p in paths])

    return make
