"""Numerical check of the stability theorem (the paper's Lemma 1) on score maps.

If two maps f and g on the same grid satisfy max |f - g| <= eps, then in every homology dimension the
bottleneck distance between their persistence diagrams is at most eps. This module perturbs maps in
several deliberately different ways, computes both diagrams with
:func:`topotta_lite.topology.persistence.cubical_persistence` and the bottleneck distance with gudhi, so that
notebook 02 (and the tests) can count violations.
"""

from __future__ import annotations

import gudhi
import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from topotta_lite.topology.persistence import cubical_persistence

__all__ = [
    "MAP_PERTURBATIONS",
    "bottleneck",
    "diagram_points",
    "perturb",
    "stability_trials",
]



def _grid(shape):
    return np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij")


MAP_PERTURBATIONS = ("uniform noise", "smooth bump", "single spike", "quantisation", "blur")
"""Kinds of perturbation :func:`perturb` knows."""


def perturb(score_map: np.ndarray, kind: str, eps: float, *, seed: int = 0) -> np.ndarray:
    """A perturbed copy g of a score map f, of a given kind and rough size ``eps``.

    The exact sup-norm ``max |f - g|`` is whatever the perturbation gives (compute it; for
    "quantisation" and "blur" ``eps`` only sets the strength).

    Parameters
    ----------
    score_map : (H, W) or (D, H, W) float array, values in [0, 1]
    kind : str
        One of :data:`MAP_PERTURBATIONS`:
        ``"uniform noise"`` adds U(-eps, eps) to every pixel; ``"smooth bump"`` adds
        +-eps times a Gaussian bump at a random place; ``"single spike"`` moves one random pixel by
        +-eps; ``"quantisation"`` rounds the map to ``n = round(1 / eps)`` + 1 levels (so
        |f - g| <= eps / 2); ``"blur"`` applies a Gaussian blur of width ``10 * eps`` pixels.
    eps : float
        Strength, > 0.
    seed : int
        Seed of the random choices.

    Examples
    --------
    >>> from topotta_lite.teaching.toys import smooth_random_map
    >>> f = smooth_random_map((16, 16))
    >>> g = perturb(f, "uniform noise", 0.1, seed=1)
    >>> bool(np.abs(f - g).max() <= 0.1)
    True
    """
    f = np.asarray(score_map, dtype=float)
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    rng = np.random.default_rng(seed)
    if kind == "uniform noise":
        return f + rng.uniform(-eps, eps, f.shape)
    if kind == "smooth bump":
        grids = _grid(f.shape)
        centre = [rng.uniform(0, n) for n in f.shape]
        width = rng.uniform(1.0, 0.25 * min(f.shape))
        r2 = sum((g - c) ** 2 for g, c in zip(grids, centre))
        return f + rng.choice([-1.0, 1.0]) * eps * np.exp(-0.5 * r2 / width**2)
    if kind == "single spike":
        g = f.copy()
        idx = tuple(int(rng.integers(0, n)) for n in f.shape)
        g[idx] += rng.choice([-1.0, 1.0]) * eps
        return g
    if kind == "quantisation":
        n = max(2, round(1.0 / eps) + 1)
        return np.round(f * (n - 1)) / (n - 1)
    if kind == "blur":
        return ndi.gaussian_filter(f, 10.0 * eps)
    raise ValueError(f"kind must be one of {MAP_PERTURBATIONS}, got {kind!r}")


def diagram_points(diagram, dim: int, convention: str = "gudhi") -> np.ndarray:
    """(n, 2) array of (birth, death) of one dimension, ready for ``gudhi.bottleneck_distance``.

    ``convention="gudhi"``: essential points have death = inf (as ``to_gudhi()``); ``"end of range"``:
    the diagram's own finite end-of-range death. gudhi expects death >= birth, so a superlevel
    diagram is mirrored (negated), which changes no distance. (gudhi silently returns too small
    distances for points below the diagonal.)
    """
    if convention == "gudhi":
        pts = [p for d, p in diagram.to_gudhi() if d == dim]
        return np.asarray(pts, dtype=float).reshape(-1, 2)
    sel = diagram.in_dim(dim)
    pts = np.column_stack([sel.births, sel.deaths]).astype(float).reshape(-1, 2)
    # gudhi expects death >= birth; a superlevel diagram is mirrored (negated), an isometry
    return -pts if diagram.filtration == "superlevel" else pts


def bottleneck(a: np.ndarray, b: np.ndarray) -> float:
    """gudhi's bottleneck distance of two (n, 2) point arrays; identical ones short-cut to 0.

    (gudhi can take over a second on two identical large diagrams.)
    """
    sa, sb = a[np.lexsort(a.T[::-1])], b[np.lexsort(b.T[::-1])]
    if sa.shape == sb.shape and np.array_equal(sa, sb):
        return 0.0
    return float(gudhi.bottleneck_distance(a, b))


def stability_trials(bases: dict, n_trials: int, seed: int = 0, eps_range=(1e-3, 0.5)) -> pd.DataFrame:
    """Random perturbation trials; one row per (trial, homology dimension, essential convention).

    Each trial picks a base map (cycling through ``bases``), a perturbation kind, a strength eps
    (log-uniform in ``eps_range``), a filtration and a construction, and records the sup-norm of the
    change and the bottleneck distance ``d_B`` of the two diagrams.

    Examples
    --------
    >>> f = np.random.default_rng(0).random((8, 8))
    >>> df = stability_trials({"random": f}, 4, seed=1)
    >>> bool((df["d_B"] <= df["sup_norm"] + 1e-9).all())
    True
    """
    eps_min, eps_max = eps_range
    rows = []
    names = list(bases)
    for i in range(n_trials):
        r = np.random.default_rng([seed, i])
        name = names[i % len(names)]
        f = bases[name]
        kind = MAP_PERTURBATIONS[r.integers(len(MAP_PERTURBATIONS))]
        eps = float(np.exp(r.uniform(np.log(eps_min), np.log(eps_max))))
        g = perturb(f, kind, eps, seed=int(r.integers(2**31)))
        sup_norm = float(np.abs(f - g).max())
        filtration = ("sublevel", "superlevel")[i % 2]
        construction = ("V", "T")[(i // 2) % 2]
        df = cubical_persistence(f, filtration=filtration, construction=construction)
        dg = cubical_persistence(g, filtration=filtration, construction=construction)
        for dim in range(f.ndim):
            for convention in ("gudhi", "end of range"):
                a = diagram_points(df, dim, convention)
                b = diagram_points(dg, dim, convention)
                d_b = bottleneck(a, b)
                rows.append({
                    "map": f"{f.ndim}D {name}", "ndim": f.ndim, "trial": i, "kind": kind,
                    "filtration": filtration, "construction": construction, "dim": dim,
                    "convention": convention, "sup_norm": sup_norm, "d_B": d_b,
                    "n_points_f": len(a), "n_points_g": len(b),
                })
    return pd.DataFrame(rows)
