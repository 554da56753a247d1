"""Exact cubical algebra: hand-made shapes, GF(2) ranks, and Betti numbers against gudhi."""

from __future__ import annotations

import itertools

import gudhi
import numpy as np
import pytest

from topotta_lite.topology import betti_numbers as fast_betti_numbers
from topotta_lite.topology.cubical import CubicalComplex, rank_z2


def betti_numbers(mask, construction):
    """The exact Betti numbers over Z2 (every dimension of the complex, as a list)."""
    return CubicalComplex.from_mask(mask, construction).betti_numbers()


def gudhi_betti(mask: np.ndarray, construction: str) -> list[int]:
    """Betti numbers of the mask's complex by counting gudhi intervals born at level 0.

    The 0/1 indicator map (0 = foreground) is filtered; the complex at level 0 is the mask's
    complex, and its Betti numbers are the intervals alive at 0 (``betti_numbers()`` of the
    full complex would always be [1, 0, ...], a gudhi pitfall).
    """
    f = np.where(mask, 0.0, 1.0)
    if construction == "V":
        cc = gudhi.CubicalComplex(vertices=f)
    else:
        cc = gudhi.CubicalComplex(top_dimensional_cells=f)
    out = [0] * (mask.ndim + 1)
    for dim, (birth, death) in cc.persistence():
        if birth == 0.0 and death > 0.0:
            out[dim] += 1
    return out


def random_masks(ndim, count, seed, max_side, density=(0.2, 0.9), min_side=1):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        shape = tuple(int(s) for s in rng.integers(min_side, max_side + 1, size=ndim))
        yield rng.random(shape) < rng.uniform(*density)


@pytest.mark.parametrize("construction", ["V", "T"])
def test_betti_2d_matches_gudhi(construction):
    for mask in random_masks(2, 150, seed=1, max_side=8):
        assert betti_numbers(mask, construction) == gudhi_betti(mask, construction), mask


@pytest.mark.parametrize("construction", ["V", "T"])
def test_betti_3d_matches_gudhi(construction):
    for mask in random_masks(3, 40, seed=2, max_side=5):
        assert betti_numbers(mask, construction) == gudhi_betti(mask, construction), mask


@pytest.mark.parametrize("construction", ["V", "T"])
def test_betti_3d_cavities_match_gudhi(construction):
    # dense volumes, so that enclosed cavities (b2 > 0) actually occur
    seen_b2 = 0
    for mask in random_masks(3, 40, seed=8, max_side=5, density=(0.85, 0.97), min_side=4):
        ours = betti_numbers(mask, construction)
        assert ours == gudhi_betti(mask, construction), mask
        seen_b2 += ours[2] > 0
    assert seen_b2 >= 3


@pytest.mark.parametrize("construction", ["V", "T"])
def test_euler_equals_alternating_betti_sum(construction):
    for mask in itertools.chain(random_masks(2, 20, 3, 6), random_masks(3, 6, 4, 4)):
        cc = CubicalComplex.from_mask(mask, construction)
        b = cc.betti_numbers()
        assert cc.euler_characteristic() == sum((-1) ** k * bk for k, bk in enumerate(b))
        assert b[-1] == 0  # nothing of top dimension closes up inside R^n


def test_ring_has_one_component_and_one_hole():
    ring = np.ones((5, 5), dtype=bool)
    ring[1:4, 1:4] = False
    for construction in ("V", "T"):
        assert betti_numbers(ring, construction) == [1, 1, 0]
    # a one-pixel-thick diagonal ring (diamond) is a loop only in the T construction
    diamond = np.zeros((5, 5), dtype=bool)
    for i, j in [(0, 2), (1, 1), (1, 3), (2, 0), (2, 4), (3, 1), (3, 3), (4, 2)]:
        diamond[i, j] = True
    assert betti_numbers(diamond, "T") == [1, 1, 0]
    assert betti_numbers(diamond, "V") == [8, 0, 0]


def test_hollow_cube_encloses_a_cavity():
    hollow = np.ones((4, 4, 4), dtype=bool)
    hollow[1:3, 1:3, 1:3] = False
    for construction in ("V", "T"):
        assert betti_numbers(hollow, construction) == [1, 0, 1, 0]
    solid = np.ones((3, 3, 3), dtype=bool)
    assert betti_numbers(solid, "V") == [1, 0, 0, 0]


