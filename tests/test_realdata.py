"""The reviewer's path: a benchmark in the exact MVTec AD layout on disk, with classes that are not
the embedded ones, and score maps from their own detector (float TIFF, as MVTec AD 2's evaluation
reads them) through ``topotta-lite reproduce`` and ``topotta-lite segment``."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from hostile_files import lying_npy, truncate
from PIL import Image
from realdata_fixture import SIZE, fake_map, write_maps, write_mvtec

from topotta_lite import cli
from topotta_lite.cli.reproduce import (
    check_data,
    data_overrides,
    notebook_defaults,
    notebook_params,
    notebooks_dir,
)
from topotta_lite.data import (
    DatasetError,
    check_dataset,
    load_mvtec_ad,
    load_score_maps,
    read_score_map,
    resolve_classes,
    save_score_maps,
)
from topotta_lite.experiments import MAPS_SCORER, ResultCache, score_bundle


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("realdata")
    truth = write_mvtec(root / "mvtec")
    write_maps(root / "maps_tiff", truth, ".tiff", train_root=root / "mvtec")
    write_maps(root / "maps_npy", truth, ".npy", train_root=root / "mvtec")
    return root, truth


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# ----------------------------------------------------------------------------- the check


def test_classes_are_found_on_disk(dataset):
    root, _ = dataset
    assert resolve_classes("mvtec_ad", root / "mvtec") == ["coffee", "rocket"]
    assert resolve_classes("mvtec_ad", root / "mvtec", ["rocket"]) == ["rocket"]  # explicit wins
    report = check_dataset("mvtec_ad", root / "mvtec", maps_dir=root / "maps_tiff")
    assert report.classes == ["coffee", "rocket"]
    assert report.counts["coffee"] == {"train": 6, "test_good": 2, "test_anomalous": 4,
                                       "with_mask": 4}
    assert "rocket: 6 nominal train" in report.summary()


@pytest.mark.parametrize("breakage, message", [
    ("missing_mask", r"rocket.*GT mask not found.*dent/001_mask\.png"),
    ("mask_size", r"coffee: mask .*scratch/000_mask\.png is 20x48 .* its image .* is 48x48"),
    ("no_anomaly", r"rocket: no anomalous test image with a ground-truth mask"),
    ("no_test", r"rocket: MVTec AD test folder not found"),
    ("unknown_class", r"class 'tea' not found .*classes found there: \['coffee', 'rocket'\]"),
    ("empty_root", r"no mvtec_ad class folder in"),
])
def test_broken_dataset_names_the_first_problem(dataset, tmp_path, breakage, message):
    root, _ = dataset
    ds = _copy(root / "mvtec", tmp_path / "ds")
    classes = None
    if breakage == "missing_mask":
        (ds / "rocket" / "ground_truth" / "dent" / "001_mask.png").unlink()
    elif breakage == "mask_size":
        Image.fromarray(np.zeros((20, SIZE), np.uint8)).save(
            ds / "coffee" / "ground_truth" / "scratch" / "000_mask.png")
    elif breakage == "no_anomaly":
        shutil.rmtree(ds / "rocket" / "test" / "dent")
    elif breakage == "no_test":
        shutil.rmtree(ds / "rocket" / "test")
    elif breakage == "unknown_class":
        classes = ["coffee", "tea"]
    elif breakage == "empty_root":
        shutil.rmtree(ds)
        ds.mkdir()
    with pytest.raises(DatasetError, match=message):
        check_dataset("mvtec_ad", ds, classes)


@pytest.mark.parametrize("breakage, message", [
    ("missing", r"1 of 6 score maps missing(.|\n)*scratch_001"),
    ("extra", r"1 extra score map\(s\) in .*coffee match no test image: test/scratch/007\.tiff"),
    ("shape", r"score map .*000\.tiff has shape \(30, 48\) but its image .* is 48x48"),
    ("ndim", r"000\.tiff has 2 channels \(shape \(48, 48, 2\)\).*never read as depth"),
    ("volume", r"has shape \(5, 48, 48\); a 2d map must have 2 dimensions"),
    ("empty", r"coffee: score map .*scratch/000\.npy is empty \(0 bytes\)"),
    ("lying", r"000\.npy is truncated or its header lies: the header promises shape "
              r"\(200000, 200000\)"),
])
def test_broken_maps_are_refused_before_anything_runs(dataset, tmp_path, breakage, message):
    root, _ = dataset
    maps = _copy(root / "maps_tiff", tmp_path / "maps")
    target = maps / "coffee" / "test" / "scratch"
    if breakage == "missing":
        (target / "001.tiff").unlink()
    elif breakage == "extra":
        tifffile.imwrite(target / "007.tiff", np.zeros((SIZE, SIZE), np.float32))
    elif breakage == "shape":
        tifffile.imwrite(target / "000.tiff", np.zeros((30, SIZE), np.float32))
    elif breakage == "ndim":
        tifffile.imwrite(target / "000.tiff", np.zeros((SIZE, SIZE, 2), np.float32),
                         photometric="minisblack", planarconfig="contig")
    elif breakage == "volume":
        tifffile.imwrite(target / "000.tiff", np.zeros((5, SIZE, SIZE), np.float32))
    elif breakage in ("empty", "lying"):  # an .npy in place of the .tiff
        (target / "000.tiff").unlink()
        if breakage == "empty":
            (target / "000.npy").write_bytes(b"")
        else:
            lying_npy(target / "000.npy")
    with pytest.raises(DatasetError, match=message):
        check_dataset("mvtec_ad", root / "mvtec", maps_dir=maps)


@pytest.mark.parametrize("breakage, message", [
    ("black_mask", r"coffee: the ground truth of anomalous image .*stain/001\.png is all black "
                   r"\(.*stain/001_mask\.png\)"),
    ("truncated_mask", r"coffee: cannot read mask .*scratch/001_mask\.png"),
    ("two_files_one_name", r"sample 'dent_000': .*dent/000\.jpg and .*dent/000\.png"),
])
def test_masks_are_decoded_and_samples_have_one_file(dataset, tmp_path, breakage, message):
    root, _ = dataset
    ds = _copy(root / "mvtec", tmp_path / "ds")
    if breakage == "black_mask":
        Image.fromarray(np.zeros((SIZE, SIZE), np.uint8)).save(
            ds / "coffee" / "ground_truth" / "stain" / "001_mask.png")
    elif breakage == "truncated_mask":
        truncate(ds / "coffee" / "ground_truth" / "scratch" / "001_mask.png", 0.6)
    else:
        Image.open(ds / "rocket" / "test" / "dent" / "000.png").save(
            ds / "rocket" / "test" / "dent" / "000.jpg")
    with pytest.raises(DatasetError, match=message):
        check_dataset("mvtec_ad", ds)


def test_a_float_tiff_image_the_loader_reads_passes_the_check(dataset, tmp_path):
    root, _ = dataset
    ds = _copy(root / "mvtec", tmp_path / "ds")
    png = ds / "coffee" / "test" / "scratch" / "000.png"
    rgb = np.asarray(Image.open(png), np.float32) / 255
    png.unlink()
    tifffile.imwrite(png.with_suffix(".tiff"), rgb, photometric="rgb")
    report = check_dataset("mvtec_ad", ds, ["coffee"], maps_dir=root / "maps_tiff")
    assert report.counts["coffee"]["test_anomalous"] == 4
    sample = next(s for s in load_mvtec_ad(ds, "coffee", resize=None).test
                  if s.name == "scratch_000")
    np.testing.assert_allclose(sample.image, rgb, atol=1e-6)


def test_maps_at_a_lower_resolution_are_accepted_and_interpolated(dataset, tmp_path):
    root, truth = dataset
    cs = load_mvtec_ad(root / "mvtec", "rocket")  # resized to 224 x 224
    maps = [fake_map(s.mask, i)[::2, ::2] for i, s in enumerate(load_mvtec_ad(
        root / "mvtec", "rocket", resize=None).test)]  # 24 x 24, same aspect as the 48 x 48 images
    save_score_maps(maps, load_mvtec_ad(root / "mvtec", "rocket", resize=None), tmp_path / "m",
                    layout="test", suffix=".tiff")
    check_dataset("mvtec_ad", root / "mvtec", ["rocket"], maps_dir=tmp_path / "m")
    got = load_score_maps(tmp_path / "m", cs, resize=True)
    assert all(g.shape == (224, 224) for g in got)


def test_tiff_and_npy_maps_read_the_same(dataset):
    root, _ = dataset
    a = read_score_map(root / "maps_tiff" / "coffee" / "test" / "stain" / "001.tiff")
    b = read_score_map(root / "maps_npy" / "coffee" / "test" / "stain" / "001.npy")
    assert a.dtype == np.float64 and np.array_equal(a, b)


def test_a_maps_bundle_uses_the_maps_and_the_validation_maps(dataset, tmp_path):
    root, truth = dataset
    cache = ResultCache(tmp_path / "cache")
    b = score_bundle("mvtec_ad", "rocket", MAPS_SCORER, data_root=str(root / "mvtec"),
                     maps_dir=str(root / "maps_tiff"), cache=cache)
    cs = load_mvtec_ad(root / "mvtec", "rocket")
    assert list(b["names"]) == [s.name for s in cs.test]
    assert b["maps"].shape == (len(cs.test), 224, 224) and str(b["val_source"]) == "validation"
    assert len(b["val_maps"]) == len(cs.validation) and b["features"].shape[0] == len(cs.test)
    # the maps are the files, interpolated to the working grid: the defect is where the GT is
    for m, g in zip(b["maps"], b["gts"]):
        if g.any():
            assert m[g].mean() > m[~g].mean() + 0.5
    with pytest.raises(ValueError, match="needs maps_dir"):
        score_bundle("mvtec_ad", "rocket", MAPS_SCORER, data_root=str(root / "mvtec"), cache=cache)


# ----------------------------------------------------------------------------- the runner


def test_dataset_options_reach_the_experiment_notebooks_only():
    assert data_overrides("mvtec_ad", "/d", "/m") == {"dataset": "mvtec_ad", "data_root": "/d",
                                                      "maps_dir": "/m"}
    assert data_overrides("anomaly_shapenet", "/a") == {"dataset_3d": "anomaly_shapenet",
                                                        "data_root_3d": "/a"}
    with pytest.raises(ValueError, match="give --data-root"):
        data_overrides("mvtec_ad")
    with pytest.raises(ValueError, match="need --dataset"):
        data_overrides(None, "/d")
    nbs = notebooks_dir()
    data = data_overrides("mvtec_ad", "/d")
    quick06 = notebook_params("quick", nbs / "06_experiments_2d.py", None, data)
    assert quick06["dataset"] == "mvtec_ad" and quick06["data_root"] == "/d"
    assert "classes" not in quick06  # the profile's embedded class list is dropped
    assert notebook_params("quick", nbs / "06_experiments_2d.py")["classes"][0] == "brick"
    # an explicit class list still wins over the classes found on disk
    mine = notebook_params("quick", nbs / "06_experiments_2d.py", {"classes": ["rocket"]}, data)
    assert mine["classes"] == ["rocket"]
    assert "dataset" not in notebook_params("smoke", nbs / "05_pces.py", None, data)
    # notebook 12: the 2D data reach it, the profile's 3D size follows notebook 07's
    p12 = notebook_params("quick", nbs / "12_runtime.py", None, data)
    assert p12["data_root"] == "/d" and p12["size_3d"] == "smoke"
    m3d = notebook_params("quick", nbs / "07_experiments_3d.py", None,
                          data_overrides("mvtec_3d", "/m3d"))
    assert m3d["dataset_25d"] == "mvtec_3d" and m3d["data_root_25d"] == "/m3d"
    # every experiment notebook declares the data parameters of the modalities it runs
    for stem, names in {"06_experiments_2d": ["dataset", "data_root", "maps_dir", "classes"],
                        "07_experiments_3d": ["dataset_25d", "data_root_25d", "maps_dir_25d",
                                              "dataset_3d", "data_root_3d", "maps_dir_3d"],
                        "12_runtime": ["dataset", "data_root", "maps_dir", "dataset_25d",
                                       "data_root_3d", "maps_dir_3d"]}.items():
        declared = notebook_defaults(nbs / f"{stem}.py")
        assert set(names) <= set(declared), stem
    for n in ("08_ablations", "09_sensitivity", "10_fewshot_crossmodel", "11_robustness"):
        declared = notebook_defaults(nbs / f"{n}.py")
        assert {"dataset", "data_root", "maps_dir"} <= set(declared)
        assert declared["categories"] is None


def test_check_data_names_the_notebook(dataset, tmp_path):
    root, _ = dataset
    with pytest.raises(DatasetError, match=r"nothing was run or written: 08_ablations "
                                           r"\(dataset='mvtec_ad'\): class 'tea'"):
        check_data({"08_ablations": {"dataset": "mvtec_ad", "data_root": str(root / "mvtec"),
                                     "categories": ["tea"]}})


def _table(figs: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(figs / "tables" / f"{name}.csv")


@pytest.mark.long
def test_reproduce_on_real_layout_with_classes_found_on_disk(dataset, tmp_path, monkeypatch):
    root, _ = dataset
    monkeypatch.setenv("TOPOTTA_CACHE", str(tmp_path / "cache"))
    figs = tmp_path / "figures"
    rc = cli.main(["reproduce", "--profile", "smoke", "--only", "06", "--no-progress",
                   "--dataset", "mvtec_ad", "--data-root", str(root / "mvtec"),
                   "--figures-dir", str(figs), "--build-dir", str(tmp_path / "build")])
    assert rc == 0
    t3 = _table(figs, "table3_per_class")
    assert sorted(set(t3["category"])) == ["coffee", "rocket"]
    t1 = _table(figs, "table1_2d")
    assert set(t1["dataset"]) == {"mvtec_ad"} and (t1["n_classes"] == 2).all()
    assert t1["f1"].between(0, 1).all() and t1["f1"].notna().all()


def test_reproduce_on_a_broken_folder_fails_before_writing(dataset, tmp_path, monkeypatch,
                                                           capsys):
    root, _ = dataset
    ds = _copy(root / "mvtec", tmp_path / "ds")
    (ds / "rocket" / "ground_truth" / "dent" / "001_mask.png").unlink()
    figs, build = tmp_path / "figures", tmp_path / "build"
    rc = cli.main(["reproduce", "--profile", "smoke", "--only", "06", "--no-progress",
                   "--dataset", "mvtec_ad", "--data-root", str(ds),
                   "--figures-dir", str(figs), "--build-dir", str(build)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "rocket" in err and "001_mask.png" in err and "nothing was run or written" in err
    assert not figs.exists() and not build.exists()


def test_reproduce_names_an_empty_map_file_before_running(dataset, tmp_path, capsys):
    root, _ = dataset
    maps = _copy(root / "maps_npy", tmp_path / "maps")
    (maps / "rocket" / "test" / "dent" / "001.npy").write_bytes(b"")
    figs, build = tmp_path / "figures", tmp_path / "build"
    rc = cli.main(["reproduce", "--profile", "smoke", "--only", "06", "--no-progress",
                   "--dataset", "mvtec_ad", "--data-root", str(root / "mvtec"),
                   "--maps-dir", str(maps), "--figures-dir", str(figs), "--build-dir", str(build)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "dent/001.npy is empty" in err and "EOFError" not in err
    assert not figs.exists() and not build.exists()


@pytest.mark.long
def test_own_maps_as_tiff_give_the_table_of_the_same_maps_as_npy(dataset, tmp_path, monkeypatch):
    """--maps-dir with float TIFF maps (and notebook 12 on the same data) = -p maps_dir with .npy."""
    root, _ = dataset
    monkeypatch.setenv("TOPOTTA_CACHE", str(tmp_path / "cache"))
    tables = {}
    for fmt, args in [("tiff", ["--only", "06", "12", "--maps-dir", str(root / "maps_tiff")]),
                      ("npy", ["--only", "06", "-p", "maps_dir", str(root / "maps_npy")])]:
        figs = tmp_path / f"figures_{fmt}"
        rc = cli.main(["reproduce", "--profile", "smoke", "--no-progress", *args,
                       "--dataset", "mvtec_ad", "--data-root", str(root / "mvtec"),
                       "--figures-dir", str(figs), "--build-dir", str(tmp_path / f"build_{fmt}")])
        assert rc == 0, fmt
        tables[fmt] = _table(figs, "table1_2d")
    pd.testing.assert_frame_equal(tables["tiff"], tables["npy"])
    assert set(tables["tiff"]["scorer"]) == {MAPS_SCORER}
    paper = tables["tiff"][tables["tiff"]["preset"].isin(["paper", "shared"])]  # THR: both presets
    assert sorted(paper["method"]) == ["THR", "TTT4AS", "TopoTTA"]  # on your maps
    release = tables["tiff"][tables["tiff"]["preset"] == "release"]
    assert sorted(release["method"]) == ["TTT4AS", "TopoTTA"]  # given the same nominal images
    # notebook 12 timed the operators on the reviewer's maps of the first class found on disk
    t10 = _table(tmp_path / "figures_tiff", "table10_runtime")
    measured = t10[t10["total_s"].notna()]
    assert set(measured["modality"]) == {"2d"} and set(measured["map_shape"]) == {"224x224"}


# ----------------------------------------------------------------------------- segment


def test_segment_reads_tiff_maps(dataset, tmp_path):
    root, truth = dataset
    maps = tmp_path / "maps"
    maps.mkdir()
    gt = tmp_path / "gt"
    gt.mkdir()
    for k, ((defect, stem), mask) in enumerate(sorted(truth["coffee"].items())):
        if defect == "good":
            continue
        tifffile.imwrite(maps / f"{defect}_{stem}.tiff", fake_map(mask, k))
        Image.fromarray(mask.astype(np.uint8) * 255).save(gt / f"{defect}_{stem}.png")
    out = tmp_path / "masks"
    assert cli.main(["segment", str(maps), "--out", str(out), "--gt", str(gt), "--no-pces",
                     "--quiet"]) == 0
    metrics = pd.read_csv(out / "metrics.csv")
    assert len(metrics) == 4 and metrics["f1"].mean() > 0.5
    np.save(maps / "scratch_000.npy", np.zeros((SIZE, SIZE)))  # a stem twice: refused
    assert cli.main(["segment", str(maps), "--out", str(out), "--quiet"]) == 2
