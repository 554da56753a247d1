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
# # 02 · Multi-level filtration: sweeping a threshold both ways
#
# *Paper: Section IV-A and Fig. 4.*
#
# A single threshold turns a score map into one mask, and the choice of that threshold decides
# everything. TopoTTA instead looks at **all** thresholds at once. Sweep $t$ upwards and watch
# the **sublevel sets** $\{x \le t\}$ grow from the calmest pixels; sweep $t$ downwards and watch
# the **superlevel sets** $\{x \ge t\}$ grow from the most anomalous ones. Each set is a cubical
# complex (notebook 01), and **persistent homology** records when each piece or hole is *born*
# and when it *dies*.
#
# **What you will see**
# 1. persistence worked out by hand: the elder rule on a 1D signal and on a $3 \times 3$ image,
#    before any library call;
# 2. the two sweeps of a toy score map with a blob, a ring and a crack (the figure answering
#    Fig. 4);
# 3. the exact duality between the two sweeps (and the two places where it needs care: the
#    construction and the border);
# 4. persistence diagrams and barcodes of the toy map, and what the persistence of a point is;
# 5. persistent Betti numbers, and the Fundamental Lemma that reads them off the diagram;
# 6. the standard algorithm: reducing the filtered boundary matrix over $\mathbb{Z}_2$, which
#    gives every dimension, holes included, directly (checked against gudhi);
# 7. the Top-K most persistent features turned into regions (the pseudo-labels);
# 8. what the number of levels $n$ changes, and what it does not;
# 9. three ways to turn a diagram into a vector: Betti curves, landscapes and persistence images;
# 10. another filtration of an image: the signed distance to a mask, which sees shape where the
#     sublevel and superlevel sets see contrast;
# 11. an interactive slider over the threshold.
#
# **Exercises** follow sections 1, 3, 5, 6, 7 and 10. Each has a cell for your answer: replace
# `None` by it and run the cell, and `check` says whether it is right or gives a hint (it never
# shows the answer). The worked solution follows in a collapsed cell, which asserts that `check`
# accepts it.

# %% tags=["parameters"]
profile = "full"
seed = 0
size = 96  # the toy map is size x size pixels
levels = 256  # quantisation levels n used for the diagrams (the paper's default)
construction = "V"  # "V" (4-connected, the paper's text) or "T" (8-connected)
top_k = 3  # number of features turned into regions
alpha = 0.5  # where inside a bar the region of a feature is cut (0 gives the largest region)
level_grid = [4, 8, 16, 32, 64, 256]  # values of n compared in section 8
n_reduction_checks = 50  # random small images on which the reduction is checked against gudhi
n_slider_steps = 41  # steps of the interactive slider

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from gtda.diagrams import BettiCurve, PersistenceImage, PersistenceLandscape
from IPython.display import Markdown, display
from matplotlib.colors import TwoSlopeNorm

from topotta_lite.config import pin_threads
from topotta_lite.method import default_dims, feature_region, pseudo_label_mask, select_features
from topotta_lite.outputs import savefig, use_style, write_table
from topotta_lite.teaching import (
    TOY_ROLES,
    bottleneck,
    check,
    cite,
    describe_cell,
    diagram_points,
    draw_boundary_matrix,
    elder_rule,
    far_from_diagonal,
    feature_sites,
    filtered_complex,
    filtration_slider_figure,
    filtration_strip,
    fmt,
    gudhi_pairs,
    interior_components,
    overlay_mask,
    pairs_in_quadrant,
    persistent_betti_by_ranks,
    pieces_alive,
    plot_barcode,
    plot_diagram,
    plot_signal,
    plural,
    reduce_boundary,
    reduction_pairs,
    references,
    show_interactive,
    show_map,
    show_values,
    signed_distance,
    takeaways,
    toy_score_map,
    write_html,
)
from topotta_lite.topology import betti_numbers, cubical_persistence, quantise

pin_threads()  # one BLAS / OpenMP / torch thread: the results do not depend on the machine's cores

use_style()


def pairs_of(diagram, dim=0):
    """Sorted (birth, death) pairs of one dimension, essential deaths at the end of the range."""
    d = diagram.in_dim(dim)
    return sorted(zip(d.births.tolist(), d.deaths.tolist()))


def bars(triples, dim=0):
    """The sorted (birth, death) bars of one dimension from (dim, birth, death) triples."""
    return sorted((b, d) for k, b, d in triples if k == dim)


# %% [markdown]
# ## 1. Persistence by hand: the elder rule
#
# Take the 1D signal $3, 1, 4, 1, 5, 9, 2, 6$ (a row of eight pixels) and sweep $t$ upwards.
# A pixel enters the sublevel set when $t$ reaches its value. When it enters
#
# * touching no piece already there, a new piece is **born** at its value;
# * touching one piece, it joins it;
# * touching two pieces, they **merge**, and the **younger** one (born later) **dies** at the
#   current value; the elder survives. This is the **elder rule**.
#
# Each piece gives a bar from its birth to its death; the piece born first never dies (the
# **essential** class). By hand: the two pixels of value $1$ are born first (ties are broken by
# position: the left one is older), then the $2$. At $t = 4$ the pixel between the two $1$s
# joins them, so the right $1$ dies: bar $[1, 4)$. At $t = 9$ the peak joins the left part with
# the piece of the $2$: bar $[2, 9)$. The left $1$ lives for ever: bar $[1, \infty)$.
#
# The function `elder_rule` does exactly this with a dictionary of pieces, and records every
# step. The next cell prints its steps and compares its bars with the library's
# `cubical_persistence` and with gudhi (each on the signal as a $1 \times 8$ image).

# %%
signal = np.array([3, 1, 4, 1, 5, 9, 2, 6], dtype=float)
run = elder_rule(signal, "sublevel")
display(run.events.drop(columns="dies").rename(columns={"pixel": "position"}))
by_hand = sorted(zip(run.pairs["birth"], run.pairs["death"]))
library = cubical_persistence(signal[None, :], "sublevel", dims=[0])
ours = [(b, np.inf if e else d) for b, d, e in
        zip(library.births.tolist(), library.deaths.tolist(), library.essential)]
theirs = bars(gudhi_pairs(signal, "sublevel"))
print("bars by hand:       ", by_hand)
print("cubical_persistence:", sorted(ours))
print("gudhi:              ", theirs)
assert by_hand == sorted(ours) == theirs == [(1.0, 4.0), (1.0, np.inf), (2.0, 9.0)]

fig, axes = plt.subplots(1, 5, figsize=(16, 3.2), gridspec_kw={"width_ratios": [1, 1, 1, 1, 1.3]})
events = run.events
for ax, t in zip(axes[:4], (1, 3, 4, 9)):
    upto = events[events["value"] <= t]
    born = upto[upto["event"] == "birth"]["pixel"].tolist()
    merged = upto[upto["event"] == "merge"]["pixel"].tolist()
    plot_signal(ax, signal, threshold=t, births=born, deaths=merged,
                title=f"t = {t}: {upto['pieces'].iloc[-1]} piece(s)")
plot_barcode(run.diagram(), axes[4], legend=False,
             title="the barcode (sublevel H0)\narrow: the essential bar, it never dies")
fig.suptitle("The elder rule by hand: blue bars are the sublevel set {x ≤ t}; circles mark "
             "births, crosses the merges where the younger piece dies")
fig.tight_layout()
savefig(fig, "nb02_elder_rule_1d")
plt.show()
display(Markdown(
    f"The elder rule and the persistence it computes go back to "
    f"{cite('edelsbrunner2002topological')}; the textbook account is "
    f"{cite('edelsbrunner2010computational')}."))

# %% [markdown]
# **Reading the figure.** Each of the first four panels is the signal at one threshold (dashed
# red line); the pixels already in the sublevel set are blue. The last panel is the barcode: one
# bar per piece, from its birth to its death; the arrow marks the essential bar (drawn up to the
# end of the sweep). The barcode is the whole story of the sweep in one picture.
#
# ### A $3 \times 3$ image
#
# The same rule works on images; only "touching" changes (in the V construction, pixels touch
# when they share a side). Here is a $3 \times 3$ image with four dark corners and a bright
# centre. By hand: the corners $1$, $2$, $3$, $4$ are born one after the other. At $t = 5$ the
# left edge pixel joins the pieces of $2$ and $3$: the younger, $3$, dies (bar $[3, 5)$). At
# $t = 6$ the right edge joins $1$ and $4$: bar $[4, 6)$. At $t = 7$ the top edge joins the two
# remaining pieces, born at $1$ and $2$: bar $[2, 7)$. The piece of $1$ is essential.
#
# There is also a **hole**: at $t = 8$ all eight outer pixels are in, and they form a loop
# around the bright centre; the hole is filled when the centre enters at $t = 9$. So the H1
# barcode is the single bar $[8, 9)$. (The elder rule counts pieces only. Section 3 shows that
# the holes of one sweep are the pieces of the other sweep, which is how the library finds them;
# section 6 computes them directly, with the algorithm that works in every dimension.)

# %%
image = np.array([[2, 7, 1], [5, 9, 6], [3, 8, 4]], dtype=float)
run_img = elder_rule(image, "sublevel", "V")
by_hand_img = sorted(zip(run_img.pairs["birth"], run_img.pairs["death"]))
lib_img = cubical_persistence(image, "sublevel")
h1 = pairs_of(lib_img, 1)
assert by_hand_img == [(1.0, np.inf), (2.0, 7.0), (3.0, 5.0), (4.0, 6.0)]
assert bars(gudhi_pairs(image, "sublevel")) == by_hand_img
assert pairs_of(lib_img, 0) == sorted(zip(*[run_img.diagram().births, run_img.diagram().deaths]))
assert h1 == [(8.0, 9.0)] and bars(gudhi_pairs(image, "sublevel"), dim=1) == h1
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), gridspec_kw={"width_ratios": [1, 1, 1.4]})
show_values(axes[0], image, title="the image (values)", cmap="Greys_r")
show_values(axes[1], image, title="sublevel set at t = 8: a loop\naround the centre",
            cmap="Greys_r", highlight=image <= 8)
