"""Tests of topotta_lite.topology.persistence against gudhi (the reference implementation)."""

from __future__ import annotations

import gudhi
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.ndimage import gaussian_filter

import topotta_lite.topology._unionfind as U
from topotta_lite.topology.persistence import PersistenceDiagram, cubical_persistence, quantise

BACKENDS_VT = {"V": ("fast", "gudhi", "cripser"), "T": ("fast", "gudhi", "cripser", "giotto")}
SETTINGS = settings(max_examples=30, deadline=None, derandomize=True)


def make_map(shape, kind, seed):
    rng = np.random.default_rng(seed)
    x = rng.random(shape)
    if kind == "smooth":
        x = gaussian_filter(x, 1.2)
    elif kind == "plateau":
        x = np.round(x * 3) / 3  # few distinct levels: many ties
    elif kind == "integer":
        x = rng.integers(0, 4, size=shape).astype(float)
    return x


def gudhi_pairs(x, filtration, construction):
    """gudhi's persistence() on the equivalent complex (superlevel: on -x)."""
    w = x if filtration == "sublevel" else -x
    if construction == "V":
        cc = gudhi.CubicalComplex(vertices=w)
    else:
        cc = gudhi.CubicalComplex(top_dimensional_cells=w)
    return cc.persistence()


def as_rows(pairs):
    """Sorted (dim, birth, death) rows, inf kept."""
    rows = sorted((int(d), float(b), float(e)) for d, (b, e) in pairs)
    return np.array(rows, float).reshape(-1, 3)


def assert_same_pairs(ours, ref):
    a, b = as_rows(ours), as_rows(ref)
    assert a.shape == b.shape, f"{len(a)} pairs vs gudhi's {len(b)}"
    np.testing.assert_array_equal(a[:, 0], b[:, 0])
    np.testing.assert_allclose(a[:, 1:], b[:, 1:], rtol=0, atol=1e-12)


def assert_locations(x, dg: PersistenceDiagram):
    assert dg.birth_cells.shape == (len(dg), x.ndim)
    np.testing.assert_array_equal(x[tuple(dg.birth_cells.T)], dg.births)
    fin = ~dg.essential
    np.testing.assert_array_equal(x[tuple(dg.death_cells[fin].T)], dg.deaths[fin])
    assert (dg.death_cells[dg.essential] == -1).all()


def check_all(x, backends=None):
    for construction in ("V", "T"):
        for filtration in ("sublevel", "superlevel"):
            ref = gudhi_pairs(x, filtration, construction)
            for backend in backends or BACKENDS_VT[construction]:
                if backend == "giotto" and construction != "T":
                    continue
                dg = cubical_persistence(x, filtration, construction, backend=backend)
                assert_same_pairs(dg.to_gudhi(), ref)
                assert_locations(x, dg)


shapes_2d = st.tuples(st.integers(1, 11), st.integers(2, 13))
kinds = st.sampled_from(["random", "smooth", "plateau", "integer"])


@SETTINGS
@given(shape=shapes_2d, kind=kinds, seed=st.integers(0, 2**16))
def test_2d_all_backends_match_gudhi(shape, kind, seed):
    x = make_map(shape, kind, seed)
    if np.ptp(x) == 0:
        return
    check_all(x)


@settings(max_examples=12, deadline=None, derandomize=True)
@given(
    shape=st.tuples(st.integers(2, 6), st.integers(2, 7), st.integers(2, 8)),
    kind=kinds,
    seed=st.integers(0, 2**16),
)
def test_3d_all_backends_match_gudhi(shape, kind, seed):
    x = make_map(shape, kind, seed)
    if np.ptp(x) == 0:
        return
    check_all(x, backends=("fast", "gudhi", "cripser"))


def test_3d_fixed_8x9x10_fast_matches_gudhi():
    for kind in ("smooth", "plateau"):
        check_all(make_map((8, 9, 10), kind, 3), backends=("fast",))


@pytest.mark.parametrize("kind", ["random", "smooth", "plateau"])
def test_larger_non_square_maps_fast(kind):
    """Large enough that noise takes the sorted union-find and smooth maps the basin path."""
    check_all(make_map((37, 53), kind, 11), backends=("fast", "cripser"))


@SETTINGS
@given(shape=shapes_2d, kind=kinds, seed=st.integers(0, 2**16))
def test_sorted_union_find_fallback_matches_gudhi(shape, kind, seed):
    x = make_map(shape, kind, seed)
    if np.ptp(x) == 0:
        return
    original = U._max_minima
    U._max_minima = lambda n: -1  # force the sorted union-find path
    try:
        check_all(x, backends=("fast",))
        for levels in (3, 256):  # counting sort path
            q = quantise(x, levels)
            dg = cubical_persistence(x, "sublevel", "T", levels=levels)
            assert_same_pairs(dg.to_gudhi(), gudhi_pairs(q, "sublevel", "T"))
    finally:
        U._max_minima = original


