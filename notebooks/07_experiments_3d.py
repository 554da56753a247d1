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
# # 07 · 3D experiments: depth maps (2.5D) and voxel volumes
#
# *Paper: Section V-B and V-C, Table I (3D rows), Fig. 6.*
#
# Nothing in TopoTTA is specific to 2D images: cubical complexes exist in any dimension. Here the
# same three operators (THR, TTT4AS, TopoTTA) turn two other kinds of score maps into masks:
#
# * **2.5D** (like MVTec 3D-AD): each sample is a depth map (with an RGB rendering for display); the
#   scorers work on the depth, and the score map is a 2D image, so the 2D machinery applies as is;
# * **3D voxels** (like AnomalyShapeNet, where the paper works on point clouds): each sample is a
#   (D, H, W) volume with inclusions or cavities; scores, persistence (H0, H1 and H2 in the
#   construction of the paper preset, printed below), Euler characteristic and PCES all run on
#   3D grids.
#
# **Comparable with the paper?** The paper's 3D rows come from CMM / M3DM on MVTec 3D-AD and PO3AD on
# AnomalyShapeNet point clouds. The data and the scorers of this run are printed under the next
# code cell, from its parameters. Absolute numbers are not comparable; the ordering of the
# operators on shared maps is what the side-by-side table is for.
#
# **What you will see:** the grid, Table I (3D rows) ours and the paper's, the operator ordering,
# per-class numbers, and Fig. 6 (inputs, ground truth, score map and the three masks; voxel volumes
# shown through the slice that holds most of the defect).

# %% tags=["parameters"]
profile = "full"
seed = 0
size = "full"  # embedded benchmark size: "smoke" | "quick" | "full" (unused by a real dataset)
size_3d = None  # size of the voxel data set (None: same as `size`; voxels cost far more)
# 2.5D (RGB + depth): the embedded set or MVTec 3D-AD on disk ("mvtec_3d")
dataset_25d = "embedded-2.5d"
data_root_25d = None  # the real dataset's folder, the one holding its class folders
classes_25d = None  # None: every class (a real dataset: the classes found on disk); []: skip 2.5D
maps_dir_25d = None  # your own 2.5D score maps (.npy / float .tiff per test image)
# 3D (voxels): the embedded set or AnomalyShapeNet on disk ("anomaly_shapenet")
dataset_3d = "embedded-3d"
data_root_3d = None
classes_3d = None  # None: every class; []: skip 3D
maps_dir_3d = None  # your own (D, H, W) voxel score maps (.npy), one per test sample
scorers = ["patchcore", "padim"]  # our scorers (replaced by your maps where a maps_dir is given)
methods = ["thr", "ttt4as", "topotta"]
workers = 2  # local worker processes for the experiment grids (one thread each; 1: this process)

# %%
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from topotta_lite.config import pin_threads
from topotta_lite.data import check_dataset, resolve_classes
from topotta_lite.experiments import (
    MAPS_SCORER,
    bundle_memory,
    compare_main,
    evaluate_cell,
    expand_shared,
    experiment_cell,
    format_table,
    gain_table,
    image_table,
    load_split,
    main_table,
    make_operator,
    method_order,
    ordering_agreement,
    paper_table,
    per_class_table,
    prepare_bundles,
    preset_of,
    ranking_cell,
    representative_index,
    run_grid,
    score_bundle,
    setup_sentence,
    use_workers,
    workers_that_fit,
)
from topotta_lite.metrics import segmentation_scores
from topotta_lite.operators import PRESETS
from topotta_lite.outputs import savefig, use_style, write_table
from topotta_lite.teaching import f1_sentences, note, overlay_mask, plural, show_map, subset_note, takeaways
from topotta_lite.vocabulary import METHOD_NAMES, SCORER_NAMES

pin_threads()  # one BLAS / OpenMP / torch thread: the results do not depend on the machine's cores

use_style()
sizes = {dataset_25d: size, dataset_3d: size_3d or size}
roots = {dataset_25d: data_root_25d, dataset_3d: data_root_3d}
maps_dirs = {dataset_25d: maps_dir_25d, dataset_3d: maps_dir_3d}
groups = []  # (dataset, classes), each checked on disk before anything is computed or written
for d, cs in [(dataset_25d, classes_25d), (dataset_3d, classes_3d)]:
    if d is None or cs == []:
        continue
    data = check_dataset(d, roots[d], cs, maps_dir=maps_dirs[d])
    print(data.summary())
    groups.append((d, data.classes))
scorers_of = {d: [MAPS_SCORER] if maps_dirs[d] is not None else list(scorers) for d, _ in groups}
for d, cs in groups:
    print(f"{d}: classes {cs}, size {sizes[d]!r}, scorers {scorers_of[d]}")
