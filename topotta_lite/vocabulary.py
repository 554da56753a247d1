"""The project's vocabulary, defined once: filtrations, constructions, metrics, method names.

Every module that checks a ``filtration=`` or ``construction=`` argument, names a metric column
or prints a method reads it from here, so that the words mean the same thing in the code, the
tables and the notebooks.

Examples
--------
>>> FILTRATIONS
('sublevel', 'superlevel')
>>> METHOD_NAMES["topotta"]
'TopoTTA'
"""

from __future__ import annotations

__all__ = [
    "CONSTRUCTIONS",
    "FILTRATIONS",
    "METHOD_NAMES",
    "METHOD_ORDER",
    "RANKING_METRICS",
    "SCORER_NAMES",
    "SEG_METRICS",
    "check_choice",
]

FILTRATIONS = ("sublevel", "superlevel")
"""Sublevel: sweep the threshold upwards over ``psi``; superlevel: downwards (sublevel of ``-psi``)."""

CONSTRUCTIONS = ("V", "T")
"""V: pixels are vertices (4/6-connectivity); T: pixels are top cells (8/26-connectivity)."""

SEG_METRICS = ("precision", "recall", "f1", "iou")
"""Per-image metrics of a binary mask against the ground truth (means over images, then classes)."""

RANKING_METRICS = ("i_auroc", "p_auroc", "aupro")
"""Threshold-free metrics of the score maps themselves."""

METHOD_NAMES = {"thr": "THR", "ttt4as": "TTT4AS", "topotta": "TopoTTA"}
"""Operator registry key -> display name."""

METHOD_ORDER = tuple(METHOD_NAMES.values())
"""Display order of the methods in tables and figures."""

SCORER_NAMES = {"patchcore": "PatchCore", "padim": "PaDiM"}
"""Scorer key -> display name."""


def check_choice(name: str, value, choices) -> None:
    """Raise a ``ValueError`` naming ``name`` unless ``value`` is one of ``choices``.

    Examples
    --------
    >>> check_choice("construction", "V", CONSTRUCTIONS)
    >>> check_choice("construction", "X", CONSTRUCTIONS)
    Traceback (most recent call last):
    ...
    ValueError: construction must be one of ('V', 'T'), got 'X'
    """
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
