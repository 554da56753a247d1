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
# # 01 · Cubical complexes and their homology
#
# *Paper: Section III-A and Fig. 2.*
#
# An image is a grid of numbers. To talk about its "shape" (how many pieces, how many holes) we
# first turn the grid into a geometric object made of simple building blocks: points, unit edges,
# unit squares and unit cubes. Such an object is a **cubical complex**. Then we count pieces and
# holes with linear algebra over the two-element field Z2 = {0, 1} (where 1 + 1 = 0).
#
# This notebook builds everything on images small enough to check by hand, and checks every count
# against the `gudhi` library.
#
# **What you will see**
# 1. elementary cubes and their faces (the figure answering the paper's Fig. 2);
# 2. boundary matrices, and why "the boundary of a boundary is zero";
# 3. Betti numbers (b0 = pieces, b1 = holes, b2 = cavities) from matrix ranks, checked against gudhi;
# 4. the two ways of building a complex from pixels (V and T) and the diagonal pair that separates
#    them;
# 5. the Euler characteristic, a single number that summarises b0 - b1 + b2 and is cheap to compute.

# %% tags=["parameters"]
profile = "full"
seed = 0
n_random_checks = 300  # random binary images whose Betti numbers are checked against gudhi
random_size = 7  # side of those images (pixels)

# %%
import gudhi
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display
from skimage.measure import euler_number

from topotta_lite.outputs import savefig, use_style, write_table
from topotta_lite.teaching import draw_complex, draw_elementary_cube
from topotta_lite.topology import CubicalComplex, euler_characteristic, rank_z2

use_style()
rng = np.random.default_rng(seed)

# %% [markdown]
# ## 1. Elementary cubes
#
# An **elementary interval** is either a single integer point [a, a] (length 0) or a unit interval
# [a, a + 1] (length 1). An **elementary cube** is a product of elementary intervals, one per axis.
# Its **dimension** is the number of unit (non-degenerate) intervals in the product:
#
# | product of intervals | dimension | what it is |
# | --- | --- | --- |
# | [0,0] × [0,0] × [0,0] | 0 | a point (vertex) |
# | [0,1] × [0,0] × [0,0] | 1 | a unit edge |
# | [0,1] × [0,0] × [0,1] | 2 | a unit square |
# | [0,1] × [0,1] × [0,1] | 3 | a unit cube (voxel) |
#
# A **face** of a cube is any cube obtained by shrinking some of its unit intervals [a, a+1] to one
# of their endpoints [a, a] or [a+1, a+1]. A **cubical complex** is a set of elementary cubes that
# contains every face of each of its cubes (it is "closed under taking faces").
#
# The top row of the next figure draws the four kinds of elementary cube in 3D. The bottom row shows
# how a tiny binary image becomes a complex, in the two ways this project supports (explained in
# section 4): in the **V construction** every "on" pixel is a vertex, and edges/squares are added
# between neighbouring on pixels; in the **T construction** every on pixel is a unit square, added
# together with its four edges and four corners.

# %%
example = np.array(
    [
        [1, 1, 1, 0],
        [1, 0, 1, 0],
        [1, 1, 1, 0],
        [0, 0, 0, 1],
    ],
    dtype=bool,
)
cubes_3d = [
    ([(0, 0), (0, 0), (0, 0)], "0-cube: a vertex\n[0,0]×[0,0]×[0,0]"),
    ([(0, 1), (0, 0), (0, 0)], "1-cube: an edge\n[0,1]×[0,0]×[0,0]"),
    ([(0, 1), (0, 0), (0, 1)], "2-cube: a square\n[0,1]×[0,0]×[0,1]"),
    ([(0, 1), (0, 1), (0, 1)], "3-cube: a voxel\n[0,1]×[0,1]×[0,1]"),
]
fig = plt.figure(figsize=(12, 7.2))
gs = fig.add_gridspec(2, 12, height_ratios=[1, 1.25], hspace=0.35)
for i, (iv, label) in enumerate(cubes_3d):
    ax = fig.add_subplot(gs[0, 3 * i:3 * i + 3], projection="3d")
    draw_elementary_cube(ax, iv, label=label)
    ax.view_init(elev=22, azim=-58)
