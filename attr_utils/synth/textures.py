"""Pattern generators for the ten texture classes of the synthetic catalog.

A pattern is a function of the garment's own fabric coordinates ``(u, v)``
(pixels of a 224-pixel design, already rotated with the garment and displaced
by its folds), so the print follows the garment. Each generator returns
:class:`Layers`: the coverage of a primary ink ``a``, of a secondary (accent)
ink ``b`` and a multiplicative sheen ``m``; :mod:`attr_utils.synth.render`
turns them into colours.

Regular weaves and prints (stripes, checks, polka dots, argyle, houndstooth,
sequins) are computed analytically from ``(u, v)``; free prints (flowers,
leopard, paisley) are drawn once per image on a periodic tile with Pillow and
sampled with wrap-around, so no seam shows. Every generator keeps its primary
ink below about 45 % of the fabric so that the labelled colour dominates.

=============  ===========================================================
texture        what it looks like
=============  ===========================================================
squared        gingham or tartan checks: crossing bands and thin overchecks
striped        parallel bands (breton or pinstripe), optional accent stripe
flowers        scattered five/six-petal flowers with accent centres
leopard        packed irregular rosettes: tawny centres in dark rims broken into
               2-5 tapering pieces; small irregular solid spots between them
polka          round dots on a staggered lattice
basic          plain fabric (only the weave grain)
paisley        curled teardrops (boteh): concentric outlines, an inner teardrop,
               dots along the edge; small boteh between the large ones
argyle         alternating diamonds with thin diagonal overcheck lines
crows_feet     houndstooth: 2/2 twill of dark and light thread blocks
sequin         dense small discs with per-disc sheen and sparkles
=============  ===========================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

from attr_utils.errors import ParameterError

__all__ = ["TEXTURES", "TEXTURE_ALIASES", "Layers", "render_texture"]

#: The paper's ten texture classes (catalog labels), in the issue's order.
TEXTURES: tuple[str, ...] = (
    "squared",
    "striped",
    "flowers",
    "leopard",
    "polka",
    "basic",
    "paisley",
    "argyle",
    "crows_feet",
    "sequin",
)

#: Common names of the classes, for documentation and user mappings.
TEXTURE_ALIASES: dict[str, str] = {
    "checks": "squared",
    "plaid": "squared",
    "gingham": "squared",
    "tartan": "squared",
    "stripes": "striped",
    "floral": "flowers",
    "polka_dots": "polka",
    "dots": "polka",
    "plain": "basic",
    "solid": "basic",
    "houndstooth": "crows_feet",
    "sequins": "sequin",
}


@dataclass
class Layers:
    """Ink coverages and sheen of a pattern, each an (H, W) float array."""

    a: np.ndarray
    b: np.ndarray
    m: np.ndarray


def _band(t: np.ndarray, period: float, duty: float, phase: float = 0.0) -> np.ndarray:
    """Antialiased periodic band of width ``duty * period`` (coverage 0..1)."""
    d = np.abs(((t / period + phase) % 1.0) - 0.5) * period
    return np.clip(duty * period / 2.0 - d + 0.5, 0.0, 1.0)


def _hash01(i: np.ndarray, j: np.ndarray, salt: int) -> np.ndarray:
    """Deterministic pseudo-random value in [0, 1) per integer lattice cell."""
    x = (i.astype(np.int64) * 73856093) ^ (j.astype(np.int64) * 19349663) ^ np.int64(salt)
    x = (x ^ (x >> 13)) * 1274126177
    x = x ^ (x >> 16)
    return (x & 0xFFFF).astype(np.float64) / 65536.0


def _zeros(u):
    return np.zeros_like(u)


def _basic(u, v, rng):
    return Layers(_zeros(u), _zeros(u), np.ones_like(u))


def _striped(u, v, rng):
    t = v if rng.random() < 0.6 else u
    if rng.random() < 0.25:  # pinstripe
        period, duty = rng.uniform(7.0, 10.0), rng.uniform(0.18, 0.26)
    else:  # breton / rugby
        period, duty = rng.uniform(11.0, 19.0), rng.uniform(0.30, 0.42)
    phase = rng.random()
    a = _band(t, period, duty, phase)
    b = _zeros(u)
    if rng.random() < 0.4:  # thin accent stripe between the bands
        b = _band(t, period, min(0.12, 1.6 / period), phase + 0.5)
    return Layers(a, b, np.ones_like(u))


def _squared(u, v, rng):
    phase_u, phase_v = rng.random(), rng.random()
    if rng.random() < 0.5:  # gingham: equal crossing bands, half-tone where single
        period = rng.uniform(10.0, 18.0)
        bu = _band(u, period, 0.45, phase_u)
        bv = _band(v, period, 0.45, phase_v)
        a = 0.5 * bu + 0.5 * bv
        b = _zeros(u)
    else:  # tartan: wide bands and thin overcheck lines in the accent ink
        period = rng.uniform(20.0, 30.0)
        bu = _band(u, period, 0.32, phase_u)
        bv = _band(v, period, 0.32, phase_v)
        a = 0.55 * bu + 0.55 * bv - 0.25 * bu * bv
        b = np.maximum(_band(u, period, 1.4 / period, phase_u + 0.5), _band(v, period, 1.4 / period, phase_v + 0.5))
    return Layers(a, b, np.ones_like(u))


def _polka(u, v, rng):
    period = rng.uniform(12.0, 20.0)
    radius = period * rng.uniform(0.20, 0.28)
    row = np.floor(v / period)
    shift = (row % 2) * 0.5 * period
    du = ((u + shift) % period) - period / 2.0
    dv = (v % period) - period / 2.0
    d = np.sqrt(du * du + dv * dv)
    a = np.clip(radius - d + 0.5, 0.0, 1.0)
    return Layers(a, _zeros(u), np.ones_like(u))


def _sequin(u, v, rng):
    period = rng.uniform(4.5, 6.0)
    salt = int(rng.integers(1 << 30))
    row = np.floor(v / (period * 0.866))
    shift = (row % 2) * 0.5 * period
    col = np.floor((u + shift) / period)
    du = ((u + shift) % period) - period / 2.0
    dv = (v % (period * 0.866)) - period * 0.433
    d = np.sqrt(du * du + dv * dv) / (period * 0.5)
    r = _hash01(col, row, salt)
    # each disc tilts differently: a sheen between 0.78 and 1.22, domed
    m = 0.78 + 0.44 * r - 0.12 * np.clip(d, 0.0, 1.0) ** 2
    # the gaps between discs are darker
    m = m * np.where(d > 1.0, 0.82, 1.0)
    # a few discs catch the light: a small bright highlight
    spark = (r > 0.86).astype(np.float64)
    hx, hy = du + period * 0.15, dv + period * 0.15
    b = spark * np.clip(1.0 - np.sqrt(hx * hx + hy * hy) / (period * 0.3), 0.0, 1.0)
    return Layers(_zeros(u), np.clip(b * 1.3, 0.0, 1.0), m)


def _argyle(u, v, rng):
    w = rng.uniform(22.0, 32.0)
    h = w * rng.uniform(1.3, 1.6)
    s = (u / (w / 2.0) + v / (h / 2.0)) / 2.0 + 0.5
    t = (u / (w / 2.0) - v / (h / 2.0)) / 2.0 + 0.5
    checker = (np.floor(s) + np.floor(t)) % 2
    # antialias the diamond edges (distance to the nearest integer, in pixels)
    edge = np.minimum(np.abs(s - np.round(s)), np.abs(t - np.round(t))) * min(w, h) * 0.7
    soft = np.clip(edge + 0.5, 0.0, 1.0)
    a = 0.85 * np.where(checker > 0, soft, 0.0)
    # thin overcheck lines through the diamond centres
    ls = np.abs(((s + 0.5) % 1.0) - 0.5) * min(w, h) * 0.7
    lt = np.abs(((t + 0.5) % 1.0) - 0.5) * min(w, h) * 0.7
    b = np.clip(1.2 - np.minimum(ls, lt), 0.0, 1.0)
    return Layers(a, b, np.ones_like(u))


def _crows_feet(u, v, rng):
    # houndstooth from a 2/2 twill: warp threads dark in blocks, weft alike
    k = rng.uniform(1.7, 2.6)  # thread width in pixels
    i = np.floor(v / k)
    j = np.floor(u / k)
    warp_dark = (j % 8) < 4
    weft_dark = (i % 8) < 4
    warp_up = ((i + j) % 4) < 2
    dark = np.where(warp_up, warp_dark, weft_dark).astype(np.float64)
    return Layers(0.85 * dark, _zeros(u), np.ones_like(u))


# --- free prints drawn on a periodic tile -----------------------------------


def _tile_canvas(size: int):
    a = Image.new("L", (2 * size, 2 * size), 0)
    b = Image.new("L", (2 * size, 2 * size), 0)
    return a, b


def _wrapped(points: np.ndarray, size: int):
    """Copies of a shape's points shifted so that it wraps around the tile."""
    s2 = 2 * size
    for dx in (-s2, 0, s2):
        for dy in (-s2, 0, s2):
            yield [tuple(p) for p in (points + np.array([dx, dy])).tolist()]


