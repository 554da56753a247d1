"""`topotta-lite segment` end to end on a small folder written by the test."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from topotta_lite.cli.main import main
from topotta_lite.metrics import segmentation_scores
from topotta_lite.operators import TopoTTA


def _map_and_gt(shape, seed):
    rng = np.random.default_rng(seed)
    gt = np.zeros(shape, bool)
    gt[tuple(slice(s // 4, s // 2) for s in shape)] = True
    psi = ndimage.gaussian_filter(gt.astype(float), 1.0) + 0.02 * rng.random(shape)
    return psi, gt


@pytest.fixture()
def folders(tmp_path):
    maps, gts, images = tmp_path / "maps", tmp_path / "gt", tmp_path / "images"
    for d in (maps, gts, images):
        d.mkdir()
    truth = {}
    for i, name in enumerate(["a", "b"]):
        psi, gt = _map_and_gt((48, 40), i)
        np.save(maps / f"{name}.npy", psi)
        truth[name] = (psi, gt)
        rgb = np.repeat((psi / psi.max() * 255).astype(np.uint8)[..., None], 3, axis=2)
        Image.fromarray(rgb).save(images / f"{name}.png")
    Image.fromarray(truth["a"][1].astype(np.uint8) * 255).save(gts / "a.png")
    np.save(gts / "b.npy", truth["b"][1])
    psi3, gt3 = _map_and_gt((12, 16, 16), 5)
    np.save(maps / "vol.npy", psi3)
    np.save(gts / "vol.npy", gt3)
    truth["vol"] = (psi3, gt3)
    return tmp_path, truth


def test_segment_writes_masks_and_metrics_and_reports_bad_files(folders, capsys):
    root, truth = folders
    maps, gts, out = root / "maps", root / "gt", root / "out"
    (maps / "broken.npy").write_bytes(b"not an npy file")
    nan_map = truth["a"][0].copy()
    nan_map[3, 3] = np.nan
    np.save(maps / "nan.npy", nan_map)
    np.save(maps / "wrong_gt.npy", truth["a"][0])
    np.save(gts / "wrong_gt.npy", np.zeros((10, 10), bool))

    code = main(["segment", str(maps), "--out", str(out), "--gt", str(gts), "--quiet"])
    assert code == 1
    err = capsys.readouterr().err
    for bad in ("broken.npy", "nan.npy", "wrong_gt.npy"):
        assert bad in err
    assert "NaN" in err and "shape" in err
    # good files processed: PNG for 2D, .npy for 3D, equal to the operator's own output
    for name in ("a", "b"):
        png = np.asarray(Image.open(out / f"{name}.png")) > 0
        np.testing.assert_array_equal(png, TopoTTA().segment(truth[name][0]))
    vol = np.load(out / "vol.npy")
    assert vol.shape == truth["vol"][0].shape and vol.dtype == bool
    assert not (out / "broken.png").exists() and not (out / "wrong_gt.png").exists()
    with open(out / "metrics.csv") as fh:
        rows = {r["name"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {"a", "b", "vol"}
    want = segmentation_scores(np.asarray(Image.open(out / "a.png")) > 0, truth["a"][1])
    for key, value in want.items():
        assert float(rows["a"][key]) == pytest.approx(value)
    assert float(rows["vol"]["iou"]) > 0.3


def test_segment_with_images_uses_features(folders):
    root, truth = folders
    (root / "maps" / "vol.npy").unlink()
    out = root / "out_feat"
    code = main(["segment", str(root / "maps"), "--out", str(out), "--images",
                 str(root / "images"), "--epochs", "3", "--device", "cpu", "--quiet"])
    assert code == 0
    for name in ("a", "b"):
        mask = np.asarray(Image.open(out / f"{name}.png")) > 0
        assert mask.shape == truth[name][0].shape and mask.any()


def test_thr_needs_nominal_maps(folders, capsys):
    root, truth = folders
    maps, out = root / "maps", root / "out_thr"
    assert main(["segment", str(maps), "--out", str(out), "--operator", "thr", "--quiet"]) == 2
    assert "--nominal-maps" in capsys.readouterr().err
    nominal = root / "nominal"
    nominal.mkdir()
    for i in range(2):
        np.save(nominal / f"n{i}.npy", 0.02 * np.random.default_rng(i).random((48, 40)))
    code = main(["segment", str(maps), "--out", str(out), "--operator", "thr",
                 "--nominal-maps", str(nominal), "--quiet"])
    assert code == 0
    assert (np.asarray(Image.open(out / "a.png")) > 0).sum() >= truth["a"][1].sum()


def test_missing_or_empty_folders_exit_2(tmp_path, capsys):
    assert main(["segment", str(tmp_path / "nope"), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "not found" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["segment", str(tmp_path / "empty"), "--out", str(tmp_path / "o"), "--quiet"]) == 2
