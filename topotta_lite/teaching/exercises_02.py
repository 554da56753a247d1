"""The exercises of notebook 02 (the multi-level filtration): registered on import.

Each ``solve`` computes its answer with the package (the elder rule, the standard algorithm,
the library's persistence and regions, the signed distance); nothing is typed. The inputs are
the ones the notebook states; its collapsed solution cells compute the same answers their own way
and assert that :func:`~topotta_lite.teaching.check` accepts them.

Examples
--------
>>> same_bars([(1, 4), (1, float("inf"))], [[1.0, float("-inf")], [1.0, 4.0]])
True
>>> same_bars([(1, 4)], [(1, 5)]), same_bars("no", [(1, 4)])
(False, False)
"""

from __future__ import annotations

import math

import numpy as np

from topotta_lite.teaching.by_hand import elder_rule
from topotta_lite.teaching.exercises import Exercise, register
from topotta_lite.teaching.filtrations import signed_distance
from topotta_lite.teaching.reduction import (
    filtered_complex,
    pairs_in_quadrant,
    reduce_boundary,
    reduction_pairs,
)
from topotta_lite.topology import cubical_persistence

__all__ = ["same_bars"]

_LESSON_SIGNAL = [3, 1, 4, 1, 5, 9, 2, 6]
_SIGNAL_1 = [2, 5, 1, 4, 3, 6, 0, 5]
_IMAGE_2X3 = np.array([[1, 4, 2], [5, 3, 6]], dtype=float)


def same_bars(given, expected) -> bool:
    """Whether two barcodes hold the same bars ``(birth, death)``, in any order; an infinite
    death matches an infinite death of either sign (an essential bar "never dies")."""
    def norm(bars):
        out = []
        for bar in bars:
            b, d = (float(v) for v in bar)
            out.append((b, math.inf if math.isinf(d) else d))
        return sorted(out)

    try:
        g, e = norm(given), norm(expected)
    except (TypeError, ValueError):
        return False
    return len(g) == len(e) and all(
        math.isclose(a, b, abs_tol=1e-9) or a == b for x, y in zip(g, e) for a, b in zip(x, y))


def _bars(values, filtration) -> list[tuple[float, float]]:
    pairs = elder_rule(values, filtration).pairs
    return [(float(b), float(d)) for b, d in zip(pairs["birth"], pairs["death"])]


def _corner_squares() -> np.ndarray:
    arr = np.zeros((6, 6))
    arr[0:2, 4:6] = 1.0  # in the top-right corner
    arr[2:4, 2:4] = 1.0  # touches the first one at a corner only
    return arr


def _border_blobs():
    rows, cols = np.indices((32, 32))
    a = np.exp(-0.5 * (np.hypot(rows - 0, cols - 10) / 3.0) ** 2)
    b = 0.8 * np.exp(-0.5 * (np.hypot(rows - 20, cols - 20) / 3.0) ** 2)
    return np.maximum(a, b), np.hypot(rows - 0, cols - 10) <= 6, np.hypot(rows - 20, cols - 20) <= 6


def _top1_blobs() -> tuple[str, str]:
    from topotta_lite.method import feature_region, select_features

    values, blob_a, blob_b = _border_blobs()
    names = []
    for filtration, dim in (("sublevel", 1), ("superlevel", 0)):
        dg = cubical_persistence(values, filtration)
        region = feature_region(values, select_features(dg, k=1, dims=[dim]), 0, alpha=0.5)
        names.append("A" if (region & blob_a).any() and not (region & blob_b).any() else
                     "B" if (region & blob_b).any() and not (region & blob_a).any() else "?")
    return tuple(names)


def _square_ring() -> np.ndarray:
    m = np.zeros((13, 13), dtype=bool)
    m[2:11, 2:11] = True
    m[3:10, 3:10] = False  # a wall one pixel thick around a 7 x 7 hole
    return m


register(Exercise(
    "02.1", "the sublevel barcode of the signal 2, 5, 1, 4, 3, 6, 0, 5",
    solve=lambda: _bars(_SIGNAL_1, "sublevel"), compare=same_bars,
    wrong={((0.0, math.inf), (1.0, 6.0), (2.0, 5.0), (3.0, 4.0), (5.0, 6.0)):
           "a pixel whose neighbour is already in the set joins its piece: it is born only "
           "when it touches no piece",
           ((0.0, math.inf), (1.0, 6.0), (2.0, 5.0)):
           "every local minimum starts a bar, even a shallow one",
           ((0.0, 6.0), (1.0, 6.0), (2.0, 5.0), (3.0, 4.0)):
           "the piece born first never dies: its bar is essential (death `np.inf`)"},
    hint="sweep t upwards; a minimum starts a bar, and at each pass the younger of the two "
         "pieces it joins dies",
))

