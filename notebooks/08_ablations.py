# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 08 · Ablations: which parts of TopoTTA matter?
#
# *Paper: Section V-G, Tables V and VI.*
#
# TopoTTA chains several choices: which persistence feature becomes the pseudo-label, which
# filtration(s) it comes from, how the two masks are fused, and whether PCES then adapts on the
# image's features. An ablation switches one choice off or swaps it, and keeps everything else fixed.
#
# **What this notebook computes**
# 1. **Table V**: keep *only the K-th* most persistent feature of each filtration
#    (the $K$ of `kth_values`) instead of the most persistent one. The operator's `k`
#    means "Top-K" (the K most persistent, united); "only the K-th" is a different selection:
#    `TopoTTA(k=K, only_kth=True)` (see `select_features(..., only_kth=True)`). $K = 1$ (the
#    first feature alone) is Top-1, the paper's setting.
# 2. **Table VI**: sublevel only, superlevel only, and both fused by intersection, union, IoU-style
#    fusion or EAI, each with and without PCES.
# 3. **Our own** ablations, which the paper does not report:
#    - the feature-to-mask rule: the *region* rule (our reading of the paper's text: a connected
#      region around each feature) against the *release* rule (the authors' released code: threshold
#      the whole map at the feature's level minus a fixed offset);
#    - the Euler characteristic EAI tries to restore: that of the union, of the sublevel mask, of
#      the superlevel mask, or of the part of the union reachable from the intersection.
# 4. **Where each mechanism acts**: for Top-K pseudo-labels with several $K$, the share of images
#    on which EAI, its fallback, the superlevel branch and PCES change the mask (the tables
#    `mechanisms_per_image` and `eai_activity` that notebook 06 writes, here for this run's
#    classes and scorers).
#
# **How to read the numbers.** The data and the scorers of this run are printed under the next
# code cell, from its parameters. On data other than the paper's, absolute precision / recall / F1
# are not comparable with the paper's; what is comparable is the *ordering* of the settings
# (does $K = 1$ win? does the superlevel filtration alone favour recall? does fusion + PCES beat
# each filtration alone?). The side-by-side tables put our PatchCore-like rows beside the paper's
# 2D-PatchCore rows for exactly that reason.

# %% tags=["parameters"]
profile = "full"
seed = 0
size = "full"  # embedded benchmark size: "smoke" | "quick" | "full"
dataset = "embedded-2d"  # or a real 2D dataset on disk: "mvtec_ad", "mvtec_loco", "visa", "real_iad"
data_root = None  # the real dataset's folder, the one holding its class folders
categories = None  # None: every class of the dataset (a real one: the classes found on disk)
maps_dir = None  # your own score maps (.npy / float .tiff, one per test image) instead of our scorers
scorers = ["patchcore", "padim"]
kth_values = [1, 2, 3, 4, 5]  # Table V
kth_rules = ["region", "release"]  # Table V under each feature -> mask rule (see section 1)
fusions = ["intersection", "union", "iou", "eai"]  # Table VI
component_pces = [False, True]  # Table VI: without / with PCES
rules = ["region", "release"]  # our ablation: feature -> mask rule
eai_targets = ["union", "sub", "sup", "reachable"]  # our ablation: EAI's target chi
own_pces = [False, True]  # our ablations: without / with PCES
release_shots = 10  # nominal images of the release preset's class-level encoder (Table VI rows)
eai_fallbacks = ["sub", "sup", "union", "larger", "persistent", "none"]  # empty intersection
pces_ablation = True  # section 5: PCES one choice at a time, with paired intervals
mechanism_topk = [1, 2, 3]  # section 6: K of the Top-K pseudo-labels whose mechanisms are counted
workers = 2  # local worker processes for the experiment grids (one thread each; 1: this process)

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from topotta_lite.config import pin_threads
from topotta_lite.data import check_dataset, resolve_classes
from topotta_lite.experiments import (
    MAPS_SCORER,
    MECHANISM_FLAGS,
    build_cells,
    component_configurations,
    drop_defaults,
    eai_activity,
    evaluate_cell,
    kth_component_variants,
    mean_over_classes,
    mechanism_table,
    paired_against,
    paper_analogue,
    paper_table,
    pces_ablation_variants,
    prepare_bundles,
    run_grid,
    run_labelled,
    setting_variants,
    setup_sentence,
    side_by_side,
    topotta_defaults,
    use_workers,
    with_preset,
)
from topotta_lite.method import ACTIVITY_KEYS, RELEASE_DELTA_SUB, RELEASE_DELTA_SUP
from topotta_lite.outputs import savefig, use_style, write_table
from topotta_lite.teaching import bullets, change_word, plural, subset_note, takeaways
from topotta_lite.teaching import fmt as num
from topotta_lite.vocabulary import SCORER_NAMES, SEG_METRICS

