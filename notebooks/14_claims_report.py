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
# # 13 · Claims report: every quantitative claim, with an interval and a three-way verdict
#
# *Paper: all of Section V.*
#
# The paper makes sentences such as "TopoTTA improves F1 over TTT4AS on every dataset", "the
# default number of levels is best" or "the overhead over TTT4AS is small" (paper, Sec. V-I:
# about 12%). Each of them is written down once, as code, in
# `topotta_lite/experiments/claims.py`: per *setting* (a dataset/scorer pair, a
# class, a perturbation, a preset) a **paired comparison** of the comparands on the same test
# images (two methods, or one method at several parameter values), a statistic of their means
# (mean over the images of a class, then over the classes), and the side of a tolerance the
# claim puts it on.
#
# **How sure can we be?** Our tables hold a few dozen images per setting, and margins of a few
# F1 points can come from which images happened to be drawn. So every comparison on our side
# comes with a **$95\%$ bootstrap interval**: the images are resampled within their class (the
# protocol's class weights stay fixed), `n_boot` times, with a seed fixed per claim and setting
# (`topotta_lite.experiments.stats`). The verdict has three values:
#
# * **holds**: the whole interval is on the claimed side of the tolerance;
# * **does not hold**: the whole interval is on the other side;
# * **inconclusive**: the interval straddles (or touches) the tolerance. A tie, even an exact
#   one, never decides a claim; a "best at" claim needs a strictly positive margin.
#
# A claim made "in every setting" holds when every setting holds and does not hold when one
# does not. The same statistic runs on **the paper's tables** (one number per row, no interval):
# `paper_check` says whether the paper's own numbers support its sentence. Before that, we check
# the paper's tables themselves: rows they cannot hold (IoU above F1, ...) are flagged and left
# out of `paper_check`; rows we had to reconstruct carry their caveat.
#
# No verdict is typed by hand. Our numbers come from the embedded benchmark, not from the
# paper's datasets and backbones: a verdict says whether the *pattern* the paper reports also
# appears on our data with our re-implementation, not whether its absolute numbers are right.

# %% tags=["parameters"]
profile = "full"
tables_folder = None  # default: figures/tables of this run
n_boot = 4000  # bootstrap replicates per (claim, setting)
update_readme_block = True  # the runner rewrites the README's results block (committed figures only)

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from topotta_lite.config import pin_threads
from topotta_lite.experiments import (
    CLAIMS,
    PER_IMAGE,
    TABLE_NOTEBOOK,
    Interval,
    assess_claims,
    load_tables,
    paper_tables,
)
from topotta_lite.outputs import savefig, use_style, write_table
from topotta_lite.teaching import plural, takeaways

pin_threads()  # one BLAS / OpenMP / torch thread: the results do not depend on the machine's cores

use_style()
pd.set_option("display.width", 200)
pd.set_option("display.max_colwidth", 120)

ours = load_tables(tables_folder)
read = sorted(t for t in TABLE_NOTEBOOK
              if t + PER_IMAGE in ours or (t == "table10_runtime" and t in ours))
print("tables the claims read (per-image):", ", ".join(read) or "none")
print("missing:", ", ".join(f"{t} (notebook {TABLE_NOTEBOOK[t]})" for t in sorted(TABLE_NOTEBOOK)
                            if t not in read) or "none")

# %% [markdown]
# ## The claims
#
# Each row: the statistic measured per setting, the tables it reads, and the rule.

# %%
display(pd.DataFrame([{"claim": c.id, "tables": ", ".join(c.tables),
                       "rule": f"{c.rule_text} (95% interval)", "statement": c.statement}
                      for c in CLAIMS]))

# %% [markdown]
# ## 1 · Are the paper's own tables consistent?
#
# Checks that need no data of ours (`paper_sanity`): per image $\mathrm{IoU} = F_1 / (2 - F_1)$,
# so a mean IoU above the mean F1 cannot happen, nor (by Jensen's inequality) a mean F1 above
# $2\,\mathrm{IoU} / (1 + \mathrm{IoU})$, when both are averaged the same way; Table II's
# one-shot rows against Table I's zero-shot rows; identical rows under two backbones; Table
# VIII's "F1 rises with n".

# %%
report = assess_claims(ours, paper_tables(), n_boot=n_boot)
sanity = report.sanity
write_table(sanity, "paper_sanity")
display(sanity.groupby(["severity", "check"], sort=False).size().rename("rows").reset_index())
display(sanity)

# %% [markdown]
# ## 2 · The report
#
# `claims` (one row per claim) and `claims_settings` (one row per claim, side and setting,
# with the interval, the number of images and classes) are written to `figures/tables/`.

# %%
summary, settings = report.summary, report.settings
write_table(summary, "claims")
write_table(settings.round({"estimate": 4, "low": 4, "high": 4}), "claims_settings")
display(summary[["claim", "verdict", "settings", "n_images", "n_classes", "ours",
                 "paper_check"]])

# %%
counts = summary["verdict"].value_counts()
order = ["holds", "does not hold", "inconclusive", "not testable here"]
print(counts.reindex(order, fill_value=0).to_string())
print("\nclaims the paper's own numbers do not support:",
      ", ".join(summary.loc[summary["paper_check"] == "does not hold", "claim"]) or "none")


# %% [markdown]
# ## 3 · In words (generated from the table above)

