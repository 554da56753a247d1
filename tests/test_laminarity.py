"""Where EAI can act: the pseudo-label regions form a laminar family (nested or disjoint).

Every region rule of :mod:`topotta_lite.method.pseudolabels` that reads a superlevel-type region
(a superlevel feature, or the high region a sublevel H1/H2 feature encloses) returns a
face-connected component of a set ``{x > t}`` of the same normalised map. Two such components
are nested or disjoint: if ``t1 >= t2``, the component at ``t1`` is connected inside
``{x > t2}``, so it lies in one component there. The release rule thresholds the whole map
twice, and two thresholds of one map are nested. Hence, with one feature per filtration (K = 1),
the sublevel and superlevel masks never overlap partly, and EAI starts from one of them.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import ndimage

from topotta_lite.method.fusion import fuse, fusion_activity
from topotta_lite.method.pseudolabels import (
    feature_region,
    pseudo_label_masks,
    select_features,
)
from topotta_lite.operators import TopoTTA
from topotta_lite.topology import betti_numbers, cubical_persistence, quantise


def smooth_map(seed: int, side: int = 64) -> np.ndarray:
    """A random smooth map: uniform noise blurred at a random scale."""
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.random((side, side)), rng.uniform(1.5, 5.0))


def nested_or_disjoint(a: np.ndarray, b: np.ndarray) -> bool:
    return not (a & b).any() or not (a & ~b).any() or not (b & ~a).any()


@pytest.mark.parametrize("construction", ["V", "T"])
@pytest.mark.parametrize("seed", range(8))
def test_every_pair_of_regions_is_nested_or_disjoint(construction, seed):
    """The lemma itself, on every feature of both filtrations (not only the Top-1)."""
    x = quantise(smooth_map(seed, 40), 256)
    regions = []
    for filtration, dims in (("sublevel", [1]), ("superlevel", [0, 1])):
        dg = select_features(cubical_persistence(x, filtration, construction, dims=dims), k=None)
        regions += [feature_region(x, dg, i) for i in range(len(dg))]
    assert len(regions) > 4
    for a, b in itertools.combinations(regions, 2):
        assert nested_or_disjoint(a, b)


@pytest.mark.parametrize("rule", ["region", "release"])
@pytest.mark.parametrize("construction", ["V", "T"])
def test_k1_masks_are_nested_or_disjoint(rule, construction):
    """K = 1, both rules, both constructions, on many random smooth maps: no partial overlap."""
    seen_overlap = seen_apart = 0
    for seed in range(120):
        x = smooth_map(seed)
        (m_sub, _, _), (m_sup, _, _) = pseudo_label_masks(
            x, {"sublevel": None, "superlevel": None}, k=1, rule=rule, construction=construction)
        assert nested_or_disjoint(m_sub, m_sup), seed
        overlap = (m_sub & m_sup).any()
        seen_overlap += overlap
        seen_apart += not overlap and (m_sub | m_sup).any()
        if rule == "region" and overlap:
            # the sublevel region is the inner one: if it holds the global peak its level is
            # at least the superlevel region's (the middle of the range); if it does not, the
            # superlevel region (which does) cannot lie inside it
            assert not (m_sub & ~m_sup).any(), seed
    assert seen_overlap > 10  # both cases occur, so the test looked at both
    if rule == "region":
        assert seen_apart > 10


@pytest.mark.parametrize("construction", ["V", "T"])
def test_k1_eai_starts_from_the_sublevel_mask(construction):
    """K = 1: the intersection is the sublevel mask or empty, so the fused mask is the sublevel
    mask grown inside the superlevel mask (EAI's candidates), or the fallback."""
    for seed in range(60):
        x = smooth_map(seed)
        m_sub, m_sup, fused = TopoTTA(pces=False, construction=construction).pseudo_labels(x)
        flags = fusion_activity(m_sub, m_sup, fused)
        if flags["fallback_fired"]:
            assert (fused == m_sub).all()  # the default fallback
        else:
            assert not (m_sub & ~fused).any() and not (fused & ~m_sup).any()
            assert (m_sub == (m_sub & m_sup)).all()


@pytest.mark.parametrize("construction", ["V", "T"])
def test_regions_are_one_piece_for_the_euler_characteristic(construction):
    """A region is face-connected, so chi (counted in either construction) sees one piece."""
    for seed in range(30):
        x = smooth_map(seed)
        for mask, _, sel in pseudo_label_masks(x, {"sublevel": None, "superlevel": None},
                                               construction=construction):
            if len(sel) and mask.any():
                for counted_in in ("V", "T"):
                    assert betti_numbers(mask, counted_in)[0] == 1


def corner_piece_map() -> np.ndarray:
    """A low ring enclosing a bright block, and one bright pixel touching the block only at a
    corner, inside the ring (the toy case where 8-connected regions met 4-connected chi)."""
    x = np.full((12, 12), 0.4)
    x[1:11, 1:11] = 0.0  # the low ring ...
    x[2:10, 2:10] = 0.4  # ... around a middle plateau
    x[4:7, 4:7] = 1.0  # the bright block
    x[7, 7] = 0.9  # touches the block at its corner only
    return x


@pytest.mark.parametrize("construction", ["V", "T"])
def test_a_corner_piece_is_not_part_of_the_region(construction):
    x = corner_piece_map()
    m_sub, m_sup, fused = TopoTTA(pces=False, construction=construction, levels=None
                                  ).pseudo_labels(x)
    block = x == 1.0
    assert (m_sub == block).all()  # the face-connected component: the corner pixel is not in it
    # so EAI has nothing to repair: the two masks agree and it returns the sublevel mask
    assert (fused == m_sub).all()
    assert not fusion_activity(m_sub, m_sup, fused)["eai_acts"]


@pytest.mark.parametrize("construction", ["V", "T"])
def test_k2_eai_acts_on_a_share_of_random_maps(construction):
    """With two features per filtration the masks can overlap partly, and EAI then changes the
    intersection on a share of random smooth maps of the benchmark's size. lambda prices one
    unit of chi against a fraction of the image, so larger images give EAI more pixels to spend:
    on small maps the same share is much lower."""
    acts = []
    for seed in range(100):
        x = smooth_map(seed, side=224)
        m_sub, m_sup, fused = TopoTTA(pces=False, k=2, construction=construction
                                      ).pseudo_labels(x)
        flags = fusion_activity(m_sub, m_sup, fused)
        assert not (flags["eai_acts"] and flags["fallback_fired"])
        acts.append(flags["eai_acts"])
    assert np.mean(acts) >= 0.10


def test_fuse_of_nested_masks_never_leaves_the_larger_one():
    """The reason the K = 1 statement holds for every map: EAI's candidates lie inside U."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        outer = ndimage.binary_dilation(rng.random((40, 40)) < 0.01, iterations=6)
        inner = outer & ndimage.binary_erosion(outer, iterations=2)
        for lam in (0.0, 0.01, 10.0):
            out = fuse(inner, outer, lam=lam)
            assert not (inner & ~out).any() and not (out & ~outer).any()
