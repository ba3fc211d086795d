"""Tests of the synthetic clothing catalog (attr_utils.synth).

Everything is measured from the written PNG files, not from what the
generator knows: the garment is segmented from the light background, its
dominant colour family is computed with the documented HSV rules, and the
texture classes must be separable by a simple non-deep baseline.
"""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from attr_utils.errors import AttrUtilsError, DatasetError
from attr_utils.synth import (
    COLORS,
    GARMENTS,
    TEXTURES,
    catalog_plan,
    color_family,
    contact_sheet,
    data_root,
    default_dataset,
    dominant_family,
    generate_dataset,
    generator_fingerprint,
    render_item,
)
from attr_utils.synth.palette import FAMILIES, color_families, rgb_to_hsv, sample_color

PER_CLASS = 30  # 300 images, 3 per colour x texture cell


@pytest.fixture(scope="session")
def catalog(tmp_path_factory):
    out = tmp_path_factory.mktemp("catalog")
    labels = generate_dataset(out, per_class=PER_CLASS, seed=0, workers=2).labels
    return labels, pd.read_csv(labels)


@pytest.fixture(scope="session")
def decoded(catalog):
    """Each catalog image as an RGB array with its segmented garment mask."""
    labels, table = catalog
    out = []
    for f in table["file"]:
        arr = np.asarray(Image.open(labels.parent / f).convert("RGB"))
        out.append((arr, _segment(arr)))
    return out


def _digest(folder):
    table = pd.read_csv(folder / "labels.csv")
    return {f: hashlib.sha256((folder / f).read_bytes()).hexdigest() for f in table["file"]}


def _segment(arr: np.ndarray) -> np.ndarray:
    """Garment mask: pixels that differ from the border (background) colour."""
    from scipy import ndimage as ndi

    a = arr.astype(np.float32)
    border = np.concatenate([a[:4].reshape(-1, 3), a[-4:].reshape(-1, 3), a[:, :4].reshape(-1, 3), a[:, -4:].reshape(-1, 3)])
    diff = np.abs(a - np.median(border, axis=0)).max(axis=2)
    mask = ndi.binary_fill_holes(ndi.binary_closing(diff > 40, iterations=3))
    return ndi.binary_opening(mask, iterations=1)


