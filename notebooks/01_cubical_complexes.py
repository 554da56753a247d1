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
# holes with linear algebra over the two-element field $\mathbb{Z}_2 = \{0, 1\}$ (where
# $1 + 1 = 0$).
#
# This notebook builds everything on images small enough to check by hand, and checks every count
# against the `gudhi` library.
#
# **What you will see**
# 1. elementary cubes and their faces (the figure answering the paper's Fig. 2);
# 2. boundary matrices, and why "the boundary of a boundary is zero";
# 3. Betti numbers ($b_0$ = pieces, $b_1$ = holes, $b_2$ = cavities) from matrix ranks, checked
#    against gudhi;
# 4. the two ways of building a complex from pixels (V and T) and the diagonal pair that separates
#    them;
# 5. the Euler characteristic, a single number $\chi = b_0 - b_1 + b_2$ that is cheap to compute,
#    and what it cannot see.
#
# **Exercises** are spread through the notebook. Each one has a cell for your answer: replace
# `None` by it and run the cell; `check` says whether it is right, or gives a hint (it never
# shows the answer). The worked solution follows in a collapsed cell (click the three dots, or
# the blue bar left of the cell, to open it); it computes the answer and asserts that `check`
# accepts it, so a wrong solution stops the notebook.
#
# **Conventions used in every notebook.** Mathematics about hand-made examples is written as
# formulas, $b_0 = 2$; a number about a *computed result* is never typed: it is printed by the
# code, or rendered into the text from the result; the paper's numbers are quoted with their
# table or section.

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
from IPython.display import Markdown, display
from skimage.measure import euler_number

from topotta_lite.config import pin_threads
from topotta_lite.outputs import savefig, use_style, write_table
from topotta_lite.teaching import (
    check,
    cite,
    draw_complex,
    draw_elementary_cube,
    plural,
    references,
    takeaways,
)
from topotta_lite.topology import CubicalComplex, betti_numbers, euler_characteristic, rank_z2

pin_threads()  # one BLAS / OpenMP / torch thread: the results do not depend on the machine's cores

use_style()
rng = np.random.default_rng(seed)

# %% [markdown]
# ## 1. Elementary cubes
#
# An **elementary interval** is either a single integer point $[a, a]$ (length zero) or a unit
# interval $[a, a + 1]$. An **elementary cube** is a product of elementary intervals, one per axis.
# Its **dimension** is the number of unit (non-degenerate) intervals in the product:
#
# | product of intervals | dimension | what it is |
# | --- | --- | --- |
# | $[0,0] \times [0,0] \times [0,0]$ | $0$ | a point (vertex) |
# | $[0,1] \times [0,0] \times [0,0]$ | $1$ | a unit edge |
# | $[0,1] \times [0,0] \times [0,1]$ | $2$ | a unit square |
# | $[0,1] \times [0,1] \times [0,1]$ | $3$ | a unit cube (voxel) |
#
# A **face** of a cube is any cube obtained by shrinking some of its unit intervals $[a, a+1]$ to
# one of their endpoints $[a, a]$ or $[a+1, a+1]$. A **cubical complex** is a set of elementary
# cubes that contains every face of each of its cubes (it is "closed under taking faces").
#
# The top row of the next figure draws the four kinds of elementary cube in 3D. The bottom row
# shows how a tiny binary image becomes a complex, in the two ways this project supports
# (explained in section 4): in the **V construction** every "on" pixel is a vertex, and
# edges/squares are added between neighbouring on pixels; in the **T construction** every on
# pixel is a unit square, added together with its four edges and four corners.

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
display(Markdown(
    f"Elementary cubes, cubical complexes and their homology follow "
    f"{cite('kaczynski2004computational')}; the two ways of turning pixels into cubes are the V "
    f"and T constructions of {cite('bleile2022dual')}."))

