"""Claims report: per-image paired comparisons, verdicts per preset, mechanisms, the paper side."""

import numpy as np
import pandas as pd
import pytest

from topotta_lite.experiments.claims import (
    CLAIMS,
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    UNTESTABLE,
    VACUOUS,
    NotTestable,
    assess,
    assess_claims,
    assign_presets,
    claims_markdown,
    evaluate_claims,
    load_tables,
)
from topotta_lite.experiments.claims.evaluate import _combine, _judge
from topotta_lite.experiments.claims.measures import config_flags
from topotta_lite.experiments.paper_checks import (
    paper_caveats,
    paper_sanity,
    paper_tables,
    text_contradictions,
)
from topotta_lite.experiments.stats import BORDERLINE, SESOI, contrast_test

BY_ID = {c.id: c for c in CLAIMS}
CLASSES = ("brick", "bottle", "pcb")
N_BOOT = 2000


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


def result(cid, tables, preset="paper"):
    return {r.preset: r for r in assess(BY_ID[cid], tables, n_boot=N_BOOT)}[preset]


def verdict(cid, tables, preset="paper"):
    r = result(cid, tables, preset)
    return r.verdict, r.reason


def test_clear_gain_holds_clear_loss_fails_tie_is_inconclusive():
    gain = long_table({"THR": -0.2, "TTT4AS": 0.0, "TopoTTA": 0.1})
    assert verdict("beats_ttt4as_f1", {"table1_2d_per_image": gain})[0] == HOLDS
    loss = long_table({"THR": -0.2, "TTT4AS": 0.0, "TopoTTA": -0.1})
    v, reason = verdict("beats_ttt4as_f1", {"table1_2d_per_image": loss})
    assert v == FAILS and "embedded-2d/filterbank/PatchCore" in reason
    tie = long_table({"THR": -0.2, "TTT4AS": 0.0, "TopoTTA": 0.0})  # identical scores
    assert verdict("beats_ttt4as_f1", {"table1_2d_per_image": tie})[0] == INCONCLUSIVE
    (s,) = result("beats_ttt4as_f1", {"table1_2d_per_image": gain}).settings
    assert (s.interval.n_images, len(s.comparison.classes)) == (24, 3)
    assert 0 < s.interval.low <= s.interval.estimate <= s.interval.high
    assert s.interval.n_boot == N_BOOT and 0 < s.interval.mc_low < 0.01


def test_missing_tables_name_the_notebook_and_the_per_image_companion():
    v, reason = verdict("beats_ttt4as_f1", {})
    assert v == UNTESTABLE and "notebook 06" in reason
    mean_only = {"table1_2d": pd.DataFrame({"method": ["TTT4AS"], "f1": [0.3]})}
    v, reason = verdict("beats_ttt4as_f1", mean_only)
    assert v == UNTESTABLE and "table1_2d_per_image" in reason and "rerun" in reason
    no_image = {"table1_2d_per_image": long_table({"TTT4AS": 0.0, "TopoTTA": 0.1}).drop(
        columns="image")}
    assert "no 'image' column" in verdict("beats_ttt4as_f1", no_image)[1]


def test_3d_rows_are_named_without_nan_and_absent_2d_rows_are_said():
    t2 = pd.concat([long_table({"THR": -0.2, "TTT4AS": 0.0, "TopoTTA": 0.1}).assign(
        preset=lambda d: np.where(d["method"] == "THR", "shared", "paper")),
        long_table({"TopoTTA": -0.1}).assign(preset="release")], ignore_index=True)
    t3 = long_table({"THR": -0.1, "TTT4AS": 0.0, "TopoTTA": 0.1}).assign(
        dataset="embedded-3d", backbone="voxel")  # no preset column at all
    rep = assess_claims({"table1_2d_per_image": t2, "table1_3d_per_image": t3}, paper={},
                        claims=[BY_ID["beats_ttt4as_f1"]], n_boot=N_BOOT)
    labels = set(rep.settings["setting"])
    assert labels == {"embedded-2d/filterbank/PatchCore", "embedded-3d/voxel/PatchCore"}
    assert not rep.settings.astype(str).apply(lambda c: c.str.contains("nan")).any().any()
    by = rep.settings.groupby("preset")["setting"].apply(set).to_dict()
    assert by == {"paper": labels, "release": {"embedded-2d/filterbank/PatchCore"}}
    t3only = {"table1_3d_per_image": t3.assign(method=t3["method"].replace(
        {"TopoTTA": "TTT4AS", "TTT4AS": "TopoTTA"}))}
    v, reason = verdict("beats_ttt4as_f1", t3only)
    assert v == FAILS and "table1_2d (notebook 06 did not run)" in reason


