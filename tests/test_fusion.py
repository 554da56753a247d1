"""Mask fusion: intersection, union, IoU-style and Euler-aware intersection (EAI)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import ndimage
from skimage.measure import euler_number
from skimage.morphology import reconstruction
from sklearn.metrics import jaccard_score

from topotta_lite.method.fusion import (
    eai_candidates,
    eai_trace,
    fill_spurious_holes,
    fuse,
    iou_fusion,
    reachable_union,
)
from topotta_lite.topology.euler import euler_characteristic

CONN = {"V": 1, "T": None}  # scipy generate_binary_structure rank for the foreground


def blobby_pair(shape, seed):
    """Two overlapping, blob-like masks (smoothed noise thresholded twice)."""
    rng = np.random.default_rng(seed)
    base = ndimage.gaussian_filter(rng.random(shape), 1.5)
    a = base + 0.02 * rng.standard_normal(shape) > np.quantile(base, 0.55)
    b = base + 0.02 * rng.standard_normal(shape) > np.quantile(base, 0.6)
    return a, b


CASES = [(s, c, seed) for s in [(32, 40), (12, 14, 10)] for c in "VT" for seed in range(4)]


@pytest.mark.parametrize(("shape", "construction", "seed"), CASES)
def test_all_methods_lie_between_intersection_and_union(shape, construction, seed):
    a, b = blobby_pair(shape, seed)
    inter, union = a & b, a | b
    for method in ("eai", "intersection", "union", "iou"):
        for lam in (0.0, 0.01, 10.0):
            out = fuse(a, b, method, lam=lam, construction=construction)
            assert out.dtype == bool and out.shape == a.shape
            assert not (inter & ~out).any(), method
            assert not (out & ~union).any(), method
    assert (fuse(a, b, "intersection") == inter).all()
    assert (fuse(a, b, "union") == union).all()


@pytest.mark.parametrize(("shape", "construction", "seed"), CASES)
def test_lambda_zero_gives_the_intersection(shape, construction, seed):
    a, b = blobby_pair(shape, seed)
    for target in ("union", "sub", "sup"):
        out = fuse(a, b, "eai", lam=0.0, target=target, construction=construction)
        assert (out == (a & b)).all()


@pytest.mark.parametrize(("shape", "construction", "seed"), CASES)
def test_trace_is_consistent(shape, construction, seed):
    a, b = blobby_pair(shape, seed)
    lam = 0.01
    tr = eai_trace(a, b, lam=lam, construction=construction)
    inter, union = a & b, a | b
    assert (tr.candidates[0] == inter).all() and tr.steps[0] == "I"
    for prev, cur in itertools.pairwise(tr.candidates):
        assert not (prev & ~cur).any() and (cur & ~prev).any()  # strictly growing
        assert not (cur & ~union).any()
    conn = 1 if construction == "V" else a.ndim
    chi_u = euler_number(union, connectivity=conn)
    assert tr.chi_target == chi_u
    for cand, chi, added, cost in zip(tr.candidates, tr.chi, tr.added_fraction, tr.costs):
        assert chi == euler_number(cand, connectivity=conn)
        assert added == pytest.approx((cand & ~inter).sum() / a.size)
        assert cost == pytest.approx(added + lam * abs(chi - chi_u))
    assert tr.chosen == int(np.argmin(tr.costs))
    assert (tr.mask == fuse(a, b, "eai", lam=lam, construction=construction)).all()
    # stopping early (the default) cuts the sequence, never the choice
    full = eai_trace(a, b, lam=lam, construction=construction, stop_early=False)
    assert len(full.candidates) >= len(tr.candidates)
    assert full.chosen == tr.chosen and (full.mask == tr.mask).all()
    assert np.allclose(full.costs[: len(tr.costs)], tr.costs)
    cands = eai_candidates(a, b, construction=construction)
    assert len(cands) == len(full.candidates)
    assert all((c == f).all() for c, f in zip(cands, full.candidates, strict=True))


@pytest.mark.parametrize(("shape", "construction", "seed"), CASES)
def test_dilations_end_at_the_reconstruction_of_the_union(shape, construction, seed):
    """Without hole filling, the last candidate is U's components that meet I."""
    a, b = blobby_pair(shape, seed)
    inter, union = a & b, a | b
    cands = eai_candidates(a, b, construction=construction, fill_holes=False)
    fp = ndimage.generate_binary_structure(a.ndim, 1 if construction == "V" else a.ndim)
    expected = reconstruction(inter.astype(np.uint8), union.astype(np.uint8), footprint=fp) > 0
    assert (cands[-1] == expected).all()
    # each step is one geodesic dilation
    for prev, cur in itertools.pairwise(cands):
        assert (cur == (ndimage.binary_dilation(prev, fp) & union)).all()
    assert len(eai_candidates(a, b, construction=construction, max_steps=1)) <= 3


