"""``topotta-lite tune``: choose every default on the development part of the embedded benchmark.

Runs the searches of :mod:`topotta_lite.experiments.tuning` on ``embedded-2d-dev`` (never on
the evaluation part): first the backbone taps (by the AUPRO of the score maps), then each
operator's parameters (THR, TTT4AS, TopoTTA; the same number of evaluated configurations each,
by mean F1). It writes ``tuning_record.csv|md`` (each default, its development score, the
runner-up and the command that re-derives it) and ``tuning_candidates.csv|md`` (every evaluated
configuration). Tuning is not part of ``make all``: its record is committed.

Where the record goes: with the canonical settings (``--size quick --seed 0``, every class,
both scorers, every operator) into the figures' ``tables/`` folder (``figures/tables``, or
``$TOPOTTA_FIGURES/tables``); with any other settings into
``build/scratch/tune/<settings>/``, so that a trial run never replaces the committed record.
``--out DIR`` chooses the folder explicitly.

Every evaluation is an experiment cell of the result cache (``$TOPOTTA_CACHE``), so a second run
recomputes nothing. When the taps the development part prefers are not the package's default,
the operators are not tuned (they must be tuned on the maps of the taps the package ships):
the command says which default to change and exits with code 3.

Exit codes: 0 done, 2 bad options, 3 the taps' default must change first.

Examples
--------
``topotta-lite tune`` (re-derives the committed record)
``topotta-lite tune --size smoke --classes brick --scorers patchcore``
``topotta-lite tune --show`` (the search spaces and the budget, nothing run)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

CANONICAL = {"size": "quick", "seed": 0}


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``tune`` options to ``parser`` (used by :mod:`topotta_lite.cli.main`)."""
    from topotta_lite.experiments.tuning import SEARCH_SPACES

    parser.add_argument("--size", choices=("smoke", "quick", "full"), default="quick",
                        help="size of the development part (quick: the committed record)")
    parser.add_argument("--seed", type=int, default=0, help="benchmark and operator seed (0)")
    parser.add_argument("--classes", nargs="+", default=None,
                        help="2D classes (default: every class of the development part)")
    parser.add_argument("--scorers", nargs="+", choices=("patchcore", "padim"), default=None,
                        help="scorers whose maps the operators are tuned on (default: both)")
    parser.add_argument("--operators", nargs="+", choices=tuple(SEARCH_SPACES), default=None,
                        help="operators to tune (default: all)")
    parser.add_argument("--stage", choices=("all", "taps", "operators"), default="all",
                        help="taps (backbone, by AUPRO), operators (by F1) or both")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder of the record (default: see the command's description)")
    parser.add_argument("--show", action="store_true",
                        help="print the search spaces and the budget, run nothing")
    return parser


def _error(msg: str) -> None:
    print(f"topotta-lite tune: error: {msg}", file=sys.stderr)


def _command(args, classes, scorers, operators) -> str:
    """The command line that re-derives the record (options that differ from the defaults)."""
    from topotta_lite.data import list_categories
    from topotta_lite.experiments.bundles import SCORERS
    from topotta_lite.experiments.tuning import SEARCH_SPACES

    parts = ["topotta-lite tune", f"--size {args.size}", f"--seed {args.seed}"]
    if list(classes) != list_categories("2d"):
        parts.append("--classes " + " ".join(classes))
    if list(scorers) != list(SCORERS):
        parts.append("--scorers " + " ".join(scorers))
    if list(operators) != list(SEARCH_SPACES):
        parts.append("--operators " + " ".join(operators))
    if args.stage != "all":
        parts.append(f"--stage {args.stage}")
    return " ".join(parts)


def _show() -> None:
    from topotta_lite.experiments.tuning import BUDGET, SEARCH_SPACES, TAP_CANDIDATES, search_budget

    print(f"development part only; {BUDGET} evaluated configurations per operator")
    print(f"taps ({len(TAP_CANDIDATES)} candidates, by mean per-image AUPRO): "
          + ", ".join(json.dumps(list(t)) for t in TAP_CANDIDATES))
    for op, space in SEARCH_SPACES.items():
        print(f"{op} ({search_budget(space)} configurations, by mean F1):")
        for name, values in space.items():
            print(f"  {name}: " + ", ".join(json.dumps(v) for v in values))


def _table(search) -> str:
    lines = []
    for c in search.candidates:
        what = (f"{c.parameter}={json.dumps(c.params[c.parameter])}" if c.parameter
                else "starting point")
        lines.append(f"  {search.operator:>7} #{c.index:<2} {what:<32} {c.score:.4f}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run the command; return the exit code (0 done, 2 bad options, 3 taps must change)."""
    from topotta_lite.config import scratch_dir, tables_dir
    from topotta_lite.data import DatasetError, resolve_classes
    from topotta_lite.experiments.bundles import SCORERS
    from topotta_lite.experiments.tuning import (
        DEV_DATASET,
        SEARCH_SPACES,
        package_defaults,
        record_tables,
        tune_operator,
        tune_taps,
        write_record,
    )

    if args.show:
        _show()
        return 0
    try:
        classes = resolve_classes(DEV_DATASET, classes=args.classes)
    except DatasetError as exc:
        _error(str(exc))
        return 2
    scorers = list(dict.fromkeys(args.scorers or SCORERS))
    operators = list(dict.fromkeys(args.operators or SEARCH_SPACES))
    command = _command(args, classes, scorers, operators)
    canonical = command == "topotta-lite tune --size quick --seed 0"
    if args.out is not None:
        out = Path(args.out)
    elif canonical:
        out = tables_dir()
    else:
        tag = hashlib.sha256(command.encode()).hexdigest()[:8]
        out = scratch_dir() / "tune" / f"{args.size}-seed{args.seed}-{tag}"
    ctx = {"classes": classes, "scorers": scorers, "size": args.size, "seed": args.seed}
    print(f"tuning on {DEV_DATASET} ({args.size}, seed {args.seed}): classes {classes}, "
          f"scorers {scorers}")
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    searches = []
    if args.stage in ("all", "taps"):
        t0, c0 = time.perf_counter(), time.process_time()
        taps = tune_taps(**ctx)
        searches.append(taps)
        print(_table(taps))
        print(f"taps: {time.perf_counter() - t0:.0f} s wall, {time.process_time() - c0:.0f} s "
              "CPU (this process)")
        chosen = list(taps.best.params["layers"])
        shipped = package_defaults()[("scorer", "layers")]
        if args.stage == "all" and chosen != shipped:
            _error(f"the development part prefers the taps {chosen}, the package ships "
                   f"{shipped}: set the default `layers` of EfficientNetLite0Backbone "
                   f"(topotta_lite/features/efficientnet.py) to {tuple(chosen)} and run "
                   f"`{command}` again (the operators must be tuned on the maps of the "
                   "shipped taps; everything computed so far is cached)")
            return 3
    if args.stage in ("all", "operators"):
        for op in operators:
            t0, c0 = time.perf_counter(), time.process_time()
            search = tune_operator(op, **ctx)
            searches.append(search)
            print(_table(search))
            print(f"{op}: {time.perf_counter() - t0:.0f} s wall, "
                  f"{time.process_time() - c0:.0f} s CPU (this process)")
    record, candidates = record_tables(searches, command)
    paths = write_record(record, candidates, out)
    print(f"tuning took {time.perf_counter() - t_wall:.0f} s wall, "
          f"{time.process_time() - t_cpu:.0f} s CPU (this process)")
    print("wrote " + ", ".join(str(p) for p in paths))
    differ = [(op, name, json.loads(row)) for op, name, row in
              zip(record["operator"], record["parameter"], record["chosen"])
              if package_defaults().get((op, name)) != json.loads(row)]
    for op, name, value in differ:
        print(f"note: {op}.{name}: the development part chose {json.dumps(value)}, the package "
              f"ships {json.dumps(package_defaults()[(op, name)])}")
    return 0
