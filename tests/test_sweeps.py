"""Sweep builders and the K-th-component ablation (topotta_lite.experiments.sweeps)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from topotta_lite.experiments.bundles import make_operator
from topotta_lite.experiments.grid import cell_key
from topotta_lite.experiments.sweeps import (
    build_cells,
    component_configurations,
    kth_component_variants,
    mean_over_classes,
    one_at_a_time,
)
from topotta_lite.method.pseudolabels import pseudo_label_mask
from topotta_lite.operators import TopoTTA


def _smooth_map(seed: int, shape=(40, 48)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.random(shape), 2.5)


def test_one_at_a_time_changes_exactly_one_parameter():
    base = {"lam": 0.01, "levels": 256, "margin": 1.0}
    grid = {"lam": [0.0, 0.01, 0.5], "levels": [8, 64]}
    rows = one_at_a_time(base, grid)
    assert len(rows) == 5
    for r in rows:
        changed = {k for k in base if r["params"][k] != base[k]}
        assert changed <= {r["parameter"]}
        assert r["params"][r["parameter"]] == r["value"]
    assert base == {"lam": 0.01, "levels": 256, "margin": 1.0}  # not mutated
    rows[0]["params"]["margin"] = 7  # copies, not views
    assert rows[1]["params"]["margin"] == 1.0
    with pytest.raises(ValueError, match="empty"):
        one_at_a_time(base, {"lam": []})
    with pytest.raises(ValueError):
        one_at_a_time(base, {})


@pytest.mark.parametrize("filtration", ["sublevel", "superlevel"])
@pytest.mark.parametrize("rule", ["region", "release"])
def test_kth_masks_rebuild_top_k(filtration, rule):
    """K-th alone for K = 1..3 united == the Top-3 mask; K = 1 alone == Top-1."""
    for seed in range(3):
        psi = _smooth_map(seed)
        kw = {"levels": 64, "rule": rule}
        top1 = pseudo_label_mask(psi, filtration, k=1, **kw)
        assert np.array_equal(pseudo_label_mask(psi, filtration, k=1, only_kth=True, **kw), top1)
        union = np.zeros(psi.shape, bool)
        for k in (1, 2, 3):
            union |= pseudo_label_mask(psi, filtration, k=k, only_kth=True, **kw)
        assert np.array_equal(union, pseudo_label_mask(psi, filtration, k=3, **kw))


def test_kth_mask_picks_by_persistence_and_runs_out():
    psi = np.zeros((12, 12))
    psi[1:3, 1:3] = 0.4  # less persistent blob, listed first in raster order
    psi[7:10, 7:10] = 1.0  # the global peak (essential class)
    psi[1:3, 8:10] = 0.7
    first, second, third, fourth = (pseudo_label_mask(psi, "superlevel", k=k, only_kth=True)
                                    for k in (1, 2, 3, 4))
    assert first[8, 8] and first.sum() == 9
    assert second[1, 8] and second.sum() == 4
    assert third[1, 1] and third.sum() == 4
    assert not fourth.any()


def test_kth_operator_k1_is_topotta():
    for seed in range(2):
        psi = _smooth_map(10 + seed)
        a = TopoTTA(levels=64, only_kth=True).pseudo_labels(psi)
        b = TopoTTA(levels=64).pseudo_labels(psi)
        for x, y in zip(a, b):
            assert np.array_equal(x, y)
    op = make_operator("topotta", {"k": 2, "only_kth": True, "pces": False})
    psi = _smooth_map(3)
    m_sub, m_sup, _ = op.pseudo_labels(psi)
    assert np.array_equal(m_sup, pseudo_label_mask(psi, "superlevel", k=2, only_kth=True))
    assert np.array_equal(m_sub, pseudo_label_mask(psi, "sublevel", k=2, only_kth=True))


def test_build_cells_keeps_labels_out_of_cells():
    variants = kth_component_variants([1, 3])
    cells, labels = build_cells(variants, dataset="embedded-2d", categories=["brick", "nut"],
                                scorers=["padim", "patchcore"], size="smoke")
    assert len(cells) == len(labels) == 8
    assert all("setting" not in c and "meta" not in c for c in cells)
    assert {lab["kth_component"] for lab in labels} == {1, 3}
    # K = 1 is the very cell the main experiments compute with default parameters
    from topotta_lite.experiments.bundles import DEFAULT_BACKBONE

    default = {"dataset": "embedded-2d", "category": "brick", "scorer": "padim",
               "backbone": DEFAULT_BACKBONE["2d"], "operator": "topotta", "params": {},
               "size": "smoke", "seed": 0}
    assert cell_key(default) in {cell_key(c) for c in cells}
    assert len({cell_key(c) for c in cells}) == 8
    extra, _ = build_cells({"3-shot": {"operator": "ttt4as", "shots": 3}},
                           dataset="embedded-2d", categories=["brick"], scorers=["padim"],
                           data_root="/x")
    assert extra[0]["shots"] == 3 and extra[0]["data_root"] == "/x"
    with pytest.raises(ValueError, match="operator"):
        build_cells({"bad": {}}, dataset="embedded-2d", categories=["brick"], scorers=["padim"])


def test_component_configurations_and_class_means():
    conf = component_configurations()
    assert len(conf) == 12
    assert conf["sub+super+EAI+PCES"]["params"] == {}
    assert conf["sublevel"]["params"] == {"filtrations": ["sublevel"], "fusion": None,
                                          "pces": False}
    for v in conf.values():  # every setting builds a valid operator
        make_operator(v["operator"], v["params"])
    df = pd.DataFrame({"setting": ["a", "a", "b", "b"], "category": ["x", "y", "x", "y"],
                       "f1": [0.2, 0.6, 0.5, 0.5], "precision": [1.0, 0.0, 0.5, 0.5]})
    out = mean_over_classes(df, ["setting"])
    assert out["f1"].tolist() == pytest.approx([0.4, 0.5])
    assert out["precision"].tolist() == pytest.approx([0.5, 0.5])
    assert out["n_classes"].tolist() == [2, 2]


def test_default_settings_collapse_to_one_cell():
    """Every one-at-a-time sweep's default setting is the same (cached) cell."""
    from topotta_lite.experiments.sweeps import drop_defaults, setting_variants, topotta_defaults

    d = topotta_defaults()
    rows = one_at_a_time({}, {"lam": [0.01, 0.1], "levels": [256, 8], "alpha": [0.5]},
                         defaults=d)
    assert [r["params"] for r in rows] == [{}, {"lam": 0.1}, {}, {"levels": 8}, {}]
    assert drop_defaults({"lam": 0.01, "pces": True, "rule": "release"}, d) == {
        "rule": "release"}
    assert drop_defaults({"pces": 1}, d) == {"pces": 1}  # not silently equal to True
    v = setting_variants("fusion_target", ["union", "reachable"], pces=[True, False],
                         defaults=d, label="eai_target")
    assert v["eai_target=union+PCES"]["params"] == {}
    assert v["eai_target=reachable"]["params"] == {"fusion_target": "reachable", "pces": False}
    assert v["eai_target=reachable"]["meta"] == {"eai_target": "reachable", "pces": 0}
    for s in v.values():
        make_operator(s["operator"], s["params"])