@pytest.mark.parametrize(("shape", "construction", "seed"), CASES)
def test_filled_candidates_match_a_full_image_reference(shape, construction, seed):
    """The implementation works on U's bounding box; redo it naively on the whole image."""
    a, b = blobby_pair(shape, seed)
    union = a | b
    fp = ndimage.generate_binary_structure(a.ndim, 1 if construction == "V" else a.ndim)
    cur = fill_spurious_holes(a & b, union, construction)
    expected = [a & b] + ([cur] if (cur != (a & b)).any() else [])
    while True:
        nxt = fill_spurious_holes(ndimage.binary_dilation(cur, fp) & union, union, construction)
        if (nxt == cur).all():
            break
        expected.append(nxt)
        cur = nxt
    got = eai_candidates(a, b, construction=construction)
    assert len(got) == len(expected)
    assert all((g == e).all() for g, e in zip(got, expected, strict=True))


@pytest.mark.parametrize(("shape", "construction", "seed"), CASES)
def test_large_lambda_reaches_the_target_when_possible(shape, construction, seed):
    a, b = blobby_pair(shape, seed)
    for target in ("union", "sub", "sup", "reachable"):
        tr = eai_trace(a, b, lam=10.0, target=target, construction=construction, stop_early=False)
        reachable = tr.chi == tr.chi_target
        if reachable.any():
            assert euler_characteristic(tr.mask, construction) == tr.chi_target
            # ... and with the least added area among those that reach it
            assert tr.chosen == int(np.flatnonzero(reachable)[0])
        else:
            assert abs(tr.chi[tr.chosen] - tr.chi_target) == np.abs(tr.chi - tr.chi_target).min()
        early = eai_trace(a, b, lam=10.0, target=target, construction=construction)
        assert (early.mask == tr.mask).all()


@pytest.mark.parametrize(("shape", "construction", "seed"), CASES)
def test_reachable_target_is_always_reached(shape, construction, seed):
    a, b = blobby_pair(shape, seed)
    for fill in (True, False):
        tr = eai_trace(a, b, 10.0, "reachable", construction, fill_holes=fill, stop_early=False)
        reach = reachable_union(a, b, construction)
        assert (tr.candidates[-1] == reach).all()  # filling never changes the end point
        assert tr.chi[tr.chosen] == tr.chi_target == euler_characteristic(reach, construction)


def test_union_target_counts_components_that_eai_cannot_reach():
    sub = np.zeros((10, 20), dtype=bool)
    sub[2:8, 2:8] = True  # blob A, found by both filtrations but broken in m_sup
    sup = sub.copy()
    sup[:, 5] = False
    sup[3:6, 12:16] = True  # blob B, only in m_sup: chi(U) = 2
    tr = eai_trace(sub, sup, lam=10.0, target="union")
    assert tr.chi_target == 2 and (tr.mask == (sub & sup)).all()  # keeps A broken
    tr = eai_trace(sub, sup, lam=10.0, target="reachable")
    assert tr.chi_target == 1 and (tr.mask == sub).all()  # A repaired


def test_eai_bridges_a_broken_bar():
    union = np.zeros((20, 20), dtype=bool)
    union[8:10, 2:18] = True  # a 2 x 16 bar: chi = 1
    broken = union.copy()
    broken[8:10, 9] = False  # the other mask misses one column: two pieces, chi = 2
    tr = eai_trace(union, broken, lam=0.01)
    assert tr.chi[0] == 2 and tr.chi_target == 1
    # one dilation closes the 2-pixel gap at cost 2/400 = 0.005 < lam * 1 = 0.01
    assert tr.chosen == 1 and (tr.mask == union).all()
    # a smaller lambda prefers the spatially faithful intersection
    assert (fuse(union, broken, lam=0.004) == broken).all()


def test_eai_fills_a_spurious_cavity_in_3d():
    solid = np.zeros((7, 7, 7), dtype=bool)
    solid[1:6, 1:6, 1:6] = True
    hollow = solid.copy()
    hollow[3, 3, 3] = False  # a cavity: chi = b0 - b1 + b2 = 2
    assert euler_characteristic(solid & hollow) == 2
    tr = eai_trace(solid, hollow, lam=0.01)
    assert tr.steps[:2] == ["I", "fill"]
    assert tr.chosen == 1 and (tr.mask == solid).all()
    # a cavity that U has too is never filled
    tr2 = eai_trace(hollow, hollow, lam=10.0)
    assert len(tr2.candidates) == 1 and (tr2.mask == hollow).all()