ax = fig.add_subplot(gs[1, 0:4])
ax.imshow(example, cmap="Greys", vmin=0, vmax=1.6)
ax.set_xlim(-1, 4)
ax.set_ylim(4, -1)
ax.set_xticks(range(4))
ax.set_yticks(range(4))
ax.set_xlabel("pixel column")
ax.set_ylabel("pixel row")
ax.set_title("a 4×4 binary image (dark = on)")
for j, construction in enumerate(["V", "T"]):
    cc = CubicalComplex.from_mask(example, construction)
    draw_complex(fig.add_subplot(gs[1, 4 + 4 * j:8 + 4 * j]), cc, mask=example)
fig.suptitle("Elementary cubes (top) and the cubical complex of an image, two constructions (bottom)")
savefig(fig, "fig02_cubical_construction")
plt.show()

# %% [markdown]
# **Reading the figure.** Top: the axes are the three space coordinates; black dots are the cube's
# vertices, lines its edges, shaded patches its square faces. Each cube contains all the cubes to its
# left as faces. Bottom: the grey dotted cells are the on pixels of the image (row and column
# indices on the axes). In the V panel the on pixels are the black dots; the ring of 8 pixels gives
# a loop of 8 edges with an empty middle, and the lonely pixel at the bottom right stays a lonely
# dot because it touches the ring only at a corner. In the T panel each on pixel is a filled square;
# the lonely pixel now shares a corner vertex with the ring, so the two are **connected**.
# Same image, different complexes: keep this in mind for section 4.

# %% [markdown]
# ## 2. Boundaries and the chain complex
#
# A **k-chain** is a set of k-cubes, written as a 0/1 vector (over Z2, adding two chains is the
# symmetric difference: a cube counted twice cancels). The **boundary** of a k-cube is the sum of
# its (k-1)-faces: an edge has two endpoint vertices, a square has four edges, a voxel has six
# squares. Collecting the boundaries of all k-cubes as columns gives the **boundary matrix**
# ∂_k (rows = (k-1)-cubes, columns = k-cubes).
#
# The key fact: **the boundary of a boundary is empty**, ∂_{k-1} ∂_k = 0 over Z2. For a square,
# each corner vertex is an endpoint of exactly two of its four edges, so it is counted twice and
# cancels. The sequence of matrices ∂_2, ∂_1 is a **chain complex**.
#
# Let us print the matrices for the smallest interesting image, a 2×2 block of on pixels in the V
# construction (4 vertices, 4 edges, 1 square).

# %%
block = CubicalComplex.from_mask(np.ones((2, 2), dtype=bool), "V")
d1 = block.boundary_matrix(1)
d2 = block.boundary_matrix(2)
print("cubes are listed by their 'doubled' coordinates (even = vertex position, odd = span):")
for k in range(3):
    print(f"  {k}-cubes:", block.cubes(k).tolist())
print("\n∂1 (rows: vertices, columns: edges):\n", d1)
print("\n∂2 (rows: edges, columns: the square):\n", d2)
print("\n∂1 · ∂2 mod 2 =", (d1.astype(int) @ d2.astype(int) % 2).ravel(), "(all zero)")

# %% [markdown]
# The same identity holds for every complex, in 2D and 3D. We check it on the example image above and
# on a 3×3×3 block of voxels:

# %%
checks = []
for name, mask in [("4x4 example", example), ("3x3x3 block", np.ones((3, 3, 3), dtype=bool))]:
    for construction in ("V", "T"):
        cc = CubicalComplex.from_mask(mask, construction)
        for k in range(2, cc.ndim + 1):
            prod = cc.boundary_matrix(k - 1, sparse=True) @ cc.boundary_matrix(k, sparse=True)
            nonzero = int((prod.toarray() % 2).sum())
            checks.append((name, construction, k, nonzero))
            assert nonzero == 0