# %% [markdown]
# **Reading the figure.** Top: the axes are the three space coordinates; black dots are the cube's
# vertices, lines its edges, shaded patches its square faces. Each cube contains all the cubes to
# its left as faces. Bottom: the grey dotted cells are the on pixels of the image (row and column
# indices on the axes). In the V panel the on pixels are the black dots; the ring of $8$ pixels
# gives a loop of $8$ edges with an empty middle, and the lonely pixel at the bottom right stays a
# lonely dot because it touches the ring only at a corner. In the T panel each on pixel is a
# filled square; the lonely pixel now shares a corner vertex with the ring, so the two are
# **connected**. Same image, different complexes: keep this in mind for section 4.
#
# ## 2. Boundaries and the chain complex
#
# A **k-chain** is a set of k-cubes, written as a vector of zeros and ones (over $\mathbb{Z}_2$, adding two
# chains is the symmetric difference: a cube counted twice cancels). The **boundary** of a k-cube
# is the sum of its $(k-1)$-faces: an edge has two endpoint vertices, a square has four edges, a
# voxel has six squares. Collecting the boundaries of all k-cubes as columns gives the **boundary
# matrix** $\partial_k$ (rows = $(k-1)$-cubes, columns = k-cubes).
#
# The key fact: **the boundary of a boundary is empty**, $\partial_{k-1} \partial_k = 0$ over
# $\mathbb{Z}_2$. For a square, each corner vertex is an endpoint of exactly two of its four
# edges, so it is counted twice and cancels. The sequence of matrices is a **chain complex**.
#
# Let us print the matrices for the smallest interesting image, a $2 \times 2$ block of on pixels
# in the V construction ($4$ vertices, $4$ edges, $1$ square).

# %%
block = CubicalComplex.from_mask(np.ones((2, 2), dtype=bool), "V")
d1 = block.boundary_matrix(1)
d2 = block.boundary_matrix(2)
assert block.num_cubes() == [4, 4, 1]
print("cubes are listed by their 'doubled' coordinates (even = vertex position, odd = span):")
for k in range(3):
    print(f"  {k}-cubes:", block.cubes(k).tolist())
print("\n∂1 (rows: vertices, columns: edges):\n", d1)
print("\n∂2 (rows: edges, columns: the square):\n", d2)
print("\n∂1 · ∂2 mod 2 =", (d1.astype(int) @ d2.astype(int) % 2).ravel(), "(all zero)")

