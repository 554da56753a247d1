"""Teaching helpers: persistence by hand, exact distances (and the gudhi bug case), duality, prose,
the standard algorithm and persistent Betti numbers, the signed-distance filtration."""

import gudhi
import gudhi.hera
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from topotta_lite.teaching import (
    bottleneck,
    bottleneck_by_matching,
    bottleneck_gudhi,
    change_word,
    elder_rule,
    far_from_diagonal,
    filtered_complex,
    fmt,
    gudhi_bottleneck_case,
    gudhi_pairs,
    interior_components,
    is_monotone,
    pairs_in_quadrant,
    persistent_betti_by_ranks,
    pieces_alive,
    reduce_boundary,
    reduction_pairs,
    signed_distance,
    subset_note,
    toy_score_map,
    wasserstein,
)
from topotta_lite.teaching.reduction import kernel_z2
from topotta_lite.topology import betti_numbers, cubical_persistence, rank_z2


def _pairs(diagram):
    return sorted(zip(diagram.births.tolist(), diagram.deaths.tolist()))


# ---------------------------------------------------------------- the gudhi bottleneck bug case
def test_gudhi_bottleneck_bug_case_exact_distance_respects_lemma_1():
    """gudhi 3.13.0 returns 0.25 > ||f - g||; Hera and an independent matching give 0.248078."""
    case = gudhi_bottleneck_case()
    a, b = case["a"], case["b"]
    assert case["sup_norm"] == pytest.approx(0.249966, abs=1e-6)
    exact = bottleneck(a, b)
    independent = bottleneck_by_matching(a, b)
    assert exact == pytest.approx(0.248078, abs=1e-6)
    assert independent == exact
    assert exact <= case["sup_norm"]  # Lemma 1 holds with the exact distance
    with_gudhi = bottleneck_gudhi(a, b)
    zero_error = float(gudhi.bottleneck_distance(a, b, e=0))
    if gudhi.__version__ == "3.13.0":  # the upstream bug (fixed after 3.13.0, gudhi-devel PR 1367)
        assert with_gudhi == zero_error == 0.25 > case["sup_norm"]
    else:  # a fixed gudhi agrees with the exact value
        assert with_gudhi == pytest.approx(exact, abs=1e-12)


def test_gudhi_bottleneck_bug_case_is_right_on_the_matchable_points():
    """On the 7 points that the optimal matching keeps, gudhi agrees: the early exit is the bug."""
    case = gudhi_bottleneck_case()
    a, b = case["a"], case["b"]
    value, matching = bottleneck_by_matching(a, b, return_matching=True)
    matched = [i for i, j in matching if i >= 0 and j >= 0]
    assert len(matched) == len(b) == 7
    assert bottleneck_gudhi(a[matched], b) == pytest.approx(value, abs=1e-12)


_points = arrays(np.float64, st.tuples(st.integers(0, 7), st.just(2)),
                 elements=st.floats(0, 1, allow_nan=False))


@settings(max_examples=60, deadline=None)
@given(_points, _points, st.booleans())
def test_hera_and_the_textbook_matching_agree(a, b, essential):
    a, b = np.sort(a, axis=1), np.sort(b, axis=1)
    if essential:
        a = np.vstack([a, [[0.1, np.inf]]])
        b = np.vstack([b, [[0.3, np.inf]]])
    assert bottleneck_by_matching(a, b) == pytest.approx(bottleneck(a, b), abs=1e-12)
    assert bottleneck(a, b) <= wasserstein(a, b) + 1e-12  # the largest move <= the sum of moves
    assert wasserstein(a, b, order=2) <= wasserstein(a, b) + 1e-12


def test_bottleneck_counts_essential_points():
    a = np.array([[0.0, np.inf]])
    assert bottleneck(a, np.array([[0.0, np.inf], [0.2, np.inf]])) == np.inf
    assert bottleneck_by_matching(a, np.array([[0.25, np.inf]])) == pytest.approx(0.25)