def _texture_features(arr: np.ndarray, garment: np.ndarray) -> np.ndarray:
    """LBP histograms, gradient orientation histogram and FFT radial energy of the garment."""
    from scipy import ndimage as ndi
    from skimage.feature import local_binary_pattern

    mask = ndi.binary_erosion(garment, iterations=3)
    gray8 = np.asarray(Image.fromarray(arr).convert("L"))
    gray = gray8.astype(np.float32)
    feats = []
    for points, radius in ((8, 1), (8, 3)):
        lbp = local_binary_pattern(gray8, points, radius, "uniform")
        feats += list(np.bincount(lbp[mask].astype(int), minlength=points + 2) / max(1, mask.sum()))
    gy, gx = np.gradient(ndi.gaussian_filter(gray, 0.8))
    mag = np.hypot(gx, gy)[mask]
    ang = np.mod(np.arctan2(gy, gx)[mask], np.pi)
    hist = np.bincount((ang / np.pi * 12).astype(int) % 12, weights=mag, minlength=12)
    hist = hist / (hist.sum() + 1e-6)
    feats += list(np.sort(hist)) + list(hist)
    vals = gray[mask]
    feats += [vals.std() / (vals.mean() + 1.0), mag.mean(), np.percentile(mag, 90), np.mean(mag > 20)]
    ys, xs = np.nonzero(mask)
    cy, cx = int(np.median(ys)), int(np.median(xs))
    win = gray[max(0, cy - 24) : cy + 24, max(0, cx - 24) : cx + 24]
    win = (win - win.mean()) * np.outer(np.hanning(win.shape[0]), np.hanning(win.shape[1]))
    power = np.abs(np.fft.fftshift(np.fft.fft2(win))) ** 2
    yy, xx = np.indices(power.shape)
    ring = np.minimum(np.hypot(yy - power.shape[0] / 2, xx - power.shape[1] / 2).astype(int) // 2, 11)
    radial = np.bincount(ring.ravel(), weights=power.ravel(), minlength=12)
    feats += list(np.log1p(radial / (radial.sum() + 1e-6) * 100))
    return np.asarray(feats, dtype=np.float64)


# --- the catalog on disk ------------------------------------------------------


def test_labels_are_balanced_and_complete(catalog):
    labels, table = catalog
    assert list(table.columns) == ["file", "color", "texture", "garment"]
    assert len(table) == 10 * PER_CLASS
    assert set(table["color"]) == set(COLORS)
    assert set(table["texture"]) == set(TEXTURES)
    assert set(table["garment"]) <= set(GARMENTS)
    assert len(set(table["garment"])) >= 6
    cells = table.groupby(["color", "texture"]).size()
    assert len(cells) == 100 and (cells == PER_CLASS // 10).all()
    assert table["file"].is_unique
    for f in table["file"]:
        assert re.fullmatch(r"images/\d{6}\.png", f)
        assert (labels.parent / f).is_file()


def test_file_names_do_not_reveal_labels(catalog):
    _, table = catalog
    # the file order is shuffled: consecutive files rarely share a cell
    same = (table["color"].eq(table["color"].shift()) & table["texture"].eq(table["texture"].shift())).mean()
    assert same < 0.05
    # and the colour is not a function of the file index modulo 10
    idx = table["file"].str.extract(r"(\d+)")[0].astype(int)
    assert table.groupby(idx % 10)["color"].nunique().min() >= 5


def test_images_are_rgb_at_the_requested_size(catalog):
    labels, table = catalog
    for f in table["file"][:20]:
        with Image.open(labels.parent / f) as im:
            assert im.mode == "RGB" and im.size == (224, 224)


def test_catalog_json_marks_completion(catalog):
    labels, _ = catalog
    meta = json.loads((labels.parent / "catalog.json").read_text())
    assert meta["complete"] is True
    assert (meta["per_class"], meta["seed"], meta["size"], meta["images"]) == (PER_CLASS, 0, 224, 10 * PER_CLASS)


def test_contact_sheet_has_one_thumbnail_per_cell(catalog, tmp_path):
    labels, _ = catalog
    assert (labels.parent / "contact_sheet.png").is_file()
    out = contact_sheet(labels, tmp_path / "sheet.png", thumb=40)
    with Image.open(out) as im:
        w, h = im.size
        arr = np.asarray(im.convert("RGB"))
    assert w >= 10 * 40 and h >= 10 * 40
    # every thumbnail slot holds an image (not the white sheet background)
    left, top, pad = 48, 40 // 3 + 8, 2
    for i in range(10):
        for j in range(10):
            cell = arr[top + i * (40 + pad) : top + i * (40 + pad) + 40, left + j * (40 + pad) : left + j * (40 + pad) + 40]
            assert cell.std() > 3


# --- colour: the labelled family dominates the garment -------------------------


def test_garment_dominant_colour_is_the_labelled_family(catalog, decoded):
    _, table = catalog
    from scipy import ndimage as ndi

    hits, wrong = 0, []
    for row, (arr, garment) in zip(table.itertuples(), decoded):
        mask = ndi.binary_erosion(garment, iterations=2)
        assert mask.mean() > 0.04, f"no garment segmented in {row.file}"
        family, share = dominant_family(arr[mask])
        if family == row.color:
            hits += 1
        else:
            wrong.append((row.file, row.color, row.texture, family, round(share, 2)))
    assert hits / len(table) >= 0.97, wrong[:10]


def test_garment_is_separable_from_background(decoded):
    fractions = np.array([garment.mean() for _, garment in decoded])
    assert 0.08 < np.median(fractions) < 0.6
    assert fractions.min() > 0.04 and fractions.max() < 0.8


# --- texture: separable by a simple non-deep baseline ---------------------------


def test_textures_are_separable_by_a_simple_baseline(catalog, decoded):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    _, table = catalog
    X = np.stack([_texture_features(arr, garment) for arr, garment in decoded])
    y = table["texture"].to_numpy(dtype=str)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
    scores = cross_val_score(clf, X, y, cv=StratifiedKFold(5, shuffle=True, random_state=0))
    assert scores.mean() >= 0.8, scores


# --- determinism -----------------------------------------------------------------


@pytest.fixture(scope="session")
def small_pair(tmp_path_factory):
    a = tmp_path_factory.mktemp("w1")
    b = tmp_path_factory.mktemp("w2")
    generate_dataset(a, per_class=10, seed=0, workers=1, sheet=False)
    generate_dataset(b, per_class=10, seed=0, workers=2, sheet=False)
    return a, b


def test_same_seed_same_bytes_whatever_the_worker_count(small_pair):
    a, b = small_pair
    assert (a / "labels.csv").read_bytes() == (b / "labels.csv").read_bytes()
    assert _digest(a) == _digest(b)


def test_other_seed_gives_other_images(tmp_path):
    generate_dataset(tmp_path / "s0", per_class=10, seed=0, size=48, workers=1, sheet=False)
    generate_dataset(tmp_path / "s3", per_class=10, seed=3, size=48, workers=1, sheet=False)
    assert set(_digest(tmp_path / "s0").values()).isdisjoint(_digest(tmp_path / "s3").values())
    assert (tmp_path / "s0" / "labels.csv").read_bytes() != (tmp_path / "s3" / "labels.csv").read_bytes()


def test_larger_catalog_contains_the_smaller_ones_images(catalog, small_pair):
    labels, _ = catalog
    small, _ = small_pair
    big = catalog_plan(per_class=PER_CLASS, seed=0).set_index("key")["file"]
    little = catalog_plan(per_class=10, seed=0)
    for f, key in zip(little["file"], little["key"]):
        assert (small / f).read_bytes() == (labels.parent / big[key]).read_bytes()


def test_render_item_is_deterministic_given_the_rng():
    one = render_item("blue", "argyle", "sweater", size=96, rng=np.random.default_rng(5))
    two = render_item("blue", "argyle", "sweater", size=96, rng=np.random.default_rng(5))
    assert one.shape == (96, 96, 3) and one.dtype == np.uint8
    assert np.array_equal(one, two)


# --- palette ---------------------------------------------------------------------


@pytest.mark.parametrize("family", COLORS)
def test_sampled_colours_fall_in_their_family(family):
    rng = np.random.default_rng(0)
    rgb = np.stack([sample_color(family, rng) for _ in range(300)])
    got = color_families(rgb_to_hsv(rgb))
    assert (got == COLORS.index(family)).all()


def test_color_family_rules():
    assert color_family((220.0, 0.8, 0.4)) == "blue"
    assert color_family((0.0, 0.0, 0.5)) == "gray"
    assert color_family((0.0, 0.0, 0.1)) == "black"
    assert color_family((0.0, 0.0, 0.95)) is None
    assert color_family((25.0, 0.7, 0.35)) == "brown"
    assert color_family((25.0, 0.9, 0.95)) == "orange"
    assert color_family((345.0, 0.35, 0.95)) == "pink"
    assert color_family((2.0, 0.85, 0.7)) == "red"
    assert set(FAMILIES) == set(COLORS)


def test_dominant_family_counts_pixels():
    px = np.array([[200, 20, 20]] * 6 + [[20, 20, 200]] * 4, dtype=np.uint8)
    assert dominant_family(px) == ("red", pytest.approx(0.6))


# --- default catalog ---------------------------------------------------------------


def test_default_catalog_is_generated_once_then_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTR_UTILS_DATA", str(tmp_path))
    labels = default_dataset(per_class=10, seed=1, size=48)
    assert labels.parent.parent == tmp_path and labels.is_file()
    assert labels.parent.name == "synthetic-p10-s1-48px"
    first = labels.stat().st_mtime_ns
    assert default_dataset(per_class=10, seed=1, size=48) == labels
    assert labels.stat().st_mtime_ns == first
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".") and p.is_dir()]