plot_barcode(lib_img, axes[2], title="barcode (library; equal to the hand computation)")
fig.tight_layout()
savefig(fig, "nb02_elder_rule_image")
plt.show()
display(run_img.events.drop(columns="dies"))

# %% [markdown]
# ### Exercise 1 · A sublevel barcode by hand
#
# Compute the sublevel barcode of the signal $2, 5, 1, 4, 3, 6, 0, 5$: a list of bars
# (birth, death), with `np.inf` as the death of the essential bar.

# %%
# Exercise 1 · your answer: a list of (birth, death) bars, e.g. [(b, d), ...]
answer = None
check("02.1", answer)

# %% jupyter={"source_hidden": true, "outputs_hidden": true} tags=["solution"]
# Solution to exercise 1: the elder rule, then gudhi.
solution = [(b, d) for b, d in zip(*elder_rule([2, 5, 1, 4, 3, 6, 0, 5], "sublevel")
                                   .pairs[["birth", "death"]].to_numpy().T)]
assert sorted(solution) == bars(gudhi_pairs([2, 5, 1, 4, 3, 6, 0, 5], "sublevel"))
assert sorted(solution) == [(0.0, np.inf), (1.0, 6.0), (2.0, 5.0), (3.0, 4.0)]  # as below
assert check("02.1", solution).correct
display(Markdown(
    "**Solution.** Minima $0$, $1$, $2$, $3$ are born in that order. At $t = 4$ the pass "
    "between $1$ and $3$ opens: $3$ dies, bar $[3, 4)$. At $t = 5$ the pass between $2$ and "
    "$1$: bar $[2, 5)$. At $t = 6$ the pass between the piece of $1$ and the piece of $0$: bar "
    "$[1, 6)$. The minimum $0$ lives for ever. Each minimum dies at the lowest pass that leads "
    "to an older (deeper) minimum."))

# %% [markdown]
# ### Exercise 2 · A superlevel barcode by hand
#
# Now the **superlevel** barcode of the lesson's signal $3, 1, 4, 1, 5, 9, 2, 6$: sweep $t$
# downwards; pixels enter from the highest value, a piece is born at a peak and dies when it
# merges into a piece with a higher peak. Write each bar as (birth, death) in the map's values
# (so birth $\ge$ death), and the essential bar's death as `np.inf`.

# %%
# Exercise 2 · your answer: a list of (birth, death) bars
answer = None
check("02.2", answer)

# %% jupyter={"source_hidden": true, "outputs_hidden": true} tags=["solution"]
# Solution to exercise 2: the elder rule on the way down, then gudhi.
solution = [(b, d) for b, d in zip(*elder_rule(signal, "superlevel")
                                   .pairs[["birth", "death"]].to_numpy().T)]
assert sorted(solution) == [(3.0, 1.0), (4.0, 1.0), (6.0, 2.0), (9.0, np.inf)]  # as below
assert bars(gudhi_pairs(signal, "superlevel")) == [(3.0, 1.0), (4.0, 1.0), (6.0, 2.0),
                                                   (9.0, -np.inf)]
assert check("02.2", solution).correct
display(Markdown(
    "**Solution.** Peaks $9$, $6$, $4$, $3$ are born in that order ($5$ joins the $9$). At "
    "$t = 2$ the valley between $9$ and $6$ fills: $6$ dies, bar $[6, 2)$. At $t = 1$ both "
    "remaining valleys fill: $3$ and $4$ die, bars $[3, 1)$ and $[4, 1)$. In a superlevel "
    "barcode births are *above* deaths."))

# %% [markdown]
# ## 2. The two sweeps of a score map (answering Fig. 4)
#
# Now a toy score map with the three kinds of structure defects produce: a **blob** (a compact
# bright spot), a **ring** (a bright loop around a calm centre: a hole) and a **crack** (a thin
# bright line, fainter than the rest), on a background with mild noise. The map is min-max
# normalised to $[0, 1]$ and rounded to $n$ levels (`levels`) before the sweeps.

# %%
psi, parts = toy_score_map((size, size), seed=seed)
x = quantise(psi, levels)  # min-max normalised to [0, 1], rounded to `levels` values
truth = parts["blob"] | parts["ring"] | parts["crack"]
peak = {k: float(x[parts[k]].max()) for k in ("blob", "ring", "crack")}
assert peak["crack"] < peak["ring"] < peak["blob"]

fig, axes = plt.subplots(1, 2, figsize=(10, 4.3))
show_map(axes[0], x, title=f"toy score map ({size}×{size}, {levels} levels)", vmin=0, vmax=1)
overlay_mask(axes[1], truth, background=x, color="#00e5ff", alpha=0.3,
             label="true structures")
for name, (r, c) in {"blob": (0.12, 0.27), "ring": (0.24, 0.7), "crack": (0.88, 0.3)}.items():
    axes[1].text(c * size, r * size, name, color="yellow", ha="center", fontsize=10,
                 fontweight="bold")
axes[1].set_title("where the blob, ring and crack are")
fig.tight_layout()
savefig(fig, "nb02_toy_map")
plt.show()
display(Markdown(
    f"Peak scores after normalisation: blob {fmt(peak['blob'], 2)}, ring {fmt(peak['ring'], 2)}, "
    f"crack {fmt(peak['crack'], 2)}. The crack is the faintest structure, the blob the "
    "brightest."))

# %% [markdown]
# For a threshold $t$, the sublevel set is $\{x \le t\}$ and the superlevel set $\{x \ge t\}$.
# As $t$ rises, sublevel sets grow (nested: each contains the previous ones); as $t$ falls,
# superlevel sets grow. Under each panel: $b_0$ = number of connected pieces, $b_1$ = number of
# holes, counted with the construction's connectivity by `topotta_lite.topology.betti_numbers`
# (the helper every notebook uses; it agrees with the exact computation of notebook 01).


# %%
ts_up = [0.12, 0.3, 0.5, 0.7, 0.92]
ts_down = ts_up[::-1]
fig, axes = plt.subplots(2, 5, figsize=(15, 7.2), layout="constrained")
sweep_rows = []
for j, t in enumerate(ts_up):
    m = x <= t
    b0, b1 = betti_numbers(m, construction)
    sweep_rows.append({"sweep": "sublevel", "t": t, "b0": b0, "b1": b1})
    overlay_mask(axes[0, j], m, background=x, color="#1f77b4", alpha=0.6, outline=False)
    axes[0, j].set_title(f"x ≤ {t:.2f}\nb0 = {b0}, b1 = {b1}")
for j, t in enumerate(ts_down):
    m = x >= t
    b0, b1 = betti_numbers(m, construction)
    sweep_rows.append({"sweep": "superlevel", "t": t, "b0": b0, "b1": b1})
    overlay_mask(axes[1, j], m, background=x, color="#d62728", alpha=0.6, outline=False)
    axes[1, j].set_title(f"x ≥ {t:.2f}\nb0 = {b0}, b1 = {b1}")
axes[0, 0].set_ylabel("sublevel sweep\n(t increases →)", fontsize=10)
axes[1, 0].set_ylabel("superlevel sweep\n(t decreases →)", fontsize=10)
fig.suptitle("Multi-level filtration of a score map: sublevel sets (blue, top) and superlevel sets "
             "(red, bottom); grey = the map")
savefig(fig, "fig04_multilevel_filtration")
plt.show()
sweep = pd.DataFrame(sweep_rows)
sub_rows = sweep[sweep["sweep"] == "sublevel"]
sup_rows = sweep[sweep["sweep"] == "superlevel"]
assert sub_rows["b0"].iloc[0] > sub_rows["b0"].iloc[-1]  # the calm pieces merge as t rises


def counts(rows):
    """'b0 = 1, 3, ... at t = 0.92, 0.70, ...' from rows of the sweep table."""
    return (", ".join(str(int(b)) for b in rows["b0"]) + " at t = "
            + ", ".join(fmt(t, 2) for t in rows["t"]))


last = sup_rows.iloc[-1]
display(Markdown(
    f"Pieces ($b_0$) of the sublevel sets: {counts(sub_rows)}. Pieces of the superlevel sets: "
    f"{counts(sup_rows)}. "
    + (f"At the last superlevel panel ($t$ = {fmt(last['t'], 2)}) the sweep has reached the "
       f"noisy background, whose bumps are {plural(int(last['b0']), 'separate piece')}: they "
       "merge into one piece only further down, and the whole grid, at the map's minimum, is one "
       "piece." if last["b0"] > sup_rows["b0"].iloc[-2] else
       "The superlevel pieces merge as $t$ falls; at the map's minimum the whole grid is one "
       "piece.")))

