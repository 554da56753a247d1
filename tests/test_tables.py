"""Table builders: class means, dataset means over classes, paper side-by-side, orderings."""

import numpy as np
import pandas as pd
import pytest

from topotta_lite.experiments.bundles import DEFAULT_BACKBONE
from topotta_lite.experiments.grid import paper_table
from topotta_lite.experiments.tables import (
    compare_main,
    gain_table,
    image_table,
    main_table,
    method_order,
    ordering_agreement,
    per_class_table,
    ranking_table,
    records_frame,
    side_by_side,
)


def _records(seed=0):
    rng = np.random.default_rng(seed)
    recs = []
    for scorer in ("padim", "patchcore"):
        for cat, n in (("brick", 3), ("nut", 7), ("pcb", 5)):
            for op in ("topotta", "thr", "ttt4as"):
                p, r = rng.uniform(0.1, 0.9, 2)
                recs.append({"dataset": "embedded-2d", "category": cat, "scorer": scorer,
                             "operator": op, "params": {"lam": 0.01}, "precision": p,
                             "recall": r, "f1": 2 * p * r / (p + r), "iou": p * r / (p + r - p * r),
                             "n_images": n, "f1_per_image": [0.1] * n})
    return recs


def _ranking():
    return [{"dataset": "embedded-2d", "category": c, "scorer": s, "i_auroc": v, "p_auroc": v,
             "aupro": v / 2}
            for s in ("padim", "patchcore") for c, v in (("brick", 0.7), ("nut", 0.8),
                                                        ("pcb", 0.99))]


def test_main_table_is_the_unweighted_mean_of_class_means():
    recs = _records()
    table = main_table(recs, ranking=_ranking(), decimals=None)
    assert len(table) == 6
    assert table["method"].tolist()[:3] == ["THR", "TTT4AS", "TopoTTA"]
    for _, row in table.iterrows():
        op = {"THR": "thr", "TTT4AS": "ttt4as", "TopoTTA": "topotta"}[row["method"]]
        scorer = {"PaDiM": "padim", "PatchCore": "patchcore"}[row["scorer"]]
        mine = [r for r in recs if r["operator"] == op and r["scorer"] == scorer]
        for m in ("precision", "recall", "f1", "iou"):
            # each class counts once, not weighted by its number of images
            assert row[m] == pytest.approx(np.mean([r[m] for r in mine]))
        assert row["n_classes"] == 3 and row["n_images"] == 15
        assert row["i_auroc"] == pytest.approx((0.7 + 0.8 + 0.99) / 3)
        assert row["aupro"] == pytest.approx((0.7 + 0.8 + 0.99) / 6)


def test_keep_separates_settings_and_duplicates_are_refused():
    recs = _records()
    twice = recs + [{**r, "params": {"lam": 0.1}} for r in recs]
    with pytest.raises(ValueError, match="keep="):
        main_table(twice)
    table = main_table(twice, keep=["params.lam"])
    assert len(table) == 12 and set(table["params.lam"]) == {0.01, 0.1}
    per = per_class_table(twice, keep=["params.lam"])
    assert len(per) == len(twice)


def test_per_class_table_matches_records_and_sorts():
    recs = _records()
    per = per_class_table(recs, decimals=None)
    assert len(per) == len(recs)
    assert per[["scorer", "category"]].iloc[0].tolist() == ["PaDiM", "brick"]
    row = per[(per.scorer == "PatchCore") & (per.category == "nut") & (per.method == "TopoTTA")]
    rec = next(r for r in recs if r["scorer"] == "patchcore" and r["category"] == "nut"
               and r["operator"] == "topotta")
    assert row["f1"].item() == pytest.approx(rec["f1"])


def test_records_frame_reads_nested_keys_and_missing_metrics():
    df = records_frame([{"dataset": "d", "category": "c", "scorer": "x", "operator": "thr",
                         "params": {"k": 3}, "f1": 0.5}], keep=["params.k", "params.zz"])
    assert df["params.k"].item() == 3 and df["params.zz"].item() is None
    assert np.isnan(df["iou"].item()) and df["scorer"].item() == "x"


def test_ranking_table_per_class_and_mean():
    by_class = ranking_table(_ranking(), by_class=True)
    assert len(by_class) == 6
    mean = ranking_table(_ranking())
    assert mean["p_auroc"].tolist() == pytest.approx([0.83, 0.83])


