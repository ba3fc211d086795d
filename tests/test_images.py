"""Decoding odd and broken image files."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from attr_utils.errors import ImageDecodeError
from attr_utils.images import decode_image, is_image_name, is_junk_name, to_model_input


def _bytes(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_empty_file_is_refused():
    with pytest.raises(ImageDecodeError, match="empty"):
        decode_image(b"")


def test_not_an_image_is_refused():
    with pytest.raises(ImageDecodeError, match="not an image"):
        decode_image(b"hello, I am a text file" * 10)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_image_is_refused(fmt):
    rng = np.random.default_rng(0)
    data = _bytes(Image.fromarray(rng.integers(0, 255, (300, 300, 3), dtype=np.uint8)), fmt)
    with pytest.raises(ImageDecodeError):
        decode_image(data[: len(data) // 2])


def test_decompression_bomb_is_refused():
    # a valid PNG header claiming 100k x 100k pixels
    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    with pytest.raises(ImageDecodeError, match="decompression bomb"):
        decode_image(data)


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (80, 40), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    out = decode_image(_bytes(img, "JPEG", exif=exif))
    assert out.size == (40, 80)


def test_alpha_is_composited_on_white():
    img = Image.new("RGBA", (10, 10), (255, 0, 0, 0))  # fully transparent red
    out = np.asarray(decode_image(_bytes(img, "PNG")))
    assert (out == 255).all()


def test_palette_with_transparency_is_composited_on_white():
    img = Image.new("P", (10, 10), 0)
    img.putpalette([0, 0, 0] * 256)
    out = np.asarray(decode_image(_bytes(img, "PNG", transparency=0)))
    assert (out == 255).all()


def test_sixteen_bit_grey_is_scaled_not_clipped():
    arr = np.full((8, 8), 32768, dtype=np.uint16)  # mid-grey in 16 bits
    out = np.asarray(decode_image(_bytes(Image.fromarray(arr), "PNG")))
    assert out.shape == (8, 8, 3)
    assert 120 <= out.mean() <= 135


def test_cmyk_and_grey_become_rgb():
    assert decode_image(_bytes(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG")).mode == "RGB"
    assert decode_image(_bytes(Image.new("L", (8, 8), 100), "PNG")).mode == "RGB"


def test_first_frame_of_animation():
    frames = [Image.new("RGB", (16, 16), c) for c in [(255, 0, 0), (0, 0, 255)]]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    out = np.asarray(decode_image(buf.getvalue()))
    assert out[..., 0].mean() > 200 and out[..., 2].mean() < 50


def test_large_jpeg_is_drafted_but_keeps_enough_pixels():
    img = Image.new("RGB", (2400, 1800), (10, 200, 10))
    out = decode_image(_bytes(img, "JPEG"), size=224)
    assert min(out.size) >= 224
    assert max(out.size) < 2400  # decoded at a reduced DCT scale


@pytest.mark.parametrize("policy", ["stretch", "pad", "crop"])
def test_resize_policies_give_square_inputs(policy):
    img = Image.new("RGB", (300, 100), (0, 0, 0))
    arr = to_model_input(img, size=224, resize=policy)
    assert arr.shape == (224, 224, 3) and arr.dtype == np.uint8
    if policy == "pad":
        assert (arr[0] == 255).all() and (arr[112] == 0).all()  # white bands top and bottom
    else:
        assert (arr == 0).all()


def test_unknown_resize_policy_is_refused():
    with pytest.raises(ValueError, match="resize"):
        to_model_input(Image.new("RGB", (4, 4)), resize="squash")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a.JPG", True), ("été.png", True), ("x.Jpeg", True), ("notes.txt", False), (".hidden.png", False), ("Thumbs.db", False)],
)
def test_image_names(name, expected):
    assert is_image_name(name) is expected


def test_junk_names():
    assert is_junk_name(".DS_Store") and is_junk_name("__MACOSX") and not is_junk_name("shirt.png")