def test_default_catalog_regenerates_an_incomplete_one(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTR_UTILS_DATA", str(tmp_path))
    labels = default_dataset(per_class=10, seed=2, size=48)
    reference = _digest(labels.parent)
    (labels.parent / "catalog.json").unlink()  # as if interrupted
    next(iter((labels.parent / "images").iterdir())).unlink()
    again = default_dataset(per_class=10, seed=2, size=48)
    assert (again.parent / "catalog.json").is_file()
    assert _digest(again.parent) == reference


def test_default_catalog_regenerates_after_a_generator_change(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTR_UTILS_DATA", str(tmp_path))
    labels = default_dataset(per_class=10, seed=5, size=48)
    meta_path = labels.parent / "catalog.json"
    meta = json.loads(meta_path.read_text())
    meta["generator_fingerprint"] = "0" * 16  # as if made by another generator
    meta_path.write_text(json.dumps(meta))
    default_dataset(per_class=10, seed=5, size=48)
    assert json.loads(meta_path.read_text())["generator_fingerprint"] == generator_fingerprint()


def test_data_root_is_the_checkout_data_folder(monkeypatch):
    from pathlib import Path

    import attr_utils

    monkeypatch.delenv("ATTR_UTILS_DATA", raising=False)
    repo = Path(attr_utils.__file__).resolve().parents[1]
    expected = repo / "data" if (repo / "pyproject.toml").is_file() else Path.home() / ".cache" / "attr-utils" / "data"
    assert data_root() == expected


# --- invalid parameters --------------------------------------------------------------


@pytest.mark.parametrize("per_class", [0, 5, 25, -10])
def test_per_class_not_a_multiple_of_ten(tmp_path, per_class):
    with pytest.raises(ValueError, match="multiple of 10"):
        generate_dataset(tmp_path / "x", per_class=per_class)
    assert not (tmp_path / "x").exists()


def test_per_class_wrong_type(tmp_path):
    with pytest.raises(TypeError):
        generate_dataset(tmp_path, per_class="10")


def test_negative_seed(tmp_path):
    with pytest.raises(ValueError, match="seed"):
        generate_dataset(tmp_path, per_class=10, seed=-1)


def test_size_too_small(tmp_path):
    with pytest.raises(ValueError, match="size"):
        generate_dataset(tmp_path, per_class=10, size=8)


def test_zero_workers(tmp_path):
    with pytest.raises(ValueError, match="workers"):
        generate_dataset(tmp_path, per_class=10, workers=0)


def test_existing_catalog_needs_overwrite(catalog):
    labels, _ = catalog
    with pytest.raises(DatasetError, match="overwrite"):
        generate_dataset(labels.parent, per_class=10)


def test_output_is_a_file(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(DatasetError):
        generate_dataset(f, per_class=10)


def test_unknown_colour_texture_garment():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="colour"):
        render_item("teal", "basic", "dress", rng=rng)
    with pytest.raises(ValueError, match="texture"):
        render_item("red", "tweed", "dress", rng=rng)
    with pytest.raises(ValueError, match="garment"):
        render_item("red", "basic", "hat", rng=rng)


def test_contact_sheet_without_labels(tmp_path):
    with pytest.raises(DatasetError):
        contact_sheet(tmp_path)


# --- CLI --------------------------------------------------------------------------------


def test_cli_synth_writes_a_catalog(tmp_path, capsys):
    from attr_utils.cli import main

    rc = main(["synth", str(tmp_path / "cat"), "--per-class", "10", "--size", "64", "--workers", "1", "--json"])
    assert rc == 0
    info = json.loads(capsys.readouterr().out)
    assert info["images"] == 100 and info["size"] == 64
    table = pd.read_csv(tmp_path / "cat" / "labels.csv")
    assert len(table) == 100
    with Image.open(tmp_path / "cat" / table["file"][0]) as im:
        assert im.size == (64, 64)


def test_cli_synth_rejects_bad_per_class(tmp_path, capsys):
    from attr_utils.cli import main

    assert main(["synth", str(tmp_path / "cat"), "--per-class", "15"]) == 2
    assert "multiple of 10" in capsys.readouterr().err
    assert issubclass(DatasetError, AttrUtilsError)


# --- issue 17: one validator, a result object, the documented names ----------------------


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"per_class": True}, "per_class"),
        ({"per_class": 10.0}, "per_class"),
        ({"seed": True}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"size": False}, "size"),
        ({"size": 4096}, "size"),
        ({"workers": True}, "workers"),
        ({"workers": "2"}, "workers"),
    ],
)
def test_invalid_generation_parameter_is_a_parameter_error(tmp_path, kwargs, error):
    from attr_utils.errors import ParameterError

    with pytest.raises(ParameterError, match=f"`{error}`"):
        generate_dataset(tmp_path / "x", **{"per_class": 10, **kwargs})
    assert not (tmp_path / "x").exists()


