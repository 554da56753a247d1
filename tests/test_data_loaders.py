"""Real-dataset loaders on tiny fixtures written in each dataset's exact on-disk layout,
and score-map import."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from hostile_files import lying_npy, png_bomb, tiff_bomb, truncate
from PIL import Image

from topotta_lite.data import (
    ClassSplit,
    LazySamples,
    find_categories,
    load_anomaly_shapenet,
    load_dataset,
    load_mvtec_3d,
    load_mvtec_ad,
    load_mvtec_loco,
    load_real_iad,
    load_score_maps,
    load_visa,
    read_pcd,
    read_score_map,
    save_score_maps,
    voxelise,
)
from topotta_lite.data.loaders import read_mask, read_rgb

H, W = 16, 20


def _rgb(path, seed):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path)
    return arr


def _mask(path, box, value=255):
    path.parent.mkdir(parents=True, exist_ok=True)
    m = np.zeros((H, W), np.uint8)
    y0, y1, x0, x1 = box
    m[y0:y1, x0:x1] = value
    Image.fromarray(m).save(path)
    return m > 0


# ----------------------------------------------------------------------------- MVTec AD


@pytest.fixture
def mvtec(tmp_path):
    c = tmp_path / "bottle"
    for i in range(5):
        _rgb(c / "train" / "good" / f"{i:03d}.png", i)
    img = _rgb(c / "test" / "good" / "000.png", 10)
    gts = {}
    for i in range(2):
        _rgb(c / "test" / "broken_large" / f"{i:03d}.png", 20 + i)
        gts[i] = _mask(c / "ground_truth" / "broken_large" / f"{i:03d}_mask.png", (2, 6 + i, 3, 9))
    return tmp_path, img, gts


def test_mvtec_ad(mvtec):
    root, img, gts = mvtec
    cs = load_mvtec_ad(root, "bottle", resize=None, val_fraction=0.2, seed=0)
    assert isinstance(cs, ClassSplit) and cs.modality == "2d" and cs.dataset == "mvtec_ad"
    assert cs.counts() == {"train": 4, "validation": 1, "test_good": 1, "test_anomalous": 2}
    assert [s.name for s in cs.test] == ["broken_large_000", "broken_large_001", "good_000"]
    good = cs.test[2]
    assert good.image.dtype == np.float32 and np.array_equal(good.image, img / np.float32(255))
    assert not good.mask.any()
    assert np.array_equal(cs.test[1].mask, gts[1]) and cs.test[1].defect == "broken_large"
    train_names = {s.name for s in cs.train} | {s.name for s in cs.validation}
    assert train_names == {f"good_{i:03d}" for i in range(5)}
    # the carved validation split is seeded
    v0 = load_mvtec_ad(root, "bottle", resize=None, val_fraction=0.2, seed=0).validation[0].name
    assert v0 == cs.validation[0].name
    big = load_mvtec_ad(root, "bottle")
    assert big.test[0].image.shape == (224, 224, 3) and big.test[0].mask.shape == (224, 224)
    assert big.test[0].mask.any() and 0 <= big.test[0].image.min() <= big.test[0].image.max() <= 1
    assert find_categories(root, "mvtec_ad") == ["bottle"]
    assert load_dataset("MVTec-AD", root, "bottle", resize=8).test[0].mask.shape == (8, 8)


def test_mvtec_ad_lazy(mvtec):
    root, _, _ = mvtec
    lazy = load_mvtec_ad(root, "bottle", resize=32, lazy=True)
    eager = load_mvtec_ad(root, "bottle", resize=32)
    assert isinstance(lazy.test, LazySamples) and len(lazy.test) == len(eager.test) == 3
    for a, b in zip(lazy.test, eager.test):
        assert a.name == b.name and np.array_equal(a.image, b.image)
        assert np.array_equal(a.mask, b.mask)


def test_mvtec_ad_errors(mvtec, tmp_path):
    root, _, _ = mvtec
    with pytest.raises(FileNotFoundError, match="carpet"):
        load_mvtec_ad(root, "carpet")
    (root / "bottle" / "ground_truth" / "broken_large" / "001_mask.png").unlink()
    with pytest.raises(FileNotFoundError, match="001_mask.png"):
        load_mvtec_ad(root, "bottle")
    (tmp_path / "empty" / "train").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"train.good"):
        load_mvtec_ad(tmp_path, "empty")
    (root / "bottle" / "test" / "broken_large" / "001.png").unlink()
    bad = root / "bottle" / "test" / "good" / "000.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ValueError, match="000.png"):
        load_mvtec_ad(root, "bottle", val_fraction=0.0)


# ----------------------------------------------------------------------------- MVTec LOCO


def test_mvtec_loco(tmp_path):
    c = tmp_path / "juice_bottle"
    for i in range(3):
        _rgb(c / "train" / "good" / f"{i:03d}.png", i)
    for i in range(2):
        _rgb(c / "validation" / "good" / f"{i:03d}.png", 10 + i)
    _rgb(c / "test" / "good" / "000.png", 20)
    _rgb(c / "test" / "logical_anomalies" / "000.png", 21)
    a = _mask(c / "ground_truth" / "logical_anomalies" / "000" / "000.png", (0, 3, 0, 3))
    b = _mask(c / "ground_truth" / "logical_anomalies" / "000" / "001.png", (8, 12, 10, 15), 7)
    cs = load_mvtec_loco(tmp_path, "juice_bottle", resize=None)
    assert cs.counts() == {"train": 3, "validation": 2, "test_good": 1, "test_anomalous": 1}
    anom = cs.test[1]
    assert anom.name == "logical_anomalies_000" and np.array_equal(anom.mask, a | b)
    (c / "ground_truth" / "logical_anomalies" / "000" / "000.png").unlink()
    (c / "ground_truth" / "logical_anomalies" / "000" / "001.png").unlink()
    with pytest.raises(FileNotFoundError, match="logical_anomalies"):
        load_mvtec_loco(tmp_path, "juice_bottle")


# ----------------------------------------------------------------------------- VisA


def _visa(root):
    rows = ["object,split,label,image,mask"]
    for i in range(4):
        p = f"candle/Data/Images/Normal/{i:04d}.JPG"
        _rgb(root / p, i)
        rows.append(f"candle,train,normal,{p},")
    p = "candle/Data/Images/Normal/0100.JPG"
    _rgb(root / p, 9)
    rows.append(f"candle,test,normal,{p},")
    gt = {}
    for i in range(2):
        p = f"candle/Data/Images/Anomaly/{i:03d}.JPG"
        m = f"candle/Data/Masks/Anomaly/{i:03d}.png"
        _rgb(root / p, 30 + i)
        gt[i] = _mask(root / m, (4, 9, 5 + i, 12), value=1)
        rows.append(f"candle,test,anomaly,{p},{m}")
    _rgb(root / "pcb1/Data/Images/Normal/0000.JPG", 50)
    rows.append("pcb1,train,normal,pcb1/Data/Images/Normal/0000.JPG,")
    (root / "split_csv").mkdir(parents=True)
    (root / "split_csv" / "1cls.csv").write_text("\n".join(rows) + "\n")
    return gt


def test_visa(tmp_path):
    gt = _visa(tmp_path)
    cs = load_visa(tmp_path, "candle", resize=None, val_fraction=0.25)
    assert cs.dataset == "visa"
    assert cs.counts() == {"train": 3, "validation": 1, "test_good": 1, "test_anomalous": 2}
    anom = [s for s in cs.test if s.label == 1]
    assert [s.name for s in anom] == ["anomaly_000", "anomaly_001"]
    assert np.array_equal(anom[1].mask, gt[1])
    assert anom[0].image.shape == (H, W, 3)
    assert find_categories(tmp_path, "visa") == ["candle", "pcb1"]
    with pytest.raises(ValueError, match="macaroni1"):
        load_visa(tmp_path, "macaroni1")


def test_visa_malformed(tmp_path):
    _visa(tmp_path)
    csv_path = tmp_path / "split_csv" / "1cls.csv"
    csv_path.write_text("object,split,image\ncandle,train,x.JPG\n")
    with pytest.raises(ValueError, match=r"1cls\.csv.*label"):
        load_visa(tmp_path, "candle")
    with pytest.raises(FileNotFoundError, match="1cls.csv"):
        load_visa(tmp_path / "nowhere", "candle")


# ----------------------------------------------------------------------------- MVTec 3D-AD


def _m3d_sample(base, split, defect, i, seed, box=None):
    d = base / split / defect
    _rgb(d / "rgb" / f"{i:03d}.png", seed)
    xyz = np.random.default_rng(seed).normal(size=(H, W, 3)).astype(np.float32)
    xyz[:2] = 0  # no points on the first rows
    (d / "xyz").mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(d / "xyz" / f"{i:03d}.tiff", xyz, photometric="rgb")
    gt = _mask(d / "gt" / f"{i:03d}.png", box or (0, 0, 0, 0))
    return xyz, gt


def test_mvtec_3d(tmp_path):
    base = tmp_path / "bagel"
    for i in range(3):
        _m3d_sample(base, "train", "good", i, i)
    _m3d_sample(base, "validation", "good", 0, 5)
    _m3d_sample(base, "test", "good", 0, 6)
    xyz, gt = _m3d_sample(base, "test", "crack", 0, 7, (5, 10, 2, 8))
    cs = load_mvtec_3d(tmp_path, "bagel", resize=None)
    assert cs.modality == "2.5d"
    assert cs.counts() == {"train": 3, "validation": 1, "test_good": 1, "test_anomalous": 1}
    s = cs.test[0]
    assert s.name == "crack_000" and np.array_equal(s.mask, gt)
    assert s.xyz.dtype == np.float32 and np.array_equal(s.xyz, xyz)
    assert np.array_equal(s.depth, xyz[..., 2]) and s.depth.shape == (H, W)
    small = load_mvtec_3d(tmp_path, "bagel", resize=32).test[0]
    assert small.xyz.shape == (32, 32, 3) and small.image.shape == (32, 32, 3)
    assert np.isin(small.depth, xyz[..., 2]).all()  # nearest: no invented values
    (base / "test" / "crack" / "xyz" / "000.tiff").unlink()
    with pytest.raises(FileNotFoundError, match=r"crack.xyz.000\.tiff"):
        load_mvtec_3d(tmp_path, "bagel")


def test_mvtec_3d_bad_tiff(tmp_path):
    base = tmp_path / "cookie"
    _m3d_sample(base, "train", "good", 0, 0)
    _m3d_sample(base, "train", "good", 1, 1)
    _m3d_sample(base, "test", "good", 0, 2)
    tifffile.imwrite(base / "test" / "good" / "xyz" / "000.tiff", np.zeros((H, W), np.float32))
    with pytest.raises(ValueError, match=r"000\.tiff"):
        load_mvtec_3d(tmp_path, "cookie")


# ----------------------------------------------------------------------------- Real-IAD


def test_real_iad(tmp_path):
    cat = tmp_path / "realiad_256" / "audiojack"
    train, test = [], []
    for sid in (1, 2):
        for cam in (1, 2):
            rel = f"OK/S{sid:04d}/audiojack_{sid:04d}_OK_C{cam}_20230922.jpg"
            _rgb(cat / rel, sid * 10 + cam)
            train.append(
                {
                    "category": "audiojack",
                    "anomaly_class": "OK",
                    "image_path": rel,
                    "mask_path": None,
                }
            )
    rel = "OK/S0003/audiojack_0003_OK_C1_20230922.jpg"
    _rgb(cat / rel, 40)
    test.append(
        {"category": "audiojack", "anomaly_class": "OK", "image_path": rel, "mask_path": None}
    )
    rel = "NG/AK/S0004/audiojack_0004_NG_AK_C1_20230922.jpg"
    _rgb(cat / rel, 41)
    gt = _mask(cat / rel.replace(".jpg", "_mask.png"), (3, 8, 3, 8))
    test.append(
        {
            "category": "audiojack",
            "anomaly_class": "AK",
            "image_path": rel,
            "mask_path": rel.replace(".jpg", "_mask.png"),
        }
    )
    jdir = tmp_path / "realiad_jsons" / "realiad_jsons"
    jdir.mkdir(parents=True)
    meta = {"prefix": "audiojack", "normal_class": "OK"}
    (jdir / "audiojack.json").write_text(json.dumps({"meta": meta, "train": train, "test": test}))
    cs = load_real_iad(tmp_path, "audiojack", resize=None, val_fraction=0.25)
    assert cs.counts() == {"train": 3, "validation": 1, "test_good": 1, "test_anomalous": 1}
    anom = cs.test[1]
    assert anom.defect == "AK" and anom.name == "AK_audiojack_0004_NG_AK_C1_20230922"
    assert np.array_equal(anom.mask, gt)
    assert find_categories(tmp_path, "real_iad") == ["audiojack"]
    (jdir / "audiojack.json").write_text(json.dumps({"meta": meta}))
    with pytest.raises(ValueError, match="audiojack.json"):
        load_real_iad(tmp_path, "audiojack")
    with pytest.raises(FileNotFoundError, match="toy.json"):
        load_real_iad(tmp_path, "toy")


# ----------------------------------------------------------------------------- AnomalyShapeNet


def _pcd_ascii(path, pts):
    path.parent.mkdir(parents=True, exist_ok=True)
    head = [
        "# .PCD v0.7 - Point Cloud Data file format",
        "VERSION 0.7",
        "FIELDS x y z",
        "SIZE 4 4 4",
        "TYPE F F F",
        "COUNT 1 1 1",
        f"WIDTH {len(pts)}",
        "HEIGHT 1",
        "VIEWPOINT 0 0 0 1 0 0 0",
        f"POINTS {len(pts)}",
        "DATA ascii",
    ]
    path.write_text("\n".join(head + [" ".join(f"{v:.6f}" for v in p) for p in pts]) + "\n")


def _pcd_binary(path, pts):
    path.parent.mkdir(parents=True, exist_ok=True)
    head = [
        "VERSION 0.7",
        "FIELDS x y z rgb",
        "SIZE 4 4 4 4",
        "TYPE F F F U",
        "COUNT 1 1 1 1",
        f"WIDTH {len(pts)}",
        "HEIGHT 1",
        f"POINTS {len(pts)}",
        "DATA binary",
    ]
    rec = np.zeros(len(pts), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("rgb", "<u4")])
    rec["x"], rec["y"], rec["z"] = pts.T
    path.write_bytes(("\n".join(head) + "\n").encode() + rec.tobytes())


def test_read_pcd_ascii_and_binary(tmp_path):
    pts = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    _pcd_ascii(tmp_path / "a.pcd", pts)
    _pcd_binary(tmp_path / "b.pcd", pts)
    assert np.allclose(read_pcd(tmp_path / "a.pcd"), pts, atol=1e-6)
    assert np.array_equal(read_pcd(tmp_path / "b.pcd"), pts.astype(np.float64))
    (tmp_path / "c.pcd").write_text("FIELDS x y z\nDATA binary_compressed\n")
    with pytest.raises(ValueError, match="c.pcd"):
        read_pcd(tmp_path / "c.pcd")


def test_anomaly_shapenet(tmp_path):
    rng = np.random.default_rng(1)
    c = tmp_path / "ashtray0"
    for i in range(4):
        _pcd_ascii(c / "train" / f"ashtray0_template{i}.pcd", rng.uniform(-1, 1, (300, 3)))
    _pcd_binary(c / "test" / "ashtray0_positive0.pcd", rng.uniform(-1, 1, (300, 3)))
    pts = rng.uniform(-1, 1, (300, 3))
    lab = pts[:, 0] > 0.7
    _pcd_ascii(c / "test" / "ashtray0_bulge0.pcd", pts)
    (c / "GT").mkdir()
    (c / "GT" / "ashtray0_bulge0.txt").write_text(
        "".join(f"{x:.6f},{y:.6f},{z:.6f},{int(v)}.0\n" for (x, y, z), v in zip(pts, lab))
    )
    cs = load_anomaly_shapenet(tmp_path, "ashtray0", voxels=16)
    assert cs.modality == "3d"
    assert cs.counts() == {"train": 3, "validation": 1, "test_good": 1, "test_anomalous": 1}
    bulge, good = cs.test
    assert bulge.defect == "bulge" and good.defect == "good" and good.label == 0
    assert bulge.volume.shape == bulge.mask.shape == (16, 16, 16)
    exp_vol, exp_mask = voxelise(np.round(pts, 6), lab, 16)
    assert np.array_equal(bulge.mask, exp_mask) and np.array_equal(bulge.volume, exp_vol)
    assert bulge.mask.any() and not good.mask.any()
    assert bulge.mask[bulge.mask].size <= (bulge.volume > 0).sum()
    assert not (bulge.mask & (bulge.volume == 0)).any()  # anomalous voxels are occupied
    (c / "GT" / "ashtray0_bulge0.txt").unlink()
    with pytest.raises(FileNotFoundError, match="ashtray0_bulge0.txt"):
        load_anomaly_shapenet(tmp_path, "ashtray0")


# ----------------------------------------------------------------------------- score maps


def test_score_maps_by_name_and_index(mvtec, tmp_path):
    root, _, _ = mvtec
    cs = load_mvtec_ad(root, "bottle", resize=None)
    maps = [np.random.default_rng(i).random((H, W)) for i in range(len(cs.test))]
    d = tmp_path / "maps"
    save_score_maps(maps, cs, d)
    got = load_score_maps(d, cs)
    assert all(np.array_equal(a, b) for a, b in zip(got, maps))
    # the authors' layout, 1-based, found by index
    d2 = tmp_path / "authors" / "bottle"
    d2.mkdir(parents=True)
    for i, m in enumerate(maps):
        np.save(d2 / f"bottle{i + 1}.npy", m)
    got = load_score_maps(tmp_path / "authors", cs)
    assert all(np.array_equal(a, b) for a, b in zip(got, maps))
    # MVTec-style folders: <class>/test/<defect>/<stem>.npy
    for s, m in zip(cs.test, maps):
        p = tmp_path / "mv" / "bottle" / "test" / s.defect / f"{s.meta['stem']}.npy"
        p.parent.mkdir(parents=True, exist_ok=True)
        np.save(p, m)
    got = load_score_maps(tmp_path / "mv", cs.test, category="bottle", match="name")
    assert all(np.array_equal(a, b) for a, b in zip(got, maps))


def test_score_maps_errors(mvtec, tmp_path):
    root, _, _ = mvtec
    cs = load_mvtec_ad(root, "bottle", resize=None)
    d = tmp_path / "maps"
    paths = save_score_maps([np.zeros((H, W))] * 3, cs, d)
    paths[1].unlink()
    with pytest.raises(
        FileNotFoundError, match=r"1 of 3 score maps missing(.|\n)*broken_large_001"
    ):
        load_score_maps(d, cs, match="name")
    np.save(paths[1], np.zeros((H + 1, W)))
    with pytest.raises(ValueError, match=r"shape \(17, 20\)"):
        load_score_maps(d, cs)
    with pytest.raises(ValueError, match=r"shape \(17, 20\).*another aspect ratio"):
        load_score_maps(d, cs, resize=True)  # interpolated only when only the scale differs
    np.save(paths[1], np.zeros((2 * H, 2 * W)))
    assert load_score_maps(d, cs, resize=True)[1].shape == (H, W)
    np.save(paths[1], np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="pickle"):
        load_score_maps(d, cs)
    bad = np.zeros((H, W))
    bad[0, 0] = np.nan
    np.save(paths[1], bad)
    with pytest.raises(ValueError, match="NaN"):
        load_score_maps(d, cs)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_score_maps(tmp_path / "nowhere", cs)


def test_score_maps_3d(tmp_path):
    rng = np.random.default_rng(0)
    c = tmp_path / "ds" / "bag0"
    for i in range(2):
        _pcd_ascii(c / "train" / f"bag0_template{i}.pcd", rng.uniform(-1, 1, (50, 3)))
    _pcd_ascii(c / "test" / "bag0_positive0.pcd", rng.uniform(-1, 1, (50, 3)))
    cs = load_anomaly_shapenet(tmp_path / "ds", "bag0", voxels=8)
    d = tmp_path / "maps" / "bag0"
    d.mkdir(parents=True)
    np.save(d / "bag00.npy", np.ones((8, 8, 8), np.float32))
    (m,) = load_score_maps(tmp_path / "maps", cs, match="index")
    assert m.shape == (8, 8, 8)


# ----------------------------------------------------------------------------- hostile files


def test_two_files_of_one_sample_name_are_an_error_naming_both(mvtec):
    root, _, _ = mvtec
    test_dir = root / "bottle" / "test" / "broken_large"
    Image.open(test_dir / "000.png").convert("RGB").save(test_dir / "000.jpg")
    with pytest.raises(ValueError, match=r"broken_large_000.*000\.jpg and .*000\.png"):
        load_mvtec_ad(root, "bottle", lazy=True)
    (test_dir / "000.jpg").unlink()
    train = root / "bottle" / "train" / "good"
    (train / "003.bmp").write_bytes((train / "003.png").read_bytes())
    with pytest.raises(ValueError, match=r"good_003.*003\.bmp and .*003\.png"):
        load_mvtec_ad(root, "bottle")


@pytest.mark.parametrize("breakage, reason", [
    ("empty", r"good_000\.npy is empty"),
    ("text", r"good_000\.npy is not an \.npy file"),
    ("lying", r"good_000\.npy is truncated or its header lies.*\(200000, 200000\)"),
    ("truncated", r"good_000\.npy is truncated"),
    ("bomb", r"good_000\.tiff: 30000x30000 = 900,000,000 pixels, over the limit"),
    ("truncated_tiff", r"good_000\.tiff is truncated"),
])
def test_bad_map_files_name_the_file_and_the_reason(mvtec, tmp_path, breakage, reason):
    root, _, _ = mvtec
    cs = load_mvtec_ad(root, "bottle", resize=None)
    d = tmp_path / "maps"
    paths = save_score_maps([np.ones((H, W))] * 3, cs, d)
    bad = paths[2]  # good_000.npy
    if breakage == "empty":
        bad.write_bytes(b"")
    elif breakage == "text":
        bad.write_text("0.1 0.2\n")
    elif breakage == "lying":
        lying_npy(bad)
    elif breakage == "truncated":
        truncate(bad, 0.8)
    else:
        bad.unlink()
        bad = bad.with_suffix(".tiff")
        if breakage == "bomb":
            tiff_bomb(bad)
        else:
            tifffile.imwrite(bad, np.ones((H, W), np.float32))
            truncate(bad, 0.6)
    with pytest.raises(ValueError, match=reason):
        load_score_maps(d, cs)


def test_channels_are_never_depth(tmp_path):
    rgb = np.random.default_rng(0).random((H, W, 3)).astype(np.float32)
    tifffile.imwrite(tmp_path / "f3.tiff", rgb, photometric="rgb")
    tifffile.imwrite(tmp_path / "u2.tiff", np.zeros((H, W, 2), np.uint8))  # stored as H pages
    np.save(tmp_path / "c4.npy", np.zeros((H, W, 4)))
    for name, n in (("f3.tiff", 3), ("u2.tiff", 2), ("c4.npy", 4)):
        with pytest.raises(ValueError, match=rf"{name} has {n} channels"):
            read_score_map(tmp_path / name)
        assert read_score_map(tmp_path / name, channels="first").shape == (H, W)
    np.testing.assert_allclose(read_score_map(tmp_path / "f3.tiff", channels="mean"),
                               rgb.astype(np.float64).mean(axis=-1))
    tifffile.imwrite(tmp_path / "one.tiff", rgb[..., :1])  # one channel: squeezed
    assert read_score_map(tmp_path / "one.tiff").shape == (H, W)
    np.save(tmp_path / "vol.npy", np.zeros((6, H, W)))  # volumes from .npy and multi-page TIFF
    tifffile.imwrite(tmp_path / "vol.tiff", np.zeros((6, H, W), np.float32))
    assert read_score_map(tmp_path / "vol.npy").shape == read_score_map(tmp_path / "vol.tiff").shape


def test_images_and_masks_over_the_pixel_limit_are_refused_before_decoding(tmp_path):
    png_bomb(tmp_path / "bomb.png")  # over Pillow's own limit
    png_bomb(tmp_path / "big.png", 10000, 9000)  # under Pillow's, over ours
    tiff_bomb(tmp_path / "bomb.tiff")
    for name in ("bomb.png", "big.png", "bomb.tiff"):
        with pytest.raises(ValueError, match=rf"{name}.*pixels"):
            read_rgb(tmp_path / name)
    with pytest.raises(ValueError, match=r"mask .*big\.png: 9000x10000 = 90,000,000 pixels"):
        read_mask(tmp_path / "big.png")
    _rgb(tmp_path / "ok.png", 0)
    assert read_rgb(tmp_path / "ok.png").shape == (H, W, 3)
    with pytest.raises(ValueError, match=r"ok\.png: 16x20 = 320 pixels, over the limit of 100"):
        read_rgb(tmp_path / "ok.png", max_pixels=100)
    _mask(tmp_path / "m.png", (2, 6, 3, 9))
    truncate(tmp_path / "m.png", 0.7)
    with pytest.raises(ValueError, match=r"cannot read mask .*m\.png"):
        read_mask(tmp_path / "m.png")
