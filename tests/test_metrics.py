"""Tests of topotta_lite.metrics against scikit-learn, gudhi and straightforward references."""

from __future__ import annotations

import math

import gudhi
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage
from sklearn.metrics import f1_score, jaccard_score, precision_score, recall_score, roc_auc_score

from topotta_lite.metrics import (
    aupro,
    auroc,
    betti_error,
    component_scores,
    dataset_means,
    i_auroc,
    mean_scores,
    p_auroc,
    per_image_scores,
    pro_curve,
    segmentation_scores,
    structure_scores,
    trapezoid,
)
from topotta_lite.topology import betti_numbers


# ------------------------------------------------------------------------------------------
# P / R / F1 / IoU
# ------------------------------------------------------------------------------------------
def _sk_scores(p, g):
    y, yp = g.ravel(), p.ravel()
    kw = {"zero_division": 0}
    return {
        "precision": precision_score(y, yp, **kw),
        "recall": recall_score(y, yp, **kw),
        "f1": f1_score(y, yp, **kw),
        "iou": jaccard_score(y, yp, **kw),
    }


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_segmentation_scores_match_sklearn(seed, fp, fg):
    rng = np.random.default_rng(seed)
    p = rng.random((6, 7)) < fp
    g = rng.random((6, 7)) < fg
    ours = segmentation_scores(p, g)
    ref = _sk_scores(p, g)
    for k in ours:
        assert ours[k] == pytest.approx(ref[k])


def test_segmentation_edge_cases():
    g = np.zeros((4, 4), bool)
    g[1:3, 1:3] = True
    empty = np.zeros_like(g)
    full = np.ones_like(g)
    assert segmentation_scores(empty, g) == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "iou": 0.0}
    assert segmentation_scores(g, empty) == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "iou": 0.0}
    assert segmentation_scores(empty, empty)["iou"] == 0.0  # undefined -> 0 (paper protocol)
    r = segmentation_scores(full, g)  # all-positive prediction
    assert r["recall"] == 1.0 and r["precision"] == pytest.approx(4 / 16)
    assert r["iou"] == pytest.approx(4 / 16) and r["f1"] == pytest.approx(2 * 4 / (2 * 4 + 12))
    assert segmentation_scores(g, g) == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "iou": 1.0}