# %% [markdown]
# **Reading the figure.** Each panel is the map in grey with the current set coloured; read
# each row left to right as the sweep goes on (the sentence above gives the counts).
#
# * **Top row (sublevel, blue).** The calm background fills in first, in many small pieces that
#   merge ($b_0$ falls; the cell above checks it). The structures are what the blue set flows
#   *around*: once the background is connected, the blob, the ring and the crack are **holes**
#   in it, together with short-lived holes around noise bumps, and the calm centre of the ring
#   is a separate blue piece, cut off by the ring. Each structure's hole closes (dies) when $t$
#   reaches the structure's top: the crack first (it is the faintest), then the ring, then the
#   blob.
# * **Bottom row (superlevel, red).** The peaks appear first, as separate pieces: the blob, then
#   the ring, then the crack; the ring closes into a loop (a superlevel hole) until the sweep
#   reaches the calm level inside it; when the sweep reaches the background, its noise bumps
#   enter as many small pieces.
#
# The two rows see the same structures from opposite ends: a bright spot is a piece of one
# sweep and a hole of the other. The next section makes this exact.
#
# ## 3. Duality between the two sweeps, exactly
#
# Complements swap the two sweeps: the complement of $\{x \le t\}$ is $\{x > t\}$. And
# notebook 01 showed that the holes of a mask are the regions of its complement that do not
# touch the border, connected in the **other** construction's sense. Put together:
#
# > **Duality.** In 2D, the sublevel H1 diagram of $x$ in the V construction equals the
# > superlevel H0 diagram of $x$ in the **T** construction, births and deaths swapped, once
# > the pieces that touch the border die into the essential class as soon as they are born.
# > Concretely: surround $x$ with a frame of pixels brighter than its maximum (the frame is the
# > essential piece, and every piece touching the border merges into it on arrival); then
# > $\mathrm{Dgm}_1^{\mathrm{sub},V}(x) = \{(d, b) : (b, d) \in
# > \mathrm{Dgm}_0^{\mathrm{sup},T}(\text{framed } x), \text{ not essential}\}$.
# > The same holds with V and T exchanged.
#
# Two consequences a careful reader needs:
#
# * **The border.** A bright region that touches the border of the image is a superlevel piece,
#   but it is **not** a sublevel hole: the calm set cannot surround it. (With the frame, it
#   merges into the frame's essential piece as soon as it appears.)
# * **The construction.** With the same construction on **both** sweeps the counts can differ:
#   two bright pixels touching at a corner are two superlevel pieces in V (4-connected), but
#   the calm set around them, also in V, encloses them as **one** hole, because the holes of a
#   V set are 8-connected. In T it is the other way round: one piece, two holes.
#
# The cell below checks the statement on the toy map (whose structures stay away from the
# border) and shows both consequences on two tiny maps.

# %%
other = {"V": "T", "T": "V"}[construction]
framed = np.pad(x, 1, constant_values=x.max() + 1.0)
sub_h1 = pairs_of(cubical_persistence(x, "sublevel", construction=construction), 1)
sup_h0 = cubical_persistence(framed, "superlevel", construction=other, dims=[0])
swapped = sorted((d, b) for b, d, e in zip(sup_h0.births.tolist(), sup_h0.deaths.tolist(),
                                           sup_h0.essential) if not e)
assert sub_h1 == swapped
print(f"toy map: sublevel H1 ({construction}) has {len(sub_h1)} points; superlevel H0 "
      f"({other}) of the framed map, swapped, has {len(swapped)}: the same points.")

border_blob = np.zeros((6, 6))
border_blob[0:2, 0:2] = 1.0  # touches the border
border_blob[3:5, 3:5] = 0.8  # does not
diagonal = np.zeros((4, 4))
diagonal[1, 1] = diagonal[2, 2] = 1.0
duality_rows = []
for name, arr in (("border blob + inner blob", border_blob), ("diagonal pair", diagonal)):
    for c in ("V", "T"):
        duality_rows.append({
            "map": name, "construction": c,
            "superlevel H0 (finite + essential)": len(cubical_persistence(arr, "superlevel",
                                                                          construction=c,
                                                                          dims=[0])),
            "sublevel H1": len(cubical_persistence(arr, "sublevel", construction=c, dims=[1])),
            "bright pieces away from the border": interior_components(arr > 0.5, c),
        })
duality = pd.DataFrame(duality_rows)
write_table(duality, "nb02_duality")
display(duality)
counts_vt = {(r["map"], r["construction"]): (r["superlevel H0 (finite + essential)"],
                                            r["sublevel H1"]) for r in duality_rows}
assert counts_vt[("border blob + inner blob", "V")] == (2, 1)  # the border blob is no hole
assert counts_vt[("diagonal pair", "V")] == (2, 1)  # V on both sweeps: two pieces, one hole
assert counts_vt[("diagonal pair", "T")] == (1, 2)  # T on both: one piece, two holes
display(Markdown(
    f"This duality of sublevel and superlevel persistence for images is worked out by "
    f"{cite('garin2020duality')} and, for the V and T constructions, {cite('bleile2022dual')}."))

# %% [markdown]
# **Reading the table.** Columns: the number of superlevel H0 classes (bright pieces), of
# sublevel H1 classes (holes of the calm set), and of bright pieces that stay away from the
# border. The bright blob in the corner is a superlevel piece but not a sublevel hole. The
# diagonal pair is two pieces but one hole when both sweeps use V, and one piece but two holes
# when both use T; across constructions (pieces in V, holes in T, or the other way round) the
# counts agree, as the duality says.
#
# This is why TopoTTA reads **sublevel H1** and **superlevel H0** together: each is the dual
# view of the other, and they differ exactly at the border and on diagonal contacts.
#
# ### Exercise 3 · Predict the duality's exception
#
# A $6 \times 6$ map is zero everywhere except two bright $2 \times 2$ squares: one in the
# top-right corner (rows $0$-$1$, columns $4$-$5$) and one at rows $2$-$3$, columns $2$-$3$, so
# that the two touch at a corner only. In the V construction, how many sublevel H1 classes
# does it have?

# %%
# Exercise 3 · your answer: the number of sublevel H1 classes (V)
corner_squares = np.zeros((6, 6))
corner_squares[0:2, 4:6] = 1.0
corner_squares[2:4, 2:4] = 1.0
answer = None
check("02.3", answer)

# %% jupyter={"source_hidden": true, "outputs_hidden": true} tags=["solution"]
# Solution to exercise 3: the library, and the bright regions away from the border in T.
solution = len(cubical_persistence(corner_squares, "sublevel", construction="V", dims=[1]))
assert solution == interior_components(corner_squares > 0.5, "T") == 0  # as below
assert len(cubical_persistence(corner_squares, "superlevel", construction="V", dims=[0])) == 2
assert check("02.3", solution).correct
display(Markdown(
    "**Solution.** The pixels at $(2, 3)$ and $(1, 4)$ touch at a corner. In V the squares are "
    "still two bright pieces (two superlevel H0 classes), but the holes of the calm set are "
    "8-connected bright regions, so the two squares form **one** region, and it touches the "
    "border: no hole at all, the sublevel H1 diagram is empty. (Move the second square away "
    "from the corner and it becomes a hole.)"))

# %% [markdown]
# ## 4. Persistence diagrams and barcodes of the toy map
#
# A **barcode** draws each feature as a bar from birth to death; a **persistence diagram** draws
# it as a point (birth, death).
#
# **Persistence.** The persistence of a point $(b, d)$ is $d - b$, measured in the filtration's
# own order: how long the feature lives as $t$ sweeps. For a superlevel feature reported in the
# map's units, $b \ge d$ and its persistence is $b - d$. In the diagram the persistence is the
# vertical distance from the point to the diagonal; the **$L_\infty$ distance** to the diagonal,
# the one the bottleneck distance of notebook 03 uses, is half of it, $(d - b) / 2$: the nearest
# point of the diagonal is $((b + d) / 2, (b + d) / 2)$. So "within $\varepsilon$ of the
# diagonal" means persistence at most $2\varepsilon$.
#
# Long bars = points far from the diagonal = structures that survive a wide range of
# thresholds. We highlight the Top-K features (K = `top_k`) in the dimensions TopoTTA uses:
# sublevel H1, superlevel H0.

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
savefig(fig, "nb02_diagrams_barcodes")
plt.show()

# where each feature lives: a piece where it is born, a hole where it is filled
structures, rest = far_from_diagonal([d_sub, d_sup], parts)
write_table(structures, "nb02_structure_features")
display(structures.round(3))
assert len(structures) == len(TOY_ROLES) + 1  # every role, and the background's essential class
assert all(any(f.startswith(role) for f in structures["feature"]) for role in TOY_ROLES.values())
assert rest["persistence"].max() < structures["persistence"].min()  # a clear gap
display(Markdown(
    f"Far from the diagonal: {plural(len(structures), 'feature')}, each at a known place (the "
    f"table; persistence from {fmt(structures['persistence'].min(), 2)} to "
    f"{fmt(structures['persistence'].max(), 2)}). The other "
    f"{plural(len(rest), 'feature')} of the two diagrams all have persistence at most "
    f"{fmt(rest['persistence'].max(), 2)}: the noise near the diagonal, and small bumps on the "
    "ring (asserted: every one of them is shorter than every feature of the table)."))

