"""The exercises of notebook 03 (stability), registered with :func:`check`.

Every answer is computed here from the exercise's data; the notebook states the questions in full.

Examples
--------
>>> from topotta_lite.teaching.exercises import check
>>> check("03.3", (1.0, 1.5)).correct, check("03.3", (1.0, 2.0)).correct
(True, False)
"""

from __future__ import annotations

import numpy as np

from topotta_lite.teaching.exercises import Exercise, register, same_answer
from topotta_lite.teaching.stability import bottleneck, diagram_points, wasserstein
from topotta_lite.topology.persistence import cubical_persistence

#: exercise 03.3: two diagrams (birth, death), sublevel
BY_HAND_A = np.array([[0.0, 4.0], [1.0, 2.0]])
BY_HAND_B = np.array([[0.0, 5.0]])
#: exercises 03.4 and 03.5: the noise bound and the persistences of four features
TRUST_EPS = 0.05
TRUST_PERSISTENCES = (0.62, 0.55, 0.40, 0.08)
#: exercise 03.6: the band's half-width with N_FEW copies; the question asks about N_MANY
BAND_C_FEW, BAND_N_FEW, BAND_N_MANY = 0.08, 4, 16


def rounding_bound() -> float:
    """03.1: the largest ``|f - g|`` when ``f`` in [0, 1] is rounded to the levels 0, 0.5, 1."""
    f = np.linspace(0.0, 1.0, 100_001)  # includes the halfway values 0.25 and 0.75
    return float(np.abs(f - np.round(f * 2) / 2).max())


def shifted_bump(shift: int = 3, size: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """03.2: a Gaussian bump on a zero background, and the same bump moved ``shift`` pixels."""
    yy, xx = np.indices((size, size), dtype=float)
    c = (size - 1) / 2
    f = np.exp(-((yy - c) ** 2 + (xx - c) ** 2) / (2 * 2.0 ** 2))
    f[f < 1e-6] = 0.0
    return f, np.roll(f, shift, axis=1)


def shifted_bump_distance() -> float:
    """03.2: ``d_B`` between the sublevel H0 diagrams of the bump and of its shifted copy."""
    f, g = shifted_bump()
    return bottleneck(diagram_points(cubical_persistence(f), 0),
                      diagram_points(cubical_persistence(g), 0))


def trusted(persistences=TRUST_PERSISTENCES, eps: float = TRUST_EPS) -> set[float]:
    """03.4: the features guaranteed a partner: persistence above ``2 eps``."""
    return {p for p in persistences if p > 2 * eps}


def ordered_pairs(persistences=TRUST_PERSISTENCES, eps: float = TRUST_EPS) -> set[tuple]:
    """03.5: the pairs (larger, smaller) whose order survives: persistences differ by > ``4 eps``."""
    ps = sorted(persistences, reverse=True)
    return {(p, q) for i, p in enumerate(ps) for q in ps[i + 1:] if p - q > 4 * eps}


def _same_pairs(given, expected) -> bool:
    """Pairs compared as a set, each pair in either order."""
    try:
        pairs = {tuple(sorted((float(a), float(b)), reverse=True)) for a, b in given}
    except (TypeError, ValueError):
        return False
    return len(pairs) == len(expected) and all(
        any(same_answer(p, e) for e in expected) for p in pairs)


register(Exercise(
    "03.1", "Rounding to the levels 0, 0.5, 1: the largest ||f - g||_inf, hence the bound on d_B",
    solve=rounding_bound,
    wrong={0.5: "a value moves to the *nearest* level, so by at most half the step between levels",
           0.125: "the levels are 0.5 apart; half of that step is the worst move"},
    hint="where between two levels is a value farthest from the nearest one?"))

register(Exercise(
    "03.2", "d_B between the H0 diagrams of a bump and of the same bump moved three pixels",
    solve=shifted_bump_distance,
    wrong={1.0: "Lemma 1 gives an upper bound only; compare the two diagrams themselves",
           3.0: "a diagram records the values at which features appear and vanish, not where"},
    hint="write down both diagrams: at which values are the pieces born, and when do they die?"))

register(Exercise(
    "03.3", "d_B(A, B) and W1(A, B) for A = {(0, 4), (1, 2)}, B = {(0, 5)}, as (d_B, W1)",
    solve=lambda: (bottleneck(BY_HAND_A, BY_HAND_B), wasserstein(BY_HAND_A, BY_HAND_B)),
    wrong={(1.0, 2.0): "sending (1, 2) to the diagonal costs its L-infinity distance to it, half "
                       "its persistence",
           (1.0, 1.0): "W1 adds up every move of the matching, the diagonal ones included",
           (3.0, 5.0): "try the other matching too: the best one is the cheapest"},
    hint="list the two possible matchings; d_B is the largest move of the best one, W1 the sum"))

register(Exercise(
    "03.4", "Persistences 0.62, 0.55, 0.40, 0.08, noise eps = 0.05: which are guaranteed a partner",
    solve=trusted,
    wrong={(0.62, 0.55, 0.40, 0.08): "a feature of persistence at most 2 eps may be matched to "
                                     "the diagonal",
           (0.62, 0.55): "the threshold is 2 eps (each end of a bar moves by at most eps), not 4 eps",
           (0.62,): "only the partner is guaranteed here, not the rank"},
    hint="a point within eps of the diagonal (L-infinity) can be matched to it"))

register(Exercise(
    "03.5", "The same features: which pairs (larger, smaller) are guaranteed to keep their order",
    solve=ordered_pairs, compare=_same_pairs,
    wrong={((0.62, 0.55), (0.62, 0.40), (0.62, 0.08), (0.55, 0.40), (0.55, 0.08), (0.40, 0.08)):
           "each persistence can move by 2 eps, one up and the other down",
           ((0.62, 0.08), (0.55, 0.08), (0.40, 0.08)): "a difference above 4 eps = 0.2 is enough"},
    hint="two persistences can swap when they differ by at most 4 eps"))

register(Exercise(
    "03.6", "The band's half-width is 0.08 with 4 copies: what do you expect with 16 copies",
    solve=lambda: BAND_C_FEW * float(np.sqrt(BAND_N_FEW / BAND_N_MANY)),
    compare=lambda given, expected: same_answer(given, expected, rtol=0.05),
    wrong={0.02: "the noise of a mean of n copies shrinks like one over the square root of n",
           0.08: "a mean of more independent copies holds less noise"},
    hint="the standard deviation of a mean of n independent copies is sigma / sqrt(n)"))
