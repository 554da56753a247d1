"""The exercises of notebook 01 (cubical complexes): registered on import, answers computed.

Each ``solve`` computes its answer with the package (Betti numbers by labelling, cell counts and
Euler characteristics of the exact complex); nothing is typed. The inputs are the ones the
notebook states; its collapsed solution cells compute the same answers their own way and assert
that :func:`~topotta_lite.teaching.check` accepts them.

Examples
--------
>>> from topotta_lite.teaching import check
>>> check("01.3", None).answered
False
"""

from __future__ import annotations

import numpy as np

from topotta_lite.teaching.exercises import Exercise, register
from topotta_lite.topology import CubicalComplex, betti_numbers, euler_characteristic

__all__: list[str] = []

_IMAGE_1 = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 1, 1, 0], [0, 0, 0, 1]], dtype=bool)
_X = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], dtype=bool)
_CHECKER = np.indices((4, 4)).sum(axis=0) % 2 == 0
_BLOCK = np.ones((2, 3), dtype=bool)
_HOLLOW = np.ones((3, 3, 3), dtype=bool)
_HOLLOW[1, 1, 1] = False


def _notched() -> np.ndarray:
    m = _BLOCK.copy()
    m[0, 1] = False  # the middle pixel of the top row
    return m


def _v_and_t(mask) -> tuple[tuple[int, int], tuple[int, int]]:
    """((b0, b1) in V, (b0, b1) in T)."""
    return tuple(tuple(int(b) for b in betti_numbers(mask, c)) for c in ("V", "T"))


register(Exercise(
    "01.1", "((b0, b1) in V, (b0, b1) in T) of the 4 x 4 image",
    solve=lambda: _v_and_t(_IMAGE_1),
    wrong={((1, 1), (1, 1)): "in V, pixels that touch only at a corner are not connected",
           ((3, 0), (1, 0)): "in T, look at the off pixel in the second row, second column: "
                             "can it reach the border through 4-connected off pixels?",
           ((1, 1), (3, 0)): "the first pair is V (4-connected), the second T (8-connected)"},
    hint="count the 4-connected pieces for V and the 8-connected ones for T; a hole is a "
         "region of off pixels, away from the border, that the on pixels enclose",
))

register(Exercise(
    "01.2", "((b0, b1) in V, (b0, b1) in T) of the X of five pixels",
    solve=lambda: _v_and_t(_X),
    wrong={((1, 0), (1, 0)): "in V no two pixels of the X share a side",
           ((5, 0), (1, 4)): "an off pixel that touches the border is not enclosed",
           ((5, 0), (1, 1)): "each off pixel of the X touches the border of the image"},
    hint="in V, count the pixels with no side neighbour; in T, every pixel touches the centre",
))

register(Exercise(
    "01.3", "b1 of the 4 x 4 checkerboard in the T construction",
    solve=lambda: int(betti_numbers(_CHECKER, "T")[1]),
    wrong={0: "in T the on pixels are glued at their corners: can an off pixel away from the "
              "border reach the border through 4-connected off pixels?",
           8: "only off pixels away from the border can be holes",
           4: "count the off pixels that do not touch the border of the image"},
    hint="holes of a T mask are the 4-connected regions of off pixels that do not touch the "
         "border",
))

register(Exercise(
    "01.4", "(n0, n1, n2) of the V complex of a 2 x 3 block of on pixels",
    solve=lambda: tuple(CubicalComplex.from_mask(_BLOCK, "V").num_cubes()),
    wrong={(6, 6, 2): "count the vertical edges too: one per column",
           (6, 7, 6): "a square fills a 2 x 2 block of on pixels",
           (12, 17, 6): "that is the T complex (pixels as squares); in V the pixels are "
                        "the vertices"},
    hint="vertices are the pixels, edges join side neighbours, squares fill 2 x 2 blocks",
))

register(Exercise(
    "01.5", "chi of the 2 x 3 block with the middle pixel of its top row removed (V)",
    solve=lambda: int(euler_characteristic(_notched(), "V")),
    wrong={0: "the notch touches the border of the image: is anything enclosed?",
           2: "the U shape is still one piece",
           -1: "chi = n0 - n1 + n2: count what removing one vertex takes away"},
    hint="count the vertices, edges and squares that remain, or count pieces minus holes",
))

register(Exercise(
    "01.6", "(b0, b1, b2) of the hollow 3 x 3 x 3 cube in the V construction",
    solve=lambda: tuple(CubicalComplex.from_mask(_HOLLOW, "V").betti_numbers()[:3]),
    wrong={(1, 1, 0): "a removed centre voxel is enclosed on every side: a cavity (b2), "
                      "not a tunnel (b1)",
           (1, 0, 0): "the removed centre voxel leaves a closed cavity",
           (2, 0, 1): "the 26 voxels are one piece"},
    hint="one piece; a loop on the surface can always be slid off it; the surface encloses "
         "an empty voxel",
))

register(Exercise(
    "01.7", "n1, the number of edges of the V complex of the hollow cube",
    solve=lambda: int(CubicalComplex.from_mask(_HOLLOW, "V").num_cubes()[1]),
    wrong={54: "that is the solid block: the removed centre takes its edges with it",
           52: "the centre voxel has six side neighbours",
           24: "that is the number of squares"},
    hint="an edge joins two on voxels that share a face: count them along each of the three "
         "axes",
))