def test_presets_get_their_own_verdicts_and_share_thr():
    base = long_table({"THR": -0.2, "TTT4AS": 0.0, "TopoTTA": 0.1})
    release = long_table({"TopoTTA": -0.1}).assign(preset="release")
    for thr_tag in ("shared", None, "paper"):  # "paper": the old tag, read as shared too
        t1 = pd.concat([base.assign(preset=np.where(base["method"] == "THR", thr_tag, None)),
                        release], ignore_index=True)
        res = {r.preset: r for r in assess(BY_ID["beats_thr_f1"], {"table1_2d_per_image": t1},
                                           n_boot=N_BOOT)}
        assert res["paper"].verdict == HOLDS and res["release"].verdict == HOLDS, thr_tag
        gap = {r.preset: r.verdict for r in assess(BY_ID["beats_ttt4as_f1"],
                                                   {"table1_2d_per_image": t1}, n_boot=N_BOOT)}
        assert gap == {"paper": HOLDS, "release": FAILS}
    # a baseline run with the release preset's support replaces the shared one there
    ttt_release = long_table({"TTT4AS": -0.3}).assign(preset="release")
    expanded = assign_presets(pd.concat([t1, ttt_release], ignore_index=True))
    rel = expanded[(expanded["preset"] == "release") & (expanded["method"] == "TTT4AS")]
    assert len(rel) == len(ttt_release)
    assert set(expanded.loc[expanded["method"] == "THR", "preset"]) == {"paper", "release"}


def test_thr_worst_is_ours_and_checked_per_setting():
    assert BY_ID["thr_worst"].origin == "ours"
    ok = long_table({"THR": -0.2, "TTT4AS": 0.0, "TopoTTA": 0.05})
    bad = long_table({"THR": 0.1, "TTT4AS": 0.0, "TopoTTA": 0.05}).assign(scorer="PaDiM")
    assert verdict("thr_worst", {"table1_2d_per_image": ok})[0] == HOLDS
    v, reason = verdict("thr_worst", {"table1_2d_per_image": pd.concat([ok, bad])})
    assert v == FAILS and "PaDiM" in reason


def test_crossmodel_excludes_the_same_backbone_diagonal():
    rows = []
    for fb, gain in (("filterbank", -0.2), ("randconv", 0.1)):
        rows.append(long_table({"TTT4AS": 0.0, "TopoTTA": gain},
                               {"map_source": "patchcore", "feature_source": fb}))
    t4 = pd.concat(rows, ignore_index=True)
    res = result("crossmodel_beats_ttt4as", {"table4_crossmodel_per_image": t4})
    assert res.verdict == HOLDS and [s.label.endswith("randconv") for s in res.settings] == [True]
    assert "diagonal" in verdict("crossmodel_beats_ttt4as",
                                 {"table4_crossmodel_per_image": rows[0]})[1]


def test_fewshot_claims():
    parts = [long_table({"TTT4AS": 0.0, "TopoTTA": gain}, {"shots": k})
             for k, gain in ((0, -0.3), (1, 0.1), (3, 0.1))]
    res = result("fewshot_every_shot", {"table2_fewshot_per_image": pd.concat(parts)})
    assert res.verdict == HOLDS
    assert [s.label.rsplit("/", 1)[1] for s in res.settings] == ["shots=1", "shots=3"]
    parts = [long_table({"TTT4AS": 0.0, "TopoTTA": gain}, {"shots": k})
             for k, gain in ((1, 0.2), (3, 0.2), (5, 0.05), (10, 0.05))]
    assert verdict("fewshot_low_shot_gain", {"table2_fewshot_per_image": pd.concat(parts)})[0] \
        == HOLDS


