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
# # 04 · Fusing the two pseudo-labels: the Euler-aware intersection (EAI)
#
# *Paper: Section IV-A, Eq. 8-9. The paper describes EAI in words: start from the intersection,
# grow it inside the union just enough to restore the Euler characteristic. The formula below is
# our reading of that description.*
#
# Notebook 02 produced two pseudo-label masks from one score map: $M_{sub}$ from the sublevel sweep
# and $M_{sup}$ from the superlevel sweep. They mostly agree, but not pixel for pixel. How should
# they be combined into one?
#
# * the **union** $U = M_{sub} \cup M_{sup}$ keeps everything either sweep found (generous, may
#   over-segment);
# * the **intersection** $I = M_{sub} \cap M_{sup}$ keeps only what both agree on (strict), but a
#   thin part where the two masks disagree by a pixel can **cut a piece in two**, or a single
#   stray pixel can **punch a hole**: the intersection may have a different topology from the
#   union (and sometimes from both masks);
# * an **IoU-style** rule takes the union where the masks agree well (IoU at least `0.5`, per
#   connected piece) and the intersection elsewhere; it looks at overlap, not at topology;
# * the **Euler-aware intersection (EAI)** starts from $I$ and grows it *inside $U$*, just
#   enough to get back the Euler characteristic $\chi$ = (pieces) − (holes) of the union.
#
# **EAI, precisely** (our reading): candidates $M_0 = I$, then $I$ with the holes that $U$ does
# not have filled, then repeated geodesic dilations (grow by one pixel, cut back to $U$, fill
# such holes again) until nothing changes. Pick the candidate that minimises
#
# $$\mathrm{cost}(M_j) = \frac{|M_j \setminus I|}{|\Omega|} + \lambda \, |\chi(M_j) - \chi(U)|,$$
#
# i.e. the fraction of the image added to $I$, plus $\lambda$ times the topological error.
# $\lambda = 0$ returns $I$; a large $\lambda$ restores $\chi(U)$ whenever some candidate reaches
# it. When $I$ is empty although $U$ is not (the two sweeps found different things), there is
# nothing to grow: EAI then returns a **fallback**, by default the sublevel mask (section 5).
#
# **What EAI does not promise.** Matching $\chi = b_0 - b_1$ does not mean matching $b_0$ and
# $b_1$ (notebook 01, "what $\chi$ cannot see"): a candidate with one piece too many *and* one
# hole too many has the right $\chi$. Exercise 2 builds such a case. And section 4 proves that
# at the paper's default, one feature per sweep ($K = 1$), the two masks are nested or disjoint,
# so that EAI has almost nothing to do; section 5 measures how often it falls back on the
# embedded benchmark.

# %% tags=["parameters"]
profile = "full"
seed = 0
case_size = 40  # side of the hand-made mask pairs
map_size = 96  # side of the toy score map
lam = 0.01  # EAI weight of the Euler term (the paper's default)
top_k = 3  # features per filtration for the score-map case
construction = "V"
lambda_grid = [0.0, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 1.0]
n_random_maps = 150  # random smooth maps of the laminarity check (section 4)
random_map_size = 64
topk_values = [1, 2, 3]  # features per sweep compared in sections 4 and 5
dataset = "embedded-2d"  # section 5: how often EAI falls back on this benchmark
size = "full"  # embedded benchmark size: "smoke" | "quick" | "full"
data_root = None  # a real dataset root; then `dataset` names it
activity_classes = None  # None: every class of the dataset
activity_scorers = ["patchcore"]

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from matplotlib.ticker import MaxNLocator
from scipy import ndimage as ndi

from topotta_lite.config import pin_threads
from topotta_lite.data import resolve_classes
from topotta_lite.experiments import score_bundle
from topotta_lite.method import eai_trace, fuse, pseudo_label_mask
from topotta_lite.operators import TopoTTA
from topotta_lite.outputs import savefig, use_style, write_table
from topotta_lite.teaching import (
    bullets,
    check,
    cite,
    fmt,
    fusion_cases,
    fusion_outcome,
    library_connectivities,
    mask_relation,
    pieces_laminar,
    plural,
    references,
    smooth_random_map,
    subset_note,
    takeaways,
    toy_score_map,
)
from topotta_lite.teaching import exercises_04 as ex04
from topotta_lite.topology import betti_numbers, connectivity_structure, euler_characteristic

pin_threads()  # one BLAS / OpenMP / torch thread: the results do not depend on the machine's cores

use_style()


def topology(mask):
    """(b0, b1, chi) of a 2D mask in the chosen construction."""
    b0, b1 = betti_numbers(mask, construction)
    return b0, b1, euler_characteristic(mask, construction)


# %% [markdown]
# ## 1. Four cases where the intersection's topology differs from the union's
#
# Three hand-made pairs show each failure in isolation, and the fourth comes from a real pipeline
# run: the Top-K sublevel and superlevel pseudo-labels of the toy score map of notebook 02.
#
# * **broken bar**: each mask misses a notch on a different side of a bar, at the same places;
#   each mask is one piece, their intersection is cut into three;
# * **pinholes**: each mask has a one-pixel hole (score noise) at a different place; the union
#   has no hole, the intersection has two;
# * **ring gap**: one mask's ring has a short gap; the intersection *is* that mask (an open arc),
#   and the union's hole is lost;
# * **score map**: on the toy map the two sweeps cut the structures at slightly different
#   levels; the table and the sentences below say what the intersection inherits.

