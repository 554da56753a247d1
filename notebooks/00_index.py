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
# # 00 · Index: a companion to TopoTTA
#
# **TopoTTA** turns an anomaly *score map* (one number per pixel or voxel: "how unusual does this
# place look?") into a *binary mask* (defect / no defect) without picking a score threshold by hand.
# It reads the shape of the map with **persistent homology**: it watches connected regions and
# enclosed holes appear and disappear as a threshold sweeps through all score values, keeps the
# structures that live longest, fuses what the low-to-high and high-to-low sweeps say, and uses the
# result as pseudo-labels to train a tiny classifier on the test image itself (test-time adaptation).
#
# `topotta-lite` is a small, readable re-implementation meant for **teaching and checking**:
#
# * every step is a plain function on numpy arrays in the `topotta_lite` package;
# * these notebooks explain each step with pictures, then regenerate the paper's tables and figures
#   on an embedded synthetic benchmark (no download needed), or on real data if you have it;
# * everything is seeded, so the same command gives byte-identical figures.
#
# Notebooks 01-05 are the course: the mathematics and the method, with examples small enough to
# check by hand, exercises you answer in a cell (`check` says whether you are right, or gives a
# hint) with worked solutions in collapsed cells, take-aways rendered from the results, and the
# references each notebook uses. Notebooks 06-12 are the experiments: they put the paper's tables
# beside ours; notebook 13 says how the defaults were chosen (on a development part of the data
# only) and notebook 14 gives every quantitative claim a computed verdict.
#
# **How to read the numbers.** No notebook types a number about its own results into its text:
# such numbers are printed by the code, or rendered into sentences from the results, and a test
# fails when a hand-written text cell states one. The paper's numbers are quoted with their table
# or section, e.g. (paper, Table X: TopoTTA's overhead over TTT4AS on a GPU).

# %% tags=["parameters"]
profile = "full"
seed = 0

# %% [markdown]
# ## The notebook map
#
# Each notebook answers a part of the paper. "Fig." and "Table" numbers refer to the TopoTTA paper.

# %%
import pandas as pd
from IPython.display import display

from topotta_lite.config import pin_threads
from topotta_lite.outputs import write_table

pin_threads()  # one BLAS / OpenMP / torch thread: the results do not depend on the machine's cores

NOTEBOOKS = [
    ("00", "index", "-", "this page"),
    ("01", "cubical complexes", "Sec. III-A, Fig. 2",
     "cubes, faces, boundary matrices, Betti numbers over Z2 by hand vs gudhi; V vs T "
     "construction; Euler characteristic and its blind spot; persistent Betti numbers defined"),
    ("02", "multi-level filtration", "Sec. IV-A, Fig. 4",
     "the elder rule by hand; sublevel / superlevel filtrations and their duality; diagrams and "
     "what persistence is; persistent Betti numbers and the Fundamental Lemma; the standard "
     "algorithm (boundary matrix reduction over Z2) vs gudhi; Top-K regions; n levels; "
     "landscapes and persistence images; the signed-distance filtration; slider"),
    ("03", "stability", "Sec. IV-B, Lemma 1",
     "exact bottleneck distance <= sup-norm of the perturbation on random maps (and the gudhi "
     "bug it caught); Wasserstein, landscapes; which pseudo-labels to trust"),
    ("04", "EAI fusion", "Sec. IV-A (Eq. 8-9)",
     "intersection vs IoU-style vs Euler-aware intersection; chi along candidates; lambda"),
    ("05", "PCES", "Sec. IV-C (Eq. 10)",
     "the contrastive encoder adapted on one image, step by step; CPU vs GPU"),
    ("06", "2D experiments", "Table I (2D), Table III, Fig. 5",
     "THR vs TTT4AS vs TopoTTA on 2D images"),
    ("07", "3D experiments", "Table I (3D), Fig. 6", "the same on depth maps and voxel volumes"),
    ("08", "ablations", "Tables V, VI", "Top-K component, filtration / fusion / PCES parts"),
    ("09", "sensitivity", "Tables VII, VIII, IX", "lambda, number of levels n, margin m"),
    ("10", "few-shot and cross-model", "Tables II, IV", "nominal support images; swapped scorers"),
    ("11", "robustness and failure cases", "Fig. 7, Fig. 8",
     "brightness / noise sweeps; where the upstream signal is too weak"),
    ("12", "runtime", "Table X", "pseudo-label and adaptation cost, memory"),
    ("13", "protocol", "-",
     "the development / evaluation split: defaults tuned on the development part only, the "
     "tuning record, and how optimistic tuning leaves the evaluation part"),
    ("14", "claims report", "all of Sec. V",
     "one row per quantitative claim: paper vs ours, verdict computed from results"),
]
index = pd.DataFrame(NOTEBOOKS, columns=["notebook", "topic", "paper", "what you see"])
_ = write_table(index, "nb00_notebook_map")
display(index)