def sweep(param, offsets, **kw):
    """TopoTTA at several values of one parameter, on the same images."""
    return pd.concat([long_table({"TopoTTA": o}, {param: v}, noise_seed=10 + j, **kw)
                      for j, (v, o) in enumerate(offsets.items())], ignore_index=True)


def test_best_at_is_pairwise_and_ties_are_inconclusive():
    assert verdict("levels_256_best", {"table8_levels_per_image": sweep(
        "levels", {64: 0.0, 256: 0.1})})[0] == HOLDS
    assert verdict("levels_256_best", {"table8_levels_per_image": sweep(
        "levels", {64: 0.1, 256: 0.0})})[0] == FAILS
    # every pair is its own contrast: the deciding one is the closest competitor
    res = result("levels_256_best", {"table8_levels_per_image": sweep(
        "levels", {16: -0.2, 64: 0.05, 256: 0.1})})
    (s,) = res.settings
    assert res.verdict == HOLDS and s.contrast == "levels=256 - levels=64"
    # lambda = 0.01 and 0.1 give the very same masks: a tie, inconclusive (not "holds")
    tie = sweep("lambda", {0.0: -0.1, 0.01: 0.0, 0.1: 0.0})
    res = result("lambda_peak_0.01", {"table7_lambda_per_image": tie})
    assert res.verdict == INCONCLUSIVE and res.settings[0].interval.text() == \
        "+0.000 [+0.000, +0.000]"
    v, reason = verdict("levels_256_best", {"table8_levels_per_image": sweep("levels",
                                                                            {256: 0.0})})
    assert v == UNTESTABLE and "another value" in reason
    # other methods' rows (pseudo-labels without PCES) are ignored; "lam" is read as lambda
    other = sweep("lam", {0.0: 0.3, 0.01: 0.0}).assign(method="TopoTTA pseudo-labels (no PCES)")
    both = pd.concat([sweep("lam", {0.0: 0.0, 0.01: 0.1}), other])
    assert verdict("lambda_peak_0.01", {"table7_lambda_per_image": both})[0] == HOLDS


def test_lambda_that_changes_almost_no_mask_is_vacuous():
    t = sweep("lambda", {0.0: 0.0, 0.01: 0.0, 0.1: 0.0})  # the same masks at every lambda
    one = t.index[(t["lambda"] == 0.1) & (t["image"] == "brick_00")]
    t.loc[one, "f1"] += 0.2  # one image of 24 changes: under 5%
    res = result("lambda_peak_0.01", {"table7_lambda_per_image": t})
    assert res.verdict == VACUOUS and res.settings[0].comparison.activity == pytest.approx(1 / 24)
    assert "fewer than 5% of the masks" in res.reason


def test_monotone_needs_three_values():
    down = sweep("kth_component", {1: 0.3, 2: 0.2, 3: 0.1})
    up = sweep("kth_component", {1: 0.3, 2: 0.1, 3: 0.2})
    assert verdict("topk_monotone", {"table5_topk_per_image": down})[0] == HOLDS
    assert verdict("topk_monotone", {"table5_topk_per_image": up})[0] == FAILS
    two = sweep("kth_component", {1: 0.3, 2: 0.2})
    assert verdict("topk_monotone", {"table5_topk_per_image": two})[0] == UNTESTABLE


def test_a_mask_rule_column_is_read_as_the_preset():
    t5 = pd.concat([sweep("kth_component", {1: 0.3, 2: 0.2}).assign(rule="region"),
                    sweep("kth_component", {1: 0.1, 2: 0.3}).assign(rule="release")])
    res = {r.preset: r for r in assess(BY_ID["top1_best"], {"table5_topk_per_image": t5},
                                       n_boot=N_BOOT)}
    assert (res["paper"].verdict, res["release"].verdict) == (HOLDS, FAILS)
    assert res["paper"].settings[0].label == "embedded-2d/filterbank/PatchCore"