# ---------------------------------------------------------------- the elder rule, by hand
def test_elder_rule_on_the_notebook_signal_step_by_step():
    run = elder_rule([3, 1, 4, 1, 5, 9, 2, 6])
    assert run.pairs[["birth", "death"]].to_numpy().tolist() == [[1, np.inf], [1, 4], [2, 9]]
    merge = run.events[run.events["event"] == "merge"]
    assert merge["pixel"].tolist() == [2, 5] and merge["pieces"].tolist() == [2, 1]
    # tie at value 1: the piece at position 1 is older (row-major order), the one at 3 dies
    assert run.pairs["birth_pixel"].tolist()[1] == (3,)


@settings(max_examples=80, deadline=None)
@given(arrays(np.int64, st.sampled_from([(7,), (3, 3), (4, 5), (2, 2, 3)]),
              elements=st.integers(0, 5)),
       st.sampled_from(["sublevel", "superlevel"]), st.sampled_from(["V", "T"]))
def test_elder_rule_equals_the_library_and_gudhi(values, filtration, construction):
    x = values.astype(float)
    by_hand = elder_rule(x, filtration, construction).diagram()
    grid = x[None, :] if x.ndim == 1 else x
    lib = cubical_persistence(grid, filtration, construction=construction, dims=[0],
                              backend="gudhi")
    assert _pairs(by_hand) == _pairs(lib)


def test_elder_rule_rejects_bad_input():
    with pytest.raises(ValueError, match="filtration"):
        elder_rule([1, 2], "upwards")
    with pytest.raises(ValueError, match="finite"):
        elder_rule([1, np.nan])
    with pytest.raises(ValueError, match="non-empty"):
        elder_rule([])


# ---------------------------------------------------------------- duality
@settings(max_examples=60, deadline=None)
@given(arrays(np.bool_, st.tuples(st.integers(2, 8), st.integers(2, 8))))
def test_holes_are_interior_pieces_of_the_complement_in_the_other_construction(mask):
    for construction, dual in (("V", "T"), ("T", "V")):
        assert betti_numbers(mask, construction)[1] == interior_components(~mask, dual)


@settings(max_examples=40, deadline=None)
@given(arrays(np.int64, st.tuples(st.integers(2, 7), st.integers(2, 7)),
              elements=st.integers(0, 4)))
def test_sublevel_h1_is_superlevel_h0_of_the_framed_map_in_the_other_construction(values):
    """Dgm1(sublevel, V) = Dgm0(superlevel, T) of f with a frame above max f, pairs swapped."""
    f = values.astype(float)
    framed = np.pad(f, 1, constant_values=f.max() + 1)
    for construction, dual in (("V", "T"), ("T", "V")):
        h1 = cubical_persistence(f, "sublevel", construction=construction, dims=[1])
        h0 = cubical_persistence(framed, "superlevel", construction=dual, dims=[0])
        swapped = sorted((d, b) for b, d, e in zip(h0.births.tolist(), h0.deaths.tolist(),
                                                   h0.essential) if not e)
        assert _pairs(h1) == swapped


def test_duality_needs_the_other_construction_and_the_border():
    diagonal_pair = np.zeros((4, 4))
    diagonal_pair[1, 1] = diagonal_pair[2, 2] = 1.0
    sub = cubical_persistence(diagonal_pair, "sublevel", construction="V", dims=[1])
    sup = cubical_persistence(diagonal_pair, "superlevel", construction="V", dims=[0])
    assert len(sub) == 1 and len(sup) == 2  # V on both sweeps: 1 hole, 2 pieces
    border_blob = np.zeros((5, 5))
    border_blob[0:2, 0:2] = 1.0
    assert len(cubical_persistence(border_blob, "sublevel", dims=[1])) == 0
    assert len(cubical_persistence(border_blob, "superlevel", dims=[0])) == 1


# ---------------------------------------------------------------- prose
def test_prose_helpers_describe_what_the_numbers_say():
    assert change_word(0.287, 0.251) == "lowers"
    assert change_word(0.251, 0.287) == "raises"
    assert fmt(0.2514) == "0.251"
    assert not is_monotone([0.50, 0.526, 0.521])
    assert subset_note("quick", classes=(["brick"], ["brick", "nut"])).startswith("> **NOTE.**")
    assert subset_note("full", classes=(["brick", "nut"], ["brick", "nut"])) == ""


