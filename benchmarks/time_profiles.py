"""Wall time, CPU time and peak memory of each notebook under a reproduction profile.

Run: ``python benchmarks/time_profiles.py [--profile smoke|quick|full] [--only 06 07 ...]
[--warm] [--cache-dir DIR] [--readme README.md]``.

Each notebook runs in its own ``topotta-lite reproduce --profile P --only NN`` child process, one
after the other (the notebooks read each other's outputs: 08-12 reuse the score bundles 06 and 07
make, 12 and 14 read the tables of 06-11, so they share one figures folder and one cache). For
each: the wall time of the child; its CPU time (user + system, of the child and of the processes
it waited for: the notebook's kernel); the peak resident memory (``ru_maxrss`` from ``wait4``: the
largest single process among them, here the kernel); and the 1-minute load average at its end,
because on a shared machine the wall time depends on it and the CPU time much less.

By default the caches are **cold**: a fresh temporary folder for the experiment cache (score
bundles, results: ``$TOPOTTA_CACHE``) and for the generated embedded data (``$TOPOTTA_DATA``), as a
fresh clone has them; ``--warm`` keeps the repository's caches, ``--cache-dir`` names one. The
figures go to ``build/timing/<profile>/figures`` (never the committed ``figures/``).

The result is a Markdown table; ``--readme README.md`` writes it into the README between the
markers ``<!-- timings:<profile>:begin -->`` and ``<!-- timings:<profile>:end -->``.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from topotta_lite.cli.reproduce import list_notebooks

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def tree_rss(pid: int) -> int:
    """Resident bytes of process ``pid`` and all its descendants (Linux ``/proc``; 0 elsewhere)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else []:
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
        rss[int(entry.name)] = int(fields[21]) * _PAGE
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo += children.get(p, [])
    return total


class TreeMemory(threading.Thread):
    """Samples :func:`tree_rss` of a process every ``interval`` seconds; ``peak`` is the largest."""

    def __init__(self, pid: int, interval: float = 0.25):
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak = pid, interval, 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            self.stop.wait(self.interval)


def time_notebook(profile: str, stem: str, figures: Path, build: Path, env: dict) -> dict:
    """Run one notebook in a child process: wall and CPU seconds, peak memory, rc and log.

    ``peak_bytes`` is the largest resident set of one process (the kernel, or a worker process
    of its grids); ``peak_total_bytes`` the largest sum over the child's whole process tree
    (kernel and workers together), sampled four times a second.
    """
    cmd = [sys.executable, "-c", "import sys; from topotta_lite.cli.main import main; "
           "sys.exit(main(sys.argv[1:]))", "reproduce", "--profile", profile, "--only", stem,
           "--figures-dir", str(figures), "--build-dir", str(build), "--no-progress"]
    with tempfile.TemporaryFile("w+") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        sampler = TreeMemory(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)  # the child's own rusage, kernel included
        wall = time.perf_counter() - t0
        sampler.stop.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        text = log.read()
    peak = usage.ru_maxrss * 1024
    return {"notebook": stem, "rc": proc.returncode, "wall_s": wall,
            "cpu_s": usage.ru_utime + usage.ru_stime, "peak_bytes": peak,
            "peak_total_bytes": max(sampler.peak, peak), "load": os.getloadavg()[0], "log": text}


def fmt_time(seconds: float) -> str:
    """``"2 min 05 s"`` or ``"42 s"``.

    Examples
    --------
    >>> fmt_time(125.4), fmt_time(9.6)
    ('2 min 05 s', '10 s')
    """
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s:02d} s" if m else f"{s} s"


def machine() -> str:
    """One line naming this machine: cores, memory, CPU model."""
    mem = ""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            kb = int(fh.readline().split()[1])
        mem = f", {kb / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} CPU cores{mem}, {platform.processor() or platform.machine()}"


THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


def cold_env(base: dict, cache_dir: Path | None, warm: bool, keep: list,
             threads: int | None = None) -> dict:
    """The children's environment: cold temporary caches unless ``warm`` or ``cache_dir``;
    ``threads`` caps the BLAS / OpenMP / torch / numba threads of every process."""
    env = dict(base)
    if threads is not None:
        env.update({v: str(int(threads)) for v in THREAD_VARS})
    if cache_dir is not None:
        env["TOPOTTA_CACHE"] = str(Path(cache_dir).resolve())
    elif not warm:
        tmp = tempfile.TemporaryDirectory(prefix="topotta-cold-")
        keep.append(tmp)  # removed when the run ends
        env["TOPOTTA_CACHE"] = str(Path(tmp.name) / "cache")
        env["TOPOTTA_DATA"] = str(Path(tmp.name) / "data")
    return env


