"""Light tests of the drawing helpers and the teaching toys (topotta_lite.teaching)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage as ndi

from topotta_lite.teaching.stability import MAP_PERTURBATIONS, perturb, stability_trials
from topotta_lite.teaching.toys import fusion_cases, smooth_random_map, toy_score_map, toy_volume
from topotta_lite.teaching.viz import (
    complex_geometry,
    draw_complex,
    filtration_slider_figure,
    overlay_mask,
    plot_barcode,
    plot_diagram,
    write_html,
)
from topotta_lite.topology.cubical import CubicalComplex
from topotta_lite.topology.euler import euler_characteristic
from topotta_lite.topology.persistence import cubical_persistence


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("filtration", ["sublevel", "superlevel"])
def test_plot_diagram_draws_every_feature_on_the_right_side(filtration):
    psi = smooth_random_map((20, 24), seed=3)
    dg = cubical_persistence(psi, filtration=filtration)
    ax = plot_diagram(dg)
    offsets = np.concatenate([c.get_offsets() for c in ax.collections if len(c.get_offsets())])
    assert len(offsets) == len(dg)
    above = offsets[:, 1] >= offsets[:, 0]
    assert above.all() if filtration == "sublevel" else (~above | np.isclose(*offsets.T)).all()
    assert any("essential" in t for t in ax.get_legend_handles_labels()[1])


def test_plot_barcode_one_bar_per_feature_and_max_bars():
    dg = cubical_persistence(smooth_random_map((16, 16), seed=1), filtration="sublevel")
    ax = plot_barcode(dg)
    bars = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 2 and ln.get_linewidth() == 2.0]
    assert len(bars) == len(dg)
    _, ax2 = plt.subplots()
    plot_barcode(dg, ax2, max_bars=2)
    expected = sum(min(2, int((dg.dims == d).sum())) for d in set(dg.dims.tolist()))
    drawn = [ln for ln in ax2.get_lines() if len(ln.get_xdata()) == 2 and ln.get_linewidth() == 2.0]
    assert len(drawn) == expected
    # highlighted bars are drawn thicker, over a black edge
    _fig, ax3 = plt.subplots()
    plot_barcode(dg, ax3, highlight=[0])
    assert sum(ln.get_linewidth() == 4.0 for ln in ax3.get_lines()) == 1


@pytest.mark.parametrize("construction", ["V", "T"])
def test_complex_geometry_matches_cube_counts_and_unit_sizes(construction):
    rng = np.random.default_rng(0)
    for _ in range(5):
        mask = rng.random((5, 6)) < 0.6
        cc = CubicalComplex.from_mask(mask, construction)
        geo = complex_geometry(cc)
        assert [len(geo[k]) for k in (0, 1, 2)] == cc.num_cubes()
        if len(geo[1]):
            lengths = np.abs(geo[1][:, 1] - geo[1][:, 0]).sum(axis=1)
            assert np.allclose(lengths, 1.0)
        # V vertices are exactly the on pixels
        if construction == "V":
            assert sorted(map(tuple, geo[0].astype(int))) == sorted(map(tuple, np.argwhere(mask)))


def test_draw_complex_titles_counts():
    _fig, ax = plt.subplots()
    draw_complex(ax, CubicalComplex.from_mask(np.eye(2, dtype=bool), "V"), mask=np.eye(2, dtype=bool))
    assert ax.get_title().splitlines()[1] == "2 vertices, 0 edges, 0 squares"


def test_overlay_mask_legend_accumulates():
    _fig, ax = plt.subplots()
    m = np.zeros((6, 6), bool)
    m[1:3, 1:3] = True
    overlay_mask(ax, m, background=np.zeros((6, 6)), label="first")
    overlay_mask(ax, ~m, color="red", label="second")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["first", "second"]


def test_filtration_slider_layers_are_the_level_sets(tmp_path, monkeypatch):
    psi = np.arange(12, dtype=float).reshape(3, 4) / 11
    fig = filtration_slider_figure(psi, [0.2, 0.5], filtration="superlevel")
    assert len(fig.frames) == 2
    z = np.asarray(fig.frames[1].data[0].z)
    assert np.array_equal(z.astype(bool), np.round(psi, 4) >= 0.5)
    monkeypatch.setenv("TOPOTTA_FIGURES", str(tmp_path))
    monkeypatch.delenv("TOPOTTA_RUN_LOG", raising=False)
    p1 = write_html(fig, "slider")
    with open(p1, "rb") as fh:
        first = fh.read()
    p2 = write_html(filtration_slider_figure(psi, [0.2, 0.5], filtration="superlevel"), "slider")
    with open(p2, "rb") as fh:
        assert fh.read() == first  # byte-reproducible
    with pytest.raises(ValueError):
        filtration_slider_figure(psi, [0.1], filtration="sideways")


def test_toy_score_map_structures_have_their_topology():
    psi, parts = toy_score_map((64, 64), seed=0)
    assert psi.min() == 0.0 and psi.max() == 1.0
    four = ndi.generate_binary_structure(2, 1)
    for name in ("blob", "ring", "crack"):
        assert ndi.label(parts[name], structure=four)[1] == 1, name
    assert euler_characteristic(parts["ring"], "V") == 0  # one piece, one hole
    assert euler_characteristic(parts["blob"], "V") == 1
    # the ring's hole is low, the ring high
    assert psi[parts["ring"]].mean() > psi[parts["ring_hole"]].mean() + 0.3
    # the three structures are the three longest sublevel H1 bars
    dg = cubical_persistence(psi, "sublevel", dims=[1]).top_k(3)
    owners = set()
    for cell in dg.death_cells:
        owners |= {k for k in ("blob", "ring", "crack") if parts[k][tuple(cell)]}
    assert owners == {"blob", "ring", "crack"}
    with pytest.raises(ValueError):
        toy_score_map((8, 8))


def test_toy_volume_has_a_cavity():
    v = toy_volume((20, 20, 20))
    dg = cubical_persistence(v, "superlevel", dims=[2])
    assert len(dg) >= 1 and dg.persistence.max() > 0.3


def test_fusion_cases_intersection_changes_topology():
    for name, (a, b) in fusion_cases(40).items():
        chi_i = euler_characteristic(a & b, "V")
        chi_u = euler_characteristic(a | b, "V")
        assert chi_i != chi_u, name
        assert ndi.label(a)[1] == 1 and ndi.label(b)[1] == 1, name


@pytest.mark.parametrize("kind", MAP_PERTURBATIONS)
def test_perturb_map_sizes(kind):
    f = smooth_random_map((20, 20), seed=2)
    g = perturb(f, kind, 0.1, seed=5)
    assert g.shape == f.shape
    diff = np.abs(g - f)
    if kind in ("uniform noise", "smooth bump", "single spike"):
        assert diff.max() <= 0.1 + 1e-12
    if kind == "single spike":
        assert np.count_nonzero(diff) == 1
    if kind == "quantisation":
        assert diff.max() <= 0.05 + 1e-12
    with pytest.raises(ValueError):
        perturb(f, kind, 0.0)
    with pytest.raises(ValueError):
        perturb(f, "melt", 0.1)


def test_stability_trials_respect_the_bound_in_2d_and_3d():
    bases = {"toy": toy_score_map((24, 24), seed=0)[0], "random": smooth_random_map((24, 24), seed=1)}
    df = stability_trials(bases, 12, seed=3)
    df3 = stability_trials({"vol": toy_volume((10, 10, 10), seed=0)}, 6, seed=4)
    both = pd.concat([df, df3])
    assert set(both["dim"]) == {0, 1, 2}
    assert (both["d_B"] <= both["sup_norm"] + 1e-9).all()
    assert (both["d_B"] > 0).any()  # the check is not vacuous
