"""Evaluation layer: perturbations, operators by name, and one real (smoke) cell end to end."""

import numpy as np
import pytest

from topotta_lite.experiments.bundles import (
    evaluate_cell,
    make_operator,
    perturb_map,
    ranking_cell,
    score_bundle,
    segment_bundle,
)
from topotta_lite.experiments.grid import ResultCache


def test_perturbations_scale_with_strength():
    m = np.random.default_rng(0).random((32, 32))
    for kind in ("noise", "speckle"):
        small = np.abs(perturb_map(m, kind, 0.05, seed=1) - m).mean()
        large = np.abs(perturb_map(m, kind, 0.5, seed=1) - m).mean()
        assert 0 < small < large
    shifted = perturb_map(m, "brightness", 0.2)
    assert shifted.max() == pytest.approx(m.max()) and shifted.mean() > m.mean()
    assert np.array_equal(perturb_map(m, "noise", 0.3, seed=4), perturb_map(m, "noise", 0.3, seed=4))
    with pytest.raises(ValueError, match="unknown perturbation"):
        perturb_map(m, "blur", 0.1)
    with pytest.raises(ValueError, match="strength"):
        perturb_map(m, "noise", -1)


def test_make_operator_unknown_name():
    with pytest.raises(ValueError, match="unknown operator"):
        make_operator("otsu")


def test_segment_bundle_on_a_handmade_bundle():
    rng = np.random.default_rng(0)
    maps = rng.random((3, 32, 32)).astype(np.float32) * 0.1
    gts = np.zeros((3, 32, 32), bool)
    gts[1, 8:16, 8:16] = gts[2, 20:28, 4:12] = True
    maps[gts] += 1.0
    bundle = {"maps": maps, "gts": gts, "labels": np.array([0, 1, 1]),
              "val_maps": rng.random((2, 32, 32)).astype(np.float32) * 0.1,
              "features": rng.random((3, 4, 8, 8)).astype(np.float32),
              "support": rng.random((2, 4, 8, 8)).astype(np.float32)}
    masks, idx, timings = segment_bundle(bundle, "thr", {"k": 3.0})
    assert idx == [1, 2] and len(timings) == 2
    for m, i in zip(masks, idx):
        assert np.array_equal(m, gts[i])  # a clean step is found exactly by the threshold


@pytest.fixture(scope="module")
def smoke_cache(tmp_path_factory):
    return ResultCache(tmp_path_factory.mktemp("cache"))


def test_smoke_cell_end_to_end_and_bundle_cached(smoke_cache, monkeypatch):
    monkeypatch.setenv("TOPOTTA_CACHE", str(smoke_cache.root))
    cell = {"dataset": "embedded-2d", "category": "brick", "scorer": "padim", "size": "smoke",
            "seed": 0, "operator": "thr", "params": {}}
    res = evaluate_cell(cell)
    assert res["n_images"] > 0 and 0 <= res["f1"] <= 1
    assert len(res["f1_per_image"]) == res["n_images"]
    assert np.mean(res["f1_per_image"]) == pytest.approx(res["f1"], abs=1e-5)
    # per-image scores of every metric, named by image (paired comparisons of the claims)
    assert len(res["image_ids"]) == len(set(res["image_ids"])) == res["n_images"]
    for m in ("precision", "recall", "iou"):
        assert np.mean(res[f"{m}_per_image"]) == pytest.approx(res[m], abs=1e-5)
    assert all(i <= f + 1e-9 for i, f in zip(res["iou_per_image"], res["f1_per_image"]))
    bundle = score_bundle("embedded-2d", "brick", "padim", size="smoke")
    assert bundle["maps"].shape[1:] == (224, 224) and bundle["features"].ndim == 4
    assert len(list((smoke_cache.root / "bundles").glob("*.npz"))) == 1  # reused, not rebuilt
    rank = ranking_cell(cell)
    assert 0.5 < rank["p_auroc"] <= 1.0


def test_cross_model_bundle_reuses_the_maps(smoke_cache, monkeypatch):
    monkeypatch.setenv("TOPOTTA_CACHE", str(smoke_cache.root))
    base = score_bundle("embedded-2d", "brick", "padim", size="smoke")
    cross = score_bundle("embedded-2d", "brick", "padim", size="smoke", feature_backbone="randconv")
    np.testing.assert_array_equal(cross["maps"], base["maps"])
    assert cross["features"].shape[0] == base["features"].shape[0]
    assert cross["features"].shape[1] != base["features"].shape[1]  # other backbone, other channels


def test_real_dataset_path_runs_the_same_cells(tmp_path, monkeypatch):
    """A folder in the MVTec AD layout goes through the same bundle -> operator -> metrics path."""
    from PIL import Image

    monkeypatch.setenv("TOPOTTA_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    root = tmp_path / "mvtec"

    def write(path, arr):
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr).save(path)

    def texture():
        return (120 + 20 * rng.standard_normal((64, 64, 3))).clip(0, 255).astype(np.uint8)

    for i in range(6):
        write(root / "tile" / "train" / "good" / f"{i:03d}.png", texture())
    write(root / "tile" / "test" / "good" / "000.png", texture())
    for i in range(2):
        img, gt = texture(), np.zeros((64, 64), np.uint8)
        img[20:36, 24 + i:40 + i] = 250
        gt[20:36, 24 + i:40 + i] = 255
        write(root / "tile" / "test" / "spot" / f"{i:03d}.png", img)
        write(root / "tile" / "ground_truth" / "spot" / f"{i:03d}_mask.png", gt)
    cell = {"dataset": "mvtec_ad", "category": "tile", "scorer": "padim", "seed": 0,
            "data_root": str(root), "operator": "topotta", "params": {"pces": False}}
    res = evaluate_cell(cell)
    assert res["n_images"] == 2 and res["f1"] > 0.5
    with pytest.raises(ValueError, match="data_root"):
        evaluate_cell({**cell, "data_root": None})
