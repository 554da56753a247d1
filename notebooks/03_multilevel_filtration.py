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
# # 03 · Multi-level filtration: sweeping a threshold both ways
#
# *Paper: Section IV-A and Fig. 4.*
#
# A single threshold turns a score map into one mask, and the choice of that threshold decides
# everything. TopoTTA instead looks at **all** thresholds at once. Sweep t upwards and watch the
# **sublevel sets** {score ≤ t} grow from the calmest pixels; sweep t downwards and watch the
# **superlevel sets** {score ≥ t} grow from the most anomalous ones. Each set is a cubical complex
# (notebook 01), and persistent homology records when each piece or hole is born and dies.
#
# We use a toy score map with the three kinds of structure defects produce:
# a **blob** (a compact bright spot), a **ring** (a bright loop around a calm centre: a hole) and a
# **crack** (a thin bright line, fainter than the rest).
#
# **What you will see**
# 1. the nested sets of both sweeps, with their counts of pieces and holes (the figure answering Fig. 4);
# 2. persistence diagrams and barcodes, and which points are the blob, the ring and the crack;
# 3. the Top-K most persistent features turned into regions (the pseudo-labels);
# 4. what the number of levels n changes (and what it does not);
# 5. two standard ways to turn a diagram into a vector (Betti curves and landscapes, giotto-tda);
# 6. an interactive slider over the threshold (standalone HTML).

# %% tags=["parameters"]
profile = "full"
seed = 0
size = 96  # the toy map is size x size pixels
levels = 256  # quantisation levels n used for the diagrams (the paper's default)
construction = "V"  # "V" (4-connected, the paper's text) or "T" (8-connected)
top_k = 3  # number of features turned into regions
alpha = 0.5  # where inside a bar the region of a feature is cut (0 gives the largest region)
level_grid = [4, 8, 16, 32, 64, 256]  # values of n compared in section 4
n_slider_steps = 41  # steps of the interactive slider

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from gtda.diagrams import BettiCurve, PersistenceLandscape
from IPython.display import display

from topotta_lite.method import default_dims, feature_region, pseudo_label_mask, select_features
from topotta_lite.outputs import savefig, use_style, write_table
from topotta_lite.teaching import (
    filtration_slider_figure,
    filtration_strip,
    overlay_mask,
    plot_barcode,
    plot_diagram,
    show_interactive,
    show_map,
    toy_score_map,
    write_html,
)
from topotta_lite.topology import (
    betti_numbers,
    cubical_persistence,
    quantise,
)

use_style()
psi, parts = toy_score_map((size, size), seed=seed)
x = quantise(psi, levels)  # min-max normalised to [0, 1], rounded to `levels` values
truth = parts["blob"] | parts["ring"] | parts["crack"]

fig, axes = plt.subplots(1, 2, figsize=(10, 4.3))
show_map(axes[0], x, title=f"toy score map ({size}×{size}, {levels} levels)", vmin=0, vmax=1)
overlay_mask(axes[1], truth, background=x, color="#00e5ff", alpha=0.3,
             label="true structures")
for name, (r, c) in {"blob": (0.12, 0.27), "ring": (0.24, 0.7), "crack": (0.88, 0.3)}.items():
    axes[1].text(c * size, r * size, name, color="yellow", ha="center", fontsize=10,
                 fontweight="bold")
axes[1].set_title("where the blob, ring and crack are")
fig.tight_layout()
savefig(fig, "nb03_toy_map")
plt.show()

# %% [markdown]
# **Reading the figure.** Left: the score map (colour = score after min-max normalisation to [0, 1];
# bright = anomalous). Right: the same map in grey with the true structures outlined. The crack is
# thinner and fainter (peak about 0.6) than the blob (1.0) and the ring (about 0.9), and the
# background carries mild noise, which creates many tiny bumps.
#
# ## 1. The two filtrations (answering Fig. 4)
#
# For a threshold t, the **sublevel set** is {x ≤ t} and the **superlevel set** {x ≥ t}. As t rises,
# sublevel sets grow (nested: each contains the previous ones); as t falls, superlevel sets grow.
# Under each panel: b0 = number of connected pieces, b1 = number of holes, counted with the
# construction's connectivity (V: 4-neighbours) by `topotta_lite.topology.betti_numbers`, the same
# helper every notebook uses (it agrees with the exact computation of notebook 01).