# %%
cases = dict(fusion_cases(case_size))
psi, parts = toy_score_map((map_size, map_size), seed=seed)
m_sub = pseudo_label_mask(psi, "sublevel", k=top_k, construction=construction)
m_sup = pseudo_label_mask(psi, "superlevel", k=top_k, construction=construction)
cases["score map (toy)"] = (m_sub, m_sup)

methods = ["intersection", "iou", "eai", "union"]
method_names = {"intersection": "intersection I", "iou": "IoU-style", "eai": f"EAI (λ={lam:g})",
                "union": "union U"}
rows = []
results = {}
for name, (a, b) in cases.items():
    chi_target = euler_characteristic(a | b, construction)
    for label, m in [("M_sub", a), ("M_sup", b)] + [
        (method_names[k], fuse(a, b, method=k, lam=lam, construction=construction))
        for k in methods
    ]:
        b0, b1, chi = topology(m)
        results[(name, label)] = m
        rows.append({"case": name, "mask": label, "pixels": int(m.sum()), "b0": b0, "b1": b1,
                     "chi": chi, "chi(U)": chi_target,
                     "pixels added to I": int((m & ~(a & b)).sum())})
summary = pd.DataFrame(rows)
write_table(summary, "nb04_fusion_summary")
eai_ok = summary[(summary["mask"] == method_names["eai"]) & (summary["case"] != "score map (toy)")]
assert (eai_ok["chi"] == eai_ok["chi(U)"]).all(), "EAI should restore chi(U) on the hand-made cases"
toy = summary[summary["case"] == "score map (toy)"].set_index("mask")["chi"]
print(f"score map: chi(I) = {toy['intersection I']}, chi(U) = {toy['union U']}, "
      f"chi(EAI) = {toy[method_names['eai']]}")
display(summary)


def describe_case(name, a, b):
    """One rendered sentence: how I differs from U, and whether I is simply one of the inputs."""
    inter, union = a & b, a | b
    ti, tu = topology(inter), topology(union)
    same_as = [label for label, m in (("M_sub", a), ("M_sup", b)) if np.array_equal(inter, m)]
    text = (f"**{name}**: I has (b0, b1) = ({ti[0]}, {ti[1]}), U has ({tu[0]}, {tu[1]})"
            + (f"; I equals {' and '.join(same_as)}" if same_as else "; I equals neither input"))
    labels, n = ndi.label(inter, structure=connectivity_structure(2, construction))
    if ti[0] > tu[0] and n:
        sizes = np.bincount(labels.ravel())[1:]
        text += (f"; its {plural(n, 'piece')} have {', '.join(str(int(v)) for v in sorted(sizes))} "
                 "pixels")
    return text + "."


case_sentences = [describe_case(name, a, b) for name, (a, b) in cases.items()]
n_equal = sum("I equals M_" in t for t in case_sentences)
display(Markdown(bullets(case_sentences) + f"\n\nIn {n_equal} of the {len(cases)} cases the "
                 "intersection is simply one of the two inputs (the other input contains it)."))
eai_betti = {name: topology(results[(name, method_names["eai"])])[:2] for name in cases}
union_betti = {name: topology(results[(name, "union U")])[:2] for name in cases}

# %%
columns = ["M_sub", "M_sup"] + [method_names[k] for k in methods]
fig, axes = plt.subplots(len(cases), len(columns), figsize=(2.35 * len(columns), 2.6 * len(cases)),
                         layout="constrained")
for i, (name, (a, b)) in enumerate(cases.items()):
    crop = (slice(None), slice(None))
    if name.startswith("score map"):  # zoom on the blob, where the masks disagree
        crop = (slice(int(0.14 * map_size), int(0.44 * map_size)),
                slice(int(0.12 * map_size), int(0.42 * map_size)))
    inter = (a & b)[crop]
    for j, col in enumerate(columns):
        m = results[(name, col)][crop]
        ax = axes[i, j]
        img = np.zeros(m.shape + (3,))
        img[m] = (0.2, 0.45, 0.85)
        img[m & ~inter] = (0.95, 0.6, 0.1) if col not in ("M_sub", "M_sup") else (0.2, 0.45, 0.85)
        ax.imshow(img + (~m)[..., None] * 0.97, interpolation="nearest")
        b0, b1, chi = topology(results[(name, col)])
        ax.set_title(f"{col}\nb0={b0} b1={b1} χ={chi}", fontsize=8.5)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[i, 0].set_ylabel(name, fontsize=10)
fig.suptitle("Fusing two masks (rows: cases). Blue: pixels of I (or of the mask itself); "
             "orange: pixels a fusion adds to I. Titles: pieces b0, holes b1, χ = b0 − b1")
savefig(fig, "nb04_fusion_cases")
plt.show()
added = summary.set_index(["case", "mask"])["pixels added to I"]
display(Markdown(bullets(
    f"**{name}**: EAI adds {added[(name, method_names['eai'])]} pixels, the IoU-style rule "
    f"{added[(name, 'IoU-style')]}, the union {added[(name, 'union U')]}; EAI's (b0, b1) = "
    f"{eai_betti[name]} " + ("equals" if eai_betti[name] == union_betti[name] else "differs from")
    + f" the union's {union_betti[name]}."
    for name in cases)))