pin_threads()  # one BLAS / OpenMP / torch thread: the results do not depend on the machine's cores

use_style()
pool = use_workers(workers)  # None: the grids run in this process
# checks the dataset (and your maps) before anything is computed or written
checked = check_dataset(dataset, data_root, categories, maps_dir=maps_dir)
categories = checked.classes
if maps_dir is not None:
    scorers = [MAPS_SCORER]
print(checked.summary())
pd.set_option("display.width", 140)
data = {"dataset": dataset, "categories": categories, "scorers": scorers, "size": size,
        "seed": seed, "data_root": data_root, "maps_dir": maps_dir}
DEFAULTS = topotta_defaults()
all_classes = resolve_classes(dataset, data_root)
display(Markdown(setup_sentence(dataset, size, categories, scorers, data_root=data_root)))
display(Markdown(subset_note(profile, classes=(categories, all_classes),
                             scorers=(scorers, list(SCORER_NAMES) if maps_dir is None else []))))
MEAN_OVER = (f"mean over {plural(len(categories), 'class', 'classes')}"
             + (f" and {plural(len(scorers), 'scorer')}" if len(scorers) > 1 else ""))


def run(variants, desc, by, images=None, metrics=SEG_METRICS):
    """Evaluate every (setting, class, scorer) cell (cached), then average over classes.

    With a list `images`, the per-image rows are appended to it (for the claims report)."""
    cells, labels = build_cells(variants, **data)
    prepare_bundles(cells)
    df, per_image = run_labelled(cells, labels, desc=desc, per_image=True, progress=False)
    if images is not None:
        images.append(per_image)
    return mean_over_classes(df, ["dataset", "scorer", *by], metrics=metrics)


def fmt(df):
    return df.round(3).to_string(index=False)


# %% [markdown]
# ## 1 · Table V: only the K-th most persistent feature
#
# For each filtration we rank the features of the persistence diagram by persistence (distance
# from the diagonal) and keep **only** the one of rank K. Its region becomes the pseudo-label,
# and the rest of the pipeline (EAI fusion, PCES) runs unchanged. Features far from the diagonal
# are the ones that survive many thresholds; the paper's finding is that the most persistent one
# carries the defect, and that lower-ranked ones increasingly pick up background structure.
# When an image has fewer than K features in a filtration, that filtration's pseudo-label is
# empty (there is no K-th feature), and the result is whatever fusion and PCES make of that.
#
# The rule that turns the feature into a mask matters here. Under the *region* rule (our
# reading of the text) the K-th feature gives the connected region it stands for, usually a
# small bump of the map. Under the authors' *release* rule it gives the whole map thresholded
# at that feature's level minus an offset; a less persistent feature has a lower level, so its
# mask covers more of the image: recall rises and precision falls as K grows. We run Table V
# under both rules (column `rule`), because which reading the paper's numbers follow is itself
# a finding.

# %%
images5 = []
t5 = pd.concat([run(kth_component_variants(kth_values, drop_defaults({"rule": rule}, DEFAULTS)),
                   f"Table V ({rule} rule)", ["kth_component"], images5).assign(rule=rule)
                for rule in kth_rules], ignore_index=True)
write_table(pd.concat([im.assign(rule=rule) for im, rule in zip(images5, kth_rules)],
                      ignore_index=True), "table5_topk_per_image")
t5 = t5.assign(method="TopoTTA", backbone=t5["scorer"].map(paper_analogue))
t5 = t5[["dataset", "scorer", "backbone", "method", "rule", "kth_component", "precision",
         "recall", "f1", "iou", "n_classes"]]
write_table(t5, "table5_topk")
print(fmt(t5))