def test_numpy_integers_are_accepted_as_parameters():
    plan = catalog_plan(per_class=np.int64(10), seed=np.int32(1))
    assert plan.equals(catalog_plan(per_class=10, seed=1))


@pytest.mark.parametrize("thumb", [8, True, 20.0])
def test_contact_sheet_invalid_thumb(catalog, thumb):
    from attr_utils.errors import ParameterError

    labels, _ = catalog
    with pytest.raises(ParameterError, match="`thumb`"):
        contact_sheet(labels, thumb=thumb)


def test_unknown_names_are_parameter_errors():
    from attr_utils.errors import ParameterError
    from attr_utils.synth.textures import render_texture

    rng = np.random.default_rng(0)
    with pytest.raises(ParameterError, match="colour"):
        render_item("teal", "basic", "dress", rng=rng)
    with pytest.raises(ParameterError, match="colour family"):
        sample_color("teal", rng)
    with pytest.raises(ParameterError, match="texture"):
        render_texture("tweed", np.zeros((4, 4)), np.zeros((4, 4)), rng)


def test_generate_dataset_returns_what_it_wrote(tmp_path):
    result = generate_dataset(tmp_path / "d", per_class=10, seed=4, size=40, workers=1)
    meta = json.loads((tmp_path / "d" / "catalog.json").read_text())
    assert result.labels == tmp_path / "d" / "labels.csv"
    assert result.contact_sheet == tmp_path / "d" / "contact_sheet.png" and result.contact_sheet.is_file()
    assert (result.images, result.per_class, result.seed, result.size, result.workers) == (100, 10, 4, 40, 1)
    assert result.render_seconds == meta["seconds"] and result.seconds >= result.render_seconds
    info = result.to_dict()
    assert set(info) == {"labels", "images", "per_class", "seed", "size", "workers", "seconds",
                         "images_per_second", "contact_sheet", "variant"}
    assert info["labels"] == str(result.labels) and info["images"] == meta["images"] == 100
    assert json.loads(json.dumps(info)) == info
    assert generate_dataset(tmp_path / "e", per_class=10, size=40, workers=1, sheet=False).contact_sheet is None


