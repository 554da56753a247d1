"""Persistence features -> pseudo-label regions (paper-text rule and the authors' release rule)."""

from __future__ import annotations

import gudhi
import numpy as np
import pytest
from scipy import ndimage

from topotta_lite.method.pseudolabels import (
    default_dims,
    feature_region,
    pseudo_label_mask,
    select_features,
)
from topotta_lite.topology.connectivity import connectivity_structure
from topotta_lite.topology.persistence import cubical_persistence, quantise


def disk(shape, center, radius):
    grids = np.ogrid[tuple(slice(0, s) for s in shape)]
    return sum((g - c) ** 2 for g, c in zip(grids, center)) <= radius**2


def noisy(shape, seed, amp=0.15):
    return amp * np.random.default_rng(seed).random(shape)


def smooth_map(shape, seed, sigma=2.0):
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.random(shape), sigma)


def n_components(mask, construction="V", dual=False):
    return ndimage.label(mask, connectivity_structure(mask.ndim, construction, dual))[1]


# --------------------------------------------------------------------------- selection
def test_select_features_top_k_and_tau():
    psi = np.zeros((9, 15))
    psi[2:5, 2:5] = 1.0
    psi[2:5, 7:10] = 0.7
    psi[6:8, 12:14] = 0.3
    up = cubical_persistence(psi, "superlevel")
    assert up.births.tolist() == [1.0, 0.7, 0.3] and up.essential.tolist() == [True, False, False]
    assert select_features(up, k=1).births.tolist() == [1.0]
    assert select_features(up, k=2).births.tolist() == [1.0, 0.7]
    assert select_features(up, k=None).births.tolist() == [1.0, 0.7, 0.3]
    assert select_features(up, k=0).births.tolist() == []
    assert select_features(up, tau=0.5).births.tolist() == [1.0, 0.7]
    assert select_features(up, tau=0.7).births.tolist() == [1.0, 0.7]  # >= tau
    assert select_features(up, k=1, include_essential=False).births.tolist() == [0.7]
    assert len(select_features(up, dims=[1])) == 0
    # Top-K pools the requested dims and keeps the diagram's (dim, persistence) order
    both = cubical_persistence(psi, "sublevel")
    sel = select_features(both, k=2, dims=(0, 1))
    order = np.argsort(-both.persistence, kind="stable")[:2]
    assert sorted(sel.persistence.tolist()) == sorted(both.persistence[order].tolist())
    with pytest.raises(ValueError, match="k must"):
        select_features(up, k=-1)
    with pytest.raises(TypeError, match="PersistenceDiagram"):
        select_features([(0, (1.0, 2.0))])


def test_default_dims():
    assert default_dims("sublevel", 2) == (1,)
    assert default_dims("sublevel", 3) == (1, 2)
    assert default_dims("superlevel", 2) == (0,)
    with pytest.raises(ValueError, match="filtration"):
        default_dims("middle", 2)


# --------------------------------------------------------------------------- regions, 2D
@pytest.mark.parametrize("construction", ["V", "T"])
@pytest.mark.parametrize("filtration", ["superlevel", "sublevel"])
def test_one_bright_blob(construction, filtration):
    shape = (40, 56)
    blob = disk(shape, (15, 35), 6)
    psi = noisy(shape, 0) + 0.8 * blob
    mask = pseudo_label_mask(psi, filtration, construction=construction)
    assert (mask == blob).all()  # covers the blob, none of the background


@pytest.mark.parametrize("construction", ["V", "T"])
def test_high_ring_gives_a_sublevel_h1_region(construction):
    """A ring of high scores: the low background loops around it (sublevel H1)."""
    shape = (48, 48)
    outer, inner = disk(shape, (24, 24), 12), disk(shape, (24, 24), 7)
    ring = outer & ~inner
    psi = noisy(shape, 1, amp=0.1) + 0.8 * ring
    dgm = cubical_persistence(quantise(psi, 256), "sublevel", construction, dims=[1])
    top = select_features(dgm, k=1)
    region = feature_region(quantise(psi, 256), top, 0)
    assert (region == ring).all()  # the ring, not the region it encloses, not the outside
    assert tuple(top.death_cells[0]) in set(map(tuple, np.argwhere(ring)))
    assert (pseudo_label_mask(psi, "sublevel", construction=construction) == ring).all()
    # the superlevel H1 feature is the same ring seen as a loop of high values
    sup = pseudo_label_mask(psi, "superlevel", dims=[1], construction=construction)
    assert (sup == ring).all()


