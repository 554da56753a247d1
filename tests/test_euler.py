"""Vectorised Euler characteristic against the exact algebra and scikit-image."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from skimage.measure import euler_number

from topotta_lite.topology.cubical import CubicalComplex
from topotta_lite.topology.euler import cell_counts, euler_characteristic, euler_curve

SKIMAGE_CONNECTIVITY = {("V", 2): 1, ("V", 3): 1, ("T", 2): 2, ("T", 3): 3}


def small_masks(ndim: int, max_side: int):
    return arrays(bool, st.tuples(*[st.integers(1, max_side)] * ndim))


@pytest.mark.parametrize("construction", ["V", "T"])
@settings(max_examples=60, deadline=None)
@given(mask=small_masks(2, 7))
def test_2d_equals_exact_betti_sum(construction, mask):
    b = CubicalComplex.from_mask(mask, construction).betti_numbers()
    assert euler_characteristic(mask, construction) == b[0] - b[1] + b[2]


@pytest.mark.parametrize("construction", ["V", "T"])
@settings(max_examples=25, deadline=None)
@given(mask=small_masks(3, 4))
def test_3d_equals_exact_betti_sum(construction, mask):
    cc = CubicalComplex.from_mask(mask, construction)
    b = cc.betti_numbers()
    assert euler_characteristic(mask, construction) == b[0] - b[1] + b[2] - b[3]
    assert cell_counts(mask, construction) == cc.num_cubes()


@pytest.mark.parametrize("construction", ["V", "T"])
def test_equals_skimage_euler_number(construction):
    rng = np.random.default_rng(0)
    for shape in [(224, 224), (31, 57), (1, 9), (9, 1), (12, 20, 16), (3, 1, 5)]:
        for density in (0.1, 0.5, 0.8):
            mask = rng.random(shape) < density
            conn = SKIMAGE_CONNECTIVITY[(construction, mask.ndim)]
            assert euler_characteristic(mask, construction) == euler_number(mask, conn)


def test_hand_made_values():
    ring = np.ones((5, 6), dtype=bool)
    ring[1:4, 2:4] = False
    assert euler_characteristic(ring, "V") == 0 and euler_characteristic(ring, "T") == 0
    pair = np.array([[1, 0], [0, 1]], dtype=bool)
    assert (euler_characteristic(pair, "V"), euler_characteristic(pair, "T")) == (2, 1)
    # a 2x2 checkerboard hole: background (1,1) is 8-connected to the outside, not 4-connected
    checker = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=bool)
    assert euler_characteristic(checker, "V") == 0
    hollow = np.ones((5, 5, 5), dtype=bool)
    hollow[1:4, 1:4, 1:4] = False
    assert euler_characteristic(hollow, "V") == 2 and euler_characteristic(hollow, "T") == 2
    torus = np.ones((3, 3, 2), dtype=bool)
    torus[1, 1, :] = False  # a square ring extruded: a solid torus, chi = 1 - 1
    assert euler_characteristic(torus, "V") == 0


def test_empty_mask_is_zero():
    for shape in [(4, 4), (2, 3, 4)]:
        for construction in ("V", "T"):
            assert euler_characteristic(np.zeros(shape, bool), construction) == 0


def test_bad_input():
    with pytest.raises(ValueError, match="construction"):
        euler_characteristic(np.ones((2, 2)), "X")
    with pytest.raises(ValueError, match="mask"):
        euler_characteristic(np.ones(4))
    with pytest.raises(ValueError, match="0 and 1"):
        euler_characteristic(np.full((2, 2), 0.5))


@pytest.mark.parametrize("construction", ["V", "T"])
@settings(max_examples=40, deadline=None, derandomize=True)
@given(codes=arrays(np.int64, st.tuples(st.integers(1, 5), st.integers(1, 6), st.integers(1, 6)),
                    elements=st.integers(0, 4)),
       flat=st.booleans())
def test_euler_curve_is_chi_of_every_sublevel_set(construction, codes, flat):
    if flat:
        codes = codes[0]
    curve = euler_curve(codes, 5, construction)
    assert curve.tolist() == [euler_characteristic(codes <= t, construction) for t in range(5)]


def test_euler_curve_bad_input():
    with pytest.raises(ValueError, match="codes"):
        euler_curve(np.zeros((3, 3)), 4)
    with pytest.raises(ValueError, match="codes"):
        euler_curve(np.full((3, 3), 4), 4)