# %% [markdown]
# **Reading the figure and the table.** Top: persistence diagrams, horizontal axis = birth
# score, vertical axis = death score, colour = homology dimension (blue H0 = pieces, orange H1 =
# holes). Sublevel features lie *above* the diagonal (born at a low score, die at a higher one);
# superlevel features lie *below* it. The triangle is the **essential** H0 class, the piece that
# never dies; by our convention its death is the end of the sweep (the map's maximum for
# sublevel, its minimum for superlevel), so that it can be ranked like the others. The black
# circles mark the Top-K. The cloud hugging the diagonal is the background noise: many
# features, all short-lived.
#
# Bottom: barcodes of the same features (only the longest per dimension), horizontal axis =
# score; the superlevel axis runs from high to low so that the sweep always goes left to right.
# Arrows mark essential bars.
#
# The table says where each long feature lives: a piece where it is born (its first pixel), a
# hole where it is filled (its last pixel). The long sublevel H1 bars are the blob, the ring
# and the crack as holes of the calm set; on the superlevel side, the same three are long H0
# bars, and the ring's hole is a long H1 bar. The long sublevel H0 bar is the ring's calm
# centre: a separate calm piece, born at its lowest score, that only merges with the background
# when $t$ reaches the lowest **pass** over the ring (the lowest point of the ring on the best
# path out). Section 7 turns the Top-K into regions.
#
# ## 5. Persistent Betti numbers and the Fundamental Lemma
#
# Notebook 01 defined the **persistent Betti number** $\beta_k^{s,t}$, for $s \le t$: the rank of
# the map $H_k(K_s) \to H_k(K_t)$ that the inclusion of the sublevel complex at $s$ into the one
# at $t$ induces, i.e. the number of independent k-dimensional classes that exist at $s$ and are
# still alive at $t$. With cycles $Z_k$ and boundaries $B_k$,
#
# $$\beta_k^{s,t} = \dim Z_k(K_s) - \dim\big(Z_k(K_s) \cap B_k(K_t)\big):$$
#
# the cycles of $K_s$, minus those that have become boundaries by time $t$. With $s = t$ it is
# the Betti number of $K_t$ (the Betti curves of section 9 are $t \mapsto \beta_k^{t,t}$).
#
# > **Fundamental Lemma of persistent homology.** $\beta_k^{s,t}$ is the number of points
# > $(b, d)$ of the k-dimensional diagram with $b \le s$ and $d > t$ (essential points count,
# > with $d = \infty$): the points in the upper-left quadrant whose corner is $(s, t)$.
#
# A class alive at $s$ and at $t$ is born at or before $s$ and dies after $t$, and the elder rule
# (or the reduction of section 6) makes this a count of points, one per class. The lemma runs
# both ways: the diagram gives every persistent Betti number, and the persistent Betti numbers
# give the diagram (the number of points at $(b, d)$ is
# $\beta^{b,d^-} - \beta^{b,d} - \beta^{b^-,d^-} + \beta^{b^-,d}$, where $b^-$ and $d^-$ are the
# levels just before $b$ and $d$). So the diagram loses nothing of the rank information; it is
# the same information, drawn compactly.
#
# **In pictures, for pieces.** $\beta_0^{s,t}$ is the number of pieces of the sublevel set at
# $t$ that contain a point of the sublevel set at $s$: pieces of $K_s$ that have merged by $t$
# count once. The figure counts them by labelling the two sets, and counts the diagram's points
# in the quadrant.

# %%
s_level, t_level = 0.12, 0.3  # two levels of the sublevel sweep (the first two panels of Fig. 4)
at_s, at_t = x <= s_level, x <= t_level
alive_labels, alive = pieces_alive(x, s_level, t_level, "sublevel", construction)
h0 = d_sub.in_dim(0)
deaths_inf = np.where(h0.essential, np.inf, h0.deaths)
in_quadrant = (h0.births <= s_level) & (deaths_inf > t_level)
assert alive == int(in_quadrant.sum())  # the Fundamental Lemma, on the toy map, for H0
fig, axes = plt.subplots(1, 3, figsize=(16, 4.9), gridspec_kw={"width_ratios": [1, 1, 1.1]})
overlay_mask(axes[0], at_s, background=x, color="#1f77b4", alpha=0.7, outline=False)
axes[0].set_title(f"K_s: x ≤ {s_level}\n{plural(betti_numbers(at_s, construction)[0], 'piece')}")
overlay_mask(axes[1], at_t & (alive_labels == 0), background=x, color="#bdbdbd", alpha=0.6,
             outline=False)
piece_colours = ["#08519c", "#31a354", "#e6550d", "#756bb1", "#dd1c77"]
for k in range(1, alive + 1):
    overlay_mask(axes[1], alive_labels == k, color=piece_colours[(k - 1) % len(piece_colours)],
                 alpha=0.7, outline=False)
axes[1].set_title(f"K_t: x ≤ {t_level}; its pieces that meet K_s, one colour\n"
                  f"each (grey: the others): β0(s, t) = {alive}")
plot_diagram(h0, axes[2], value_range=(-0.03, 1.03), legend=False,
             title=f"sublevel H0 diagram: {int(in_quadrant.sum())} points with\n"
                   f"birth ≤ {s_level} and death > {t_level} (the shaded quadrant)")
axes[2].fill_between([-0.03, s_level], t_level, 1.03, color="#fdd0a2", alpha=0.6, zorder=0)
axes[2].scatter(h0.births[in_quadrant], h0.deaths[in_quadrant], s=150, facecolors="none",
                edgecolors="#d62728", lw=1.5, zorder=6)
axes[2].axvline(s_level, color="#d94801", lw=0.8, ls=":")
axes[2].axhline(t_level, color="#d94801", lw=0.8, ls=":")
fig.suptitle("The Fundamental Lemma: the pieces of the sublevel set at s still alive at t are "
             "the diagram's points in the quadrant birth ≤ s, death > t")
fig.tight_layout()
savefig(fig, "nb02_fundamental_lemma")
plt.show()

# the lemma in every dimension, from the definition (ranks of cycles and boundaries over Z2)
rng = np.random.default_rng(seed)
lemma_rows = []
for trial in range(4):
    small = rng.integers(0, 5, size=(5, 5)).astype(float)
    diagram_small = reduction_pairs(small, "sublevel", construction)
    lv = np.unique(small)
    for s_ in lv:
        for t_ in lv[lv >= s_]:
            for dim in (0, 1):
                lemma_rows.append({
                    "image": trial, "s": s_, "t": t_, "dim": dim,
                    "beta by ranks": persistent_betti_by_ranks(small, s_, t_, dim, "sublevel",
                                                               construction),
                    "points in the quadrant": pairs_in_quadrant(diagram_small, s_, t_, dim)})
lemma = pd.DataFrame(lemma_rows)
write_table(lemma, "nb02_fundamental_lemma_checks")
assert (lemma["beta by ranks"] == lemma["points in the quadrant"]).all()
display(Markdown(
    f"On the toy map: the sublevel set at $s$ = {s_level} has "
    f"{plural(betti_numbers(at_s, construction)[0], 'piece')}; "
    f"{plural(alive, 'piece')} of the set at $t$ = {t_level} contain one of them, and the H0 "
    f"diagram has {plural(int(in_quadrant.sum()), 'point')} in the quadrant (asserted equal). "
    f"From the definition, with no diagram: on "
    f"{plural(lemma['image'].nunique(), 'random 5 × 5 image')}, every pair of levels $s \\le t$ "
    f"and both dimensions ({plural(len(lemma), 'case')}), $\\beta_k^{{s,t}}$ computed from the "
    f"ranks of cycles and boundaries equals the number of points in the quadrant (asserted). "
    f"The lemma and its inclusion-exclusion converse are in "
    f"{cite('edelsbrunner2010computational')}; {cite('zomorodian2005computing')} show why one "
    "reduction computes all the persistent Betti numbers at once."))

# %% [markdown]
# **Reading the figure.** Left: the sublevel set at $s$ (blue), many small calm pieces. Middle:
# the sublevel set at $t$; the pieces of it that contain a pixel of the left set are dark, the
# rest of it light. Right: the sublevel H0 diagram with the quadrant $b \le s$, $d > t$ shaded
# and its points circled: one point per dark piece. The pieces of $K_s$ that merged into the
# same dark piece are counted once, and those that died before $t$ are points outside the
# quadrant, below it.
#
# ### Exercise 4 · A persistent Betti number from a barcode
#
# The sublevel bars of the lesson's signal $3, 1, 4, 1, 5, 9, 2, 6$ are $[1, 4)$, $[1, \infty)$
# and $[2, 9)$ (section 1). What is $\beta_0^{2,4}$: how many independent classes of the
# sublevel set at $2$ survive to $4$, i.e. how many pieces of the sublevel set at $4$ contain a
# piece of the one at $2$?

# %%
# Exercise 4 · your answer: beta_0^{2,4} of the lesson's signal
answer = None
check("02.4", answer)

# %% jupyter={"source_hidden": true, "outputs_hidden": true} tags=["solution"]
# Solution to exercise 4: the points in the quadrant, the pieces by labelling, and the ranks.
solution = pairs_in_quadrant(reduction_pairs(signal), 2, 4, 0)
assert solution == pieces_alive(signal, 2, 4)[1] == persistent_betti_by_ranks(signal, 2, 4, 0)
assert solution == 2  # the explanation below
assert check("02.4", solution).correct
display(Markdown(
    "**Solution.** The quadrant $b \\le 2$, $d > 4$ holds $[1, \\infty)$ and $[2, 9)$, but not "
    "$[1, 4)$: that class dies exactly at $4$, when the pixel between the two $1$s joins them. "
    "So $\\beta_0^{2,4} = 2$. In pictures: at $t = 2$ there are three pieces (the two $1$s and "
    "the $2$); at $t = 4$ the two $1$s are one piece, and the $2$ is still separate."))

