"""The exercises of notebook 05 (PCES), registered with :func:`check`.

Examples
--------
>>> from topotta_lite.teaching.exercises import check
>>> check("05.2", lambda p, q: (p * (p - 1) // 2 + q * (q - 1) // 2, p * q)).correct
True
"""

from __future__ import annotations

import numpy as np
import torch

from topotta_lite.method.pces import contrastive_loss, pseudo_label_grids
from topotta_lite.teaching.exercises import Exercise, register, same_answer


def toy_fused_mask() -> np.ndarray:
    """05.1: an 8 x 8 mask holding a 3 x 3 square at rows 1-3, columns 1-3."""
    m = np.zeros((8, 8), dtype=bool)
    m[1:4, 1:4] = True
    return m


def positive_cells() -> set[tuple[int, int]]:
    """05.1: the positive cells of the 4 x 4 grid with ``pos_fraction = 0.5``."""
    pos, _ = pseudo_label_grids(toy_fused_mask(), (4, 4), pos_fraction=0.5, neg_dilation=1)
    return {tuple(int(v) for v in c) for c in np.argwhere(pos)}


def _cells(given, expected) -> bool:
    try:
        cells = {tuple(int(v) for v in c) for c in given}
    except (TypeError, ValueError):
        return False
    return cells == set(expected) and len(list(given)) == len(expected)


def pair_counts(p: int, q: int) -> tuple[int, int]:
    """05.2: similar and dissimilar pairs among ``p`` positive and ``q`` negative samples."""
    y = np.r_[np.ones(p), np.zeros(q)]
    a, b = np.triu_indices(p + q, k=1)
    different = int((y[a] != y[b]).sum())
    return len(a) - different, different


def _same_counts(given, expected) -> bool:
    if not callable(given):
        return False
    cases = [(3, 5), (1, 1), (0, 4), (12, 7), (512, 256)]
    return all(same_answer(tuple(int(v) for v in given(p, q)), pair_counts(p, q))
               for p, q in cases)


#: exercise 05.3: (distance, dissimilar?) of the three pairs, margin 1
PRICED_PAIRS = ((0.4, True), (0.4, False), (1.5, True))


def pair_prices() -> tuple[float, ...]:
    """05.3: what each pair of :data:`PRICED_PAIRS` pays in Eq. 10 (margin 1)."""
    out = []
    for d, dissimilar in PRICED_PAIRS:
        z1, z2 = torch.zeros(1, 2), torch.tensor([[d, 0.0]])
        out.append(round(float(contrastive_loss(z1, z2, torch.tensor([float(dissimilar)]),
                                                margin=1.0)), 12))
    return tuple(out)


#: exercise 05.4: the two prototypes and three locations
P_ANOMALOUS, P_NOMINAL = np.array([1.0, 0.0]), np.array([-1.0, 0.0])
LOCATIONS = np.array([[0.2, 3.0], [-0.1, 0.0], [0.0, 5.0]])


def defect_calls() -> list[bool]:
    """05.4: which locations are nearer the anomalous prototype (margin > 0)."""
    margins = (np.linalg.norm(LOCATIONS - P_NOMINAL, axis=1)
               - np.linalg.norm(LOCATIONS - P_ANOMALOUS, axis=1))
    return (margins > 0).tolist()


register(Exercise(
    "05.1", "The 3 x 3 square on a 4 x 4 grid of 2 x 2 cells: the positive cells (pos_fraction 0.5)",
    solve=positive_cells, compare=_cells,
    wrong={((1, 1),): "a cell with exactly half of its pixels in the mask is positive too",
           ((0, 0), (0, 1), (1, 0), (1, 1)): "cell (0, 0) holds only one of its four pixels"},
    hint="cell (i, j) covers pixel rows 2i, 2i+1 and columns 2j, 2j+1: count its pixels in the "
         "square"))

register(Exercise(
    "05.2", "A function pairs(p, q) -> (similar, dissimilar) for p positives and q negatives",
    solve=lambda: pair_counts, compare=_same_counts,
    hint="similar pairs are pairs within a class, p(p-1)/2 of them for p samples; a dissimilar "
         "pair takes one sample of each class"))

register(Exercise(
    "05.3", "Margin 1: what a dissimilar pair at d = 0.4, a similar pair at d = 0.4 and a "
            "dissimilar pair at d = 1.5 pay",
    solve=pair_prices,
    wrong={(0.16, 0.36, 0.0): "a similar pair pays d squared; a dissimilar one (m - d) squared",
           (0.36, 0.16, 0.25): "beyond the margin a dissimilar pair pays nothing",
           (0.6, 0.4, 0.0): "the terms are squared"},
    hint="similar: d**2; dissimilar: max(0, m - d)**2"))

register(Exercise(
    "05.4", "Prototypes (1, 0) and (-1, 0): which of (0.2, 3), (-0.1, 0), (0, 5) are defective",
    solve=defect_calls,
    wrong={(True, False, True): "a location exactly halfway has margin zero, and the rule needs "
                                "a margin above zero",
           (False, False, False): "(0.2, 3) is a little nearer the anomalous prototype"},
    hint="only the horizontal coordinate decides which prototype is nearer"))