# %% [markdown]
# **Reading the figure.** One row per case, one column per mask: the two inputs, then the four
# fusions. Blue = pixels that belong to the intersection I (for the input columns: the mask itself);
# orange = pixels a fusion *adds* to I. Titles give the pieces (b0), holes (b1) and χ of the whole
# mask (for the score-map row the panels zoom on the blob, but the counts are for the whole map).
#
# * The **intersection** differs from the union's topology in every row (the sentences under
#   the table give the counts, and say when $I$ is just one of the inputs).
# * The **IoU-style** rule takes the union on pieces where the two masks overlap a lot, and the
#   intersection elsewhere; where the masks differ by a few pixels it adds *all* of $U$ there,
#   whether needed or not.
# * **EAI** adds orange pixels until $\chi$ matches the union: the cheapest candidate *in its
#   sequence* (by the cost above). It grows by whole dilation steps, so it can add a rim wherever
#   $U$ is wider than $I$, not only the pixels that repair the topology. The sentence below, rendered
#   from the table, compares the pixels each rule adds and whether EAI's pieces and holes (not
#   only its $\chi$) match the union's.
# * On the **score map**, the pieces that $\chi$ counts depend on a connectivity: section 4 says
#   which one the library uses for its regions and for $\chi$, and whether EAI ends up repairing
#   a piece that touches the rest of a region only at a corner.
#
# ## 2. χ along the candidate sequence
#
# EAI walks a sequence of growing candidates. For each we plot χ (with the target χ(U)), the
# fraction of the image added to I, and the cost for λ = `lam`. The chosen candidate is the cheapest.

# %%
fig, axes = plt.subplots(2, len(cases), figsize=(3.6 * len(cases), 6.4), layout="constrained")
trace_rows = []
for j, (name, (a, b)) in enumerate(cases.items()):
    tr = eai_trace(a, b, lam=lam, construction=construction, stop_early=False, max_steps=8)
    idx = np.arange(len(tr.candidates))
    ax = axes[0, j]
    ax.plot(idx, tr.chi, "o-", color="#1f77b4", label="χ(M_j)")
    ax.axhline(tr.chi_target, color="k", ls="--", lw=1, label="target χ(U)")
    ax.plot(tr.chosen, tr.chi[tr.chosen], "*", ms=16, color="#d62728", label="chosen")
    ax.set_xticks(idx, tr.steps, rotation=45, ha="right", fontsize=7.5)
    ax.set_ylabel("Euler characteristic χ")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(name)
    ax.legend(fontsize=7.5)
    ax = axes[1, j]
    ax.plot(idx, 100 * tr.added_fraction, "s-", color="#ff7f0e", label="area added to I (% of image)")
    ax.plot(idx, 100 * tr.costs, "o-", color="#2ca02c", label=f"cost × 100 (λ = {lam:g})")
    ax.plot(tr.chosen, 100 * tr.costs[tr.chosen], "*", ms=16, color="#d62728", label="chosen")
    ax.set_xticks(idx, tr.steps, rotation=45, ha="right", fontsize=7.5)
    ax.set_xlabel("candidate M_j")
    ax.set_ylabel("percent of the image")
    ax.legend(fontsize=7.5)
    for k in idx:
        trace_rows.append({"case": name, "candidate": int(k), "step": tr.steps[k],
                           "chi": int(tr.chi[k]), "chi_target": tr.chi_target,
                           "added_fraction": float(tr.added_fraction[k]),
                           "cost": float(tr.costs[k]), "chosen": bool(k == tr.chosen)})
fig.suptitle("EAI candidates: χ moves towards the target (top) while the added area only grows "
             "(bottom); the cost balances the two")
savefig(fig, "nb04_eai_candidates")
plt.show()
trace = pd.DataFrame(trace_rows)
_ = write_table(trace, "nb04_eai_trace")
assert (trace.groupby("case")["added_fraction"].apply(lambda v: v.is_monotonic_increasing)).all()
chosen = trace[trace["chosen"]].set_index("case")
display(Markdown(bullets(
    f"**{name}**: EAI chooses candidate {int(chosen.loc[name, 'candidate'])} "
    f"(`{chosen.loc[name, 'step']}`), whose χ is {int(chosen.loc[name, 'chi'])} against the "
    f"target {int(chosen.loc[name, 'chi_target'])}." for name in cases)))

# %% [markdown]
# **Reading the figure.** Horizontal axis: the candidates in order ($I$, $I$ with spurious holes
# filled, then one, two, ... geodesic dilations inside $U$; at most `8` drawn). Top row: $\chi$
# of each candidate (blue) and the target $\chi(U)$ (dashed); the red star is EAI's choice (the
# list above names it). Bottom row: the area added to $I$, in percent of the image (orange; it
# never decreases, which the cell asserts), and the cost (green) = added fraction +
# $\lambda |\chi - \chi(U)|$. Once a candidate reaches the target, later dilations keep $\chi$
# on target but add area, so their cost only rises.
#
# ## 3. The effect of λ
#
# $\lambda$ trades spatial fidelity (stay close to $I$) against topological consistency (match
# $\chi(U)$). A topological error of one unit costs $\lambda$; adding a fraction $f$ of the image
# costs $f$. So EAI accepts growth of up to $\lambda |\Omega|$ pixels per unit of $\chi$
# repaired (the next cell prints this allowance for this notebook's maps).

# %%
print(f"allowance at lambda = {lam:g}: {lam * case_size ** 2:.0f} pixels per unit of chi on a "
      f"{case_size}x{case_size} case, {lam * map_size ** 2:.0f} on the {map_size}x{map_size} map")
lam_rows = []
for name, (a, b) in cases.items():
    inter = a & b
    for lam_k in lambda_grid:
        tr = eai_trace(a, b, lam=lam_k, construction=construction)
        m = tr.mask
        lam_rows.append({"case": name, "lambda": lam_k, "chosen step": tr.steps[tr.chosen],
                         "pixels added": int((m & ~inter).sum()),
                         "|chi - chi(U)|": int(abs(tr.chi[tr.chosen] - tr.chi_target))})