def test_sorted_union_find_fallback_3d():
    original = U._max_minima
    U._max_minima = lambda n: -1
    try:
        check_all(make_map((5, 6, 7), "random", 2), backends=("fast",))
    finally:
        U._max_minima = original


def test_to_gudhi_order_and_essential():
    x = make_map((9, 12), "smooth", 4)
    for filtration in ("sublevel", "superlevel"):
        dg = cubical_persistence(x, filtration, "V")
        out = dg.to_gudhi()
        ref = gudhi_pairs(x, filtration, "V")
        assert [d for d, _ in out] == [d for d, _ in ref]  # dim descending like gudhi
        lengths = [e - b for _, (b, e) in out if np.isfinite(e)]
        assert all(np.diff(lengths[: sum(1 for d, _ in out if d == 1)]) <= 0)
        ess = [p for p in out if np.isinf(p[1][1])]
        want = x.min() if filtration == "sublevel" else -x.max()
        assert ess == [(0, (want, np.inf))]


def test_diagram_conventions_and_methods():
    x = make_map((20, 31), "smooth", 7)
    for filtration in ("sublevel", "superlevel"):
        dg = cubical_persistence(x, filtration, "V")
        # ordering: by dim, then persistence descending
        assert (np.diff(dg.dims) >= 0).all()
        for d in (0, 1):
            assert (np.diff(dg.in_dim(d).persistence) <= 0).all()
        assert dg.essential.sum() == 1
        e = dg.select(dg.essential)
        if filtration == "sublevel":
            assert (dg.births <= dg.deaths).all()
            assert e.births[0] == x.min() and e.deaths[0] == x.max()
        else:
            assert (dg.births >= dg.deaths).all()
            assert e.births[0] == x.max() and e.deaths[0] == x.min()
        np.testing.assert_allclose(dg.persistence, np.abs(dg.births - dg.deaths))
        # top_k
        for k in (0, 1, 3, 1000):
            top = dg.top_k(k, dim=1)
            want = np.sort(dg.in_dim(1).persistence)[::-1][:k]
            np.testing.assert_array_equal(np.sort(top.persistence)[::-1], want)
            assert (top.dims == 1).all()
        top_all = dg.top_k(2)
        np.testing.assert_array_equal(
            np.sort(top_all.persistence)[::-1], np.sort(dg.persistence)[::-1][:2]
        )
        assert dg.top_k(1, dim=0).essential[0]
        # select keeps all fields aligned
        idx = np.array([2, 0])
        sel = dg.select(idx)
        np.testing.assert_array_equal(sel.births, dg.births[idx])
        np.testing.assert_array_equal(sel.birth_cells, dg.birth_cells[idx])
        assert sel.shape == dg.shape and sel.filtration == filtration
        with pytest.raises(ValueError):
            dg.select(np.ones(len(dg) + 1, bool))
        with pytest.raises(ValueError):
            dg.top_k(-1)


def test_dims_parameter():
    x = make_map((10, 14), "smooth", 1)
    full = cubical_persistence(x, "sublevel", "T")
    only1 = cubical_persistence(x, "sublevel", "T", dims=[1])
    assert set(only1.dims.tolist()) == {1}
    np.testing.assert_array_equal(only1.births, full.in_dim(1).births)
    assert len(cubical_persistence(x, dims=[])) == 0
    x3 = make_map((4, 5, 6), "smooth", 1)
    dg = cubical_persistence(x3, "sublevel", "V", dims=(0, 2))
    assert set(dg.dims.tolist()) <= {0, 2}


def test_no_transposition_on_non_square_map():
    x = np.zeros((5, 11))
    x[1, 8] = 5.0  # isolated peak, off-diagonal, in a non-square map
    x[3, 2] = 2.0
    for backend in ("fast", "gudhi", "cripser", "giotto"):
        for construction in ("V", "T"):
            if backend == "giotto" and construction == "V":
                continue
            sub = cubical_persistence(x, "sublevel", construction, backend=backend, dims=[1])
            assert sub.death_cells[:, :].tolist() == [[1, 8], [3, 2]], backend
            assert sub.deaths.tolist() == [5.0, 2.0]
            sup = cubical_persistence(x, "superlevel", construction, backend=backend, dims=[0])
            assert sup.birth_cells.tolist() == [[1, 8], [3, 2]], backend
            assert sup.essential.tolist() == [True, False]


