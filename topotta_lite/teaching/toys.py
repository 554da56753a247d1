"""Small synthetic score maps and mask pairs with known topology, for the teaching notebooks.

These are not a benchmark (see :mod:`topotta_lite.data` for that): each toy is built so that its
topology is known by construction (one blob = one component, one ring = one hole, one crack = one
thin component) and small enough to draw pixel by pixel.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

__all__ = [
    "TOY_ROLES",
    "far_from_diagonal",
    "feature_sites",
    "fusion_cases",
    "smooth_random_map",
    "toy_score_map",
    "toy_volume",
]



def _grid(shape):
    return np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij")


def toy_score_map(shape: tuple[int, int] = (96, 96), *, noise: float = 0.03, blur: float = 1.0,
                  seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A score-map-like image holding a blob, a ring and a crack on a noisy low background.

    Parameters
    ----------
    shape : (H, W)
        Map size; the three structures scale with it (use at least 32 x 32).
    noise : float
        Standard deviation of the Gaussian background noise (before the final rescaling).
    blur : float
        Gaussian blur (pixels) applied to the structures, like a backbone's receptive field.
    seed : int
        Seed of the noise.

    Returns
    -------
    score_map : (H, W) float64 array in [0, 1]
    parts : dict of str -> (H, W) bool
        The exact support of each structure: ``"blob"``, ``"ring"``, ``"crack"``, plus
        ``"ring_hole"`` (the low disc the ring encloses).

    Examples
    --------
    >>> psi, parts = toy_score_map((48, 48))
    >>> psi.shape, float(psi.min()) >= 0.0, float(psi.max()) <= 1.0
    ((48, 48), True, True)
    >>> sorted(parts)
    ['blob', 'crack', 'ring', 'ring_hole']
    """
    h, w = (int(s) for s in shape)
    if h < 16 or w < 16:
        raise ValueError(f"shape must be at least 16 x 16, got {shape}")
    rng = np.random.default_rng(seed)
    yy, xx = _grid((h, w))
    s = min(h, w)
    # blob: upper left, a smooth bump with a flat-ish top
    cy, cx, r = 0.28 * h, 0.27 * w, 0.12 * s
    d_blob = np.hypot(yy - cy, xx - cx)
    blob = np.exp(-0.5 * (d_blob / (0.6 * r)) ** 2)
    # ring: right side, an annulus around a low disc
    ry, rx, rr, rw = 0.5 * h, 0.7 * w, 0.17 * s, 0.045 * s
    d_ring = np.hypot(yy - ry, xx - rx)
    ring = 0.85 * np.exp(-0.5 * ((d_ring - rr) / rw) ** 2)
    # crack: a thin slanted wavy line in the lower left
    t = (xx - 0.08 * w) / (0.45 * w)
    centre = 0.72 * h + 0.1 * h * t + 0.03 * h * np.sin(6 * t)
    on_seg = (t >= 0) & (t <= 1)
    crack = np.where(on_seg, 0.7 * np.exp(-0.5 * ((yy - centre) / 0.9) ** 2), 0.0)
    psi = np.maximum.reduce([blob, ring, crack])
    if blur > 0:
        psi = ndi.gaussian_filter(psi, blur)
    psi = 0.08 + 0.92 * psi + noise * rng.standard_normal((h, w))
    psi = (psi - psi.min()) / (psi.max() - psi.min())
    parts = {
        "blob": d_blob <= r,
        "ring": np.abs(d_ring - rr) <= 1.5 * rw,
        "ring_hole": d_ring < rr - 1.5 * rw,
        "crack": on_seg & (np.abs(yy - centre) <= 1.5),
    }
    return psi, parts