@pytest.mark.parametrize("construction", ["V", "T"])
def test_fill_spurious_holes(construction):
    ring = np.ones((7, 7), dtype=bool)
    ring[2:5, 2:5] = False
    within = ring.copy()
    within[3, 3] = True  # U covers part of the hole only: the hole stays (U has it too)
    assert (fill_spurious_holes(ring, within, construction) == ring).all()
    assert fill_spurious_holes(ring, np.ones_like(ring), construction).all()
    # a notch open to the border is not a hole
    notch = np.ones((5, 5), dtype=bool)
    notch[0:3, 2] = False
    assert (fill_spurious_holes(notch, np.ones_like(notch), construction) == notch).all()


def test_hole_connectivity_follows_the_construction():
    # background pixel (1, 1) touches the outside only diagonally via (0, 0)
    m = np.ones((4, 4), dtype=bool)
    m[0, 0] = m[1, 1] = False
    full = np.ones_like(m)
    # V: foreground 4-connected, background 8-connected -> (1, 1) leaks out -> not a hole
    assert not fill_spurious_holes(m, full, "V")[1, 1]
    # T: foreground 8-connected, background 4-connected -> (1, 1) is enclosed -> filled
    assert fill_spurious_holes(m, full, "T")[1, 1]


@pytest.mark.parametrize(("shape", "construction", "seed"), CASES)
def test_iou_fusion_matches_a_per_component_jaccard(shape, construction, seed):
    a, b = blobby_pair(shape, seed)
    union = a | b
    fp = ndimage.generate_binary_structure(a.ndim, 1 if construction == "V" else a.ndim)
    labels, n = ndimage.label(union, fp)
    expected = a & b
    for lab in range(1, n + 1):
        comp = labels == lab
        if jaccard_score(a[comp], b[comp], zero_division=0.0) >= 0.5:
            expected |= comp
    assert (iou_fusion(a, b, construction) == expected).all()
    assert (fuse(a, b, "iou", construction=construction) == expected).all()
    assert (iou_fusion(a, b, construction, iou_threshold=0.0) == union).all()


def test_iou_fusion_by_hand():
    sub = np.zeros((6, 12), dtype=bool)
    sup = np.zeros((6, 12), dtype=bool)
    sub[1:5, 1:5] = True  # left: 16 px vs 12 px nested -> IoU 0.75 -> union kept
    sup[1:4, 1:5] = True
    sub[1:5, 7:11] = True  # right: 16 px vs 4 px nested -> IoU 0.25 -> intersection
    sup[2:4, 8:10] = True
    out = iou_fusion(sub, sup)
    assert out[1:5, 1:5].all()
    assert out[:, 6:].sum() == 4 and out[2:4, 8:10].all()


def test_bad_input():
    a = np.zeros((4, 4), dtype=bool)
    with pytest.raises(ValueError, match="m_sub has shape"):
        fuse(a, np.zeros((4, 5), dtype=bool))
    with pytest.raises(ValueError, match="method"):
        fuse(a, a, "xor")
    with pytest.raises(ValueError, match="target"):
        fuse(a, a, "eai", target="both")
    with pytest.raises(ValueError, match="lam"):
        fuse(a, a, "eai", lam=-1.0)
    with pytest.raises(ValueError, match="construction"):
        fuse(a, a, construction="W")
    with pytest.raises(ValueError, match="m_sup"):
        fuse(a, np.full((4, 4), 0.5))


def test_integer_target_and_empty_masks():
    a = np.zeros((5, 5), dtype=bool)
    assert not fuse(a, a).any()
    b = a.copy()
    b[1, 1] = b[3, 3] = True
    tr = eai_trace(b, b, target=5, lam=1.0)
    assert tr.chi_target == 5 and (tr.mask == b).all()
    # an empty intersection cannot grow: EAI itself is empty, fuse() falls back to a non-empty mask
    c = np.zeros_like(a)
    c[0, 4] = True
    assert not eai_trace(b, c, lam=10.0).mask.any()
    assert not fuse(b, c, lam=10.0, fallback="none").any()
    assert (fuse(b, c, lam=10.0) == b).all() and (fuse(b, c, fallback="sup") == c).all()
    assert (fuse(b, c, fallback="union") == (b | c)).all() and (fuse(b, c, fallback="larger") == b).all()
    assert not fuse(b, c, "intersection").any()  # the plain AND stays an AND