# %%
paper5 = paper_table("table5_topk")
paper5 = paper5[paper5["backbone"] == "2D-PatchCore"].assign(backbone="PatchCore")
cmp5 = pd.concat([side_by_side(t5[(t5["backbone"] == "PatchCore") & (t5["rule"] == rule)], paper5,
                          on=["backbone", "kth_component"],
                          metrics=["precision", "recall", "f1"]).assign(rule_ours=rule)
                  for rule in kth_rules], ignore_index=True)
cmp5 = cmp5[["backbone", "rule_ours", *[c for c in cmp5.columns if c not in ("backbone",
                                                                           "rule_ours")]]]
write_table(cmp5, "table5_topk_vs_paper")
print("paper: 2D-PatchCore on MVTec AD; ours: PatchCore-like scorer on", dataset)
print(fmt(cmp5))

# %%
fig, axes = plt.subplots(1, 3, figsize=(10, 3.2), sharex=True)
for ax, metric in zip(axes, ["precision", "recall", "f1"]):
    for (scorer, rule), grp in t5.groupby(["scorer", "rule"], sort=False):
        ax.plot(grp["kth_component"], grp[metric], "o-" if rule == "region" else "^:",
                label=f"ours ({scorer}, {rule} rule)")
    ax.plot(paper5["kth_component"], paper5[metric], "s--", color="0.4",
            label="paper (2D-PatchCore, MVTec AD)")
    ax.set_title(metric)
    ax.set_xlabel("K (only the K-th feature)")
    ax.set_xticks(sorted(set(kth_values) | set(paper5["kth_component"])))
axes[0].set_ylabel(f"mean over {plural(len(categories), 'class', 'classes')}")
axes[-1].legend(fontsize=7, loc="best")
fig.suptitle("Table V: keeping only the K-th most persistent feature", fontsize=10)
fig.tight_layout()
savefig(fig, "ablation_kth_component")
plt.show()

# %% [markdown]
# ## 2 · Table VI: filtrations, fusion and PCES
#
# Each row switches one part on or off. With a single filtration there is nothing to fuse, so its
# pseudo-label goes straight to PCES (or is the answer, without PCES). With both filtrations the
# two masks are fused by intersection, union, IoU-style fusion or EAI.
#
# The paper's Table VI has four rows; its text does not show the check marks of the third row
# (the CSV marks them "?"), so that row stays unmatched in the side-by-side table.

# %%
images6 = []
variants6 = {**with_preset(component_configurations(fusions, component_pces), "paper"),
             **with_preset(component_configurations(["intersection"], component_pces), "release",
                           shots=release_shots, prefix="release: ")}
t6 = run(variants6, "Table VI", ["setting", "preset", "sublevel", "superlevel", "fusion", "pces"],
         images6)
write_table(images6[0].rename(columns={"setting": "configuration"}),
            "table6_components_per_image")
t6 = t6.rename(columns={"setting": "configuration"})
t6 = t6.assign(method="TopoTTA", backbone=t6["scorer"].map(paper_analogue))
t6 = t6[["dataset", "scorer", "backbone", "method", "preset", "configuration", "sublevel",
         "superlevel", "fusion", "pces", "precision", "recall", "f1", "iou", "n_classes"]]
write_table(t6, "table6_components")
print(fmt(t6))

# %%
paper6 = paper_table("table6_components")
paper6 = paper6[paper6["backbone"] == "2D-PatchCore"].assign(backbone="PatchCore")
cmp6 = side_by_side(t6[(t6["backbone"] == "PatchCore") & (t6["preset"] == "paper")], paper6,
                    on=["backbone", "configuration"],
               metrics=["precision", "recall", "f1"])
order = {c: i for i, c in enumerate(dict.fromkeys([*paper6["configuration"],
                                                   *t6["configuration"]]))}
cmp6 = cmp6.sort_values("configuration", key=lambda c: c.map(order), kind="stable")
write_table(cmp6, "table6_components_vs_paper")
print(fmt(cmp6))

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [1.6, 1]})
view = t6[t6["preset"] == "paper"].groupby(["configuration", "pces"], sort=False)[
    ["precision", "recall", "f1"]].mean()
view = view.reset_index()
names = list(dict.fromkeys(c.replace("+PCES", "") for c in view["configuration"]))
x = np.arange(len(names))
width = 0.8 / max(len(component_pces), 1)
for j, use in enumerate(sorted(view["pces"].unique())):
    sub = view[view["pces"] == use].set_index(view["configuration"][view["pces"] == use]
                                              .str.replace("+PCES", "", regex=False))
    axes[0].bar(x + (j - (len(component_pces) - 1) / 2) * width,
                [sub["f1"].get(n, np.nan) for n in names], width,
                label="with PCES" if use else "pseudo-label only")
