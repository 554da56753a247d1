"""The exercises of notebook 04 (fusing the two pseudo-labels), registered with :func:`check`.

Examples
--------
>>> from topotta_lite.teaching.exercises import check
>>> check("04.2", (2, 1)).correct, check("04.2", (1, 0)).correct
(True, False)
"""

from __future__ import annotations

import numpy as np

from topotta_lite.teaching.exercises import Exercise, register
from topotta_lite.teaching.toys import fusion_cases
from topotta_lite.topology import betti_numbers, euler_characteristic

#: exercise 04.1: image side, pixels one dilation step adds, units of chi it repairs
STEP_SIDE, STEP_PIXELS, STEP_UNITS = 40, 20, 1
#: exercise 04.4: pixels of the two K = 1 masks, which overlap
NESTED_SUB, NESTED_SUP = 120, 300


def smallest_lambda(side: int = STEP_SIDE, pixels: int = STEP_PIXELS,
                    units: int = STEP_UNITS) -> float:
    """04.1: EAI takes a step adding ``pixels`` of ``side**2`` once ``lambda * units`` exceeds it."""
    return pixels / side**2 / units


def groove_masks(size: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """04.2: a disc minus the left half of a ring-shaped groove, and minus its right half."""
    yy, xx = np.indices((size, size))
    c0 = (size - 1) / 2
    r = np.hypot(yy - c0, xx - c0)
    disc = r <= 0.4 * size
    groove = (r > 0.15 * size) & (r <= 0.22 * size)
    return disc & ~(groove & (xx < c0)), disc & ~(groove & (xx >= c0))


def pinhole_chis(construction: str = "V") -> tuple[int, int, int, int]:
    """04.3: chi of the two pinhole masks, of their intersection and of their union, in that order."""
    a, b = fusion_cases(40)["pinholes"]
    return tuple(euler_characteristic(m, construction) for m in (a, b, a & b, a | b))


register(Exercise(
    "04.1", "One dilation step adds 20 of 40 x 40 pixels and repairs one unit of chi: from which "
            "lambda on does EAI take it",
    solve=smallest_lambda,
    wrong={0.5: "the cost counts the added *fraction* of the image: divide by all its pixels",
           20.0: "the cost counts the added *fraction* of the image, not pixels",
           0.025: "one unit of chi is repaired, not two"},
    hint="compare the added fraction of the image with lambda times the chi error it removes"))

register(Exercise(
    "04.2", "The two groove masks: (b0, b1) of their intersection I",
    solve=lambda: tuple(betti_numbers(np.logical_and(*groove_masks()), "V")),
    wrong={(1, 0): "that is the union; the intersection misses the whole groove",
           (1, 1): "the inner disc is cut off from the outer ring: count it as a piece",
           (2, 0): "the groove goes all the way round: the ring has a hole"},
    hint="draw the disc with the whole groove removed: what is left, and what does it enclose?"))

register(Exercise(
    "04.3", "The pinholes case: chi of M_sub, M_sup, I and U, as a tuple in that order",
    solve=pinhole_chis,
    wrong={(0, 0, 0, 0): "the union has no hole at all",
           (1, 1, 1, 1): "a one-pixel hole counts: chi = pieces - holes",
           (0, 0, 1, -1): "the intersection keeps both holes, the union none"},
    hint="chi = pieces - holes; the intersection keeps both holes, the union neither"))

register(Exercise(
    "04.4", "K = 1: the sublevel mask has 120 pixels, the superlevel one 300, and they overlap: "
            "pixels of their intersection",
    solve=lambda: min(NESTED_SUB, NESTED_SUP),
    wrong={300: "the intersection cannot be larger than either mask",
           420: "that is the most the union could have",
           0: "they overlap, so the intersection is not empty"},
    hint="at K = 1 the two regions are nested or disjoint"))