def test_no_transposition_3d():
    x = np.zeros((3, 5, 7))
    x[1, 3, 5] = 4.0
    for backend in ("fast", "gudhi", "cripser"):
        sup = cubical_persistence(x, "superlevel", "V", backend=backend, dims=[0])
        assert sup.birth_cells.tolist() == [[1, 3, 5]]
        sub = cubical_persistence(x, "sublevel", "V", backend=backend, dims=[2])
        assert sub.death_cells.tolist() == [[1, 3, 5]]


def test_v_and_t_differ_on_diagonal_pair():
    x = np.zeros((4, 4))
    x[1, 1] = x[2, 2] = 1.0  # diagonal bright pixels: 2 components in V, 1 in T
    v = cubical_persistence(x, "superlevel", "V", dims=[0])
    t = cubical_persistence(x, "superlevel", "T", dims=[0])
    assert len(v) == 2 and len(t) == 1


def test_levels_and_quantise():
    x = make_map((12, 17), "smooth", 5) * 7 + 3
    q = quantise(x, 256)
    codes = q * 255
    np.testing.assert_allclose(codes, np.round(codes), atol=1e-9)
    assert q.min() == 0 and q.max() == 1
    np.testing.assert_array_equal(q, np.round((x - x.min()) / np.ptp(x) * 255) / 255)
    for construction in ("V", "T"):
        dg = cubical_persistence(x, "superlevel", construction, levels=256)
        ref = cubical_persistence(q, "superlevel", construction, backend="gudhi")
        assert_same_pairs(dg.to_gudhi(), ref.to_gudhi())
        assert_locations(q, dg)
    two = quantise(x, 2)
    assert set(np.unique(two).tolist()) <= {0.0, 1.0}
    np.testing.assert_array_equal(quantise(np.full((3, 4), 2.5), 8), np.zeros((3, 4)))
    assert quantise([[0.0, 0.4], [0.6, 2.0]], 3).tolist() == [[0.0, 0.0], [0.5, 1.0]]
    for bad in (1, 0, 2.5, True, "8"):
        with pytest.raises(ValueError, match="levels"):
            cubical_persistence(x, levels=bad)
        with pytest.raises(ValueError, match="levels"):
            quantise(x, bad)
    assert not np.shares_memory(quantise(x, 4), x)


@pytest.mark.parametrize("backend", ["fast", "gudhi", "cripser", "giotto"])
def test_constant_map_is_empty(backend):
    for shape in ((4, 6), (3, 4, 5)):
        if backend == "giotto" and len(shape) == 3:
            continue
        dg = cubical_persistence(np.full(shape, 0.3), construction="T", backend=backend)
        assert len(dg) == 0 and dg.to_gudhi() == []
        assert dg.birth_cells.shape == (0, len(shape))
        assert len(dg.top_k(1)) == 0


def test_tiny_maps():
    for x in ([[0.0, 1.0]], [[1.0], [0.0]], [[0.0, 1.0], [1.0, 0.0]]):
        x = np.asarray(x)
        check_all(x)


def test_bad_input():
    good = np.zeros((4, 4))
    good[1, 1] = 1
    for bad in (
        np.array([[0.0, np.nan], [1.0, 2.0]]),
        np.array([[0.0, np.inf], [1.0, 2.0]]),
        np.zeros(5),
        np.zeros((2, 2, 2, 2)),
        np.zeros((0, 3)),
        np.array([["a", "b"], ["c", "d"]]),
        np.zeros((2, 2), complex),
    ):
        with pytest.raises(ValueError, match="score_map"):
            cubical_persistence(bad)
    with pytest.raises(ValueError, match="filtration"):
        cubical_persistence(good, filtration="up")
    with pytest.raises(ValueError, match="construction"):
        cubical_persistence(good, construction="X")
    with pytest.raises(ValueError, match="backend"):
        cubical_persistence(good, backend="ripser")
    with pytest.raises(ValueError, match="dims"):
        cubical_persistence(good, dims=[2])
    with pytest.raises(ValueError, match="dims"):
        cubical_persistence(good, dims=["a"])
    with pytest.raises(NotImplementedError, match="giotto"):
        cubical_persistence(good, construction="V", backend="giotto")


def test_integer_and_bool_input_accepted():
    x = np.array([[0, 0, 0], [0, 3, 0], [0, 0, 0]])  # hand computation: one hole, (0, 3)
    for construction in ("V", "T"):
        dg = cubical_persistence(x, "sublevel", construction, dims=[1])
        assert dg.births.tolist() == [0.0] and dg.deaths.tolist() == [3.0]
        assert dg.death_cells.tolist() == [[1, 1]] and dg.birth_cells[0].tolist() != [1, 1]
    b = cubical_persistence(x > 2, "superlevel", "T", dims=[0])
    assert len(b) == 1 and b.essential[0]
