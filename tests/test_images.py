"""Decoding odd and broken image files."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

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


# -- fast paths give the pixels of the general path ------------------------------------


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


def _fast_path_cases() -> dict[str, bytes]:
    """One file per kind the decoder treats differently (formats, modes, profiles, orientation)."""
    from tests.fixtures.icc import adobe_rgb_1998

    rng = np.random.default_rng(14)
    rgb = Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    rgba = Image.fromarray(rng.integers(0, 256, (48, 64, 4), dtype=np.uint8), "RGBA")
    grey16 = Image.fromarray(rng.integers(0, 65536, (48, 64), dtype=np.uint16))
    palette = rgb.quantize(16)
    palette_t = palette.copy()
    palette_t.info["transparency"] = 3
    large = Image.fromarray(rng.integers(0, 256, (8, 12, 3), dtype=np.uint8)).resize((1200, 900), Image.Resampling.BICUBIC)
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">' \
          b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="3"/></rdf:RDF></x:xmpmeta>'
    xmp_info = PngInfo()
    xmp_info.add_itxt("XML:com.adobe.xmp", xmp.decode())
    return {
        "png-rgb": _bytes(rgb, "PNG"),
        "png-rgba": _bytes(rgba, "PNG"),
        "png-palette": _bytes(palette, "PNG"),
        "png-palette-transparency": _bytes(palette_t, "PNG", transparency=3),
        "png-grey": _bytes(rgb.convert("L"), "PNG"),
        "png-grey16": _bytes(grey16, "PNG"),
        "png-icc": _bytes(rgb, "PNG", icc_profile=adobe_rgb_1998()),
        "png-rgba-icc": _bytes(rgba, "PNG", icc_profile=adobe_rgb_1998()),
        "png-xmp-orientation": _bytes(rgb, "PNG", pnginfo=xmp_info),
        "jpeg": _bytes(rgb, "JPEG", quality=90),
        "jpeg-grey": _bytes(rgb.convert("L"), "JPEG"),
        "jpeg-cmyk": _bytes(rgb.convert("CMYK"), "JPEG"),
        "jpeg-icc": _bytes(rgb, "JPEG", icc_profile=adobe_rgb_1998()),
        "jpeg-large-draft": _bytes(large, "JPEG", quality=90),
        "jpeg-large-draft-exif6": _bytes(large, "JPEG", quality=90, exif=_exif(6)),
        **{f"jpeg-exif{o}": _bytes(rgb, "JPEG", exif=_exif(o)) for o in (1, 3, 6, 8)},
        "jpeg-exif6-icc": _bytes(rgb, "JPEG", exif=_exif(6), icc_profile=adobe_rgb_1998()),
        "webp-rgba": _bytes(rgba, "WEBP", lossless=True),
        "tiff-rgb": _bytes(rgb, "TIFF"),
    }


def _general_path(data: bytes, size: int = 224) -> Image.Image:
    """The same file through decode_image's PIL-image path, which always runs ``exif_transpose``."""
    img = Image.open(io.BytesIO(data))
    if img.format == "JPEG" and min(img.size) >= 4 * size:
        img.draft("RGB", (size, size))  # as decode_image does for files
    img.load()
    return decode_image(img, size=size)


@pytest.mark.parametrize("case", sorted(_fast_path_cases()))
def test_fast_paths_decode_the_same_pixels_as_the_general_path(case):
    data = _fast_path_cases()[case]
    fast = decode_image(data)
    general = _general_path(data)
    assert fast.mode == general.mode == "RGB"
    assert fast.size == general.size
    assert np.array_equal(np.asarray(fast), np.asarray(general))
    for policy in ("stretch", "pad", "crop"):
        assert np.array_equal(to_model_input(fast, resize=policy), to_model_input(general, resize=policy))


@pytest.mark.parametrize(("orientation", "size"), [(1, (64, 48)), (3, (64, 48)), (6, (48, 64)), (8, (48, 64))])
def test_exif_orientation_sets_the_decoded_size(orientation, size):
    data = _fast_path_cases()[f"jpeg-exif{orientation}"]
    assert decode_image(data).size == size


def test_xmp_orientation_is_applied():
    data = _fast_path_cases()["png-xmp-orientation"]
    raw = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert np.array_equal(np.asarray(decode_image(data)), raw[::-1, ::-1])  # orientation 3: rotated 180 degrees


def test_a_callers_rgb_image_is_copied_not_returned():
    img = Image.new("RGB", (32, 32), (10, 20, 30))
    out = decode_image(img)
    assert out is not img
    out.putpixel((0, 0), (0, 0, 0))
    assert img.getpixel((0, 0)) == (10, 20, 30)