def feature_sites(diagram, parts: dict[str, np.ndarray], *, background: str = "background"
                  ) -> pd.DataFrame:
    """Where each feature of a diagram lives, among the known parts of a toy map.

    A piece (H0) lives where it is born: the pixel of its birth (a local minimum for the
    sublevel sweep, a local maximum for the superlevel one). A hole (the top dimension: H1 in
    2D) lives where it is filled: the pixel of its death, inside the hole. The site is the first
    part of ``parts`` holding that pixel, else ``background``.

    Parameters
    ----------
    diagram : PersistenceDiagram
        With cell locations (``birth_cells``, ``death_cells``).
    parts : dict of str -> bool array
        Known supports, e.g. the ``parts`` of :func:`toy_score_map`.
    background : str
        The site of a feature outside every part.

    Returns
    -------
    pandas.DataFrame
        One row per feature, in the diagram's order: ``dim``, ``birth``, ``death``,
        ``persistence`` (death - birth in the sweep's own order), ``essential``, ``site``.

    Examples
    --------
    >>> from topotta_lite.topology import cubical_persistence
    >>> psi, parts = toy_score_map((48, 48))
    >>> sites = feature_sites(cubical_persistence(psi, "superlevel"), parts)
    >>> sorted(sites.sort_values("persistence", ascending=False)["site"].head(4))
    ['blob', 'crack', 'ring', 'ring_hole']
    """
    top = len(diagram.shape) - 1
    sites = []
    for dim, b_cell, d_cell in zip(diagram.dims, diagram.birth_cells, diagram.death_cells):
        cell = tuple(int(c) for c in (d_cell if dim == top and dim > 0 else b_cell))
        sites.append(next((name for name, m in parts.items() if np.asarray(m)[cell]),
                          background))
    return pd.DataFrame({"dim": np.asarray(diagram.dims, dtype=int),
                         "birth": diagram.births, "death": diagram.deaths,
                         "persistence": diagram.persistence,
                         "essential": np.asarray(diagram.essential, dtype=bool), "site": sites})


#: what a feature of the toy map is, by (filtration, dimension, site): the long features
TOY_ROLES = {("sublevel", 0, "ring_hole"): "the ring's calm centre (a piece)",
             ("sublevel", 1, "blob"): "the blob (a hole of the calm set)",
             ("sublevel", 1, "ring"): "the ring (a hole of the calm set)",
             ("sublevel", 1, "crack"): "the crack (a hole of the calm set)",
             ("superlevel", 0, "blob"): "the blob (a piece)",
             ("superlevel", 0, "ring"): "the ring (a piece)",
             ("superlevel", 0, "crack"): "the crack (a piece)",
             ("superlevel", 1, "ring_hole"): "the ring's hole"}


