"""The harder "scene" variant: the same garments, off-centre, small or large, in a styled scene.

The studio catalog (:func:`attr_utils.synth.render.render_item`) shows one
garment, centred and large, on a near-white background: the easy case for
global average pooling. :func:`render_scene` draws the same labelled garment
(same colour families, prints, folds and lighting through
:func:`attr_utils.synth.render.dress_garment`) into a scene that mixes other
colours and patterns into the picture:

- a **background** that is either a saturated flat colour with a lighting
  gradient (``"colour"``) or a printed wall / fabric in two random colours
  (``"textured"``: one of the nine patterned textures of the catalog, drawn
  independently of the garment's);
- a skin-tone **model** (head, neck, arms and legs around the garment) in
  about 70 % of the images, behind the garment;
- one to three **props** (a bag, a box, a plate or a pot) in random colours,
  behind the garment;
- the garment **off-centre and at several scales** (half-height 20 % to 38 %
  of the image side, rotated up to 15 degrees), with its drop shadow.

The labels stay the garment's: ``color``, ``texture`` and ``garment``. Every
random choice comes from the one ``rng``, so the same stream gives the same
pixels.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from attr_utils.errors import ParameterError
from attr_utils.synth.garments import GARMENTS, draw_garment
from attr_utils.synth.palette import COLORS, hsv_to_rgb
from attr_utils.synth.render import dress_garment, photograph
from attr_utils.synth.textures import TEXTURES, render_texture

__all__ = ["SCENE_BACKGROUNDS", "render_scene"]

#: Background kinds of the scene variant.
SCENE_BACKGROUNDS = ("colour", "textured")

_PATTERNED = tuple(t for t in TEXTURES if t != "basic")


def _mask_image(size: int, draw) -> np.ndarray:
    """A [0, 1] coverage drawn at twice ``size`` with ``draw(ImageDraw, scale=2)`` and reduced (antialiased)."""
    img = Image.new("L", (2 * size, 2 * size), 0)
    draw(ImageDraw.Draw(img), 2)
    return np.asarray(img.reduce(2), dtype=np.float32) * np.float32(1 / 255)


def _random_colour(rng: np.random.Generator, *, s=(0.35, 0.9), v=(0.3, 0.95)) -> np.ndarray:
    return hsv_to_rgb(np.array([rng.uniform(0, 360), rng.uniform(*s), rng.uniform(*v)])).astype(np.float32)


def _background(size: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + np.float32(0.5)
    kind = SCENE_BACKGROUNDS[int(rng.integers(0, len(SCENE_BACKGROUNDS)))]
    first = _random_colour(rng)
    if kind == "colour":
        rgb = np.broadcast_to(first[None, None, :], (size, size, 3)).astype(np.float32)
    else:
        second = _random_colour(rng)
        zoom = rng.uniform(0.7, 1.6)
        ang = rng.uniform(0, np.pi)
        k = np.float32(224.0 / size / zoom)
        c, s = np.float32(np.cos(ang)), np.float32(np.sin(ang))
        u = (xx * c + yy * s) * k
        v = (-xx * s + yy * c) * k
        layers = render_texture(_PATTERNED[int(rng.integers(0, len(_PATTERNED)))], u, v, rng)
        a = layers.a[..., None]
        b = layers.b[..., None] * np.float32(0.5)
        rgb = first * (1.0 - a) + second * a
        rgb = rgb * (1.0 - b) + np.float32(0.95) * b
    theta = rng.uniform(0, 2 * np.pi)
    along = ((xx - size / 2) * np.float32(np.cos(theta)) + (yy - size / 2) * np.float32(np.sin(theta))) / size
    light = 1.0 + np.float32(rng.uniform(0.15, 0.35)) * along
    return rgb * light[..., None], kind


def _skin(rng: np.random.Generator) -> np.ndarray:
    # light to deep skin tones: warm hue, moderate saturation, wide value range
    return hsv_to_rgb(np.array([rng.uniform(14, 32), rng.uniform(0.25, 0.6), rng.uniform(0.3, 0.95)])).astype(np.float32)


def _model_mask(size: int, cx: float, cy: float, half: float, angle: float) -> np.ndarray:
    """Head, neck, arms and legs of a stylised model around a garment centred at (cx, cy)."""
    c, s = np.cos(angle), np.sin(angle)

    def pt(x, y, k):  # garment-box coordinates (unit = half) to canvas (scaled by k)
        return (k * (cx + half * (x * c - y * s)), k * (cy + half * (x * s + y * c)))

    def draw(d, k):
        hx, hy = pt(0.0, -1.32, k)
        r = k * half * 0.24
        d.ellipse((hx - r * 0.82, hy - r, hx + r * 0.82, hy + r), fill=255)
        d.polygon([pt(-0.09, -1.15, k), pt(0.09, -1.15, k), pt(0.11, -0.8, k), pt(-0.11, -0.8, k)], fill=255)
        for side in (-1.0, 1.0):
            d.polygon([pt(side * 0.45, -0.75, k), pt(side * 0.62, -0.78, k), pt(side * 0.98, 0.55, k),
                       pt(side * 0.86, 0.6, k)], fill=255)
            d.polygon([pt(side * 0.08, 0.8, k), pt(side * 0.34, 0.8, k), pt(side * 0.3, 2.4, k),
                       pt(side * 0.12, 2.4, k)], fill=255)

    return _mask_image(size, draw)


def _props(size: int, rng: np.random.Generator, background: np.ndarray) -> tuple[np.ndarray, int]:
    n = int(rng.integers(1, 4))
    for _ in range(n):
        kind = int(rng.integers(0, 4))
        colour = _random_colour(rng, s=(0.2, 0.95), v=(0.2, 0.98))
        w = rng.uniform(0.12, 0.3) * size
        h = w * rng.uniform(0.6, 1.4)
        x0 = rng.uniform(-0.05, 0.95) * size - w / 2
        y0 = rng.uniform(-0.05, 0.95) * size - h / 2

        def draw(d, k, kind=kind, x0=x0, y0=y0, w=w, h=h):
            box = (k * x0, k * y0, k * (x0 + w), k * (y0 + h))
            if kind == 0:  # bag: body and handle
                d.rectangle((box[0], box[1] + (box[3] - box[1]) * 0.3, box[2], box[3]), fill=255)
                d.arc((box[0] + (box[2] - box[0]) * 0.25, box[1], box[2] - (box[2] - box[0]) * 0.25,
                       box[1] + (box[3] - box[1]) * 0.6), 180, 360, fill=255, width=max(2, int(k * w * 0.06)))
            elif kind == 1:  # box
                d.rectangle(box, fill=255)
            elif kind == 2:  # plate
                d.ellipse(box, fill=255)
            else:  # pot: trapezoid
                d.polygon([(box[0], box[1]), (box[2], box[1]), (box[2] - (box[2] - box[0]) * 0.15, box[3]),
                           (box[0] + (box[2] - box[0]) * 0.15, box[3])], fill=255)

        m = _mask_image(size, draw)[..., None]
        shade = np.float32(rng.uniform(0.85, 1.0))
        background = background * (1.0 - m) + colour * shade * m
    return background, n


def render_scene(
    color: str, texture: str, garment: str, *, size: int = 224, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Render one garment in a styled scene (the harder variant of the synthetic catalog).

    Parameters
    ----------
    color : str
        Colour family of the garment (see :data:`attr_utils.synth.palette.COLORS`).
    texture : str
        Texture class of the garment (see :data:`attr_utils.synth.textures.TEXTURES`).
    garment : str
        Garment name (see :data:`attr_utils.synth.garments.GARMENTS`).
    size : int, default=224
        Side of the square image in pixels.
    rng : numpy.random.Generator
        The only source of randomness; the same state gives the same pixels.

    Returns
    -------
    image : numpy.ndarray of shape (size, size, 3), dtype uint8
        The photo.
    mask : numpy.ndarray of shape (size, size), dtype float32
        The garment's coverage in [0, 1] (ground truth for foreground masks).
    info : dict
        ``background`` (``"colour"`` or ``"textured"``), ``model`` (bool),
        ``props`` (int), ``scale`` (garment half-height / image side),
        ``offset_x`` and ``offset_y`` (garment centre minus image centre, in
        image sides) and ``garment_fraction`` (share of the image the garment
        covers).

    Raises
    ------
    ParameterError
        An unknown colour, texture or garment name.
    """
    if color not in COLORS:
        raise ParameterError(f"unknown colour {color!r}; expected one of {', '.join(COLORS)}")
    if texture not in TEXTURES:
        raise ParameterError(f"unknown texture {texture!r}; expected one of {', '.join(TEXTURES)}")
    if garment not in GARMENTS:
        raise ParameterError(f"unknown garment {garment!r}; expected one of {', '.join(GARMENTS)}")
    unit = size / 224.0
    background, kind = _background(size, rng)
    background, n_props = _props(size, rng, background)

    # garment placement: several scales, off-centre, kept (mostly) inside the frame
    half = size * rng.uniform(0.2, 0.38)
    aspect = rng.uniform(0.9, 1.1)
    angle = np.radians(rng.uniform(-15.0, 15.0))
    margin = half * 0.75
    cx = rng.uniform(margin, size - margin)
    cy = rng.uniform(half * 0.9, size - half * 0.9)

    has_model = bool(rng.random() < 0.7)
    if has_model:
        body = _model_mask(size, cx, cy, half, angle)[..., None]
        background = background * (1.0 - body) + _skin(rng) * body

    mask, inner, seams = draw_garment(GARMENTS[garment], size, centre=(cx, cy), scale=half, angle=angle, aspect=aspect)
    garment_rgb = dress_garment(color, texture, mask, inner, seams, centre=(cx, cy), half=half, angle=angle, rng=rng)

    image = photograph(background, garment_rgb, mask, unit=unit, rng=rng, shadow=(0.2, 0.35))
    info = {
        "background": kind,
        "model": has_model,
        "props": n_props,
        "scale": round(float(half / size), 4),
        "offset_x": round(float(cx / size - 0.5), 4),
        "offset_y": round(float(cy / size - 0.5), 4),
        "garment_fraction": round(float(mask.mean()), 4),
    }
    return image, mask, info