def test_regions_are_face_connected_in_both_constructions():
    """A high region enclosed by a low loop, with a diagonal streak: the feature's enclosed set
    is 8-connected in V, but the region is its face-connected part around the death cell, in
    V and in T alike (one connectivity for every region: they nest, and chi sees one piece)."""
    psi = np.full((9, 9), 0.1)
    psi[1:8, 1:8] = 0.0  # low frame: the loop
    psi[2:7, 2:7] = 0.1
    psi[3, 3] = psi[4, 4] = psi[5, 5] = 1.0  # a diagonal streak, 8-connected only
    for construction in ("V", "T"):
        dgm = cubical_persistence(psi, "sublevel", construction, dims=[1])
        region = feature_region(psi, select_features(dgm, k=1), 0)
        assert region.sum() == 1
    # superlevel: the peak's face-connected component, also in T where the streak is one piece
    up = cubical_persistence(psi, "superlevel", "T", dims=[0])
    assert feature_region(psi, select_features(up, k=1), 0).sum() == 1


@pytest.mark.parametrize("filtration", ["superlevel", "sublevel"])
def test_top2_on_two_blobs_gives_both(filtration):
    shape = (40, 60)
    a, b = disk(shape, (12, 14), 5), disk(shape, (26, 44), 7)
    psi = noisy(shape, 2, amp=0.1) + 0.9 * a + 0.6 * b
    m1 = pseudo_label_mask(psi, filtration, k=1)
    m2 = pseudo_label_mask(psi, filtration, k=2)
    assert (m2 == (a | b)).all()
    assert (m1 == a).all() if filtration == "superlevel" else (m1 == a).all() or (m1 == b).all()
    # tau between the two features' persistence keeps one; below both keeps both
    x = quantise(psi, 256)
    dgm = cubical_persistence(x, filtration, dims=default_dims(filtration, 2))
    pers = np.sort(dgm.persistence)[::-1]
    tau = (pers[0] + pers[1]) / 2
    assert n_components(pseudo_label_mask(psi, filtration, tau=tau)) == 1
    tau_both = (pers[1] + pers[2]) / 2
    assert (pseudo_label_mask(psi, filtration, tau=tau_both) == (a | b)).all()


def test_alpha_moves_the_level_inside_the_bar():
    y, x = np.mgrid[0:41, 0:41]
    psi = np.exp(-((y - 20) ** 2 + (x - 20) ** 2) / 60.0)  # one smooth peak
    q = quantise(psi, 256)
    dgm = select_features(cubical_persistence(q, "superlevel", dims=[0]), k=1)
    sizes = [feature_region(q, dgm, 0, alpha=a).sum() for a in (0.1, 0.5, 0.9)]
    assert sizes[0] > sizes[1] > sizes[2] > 0
    for a in (0.1, 0.5, 0.9):
        t = a * 1.0
        assert (feature_region(q, dgm, 0, alpha=a) == (q > t)).all()  # one blob: exactly {q > t}
    with pytest.raises(ValueError, match="alpha"):
        feature_region(q, dgm, 0, alpha=1.0)


@pytest.mark.parametrize("construction", ["V", "T"])
@pytest.mark.parametrize("seed", range(6))
def test_k1_region_is_one_connected_piece(construction, seed):
    psi = smooth_map((48, 40), seed)
    for filtration in ("superlevel", "sublevel"):
        mask, x, sel = pseudo_label_mask(
            psi, filtration, construction=construction, return_features=True
        )
        assert len(sel) == 1 and mask.any()
        assert n_components(mask, "V") == 1  # face-connected: one piece in both constructions
        if filtration == "superlevel":
            assert mask[np.unravel_index(np.argmax(x), x.shape)]  # Top-1 holds the global peak
        else:
            border = np.ones_like(mask)
            border[1:-1, 1:-1] = False
            assert not (mask & border).any()  # the enclosed region is bounded
            assert mask[tuple(sel.death_cells[0])]


@pytest.mark.parametrize("seed", range(4))
def test_backends_agree_on_regions(seed):
    psi = smooth_map((36, 44), 10 + seed) + 1e-9 * np.arange(36 * 44).reshape(36, 44)
    for filtration in ("superlevel", "sublevel"):
        for construction in ("V", "T"):
            ref = pseudo_label_mask(
                psi, filtration, levels=None, construction=construction, k=3, backend="gudhi"
            )
            fast = pseudo_label_mask(
                psi, filtration, levels=None, construction=construction, k=3, backend="fast"
            )
            assert (ref == fast).all()


def test_constant_map_gives_empty_mask():
    for shape in [(10, 12), (4, 5, 6)]:
        for filtration in ("superlevel", "sublevel"):
            for rule in ("region", "release"):
                m = pseudo_label_mask(np.full(shape, 0.3), filtration, rule=rule)
                assert m.shape == shape and not m.any()


