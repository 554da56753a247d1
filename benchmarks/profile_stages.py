"""Where a cold run's time goes: notebook by notebook, and inside each notebook by stage.

Run: ``python benchmarks/profile_stages.py [--profile quick] [--only 06 07 ...]
[--stages 06 ...|all] [--warm] [--json FILE]``.

Every notebook runs as :mod:`time_profiles` runs it (its own ``topotta-lite reproduce`` child,
cold temporary caches unless ``--warm``), with stage timers in its kernel and in the worker
processes of its grids (``benchmarks/_stage_hook.py``, installed by a ``sitecustomize`` module
put first on their ``PYTHONPATH``): data generation, backbone features (EfficientNet-Lite0 and
the others), scorers, each operator (THR, TTT4AS, TopoTTA per preset), TopoTTA's persistence /
fusion / PCES, the release preset's class encoder, metrics, cache I/O, statistics, tables,
figures. Each second of a process is counted once, in the innermost stage running, and the
stages are summed over the kernel and its workers (their wall seconds overlap); the remainder
of the child's CPU time (the runner, start-up and imports, notebook code) is the row ``other``.

Prints ONE table: per notebook its wall and CPU time and peak memory, then (for the notebooks of
``--stages``, default ``06``) one row per stage with its calls, wall and CPU seconds and its share
of the notebook's CPU time. CPU time (user + system) is the number to compare between runs on a
shared machine; wall time moves with the load average, printed beside it.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from _stage_hook import SITECUSTOMIZE  # noqa: E402
from time_profiles import (  # noqa: E402
    cold_env,
    fmt_time,
    machine,
    markdown,
    parser,
    time_notebook,
    write_readme,
)

from topotta_lite.cli.reproduce import list_notebooks  # noqa: E402


def hook_env(env: dict, folder: Path) -> dict:
    """``env`` with a ``sitecustomize`` that installs the stage timers in notebook kernels."""
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE.format(bench=str(BENCH)),
                                             encoding="utf-8")
    out = dict(env)
    out["PYTHONPATH"] = os.pathsep.join([str(folder), *filter(None, [env.get("PYTHONPATH")])])
    return out


def merged(paths: list[Path]) -> dict:
    """The stage times of a notebook's kernel and its worker processes, summed per stage."""
    out: dict = {"stages": {}}
    for path in paths:
        try:
            stats = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for name, v in stats.get("stages", {}).items():
            acc = out["stages"].setdefault(name, {"wall_s": 0.0, "cpu_s": 0.0, "calls": 0})
            for k in acc:
                acc[k] += v.get(k, 0)
    return out


def stage_rows(stats: dict, notebook_cpu: float) -> list[dict]:
    """Stage rows, largest CPU first, and ``other`` = the notebook's CPU time not in a stage.

    Examples
    --------
    >>> rows = stage_rows({"stages": {"a": {"wall_s": 2.0, "cpu_s": 1.5, "calls": 3},
    ...                               "unlisted": {"wall_s": 1.0, "cpu_s": 0.5, "calls": 0}}},
    ...                   notebook_cpu=4.0)
    >>> [(r["stage"], r["cpu_s"]) for r in rows]
    [('a', 1.5), ('other (runner, kernel start-up, imports, notebook code)', 2.5)]
    """
    stages = {k: v for k, v in stats.get("stages", {}).items() if k != "unlisted"}
    rows = [{"stage": k, **v} for k, v in sorted(stages.items(), key=lambda kv: -kv[1]["cpu_s"])]
    listed = sum(r["cpu_s"] for r in rows)
    unlisted = stats.get("stages", {}).get("unlisted", {})
    rows.append({"stage": "other (runner, kernel start-up, imports, notebook code)",
                 "wall_s": unlisted.get("wall_s", float("nan")), "calls": "",
                 "cpu_s": max(notebook_cpu - listed, 0.0)})
    return rows


