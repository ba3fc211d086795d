"""A miniature Kaggle *Fashion Product Images* download and texture folder, generated for the tests.

``styles.csv`` starts with a UTF-8 BOM and has lines with commas inside
``productDisplayName`` (as the published file does), plus values the
mapping excludes (Maroon, White) or does not know; images are small JPEGs of
a garment-like patch in the family's colour on a light background.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

HEADER = "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName\n"
#: baseColour value -> RGB of its images
SHADES = {
    "Red": (200, 30, 30), "Black": (20, 20, 20), "Navy Blue": (20, 30, 120), "Blue": (40, 80, 210),
    "Green": (30, 150, 40), "Yellow": (230, 210, 30), "Grey": (128, 128, 128), "Brown": (110, 70, 30),
    "Pink": (240, 140, 180), "Purple": (110, 40, 150), "Orange": (240, 130, 20),
}
EXTRA = {"Maroon": (110, 20, 30), "White": (250, 250, 250), "Chartreuse": (180, 240, 20)}
TEXTURES = ("stripes", "dots", "checks", "plain")


def _garment(rng, rgb, size):
    arr = np.full((size, size, 3), 235, np.float32)
    a, b = size // 6, size - size // 6
    patch = np.asarray(rgb, np.float32) * rng.uniform(0.85, 1.15) + rng.normal(0, 12, (b - a, b - a, 3))
    arr[a:b, a:b] = patch
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def make_kaggle(root, *, per_family: int = 8, size: int = 48, seed: int = 0) -> tuple[Path, Path]:
    """Write ``root/styles.csv`` and ``root/images/<id>.jpg``; return their paths."""
    root = Path(root)
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines, i = [HEADER], 10000
    for value, rgb in {**SHADES, **EXTRA}.items():
        n = per_family if value in SHADES else 2
        if value in ("Navy Blue", "Blue"):
            n = (per_family + 1) // 2 + (value == "Blue")  # blue = Blue + Navy Blue
        for j in range(n):
            name = f"Brand Men {value} Tshirt"
            if j == 0:
                name = f"Brand Men, {value} Tshirt, Slim Fit"  # commas inside the last column
            lines.append(f"{i},Men,Apparel,Topwear,Tshirts,{value},Summer,2012,Casual,{name}\n")
            _garment(rng, rgb, size).save(images / f"{i}.jpg", quality=90)
            i += 1
    styles = root / "styles.csv"
    styles.write_bytes(b"\xef\xbb\xbf" + "".join(lines).encode("utf-8"))
    return styles, images


def make_textures(root, *, per_class: int = 8, size: int = 48, seed: int = 0) -> Path:
    """Write ``root/<texture>/<n>.png`` for :data:`TEXTURES`; return ``root``."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    for t in TEXTURES:
        (root / t).mkdir(parents=True, exist_ok=True)
        for j in range(per_class):
            period = int(rng.integers(6, 10))
            if t == "stripes":
                mask = (yy // (period // 2)) % 2 == 0
            elif t == "dots":
                mask = ((yy % period - period / 2) ** 2 + (xx % period - period / 2) ** 2) < (period / 4) ** 2
            elif t == "checks":
                mask = ((yy // period) + (xx // period)) % 2 == 0
            else:
                mask = np.zeros((size, size), bool)
            fg, bg = rng.integers(0, 255, 3), rng.integers(0, 255, 3)
            arr = np.where(mask[..., None], fg, bg) + rng.normal(0, 6, (size, size, 3))
            Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(root / t / f"{j}.png")
    return root