def test_exact_wasserstein_agrees_with_hera_within_its_relative_error():
    rng = np.random.default_rng(3)
    a, b = np.sort(rng.random((30, 2)), axis=1), np.sort(rng.random((25, 2)), axis=1)
    hera = float(gudhi.hera.wasserstein_distance(a, b, order=1, internal_p=np.inf, delta=0.01))
    exact = wasserstein(a, b)
    assert exact <= hera + 1e-12 and hera <= 1.01 * exact


# ---------------------------------------------------------------- the standard algorithm


def _triples(table):
    return [(int(d), float(b), float(e)) for d, b, e in table[["dim", "birth", "death"]].to_numpy()]


def test_reduction_pairs_equal_gudhi_on_50_random_small_images():
    """The matrix-reduction section's check (issue 21): every dimension, both filtrations, both
    constructions, many ties; and its H1 equals the library's duality route."""
    rng = np.random.default_rng(2026)
    for _ in range(50):
        h, w = (int(v) for v in rng.integers(2, 8, size=2))
        x = rng.integers(0, 6, size=(h, w)).astype(float)
        for filtration in ("sublevel", "superlevel"):
            for construction in ("V", "T"):
                ours = _triples(reduction_pairs(x, filtration, construction))
                assert ours == gudhi_pairs(x, filtration, construction), (x, filtration, construction)
                h1 = sorted((b, d) for k, b, d in ours if k == 1)
                lib = cubical_persistence(x, filtration, construction=construction, dims=[1])
                assert h1 == _pairs(lib)


def test_reduction_of_a_3d_volume_equals_gudhi():
    rng = np.random.default_rng(5)
    x = rng.integers(0, 4, size=(3, 3, 3)).astype(float)
    for construction in ("V", "T"):
        assert _triples(reduction_pairs(x, "sublevel", construction)) == \
            gudhi_pairs(x, "sublevel", construction)


def test_the_reduced_matrix_is_reduced_and_spans_the_same_columns():
    rng = np.random.default_rng(1)
    x = rng.random((4, 5))
    fc = filtered_complex(x, "sublevel", "T")
    d = fc.boundary_matrix()
    # a filtration: every face comes before the cells it bounds, at a value no larger
    rows, cols = np.nonzero(d)
    assert (rows < cols).all() and (fc.values[rows] <= fc.values[cols]).all()
    red = reduce_boundary(d)
    lows = red.low[red.low >= 0]
    assert len(set(lows.tolist())) == len(lows)  # no two non-zero columns share their low
    assert rank_z2(red.reduced) == rank_z2(d) == len(lows)
    # every cell creates (zero column) or kills (a low); one class is left: the grid is one piece
    assert len(red.pairs()) * 2 + len(red.unpaired()) == len(fc) and len(red.unpaired()) == 1
    # replaying the recorded additions on D gives R
    cols_ = [d[:, j].copy() for j in range(d.shape[1])]
    for k, j in red.additions:
        cols_[j] = cols_[j] ^ cols_[k] if k < j else None
    assert np.array_equal(np.column_stack(cols_), red.reduced)


def test_reduction_rejects_bad_input():
    with pytest.raises(ValueError, match="filtration"):
        filtered_complex([[1.0, 2.0]], "upwards")
    with pytest.raises(ValueError, match="construction"):
        reduction_pairs([[1.0, 2.0]], construction="X")
    with pytest.raises(ValueError, match="values"):
        filtered_complex([[1.0, np.nan]])
    with pytest.raises(ValueError, match="2D"):
        reduce_boundary(np.zeros(3))


@settings(max_examples=25, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(0, 6), st.integers(0, 7)), elements=st.integers(0, 1)))
def test_kernel_z2_is_a_basis_of_the_null_space(m):
    k = kernel_z2(m)
    assert k.shape == (m.shape[1], m.shape[1] - rank_z2(m))
    assert not (m.astype(int) @ k.astype(int) % 2).any()
    assert rank_z2(k.T) == k.shape[1]  # independent