def test_segmentation_bad_input():
    with pytest.raises(ValueError, match="pred has shape"):
        segmentation_scores(np.zeros((2, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="gt"):
        segmentation_scores(np.zeros((2, 2)), np.full((2, 2), 2))


def test_means():
    gts = [np.zeros((3, 3), bool), np.eye(3, dtype=bool), np.ones((3, 3), bool)]
    preds = [np.ones((3, 3), bool), np.eye(3, dtype=bool), np.zeros((3, 3), bool)]
    recs = per_image_scores(preds, gts)  # the nominal (empty-GT) image is skipped
    assert [r["iou"] for r in recs] == [1.0, 0.0]
    assert len(per_image_scores(preds, gts, anomalous_only=False)) == 3
    assert mean_scores(recs)["f1"] == 0.5
    out = dataset_means({"a": recs, "b": recs[:1]})
    assert out["a"]["iou"] == 0.5 and out["b"]["iou"] == 1.0
    assert out["mean"]["iou"] == 0.75  # mean over classes, not over images
    assert math.isnan(mean_scores([])["iou"])


# ------------------------------------------------------------------------------------------
# AUROC
# ------------------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 40))
def test_auroc_with_ties_matches_sklearn(seed, n):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.5
    y[0], y[1] = True, False
    s = rng.integers(0, 4, n).astype(float)  # many ties
    assert auroc(s, y) == pytest.approx(roc_auc_score(y, s))


def test_auroc_edge_cases():
    assert math.isnan(auroc([0.1, 0.2], [1, 1]))
    assert math.isnan(auroc([0.1, 0.2], [0, 0]))
    assert auroc([0.5, 0.5, 0.5], [0, 1, 1]) == 0.5  # all tied
    assert auroc([0.0, 1.0], [1, 0]) == 0.0
    with pytest.raises(ValueError):
        auroc([0.0, np.nan], [0, 1])


def test_i_auroc_and_p_auroc():
    rng = np.random.default_rng(0)
    maps = rng.random((6, 5, 5))
    gts = rng.random((6, 5, 5)) < 0.2
    labels = np.array([0, 1, 0, 1, 1, 0])
    assert i_auroc(maps, labels) == pytest.approx(roc_auc_score(labels, maps.max(axis=(1, 2))))
    assert i_auroc(maps.max(axis=(1, 2)), labels) == i_auroc(list(maps), labels)
    assert p_auroc(maps, gts) == pytest.approx(roc_auc_score(gts.ravel(), maps.ravel()))
    assert math.isnan(p_auroc(maps, np.zeros_like(gts)))
    with pytest.raises(ValueError, match="maps"):
        p_auroc(maps[:2], gts[:3])


# ------------------------------------------------------------------------------------------
# AUPRO against a straightforward reference
# ------------------------------------------------------------------------------------------
def _reference_aupro(maps, gts, limit=0.3):
    """Threshold at every distinct value, measure FPR and mean region overlap, integrate."""
    eight = np.ones((3, 3), int)
    regions = []  # (image index, region mask)
    for i, g in enumerate(gts):
        lab, n = ndimage.label(g, structure=eight)
        regions += [(i, lab == k) for k in range(1, n + 1)]
    neg = sum(int((~g).sum()) for g in gts)
    pts = [(0.0, 0.0)]
    for t in np.unique(np.concatenate([m.ravel() for m in maps]))[::-1]:
        fp = sum(int(((m >= t) & ~g).sum()) for m, g in zip(maps, gts))
        pro = np.mean([((maps[i] >= t) & r).sum() / r.sum() for i, r in regions])
        pts.append((fp / neg, pro))
    pts.append((1.0, 1.0))
    x = np.array([p[0] for p in pts])
    y = np.array([p[1] for p in pts])
    # area up to `limit`, linear interpolation inside the crossing segment
    area = 0.0
    for j in range(1, len(x)):
        x0, x1, y0, y1 = x[j - 1], x[j], y[j - 1], y[j]
        if x0 >= limit:
            break
        if x1 > limit:
            y1 = y0 + (y1 - y0) * (limit - x0) / (x1 - x0)
            x1 = limit
        area += 0.5 * (y0 + y1) * (x1 - x0)
    return area / limit


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 5))
def test_aupro_matches_reference(seed, levels):
    rng = np.random.default_rng(seed)
    maps, gts = [], []
    for _ in range(3):
        g = np.zeros((7, 8), bool)
        for _ in range(rng.integers(0, 3)):
            y, x = rng.integers(0, 6), rng.integers(0, 7)
            g[y : y + rng.integers(1, 3), x : x + rng.integers(1, 3)] = True
        m = rng.random((7, 8)) + 0.7 * g
        if levels:  # coarse values -> many ties
            m = np.round(m * (levels + 1)) / (levels + 1)
        maps.append(m)
        gts.append(g)
    gts[0][0, 0] = True  # at least one region
    gts[0][-1, -1] = False
    assert aupro(maps, gts) == pytest.approx(_reference_aupro(maps, gts), abs=1e-9)


def test_aupro_hand_cases():
    g = np.zeros((4, 4), bool)
    g[0, 0] = True
    g[2:4, 2:4] = True  # two 8-connected regions? (0,0) and the square are apart -> 2 regions
    perfect = g.astype(float)
    assert aupro([perfect], [g]) == pytest.approx(1.0)
    inverted = 1.0 - perfect
    assert aupro([inverted], [g]) == pytest.approx(0.0)
    # diagonal pixels are one 8-connected region
    d = np.eye(3, dtype=bool)
    _f, p = pro_curve([d.astype(float)], [d])
    assert p[1] == pytest.approx(1.0)
    # an image without GT contributes only false positives
    m2 = np.zeros((4, 4))
    m2[1, 1] = 2.0  # the highest score anywhere is a false positive
    val = aupro([perfect, m2], [g, np.zeros((4, 4), bool)])
    # curve (0,0) -> (1/27, 0) -> (1/27, 1) -> (1, 1): 27 nominal pixels, one ranked first
    assert val == pytest.approx((0.3 - 1 / 27) / 0.3)
    assert math.isnan(aupro([perfect], [np.zeros_like(g)]))
    with pytest.raises(ValueError):
        aupro([perfect], [g], fpr_limit=0.0)