print(pd.DataFrame(checks, columns=["complex", "construction", "k", "non-zeros in ∂_{k-1}∂_k mod 2"]))

# %% [markdown]
# ## 3. Homology over Z2 by hand
#
# * **cycles** Z_k = kernel of ∂_k: k-chains with no boundary (closed loops of edges, closed
#   surfaces of squares);
# * **boundaries** B_k = image of ∂_{k+1}: chains that are the boundary of something one dimension up
#   (every boundary is a cycle, because ∂∂ = 0);
# * **homology** H_k = Z_k / B_k: cycles that do not bound anything, i.e. real holes.
#
# Over Z2 everything is linear algebra, and the **Betti number** b_k = dim H_k comes from ranks:
#
# b_k = (number of k-cubes) − rank ∂_k − rank ∂_{k+1}.
#
# b0 counts connected pieces, b1 counts holes (loops that enclose an empty region), b2 counts
# closed cavities in 3D. We compute these on a few images whose answer you can see, then ask gudhi.
#
# **How gudhi is asked.** gudhi computes persistence of a *filtration*; a binary image is the special
# case of two levels: on pixels get value 0, off pixels value 1, and the complex at level 0 is our
# complex. `persistent_betti_numbers(0, 0)` returns its Betti numbers. `vertices=` builds the V
# construction, `top_dimensional_cells=` the T construction.


# %%
def betti_by_hand(mask, construction):
    """Betti numbers from cube counts and Z2 ranks (spelled out; cubical.py does the same)."""
    cc = CubicalComplex.from_mask(mask, construction)
    n = cc.num_cubes()
    ranks = [0] + [rank_z2(cc.boundary_matrix(k)) for k in range(1, cc.ndim + 1)] + [0]
    return [n[k] - ranks[k] - ranks[k + 1] for k in range(cc.ndim + 1)], n, ranks[1:-1]


def betti_gudhi(mask, construction):
    """Betti numbers of the complex of `mask` according to gudhi."""
    values = np.where(np.asarray(mask, dtype=bool), 0.0, 1.0)
    if construction == "V":
        cx = gudhi.CubicalComplex(vertices=values)
    else:
        cx = gudhi.CubicalComplex(top_dimensional_cells=values)
    cx.compute_persistence(homology_coeff_field=2)
    b = list(cx.persistent_betti_numbers(0.0, 0.0))
    return [int(x) for x in b] + [0] * (np.ndim(mask) + 1 - len(b))


ring = np.ones((3, 3), dtype=bool)
ring[1, 1] = False
hollow = np.ones((3, 3, 3), dtype=bool)
hollow[1, 1, 1] = False
examples = {
    "one pixel": np.ones((1, 1), dtype=bool),
    "two separate pixels": np.array([[1, 0, 1]], dtype=bool),
    "3x3 ring": ring,
    "3x3 solid square": np.ones((3, 3), dtype=bool),
    "4x4 example (fig.)": example,
    "hollow 3x3x3 cube": hollow,
}
rows = []
for name, mask in examples.items():
    for construction in ("V", "T"):
        b, n, r = betti_by_hand(mask, construction)
        g = betti_gudhi(mask, construction)
        rows.append({
            "image": name, "construction": construction,
            "cubes n_0..n_d": str(n), "ranks of ∂_1..∂_d": str(r),
            "Betti (by hand)": str(b[:-1]), "Betti (gudhi)": str(g[:-1]), "agree": b == g,
        })
by_hand = pd.DataFrame(rows)
write_table(by_hand, "nb01_betti_by_hand")
assert by_hand["agree"].all()
display(by_hand)

# %% [markdown]
# **Reading the table.** The ring has one piece and one hole (b0 = 1, b1 = 1); filling its middle
# kills the hole (the extra square is a 2-cube whose boundary is exactly the loop, so the loop
# becomes a boundary). The hollow cube has b2 = 1: a closed surface around an empty voxel. The last
# Betti number (b2 in 2D, b3 in 3D) is always 0 for a complex that sits inside the plane or space,
# so it is not shown. Notice the 4×4 example: V sees 2 pieces, T sees 1.
#
# ### Many random images
# Small hand examples can hide bugs; we repeat the comparison on random binary images of both
# constructions.