lam_df = pd.DataFrame(lam_rows)
write_table(lam_df.assign(**{"lambda": [f"{v:g}" for v in lam_df["lambda"]]}), "nb04_lambda_effect")

fig, axes = plt.subplots(1, 2, figsize=(12, 4.3), layout="constrained")
xpos = np.arange(len(lambda_grid))
for k, name in enumerate(cases):
    s = lam_df[lam_df["case"] == name]
    axes[0].plot(xpos, s["pixels added"], "o-", label=name)
    axes[1].plot(xpos + 0.05 * (k - 1.5), s["|chi - chi(U)|"], "o-", label=name)
for ax in axes:
    ax.set_xticks(xpos, [f"{v:g}" for v in lambda_grid], rotation=30)
    ax.set_xlabel("λ (weight of the Euler term)")
    ax.axvline(lambda_grid.index(lam) if lam in lambda_grid else np.nan, color="0.5", ls=":",
               label=f"default λ = {lam:g}")
    ax.legend(fontsize=8)
axes[0].set_ylabel("pixels EAI adds to the intersection")
axes[0].set_title("spatial change grows with λ (in steps)")
axes[1].set_ylabel("remaining topological error |χ − χ(U)|")
axes[1].yaxis.set_major_locator(MaxNLocator(integer=True))
axes[1].set_title("topological error falls to 0 once λ is large enough")
fig.suptitle("Effect of λ: from the plain intersection (λ = 0) to full Euler consistency")
savefig(fig, "nb04_lambda_effect")
plt.show()
display(lam_df.pivot(index="lambda", columns="case", values="pixels added"))
at_zero = lam_df[lam_df["lambda"] == 0]
assert (at_zero["pixels added"] == 0).all()  # lambda = 0 is the intersection
assert (lam_df.groupby("case")["pixels added"].apply(lambda v: v.is_monotonic_increasing)).all()
assert (lam_df.groupby("case")["|chi - chi(U)|"]
        .apply(lambda v: v.is_monotonic_decreasing)).all()
first_fix = lam_df[lam_df["|chi - chi(U)|"] == 0].groupby("case")["lambda"].min()
display(Markdown(
    "Smallest λ of the grid at which EAI reaches χ(U): "
    + "; ".join(f"{c}: {first_fix[c]:g}" if c in first_fix else f"{c}: never in this grid"
                for c in cases) + "."))

# %% [markdown]
# **Reading the figure.** Horizontal axis: $\lambda$ (not to scale: one tick per value tried).
# Left: pixels EAI adds to $I$; right: the topological error left. At $\lambda = 0$ EAI *is*
# the intersection (no pixel added; asserted). As $\lambda$ grows, the added pixels can only grow
# and the error only fall (both asserted): EAI jumps, case by case, to the first candidate
# whose repaired $\chi$ is worth its added area. A repair that needs many pixels (a wide gap)
# needs a larger $\lambda$. The paper's Table VII (notebook 09) measures $\lambda$'s effect on
# segmentation scores (paper, Table VII: best F1 at its default λ = 0.01).
#
# ### Exercise 1 · How large must λ be?
#
# On a $40 \times 40$ image, the intersection of two masks is cut in two by a gap that one
# dilation step closes by adding $20$ pixels; that step restores $\chi(U)$ (one unit of error
# repaired). From which $\lambda$ on does EAI take the step (one number: the threshold)?

# %%
answer = None  # your answer: a number
check("04.1", answer)

# %% jupyter={"source_hidden": true, "outputs_hidden": true} tags=["solution"]
# Solution to exercise 1.
answer_lambda = ex04.smallest_lambda()
display(Markdown(
    "**Solution.** Taking the step costs $20 / 1600$ of added area and saves $\\lambda$ per unit "
    f"of $\\chi$. With one unit, EAI takes it when $\\lambda > {fmt(answer_lambda, 4)}$. The "
    "broken bar case has two gaps of this kind: its intersection has three pieces instead of "
    "one, two units of error, repaired by one dilation step of $20$ pixels, so there the step "
    f"pays off as soon as $2 \\lambda > {fmt(answer_lambda, 4)}$ (checked below on the case)."))
assert check("04.1", answer_lambda).correct
bar_a, bar_b = cases["broken_bar"]
bar_step = eai_trace(bar_a, bar_b, lam=1.0, construction=construction)
added_bar = int((bar_step.mask & ~(bar_a & bar_b)).sum())
units = abs(int(bar_step.chi[0]) - bar_step.chi_target)
assert case_size == ex04.STEP_SIDE and (added_bar, units) == (ex04.STEP_PIXELS, 2)
assert eai_trace(bar_a, bar_b, lam=0.99 * answer_lambda / 2, construction=construction).chosen == 0
assert eai_trace(bar_a, bar_b, lam=1.01 * answer_lambda / 2, construction=construction).chosen > 0

# %% [markdown]
# ### Exercise 2 · Right χ, wrong topology
#
# $M_{sub}$ is a disc with the *left* half of a thin ring-shaped groove cut out of it; $M_{sup}$
# is the same disc with the *right* half of the groove cut out. What are the pieces and holes,
# $(b_0, b_1)$, of their intersection $I$?

# %%
answer = None  # your answer: a pair (b0, b1)
check("04.2", answer)