axes[0].set_xticks(x, names, rotation=25, ha="right", fontsize=8)
axes[0].set_ylabel(f"F1 ({MEAN_OVER})")
axes[0].set_ylim(0, 1.25 * max(view["f1"].max(), 0.05))
axes[0].legend(fontsize=8, ncol=2, loc="upper left")
axes[0].set_title("F1 per configuration")
for use, marker in [(0, "o"), (1, "s")]:
    sub = view[view["pces"] == use]
    axes[1].scatter(sub["recall"], sub["precision"], marker=marker,
                    label="with PCES" if use else "pseudo-label only")
    # settings that give the very same masks share a point: label it once with all their names
    points = {}
    for _, r in sub.iterrows():
        name = r["configuration"].replace("+PCES", "").replace("sub+super+", "")
        points.setdefault((round(r["recall"], 4), round(r["precision"], 4)), []).append(name)
    for (rec, prec), group in points.items():
        axes[1].annotate(" = ".join(group), (rec, prec), fontsize=6, xytext=(3, 2),
                         textcoords="offset points")
axes[1].set_xlabel("recall")
axes[1].set_ylabel("precision")
axes[1].set_title("precision vs recall")
fig.suptitle("Table VI: which filtration, which fusion, with or without PCES", fontsize=10)
fig.tight_layout()
savefig(fig, "ablation_components")
plt.show()
same_as = []
for use in sorted(t6["pces"].unique()):
    rows = t6[t6["pces"] == use]
    key = rows[["precision", "recall", "f1", "iou"]].round(6).astype(str).agg("/".join, axis=1)
    groups = [list(g["configuration"]) for _, g in rows.groupby(key, sort=False) if len(g) > 1]
    if groups:
        same_as.append(("with PCES: " if use else "pseudo-labels only: ")
                       + "; ".join(" = ".join(g) for g in groups))
display(Markdown(
    "Configurations with identical scores on this data (the same masks, or masks that differ "
    "nowhere that matters): " + (" — ".join(same_as) + "." if same_as else "none.")))

# %% [markdown]
# ## 3 · Our ablations: the mask rule and EAI's target
#
# **Mask rule.** The paper's text describes the pseudo-label of a feature as the structure the
# feature stands for; we read it as one connected region cut inside the feature's bar (the
# *region* rule). The authors' released code instead thresholds the *whole* normalised map at the
# feature's upper value minus a fixed offset per filtration (a constant of that code, printed
# below), which can switch on every pixel above that level, connected or not.
#
# **EAI target.** EAI grows the intersection inside the union until its Euler characteristic
# matches a target. We compare four targets: the union's, the sublevel mask's, the superlevel
# mask's, and that of the part of the union reachable from the intersection (TopoTTA's default
# target is printed below).

# %%
print(f"release rule offsets: sublevel {RELEASE_DELTA_SUB}, superlevel {RELEASE_DELTA_SUP} "
      "(of the normalised map's range)")
rule_t = run(setting_variants("rule", rules, pces=own_pces, defaults=DEFAULTS), "mask rule",
             ["setting", "rule", "pces"])
rule_t = rule_t.assign(method="TopoTTA", backbone=rule_t["scorer"].map(paper_analogue))
write_table(rule_t, "ablation_mask_rule")
print(fmt(rule_t))

# %%
print(f"TopoTTA's default EAI target: {DEFAULTS['fusion_target']!r}")
target_t = run(setting_variants("fusion_target", eai_targets, pces=own_pces, defaults=DEFAULTS,
                                label="eai_target"), "EAI target",
               ["setting", "eai_target", "pces"])
target_t = target_t.assign(method="TopoTTA", backbone=target_t["scorer"].map(paper_analogue))
write_table(target_t, "ablation_eai_target")
print(fmt(target_t))

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
for ax, table, col, title in [(axes[0], rule_t, "rule", "feature -> mask rule"),
                              (axes[1], target_t, "eai_target", "EAI target chi")]:
    view = table.groupby([col, "pces"], sort=False)[["precision", "recall", "f1"]].mean()
    view = view.reset_index()
    values = list(dict.fromkeys(view[col]))
    x = np.arange(len(values))
    pces_values = sorted(view["pces"].unique())
    width = 0.8 / len(pces_values)
    for j, use in enumerate(pces_values):
        sub = view[view["pces"] == use].set_index(col)
        ax.bar(x + (j - (len(pces_values) - 1) / 2) * width, [sub["f1"][v] for v in values],
               width, label="with PCES" if use else "pseudo-label only")
    ax.set_xticks(x, values)
    ax.set_title(title)
