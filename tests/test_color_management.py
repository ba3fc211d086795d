"""Colour-managed decoding: embedded ICC profiles are converted to sRGB (issue 12, item 2)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from attr_utils.images import DECODE_VERSION, ColorProfileWarning, decode_image
from tests.fixtures.icc import adobe_rgb_1998, cmyk_profile, matrix_rgb_profile, rgb_to_xyz_d50

# Adobe RGB pixel values of a green that a colour-managed viewer shows as sRGB (0, 199, 35);
# decoded as if they were sRGB they come out (111, 198, 59) (the example).
ADOBE_GREEN = (111, 198, 59)
SRGB_GREEN = (0, 199, 35)
INKS = {"c": (0, 160, 230), "m": (230, 0, 126), "y": (255, 240, 0), "k": (35, 31, 32)}


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _centre(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=int)[img.height // 2, img.width // 2]


@pytest.mark.parametrize(
    ("fmt", "kw"),
    [("JPEG", {"quality": 100, "subsampling": 0}), ("PNG", {}), ("WEBP", {"lossless": True}), ("TIFF", {})],
)
def test_adobe_rgb_green_decodes_to_what_a_viewer_shows(fmt, kw):
    data = _encode(Image.new("RGB", (32, 32), ADOBE_GREEN), fmt, icc_profile=adobe_rgb_1998(), **kw)
    out = decode_image(data)
    assert np.abs(_centre(out) - SRGB_GREEN).max() <= 3, _centre(out)


def test_without_a_profile_pixels_are_srgb_unchanged():
    out = decode_image(_encode(Image.new("RGB", (16, 16), ADOBE_GREEN), "PNG"))
    assert tuple(_centre(out)) == ADOBE_GREEN


def test_display_p3_like_profile_is_applied():
    # Display P3 primaries with a 2.2 power curve; the expected sRGB value is computed
    # here from the colorimetry (matrices), independently of LittleCMS
    primaries = [(0.680, 0.320), (0.265, 0.690), (0.150, 0.060)]
    p3 = matrix_rgb_profile("P3 test", primaries, (0.3127, 0.3290), 2.2)
    out = decode_image(_encode(Image.new("RGB", (16, 16), (200, 100, 100)), "PNG", icc_profile=p3))
    lin = (np.array([200, 100, 100]) / 255.0) ** 2.2
    to_srgb = np.linalg.inv(rgb_to_xyz_d50([(0.64, 0.33), (0.30, 0.60), (0.15, 0.06)], (0.3127, 0.3290)))
    s = np.clip(to_srgb @ rgb_to_xyz_d50(primaries, (0.3127, 0.3290)) @ lin, 0, 1)
    expected = np.where(s <= 0.0031308, 12.92 * s, 1.055 * s ** (1 / 2.4) - 0.055) * 255
    assert np.abs(_centre(out) - expected).max() <= 3, (_centre(out), expected)
    assert _centre(out)[0] > 210  # more saturated than the untagged (200, 100, 100)


def test_cmyk_jpeg_goes_through_its_profile():
    profile = cmyk_profile(INKS)
    cyan = Image.new("CMYK", (32, 32), (255, 0, 0, 0))
    out = decode_image(_encode(cyan, "JPEG", quality=100, icc_profile=profile))
    assert np.abs(_centre(out) - INKS["c"]).max() <= 3, _centre(out)
    black = decode_image(_encode(Image.new("CMYK", (32, 32), (0, 0, 0, 255)), "JPEG", quality=100, icc_profile=profile))
    assert np.abs(_centre(black) - INKS["k"]).max() <= 3  # the press black, not (0, 0, 0)


def test_png_with_iccp_and_alpha_keeps_alpha_on_white():
    img = Image.new("RGBA", (16, 16), (*ADOBE_GREEN, 255))
    img.putpixel((0, 0), (0, 0, 0, 0))
    out = decode_image(_encode(img, "PNG", icc_profile=adobe_rgb_1998()))
    assert np.abs(_centre(out) - SRGB_GREEN).max() <= 3
    assert tuple(np.asarray(out)[0, 0]) == (255, 255, 255)


def test_corrupt_profile_warns_and_decodes_plain():
    data = _encode(Image.new("RGB", (16, 16), ADOBE_GREEN), "PNG", icc_profile=b"not a profile" * 20)
    with pytest.warns(ColorProfileWarning, match="ICC profile"):
        out = decode_image(data)
    assert tuple(_centre(out)) == ADOBE_GREEN


def test_profile_for_another_colour_space_warns_and_decodes_plain():
    data = _encode(Image.new("RGB", (16, 16), ADOBE_GREEN), "PNG", icc_profile=cmyk_profile(INKS))
    with pytest.warns(ColorProfileWarning, match="CMYK"):
        out = decode_image(data)
    assert tuple(_centre(out)) == ADOBE_GREEN


def test_file_path_source_is_colour_managed_and_named_in_warnings(tmp_path):
    good = tmp_path / "adobe.jpg"
    Image.new("RGB", (16, 16), ADOBE_GREEN).save(good, quality=100, subsampling=0, icc_profile=adobe_rgb_1998())
    assert np.abs(_centre(decode_image(good)) - SRGB_GREEN).max() <= 3
    bad = tmp_path / "bad.png"
    Image.new("RGB", (16, 16), ADOBE_GREEN).save(bad, icc_profile=b"junk" * 40)
    with pytest.warns(ColorProfileWarning, match="bad.png"):
        decode_image(bad)


def test_decode_version_is_in_the_model_signature(monkeypatch):
    import attr_utils.embedder as embedder
    from attr_utils.backbones.auto import resolve_backbone
    from attr_utils.cache import signature_hash

    resolved = resolve_backbone("resnet50", "random:0")
    sig = embedder.model_signature(resolved, "stretch")
    assert sig["decode"] == DECODE_VERSION
    monkeypatch.setattr("attr_utils.images.DECODE_VERSION", "older-decoder-v1")  # read by ModelSpec.signature
    older = embedder.model_signature(resolved, "stretch")
    assert signature_hash(older) != signature_hash(sig)


def test_embedder_input_uses_the_managed_colours(tmp_path):
    from attr_utils.embedder import Embedder

    path = tmp_path / "adobe.png"
    Image.new("RGB", (8, 8), ADOBE_GREEN).save(path, icc_profile=adobe_rgb_1998())
    embedder = Embedder("resnet50", "random:0", cache_dir=tmp_path / "cache")
    arr = embedder.decode(str(path))
    assert np.abs(arr[112, 112].astype(int) - SRGB_GREEN).max() <= 3


def test_profile_warning_names_the_file_the_embedder_read(tmp_path):
    """The embedder decodes the bytes it hashed: the warning still names the file, not "image"."""
    from attr_utils.embedder import Embedder
    from attr_utils.images import ColorProfileWarning

    path = tmp_path / "broken_profile.png"
    Image.new("RGB", (8, 8), (0, 200, 40)).save(path, icc_profile=b"not an icc profile")
    embedder = Embedder("resnet50", "random:0", cache_dir=tmp_path / "cache")
    with pytest.warns(ColorProfileWarning, match="broken_profile.png"):
        embedder.decode(path.read_bytes(), name=str(path))
