"""Garment silhouettes of the synthetic catalog, as flat-lay outlines.

Each garment is an outline polygon in a unit box (x to the right, y down,
both in [-1, 1]), optional *inner* polygons (the inside of a neckline or a
waistband seen from the front, rendered darker) and *seams* (hems, plackets,
the crease between trouser legs) drawn as thin darker lines. Masks are drawn
with Pillow at twice the target size and reduced, which antialiases the
edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["GARMENTS", "Garment", "draw_garment"]


@dataclass(frozen=True)
class Garment:
    """A flat-lay garment outline with its inner parts and seams."""

    name: str
    outline: tuple[tuple[float, float], ...]
    inner: tuple[tuple[tuple[float, float], ...], ...] = field(default_factory=tuple)
    seams: tuple[tuple[tuple[float, float], ...], ...] = field(default_factory=tuple)
    fringe: bool = False


def _arc(cx, cy, rx, ry, a0, a1, n=9):
    t = np.linspace(np.radians(a0), np.radians(a1), n)
    return [(float(cx + rx * np.cos(x)), float(cy + ry * np.sin(x))) for x in t]


_TSHIRT = Garment(
    "t-shirt",
    outline=tuple(
        [(-0.36, -0.86), (-0.16, -0.9)]
        + _arc(0.0, -0.9, 0.16, 0.13, 180, 0)
        + [(0.16, -0.9), (0.36, -0.86), (0.82, -0.56), (0.64, -0.26), (0.44, -0.38), (0.44, 0.92)]
        + [(-0.44, 0.92), (-0.44, -0.38), (-0.64, -0.26), (-0.82, -0.56)]
    ),
    inner=(tuple(_arc(0.0, -0.9, 0.16, 0.13, 180, 0) + _arc(0.0, -0.9, 0.13, 0.05, 0, 180)),),
    seams=(((-0.44, -0.38), (-0.4, -0.78)), ((0.44, -0.38), (0.4, -0.78)), ((-0.44, 0.86), (0.44, 0.86)),
           ((-0.76, -0.48), (-0.62, -0.31)), ((0.76, -0.48), (0.62, -0.31))),
)

_LONGSLEEVE = Garment(
    "sweater",
    outline=tuple(
        [(-0.34, -0.86), (-0.15, -0.9)]
        + _arc(0.0, -0.9, 0.15, 0.1, 180, 0)
        + [(0.15, -0.9), (0.34, -0.86), (0.62, -0.7), (0.9, 0.62), (0.7, 0.68), (0.46, -0.25), (0.44, 0.9)]
        + [(-0.44, 0.9), (-0.46, -0.25), (-0.7, 0.68), (-0.9, 0.62), (-0.62, -0.7)]
    ),
    inner=(tuple(_arc(0.0, -0.9, 0.15, 0.1, 180, 0) + _arc(0.0, -0.9, 0.12, 0.04, 0, 180)),),
    seams=(((-0.44, 0.8), (0.44, 0.8)), ((-0.87, 0.52), (-0.68, 0.58)), ((0.87, 0.52), (0.68, 0.58)),
           ((-0.46, -0.25), (-0.4, -0.8)), ((0.46, -0.25), (0.4, -0.8))),
)

_DRESS = Garment(
    "dress",
    outline=(
        (-0.2, -0.95), (-0.14, -0.95), (-0.1, -0.78), (0.0, -0.72), (0.1, -0.78), (0.14, -0.95), (0.2, -0.95),
        (0.3, -0.6), (0.27, -0.22), (0.4, 0.2), (0.6, 0.8), (0.62, 0.92), (0.3, 0.96), (0.0, 0.97),
        (-0.3, 0.96), (-0.62, 0.92), (-0.6, 0.8), (-0.4, 0.2), (-0.27, -0.22), (-0.3, -0.6),
    ),
    seams=(((-0.27, -0.22), (0.27, -0.22)), ((-0.1, -0.22), (-0.2, 0.9)), ((0.1, -0.22), (0.2, 0.9))),
)

_TROUSERS = Garment(
    "trousers",
    outline=(
        (-0.42, -0.95), (0.42, -0.95), (0.46, -0.6), (0.5, 0.95), (0.1, 0.95), (0.02, -0.3), (-0.02, -0.3),
        (-0.1, 0.95), (-0.5, 0.95), (-0.46, -0.6),
    ),
    inner=(((-0.42, -0.95), (0.42, -0.95), (0.425, -0.87), (-0.425, -0.87)),),
    seams=(((0.0, -0.87), (0.0, -0.5)), ((-0.3, -0.5), (-0.3, 0.95)), ((0.3, -0.5), (0.3, 0.95)),
           ((-0.38, -0.82), (-0.2, -0.62)), ((0.38, -0.82), (0.2, -0.62))),
)

_SKIRT = Garment(
    "skirt",
    outline=tuple(
        [(-0.36, -0.62), (0.36, -0.62), (0.45, -0.2), (0.72, 0.55)]
        + _arc(0.0, 0.45, 0.72, 0.18, 8, 172)
        + [(-0.72, 0.55), (-0.45, -0.2)]
    ),
    inner=(((-0.36, -0.62), (0.36, -0.62), (0.37, -0.53), (-0.37, -0.53)),),
    seams=(((-0.2, -0.53), (-0.38, 0.6)), ((0.2, -0.53), (0.38, 0.6)), ((0.0, -0.53), (0.0, 0.63))),
)

_SOCK = Garment(
    "sock",
    outline=tuple(
        [(-0.3, -0.92), (0.14, -0.92), (0.14, 0.2), (0.5, 0.4)]
        + _arc(0.52, 0.6, 0.2, 0.2, -90, 90)
        + [(0.2, 0.82), (-0.1, 0.8)]
        + _arc(-0.1, 0.5, 0.3, 0.3, 90, 180)
        + [(-0.3, -0.92)]
    ),
    inner=(((-0.3, -0.92), (0.14, -0.92), (0.14, -0.78), (-0.3, -0.78)),),
    seams=(((-0.3, -0.78), (0.14, -0.78)), ((0.5, 0.4), (0.5, 0.8))),
)

_SCARF = Garment(
    "scarf",
    outline=((-0.26, -0.88), (0.26, -0.88), (0.3, 0.0), (0.26, 0.88), (-0.26, 0.88), (-0.22, 0.0)),
    seams=(((-0.25, -0.8), (0.25, -0.8)), ((-0.25, 0.8), (0.25, 0.8))),
    fringe=True,
)

_SHORTS = Garment(
    "shorts",
    outline=(
        (-0.5, -0.55), (0.5, -0.55), (0.58, 0.0), (0.64, 0.5), (0.12, 0.55), (0.02, 0.05), (-0.02, 0.05),
        (-0.12, 0.55), (-0.64, 0.5), (-0.58, 0.0),
    ),
    inner=(((-0.5, -0.55), (0.5, -0.55), (0.51, -0.45), (-0.51, -0.45)),),
    seams=(((0.0, -0.45), (0.0, -0.1)), ((-0.44, -0.4), (-0.25, -0.2)), ((0.44, -0.4), (0.25, -0.2))),
)

#: Garments of the catalog by name.
GARMENTS: dict[str, Garment] = {
    g.name: g for g in (_TSHIRT, _LONGSLEEVE, _DRESS, _TROUSERS, _SKIRT, _SOCK, _SCARF, _SHORTS)
}


def _to_canvas(points, centre, scale, angle, sx=1.0):
    p = np.asarray(points, dtype=np.float64) * np.array([sx, 1.0])
    c, s = np.cos(angle), np.sin(angle)
    x = p[:, 0] * c - p[:, 1] * s
    y = p[:, 0] * s + p[:, 1] * c
    return [tuple(q) for q in np.stack([centre[0] + scale * x, centre[1] + scale * y], axis=1).tolist()]


def draw_garment(garment: Garment, size: int, *, centre, scale, angle, aspect=1.0):
    """Draw a garment's masks at ``size`` pixels.

    Parameters
    ----------
    garment : Garment
        The silhouette.
    size : int
        Canvas side in pixels.
    centre : tuple of float
        Garment centre in canvas pixels.
    scale : float
        Half the garment's height in canvas pixels.
    angle : float
        Rotation in radians.
    aspect : float, default=1.0
        Horizontal stretch of the outline (body shape variety).

    Returns
    -------
    mask, inner, seams : numpy.ndarray
        Float (size, size) coverages in [0, 1].
    """
    big = 2 * size
    cen = (2 * centre[0], 2 * centre[1])
    m_img = Image.new("L", (big, big), 0)
    i_img = Image.new("L", (big, big), 0)
    s_img = Image.new("L", (big, big), 0)
    dm, di, ds = ImageDraw.Draw(m_img), ImageDraw.Draw(i_img), ImageDraw.Draw(s_img)
    dm.polygon(_to_canvas(garment.outline, cen, 2 * scale, angle, aspect), fill=255)
    if garment.fringe:
        for end in (-0.88, 0.88):
            for x in np.linspace(-0.24, 0.24, 11):
                y1 = end + (0.08 if end > 0 else -0.08)
                strand = _to_canvas([(x, end), (x, y1)], cen, 2 * scale, angle, aspect)
                ds.line(strand, fill=255, width=max(1, big // 224))
                dm.line(strand, fill=255, width=max(2, big // 150))
    for poly in garment.inner:
        di.polygon(_to_canvas(poly, cen, 2 * scale, angle, aspect), fill=255)
    width = max(1, round(big / 224))
    for line in garment.seams:
        ds.line(_to_canvas(line, cen, 2 * scale, angle, aspect), fill=255, width=width)
    out = []
    for img in (m_img, i_img, s_img):
        out.append(np.asarray(img.reduce(2), dtype=np.float32) * np.float32(1 / 255))
    out[1] *= out[0]
    out[2] *= out[0]
    return tuple(out)