def test_configuration_text_is_parsed():
    df = pd.DataFrame({"configuration": ["sublevel+PCES", "superlevel+PCES", "sub+super+EAI",
                                         "sub+super+intersection+PCES", "sub+super+EAI+PCES",
                                         "sub+super+EAI (no PCES)"]})
    f = config_flags(df)
    assert f["sub"].tolist() == [True, False, True, True, True, True]
    assert f["sup"].tolist() == [False, True, True, True, True, True]
    assert f["pces"].tolist() == [True, True, False, True, True, False]
    assert f["fusion"].tolist() == ["none", "none", "eai", "intersection", "eai", "eai"]


def table6(f1, precision=None, recall=None):
    confs = ["sublevel+PCES", "superlevel+PCES", "sub+super+EAI",
             "sub+super+intersection+PCES", "sub+super+EAI+PCES"]
    parts = []
    for j, conf in enumerate(confs):
        t = long_table({"TopoTTA": f1[j]}, {"configuration": conf}, noise_seed=20 + j)
        t["precision"] = t["f1"] + (precision[j] if precision else 0.0)
        t["recall"] = t["f1"] + (recall[j] if recall else 0.0)
        parts.append(t)
    return {"table6_components_per_image": pd.concat(parts, ignore_index=True)}


def test_table6_claims():
    t = table6([0.05, -0.1, 0.02, 0.04, 0.1], precision=[0.2, -0.1, 0, 0, 0],
               recall=[-0.2, 0.3, 0, 0, 0])
    for cid in ("full_config_best", "superlevel_favours_recall"):
        assert verdict(cid, t)[0] == HOLDS, cid
    worse = table6([0.05, -0.1, 0.02, 0.3, 0.1])
    assert verdict("full_config_best", worse)[0] == FAILS