# %% [markdown]
# The same identity holds for every complex, in 2D and 3D. We check it on the example image
# above and on a $3 \times 3 \times 3$ block of voxels:

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
# ## 3. Homology over $\mathbb{Z}_2$ by hand
#
# * **cycles** $Z_k = \ker \partial_k$: k-chains with no boundary (closed loops of edges, closed
#   surfaces of squares);
# * **boundaries** $B_k = \operatorname{im} \partial_{k+1}$: chains that are the boundary of
#   something one dimension up (every boundary is a cycle, because $\partial\partial = 0$);
# * **homology** $H_k = Z_k / B_k$: cycles that do not bound anything, i.e. real holes.
#
# Over $\mathbb{Z}_2$ everything is linear algebra, and the **Betti number**
# $b_k = \dim H_k$ comes from ranks:
#
# $$b_k = n_k - \operatorname{rank} \partial_k - \operatorname{rank} \partial_{k+1},$$
#
# where $n_k$ is the number of k-cubes. $b_0$ counts connected pieces, $b_1$ counts holes (loops
# that enclose an empty region), $b_2$ counts closed cavities in 3D. We compute these on a few
# images whose answer you can see, then ask gudhi.
#
# **How gudhi is asked.** gudhi computes the persistence of a *filtration*: a nested family of
# complexes, $K_a \subseteq K_b$ whenever $a \le b$. A binary image is the special case of two
# levels: on pixels get the value $0$, off pixels the value $1$, so $K_0$ is our complex and
# $K_1$ the whole grid. We ask gudhi for **persistent Betti numbers**: $\beta_k^{a,b}$ is the
# number of independent k-dimensional classes of $K_a$ (pieces, holes) that are still alive in
# $K_b$; formally, the rank of the map $H_k(K_a) \to H_k(K_b)$ that the inclusion
# $K_a \subseteq K_b$ induces. With $a = b$ there is nothing to survive, and
# $\beta_k^{a,a} = b_k(K_a)$: so `persistent_betti_numbers(0, 0)` returns the Betti numbers of
# our complex. (Notebook 02 reads persistent Betti numbers off a persistence diagram: the
# Fundamental Lemma.) `vertices=` builds the V construction, `top_dimensional_cells=` the T
# construction.


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
examples = {
    "one pixel": np.ones((1, 1), dtype=bool),
    "two separate pixels": np.array([[1, 0, 1]], dtype=bool),
    "3x3 ring": ring,
    "3x3 solid square": np.ones((3, 3), dtype=bool),
    "4x4 example (fig.)": example,
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
display(Markdown(
    f"The rank formula is the textbook computation of homology over a field "
    f"({cite('edelsbrunner2010computational')}); the library asked is gudhi "
    f"({cite('gudhi')})."))

# %% [markdown]
# **Reading the table.** The ring has one piece and one hole ($b_0 = 1$, $b_1 = 1$). The last
# Betti number ($b_2$ of a 2D image) is always $0$ for a complex that sits inside the plane, so
# it is not shown. The $4 \times 4$ example has two pieces in V and one in T. The cell below
# checks these sentences.
#
# **Filling the ring's middle kills the hole, but not in the same way in both constructions.** In
# T, the middle pixel is one new square whose four edges and four corners are already there (they
# are faces of its neighbours): the new square's boundary is exactly the loop, so the loop
# becomes a boundary. In V, the middle pixel is a new vertex, and it brings $4$ new edges (to its
# four neighbours) and $4$ new squares (one per $2 \times 2$ block it completes): the loop now
# bounds the sum of those four squares.

# %%
b_ring = {c: CubicalComplex.from_mask(ring, c).betti_numbers() for c in ("V", "T")}
b_example = {c: betti_numbers(example, c) for c in ("V", "T")}
assert b_ring["V"][:2] == b_ring["T"][:2] == [1, 1]
assert b_example["V"][0] == 2 and b_example["T"][0] == 1
added = {}
for c in ("V", "T"):
    before = CubicalComplex.from_mask(ring, c).num_cubes()
    after = CubicalComplex.from_mask(np.ones((3, 3), dtype=bool), c).num_cubes()
    added[c] = [a - b for a, b in zip(after, before)]
assert added == {"V": [1, 4, 4], "T": [0, 0, 1]}
print("cubes added by filling the ring's middle (vertices, edges, squares):", added)

# %% [markdown]
# ### Exercise 1 · Predict the Betti numbers
#
# Here is a $4 \times 4$ image (rows top to bottom, $1$ = on):
#
# $$\begin{matrix} 1 & 1 & 0 & 0 \\ 1 & 0 & 1 & 0 \\ 0 & 1 & 1 & 0 \\ 0 & 0 & 0 & 1 \end{matrix}$$
#
# Predict $b_0$ and $b_1$ in the V construction and in the T construction. Hint: in V, pixels
# touching only at a corner are not connected; in T they are, and a loop of corner-touching
# squares can enclose a hole. Answer with a pair of pairs: ((b0, b1) in V, (b0, b1) in T).

# %%
# Exercise 1 · your answer: ((b0, b1) in V, (b0, b1) in T)
exercise_1 = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 1, 1, 0], [0, 0, 0, 1]], dtype=bool)
answer = None
check("01.1", answer)

# %% jupyter={"source_hidden": true, "outputs_hidden": true} tags=["solution"]
# Solution to exercise 1: the Betti numbers by ranks (the function above), then by gudhi.
solution = tuple(tuple(betti_by_hand(exercise_1, c)[0][:2]) for c in ("V", "T"))
assert solution == tuple(tuple(betti_gudhi(exercise_1, c)[:2]) for c in ("V", "T"))
assert solution == ((3, 0), (1, 1))  # the numbers of the explanation below
assert check("01.1", solution).correct
display(Markdown(
    "**Solution.** In V the on pixels form three 4-connected pieces: the top-left corner "
    "(three pixels), the bottom-right corner of the ring (three pixels) and the lonely pixel; "
    "nothing encloses anything, so $b_0 = 3$, $b_1 = 0$. In T the pieces touch at corners and "
    "become one ring around the off pixel at row one, column one: $b_0 = 1$, $b_1 = 1$ (the "
    "lonely pixel touches the ring at a corner too)."))