# %%
def describe(row) -> str:
    detail = settings[(settings["claim"] == row.claim) & (settings["side"] == "ours")]
    parts = []
    for r in detail.itertuples():
        if np.isfinite(r.low):
            cls = f"1 class, {r.classes}" if r.n_classes == 1 else f"{int(r.n_classes)} classes"
            iv = Interval(r.estimate, r.low, r.high, int(r.n_images), int(r.n_classes))
            parts.append(f"{r.setting}: {iv.text()} ({int(r.n_images)} images, {cls}; "
                         f"{r.verdict})")
        else:
            parts.append(f"{r.setting}: {r.estimate:.2f} (point value; {r.verdict})")
    text = "; ".join(parts) if parts else row.reason
    return f"* **{row.claim}**: {row.statement}. {text}."


blocks = []
for verdict, title in [("holds", "What holds on our data"),
                       ("does not hold", "What does not hold on our data"),
                       ("inconclusive", "What our data cannot decide (intervals straddle the "
                                        "tolerance)"),
                       ("not testable here", "Not testable in this run")]:
    rows = summary[summary["verdict"] == verdict]
    body = "\n".join(describe(r) for r in rows.itertuples()) if len(rows) else "* none"
    blocks.append(f"**{title}** ({len(rows)} of {len(summary)} claims)\n\n{body}")
display(Markdown("\n\n".join(blocks)))

# %%
flagged = summary[summary["paper_notes"].str.len() > 0][["claim", "paper_check", "paper_notes"]]
display(Markdown("**Paper side: caveats and flagged rows** (reconstructed rows, rows left out of "
                 "`paper_check` because the table cannot hold them, and inconsistencies)\n\n"
                 + ("\n".join(f"* **{r.claim}** ({r.paper_check}): {r.paper_notes}"
                              for r in flagged.itertuples()) or "* none")))

# %% [markdown]
# ## 4 · All intervals at a glance
#
# One line per (claim, setting) of our side: the estimate, its $95\%$ interval, and the claim's
# tolerance (dotted). Colour: the setting's verdict. Timings (a point value, another scale)
# are left out.

# %%
colours = {"holds": "#2ca02c", "does not hold": "#d62728", "inconclusive": "#7f7f7f"}
plot = settings[(settings["side"] == "ours") & settings["low"].notna()].reset_index(drop=True)
tolerance = {c.id: c.tolerance for c in CLAIMS}
if len(plot):
    fig, ax = plt.subplots(figsize=(8, 0.22 * len(plot) + 1.2))
    y = np.arange(len(plot))[::-1]
    for yi, r in zip(y, plot.itertuples()):
        ax.plot([r.low, r.high], [yi, yi], color=colours.get(r.verdict, "k"), lw=2)
        ax.plot(r.estimate, yi, "o", color=colours.get(r.verdict, "k"), ms=3)
        ax.plot(tolerance[r.claim], yi, "|", color="k", ms=6)
    ax.axvline(0, color="0.6", lw=0.8, ls=":")
    ax.set_yticks(y, [f"{r.claim} | {r.setting}" for r in plot.itertuples()], fontsize=6)
    ax.set_xlabel("statistic of the claim (F1 or its difference), 95% interval")
    for v, c in colours.items():
        ax.plot([], [], color=c, lw=2, label=v)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    savefig(fig, "claims_intervals")
    plt.show()
else:
    print("no per-image tables: nothing to plot")

# %% [markdown]
# ## 5 · The README's results block
#
# The README's results table and claims count are generated from these tables
# (`topotta_lite.experiments.readme`); a test fails when the committed README and the committed
# tables disagree. The block is rewritten by `topotta-lite reproduce`, not by this notebook: the
# notebook writes into the run's staging folder, and `figures/tables` receives its claims only
# once it has succeeded, so the runner rewrites the block right after publishing them, and only
# in a profile run that writes the committed `figures/`.

# %%
print("the runner rewrites the README block once these claims are published" if update_readme_block
      else "update_readme_block = False: the README is left alone")

# %% [markdown]
# ## How to read the verdicts
#
# * **holds**: the paper's pattern appears on our benchmark in every setting we measured, and
#   the interval excludes the other side. It is a statement about these classes and images; the
#   interval does not cover the choice of classes (a setting with one class speaks for that
#   class only: the `n_classes` column says how many each verdict rests on).
# * **does not hold**: in at least one setting the whole interval is on the wrong side; the
#   `ours` column names it. With many settings at $95\%$ each, one of them can land on the wrong
#   side by chance: read the margins.
# * **inconclusive**: the data cannot tell. More images (the full profile) narrow the
#   intervals; a tie (`+0.000 [+0.000, +0.000]`, e.g. two settings that give the very same
#   masks) stays inconclusive however many images there are.
# * **not testable here**: a table is missing (its notebook did not run in this profile, or
#   ran before it wrote per-image tables), or the sweep lacks the values the claim needs.
# * `paper_check` uses the paper's numbers as printed (no interval: the paper gives no
#   per-image data). `n/a`: the paper has no numbers for it (Table IV's values were lost in its
#   text; Fig. 7 is qualitative).
#
# ## Take-aways

# %%
unsupported = list(summary.loc[summary["paper_check"] == "does not hold", "claim"])
failing = list(summary.loc[summary["verdict"] == "does not hold", "claim"])
display(Markdown(takeaways([
    f"{plural(len(summary), 'quantitative claim')} checked; verdicts: "
    + ", ".join(f"{v}: {n}" for v, n in counts.items()) + ".",
    ("What does not hold here: " + ", ".join(failing) + ".") if failing
    else "No claim is contradicted by an interval here.",
    ("The paper's own tables do not support: " + ", ".join(unsupported) + ".")
    if unsupported else "The paper's own tables support every claim they can test.",
    "A verdict is about the pattern on our benchmark with our re-implementation, not about the "
    "paper's absolute numbers; `n_classes` says how many classes each verdict rests on.",
])))
