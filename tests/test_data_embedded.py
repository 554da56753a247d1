"""Embedded benchmark: determinism, cache/manifest, sizes, value ranges, exact GT, topology."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.measure import euler_number

from topotta_lite.data import (
    PARTS,
    SIZES,
    ClassSplit,
    build_embedded,
    dataset_name,
    defect_types,
    gallery,
    list_categories,
    load_embedded,
    make_sample,
    parse_dataset_name,
)
from topotta_lite.data import _shapes as sh
from topotta_lite.data.embedded import sample_seed

EIGHT = np.ones((3, 3), bool)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("embedded")


@pytest.fixture(scope="module")
def smoke(root):
    out = {m: load_embedded(m, size="smoke", seed=0, root=root) for m in ("2d", "2.5d", "3d")}
    out["root"] = root
    return out


def test_categories():
    assert len(list_categories("2d")) >= 6
    assert {"brick", "grass", "gravel"} <= set(list_categories("2d"))
    assert list_categories("2.5d") == ["bagel", "cookie"]
    assert list_categories("3d") == ["casting", "composite"]
    with pytest.raises(ValueError, match="modality"):
        list_categories("4d")


@pytest.mark.parametrize("modality", ["2d", "2.5d", "3d"])
def test_smoke_splits_shapes_ranges(smoke, modality):
    data = smoke[modality]
    assert list(data) == list_categories(modality)
    spec = SIZES["smoke"]
    for cat, cs in data.items():
        assert isinstance(cs, ClassSplit) and cs.category == cat and cs.modality == modality
        assert cs.counts() == {
            "train": spec.train,
            "validation": spec.validation,
            "test_good": spec.test_good,
            "test_anomalous": spec.test_anomalous,
        }
        for split in ("train", "validation", "test"):
            names = [s.name for s in cs.split(split)]
            assert len(set(names)) == len(names)
        anomalous_defects = [s.defect for s in cs.test if s.label == 1]
        assert anomalous_defects == [
            defect_types(modality, cat)[j % len(defect_types(modality, cat))]
            for j in range(spec.test_anomalous)
        ]
        for s in [*cs.train, *cs.validation, *cs.test]:
            assert s.mask.dtype == bool
            assert s.label == int(s.defect != "good")
            if s.label:
                assert s.mask.any(), (cat, s.name)
            else:
                assert not s.mask.any(), (cat, s.name)
            if modality == "3d":
                assert s.image is None and s.volume.shape == (spec.voxels,) * 3
                assert s.volume.dtype == np.float32 and s.mask.shape == s.volume.shape
                assert 0 <= s.volume.min() and s.volume.max() <= 1
            else:
                assert s.image.shape == (224, 224, 3) and s.image.dtype == np.float32
                assert 0 <= s.image.min() and s.image.max() <= 1
                assert s.mask.shape == (224, 224)
            if modality == "2.5d":
                assert s.depth.shape == (224, 224) and s.depth.dtype == np.float32
                assert np.isfinite(s.depth).all()


def test_nominal_images_vary(smoke):
    for cat, cs in smoke["2d"].items():
        a, b = cs.train[0].image, cs.train[1].image
        assert np.abs(a - b).mean() > 0.01, cat


def test_manifest_and_checksums(root, smoke):
    mpath = root / "2d" / "smoke-seed0" / "manifest.json"
    man = json.loads(mpath.read_text())
    assert man["params"]["seed"] == 0 and man["params"]["size"] == "smoke"
    assert set(man["files"]) == set(list_categories("2d"))
    for entry in man["files"].values():
        f = mpath.parent / entry["file"]
        assert hashlib.sha256(f.read_bytes()).hexdigest() == entry["sha256"]
        assert f.stat().st_size == entry["bytes"]


def test_cache_is_reused(root, smoke):
    f = root / "3d" / "smoke-seed0" / "casting.npz"
    before = f.stat().st_mtime_ns
    load_embedded("3d", ["casting"], size="smoke", seed=0, root=root)
    assert f.stat().st_mtime_ns == before


def test_regeneration_is_byte_identical(root, smoke, tmp_path):
    for modality, cat in (("2d", "nut"), ("2.5d", "cookie"), ("3d", "composite")):
        m2 = build_embedded(modality, [cat], size="smoke", seed=0, root=tmp_path)
        a = (root / m2.parent.relative_to(tmp_path) / f"{cat}.npz").read_bytes()
        assert (m2.parent / f"{cat}.npz").read_bytes() == a
    other = build_embedded("3d", ["composite"], size="smoke", seed=1, root=tmp_path)
    m0 = json.loads((root / "3d" / "smoke-seed0" / "manifest.json").read_text())
    m1 = json.loads(other.read_text())
    assert m0["files"]["composite"]["sha256"] != m1["files"]["composite"]["sha256"]


def test_corrupt_file_is_regenerated(tmp_path):
    mpath = build_embedded("3d", ["casting"], size="smoke", seed=3, root=tmp_path)
    f = mpath.parent / "casting.npz"
    good = f.read_bytes()
    f.write_bytes(good[:-10] + b"0123456789")
    with pytest.warns(UserWarning, match="checksum"):
        load_embedded("3d", ["casting"], size="smoke", seed=3, root=tmp_path)
    assert f.read_bytes() == good


def test_env_var_root(tmp_path, monkeypatch):
    monkeypatch.setenv("TOPOTTA_DATA", str(tmp_path))
    load_embedded("3d", "casting", size="smoke", seed=5)
    assert (tmp_path / "3d" / "smoke-seed5" / "manifest.json").is_file()


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="size"):
        load_embedded("2d", size="huge", root=tmp_path)
    with pytest.raises(ValueError, match="categories"):
        load_embedded("2d", ["carpet"], root=tmp_path)
    with pytest.raises(ValueError, match="defect"):
        make_sample("2d", "brick", "dent")


def test_cache_equals_make_sample(smoke):
    # the cached anomalous sample is exactly what make_sample produces from the same seed
    import zlib

    cs = smoke["3d"]["casting"]
    cid = zlib.crc32(b"3d/casting")
    ss = np.random.SeedSequence([0, 1, cid, 3, 1])  # seed, part (1 = eval), class, split, index
    assert ss.entropy == sample_seed(0, "eval", "3d", "casting", "test_anomalous", 1).entropy
    s = make_sample("3d", "casting", cs.test[3].defect, ss, voxels=32)
    assert np.array_equal(s.volume, cs.test[3].volume)
    assert np.array_equal(s.mask, cs.test[3].mask)
    # a texture of the development part is cut from the development half of the photograph
    dev = load_embedded("2d", ["grass"], size="smoke", seed=0, root=root_of(smoke), part="dev")
    t = dev["grass"].test[SIZES["smoke"].test_good]  # the first anomalous test image
    ss = sample_seed(0, "dev", "2d", "grass", "test_anomalous", 0)
    assert np.array_equal(make_sample("2d", "grass", t.defect, ss, part="dev").image, t.image)
    assert not np.array_equal(make_sample("2d", "grass", t.defect, ss, part="eval").image, t.image)


# ----------------------------------------------------------------------------- the two parts


def root_of(smoke):
    return smoke["root"]


def test_dataset_names_round_trip():
    for modality in ("2d", "2.5d", "3d"):
        for part in PARTS:
            assert parse_dataset_name(dataset_name(modality, part)) == (modality, part)
    assert dataset_name("2d") == "embedded-2d" and dataset_name("3d", "dev") == "embedded-3d-dev"
    for bad in ("embedded-4d", "embedded-2d-test", "mvtec_ad", "embedded-"):
        with pytest.raises(ValueError, match="embedded"):
            parse_dataset_name(bad)
    with pytest.raises(ValueError, match="part"):
        load_embedded("2d", ["brick"], size="smoke", part="test")
    with pytest.raises(ValueError, match="part"):
        make_sample("2d", "brick", "good", 0, part="validation")


def test_quick_size_has_24_anomalies_per_class():
    assert SIZES["quick"].test_anomalous == 24
    assert (SIZES["smoke"].test_anomalous, SIZES["full"].test_anomalous) == (4, 40)


@pytest.fixture(scope="module")
def dev(smoke):
    return {m: load_embedded(m, size="smoke", seed=0, root=smoke["root"], part="dev")
            for m in ("2d", "2.5d", "3d")}


def test_dev_part_is_separate_and_complete(smoke, dev):
    root = smoke["root"]
    for modality in ("2d", "2.5d", "3d"):
        assert list(dev[modality]) == list_categories(modality)
        for cat, cs in dev[modality].items():
            assert cs.dataset == dataset_name(modality, "dev")
            assert smoke[modality][cat].dataset == dataset_name(modality, "eval")
            assert cs.counts() == smoke[modality][cat].counts()
        folder = modality.replace(".", "_")
        man = json.loads((root / folder / "smoke-seed0-dev" / "manifest.json").read_text())
        assert man["params"]["part"] == "dev"
        assert json.loads((root / folder / "smoke-seed0" / "manifest.json").read_text())[
            "params"]["part"] == "eval"


def _pixels(sample, modality):
    return (sample.volume if modality == "3d" else sample.image).astype(np.float64)


def test_no_image_is_shared_across_parts(smoke, dev):
    """No image of one part equals, or nearly equals, an image of the other part.

    "Nearly equal" is a mean absolute difference (intensities in [0, 1]) below 0.01, about the
    sensor noise, or below half of the smallest difference between two nominal images of the
    same part: two images that close would be one image seen twice.
    """
    for modality in ("2d", "2.5d", "3d"):
        for cat in list_categories(modality):
            a, b = smoke[modality][cat], dev[modality][cat]
            every = [*a.train, *a.validation, *a.test], [*b.train, *b.validation, *b.test]
            hashes = [{hashlib.sha256(_pixels(s, modality).tobytes()).hexdigest() for s in part}
                      for part in every]
            assert not hashes[0] & hashes[1], (modality, cat)
            nominal = [[_pixels(s, modality) for s in part if s.label == 0] for part in every]
            cross = min(np.abs(x - y).mean() for x in nominal[0] for y in nominal[1])
            within = min(np.abs(p[i] - p[j]).mean() for p in nominal
                         for i in range(len(p)) for j in range(i + 1, len(p)))
            assert cross > 0.01, (modality, cat, cross)
            assert cross > 0.5 * within, (modality, cat, cross, within)


def test_texture_crops_never_share_a_source_pixel(monkeypatch, tmp_path):
    """Every crop the generator makes (nominal appearance and foreign blobs, both parts) reads
    only its part's columns of the photograph, and the two parts' footprints do not touch."""
    from topotta_lite.data import textures

    seen: dict[tuple[str, str], list[tuple[int, int]]] = {}
    original = textures._read

    def spy(name, part, sy, sx):
        # bilinear interpolation reads floor(x) and floor(x) + 1
        seen.setdefault((name, part), []).append((int(np.floor(sx.min())),
                                                  int(np.ceil(sx.max()))))
        return original(name, part, sy, sx)

    monkeypatch.setattr(textures, "_read", spy)
    cats = list(textures.DEFECTS)
    for part in PARTS:
        load_embedded("2d", cats, size="smoke", seed=0, root=tmp_path, part=part)
    # a blob is cut from the other photograph: every photograph is read by both parts
    assert {n for n, _ in seen} == {"brick", "grass", "gravel"}
    for name in ("brick", "grass", "gravel"):
        lo_d, hi_d = textures.region_columns(name, "dev")
        lo_e, hi_e = textures.region_columns(name, "eval")
        assert hi_d <= lo_e  # the regions themselves are disjoint
        dev_cols = seen[(name, "dev")]
        eval_cols = seen[(name, "eval")]
        assert all(lo_d <= a and b <= hi_d - 1 for a, b in dev_cols)
        assert all(lo_e <= a and b <= hi_e - 1 for a, b in eval_cols)
        assert max(b for _, b in dev_cols) < min(a for a, _ in eval_cols)
    # and many more random crops (other rotations, zooms and positions) stay inside their half
    rng = np.random.default_rng(0)
    for part in PARTS:
        for _ in range(200):
            textures.crop("brick", rng, part=part)
    lo_e = textures.region_columns("brick", "eval")[0]
    assert max(b for _, b in seen[("brick", "dev")]) < lo_e <= min(
        a for a, _ in seen[("brick", "eval")])


def test_a_crop_outside_its_half_is_refused():
    from topotta_lite.data import textures

    sy = np.zeros((2, 2))
    with pytest.raises(ValueError, match="dev"):
        textures._read("brick", "dev", sy, np.full((2, 2), 300.0))
    with pytest.raises(ValueError, match="eval"):
        textures._read("brick", "eval", sy, np.full((2, 2), 255.0))


CASES = [
    (m, c, d) for m in ("2d", "2.5d", "3d") for c in list_categories(m) for d in defect_types(m, c)
]


@pytest.mark.parametrize(("modality", "category", "defect"), CASES)
def test_gt_is_exact(modality, category, defect):
    """A defective sample differs from its nominal twin only inside its GT, and visibly so."""
    seed = 11
    bad = make_sample(modality, category, defect, seed, voxels=32)
    good = make_sample(modality, category, "good", seed, voxels=32)
    arr = {"2d": "image", "2.5d": "depth", "3d": "volume"}[modality]
    a, b = getattr(bad, arr), getattr(good, arr)
    diff = np.abs(a.astype(np.float64) - b)
    if diff.ndim == 3 and modality != "3d":
        diff = diff.max(axis=-1)
    m = bad.mask
    assert m.any() and bad.label == 1
    assert np.all(diff[~m] == 0), "changes outside the GT"
    if modality == "2.5d" and defect == "contamination":  # colour only: look at the RGB
        diff = np.abs(bad.image - good.image).max(axis=-1)
    assert (diff[m] > 1.5 / 255).mean() > 0.6, "GT pixels mostly unchanged"


def test_mask_topology():
    rng = np.random.default_rng(0)
    shape = (224, 224)
    sup = np.zeros(shape, bool)
    sup[6:-6, 6:-6] = True
    for _ in range(5):
        c = sh.crack(rng, shape, sup)
        assert ndi.label(c, EIGHT)[1] == 1
        r = sh.ring(rng, shape, sup)
        assert ndi.label(r, EIGHT)[1] == 1 and euler_number(r, connectivity=2) == 0
        b = sh.blob(rng, shape, sup)
        assert ndi.label(b, EIGHT)[1] == 1 and euler_number(b, connectivity=2) == 1
        s = sh.spots(rng, shape, sup)
        assert ndi.label(s, EIGHT)[1] >= 3


def test_voxel_defect_topology():
    cav = make_sample("3d", "casting", "cavity", 2, voxels=32)
    nom = make_sample("3d", "casting", "good", 2, voxels=32)
    # an internal cavity adds one enclosed background component (an H2 class)
    n_bg = [ndi.label(~(s.volume > 0.4))[1] for s in (nom, cav)]
    assert n_bg[1] == n_bg[0] + 1
    pores = make_sample("3d", "composite", "pores", 2, voxels=32)
    assert ndi.label(pores.mask)[1] >= 2


def test_gallery(smoke):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for modality in ("2.5d", "3d"):
        fig = gallery(smoke[modality], n=2)
        assert len(fig.axes) == len(smoke[modality]) * 5
        plt.close(fig)
    fig = gallery(smoke["3d"]["casting"], n=1, view="mip")
    assert len(fig.axes) == 3
    plt.close(fig)
