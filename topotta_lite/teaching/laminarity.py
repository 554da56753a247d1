"""When can the Euler-aware intersection act? Laminarity of the two pseudo-labels (notebook 04).

At K = 1 both pseudo-labels are connected components of *superlevel sets of the same map*: the
sublevel-H1 region is a bounded component of ``{psi > t}`` (the high region a low loop encloses),
the superlevel-H0 region the component of ``{psi > t'}`` around the global peak. If ``t >= t'``,
a component of ``{psi > t}`` is a connected subset of ``{psi > t'}``, so it lies inside exactly
one component of ``{psi > t'}``: two such components are **nested or disjoint** (a laminar
family). The intersection of the two masks is then the smaller mask or empty, and EAI, which grows
the intersection, starts from one of the inputs or returns its fallback. The argument needs both
components to be taken with the **same connectivity**: a region that is connected only through
the corner of two pixels (8-connected) may straddle two 4-connected components.

This module measures the relation of two masks (:func:`mask_relation`), checks the part of the
argument that holds whatever the connectivities (:func:`pieces_laminar`: every 4-connected piece
of one mask is nested in, or disjoint from, every 4-connected piece of the other), finds out which
connectivity the library's regions and Euler characteristic actually use
(:func:`library_connectivities`, by running them on tiny maps), and summarises one fusion
(:func:`fusion_outcome`).

Examples
--------
>>> a = np.zeros((5, 5), bool); a[1:3, 1:3] = True
>>> b = np.zeros((5, 5), bool); b[1:4, 1:4] = True
>>> mask_relation(a, b), mask_relation(b, a), mask_relation(a, ~b)
('sub in sup', 'sup in sub', 'disjoint')
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from topotta_lite.method.pseudolabels import pseudo_label_mask
from topotta_lite.topology import euler_characteristic
from topotta_lite.topology.connectivity import connectivity_structure

__all__ = ["RELATIONS", "fusion_outcome", "library_connectivities", "mask_relation",
           "pieces_laminar"]

RELATIONS = ("empty", "equal", "sub in sup", "sup in sub", "disjoint", "partial overlap")
"""What :func:`mask_relation` can say about two masks."""


def _masks(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"the two masks must have the same shape, got {a.shape} and {b.shape}")
    return a, b


def mask_relation(m_sub, m_sup) -> str:
    """How two masks sit relative to each other: one of :data:`RELATIONS`.

    ``"empty"``: one of them is empty; ``"partial overlap"``: they overlap and neither contains
    the other (what laminarity forbids).

    Examples
    --------
    >>> a = np.array([[1, 1, 0]], bool); b = np.array([[0, 1, 1]], bool)
    >>> mask_relation(a, b), mask_relation(a, a), mask_relation(a, np.zeros_like(a))
    ('partial overlap', 'equal', 'empty')
    """
    a, b = _masks(m_sub, m_sup)
    if not a.any() or not b.any():
        return "empty"
    inter = a & b
    if not inter.any():
        return "disjoint"
    a_in_b, b_in_a = not (a & ~b).any(), not (b & ~a).any()
    if a_in_b and b_in_a:
        return "equal"
    if a_in_b:
        return "sub in sup"
    if b_in_a:
        return "sup in sub"
    return "partial overlap"


def pieces_laminar(m_sub, m_sup) -> bool:
    """Whether every piece of one mask is nested in, or disjoint from, every piece of the other.

    Pieces are the components of the finest connectivity (4 in 2D, 6 in 3D). A 4-connected piece
    of a component of ``{psi > t}`` (whatever that component's connectivity) is a 4-connected
    component of ``{psi > t}`` itself, so for two masks made of components of superlevel sets of
    one map this holds whatever connectivity each mask was grown with.

    Examples
    --------
    >>> diag = np.eye(3, dtype=bool)             # three pieces touching at corners
    >>> pieces_laminar(diag, np.eye(3, dtype=bool) & (np.arange(3) < 2))
    True
    >>> pieces_laminar(np.array([[1, 1, 0]], bool), np.array([[0, 1, 1]], bool))
    False
    """
    a, b = _masks(m_sub, m_sup)
    structure = connectivity_structure(a.ndim, "V")  # 4 / 6: the finest
    la, na = ndi.label(a, structure=structure)
    lb, nb = ndi.label(b, structure=structure)
    both = (la > 0) & (lb > 0)
    if not both.any():
        return True
    codes = la[both].astype(np.int64) * (nb + 1) + lb[both]
    pair, shared = np.unique(codes, return_counts=True)  # overlapping pieces, shared pixels
    ia, ib = pair // (nb + 1), pair % (nb + 1)
    size_a = np.bincount(la.ravel(), minlength=na + 1)
    size_b = np.bincount(lb.ravel(), minlength=nb + 1)
    return bool(np.all((shared == size_a[ia]) | (shared == size_b[ib])))


def _region_connectivity(filtration: str, construction: str) -> int:
    """4 or 8: the connectivity of the region the library grows for a Top-1 feature (2D).

    Runs :func:`pseudo_label_mask` on a 7 x 7 map whose Top-1 region holds two high pixels that
    touch only at a corner: the region keeps both with 8-connectivity, one with 4-connectivity.
    """
    psi = np.zeros((7, 7))
    psi[2, 2], psi[3, 3] = 1.0, 0.9  # a low surround (sublevel: a hole), two bright pixels
    mask = pseudo_label_mask(psi, filtration, k=1, construction=construction, levels=None)
    if not mask[2, 2]:
        raise RuntimeError(f"the {filtration} Top-1 region of the probe map misses its peak")
    return 8 if mask[3, 3] else 4


def library_connectivities(construction: str = "V") -> dict[str, int]:
    """Which connectivity (4 or 8) the library uses, found by running it on tiny 2D maps.

    ``sublevel region`` and ``superlevel region``: the Top-1 pseudo-label regions of
    :func:`topotta_lite.method.pseudolabels.pseudo_label_mask`; ``chi``: the pieces counted by
    :func:`topotta_lite.topology.euler_characteristic` (two pixels touching at a corner give
    ``chi = 2`` with 4-connected pieces, ``1`` with 8-connected ones).

    Examples
    --------
    >>> sorted(library_connectivities("V"))
    ['chi', 'sublevel region', 'superlevel region']
    >>> set(library_connectivities("T").values()) <= {4, 8}
    True
    """
    chi = euler_characteristic(np.eye(2, dtype=bool), construction)
    return {"sublevel region": _region_connectivity("sublevel", construction),
            "superlevel region": _region_connectivity("superlevel", construction),
            "chi": 4 if chi == 2 else 8}


def fusion_outcome(m_sub, m_sup, fused) -> dict:
    """What one fusion did: the masks' relation and whether EAI acted or fell back.

    ``fallback``: the masks do not overlap (intersection empty, union not), so the fusion returned
    its fallback; ``eai_acts``: the intersection is not empty and the fused mask differs from it;
    ``equals_sub``: the fused mask is the sublevel mask.

    Examples
    --------
    >>> a = np.array([[1, 0, 0]], bool); b = np.array([[0, 0, 1]], bool)
    >>> fusion_outcome(a, b, a)
    {'relation': 'disjoint', 'fallback': True, 'eai_acts': False, 'equals_sub': True}
    """
    a, b = _masks(m_sub, m_sup)
    f = np.asarray(fused, dtype=bool)
    inter = a & b
    return {"relation": mask_relation(a, b),
            "fallback": bool(not inter.any() and (a | b).any()),
            "eai_acts": bool(inter.any() and (f != inter).any()),
            "equals_sub": bool(np.array_equal(f, a))}