# %%
ts_up = [0.12, 0.3, 0.5, 0.7, 0.92]
ts_down = ts_up[::-1]
fig, axes = plt.subplots(2, 5, figsize=(15, 7.2), layout="constrained")
for j, t in enumerate(ts_up):
    m = x <= t
    b0, b1 = betti_numbers(m, construction)
    overlay_mask(axes[0, j], m, background=x, color="#1f77b4", alpha=0.6, outline=False)
    axes[0, j].set_title(f"x ≤ {t:.2f}\nb0 = {b0}, b1 = {b1}")
for j, t in enumerate(ts_down):
    m = x >= t
    b0, b1 = betti_numbers(m, construction)
    overlay_mask(axes[1, j], m, background=x, color="#d62728", alpha=0.6, outline=False)
    axes[1, j].set_title(f"x ≥ {t:.2f}\nb0 = {b0}, b1 = {b1}")
axes[0, 0].set_ylabel("sublevel sweep\n(t increases →)", fontsize=10)
axes[1, 0].set_ylabel("superlevel sweep\n(t decreases →)", fontsize=10)
fig.suptitle("Multi-level filtration of a score map: sublevel sets (blue, top) and superlevel sets "
             "(red, bottom); grey = the map")
savefig(fig, "fig04_multilevel_filtration")
plt.show()

# %% [markdown]
# **Reading the figure.** Each panel is the map in grey with the current set coloured; read each row
# left to right as the sweep goes on.
#
# * **Top row (sublevel, blue).** The calm background fills in first, in many small pieces that merge
#   (b0 falls). The structures are what the blue set flows *around*: once the background is
#   connected, the blob, the ring and the crack are **holes** in it (b1 ≈ 3), and the calm centre
#   of the ring is a separate blue piece, cut off by the ring. Each hole closes (dies) when t
#   reaches the top of its structure: the crack first (it is fainter), then the ring, then the blob.
# * **Bottom row (superlevel, red).** The peaks appear first, as separate pieces: the blob, then the
#   ring, then the crack (b0 counts them); the ring closes into a loop (b1 = 1) until the sweep
#   reaches the calm level inside it; finally everything merges into one piece.
#
# The two rows see the same structures from opposite ends. A bright spot is a *piece* (H0) of the
# superlevel sweep and a *hole* (H1) of the sublevel sweep. That is why TopoTTA uses sublevel H1 and
# superlevel H0 together (and superlevel H1 sees the ring's hole).
#
# ## 2. Persistence diagrams and barcodes
#
# Persistence records, for every piece and every hole, the threshold where it is born and where it
# dies. A **barcode** draws each feature as a bar from birth to death; a **persistence diagram**
# draws it as a point (birth, death). Long bars = points far from the diagonal = structures that
# survive a wide range of thresholds. We highlight the Top-K features (K = `top_k`) in the
# dimensions TopoTTA uses: sublevel H1, superlevel H0.

# %%
d_sub = cubical_persistence(x, filtration="sublevel", construction=construction)
d_sup = cubical_persistence(x, filtration="superlevel", construction=construction)
sel_sub = select_features(d_sub, k=top_k, dims=default_dims("sublevel", 2))
sel_sup = select_features(d_sup, k=top_k, dims=default_dims("superlevel", 2))


def indices_of(diagram, chosen):
    """Indices in `diagram` of the features in `chosen` (matched by birth and death cells)."""
    key = {(tuple(b), tuple(d)) for b, d in zip(chosen.birth_cells, chosen.death_cells)}
    return [i for i, (b, d) in enumerate(zip(diagram.birth_cells, diagram.death_cells))
            if (tuple(b), tuple(d)) in key]


fig, axes = plt.subplots(2, 2, figsize=(12, 10), gridspec_kw={"height_ratios": [1, 1.1]})
for col, (name, dg, sel) in enumerate([("sublevel", d_sub, sel_sub),
                                       ("superlevel", d_sup, sel_sup)]):
    ax = axes[0, col]
    plot_diagram(dg, ax, value_range=(-0.03, 1.03), title=f"{name} diagram ({len(dg)} features)")
    ax.scatter(sel.births, sel.deaths, s=160, facecolors="none", edgecolors="k", lw=1.5,
               label=f"Top-{top_k} used for pseudo-labels", zorder=5)
    ax.legend(loc="lower right" if name == "sublevel" else "upper left")
    plot_barcode(dg, axes[1, col], max_bars=12, highlight=indices_of(dg, sel),
                 title=f"{name} barcode (12 longest bars per dimension; thick = Top-{top_k})")
fig.tight_layout()
savefig(fig, "nb03_diagrams_barcodes")
plt.show()

summary_rows = []
for name, sel in (("sublevel", d_sub), ("superlevel", d_sup)):
    for d in (0, 1):
        p = sel.in_dim(d).persistence
        summary_rows.append({"filtration": name, "dim": f"H{d}", "features": len(p),
                             "persistence > 0.1": int((p > 0.1).sum()),
                             "longest": float(p.max()) if len(p) else 0.0})
