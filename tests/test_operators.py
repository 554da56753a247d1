"""THR, TTT4AS and TopoTTA: one interface, real properties, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from sklearn.exceptions import NotFittedError

from topotta_lite.operators import OPERATORS, THR, TTT4AS, TopoTTA

EPOCHS = 10


def _blob_map(shape=(64, 64), seed=0, noise=0.02):
    """Low noisy background with one smooth square bump; GT = the bump's support."""
    rng = np.random.default_rng(seed)
    gt = np.zeros(shape, bool)
    sl = tuple(slice(s // 4, s // 4 + s // 4) for s in shape)
    gt[sl] = True
    psi = ndimage.gaussian_filter(gt.astype(float), 1.0) + noise * rng.random(shape)
    return psi, gt


def _features(gt, stride=4, c=6, shift=3.0, seed=0):
    """Coarse features where the GT cells are shifted: linearly separable."""
    rng = np.random.default_rng(seed)
    grid = tuple(s // stride for s in gt.shape)
    cells = gt.reshape(*[x for g in grid for x in (g, stride)]).mean(
        axis=tuple(range(1, 2 * gt.ndim, 2))) >= 0.5
    f = rng.normal(size=(c, *grid)).astype(np.float32)
    f[:, cells] += shift
    return f


def _iou(a, b):
    return (a & b).sum() / max(1, (a | b).sum())


def _fitted_thr(shape=(64, 64)):
    rng = np.random.default_rng(1)
    return THR().fit([0.02 * rng.random(shape) for _ in range(3)])


# ------------------------------------------------------------------------------ one interface
@pytest.mark.parametrize("name", ["thr", "ttt4as", "topotta"])
@pytest.mark.parametrize("shape", [(64, 48), (32, 28, 24)])
def test_every_operator_returns_a_bool_mask_of_the_map_shape(name, shape):
    psi, gt = _blob_map(shape)
    op = _fitted_thr(shape) if name == "thr" else OPERATORS[name](
        **({"epochs": EPOCHS, "device": "cpu"} if name == "topotta" else {}))
    feats = _features(gt, stride=4 if len(shape) == 2 else 2)
    mask = op.segment(psi, feats)
    assert mask.dtype == bool and mask.shape == psi.shape
    if name == "thr":  # the blur halo is above a noise-fitted threshold: THR over-segments
        np.testing.assert_array_equal(mask, psi > op.threshold_)
        assert (mask >= gt).all()
    else:
        assert _iou(mask, gt) > 0.5
    assert set(op.timings_) == {"pseudo_labels", "adaptation", "total"}


# ------------------------------------------------------------------------------ THR
def test_thr_threshold_is_mean_plus_k_std_or_percentile():
    rng = np.random.default_rng(0)
    maps = [rng.normal(size=(10, 12)), rng.normal(size=(4, 5, 6))]  # mixed shapes are fine
    pooled = np.concatenate([m.ravel() for m in maps])
    assert THR(k=2).fit(maps).threshold_ == pytest.approx(pooled.mean() + 2 * pooled.std())
    thr = THR(method="percentile", q=95).fit(maps)
    assert thr.threshold_ == pytest.approx(np.percentile(pooled, 95))
    test = rng.normal(size=(10, 12))
    np.testing.assert_array_equal(thr.segment(test), test > thr.threshold_)


def test_thr_errors():
    with pytest.raises(NotFittedError, match="fit"):
        THR().segment(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="empty"):
        THR().fit([])
    with pytest.raises(ValueError, match="NaN"):
        THR().fit([np.full((4, 4), np.nan)])
    with pytest.raises(ValueError, match="method"):
        THR(method="otsu")
    assert THR(threshold=0.5).segment(np.array([[0.0, 1.0]])).tolist() == [[False, True]]


# ------------------------------------------------------------------------------ TTT4AS
def test_ttt4as_positives_are_dilated_peaks_above_the_percentile():
    rng = np.random.default_rng(3)
    psi = ndimage.gaussian_filter(rng.random((40, 40)), 2)
    pct = {"peak_percentile": 99.0, "neg_percentile": 80.0}  # explicit: not the tuned defaults
    pos, neg = TTT4AS(pos_dilation=0, n_negatives=50, **pct).pseudo_labels(psi, rng)
    # brute-force local maxima (3x3 window, edges replicated) above the 99th percentile
    p = np.pad(psi, 1, mode="edge")
    win = np.lib.stride_tricks.sliding_window_view(p, (3, 3)).max(axis=(2, 3))
    want = (win == psi) & (psi > np.percentile(psi, 99))
    np.testing.assert_array_equal(pos, want)
    assert neg.sum() == 50 and not (neg & pos).any()
    assert (psi[neg] < np.percentile(psi, 80)).all()
    pos2, _ = TTT4AS(pos_dilation=1, neighbour_percentile=0, **pct).pseudo_labels(psi, rng)
    np.testing.assert_array_equal(pos2, ndimage.binary_dilation(want, np.ones((3, 3), bool)))
    pos3, _ = TTT4AS(pos_dilation=1, neighbour_percentile=95.0, **pct).pseudo_labels(psi, rng)
    np.testing.assert_array_equal(pos3, want | (pos2 & (psi >= np.percentile(psi, 95))))


def test_ttt4as_svm_segments_separable_features_and_is_seeded():
    psi, gt = _blob_map()
    feats = _features(gt)
    a = TTT4AS(seed=0).segment_detailed(psi, feats)
    assert a.fallback is None and _iou(a.mask, gt) > 0.7
    b = TTT4AS(seed=0).segment_detailed(psi, torch.from_numpy(feats))
    np.testing.assert_array_equal(a.decision, b.decision)
    full = TTT4AS(resolution="full").segment_detailed(psi, feats)
    assert full.decision.shape == psi.shape and _iou(full.mask, gt) > 0.7


def test_ttt4as_degenerate_inputs():
    psi, gt = _blob_map()
    r = TTT4AS().segment_detailed(np.full((32, 32), 0.3), _features(np.zeros((32, 32), bool)))
    assert r.fallback == "no positives" and not r.mask.any()
    r = TTT4AS().segment_detailed(psi)  # no features: the pseudo-positive region
    assert r.fallback == "no features" and r.mask.any() and _iou(r.mask, gt) < 1
    r = TTT4AS().segment_detailed(psi, np.ones((6, 16, 16)))
    assert r.fallback == "zero-variance features"


# ------------------------------------------------------------------------------ TopoTTA
def test_topotta_without_features_is_the_fused_pseudo_label_mask():
    from topotta_lite.method.fusion import fuse
    from topotta_lite.method.pseudolabels import pseudo_label_mask
    from topotta_lite.teaching.toys import toy_score_map

    psi, _ = toy_score_map((64, 64))
    sub = pseudo_label_mask(psi, "sublevel")
    sup = pseudo_label_mask(psi, "superlevel")
    res = TopoTTA().segment_detailed(psi)
    np.testing.assert_array_equal(res.m_sub, sub)
    np.testing.assert_array_equal(res.m_sup, sup)
    np.testing.assert_array_equal(res.mask, fuse(sub, sup, "eai", lam=0.01))
    assert res.pces is None and res.loss_curve.size == 0
    inter = TopoTTA(fusion="intersection").segment(psi)
    union = TopoTTA(fusion="union").segment(psi)
    np.testing.assert_array_equal(inter, sub & sup)
    np.testing.assert_array_equal(union, sub | sup)
    assert (inter <= res.mask).all() and (res.mask <= union).all()
    single = TopoTTA(filtrations=("superlevel",), fusion=None).segment(psi)
    np.testing.assert_array_equal(single, sup)


def test_topotta_pces_refines_and_pces_off_returns_fused():
    psi, gt = _blob_map((64, 64))
    feats = _features(gt)
    op = TopoTTA(epochs=EPOCHS, device="cpu", seed=0)
    res = op.segment_detailed(psi, feats)
    assert res.pces is not None and res.pces.fallback is None
    assert res.loss_curve.shape == (EPOCHS,)
    assert _iou(res.mask, gt) > 0.8
    assert res.timings["total"] >= res.timings["pseudo_labels"] + res.timings["adaptation"] - 1e-6
    again = TopoTTA(epochs=EPOCHS, device="cpu", seed=0).segment(psi, feats)
    np.testing.assert_array_equal(again, res.mask)
    off = TopoTTA(pces=False).segment(psi, feats)
    np.testing.assert_array_equal(off, res.fused)


def test_topotta_segment_batch_matches_single_calls():
    scenes = [_blob_map((48, 48), seed=s) for s in range(2)]
    maps = [p for p, _ in scenes]
    feats = [_features(g, seed=i) for i, (_, g) in enumerate(scenes)]
    op = TopoTTA(epochs=EPOCHS, device="cpu")
    batch = op.segment_batch(maps, feats, batch_size=2)
    for m, f, r in zip(maps, feats, batch):
        single = op.segment_detailed(m, f)
        np.testing.assert_array_equal(r.fused, single.fused)
        assert (r.mask == single.mask).mean() > 0.999


def test_topotta_3d():
    psi, gt = _blob_map((16, 16, 16))
    res = TopoTTA(epochs=EPOCHS, device="cpu").segment_detailed(psi, _features(gt, stride=2))
    assert res.mask.shape == gt.shape and _iou(res.fused, gt) > 0.5


def test_topotta_constant_map_gives_empty_mask():
    psi = np.full((32, 32), 0.7)
    feats = np.random.default_rng(0).normal(size=(4, 8, 8))
    assert not TopoTTA(device="cpu").segment(psi, feats).any()


def test_topotta_parameter_errors():
    assert TopoTTA(fusion=None).fusion == "eai"  # None: the preset's fusion
    with pytest.raises(ValueError, match="filtrations"):
        TopoTTA(filtrations=("middle",))
    with pytest.raises(ValueError, match="fusion"):
        TopoTTA(fusion="average")


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("name", ["ttt4as", "topotta"])
def test_bad_input_is_a_clear_value_error(name):
    op = OPERATORS[name]()
    psi, _ = _blob_map((32, 32))
    with pytest.raises(ValueError, match="finer"):
        op.segment(psi, np.zeros((3, 64, 64)))
    with pytest.raises(ValueError, match="C, h, w"):
        op.segment(psi, np.zeros((32, 32)))
    bad = psi.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        op.segment(bad)
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        op.segment(bad)
    with pytest.raises(ValueError, match="2D or 3D"):
        op.segment(np.zeros(5))
    # zero-variance features: documented fallback, not a crash
    mask = op.segment(psi, np.ones((4, 8, 8)))
    assert mask.shape == psi.shape and mask.any()


def test_ttt4as_support_is_subsampled_and_seeded():
    psi, gt = _blob_map((64, 64))
    feats = _features(gt)
    rng = np.random.default_rng(5)
    support = [rng.normal(size=feats.shape).astype(np.float32) for _ in range(10)]
    op = TTT4AS(n_negatives=64, seed=3)
    a = op.segment(psi, feats, support=support)
    b = TTT4AS(n_negatives=64, seed=3).segment(psi, feats, support=support)
    np.testing.assert_array_equal(a, b)
    assert _iou(a, gt) > 0.5
    with pytest.raises(ValueError, match="channels"):
        op.segment(psi, feats, support=[support[0][:3]])