# %% jupyter={"source_hidden": true, "outputs_hidden": true} tags=["solution"]
# Solution to exercise 2.
m_sub_ex, m_sup_ex = ex04.groove_masks(case_size)
answer_i, topo_u = topology(m_sub_ex & m_sup_ex)[:2], topology(m_sub_ex | m_sup_ex)[:2]
display(Markdown(
    f"**Solution.** $I$ is the disc minus the whole groove: an outer ring around a hole, plus the "
    f"inner disc as a second piece: $(b_0, b_1) = {answer_i}$, so $\\chi(I) = "
    f"{answer_i[0] - answer_i[1]}$. $U$ is the whole disc, $(b_0, b_1) = {topo_u}$, with the same "
    "$\\chi$. So EAI returns $I$ itself for any $\\lambda$: its $\\chi$ already matches, no "
    "candidate can lower the cost, and it keeps an extra piece and an extra hole. Matching "
    "$\\chi$ is not matching the topology."))
assert check("04.2", answer_i).correct
assert answer_i != topo_u and answer_i[0] - answer_i[1] == topo_u[0] - topo_u[1]
for lam_ex in (0.01, 1.0, 100.0):
    assert np.array_equal(fuse(m_sub_ex, m_sup_ex, method="eai", lam=lam_ex,
                               construction=construction), m_sub_ex & m_sup_ex)

# %% [markdown]
# ### Exercise 3 · Predict χ before EAI runs
#
# For the pinholes case: each mask is a disc with one single-pixel hole, at different places.
# Predict $\chi(M_{sub})$, $\chi(M_{sup})$, $\chi(I)$ and $\chi(U)$, in that order.

# %%
answer = None  # your answer: four numbers (chi of M_sub, M_sup, I, U)
check("04.3", answer)

# %% jupyter={"source_hidden": true, "outputs_hidden": true} tags=["solution"]
# Solution to exercise 3.
answer_chi = ex04.pinhole_chis(construction)
p_a, p_b = cases["pinholes"]
eai_p = fuse(p_a, p_b, method="eai", lam=lam, construction=construction)
display(Markdown(
    "**Solution.** Each mask is one piece with one hole: $\\chi = 1 - 1$. The intersection has "
    "both holes: $\\chi = 1 - 2$. The union has none (each hole is filled by the other mask): "
    f"$\\chi = 1$. So $\\chi$ = {answer_chi}. EAI's candidate *I with the holes that U does not "
    f"have filled* adds the {int((eai_p & ~(p_a & p_b)).sum())} hole pixels and reaches "
    "$\\chi(U)$; two units of error are worth far more than two pixels for any reasonable "
    "$\\lambda$."))
assert check("04.3", answer_chi).correct
assert int((eai_p & ~(p_a & p_b)).sum()) == 2 and euler_characteristic(eai_p, construction) == 1

# %% [markdown]
# ## 4. When can EAI act at all? Laminarity at $K = 1$
#
# At the paper's default, TopoTTA keeps **one** feature per sweep ($K = 1$). Then:
#
# * the sublevel pseudo-label $A$ is a region a low loop encloses: the connected component of
#   $\{\psi > t\}$, $t = b + \alpha(d - b)$, that holds the hole's death cell (notebook 02; $b$
#   and $d$ the hole's birth and death);
# * the superlevel pseudo-label $B$ is the bright component around the global peak $p$: the
#   component of $\{\psi > t'\}$, $t' = \min\psi + \alpha(\max\psi - \min\psi)$, that holds $p$
#   (the essential class, whose bar runs from the top of the map to its bottom).
#
# **Claim.** $A$ and $B$ are nested or disjoint, and when they overlap, $A \subseteq B$. So
# $I = A \cap B$ is $A$ itself or empty.
#
# **Proof.** (i) *Laminarity.* Both are components of superlevel sets of the **same** map. If
# $s \ge s'$, a component $C$ of $\{\psi > s\}$ is a connected subset of $\{\psi > s'\}$, so it
# lies inside exactly one component of $\{\psi > s'\}$ and is disjoint from all the others:
# any two such components are nested or disjoint. (ii) *Which way.* The hole dies when the
# highest pixel of the region it encloses enters, so $d = \max_A \psi$. If $p \in A$ then
# $d = \max\psi$, and $t - t' = (1 - \alpha)(b - \min\psi) \ge 0$: $A$ is a connected part of
# $\{\psi > t'\}$ that contains $p$, so $A \subseteq B$. If $p \notin A$, then $B \not\subseteq
# A$, and by (i) either $A \subseteq B$ or they are disjoint. $\square$
#
# **Consequence.** EAI starts from $I$. If $I$ is empty, it returns its fallback (by default
# $A$, the sublevel mask). If $I = A$, every candidate grows $A$ inside $B$, and EAI moves away
# from $A$ only when $\chi(A) \neq \chi(B)$ *and* a repair costs less than $\lambda$ per unit of
# $\chi$. So at $K = 1$ EAI returns the sublevel mask, a growth of it inside the superlevel
# mask, or its fallback; it never fuses two partly overlapping masks (up to the connectivity
# caveat below). (The release rule is even
# simpler: its two masks are whole-map thresholds $\{\psi \ge \theta\}$ of one map, always
# nested.)
#
# **The hypothesis hidden in (i): one connectivity.** "Connected" must mean the same thing for
# both components. A region that is connected only through the corner of two pixels
# (8-connected) may straddle two 4-connected components of a lower superlevel set. The next
# cell asks the library which connectivity its regions and its $\chi$ actually use (by running
# them on tiny maps), and the sentence below it says what follows for the toy case of section 1.

# %%
conn = {c: library_connectivities(c) for c in ("V", "T")}
display(pd.DataFrame(conn).T.rename_axis("construction"))
mine = conn[construction]
consistent = len(set(mine.values())) == 1
toy_sub = pseudo_label_mask(psi, "sublevel", k=1, construction=construction)
toy_sup = pseudo_label_mask(psi, "superlevel", k=1, construction=construction)
toy_eai = fuse(toy_sub, toy_sup, method="eai", lam=lam, construction=construction)
chi_pieces = betti_numbers(toy_sub, construction)[0]
own_pieces = ndi.label(toy_sub, structure=np.ones((3, 3)) if mine["sublevel region"] == 8
                       else connectivity_structure(2, "V"))[1]
