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
# # 05 · PCES: teaching a tiny network about one image, at test time
#
# *Paper: Section IV-C (Eq. 10).*
#
# The topological pseudo-labels of notebooks 02 and 04 are built from the score map alone, so
# their boundaries are only as sharp as the map (which is blurry: scorers work on coarse patches
# and are smoothed). PCES moves the decision onto the image's own **features**: a small MLP (three
# linear layers, each followed by GELU) is trained on this one image so that locations with the
# same pseudo-label get close embeddings and locations with different pseudo-labels end up at
# least a margin $m$ apart (the contrastive loss of Hadsell, Chopra and LeCun). Then every
# location joins the nearer of two prototypes (the mean embedding of the pseudo-anomalous and of
# the pseudo-nominal samples). Training on the test image itself is test-time training, as in
# TTT4AS (Costanzino et al.), with topological pseudo-labels instead of thresholded scores.
#
# Whether this helps is an empirical question, and on this notebook's image and features the
# answer is rendered at the end (section 4 and the take-aways); notebooks 08 and 14 measure it
# over whole data sets.
#
# **What you will see, on one test image**
# 1. the pseudo-labels (sublevel, superlevel, their intersection, and the fused mask, with what
#    EAI did on this image) and where the training samples come from on the feature grid;
# 2. the pairs, the loss and its gradient (a readable autograd loop beside the library's compiled
#    one);
# 3. the embeddings projected to 2D (PCA) before and after training, with the prototypes;
# 4. the prototype decision and how it compares with the pseudo-label mask and the ground truth;
# 5. CPU vs GPU time for adapting a batch of images (the GPU part runs only where one is present);
# 6. whether PCES helps on this class, one sampling choice at a time, with intervals.
#
# Exercises, each with a cell for your answer and a collapsed solution, follow sections 1, 2
# and 4.

# %% tags=["parameters"]
profile = "full"
seed = 0
size = "full"  # embedded benchmark size: "smoke" | "quick" | "full"
data_root = None  # a real dataset root; then `dataset` names it
dataset = "embedded-2d"
category = "brick"
scorer = "patchcore"
image_index = 0  # which anomalous test image (0: the first)
epochs = 30
margin = 1.0
n_points = 512  # PCES's default budget (see section 6)
lr = 1e-2
n_timing_images = 16  # images adapted together in the CPU vs GPU timing
ablation_classes = None  # section 6: classes of the ablation (None: just `category`)

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display
from matplotlib.patches import Patch, Rectangle
from sklearn.decomposition import PCA

from topotta_lite.config import pin_threads
from topotta_lite.experiments import (
    build_cells,
    load_split,
    paired_against,
    pces_ablation_variants,
    run_labelled,
    score_bundle,
    topotta_defaults,
)
from topotta_lite.features import standardise, upsample_scores
from topotta_lite.method import (
    PCES,
    ContrastiveMLP,
    adapt_batch,
    contrastive_loss,
    init_weights,
    pseudo_label_grids,
    sample_points,
)
from topotta_lite.metrics import segmentation_scores
from topotta_lite.operators import TopoTTA
from topotta_lite.outputs import savefig, use_style
from topotta_lite.teaching import (
    change_word,
    check,
    cite,
    fmt,
    fusion_outcome,
    overlay_mask,
    plural,
    references,
    show_map,
    takeaways,
)
from topotta_lite.teaching import exercises_05 as ex05

pin_threads()  # one BLAS / OpenMP / torch thread: the results do not depend on the machine's cores

use_style()
torch.manual_seed(seed)
torch.set_num_threads(1)  # one thread: the same floating-point sums, so identical figures each run
bundle = score_bundle(dataset, category, scorer, size=size, seed=seed, data_root=data_root)
anomalous = np.flatnonzero(bundle["labels"] == 1)
i = int(anomalous[image_index % len(anomalous)])
split = load_split(dataset, category, size=size, seed=seed, data_root=data_root)
image, gt = split.test[i].image, bundle["gts"][i]
smap, feats = bundle["maps"][i], bundle["features"][i]
print(f"{category} test image {split.test[i].name!r}: map {smap.shape}, "
      f"features {feats.shape} (C, h, w)")