def mechanisms(acts: dict, gain: float = 0.0, fallback_gain: float = 0.3, pces_share=1.0,
               seed: int = 0):
    """A mechanisms_per_image table: per K, the share of images where EAI acts (``acts``);
    EAI gains ``gain`` over the intersection where it acts; where the intersection is empty
    (a quarter of the other images) the fallback gains ``fallback_gain`` over it."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, share in acts.items():
        for j, (cat, img, base) in enumerate(images(per_image=24, seed=seed)):
            acting = rng.random() < share
            fallback = not acting and j % 4 == 0
            inter = 0.0 if fallback else base
            eai = inter + (fallback_gain if fallback else 0.0) + (
                gain + 0.02 * rng.standard_normal() if acting else 0.0)
            pces = rng.random() < pces_share
            flags = {"eai_acts": acting, "fallback_fired": fallback,
                     "eai_differs_sub": acting, "eai_differs_intersection": acting or fallback,
                     "eai_differs_union": True, "pces_differs": pces}
            values = {"sublevel": eai if fallback else base, "superlevel": base * 0.5,
                      "intersection": inter,
                      "union": base * 0.8, "eai": eai,
                      "topotta": eai + (0.05 + 0.02 * rng.standard_normal() if pces else 0.0)}
            for variant, f1 in values.items():
                rows.append({"dataset": "embedded-2d", "scorer": "PatchCore",
                             "backbone": "efficientnet_lite0", "preset": "paper", "topk": k,
                             "category": cat, "image": img, "variant": variant,
                             "precision": f1, "recall": f1, "f1": f1, "iou": f1 / (2 - f1),
                             **flags})
    return {"mechanisms_per_image": pd.DataFrame(rows)}


def test_eai_is_judged_where_it_acts_and_the_fallback_gets_its_own_line():
    t = mechanisms({1: 0.0, 2: 0.4}, gain=0.0, fallback_gain=0.3)
    eai = result("eai_beats_intersection", t)
    by = {s.label: s for s in eai.settings}
    k1, k2 = by["embedded-2d/efficientnet_lite0/PatchCore/K=1"], \
        by["embedded-2d/efficientnet_lite0/PatchCore/K=2"]
    assert k1.verdict == VACUOUS and k1.comparison.activity == 0.0
    # where EAI acts it adds nothing here: the fallback's gain is not credited to it
    assert k2.comparison.n_images < k2.comparison.n_total and k2.verdict == INCONCLUSIVE
    assert eai.verdict == INCONCLUSIVE and "vacuous (mechanism inactive) in" in eai.reason
    fallback = result("eai_fallback", t)
    assert fallback.verdict == HOLDS and BY_ID["eai_fallback"].origin == "ours"
    # EAI never acting anywhere: the claim is vacuous, not "inconclusive"
    never = result("eai_beats_intersection", mechanisms({1: 0.0}))
    assert never.verdict == VACUOUS
    gains = result("eai_beats_intersection", mechanisms({2: 0.5}, gain=0.1))
    assert gains.verdict == HOLDS


def test_pces_and_superlevel_verdicts_and_inactive_pces():
    t = mechanisms({1: 0.5}, gain=0.05)
    assert verdict("pces_helps", t)[0] == HOLDS
    assert verdict("superlevel_branch_helps", t)[0] == HOLDS
    quiet = mechanisms({1: 0.5}, pces_share=0.0)
    assert verdict("pces_helps", quiet)[0] == VACUOUS
    assert verdict("pces_helps", {})[0] == UNTESTABLE  # the table is missing: not testable


def test_robustness_claims_use_the_sesoi_and_holm():
    assert BY_ID["robust_never_worse"].threshold == -SESOI
    parts = []
    for kind in ("noise", "speckle"):
        for s, gain in ((0.0, 0.05), (0.2, 0.1), (0.4, 0.2)):
            parts.append(long_table({"TTT4AS": -0.1, "TopoTTA": -0.1 + gain, "THR": -0.2},
                                    {"kind": kind, "strength": s}))
    rob = {"fig7_robustness_per_image": pd.concat(parts, ignore_index=True)}
    assert verdict("robust_never_worse", rob)[0] == HOLDS
    # the gain grows with strength here, so "the gain shrinks" does not hold
    assert verdict("robust_gain_shrinks", rob)[0] == FAILS


def test_refutation_needs_holm_over_the_settings():
    """A setting on the wrong side at 95% but not at its Holm level refutes nothing."""
    from topotta_lite.experiments.stats import seed_for

    claim = BY_ID["beats_ttt4as_f1"]
    t = long_table({"TTT4AS": 0.0, "TopoTTA": 0.05}, noise=0.1)
    (c,) = claim.measure({"table1_2d": t}, claim.statistic)
    probe = contrast_test(c.values, c.strata, c.contrasts, n_boot=N_BOOT,
                          seed=seed_for(claim.id, "ours", c.preset, c.label))
    # shift TopoTTA so that its upper end sits between the 95% end and the end at the Holm
    # level of the first of four settings (alpha / 4): same resamples, so the ends move with it
    est = float(probe.estimate[0])
    high95 = probe.end(0, "other")[0] - est
    high_holm = probe.end(0, "other", 0.05 / 4)[0] - est
    assert high95 < high_holm
    shift = -(high95 + high_holm) / 2 - est
    odd = t.assign(f1=np.where(t["method"] == "TopoTTA", t["f1"] + shift, t["f1"]))
    clear = [long_table({"TTT4AS": 0.0, "TopoTTA": 0.2}).assign(scorer=s) for s in "ABC"]
    tables = {"table1_2d": pd.concat([odd, *clear], ignore_index=True)}
    results = _judge(claim, claim.measure(tables, claim.statistic), "ours", N_BOOT, {})
    (mine,) = [r for r in results if r.label.endswith("PatchCore")]
    assert mine.interval.high < 0  # on the wrong side in its own 95% interval ...
    assert mine.verdict == INCONCLUSIVE and mine.holm_kept and mine.p_refutes > 0.05
    assert [r.verdict for r in results if r is not mine] == [HOLDS] * 3


def test_a_verdict_within_its_monte_carlo_error_is_borderline():
    claim = BY_ID["beats_ttt4as_f1"]
    t = long_table({"TTT4AS": 0.0, "TopoTTA": 0.05}, noise=0.1)
    (c,) = claim.measure({"table1_2d": t}, claim.statistic)
    from topotta_lite.experiments.stats import seed_for

    probe = contrast_test(c.values, c.strata, c.contrasts, n_boot=N_BOOT,
                          seed=seed_for(claim.id, "ours", c.preset, c.label))
    low = probe.end(0, "claimed")[0]
    # translating TopoTTA by -low moves the lower end onto 0 (same resamples, same seed)
    moved = t.assign(f1=np.where(t["method"] == "TopoTTA", t["f1"] - low, t["f1"]))
    res = result("beats_ttt4as_f1", {"table1_2d_per_image": moved})
    (s,) = res.settings
    assert abs(s.interval.low) <= s.interval.mc_low
    assert s.borderline and res.verdict == BORDERLINE and res.leaning in (HOLDS, INCONCLUSIVE)
    assert "Monte-Carlo error" in res.reason


def test_combining_borderline_settings():
    from types import SimpleNamespace as NS

    def r(v, alt=()):
        return NS(verdict=v, alternatives=alt, counted=True, borderline=bool(alt))

    assert _combine([r(HOLDS), r(HOLDS)]) == (HOLDS, "")
    assert _combine([r(HOLDS), r(HOLDS, (INCONCLUSIVE,))]) == (BORDERLINE, HOLDS)
    assert _combine([r(FAILS), r(HOLDS, (INCONCLUSIVE,))]) == (FAILS, "")  # a firm refutation
    assert _combine([r(INCONCLUSIVE), r(HOLDS, (INCONCLUSIVE,))]) == (INCONCLUSIVE, "")
    assert _combine([r(INCONCLUSIVE, (FAILS,)), r(HOLDS)]) == (BORDERLINE, INCONCLUSIVE)


def test_runtime_needs_interleaved_per_image_timings():
    rt = pd.DataFrame({"modality": ["2d"] * 3, "method": ["thr", "ttt4as", "topotta"],
                       "total_s": [0.001, 0.1, 0.5], "device": ["cpu"] * 3})
    v, reason = verdict("overhead_vs_ttt4as", {"table10_runtime": rt})
    assert v == UNTESTABLE and "not testable on a shared CPU" in reason
    rng = np.random.default_rng(0)
    rows = [{"modality": "2d", "device": "cpu", "method": m, "category": "c",
             "image": str(i), "repeat": r, "total_s": t * np.exp(0.05 * rng.standard_normal())}
            for i in range(20) for r in range(3) for m, t in (("TTT4AS", 0.10), ("TopoTTA", 0.11))]
    res = result("overhead_vs_ttt4as", {"table10_runtime_per_image": pd.DataFrame(rows)})
    (s,) = res.settings
    assert res.verdict == HOLDS and s.label == "2d (cpu)"
    assert np.exp(s.interval.estimate) == pytest.approx(1.1, abs=0.03)


def test_report_columns_follow_the_interface_and_are_deterministic():
    t = {"table1_2d_per_image": long_table({"THR": -0.2, "TTT4AS": 0.0, "TopoTTA": 0.1})}
    one = assess_claims(t, paper={}, n_boot=N_BOOT)
    two = assess_claims(t, paper={}, n_boot=N_BOOT)
    pd.testing.assert_frame_equal(one.summary, two.summary)
    pd.testing.assert_frame_equal(one.settings, two.settings)
    assert set(one.summary.columns) >= {"claim", "preset", "origin", "verdict", "statement",
                                        "paper_value", "estimate", "low", "high", "n_images",
                                        "n_settings", "reason"}
    assert set(one.settings.columns) >= {"claim", "preset", "setting", "comparands", "estimate",
                                         "low", "high", "n_images", "n_classes", "verdict"}
    assert set(one.summary["preset"]) <= {"paper", "release", "shared"}
    assert set(one.summary["origin"]) == {"paper", "ours"}
    row = one.summary.set_index(["claim", "preset"]).loc[("beats_ttt4as_f1", "paper")]
    assert (row["verdict"], row["n_images"], row["n_classes"]) == (HOLDS, 24, 3)
    single = {"table1_2d_per_image": long_table({"TTT4AS": 0.0, "TopoTTA": 0.1},
                                                classes=("brick",))}
    out = evaluate_claims(single, paper={}, claims=[BY_ID["beats_ttt4as_f1"]], n_boot=N_BOOT)
    assert out.loc[0, "n_classes"] == 1


def test_claims_markdown_shows_presets_mechanisms_optimism_and_no_nan():
    t = {"table1_2d_per_image": pd.concat([
        long_table({"THR": -0.2, "TTT4AS": 0.0, "TopoTTA": 0.1}),
        long_table({"TopoTTA": -0.1}).assign(preset="release")]), **mechanisms({1: 0.0})}
    rep = assess_claims(t, paper={}, n_boot=N_BOOT)
    text = claims_markdown(rep.summary, rep.settings)
    assert "| claim | preset | verdict | deciding setting" in text
    assert "| `beats_ttt4as_f1` | paper | holds |" in text
    assert "| `beats_ttt4as_f1` | release | does not hold |" in text
    assert "- EAI (where it acts): inactive" in text and "optimism" in text
    assert "Not available" in text and "nan" not in text.lower().replace("nanometre", "")
    opt = pd.DataFrame({"choice": ["fallback | odd"], "operator": ["TopoTTA"],
                        "chosen": ["sub"], "alternative": ["none"], "dev_gain": [0.05],
                        "eval_gain": [0.01], "eval_low": [-0.01], "eval_high": [0.03],
                        "n_images": [144]})
    text = claims_markdown(rep.summary, rep.settings, opt)
    assert "fallback \\| odd" in text and "+0.050" in text and "Not available" not in text


def test_paper_side_reads_table_vi_both_ways_and_flags_impossible_rows():
    rep = assess_claims({}).summary
    assert (rep["verdict"] == UNTESTABLE).all()
    rep = rep.drop_duplicates("claim").set_index("claim")
    assert rep.loc["thr_worst", "paper_check"] == FAILS
    assert rep.loc["topk_monotone", "paper_check"] == FAILS  # 3D-CMM: F1(K=3) > F1(K=2)
    assert rep.loc["beats_thr_f1", "paper_check"] == HOLDS
    assert "MVTec AD/PatchCore: +0.417 [flagged, not counted]" in rep.loc["beats_thr_f1",
                                                                          "paper_value"]
    assert "IoU > F1" in rep.loc["beats_thr_f1", "paper_notes"]
    pces, eai = rep.loc["pces_helps", "paper_check"], rep.loc["eai_beats_intersection",
                                                              "paper_check"]
    assert "holds (sub + super + EAI, no PCES)" in pces and "n/a" in pces
    assert "holds (sub + super + IoU fusion + PCES, no EAI)" in eai and "n/a" in eai
    assert "read both ways" in rep.loc["pces_helps", "paper_notes"]
    # the paper's own margins for "lambda = 0.01 is best" are below the smallest effect of interest
    assert rep.loc["lambda_peak_0.01", "paper_check"] == \
        "holds (margin below the smallest effect of interest in every setting)"
    assert "contradicts the text" in rep.loc["levels_256_best", "paper_notes"]
    assert rep.loc["overhead_vs_ttt4as", "paper_value"] == "2D (cuda): 1.12x; 3D (cuda): 1.13x"
    assert rep.loc["crossmodel_beats_ttt4as", "paper_check"] == "n/a"
    # the paper's Table I as "ours" (one value per row: point values, no interval)
    mine = evaluate_claims({"table1_2d_per_image": paper_tables()["table1_2d"].assign(
        image="-")}, claims=[BY_ID["beats_ttt4as_f1"]])
    assert mine.loc[0, "verdict"] == HOLDS


def test_paper_sanity_finds_the_known_problems_and_quotes_the_text():
    s = paper_sanity()
    impossible = set(s.loc[s["severity"] == "impossible", "row"])
    assert {"Table I: MVTec AD/PatchCore/THR", "Table III: MVTec AD/PatchCore/bottle/THR"} <= \
        impossible
    ok = paper_tables()["table1_2d"]
    ok = ok[ok["iou"] <= ok["f1"]]
    assert not set(ok["_source"]) & set(s.loc[s["check"] == "IoU > F1", "row"])
    one_shot = s[s["check"] == "Table II 1-shot vs Table I 0-shot"]
    assert "0.382 at 0 shots" in one_shot.set_index("row").loc[
        "Table II: MVTec AD/PatchCore/TTT4AS/1-shot", "values"]
    text = s[s["severity"] == "contradicts the text"]
    assert set(text["finding"].str.extract(r"(Sec\. V-[A-Z]\d?)")[0]) == {"Sec. V-G1",
                                                                         "Sec. V-H"}
    found = pd.DataFrame(text_contradictions())
    # Table VII: F1 rises from lambda 0.05 to 0.1 in 5 of its 10 columns
    lam = found[found["values"].str.contains("at lambda=0.05 -> ") & found["check"].str.contains(
        "VII f1")]
    assert len(lam) == 5
    # Table IX: m = 3 beats m = 2 in 4 of 10 columns
    assert found["values"].str.contains(r"f1 .* at m=2 -> .* at m=3").sum() == 4
    # Table V: CMM recall 0.810 -> 0.493 against "recall consistently increases with K"
    assert "recall 0.810 at K=1 -> 0.493 at K=2" in set(found["values"])
    t8 = paper_tables()["table8_levels"]
    mvtec = t8[(t8["dataset"] == "MVTec AD") & (t8["backbone"] == "PatchCore")]
    assert (np.diff(mvtec.sort_values("levels")["f1"]) < 0).sum() == (
        found["row"].str.startswith("Table VIII: MVTec AD/PatchCore/")).sum()
    caveats = paper_caveats()
    assert sum(k.startswith("Table VI:") for k in caveats) == 3
    assert all("read both ways" in v for k, v in caveats.items() if k.startswith("Table VI:"))


def test_load_tables_reads_per_image_tables_and_skips_empty(tmp_path):
    long_table({"TTT4AS": 0.0}).to_csv(tmp_path / "table1_2d_per_image.csv", index=False)
    pd.DataFrame({"method": ["TTT4AS"], "f1": [0.3]}).to_csv(tmp_path / "table1_2d.csv",
                                                             index=False)
    (tmp_path / "table7_lambda.csv").write_text("")
    got = load_tables(tmp_path)
    assert set(got) == {"table1_2d", "table1_2d_per_image"}
    with pytest.raises(NotTestable):
        BY_ID["best_iou"].measure({"table1_2d": pd.DataFrame({"method": ["THR"]})}, "beats_all")


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
    assert not {"classes_25d", "classes_3d"} & set(quick["07_experiments_3d"])


def test_write_claims_writes_the_interface_files_and_shows_the_optimism(tmp_path, monkeypatch):
    out, tables = tmp_path / "out", tmp_path / "tables"
    tables.mkdir()
    monkeypatch.setenv("TOPOTTA_FIGURES", str(out))
    pd.DataFrame({"choice": ["fallback"], "operator": ["TopoTTA"], "chosen": ["sub"],
                  "alternative": ["none"], "dev_gain": [0.04], "eval_gain": [0.02],
                  "eval_low": [0.0], "eval_high": [0.04], "n_images": [144]}).to_csv(
        tables / "optimism.csv", index=False)
    from topotta_lite.experiments.claims import write_claims

    t = {"table1_2d_per_image": long_table({"THR": -0.2, "TTT4AS": 0.0, "TopoTTA": 0.1})}
    rep = assess_claims(t, paper={}, claims=[BY_ID["beats_ttt4as_f1"]], n_boot=N_BOOT)
    files = write_claims(rep, tables)
    assert {p.name for p in files} >= {"claims.csv", "claims_settings.csv", "claims.md"}
    md = (out / "tables" / "claims.md").read_text()
    assert md.startswith("# Claims report") and "| fallback | TopoTTA | sub | none | +0.040" in md
    back = pd.read_csv(out / "tables" / "claims.csv")
    assert back.loc[back["preset"] == "paper", "n_images"].tolist() == [24]