toy_rel = mask_relation(toy_sub, toy_sup)
assert pieces_laminar(toy_sub, toy_sup)
display(Markdown(
    f"In the {construction} construction the library grows sublevel regions with "
    f"{mine['sublevel region']}-connectivity, superlevel regions with "
    f"{mine['superlevel region']}-connectivity, and counts the pieces of χ with "
    f"{mine['chi']}-connectivity: "
    + ("one connectivity throughout, so the proof above applies as it stands. "
       if consistent else "not one connectivity, so the proof applies piece by piece only. ")
    + f"On the toy map of section 1 at K = 1 the sublevel mask is {plural(own_pieces, 'region')} "
    f"in its own connectivity and {plural(chi_pieces, 'piece')} for χ; the two masks are "
    f"'{toy_rel}', and EAI at λ = {lam:g} "
    + (f"adds {int((toy_eai & ~toy_sub).sum())} pixels to the sublevel mask"
       + (": it 'repairs' a piece that touches the rest of the region only at a corner, a piece "
          "the region never had in its own connectivity." if chi_pieces > own_pieces else ".")
       if not np.array_equal(toy_eai, toy_sub) else "returns the sublevel mask unchanged.")
    + f" (Why two connectivities at all: a digital picture needs one for the foreground and the "
    f"dual one for the background, or a closed curve would not separate inside from outside; "
    f"{cite('kong1989digital')}. The sublevel regions are read off the background of a sublevel "
    f"set by duality, {cite('garin2020duality')}.)"))

# %% [markdown]
# **Reading the table.** For each construction, the connectivity of the Top-1 sublevel region,
# of the Top-1 superlevel region, and of the pieces that $\chi$ counts (V: pixels joined by an
# edge are neighbours, 4-connectivity; T: corners count too, 8-connectivity; the sublevel
# region, read off the *complement* of a sublevel set by duality, takes the other one). What
# survives any mix of connectivities is the proof applied **piece by piece**: every 4-connected
# piece of one mask is nested in or disjoint from every 4-connected piece of the other (a
# 4-connected piece of a component of $\{\psi > s\}$ is a 4-connected component of
# $\{\psi > s\}$ itself). The cell above asserts it on the toy case; the next cell checks the
# claim, and the piecewise version, on random smooth maps, for both constructions and for
# $K$ = `topk_values`, under the region rule and the release rule.

# %%
lam_rows = []
examples = {}  # per K: a map on which the masks partly overlap and EAI repairs chi (figure)
for c in ("V", "T"):
    for rule in ("region", "release"):
        for k in topk_values:
            topo_k = TopoTTA(k=k, construction=c, rule=rule, fusion="eai", lam=lam, pces=False)
            for i in range(n_random_maps):
                rmap = smooth_random_map((random_map_size,) * 2, sigma=3.0, seed=seed + i)
                a, b, fused_k = topo_k.pseudo_labels(rmap)
                inter_k = a & b
                chi_differs = bool(inter_k.any() and euler_characteristic(inter_k, c)
                                   != euler_characteristic(a | b, c))
                strong = fuse(a, b, method="eai", lam=1.0, construction=c) if chi_differs else None
                acts_strong = bool(strong is not None and (strong != inter_k).any())
                lam_rows.append({"construction": c, "rule": rule, "K": k, "map": i,
                                 **fusion_outcome(a, b, fused_k),
                                 "pieces laminar": pieces_laminar(a, b),
                                 "chi(I) != chi(U)": chi_differs, "acts at lambda 1": acts_strong})
                if (k not in examples and c == construction and rule == "region" and k > 1
                        and acts_strong and mask_relation(a, b) == "partial overlap"):
                    examples[k] = {"K": k, "map": i, "masks": (a, b, inter_k, fused_k, strong)}
lam_maps = pd.DataFrame(lam_rows)
k1 = lam_maps[lam_maps["K"] == 1]
allowed = {"sub in sup", "disjoint", "equal", "empty"}
region_k1 = k1[k1["rule"] == "region"]
artefacts = region_k1[~region_k1["relation"].isin(allowed)]
assert lam_maps["pieces laminar"].all()  # the proof, piece by piece, at every K
one_region_conn = [c for c in conn if conn[c]["sublevel region"] == conn[c]["superlevel region"]]
assert not artefacts["construction"].isin(one_region_conn).any()  # artefacts need mixed regions
release = lam_maps[lam_maps["rule"] == "release"]
assert release["relation"].isin({"sub in sup", "sup in sub", "equal", "empty"}).all()
laminarity = (lam_maps.assign(**{"partial overlap": lam_maps["relation"] == "partial overlap",
                                 "nested": lam_maps["relation"].isin(
                                     {"sub in sup", "sup in sub", "equal"}),
                                 "disjoint": lam_maps["relation"] == "disjoint"})
              .groupby(["rule", "construction", "K"])
              .agg(maps=("map", "size"), nested=("nested", "mean"),
                   disjoint=("disjoint", "mean"), partial_overlap=("partial overlap", "mean"),
                   chi_I_differs=("chi(I) != chi(U)", "mean"), fallback=("fallback", "mean"),
                   eai_acts=("eai_acts", "mean"), eai_acts_at_lambda_1=("acts at lambda 1", "mean"),
                   eai_equals_sub=("equals_sub", "mean"))
              .reset_index())