def test_compare_main_places_paper_rows_beside_ours():
    table = main_table(_records(), ranking=_ranking())
    cmp = compare_main(table)
    assert len(cmp) == 6
    paper = paper_table("table1_main")
    row = cmp[(cmp.scorer == "PatchCore") & (cmp.method == "TopoTTA")].iloc[0]
    ref = paper[(paper.dataset == "MVTec AD") & (paper.backbone == "PatchCore")
                & (paper.method == "TopoTTA")].iloc[0]
    assert row["f1_paper"] == pytest.approx(ref["f1"])
    assert row["aupro_paper"] == pytest.approx(ref["p_aupro"])
    assert row["f1_ours"] == pytest.approx(
        table[(table.scorer == "PatchCore") & (table.method == "TopoTTA")]["f1"].item())


def test_side_by_side_renames_and_keeps_unmatched():
    ours = pd.DataFrame({"category": ["bottle", "grass"], "method": ["TopoTTA"] * 2,
                         "f1": [0.5, 0.2]})
    paper = paper_table("table3_per_class").rename(columns={"class": "category"})
    out = side_by_side(ours, paper[paper.method == "TopoTTA"], on=["category", "method"],
                       metrics=["f1"], rename={"category": {"grass": "wood"}})
    wood = out[out.category == "wood"].iloc[0]
    assert wood["category_ours"] == "grass" and wood["f1_ours"] == 0.2
    assert wood["f1_paper"] == pytest.approx(0.635)
    assert out["f1_ours"].isna().sum() == len(out) - 2  # unmatched paper rows stay visible
    inner = side_by_side(ours, paper, on=["category", "method"], metrics=["f1"],
                         keep_unmatched=False)
    assert inner["category"].tolist() == ["bottle"]
    with pytest.raises(ValueError, match="paper_columns"):
        side_by_side(ours, paper_table("table3_per_class"), on=["category", "method"],
                     metrics=["f1"])


def test_method_order_gain_and_agreement():
    df = pd.DataFrame({"g": ["a"] * 3 + ["b"] * 3, "method": ["THR", "TTT4AS", "TopoTTA"] * 2,
                       "f1": [0.1, 0.3, 0.5, 0.6, 0.2, 0.4]})
    order = method_order(df, group=["g"])
    assert order["order"].tolist() == ["TopoTTA > TTT4AS > THR", "THR > TopoTTA > TTT4AS"]
    assert order["margin"].tolist() == pytest.approx([0.2, 0.2])
    gain = gain_table(df, group=["g"], metrics=["f1"])
    assert gain["f1_gain"].tolist() == pytest.approx([0.2, 0.2])
    cmp = df.rename(columns={"f1": "f1_ours"}).assign(f1_paper=[0.1, 0.3, 0.5] * 2)
    agree = ordering_agreement(cmp, group=["g"])
    assert agree["same_best"].tolist() == [True, False]
    assert agree["kendall_tau"].iloc[0] == pytest.approx(1.0)
    assert agree["kendall_tau"].iloc[1] == pytest.approx(-1 / 3)


def test_image_table_one_row_per_image_and_refuses_old_results():
    recs = []
    for op, f1 in (("thr", [0.2, 0.4]), ("topotta", [0.5, 0.7])):
        recs.append({"dataset": "embedded-2d", "category": "brick", "scorer": "padim",
                     "operator": op, "params": {"lam": 0.01}, "image_ids": ["a", "b"],
                     **{f"{m}_per_image": f1 for m in ("precision", "recall", "f1", "iou")}})
    t = image_table(recs, keep=["params.lam"])
    assert len(t) == 4 and t["backbone"].unique().tolist() == [DEFAULT_BACKBONE["2d"]]
    assert t[t["method"] == "TopoTTA"][["image", "f1", "params.lam"]].values.tolist() == [
        ["a", 0.5, 0.01], ["b", 0.7, 0.01]]
    old = dict(recs[0])
    del old["iou_per_image"]
    with pytest.raises(ValueError, match="RESULTS_VERSION"):
        image_table([old])
    with pytest.raises(ValueError, match="length"):
        image_table([{**recs[0], "f1_per_image": [0.1]}])