def test_diagonal_pair_differs_between_constructions():
    pair = np.array([[1, 0], [0, 1]], dtype=bool)
    assert betti_numbers(pair, "V") == [2, 0, 0]
    assert betti_numbers(pair, "T") == [1, 0, 0]
    pair3 = np.zeros((2, 2, 2), dtype=bool)
    pair3[0, 0, 0] = pair3[1, 1, 1] = True
    assert betti_numbers(pair3, "V")[0] == 2
    assert betti_numbers(pair3, "T")[0] == 1


def test_cell_counts_by_hand():
    # one pixel: V = a point; T = a unit square with 4 edges and 4 corners
    assert CubicalComplex.from_mask([[1]], "V").num_cubes() == [1, 0, 0]
    assert CubicalComplex.from_mask([[1]], "T").num_cubes() == [4, 4, 1]
    # 2x2 block: V = one square; T = 9 vertices, 12 edges, 4 squares
    assert CubicalComplex.from_mask(np.ones((2, 2)), "V").num_cubes() == [4, 4, 1]
    assert CubicalComplex.from_mask(np.ones((2, 2)), "T").num_cubes() == [9, 12, 4]
    # a unit cube of 8 voxels in V: 8 vertices, 12 edges, 6 faces, 1 cube
    assert CubicalComplex.from_mask(np.ones((2, 2, 2)), "V").num_cubes() == [8, 12, 6, 1]
    empty = CubicalComplex.from_mask(np.zeros((3, 4)), "V")
    assert empty.num_cubes() == [0, 0, 0] and empty.betti_numbers() == [0, 0, 0]


def test_non_square_mask_is_not_transposed():
    mask = np.zeros((2, 5), dtype=bool)
    mask[0, :] = True
    cc = CubicalComplex.from_mask(mask, "V")
    assert cc.cells.shape == (3, 9)
    assert cc.cubes(0).tolist() == [[0, 2 * j] for j in range(5)]


@pytest.mark.parametrize("construction", ["V", "T"])
def test_boundary_of_boundary_is_zero(construction):
    for mask in itertools.chain(random_masks(2, 5, 5, 6), random_masks(3, 3, 6, 4)):
        cc = CubicalComplex.from_mask(mask, construction)
        for k in range(2, mask.ndim + 1):
            prod = cc.boundary_matrix(k - 1).astype(int) @ cc.boundary_matrix(k).astype(int)
            assert not (prod % 2).any()
        # every k-cube has 2k faces
        for k in range(1, mask.ndim + 1):
            assert (cc.boundary_matrix(k).sum(axis=0) == 2 * k).all()
        sparse = cc.boundary_matrix(1, sparse=True)
        assert (sparse.toarray() == cc.boundary_matrix(1)).all()


def _rank_by_row_space(mat: np.ndarray) -> int:
    """Brute force: the row space over GF(2) has 2^rank elements."""
    rows = [int("".join(map(str, r)), 2) for r in mat]
    span = {0}
    for r in rows:
        span |= {s ^ r for s in span}
    return int(np.log2(len(span)))


def test_rank_z2_against_brute_force():
    rng = np.random.default_rng(7)
    for _ in range(60):
        m, n = rng.integers(1, 8, size=2)
        mat = (rng.random((m, n)) < rng.uniform(0.1, 0.9)).astype(np.uint8)
        assert rank_z2(mat) == _rank_by_row_space(mat)
    # entries are read mod 2, and a real-rank-3 matrix can have GF(2) rank 2
    assert rank_z2([[1, 1, 0], [0, 1, 1], [1, 0, 1]]) == 2
    assert np.linalg.matrix_rank(np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]])) == 3
    assert rank_z2([[2, 4], [6, 8]]) == 0
    assert rank_z2(np.zeros((0, 3))) == 0


def test_bad_input_raises():
    with pytest.raises(ValueError, match="construction"):
        CubicalComplex.from_mask([[1]], "X")
    with pytest.raises(ValueError, match="mask"):
        CubicalComplex.from_mask([1, 0, 1], "V")
    with pytest.raises(ValueError, match="2D"):
        rank_z2([1, 0, 1])


@pytest.mark.parametrize("construction", ["V", "T"])
@pytest.mark.parametrize("shape", [(5, 6), (3, 4, 4)])
def test_fast_betti_numbers_equal_the_exact_ones(construction, shape):
    """The labelling shortcut (topology.betti_numbers) agrees with the Z2 reduction."""
    rng = np.random.default_rng(len(shape) * 10 + (construction == "T"))
    for _ in range(25):
        mask = rng.random(shape) < 0.5
        exact = betti_numbers(mask, construction)[: mask.ndim]
        assert list(fast_betti_numbers(mask, construction)) == exact, mask