write_table(laminarity, "nb04_laminarity")
display(laminarity.round(3))
reg = laminarity[laminarity["rule"] == "region"].set_index(["construction", "K"])
first_k = min(topk_values)
display(Markdown(
    f"On {n_random_maps} random smooth {random_map_size}×{random_map_size} maps (region rule, "
    f"{construction} construction): at K = {first_k} the two masks partly overlap on "
    f"{plural(int(round(reg.loc[(construction, first_k), 'partial_overlap'] * n_random_maps)), 'map')} "
    + (f"({plural(len(artefacts), 'map')} over both constructions, every one of them a "
       "connectivity artefact; asserted)" if len(artefacts) else "(none in either construction)")
    + ", the fallback fires on "
    f"{fmt(100 * reg.loc[(construction, first_k), 'fallback'], 0)}% of the maps, and EAI returns "
    f"the sublevel mask on {fmt(100 * reg.loc[(construction, first_k), 'eai_equals_sub'], 0)}%. "
    + " ".join(
        f"At K = {k} the masks partly overlap on "
        f"{fmt(100 * reg.loc[(construction, k), 'partial_overlap'], 0)}% of the maps, χ(I) differs "
        f"from χ(U) on {fmt(100 * reg.loc[(construction, k), 'chi_I_differs'], 0)}%, and EAI grows "
        f"the intersection on {fmt(100 * reg.loc[(construction, k), 'eai_acts'], 0)}% at λ = "
        f"{lam:g} and on {fmt(100 * reg.loc[(construction, k), 'eai_acts_at_lambda_1'], 0)}% at "
        "λ = 1."
        for k in topk_values if k != first_k)
    + " Under the release rule the masks are nested on every map (asserted)."))

example = examples[min(examples)] if examples else None  # the smallest K that has one
if example is not None:
    titles = ["M_sub", "M_sup", "intersection I", f"EAI, λ = {lam:g}", "EAI, λ = 1"]
    fig, axes = plt.subplots(1, 5, figsize=(14, 3.2), layout="constrained")
    for ax, title, m in zip(axes, titles, example["masks"]):
        ax.imshow(m, cmap="Blues", vmin=0, vmax=1.3, interpolation="nearest")
        b0, b1 = betti_numbers(m, construction)
        ax.set_title(f"{title}\nb0={b0} b1={b1} χ={b0 - b1}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"Where EAI can act: random map {example['map']}, K = {example['K']}, "
                 f"{construction} construction (the masks partly overlap)")
    savefig(fig, "nb04_eai_acts_k2")
    plt.show()

# %% [markdown]
# **Reading the table.** One row per rule, construction and $K$: the shares of the random maps
# on which the two masks are nested, disjoint or partly overlapping, on which the intersection's
# $\chi$ differs from the union's (EAI has something to repair), on which the fallback fires,
# on which EAI grows the intersection (at the notebook's $\lambda$ and at $\lambda = 1$, where
# any repair a candidate reaches is worth its pixels), and on which the fused mask is the
# sublevel mask. At $K = 1$ only "nested" and "disjoint" occur (up to connectivity artefacts), as
# proved. With more features per sweep the masks are unions of regions, and a union of nested
# pieces can overlap another union partly: that is where a fusion rule has a choice to make, and
# where $\lambda$ decides whether repairing $\chi$ is worth the added pixels. The figure, when
# the run found such a map, shows one: the two masks, their intersection, and EAI's result at
# both values of $\lambda$, with their pieces, holes and $\chi$.
#
# ### Exercise 4 · Nested or disjoint
#
# At $K = 1$ the sublevel mask has $120$ pixels and the superlevel mask $300$, and the two
# overlap. How many pixels does their intersection have?

# %%
answer = None  # your answer: a number of pixels
check("04.4", answer)

# %% jupyter={"source_hidden": true, "outputs_hidden": true} tags=["solution"]
# Solution to exercise 4.
answer_nested = ex04.NESTED_SUB if ex04.NESTED_SUB <= ex04.NESTED_SUP else ex04.NESTED_SUP
display(Markdown(
    "**Solution.** At $K = 1$ the two masks are nested or disjoint; they overlap, so one contains "
    f"the other, and the intersection is the smaller mask: {answer_nested} pixels, the whole "
    "sublevel mask (as the proof says it must be). EAI starts from it."))
assert check("04.4", answer_nested).correct
assert (region_k1["relation"] == "sub in sup").any()  # the exercise's case happens on random maps

# %% [markdown]
# ## 5. The fallback on the embedded benchmark
#
# When the two masks are disjoint, the intersection is empty and EAI returns its **fallback**:
# by default the sublevel mask (`TopoTTA(eai_fallback="sub")`; the alternatives are the
# superlevel mask, the union, the larger mask or nothing). How often does that happen on real
# score maps? The next cell runs TopoTTA's pseudo-label stage (no PCES) on every anomalous test
# image of the benchmark, for each $K$ of `topk_values`, and counts the outcomes.

# %%
classes_all = resolve_classes(dataset, data_root)
classes_run = resolve_classes(dataset, data_root, activity_classes)
display(Markdown(subset_note(profile, classes=(classes_run, classes_all))
                 or f"All {len(classes_all)} classes of {dataset}."))
act_rows = []
for scorer in activity_scorers:
    for cat in classes_run:
        bundle = score_bundle(dataset, cat, scorer, size=size, seed=seed, data_root=data_root)
        for k in topk_values:
            topo_k = TopoTTA(k=k, lam=lam, seed=seed, pces=False)
            for j in np.flatnonzero(bundle["labels"] == 1):
                a, b, fused_k = topo_k.pseudo_labels(bundle["maps"][j])
                act_rows.append({"scorer": scorer, "category": cat, "K": k, "image": int(j),
                                 **fusion_outcome(a, b, fused_k),
                                 "pieces laminar": pieces_laminar(a, b)})