# %% [markdown]
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
#   square fills a $2 \times 2$ block of on pixels. Two pixels touching only at a corner are
#   **not** connected: on pixels are 4-connected (6-connected in 3D). This is what the paper's
#   text describes (a cell takes the largest value of its vertices). gudhi: `vertices=`.
# * **T construction** (pixels are *top cells*). Each on pixel is a unit square with all its
#   faces. Two pixels that touch at a corner share that corner vertex, so they **are** connected:
#   on pixels are 8-connected (26-connected in 3D). This is what gudhi's
#   `top_dimensional_cells=` (and the authors' released code) use.
#
# The smallest image where they disagree is the **diagonal pair**. A diagonal ring of four pixels
# shows the same effect for holes:

# %%
diag_pair = np.array([[1, 0], [0, 1]], dtype=bool)
diamond = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=bool)
cases = {"diagonal pair": diag_pair, "diagonal ring (diamond)": diamond}
fig, axes = plt.subplots(2, 2, figsize=(7.8, 7.5))
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
vt_b = {(r.image, r.construction): (r.b0, r.b1) for r in vt.itertuples()}
assert vt_b[("diagonal pair", "V")] == (2, 0) and vt_b[("diagonal pair", "T")] == (1, 0)
assert vt_b[("diagonal ring (diamond)", "V")] == (4, 0)
assert vt_b[("diagonal ring (diamond)", "T")] == (1, 1)
display(Markdown(
    f"The 4- and 8-neighbourhoods, and the rule that a set and its complement must be read with "
    f"opposite connectivities, are the classical digital topology of {cite('kong1989digital')}."))

# %% [markdown]
# **Reading the figure.** Grey dotted cells are the on pixels; dots, lines and shaded squares are
# the complex's vertices, edges and squares. Top row (V): the diagonal pair is two separate dots
# ($b_0 = 2$); the diamond is four separate dots ($b_0 = 4$, no loop). Bottom row (T): the same
# pixels are squares glued at their corners, so the pair is one piece ($b_0 = 1$) and the diamond
# is a closed ring of squares around an empty middle ($b_0 = 1$, $b_1 = 1$). (The cell above
# asserts these counts.)
#
# **Why it matters for anomaly maps.** A thin diagonal crack in a score map is one component in T
# but may be a row of isolated pixels in V; a diagonal ring may enclose a hole in T but not in V.
# The pseudo-labels, the Euler characteristic used by the fusion step (notebook 04) and the
# persistence diagrams (notebook 02) must all use the **same** construction. The package does
# this through one `construction="V" | "T"` parameter everywhere (default V, as the paper's text
# says).
#
# **Holes and the complement.** In 2D, a hole of a mask is a region of off pixels that the mask
# encloses. Which off pixels belong together? Exactly the ones connected in the *other*
# construction's sense: a hole of a V (4-connected) mask is an 8-connected region of off pixels
# that does not touch the border of the image, and a hole of a T mask is such a 4-connected
# region. The diamond shows it: its middle pixel is enclosed in T (its four neighbours are on and
# 4-connectivity cannot leave diagonally), but in V it is 8-connected to the off corners, which
# touch the border. Notebook 02 turns this into the exact duality between the two sweeps of a
# score map.
#
# ### Exercise 2 · The X
#
# An "X" of five pixels: the four corners and the centre of a $3 \times 3$ image. Predict
# ((b0, b1) in V, (b0, b1) in T).

# %%
# Exercise 2 · your answer: ((b0, b1) in V, (b0, b1) in T)
x_shape = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], dtype=bool)
answer = None
check("01.2", answer)

# %% jupyter={"source_hidden": true, "outputs_hidden": true} tags=["solution"]
# Solution to exercise 2.
solution = tuple(tuple(betti_by_hand(x_shape, c)[0][:2]) for c in ("V", "T"))
assert solution == ((5, 0), (1, 0))  # the numbers of the explanation below
assert check("01.2", solution).correct
display(Markdown(
    "**Solution.** In V no two pixels of the X share a side: five pieces, no hole. In T they all "
    "touch the centre at a corner: one piece; the four off pixels each touch the border, so "
    "nothing is enclosed, $b_1 = 0$."))