axes[0].set_ylabel(f"F1 ({MEAN_OVER})")
axes[0].legend(fontsize=8)
fig.tight_layout()
savefig(fig, "ablation_rule_target")
plt.show()

# %% [markdown]
# ## 4 · When the two masks do not overlap: EAI's fallback, and how often EAI does anything
#
# EAI grows the intersection of the two masks. When the sublevel and superlevel masks do not
# overlap at all, there is nothing to grow: EAI alone would return an empty mask (and PCES would
# have no positives), although both filtrations found something. We compare what to return
# instead: the sublevel mask, the superlevel one, both (the union), the larger of the two, the
# mask of the more persistent feature, or nothing (our default is printed below). Every row is
# paired with the first of `eai_fallbacks` on the same images; `fusion_differs`, `nested` and
# `empty_intersection` say how often the fusion changed anything, how often one mask contained
# the other, and how often they did not overlap: where `nested` is near one, EAI and the
# intersection cannot differ much.

# %%
print(f"TopoTTA's default fallback: {DEFAULTS['eai_fallback']!r}")
images_fb = []
fallback_t = run(setting_variants("eai_fallback", eai_fallbacks, pces=own_pces, defaults=DEFAULTS),
                 "EAI fallback", ["setting", "eai_fallback", "pces"], images_fb,
                 metrics=(*SEG_METRICS, *ACTIVITY_KEYS))
fallback_t = fallback_t.assign(method="TopoTTA")
write_table(fallback_t, "ablation_eai_fallback")
fallback_pairs = paired_against(images_fb[0], f"eai_fallback={eai_fallbacks[0]}", by=["scorer"])
write_table(fallback_pairs, "ablation_eai_fallback_paired")
print(fmt(fallback_t))
print(fmt(fallback_pairs))

# %% [markdown]
# ## 5 · What makes PCES help: one choice at a time
#
# PCES learns from the pseudo-labels, so it can only help if what it is trained on separates
# defect from background better than the pseudo-label's own boundary. Each row below undoes one
# of our default sampling choices, or all four together (`all four undone`), or changes the
# decision rule or the resolution (`pces_ablation_variants` lists them); every row is paired with
# the pseudo-labels alone (no PCES) on the same images, and the interval says whether the
# difference could be noise.

# %%
if pces_ablation:
    images_pc = []
    pces_t = run(pces_ablation_variants(DEFAULTS), "PCES ablation", ["setting", "pces_setting"],
                 images_pc)
    pces_t = pces_t.assign(method="TopoTTA")
    write_table(pces_t, "ablation_pces")
    pces_pairs = paired_against(images_pc[0], "pseudo-labels", by=["scorer"])
    write_table(pces_pairs, "ablation_pces_paired")
    print(fmt(pces_t))
    print(fmt(pces_pairs))
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(pces_pairs) + 1.2))
    y = np.arange(len(pces_pairs))
    ax.errorbar(pces_pairs["difference"], y, xerr=[pces_pairs["difference"] - pces_pairs["low"],
                                                    pces_pairs["high"] - pces_pairs["difference"]],
                fmt="o", capsize=3)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(y, [f"{s} ({sc})" for s, sc in zip(pces_pairs["setting"], pces_pairs["scorer"])],
                  fontsize=8)
    ax.set_xlabel("F1 difference with the pseudo-labels alone (95% interval)")
    ax.set_title("PCES ablation: above 0, PCES adds F1 to what it learnt from")
    fig.tight_layout()
    savefig(fig, "ablation_pces")
    plt.show()