# %% [markdown]
# ## 6. The standard algorithm: reducing the filtered boundary matrix
#
# The elder rule handles pieces. Holes (and cavities in 3D) need linear algebra, and the
# algorithm every library builds on does all dimensions at once. It takes four steps.
#
# 1. **A filtered complex.** Give every cell of the complex of the image a value. In the V
#    construction a cell takes the **largest** value of its vertices (an edge enters when both
#    its pixels are in); in T, the **smallest** value of the pixels it is a face of. Sort the
#    cells by value, ties by dimension: a face never comes after the cells it bounds, so every
#    prefix of the order is a complex, and the prefix of the cells of value $\le t$ is the
#    sublevel complex $K_t$.
# 2. **The filtered boundary matrix** $D$: one row and one column per cell, both in that order;
#    column $j$ has a $1$ in row $i$ when cell $i$ is a face of cell $j$ (over $\mathbb{Z}_2$).
# 3. **Column reduction.** For a non-zero column $j$, $\mathrm{low}(j)$ is the row of its lowest
#    $1$. Go through the columns from left to right; while an earlier column $k < j$ has
#    $\mathrm{low}(k) = \mathrm{low}(j)$, add column $k$ to column $j$ (mod $2$, so the lowest
#    $1$ cancels and $\mathrm{low}(j)$ moves up, or the column becomes zero). At the end no two
#    non-zero columns share their low: the reduced matrix $R$.
# 4. **Reading the pairs.** If $\mathrm{low}(j) = i$, cell $i$ **created** a class that cell $j$
#    **kills**: a point $(\text{value}(i), \text{value}(j))$ of the diagram in the dimension of
#    cell $i$. A cell whose column is zero and that is nobody's low creates a class that never
#    dies: an essential class. Pairs of equal values (zero persistence) are dropped.
#
# Why it works: column $j$ of $R$ is the boundary of a chain (cell $j$ plus earlier cells), and
# a zero column means that chain is a cycle: cell $j$ closes a loop, creating a class. A column
# whose lowest $1$ sits at $i$ says that this chain's boundary, a cycle of cells up to $i$, has
# become a boundary when cell $j$ enters: the class that cell $i$ created dies, and by the
# left-to-right order it is the youngest such class, which is the elder rule in every dimension.
#
# Here is the algorithm on the $3 \times 3$ image of section 1, in the V construction: $9$
# vertices, $12$ edges and $4$ squares.

# %%
fc = filtered_complex(image, "sublevel", "V")
D = fc.boundary_matrix()
red = reduce_boundary(D)
fig, axes = plt.subplots(1, 2, figsize=(15, 7.8), layout="constrained")
draw_boundary_matrix(axes[0], D, fc.dims, title="D: the filtered boundary matrix")
draw_boundary_matrix(axes[1], red.reduced, fc.dims, low=red.low,
                     title="R: reduced; red frames: low(j), the pairs")
fig.suptitle("The standard algorithm on the 3×3 image (V construction). Tick colours: the cells' "
             "dimension (blue vertices, orange edges, green squares)")
savefig(fig, "nb02_boundary_reduction")
plt.show()
pair_rows = [{"creator i": i, "creator": describe_cell(fc.cells[i]), "killer j": j,
              "killer": describe_cell(fc.cells[j]), "dim": int(fc.dims[i]),
              "birth": fc.values[i], "death": fc.values[j]} for i, j in red.pairs()]
pair_rows += [{"creator i": i, "creator": describe_cell(fc.cells[i]), "killer j": None,
               "killer": "(never dies)", "dim": int(fc.dims[i]), "birth": fc.values[i],
               "death": np.inf} for i in red.unpaired()]
pairs_3x3 = pd.DataFrame(pair_rows)
write_table(pairs_3x3, "nb02_reduction_pairs_3x3")
display(pairs_3x3[pairs_3x3["death"] > pairs_3x3["birth"]])
got = reduction_pairs(image)
assert sorted(zip(got[got["dim"] == 0]["birth"], got[got["dim"] == 0]["death"])) == by_hand_img
assert list(zip(got[got["dim"] == 1]["birth"], got[got["dim"] == 1]["death"])) == h1
n_zero_pairs = int((pairs_3x3["death"] == pairs_3x3["birth"]).sum())
display(Markdown(
    f"The reduction made {plural(len(red.additions), 'column addition')} and found "
    f"{plural(len(red.pairs()), 'pair')} and "
    f"{plural(len(red.unpaired()), 'essential class', 'essential classes')}; "
    f"{plural(n_zero_pairs, 'pair')} have zero persistence (a cell killed by one entering at "
    f"the same value, dropped from the diagram). The others, shown in the table, are the elder "
    f"rule's bars of section 1 and the hole $[8, 9)$, here found directly as an H1 pair, an edge "
    f"that closes the loop and the square that fills it (asserted). The matrix formulation "
    f"follows {cite('zomorodian2005computing')}. Libraries speed it up without changing the "
    f"pairs: clearing ({cite('chen2011twist')}), the dual algorithm on cohomology, and discrete "
    f"Morse reductions of images ({cite('robins2011theory')}; {cite('wagner2012efficient')}); "
    f"{cite('otter2017roadmap')} survey them."))

# %% [markdown]
# **Reading the figure.** Both panels have one row and one column per cell, in filtration
# order; tick colours give each cell's dimension. Left, $D$: an edge's column holds its two
# vertices, a square's column its four edges. Right, $R$: after the reduction; each non-zero
# column's lowest $1$ is framed in red, and the frame's row and column are a pair (creator,
# killer). The zero columns are the cells that created a class.
#
# **Checked against gudhi, and against the duality route.** The library computes sublevel H1 of
# a 2D map through the duality of section 3 (holes of one sweep as pieces of the other). The
# reduction gets it directly. The cell below compares, on `n_reduction_checks` random small
# images with many tied values (both filtrations, both constructions): the reduction's pairs in
# every dimension with gudhi's, and its H1 pairs with the library's duality route.

# %%
rng = np.random.default_rng(seed + 1)
check_rows = []
for trial in range(n_reduction_checks):
    h, w = (int(v) for v in rng.integers(2, 8, size=2))
    small = rng.integers(0, 6, size=(h, w)).astype(float)  # few values: many ties
    for filt in ("sublevel", "superlevel"):
        for c in ("V", "T"):
            ours_red = reduction_pairs(small, filt, c)
            triples = [(int(k), float(b), float(d))
                       for k, b, d in ours_red[["dim", "birth", "death"]].to_numpy()]
            via_duality = cubical_persistence(small, filt, construction=c, dims=[1])
            check_rows.append({
                "image": trial, "shape": f"{h}x{w}", "filtration": filt, "construction": c,
                "pairs": len(triples),
                "equal to gudhi": triples == gudhi_pairs(small, filt, c),
                "H1 equal to the duality route": bars(triples, 1) == pairs_of(via_duality, 1),
            })
reduction_checks = pd.DataFrame(check_rows)
write_table(reduction_checks, "nb02_reduction_vs_gudhi")
assert reduction_checks["equal to gudhi"].all()
assert reduction_checks["H1 equal to the duality route"].all()
display(reduction_checks.groupby(["filtration", "construction"])
        .agg(images=("image", "size"), pairs=("pairs", "sum"),
             equal_to_gudhi=("equal to gudhi", "sum"),
             h1_equal_to_duality=("H1 equal to the duality route", "sum")).reset_index())
display(Markdown(
    f"On {plural(n_reduction_checks, 'random image')} (sides from two to seven pixels, "
    f"integer values with ties), in both filtrations and both constructions, the reduction's "
    f"pairs equal gudhi's in every case, and its H1 pairs equal the library's duality route "
    f"({plural(len(reduction_checks), 'comparison')}, "
    f"{plural(int(reduction_checks['pairs'].sum()), 'pair')}; "
    "asserted)."))

# %% [markdown]
# ### Exercise 5 · How many columns reduce to zero?
#
# Take the $2 \times 3$ image with rows $1, 4, 2$ and $5, 3, 6$, in the V construction ($6$
# vertices, $7$ edges, $2$ squares). Without running the algorithm: how many columns of the
# reduced matrix $R$ are zero? (Think about what each cell does: it creates a class, or it
# kills one.)

# %%
# Exercise 5 · your answer: the number of zero columns of R
image_2x3 = np.array([[1, 4, 2], [5, 3, 6]], dtype=float)
answer = None
check("02.5", answer)

# %% jupyter={"source_hidden": true, "outputs_hidden": true} tags=["solution"]
# Solution to exercise 5: count the zero columns of R, and count creators through the pairs.
fc_2x3 = filtered_complex(image_2x3)
red_2x3 = reduce_boundary(fc_2x3.boundary_matrix())
solution = int((red_2x3.reduced.sum(axis=0) == 0).sum())
assert solution == len(red_2x3.pairs()) + len(red_2x3.unpaired()) == (len(fc_2x3) + 1) // 2
assert (len(fc_2x3), solution) == (15, 8)  # the explanation below
assert check("02.5", solution).correct
display(Markdown(
    "**Solution.** Every cell either creates a class (its column reduces to zero) or kills one "
    "(its column keeps a low). Each pair matches one creator with one killer, and the grid is one "
    "piece with no hole, so exactly one creator is left over: the essential class. With "
    "$n = 6 + 7 + 2 = 15$ cells, $n = 2 \\cdot \\#\\text{pairs} + 1$ gives $7$ pairs and "
    "$7 + 1 = 8$ zero columns, whatever the values. Zero-persistence pairs count: most pairs "
    "of an image are of that kind."))

# %% [markdown]
# ## 7. From the Top-K features to regions (the pseudo-labels)
#
# A feature is turned into a **region**, not into a global threshold. For a superlevel H0
# feature born at $b$ (its peak) and dying at $d$, take the level $t = d + \alpha (b - d)$ inside
# its bar and keep the connected piece of $\{x > t\}$ that contains its peak. For a sublevel H1
# feature (a hole of the calm set, born at $b$, filled at $d$), keep the piece of $\{x > t\}$,
# $t = b + \alpha (d - b)$, that sits inside the hole, i.e. contains the pixel where it is
# filled. With $\alpha$ = `alpha` the level is in the middle of the bar.

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
savefig(fig, "nb02_topk_regions")
plt.show()
regions = pd.DataFrame(region_rows)
write_table(regions, "nb02_topk_regions")
display(regions)
found = {f: regions[regions["filtration"] == f]["structure"].tolist() for f in regions["filtration"]}
same_structures = len(set(map(tuple, found.values()))) == 1
display(Markdown(
    "Structures found, in rank order: "
    + "; ".join(f"{f}: {', '.join(s)}" for f, s in found.items())
    + (". Both filtrations find the same structures in the same order."
       if same_structures else ". The two filtrations do not agree here.")))