write_table(pd.DataFrame(summary_rows), "nb03_diagram_summary")
display(pd.DataFrame(summary_rows))

# %% [markdown]
# **Reading the figure.** Top: persistence diagrams, horizontal axis = birth score, vertical axis =
# death score, colour = homology dimension (blue H0 = pieces, orange H1 = holes). Sublevel features
# lie *above* the diagonal (they are born at a low score and die at a higher one); superlevel
# features lie *below* it (born at a high score, die lower). The triangle is the **essential** H0
# class, the one piece that never dies; by our convention we set its death to the end of the
# sweep (1 for sublevel, 0 for superlevel), so that it can be ranked like the others. The black
# circles mark the Top-K. The cloud hugging the diagonal is the background noise: many features, all
# short-lived.
#
# Bottom: barcodes of the same features (only the 12 longest per dimension), horizontal axis = score;
# the superlevel axis runs from high to low so that the sweep always goes left to right. Arrows mark
# essential bars. Three long orange sublevel bars stand out (blob, ring, crack as holes of the calm
# set); on the superlevel side, three long blue bars (the same three as pieces) and one long orange
# bar (the ring's hole). One more long sublevel H0 bar (and the lone blue point high above the
# diagonal in the sublevel diagram) is the ring's calm centre: a separate calm piece, born at its
# lowest score, that only merges with the background when t passes the lowest point of the ring.
#
# ## 3. From the Top-K features to regions (the pseudo-labels)
#
# A feature is turned into a **region**, not into a global threshold. For a
# superlevel H0 feature born at b (its peak) and dying at d, take the level t = d + α (b − d) inside
# its bar and keep the connected piece of {x > t} that contains its peak. For a sublevel H1 feature
# (a hole of the calm set, born at b, filled at d), keep the piece of {x > t}, t = b + α (d − b), that
# sits inside the hole, i.e. contains the pixel where it is filled. With α = `alpha` the level is in
# the middle of the bar.

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 5.2))
palette = ["#00e5ff", "#ffd400", "#7CFC00", "#ff66cc", "#ffffff"]
region_rows = []
for ax, (name, sel) in zip(axes, [("sublevel H1", sel_sub), ("superlevel H0", sel_sup)]):
    ax.imshow(x, cmap="gray")
    for j in range(len(sel)):
        region = feature_region(x, sel, j, alpha=alpha, construction=construction)
        label = (f"#{j + 1}: birth {sel.births[j]:.2f}, death {sel.deaths[j]:.2f}"
                 + (" (essential)" if sel.essential[j] else ""))
        overlay_mask(ax, region, color=palette[j % len(palette)], alpha=0.45, label=label)
        hits = {k: int((region & parts[k]).sum()) for k in ("blob", "ring", "crack")}
        region_rows.append({"filtration": name, "rank": j + 1, "birth": sel.births[j],
                            "death": sel.deaths[j], "persistence": sel.persistence[j],
                            "pixels": int(region.sum()),
                            "structure": max(hits, key=hits.get) if any(hits.values()) else "-"})
    ax.set_title(f"Top-{top_k} {name} features as regions (α = {alpha})")
fig.tight_layout()
savefig(fig, "nb03_topk_regions")
plt.show()
regions = pd.DataFrame(region_rows)
write_table(regions, "nb03_topk_regions")
display(regions)

# %% [markdown]
# **Reading the figure.** The grey map with one coloured region per selected feature; the legend
# gives each feature's rank, birth and death. Both filtrations find the same three structures, in
# the order of their persistence (the blob, the ring, the crack), and nothing from the background
# noise. The sublevel H1 region of the ring is the ring itself (the part of the high set that fills
# the hole of the calm set), not its calm centre. The table names, for each region, the true
# structure it overlaps most.
#
# The pseudo-label of one filtration is the union of its K regions
# (`topotta_lite.method.pseudolabels.pseudo_label_mask`); notebook 04 fuses the two.
#
# **A consequence worth checking yourself.** With K = 1 the superlevel choice is always the
# essential class: its bar runs over the whole range of the map, so no other H0 bar is longer, and
# one of equal length would be born at a later pixel and rank after it. The superlevel Top-1 region
# is therefore the piece of {x > t} around the global maximum, whatever the diagram looks like, and
# the library skips the superlevel persistence pass in that case (TopoTTA's default). The
# information the diagram adds is in the sublevel H1 choice and in K > 1.
#
# ## 4. What the number of levels n changes
#
# Before computing persistence the map is normalised to [0, 1] and rounded to n equally spaced
# levels. n is a *granularity*, not a threshold: the sweep still covers the whole range. A coarse n
# merges nearby values, so short noise features vanish (they fall into one level) and births and
# deaths snap to the grid; by Lemma 1 (notebook 02) no diagram point moves by more than half a level
# step, 1 / (2 (n − 1)).

