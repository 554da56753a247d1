"""The fast paths of the pseudo-label pipeline give exactly what the plain definitions give.

Covers the saddle engine against the sorted union-find (cells included: both follow the
(value, pixel index) order), the lower-link groups, sort keys and radix sort it relies on,
the seeded flood fill against ``scipy.ndimage.label``, the shared preparation of several
filtrations against one call per filtration, and EAI's early stop.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

import topotta_lite.topology._unionfind as U
import topotta_lite.topology.persistence as P
from topotta_lite.method.fusion import eai_trace, fuse
from topotta_lite.method.pseudolabels import _seeded_component, pseudo_label_mask, select_features
from topotta_lite.operators import TopoTTA
from topotta_lite.topology.connectivity import connectivity_structure, neighbour_offsets

FIELDS = ("dims", "births", "deaths", "essential", "birth_cells", "death_cells")


def tie_map(shape, seed):
    """Few distinct values (many ties), or plain noise for every third seed."""
    rng = np.random.default_rng(seed)
    if seed % 3 == 0:
        return rng.random(shape)
    return rng.integers(0, 4, size=shape).astype(float)


def assert_same_diagram(a, b):
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("shape", [(9, 13), (1, 7), (4, 5, 6)])
def test_saddle_engine_equals_sorted_union_find(monkeypatch, shape, seed):
    x = tie_map(shape, seed)
    dims = (0, x.ndim - 1)
    cases = [(f, c, lv) for f in ("sublevel", "superlevel") for c in ("V", "T") for lv in (None, 3)]
    basins = [P.cubical_persistence(x, f, c, levels=lv, dims=dims) for f, c, lv in cases]
    monkeypatch.setattr(U, "_max_minima", lambda n: -1)  # force the sorted union-find
    for (f, c, lv), dg in zip(cases, basins, strict=True):
        assert_same_diagram(dg, P.cubical_persistence(x, f, c, levels=lv, dims=dims))


def test_signed_zeros_are_one_value():
    rng = np.random.default_rng(5)
    x = rng.integers(-1, 2, size=(8, 9)).astype(float)
    signed = np.where((x == 0) & (rng.random(x.shape) < 0.5), -0.0, x)
    assert np.signbit(signed[signed == 0]).any()
    for filtration in ("sublevel", "superlevel"):
        assert_same_diagram(
            P.cubical_persistence(signed, filtration), P.cubical_persistence(x, filtration)
        )


@pytest.mark.parametrize("levels", [None, 5])
@pytest.mark.parametrize("ascending", [True, False])
def test_sort_keys_follow_the_filtration_order(levels, ascending):
    rng = np.random.default_rng(1)
    x = np.round(rng.normal(size=(6, 7, 5)) * 3) / 3  # ties, negatives, zeros
    prep = U.prepare_map(x, levels)
    keys = prep.keys(ascending)
    values = prep.flat if ascending else -prep.flat
    expected = np.lexsort((np.arange(values.size), values))
    np.testing.assert_array_equal(prep.order(ascending), expected)
    assert (keys[expected][1:] >= keys[expected][:-1]).all()
    pad = prep.padded_keys(ascending).reshape(prep.padded_shape)
    assert (pad[0] == U._PAD_KEY).all() and (pad[:, 0] == U._PAD_KEY).all()


@pytest.mark.parametrize("levels", [None, 3])
def test_order_of_one_direction_from_the_other(levels):
    x = np.round(np.random.default_rng(4).normal(size=(9, 11)) * 2) / 2
    for first in (True, False):
        prep = U.prepare_map(x, levels)
        prep.order(first)
        fresh = U.prepare_map(x, levels)
        np.testing.assert_array_equal(prep.order(not first), fresh.order(not first))


def test_codes_are_the_rounded_normalised_map():
    x = np.random.default_rng(2).normal(size=(31, 17))
    old = np.round((x - x.min()) / (x.max() - x.min()) * 255)
    np.testing.assert_array_equal(U._codes(x, 256), old)
    np.testing.assert_array_equal(P.quantise(x, 256), old.astype(np.int64) / 255)


@pytest.mark.parametrize(
    "keys",
    [
        np.random.default_rng(0).integers(0, 2**63, 1000, dtype=np.uint64) * np.uint64(2),
        np.random.default_rng(1).integers(0, 4, 1000).astype(np.uint64),
        np.random.default_rng(2).integers(0, 70000, 1000).astype(np.uint32),
        np.zeros(0, np.uint64),
    ],
)
def test_radix_sort_is_a_stable_argsort(keys):
    order = U._radix_sort_by(keys, np.arange(keys.size, dtype=np.int32))
    np.testing.assert_array_equal(order, np.argsort(keys, kind="stable"))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("shape", [(15, 11), (5, 6, 7)])
@pytest.mark.parametrize("full", [False, True])
def test_seeded_component_matches_ndimage_label(seed, shape, full):
    rng = np.random.default_rng(seed)
    values = rng.random(shape)
    t = 0.4
    structure = connectivity_structure(len(shape), "T" if full else "V")
    labels, _ = ndimage.label(values > t, structure=structure)
    shape3 = shape if len(shape) == 3 else (1,) + shape
    offsets = neighbour_offsets(len(shape), full)
    for seed_flat in rng.choice(values.size, 5, replace=False):
        got = _seeded_component(values.ravel(), shape3, seed_flat, t, True, offsets)
        lab = labels.ravel()[seed_flat]
        np.testing.assert_array_equal(got, (labels.ravel() == lab) & (lab > 0))
        below = _seeded_component(-values.ravel(), shape3, seed_flat, -t, False, offsets)
        np.testing.assert_array_equal(below, got)


@pytest.mark.parametrize("levels", [256, None])
@pytest.mark.parametrize("construction", ["V", "T"])
def test_topotta_pseudo_labels_equal_one_call_per_filtration(levels, construction):
    rng = np.random.default_rng(3)
    psi = ndimage.gaussian_filter(rng.random((40, 48)), 2.0)
    psi[10:18, 20:30] += 0.3
    op = TopoTTA(pces=False, levels=levels, construction=construction)
    m_sub, m_sup, fused = op.pseudo_labels(psi)
    kw = {"levels": levels, "construction": construction}
    np.testing.assert_array_equal(m_sub, pseudo_label_mask(psi, "sublevel", **kw))
    np.testing.assert_array_equal(m_sup, pseudo_label_mask(psi, "superlevel", **kw))
    np.testing.assert_array_equal(fused, fuse(m_sub, m_sup, construction=construction))


@pytest.mark.parametrize("seed", range(20))
def test_eai_early_stop_keeps_the_choice(seed):
    rng = np.random.default_rng(seed)
    sub = ndimage.binary_dilation(rng.random((30, 30)) < 0.02, iterations=3)
    sup = ndimage.binary_dilation(sub | (rng.random((30, 30)) < 0.02), iterations=2)
    lam = float(rng.choice([0.0, 0.001, 0.01, 0.1, 1.0]))
    fast = eai_trace(sub, sup, lam=lam)
    full = eai_trace(sub, sup, lam=lam, stop_early=False)
    np.testing.assert_array_equal(fast.mask, full.mask)
    assert fast.chosen == full.chosen
    assert fast.steps == full.steps[: len(fast.steps)]


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("full", [False, True])
def test_bit_parallel_lower_groups_match_the_definition(ndim, full):
    """The engine counts the groups of earlier neighbours with bit shifts (3D) or a table
    (2D); both against the breadth-first definition."""
    rng = np.random.default_rng(7)
    size = 3**ndim
    centre = size // 2
    masks = range(2**size) if ndim == 2 else rng.integers(0, 2**size, 3000)
    face = [i for i, c in enumerate(U._block_coords(ndim)) if sum(abs(x - 1) for x in c) == 1]
    start = sum(1 << i for i in (face if not full else range(size)) if i != centre)
    bits = U._bit_masks(ndim)
    table = U._tables_2d(full)[0] if ndim == 2 else None
    for pre in masks:
        pre = int(pre) & ~(1 << centre)
        want = U.lower_link_components(pre, ndim, full)
        assert U._lower_groups(pre, start, full, ndim == 3, bits) == min(want, 2)
        if table is not None:
            assert table[pre] == (want >= 2)


def test_only_saddle_candidates_are_replayed():
    """On a smooth map few pixels have two groups of earlier neighbours: the engine replays
    a small fraction of the pixels (the reason it is fast), and still equals the plain
    sorted union-find (the test above)."""
    x = ndimage.gaussian_filter(np.random.default_rng(0).random((64, 64)), 3.0)
    prep = U.prepare_map(x, None)
    v = prep.padded_values()
    parent = np.empty(v.size + 1, np.int32)
    cand, pre = np.empty(x.size, np.int32), np.empty(x.size, np.int32)
    tables = U._tables_2d(False)
    ma, _, na, _ = U._sweep_2d(v, v, 64, 64, True, False, False, False, tables, tables,
                               parent, parent, cand, cand, pre, pre)
    assert 0 < na <= ma < x.size // 10
    # every pixel's parent comes earlier in the order (or is itself, at a local minimum)
    order = prep.order(True)
    rank = np.empty(x.size, np.int64)
    rank[order] = np.arange(x.size)
    Wp = 66
    inner = np.arange(v.size).reshape(1, 66, 66)[0, 1:-1, 1:-1].ravel()
    to_flat = lambda i: (i // Wp - 1) * 64 + i % Wp - 1  # noqa: E731
    par = np.array([to_flat(parent[i]) for i in inner])
    assert (rank[par] <= rank[np.arange(x.size)]).all()
    assert (par == np.arange(x.size)).sum() == na


def separate_peaks(shape, seed):
    """Zeros with three isolated pixels at the maximum: finite H0 bars as long as the essential
    one (born at the same value, dying at the minimum), the case where ties decide the Top-1."""
    rng = np.random.default_rng(seed)
    x = np.zeros(shape)
    x.flat[rng.choice(x.size, size=3, replace=False)] = 1.0
    return -x if seed % 2 else x


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("shape", [(9, 13), (1, 7), (4, 5, 6)])
@pytest.mark.parametrize("make", [tie_map, separate_peaks])
def test_top1_essential_shortcut_equals_full_selection(make, shape, seed):
    x = make(shape, seed)
    if x.max() == x.min():
        pytest.skip("constant map")
    dims_list = [(0,), (0, x.ndim - 1), tuple(range(x.ndim))]
    for levels in (None, 3, 256):
        prep = U.prepare_map(x, levels)
        for f in ("sublevel", "superlevel"):
            for c in ("V", "T"):
                fast = P.essential_h0_diagram(prep, f, c)
                for dims in dims_list:
                    full = select_features(P.diagram_of_prepared(prep, f, c, dims, "fast"), k=1, dims=dims)
                    assert_same_diagram(fast, full)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("shape", [(9, 13), (1, 7), (4, 5, 6), (14, 11)])
@pytest.mark.parametrize("make", [tie_map, separate_peaks])
def test_top1_of_the_top_dimension_equals_full_selection(make, shape, seed):
    x = make(shape, seed)
    if x.max() == x.min():
        pytest.skip("constant map")
    top = (x.ndim - 1,)
    for levels in (None, 3, 256):
        prep = U.prepare_map(x, levels)
        for f in ("sublevel", "superlevel"):
            for c in ("V", "T"):
                full = select_features(P.diagram_of_prepared(prep, f, c, top, "fast"), k=1, dims=top)
                assert_same_diagram(P.top_dimension_top1(prep, f, c), full)


def test_pseudo_label_masks_use_the_shortcut_only_where_it_holds(monkeypatch):
    import topotta_lite.method.pseudolabels as PL

    x = separate_peaks((12, 12), 0) + 0.01 * np.random.default_rng(0).random((12, 12))
    calls = []
    monkeypatch.setattr(PL, "essential_h0_diagram", lambda *a: calls.append(a) or P.essential_h0_diagram(*a))
    sup = {"superlevel": None}
    PL.pseudo_label_masks(x, sup)  # default: superlevel H0, Top-1, region rule
    assert len(calls) == 1
    for kwargs in ({"k": 2}, {"tau": 0.1}, {"rule": "release"}, {"backend": "gudhi"}):
        PL.pseudo_label_masks(x, sup, **kwargs)
    PL.pseudo_label_masks(x, {"sublevel": None})  # 2D sublevel default: H1 only
    assert len(calls) == 1


def smooth_3d(shape, seed):
    rng = np.random.default_rng(seed)
    x = ndimage.gaussian_filter(rng.random(shape), rng.uniform(0.7, 2.0))
    x[tuple(rng.integers(1, n - 1) for n in shape)] += rng.uniform(0, 1)  # a bright spot
    return x


@pytest.mark.parametrize("seed", range(8))
def test_h1_bound_holds_and_its_betti_curve_is_exact(seed):
    """b1 = b0 + b2 - chi level by level: the curve equals the one of cripser's H1 bars, and
    the bound is at least the longest H1 bar."""
    x = smooth_3d((7, 8, 9), seed) if seed % 2 else tie_map((5, 6, 7), seed)
    for levels in (None, 8):
        prep = U.prepare_map(x, levels)
        if prep.constant:
            continue
        for f in ("sublevel", "superlevel"):
            for c in ("V", "T"):
                bound, _ = P.h1_bound_3d(prep, f, c)
                h1 = P.diagram_of_prepared(prep, f, c, (1,), "fast")
                longest = float(h1.persistence.max()) if len(h1) else 0.0
                assert bound >= longest - 1e-12
                assert (bound == 0.0) == (len(h1) == 0)


@pytest.mark.parametrize("seed", range(10))
def test_top1_3d_equals_full_selection_when_it_answers(seed):
    x = smooth_3d((8, 9, 10), seed) if seed % 3 else tie_map((5, 6, 7), seed)
    for levels in (None, 256):
        prep = U.prepare_map(x, levels)
        for f in ("sublevel", "superlevel"):
            for c in ("V", "T"):
                fast = P.top1_3d(prep, f, c)
                if fast is None:
                    continue
                full = P.diagram_of_prepared(prep, f, c, (1, 2), "fast")
                assert_same_diagram(fast, select_features(full, k=1, dims=(1, 2)))


def test_top1_3d_answers_when_a_cavity_dominates():
    """A bright ball in a noisy background: its H2 bar is far longer than any loop's."""
    d, y, x = np.indices((12, 12, 12))
    ball = (d - 6) ** 2 + (y - 6) ** 2 + (x - 5) ** 2 <= 9
    noisy = 0.2 * np.random.default_rng(0).random((12, 12, 12)) + ball
    for levels in (None, 256):
        prep = U.prepare_map(noisy, levels)
        for c in ("V", "T"):
            fast = P.top1_3d(prep, "sublevel", c)
            assert fast is not None and fast.dims.tolist() == [2]
            full = P.diagram_of_prepared(prep, "sublevel", c, (1, 2), "fast")
            assert_same_diagram(fast, select_features(full, k=1, dims=(1, 2)))


def test_scratch_arrays_are_sized_for_every_map():
    """The passes reuse scratch arrays between calls: a thin map (a large padded grid for few
    pixels) then a square one (a smaller padded grid for more pixels) must not overflow them."""
    rng = np.random.default_rng(11)
    for shape in [(1, 30), (6, 6), (1, 200), (12, 12), (2, 3, 40), (6, 6, 6)]:
        x = rng.random(shape)
        for f in ("sublevel", "superlevel"):
            fast = P.cubical_persistence(x, f, dims=[0, x.ndim - 1])
            prep = U.prepare_map(x, None)
            for (young, killer, _), (asc, full, out) in zip(
                    [U._union_find(prep.keys(a), prep.order(a), *prep.shape3,
                                   neighbour_offsets(x.ndim, fl), o, prep.is3d)
                     for a, fl, o in ((f == "sublevel", False, False),
                                      (f != "sublevel", True, True))],
                    ((f == "sublevel", False, False), (f != "sublevel", True, True)), strict=True):
                got = U._h0_passes(prep, [(asc, full, out)])[0]
                assert sorted(zip(got[0], got[1])) == sorted(zip(young, killer))
            assert len(fast) > 0
