"""Do the tables depend on the thread count, or on the processor's kernels? Run and compare.

Run: ``python benchmarks/determinism.py [--profile smoke] [--only 06] [--threads 1 2 4]
[--other-kernels] [--work DIR]``.

Each setting runs ``topotta-lite reproduce --profile P --only NN`` in a child process with a cold
cache of its own (score maps, results: everything is recomputed) and its own figures folder:

* ``threads=N``: ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` = N in the
  parent environment (what a machine with N cores, or a user's shell, sets);
* ``other kernels`` (``--other-kernels``): what differs on another processor, forced here:
  OpenBLAS's Sandybridge kernels, MKL's AVX2 code path, torch's AVX2 kernels, oneDNN capped at
  AVX2, numba compiling for a generic x86-64 processor.

Every table of every setting is compared with the first setting's, number by number
(:func:`topotta_lite.outputs.compare_table`), and one line per table prints the largest
difference under each setting; a summary line per setting gives the largest difference over all
tables and how many tables are byte-identical. The tables are left in ``--work`` (default
``build/determinism/<profile>``) for a closer look.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from topotta_lite.config import repo_root
from topotta_lite.outputs import compare_table

OTHER_KERNELS = {"OPENBLAS_CORETYPE": "Sandybridge", "MKL_CBWR": "AVX2",
                 "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                 "NUMBA_CPU_NAME": "generic"}


def run_setting(name: str, env_extra: dict, profile: str, only: list[str], work: Path) -> dict:
    """One cold run of the notebooks under ``env_extra``; its folder and wall time."""
    figures, build, cache = work / name / "figures", work / name / "build", work / name / "cache"
    for d in (figures, build, cache):
        shutil.rmtree(d, ignore_errors=True)
    env = {**os.environ, **env_extra, "TOPOTTA_CACHE": str(cache)}
    env.pop("TOPOTTA_FIGURES", None)
    cmd = [sys.executable, "-c", "import sys; from topotta_lite.cli.main import main; "
           "sys.exit(main(sys.argv[1:]))", "reproduce", "--profile", profile, "--only", *only,
           "--figures-dir", str(figures), "--build-dir", str(build), "--no-progress"]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{name}: the run failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return {"name": name, "tables": figures / "tables", "seconds": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="smoke", choices=["smoke", "quick", "full"])
    ap.add_argument("--only", nargs="+", default=["06"], metavar="NN")
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2, 4])
    ap.add_argument("--other-kernels", action="store_true",
                    help="add a run with another processor's BLAS / torch kernels forced")
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args(argv)
    work = (args.work or repo_root() / "build" / "determinism" / args.profile).absolute()
    settings = [(f"threads={n}", {v: str(n) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                      "OPENBLAS_NUM_THREADS")})
                for n in args.threads]
    if args.other_kernels:
        settings.append(("other kernels", {"OMP_NUM_THREADS": str(args.threads[0]),
                                           **OTHER_KERNELS}))
    runs = []
    for name, extra in settings:
        runs.append(run_setting(name.replace(" ", "_"), extra, args.profile, args.only, work))
        runs[-1]["name"] = name
        print(f"{name}: ran in {runs[-1]['seconds']:.0f} s (load average "
              f"{os.getloadavg()[0]:.1f})", flush=True)
    ref = runs[0]
    names = sorted(p.name for p in ref["tables"].glob("*.csv"))
    print(f"\nlargest absolute difference from `{ref['name']}`, per table "
          f"(profile {args.profile}, notebooks {' '.join(args.only)}):\n")
    print("| table | " + " | ".join(r["name"] for r in runs[1:]) + " |")
    print("| --- |" + " --- |" * (len(runs) - 1))
    worst = {r["name"]: 0.0 for r in runs[1:]}
    identical = {r["name"]: 0 for r in runs[1:]}
    for n in names:
        cells = []
        for r in runs[1:]:
            a, b = ref["tables"] / n, r["tables"] / n
            c = compare_table(a, b, atol=0.0)
            if b.is_file() and a.read_bytes() == b.read_bytes():
                identical[r["name"]] += 1
                cells.append("identical")
                continue
            d = c["max_abs_diff"]
            if c["status"] == "timing":
                cells.append("timing")
                continue
            cells.append(c["reason"] if d is None else f"{d:.4g}")
            if d is not None:
                worst[r["name"]] = max(worst[r["name"]], d)
        print(f"| {n[:-4]} | " + " | ".join(cells) + " |")
    print()
    for r in runs[1:]:
        print(f"{r['name']}: {identical[r['name']]} of {len(names)} tables byte-identical to "
              f"{ref['name']}; largest difference {worst[r['name']]:.4g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