acts = pd.DataFrame(act_rows)
assert acts["pieces laminar"].all()
activity = (acts.assign(**{"partial overlap": acts["relation"] == "partial overlap",
                           "disjoint": acts["relation"] == "disjoint"})
            .groupby(["scorer", "K"])
            .agg(images=("image", "size"), classes=("category", "nunique"),
                 disjoint=("disjoint", "mean"), partial_overlap=("partial overlap", "mean"),
                 fallback=("fallback", "mean"), eai_acts=("eai_acts", "mean"),
                 eai_equals_sub=("equals_sub", "mean"))
            .reset_index())
write_table(activity, "nb04_fallback_activity")
display(activity.round(3))
per_class = (acts[acts["K"] == first_k].groupby(["scorer", "category"])["fallback"].mean()
             .rename("fallback share at the smallest K").reset_index())
display(per_class.round(3))
act_k = activity.set_index(["scorer", "K"])
display(Markdown(" ".join(
    f"With {s}, at K = {first_k} the fallback fired on "
    f"{plural(int(round(act_k.loc[(s, first_k), 'fallback'] * act_k.loc[(s, first_k), 'images'])), 'image')} "
    f"of {int(act_k.loc[(s, first_k), 'images'])} "
    f"({fmt(100 * act_k.loc[(s, first_k), 'fallback'], 0)}%"
    + (f", from {fmt(100 * per_class[per_class['scorer'] == s].iloc[:, -1].min(), 0)}% to "
       f"{fmt(100 * per_class[per_class['scorer'] == s].iloc[:, -1].max(), 0)}% per class"
       if len(classes_run) > 1 else "")
    + "), EAI grew the intersection on "
    f"{fmt(100 * act_k.loc[(s, first_k), 'eai_acts'], 0)}%, and the fused mask was the sublevel "
    f"mask on {fmt(100 * act_k.loc[(s, first_k), 'eai_equals_sub'], 0)}%. "
    + " ".join(f"At K = {k}: fallback {fmt(100 * act_k.loc[(s, k), 'fallback'], 0)}%, partial "
               f"overlap {fmt(100 * act_k.loc[(s, k), 'partial_overlap'], 0)}%, EAI grows the "
               f"intersection on {fmt(100 * act_k.loc[(s, k), 'eai_acts'], 0)}%."
               for k in topk_values if k != first_k)
    for s in activity_scorers)))

# %% [markdown]
# **Reading the tables.** First table: per scorer and $K$, the number of anomalous test images,
# and the shares on which the two masks are disjoint or partly overlap, on which the fallback
# fired, on which EAI grew the intersection, and on which the fused mask is the sublevel mask.
# Second table: the fallback's share per class at the smallest $K$. What the data can and cannot
# tell: at $K = 1$ a difference between "EAI" and "intersection" in the experiment notebooks is
# the fallback at work (an empty mask against the sublevel mask) wherever EAI did not grow the
# intersection (the column `eai_acts`), not an Euler-aware repair;
# whether EAI's repairs help can only be judged where it acts, at larger $K$ (notebook 08).
#
# ## Take-aways

# %%
toy_row = summary[summary["case"] == "score map (toy)"].set_index("mask")
display(Markdown(takeaways([
    "Intersecting two pseudo-labels is safe spatially but can split pieces and open holes; the "
    "union is safe topologically but generous. "
    f"In {n_equal} of the {len(cases)} cases above the intersection is simply one of the inputs.",
    "EAI keeps the intersection and grows it inside the union until χ(U) is restored; λ sets how "
    f"many pixels a repair of one unit of χ may cost (here {lam * map_size ** 2:.0f} pixels on "
    f"the {map_size}×{map_size} map at λ = {lam:g}).",
    f"On the toy score map (K = {top_k}) EAI adds "
    f"{int(toy_row.loc[method_names['eai'], 'pixels added to I'])} pixels, the IoU-style rule "
    f"{int(toy_row.loc['IoU-style', 'pixels added to I'])}: EAI grows by whole dilation steps, so "
    "it can also add rims where the union is wider than the intersection.",
    "At K = 1 the two pseudo-labels are components of superlevel sets of one map, hence nested or "
    "disjoint (proved, and checked on random maps): EAI returns the sublevel mask, a growth of it, "
    f"or its fallback. On {dataset} the fallback fired on "
    f"{fmt(100 * activity[activity['K'] == first_k]['fallback'].mean(), 0)}% of the anomalous "
    f"images at K = {first_k}, and EAI grew the intersection on "
    f"{fmt(100 * activity[activity['K'] == first_k]['eai_acts'].mean(), 0)}%.",
    ("What does not work: the library's sublevel regions and its χ do not use one connectivity "
     f"in the {construction} construction ({mine['sublevel region']} against {mine['chi']}), so "
     "EAI can 'repair' a piece that touches a region only at a corner."
     if mine["sublevel region"] != mine["chi"] else
     f"The library's regions and its χ use one connectivity in the {construction} construction, "
     "so no corner-touching piece is repaired by mistake."),
    "What does not work: matching χ is not matching pieces and holes (exercise 2: EAI returns "
    "an extra piece and an extra hole whose changes cancel in χ).",
])))

# %%
display(Markdown(references(
    "zia2026topotta", "edelsbrunner2010computational", "kong1989digital", "garin2020duality",
    "hacquard2024euler", "bergmann2019mvtec", "roth2022patchcore")))
