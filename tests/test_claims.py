"""Claims report: per-image paired comparisons, intervals, three-way verdicts, the paper side."""

import numpy as np
import pandas as pd
import pytest

from topotta_lite.experiments.claims import (
    CLAIMS,
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    UNTESTABLE,
    NotTestable,
    _config_flags,
    _expand_presets,
    assess_claims,
    evaluate_claims,
    load_tables,
)
from topotta_lite.experiments.paper_checks import paper_caveats, paper_sanity, paper_tables

BY_ID = {c.id: c for c in CLAIMS}
CLASSES = ("brick", "bottle", "pcb")
N_BOOT = 400


def images(per_image: int = 8, classes=CLASSES, seed: int = 0):
    """(category, image, base score) rows: the same images for every method."""
    rng = np.random.default_rng(seed)
    return [(c, f"{c}_{i:02d}", float(rng.uniform(0.2, 0.6)))
            for c in classes for i in range(per_image)]


def long_table(offsets: dict, setting: dict | None = None, noise: float = 0.02, seed: int = 0,
               metric: str = "f1", noise_seed: int | None = None, **kw) -> pd.DataFrame:
    """Per-image rows: each comparand's score = base + offset + noise (same images); a zero
    offset adds no noise (the very same scores: a tie)."""
    rng = np.random.default_rng(seed + 1 if noise_seed is None else noise_seed)
    rows = []
    for (cat, img, base) in images(seed=seed, **kw):
        for key, off in offsets.items():
            row = {"dataset": "embedded-2d", "scorer": "PatchCore", "backbone": "filterbank",
                   "category": cat, "image": img, **(setting or {})}
            row["method"] = key
            value = base + off + (noise * rng.standard_normal() if off else 0.0)
            row[metric] = value
            if metric == "f1":
                row["iou"] = value / (2 - value)
            rows.append(row)
    return pd.DataFrame(rows)


def verdict(cid, tables):
    return BY_ID[cid].verdict(tables, n_boot=N_BOOT)[:2]


def test_clear_gain_holds_clear_loss_fails_tie_is_inconclusive():
    gain = long_table({"THR": -0.2, "TTT4AS": 0.0, "TopoTTA": 0.1})
    assert verdict("beats_ttt4as_f1", {"table1_2d_per_image": gain})[0] == HOLDS
    loss = long_table({"THR": -0.2, "TTT4AS": 0.0, "TopoTTA": -0.1})
    v, reason = verdict("beats_ttt4as_f1", {"table1_2d_per_image": loss})
    assert v == FAILS and "embedded-2d/filterbank/PatchCore" in reason
    tie = long_table({"THR": -0.2, "TTT4AS": 0.0, "TopoTTA": 0.0})  # identical scores
    assert verdict("beats_ttt4as_f1", {"table1_2d_per_image": tie})[0] == INCONCLUSIVE
    res = BY_ID["beats_ttt4as_f1"].assess({"table1_2d_per_image": gain}, n_boot=N_BOOT)
    (s,) = res.settings
    assert (s.interval.n_images, len(s.classes)) == (24, 3)
    assert s.interval.low > 0 and s.interval.low <= s.interval.estimate <= s.interval.high


def test_missing_tables_name_the_notebook_and_the_per_image_companion():
    v, reason = verdict("beats_ttt4as_f1", {})
    assert v == UNTESTABLE and "notebook 06" in reason
    mean_only = {"table1_2d": pd.DataFrame({"method": ["TTT4AS"], "f1": [0.3]})}
    v, reason = verdict("beats_ttt4as_f1", mean_only)
    assert v == UNTESTABLE and "table1_2d_per_image" in reason and "rerun" in reason
    no_image = {"table1_2d_per_image": long_table({"TTT4AS": 0.0, "TopoTTA": 0.1}).drop(
        columns="image")}
    assert "no 'image' column" in verdict("beats_ttt4as_f1", no_image)[1]


def test_3d_rows_count_and_absent_2d_rows_are_said():
    t3 = long_table({"TTT4AS": 0.0, "TopoTTA": -0.15}).assign(dataset="embedded-3d")
    v, reason = verdict("beats_ttt4as_f1", {"table1_3d_per_image": t3})
    assert v == FAILS and "table1_2d (notebook 06 did not run)" in reason


