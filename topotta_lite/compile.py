"""Compile the numba kernels once, ahead of the work that needs them.

The persistence, fusion and PCES kernels are compiled by numba on their first call and kept in
numba's on-disk cache (``__pycache__`` beside the package, or ``$NUMBA_CACHE_DIR``); a later
process loads them from there, far faster than it could compile them. On a fresh checkout every
process that starts before the cache is filled compiles them again: the workers of a parallel
test run would each compile the same code side by side (the README measures what it costs).

:func:`compile_kernels` runs each kernel family once on tiny inputs, with the argument types the
pipeline passes (float32 and float64 maps, quantised and raw levels, writable and read-only
arrays, 2D and 3D), so that the cache holds them; the two families are independent, so they can
be compiled in two processes at once::

    python -m topotta_lite.compile topology & python -m topotta_lite.compile pces; wait

The inputs are fixed, so the compiled code does not depend on them; nothing is written but
numba's cache.

Examples
--------
>>> from topotta_lite.compile import FAMILIES
>>> sorted(FAMILIES)
['pces', 'topology']
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator

import numpy as np

__all__ = ["FAMILIES", "compile_kernels"]


def _maps() -> Iterator[np.ndarray]:
    """Small 2D and 3D maps with one bright blob, in every dtype and flag the pipeline passes."""
    rng = np.random.default_rng(0)
    for shape in ((24, 24), (8, 12, 12)):
        base = 0.05 * rng.random(shape)
        base[..., 6:14, 4:10] += 1.0
        for dtype in (np.float32, np.float64):
            for writable in (True, False):
                psi = base.astype(dtype)
                psi.flags.writeable = writable
                yield psi


def _topology() -> None:
    from topotta_lite.operators import TopoTTA
    from topotta_lite.topology import cubical_persistence, euler_characteristic

    for psi in _maps():
        for construction in ("V", "T"):
            for filtration in ("sublevel", "superlevel"):
                cubical_persistence(psi, filtration=filtration, construction=construction)
            euler_characteristic(psi > 0.5, construction=construction)
            for preset in ("paper", "release"):
                for levels in (256, None):
                    TopoTTA(preset=preset, pces=False, levels=levels,
                            construction=construction).segment(psi)


def _pces() -> None:
    from topotta_lite.method import adapt_batch

    rng = np.random.default_rng(0)
    for grid, map_shape in (((16, 16), (64, 64)), ((4, 8, 8), (4, 32, 32))):
        mask = np.zeros(map_shape, bool)
        mask[..., 8:24, 8:24] = True
        for writable in (True, False):
            feats = rng.normal(size=(6, *grid)).astype(np.float32)
            feats[..., 2:6, 2:6] += 2.0
            feats.flags.writeable = writable
            adapt_batch([feats], [mask], device="cpu", epochs=2)


FAMILIES: dict[str, Callable[[], None]] = {"topology": _topology, "pces": _pces}


def compile_kernels(*families: str) -> None:
    """Compile (or load from numba's cache) the kernels of the named families, all by default.

    Parameters
    ----------
    *families : {'topology', 'pces'}
        ``topology``: cubical persistence, Euler characteristic, pseudo-labels and fusion;
        ``pces``: the CPU engine of PCES and the feature standardisation it uses.
    """
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        raise ValueError(f"unknown kernel families {unknown}; choose from {sorted(FAMILIES)}")
    for name in families or tuple(FAMILIES):
        FAMILIES[name]()


if __name__ == "__main__":  # pragma: no cover - exercised through subprocesses
    try:
        compile_kernels(*sys.argv[1:])
    except ValueError as err:
        sys.exit(f"python -m topotta_lite.compile: {err}")