# %% [markdown]
# **Reading the figure.** The grey map with one coloured region per selected feature; the
# legend gives each feature's rank, birth and death, and the table names the true structure
# each region overlaps most (the sentence above is rendered from that table). The sublevel H1
# region of the ring is the ring itself (the part of the high set that fills the hole of the
# calm set), not its calm centre.
#
# The pseudo-label of one filtration is the union of its K regions
# (`topotta_lite.method.pseudo_label_mask`); notebook 04 fuses the two.
#
# **A consequence worth checking yourself.** With $K = 1$ the superlevel choice is always the
# essential class: its bar runs over the whole range of the map, so no other H0 bar is longer,
# and one of equal length would be born at a later pixel and rank after it. The superlevel Top-1
# region is therefore the piece of $\{x > t\}$ around the global maximum, whatever the diagram
# looks like, and the library skips the superlevel persistence pass in that case (TopoTTA's
# default). The information the diagram adds is in the sublevel H1 choice and in $K > 1$.
#
# ### Exercise 6 · A blob on the border
#
# A $32 \times 32$ map holds two smooth bright blobs on a zero background: blob A, of height
# $1$, centred **on** the top border (row $0$, column $10$), and blob B, of height $0.8$,
# centred inside (row $20$, column $20$). Which blob does the sublevel Top-1 region (H1) cover,
# and which the superlevel Top-1 region (H0)? Answer with a pair of letters, e.g. `("A", "A")`.

# %%
# Exercise 6 · your answer: (blob of the sublevel Top-1, blob of the superlevel Top-1)
rows, cols = np.indices((32, 32))
two_blobs = np.maximum(np.exp(-0.5 * (np.hypot(rows - 0, cols - 10) / 3.0) ** 2),
                       0.8 * np.exp(-0.5 * (np.hypot(rows - 20, cols - 20) / 3.0) ** 2))
answer = None
check("02.6", answer)

# %% jupyter={"source_hidden": true, "outputs_hidden": true} tags=["solution"]
# Solution to exercise 6: the Top-1 region of each filtration, and the blob it overlaps.
blob_a = np.hypot(rows - 0, cols - 10) <= 6
blob_b = np.hypot(rows - 20, cols - 20) <= 6
sub_ex = cubical_persistence(two_blobs, "sublevel", construction=construction)
sup_ex = cubical_persistence(two_blobs, "superlevel", construction=construction)
solution = []
for dg, dim in ((sub_ex, 1), (sup_ex, 0)):
    region = feature_region(two_blobs, select_features(dg, k=1, dims=[dim]), 0, alpha=alpha,
                            construction=construction)
    solution.append("A" if (region & blob_a).any() and not (region & blob_b).any() else
                    "B" if (region & blob_b).any() and not (region & blob_a).any() else "?")
solution = tuple(solution)
long_sub = int((sub_ex.in_dim(1).persistence > 0.5).sum())
long_sup = int((sup_ex.in_dim(0).persistence > 0.5).sum())
assert solution == ("B", "A") and (long_sub, long_sup) == (1, 2)  # the explanation below
assert check("02.6", solution).correct
display(Markdown(
    "**Solution.** The calm set cannot surround blob A, which touches the border, so A has no "
    "sublevel H1 class at all (duality, section 3): the one long sublevel H1 bar is blob B, and "
    "the sublevel Top-1 covers B. On the superlevel side both blobs are long H0 bars, and A is "
    "the essential class (the global maximum), which is always the superlevel Top-1. So the "
    "answer is (B, A): the two filtrations pick **different** structures, which is the "
    "situation the fusion of notebook 04 has to handle."))

# %% [markdown]
# ## 8. What the number of levels $n$ changes
#
# Before computing persistence the map is min-max normalised to $[0, 1]$ and rounded to $n$
# equally spaced levels. $n$ is a *granularity*, not a threshold: the sweep still covers the
# whole range. A coarse $n$ merges nearby values, so short noise features vanish (they fall into
# one level) and births and deaths snap to the grid.
#
# **What Lemma 1 (notebook 03) says here, and what it does not.** Rounding moves every
# normalised value by at most half a level step, $\varepsilon_n = 1 / (2(n - 1))$. The lemma then
# bounds the bottleneck distance between the diagram of the normalised map and that of the
# rounded map by $\varepsilon_n$: there is a *matching* of the two diagrams in which every point
# moves by at most $\varepsilon_n$ in each coordinate, and points within $\varepsilon_n$ of the
# diagonal in the $L_\infty$ distance, i.e. with persistence at most $2\varepsilon_n$, may be
# matched to the diagonal, i.e. **vanish**. It does not say that each point moves by that much
# and survives. And it covers the rounding only: the min-max normalisation itself rescales all
# values (an affine change, not a small one), which the lemma does not bound; it rescales every
# birth and death in the same way. The cell below measures the exact distance for each $n$.

# %%
normalised = (psi - psi.min()) / (psi.max() - psi.min())  # before rounding
unrounded = {(filt, dim): diagram_points(cubical_persistence(normalised, filt,
                                                             construction=construction), dim)
             for filt in ("sublevel", "superlevel") for dim in (0, 1)}
lvl_rows = []
sup_ref = pseudo_label_mask(psi, "superlevel", k=top_k, levels=max(level_grid), alpha=alpha,
                            construction=construction)
fig, axes = plt.subplots(2, len(level_grid), figsize=(2.7 * len(level_grid) + 1, 6.4),
                         layout="constrained", squeeze=False)