@settings(max_examples=25, deadline=None)
@given(arrays(np.int64, st.tuples(st.integers(2, 4), st.integers(2, 4)), elements=st.integers(0, 3)),
       st.sampled_from(["sublevel", "superlevel"]), st.sampled_from(["V", "T"]))
def test_fundamental_lemma_ranks_equal_points_in_the_quadrant(values, filtration, construction):
    x = values.astype(float)
    pairs = reduction_pairs(x, filtration, construction)
    levels = np.unique(x)
    if filtration == "superlevel":
        levels = levels[::-1]
    for i, s in enumerate(levels):
        for t in levels[i:]:
            for dim in (0, 1):
                assert persistent_betti_by_ranks(x, s, t, dim, filtration, construction) == \
                    pairs_in_quadrant(pairs, s, t, dim, filtration)
            assert pieces_alive(x, s, t, filtration, construction)[1] == \
                pairs_in_quadrant(pairs, s, t, 0, filtration)  # beta_0 by labelling


def test_persistent_betti_numbers_reject_levels_in_the_wrong_order():
    with pytest.raises(ValueError, match="s <= t"):
        persistent_betti_by_ranks([[1.0, 2.0]], 2, 1, 0)
    with pytest.raises(ValueError, match="enter before"):
        pieces_alive([[1.0, 2.0]], 1, 2, "superlevel")


def test_pieces_alive_on_the_toy_map_equals_the_library_diagram():
    psi, _ = toy_score_map((48, 48), seed=3)
    dg = cubical_persistence(psi, "sublevel", dims=[0])
    deaths = np.where(dg.essential, np.inf, dg.deaths)
    for s, t in ((0.1, 0.2), (0.15, 0.5), (0.3, 0.3), (0.05, 0.9)):
        expected = int(((dg.births <= s) & (deaths > t)).sum())
        assert pieces_alive(psi, s, t)[1] == expected


# ---------------------------------------------------------------- the signed-distance filtration
def test_signed_distance_sublevel_sets_are_erosions_and_dilations():
    from scipy import ndimage as ndi

    rng = np.random.default_rng(4)
    mask = ndi.binary_opening(rng.random((30, 30)) < 0.5)
    s = signed_distance(mask)
    assert ((s <= 0) == mask).all() and (s != 0).all()
    inside = ndi.distance_transform_edt(mask)
    assert ((s <= -2) == (inside >= 2)).all()  # eroded
    assert ((s <= 3) == (ndi.distance_transform_edt(~mask) <= 3)).all()  # dilated


def test_signed_distance_sees_a_broken_ring_and_ranks_thickness():
    ring = np.zeros((21, 21), bool)
    yy, xx = np.indices(ring.shape)
    r = np.hypot(yy - 10, xx - 10)
    ring[(r >= 5) & (r <= 7)] = True
    broken = ring.copy()
    broken[:10, 10:12] = False  # a gap two pixels wide
    d = cubical_persistence(signed_distance(broken), "sublevel", dims=[1])
    assert len(d) >= 1 and d.births[0] > 0 and d.deaths[0] >= 4  # the hole, born when the gap closes
    thick_thin = np.zeros((20, 30), bool)
    thick_thin[5:15, 3:13] = True  # a thick square
    thick_thin[10, 18:28] = True  # a line one pixel wide
    h0 = cubical_persistence(signed_distance(thick_thin), "sublevel", dims=[0])
    assert sorted(h0.births.tolist()) == [-5.0, -1.0]


def test_signed_distance_rejects_an_empty_or_full_mask():
    with pytest.raises(ValueError, match="inside and outside"):
        signed_distance(np.zeros((3, 3), bool))


def test_far_from_diagonal_separates_the_toy_structures_from_the_noise():
    psi, parts = toy_score_map((64, 64), seed=1)
    found, rest = far_from_diagonal([cubical_persistence(psi, f)
                                     for f in ("sublevel", "superlevel")], parts)
    assert len(found) == 9
    assert rest["persistence"].max() < found["persistence"].min()
    assert found["feature"].str.contains("essential").sum() == 2
