"""Benchmark of topotta_lite's persistence: the speed targets, measured in one run.

Headline (default). On a 224^2 score-like map (blurred blobs, a ring and a crack) and on 224^2
white noise, in interleaved rounds (each round runs every method once on the same map), CPU
time of:

* ``gudhi``: gudhi.sklearn's diagram-only ``CubicalPersistence`` (H0 and H1, top-dimensional
  cells, one job) on both filtrations (the map and its negative): the reference;
* ``pseudo-labels``: both filtrations' masks and their fusion, as TopoTTA makes them
  (``pseudo_label_masks`` with K = 1 and 256 levels, then ``fuse``: EAI);
* ``cubical_persistence``: the general diagrams (H0 and H1, with cells) of both filtrations,
  V construction, raw values.

It prints the median times and, for each method, the median over rounds of its time divided by
gudhi's in the same round. Then the 3D pseudo-labels (masks + fusion) of a 128^3 score-like
volume, in seconds (median of ``--repeats-3d`` runs).

``--backends`` adds the older table: each backend (ours raw and quantised, cripser, gudhi) on
both constructions, 224^2 and 256^2, and 3D volumes (gudhi at 128^3 takes tens of seconds;
``--quick`` skips it).

Usage::

    python benchmarks/bench_persistence.py [--rounds 41] [--repeats-3d 3] [--backends [--quick]]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from gudhi.sklearn.cubical_persistence import CubicalPersistence
from scipy.ndimage import gaussian_filter

from topotta_lite.method.fusion import fuse
from topotta_lite.method.pseudolabels import pseudo_label_masks
from topotta_lite.topology import cubical_persistence

TARGETS = {"pseudo-labels": 1.0, "cubical_persistence": 2.0}  # x gudhi, on the score-like map
TARGET_3D_S = 1.0


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


def pseudo_labels(x):
    """Both filtrations' Top-1 masks (256 levels) and their EAI fusion, as TopoTTA does."""
    (m_sub, _, _), (m_sup, _, _) = pseudo_label_masks(
        x, {"sublevel": None, "superlevel": None}, k=1, levels=256)
    return fuse(m_sub, m_sup)


def both_diagrams(x, construction="V", backend="auto", levels=None, dims=None):
    return (cubical_persistence(x, "sublevel", construction, levels, dims, backend),
            cubical_persistence(x, "superlevel", construction, levels, dims, backend))


def interleaved(methods: dict, rounds: int) -> dict[str, np.ndarray]:
    """CPU seconds of each method per round, the methods run in turn within each round."""
    for fn in methods.values():
        fn()  # warm-up (numba loads its cache, gudhi its tables)
    times = {name: np.empty(rounds) for name in methods}
    for r in range(rounds):
        for name, fn in methods.items():
            t0 = time.process_time()
            fn()
            times[name][r] = time.process_time() - t0
    return times


def headline(rounds: int, repeats_3d: int) -> None:
    gudhi_cp = CubicalPersistence(homology_dimensions=[0, 1], n_jobs=1)
    maps = {"224x224 score-like": smooth_map((224, 224)),
            "224x224 noise": np.random.default_rng(1).random((224, 224))}
    print("| map | method | median ms | x gudhi (median of per-round ratios) | target |")
    print("| --- | --- | ---: | ---: | --- |")
    for case, x in maps.items():
        times = interleaved({
            "gudhi": lambda x=x: gudhi_cp.fit_transform([x, -x]),
            "pseudo-labels": lambda x=x: pseudo_labels(x),
            "cubical_persistence": lambda x=x: both_diagrams(x),
        }, rounds)
        for name, t in times.items():
            ratio = float(np.median(t / times["gudhi"]))
            target = TARGETS.get(name)
            verdict = "" if name == "gudhi" else (
                f"<= {target:g}: {'met' if ratio <= target else 'NOT met'}"
                if target and case.endswith("score-like") else "(no target)")
            print(f"| {case} | {name} | {1e3 * np.median(t):.2f} | {ratio:.2f} | {verdict} |")
    vol = smooth_map((128, 128, 128))
    pseudo_labels(smooth_map((12, 12, 12)))  # warm-up
    secs = []
    for _ in range(repeats_3d):
        t0 = time.process_time()
        pseudo_labels(vol)
        secs.append(time.process_time() - t0)
    med = float(np.median(secs))
    print(f"\n3D 128^3 score-like volume, pseudo-labels (masks + fusion): median {med:.2f} s CPU "
          f"over {repeats_3d} runs; target <= {TARGET_3D_S:g} s: "
          f"{'met' if med <= TARGET_3D_S else 'NOT met'}")
    print(f"\n{rounds} interleaved rounds; times are CPU time (time.process_time) of this "
          "process, so other jobs on the machine count less than in wall-clock time.")


def timeit(fn, repeats):
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(ts)), 1e3 * float(np.min(ts))


def backends_table(repeats: int, quick: bool) -> None:
    rows = []
    for size in (224, 256):
        for kind in ("smooth", "noise"):
            x = (smooth_map((size, size)) if kind == "smooth"
                 else np.random.default_rng(1).random((size, size)))
            for constr in ("V", "T"):
                case = f"{size}x{size} {kind} {constr}"
                ref = timeit(lambda x=x, c=constr: both_diagrams(x, c, "gudhi"), max(3, repeats // 2))
                for name, fn in (
                    ("fast (raw)", lambda x=x, c=constr: both_diagrams(x, c)),
                    ("fast (levels=256)", lambda x=x, c=constr: both_diagrams(x, c, levels=256)),
                    ("cripser", lambda x=x, c=constr: both_diagrams(x, c, "cripser")),
                ):
                    rows.append((case, name, *timeit(fn, repeats), ref[0]))
                rows.append((case, "gudhi", *ref, ref[0]))
    for size in (64, 128):
        x = smooth_map((size, size, size))
        case = f"{size}^3 smooth V (sublevel only)"
        reps = 3 if size == 64 else 1
        gud = None if size == 128 and quick else timeit(
            lambda x=x: cubical_persistence(x, backend="gudhi"), 1)
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
    print("\n| case | method | median ms | min ms | speed-up vs gudhi (median) |")
    print("| --- | --- | ---: | ---: | ---: |")
    for case, name, med, mn, ref in rows:
        ratio = "n/a (skipped)" if np.isnan(ref) else f"{ref / med:.1f}x"
        print(f"| {case} | {name} | {med:.2f} | {mn:.2f} | {ratio} |")
    print("\n2D rows: sublevel + superlevel diagrams together, H0 + H1, one map (wall clock).")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=41, help="interleaved rounds (headline)")
    ap.add_argument("--repeats-3d", type=int, default=3, help="runs of the 3D pseudo-labels")
    ap.add_argument("--backends", action="store_true", help="also the per-backend table")
    ap.add_argument("--quick", action="store_true", help="with --backends: skip gudhi at 128^3")
    ap.add_argument("--repeats", type=int, default=7, help="repeats per backend row")
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.repeats_3d < 1 or args.repeats < 1:
        raise SystemExit("--rounds, --repeats-3d and --repeats must be at least 1")
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores\n")
    headline(args.rounds, args.repeats_3d)
    if args.backends:
        backends_table(args.repeats, args.quick)


if __name__ == "__main__":
    main()