print(f"operators: {methods}")
# memory first: each process that builds a bundle holds its volumes, features and maps at once
need = max([bundle_memory(d, sizes[d]) or 0 for d, _ in groups] or [0]) or None
smaller = "`topotta-lite reproduce --only 07 -p size_3d smoke` (32^3 voxels)"
n_proc = workers_that_fit(workers, need, what=f"notebook 07 at voxel size `{sizes[dataset_3d]}`",
                          instead=smaller)
if n_proc < workers:
    print(f"memory for {n_proc} process(es), not {workers}: fewer workers")
pool = use_workers(n_proc)  # None: the grids run in this process
connect = {"V": "6-connected (V construction)", "T": "26-connected (T construction)"}
display(Markdown(" ".join(setup_sentence(d, sizes[d], cs, scorers_of[d], data_root=roots[d])
                          for d, cs in groups)
                 + f" Voxel persistence here is {connect[PRESETS['paper']['construction']]}."))
notes = [subset_note(profile, **{f"{d} classes": (cs, resolve_classes(d, roots[d]))
                                 for d, cs in groups},
                     scorers=(scorers, list(SCORER_NAMES)
                              if all(maps_dirs[d] is None for d, _ in groups) else []))]
if dataset_3d in dict(groups) and sizes[dataset_3d] != size:
    notes.append(note(f"The voxel data run at size `{sizes[dataset_3d]}` (fewer and smaller "
                      "volumes than the 2.5D data) to fit this profile's time budget."))
display(Markdown("\n\n".join(n for n in notes if n)))

# %% [markdown]
# ## 1. The grid
#
# Same cells as notebook 06, on the two 3D data sets. Score bundles (maps, ground truth, features)
# are computed once per class and scorer and cached.

# %%
def data_keys(d):
    """The cell keys that say where a data set's images and maps come from."""
    keys = {"dataset": d, "size": sizes[d]}
    if roots[d] is not None:
        keys["data_root"] = str(roots[d])
    if maps_dirs[d] is not None:
        keys["maps_dir"] = str(maps_dirs[d])
    return keys


cells = [experiment_cell(d, c, s, m, size=sizes[d], seed=seed, data_root=roots[d],
                         maps_dir=maps_dirs[d])
         for d, cs in groups for s in scorers_of[d] for c in cs for m in methods]
rank_cells = [{"seed": seed, **data_keys(d), "category": c, "scorer": s}
              for d, cs in groups for s in scorers_of[d] for c in cs]
prepare_bundles(cells)  # with workers: every score bundle first, in parallel
report = run_grid(cells, evaluate_cell, desc="3D cells", progress=False)
rank_report = run_grid(rank_cells, ranking_cell, desc="ranking cells", progress=False)
print(f"segmentation cells: {report.computed} computed, {report.cached} cached, "
      f"{len(report.failures)} failed; ranking cells: {rank_report.computed} computed, "
      f"{rank_report.cached} cached")
records, rank_records = report.records(), rank_report.records()
for r in records:  # the paper preset's operators; THR's rows serve both presets (one row each)
    r["preset"] = preset_of(r)

# %% [markdown]
# ## 2. Table I, 3D rows
#
# Rows: (data set, scorer, operator), mean over classes. Our 2.5D PatchCore / PaDiM rows stand
# beside the paper's MVTec 3D-AD M3DM / CMM rows, and our voxel rows beside AnomalyShapeNet PO3AD
# (the pairing is arbitrary between scorers; only orderings are comparable).

# %%
table1 = main_table(records, ranking=rank_records, keep=["preset", "size"])
write_table(table1, "table1_3d")
write_table(image_table(records, keep=["preset", "size"]),
            "table1_3d_per_image")  # for the claims report
display(format_table(table1))

cmp1 = compare_main(table1, paper_table("table1_main"))
write_table(cmp1, "table1_3d_vs_paper")
display(format_table(cmp1))

# %%
agree = ordering_agreement(cmp1, group=["dataset", "scorer"], metric="f1")
display(agree)
gains = gain_table(table1, group=["dataset", "scorer"], baseline="TTT4AS", target="TopoTTA",
                   metrics=["precision", "recall", "f1", "iou"])
display(format_table(gains))

# %% [markdown]
# Per class (printed; the 2D notebook writes the paper's Table III, which has no 3D rows):

# %%
per_class = per_class_table(records, keep=["preset", "size"])
write_table(per_class, "table1_3d_per_class")
display(format_table(per_class))
display(method_order(per_class, group=["dataset", "scorer", "category"], metric="f1"))

# %% [markdown]
# ## 3. Fig. 6: what the 3D masks look like
#
# One row per (data set, class), scorer = the first of the run. The image is the anomalous test
# sample whose TopoTTA F1 is the class median (not hand-picked). 2.5D rows show the depth map, then
# the RGB rendering with the ground truth and each mask; voxel rows show the axial slice holding the
# most defect voxels (F1 is computed on the whole volume).

