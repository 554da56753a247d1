"""Notebooks 03-05's teaching code: the stability theorem's hypotheses and proof steps, the
bootstrap confidence band, the laminarity of the two pseudo-labels, and the notebooks' exercises
and references."""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage as ndi

from topotta_lite.operators import TopoTTA
from topotta_lite.teaching import (
    bottleneck,
    check,
    diagram_points,
    exercises,
    perturb,
    smooth_random_map,
    toy_score_map,
)
from topotta_lite.teaching.confidence import (
    band_coverage,
    coverage_interval,
    noisy_copies,
    significant,
    sup_norm_band,
)
from topotta_lite.teaching.laminarity import (
    fusion_outcome,
    library_connectivities,
    mask_relation,
    pieces_laminar,
)
from topotta_lite.teaching.stability_theory import (
    box_lemma_counts,
    cell_norm,
    cell_values,
    interpolation_steps,
)
from topotta_lite.topology import cubical_persistence, euler_characteristic

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
OURS = {"03": NOTEBOOKS / "03_stability.py", "04": NOTEBOOKS / "04_eai_fusion.py",
        "05": NOTEBOOKS / "05_pces.py"}


# ---------------------------------------------------------------- the theorem's hypotheses
def _cells_by_hand(f: np.ndarray, construction: str) -> np.ndarray:
    """Sublevel cell values written independently of gudhi: V takes the max over a cell's
    vertices, T the min over the pixels (top cells) around it, axis after axis."""
    out = np.asarray(f, dtype=float)
    for axis in range(out.ndim):
        v = np.moveaxis(out, axis, 0)
        n = v.shape[0]
        if construction == "V":
            grid = np.empty((2 * n - 1,) + v.shape[1:])
            grid[0::2] = v
            grid[1::2] = np.maximum(v[:-1], v[1:])
        else:
            grid = np.empty((2 * n + 1,) + v.shape[1:])
            grid[1::2] = v
            grid[2:-1:2] = np.minimum(v[:-1], v[1:])
            grid[0], grid[-1] = v[0], v[-1]
        out = np.moveaxis(grid, 0, axis)
    return out


@pytest.mark.parametrize("shape", [(5, 7), (3, 4, 5)])
@pytest.mark.parametrize("construction", ["V", "T"])
def test_cell_values_are_the_induced_filtration(shape, construction):
    f = np.random.default_rng(0).random(shape)
    assert np.array_equal(cell_values(f, construction), _cells_by_hand(f, construction))
    assert np.array_equal(cell_values(f, construction, "superlevel"),
                          -_cells_by_hand(-f, construction))


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (6, 5), elements=st.floats(0, 1)),
       arrays(np.float64, (6, 5), elements=st.floats(-0.3, 0.3)),
       st.sampled_from(["V", "T"]), st.sampled_from(["sublevel", "superlevel"]))
def test_sup_norm_over_cells_is_the_pixel_sup_norm(f, noise, construction, filtration):
    g = f + noise
    assert cell_norm(f, g, np.inf, construction, filtration) == float(np.abs(f - g).max())
    # every pixel is a cell, so a p-norm over the cells is at least the one over the pixels
    assert cell_norm(f, g, 1, construction, filtration) >= float(np.abs(f - g).sum()) - 1e-9


