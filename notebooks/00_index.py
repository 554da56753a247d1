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
# The first five notebooks (00-04) are the mathematics, with toy examples small enough to check by
# hand. Notebooks 05-13 are the experiments.

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

from topotta_lite.outputs import write_table

NOTEBOOKS = [
    ("00", "index", "-", "this page"),
    ("01", "cubical complexes", "Sec. III-A, Fig. 2",
     "cubes, faces, boundary matrices, Betti numbers over Z2 by hand vs gudhi; V vs T construction"),
    ("02", "stability", "Sec. IV-B, Lemma 1",
     "bottleneck distance <= sup-norm of the perturbation, checked on 1000s of random maps"),
    ("03", "multi-level filtration", "Sec. IV-A, Fig. 4",
     "sublevel / superlevel filtrations, diagrams, barcodes, n levels, Top-K regions, slider"),
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
    ("13", "claims report", "all of Sec. V",
     "one row per quantitative claim: paper vs ours, verdict computed from results"),
]
index = pd.DataFrame(NOTEBOOKS, columns=["notebook", "topic", "paper", "what you see"])
write_table(index, "nb00_notebook_map")
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
# | run one notebook with a profile | `topotta-lite reproduce --only 03 --profile smoke` |
# | run one notebook with a parameter changed | `topotta-lite reproduce --only 03 -p levels 64` |
# | the same through papermill directly | see below |
#
# **Profiles.** Every notebook has one cell tagged `parameters` whose values are the full
# (paper-scale) run. The runner injects smaller values from `notebooks/profiles.toml`: `smoke` takes
# seconds per notebook (the test suite uses it), `quick` a minute or two, `full` the defaults.
#
# **Outputs.** Figures go to `figures/<name>.png` and `.pdf`, tables to `figures/tables/<name>.csv`
# and `.md`, and `figures/MANIFEST.json` records which notebook, profile and parameters wrote each
# file (with a content hash). Executed notebooks are kept under `build/<profile>/`.
#
# **Opening the notebooks.** The sources are plain Python files (jupytext "percent" format). Run
# `jupyter lab` from the repository root and open any `notebooks/NN_*.py` file as a notebook
# (right click → *Open With → Notebook*).
#
# **Papermill by hand.** To run a notebook outside the runner:
#
# ```bash
# jupytext --to ipynb --output /tmp/03.ipynb notebooks/03_multilevel_filtration.py
# papermill /tmp/03.ipynb /tmp/03.out.ipynb -p profile quick -p levels 64
# ```

# %% [markdown]
# ## A first look
#
# The code below is the whole idea in a few lines: a toy score map with a blob, a ring and a thin
# crack; its two persistence diagrams; and the most persistent structures turned into masks.
# Notebooks 01-04 explain every piece.

# %%
from topotta_lite.teaching import toy_score_map
from topotta_lite.topology import cubical_persistence

psi, parts = toy_score_map((64, 64), seed=seed)
sub = cubical_persistence(psi, filtration="sublevel", levels=256)
sup = cubical_persistence(psi, filtration="superlevel", levels=256)
print(f"sublevel diagram: {len(sub)} features; superlevel diagram: {len(sup)} features")
print("three most persistent superlevel H0 features (birth, death):")
top = sup.in_dim(0).top_k(3)
for b, d in zip(top.births, top.deaths):
    print(f"  born at score {b:.3f}, dies at {d:.3f}, persistence {b - d:.3f}")