def test_thr_worst_is_checked_per_setting_not_on_one_mean():
    ok = long_table({"THR": -0.2, "TTT4AS": 0.0, "TopoTTA": 0.05})
    bad = long_table({"THR": 0.1, "TTT4AS": 0.0, "TopoTTA": 0.05}).assign(scorer="PaDiM")
    assert verdict("thr_worst", {"table1_2d_per_image": ok})[0] == HOLDS
    # THR is the lowest on average over the two settings, but not in the PaDiM one
    v, reason = verdict("thr_worst", {"table1_2d_per_image": pd.concat([ok, bad])})
    assert v == FAILS and "PaDiM" in reason


def test_crossmodel_excludes_the_same_backbone_diagonal():
    rows = []
    for fb, gain in (("filterbank", -0.2), ("randconv", 0.1)):
        rows.append(long_table({"TTT4AS": 0.0, "TopoTTA": gain},
                               {"map_source": "patchcore", "feature_source": fb}))
    t4 = pd.concat(rows, ignore_index=True)
    res = BY_ID["crossmodel_beats_ttt4as"].assess({"table4_crossmodel_per_image": t4},
                                                  n_boot=N_BOOT)
    assert res.verdict == HOLDS and [s.label.endswith("randconv") for s in res.settings] == [True]
    diag = {"table4_crossmodel_per_image": rows[0]}
    assert "diagonal" in verdict("crossmodel_beats_ttt4as", diag)[1]


def test_fewshot_every_shot_excludes_zero_shots():
    parts = [long_table({"TTT4AS": 0.0, "TopoTTA": gain}, {"shots": k})
             for k, gain in ((0, -0.3), (1, 0.1), (3, 0.1))]
    res = BY_ID["fewshot_every_shot"].assess({"table2_fewshot_per_image": pd.concat(parts)},
                                             n_boot=N_BOOT)
    assert res.verdict == HOLDS
    assert [s.label.rsplit("/", 1)[1] for s in res.settings] == ["shots=1", "shots=3"]


def test_fewshot_low_shot_gain():
    parts = [long_table({"TTT4AS": 0.0, "TopoTTA": gain}, {"shots": k})
             for k, gain in ((1, 0.2), (3, 0.2), (5, 0.05), (10, 0.05))]
    assert verdict("fewshot_low_shot_gain", {"table2_fewshot_per_image": pd.concat(parts)})[0] \
        == HOLDS


def sweep(param, offsets, **kw):
    """TopoTTA at several values of one parameter, on the same images."""
    return pd.concat([long_table({"TopoTTA": o}, {param: v}, noise_seed=10 + j, **kw)
                      for j, (v, o) in enumerate(offsets.items())], ignore_index=True)


def test_best_at_needs_a_strict_margin_and_ties_are_inconclusive():
    assert verdict("levels_256_best", {"table8_levels_per_image": sweep(
        "levels", {64: 0.0, 256: 0.1})})[0] == HOLDS
    assert verdict("levels_256_best", {"table8_levels_per_image": sweep(
        "levels", {64: 0.1, 256: 0.0})})[0] == FAILS
    # lambda = 0.01 and 0.1 give the very same masks: +0.000, inconclusive (not "holds")
    tie = sweep("lambda", {0.0: -0.1, 0.01: 0.0, 0.1: 0.0})
    res = BY_ID["lambda_peak_0.01"].assess({"table7_lambda_per_image": tie}, n_boot=N_BOOT)
    assert res.verdict == INCONCLUSIVE and res.settings[0].interval.text() == \
        "+0.000 [+0.000, +0.000]"
    v, reason = verdict("levels_256_best", {"table8_levels_per_image": sweep("levels",
                                                                            {256: 0.0})})
    assert v == UNTESTABLE and "another value" in reason
    # other methods' rows (pseudo-labels without PCES) are ignored; "lam" is read as lambda
    other = sweep("lam", {0.0: 0.3, 0.01: 0.0}).assign(method="TopoTTA pseudo-labels (no PCES)")
    both = pd.concat([sweep("lam", {0.0: 0.0, 0.01: 0.1}), other])
    assert verdict("lambda_peak_0.01", {"table7_lambda_per_image": both})[0] == HOLDS