# %% [markdown]
# ### Exercise 3 · The checkerboard
#
# The $4 \times 4$ checkerboard whose top-left pixel is on (eight on pixels, no two sharing a
# side). In the T construction its on pixels are glued at their corners into one piece. How
# many holes, $b_1$, does it have in T? Use the rule above: the holes of a T mask are the
# 4-connected regions of off pixels that do not touch the border.

# %%
# Exercise 3 · your answer: b1 of the checkerboard in the T construction
checker = np.indices((4, 4)).sum(axis=0) % 2 == 0
answer = None
check("01.3", answer)

# %% jupyter={"source_hidden": true, "outputs_hidden": true} tags=["solution"]
# Solution to exercise 3: count the interior off pixels, then compare with the Betti number.
interior_off = [tuple(int(i) for i in p) for p in np.argwhere(~checker[1:-1, 1:-1]) + 1]
solution = len(interior_off)
assert solution == betti_by_hand(checker, "T")[0][1] == betti_numbers(checker, "T")[1]
assert interior_off == [(1, 2), (2, 1)]  # the pixels of the explanation below
assert check("01.3", solution).correct
display(Markdown(
    "**Solution.** The off pixels of a checkerboard share no side, so each is its own "
    "4-connected region. Only those away from the border are enclosed: the off pixels at "
    "(row, column) $= (1, 2)$ and $(2, 1)$, so $b_1 = 2$."))

# %% [markdown]
# ## 5. The Euler characteristic
#
# The **Euler characteristic** is the alternating count of cubes,
#
# $$\chi = n_0 - n_1 + n_2 \; (- \, n_3 \text{ in 3D}),$$
#
# and, by a classical theorem, it also equals $b_0 - b_1$ ($+ \, b_2$ in 3D). So $\chi$
# summarises "pieces minus holes" without any matrix rank: it needs only counting, which
# `topotta_lite.topology.euler` does with a few vectorised array operations. The fusion step of
# TopoTTA (notebook 04) uses $\chi$ to notice when combining two masks has changed the topology.
#
# The table lists, for a few shapes, the cube counts, $\chi$ from counts, $b_0 - b_1$ from ranks,
# and scikit-image's independent `euler_number` (connectivity one = V, two = T).

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
            "b0": b[0], "b1": b[1],
            "chi = n0-n1+n2": n[0] - n[1] + n[2], "b0-b1": b[0] - b[1],
            "euler.py": euler_characteristic(mask, construction),
            "skimage": int(euler_number(mask, connectivity=1 if construction == "V" else 2)),
        })
chi_table = pd.DataFrame(chi_rows)
write_table(chi_table, "nb01_euler_characteristic")
cols = ["chi = n0-n1+n2", "b0-b1", "euler.py", "skimage"]
assert (chi_table[cols].nunique(axis=1) == 1).all()
display(chi_table)
display(Markdown(
    f"The Euler characteristic and what it can and cannot tell apart, in topological data "
    f"analysis: {cite('hacquard2024euler')}."))

# %% [markdown]
# ### Exercise 4 · Count the cells
#
# A $2 \times 3$ block of on pixels in the V construction. Count its vertices $n_0$, edges $n_1$
# and squares $n_2$ by hand, and answer with the triple (n0, n1, n2).

# %%
# Exercise 4 · your answer: (n0, n1, n2) of the V complex of the 2 x 3 block
block_23 = np.ones((2, 3), dtype=bool)
answer = None
check("01.4", answer)

# %% jupyter={"source_hidden": true, "outputs_hidden": true} tags=["solution"]
# Solution to exercise 4.
cc_23 = CubicalComplex.from_mask(block_23, "V")
solution = tuple(cc_23.num_cubes())
assert solution == (6, 7, 2) and cc_23.euler_characteristic() == 1  # the explanation below
assert check("01.4", solution).correct
display(Markdown(
    "**Solution.** Six vertices (the pixels); edges: three vertical ones (one per column) and "
    "two horizontal ones per row, $3 + 4 = 7$; squares: one per $2 \\times 2$ block, $2$. "
    "So $\\chi = 6 - 7 + 2 = 1$: one piece, no hole."))

