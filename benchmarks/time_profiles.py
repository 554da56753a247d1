"""Wall time and peak memory of each notebook under a reproduction profile.

Run: ``python benchmarks/time_profiles.py [--profile smoke|quick|full] [--only 06 07 ...]
[--figures-dir DIR] [--build-dir DIR] [--cache-dir DIR]``.

Each notebook runs in its own ``topotta-lite reproduce --profile P --only NN`` child process, one
after the other, so that each gets its own figures: the wall time of the child, and the peak
resident memory (``ru_maxrss`` from ``wait4``: the largest single process among the child and the
processes it waited for, which here is the notebook's kernel). The load average at the end of each
notebook is printed beside it, because on a shared machine the wall time depends on it. The
notebooks read each other's outputs (12 and 13 read what 06-11 wrote), so give the same
``--figures-dir`` to the whole set; a fresh ``--cache-dir`` measures cold caches (score maps,
results). The result is a Markdown table, ready for the README.

By default the figures of a timed run go to ``build/timing/<profile>/figures`` (never the committed
``figures/``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from topotta_lite.cli.reproduce import list_notebooks


def time_notebook(profile: str, stem: str, figures: Path, build: Path, env: dict) -> dict:
    """Run one notebook in a child process; its wall time, peak RSS (bytes), return code and log."""
    cmd = [sys.executable, "-c", "import sys; from topotta_lite.cli.main import main; "
           "sys.exit(main(sys.argv[1:]))", "reproduce", "--profile", profile, "--only", stem,
           "--figures-dir", str(figures), "--build-dir", str(build), "--no-progress"]
    with tempfile.TemporaryFile("w+") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)  # the child's own rusage, kernel included
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        text = log.read()
    return {"notebook": stem, "rc": proc.returncode, "wall_s": wall,
            "peak_bytes": usage.ru_maxrss * 1024, "load": os.getloadavg()[0], "log": text}


def _fmt_time(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s:02d} s" if m else f"{s} s"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="full", choices=["smoke", "quick", "full"])
    ap.add_argument("--only", nargs="+", metavar="NN", help="notebooks to time (default: all)")
    ap.add_argument("--figures-dir", type=Path, default=None)
    ap.add_argument("--build-dir", type=Path, default=None)
    ap.add_argument("--cache-dir", type=Path, default=None,
                    help="experiment cache for the run ($TOPOTTA_CACHE; a fresh folder = cold)")
    args = ap.parse_args(argv)
    root = Path("build") / "timing" / args.profile
    figures = (args.figures_dir or root / "figures").resolve()
    build = (args.build_dir or root / "notebooks").resolve()
    env = dict(os.environ)
    if args.cache_dir is not None:
        env["TOPOTTA_CACHE"] = str(args.cache_dir.resolve())
    rows = []
    for path in list_notebooks(args.only):
        row = time_notebook(args.profile, path.stem[:2], figures, build, env)
        rows.append(row)
        print(f"{row['notebook']}: rc {row['rc']}, {_fmt_time(row['wall_s'])}, "
              f"peak {row['peak_bytes'] / 1e9:.2f} GB, load {row['load']:.1f}", flush=True)
        if row["rc"]:
            print(row["log"][-3000:], file=sys.stderr)
    total = sum(r["wall_s"] for r in rows)
    print("\n| notebook | wall time | peak memory (RSS) | load average at its end |")
    print("| --- | --- | --- | --- |")
    for r in rows:
        flag = "" if r["rc"] == 0 else f" (FAILED, exit {r['rc']})"
        print(f"| {r['notebook']} | {_fmt_time(r['wall_s'])}{flag} | {r['peak_bytes'] / 1e9:.2f} GB "
              f"| {r['load']:.1f} |")
    print(f"| total | {_fmt_time(total)} | {max(r['peak_bytes'] for r in rows) / 1e9:.2f} GB | |")
    return max(r["rc"] for r in rows) if rows else 0


if __name__ == "__main__":
    sys.exit(main())
