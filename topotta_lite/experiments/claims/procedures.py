"""The verdict procedures: which contrasts of the comparands' means a claim puts beyond a threshold.

Every claim is judged by one of these procedures (its ``statistic`` in the catalogue). Each turns
``k`` comparands into ``J`` linear contrasts of their protocol means that must *all* lie on the
claimed side; :func:`topotta_lite.experiments.stats.contrast_test` gives them simultaneous
intervals. ``tests/test_stats_null.py`` simulates every procedure here under a null of equal
means and checks its error rates.

=====================  ==========================================================================
``difference``         comparand 0 minus comparand 1 ("A beats B"); ``k = 2``
``beats_all``          comparand 0 minus each other one ("A is best"; pairwise, never "A minus
                       the best other")
``below_all``          each other comparand minus comparand 0 ("A is the lowest")
``steps``              each comparand minus the one before ("falls as the parameter grows",
                       judged ``below`` 0)
``paired_gaps``        ``k = 4``: (0 - 1) and (2 - 3), both beyond the threshold (a trade-off:
                       "more recall *and* less precision")
``gap_change``         ``k = 4``: (2 - 3) minus (0 - 1) (a gain that changes between two levels)
``mean_gap_change``    ``k = 2 (a + b)``: the mean of the first ``a`` paired gaps minus the mean of
                       the last ``b`` (comparands in (method, baseline) pairs)
=====================  ==========================================================================

Examples
--------
>>> contrasts("beats_all", ("K=1", "K=2", "K=3"))[0].tolist()
[[1.0, -1.0, 0.0], [1.0, 0.0, -1.0]]
>>> contrasts("beats_all", ("K=1", "K=2", "K=3"))[1]
('K=1 - K=2', 'K=1 - K=3')
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["PROCEDURES", "contrasts"]

PROCEDURES = ("difference", "beats_all", "below_all", "steps", "paired_gaps", "gap_change",
              "mean_gap_change")


def contrasts(procedure: str, names: Sequence[str], n_low: int | None = None
              ) -> tuple[np.ndarray, tuple[str, ...]]:
    """The contrast matrix ``(J, k)`` and the contrast names of ``procedure`` on ``names``.

    Parameters
    ----------
    procedure : str
        One of :data:`PROCEDURES`.
    names : sequence of str
        The ``k`` comparands, in the order the procedure expects.
    n_low : int, optional
        ``mean_gap_change`` only: how many (method, baseline) pairs form the first group.

    Examples
    --------
    >>> contrasts("steps", ("K=1", "K=2", "K=3"))[1]
    ('K=2 - K=1', 'K=3 - K=2')
    """
    names = tuple(map(str, names))
    k = len(names)
    eye = np.eye(k)
    if procedure == "difference":
        _need(procedure, k, 2, exact=True)
        return (eye[0] - eye[1])[None, :], (f"{names[0]} - {names[1]}",)
    if procedure == "beats_all":
        _need(procedure, k, 2)
        return (np.stack([eye[0] - eye[j] for j in range(1, k)]),
                tuple(f"{names[0]} - {names[j]}" for j in range(1, k)))
    if procedure == "below_all":
        _need(procedure, k, 2)
        return (np.stack([eye[j] - eye[0] for j in range(1, k)]),
                tuple(f"{names[j]} - {names[0]}" for j in range(1, k)))
    if procedure == "steps":
        _need(procedure, k, 3)
        return (np.stack([eye[j] - eye[j - 1] for j in range(1, k)]),
                tuple(f"{names[j]} - {names[j - 1]}" for j in range(1, k)))
    if procedure == "paired_gaps":
        _need(procedure, k, 4, exact=True)
        return (np.stack([eye[0] - eye[1], eye[2] - eye[3]]),
                (f"{names[0]} - {names[1]}", f"{names[2]} - {names[3]}"))
    if procedure == "gap_change":
        _need(procedure, k, 4, exact=True)
        return ((eye[2] - eye[3] - eye[0] + eye[1])[None, :],
                (f"({names[2]} - {names[3]}) - ({names[0]} - {names[1]})",))
    if procedure == "mean_gap_change":
        if k < 4 or k % 2 or not n_low or not 0 < n_low < k // 2:
            raise ValueError(f"mean_gap_change needs pairs of comparands in two groups, got "
                             f"{k} comparands and n_low={n_low}")
        gaps = np.stack([eye[2 * i] - eye[2 * i + 1] for i in range(k // 2)])
        row = gaps[:n_low].mean(axis=0) - gaps[n_low:].mean(axis=0)
        return row[None, :], ("mean gap (first group) - mean gap (second group)",)
    raise ValueError(f"unknown procedure {procedure!r}; known: {', '.join(PROCEDURES)}")


def _need(procedure: str, k: int, at_least: int, exact: bool = False) -> None:
    if (k != at_least) if exact else (k < at_least):
        raise ValueError(f"{procedure} needs {'exactly' if exact else 'at least'} {at_least} "
                         f"comparands, got {k}")