# %% [markdown]
# ## 1. Pseudo-labels and where the samples come from
#
# TopoTTA's first stage (notebooks 02 and 04) gives the sublevel mask (enclosed high regions),
# the superlevel mask (the most persistent bright component) and their Euler-aware fusion. At
# the default of one feature per sweep the two masks are nested or disjoint (notebook 04,
# section 4): the fused mask is then the sublevel mask, a growth of it, or, when the masks do not
# overlap, EAI's **fallback** (by default the sublevel mask). The figure shows the two masks,
# their intersection and the fused mask, and the sentence under it says which case this image
# is. PCES
# works on the **feature grid**, coarser than the map (the cell below prints both shapes): a grid
# cell is a pseudo-positive when a large enough part of it lies in the fused mask
# (`pos_fraction`), and a pseudo-negative when it is clear of the union of all pseudo-label
# masks, grown by `neg_dilation` cells (cells in between are not used). The readable code below
# uses the same sampling settings as the library's `PCES`; the cell renders them.

# %%
topo = TopoTTA(seed=seed)
m_sub, m_sup, fused = topo.pseudo_labels(smap)
union = fused | m_sub | m_sup
grid = feats.shape[1:]
lib_pces = PCES(epochs=epochs, margin=margin, n_points=n_points, lr=lr, device="cpu", seed=seed)
pos, neg = pseudo_label_grids(fused, grid, union=union, pos_fraction=lib_pces.pos_fraction,
                              neg_dilation=lib_pces.neg_dilation)
rng = np.random.default_rng(seed)
x_all, _, _ = standardise(feats)
ip, ineg = sample_points(int(pos.sum()), int(neg.sum()), n_points, rng,
                         max_ratio=lib_pces.max_ratio)
pos_idx, neg_idx = np.flatnonzero(pos.ravel())[ip], np.flatnonzero(neg.ravel())[ineg]
print(f"grid {grid}: {pos.sum()} positive cells, {neg.sum()} negative cells, "
      f"sampled {len(pos_idx)} + {len(neg_idx)}")
display(Markdown(
    f"Sampling settings: a cell is positive when at least {lib_pces.pos_fraction:.0%} of it lies "
    f"in the fused mask; negative when no part of it lies in the union"
    + (f" grown by {plural(lib_pces.neg_dilation, 'cell')}" if lib_pces.neg_dilation else "")
    + f"; at most {lib_pces.n_points} cells are drawn"
    + (f", the larger class capped at {lib_pces.max_ratio:g} times the smaller."
       if lib_pces.max_ratio else ", the classes in the image's own proportions.")
    + f" On this image the fused pseudo-label gives {plural(int(pos.sum()), 'positive cell')} of "
    f"the {grid[0]}×{grid[1]} grid, and {plural(len(pos_idx), 'positive')} and "
    f"{plural(len(neg_idx), 'negative')} are sampled"
    + (" (every positive cell is used: the defect class is learnt from these locations only)."
       if len(pos_idx) == int(pos.sum()) else ".")))

inter = m_sub & m_sup
outcome = fusion_outcome(m_sub, m_sup, fused)
fig, axes = plt.subplots(1, 6, figsize=(18, 3.8))
overlay_mask(axes[0], gt, background=image, color="#00e5ff", alpha=0.35)
axes[0].set_title("image + ground truth")
show_map(axes[1], smap, title="score map", colorbar=False)
overlay_mask(axes[2], m_sub, background=image, color="#2ca02c", alpha=0.35)
overlay_mask(axes[2], m_sup, color="#ff7f0e", alpha=0.35)
for m, color in ((m_sub, "#2ca02c"), (m_sup, "#ff7f0e")):  # a frame, so small masks show
    if m.any():
        rows_m, cols_m = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
        axes[2].add_patch(Rectangle((cols_m[0] - 3.5, rows_m[0] - 3.5),
                                    cols_m[-1] - cols_m[0] + 7, rows_m[-1] - rows_m[0] + 7,
                                    fill=False, ls="--", lw=1.2, edgecolor=color))
axes[2].set_title(f"sublevel ({int(m_sub.sum())} px) and\nsuperlevel ({int(m_sup.sum())} px) "
                  "masks, framed")
overlay_mask(axes[3], inter, background=image, color="#9467bd", alpha=0.5)
axes[3].set_title(f"their intersection I\n({int(inter.sum())} px"
                  + (": empty)" if not inter.any() else ")"))