def test_monotone_needs_three_values():
    down = sweep("kth_component", {1: 0.3, 2: 0.2, 3: 0.1})
    up = sweep("kth_component", {1: 0.3, 2: 0.1, 3: 0.2})
    assert verdict("topk_monotone", {"table5_topk_per_image": down})[0] == HOLDS
    assert verdict("topk_monotone", {"table5_topk_per_image": up})[0] == FAILS
    two = sweep("kth_component", {1: 0.3, 2: 0.2})
    assert verdict("topk_monotone", {"table5_topk_per_image": two})[0] == UNTESTABLE


def test_settings_are_split_by_rule_and_preset():
    t5 = pd.concat([sweep("kth_component", {1: 0.3, 2: 0.2}).assign(rule=r)
                    for r in ("region", "release")])
    res = BY_ID["top1_best"].assess({"table5_topk_per_image": t5}, n_boot=N_BOOT)
    assert [s.label.rsplit("/", 1)[1] for s in res.settings] == ["region", "release"]


def test_presets_side_by_side_share_the_baselines():
    base = long_table({"THR": -0.2, "TTT4AS": 0.0, "TopoTTA": 0.1})
    release = long_table({"TopoTTA": -0.1}).assign(preset="release")
    t1 = pd.concat([base, release], ignore_index=True)
    assert "preset" in t1 and t1["preset"].isna().sum() == len(base)
    res = BY_ID["beats_ttt4as_f1"].assess({"table1_2d_per_image": t1}, n_boot=N_BOOT)
    verdicts = {s.label.rsplit("/", 1)[1]: s.verdict for s in res.settings}
    assert verdicts == {"paper": HOLDS, "release": FAILS}
    # a baseline run with the release preset's support replaces the shared one there
    ttt_release = long_table({"TTT4AS": -0.3}).assign(preset="release")
    expanded = _expand_presets(pd.concat([t1, ttt_release], ignore_index=True))
    rel = expanded[(expanded["preset"] == "release") & (expanded["method"] == "TTT4AS")]
    assert len(rel) == len(ttt_release)


def test_configuration_text_is_parsed():
    df = pd.DataFrame({"configuration": ["sublevel+PCES", "superlevel+PCES", "sub+super+EAI",
                                         "sub+super+intersection+PCES", "sub+super+EAI+PCES",
                                         "sub+super+EAI (no PCES)"]})
    f = _config_flags(df)
    assert f["sub"].tolist() == [True, False, True, True, True, True]
    assert f["sup"].tolist() == [False, True, True, True, True, True]
    assert f["pces"].tolist() == [True, True, False, True, True, False]
    assert f["fusion"].tolist() == ["none", "none", "eai", "intersection", "eai", "eai"]


def table6(f1, precision=None, recall=None):
    confs = ["sublevel+PCES", "superlevel+PCES", "sub+super+EAI",
             "sub+super+intersection+PCES", "sub+super+EAI+PCES"]
    parts = []
    for j, conf in enumerate(confs):
        t = long_table({"TopoTTA": f1[j]}, {"configuration": conf})
        t["precision"] = t["f1"] + (precision[j] if precision else 0.0)
        t["recall"] = t["f1"] + (recall[j] if recall else 0.0)
        parts.append(t)
    return {"table6_components_per_image": pd.concat(parts, ignore_index=True)}


def test_table6_claims():
    t = table6([0.05, -0.1, 0.02, 0.04, 0.1], precision=[0.2, -0.1, 0, 0, 0],
               recall=[-0.2, 0.3, 0, 0, 0])
    for cid in ("full_config_best", "superlevel_favours_recall", "pces_helps",
                "eai_beats_intersection"):
        assert verdict(cid, t)[0] == HOLDS, cid
    worse = table6([0.05, -0.1, 0.02, 0.3, 0.1])
    assert verdict("eai_beats_intersection", worse)[0] == FAILS
    assert verdict("full_config_best", worse)[0] == FAILS


