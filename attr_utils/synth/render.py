"""Compositing of one synthetic product photo.

:func:`render_item` places a garment silhouette on a light studio background
and prints a pattern on it that follows the garment (its rotation and its
folds), then adds what makes a catalog photo look like one rather than a
test pattern: a lighting gradient, fold ridges (a light and a dark side),
darker edges and seams, a soft drop shadow, a mild blur and sensor noise.
Everything is vectorised numpy plus Pillow filters; one 224-pixel image
takes a few milliseconds.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from attr_utils.errors import ParameterError
from attr_utils.synth.garments import GARMENTS, draw_garment
from attr_utils.synth.palette import COLORS, hsv_to_rgb, rgb_to_hsv, sample_color
from attr_utils.synth.textures import TEXTURES, render_texture

__all__ = ["dress_garment", "photograph", "render_item"]

_DESIGN = 224.0  # pattern sizes are given in pixels of a 224-pixel image


def _blur(arr: np.ndarray, radius: float) -> np.ndarray:
    """Gaussian blur of a [0, 1] map through an 8-bit Pillow image."""
    img = Image.fromarray(np.clip(arr * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    return np.asarray(img.filter(ImageFilter.GaussianBlur(radius)), dtype=np.float32) * np.float32(1 / 255)


# Direction of the primary ink per family, chosen so that the ink stays in the
# family where the family allows it (a darker red is still red, a lighter
# orange is still orange, a darker orange would be brown).
_INK_DIRECTION = {
    "red": "dark",
    "orange": "light",
    "yellow": "dark",
    "green": "either",
    "blue": "either",
    "purple": "either",
    "pink": "light",
    "gray": "light",
    "black": "light",
    "brown": "either",
}


def _inks(base: np.ndarray, color: str, texture: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """The primary ink (a shade of the base), an accent ink and the ink strength."""
    h, s, v = rgb_to_hsv(base)
    sat_up = min(1.0, s * 1.08 + 0.05) if s > 0.2 else s
    direction = _INK_DIRECTION[color]
    f_dark = rng.uniform(0.45, 0.6)
    if direction == "either":
        direction = "dark" if (v * f_dark >= 0.25 and rng.random() < 0.6) else "light"
    if direction == "dark":
        ink_a = hsv_to_rgb(np.array([h, sat_up, v * f_dark]))
    else:
        f = rng.uniform(0.25, 0.35) if color == "black" else rng.uniform(0.4, 0.55)
        ink_a = base + (1.0 - base) * f
    # black and brown have no in-family contrast: a lighter black is gray, a
    # lighter brown orange, a darker brown black; keep their ink softer
    gain = 0.72 if color in ("black", "brown") else 1.0
    r = rng.random()
    if r < 0.4:
        ink_b = np.array([0.96, 0.95, 0.92])  # off-white
    elif r < 0.6 and v > 0.3:
        ink_b = np.array([0.1, 0.09, 0.09])  # near-black
    elif r < 0.85:
        hue = (h + rng.choice([150.0, 180.0, 210.0])) % 360.0  # complementary accent
        ink_b = hsv_to_rgb(np.array([hue, 0.65, 0.9]))
    else:
        ink_b = np.array([0.93, 0.78, 0.25])  # gold
    if texture == "leopard":  # tinted centres, rosettes in a very dark shade (light on black)
        if v > 0.3:
            ink_a = hsv_to_rgb(np.array([h, sat_up, v * 0.78]))
            ink_b = hsv_to_rgb(np.array([h, sat_up, v * 0.22]))
        else:
            ink_b = base + (1.0 - base) * 0.5
    return ink_a, ink_b, gain


def dress_garment(
    color: str,
    texture: str,
    mask: np.ndarray,
    inner: np.ndarray,
    seams: np.ndarray,
    *,
    centre: tuple[float, float],
    half: float,
    angle: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """The garment's lit, printed pixels (before compositing) for masks drawn by :func:`draw_garment`.

    Shared by the studio photo (:func:`render_item`) and the harder scene
    variant (:mod:`attr_utils.synth.scene`); draws from ``rng`` in a fixed
    order (print zoom, folds, pattern, colour, inks, lighting), so the studio
    catalog's bytes do not depend on which caller uses it.

    Returns
    -------
    numpy.ndarray of shape (size, size, 3), dtype float32
        Linear-ish RGB in [0, 1] (values outside the mask are meaningless).
    """
    size = mask.shape[0]
    unit = size / _DESIGN
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + np.float32(0.5)
    cx, cy = centre

    # fabric coordinates: rotate with the garment, in design pixels
    zoom = rng.uniform(0.85, 1.15)
    c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    dx, dy = xx - cx, yy - cy
    k = np.float32(1.0 / (unit * zoom))
    u = (dx * c + dy * s) * k
    v = (-dx * s + dy * c) * k

    # folds: mostly lengthwise ridges that shade (light/dark side) and pull the print
    shade = np.ones_like(u)
    du = np.zeros_like(u)
    span = half / (unit * zoom)
    for _ in range(int(rng.integers(2, 5))):
        alpha = rng.uniform(-0.35, 0.35)
        pos = rng.uniform(-0.6, 0.6) * span
        width = rng.uniform(5.0, 14.0)
        t = (u * np.float32(np.cos(alpha)) + v * np.float32(np.sin(alpha)) - np.float32(pos)) * np.float32(1.0 / width)
        g = np.exp(np.float32(-0.5) * t * t)
        shade += np.float32(rng.uniform(0.05, 0.12) * -1.6) * t * g
        du += np.float32(rng.uniform(-2.5, 2.5)) * g
    u = u + du

    layers = render_texture(texture, u, v, rng)
    base = sample_color(color, rng).astype(np.float32)
    ink_a, ink_b, gain = _inks(base, color, texture, rng)
    ink_a, ink_b = ink_a.astype(np.float32), ink_b.astype(np.float32)
    a = layers.a[..., None] * np.float32(gain)
    b = layers.b[..., None]
    fabric = base * (1.0 - a) + ink_a * a
    fabric = fabric * (1.0 - b) + ink_b * b
    fabric = fabric * layers.m[..., None]

    # lighting gradient across the garment, darker edges, inner parts, seams
    theta = rng.uniform(0, 2 * np.pi)
    along = (xx - cx) * np.float32(np.cos(theta)) + (yy - cy) * np.float32(np.sin(theta))
    light = 1.0 + np.float32(rng.uniform(0.12, 0.25) / size) * along
    edge = _blur(mask, 4.0 * unit)
    shade = shade * light * (0.82 + 0.18 * np.clip(edge * 1.6, 0.0, 1.0))
    shade = shade * (1.0 - 0.35 * inner) * (1.0 - 0.22 * seams)
    garment_rgb = fabric * shade[..., None]
    return garment_rgb


def render_item(color: str, texture: str, garment: str, *, size: int = 224, rng: np.random.Generator) -> np.ndarray:
    """Render one product photo.

    Parameters
    ----------
    color : str
        Colour family (see :data:`attr_utils.synth.palette.COLORS`).
    texture : str
        Texture class (see :data:`attr_utils.synth.textures.TEXTURES`).
    garment : str
        Garment name (see :data:`attr_utils.synth.garments.GARMENTS`).
    size : int, default=224
        Side of the square image in pixels.
    rng : numpy.random.Generator
        The only source of randomness; the same state gives the same pixels.

    Returns
    -------
    numpy.ndarray of shape (size, size, 3), dtype uint8
    """
    if color not in COLORS:
        raise ParameterError(f"unknown colour {color!r}; expected one of {', '.join(COLORS)}")
    if texture not in TEXTURES:
        raise ParameterError(f"unknown texture {texture!r}; expected one of {', '.join(TEXTURES)}")
    if garment not in GARMENTS:
        raise ParameterError(f"unknown garment {garment!r}; expected one of {', '.join(GARMENTS)}")
    unit = size / _DESIGN
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + np.float32(0.5)

    # studio background: near white, slightly tinted, a soft sweep gradient
    bg_hsv = np.array([rng.uniform(0, 360), rng.uniform(0.0, 0.05), rng.uniform(0.88, 0.97)])
    bg = hsv_to_rgb(bg_hsv)
    sweep = 1.0 + rng.uniform(-0.06, 0.02) * (yy / size - 0.5) * 2.0
    background = bg.astype(np.float32)[None, None, :] * sweep[..., None]

    # garment placement with rotation / scale / position jitter
    half = size * rng.uniform(0.36, 0.42)
    aspect = rng.uniform(0.9, 1.1)
    angle = np.radians(rng.uniform(-8.0, 8.0))
    cx = size / 2 + rng.uniform(-0.05, 0.05) * size
    cy = size / 2 + rng.uniform(-0.04, 0.04) * size
    mask, inner, seams = draw_garment(GARMENTS[garment], size, centre=(cx, cy), scale=half, angle=angle, aspect=aspect)

    garment_rgb = dress_garment(color, texture, mask, inner, seams, centre=(cx, cy), half=half, angle=angle, rng=rng)

    return photograph(background, garment_rgb, mask, unit=unit, rng=rng, shadow=(0.18, 0.3))


def photograph(
    background: np.ndarray,
    garment_rgb: np.ndarray,
    mask: np.ndarray,
    *,
    unit: float,
    rng: np.random.Generator,
    shadow: tuple[float, float],
) -> np.ndarray:
    """Composite a dressed garment over its background as a photo: drop shadow, lens blur, sensor noise.

    Shared by the studio catalog (:func:`render_item`) and the scene variant
    (:func:`attr_utils.synth.scene.render_scene`), so both photograph alike.

    Parameters
    ----------
    background, garment_rgb : numpy.ndarray of shape (size, size, 3), dtype float32
        Background and garment colours in [0, 1].
    mask : numpy.ndarray of shape (size, size), dtype float32
        The garment's coverage in [0, 1].
    unit : float
        Pixels per 224th of the image side (blur radii and shadow offsets scale with it).
    rng : numpy.random.Generator
        The only source of randomness; draws in a fixed order (shadow offset,
        shadow strength, blur radius, noise), so the same state gives the same bytes.
    shadow : (float, float)
        Range of the drop shadow's strength (fraction of the background's brightness removed).

    Returns
    -------
    numpy.ndarray of shape (size, size, 3), dtype uint8
    """
    size = mask.shape[0]
    soft = _blur(mask, 6.0 * unit)
    sx, sy = int(round(rng.uniform(2, 6) * unit)), int(round(rng.uniform(3, 8) * unit))
    soft = np.roll(np.roll(soft, sy, axis=0), sx, axis=1)
    background = background * (1.0 - rng.uniform(*shadow) * soft)[..., None]

    m = mask[..., None]
    rgb = background + (garment_rgb - background) * m
    img = Image.fromarray(np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8), "RGB")
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.7) * unit))
    sigma = np.float32(rng.uniform(1.5, 3.5))
    noisy = np.asarray(img, dtype=np.float32)
    noisy += sigma * rng.standard_normal((size, size, 1), dtype=np.float32)
    noisy += np.float32(0.8) * rng.standard_normal((size, size, 3), dtype=np.float32)
    return np.clip(noisy + np.float32(0.5), 0, 255).astype(np.uint8)