def markdown(rows: list[dict], profile: str, conditions: str) -> str:
    """The README block: when, where, how, then one row per notebook and the total."""
    lines = [f"Profile `{profile}`, measured on {time.strftime('%Y-%m-%d')} on {machine()}; "
             f"{conditions}. Each notebook in its own `topotta-lite reproduce` process "
             f"(`python benchmarks/time_profiles.py --profile {profile}`). CPU time is user + "
             "system of that process, its kernel and the kernel's worker processes; peak memory "
             "is the largest resident set of one process, and the largest sum over the kernel "
             "and its workers together (sampled).", "",
             "| notebook | wall time | CPU time | peak memory, one process | peak memory, all "
             "processes | load average at its end |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        flag = "" if r["rc"] == 0 else f" (FAILED, exit {r['rc']})"
        lines.append(f"| {r['notebook']} | {fmt_time(r['wall_s'])}{flag} | {fmt_time(r['cpu_s'])} "
                     f"| {r['peak_bytes'] / 1e9:.2f} GB | {r['peak_total_bytes'] / 1e9:.2f} GB "
                     f"| {r['load']:.1f} |")
    if rows:
        lines.append(f"| **total** | **{fmt_time(sum(r['wall_s'] for r in rows))}** | "
                     f"**{fmt_time(sum(r['cpu_s'] for r in rows))}** | "
                     f"{max(r['peak_bytes'] for r in rows) / 1e9:.2f} GB (max) | "
                     f"{max(r['peak_total_bytes'] for r in rows) / 1e9:.2f} GB (max) | |")
    return "\n".join(lines)


def write_readme(path: Path, profile: str, block: str) -> None:
    """Replace the text between ``<!-- timings:<profile>:begin -->`` and its end marker."""
    text = path.read_text(encoding="utf-8")
    begin, end = f"<!-- timings:{profile}:begin -->", f"<!-- timings:{profile}:end -->"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{path} has no {begin} ... {end} block")
    new = pattern.sub(lambda _: f"{begin}\n{block}\n{end}", text, count=1)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(new, encoding="utf-8")
    os.replace(tmp, path)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick", choices=["smoke", "quick", "full"])
    ap.add_argument("--only", nargs="+", metavar="NN", help="notebooks to time (default: all)")
    ap.add_argument("--figures-dir", type=Path, default=None)
    ap.add_argument("--build-dir", type=Path, default=None)
    ap.add_argument("--cache-dir", type=Path, default=None,
                    help="experiment cache for the run (default: a fresh temporary one = cold)")
    ap.add_argument("--warm", action="store_true",
                    help="use the repository's caches ($TOPOTTA_CACHE, $TOPOTTA_DATA) as they are")
    ap.add_argument("--threads", type=int, default=None,
                    help="cap the BLAS/OpenMP/torch/numba threads of every process (default: "
                         "as the notebooks set them)")
    ap.add_argument("--readme", type=Path, default=None,
                    help="write the table into this README's timings block for the profile")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    root = Path("build") / "timing" / args.profile
    figures = (args.figures_dir or root / "figures").resolve()
    build = (args.build_dir or root / "notebooks").resolve()
    keep: list = []
    env = cold_env(os.environ, args.cache_dir, args.warm, keep, args.threads)
    cold = not args.warm and args.cache_dir is None
    rows = []
    for path in list_notebooks(args.only):
        row = time_notebook(args.profile, path.stem[:2], figures, build, env)
        rows.append(row)
        print(f"{row['notebook']}: rc {row['rc']}, wall {fmt_time(row['wall_s'])}, CPU "
              f"{fmt_time(row['cpu_s'])}, peak {row['peak_bytes'] / 1e9:.2f} GB (all processes "
              f"{row['peak_total_bytes'] / 1e9:.2f} GB), load {row['load']:.1f}", flush=True)
        if row["rc"]:
            print(row["log"][-3000:], file=sys.stderr)
    conditions = ("cold caches (fresh experiment cache and data cache, as a new clone)" if cold
                  else "warm caches")
    if args.threads is not None:
        conditions += f", {args.threads} thread(s) per process"
    block = markdown(rows, args.profile, conditions)
    print()
    print(block)
    if args.readme is not None:
        write_readme(args.readme, args.profile, block)
        print(f"\nwritten into {args.readme}")
    return max((r["rc"] for r in rows), default=0)


if __name__ == "__main__":
    sys.exit(main())