# %% [markdown]
# ## How to run things
#
# From the repository root:
#
# | what | command |
# | --- | --- |
# | install everything and regenerate the figures | `make all` |
# | run the whole test suite | `make test` |
# | open the notebooks in JupyterLab | `make lab` |
# | run one notebook with a profile | `topotta-lite reproduce --only 02 --profile smoke` |
# | run one notebook with a parameter changed | `topotta-lite reproduce --only 02 -p levels 64` |
# | the same through papermill directly | see below |
#
# **Profiles.** Every notebook has one cell tagged `parameters` whose values are the full
# (paper-scale) run. The runner injects smaller values from `notebooks/profiles.toml`: `smoke` takes
# seconds per notebook (the test suite uses it), `quick` minutes for the whole set, `full` the
# defaults (the README gives each profile's measured time and memory). A notebook whose profile
# runs fewer classes than the full run says so in a NOTE at its top.
#
# **Outputs.** Figures go to `figures/<name>.png` and `.pdf`, tables to `figures/tables/<name>.csv`
# and `.md`, and `figures/MANIFEST.json` records which notebook, profile and parameters wrote each
# file (with a content hash). Executed notebooks are kept under `build/<profile>/`.
#
# **Opening the notebooks.** The sources are plain Python files (jupytext "percent" format).
# `make lab` starts JupyterLab on `notebooks/`, where a double-click opens a file as a notebook:
# `make setup` has made the jupytext notebook the default viewer of `.py` files, inside the
# project's environment only. (With another JupyterLab: right click → *Open With → Jupytext
# Notebook*.)
#
# **Papermill by hand.** To run a notebook outside the runner:
#
# ```bash
# jupytext --to ipynb --output /tmp/02.ipynb notebooks/02_multilevel_filtration.py
# papermill /tmp/02.ipynb /tmp/02.out.ipynb -p profile quick -p levels 64
# ```

# %% [markdown]
# ## A first look
#
# The cells below are the whole idea in a few lines: a toy score map with a blob, a ring and a
# thin crack; its two persistence diagrams (sublevel and superlevel); and the most persistent
# structures of each turned into masks. Notebooks 01-05 explain every piece.

# %%
import matplotlib.pyplot as plt
from IPython.display import Markdown

from topotta_lite.method import pseudo_label_mask
from topotta_lite.outputs import savefig, use_style
from topotta_lite.teaching import (
    TOY_ROLES,
    cite,
    far_from_diagonal,
    fmt,
    overlay_mask,
    plot_diagram,
    plural,
    references,
    show_map,
    takeaways,
    toy_score_map,
)
from topotta_lite.topology import cubical_persistence

use_style()
psi, parts = toy_score_map((64, 64), seed=seed)
sub = cubical_persistence(psi, filtration="sublevel", levels=256)
sup = cubical_persistence(psi, filtration="superlevel", levels=256)
masks = {f: pseudo_label_mask(psi, f, k=3) for f in ("sublevel", "superlevel")}
fig, axes = plt.subplots(1, 4, figsize=(17, 4.2))
show_map(axes[0], psi, title="a toy score map", vmin=0, vmax=1)
plot_diagram(sub, axes[1], value_range=(-0.03, 1.03),
             title=f"sublevel diagram ({len(sub)} features)")