def test_make_catalog_is_a_deprecated_alias(tmp_path):
    from attr_utils.synth import make_catalog

    with pytest.warns(DeprecationWarning, match="generate_dataset"):
        labels = make_catalog(tmp_path / "old", per_class=10, size=40, workers=1, sheet=False)
    assert labels == tmp_path / "old" / "labels.csv" and labels.is_file()


def test_default_catalog_is_a_deprecated_alias(tmp_path, monkeypatch):
    from attr_utils.synth import default_catalog

    monkeypatch.setenv("ATTR_UTILS_DATA", str(tmp_path))
    labels = default_dataset(per_class=10, seed=6, size=40)
    with pytest.warns(DeprecationWarning, match="default_dataset"):
        assert default_catalog(per_class=10, seed=6, size=40) == labels


# --- the harder "scene" variant -----------------------------------------------------

#: The studio generator's fingerprint as generator version 2 recorded it in the default catalog's
#: catalog.json: the scene variant shares the garment code, and must not change a studio byte.
STUDIO_FINGERPRINT_V2 = "86cec5b223151aab"


@pytest.fixture(scope="session")
def scene_pair(tmp_path_factory):
    a = tmp_path_factory.mktemp("scene1")
    b = tmp_path_factory.mktemp("scene2")
    generate_dataset(a, per_class=10, seed=0, workers=1, sheet=False, variant="scene")
    generate_dataset(b, per_class=10, seed=0, workers=2, sheet=False, variant="scene")
    return a, b