register(Exercise(
    "02.2", "the superlevel barcode of the lesson's signal 3, 1, 4, 1, 5, 9, 2, 6",
    solve=lambda: _bars(_LESSON_SIGNAL, "superlevel"), compare=same_bars,
    wrong={((1.0, 4.0), (1.0, math.inf), (2.0, 9.0)):
           "that is the sublevel barcode: sweep t downwards, from the highest value",
           ((9.0, math.inf), (6.0, 2.0), (4.0, 1.0)):
           "every local maximum starts a bar, the one at the left end of the signal too",
           ((9.0, math.inf), (6.0, 2.0), (5.0, 1.0), (4.0, 1.0), (3.0, 1.0)):
           "the 5 joins the piece of the 9 when it enters: it starts no bar"},
    hint="pixels enter from the highest value down; a peak starts a bar, and a piece dies when "
         "it merges into a piece with a higher peak",
))

register(Exercise(
    "02.3", "the number of sublevel H1 classes (V) of the map whose two squares touch at a corner",
    solve=lambda: len(cubical_persistence(_corner_squares(), "sublevel", construction="V",
                                          dims=[1])),
    wrong={1: "in V, the holes of the calm set are 8-connected bright regions: the two squares "
              "make one region, and it touches the border",
           2: "a bright region that touches the border is not a hole of the calm set"},
    hint="holes of the calm set are the bright regions, connected in the other construction's "
         "sense, that do not touch the border",
))

register(Exercise(
    "02.4", "the persistent Betti number beta_0^{2,4} of the lesson's signal (sublevel)",
    solve=lambda: pairs_in_quadrant(reduction_pairs(_LESSON_SIGNAL), 2, 4, 0),
    wrong={3: "a class that dies exactly at t = 4 is no longer alive at 4: count the points "
              "with death > 4",
           1: "the essential class is alive at every level: count it",
           4: "count the pieces of the sublevel set at 2 only (those still alive at 4)"},
    hint="count the points (b, d) of the H0 diagram with b <= 2 and d > 4",
))

register(Exercise(
    "02.5", "the number of zero columns of the reduced matrix R of the 2 x 3 image (V)",
    solve=lambda: int((reduce_boundary(filtered_complex(_IMAGE_2X3).boundary_matrix())
                       .reduced.sum(axis=0) == 0).sum()),
    wrong={7: "the cell that creates the essential class has a zero column too",
           2: "zero-persistence pairs count too: every cell either creates a class (zero "
              "column) or kills one",
           6: "edges and squares can create classes too (a loop, ...), and most vertices do",
           15: "a cell that kills a class has a non-zero column"},
    hint="every cell either creates a class (its column reduces to zero) or kills one (its "
         "column keeps a low); the pairs match them up, one creator is left over",
))

register(Exercise(
    "02.6", "(the blob the sublevel Top-1 region covers, the blob the superlevel Top-1 covers)",
    solve=_top1_blobs,
    wrong={("B", "B"): "the superlevel Top-1 is the essential class: the piece of the global "
                       "maximum",
           ("A", "A"): "the calm set cannot surround a blob that touches the border",
           ("A", "B"): "swap them: which blob can be a hole of the calm set?"},
    hint="the superlevel Top-1 is always the essential class; a sublevel H1 class is a hole of "
         "the calm set",
))

register(Exercise(
    "02.7", "the death of the H1 class of the square ring in the signed-distance filtration",
    solve=lambda: float(cubical_persistence(signed_distance(_square_ring()), "sublevel",
                                            dims=[1]).deaths[0]),
    wrong={7.0: "the hole is filled when its deepest pixel enters: its distance to the wall, "
                "not the hole's width",
           3.5: "distances are between pixel centres: count from the wall pixel to the centre "
                "of the hole",
           0.0: "at t = 0 the sublevel set is the mask itself: the hole is still open"},
    hint="the sublevel set at t > 0 is the ring grown by a disc of radius t: when does it cover "
         "the centre of the hole?",
))