# %%
colors = {"THR": "#e6a100", "TTT4AS": "#1f77b4", "TopoTTA": "#d62728"}
rows = []
for d, cs in groups:
    fig_scorer = scorers_of[d][0]
    for c in cs:
        rec = next(r for r in records if r["dataset"] == d and r["category"] == c
                   and r["scorer"] == fig_scorer and r["operator"] == "topotta")
        bundle = score_bundle(d, c, fig_scorer, size=sizes[d], seed=seed, data_root=roots[d],
                              maps_dir=maps_dirs[d])
        anomalous = np.flatnonzero(bundle["labels"] == 1)
        i = int(anomalous[representative_index(rec["f1_per_image"])])
        sample = load_split(d, c, size=sizes[d], seed=seed, data_root=roots[d]).test[i]
        masks = {}
        for m in methods:
            op = make_operator(m, seed=seed)
            if m == "thr":
                op.fit(bundle["val_maps"])
            masks[METHOD_NAMES[m]] = op.segment(bundle["maps"][i], bundle["features"][i])
        rows.append((d, c, sample, bundle["gts"][i], bundle["maps"][i], masks))

ncol = 3 + len(methods)
fig, axes = plt.subplots(len(rows), ncol, figsize=(2.1 * ncol, 2.5 * len(rows)), squeeze=False)
for r, (_d, c, sample, gt, smap, masks) in enumerate(rows):
    ax = axes[r]
    f1s = {name: segmentation_scores(mask, gt)["f1"] for name, mask in masks.items()}
    if gt.ndim == 3:  # voxel volume: the axial slice with the most defect voxels
        z = int(np.argmax(gt.sum(axis=(1, 2))))
        vol = sample.volume if sample.volume is not None else smap
        background = vol[z]
        gt2, smap2 = gt[z], smap[z]
        masks2 = {k: v[z] for k, v in masks.items()}
        show_map(ax[0], background, cmap="gray", colorbar=False)
        label = f"{c}\n(voxel, z={z})"
    else:
        background = sample.image if sample.image is not None else sample.depth
        gt2, smap2, masks2 = gt, smap, masks
        depth = sample.depth if sample.depth is not None else background
        show_map(ax[0], depth if depth.ndim == 2 else depth[..., -1], cmap="viridis",
                 colorbar=False)
        label = f"{c}\n(2.5D)"
    ax[0].set_ylabel(label, fontsize=9)
    overlay_mask(ax[1], gt2, background=background, color="#00e5ff", alpha=0.35)
    show_map(ax[2], smap2, colorbar=False)
    for j, (name, mask) in enumerate(masks2.items()):
        overlay_mask(ax[3 + j], mask, background=background, color=colors.get(name, "#ff0"),
                     alpha=0.4)
        ax[3 + j].set_title(f"{name}  F1={f1s[name]:.2f}" if r == 0 else f"F1={f1s[name]:.2f}")
    if r == 0:
        for a, t in zip(ax[:3], ["depth / volume", "ground truth", "score map"]):
            a.set_title(t)
fig.suptitle(f"Fig. 6 (ours): {SCORER_NAMES.get(fig_scorer, fig_scorer)} maps; 2.5D size "
             f"{sizes[dataset_25d]}, voxel size {sizes[dataset_3d]}")
fig.tight_layout()
savefig(fig, "fig6_qualitative_3d")
plt.show()

# %% [markdown]
# ## Reading the results
#
# * On depth maps the defects (dents, bumps) are smooth height changes, so the score maps are
#   smooth too; whether the most persistent superlevel component is the defect can be read off
#   Fig. 6 (compare the TopoTTA column with the ground truth).
# * In a voxel volume a defect (an inclusion or a cavity of the part) scores high, so in the score
#   volume it is a bright blob. The calm voxels around it enclose it: the sublevel filtration
#   sees it as an enclosed void, an H2 class. That is the 3D analogue of the 2D **blob**, which
#   the sublevel filtration sees as an H1 hole (notebook 02); the 3D analogue of the 2D ring is
#   a bright closed shell around a calm core, a superlevel H2 class.
# * The claim checked here is again the ordering of the operators per data set and scorer;
#   notebook 14 turns the `same_best` / Kendall's tau columns into a verdict.
#
# ## Take-aways

# %%
items = [sentence for _, _, sentence in f1_sentences(expand_shared(table1),
                                                     ("dataset", "scorer", "preset"))]
n_same = int(agree["same_best"].sum())
items.append(f"The best operator agrees with the paper's analogue row in {n_same} of "
             f"{plural(len(agree), 'data set and scorer pair', 'data set and scorer pairs')}.")
worse = [" / ".join(str(r[c]) for c in ("dataset", "scorer")) for _, r in gains.iterrows()
         if r["f1_gain"] < 0]
items.append("What does not work here: TopoTTA's F1 is below TTT4AS's for "
             + (", ".join(worse) if worse else "none of them") + " in this run.")
display(Markdown(takeaways(items)))