overlay_mask(axes[4], fused, background=image, color="#d62728", alpha=0.4)
axes[4].set_title("fused pseudo-label\n" + ("(EAI's fallback)" if outcome["fallback"] else "(EAI)"))
state = np.zeros(grid)
state[neg] = -1
state[pos] = 1
axes[5].imshow(state, cmap="coolwarm", vmin=-1.5, vmax=1.5)
for idx, color in ((pos_idx, "#8b0000"), (neg_idx, "#00008b")):
    rr, cc = np.unravel_index(idx, grid)
    axes[5].scatter(cc, rr, s=3, c=color)
axes[5].set_title("grid: +cells (red), -cells (blue),\ndots = sampled")
axes[5].set_xticks([])
axes[5].set_yticks([])
legend_items = [("#00e5ff", "ground truth"), ("#2ca02c", "sublevel mask"),
                ("#ff7f0e", "superlevel mask"), ("#9467bd", "intersection I"),
                ("#d62728", "fused pseudo-label")]
fig.legend([Patch(facecolor=c, edgecolor=c, alpha=0.7) for c, _ in legend_items],
           [t for _, t in legend_items], loc="lower center", ncol=len(legend_items),
           frameon=False, bbox_to_anchor=(0.5, 0.0))
fig.tight_layout(rect=(0, 0.07, 1, 1))
savefig(fig, "pces_pseudo_labels")
plt.show()
relation_words = {"disjoint": "do not overlap", "sub in sup": "are nested (sublevel inside "
                  "superlevel)", "sup in sub": "are nested (superlevel inside sublevel)",
                  "equal": "are equal", "partial overlap": "partly overlap",
                  "empty": "include an empty mask"}
display(Markdown(
    f"On this image the sublevel mask ({plural(int(m_sub.sum()), 'pixel')}) and the superlevel "
    f"mask ({plural(int(m_sup.sum()), 'pixel')}) {relation_words[outcome['relation']]}; their "
    f"intersection has {plural(int(inter.sum()), 'pixel')}. "
    + ("**The fallback fired**: EAI had nothing to grow, and the fused pseudo-label is the "
       + ("sublevel mask" if outcome["equals_sub"] else "fallback mask") + ", not a fusion of the two."
       if outcome["fallback"] else
       ("The fallback did not fire: EAI grew the intersection by "
        f"{plural(int((fused & ~inter).sum()), 'pixel')}." if outcome["eai_acts"] else
        "The fallback did not fire, and EAI returned the intersection unchanged"
        + (" (here: the sublevel mask)." if outcome["equals_sub"] else ".")))
    + " PCES learns the defect class from the fused pseudo-label."))

# %% [markdown]
# **Reading the figure.** From left: the image with its ground truth (cyan); the score map; the
# two pseudo-label masks (green: sublevel, orange: superlevel; a dashed frame marks where each
# lies, so that a small mask shows); their intersection, where EAI starts; the fused pseudo-label
# PCES learns from (its title says whether it is EAI's fallback); and the feature grid with its
# positive and negative cells and the sampled ones. The legend under the panels names the
# colours.
#
# ### Exercise 1 · Which cells are positive?
#
# An $8 \times 8$ fused mask holds a $3 \times 3$ square of pixels at rows $1$-$3$, columns
# $1$-$3$; the feature grid is $4 \times 4$ (each cell covers $2 \times 2$ pixels). With
# `pos_fraction = 0.5` (positive: at least half of the cell in the mask), which cells are
# positive? Answer with a list of cells $(i, j)$ (row, column of the grid).

# %%
answer = None  # your answer: a list of (row, column) pairs
check("05.1", answer)

# %% jupyter={"source_hidden": true, "outputs_hidden": true} tags=["solution"]
# Solution to exercise 1.
toy_mask = ex05.toy_fused_mask()
answer_pos = sorted(ex05.positive_cells())
toy_pos, toy_neg = pseudo_label_grids(toy_mask, (4, 4), pos_fraction=0.5, neg_dilation=1)
n_neg, n_out = int(toy_neg.sum()), int((~toy_pos & ~toy_neg).sum())
display(Markdown(
    "**Solution.** Cell $(i, j)$ covers pixel rows $2i$, $2i+1$ and columns $2j$, $2j+1$. Cell "
    "$(0, 0)$ holds one of its four pixels in the square (pixel $(1, 1)$): not positive. Cells "
    "$(0, 1)$ and $(1, 0)$ hold two of four, exactly half: positive. Cell $(1, 1)$ holds all "
    f"four: positive. So the positives are {answer_pos}. With `neg_dilation = 1` the four cells "
    "that touch the mask, grown by one cell, cover grid rows and columns $0$-$2$, nine cells: "
    f"the other {n_neg} cells are negatives, and {n_out} cells are left out (the uncertain rim). "
    "With `pos_fraction = 1.0` only cell $(1, 1)$ would be positive."))