# %%
mismatches = 0
rand_rows = []
for _ in range(n_random_checks):
    density = rng.uniform(0.3, 0.8)
    mask = rng.random((random_size, random_size)) < density
    if not mask.any():
        mask[0, 0] = True
    for construction in ("V", "T"):
        cc = CubicalComplex.from_mask(mask, construction)
        b = cc.betti_numbers()
        g = betti_gudhi(mask, construction)
        chi_fast = euler_characteristic(mask, construction)
        chi_sk = euler_number(mask, connectivity=1 if construction == "V" else 2)
        ok = b == g and chi_fast == b[0] - b[1] == cc.euler_characteristic() == chi_sk
        mismatches += not ok
        rand_rows.append((construction, b[0], b[1], ok))
rand = pd.DataFrame(rand_rows, columns=["construction", "b0", "b1", "agree"])
summary = (rand.groupby("construction")
           .agg(images=("agree", "size"), agree=("agree", "sum"),
                mean_b0=("b0", "mean"), mean_b1=("b1", "mean"), max_b1=("b1", "max"))
           .reset_index())
write_table(summary, "nb01_random_checks")
print(f"{len(rand)} comparisons (Betti vs gudhi, chi vs b0-b1 vs skimage): {mismatches} mismatches")
assert mismatches == 0
display(summary)

# %% [markdown]
# ## 4. Two constructions: V and T, and the diagonal pair
#
# How should pixels become cubes? There are two standard answers, and libraries differ:
#
# * **V construction** (pixels are *vertices*). An edge joins two on pixels that share a side, a
#   square fills a 2×2 block of on pixels. Two pixels touching only at a corner are **not**
#   connected: on pixels are 4-connected (6-connected in 3D). This is what the paper's text
#   describes (a cell takes the largest value of its vertices). gudhi: `vertices=`.
# * **T construction** (pixels are *top cells*). Each on pixel is a unit square with all its faces.
#   Two pixels that touch at a corner share that corner vertex, so they **are** connected: on pixels
#   are 8-connected (26 in 3D). This is what gudhi's `top_dimensional_cells=` (and the authors'
#   released code) use.
#
# The smallest image where they disagree is the **diagonal pair**. A diagonal ring of four pixels
# shows the same effect for holes, and a checkerboard for pieces:

# %%
diag_pair = np.array([[1, 0], [0, 1]], dtype=bool)
diamond = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=bool)
checker = (np.indices((4, 4)).sum(axis=0) % 2 == 0)
cases = {"diagonal pair": diag_pair, "diagonal ring (diamond)": diamond, "checkerboard": checker}
fig, axes = plt.subplots(2, 3, figsize=(11, 7.5))
vt_rows = []
for j, (name, mask) in enumerate(cases.items()):
    for i, construction in enumerate(("V", "T")):
        cc = CubicalComplex.from_mask(mask, construction)
        b = cc.betti_numbers()
        draw_complex(axes[i, j], cc, mask=mask,
                     title=f"{name}, {construction}\nb0 = {b[0]}, b1 = {b[1]}",
                     color="#1f77b4" if construction == "V" else "#d62728")
        vt_rows.append((name, construction, b[0], b[1], euler_characteristic(mask, construction)))
fig.suptitle("Same pixels, two complexes: V (top, 4-connected) vs T (bottom, 8-connected)")
fig.tight_layout()
savefig(fig, "nb01_v_vs_t_diagonal")
plt.show()
vt = pd.DataFrame(vt_rows, columns=["image", "construction", "b0", "b1", "chi"])
write_table(vt, "nb01_v_vs_t")
display(vt)