def test_cell_norm_rejects_bad_input():
    with pytest.raises(ValueError, match="p must be"):
        cell_norm(np.zeros((3, 3)), np.ones((3, 3)), 0.5)
    with pytest.raises(ValueError, match="same shape"):
        cell_norm(np.zeros((3, 3)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="construction"):
        cell_values(np.zeros((3, 3)), "X")


# ---------------------------------------------------------------- the proof's steps
@pytest.mark.parametrize("seed", range(4))
def test_interpolation_steps_respect_their_share_of_the_bound(seed):
    f = smooth_random_map((24, 24), sigma=2.0, seed=seed)
    g = np.clip(f + 0.3 * (smooth_random_map((24, 24), sigma=1.0, seed=seed + 50) - 0.5), 0, 1)
    for dim in (0, 1):
        steps, dgms = interpolation_steps(f, g, 6, dim=dim)
        assert len(dgms) == 7 and np.allclose(steps["bound"].sum(), np.abs(f - g).max())
        assert (steps["d_B"] <= steps["bound"] + 1e-12).all()
        assert bottleneck(dgms[0], dgms[-1]) <= steps["d_B"].sum() + 1e-12


@pytest.mark.parametrize("seed", range(3))
def test_box_lemma_holds_and_the_check_can_fail(seed):
    f, _ = toy_score_map((40, 40), seed=seed)
    g = perturb(f, "uniform noise", 0.05, seed=seed + 1)
    eps = float(np.abs(f - g).max())
    for dim in (0, 1):
        a = diagram_points(cubical_persistence(f), dim)
        b = diagram_points(cubical_persistence(g), dim)
        for x, y in ((a, b), (b, a)):
            boxes = box_lemma_counts(x, y, eps, n_boxes=300, seed=seed)
            assert len(boxes) == 300 and (boxes["in_a"] > 0).any()
            assert (boxes["in_a"] <= boxes["in_b_grown"]).all()
    # a diagram with a point far from the other's: with eps too small the lemma's count fails
    far = box_lemma_counts(np.array([[0.0, 1.0]]), np.array([[0.3, 0.7]]), 0.01, n_boxes=50)
    assert (far["in_a"] > far["in_b_grown"]).any()


# ---------------------------------------------------------------- the bootstrap band
def test_noisy_copies_are_independent_with_the_asked_spread_and_correlation():
    copies = noisy_copies(np.zeros((40, 40)), 300, noise=0.1, correlation=2.0, seed=0)
    assert copies.shape == (300, 40, 40)
    assert abs(copies.std() - 0.1) < 0.01
    neighbours = np.corrcoef(copies[:, 20, 20], copies[:, 20, 21])[0, 1]
    across = np.corrcoef(copies[:150, 20, 20], copies[150:, 20, 20])[0, 1]
    assert neighbours > 0.7 and abs(across) < 0.2


def test_sup_norm_band_is_seeded_and_shrinks_with_more_copies():
    f, _ = toy_score_map((32, 32), seed=0)
    few = noisy_copies(f, 5, noise=0.05, seed=1)
    a = sup_norm_band(few, n_boot=300, seed=2)
    b = sup_norm_band(few, n_boot=300, seed=2)
    assert a.c == b.c and np.array_equal(a.boot, b.boot)
    many = sup_norm_band(noisy_copies(f, 40, noise=0.05, seed=1), n_boot=300, seed=2)
    assert many.c < a.c
    assert np.allclose(a.mean, few.mean(axis=0))


def test_sup_norm_band_covers_the_truth_at_its_nominal_level():
    """Seeded: on the toy map with correlated noise, the 95% band covers ||mean - f|| (and so, by
    stability, the bottleneck distance to the true diagram) in at least 90% of 120 data sets."""
    f, _ = toy_score_map((32, 32), seed=0)
    out = band_coverage(f, n_copies=12, n_rep=120, noise=0.05, n_boot=300, seed=7)
    rate, low, high = coverage_interval(out["covered"])
    assert rate >= 0.9 and low <= rate <= high
    # where covered, the stability theorem carries the band over to the diagrams
    for r in np.flatnonzero(out["covered"])[:5]:
        copies = noisy_copies(f, 12, noise=0.05, seed=int(np.random.default_rng([7, r, 0])
                                                          .integers(2**31)))
        mean = copies.mean(axis=0)
        for dim in (0, 1):
            d = bottleneck(diagram_points(cubical_persistence(mean), dim),
                           diagram_points(cubical_persistence(f), dim))
            assert d <= out["error"][r] + 1e-12 <= out["c"][r] + 1e-12


def test_significant_and_bad_input():
    pts = np.array([[0.0, 0.5], [0.2, 0.25], [0.9, 0.1], [0.3, np.inf]])
    assert significant(pts, 0.05).tolist() == [True, False, True, True]
    with pytest.raises(ValueError, match="copies"):
        sup_norm_band(np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match="alpha"):
        sup_norm_band(np.zeros((3, 4, 4)), alpha=1.5)
    with pytest.raises(ValueError, match="n must be"):
        noisy_copies(np.zeros((4, 4)), 1)
    with pytest.raises(ValueError, match="c must be"):
        significant(pts, -1.0)


# ---------------------------------------------------------------- laminarity
def test_mask_relation_and_pieces():
    a = np.zeros((6, 6), bool)
    a[1:3, 1:3] = True
    b = np.zeros((6, 6), bool)
    b[1:5, 1:5] = True
    assert mask_relation(a, b) == "sub in sup" and mask_relation(b, a) == "sup in sub"
    assert mask_relation(a, ~b) == "disjoint" and mask_relation(a, np.zeros_like(a)) == "empty"
    # an 8-connected region made of two 4-pieces, against a mask holding one of them and more:
    # the whole masks partly overlap, piece by piece they are nested or disjoint
    corner = np.zeros((6, 6), bool)
    corner[1:3, 1:3] = True
    corner[3:5, 3:5] = True
    other = np.zeros((6, 6), bool)
    other[3:6, 3:6] = True
    assert mask_relation(corner, other) == "partial overlap"
    assert pieces_laminar(corner, other)
    straddle = np.zeros((6, 6), bool)
    straddle[2:4, 2:4] = True
    assert not pieces_laminar(corner, straddle)


def test_library_connectivities_agree_with_chi_and_the_regions():
    for construction in ("V", "T"):
        conn = library_connectivities(construction)
        assert set(conn.values()) <= {4, 8}
        two_corner_pixels = np.eye(2, dtype=bool)
        assert euler_characteristic(two_corner_pixels, construction) == (2 if conn["chi"] == 4
                                                                          else 1)


@pytest.mark.parametrize("construction", ["V", "T"])
def test_at_k1_the_pseudo_labels_are_nested_or_disjoint(construction):
    """The proof of notebook 04 on random smooth maps: piece by piece always; as whole masks,
    with the sublevel mask inside the superlevel one whenever they overlap, unless the library
    mixes connectivities (then a partial overlap must be a corner artefact)."""
    mixed = library_connectivities(construction)["sublevel region"] != \
        library_connectivities(construction)["superlevel region"]
    region = TopoTTA(k=1, construction=construction, pces=False)
    release = TopoTTA(k=1, construction=construction, rule="release", pces=False)
    for i in range(40):
        psi = smooth_random_map((48, 48), sigma=3.0, seed=100 + i)
        a, b, fused = region.pseudo_labels(psi)
        assert pieces_laminar(a, b)
        rel = mask_relation(a, b)
        assert rel in {"sub in sup", "disjoint", "equal", "empty"} or (
            mixed and rel in {"partial overlap", "sup in sub"})  # corner artefacts only
        out = fusion_outcome(a, b, fused)
        if out["fallback"]:
            assert np.array_equal(fused, a) or not a.any()  # the default fallback: the sublevel mask
        ra, rb, _ = release.pseudo_labels(psi)
        assert mask_relation(ra, rb) in {"sub in sup", "sup in sub", "equal", "empty"}


def test_at_k2_the_masks_can_overlap_partly():
    topo = TopoTTA(k=2, pces=False)
    relations = [mask_relation(*topo.pseudo_labels(smooth_random_map((48, 48), sigma=3.0,
                                                                      seed=200 + i))[:2])
                 for i in range(30)]
    assert relations.count("partial overlap") >= 3


def test_fusion_outcome_flags():
    a = np.zeros((1, 6), bool)
    a[0, :3] = True
    b = np.zeros((1, 6), bool)
    b[0, 2:] = True
    grown = a | b
    assert fusion_outcome(a, b, grown) == {"relation": "partial overlap", "fallback": False,
                                           "eai_acts": True, "equals_sub": False}
    assert fusion_outcome(a, b, a & b)["eai_acts"] is False


# ---------------------------------------------------------------- exercises and the notebooks
@pytest.mark.parametrize("nn", ["03", "04", "05"])
def test_each_notebook_has_at_least_three_registered_exercises(nn):
    keys = [ex.key for ex in exercises(nn)]
    assert len(keys) >= 3
    source = OURS[nn].read_text(encoding="utf-8")
    for key in keys:
        assert f'check("{key}", answer)' in source, key


def test_answers_in_the_forms_a_student_writes():
    assert check("03.4", [0.4, 0.62, 0.55]).correct  # any order, a list
    assert check("03.5", [[0.08, 0.4], (0.62, 0.08), (0.62, 0.4), (0.55, 0.08)]).correct
    assert not check("03.5", [(0.62, 0.55)]).correct
    assert check("03.6", 0.041).correct and not check("03.6", 0.03).correct
    assert check("05.1", [[1, 1], [0, 1], [1, 0]]).correct
    assert not check("05.1", [(1, 1)]).correct
    assert check("05.2", lambda p, q: (p * (p - 1) // 2 + q * (q - 1) // 2, p * q)).correct
    assert not check("05.2", lambda p, q: (p * p + q * q, p * q)).correct
    assert not check("05.2", lambda p, q: 1 / 0).correct  # a function that raises is wrong
    assert check("04.3", [0, 0, -1, 1]).correct
    assert check("05.4", np.array([True, False, False])).correct


def _references_call(path: Path) -> list[str]:
    cells = jupytext.read(path).cells
    last = [c.source for c in cells if c.cell_type == "code"][-1]
    assert "references(" in last, f"{path.name}: the last code cell renders no References"
    return re.findall(r"[\"']([a-z]+\d{4}[a-z0-9]*|gudhi)[\"']", last)


@pytest.mark.parametrize("nn, needed", [
    ("03", {"cohensteiner2007stability", "chazal2016structure", "skraba2020wasserstein",
            "cohensteiner2010lipschitz", "bubenik2015statistical", "adams2017persistence",
            "kerber2017geometry", "fasy2014confidence"}),
    ("04", {"kong1989digital", "edelsbrunner2010computational"}),
    ("05", {"hadsell2006dimensionality", "costanzino2024ttt4as"}),
])
def test_references_end_each_notebook_paper_first(nn, needed):
    keys = _references_call(OURS[nn])
    assert keys[0] == "zia2026topotta" and needed <= set(keys), keys
    assert "cite(" in OURS[nn].read_text(encoding="utf-8")


def test_05_says_whether_the_fallback_fired():
    source = OURS["05"].read_text(encoding="utf-8")
    assert "fusion_outcome(m_sub, m_sup, fused)" in source
    assert "The fallback fired" in source and "The fallback did not fire" in source


def test_the_pointwise_peak_argument():
    """Notebook 03's argument for the noisy peak: 2 eps below the top, {f >= max f - 2 eps} is one
    component when 2 eps < the gap to the next birth of the superlevel H0 diagram."""
    f, _ = toy_score_map((48, 48), seed=0)
    h0 = cubical_persistence(f, "superlevel").in_dim(0)
    b2 = float(h0.births[~h0.essential].max())
    gap = float(f.max()) - b2
    for eps in (0.2 * gap, 0.45 * gap):
        assert ndi.label(f >= f.max() - 2 * eps)[1] == 1
    assert ndi.label(f >= b2)[1] >= 2  # at b2 itself a second bright component exists
