"""Safe handling of images uploaded through :class:`~attr_utils.apps.upload_button.UploadButton`
(or an ipywidgets ``FileUpload``: the same ``value``).

Uploads are the only way a visitor hands the server data, so they are checked
before anything else touches them: at most one file, at most
:data:`MAX_UPLOAD_BYTES`, size checked *before* decoding, then decoded in
memory by :func:`attr_utils.images.decode_image` (which refuses decompression
bombs and non-images). A visitor never names a server path.
"""

from __future__ import annotations

from dataclasses import dataclass

from attr_utils.errors import ImageDecodeError
from attr_utils.validation import check_int

__all__ = ["MAX_UPLOAD_BYTES", "Upload", "UploadError", "read_upload"]

#: Largest accepted upload (10 MB).
MAX_UPLOAD_BYTES = 10 * 1024 * 1024


class UploadError(ImageDecodeError):
    """An upload was refused (too large, several files, not an image).

    An :class:`~attr_utils.errors.ImageDecodeError`, hence an
    :class:`~attr_utils.errors.AttrUtilsError` and a ``ValueError``.
    """


@dataclass(frozen=True)
class Upload:
    """A checked upload: its file name (display only), bytes and decoded size."""

    name: str
    data: bytes  # the file's bytes: never printed whole (see __repr__)
    width: int
    height: int

    def __repr__(self) -> str:
        return f"Upload(name={self.name!r}, size={len(self.data)} bytes, {self.width}x{self.height} px)"


def _field(item, key):
    return item.get(key) if isinstance(item, dict) else getattr(item, key, None)


def read_upload(value, *, max_bytes: int = MAX_UPLOAD_BYTES) -> Upload | None:
    """Validate the ``value`` of an ``UploadButton`` (or ``FileUpload``) and decode its image.

    Parameters
    ----------
    value : tuple of dict
        The widget's ``value`` (ipywidgets 8's shape: dicts with ``name``, ``size`` and
        ``content``). Empty means no upload.
    max_bytes : int, default=MAX_UPLOAD_BYTES
        Size limit, checked before decoding.

    Returns
    -------
    Upload or None
        None when nothing was uploaded.

    Raises
    ------
    UploadError
        More than one file, a file over the limit, or data that is not a
        decodable image (the message says which).
    ParameterError
        ``max_bytes`` is not an integer >= 1.
    """
    max_bytes = check_int("max_bytes", max_bytes, min=1)
    items = list(value or ())
    if not items:
        return None
    if len(items) > 1:
        raise UploadError(f"upload one image at a time (got {len(items)} files)")
    item = items[0]
    name = str(_field(item, "name") or "upload")[:200]
    declared = _field(item, "size")
    limit_mb = max_bytes / (1024 * 1024)
    if isinstance(declared, int) and declared > max_bytes:
        raise UploadError(f"{name} is {declared / 1048576:.1f} MB; the limit is {limit_mb:.0f} MB")
    content = _field(item, "content")
    if content is None:
        raise UploadError(f"{name} arrived without content")
    if len(content) > max_bytes:  # memoryview/bytes length, before any copy or decode
        raise UploadError(f"{name} is {len(content) / 1048576:.1f} MB; the limit is {limit_mb:.0f} MB")
    data = bytes(content)
    from attr_utils.images import decode_image

    try:
        img = decode_image(data)
    except ImageDecodeError as exc:
        raise UploadError(f"{name} is not a usable image: {exc}") from None
    return Upload(name=name, data=data, width=img.width, height=img.height)