def _ellipse(cx, cy, rx, ry, angle, n=14):
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    x, y = rx * np.cos(t), ry * np.sin(t)
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([cx + c * x - s * y, cy + s * x + c * y], axis=1)


def _flowers_tile(rng, size):
    a_img, b_img = _tile_canvas(size)
    da, db = ImageDraw.Draw(a_img), ImageDraw.Draw(b_img)
    n = int(rng.integers(5, 8))
    # jittered grid so flowers do not overlap much
    g = int(np.ceil(np.sqrt(n)))
    cells = rng.permutation(g * g)[:n]
    for c in cells:
        cx = (c % g + rng.uniform(0.25, 0.75)) * 2 * size / g
        cy = (c // g + rng.uniform(0.25, 0.75)) * 2 * size / g
        r = 2 * rng.uniform(6.0, 9.0)
        petals = int(rng.integers(5, 7))
        rot = rng.uniform(0, 2 * np.pi)
        for p in range(petals):
            ang = rot + 2 * np.pi * p / petals
            px, py = cx + 0.55 * r * np.cos(ang), cy + 0.55 * r * np.sin(ang)
            for pts in _wrapped(_ellipse(px, py, 0.55 * r, 0.32 * r, ang), size):
                da.polygon(pts, fill=255)
        for pts in _wrapped(_ellipse(cx, cy, 0.28 * r, 0.28 * r, 0.0, 10), size):
            da.polygon(pts, fill=0)
            db.polygon(pts, fill=255)
        # a leaf or two in the primary ink at half strength
        for _ in range(int(rng.integers(0, 3))):
            ang = rng.uniform(0, 2 * np.pi)
            lx, ly = cx + 1.25 * r * np.cos(ang), cy + 1.25 * r * np.sin(ang)
            for pts in _wrapped(_ellipse(lx, ly, 0.45 * r, 0.18 * r, ang), size):
                da.polygon(pts, fill=150)
    return a_img, b_img


def _blob(rng, cx, cy, radius, n=28, wobble=0.22):
    """Radii of an irregular closed blob: a circle perturbed by 2-4 random low harmonics."""
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    r = np.ones(n)
    for harmonic in (2, 3, 4):
        r += wobble / harmonic * rng.uniform(0.4, 1.0) * np.cos(harmonic * t + rng.uniform(0, 2 * np.pi))
    return t, radius * r


def _polar(cx, cy, t, r, squash=1.0, angle=0.0):
    x, y = r * np.cos(t), squash * r * np.sin(t)
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([cx + c * x - s * y, cy + s * x + c * y], axis=1)


def _leopard_tile(rng, size):
    """Leopard: packed irregular rosettes and scattered solid spots.

    A rosette is an irregular blob whose tawny centre (primary ink) is
    enclosed by a dark rim (accent ink) broken into 2-5 thick, tapering
    "C"-shaped pieces; between the rosettes sit small irregular solid spots.
    """
    a_img, b_img = _tile_canvas(size)
    da, db = ImageDraw.Draw(a_img), ImageDraw.Draw(b_img)
    side = 2 * size
    g = int(rng.integers(3, 5))  # rosettes on a jittered g x g grid, densely packed
    cell = side / g
    for i in range(g):
        for j in range(g):
            cx = (i + rng.uniform(0.3, 0.7)) * cell
            cy = (j + rng.uniform(0.3, 0.7)) * cell
            radius = cell * rng.uniform(0.26, 0.36)
            squash, angle = rng.uniform(0.7, 1.0), rng.uniform(0, np.pi)
            t, r = _blob(rng, cx, cy, radius)
            for pts in _wrapped(_polar(cx, cy, t, 0.92 * r, squash, angle), size):
                da.polygon(pts, fill=int(rng.integers(190, 235)))
            # the rim: pieces covering 60-85 % of the circumference, thick in the middle, tapered at the ends
            pieces = int(rng.integers(2, 6))
            cuts = np.sort(rng.uniform(0, 2 * np.pi, pieces))
            gaps = rng.uniform(0.15, 0.32, pieces) * 2 * np.pi / pieces
            thick = radius * rng.uniform(0.22, 0.34)
            for q in range(pieces):
                t0 = cuts[q] + gaps[q] / 2
                t1 = (cuts[(q + 1) % pieces] + (2 * np.pi if q == pieces - 1 else 0.0)) - gaps[(q + 1) % pieces] / 2
                if t1 <= t0:
                    continue
                tt = np.linspace(t0, t1, 12)
                rr = np.interp(tt % (2 * np.pi), np.append(t, 2 * np.pi), np.append(r, r[0]))
                w = thick * np.sin(np.linspace(0.15, np.pi - 0.15, len(tt))) ** 0.6
                outer = _polar(cx, cy, tt, rr + 0.55 * w, squash, angle)
                inner = _polar(cx, cy, tt[::-1], (rr - 0.45 * w)[::-1], squash, angle)
                for pts in _wrapped(np.concatenate([outer, inner]), size):
                    db.polygon(pts, fill=255)
    # small solid spots, irregular, scattered between the rosettes
    for _ in range(int(rng.integers(8, 16))):
        cx, cy = rng.uniform(0, side, 2)
        t, r = _blob(rng, cx, cy, cell * rng.uniform(0.05, 0.1), n=12, wobble=0.35)
        for pts in _wrapped(_polar(cx, cy, t, r, rng.uniform(0.6, 1.0), rng.uniform(0, np.pi)), size):
            db.polygon(pts, fill=255)
    return a_img, b_img


def _boteh(cx, cy, length, angle, scale=1.0, curl=1.0):
    """A paisley teardrop (boteh): a round body whose top tapers into a tip curled to one side.

    ``scale`` shrinks the outline towards the body's centre (for the
    concentric inner outlines); ``curl`` is the sideways bend of the tip.
    """
    t = np.linspace(0.0, 2.0 * np.pi, 48, endpoint=False)
    x, y = np.cos(t), np.sin(t)
    f = ((1.0 - y) / 2.0) ** 2.5  # 1 at the top (y = -1), 0 at the bottom
    x = x * (1.0 - 0.85 * f)  # the top narrows into the tip
    y = y - 1.6 * f
    x = x + curl * 1.5 * f ** 1.5  # and bends sideways
    y = y + 0.3 * curl * f ** 3  # then hooks back down
    r = length / 3.4
    x, y = x * r * scale, (y + 0.35) * r * scale - 0.35 * r
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([cx + c * x - s * y, cy + s * x + c * y], axis=1)


def _paisley_tile(rng, size):
    """Paisley: curled teardrops (boteh) with concentric outlines, inner detail and dotted borders.

    Each boteh has an outline in the primary ink, a band in the accent ink, a
    second inner outline, a small inner teardrop or a cluster of dots in its
    belly, and a row of dots that follows its outer edge; smaller boteh fill
    the space between the large ones.
    """
    a_img, b_img = _tile_canvas(size)
    da, db = ImageDraw.Draw(a_img), ImageDraw.Draw(b_img)
    side = 2 * size
    g = int(rng.integers(2, 4))
    cell = side / g
    motifs = []
    for i in range(g):
        for j in range(g):
            cx, cy = (i + rng.uniform(0.4, 0.6)) * cell, (j + rng.uniform(0.4, 0.6)) * cell
            motifs.append((cx, cy, cell * rng.uniform(0.62, 0.78), True))
            # a small companion in the corner of the cell
            motifs.append(((i + 0.05) * cell, (j + 0.05) * cell, cell * rng.uniform(0.25, 0.32), False))
    for cx, cy, length, big in motifs:
        ang = rng.uniform(0, 2 * np.pi)
        curl = rng.choice([-1.0, 1.0]) * rng.uniform(0.8, 1.2)

        def shape(scale, _cx=cx, _cy=cy, _l=length, _a=ang, _c=curl):
            return _boteh(_cx, _cy, _l, _a, scale, _c)

        for scale, layer, value in ((1.0, "a", 255), (0.86, "a", 0), (0.86, "b", 255), (0.68, "b", 0), (0.68, "a", 255), (0.56, "a", 0)):
            for pts in _wrapped(shape(scale), size):
                (da if layer == "a" else db).polygon(pts, fill=value)
        if big:
            # inner detail: a small accent teardrop and a few dots in the belly
            for pts in _wrapped(shape(0.3), size):
                db.polygon(pts, fill=255)
            # dots following the outer edge
            edge = shape(1.18)
            body = edge[np.argsort(np.linalg.norm(edge - edge.mean(axis=0), axis=1))][: len(edge) * 2 // 3]
            for px, py in body[:: 2]:
                for pts in _wrapped(_ellipse(px, py, length * 0.028, length * 0.028, 0.0, 8), size):
                    da.polygon(pts, fill=255)
    return a_img, b_img


def _tile_sampler(make: Callable, size_range: tuple[float, float]):
    def gen(u, v, rng):
        size = int(rng.integers(*size_range))
        a_img, b_img = make(rng, size)
        a = np.asarray(a_img.reduce(2), dtype=np.float32) * np.float32(1 / 255)
        b = np.asarray(b_img.reduce(2), dtype=np.float32) * np.float32(1 / 255)
        ou, ov = rng.uniform(0, size, 2)
        return Layers(_sample_wrap(a, u + ou, v + ov), _sample_wrap(b, u + ou, v + ov), np.ones_like(u))

    return gen


def _sample_wrap(tile: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear sample of a periodic tile at fractional coordinates."""
    th, tw = tile.shape
    x = np.mod(u, np.float32(tw))
    y = np.mod(v, np.float32(th))
    x0 = np.floor(x).astype(np.intp)
    y0 = np.floor(y).astype(np.intp)
    fx, fy = x - x0, y - y0
    x0 %= tw
    y0 %= th
    x1 = (x0 + 1) % tw
    y1 = (y0 + 1) % th
    top = tile[y0, x0] * (1 - fx) + tile[y0, x1] * fx
    bot = tile[y1, x0] * (1 - fx) + tile[y1, x1] * fx
    return top * (1 - fy) + bot * fy


_GENERATORS: dict[str, Callable] = {
    "squared": _squared,
    "striped": _striped,
    "flowers": _tile_sampler(_flowers_tile, (56, 76)),
    "leopard": _tile_sampler(_leopard_tile, (72, 92)),
    "polka": _polka,
    "basic": _basic,
    "paisley": _tile_sampler(_paisley_tile, (70, 90)),
    "argyle": _argyle,
    "crows_feet": _crows_feet,
    "sequin": _sequin,
}


def render_texture(name: str, u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> Layers:
    """Evaluate texture ``name`` at fabric coordinates ``(u, v)``.

    Parameters
    ----------
    name : str
        One of :data:`TEXTURES`.
    u, v : numpy.ndarray
        Fabric coordinates in design pixels (224-pixel scale), same shape.
    rng : numpy.random.Generator
        Source of the pattern's random parameters (period, phase, layout).

    Returns
    -------
    Layers
        Primary ink ``a``, accent ink ``b`` (coverages in [0, 1]) and sheen ``m``.
    """
    if name not in _GENERATORS:
        raise ParameterError(f"unknown texture {name!r}; expected one of {', '.join(TEXTURES)}")
    layers = _GENERATORS[name](u, v, rng)
    layers.a = np.clip(layers.a, 0.0, 1.0)
    layers.b = np.clip(layers.b, 0.0, 1.0)
    return layers