def test_robustness_claims():
    parts = []
    for kind in ("noise", "speckle"):
        for s, gain in ((0.0, 0.05), (0.2, 0.1), (0.4, 0.2)):
            parts.append(long_table({"TTT4AS": -0.1, "TopoTTA": -0.1 + gain, "THR": -0.2},
                                    {"kind": kind, "strength": s}))
    rob = {"fig7_robustness_per_image": pd.concat(parts, ignore_index=True)}
    assert verdict("robust_never_worse", rob)[0] == HOLDS
    # the gain grows with strength here, so "the gain shrinks" does not hold
    assert verdict("robust_gain_shrinks", rob)[0] == FAILS


def test_runtime_is_a_point_value_on_the_mean_table():
    rt = pd.DataFrame({"modality": ["2d"] * 4, "method": ["thr", "ttt4as", "topotta", "topotta"],
                       "total_s": [0.001, 0.1, 0.5, None], "device": ["cpu"] * 3 + ["cuda"],
                       "n_images": [8, 8, 8, None]})
    res = BY_ID["overhead_vs_ttt4as"].assess({"table10_runtime": rt})
    assert res.verdict == FAILS and res.settings[0].interval.estimate == pytest.approx(5.0)
    assert res.settings[0].interval.n_boot == 0  # no interval: timings have no per-image rows
    rt.loc[3, "total_s"] = 0.11  # a GPU row: TopoTTA's fastest device counts
    res = BY_ID["overhead_vs_ttt4as"].assess({"table10_runtime": rt})
    assert res.verdict == HOLDS and res.settings[0].label == "2d (cuda)"


def test_report_columns_counts_and_determinism():
    t = {"table1_2d_per_image": long_table({"THR": -0.2, "TTT4AS": 0.0, "TopoTTA": 0.1})}
    one = assess_claims(t, paper={}, n_boot=N_BOOT)
    two = assess_claims(t, paper={}, n_boot=N_BOOT)
    pd.testing.assert_frame_equal(one.summary, two.summary)
    pd.testing.assert_frame_equal(one.settings, two.settings)
    row = one.summary.set_index("claim").loc["beats_ttt4as_f1"]
    assert (row["verdict"], row["n_images"], row["n_classes"]) == (HOLDS, "24", "3")
    assert "(24 images, 3 classes) holds" in row["ours"]
    single = {"table1_2d_per_image": long_table({"TTT4AS": 0.0, "TopoTTA": 0.1},
                                                classes=("brick",))}
    text = evaluate_claims(single, paper={}, claims=[BY_ID["beats_ttt4as_f1"]],
                           n_boot=N_BOOT).loc[0, "ours"]
    assert "1 class: brick" in text and "mean over classes" not in text
    assert set(one.settings.columns) >= {"claim", "side", "setting", "estimate", "low", "high",
                                         "n_images", "n_classes", "verdict"}


def test_paper_side_flags_impossible_rows_and_prints_caveats():
    rep = assess_claims({}).summary.set_index("claim")
    assert (rep["verdict"] == UNTESTABLE).all()
    # "THR is the lowest" checked per setting: the paper's own Table I does not support it
    assert rep.loc["thr_worst", "paper_check"] == FAILS
    assert rep.loc["topk_monotone", "paper_check"] == FAILS  # 3D-CMM: F1(K=3) > F1(K=2)
    assert rep.loc["beats_thr_f1", "paper_check"] == HOLDS
    assert "MVTec AD/PatchCore: +0.417 [flagged, not counted]" in rep.loc["beats_thr_f1", "paper"]
    assert "IoU > F1" in rep.loc["beats_thr_f1", "paper_notes"]
    for cid in ("pces_helps", "full_config_best"):
        assert "check marks were lost" in rep.loc[cid, "paper_notes"]
        assert "sub+super+three_of_four_marks (F1 0.423)" in rep.loc[cid, "paper_notes"]
        assert "read here as sub + super + EAI without PCES" in rep.loc[cid, "paper_notes"]
    assert "Table VIII not monotone" in rep.loc["levels_256_best", "paper_notes"]
    assert rep.loc["overhead_vs_ttt4as", "paper"] == "2D (cuda): 1.12x; 3D (cuda): 1.13x"
    assert rep.loc["crossmodel_beats_ttt4as", "paper_check"] == "n/a"
    # the paper's Table I as "ours" (one value per row: point values, no interval)
    mine = evaluate_claims({"table1_2d_per_image": paper_tables()["table1_2d"].assign(
        image="-")}, claims=[BY_ID["beats_ttt4as_f1"]])
    assert mine.loc[0, "verdict"] == HOLDS