def _border(arr: np.ndarray, width: int = 6) -> np.ndarray:
    return np.concatenate([arr[:width].reshape(-1, 3), arr[-width:].reshape(-1, 3),
                           arr[:, :width].reshape(-1, 3), arr[:, -width:].reshape(-1, 3)])


def test_studio_bytes_are_unchanged_by_the_scene_variant():
    assert generator_fingerprint() == STUDIO_FINGERPRINT_V2
    assert generator_fingerprint("studio") == STUDIO_FINGERPRINT_V2
    assert generator_fingerprint("scene") != STUDIO_FINGERPRINT_V2
    # the studio keys are still (colour, texture, repeat): the same streams as version 2
    plan = catalog_plan(per_class=10, seed=0)
    assert all(len(k) == 3 for k in plan["key"])


def test_scene_variant_same_seed_same_bytes_whatever_the_worker_count(scene_pair):
    a, b = scene_pair
    assert (a / "labels.csv").read_bytes() == (b / "labels.csv").read_bytes()
    assert _digest(a) == _digest(b)


def test_scene_variant_draws_other_images_than_the_studio(scene_pair, small_pair):
    scene, _ = scene_pair
    studio, _ = small_pair
    assert set(_digest(scene).values()).isdisjoint(_digest(studio).values())


def test_scene_variant_labels_are_the_garments_and_balanced(scene_pair):
    from attr_utils.synth import SCENE_COLUMNS

    folder, _ = scene_pair
    table = pd.read_csv(folder / "labels.csv")
    assert list(table.columns) == ["file", "color", "texture", "garment", *SCENE_COLUMNS]
    assert len(table) == 100
    assert table.groupby(["color", "texture"]).size().eq(1).all()
    assert set(table["garment"]) == set(GARMENTS)
    meta = json.loads((folder / "catalog.json").read_text())
    assert (meta["variant"], meta["generator_version"]) == ("scene", 3)
    assert meta["generator_fingerprint"] == generator_fingerprint("scene")


def test_scene_variant_backgrounds_are_not_white(scene_pair):
    folder, _ = scene_pair
    table = pd.read_csv(folder / "labels.csv")
    whiteish = []
    for f in table["file"]:
        hsv = rgb_to_hsv(_border(np.asarray(Image.open(folder / f).convert("RGB"))).astype(np.float64) / 255.0)
        whiteish.append(np.mean((hsv[:, 1] < 0.12) & (hsv[:, 2] > 0.8)))
    # a studio image's border is ~100 % near-white; no scene image comes close
    assert max(whiteish) < 0.5, max(whiteish)
    assert {"colour", "textured"} == set(table["background"])


def test_scene_variant_sizes_and_offsets_vary(scene_pair):
    folder, _ = scene_pair
    table = pd.read_csv(folder / "labels.csv")
    assert table["scale"].max() - table["scale"].min() > 0.12
    assert table["offset_x"].std() > 0.06 and table["offset_y"].std() > 0.06
    assert table["garment_fraction"].max() > 2.5 * table["garment_fraction"].min()
    assert table["model"].any() and not table["model"].all()
    assert table["props"].between(1, 3).all()


