"""Benchmark of topotta_lite.topology.persistence backends: one table, one run.

2D: median ms per map for the sublevel and superlevel diagrams together (H0 + H1), on
smooth score-like maps (blurred blobs + a ring + a crack) and on white noise, 224^2 and
256^2, for the fast engine (raw values and ``levels=256``), cripser and gudhi, V and T.
3D: one filtration (sublevel, all dims) of smooth 64^3 / 128^3 volumes; the fast engine is
timed with H0 + H2 only (pure union-find) and with all dims (H1 delegated to cripser).
gudhi at 128^3 takes tens of seconds: it runs once by default, ``--quick`` skips it.

Usage::

    python benchmarks/bench_persistence.py [--quick] [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

import topotta_lite.topology.persistence as P
from topotta_lite.topology import cubical_persistence


def smooth_map(shape, seed=0):
    """Score-like map: blurred blobs, a ring and a thin crack over a low background."""
    rng = np.random.default_rng(seed)
    x = 0.15 * gaussian_filter(rng.random(shape), 2.0)
    grids = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    for _ in range(6):
        c = [rng.uniform(0.1 * n, 0.9 * n) for n in shape]
        r2 = sum((g - ci) ** 2 for g, ci in zip(grids, c, strict=True))
        x += rng.uniform(0.3, 1.0) * np.exp(-r2 / (2 * rng.uniform(3, 9) ** 2))
    c = [0.5 * n for n in shape]
    rad = np.sqrt(sum((g - ci) ** 2 for g, ci in zip(grids, c, strict=True)))
    x += 0.8 * np.exp(-((rad - 0.25 * min(shape)) ** 2) / 8.0)
    crack = np.abs(grids[-2] - 0.3 * grids[-1] - 0.2 * shape[-2]) < 1.0
    x = x + 0.6 * crack
    return gaussian_filter(x, 1.0)


def timeit(fn, repeats):
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(ts)), 1e3 * float(np.min(ts))


def both(x, construction, backend, levels=None, dims=None):
    def run():
        cubical_persistence(x, "sublevel", construction, levels, dims, backend)
        cubical_persistence(x, "superlevel", construction, levels, dims, backend)

    return run


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip gudhi at 128^3 (~20 s)")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)

    cache_dir = Path(P.__file__).parent / "__pycache__"
    cached = any(cache_dir.glob("persistence*.nbi")) if cache_dir.exists() else False
    t0 = time.perf_counter()
    warm = smooth_map((32, 32))
    for constr in ("V", "T"):
        cubical_persistence(warm, "sublevel", constr)
        cubical_persistence(warm, "superlevel", constr, levels=256)
        cubical_persistence(np.random.default_rng(0).random((64, 64)), "sublevel", constr)
        cubical_persistence(smooth_map((8, 9, 10)), "sublevel", constr)
    first = time.perf_counter() - t0
    how = "loaded from numba's on-disk cache" if cached else "cold compile (no cache yet)"
    print(f"numba warm-up (first calls, {how}): {first:.2f} s (not counted below)")
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")

    rows = []
    for size in (224, 256):
        for kind in ("smooth", "noise"):
            x = (
                smooth_map((size, size))
                if kind == "smooth"
                else np.random.default_rng(1).random((size, size))
            )
            for constr in ("V", "T"):
                case = f"{size}x{size} {kind} {constr}"
                ref = timeit(both(x, constr, "gudhi"), max(3, args.repeats // 2))
                for name, fn in (
                    ("fast (raw)", both(x, constr, "fast")),
                    ("fast (levels=256)", both(x, constr, "fast", levels=256)),
                    ("cripser", both(x, constr, "cripser")),
                ):
                    rows.append((case, name, *timeit(fn, args.repeats), ref[0]))
                rows.append((case, "gudhi", *ref, ref[0]))

    for size in (64, 128):
        x = smooth_map((size, size, size))
        case = f"{size}^3 smooth V (sublevel only)"
        reps = 3 if size == 64 else 1
        if size == 128 and args.quick:
            gud = None
        else:
            gud = timeit(lambda x=x: cubical_persistence(x, backend="gudhi"), 1)
        for name, kw in (
            ("fast H0+H2", {"dims": (0, 2)}),
            ("fast all dims (H1 via cripser)", {}),
            ("fast levels=256 H0+H2", {"dims": (0, 2), "levels": 256}),
            ("cripser all dims", {"backend": "cripser"}),
        ):
            res = timeit(lambda x=x, kw=kw: cubical_persistence(x, **kw), reps)
            rows.append((case, name, *res, gud[0] if gud else np.nan))
        if gud:
            rows.append((case, "gudhi all dims", *gud, gud[0]))

    print()
    print("| case | method | median ms | min ms | speed-up vs gudhi (median) |")
    print("| --- | --- | ---: | ---: | ---: |")
    for case, name, med, mn, ref in rows:
        ratio = "n/a (skipped)" if np.isnan(ref) else f"{ref / med:.1f}x"
        print(f"| {case} | {name} | {med:.2f} | {mn:.2f} | {ratio} |")
    print("\n2D rows: sublevel + superlevel diagrams together, H0 + H1, one map.")


if __name__ == "__main__":
    main()