# %% [markdown]
# ### Exercise 5 · Remove a pixel
#
# Remove the middle pixel of the top row of the same $2 \times 3$ block. What is $\chi$ of
# what is left (V construction)? Count cells, or count pieces and holes: both must agree.

# %%
# Exercise 5 · your answer: chi of the notched block (V)
notched = np.ones((2, 3), dtype=bool)
notched[0, 1] = False
answer = None
check("01.5", answer)

# %% jupyter={"source_hidden": true, "outputs_hidden": true} tags=["solution"]
# Solution to exercise 5: chi by counting cells, by Betti numbers, and by euler.py.
n_notched = CubicalComplex.from_mask(notched, "V").num_cubes()
b_notched = betti_numbers(notched, "V")
solution = n_notched[0] - n_notched[1] + n_notched[2]
assert solution == b_notched[0] - b_notched[1] == euler_characteristic(notched, "V")
assert n_notched == [5, 4, 0] and tuple(b_notched) == (1, 0)  # the explanation below
assert check("01.5", solution).correct
display(Markdown(
    "**Solution.** Removing the top middle pixel removes one vertex, three edges and both "
    "squares: $\\chi = 5 - 4 + 0 = 1$. The shape is now a U: still one piece, and its notch "
    "touches the border, so no hole: $b_0 - b_1 = 1 - 0$."))

# %% [markdown]
# ## 6. What $\chi$ cannot see
#
# $\chi$ is one number, $b_0 - b_1$; two Betti numbers cannot be recovered from their difference.
# A change that adds a piece **and** a hole (a split plus a new hole) leaves $\chi$ unchanged; so
# does a change that removes one of each. The shapes below come in pairs with equal $\chi$ and
# different topology. The table of section 5 already holds one such pair: "ring $5 \times 5$"
# and "two rings" both have $\chi = 0$.

# %%
disc = np.pad(np.ones((3, 3), dtype=bool), 1)
disc_and_ring = np.hstack([disc, np.pad(np.pad(np.zeros((1, 1), bool), 1,
                                                constant_values=True), 1)])
one_ring = np.pad(np.pad(np.zeros((1, 1), bool), 1, constant_values=True), 1)
two_rings = np.hstack([one_ring, one_ring])
blind = {"a disc": np.hstack([disc, np.zeros_like(disc)]), "a disc and a ring": disc_and_ring,
         "one ring": np.hstack([one_ring, np.zeros_like(one_ring)]), "two rings": two_rings}
fig, axes = plt.subplots(1, 4, figsize=(13, 2.9))
blind_rows = []
for ax, (name, mask) in zip(axes, blind.items()):
    b0, b1 = betti_numbers(mask, "V")
    chi = euler_characteristic(mask, "V")
    blind_rows.append({"shape": name, "b0": b0, "b1": b1, "chi": chi})
    ax.imshow(mask, cmap="Greys", vmin=0, vmax=1.3)
    ax.set_title(f"{name}\nb0 = {b0}, b1 = {b1}, χ = {chi}")
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("χ's blind spot: each pair (left two, right two) has the same χ and different "
             "pieces and holes (V construction)")
fig.tight_layout()
savefig(fig, "nb01_chi_blind_spot")
plt.show()
blind_df = pd.DataFrame(blind_rows)
write_table(blind_df, "nb01_chi_blind_spot")
for first, second in [(0, 1), (2, 3)]:
    p, q = blind_df.iloc[first], blind_df.iloc[second]
    assert p["chi"] == q["chi"] and (p["b0"], p["b1"]) != (q["b0"], q["b1"])

# %% [markdown]
# **Reading the figure.** Black = on pixels. Going from the left panel to the second adds a
# separate ring: one more piece and one more hole, so $\chi$ does not move. The same from the
# third panel to the fourth. This is why matching $\chi$ (what the fusion of notebook 04 does)
# does **not** guarantee matching pieces and holes; it is a cheap necessary condition, not a
# sufficient one.
#
# ### Exercise 6 · A hollow cube in 3D
#
# A $3 \times 3 \times 3$ block of voxels with the centre voxel removed. In the V construction,
# what are its Betti numbers (b0, b1, b2)? ($b_2$ counts closed cavities.)