def test_scene_mask_is_where_the_labelled_garment_is():
    from attr_utils.synth import render_scene

    centres, areas = [], []
    for i, (color, garment) in enumerate(zip(COLORS, list(GARMENTS) * 2)):
        image, mask, info = render_scene(color, "basic", garment, size=128, rng=np.random.default_rng(i))
        inside = mask > 0.95
        ys, xs = np.nonzero(inside)
        centres.append((xs.mean() / 128, ys.mean() / 128))
        areas.append(inside.mean())
        assert info["garment_fraction"] == pytest.approx(mask.mean(), abs=1e-3)
        # the label stays the garment's: the garment pixels are of the labelled family
        from scipy import ndimage as ndi

        core = ndi.binary_erosion(inside, iterations=3)
        assert dominant_family(image[core])[0] == color
    centres = np.array(centres)
    assert centres.std(axis=0).min() > 0.05  # off-centre, in both directions
    assert max(areas) > 2.5 * min(areas)  # several scales


def test_render_scene_is_deterministic_given_the_rng():
    from attr_utils.synth import render_scene

    one = render_scene("red", "leopard", "dress", size=96, rng=np.random.default_rng(7))
    two = render_scene("red", "leopard", "dress", size=96, rng=np.random.default_rng(7))
    assert np.array_equal(one[0], two[0]) and np.array_equal(one[1], two[1]) and one[2] == two[2]


def test_default_dataset_scene_variant_has_its_own_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTR_UTILS_DATA", str(tmp_path))
    studio = default_dataset(per_class=10, seed=0, size=40)
    scene = default_dataset(per_class=10, seed=0, size=40, variant="scene")
    assert studio.parent.name == "synthetic-p10-s0-40px"
    assert scene.parent.name == "synthetic-scene-p10-s0-40px"
    assert "variant" not in json.loads((studio.parent / "catalog.json").read_text())
    first = scene.stat().st_mtime_ns
    assert default_dataset(per_class=10, seed=0, size=40, variant="scene") == scene
    assert scene.stat().st_mtime_ns == first


@pytest.mark.parametrize("call", [
    lambda tmp: generate_dataset(tmp / "x", per_class=10, variant="street"),
    lambda tmp: default_dataset(variant="studio "),
    lambda tmp: catalog_plan(variant=None),
    lambda tmp: generator_fingerprint("scenes"),
])
def test_unknown_variant_is_a_parameter_error(tmp_path, call):
    from attr_utils.errors import ParameterError

    with pytest.raises(ParameterError, match="variant"):
        call(tmp_path)


def test_render_scene_unknown_names_are_parameter_errors():
    from attr_utils.errors import ParameterError
    from attr_utils.synth import render_scene

    rng = np.random.default_rng(0)
    for args in (("teal", "basic", "dress"), ("red", "tweed", "dress"), ("red", "basic", "hat")):
        with pytest.raises(ParameterError):
            render_scene(*args, rng=rng)


def test_cli_synth_writes_the_scene_variant(tmp_path, capsys):
    from attr_utils.cli import main
    from attr_utils.synth import SCENE_COLUMNS

    rc = main(["synth", str(tmp_path / "scene"), "--variant", "scene", "--per-class", "10", "--size", "40",
               "--workers", "1", "--no-contact-sheet", "--json"])
    assert rc == 0
    info = json.loads(capsys.readouterr().out)
    assert info["variant"] == "scene" and info["images"] == 100
    assert json.loads((tmp_path / "scene" / "catalog.json").read_text())["variant"] == "scene"
    assert set(SCENE_COLUMNS) <= set(pd.read_csv(tmp_path / "scene" / "labels.csv").columns)


def test_cli_synth_rejects_an_unknown_variant(tmp_path, capsys):
    from attr_utils.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["synth", str(tmp_path / "x"), "--variant", "street"])
    assert exc.value.code == 2


def test_cli_synth_into_existing_catalog_names_the_option_once(tmp_path, capsys):
    from attr_utils.cli import main

    (tmp_path / "labels.csv").write_text("file,color\n")
    assert main(["synth", str(tmp_path), "--per-class", "10", "--size", "32", "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "pass --overwrite to replace it" in err and "CLI:" not in err and err.count("--overwrite") == 1
