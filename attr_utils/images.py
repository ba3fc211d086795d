"""Decoding any image file a catalog may hold into a square RGB array.

Every decodable image becomes 8-bit sRGB: an embedded ICC colour profile
(Adobe RGB and Display P3 photos, CMYK press files, PNG/WebP/TIFF ``iCCP``) is
converted to sRGB through LittleCMS (Pillow's ``ImageCms``, relative
colorimetric intent), as a colour-managed viewer shows the file; EXIF
orientation applied, alpha composited on white, palette / grey / 16-bit /
CMYK converted, first frame of animations. A profile that cannot be used
(corrupt, or for another colour space than the pixels) is ignored with a
:class:`ColorProfileWarning` naming the reason, and the pixels are decoded as
sRGB: the image is kept, not lost. :data:`DECODE_VERSION` names this
behaviour; it is part of the embedding cache's model signature, so vectors
cached by an older decoder are recomputed, not reused. Large JPEGs are decoded at a reduced DCT scale (Pillow's draft
mode) when they are far larger than the network input. Anything that cannot
be decoded raises :class:`~attr_utils.errors.ImageDecodeError` with a short
reason, which the embedder records as a skipped file.

Cost: for a 224 px PNG over 90 % of the CPU time is Pillow's own inflate and
unfiltering (``ImageFile.load``); the steps around it skip work that would not
change a pixel. These fast paths give the same pixels as the general path:

- EXIF orientation is applied only when the file has an orientation other
  than 1 (Pillow's ``getexif`` also reads an XMP ``tiff:Orientation``):
  otherwise ``exif_transpose`` returns an exact copy of the pixels, a copy of
  about 150 kB per image that nothing needs. Images a caller passes in are
  still copied, so the result is never the caller's object.
- Modes are converted only when they are not RGB already (``_to_rgb``), and
  ``to_model_input`` resizes only images that are not ``size`` x ``size``.
- JPEGs at least four times the network input per side are decoded at a
  reduced DCT scale (draft); smaller ones are decoded in full, so lowering that
  threshold would change pixels (and needs a new :data:`DECODE_VERSION`).
- Plain PNGs (8-bit RGB, not interlaced, no chunk that Pillow's path would
  act on: no ``iCCP``, ``eXIf``, ``tRNS``, EXIF or XMP text, animation or
  unknown chunk; every chunk CRC but IDAT's checked as Pillow does) are
  decoded by libspng through ``imagecodecs`` when it is installed (the
  ``[fast]`` extra; :data:`FAST_PNG`), about a third less CPU than Pillow's
  zlib. PNG is lossless and these files leave a decoder no choice, so the
  pixels are the same (checked against Pillow by the tests): no new
  :data:`DECODE_VERSION`. Anything the fast decoder rejects goes through
  Pillow, so errors and skip reasons are Pillow's.
"""

from __future__ import annotations

import io
import os
import struct
import threading
import warnings
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from attr_utils.errors import ImageDecodeError

__all__ = [
    "DECODE_VERSION",
    "FAST_PNG",
    "ColorProfileWarning",
    "composite_on_white",
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "RESIZE_POLICIES",
    "decode_image",
    "decode_model_input",
    "is_image_name",
    "is_junk_name",
    "undecodable_reason",
    "to_model_input",
]

#: Names the decoding behaviour; goes into the cache's model signature.
#: v2: embedded ICC profiles are converted to sRGB.
DECODE_VERSION = "pillow-rgb-on-white-bilinear-icc-srgb-v2"


class ColorProfileWarning(UserWarning):
    """An embedded ICC profile could not be used; the pixels were decoded as sRGB."""