# %% [markdown]
# **Reading the figure.** Grey dotted cells are the on pixels; dots, lines and shaded squares are
# the complex's vertices, edges and squares. Top row (V): the diagonal pair is two separate dots
# (b0 = 2); the diamond is four separate dots (b0 = 4, no loop). Bottom row (T): the same pixels are
# squares glued at their corners, so the pair is one piece (b0 = 1) and the diamond is a closed ring
# of squares around an empty middle (b0 = 1, b1 = 1).
#
# **Why it matters for anomaly maps.** A thin diagonal crack in a score map is one component in T
# but may be a row of isolated pixels in V; a diagonal ring may enclose a hole in T but not in V.
# The pseudo-labels, the Euler characteristic used by the fusion step (notebook 04) and the
# persistence diagrams (notebook 03) must all use the **same** construction. The package does this
# through one `construction="V" | "T"` parameter everywhere (default V, as the paper's text says).
#
# A useful duality: in 2D, the complement of a V (4-connected) set behaves as an 8-connected set and
# vice versa; so a "hole" of a V mask is an 8-connected region of off pixels, and a hole of a T mask
# is a 4-connected one.

# %% [markdown]
# ## 5. The Euler characteristic
#
# The **Euler characteristic** is the alternating count of cubes,
#
# χ = n_0 − n_1 + n_2 (− n_3 in 3D),
#
# and, by a classical theorem, it also equals b0 − b1 (+ b2 in 3D). So χ summarises "pieces minus
# holes" without any matrix rank: it needs only counting, which `topotta_lite.topology.euler` does with a few
# vectorised array operations (well under a millisecond on a 224×224 mask). The fusion step of
# TopoTTA (notebook 04) uses χ to notice when combining two masks has split a piece or opened a hole.
#
# The table lists, for a few shapes, the cube counts, χ from counts, b0 − b1 from ranks, and
# scikit-image's independent `euler_number` (connectivity 1 = V, 2 = T).

# %%
shapes = {
    "solid 5x5": np.ones((5, 5), dtype=bool),
    "ring 5x5": np.pad(np.zeros((3, 3), dtype=bool), 1, constant_values=True),
    "two rings": np.hstack([np.pad(np.zeros((1, 1), bool), 1, constant_values=True),
                            np.zeros((3, 1), bool),
                            np.pad(np.zeros((1, 1), bool), 1, constant_values=True)]),
    "diagonal ring": diamond,
    "4x4 example": example,
}
chi_rows = []
for name, mask in shapes.items():
    for construction in ("V", "T"):
        cc = CubicalComplex.from_mask(mask, construction)
        n = cc.num_cubes()
        b = cc.betti_numbers()
        chi_rows.append({
            "shape": name, "construction": construction, "n0": n[0], "n1": n[1], "n2": n[2],
            "chi = n0-n1+n2": n[0] - n[1] + n[2], "b0-b1": b[0] - b[1],
            "euler.py": euler_characteristic(mask, construction),
            "skimage": int(euler_number(mask, connectivity=1 if construction == "V" else 2)),
        })
chi_table = pd.DataFrame(chi_rows)
write_table(chi_table, "nb01_euler_characteristic")
cols = ["chi = n0-n1+n2", "b0-b1", "euler.py", "skimage"]
assert (chi_table[cols].nunique(axis=1) == 1).all()
display(chi_table)

# %% [markdown]
# **Take-aways.**
# * A cubical complex is built from points, edges, squares and cubes, closed under faces; an image
#   gives one in two ways (V: 4/6-connected, T: 8/26-connected) that disagree on diagonal contacts.
# * Betti numbers (pieces, holes, cavities) are ranks of Z2 boundary matrices; our exact oracle
#   agrees with gudhi on every example and on all random images above.
# * χ = b0 − b1 + b2 is a cheap cell count; it changes whenever a piece splits or a hole opens, which
#   is what notebook 04 exploits.
#
# Next, notebook 02 lets a threshold *sweep* over a score map and follows pieces and holes as they
# appear and disappear: persistent homology, and why it is stable under noise.
