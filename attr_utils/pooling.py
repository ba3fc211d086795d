"""How a tap's feature map becomes one vector: average, max, or averaged over the product only.

The paper globally average pools every tap (``pooling="average"``). On
product photos that average mixes the garment with its studio background, and
the background dilutes the colour the early blocks read. This module holds the
other poolings and the per-image foreground masks they use:

``"average"``
    The paper's global average pooling (the default; its vectors and cache
    signature are those of earlier releases).
``"max"``
    Global max pooling of each channel.
``"foreground"``
    A per-image mask (weights in [0, 1] at the network input's resolution),
    resized to each tap's feature-map size by area interpolation, weights the
    average: ``v[c] = sum(m * f[..., c]) / sum(m)``. With an all-ones mask it
    is the plain average.
``"interior"``
    The same, with the mask first binarised (at 0.5) and eroded by
    :data:`INTERIOR_EROSION` times the object's size (the side of a square of
    the object's area): texture read from inside the garment, away from its
    outline (so the deep block's shape signal weighs less). An object too thin
    to have an interior keeps its whole mask (source ``"<source>+no-interior"``).

Mask sources (``mask=``), each computed once per image while decoding (the
saliency one from the same forward pass: never a second one):

``"alpha"``
    The image's alpha channel (PNG/WebP/TIFF with transparency), resized with
    the image. Fails when the alpha is a frame or a shadow rather than the
    product's outline, or is fully opaque (no information: plain average).
``"border"``
    The background colour estimated from the image border (the median of a
    band :data:`BORDER_WIDTH` of the side wide); a pixel is foreground when its
    RGB distance to that colour exceeds :data:`BORDER_TOLERANCE`. Plausible only
    when at least :data:`BORDER_UNIFORM` of the border pixels lie within the
    tolerance (a near-uniform studio background). Fails on garments the colour
    of the background (a white shirt on white: too little foreground, plain
    average), on products that touch or cross the border (the border is then
    not uniform: no mask), on gradients and shadows wider than the tolerance
    (shadows count as foreground), and with ``resize="pad"`` on a coloured
    background (the white padding breaks the uniform border).
``"saliency"``
    Learned-weights-free: the per-position energy (L2 norm over channels) of
    the deepest tap's activations, thresholded at its mean over the image and
    upsampled (nearest) to the input size. It needs no extra weights, but it is
    coarse (7 x 7 cells for the paper's block5 on a 224 px input), marks what
    the network finds salient, which may be a model's face, a prop or a busy
    background texture rather than the garment, and its quality follows the
    weights (random weights give arbitrary masks).
``"auto"`` (default)
    The alpha channel when the image has a plausible one, else the border mask
    when plausible, else the saliency mask when plausible, else the plain
    average. A blank image (a uniform border and less than
    :data:`MIN_FOREGROUND` foreground: all white, a white shirt on white, a
    1 x 1 image stretched) gets the plain average without trying saliency
    (also with ``mask="saliency"``), whose map on such images is an artefact.

Every mask is checked: a foreground share below :data:`MIN_FOREGROUND` or
above :data:`MAX_FOREGROUND` of the pixels is implausible, and the image falls
back to the plain average (its source is then ``"none"``, with the reason).
:attr:`attr_utils.embedder.Embedder.mask_sources` counts the sources used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attr_utils.validation import check_choice

__all__ = [
    "BLANK_KIND",
    "BORDER_TOLERANCE",
    "FROM_ACTIVATIONS",
    "BORDER_UNIFORM",
    "BORDER_WIDTH",
    "INTERIOR_EROSION",
    "MASK_POOLINGS",
    "MASK_SOURCES",
    "MASK_VERSION",
    "MAX_FOREGROUND",
    "MIN_FOREGROUND",
    "POOLINGS",
    "Mask",
    "alpha_mask",
    "area_resize",
    "border_mask",
    "check_mask_source",
    "check_pooling",
    "decode_mask",
    "encode_mask",
    "erode_interior",
    "graph_pooling",
    "image_mask",
    "mask_to_model_input",
    "pool_maps",
    "pooling_signature",
    "saliency_mask",
    "uses_mask",
]

#: Accepted values of ``pooling=`` (the paper's ``"average"`` first: the default).
POOLINGS = ("average", "max", "foreground", "interior")
#: The poolings that weight the average with a per-image mask.
MASK_POOLINGS = ("foreground", "interior")
#: Accepted values of ``mask=`` (where a foreground mask comes from).
MASK_SOURCES = ("auto", "alpha", "border", "saliency")
#: Names the mask computation and its constants; part of the cache signature of the mask poolings.
MASK_VERSION = "masks-v2"
#: Width of the border band the background colour is estimated from, as a fraction of the side (at least 1 px).
#: Chosen (about 7 px at 224 px: wide enough for a stable median, narrow enough to stay off centred products);
#: see docs/pooling.md.
BORDER_WIDTH = 0.03
#: RGB (0-255) Euclidean distance to the background colour above which a pixel is foreground.
#: Chosen, not measured on a dataset: background noise below it leaves the mask exact (tests), and a saturated
#: garment on white lies far above it (a white shirt on white does not: a documented failure); see docs/pooling.md.
BORDER_TOLERANCE = 32.0
#: Share of border pixels that must lie within the tolerance for the background to count as uniform.
#: Chosen: tolerates a product touching up to a tenth of the border; textured backgrounds (the scene variant)
#: fall far below it; see docs/pooling.md.
BORDER_UNIFORM = 0.9
#: Smallest plausible foreground share of the pixels (below: plain average).
#: Chosen: under 5 % of a 224 px input is under 1.3 cells of block5's 7 x 7 map, too little to pool over;
#: see docs/pooling.md.
MIN_FOREGROUND = 0.05
#: Largest plausible foreground share of the pixels (above: plain average).
#: Chosen, symmetric to :data:`MIN_FOREGROUND`: a mask over 95 % of the image differs little from the plain
#: average and usually means the estimate failed (e.g. an opaque alpha); see docs/pooling.md.
MAX_FOREGROUND = 0.95
#: ``"interior"`` erodes the mask by this fraction of the object's size (sqrt of its area in pixels).
#: Chosen, not tuned on the benchmark: on a garment about 100 px across it erodes 15 px, about one block4 cell
#: (16 px at 224 px), so the interior keeps off the outline; its effect is measured in docs/protocols.md.
INTERIOR_EROSION = 0.15


def check_pooling(pooling) -> str:
    """``pooling`` if it is one of :data:`POOLINGS`, else raise :class:`~attr_utils.errors.ParameterError`."""
    return check_choice("pooling", pooling, POOLINGS)


def check_mask_source(mask) -> str:
    """``mask`` if it is one of :data:`MASK_SOURCES`, else raise :class:`~attr_utils.errors.ParameterError`."""
    return check_choice("mask", mask, MASK_SOURCES)


def uses_mask(pooling: str) -> bool:
    """True for the poolings that weight the average with a per-image mask."""
    return pooling in MASK_POOLINGS


def graph_pooling(pooling: str) -> str:
    """What the network graph ends with for ``pooling``.

    ``"global_average"`` (the paper's, as in earlier releases),
    ``"global_max"``, or ``"spatial"``: the graph returns every tap's feature
    map ``(n, h, w, c)`` and :func:`pool_maps` pools them with the masks in
    numpy (one conversion serves every mask pooling and source).
    """
    return {"average": "global_average", "max": "global_max"}.get(check_pooling(pooling), "spatial")


def pooling_signature(pooling: str, mask: str = "auto"):
    """The ``"pooling"`` entry of the model signature (:meth:`attr_utils.model.ModelSpec.signature`).

    Parameters
    ----------
    pooling : {"average", "max", "foreground", "interior"}
        The pooling.
    mask : {"auto", "alpha", "border", "saliency"}, default="auto"
        The mask source (used by the mask poolings only).

    Returns
    -------
    str or dict
        ``"global_average"`` for ``"average"`` (unchanged from earlier
        releases, so their caches stay valid), ``"global_max"`` for ``"max"``;
        for the mask poolings a JSON-serialisable dict naming the pooling
        (``kind``), the mask source, :data:`MASK_VERSION` and every constant
        the masks depend on, so changing any of them changes the cache folder.

    Raises
    ------
    ParameterError
        ``pooling`` or ``mask`` is not one of the accepted values.
    """
    graph = graph_pooling(pooling)
    if graph != "spatial":
        return graph
    return {
        "kind": pooling,
        "mask": check_mask_source(mask),
        "version": MASK_VERSION,
        "border": [BORDER_WIDTH, BORDER_TOLERANCE, BORDER_UNIFORM],
        "foreground": [MIN_FOREGROUND, MAX_FOREGROUND],
        "interior": INTERIOR_EROSION if pooling == "interior" else None,
        "resize": "area",
    }


@dataclass(frozen=True)
class Mask:
    """A foreground mask of one image, and where it came from.

    Attributes
    ----------
    weights : ndarray or None
        float32 ``(h, w)`` in [0, 1] (1 = product); None when the source gave
        no usable mask (the image is pooled with the plain average).
    source : str
        ``"alpha"``, ``"border"``, ``"saliency"`` (``"+interior"`` appended when
        eroded, ``"+no-interior"`` when too thin to erode), or ``"none"``.
    fraction : float
        Foreground share of the pixels (mean of ``weights``; 1.0 for ``"none"``).
    reason : str
        Why there is no mask (``"none"``), else ``""``.
    kind : str
        The reason without this image's numbers (``"border foreground < 5%"``),
        for counting fallbacks over a catalog; ``""`` for a mask.
    """

    weights: np.ndarray | None
    source: str
    fraction: float = 1.0
    reason: str = ""
    kind: str = ""


def _none(reason: str, kind: str | None = None) -> Mask:
    return Mask(None, "none", 1.0, reason, kind or reason)


def _plausible(weights: np.ndarray, source: str) -> Mask:
    fraction = float(weights.mean()) if weights.size else 0.0
    if fraction < MIN_FOREGROUND:
        return _none(f"{source} foreground {fraction:.1%} < {MIN_FOREGROUND:.0%}", f"{source} foreground < {MIN_FOREGROUND:.0%}")
    if fraction > MAX_FOREGROUND:
        return _none(f"{source} foreground {fraction:.1%} > {MAX_FOREGROUND:.0%}", f"{source} foreground > {MAX_FOREGROUND:.0%}")
    return Mask(weights.astype(np.float32, copy=False), source, fraction)


def alpha_mask(alpha: np.ndarray) -> Mask:
    """The mask of an alpha channel: weights ``alpha / 255``, checked for plausibility.

    Parameters
    ----------
    alpha : ndarray
        uint8 ``(h, w)`` alpha channel (255 = opaque).

    Returns
    -------
    Mask
        Source ``"alpha"``, or ``"none"`` when the share of (weighted)
        foreground is outside [:data:`MIN_FOREGROUND`, :data:`MAX_FOREGROUND`]
        (e.g. a fully opaque alpha).
    """
    alpha = np.asarray(alpha)
    if alpha.ndim != 2:
        raise ValueError(f"alpha must be (h, w), got shape {alpha.shape}")
    return _plausible(alpha.astype(np.float32) / 255.0, "alpha")


def border_mask(image: np.ndarray, *, tolerance: float = BORDER_TOLERANCE) -> Mask:
    """The foreground of an image on a near-uniform background, estimated from its border.

    Parameters
    ----------
    image : ndarray
        uint8 RGB ``(h, w, 3)``.
    tolerance : float, default=BORDER_TOLERANCE
        RGB Euclidean distance (0-255 units) to the background colour (the
        per-channel median of the border band) above which a pixel is
        foreground.

    Returns
    -------
    Mask
        Source ``"border"`` with a binary mask, or ``"none"`` when the border
        is not uniform (fewer than :data:`BORDER_UNIFORM` of its pixels within
        ``tolerance`` of the median) or the foreground share is implausible.
        Failure modes: see the module docstring.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (h, w, 3), got shape {image.shape}")
    h, w = image.shape[:2]
    band = max(1, int(round(BORDER_WIDTH * min(h, w))))
    pixels = image.astype(np.float32)
    ring = np.concatenate([
        pixels[:band].reshape(-1, 3), pixels[-band:].reshape(-1, 3),
        pixels[band:-band, :band].reshape(-1, 3), pixels[band:-band, -band:].reshape(-1, 3),
    ])
    background = np.median(ring, axis=0)
    limit = float(tolerance) ** 2
    uniform = float((np.square(ring - background).sum(axis=1) <= limit).mean())
    if uniform < BORDER_UNIFORM:
        return _none(f"border not uniform ({uniform:.0%} of it within tolerance < {BORDER_UNIFORM:.0%})", "border not uniform")
    distance2 = np.zeros((h, w), dtype=np.float32)
    for channel in range(3):  # per channel: no (h, w, 3) temporaries
        distance2 += np.square(pixels[..., channel] - background[channel])
    weights = (distance2 > limit).astype(np.float32)
    return _plausible(weights, "border")


def saliency_mask(feature_map: np.ndarray, size: int) -> Mask:
    """The mask of the activations' energy: where the deep tap responds more than on average.

    Parameters
    ----------
    feature_map : ndarray
        float ``(h, w, c)``: one image's deep tap.
    size : int
        Side of the returned mask (the network input's).

    Returns
    -------
    Mask
        Source ``"saliency"``: positions whose L2 norm over channels exceeds
        its mean over the map, upsampled (nearest) to ``size`` x ``size``; or
        ``"none"`` when implausible (a flat map has no position above its mean).
    """
    energy = np.sqrt(np.square(np.asarray(feature_map, dtype=np.float32)).sum(axis=-1))
    binary = (energy > energy.mean()).astype(np.float32)
    h, w = binary.shape
    rows = np.minimum((np.arange(size) * h) // size, h - 1)
    cols = np.minimum((np.arange(size) * w) // size, w - 1)
    return _plausible(binary[np.ix_(rows, cols)], "saliency")


def erode_interior(mask: Mask, *, fraction: float = INTERIOR_EROSION) -> Mask:
    """The interior of a mask: binarised at 0.5 and eroded by ``fraction`` of the object's size.

    Parameters
    ----------
    mask : Mask
        A mask of :func:`alpha_mask`, :func:`border_mask` or
        :func:`saliency_mask`; a ``"none"`` mask (no weights) is returned as is.
    fraction : float, default=INTERIOR_EROSION
        Erosion radius as a fraction of the object's size (the square root of
        its binarised foreground pixel count); the radius is
        ``ceil(fraction * size)`` pixels, with a square structuring element and
        the outside of the image counting as background.

    Returns
    -------
    Mask
        Binary float32 weights ``(h, w)`` (1 inside the eroded object), source
        ``"<source>+interior"``; or, when the interior would be smaller than
        ``MIN_FOREGROUND / 4`` of the pixels (a thin object, or a translucent
        alpha with no pixel at or above 0.5), the whole input mask unchanged
        (soft weights kept), source ``"<source>+no-interior"``.
    """
    if mask.weights is None:
        return mask
    binary = mask.weights >= 0.5
    radius = int(np.ceil(fraction * np.sqrt(binary.sum())))
    inner = _erode(binary, radius) if radius > 0 else binary
    if inner.mean() < MIN_FOREGROUND / 4 or not inner.any():
        return Mask(mask.weights, f"{mask.source}+no-interior", mask.fraction)
    return Mask(inner.astype(np.float32), f"{mask.source}+interior", float(inner.mean()))


def _erode(binary: np.ndarray, radius: int) -> np.ndarray:
    """Binary erosion by a (2r+1)-square, outside the image counting as background.

    A pixel stays when every pixel of its window is foreground: the window's
    sum (from an integral image, so the cost does not grow with the radius)
    equals its area.
    """
    k = 2 * radius + 1
    padded = np.pad(binary.astype(np.int32), radius, constant_values=0)
    integral = np.zeros((padded.shape[0] + 1, padded.shape[1] + 1), dtype=np.int32)
    np.cumsum(np.cumsum(padded, axis=0), axis=1, out=integral[1:, 1:])
    h, w = binary.shape
    window = integral[k : k + h, k : k + w] - integral[:h, k : k + w] - integral[k : k + h, :w] + integral[:h, :w]
    return window == k * k


def mask_to_model_input(alpha, *, size: int, resize: str = "stretch") -> np.ndarray:
    """An alpha channel through the same geometry as :func:`attr_utils.images.to_model_input`.

    Parameters
    ----------
    alpha : PIL.Image.Image
        The image's alpha channel, mode ``"L"``, at the decoded image's size.
    size : int
        Side of the network input in pixels.
    resize : {"stretch", "pad", "crop"}, default="stretch"
        The image's resize policy: ``"pad"`` pads to a square with 0 (the
        white padding is background), ``"crop"`` takes the central square,
        ``"stretch"`` neither; then a bilinear resize to ``size``.

    Returns
    -------
    ndarray
        uint8 ``(size, size)``, 255 = opaque.
    """
    from PIL import Image, ImageOps

    if resize == "pad":
        alpha = ImageOps.pad(alpha, (max(alpha.size),) * 2, color=0, method=Image.Resampling.BILINEAR)
    elif resize == "crop":
        side = min(alpha.size)
        left, top = (alpha.width - side) // 2, (alpha.height - side) // 2
        alpha = alpha.crop((left, top, left + side, top + side))
    if alpha.size != (size, size):
        alpha = alpha.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)
    return np.asarray(alpha, dtype=np.uint8)


def image_mask(image: np.ndarray, alpha: np.ndarray | None = None, *, pooling: str = "foreground", mask: str = "auto") -> Mask | None:
    """The decode-time mask of one network input, or None when it is to come from the activations.

    Parameters
    ----------
    image : ndarray
        uint8 RGB ``(size, size, 3)``: the network input.
    alpha : ndarray, optional
        uint8 ``(size, size)``: its alpha channel through the same resize
        (:func:`mask_to_model_input`), when the file has one.
    pooling : {"foreground", "interior"}, default="foreground"
        ``"interior"`` erodes the mask (:func:`erode_interior`).
    mask : {"auto", "alpha", "border", "saliency"}, default="auto"
        Where the mask comes from (see the module docstring).

    Returns
    -------
    Mask or None
        None for ``"saliency"``, and for ``"auto"`` when neither the alpha
        channel nor the border gives a plausible mask: the forward pass then
        computes the saliency mask (:func:`pool_maps`). A blank image (uniform
        border, foreground below :data:`MIN_FOREGROUND`) gets a ``"none"``
        mask (plain average, kind :data:`BLANK_KIND`) with ``"auto"`` and
        ``"saliency"``: the saliency of a blank image is the padding's artefact.
    """
    mask = check_mask_source(mask)
    if mask == "saliency":
        return _blank(border_mask(image))
    found: Mask | None = None
    if mask in ("auto", "alpha"):
        found = alpha_mask(alpha) if alpha is not None else _none("no alpha channel")
    if mask == "border" or (mask == "auto" and found.weights is None):
        found = border_mask(image)
    if found.weights is None and mask == "auto":
        return _blank(found)
    return erode_interior(found) if pooling == "interior" else found


#: :attr:`Mask.kind` of a blank image (uniform border, too little foreground): pooled with the plain average.
BLANK_KIND = f"blank: uniform background, foreground < {MIN_FOREGROUND:.0%}"


def _blank(border: Mask) -> Mask | None:
    """A plain-average mask when ``border`` says the image is blank, else None (the saliency mask is next).

    A uniform border with less than :data:`MIN_FOREGROUND` foreground is an
    all-white (or one-colour) image, a white shirt on white or a 1 x 1 image
    stretched: nothing for the saliency mask to find, whose energy map on such
    images is the padding's artefact (it marks about 45 % of the cells and
    passes the foreground check). Its contrast does not tell them apart: the
    energy's std / mean over the 7 x 7 map of EfficientNet-Lite0's block5 is
    0.33-0.44 on blank images and 0.30 (min), 0.40 (5th percentile) on the
    scene variant's saliency-bound images (measured; see docs/pooling.md), so
    the border test decides.
    """
    if border.weights is None and border.kind == f"border foreground < {MIN_FOREGROUND:.0%}":
        return _none(f"blank: uniform background, {border.reason}; saliency not tried", BLANK_KIND)
    return None


#: The :func:`encode_mask` value that means "no decode-time mask: take the saliency of the activations".
#: Weights are stored in 0..254, so no mask can take it (all-zero is a valid encoding of nothing; it is not a flag).
FROM_ACTIVATIONS = 255


def encode_mask(found: Mask | None, size: int) -> np.ndarray:
    """A mask as the uint8 ``(size, size)`` fourth channel of the network input.

    Parameters
    ----------
    found : Mask or None
        The decode-time mask (:func:`image_mask`); None when it is to come
        from the activations.
    size : int
        Side of the network input.

    Returns
    -------
    ndarray
        uint8 ``(size, size)``: weights stored as ``round(254 * w)`` (0..254);
        a ``"none"`` mask (plain average) is all 254; None is all
        :data:`FROM_ACTIVATIONS` (255), a value no mask takes, so every image
        is resolved (and counted) exactly once.
    """
    if found is None:
        return np.full((size, size), FROM_ACTIVATIONS, dtype=np.uint8)
    if found.weights is None:
        return np.full((size, size), 254, dtype=np.uint8)
    return np.clip(np.rint(found.weights * 254.0), 0, 254).astype(np.uint8)


def decode_mask(channel: np.ndarray) -> np.ndarray | None:
    """Weights float32 ``(size, size)`` in [0, 1] of an :func:`encode_mask` channel; None for "from the activations"."""
    if channel.size and channel.flat[0] == FROM_ACTIVATIONS and (channel == FROM_ACTIVATIONS).all():
        return None
    return channel.astype(np.float32) / 254.0


def _area_matrix(src: int, dst: int) -> np.ndarray:
    """``(dst, src)`` matrix of area interpolation along one axis: each output cell averages the input it covers."""
    edges = np.arange(dst + 1) * (src / dst)
    lo, hi = edges[:-1, None], edges[1:, None]
    cells = np.arange(src)[None, :]
    overlap = np.clip(np.minimum(hi, cells + 1) - np.maximum(lo, cells), 0, None)
    return (overlap / (src / dst)).astype(np.float32)


def area_resize(weights: np.ndarray, height: int, width: int) -> np.ndarray:
    """Area interpolation of masks ``(n, H, W)`` to ``(n, height, width)`` (each cell: the mean it covers).

    A block mean when the sizes divide (the usual 224 -> 112, 56, 28, 14, 7),
    else two matrix products with the exact overlap weights.

    Parameters
    ----------
    weights : array-like
        ``(n, H, W)`` mask weights (converted to float32).
    height, width : int
        Output size (a tap's feature-map size).

    Returns
    -------
    ndarray
        float32 ``(n, height, width)``; each cell the mean of the input it
        covers, so the mask's mean (its mass) is kept.
    """
    weights = np.asarray(weights, dtype=np.float32)
    n, big_h, big_w = weights.shape
    if big_h % height == 0 and big_w % width == 0:
        return weights.reshape(n, height, big_h // height, width, big_w // width).mean(axis=(2, 4), dtype=np.float32)
    rows = _area_matrix(big_h, height)
    cols = _area_matrix(big_w, width)
    return np.matmul(np.matmul(rows, weights), cols.T)


def pool_maps(
    maps: dict[str, np.ndarray],
    channel: np.ndarray | None,
    *,
    pooling: str,
    mask: str = "auto",
    saliency_tap: str | None = None,
    size: int | None = None,
) -> tuple[dict[str, np.ndarray], list[Mask]]:
    """Pool every tap's feature maps with each image's mask (one forward pass, no second one).

    Parameters
    ----------
    maps : dict of str to ndarray
        Tap name -> float32 feature maps ``(n, h, w, c)``.
    channel : ndarray or None
        uint8 ``(n, size, size)``: the :func:`encode_mask` channel of each
        image; None: every image's mask is to come from the activations.
    pooling : {"foreground", "interior"}
        The mask pooling.
    mask : {"auto", "alpha", "border", "saliency"}, default="auto"
        Mask source: an image without a decode-time mask gets the saliency
        mask of ``saliency_tap`` when ``mask`` is ``"auto"`` or
        ``"saliency"``, else the plain average.
    saliency_tap : str, optional
        The tap the saliency mask is read from (default: the last, deepest).
    size : int, optional
        Side of the network input; needed only when ``channel`` is None.

    Returns
    -------
    vectors : dict of str to ndarray
        Tap name -> float32 ``(n, c)``.
    masks : list of Mask
        Per image, the mask resolved from the activations (None entries for
        images whose decode-time mask was used).
    """
    names = list(maps)
    n = len(maps[names[0]])
    deep = maps[saliency_tap or names[-1]]
    if channel is None and size is None:
        raise ValueError("pool_maps needs `size` when no mask channel is given")
    size = channel.shape[1] if channel is not None else size
    weights = np.empty((n, size, size), dtype=np.float32)
    resolved: list[Mask | None] = []
    for i in range(n):
        given = decode_mask(channel[i]) if channel is not None else None
        if given is not None:
            weights[i] = given
            resolved.append(None)
            continue
        found = saliency_mask(deep[i], size) if mask in ("auto", "saliency") else _none(f"no {mask} mask")
        if pooling == "interior":
            found = erode_interior(found)
        weights[i] = 1.0 if found.weights is None else found.weights
        resolved.append(found)
    vectors = {}
    for name in names:
        f = np.asarray(maps[name])
        m = area_resize(weights, f.shape[1], f.shape[2]).astype(np.float64).reshape(n, -1)
        total = m.sum(axis=1)
        out = np.empty((n, f.shape[-1]), dtype=np.float32)
        for i in range(n):  # float64 sums, one image at a time (a batch of float64 maps would be large)
            flat = f[i].reshape(-1, f.shape[-1]).astype(np.float64)
            # an all-zero mask (no weight anywhere) cannot be averaged over: plain average
            out[i] = (m[i] @ flat) / total[i] if total[i] > 0 else flat.mean(axis=0)
        vectors[name] = out
    return vectors, resolved