def test_run_labelled_computes_shared_cells_once(tmp_path):
    from topotta_lite.experiments.grid import ResultCache
    from topotta_lite.experiments.sweeps import run_labelled

    seen = []

    def fn(cell):
        seen.append(cell["x"])
        if cell["x"] == 3:
            raise RuntimeError("boom")
        return {"f1": cell["x"] / 10, "precision": 1.0, "seconds": {"total": 0.5}}

    cells = [{"x": 1}, {"x": 2}, {"x": 1}, {"x": 3}]
    labels = [{"setting": s} for s in "abcd"]
    with pytest.raises(RuntimeError, match="settings: d"):
        run_labelled(cells, labels, fn, cache=ResultCache(tmp_path), progress=False)
    assert sorted(seen) == [1, 2, 3]
    df = run_labelled(cells, labels, fn, cache=ResultCache(tmp_path), progress=False,
                      strict=False)
    assert sorted(seen) == [1, 2, 3, 3]  # only the failure is retried
    assert df["setting"].tolist() == ["a", "b", "c"]  # the failed cell is left out
    assert df["f1"].tolist() == pytest.approx([0.1, 0.2, 0.1])
    assert df["seconds_per_image"].tolist() == [0.5, 0.5, 0.5]
    with pytest.raises(ValueError, match="labels"):
        run_labelled(cells, labels[:2], fn, cache=ResultCache(tmp_path), progress=False)


def test_run_labelled_per_image_rows_carry_the_labels(tmp_path):
    from topotta_lite.experiments.grid import ResultCache
    from topotta_lite.experiments.sweeps import run_labelled

    def fn(cell):
        f1 = [cell["x"] / 10, cell["x"] / 20]
        return {"f1": sum(f1) / 2, "n_images": 2, "image_ids": ["i0", "i1"],
                **{f"{m}_per_image": f1 for m in ("precision", "recall", "f1", "iou")}}

    cells = [{"dataset": "d", "category": "c", "scorer": "padim", "operator": "topotta", "x": x}
             for x in (1, 2)]
    labels = [{"setting": f"lam={x}", "dataset": "d", "category": "c", "scorer": "padim",
               "lambda": x} for x in (1, 2)]
    df, images = run_labelled(cells, labels, fn, cache=ResultCache(tmp_path), progress=False,
                              per_image=True)
    assert len(df) == 2 and len(images) == 4
    assert images.columns.tolist()[:8] == ["dataset", "scorer", "backbone", "category",
                                            "method", "setting", "lambda", "image"]
    assert images["method"].unique().tolist() == ["TopoTTA"]
    assert images.loc[images["lambda"] == 2, "f1"].tolist() == pytest.approx([0.2, 0.1])