#: Pillow formats that identify files but cannot decode them here (stub
#: plugins needing an external handler, video, Windows-only metafiles).
_UNDECODABLE_FORMATS = frozenset({"BUFR", "GRIB", "HDF5", "MPEG", "WMF"})
#: Image types Pillow does not decode without a plugin or an external program:
#: files with these extensions are reported as skipped, with the reason.
KNOWN_IMAGE_TYPES: dict[str, str] = {
    ".heic": "HEIF/HEIC", ".heif": "HEIF/HEIC", ".hif": "HEIF/HEIC", ".avif": "AVIF", ".avifs": "AVIF",
    ".jxl": "JPEG XL", ".svg": "SVG", ".svgz": "SVG", ".raw": "camera raw", ".dng": "camera raw",
    ".cr2": "camera raw", ".cr3": "camera raw", ".nef": "camera raw", ".arw": "camera raw", ".orf": "camera raw",
    ".rw2": "camera raw", ".raf": "camera raw", ".eps": "EPS", ".ps": "PostScript", ".emf": "EMF", ".wmf": "WMF",
    ".exr": "OpenEXR", ".hdr": "Radiance HDR", ".mpo": "MPO", ".jp2": "JPEG 2000", ".j2k": "JPEG 2000",
}
_PLUGIN_HINTS = {"HEIF/HEIC": " (install pillow-heif)", "AVIF": " (Pillow >= 11.3 with AVIF support)",
                 "JPEG XL": " (install pillow-jxl-plugin)", "EPS": " (needs Ghostscript)", "PostScript": " (needs Ghostscript)"}


def _decodable_extensions() -> frozenset[str]:
    """Extensions of formats the installed Pillow can open and decode."""
    Image.init()
    opening = set(Image.OPEN) - _UNDECODABLE_FORMATS
    try:
        from PIL import EpsImagePlugin

        if not EpsImagePlugin.has_ghostscript():
            opening.discard("EPS")
    except ImportError:  # pragma: no cover
        opening.discard("EPS")
    if "JPEG" in opening:
        opening.add("MPO")  # multi-picture JPEGs open through the JPEG plugin
    return frozenset(ext.lower() for ext, fmt in Image.registered_extensions().items() if fmt in opening)


#: File extensions treated as images (compared case-insensitively): every
#: extension of a format the installed Pillow opens and decodes (AVIF, MPO,
#: HEIC with pillow-heif registered...). One list for every reader.
IMAGE_EXTENSIONS = _decodable_extensions()
#: System files and folders ignored silently.
JUNK_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini", "__macosx", "ehthumbs.db", "icon\r", "$recycle.bin"})
#: Images with more pixels than this are refused as decompression bombs.
MAX_PIXELS = 89_478_485  # Pillow's own default limit
#: How a non-square image becomes the square network input.
RESIZE_POLICIES = ("stretch", "pad", "crop")


def is_junk_name(name: str) -> bool:
    """True for hidden files (``.x``, AppleDouble ``._x``) and OS junk (``.DS_Store``, ``Thumbs.db``, ``desktop.ini``, ``__MACOSX``)."""
    return name.startswith(".") or name.lower() in JUNK_NAMES or name.startswith("~$")


