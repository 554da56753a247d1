"""``topotta-lite verify``: compare the last run's fresh tables with the published ones.

``topotta-lite verify [--profile quick] [--figures-dir D] [--build-dir B] [--tolerance T]``

``topotta-lite reproduce`` keeps the tables each run computed in ``B/<profile>/fresh/``
(:func:`~topotta_lite.cli.publishing.fresh_dir`), whatever it then published: a published table
whose numbers agree within the tolerance stays as it was. ``verify`` compares them, number by
number, with the tables in ``D/tables`` (default: the committed ``figures/``):

* each table is ``same``, ``within`` (every number within the tolerance), ``moved`` (a number
  beyond it, or other columns, rows or labels: the entries are listed with both values),
  ``missing`` (on one side only), ``timing`` (wall-clock tables, never compared, listed
  separately: :data:`topotta_lite.outputs.TIMING_TABLES`) or ``tuning`` (published tables that
  ``topotta-lite tune`` writes and ``reproduce`` never computes:
  :data:`topotta_lite.outputs.TUNING_TABLES`; listed, not compared);
* the result is printed and written to ``B/<profile>/verify.json`` (read by
  ``topotta-lite report``);
* exit code 0 when nothing moved or is missing, 1 otherwise, 2 when there is nothing to compare.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from topotta_lite.cli.parameters import OWNER_PROFILE, PROFILES
from topotta_lite.cli.publishing import committed_figures_dir, fresh_dir
from topotta_lite.config import env, repo_root
from topotta_lite.outputs import (
    PER_IMAGE_TOLERANCE,
    TABLE_TOLERANCE,
    TUNING_TABLES,
    compare_table,
)
from topotta_lite.safe_io import atomic_write

__all__ = ["configure_parser", "print_report", "run", "verify"]


def verify(profile: str = OWNER_PROFILE, figures_dir: Path | None = None,
           build_dir: Path | None = None, tolerance: float | None = None) -> dict:
    """Compare the fresh tables of the last ``profile`` run with those published in
    ``figures_dir``; return the report (also written to ``<build>/<profile>/verify.json``).

    ``tolerance`` applies to every table; by default each table has its own
    (:func:`topotta_lite.outputs.tolerance_for`: 0.002 for a table of means, 0.01 per image).

    Raises
    ------
    ValueError
        When there are no fresh tables for this profile and folder (run ``reproduce`` first), or
        an unknown profile or a bad tolerance.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> b, f = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp())
    >>> (f / "tables").mkdir(); fresh = fresh_dir(b, "quick", f) / "tables"; fresh.mkdir(parents=True)
    >>> pd.DataFrame({"m": ["THR"], "f1": [0.3]}).to_csv(f / "tables" / "t.csv", index=False)
    >>> pd.DataFrame({"m": ["THR"], "f1": [0.301]}).to_csv(fresh / "t.csv", index=False)
    >>> r = verify("quick", f, b)
    >>> [(t["table"], t["status"]) for t in r["tables"]], (b / "quick" / "verify.json").is_file()
    ([('t', 'within')], True)
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    if tolerance is not None and not (isinstance(tolerance, int | float)
                                      and 0 <= tolerance < float("inf")):
        raise ValueError(f"--tolerance must be a finite number >= 0, got {tolerance!r}")
    build_root = Path(build_dir or repo_root() / "build").absolute()
    figures = Path(figures_dir or env("TOPOTTA_FIGURES") or committed_figures_dir()).absolute()
    fresh = fresh_dir(build_root, profile, figures) / "tables"
    if not fresh.is_dir() or not any(fresh.glob("*.csv")):
        raise ValueError(f"no fresh tables in {fresh}: run `topotta-lite reproduce --profile "
                         f"{profile}` (with the same --figures-dir and --build-dir) first")
    committed = figures / "tables"
    names = {p.name for p in fresh.glob("*.csv")}
    if committed.is_dir():
        names |= {p.name for p in committed.glob("*.csv")}
    tables = [compare_table(committed / n, fresh / n, atol=tolerance) for n in sorted(names)]
    for t in tables:
        if t["max_abs_diff"] is not None and not math.isfinite(t["max_abs_diff"]):
            t["max_abs_diff"] = None  # labels differ: no number says by how much
        computed = (fresh / f"{t['table']}.csv").is_file()
        if t["status"] == "missing" and not computed and t["table"] in TUNING_TABLES:
            t["status"] = "tuning"
            t["reason"] = "written by `topotta-lite tune`, which reproduce never runs"
        elif t["status"] == "missing" and not computed:
            t["reason"] = "not computed by the last run (published only)"
        elif t["status"] == "missing":
            t["reason"] = "computed by the last run, not published in the figures folder"
    summary = {}
    for t in tables:
        summary[t["status"]] = summary.get(t["status"], 0) + 1
    report = {"profile": profile,
              "tolerance": TABLE_TOLERANCE if tolerance is None else tolerance,
              "tolerance_per_image": PER_IMAGE_TOLERANCE if tolerance is None else tolerance,
              "figures": str(figures),
              "fresh": str(fresh.parent), "summary": summary, "tables": tables}
    out = build_root / profile / "verify.json"
    with atomic_write(out) as tmp:
        tmp.write_text(json.dumps(report, indent=1, allow_nan=False, default=str) + "\n",
                       encoding="utf-8")
    report["written_to"] = str(out)
    return report


