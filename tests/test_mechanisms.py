"""The mechanism tables (where EAI, its fallback and PCES change a mask), the preset labels of
the tables, and one cell per experiment whichever notebook asks for it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from topotta_lite.experiments import (
    MECHANISM_FLAGS,
    MECHANISM_VARIANTS,
    ResultCache,
    build_cells,
    component_configurations,
    eai_activity,
    evaluate_cell,
    expand_shared,
    experiment_cell,
    kth_component_variants,
    mechanism_flags,
    mechanism_table,
    preset_of,
    robustness_cells,
    setting_variants,
    topotta_defaults,
    with_preset,
)
from topotta_lite.experiments.grid import cell_key
from topotta_lite.method import fuse


def _random_masks(rng, shape=(12, 12)):
    a = rng.random(shape) < 0.3
    b = rng.random(shape) < 0.3
    return a, b


def test_flags_follow_their_definitions_on_random_masks():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a, b = _random_masks(rng)
        fused = fuse(a, b, lam=float(rng.choice([0.0, 0.01, 1.0])))
        final = fused.copy()
        if rng.random() < 0.5:
            final[rng.integers(12), rng.integers(12)] ^= True
        f = mechanism_flags(a, b, fused, final)
        inter, union = a & b, a | b
        assert f["fallback_fired"] == (not inter.any() and union.any())
        assert f["eai_acts"] == (inter.any() and not np.array_equal(fused, inter))
        assert not (f["eai_acts"] and f["fallback_fired"])  # one excludes the other
        assert f["eai_differs_intersection"] == (not np.array_equal(fused, inter))
        assert f["eai_differs_union"] == (not np.array_equal(fused, union))
        assert f["eai_differs_sub"] == (not np.array_equal(fused, a))
        assert f["pces_differs"] == (not np.array_equal(final, fused))
        if inter.any():  # EAI never leaves [I, U]
            assert (fused >= inter).all() and (fused <= union).all()


def test_flags_refuse_masks_of_different_shapes():
    with pytest.raises(ValueError, match="one shape"):
        mechanism_flags(np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 3)), np.zeros((2, 2)))


def test_nested_masks_leave_eai_nothing_to_do():
    """The K = 1 situation: one mask inside the other, EAI returns the smaller one."""
    small = np.zeros((16, 16), bool)
    small[5:9, 5:9] = True
    large = np.zeros((16, 16), bool)
    large[3:12, 3:12] = True
    fused = fuse(small, large)  # the intersection is the small mask, whose chi equals the union's
    f = mechanism_flags(small, large, fused, fused)
    assert not f["eai_acts"] and not f["fallback_fired"] and not f["eai_differs_sub"]
    assert f["eai_differs_union"]


@pytest.fixture(scope="module")
def smoke_cache(tmp_path_factory):
    return ResultCache(tmp_path_factory.mktemp("mech-cache"))


@pytest.mark.parametrize("k", [1, 2])
def test_a_topotta_cell_reports_every_variant_and_the_table_agrees(smoke_cache, monkeypatch, k):
    monkeypatch.setenv("TOPOTTA_CACHE", str(smoke_cache.root))
    cell = experiment_cell("embedded-2d", "brick", "patchcore", "topotta",
                           params={} if k == 1 else {"k": k}, size="smoke")
    res = evaluate_cell(cell)
    mech = res["mechanisms"]
    assert set(mech["variants"]) == set(MECHANISM_VARIANTS)
    assert set(mech["flags"]) == set(MECHANISM_FLAGS)
    # the final variant is the cell's own mask: the same per-image F1
    np.testing.assert_allclose(mech["variants"]["topotta"]["f1"], res["f1_per_image"], atol=1e-6)
    table = mechanism_table([{**cell, **res}])
    assert len(table) == len(MECHANISM_VARIANTS) * res["n_images"]
    assert table["topk"].unique().tolist() == [k]
    assert table["preset"].unique().tolist() == ["paper"]
    assert not table.isna().any().any()
    # the flags repeat on every row of an image
    assert (table.groupby("image")[list(MECHANISM_FLAGS)].nunique() == 1).all().all()
    # where EAI does not act, its mask is the intersection or (fallback) the sublevel mask
    one = table.pivot_table(index="image", columns="variant", values="f1")
    flags = table.drop_duplicates("image").set_index("image")
    quiet = ~flags["eai_acts"] & ~flags["fallback_fired"]
    assert np.allclose(one.loc[quiet[quiet].index, "eai"], one.loc[quiet[quiet].index,
                                                                    "intersection"])
    activity = eai_activity(table)
    assert int(activity["n_images"].iloc[0]) == res["n_images"]
    for flag in MECHANISM_FLAGS:
        assert activity[flag].iloc[0] == pytest.approx(flags[flag].mean(), abs=1e-4)


def test_single_filtration_cells_have_no_mechanisms_and_the_table_says_why():
    rec = {"dataset": "embedded-2d", "category": "a", "scorer": "padim", "operator": "topotta",
           "image_ids": ["x"]}
    with pytest.raises(ValueError, match="no mechanisms"):
        mechanism_table([rec])


def test_presets_thr_is_shared_and_settings_are_named():
    assert preset_of({"operator": "thr"}) == "shared"
    assert preset_of({"operator": "thr", "shots": 10}) == "shared"
    assert preset_of({"operator": "topotta", "params": {"k": 2}}) == "paper"
    assert preset_of({"operator": "topotta", "params": {"preset": "release"}}) == "release"
    df = pd.DataFrame({"preset": ["shared", "paper"], "method": ["THR", "TopoTTA"],
                       "f1": [0.1, 0.2]})
    out = expand_shared(df)
    assert sorted(out["method"]) == ["THR", "TopoTTA"] and set(out["preset"]) == {"paper"}


def test_every_notebook_builds_the_same_cell_for_the_same_experiment():
    """06 (Table I), 08 (Tables V, VI), 09 (sweeps), 10 (0-shot) and 11 (clean maps) share the
    default TopoTTA cell, so it is computed once."""
    data = {"dataset": "embedded-2d", "categories": ["brick"], "scorers": ["padim"],
            "size": "quick", "seed": 0}
    table1 = experiment_cell("embedded-2d", "brick", "padim", "topotta", size="quick")
    defaults = topotta_defaults()
    variants = {
        **kth_component_variants([1]),
        **component_configurations(["eai"], [True]),
        **setting_variants("lam", [0.01], defaults=defaults),
        "0-shot": {"operator": "topotta", "params": {}},
    }
    cells, labels = build_cells(variants, **data)
    keys = {lab["setting"]: cell_key(c) for c, lab in zip(cells, labels)}
    for name in ("K=1", "sub+super+EAI+PCES", "lam=0.01+PCES", "0-shot"):
        assert keys[name] == cell_key(table1), name
    clean = robustness_cells("embedded-2d", ["brick"], ["padim"], ["topotta"], ["noise"],
                             [0.0, 0.1], size="quick")
    assert cell_key(clean[0]) == cell_key(table1)
    # the release preset's Table VI row is notebook 06's release cell
    release = with_preset(component_configurations(["intersection"], [True]), "release",
                          shots=10)
    cells, _ = build_cells({"r": release["sub+super+intersection+PCES"]}, **data)
    assert cell_key(cells[0]) == cell_key(experiment_cell(
        "embedded-2d", "brick", "padim", "topotta", params={"preset": "release"}, shots=10,
        size="quick"))
