"""Persistence worked out by hand: the elder rule on tiny signals and images, and the duality check.

These functions are deliberately slow and plain (a Python loop over pixels and a dictionary of
component roots), so that a student can follow them line by line and compare each step with the
library (:func:`topotta_lite.topology.cubical_persistence`) and gudhi.

The elder rule
--------------
Sweep a threshold t through the values (upwards for a sublevel filtration, downwards for a
superlevel one). A pixel enters the set when t reaches its value. When it enters

* touching no piece already there: a new piece (an H0 class) is **born** at its value;
* touching one piece: it joins that piece, nothing is born or dies;
* touching several pieces: they **merge**, and all but the **eldest** (the one born first) **die**
  at the current value. The eldest survives; that is the elder rule.

The piece born first never dies: it is the essential class. Ties are broken by the row-major
index of the pixel (the library's convention), so "born first" is always well defined.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from topotta_lite.topology.connectivity import connectivity_structure
from topotta_lite.topology.persistence import PersistenceDiagram
from topotta_lite.vocabulary import CONSTRUCTIONS, FILTRATIONS, check_choice

__all__ = ["ElderRun", "elder_rule", "interior_components"]


@dataclass
class ElderRun:
    """The H0 persistence of a small map computed by the elder rule, with every step recorded.

    Attributes
    ----------
    events : pandas.DataFrame
        One row per pixel, in the order the sweep adds them: ``step``, ``pixel`` (index tuple),
        ``value``, ``event`` (``"birth"``, ``"joins"``, ``"merge"``), ``dies`` (the pixels
        where the pieces that die at this step were born), ``pieces`` (pieces after the step).
    pairs : pandas.DataFrame
        One row per H0 class with non-zero persistence, plus the essential class: ``birth``,
        ``death`` (``inf`` for the essential class), ``birth_pixel``, ``death_pixel``,
        ``persistence`` (``inf`` for the essential class).
    filtration, construction : str
    shape : tuple of int
    """

    events: pd.DataFrame
    pairs: pd.DataFrame
    filtration: str
    construction: str
    shape: tuple[int, ...]

    def diagram(self) -> PersistenceDiagram:
        """The pairs as a :class:`~topotta_lite.topology.PersistenceDiagram` (H0 only).

        The essential class gets the library's end-of-range death (the last value of the sweep),
        so the result can be compared with ``cubical_persistence(..., dims=[0])`` and drawn with
        :func:`~topotta_lite.teaching.plot_barcode`. A constant map gives an empty diagram, as
        in the library.
        """
        end = float(self.events["value"].iloc[-1])
        p = self.pairs[self.pairs["birth"] != end] if (self.events["value"] == end).all() \
            else self.pairs
        deaths = np.where(np.isinf(p["death"]), end, p["death"]).astype(float)
        births = p["birth"].to_numpy(float)
        essential = np.isinf(p["death"].to_numpy(float))
        order = np.lexsort((np.arange(len(p)), -np.abs(births - deaths)))
        ndim = len(self.shape)
        cells = np.array([list(c) for c in p["birth_pixel"]], dtype=np.int64).reshape(-1, ndim)
        dcells = np.array([list(c) if c is not None else [-1] * ndim for c in p["death_pixel"]],
                          dtype=np.int64).reshape(-1, ndim)
        return PersistenceDiagram(
            dims=np.zeros(len(p), dtype=np.int64)[order], births=births[order],
            deaths=deaths[order], essential=essential[order], birth_cells=cells[order],
            death_cells=dcells[order], filtration=self.filtration,
            construction=self.construction, shape=tuple(self.shape))


def _neighbours(index: tuple[int, ...], shape: tuple[int, ...], construction: str):
    """Pixels next to ``index``: sharing a side (V) or at least a corner (T)."""
    offsets = np.argwhere(connectivity_structure(len(shape), construction)) - 1
    for off in offsets:
        if not off.any():
            continue
        q = tuple(int(i + o) for i, o in zip(index, off))
        if all(0 <= x < n for x, n in zip(q, shape)):
            yield q


def elder_rule(values, filtration: str = "sublevel", construction: str = "V") -> ElderRun:
    """H0 persistence of a 1D signal, 2D image or 3D volume by the elder rule, step by step.

    Parameters
    ----------
    values : array_like
        A 1D signal, a 2D image or a 3D volume of real values (small: this is a Python loop).
    filtration : {"sublevel", "superlevel"}
        Sublevel: pixels enter from the lowest value up; superlevel: from the highest down.
    construction : {"V", "T"}
        V: pixels touching by a side are neighbours (4-neighbours in 2D); T: also by a corner
        (8-neighbours). In 1D both are the left and right neighbours.

    Returns
    -------
    ElderRun

    Examples
    --------
    >>> run = elder_rule([3, 1, 4, 1, 5, 9, 2, 6])
    >>> run.pairs[["birth", "death"]].to_numpy().tolist()
    [[1.0, inf], [1.0, 4.0], [2.0, 9.0]]
    >>> run.events["event"].tolist()
    ['birth', 'birth', 'birth', 'joins', 'merge', 'joins', 'joins', 'merge']
    """
    check_choice("filtration", filtration, FILTRATIONS)
    check_choice("construction", construction, CONSTRUCTIONS)
    arr = np.asarray(values, dtype=float)
    if arr.ndim not in (1, 2, 3) or arr.size == 0:
        raise ValueError(f"values must be a non-empty 1D, 2D or 3D array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("values must be finite")
    sign = 1.0 if filtration == "sublevel" else -1.0
    flat = arr.ravel()
    order = np.lexsort((np.arange(flat.size), sign * flat))  # by value, ties by row-major index
    parent: dict[tuple, tuple] = {}
    born: dict[tuple, tuple[int, tuple]] = {}  # root -> (rank in the sweep, birth pixel)

    def find(p):
        while parent[p] != p:
            parent[p] = parent[parent[p]]
            p = parent[p]
        return p

    events, pairs = [], []
    for step, flat_index in enumerate(order):
        p = tuple(int(i) for i in np.unravel_index(flat_index, arr.shape))
        value = float(arr[p])
        roots = sorted({find(q) for q in _neighbours(p, arr.shape, construction) if q in parent},
                       key=lambda r: born[r][0])
        parent[p] = p
        dies = []
        if not roots:
            born[p] = (step, p)
            event = "birth"
        else:
            eldest = roots[0]
            parent[p] = eldest
            for younger in roots[1:]:  # the elder rule: every younger piece dies here
                parent[younger] = eldest
                birth_pixel = born[younger][1]
                birth_value = float(arr[birth_pixel])
                dies.append(birth_pixel)
                if birth_value != value:  # zero-persistence pairs are not features
                    pairs.append({"birth": birth_value, "death": value, "birth_pixel": birth_pixel,
                                  "death_pixel": p})
            event = "merge" if dies else "joins"
        pieces = len({find(q) for q in parent})
        events.append({"step": step, "pixel": p if arr.ndim > 1 else p[0], "value": value,
                       "event": event, "dies": dies, "pieces": pieces})
    first = born[find(tuple(int(i) for i in np.unravel_index(order[0], arr.shape)))][1]
    pairs.insert(0, {"birth": float(arr[first]), "death": np.inf, "birth_pixel": first,
                     "death_pixel": None})
    table = pd.DataFrame(pairs, columns=["birth", "death", "birth_pixel", "death_pixel"])
    table["persistence"] = np.abs(table["death"] - table["birth"])
    return ElderRun(pd.DataFrame(events), table, filtration, construction, tuple(arr.shape))


def interior_components(mask, construction: str = "V") -> int:
    """Number of pieces of a 2D/3D mask that do not touch the border of the grid.

    Pieces are connected in the construction's sense (V: 4/6-neighbours, T: 8/26-neighbours).
    This is the count that duality relates to holes: the holes of a mask in one construction are
    the interior pieces of its complement in the other construction.

    Examples
    --------
    >>> m = np.zeros((5, 5), bool); m[2, 2] = True; m[0, 0] = True
    >>> interior_components(m)   # the corner pixel touches the border
    1
    """
    check_choice("construction", construction, CONSTRUCTIONS)
    m = np.asarray(mask, dtype=bool)
    if m.ndim not in (2, 3):
        raise ValueError(f"mask must be 2D or 3D, got shape {m.shape}")
    labels, n = ndi.label(m, structure=connectivity_structure(m.ndim, construction))
    border = np.zeros_like(m)
    for axis in range(m.ndim):
        idx = [slice(None)] * m.ndim
        for end in (0, -1):
            idx[axis] = end
            border[tuple(idx)] = True
    touching = set(np.unique(labels[border])) - {0}
    return n - len(touching)
