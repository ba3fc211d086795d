"""Colour families of the synthetic catalog: how they are sampled and recognised.

The paper's ten colour classes are *families*, not single RGB values: a red
garment may be scarlet or crimson, a blue one sky or navy. Each family is a
box in HSV space (hue in degrees, saturation and value in [0, 1]) from which a
garment's base colour is drawn, and :func:`color_family` maps any HSV colour
back to a family with a few documented rules. The generator draws base colours
well inside the boxes so that lighting, folds and noise do not push the
garment across a family border.

======  ================  ==============  ==============
family  hue (degrees)     saturation      value
======  ================  ==============  ==============
red     352 .. 6          0.70 .. 0.92    0.55 .. 0.85
orange  22 .. 32          0.80 .. 1.00    0.88 .. 1.00
yellow  48 .. 56          0.70 .. 0.95    0.88 .. 1.00
green   95 .. 150         0.50 .. 0.85    0.35 .. 0.70
blue    205 .. 228        0.60 .. 0.90    0.40 .. 0.85
purple  272 .. 295        0.45 .. 0.75    0.35 .. 0.65
pink    335 .. 355        0.28 .. 0.50    0.90 .. 1.00
brown   20 .. 32          0.50 .. 0.75    0.28 .. 0.45
black   any               0.00 .. 0.15    0.07 .. 0.15
gray    any               0.00 .. 0.06    0.38 .. 0.65
======  ================  ==============  ==============

Recognition rules (:func:`color_family`), applied in this order:

1. value < 0.22 -> black;
2. saturation < 0.18 -> black if value < 0.30, gray if value < 0.82, else
   none (white / background);
3. hue in [300, 360) or [0, 20), saturation < 0.60 and value >= 0.70 -> pink;
4. hue in [340, 360) or [0, 15) -> red;
5. hue in [15, 45) -> brown if value < 0.60, else orange;
6. hue in [45, 70) -> yellow; [70, 170) -> green; [170, 255) -> blue;
   [255, 340) -> purple.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attr_utils.errors import ParameterError

__all__ = [
    "COLORS",
    "FAMILIES",
    "ColorFamily",
    "color_family",
    "color_families",
    "dominant_family",
    "hsv_to_rgb",
    "rgb_to_hsv",
    "sample_color",
]


@dataclass(frozen=True)
class ColorFamily:
    """An HSV box from which a family's base colours are drawn.

    Parameters
    ----------
    name : str
        The family name (a label of the catalog).
    hue : tuple of float or None
        Hue range in degrees; ``lo > hi`` wraps through 0 (red). ``None``
        means any hue (achromatic families).
    sat, val : tuple of float
        Saturation and value ranges in [0, 1].
    """

    name: str
    hue: tuple[float, float] | None
    sat: tuple[float, float]
    val: tuple[float, float]


FAMILIES: dict[str, ColorFamily] = {
    f.name: f
    for f in (
        ColorFamily("red", (352.0, 6.0), (0.70, 0.92), (0.55, 0.85)),
        ColorFamily("black", None, (0.00, 0.15), (0.07, 0.15)),
        ColorFamily("blue", (205.0, 228.0), (0.60, 0.90), (0.40, 0.85)),
        ColorFamily("green", (95.0, 150.0), (0.50, 0.85), (0.35, 0.70)),
        ColorFamily("yellow", (48.0, 56.0), (0.70, 0.95), (0.88, 1.00)),
        ColorFamily("gray", None, (0.00, 0.06), (0.38, 0.65)),
        ColorFamily("brown", (20.0, 32.0), (0.50, 0.75), (0.28, 0.45)),
        ColorFamily("pink", (335.0, 355.0), (0.28, 0.50), (0.90, 1.00)),
        ColorFamily("purple", (272.0, 295.0), (0.45, 0.75), (0.35, 0.65)),
        ColorFamily("orange", (22.0, 32.0), (0.80, 1.00), (0.88, 1.00)),
    )
}

#: The paper's ten colour classes, in the order the issue lists them.
COLORS: tuple[str, ...] = tuple(FAMILIES)


def sample_color(family: str, rng: np.random.Generator) -> np.ndarray:
    """Draw a base colour of ``family`` as an RGB float array in [0, 1].

    Parameters
    ----------
    family : str
        One of :data:`COLORS`.
    rng : numpy.random.Generator
        Source of randomness (hue, saturation and value jitter).

    Returns
    -------
    numpy.ndarray of shape (3,)
    """
    if family not in FAMILIES:
        raise ParameterError(f"unknown colour family {family!r}; expected one of {', '.join(COLORS)}")
    fam = FAMILIES[family]
    if fam.hue is None:
        h = rng.uniform(0.0, 360.0)
    else:
        lo, hi = fam.hue
        span = (hi - lo) % 360.0
        h = (lo + rng.uniform(0.0, span)) % 360.0
    s = rng.uniform(*fam.sat)
    v = rng.uniform(*fam.val)
    return hsv_to_rgb(np.array([h, s, v]))


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """Convert RGB in [0, 1] (last axis) to HSV with hue in degrees."""
    rgb = np.asarray(rgb, dtype=np.float64)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    mx = rgb.max(axis=-1)
    mn = rgb.min(axis=-1)
    d = mx - mn
    safe = np.where(d > 0, d, 1.0)
    h = np.where(
        mx == r,
        ((g - b) / safe) % 6.0,
        np.where(mx == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0),
    )
    h = np.where(d > 0, h * 60.0, 0.0)
    s = np.where(mx > 0, d / np.where(mx > 0, mx, 1.0), 0.0)
    return np.stack([h, s, mx], axis=-1)


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """Convert HSV (hue in degrees, s and v in [0, 1]) to RGB in [0, 1]."""
    hsv = np.asarray(hsv, dtype=np.float64)
    h = (hsv[..., 0] % 360.0) / 60.0
    s, v = hsv[..., 1], hsv[..., 2]
    c = v * s
    x = c * (1.0 - np.abs(h % 2.0 - 1.0))
    z = np.zeros_like(h)
    sector = np.floor(h).astype(int) % 6
    rgb = np.select(
        [sector[..., None] == i for i in range(6)],
        [
            np.stack(t, axis=-1)
            for t in ((c, x, z), (x, c, z), (z, c, x), (z, x, c), (x, z, c), (c, z, x))
        ],
    )
    return rgb + (v - c)[..., None]


def color_families(hsv: np.ndarray) -> np.ndarray:
    """Map HSV colours (last axis) to family indices; -1 means no family.

    Vectorised form of :func:`color_family`; the index refers to
    :data:`COLORS`.
    """
    hsv = np.asarray(hsv, dtype=np.float64)
    h, s, v = hsv[..., 0] % 360.0, hsv[..., 1], hsv[..., 2]
    idx = {name: i for i, name in enumerate(COLORS)}
    out = np.full(h.shape, -1, dtype=np.int64)
    decided = np.zeros(h.shape, dtype=bool)

    def assign(cond, name):
        nonlocal decided
        take = cond & ~decided
        out[take] = idx[name] if name is not None else -1
        decided |= take

    assign(v < 0.22, "black")
    low = s < 0.18
    assign(low & (v < 0.30), "black")
    assign(low & (v < 0.82), "gray")
    assign(low, None)
    assign(((h >= 300) | (h < 20)) & (s < 0.60) & (v >= 0.70), "pink")
    assign((h >= 340) | (h < 15), "red")
    assign((h < 45) & (v < 0.60), "brown")
    assign(h < 45, "orange")
    assign(h < 70, "yellow")
    assign(h < 170, "green")
    assign(h < 255, "blue")
    assign(h < 340, "purple")
    return out


def color_family(hsv) -> str | None:
    """The colour family of one HSV colour (hue in degrees), or ``None``.

    Examples
    --------
    >>> color_family((220.0, 0.8, 0.4))
    'blue'
    >>> color_family((0.0, 0.0, 0.5))
    'gray'
    """
    i = int(color_families(np.asarray(hsv, dtype=np.float64)))
    return COLORS[i] if i >= 0 else None


def dominant_family(rgb_pixels: np.ndarray) -> tuple[str | None, float]:
    """The most frequent colour family among RGB pixels and its share.

    Parameters
    ----------
    rgb_pixels : numpy.ndarray of shape (n, 3)
        RGB values, uint8 (0..255) or float (0..1).

    Returns
    -------
    family : str or None
        ``None`` when no pixel belongs to a family.
    share : float
        Fraction of the pixels in that family.
    """
    px = np.asarray(rgb_pixels)
    if px.dtype == np.uint8:
        px = px.astype(np.float64) / 255.0
    fam = color_families(rgb_to_hsv(px.reshape(-1, 3)))
    fam = fam[fam >= 0]
    if fam.size == 0:
        return None, 0.0
    counts = np.bincount(fam, minlength=len(COLORS))
    best = int(np.argmax(counts))
    return COLORS[best], float(counts[best] / max(1, px.reshape(-1, 3).shape[0]))