assert check("05.1", answer_pos).correct
assert [tuple(map(int, c)) for c in np.argwhere(toy_pos)] == answer_pos
assert (n_neg, n_out) == (16 - 9, 9 - 3)
strict_pos, _ = pseudo_label_grids(toy_mask, (4, 4), pos_fraction=1.0, neg_dilation=0)
assert [tuple(map(int, c)) for c in np.argwhere(strict_pos)] == [(1, 1)]

# %% [markdown]
# ## 2. Pairs and the loss
#
# Every pair of sampled locations is a training example: **similar** (same pseudo-label,
# $y = 0$) pairs pay their squared embedding distance $d^2$, **dissimilar** pairs ($y = 1$) pay
# $\max(0, m - d)^2$, so they are pushed apart until they are a margin $m$ apart and then left
# alone. $n$ samples give $n(n-1)/2$ pairs (the cell below prints how many there are on this
# image), and every epoch averages the loss over all of them.
#
# Below, a readable loop with `torch.nn` and autograd (one image, one MLP) beside the library's
# `topotta_lite.method.PCES`. The library never calls autograd: it writes the gradient out by
# hand, with one convention to keep straight. Write the loss as a sum over **ordered** pairs,
# $L = \frac{1}{2P} \sum_{i \ne j} \ell(d_{ij}^2)$, each of the $P = n(n-1)/2$ pairs counted twice
# with half the weight, and let $G$ be the $n \times n$ matrix of its derivatives,
# $G_{ij} = \partial L / \partial (d_{ij}^2)$ in that sum: $\frac{1}{2P}$ for a similar pair,
# $-\frac{m - d_{ij}}{2P\, d_{ij}}$ for a dissimilar pair closer than the margin, $0$ otherwise
# (the code's `1 / (2P)`). Since $\partial d_{ij}^2 / \partial z_i = 2 (z_i - z_j)$ and each pair
# appears as $(i, j)$ and as $(j, i)$, the gradient with respect to the embeddings $Z$ (one row
# per sample) is
#
# $$\nabla_Z L = 4 \big(\mathrm{diag}(G \mathbf{1})\, Z - G Z\big),$$
#
# one small matrix product. (With $G$ taken per *unordered* pair, $\frac{1}{P}$ for a similar
# pair, the same gradient reads $2 (\mathrm{diag}(G \mathbf{1}) Z - G Z)$.) The next cell checks
# the formula against autograd on random embeddings. The whole training loop is compiled (numba),
# so that an image takes milliseconds on one CPU core. Both loops start from the same seeded
# weights (`init_weights`), so if the hand-written gradient is right the two loss curves lie on
# top of each other (the cell after it prints the largest gap).

# %%
check_rng = np.random.default_rng(seed)
z_chk = torch.tensor(check_rng.normal(size=(12, 4)), dtype=torch.float64, requires_grad=True)
y_chk = np.r_[np.ones(5), np.zeros(7)]
ia, ib = np.triu_indices(len(y_chk), k=1)
dis_chk = torch.from_numpy((y_chk[ia] != y_chk[ib]).astype(np.float64))
loss_chk = contrastive_loss(z_chk[ia], z_chk[ib], dis_chk, margin=3.0)  # mean over the P pairs
loss_chk.backward()
with torch.no_grad():
    n_pairs = len(ia)
    dist = torch.cdist(z_chk, z_chk)
    different = torch.from_numpy(y_chk[:, None] != y_chk[None, :])
    g_mat = torch.where(different, -(3.0 - dist).clamp(min=0) / dist.clamp(min=1e-12),
                        torch.ones_like(dist)) / (2 * n_pairs)
    g_mat.fill_diagonal_(0.0)
    by_hand = 4 * (torch.diag(g_mat.sum(1)) @ z_chk - g_mat @ z_chk)