def far_from_diagonal(diagrams, parts: dict[str, np.ndarray], roles=None
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The features of a toy map's diagrams that are its structures, and all the others.

    For each diagram and each role of ``roles`` (a structure seen by one filtration in one
    dimension, located by :func:`feature_sites`), the most persistent feature with that role;
    the essential class is named as such. Everything else goes to the second table: a statement
    such as "the others sit near the diagonal" is then checked by comparing the two.

    Parameters
    ----------
    diagrams : sequence of PersistenceDiagram
        E.g. the sublevel and the superlevel diagram of :func:`toy_score_map`'s map.
    parts : dict of str -> bool array
        The toy's parts.
    roles : dict, optional
        ``(filtration, dim, site) -> name``; default :data:`TOY_ROLES`.

    Returns
    -------
    structures, rest : pandas.DataFrame
        ``structures``: ``filtration``, ``dim`` (``"H0"``...), ``feature``, ``birth``, ``death``,
        ``persistence``; ``rest``: the other features, as rows of :func:`feature_sites` with a
        ``filtration`` column.

    Examples
    --------
    >>> from topotta_lite.topology import cubical_persistence
    >>> psi, parts = toy_score_map((48, 48))
    >>> found, rest = far_from_diagonal([cubical_persistence(psi, f)
    ...                                  for f in ("sublevel", "superlevel")], parts)
    >>> len(found), bool(rest["persistence"].max() < found["persistence"].min())
    (9, True)
    """
    roles = TOY_ROLES if roles is None else roles
    found, rest = [], []
    for dg in diagrams:
        sites = feature_sites(dg, parts)
        sites["filtration"] = dg.filtration
        best = sites.loc[sites.groupby(["dim", "site"])["persistence"].idxmax()]
        for i, r in best.iterrows():
            role = roles.get((dg.filtration, r["dim"], r["site"]))
            if r["essential"]:
                role = (role or f"the {r['site']} (a piece)") + ", the essential class"
            if role is not None:
                found.append({"filtration": dg.filtration, "dim": f"H{r['dim']}", "feature": role,
                              "birth": r["birth"], "death": r["death"],
                              "persistence": r["persistence"]})
                sites = sites.drop(index=i)
        rest.append(sites)
    return pd.DataFrame(found), pd.concat(rest)


def smooth_random_map(shape: tuple[int, ...], *, sigma: float = 2.0, seed: int = 0) -> np.ndarray:
    """A smooth random field in [0, 1] (blurred white noise), 2D or 3D.

    Examples
    --------
    >>> m = smooth_random_map((8, 9, 10), seed=1)
    >>> m.shape, round(float(m.min()), 6), round(float(m.max()), 6)
    ((8, 9, 10), 0.0, 1.0)
    """
    rng = np.random.default_rng(seed)
    f = ndi.gaussian_filter(rng.standard_normal(tuple(int(s) for s in shape)), sigma)
    return (f - f.min()) / (f.max() - f.min())


def toy_volume(shape: tuple[int, int, int] = (24, 24, 24), *, noise: float = 0.03,
               seed: int = 0) -> np.ndarray:
    """A 3D score volume in [0, 1] with a solid blob and a hollow spherical shell (a cavity).

    Examples
    --------
    >>> toy_volume((12, 12, 12)).shape
    (12, 12, 12)
    """
    rng = np.random.default_rng(seed)
    zz, yy, xx = _grid(shape)
    n = min(shape)
    blob = np.exp(-0.5 * (np.sqrt((zz - 0.3 * shape[0]) ** 2 + (yy - 0.3 * shape[1]) ** 2
                                  + (xx - 0.3 * shape[2]) ** 2) / (0.08 * n)) ** 2)
    d = np.sqrt((zz - 0.62 * shape[0]) ** 2 + (yy - 0.62 * shape[1]) ** 2
                + (xx - 0.62 * shape[2]) ** 2)
    shell = 0.8 * np.exp(-0.5 * ((d - 0.2 * n) / (0.05 * n)) ** 2)
    v = 0.05 + np.maximum(blob, shell) + noise * rng.standard_normal(shape)
    return (v - v.min()) / (v.max() - v.min())


def fusion_cases(size: int = 40) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Pairs (m_sub, m_sup) of masks on which a plain intersection changes the topology.

    * ``"broken_bar"``: both masks hold the same thick bar, each with notches cut from a different
      side at the same places; each mask is one piece, their intersection is cut into three.
    * ``"pinholes"``: both masks hold the same disc, each with a one-pixel hole at a different
      place (score noise); the union is a solid disc, the intersection has two holes.
    * ``"ring_gap"``: both masks hold the same ring, one with a short gap; the union keeps the
      ring's hole, the intersection is an open arc.

    Returns
    -------
    dict of str -> (m_sub, m_sup), each a (size, size) bool array

    Examples
    --------
    >>> cases = fusion_cases(32)
    >>> sorted(cases)
    ['broken_bar', 'pinholes', 'ring_gap']
    >>> a, b = cases["broken_bar"]
    >>> a.shape, a.dtype.name
    ((32, 32), 'bool')
    """
    n = int(size)
    if n < 24:
        raise ValueError(f"size must be at least 24, got {size}")
    yy, xx = _grid((n, n))
    c = (n - 1) / 2
    ci = round(c)
    bar = (np.abs(yy - ci) <= 2) & (xx >= 0.15 * n) & (xx <= 0.85 * n)
    a, b = bar.copy(), bar.copy()
    for x in (int(0.4 * n), int(0.62 * n)):
        a[:ci, x:x + 2] = False        # notch from the top, down to just above the middle row
        b[ci:, x:x + 2] = False        # notch from the bottom, up to the middle row
    r = np.hypot(yy - c, xx - c)
    disc = r <= 0.38 * n
    p, q = disc.copy(), disc.copy()
    p[ci - n // 8, ci - n // 8] = False
    q[ci + n // 8, ci + n // 10] = False
    ring = (r >= 0.22 * n) & (r <= 0.34 * n)
    gap = (np.abs(yy - c) <= 0.5) & (xx > c)
    return {"broken_bar": (a, b), "pinholes": (p, q), "ring_gap": (ring.copy(), ring & ~gap)}
