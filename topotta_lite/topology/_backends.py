"""Reference backends of :func:`~topotta_lite.topology.cubical_persistence`: gudhi, cripser, giotto-tda.

Each returns the raw pairs ``(dims, births, deaths, essential, birth_flat, death_flat)`` with
C-order flat cell indices, which :mod:`topotta_lite.topology.persistence` assembles.
"""

from __future__ import annotations

import numpy as np


# --------------------------------------------------------------------------------------
# Reference backends
# --------------------------------------------------------------------------------------
def _gudhi_raw(arr, filtration, construction):
    import gudhi

    sign = -1.0 if filtration == "superlevel" else 1.0
    work = sign * arr
    if construction == "V":
        cc = gudhi.CubicalComplex(vertices=work)
    else:
        cc = gudhi.CubicalComplex(top_dimensional_cells=work)
    cc.compute_persistence(min_persistence=-1.0)
    if construction == "V":
        regular, essential = cc.vertices_of_persistence_pairs()
    else:
        regular, essential = cc.cofaces_of_persistence_pairs()
    flat = arr.ravel()
    d, bf, df, ess = [], [], [], []
    for dim, pairs in enumerate(regular):
        pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
        if len(pairs):
            # gudhi's flat indices are Fortran order
            bf.append(
                np.ravel_multi_index(np.unravel_index(pairs[:, 0], arr.shape, "F"), arr.shape)
            )
            df.append(
                np.ravel_multi_index(np.unravel_index(pairs[:, 1], arr.shape, "F"), arr.shape)
            )
            d.append(np.full(len(pairs), dim, np.int64))
            ess.append(np.zeros(len(pairs), bool))
    end = flat.max() if filtration == "sublevel" else flat.min()
    for dim, cells in enumerate(essential):
        cells = np.asarray(cells, np.int64).ravel()
        if len(cells):
            bf.append(np.ravel_multi_index(np.unravel_index(cells, arr.shape, "F"), arr.shape))
            df.append(np.full(len(cells), -1, np.int64))
            d.append(np.full(len(cells), dim, np.int64))
            ess.append(np.ones(len(cells), bool))
    if not d:
        i0 = np.zeros(0, np.int64)
        return i0, np.zeros(0), np.zeros(0), np.zeros(0, bool), i0, i0
    d, bf, df, ess = map(np.concatenate, (d, bf, df, ess))
    births = flat[bf]
    deaths = np.where(ess, end, flat[np.where(df >= 0, df, 0)])
    return d, births, deaths, ess, bf, df


def _cripser_raw(arr, filtration, construction, maxdim):
    import cripser

    sign = -1.0 if filtration == "superlevel" else 1.0
    # cripser mishandles singleton axes with the V construction (e.g. a (1, W) map yields
    # spurious essential classes): compute on the squeezed array, then re-insert the axes
    keep_axes = [ax for ax, n in enumerate(arr.shape) if n > 1]
    work = np.ascontiguousarray(sign * arr.reshape([arr.shape[ax] for ax in keep_axes]))
    rows = np.asarray(
        cripser.compute_ph(work, filtration=construction, maxdim=maxdim), np.float64
    ).reshape(-1, 9)
    rows = rows[rows[:, 0] <= maxdim]
    k = work.ndim
    d = rows[:, 0].astype(np.int64)
    ess = ~np.isfinite(rows[:, 2]) | (np.abs(rows[:, 2]) > 1e300)
    bc = np.zeros((len(rows), arr.ndim), np.int64)
    dc = np.zeros((len(rows), arr.ndim), np.int64)
    bc[:, keep_axes] = rows[:, 3 : 3 + k].astype(np.int64)
    dc[:, keep_axes] = rows[:, 6 : 6 + k].astype(np.int64)
    bf = np.ravel_multi_index(tuple(bc.T), arr.shape) if len(rows) else np.zeros(0, np.int64)
    df = np.full(len(rows), -1, np.int64)
    if (~ess).any():
        df[~ess] = np.ravel_multi_index(tuple(dc[~ess].T), arr.shape)
    flat = arr.ravel()
    end = flat.max() if filtration == "sublevel" else flat.min()
    births = sign * rows[:, 1]
    deaths = np.where(ess, end, sign * np.where(ess, 0.0, rows[:, 2]))
    return d, births, deaths, ess, bf, df


def _giotto_raw(arr, filtration, construction, dims):
    if construction != "T":
        raise NotImplementedError(
            "the giotto backend supports construction='T' only (giotto-tda builds "
            "top-dimensional-cell complexes); use backend='gudhi', 'cripser' or 'fast' for V"
        )
    from gtda.homology import CubicalPersistence

    sign = -1.0 if filtration == "superlevel" else 1.0
    cp = CubicalPersistence(
        homology_dimensions=tuple(sorted(dims)),
        coeff=2,
        reduced_homology=False,
        infinity_values=np.inf,
        n_jobs=1,
    )
    dg = cp.fit_transform((sign * arr)[None])[0]
    triples = [(int(t[2]), sign * t[0], sign * t[1]) for t in dg if t[0] != t[1]]
    # locations: match each triple with a pair of the fast engine (documented in the module)
    from topotta_lite.topology._unionfind import PreparedMap, _fast_pairs  # the engine imports us

    ref = _fast_pairs(PreparedMap(arr, None, None), filtration, construction, dims)
    pool: dict[tuple, list[int]] = {}
    for i, (d, b, e, es) in enumerate(zip(ref[0], ref[1], ref[2], ref[3], strict=True)):
        key = (int(d), float(b), np.inf if es else float(e))
        pool.setdefault(key, []).append(i)
    pick = []
    for d, b, e in triples:
        key = (d, float(b), np.inf if np.isinf(e) else float(e))
        if not pool.get(key):
            raise RuntimeError(f"giotto pair {key} has no match in the fast engine's pairs")
        pick.append(pool[key].pop())
    pick = np.asarray(pick, np.int64)
    return tuple(np.asarray(r)[pick] for r in ref)