def is_image_name(name: str) -> bool:
    """True when ``name`` has an extension the installed Pillow decodes and is not junk."""
    return not is_junk_name(name) and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def undecodable_reason(name: str) -> str:
    """Why a file that is not junk is not read as an image (for skip reports)."""
    ext = os.path.splitext(name)[1].lower()
    kind = KNOWN_IMAGE_TYPES.get(ext)
    if kind is not None:
        return f"{kind} image ({ext}) that the installed Pillow cannot decode{_PLUGIN_HINTS.get(kind, '')}"
    if not ext:
        return "no file extension; not read as an image"
    return f"not an image file ({ext})"


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB, compositing transparency on white."""
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        scaled = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
        img = Image.fromarray((scaled * 255.0 + 0.5).astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "RGBa", "La", "PA"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    if img.mode != "RGB":
        img = img.convert("RGB")
    return img


_CMS_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _srgb_profile():
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@lru_cache(maxsize=32)
def _transform(icc: bytes, mode: str):
    """LittleCMS transform from the profile ``icc`` (pixels in ``mode``) to sRGB, built once per profile."""
    from PIL import ImageCms

    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
        raise ValueError(f"unreadable ICC profile ({exc})") from None
    space = (profile.profile.xcolor_space or "").strip()
    expected = {"RGB": "RGB", "CMYK": "CMYK", "L": "GRAY"}[mode]
    if space != expected:
        raise ValueError(f"ICC profile is for {space or 'an unknown'} colour space, pixels are {mode}")
    try:
        return ImageCms.buildTransform(
            profile, _srgb_profile(), mode, "RGB", renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC
        )
    except (ImageCms.PyCMSError, OSError, ValueError) as exc:
        raise ValueError(f"ICC profile cannot be applied ({exc})") from None


def _color_managed(img: Image.Image, icc: bytes, name: str) -> Image.Image:
    """``img`` converted to sRGB through its embedded profile ``icc`` (RGB/RGBA out)."""
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    alpha = img.getchannel("A") if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") else None
    if img.mode in ("RGBA", "RGBa", "RGBX"):
        base = img.convert("RGB")
    elif img.mode in ("LA", "La"):
        base = img.convert("L")
    elif img.mode.startswith("I") or img.mode == "F":
        base = _to_rgb(img).convert("L")
    else:
        base = img
    if base.mode not in ("RGB", "CMYK", "L"):
        warnings.warn(f"{name}: ICC profile ignored for {base.mode} pixels; decoded without colour management",
                      ColorProfileWarning, stacklevel=3)
        return img
    try:
        transform = _transform(icc, base.mode)
    except ValueError as exc:
        warnings.warn(f"{name}: {exc}; decoded as sRGB", ColorProfileWarning, stacklevel=3)
        return img
    with _CMS_LOCK:  # LittleCMS transforms keep a one-pixel cache: not thread-safe
        out = transform.apply(base)
    if alpha is not None:
        out.putalpha(alpha)
    return out


def decode_image(
    source: str | os.PathLike | bytes | Image.Image, *, size: int = 224, name: str | None = None, keep_alpha: bool = False
) -> Image.Image:
    """Decode ``source`` into an RGB :class:`PIL.Image.Image`.

    Parameters
    ----------
    source : path, bytes or PIL.Image.Image
        The image. Bytes are decoded in memory (uploads).
    size : int, default=224
        Target side; JPEGs much larger than this are decoded at a reduced
        DCT scale that still leaves at least ``size`` pixels per side.
    name : str, optional
        What warnings call the image (default: its path; ``"image"`` for
        bytes and PIL images): callers that read a file's bytes themselves
        pass its path.
    keep_alpha : bool, default=False
        Return an ``"RGBA"`` image, its alpha not composited, when the image
        has transparency (the foreground masks of :mod:`attr_utils.pooling`
        read it); :func:`composite_on_white` then gives the same RGB pixels
        as ``keep_alpha=False``.

    Returns
    -------
    PIL.Image.Image
        Mode ``"RGB"`` in sRGB (an embedded ICC profile is applied), EXIF
        orientation applied (``"RGBA"`` with ``keep_alpha`` and transparency).

    Warns
    -----
    ColorProfileWarning
        The embedded ICC profile is corrupt or does not fit the pixels; it is
        ignored and the pixels are taken as sRGB.

    Raises
    ------
    ImageDecodeError
        Empty, truncated or non-image data, or more than ``MAX_PIXELS`` pixels.
    """
    shown = name
    name = "image"
    if isinstance(source, Image.Image):
        img = source
        img.load()
    else:
        if not isinstance(source, (bytes, bytearray, memoryview)):
            name = str(source)
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
        else:
            try:
                data = Path(source).read_bytes()
            except OSError as exc:
                raise ImageDecodeError(f"cannot read file: {exc.strerror or exc}") from None
        if not data:
            raise ImageDecodeError("empty file")
        fast = _decode_plain_png(data)
        if fast is not None:  # same pixels as Pillow's path below, a third less CPU
            return Image.fromarray(fast, "RGB")
        try:
            img = _open_bytes(data, size)
        except ImageDecodeError as exc:
            if name != "image" and "unrecognised format" in str(exc) and not is_image_name(os.path.basename(name)):
                raise ImageDecodeError(undecodable_reason(os.path.basename(name))) from None
            raise
    icc = img.info.get("icc_profile")
    try:
        # Fast path: without an orientation to apply, exif_transpose only copies
        # the pixels; a caller's own image is still copied, never returned.
        if isinstance(source, Image.Image) or img.getexif().get(ExifTags.Base.Orientation, 1) != 1:
            img = ImageOps.exif_transpose(img)
    except Exception:  # broken EXIF must not lose an otherwise good image
        pass
    if icc:
        img = _color_managed(img, bytes(icc), shown or name)
    if keep_alpha and (img.mode in _ALPHA_MODES or (img.mode == "P" and "transparency" in img.info)):
        return img.convert("RGBA")
    return _to_rgb(img)


#: Modes whose alpha ``_to_rgb`` composites on white (and ``keep_alpha`` keeps).
_ALPHA_MODES = ("RGBA", "LA", "RGBa", "La", "PA")


def composite_on_white(img: Image.Image) -> Image.Image:
    """An ``"RGBA"`` image (``decode_image(..., keep_alpha=True)``) composited on white, as ``decode_image`` does."""
    return _to_rgb(img)


#: Decode plain 8-bit RGB PNGs with libspng (``imagecodecs``, the ``[fast]`` extra) when installed;
#: False: always Pillow. The pixels are the same either way (see the module notes).
FAST_PNG = True
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Chunks that Pillow's path reads but that never change the decoded pixels here.
_PLAIN_PNG_CHUNKS = frozenset({b"IDAT", b"IEND", b"pHYs", b"tIME", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"bKGD", b"tEXt"})
#: tEXt keywords Pillow turns into EXIF or XMP (an orientation to apply): those files take Pillow's path.
_METADATA_TEXT = (b"Raw profile type exif", b"Raw profile type APP1", b"XML:com.adobe.xmp")


@lru_cache(maxsize=1)
def _spng_decode():
    """``imagecodecs.spng_decode`` (releases the GIL), or None when not installed."""
    try:
        from imagecodecs import spng_decode
    except ImportError:  # the [fast] extra is not installed: Pillow decodes every PNG
        return None
    return spng_decode


def _is_plain_png(data) -> bool:
    """True for an 8-bit RGB, non-interlaced PNG whose chunks all leave Pillow's pixels as they are."""
    if len(data) < 45 or bytes(data[:8]) != _PNG_SIGNATURE:
        return False
    view = memoryview(data)
    length, kind = struct.unpack_from(">I4s", view, 8)
    if kind != b"IHDR" or length != 13:
        return False
    width, height, depth, colour, compression, filtering, interlace = struct.unpack_from(">IIBBBBB", view, 16)
    if depth != 8 or colour != 2 or compression or filtering or interlace or not 0 < width * height <= MAX_PIXELS:
        return False
    pos, end, idat = 8, len(view), False
    while pos + 12 <= end:
        length, kind = struct.unpack_from(">I4s", view, pos)
        stop = pos + 12 + length
        if stop > end:
            return False  # truncated: Pillow says how
        if kind != b"IHDR" and kind not in _PLAIN_PNG_CHUNKS:
            return False
        if kind == b"tEXt" and (length > 65536 or bytes(view[pos + 8 : pos + 8 + min(length, 80)]).split(b"\0", 1)[0] in _METADATA_TEXT):
            return False
        if kind == b"IDAT":
            idat = True  # Pillow does not check IDAT CRCs
        elif zlib.crc32(view[pos + 4 : stop - 4]) != struct.unpack_from(">I", view, stop - 4)[0]:
            return False  # Pillow refuses a broken chunk
        if kind == b"IEND":
            return idat
        pos = stop
    return False