# %% [markdown]
# ## 6 · Where each mechanism acts: EAI, its fallback, the superlevel branch and PCES
#
# An ablation row that equals another (section 2) can mean two things: the mechanism does not
# help, or it never changed a mask. To tell them apart we count, per image, what each mechanism
# did (`mechanism_flags`), for Top-$K$ pseudo-labels with the $K$ of `mechanism_topk`:
# EAI *acts* when the two pseudo-labels overlap and EAI returns something other than their
# intersection; the *fallback* fires when they do not overlap; the superlevel branch changes the
# outcome when the fused mask differs from the sublevel mask alone; PCES changes it when the
# final mask differs from the fused pseudo-label.
#
# **Why $K = 1$ leaves EAI nothing to do.** With one feature per filtration, the sublevel-H1
# region is a bounded connected component of a set $\{\psi > t\}$ and the superlevel-H0 region
# a connected component of a set $\{\psi \ge t'\}$: both are components of superlevel sets of
# the same map. Two such components are nested (the one of the higher level lies inside the
# other) or disjoint. So their intersection is the smaller mask or empty: EAI starts from a mask
# that already is one of its two inputs, with the Euler characteristic of a single region, and
# returns it (or, when they are disjoint, its fallback). The same holds for the release rule,
# which intersects two whole-map thresholds of one map. Only with several features per
# filtration ($K \ge 2$) can the two masks overlap partially and EAI have something to repair.
# (Connectivity is the one loophole: a region counted 8-connected and an Euler characteristic
# counted 4-connected can disagree on a piece that touches only at a corner.)

# %%
variants_k = {f"K={k}": {"operator": "topotta", "params": {} if k == 1 else {"k": k},
                         "meta": {"topk": k}} for k in mechanism_topk}
cells_k, _ = build_cells(variants_k, **data)
report_k = run_grid(cells_k, evaluate_cell, desc="mechanisms", progress=False)
mechanisms = mechanism_table(report_k.records())
activity_k = eai_activity(mechanisms)
print(activity_k.round(3).to_string(index=False))

# %%
shown = ["eai_acts", "fallback_fired", "eai_differs_sub", "pces_differs"]
names = {"eai_acts": "EAI acts", "fallback_fired": "fallback fires",
         "eai_differs_sub": "superlevel branch\nchanges the mask", "pces_differs": "PCES changes\nthe mask"}
share_k = activity_k.groupby("topk")[list(MECHANISM_FLAGS)].mean()
fig, ax = plt.subplots(figsize=(7, 3.2))
width = 0.8 / max(len(share_k), 1)
for j, (k, row) in enumerate(share_k.iterrows()):
    ax.bar(np.arange(len(shown)) + (j - (len(share_k) - 1) / 2) * width,
           [100 * row[f] for f in shown], width, label=f"K = {k}")
ax.set_xticks(np.arange(len(shown)), [names[f] for f in shown], fontsize=8)
ax.set_ylabel(f"% of images ({MEAN_OVER})")
ax.set_ylim(0, 105)
ax.legend(fontsize=8, title="Top-K per filtration", title_fontsize=8)
ax.set_title("How often each mechanism changes the mask", fontsize=10)
fig.tight_layout()
savefig(fig, "mechanisms_per_k")
plt.show()

# %%
mech_items = []
for k, row in share_k.iterrows():
    mech_items.append(
        f"K = {k}: EAI acts on {num(100 * row['eai_acts'], 0)}% of the images, the fallback fires "
        f"on {num(100 * row['fallback_fired'], 0)}%, the fused pseudo-label differs from the "
        f"sublevel mask on {num(100 * row['eai_differs_sub'], 0)}% and PCES changes it on "
        f"{num(100 * row['pces_differs'], 0)}%.")
n_img = int(activity_k.groupby("topk")["n_images"].sum().max())
if 1 in share_k.index:
    one = share_k.loc[1]
    mech_items.append(
        "At K = 1 (the paper's setting) EAI "
        + ("never acts here" if one["eai_acts"] == 0 else
           f"acts on {num(100 * one['eai_acts'], 0)}% of the images only (the connectivity "
           "loophole above)")
        + ": where the two masks overlap the fused pseudo-label is their intersection, the "
        "smaller of two nested masks, and where they do not it is the fallback; "
        + ("it is the sublevel mask on every image."
           if one["eai_differs_sub"] == 0 else
           f"it differs from the sublevel mask on {num(100 * one['eai_differs_sub'], 0)}% of "
           "the images.")
        + " A comparison of EAI with the plain intersection at K = 1 therefore measures the "
        f"fallback (it fires on {num(100 * one['fallback_fired'], 0)}% of the images), not EAI.")