for j, n in enumerate(level_grid):
    xq = quantise(psi, n)
    ds = cubical_persistence(xq, "sublevel", construction=construction)
    du = cubical_persistence(xq, "superlevel", construction=construction)
    rounded = {"sublevel": ds, "superlevel": du}
    exact = max(bottleneck(unrounded[filt, dim], diagram_points(rounded[filt], dim))
                for filt in ("sublevel", "superlevel") for dim in (0, 1))
    m_sup = pseudo_label_mask(psi, "superlevel", k=top_k, levels=n, alpha=alpha,
                              construction=construction)
    inter, union = (m_sup & truth).sum(), (m_sup | truth).sum()
    same = (m_sup & sup_ref).sum() / max((m_sup | sup_ref).sum(), 1)
    lvl_rows.append({"n": n, "sublevel features": len(ds), "superlevel features": len(du),
                     "half step 1/(2(n-1))": 1 / (2 * (n - 1)),
                     "d_B(normalised, rounded), max over dims": exact,
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
savefig(fig, "nb02_levels_effect")
plt.show()
lvl = pd.DataFrame(lvl_rows)
write_table(lvl, "nb02_levels")
display(lvl)
assert (lvl["d_B(normalised, rounded), max over dims"] <= lvl["half step 1/(2(n-1))"] + 1e-12).all()
coarse, fine = lvl.iloc[0], lvl.iloc[-1]
ratio = lvl["d_B(normalised, rounded), max over dims"] / lvl["half step 1/(2(n-1))"]
iou_truth = lvl["Top-K mask IoU vs truth"]
display(Markdown(
    f"Measured: from n = {int(coarse['n'])} to n = {int(fine['n'])} the two diagrams grow from "
    f"{int(coarse['sublevel features'] + coarse['superlevel features'])} to "
    f"{int(fine['sublevel features'] + fine['superlevel features'])} features. The exact "
    f"bottleneck distance to the unrounded map uses at most {fmt(ratio.max(), 2)} of the "
    f"half-step allowance (asserted: never more than all of it). The superlevel pseudo-label's "
    f"IoU with the true structures ranges from {fmt(iou_truth.min(), 2)} (n = "
    f"{int(lvl.loc[iou_truth.idxmin(), 'n'])}) to {fmt(iou_truth.max(), 2)} (n = "
    f"{int(lvl.loc[iou_truth.idxmax(), 'n'])})."))

# %% [markdown]
# **Reading the figure and table.** Top row: the map rounded to $n$ levels (colour = level).
# Bottom row: the superlevel Top-K pseudo-label obtained at that $n$, with its overlap (IoU) with
# the true structures. The sentence above is rendered from the table: the number of features
# grows with $n$ (almost all of it background noise near the diagonal), and the distance to the
# unrounded diagram respects the half-step bound. A very coarse $n$ snaps each region's cut level
# to a coarse grid. The paper's Table VIII (notebook 09) measures the same trade-off on real
# segmentation scores.
#
# ## 9. Turning a diagram into a vector
#
# Diagrams are sets of points of varying size, awkward for machine learning. Three standard
# fixed-length summaries, computed here with **giotto-tda**:
#
# * the **Betti curve** $\beta_k(t) = \beta_k^{t,t}$: the number of k-dimensional features alive
#   at threshold $t$, i.e. the $b_0$ / $b_1$ of the sublevel (or superlevel) set at $t$ (exactly
#   the counts printed in the Fig. 4 panels);
# * the **persistence landscape**: each feature $(b, d)$ contributes a tent that rises from $b$
#   and falls to $d$, with its peak, half the persistence $(d - b)/2$, at the midpoint; the k-th
#   **layer** is the k-th highest tent at each $t$ (the first layer is the upper envelope of all
#   the tents);
# * the **persistence image**: each point is moved to (birth, persistence) coordinates, replaced
#   by a small Gaussian bump weighted by its persistence (so that the noise near the diagonal
#   weighs almost nothing), and the sum is sampled on a grid: a picture that any classifier can
#   read.
#
# The superlevel diagram is flipped ($t \mapsto 1 - t$) before giotto sees it, since giotto
# expects births before deaths; we flip the axis back for plotting. Notebook 03 compares the
# distances between such summaries with the bottleneck distance.


# %%
def giotto_array(diagram):
    """Diagram as giotto's (1, n, 3) array [birth, death, dim], superlevel mirrored by 1 - t."""
    b, d = diagram.births.astype(float), diagram.deaths.astype(float)
    if diagram.filtration == "superlevel":
        b, d = 1.0 - b, 1.0 - d
    return np.column_stack([b, d, diagram.dims.astype(float)])[None]


fig, axes = plt.subplots(1, 4, figsize=(19, 4.2))
curve_rows = []
for ax, dg in zip(axes[:2], (d_sub, d_sup)):
    arr = giotto_array(dg)
    bc = BettiCurve(n_bins=200).fit(arr)
    curves = bc.transform(arr)[0]
    flip = dg.filtration == "superlevel"
    for k, dim in enumerate(bc.homology_dimensions_):
        grid = bc.samplings_[dim]
        ts = 1.0 - grid if flip else grid
        ax.plot(ts, curves[k], color=f"C{int(dim)}", label=f"β{int(dim)}(t)")
    # cross-check: the curve equals direct counts on sublevel / superlevel sets at a few levels
    for t in (0.3, 0.5, 0.7):
        tq = (np.floor(t * (levels - 1)) + 0.5) / (levels - 1)  # between two levels: no ties
        m = x <= tq if not flip else x >= tq
        b0, b1 = betti_numbers(m, construction)
        if not flip:
            alive = (dg.births <= tq) & (dg.deaths > tq)
        else:
            alive = (dg.births >= tq) & (dg.deaths < tq)
        n0, n1 = int((alive & (dg.dims == 0)).sum()), int((alive & (dg.dims == 1)).sum())
        curve_rows.append({"filtration": dg.filtration, "t": round(tq, 4), "b0 (set)": b0,
                           "b0 (diagram)": n0, "b1 (set)": b1, "b1 (diagram)": n1})
    if flip:
        ax.invert_xaxis()
    ax.set_yscale("symlog", linthresh=1)
    ax.set_ylim(0, 2 * curves.max())
    ax.set_xlabel("threshold t" + (" (high to low)" if flip else ""))
    ax.set_ylabel("number of features alive (symlog)")
    ax.set_title(f"Betti curves, {dg.filtration}")
    ax.legend()
h1_arr = giotto_array(d_sub.in_dim(1))
pl = PersistenceLandscape(n_layers=3, n_bins=200)
land = pl.fit_transform(h1_arr)[0]
grid = pl.samplings_[1.0] if 1.0 in pl.samplings_ else pl.samplings_[1]
for layer in range(3):
    axes[2].plot(grid, land[layer], label=f"layer {layer + 1}")
axes[2].set_xlabel("threshold t")
axes[2].set_ylabel("landscape height (score units)")
axes[2].set_title("persistence landscape, sublevel H1 (3 highest layers)")
axes[2].legend()
pim = PersistenceImage(sigma=0.03, n_bins=60, weight_function=lambda p: p)
image_h1 = pim.fit_transform(h1_arr)[0, 0]
samp = pim.samplings_[1.0] if 1.0 in pim.samplings_ else pim.samplings_[1]
# giotto's image rows run from the highest persistence down, columns along the births
im = axes[3].imshow(image_h1, origin="upper", cmap="viridis", aspect="auto",
                    extent=[samp[0][0], samp[0][-1], samp[1][0], samp[1][-1]])
axes[3].set_xlabel("birth")
axes[3].set_ylabel("persistence")
axes[3].set_title("persistence image, sublevel H1\n(weight = persistence)")
fig.colorbar(im, ax=axes[3], fraction=0.046, pad=0.03)
fig.tight_layout()
savefig(fig, "nb02_vectorisations")
plt.show()
checks = pd.DataFrame(curve_rows)
write_table(checks, "nb02_betti_checks")
assert (checks["b0 (set)"] == checks["b0 (diagram)"]).all()
assert (checks["b1 (set)"] == checks["b1 (diagram)"]).all()
display(checks)
pers_axis = samp[1][::-1]  # persistence of each image row, top row first
brightest = float(pers_axis[np.unravel_index(np.argmax(image_h1), image_h1.shape)[0]])
longest_h1 = float(d_sub.in_dim(1).persistence.max())
display(Markdown(
    f"The persistence image's brightest pixel sits at persistence {fmt(brightest, 2)}, "
    + ("near the bottom: the many short noise features add up to more than the few long ones, "
       "even though each is weighted by its small persistence. An image (or a Wasserstein "
       "distance) sums over all features; the bottleneck distance looks only at the largest "
       "change." if brightest < 0.25 * longest_h1 else
       "high up: the long bars dominate the image here.")))
display(Markdown(
    f"Landscapes come from {cite('bubenik2015statistical')}, persistence images from "
    f"{cite('adams2017persistence')}; both are computed here with giotto-tda, "
    f"{cite('tauzin2021giotto')}."))

# %% [markdown]
# **Reading the figure.** First two panels: Betti curves, horizontal axis = threshold (the
# superlevel one reads from high to low), vertical axis = number of pieces ($\beta_0$) or holes
# ($\beta_1$) alive at that threshold (symmetric-log scale: linear near zero, logarithmic
# above). The noise makes $\beta_0$ shoot up where the background begins to enter; the plateaus
# at small counts are the structures. Third panel: the first three landscape layers of the
# sublevel H1 diagram. Each hole of the calm set contributes one tent, of height half its
# persistence; a layer is not a feature but the k-th highest tent at each $t$, so where the
# tents of the blob, the ring and the crack overlap, the first layer follows the tallest and
# the second and third the others. Fourth panel: the persistence image of
# the same diagram, horizontal axis = birth, vertical = persistence; the spots high up are the
# three structures, the spot near the bottom is the noise (the sentence above says which one is
# brighter in this run). The table checks that the diagram predicts, at three thresholds,
# exactly the $b_0$ and $b_1$ of the sublevel and superlevel sets counted directly (asserted):
# the Fundamental Lemma with $s = t$.
#
# ## 10. Another filtration: the signed distance to a mask
#
# Sublevel and superlevel sets read a map's **values**: a structure lives long when it is much
# brighter (or calmer) than what surrounds it. That is what TopoTTA needs, but it is blind to
# **shape**. A binary mask, such as a thresholded map or the pseudo-label of section 7, shows
# it best: its only levels are $0$ and $1$, so in its own superlevel filtration every piece is
# born at $1$ and dies at $0$. Every bar is the same, and nothing tells a thick blob from a thin
# crack.
#
# The **signed distance** to a mask $M$ turns it into a filtration that reads geometry:
#
# $$s(p) = \begin{cases} -\operatorname{dist}(p, \text{outside } M) & p \in M, \\
#          +\operatorname{dist}(p, M) & p \notin M, \end{cases}$$
#
# with Euclidean distances between pixel centres. Its sublevel set at $t < 0$ is $M$ eroded (the
# pixels deeper than $|t|$ inside it), at $t = 0$ it is $M$, at $t > 0$ it is $M$ grown by a disc
# of radius $t$. So, in its sublevel diagram:
#
# * a piece of $M$ is **born at minus its depth** (how far its innermost pixel is from the
#   outside): thick pieces early, a line one pixel wide at $-1$;
# * two pieces **merge at about half the gap** between them;
# * a hole **dies at its depth** (how far its innermost pixel is from $M$), so large holes are
#   long bars; and a ring broken by a small gap still has a hole, born when the growing mask
#   closes the gap.
#
# It is one of several image filtrations beyond the map's own values: a **height** filtration
# (distance along a direction) and a **radial** one (distance from a point) read position, a
# **density** filtration reads how crowded the mask is. The cell below applies the signed
# distance to the superlevel pseudo-label of section 7, then to the true ring with a small gap
# cut into it.

# %%
mask_sd = pseudo_label_mask(psi, "superlevel", k=top_k, levels=levels, alpha=alpha,
                            construction=construction)
sd = signed_distance(mask_sd)
d_sd = cubical_persistence(sd, "sublevel", construction=construction)
sd_sites = feature_sites(d_sd, parts)
sd_best = sd_sites.loc[sd_sites[sd_sites["site"] != "background"]
                       .groupby(["dim", "site"])["persistence"].idxmax()]
depth = {r["site"]: -r["birth"] for _, r in sd_best[sd_best["dim"] == 0].iterrows()}
hole_depth = float(sd_best[(sd_best["dim"] == 1) & (sd_best["site"] == "ring_hole")]["death"]
                   .iloc[0])
assert set(depth) == {"blob", "ring", "crack"}  # one long piece per structure
# the mask's own (binary) superlevel filtration: every bar is [1, 0], so nothing ranks them
d_binary = cubical_persistence(mask_sd.astype(float), "superlevel", construction=construction)
assert set(d_binary.persistence.round(12)) == {1.0}

# a ring broken by a gap two pixels wide: no hole in the mask, a hole in the distance filtration
ring_row, ring_col = np.argwhere(parts["ring_hole"]).mean(axis=0).round().astype(int)
broken = parts["ring"].copy()
broken[:ring_row, ring_col - 1:ring_col + 1] = False
sd_broken = signed_distance(broken)
d_broken = cubical_persistence(sd_broken, "sublevel", construction=construction)
h1_broken = d_broken.in_dim(1)
k_long = int(np.argmax(h1_broken.persistence))
assert betti_numbers(parts["ring"], construction)[1] == 1
assert betti_numbers(broken, construction)[1] == 0
assert feature_sites(h1_broken, parts)["site"].iloc[k_long] == "ring_hole"

fig, axes = plt.subplots(2, 3, figsize=(16, 10.4))
for row, (mask, dist, dg, name) in enumerate(((mask_sd, sd, d_sd, "the superlevel pseudo-label"),
                                               (broken, sd_broken, d_broken,
                                                "the true ring, a gap cut in it"))):
    overlay_mask(axes[row, 0], mask, background=x, color="#00e5ff", alpha=0.45)
    axes[row, 0].set_title(f"mask: {name}\nb0 = {betti_numbers(mask, construction)[0]}, "
                           f"b1 = {betti_numbers(mask, construction)[1]}")
    im = axes[row, 1].imshow(dist, cmap="RdBu_r",
                             norm=TwoSlopeNorm(0.0, float(dist.min()), float(dist.max())))
    axes[row, 1].contour(mask, levels=[0.5], colors="k", linewidths=0.8)
    axes[row, 1].set_xticks([])
    axes[row, 1].set_yticks([])
    axes[row, 1].set_title("signed distance (pixels): blue inside, red outside")
    fig.colorbar(im, ax=axes[row, 1], fraction=0.046, pad=0.03)
    plot_diagram(dg, axes[row, 2], title="its sublevel diagram")
    axes[row, 2].set_xlabel("birth (pixels)")
    axes[row, 2].set_ylabel("death (pixels)")
for _, r in sd_best.iterrows():
    axes[0, 2].annotate(r["site"].replace("_", " "), (r["birth"], r["death"]), fontsize=9,
                        xytext=(6, -10), textcoords="offset points")
axes[1, 2].annotate("the ring's hole", (h1_broken.births[k_long], h1_broken.deaths[k_long]),
                    fontsize=9, xytext=(6, -10), textcoords="offset points")
fig.suptitle("The signed distance filtration sees shape: depth of each piece, size of each hole, "
             "a ring closed across a small gap")
fig.tight_layout()
savefig(fig, "nb02_signed_distance")
plt.show()
sd_table = sd_best.assign(feature=[f"{s.replace('_', ' ')} (H{d})" for s, d in
                                   zip(sd_best["site"], sd_best["dim"])])
write_table(sd_table[["feature", "birth", "death", "persistence", "essential"]],
            "nb02_signed_distance")
display(sd_table[["feature", "birth", "death", "persistence", "essential"]].round(2))
thinnest = min(depth, key=depth.get)
display(Markdown(
    f"In the mask's own superlevel filtration all {plural(len(d_binary), 'bar')} have the same "
    f"length (asserted): the superlevel sets of a mask cannot rank its pieces. The signed "
    f"distance does, by depth (in pixels; a piece is born at minus its depth): the blob "
    f"{fmt(depth['blob'], 1)}, the ring {fmt(depth['ring'], 1)}, the crack "
    f"{fmt(depth['crack'], 1)}, so the thinnest piece is the {thinnest}. The ring's hole dies "
    f"at {fmt(hole_depth, 1)} pixels, the distance from its innermost pixel to the mask. With "
    f"a gap cut into the true ring, the mask has no hole at all "
    f"($b_1$ = 0), but the distance filtration still has one: born at "
    f"{fmt(h1_broken.births[k_long], 1)} pixels, when the growing mask closes the gap, and dying "
    f"at {fmt(h1_broken.deaths[k_long], 1)} (asserted: it is filled inside the ring's hole). "
    f"The image filtrations of giotto-tda, used by {cite('garin2019reading')}, include this one; "
    f"height filtrations in every direction make up the persistent homology transform of "
    f"{cite('turner2014persistent')}."))

# %% [markdown]
# **Reading the figure.** Top: the pseudo-label over the map, its signed distance (blue inside,
# red outside, black line: the mask's edge) and the sublevel diagram of the signed distance, in
# pixels, with the most persistent feature of each structure named. Pieces are born below zero
# (inside the mask), at minus their depth; the essential class, the deepest piece, dies at the
# end of the range. Bottom: the same for the true ring with a gap cut into its top. The mask's
# own topology has no hole, but the signed distance sees a loop that is closed after growing by
# about half the gap's width and filled much later: a ring with a crack in it.
#
# **What it does not see.** The signed distance of a mask has forgotten the scores: a faint and a
# bright structure of the same shape get the same bars. The two filtrations answer different
# questions (how much brighter? how thick, how wide a hole?), which is why a pseudo-label is
# read with the map's filtrations, and its shape, if needed, with this one.
#
# ### Exercise 7 · When is a square ring's hole filled?
#
# A $13 \times 13$ mask holds a square ring: the border of the $9 \times 9$ square at rows and
# columns $2$ to $10$, one pixel thick, around a $7 \times 7$ hole. In the signed-distance
# filtration (sublevel, V), at which $t$ does its H1 class die?

# %%
# Exercise 7 · your answer: the death of the square ring's H1 class (in pixels)
square_ring = np.zeros((13, 13), dtype=bool)
square_ring[2:11, 2:11] = True
square_ring[3:10, 3:10] = False
answer = None
check("02.7", answer)

# %% jupyter={"source_hidden": true, "outputs_hidden": true} tags=["solution"]
# Solution to exercise 7: the deepest pixel of the hole, and the library's diagram.
hole = np.zeros_like(square_ring)
hole[3:10, 3:10] = True
solution = float(signed_distance(square_ring)[hole].max())
assert solution == float(cubical_persistence(signed_distance(square_ring), "sublevel",
                                             construction="V", dims=[1]).deaths[0])
assert solution == 4.0  # the explanation below
assert check("02.7", solution).correct
display(Markdown(
    "**Solution.** The sublevel set at $t > 0$ is the ring grown by a disc of radius $t$. The "
    "last pixel of the hole to be covered is its centre, at $(6, 6)$, whose nearest wall pixels "
    "are $4$ pixels away, e.g. $(2, 6)$. So the hole dies at $t = 4$: its depth, not its width "
    "($7$)."))

# %% [markdown]
# ## 11. Interactive: move the threshold yourself
#
# The HTML page written below (`nb02_filtration_slider.html` in the figures folder; it opens
# in any browser, no server needed) shows the map in grey with the superlevel set $\{x \ge t\}$
# in red; drag the slider to move $t$. The uncoloured part is the sublevel set $\{x < t\}$, so
# one slider shows both sweeps.

# %%
slider_levels = np.linspace(1.0, 0.0, n_slider_steps)
slider = filtration_slider_figure(
    x, slider_levels, filtration="superlevel",
    title="Superlevel set {score ≥ t} in red; drag t from high to low",
)
html_path = write_html(slider, "nb02_filtration_slider")
strip = filtration_strip(x, slider_levels, filtration="superlevel")
savefig(strip, "nb02_filtration_slider")  # the static picture of the slider, for the report
show_interactive(slider, strip)  # interactive in JupyterLab; the PNG in a static rendering
plt.close(strip)

# %% [markdown]
# ## Take-aways

# %%
display(Markdown(takeaways([
    "Persistence is the elder rule applied to a sweep: a piece is born at a local minimum (or "
    "maximum, for the superlevel sweep) and dies when it merges into an older one; the "
    "by-hand bars equal the library's and gudhi's on the signal and on the 3×3 image.",
    "The persistence of a point (b, d) is d - b in the sweep's own order; its L∞ distance to "
    "the diagonal is half of it, so 'within ε of the diagonal' means persistence at most 2ε.",
    "The two sweeps are dual: sublevel H1 in one construction is superlevel H0 in the other, "
    f"once the border is taken care of (checked on the toy map: {plural(len(sub_h1), 'point')} "
    "on each side). With the same construction on both sweeps, or for structures touching the "
    "border, the counts differ.",
    f"On the toy map, {plural(len(structures), 'feature')} of the two diagrams lie far from the "
    f"diagonal, each at a known place (the blob, the ring, the crack, the ring's hole and calm "
    f"centre, and the two essential classes), with persistence at least "
    f"{fmt(structures['persistence'].min(), 2)}; the other {plural(len(rest), 'feature')} have "
    f"persistence at most {fmt(rest['persistence'].max(), 2)}. The Top-K regions found "
    + ("the same structures in both filtrations." if same_structures else "different "
       "structures in the two filtrations."),
    "A persistent Betti number β^{s,t} counts the classes alive from s to t; the Fundamental "
    "Lemma reads it off the diagram as the points with birth ≤ s and death > t (checked from "
    f"the ranks of cycles and boundaries in {plural(len(lemma), 'case')}).",
    "The standard algorithm, column reduction of the filtered boundary matrix over Z2, gives "
    "every dimension directly; its pairs equal gudhi's on "
    f"{plural(n_reduction_checks, 'random image')}, and its H1 equals the duality route.",
    "The number of levels n sets the granularity of the sweep: rounding moves the diagram by "
    "at most half a level step in bottleneck distance (points may vanish), and min-max "
    "normalisation is a rescaling outside the lemma.",
    "Betti curves, landscapes and persistence images turn a diagram into a vector; only the "
    "diagram itself carries the cells that TopoTTA turns into regions.",
    f"The signed distance to a mask reads shape, not contrast: it ranks the pseudo-label's "
    f"pieces by depth (the {thinnest} is the thinnest) and still sees the ring's hole when a "
    "gap is cut into the ring, where the mask's own topology sees none.",
])))

# %%
display(Markdown(references(
    "zia2026topotta", "edelsbrunner2010computational", "edelsbrunner2002topological",
    "zomorodian2005computing", "otter2017roadmap", "garin2020duality", "bleile2022dual",
    "chen2011twist", "wagner2012efficient", "robins2011theory", "bubenik2015statistical",
    "adams2017persistence", "turner2014persistent", "garin2019reading", "gudhi",
    "tauzin2021giotto",
)))