def _decode_plain_png(data) -> np.ndarray | None:
    """Pixels ``(h, w, 3)`` uint8 of a plain PNG through libspng, or None: let Pillow decode it."""
    if not FAST_PNG or not _is_plain_png(data):
        return None
    decode = _spng_decode()
    if decode is None:
        return None
    try:
        pixels = decode(data)
    except Exception:  # noqa: BLE001 - anything libspng refuses, Pillow decodes or explains
        return None
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        return None
    return pixels


def _open_bytes(data: bytes, size: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise ImageDecodeError(
                    f"decompression bomb: {width}x{height} pixels exceeds the limit of {MAX_PIXELS}"
                )
            if getattr(img, "n_frames", 1) > 1:
                img.seek(0)
            if img.format == "JPEG" and min(width, height) >= 4 * size:
                img.draft("RGB", (size, size))
            img.load()
    except ImageDecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageDecodeError(f"decompression bomb: {exc}") from None
    except UnidentifiedImageError:
        raise ImageDecodeError("not an image (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        text = str(exc).lower()
        if "truncated" in text or "premature" in text or isinstance(exc, EOFError):
            raise ImageDecodeError(f"truncated image: {exc}") from None
        raise ImageDecodeError(f"corrupt image: {exc}") from None
    return img


def decode_model_input(
    source: str | os.PathLike | bytes | Image.Image, *, size: int = 224, resize: str = "stretch", name: str | None = None
) -> np.ndarray:
    """``to_model_input(decode_image(source, ...), ...)``, without a detour through Pillow when none is needed.

    A plain PNG (see the module notes) that is already ``size`` x ``size``
    comes straight from the fast decoder as the network's input; every
    other image goes through :func:`decode_image` and :func:`to_model_input`.

    Parameters
    ----------
    source : path, bytes or PIL.Image.Image
        As in :func:`decode_image`.
    size : int, default=224
        Output side.
    resize : {"stretch", "pad", "crop"}, default="stretch"
        As in :func:`to_model_input`.
    name : str, optional
        As in :func:`decode_image`.

    Returns
    -------
    numpy.ndarray
        ``(size, size, 3)`` uint8 RGB.

    Raises
    ------
    ImageDecodeError
        As :func:`decode_image`.
    """
    if resize not in RESIZE_POLICIES:
        raise ValueError(f"resize must be one of {RESIZE_POLICIES}, got {resize!r}")
    if isinstance(source, (bytes, bytearray, memoryview)) and resize != "pad":
        pixels = _decode_plain_png(source)
        if pixels is not None and pixels.shape[:2] == (size, size):
            return pixels
    return to_model_input(decode_image(source, size=size, name=name), size=size, resize=resize)


def to_model_input(img: Image.Image, *, size: int = 224, resize: str = "stretch") -> np.ndarray:
    """Square ``size`` x ``size`` uint8 RGB array following a resize policy.

    Parameters
    ----------
    img : PIL.Image.Image
        An RGB image (see :func:`decode_image`).
    size : int, default=224
        Output side.
    resize : {"stretch", "pad", "crop"}, default="stretch"
        ``"stretch"`` resizes to the square ignoring the aspect ratio (the
        Keras ``load_img`` behaviour); ``"pad"`` pads to a square on white
        first; ``"crop"`` takes the central square.
    """
    if resize not in RESIZE_POLICIES:
        raise ValueError(f"resize must be one of {RESIZE_POLICIES}, got {resize!r}")
    if resize == "pad":
        img = ImageOps.pad(img, (max(img.size),) * 2, color=(255, 255, 255), method=Image.Resampling.BILINEAR)
    elif resize == "crop":
        side = min(img.size)
        left, top = (img.width - side) // 2, (img.height - side) // 2
        img = img.crop((left, top, left + side, top + side))
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)
    return np.asarray(img, dtype=np.uint8)