# %%
lvl_rows = []
sup_ref = pseudo_label_mask(psi, "superlevel", k=top_k, levels=max(level_grid), alpha=alpha,
                            construction=construction)
fig, axes = plt.subplots(2, len(level_grid), figsize=(2.7 * len(level_grid) + 1, 6.4),
                         layout="constrained", squeeze=False)
for j, n in enumerate(level_grid):
    xq = quantise(psi, n)
    ds = cubical_persistence(xq, "sublevel", construction=construction)
    du = cubical_persistence(xq, "superlevel", construction=construction)
    m_sup = pseudo_label_mask(psi, "superlevel", k=top_k, levels=n, alpha=alpha,
                              construction=construction)
    inter, union = (m_sup & truth).sum(), (m_sup | truth).sum()
    same = (m_sup & sup_ref).sum() / max((m_sup | sup_ref).sum(), 1)
    lvl_rows.append({"n": n, "sublevel features": len(ds), "superlevel features": len(du),
                     "max shift bound 1/(2(n-1))": 1 / (2 * (n - 1)),
                     "Top-K mask IoU vs truth": inter / union,
                     f"IoU vs n={max(level_grid)}": same})
    im = axes[0, j].imshow(xq, cmap="magma", vmin=0, vmax=1)
    axes[0, j].set_title(f"n = {n}\n{len(ds) + len(du)} features")
    axes[0, j].set_xticks([])
    axes[0, j].set_yticks([])
    overlay_mask(axes[1, j], m_sup, background=xq, color="#00e5ff", alpha=0.45)
    axes[1, j].set_title(f"superlevel Top-{top_k}\nIoU vs truth {inter / union:.2f}")
axes[0, 0].set_ylabel("quantised map")
axes[1, 0].set_ylabel("pseudo-label")
fig.colorbar(im, ax=axes[0, :], label="quantised score", fraction=0.02)
fig.suptitle("Number of levels n: the quantised map (top, colour = level) and its superlevel "
             f"Top-{top_k} pseudo-label (bottom, cyan)")
savefig(fig, "nb03_levels_effect")
plt.show()
lvl = pd.DataFrame(lvl_rows)
write_table(lvl, "nb03_levels")
display(lvl)

# %% [markdown]
# **Reading the figure and table.** Top row: the map rounded to n levels (colour = level). Bottom
# row: the superlevel Top-K pseudo-label obtained at that n, with its overlap (IoU) with the true
# structures. The number of features grows quickly with n, almost all of it background noise near
# the diagonal; the masks change little once n is moderate, because the long bars (the real
# structures) move by at most half a level step. Very coarse n (4 or 8) snaps the region's cut
# level to a coarse grid and can merge or drop the faint crack. The paper's Table VIII (notebook 09)
# measures the same trade-off on real segmentation scores.
#
# ## 5. Turning a diagram into a vector: Betti curves and landscapes
#
# Diagrams are sets of points of varying size, awkward for machine learning. Two standard
# fixed-length summaries, computed here with **giotto-tda**:
#
# * the **Betti curve** β_k(t): the number of k-dimensional features alive at threshold t, i.e. the
#   b0 / b1 of the level set at t (exactly the counts printed in the Fig. 4 panels);
# * the **persistence landscape**: the k-th largest "tent" height over t, where each feature
#   (b, d) contributes a tent rising from b and falling to d with peak (d − b)/2 at its midpoint.
#
# The superlevel diagram is flipped (t ↦ 1 − t) before giotto sees it, since giotto expects births
# before deaths; we flip the axis back for plotting.


# %%
def giotto_array(diagram):
    """Diagram as giotto's (1, n, 3) array [birth, death, dim], superlevel mirrored by 1 - t."""
    b, d = diagram.births.astype(float), diagram.deaths.astype(float)
    if diagram.filtration == "superlevel":
        b, d = 1.0 - b, 1.0 - d
    return np.column_stack([b, d, diagram.dims.astype(float)])[None]


fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
check_rows = []
for ax, dg in zip(axes[:2], (d_sub, d_sup)):
    arr = giotto_array(dg)
    bc = BettiCurve(n_bins=200).fit(arr)
    curves = bc.transform(arr)[0]
    flip = dg.filtration == "superlevel"
    for k, dim in enumerate(bc.homology_dimensions_):
        grid = bc.samplings_[dim]
        ts = 1.0 - grid if flip else grid
        ax.plot(ts, curves[k], color=f"C{int(dim)}", label=f"β{int(dim)}(t)")
    # cross-check: the curve equals direct counts on level sets at a few thresholds
    for t in (0.3, 0.5, 0.7):
        tq = (np.floor(t * (levels - 1)) + 0.5) / (levels - 1)  # between two levels: no ties
        m = x <= tq if not flip else x >= tq
        b0, b1 = betti_numbers(m, construction)
        if not flip:
            alive = (dg.births <= tq) & (dg.deaths > tq)
        else:
            alive = (dg.births >= tq) & (dg.deaths < tq)
        n0, n1 = int((alive & (dg.dims == 0)).sum()), int((alive & (dg.dims == 1)).sum())
        check_rows.append({"filtration": dg.filtration, "t": round(tq, 4), "b0 (level set)": b0,
                           "b0 (diagram)": n0, "b1 (level set)": b1, "b1 (diagram)": n1})
    if flip:
        ax.invert_xaxis()
    ax.set_yscale("symlog", linthresh=1)
    ax.set_ylim(0, 2 * curves.max())
    ax.set_xlabel("threshold t" + (" (high to low)" if flip else ""))
    ax.set_ylabel("number of features alive (symlog)")
    ax.set_title(f"Betti curves, {dg.filtration}")
    ax.legend()
pl = PersistenceLandscape(n_layers=3, n_bins=200)
arr = giotto_array(d_sub.in_dim(1))
land = pl.fit_transform(arr)[0]
grid = pl.samplings_[1.0] if 1.0 in pl.samplings_ else pl.samplings_[1]
for layer in range(3):
    axes[2].plot(grid, land[layer], label=f"layer {layer + 1}")
axes[2].set_xlabel("threshold t")
axes[2].set_ylabel("landscape height (score units)")
axes[2].set_title("persistence landscape, sublevel H1 (3 highest layers)")
axes[2].legend()
fig.tight_layout()
savefig(fig, "nb03_vectorisations")
plt.show()
checks = pd.DataFrame(check_rows)
write_table(checks, "nb03_betti_checks")
assert (checks["b0 (level set)"] == checks["b0 (diagram)"]).all()
assert (checks["b1 (level set)"] == checks["b1 (diagram)"]).all()
display(checks)

# %% [markdown]
# **Reading the figure.** Left and middle: Betti curves, horizontal axis = threshold (the superlevel
# one reads from high to low), vertical axis = number of pieces (β0) or holes (β1) alive at that
# threshold (symmetric-log scale: linear from 0 to 1, logarithmic above). The noise makes β0 shoot up
# where the background begins to enter; the plateaus at 1-3 are the structures. Right: the first
# three landscape layers of the sublevel H1 diagram; each tent is a hole of the calm set, its height
# half its persistence: the blob, the ring and the crack give the three big tents. The table checks
# that the diagram predicts, at three thresholds, exactly the b0 and b1 of the level sets counted
# directly (asserted).
#
# ## 6. Interactive: move the threshold yourself
#
# The HTML page written below (`figures/nb03_filtration_slider.html`, opens in any browser, no
# server needed) shows the map in grey with the superlevel set {x ≥ t} in red; drag the slider to
# move t. The uncoloured part is the sublevel set {x < t}, so one slider shows both sweeps.

# %%
slider_levels = np.linspace(1.0, 0.0, n_slider_steps)
slider = filtration_slider_figure(
    x, slider_levels, filtration="superlevel",
    title="Superlevel set {score ≥ t} in red; drag t from high to low",
)
html_path = write_html(slider, "nb03_filtration_slider")
print("wrote", html_path)
strip = filtration_strip(x, slider_levels, filtration="superlevel")
savefig(strip, "nb03_filtration_slider")  # the static picture of the slider, for the report
show_interactive(slider, strip)  # interactive in JupyterLab; the PNG in a static rendering
plt.close(strip)

# %% [markdown]
# **Take-aways.**
# * The sublevel and superlevel sweeps see every structure twice: a bright spot is a piece of the
#   superlevel sets and a hole of the sublevel sets; a ring adds a superlevel hole.
# * Real structures are the long bars / the points far from the diagonal; noise sits near the
#   diagonal. The Top-K features, turned into regions at a level inside their bars, are the
#   pseudo-labels, and no score threshold was chosen by hand.
# * n sets the granularity of the sweep; the structures' features move by at most half a level.