def test_paper_sanity_finds_the_known_problems():
    s = paper_sanity()
    impossible = set(s.loc[s["severity"] == "impossible", "row"])
    assert {"Table I: MVTec AD/PatchCore/THR", "Table III: MVTec AD/PatchCore/bottle/THR"} <= \
        impossible
    ok = paper_tables()["table1_2d"]
    ok = ok[ok["iou"] <= ok["f1"]]
    assert not set(ok["_source"]) & set(s.loc[s["check"] == "IoU > F1", "row"])
    one_shot = s[s["check"] == "Table II 1-shot vs Table I 0-shot"]
    assert "Table II: MVTec AD/PatchCore/TTT4AS/1-shot" in set(one_shot["row"])
    assert "0.382 at 0 shots" in one_shot.set_index("row").loc[
        "Table II: MVTec AD/PatchCore/TTT4AS/1-shot", "values"]
    steps = s[s["check"] == "Table VIII not monotone"]
    assert "Table VIII: MVTec AD/PatchCore/n=32" in set(steps["row"])
    t8 = paper_tables()["table8_levels"]
    mvtec = t8[(t8["dataset"] == "MVTec AD") & (t8["backbone"] == "PatchCore")]
    assert (np.diff(mvtec.sort_values("levels")["f1"]) < 0).sum() == (
        steps["row"].str.startswith("Table VIII: MVTec AD/PatchCore/")).sum()
    assert any("duplicated" in c for c in s["check"])
    caveats = paper_caveats()
    assert sum(k.startswith("Table VI:") for k in caveats) == 3
    assert all("lost" in v for k, v in caveats.items() if k.startswith("Table VI:"))


def test_load_tables_reads_per_image_tables_and_skips_empty(tmp_path):
    long_table({"TTT4AS": 0.0}).to_csv(tmp_path / "table1_2d_per_image.csv", index=False)
    pd.DataFrame({"method": ["TTT4AS"], "f1": [0.3]}).to_csv(tmp_path / "table1_2d.csv",
                                                             index=False)
    (tmp_path / "table7_lambda.csv").write_text("")
    got = load_tables(tmp_path)
    assert set(got) == {"table1_2d", "table1_2d_per_image"}
    with pytest.raises(NotTestable):
        BY_ID["best_iou"].measure({"table1_2d": pd.DataFrame({"method": ["THR"]})})


def test_duplicate_images_in_a_comparand_are_refused():
    t = long_table({"TTT4AS": 0.0, "TopoTTA": 0.1})
    doubled = pd.concat([t, t.assign(size="other")], ignore_index=True)
    v, reason = verdict("beats_ttt4as_f1", {"table1_2d_per_image": doubled})
    assert v == UNTESTABLE and "several rows per image" in reason


def test_quick_profile_runs_every_verdict_on_at_least_3_classes():
    import tomllib

    from topotta_lite.config import repo_root
    from topotta_lite.data import list_categories

    quick = tomllib.loads((repo_root() / "notebooks" / "profiles.toml").read_text())["quick"]
    assert len(quick["06_experiments_2d"]["classes"]) >= 3
    for nb in ("08_ablations", "09_sensitivity", "10_fewshot_crossmodel", "11_robustness"):
        assert len(quick[nb].get("categories", list_categories("2d"))) >= 3, nb
    # 07 runs every class the embedded 2.5D and 3D benchmarks have (2 each: the claims report
    # prints "2 classes" beside those settings)
    assert not {"classes_25d", "classes_3d"} & set(quick["07_experiments_3d"])