plot_diagram(sup, axes[2], value_range=(-0.03, 1.03),
             title=f"superlevel diagram ({len(sup)} features)")
overlay_mask(axes[3], masks["sublevel"], background=psi, color="#00e5ff", alpha=0.35,
             label="sublevel Top-3")
overlay_mask(axes[3], masks["superlevel"], color="#ffd400", alpha=0.35, label="superlevel Top-3")
axes[3].set_title("the most persistent structures as masks")
fig.tight_layout()
savefig(fig, "nb00_first_look")
plt.show()
top = sup.in_dim(0).top_k(3)
found = {name for cell in top.birth_cells for name in ("blob", "ring", "crack")
         if parts[name][tuple(cell)]}
assert found == {"blob", "ring", "crack"}  # the sentence below names them
holes = sub.in_dim(1).top_k(3)  # a hole lives where it is filled: its death pixel
assert {name for cell in holes.death_cells for name in ("blob", "ring", "crack")
        if parts[name][tuple(cell)]} == {"blob", "ring", "crack"}
structures, rest = far_from_diagonal([sub, sup], parts)
assert len(structures) == len(TOY_ROLES) + 1  # every structure's feature was found
assert rest["persistence"].max() < structures["persistence"].min()  # the others are all shorter
write_table(structures, "nb00_far_from_diagonal")
display(structures.round(3))
display(Markdown(
    "The three most persistent superlevel pieces (H0) are the blob, the ring and the crack "
    "(asserted), born at " + ", ".join(f"{b:.3f}" for b in top.births) + " and dying at "
    + ", ".join(f"{d:.3f}" for d in top.deaths) + ". They are not the only points far from the "
    f"diagonal: the table lists the {plural(len(structures), 'feature')} that are (the ring's "
    "hole in the superlevel H1 diagram; the blob, the ring and the crack again as holes of the "
    "calm set in the sublevel H1 diagram; the ring's calm centre and the essential class in "
    f"sublevel H0), with persistence from {fmt(structures['persistence'].min(), 2)} up. The "
    f"other {plural(len(rest), 'feature')} of the two diagrams all have persistence at most "
    f"{fmt(rest['persistence'].max(), 2)} (asserted below every one of the table's): noise near "
    "the diagonal."))

# %% [markdown]
# **Reading the figure.** Left: the score map (bright = anomalous). Middle: the two persistence
# diagrams, one point per piece (blue) or hole (orange), born at the horizontal coordinate and
# dying at the vertical one. A point's **persistence**, how long the feature lives, is
# $d - b$ in the sweep's own order ($b - d$ for the superlevel sweep, whose values fall): its
# vertical distance to the diagonal. (Its $L_\infty$ distance to the diagonal, used in
# notebook 03, is half of that.) Right: the regions of the three most persistent superlevel
# pieces and of the three most persistent sublevel holes, over the map. No threshold was chosen
# by hand.
#
# ## Take-aways

# %%
display(Markdown(takeaways([
    f"Of the {len(sub) + len(sup)} features of the two diagrams, "
    f"{plural(len(structures), 'feature')} lie far from the diagonal, and each is a known "
    "structure of the map seen by one sweep (a piece, or a hole of the other sweep's set), or "
    f"an essential class; the other {len(rest)} are noise, with persistence at most "
    f"{fmt(rest['persistence'].max(), 2)}.",
    "The three most persistent superlevel pieces are exactly the blob, the ring and the crack, "
    "and the three most persistent sublevel holes are the same three (asserted above); their "
    "regions need no threshold chosen by hand.",
    "What this page does not show: whether the masks are *right* on real defects. That is the "
    "job of notebooks 06-14, and their take-aways say where TopoTTA does not win.",
])))
display(Markdown(
    f"To read further: {cite('edelsbrunner2010computational')} for persistent homology, "
    f"{cite('otter2017roadmap')} for how it is computed, {cite('kaczynski2004computational')} "
    "for cubical complexes."))

# %%
display(Markdown(references(
    "zia2026topotta", "edelsbrunner2010computational", "otter2017roadmap",
    "kaczynski2004computational",
)))