def table(results: list[dict], stages_of: set[str] | None) -> str:
    """The one Markdown table of the run."""
    lines = ["| notebook | stage | calls | wall | CPU | share of the notebook's CPU | peak memory "
             "(all processes) | load |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for res in results:
        flag = "" if res["rc"] == 0 else f" (FAILED, exit {res['rc']})"
        lines.append(f"| **{res['notebook']}**{flag} | **whole notebook** | | "
                     f"**{fmt_time(res['wall_s'])}** | **{res['cpu_s']:.1f} s** | 100% | "
                     f"{res['peak_total_bytes'] / 1e9:.2f} GB | {res['load']:.1f} |")
        if stages_of is not None and res["notebook"] not in stages_of:
            continue
        for r in stage_rows(res.get("stats", {}), res["cpu_s"]):
            share = 100 * r["cpu_s"] / res["cpu_s"] if res["cpu_s"] else float("nan")
            lines.append(f"| {res['notebook']} | {r['stage']} | {r['calls']} | "
                         f"{r['wall_s']:.1f} s | {r['cpu_s']:.1f} s | {share:.0f}% | | |")
    total_wall = sum(r["wall_s"] for r in results)
    total_cpu = sum(r["cpu_s"] for r in results)
    lines.append(f"| **all** | | | **{fmt_time(total_wall)}** | **{fmt_time(total_cpu)}** | | "
                 f"{max((r['peak_total_bytes'] for r in results), default=0) / 1e9:.2f} GB | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    ap.description = __doc__.splitlines()[0]
    ap.add_argument("--stages", nargs="+", default=["06"], metavar="NN",
                    help="notebooks whose stages the table lists (default 06; 'all')")
    ap.add_argument("--json", type=Path, default=None, help="also write the raw numbers here")
    args = ap.parse_args(argv)
    root = Path("build") / "timing" / f"stages-{args.profile}"
    figures = (args.figures_dir or root / "figures").resolve()
    build = (args.build_dir or root / "notebooks").resolve()
    keep: list = []
    env = cold_env(os.environ, args.cache_dir, args.warm, keep, args.threads)
    hook_dir = tempfile.TemporaryDirectory(prefix="topotta-stages-")
    env = hook_env(env, Path(hook_dir.name))
    results = []
    for path in list_notebooks(args.only):
        stem = path.stem[:2]
        out = Path(hook_dir.name) / f"{stem}.json"
        res = time_notebook(args.profile, stem, figures, build,
                            {**env, "TOPOTTA_STAGE_PROFILE": str(out)})
        res["stats"] = merged([out, *sorted(out.parent.glob(f"{out.name}.*"))])
        results.append(res)
        print(f"{stem}: rc {res['rc']}, wall {fmt_time(res['wall_s'])}, CPU {res['cpu_s']:.1f} s, "
              f"load {res['load']:.1f}", flush=True)
        if res["rc"]:
            print(res["log"][-3000:], file=sys.stderr)
    stages_of = None if "all" in args.stages else {s[:2] for s in args.stages}
    cold = "cold caches" if not args.warm and args.cache_dir is None else "warm caches"
    if args.threads is not None:
        cold += f", {args.threads} thread(s) per process"
    print(f"\nProfile `{args.profile}`, {cold}, {machine()}; CPU = user + system time.\n")
    print(table(results, stages_of))
    if args.readme is not None:  # the same per-notebook table time_profiles.py writes
        conditions = cold.replace("caches", "caches (fresh experiment cache and data cache, as "
                                  "a new clone)", 1) + ", stage timers on"
        write_readme(args.readme, args.profile, markdown(results, args.profile, conditions))
        print(f"\nwritten into {args.readme}")
    if args.json is not None:
        args.json.write_text(json.dumps([{k: v for k, v in r.items() if k != "log"}
                                         for r in results], indent=1), encoding="utf-8")
    return max((r["rc"] for r in results), default=0)


if __name__ == "__main__":
    sys.exit(main())