gap_grad = float((by_hand - z_chk.grad).abs().max())
assert gap_grad < 1e-10, gap_grad
print(f"4 (diag(G1) Z - G Z) with G_ij = dL/d(d_ij^2) over ordered pairs (1/(2P) for a similar "
      f"pair) vs autograd: largest difference {gap_grad:.1e}")

# %%
x_train = torch.from_numpy(np.concatenate([x_all[pos_idx], x_all[neg_idx]]))
y_train = np.concatenate([np.ones(len(pos_idx)), np.zeros(len(neg_idx))]).astype(np.float32)
n = len(y_train)
n_similar = int((y_train.sum() ** 2 - y_train.sum() + (n - y_train.sum()) ** 2
                 - (n - y_train.sum())) // 2)
print(f"{n} samples -> {n * (n - 1) // 2} pairs ({n_similar} similar, "
      f"{n * (n - 1) // 2 - n_similar} dissimilar), all used at every epoch")

mlp = ContrastiveMLP.from_weights(
    init_weights([x_train.shape[1], lib_pces.hidden, lib_pces.hidden, lib_pces.embed_dim], seed))
with torch.no_grad():
    z_before = mlp(torch.from_numpy(x_all)).numpy()
opt = torch.optim.Adam(mlp.parameters(), lr=lr, weight_decay=lib_pces.weight_decay)
a, b = np.triu_indices(n, k=1)  # every pair once
y = torch.from_numpy((y_train[a] != y_train[b]).astype(np.float32))  # 1 = dissimilar
curve = []
for _epoch in range(epochs):
    opt.zero_grad()
    z = mlp(x_train)
    loss = contrastive_loss(z[a], z[b], y, margin=margin)
    loss.backward()
    opt.step()
    curve.append(loss.item())

lib = lib_pces.adapt(feats, fused, union=union)
print(f"largest gap between the two loss curves: {np.abs(np.array(curve) - lib.loss_curve).max():.2e}")

fig, ax = plt.subplots(figsize=(5.5, 3.4))
ax.plot(np.arange(1, epochs + 1), curve, "o-", ms=5, label="readable loop (torch.nn, autograd)")
ax.plot(np.arange(1, len(lib.loss_curve) + 1), lib.loss_curve, "s-", ms=2,
        label="library PCES (hand-written gradient)")
ax.set_xlabel("epoch")
ax.set_ylabel("contrastive loss (Eq. 10)")
ax.set_title(f"PCES on one {category} image, margin m = {margin}")
ax.legend()
savefig(fig, "pces_loss_curve")
plt.show()

# %% [markdown]
# ### Exercise 2 · Count the pairs
#
# With $p$ positive and $q$ negative samples, how many pairs are similar and how many
# dissimilar? Answer with a function `pairs(p, q)` that returns the two counts
# `(similar, dissimilar)`; the check tries it on several $(p, q)$.

# %%
answer = None  # your answer: a function, e.g. def pairs(p, q): return (..., ...); answer = pairs
check("05.2", answer)

# %% jupyter={"source_hidden": true, "outputs_hidden": true} tags=["solution"]
# Solution to exercise 2.
def pairs(p, q):
    """Similar pairs (within a class) and dissimilar pairs (one sample of each class)."""
    return p * (p - 1) // 2 + q * (q - 1) // 2, p * q


p_count, q_count = len(pos_idx), len(neg_idx)
display(Markdown(
    "**Solution.** Similar pairs: $p(p-1)/2 + q(q-1)/2$; dissimilar pairs: $pq$; together "
    f"$n(n-1)/2$ with $n = p + q$. On this image $p = {p_count}$, $q = {q_count}$: "
    f"{pairs(p_count, q_count)[0]} similar and {pairs(p_count, q_count)[1]} dissimilar pairs."))
assert check("05.2", pairs).correct
assert pairs(p_count, q_count) == (n_similar, n * (n - 1) // 2 - n_similar)

# %% [markdown]
# ### Exercise 3 · Price a pair
#
# With margin $m = 1$, what does a dissimilar pair at distance $d = 0.4$ pay, what does a similar
# pair at the same distance pay, and what does a dissimilar pair at distance $1.5$ pay? Answer
# with the three numbers in that order.

# %%
answer = None  # your answer: three numbers
check("05.3", answer)

# %% jupyter={"source_hidden": true, "outputs_hidden": true} tags=["solution"]
# Solution to exercise 3.
answer_costs = ex05.pair_prices()
display(Markdown(
    f"**Solution.** A dissimilar pair at $d = 0.4$ pays $(1 - 0.4)^2 = {fmt(answer_costs[0], 2)}$, "
    f"a similar one $0.4^2 = {fmt(answer_costs[1], 2)}$; a dissimilar pair already $1.5$ apart "
    f"pays {fmt(answer_costs[2], 1)}: the margin term is zero beyond $m$."))
assert check("05.3", answer_costs).correct
assert np.allclose(answer_costs, [(1 - 0.4) ** 2, 0.4 ** 2, 0.0])

# %% [markdown]
# ## 3. Embeddings before and after
#
# Every grid location's embedding (a vector of `PCES.embed_dim` numbers) projected onto its
# first two principal components. The contrastive loss pulls each pseudo-class together and
# pushes the two apart; colour = the **ground truth** of the location (which PCES never sees).
# Where the pseudo-labels are wrong, the features may or may not put a location on the right
# side: compare the two panels, and section 4 measures the result.

# %%
with torch.no_grad():
    z_after = mlp(torch.from_numpy(x_all)).numpy()
frac = torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(gt.astype(np.float32))[None],
                                               grid)[0].numpy().ravel()
is_defect = frac >= 0.5
fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
for ax, z, title in ((axes[0], z_before, "before training"), (axes[1], z_after, "after training")):
    pca = PCA(n_components=2, random_state=seed).fit(z)
    p2 = pca.transform(z)
    ax.scatter(*p2[~is_defect].T, s=3, c="#9ecae1", label="nominal (GT)", alpha=0.6)
    ax.scatter(*p2[is_defect].T, s=5, c="#d62728", label="defect (GT)", alpha=0.8)
    proto_pos = pca.transform(z[pos_idx].mean(0, keepdims=True))[0]
    proto_neg = pca.transform(z[neg_idx].mean(0, keepdims=True))[0]
    ax.scatter(*proto_pos, marker="*", s=250, c="#8b0000", edgecolor="k",
               label="anomalous prototype")
    ax.scatter(*proto_neg, marker="*", s=250, c="#00008b", edgecolor="k",
               label="nominal prototype")
    ax.set_title(f"{title} (PCA: {pca.explained_variance_ratio_.sum():.0%} of variance)")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
axes[0].legend(loc="best")
fig.tight_layout()
savefig(fig, "pces_embeddings")
plt.show()

# %% [markdown]
# ## 4. The prototype decision
#
# Each location gets the margin $\|z - p_{nominal}\| - \|z - p_{anomalous}\|$: positive means
# closer to the anomalous prototype. The margin is computed on the grid, upsampled bilinearly to
# the map and thresholded at zero.

# %%
zt = z_after
margin_grid = (np.linalg.norm(zt - zt[neg_idx].mean(0), axis=1)
               - np.linalg.norm(zt - zt[pos_idx].mean(0), axis=1)).reshape(grid)
ours_mask = upsample_scores(margin_grid, smap.shape) > 0
rows = {"fused pseudo-label": fused, "PCES (readable loop)": ours_mask,
        "PCES (library)": lib.mask}
scores = pd.DataFrame({k: segmentation_scores(v, gt) for k, v in rows.items()}).T
display(scores.round(3))

fig, axes = plt.subplots(1, 4, figsize=(13, 3.3))
lim = float(np.abs(margin_grid).max()) or 1.0
im = axes[0].imshow(margin_grid, cmap="coolwarm", vmin=-lim, vmax=lim)
axes[0].set_title("prototype margin (grid)")
axes[0].set_xticks([])
axes[0].set_yticks([])
fig.colorbar(im, ax=axes[0], fraction=0.046, pad=0.03)
for ax, (name, mask) in zip(axes[1:], rows.items()):
    overlay_mask(ax, mask, background=image, color="#d62728", alpha=0.4)
    ax.contour(gt.astype(float), levels=[0.5], colors=["#00e5ff"], linewidths=1.0)
    ax.set_title(f"{name}\nF1={scores.loc[name, 'f1']:.2f}  (cyan: GT)")
fig.tight_layout()
savefig(fig, "pces_decision")
plt.show()
f1_fused, f1_pces = float(scores.loc["fused pseudo-label", "f1"]), float(scores.loc["PCES (library)",
                                                                                  "f1"])
display(Markdown(
    f"On this image PCES {change_word(f1_fused, f1_pces, tol=5e-4)} F1 compared with the fused "
    f"pseudo-label it was trained on ({fmt(f1_fused)} → {fmt(f1_pces)}; precision "
    f"{fmt(scores.loc['fused pseudo-label', 'precision'])} → "
    f"{fmt(scores.loc['PCES (library)', 'precision'])}, recall "
    f"{fmt(scores.loc['fused pseudo-label', 'recall'])} → "
    f"{fmt(scores.loc['PCES (library)', 'recall'])})."))

# %% [markdown]
# ### Exercise 4 · Predict the decision of one location
#
# Two prototypes in a two-dimensional embedding: $p_{anomalous} = (1, 0)$ and
# $p_{nominal} = (-1, 0)$. Which of the locations $z = (0.2, 3)$, $z = (-0.1, 0)$ and
# $z = (0, 5)$ does PCES call defective? Answer with three booleans, in that order.

# %%
answer = None  # your answer: three booleans
check("05.4", answer)

# %% jupyter={"source_hidden": true, "outputs_hidden": true} tags=["solution"]
# Solution to exercise 4.
answer_defect = ex05.defect_calls()
margins = (np.linalg.norm(ex05.LOCATIONS - ex05.P_NOMINAL, axis=1)
           - np.linalg.norm(ex05.LOCATIONS - ex05.P_ANOMALOUS, axis=1))
display(Markdown(
    "**Solution.** Only the horizontal coordinate matters for which prototype is nearer (the "
    "prototypes differ only there): $z = (0.2, 3)$ is nearer to the anomalous one, defective, "
    f"though its margin is small ({fmt(margins[0], 3)}) because it is far from both; "
    f"$(-0.1, 0)$ is nominal, margin $0.9 - 1.1 = {fmt(margins[1], 1)}$; $(0, 5)$ is exactly "
    "halfway, margin zero, and the rule (margin $> 0$) calls it nominal: "
    f"{answer_defect}."))
assert check("05.4", answer_defect).correct
assert (margins > 0).tolist() == answer_defect and abs(margins[1] + 0.2) < 1e-12

# %% [markdown]
# ## 5. CPU vs GPU
#
# On the CPU the images are adapted one after the other by the compiled loop (the matrices are
# tiny, one thread is fastest). On a GPU, `topotta_lite.method.adapt_batch` stacks one MLP per
# image and trains the whole batch with batched matrix products (the same hand-written gradient, in
# torch), which is where a GPU pays off. Timings are wall-clock and
# vary from run to run; they are printed, not written as a table (notebook 12 owns the runtime
# table).

# %%
take = anomalous[:n_timing_images]
feat_b = [bundle["features"][j] for j in take]
labels_b = [topo.pseudo_labels(bundle["maps"][j]) for j in take]
masks_b = [f for _, _, f in labels_b]
unions_b = [f | s | u for s, u, f in labels_b]
kw = {"epochs": epochs, "margin": margin, "n_points": n_points, "lr": lr,
      "seeds": [seed + k for k in range(len(take))]}
timing = []
t0 = time.perf_counter()
cpu_res = adapt_batch(feat_b, masks_b, unions=unions_b, device="cpu", **kw)
timing.append({"device": "cpu", "n_images": len(take), "seconds": time.perf_counter() - t0})
if torch.cuda.is_available():
    adapt_batch(feat_b[:1], masks_b[:1], unions=unions_b[:1], device="cuda", **kw | {"seeds": 0})
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    gpu_res = adapt_batch(feat_b, masks_b, unions=unions_b, device="cuda", **kw)
    torch.cuda.synchronize()
    timing.append({"device": torch.cuda.get_device_name(0), "n_images": len(take),
                   "seconds": time.perf_counter() - t0})
    agree = np.mean([np.mean(a.mask == b.mask) for a, b in zip(cpu_res, gpu_res)])
    print(f"CPU and GPU masks agree on {agree:.1%} of the pixels (float rounding differs)")
else:
    print("No CUDA device here: the GPU timing was skipped.")
timing = pd.DataFrame(timing)
timing["seconds_per_image"] = timing["seconds"] / timing["n_images"]
display(timing.round(4))

# %% [markdown]
# ## 6. Does PCES help here? One choice at a time
#
# PCES is trained on the pseudo-labels, so the only fair yardstick is the pseudo-labels
# themselves: on the same images, does the adapted mask score a higher F1 than the mask it learnt
# from? Each row undoes one of our sampling defaults (one row undoes all four at once), or
# changes the budget, the decision rule or the resolution; the interval ($95\%$, images
# resampled within classes, a bootstrap) says whether the difference could be noise. Notebook 08
# runs the same ablation on more classes.

# %%
abl_classes = ablation_classes or [category]
if len(abl_classes) < 3:
    print(f"NOTE: this ablation rests on {len(abl_classes)} class(es) ({', '.join(abl_classes)}); "
          "notebook 08 runs it on at least 3.")
cells, labels = build_cells(pces_ablation_variants(topotta_defaults()), dataset=dataset,
                            categories=abl_classes, scorers=[scorer], size=size, seed=seed,
                            data_root=data_root)
abl_means, abl_images = run_labelled(cells, labels, desc="PCES ablation", per_image=True,
                                      progress=False)
abl_pairs = paired_against(abl_images, "pseudo-labels", by=["scorer"])
display(abl_pairs)
best = abl_pairs.sort_values("difference", ascending=False).iloc[0]
ours = abl_pairs[abl_pairs["setting"] == "defaults"].iloc[0]
display(Markdown(
    f"With our defaults PCES changes F1 by **{ours['difference']:+.3f}** "
    f"[{ours['low']:+.3f}, {ours['high']:+.3f}] over {ours['n_images']} images "
    f"({ours['n_classes']} class(es)): **{ours['verdict']}** that it helps here. The largest "
    f"difference in this table is *{best['setting']}* ({best['difference']:+.3f})."))

# %% [markdown]
# ## Take-aways

# %%
f1_loop = float(scores.loc["PCES (readable loop)", "f1"])
gap = float(np.abs(np.array(curve) - lib.loss_curve).max())
display(Markdown(takeaways([
    f"PCES trains a small MLP on {plural(n, 'sampled location')} of one image "
    f"({plural(int(pos.sum()), 'positive cell')} available, {len(pos_idx)} sampled as "
    f"positives), over all {n * (n - 1) // 2} pairs at every epoch.",
    ("The library's hand-written gradient reproduces autograd's loss curve (largest gap "
     f"{gap:.1e})." if gap < 1e-4 else "What does not work here: the library's loss curve "
     f"differs from autograd's by up to {gap:.1e}; the two loops no longer train the same "
     "network on the same samples."),
    f"What does not work here: on this image and these features PCES "
    f"{change_word(f1_fused, f1_pces, tol=5e-4)} F1 compared with its own pseudo-label "
    f"({fmt(f1_fused)} → {fmt(f1_pces)}; the readable loop gives {fmt(f1_loop)}). PCES can only "
    "spread the pseudo-label along what the features separate; notebooks 08 and 14 measure "
    "whether it helps over whole data sets.",
    f"Over {ours['n_images']} images ({plural(int(ours['n_classes']), 'class', 'classes')}, "
    f"section 6) PCES with our defaults changes F1 by {ours['difference']:+.3f} "
    f"[{ours['low']:+.3f}, {ours['high']:+.3f}] against its pseudo-labels: {ours['verdict']}.",
    ("On this image the two pseudo-labels do not overlap, so the fused mask PCES learns from is "
     "EAI's fallback (the sublevel mask), not a fusion: at one feature per sweep the masks are "
     "nested or disjoint (notebook 04)." if outcome["fallback"] else
     "On this image the two pseudo-labels overlap, so EAI had an intersection to start from "
     + ("and grew it." if outcome["eai_acts"] else "and returned it unchanged.")),
    f"The hand-written gradient 4 (diag(G1) Z - G Z), with G the derivatives over ordered pairs, "
    f"matches autograd (largest difference {gap_grad:.1e}); the loss is the contrastive loss of "
    f"{cite('hadsell2006dimensionality')}.",
    "On a CPU the compiled loop adapts one image at a time; a GPU trains a batch of images at "
    "once (section 5).",
])))

# %%
display(Markdown(references(
    "zia2026topotta", "hadsell2006dimensionality", "costanzino2024ttt4as", "roth2022patchcore",
    "tan2019efficientnet", "hendrycks2016gelu", "kingma2015adam", "efron1979bootstrap")))