def test_trapezoid_interpolates_like_mvtec():
    x = [0.0, 0.2, 0.4, 1.0]
    y = [0.0, 0.5, 1.0, 1.0]
    # area to 0.3: triangle-ish 0.5*0.5*0.2 + trapezoid 0.2..0.3 between 0.5 and 0.75
    assert trapezoid(x, y, 0.3) == pytest.approx(0.05 + 0.1 * 0.625)
    assert trapezoid(x, y) == pytest.approx(0.05 + 0.15 + 0.6)


# ------------------------------------------------------------------------------------------
# structure metrics
# ------------------------------------------------------------------------------------------
def _gudhi_betti(mask):
    cc = gudhi.CubicalComplex(top_dimensional_cells=np.where(mask, 0.0, 1.0))
    cc.compute_persistence()
    b = list(cc.persistent_betti_numbers(0.0, 0.0))
    return tuple(b + [0] * (mask.ndim - len(b)))[: mask.ndim]


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([2, 3]))
def test_betti_numbers_match_gudhi(seed, ndim):
    rng = np.random.default_rng(seed)
    shape = (9, 10) if ndim == 2 else (5, 6, 5)
    m = rng.random(shape) < 0.45
    if not m.any():
        m.flat[0] = True
    assert betti_numbers(m, "T") == _gudhi_betti(m)


def test_betti_hand_cases_and_v_construction():
    ring = np.ones((3, 3), bool)
    ring[1, 1] = False
    assert betti_numbers(ring) == (1, 1)
    diag = np.eye(3, dtype=bool)
    assert betti_numbers(diag, "T") == (1, 0) and betti_numbers(diag, "V") == (3, 0)
    # a diamond of 4 pixels around a centre: an 8-connected ring (hole) but 4 components in V
    dia = np.zeros((3, 3), bool)
    dia[0, 1] = dia[1, 0] = dia[1, 2] = dia[2, 1] = True
    assert betti_numbers(dia, "T") == (1, 1) and betti_numbers(dia, "V") == (4, 0)
    shell = np.ones((3, 3, 3), bool)
    shell[1, 1, 1] = False
    assert betti_numbers(shell) == (1, 0, 1)
    torus = np.zeros((3, 5, 5), bool)
    torus[1, 1:4, 1:4] = True
    torus[1, 2, 2] = False
    assert betti_numbers(torus) == (1, 1, 0)
    assert betti_numbers(np.zeros((4, 4), bool)) == (0, 0)


def test_betti_error_and_components():
    gt = np.zeros((8, 8), bool)
    gt[1:4, 1:4] = True
    gt[2, 2] = False  # ring: b = (1, 1)
    gt[6, 6] = True  # a dot: b0 = 2
    pred = np.zeros_like(gt)
    pred[1:4, 1:4] = True  # filled: b = (1, 0)
    pred[6, 0] = True  # a false component
    assert betti_error(pred, gt) == abs(2 - 2) + abs(0 - 1)
    r = component_scores(pred, gt)
    assert r["n_pred_components"] == 2 and r["n_gt_components"] == 2
    assert r["component_precision"] == 0.5 and r["component_recall"] == 0.5
    empty = np.zeros_like(gt)
    r = component_scores(empty, gt)
    assert r["component_precision"] == 0.0 and r["component_recall"] == 0.0
    r = component_scores(np.ones_like(gt), gt)  # all-positive: one component covering everything
    assert r["component_precision"] == 1.0 and r["component_recall"] == 1.0
    r = component_scores(gt, empty)
    assert r["component_precision"] == 0.0 and r["component_recall"] == 0.0
    s = structure_scores(pred, gt)
    assert s["betti_error"] == 1 and s["component_recall"] == 0.5
    assert betti_error(gt, gt) == 0