# --------------------------------------------------------------------------- release rule
def _release_reference(x, filtration, k, delta):
    """The authors' released rule, re-derived with gudhi (T construction, inverted map)."""
    work = x if filtration == "sublevel" else 1.0 - x
    cc = gudhi.CubicalComplex(top_dimensional_cells=work)
    feats = []
    for dim, (b, d) in cc.persistence():
        if d == float("inf"):
            continue
        if filtration == "sublevel" and dim == 1:
            feats.append((d - b, d))
        if filtration == "superlevel" and dim == 0:
            feats.append((d - b, 1.0 - b))  # (persistence, peak of the bright component)
    feats.sort(key=lambda f: f[0], reverse=True)
    out = np.zeros(x.shape, dtype=bool)
    for _, upper in feats[:k]:
        out |= x >= max(0.0, upper - delta)
    return out


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("filtration", "delta"), [("sublevel", 0.47), ("superlevel", 0.30)])
def test_release_rule_matches_a_gudhi_rederivation(seed, filtration, delta):
    psi = smooth_map((40, 40), 20 + seed, sigma=3.0)
    x = quantise(psi, 256)
    for k in (1, 2):
        ours = pseudo_label_mask(psi, filtration, k=k, rule="release", construction="T")
        assert (ours == _release_reference(x, filtration, k, delta)).all()


def test_release_rule_thresholds_the_whole_map():
    shape = (30, 50)
    a, b = disk(shape, (15, 12), 5), disk(shape, (15, 38), 5)
    psi = 0.9 * a + 0.8 * b  # the brighter blob is essential, so release picks the other one
    m = pseudo_label_mask(psi, "superlevel", rule="release", levels=None)
    assert (m == (psi / 0.9 >= 0.8 / 0.9 - 0.30)).all() and (m == (a | b)).all()
    region = pseudo_label_mask(psi, "superlevel", rule="region", levels=None)
    assert (region == a).all()


# --------------------------------------------------------------------------- 3D
@pytest.mark.parametrize("construction", ["V", "T"])
def test_3d_blob(construction):
    shape = (14, 16, 18)
    ball = disk(shape, (7, 8, 10), 4)
    psi = noisy(shape, 3, amp=0.1) + 0.8 * ball
    sup = pseudo_label_mask(psi, "superlevel", construction=construction)
    assert (sup == ball).all()
    # sublevel: the low background is a closed shell around the ball (H2)
    mask, _, sel = pseudo_label_mask(
        psi, "sublevel", construction=construction, return_features=True
    )
    assert sel.dims.tolist() == [2]
    assert (mask == ball).all()


def test_3d_two_balls_top2_and_connectivity():
    shape = (12, 24, 14)
    a, b = disk(shape, (6, 6, 7), 3), disk(shape, (6, 17, 7), 4)
    psi = noisy(shape, 4, amp=0.1) + 0.9 * a + 0.6 * b
    m1 = pseudo_label_mask(psi, "superlevel", k=1)
    assert (m1 == a).all() and n_components(m1) == 1
    assert (pseudo_label_mask(psi, "superlevel", k=2) == (a | b)).all()
    assert (pseudo_label_mask(psi, "sublevel", k=2, dims=[2]) == (a | b)).all()


# --------------------------------------------------------------------------- bad input
def test_bad_input():
    psi = np.random.default_rng(0).random((8, 8))
    dgm = cubical_persistence(psi, "superlevel")
    with pytest.raises(ValueError, match="shape"):
        feature_region(np.zeros((8, 9)), dgm, 0)
    with pytest.raises(ValueError, match="out of range"):
        feature_region(psi, dgm, len(dgm))
    with pytest.raises(ValueError, match="filtration"):
        pseudo_label_mask(psi, "both")
    with pytest.raises(ValueError, match="rule"):
        pseudo_label_mask(psi, "sublevel", rule="paper")
    with pytest.raises(ValueError, match="NaN"):
        pseudo_label_mask(np.full((4, 4), np.nan), "sublevel")
    with pytest.raises(ValueError, match="construction"):
        pseudo_label_mask(psi, "sublevel", construction="X")


@pytest.mark.parametrize("construction", ["V", "T"])
def test_3d_sublevel_h1_region_is_the_threading_structure(construction):
    """A low ring around a high rod that crosses the volume: sublevel H1 -> the rod."""
    shape = (10, 13, 13)
    d, y, x = np.indices(shape)
    rod = (np.abs(y - 6) <= 1) & (np.abs(x - 6) <= 1)
    r = np.hypot(y - 6, x - 6)
    ring = (d == 5) & (r >= 3) & (r <= 4.5)
    psi = np.full(shape, 0.3) + noisy(shape, 5, amp=0.05)
    psi[ring] = 0.0
    psi[rod] = 0.9
    mask, _, sel = pseudo_label_mask(
        psi, "sublevel", dims=[1], construction=construction, return_features=True
    )
    assert sel.dims.tolist() == [1] and sel.persistence[0] > 0.5
    assert (mask == rod).all()
