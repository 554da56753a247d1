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
# *Paper: Section IV-A, Eq. 8-9 (lost from the text we have; we follow the prose, and this
# notebook explains our reading).*
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
# it. $\chi$ is counted with the same connectivity as the filtrations (V construction:
# 4-connected pieces).
#
# **What EAI does not promise.** Matching $\chi = b_0 - b_1$ does not mean matching $b_0$ and
# $b_1$ (notebook 01, "what $\chi$ cannot see"): a candidate with one piece too many *and* one
# hole too many has the right $\chi$. Exercise 2 builds such a case.

# %% tags=["parameters"]
profile = "full"
seed = 0
case_size = 40  # side of the hand-made mask pairs
map_size = 96  # side of the toy score map
lam = 0.01  # EAI weight of the Euler term (the paper's default)
top_k = 3  # features per filtration for the score-map case
construction = "V"
lambda_grid = [0.0, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 1.0]

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from matplotlib.ticker import MaxNLocator
from scipy import ndimage as ndi

from topotta_lite.config import pin_threads
from topotta_lite.method import eai_trace, fuse, pseudo_label_mask
from topotta_lite.outputs import savefig, use_style, write_table
from topotta_lite.teaching import bullets, fusion_cases, plural, takeaways, toy_score_map
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
# repaired). For which $\lambda$ does EAI take the step? Check your answer on the broken bar
# case, which has two gaps of this kind.

# %% jupyter={"source_hidden": true, "outputs_hidden": true} tags=["solution"]
# Solution to exercise 1.
answer_lambda = 20 / 40 ** 2  # adding 20 of 1600 pixels must cost less than the repaired error
display(Markdown(
    "**Solution.** Taking the step costs $20 / 1600 = 0.0125$ of added area and saves "
    r"$\lambda$ per unit of $\chi$. With one unit, EAI takes it when $\lambda > 0.0125$. The "
    "broken bar's intersection has three pieces instead of one: two units of error, repaired by "
    r"one dilation step of $20$ pixels, so the step pays off as soon as $2 \lambda > 0.0125$, "
    r"i.e. $\lambda > 0.00625$."))
bar_a, bar_b = cases["broken_bar"]
bar_step = eai_trace(bar_a, bar_b, lam=1.0, construction=construction)
added_bar = int((bar_step.mask & ~(bar_a & bar_b)).sum())
units = abs(int(bar_step.chi[0]) - bar_step.chi_target)
assert case_size == 40 and (added_bar, units) == (20, 2)
assert eai_trace(bar_a, bar_b, lam=0.99 * answer_lambda / 2, construction=construction).chosen == 0
assert eai_trace(bar_a, bar_b, lam=1.01 * answer_lambda / 2, construction=construction).chosen > 0

# %% [markdown]
# ### Exercise 2 · Right χ, wrong topology
#
# $M_{sub}$ is a disc with the *left* half of a thin ring-shaped groove cut out of it; $M_{sup}$
# is the same disc with the *right* half of the groove cut out. (a) What are the pieces and holes
# of $U$ and of $I$? (b) What does EAI return, for any $\lambda$?

# %% jupyter={"source_hidden": true, "outputs_hidden": true} tags=["solution"]
# Solution to exercise 2.
yy, xx = np.indices((case_size, case_size))
c0 = (case_size - 1) / 2
r = np.hypot(yy - c0, xx - c0)
disc_ex = r <= 0.4 * case_size
groove = (r > 0.15 * case_size) & (r <= 0.22 * case_size)
m_sub_ex = disc_ex & ~(groove & (xx < c0))
m_sup_ex = disc_ex & ~(groove & (xx >= c0))
answer_u, answer_i = (1, 0), (2, 1)
display(Markdown(
    r"**Solution.** (a) $U$ is the whole disc: one piece, no hole, $\chi = 1$. $I$ is the disc "
    "minus the whole groove: an outer ring around a hole, plus the inner disc as a second piece: "
    r"$(b_0, b_1) = (2, 1)$, so $\chi(I) = 1 = \chi(U)$. (b) $I$ itself: its $\chi$ already "
    "matches, so no candidate can lower the cost. EAI keeps an extra piece and an extra hole: "
    r"matching $\chi$ is not matching the topology."))
assert topology(m_sub_ex | m_sup_ex)[:2] == answer_u
assert topology(m_sub_ex & m_sup_ex)[:2] == answer_i
for lam_ex in (0.01, 1.0, 100.0):
    assert np.array_equal(fuse(m_sub_ex, m_sup_ex, method="eai", lam=lam_ex,
                               construction=construction), m_sub_ex & m_sup_ex)

# %% [markdown]
# ### Exercise 3 · Predict χ before EAI runs
#
# For the pinholes case: each mask is a disc with one single-pixel hole, at different places.
# Predict $\chi(M_{sub})$, $\chi(M_{sup})$, $\chi(I)$ and $\chi(U)$, and the number of
# pixels EAI adds for $\lambda$ = `lam`.

# %% jupyter={"source_hidden": true, "outputs_hidden": true} tags=["solution"]
# Solution to exercise 3.
answer_chi = {"M_sub": 0, "M_sup": 0, "I": -1, "U": 1}
answer_added = 2
display(Markdown(
    r"**Solution.** Each mask is one piece with one hole: $\chi = 0$. The intersection has both "
    r"holes: $\chi = 1 - 2 = -1$. The union has none (each hole is filled by the other mask): "
    r"$\chi = 1$. EAI's candidate *I with the holes that U does not have filled* adds the two "
    r"pixels and reaches $\chi(U)$; two units of error are worth far more than two pixels for "
    r"any reasonable $\lambda$, so EAI adds exactly those two pixels."))
p_a, p_b = cases["pinholes"]
got = {name: euler_characteristic(m, construction)
       for name, m in (("M_sub", p_a), ("M_sup", p_b), ("I", p_a & p_b), ("U", p_a | p_b))}
assert got == answer_chi
eai_p = fuse(p_a, p_b, method="eai", lam=lam, construction=construction)
assert int((eai_p & ~(p_a & p_b)).sum()) == answer_added

# %% [markdown]
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
    f"On the toy score map EAI adds {int(toy_row.loc[method_names['eai'], 'pixels added to I'])} "
    f"pixels, the IoU-style rule {int(toy_row.loc['IoU-style', 'pixels added to I'])}: EAI grows "
    "by whole dilation steps, so it can also add rims where the union is wider than the "
    "intersection.",
    "What does not work: matching χ is not matching pieces and holes (exercise 2: EAI returns "
    "an extra piece and an extra hole whose changes cancel in χ).",
])))