# %%
# Exercise 6 · your answer: (b0, b1, b2) of the hollow cube (V)
hollow = np.ones((3, 3, 3), dtype=bool)
hollow[1, 1, 1] = False
answer = None
check("01.6", answer)

# %% jupyter={"source_hidden": true, "outputs_hidden": true} tags=["solution"]
# Solution to exercise 6.
cc_hollow = CubicalComplex.from_mask(hollow, "V")
solution = tuple(cc_hollow.betti_numbers()[:3])
assert solution == tuple(betti_gudhi(hollow, "V")[:3])
assert solution == (1, 0, 1) and cc_hollow.euler_characteristic() == 2  # the explanation below
assert check("01.6", solution).correct
display(Markdown(
    "**Solution.** One piece; no tunnel (a loop drawn on the surface can be slid off it); one "
    "closed cavity: $b = (1, 0, 1)$, and $\\chi = 1 - 0 + 1 = 2$, the Euler characteristic of "
    "a sphere."))

# %% [markdown]
# ### Exercise 7 · The edges of the hollow cube
#
# Still in the V construction: the vertices of the hollow cube's complex are its $26$ voxels,
# and an edge joins two voxels that share a face. How many edges, $n_1$, does it have?

# %%
# Exercise 7 · your answer: n1 of the V complex of the hollow cube
answer = None
check("01.7", answer)

# %% jupyter={"source_hidden": true, "outputs_hidden": true} tags=["solution"]
# Solution to exercise 7: count the face-neighbour pairs along each axis, then compare.
solution = int(sum((np.take(hollow, range(2), axis=a) & np.take(hollow, range(1, 3), axis=a))
                   .sum() for a in range(3)))
assert solution == cc_hollow.num_cubes()[1] == 48  # the explanation below
assert cc_hollow.num_cubes() == [26, 48, 24, 0]
assert check("01.7", solution).correct
display(Markdown(
    "**Solution.** The solid block has $2 \\times 3 \\times 3 = 18$ edges along each of the "
    "three axes, $54$ in all; the centre voxel has six face neighbours, so removing it removes "
    "six edges: $n_1 = 48$. (Then $\\chi = 2$ gives $n_2 - n_3 = 24$: squares fill the "
    "$2 \\times 2$ blocks in a plane, $n_2 = 24$, and no $2 \\times 2 \\times 2$ block is "
    "complete, since each contains the centre, so $n_3 = 0$.)"))

# %% [markdown]
# ## Take-aways

# %%
display(Markdown(takeaways([
    "A cubical complex is built from points, edges, squares and cubes, closed under faces; an "
    "image gives one in two ways (V: 4/6-connected, T: 8/26-connected) that disagree on "
    "diagonal contacts (the diagonal pair, the diamond and the X above).",
    f"Betti numbers are ranks of Z2 boundary matrices. The by-hand ranks agree with gudhi on "
    f"all {plural(len(examples), 'hand-made image')} in both constructions, and on "
    f"{plural(n_random_checks, 'random image')}, where χ also equals b0 - b1 and "
    f"scikit-image's count ({plural(mismatches, 'mismatch', 'mismatches')}).",
    "χ = b0 - b1 (+ b2) is a cheap cell count, but it is blind to changes that add or remove a "
    "piece and a hole together (the pairs of section 6): equal χ does not mean equal topology.",
    "A persistent Betti number counts the classes of one complex that are still alive in a "
    "larger one; with equal levels it is the ordinary Betti number (that is how gudhi was asked).",
    "Next, notebook 02 lets a threshold sweep over a score map and follows pieces and holes as "
    "they appear and disappear: persistent homology.",
])))

# %%
display(Markdown(references(
    "zia2026topotta", "kaczynski2004computational", "edelsbrunner2010computational",
    "bleile2022dual", "kong1989digital", "hacquard2024euler", "gudhi",
)))