inactive = 0.05  # below this share of changed masks, notebook 14 calls a mechanism inactive
acting = [k for k, r in share_k.iterrows() if r["eai_acts"] >= inactive]
mech_items.append(
    "What this data cannot tell: "
    + (f"whether EAI helps at the paper's K = 1, since it does not act there; it acts on at least "
       f"{num(100 * inactive, 0)}% of the images only at K = {', '.join(map(str, acting))}, "
       "settings the paper does not use by default." if acting and 1 not in acting else
       f"whether EAI helps, since it acts on fewer than {num(100 * inactive, 0)}% of the images "
       "at every K run here." if not acting else
       "how EAI would fare on maps with more partial overlaps than these.")
    + f" Each share rests on {n_img} images per K ({MEAN_OVER}), one map per image.")
display(Markdown(bullets(mech_items)))

# %% [markdown]
# ## What to take away
#
# * **Table V** tests one claim: F1 is best for $K = 1$ and falls as $K$ grows, because
#   lower-ranked features sit closer to the diagonal and are more often background texture.
#   Compare the *shape* of our F1 curve with the paper's, not its height. Recall *rising* with
#   $K$ is what a whole-map threshold (the release rule) produces; a region rule gives small
#   K-th regions instead.
# * **Table VI** tests two claims: the superlevel filtration alone favours recall and costs
#   precision compared with the sublevel one alone (it grows from the brightest peak into
#   everything that is merely bright), and the full
#   configuration (both filtrations, EAI, PCES) has the best F1. The pseudo-label-only rows show
#   how much of each configuration's quality is already in the pseudo-label and how much PCES
#   adds (or removes) on this data.
# * **Our ablations** show how much the two readings of the feature-to-mask step differ, and
#   whether EAI's choice of target changes anything in practice (when the two masks agree on
#   the topology, all targets pick the same candidate).
#
# The claims report (notebook 14) reads `table5_topk` and `table6_components` and computes the
# verdicts from them. The list below is rendered from this run's tables.

# %%
items = []
extra = ["preset"] if "preset" in t6.columns else []  # one group per preset when there are several
extra5 = ["preset"] if "preset" in t5.columns else []
for (scorer, rule, *rest), g in t5.groupby(["scorer", "rule", *extra5], sort=False):
    f1 = g.set_index("kth_component")["f1"]
    items.append(f"Table V ({scorer}, {rule} rule{', ' + str(rest[0]) if rest else ''}): F1 is "
                 + ("best at K = 1" if f1.idxmax() == min(f1.index) else f"best at K = {f1.idxmax()}")
                 + " (" + ", ".join(f"K = {k}: {num(v)}" for k, v in f1.items()) + ").")
for (scorer, *rest), g in t6.groupby(["scorer", *extra], sort=False):
    scorer = f"{scorer}, {rest[0]}" if rest else scorer
    by = g.set_index("configuration")
    if {"superlevel", "sublevel"} <= set(by.index):
        sup, sub = by.loc["superlevel"], by.loc["sublevel"]
        trades = sup["recall"] > sub["recall"] and sup["precision"] < sub["precision"]
        items.append(f"Table VI ({scorer}): from the sublevel filtration alone to the superlevel "
                     f"one alone, recall {num(sub['recall'])} → {num(sup['recall'])}, precision "
                     f"{num(sub['precision'])} → {num(sup['precision'])}: the superlevel one "
                     + ("favours recall and costs precision (means over the images; notebook 14 "
                        "gives the interval)." if trades else
                        "does not trade precision for recall here."))
    best = by["f1"].idxmax()
    items.append(f"Table VI ({scorer}): the best F1 is {num(by['f1'].max())}, by `{best}`.")
    base, full = "sub+super+EAI", "sub+super+EAI+PCES"
    if base in by.index and full in by.index:
        before, after = by.loc[base, "f1"], by.loc[full, "f1"]
        items.append(("What does not work here: " if after < before - 5e-4 else "")
                     + f"PCES {change_word(before, after, tol=5e-4)} the F1 of the fused "
                     f"pseudo-labels ({scorer}: {num(before)} → {num(after)}).")
if same_as:
    items.append(f"Identical scores: {' — '.join(same_as)}.")
targets = target_t.groupby("pces")["f1"].nunique()
items.append("EAI's target " + ("changes nothing on this data (all targets give the same F1)."
                                if (targets == 1).all() else "changes the F1 on this data."))
items += mech_items
display(Markdown(takeaways(items)))