def _clean(text) -> str:
    """Text from a table, printable (control characters escaped)."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in str(text))


def _number(v) -> str:
    if v is None:
        return "nan"
    if isinstance(v, int | float):
        return f"{v:.4f}"
    return _clean(v)


def print_report(report: dict, write=print, *, max_entries: int = 10) -> None:
    """The report in a few lines: a summary, then each moved or missing table with its entries,
    then the timing tables (not compared)."""
    tol, per_image = report["tolerance"], report["tolerance_per_image"]
    s = report["summary"]
    tolerances = f"{tol:g}" if tol == per_image else f"{tol:g} ({per_image:g} per image)"
    write(f"verify [{report['profile']}]: {len(report['tables'])} table(s), fresh "
          f"{report['fresh']} vs published {report['figures']}, tolerance {tolerances}")
    write("  " + ", ".join(f"{s.get(k, 0)} {k}" for k in ("same", "within", "moved", "missing",
                                                          "timing", "tuning")))
    for t in report["tables"]:
        if t["status"] == "within":
            write(f"  within  {_clean(t['table'])}: largest difference {t['max_abs_diff']:.2g}")
    absent = [t["table"] for t in report["tables"] if t["status"] == "missing"
              and t["reason"].startswith("not computed")]
    if absent:
        write(f"  missing {len(absent)} published table(s) the last run did not compute: "
              + ", ".join(_clean(t) for t in absent))
    for t in report["tables"]:
        if t["status"] not in ("moved", "missing") or t["table"] in absent:
            continue
        write(f"  {t['status']:<7} {_clean(t['table'])}: {_clean(t['reason'])}")
        for e in t["moved"][:max_entries]:
            c, f = e["committed"], e["fresh"]
            delta = (f" ({f - c:+.4f})" if isinstance(c, int | float) and isinstance(f, int | float)
                     else "")
            write(f"      row {e['row']} [{_clean(e['label'])}] {_clean(e['column'])}: "
                  f"published {_number(c)}, fresh {_number(f)}{delta}")
        if t["n_moved"] > max_entries:
            write(f"      ... and {t['n_moved'] - max_entries} more (see {report.get('written_to')})")
    timing = [t["table"] for t in report["tables"] if t["status"] == "timing"]
    if timing:
        write("  timing tables (wall-clock, not compared; always published afresh): "
              + ", ".join(_clean(t) for t in timing))
    tuning = [t["table"] for t in report["tables"] if t["status"] == "tuning"]
    if tuning:
        write("  tuning tables (written by `topotta-lite tune`, not by reproduce; not compared): "
              + ", ".join(_clean(t) for t in tuning))


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", choices=PROFILES, default=OWNER_PROFILE,
                        help=f"the profile of the run to check (default: {OWNER_PROFILE})")
    parser.add_argument("--figures-dir", type=Path, default=None,
                        help="the published figures to compare with (default: figures/)")
    parser.add_argument("--build-dir", type=Path, default=None,
                        help="the run's build folder, holding <profile>/fresh (default: build/)")
    parser.add_argument("--tolerance", type=float, default=None,
                        help=f"largest difference allowed per number, for every table (default: "
                             f"{TABLE_TOLERANCE:g} for a table of means, {PER_IMAGE_TOLERANCE:g} "
                             "for a per-image table)")


def run(args: argparse.Namespace) -> int:
    try:
        report = verify(args.profile, args.figures_dir, args.build_dir, args.tolerance)
    except ValueError as exc:
        print(f"topotta-lite verify: {exc}", file=sys.stderr)
        return 2
    print_report(report)
    print(f"written to {report['written_to']}")
    bad = report["summary"].get("moved", 0) + report["summary"].get("missing", 0)
    return 1 if bad else 0

