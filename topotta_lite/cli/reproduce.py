"""Batch reproduction: run the numbered notebooks through papermill with a named profile.

``topotta-lite reproduce [--profile smoke|quick|full] [--only 03 06] [-p name value ...]
[--jobs N]``

* Notebook sources are the jupytext ``py:percent`` files in ``notebooks/``; each is converted to an
  ``.ipynb`` on the fly, executed by papermill with the profile's parameters
  (:mod:`~topotta_lite.cli.parameters`), and the executed copy is kept under
  ``build/<profile>/``.
* Up to ``--jobs`` notebooks run at once, each in its own kernel process computing with one
  thread (:mod:`~topotta_lite.cli.kernels`), in an order that lets every notebook read what the
  notebooks before it made (:mod:`~topotta_lite.cli.schedule`).
* Every figure and table a notebook writes goes through :mod:`topotta_lite.outputs`, into a staging
  folder of this run (``build/<profile>/.runs/<run>/``), and is listed in this run's own log.
* Only when the notebook succeeds are its files **published**, all or nothing, and only the
  ``quick`` profile publishes into the committed ``figures/`` and the README
  (:mod:`~topotta_lite.cli.publishing`): a failed, interrupted or killed notebook, or a full
  disk, leaves every published file byte-identical. Published tables (and figures) whose fresh
  numbers agree within the tolerance are kept as they were; the fresh tables are kept in
  ``build/<profile>/fresh/`` for ``topotta-lite verify``.
* A failing notebook is reported (its exception, cell and executed copy) and the others still
  run; the exit code is non-zero at the end. Ctrl-C (or SIGTERM) stops the run: the notebooks
  running then publish nothing, those finished before stay published.
* Bad parameters, a dataset that fails its check, or a folder that cannot be written stop the
  command before any notebook runs (exit code 2).
"""

from __future__ import annotations

import argparse
import os
import queue
import secrets
import shutil
import sys
import threading
import time
from pathlib import Path

from topotta_lite.cli.kernels import (
    KERNEL_START_ATTEMPTS,
    Interrupts,
    RunResult,
    execute_notebook,
    kill_kernels,
)
from topotta_lite.cli.parameters import (  # re-exported: the command's public names
    PROFILES,
    ParameterError,
    _dataset_names,
    check_data,
    data_overrides,
    declared_parameters,
    list_notebooks,
    load_profile,
    notebook_defaults,
    notebook_params,
    notebooks_dir,
    parse_value,
    resolve_parameters,
)
from topotta_lite.cli.publishing import (
    PublishError,
    choose_destination,
    describe_kept,
    fresh_dir,
    prepare_destination,
    publish_notebook,
    refresh_readme,
    remove_dead_runs,
)
from topotta_lite.cli.schedule import default_jobs, dependencies, ready_order
from topotta_lite.config import cache_dir, repo_root

__all__ = [
    "PROFILES",
    "ParameterError",
    "RunResult",
    "check_data",
    "configure_parser",
    "data_overrides",
    "declared_parameters",
    "list_notebooks",
    "load_profile",
    "notebook_defaults",
    "notebook_params",
    "notebooks_dir",
    "parse_value",
    "reproduce",
    "resolve_parameters",
    "run",
]


def reproduce(profile: str = "full", only: list[str] | None = None, overrides: dict | None = None,
              build_dir: Path | None = None, progress: bool = True, *,
              figures_dir: Path | None = None, raw: dict[str, str] | None = None,
              notebooks: Path | None = None, data: dict | None = None, jobs: int | None = None,
              executor: str | None = None, scheduler: str | None = None) -> list[RunResult]:
    """Run the selected notebooks with a profile; return one :class:`RunResult` per notebook.

    Parameters
    ----------
    profile : {"smoke", "quick", "full"}
    only : list of str, optional
        Notebook numbers or stems.
    overrides : dict, optional
        Parameter values replacing the profile's (checked by :func:`resolve_parameters`).
    build_dir : path, optional
        Executed notebooks go to ``<build_dir>/<profile>/`` (default ``<repo>/build``).
    figures_dir : path, optional
        Where outputs are published. Default: ``$TOPOTTA_FIGURES``, else ``<repo>/figures`` for
        a ``quick`` run with the profile's parameters, else
        ``<build_dir>/scratch/<profile>-...``.
    raw : dict, optional
        The command-line text of each override (string parameters receive it verbatim).
    notebooks : path, optional
        The folder of notebook sources (default ``<repo>/notebooks``).
    data : dict, optional
        The parameters of ``--dataset / --data-root / --maps-dir`` (see :func:`data_overrides`),
        given to the experiment notebooks only. The datasets the notebooks will read are checked
        first.
    jobs : int, optional
        Notebooks run at once (default :func:`~topotta_lite.cli.schedule.default_jobs`).
    executor, scheduler : str, optional
        Where the notebooks' experiment grids run (``"dask"`` and a scheduler address), passed
        to the kernels as ``$TOPOTTA_EXECUTOR`` / ``$TOPOTTA_SCHEDULER``.

    Raises
    ------
    ValueError
        Before any notebook runs: an unknown notebook or profile, a bad override
        (:class:`ParameterError`), a dataset that fails its check
        (:class:`topotta_lite.data.DatasetError`), a destination that cannot be written
        (:class:`~topotta_lite.cli.publishing.DestinationError`).
    KeyboardInterrupt
        Re-raised after the running notebooks' kernels are killed (they publish nothing;
        notebooks finished before stay published).
    """
    from tqdm.auto import tqdm

    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ValueError(f"--jobs must be a positive integer, got {jobs!r}")
    sources = list_notebooks(only, notebooks)
    params_by_nb, changed_by_nb = resolve_parameters(profile, sources, overrides, raw=raw,
                                                     folder=notebooks, data=data)
    check_data(params_by_nb, folder=sources[0].parent if sources else notebooks)
    build_root = Path(build_dir or repo_root() / "build").absolute()
    build = build_root / profile
    dest, why = choose_destination(profile, changed_by_nb, build_root, figures_dir)
    if why:
        print(why, flush=True)
    dest = prepare_destination(dest)
    fresh = fresh_dir(build_root, profile, dest)
    remove_dead_runs(build / ".runs")
    work = build / ".runs" / f"{os.getpid()}-{secrets.token_hex(4)}"
    kernel_env = {"TOPOTTA_FIGURES": str(dest), "TOPOTTA_CACHE": str(cache_dir().absolute()),
                  **({"TOPOTTA_EXECUTOR": executor} if executor else {}),
                  **({"TOPOTTA_SCHEDULER": scheduler} if scheduler else {})}
    by_stem = {s.stem: s for s in sources}
    deps = dependencies(list(by_stem))
    jobs = min(jobs or default_jobs(), max(1, len(sources)))
    finished: queue.Queue = queue.Queue()
    results: dict[str, RunResult] = {}
    running: set[str] = set()

    def start(stem: str) -> None:
        def target():
            try:
                res = execute_notebook(by_stem[stem], params_by_nb[stem], build,
                                       stage=work / stem / "figures", work=work,
                                       extra_env=kernel_env)
            except BaseException as exc:  # noqa: BLE001 - reported as this notebook's failure
                res = RunResult(stem, False, 0.0, build / f"{stem}.ipynb",
                                f"{type(exc).__name__}: {exc}")
            finished.put(res)

        running.add(stem)
        threading.Thread(target=target, name=f"notebook-{stem}", daemon=True).start()

    bar = tqdm(total=len(sources), desc=f"reproduce[{profile}]", unit="nb", disable=not progress)
    try:
        with Interrupts() as interrupts:
            while len(results) < len(sources):
                for stem in ready_order(deps, set(results), running | set(results),
                                        longest_first=jobs > 1):
                    if len(running) >= jobs:
                        break
                    start(stem)
                bar.set_postfix_str("running " + ", ".join(sorted(s[:2] for s in running)))
                res = _next(finished)
                running.discard(res.notebook)
                if res.ok:
                    with interrupts.deferred():  # an interrupt waits until files and manifest agree
                        _publish(res, work / res.notebook / "figures", dest, fresh, profile,
                                 params_by_nb[res.notebook], changed_by_nb[res.notebook],
                                 by_stem[res.notebook], tqdm.write)
                else:
                    res.discarded, res.files = res.files, []
                shutil.rmtree(work / res.notebook, ignore_errors=True)
                results[res.notebook] = res
                _report(res, tqdm.write)
                bar.update()
    except KeyboardInterrupt:
        kill_kernels()
        raise
    finally:
        bar.close()
        shutil.rmtree(work, ignore_errors=True)
        try:
            work.parent.rmdir()  # .runs/, when no other run is using it
        except OSError:
            pass
    return [results[s.stem] for s in sources]


def _next(finished: queue.Queue) -> RunResult:
    """The next finished notebook; waits in short steps, so that Ctrl-C is seen at once."""
    while True:
        try:
            return finished.get(timeout=0.2)
        except queue.Empty:
            continue


def _publish(res: RunResult, stage: Path, dest: Path, fresh: Path, profile: str, params: dict,
             changed: dict, source: Path, write) -> None:
    """Publish one successful notebook (all or nothing), then refresh the README if it owns it;
    a notebook that cannot publish becomes a failure with a one-line reason."""
    res.staged, res.files = res.files, []
    info = {"profile": profile, "parameters": params, "profile_run": not changed,
            "overrides": changed}
    try:
        publish_notebook(res, stage, dest, info, fresh=fresh, source=source)
    except PublishError as exc:
        res.ok, res.publish_error, res.discarded = False, str(exc), res.staged
        return
    refresh_readme(dest, {**notebook_defaults(source), **params}, write,
                   profile_run=not changed)


def _report(res: RunResult, write) -> None:
    for i, why in enumerate(res.kernel_restarts, start=2):
        write(f"{res.notebook}: its kernel failed to start ({why}); started again "
              f"(attempt {i} of {KERNEL_START_ATTEMPTS})")
    if res.ok:
        write(f"{res.notebook}: ok in {res.seconds:.1f} s, {len(res.files)} file(s) published"
              + describe_kept(res))
    elif res.publish_error:
        write(f"{res.notebook}: ran in {res.seconds:.1f} s but was NOT published: "
              f"{res.publish_error}")
    else:
        where = f" at cell In [{res.cell}]" if res.cell is not None else ""
        write(f"{res.notebook}: FAILED in {res.seconds:.1f} s{where}; nothing published "
              f"({len(res.discarded)} staged file(s) discarded, earlier files kept)")
        for line in (res.error or "").splitlines()[:6]:
            write(f"  {line}")
        write(f"  executed copy with the traceback: {res.output}")
    for message in res.warnings:
        write(f"  warning: {message}")


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------
def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", choices=PROFILES, default="full",
                        help="parameter profile (default: full, the paper-scale settings); only "
                             "quick publishes into figures/ and the README")
    parser.add_argument("--only", nargs="+", metavar="NN",
                        help="notebook numbers or stems to run, e.g. --only 03 06")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                        metavar=("NAME", "VALUE"),
                        help="override one notebook parameter (lists and dicts as JSON, e.g. "
                             "-p classes '[\"brick\"]'); a run with overrides writes to "
                             "build/scratch/ unless --figures-dir is given")
    parser.add_argument("--jobs", "-j", type=_jobs, default=None, metavar="N",
                        help="notebooks run at once, each in its own process with one thread "
                             f"(default: the number of cores, at most 4; here {default_jobs()})")
    parser.add_argument("--build-dir", type=Path, default=None,
                        help="where executed notebooks are kept (default: build/)")
    parser.add_argument("--figures-dir", type=str, default=None,
                        help="where figures and tables are published (default: figures/ for a "
                             "quick run with its own parameters, or $TOPOTTA_FIGURES; "
                             "build/scratch/... otherwise)")
    parser.add_argument("--executor", choices=("local", "dask"), default="local",
                        help="where experiment grid cells run (default: the notebook's kernel)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="Dask scheduler address for --executor dask, e.g. tcp://host:8786")
    parser.add_argument("--notebooks-dir", type=Path, default=None,
                        help="folder of NN_name.py notebook sources and profiles.toml "
                             "(default: notebooks/)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    g = parser.add_argument_group(
        "real data", "run the experiment notebooks (06-14) on a benchmark on disk; the parameter "
        "names follow the dataset's modality (2D: dataset, data_root, maps_dir; MVTec 3D-AD: "
        "dataset_25d, ...; AnomalyShapeNet: dataset_3d, ...)")
    g.add_argument("--dataset", metavar="NAME",
                   help="a real dataset: " + ", ".join(_dataset_names()))
    g.add_argument("--data-root", type=str, metavar="DIR",
                   help="the folder holding the dataset's class folders")
    g.add_argument("--maps-dir", type=str, metavar="DIR",
                   help="your own score maps (.npy or float .tiff, one per test image) used "
                        "instead of our scorers")


def _folder(value: str | None, flag: str) -> Path | None:
    if value is None:
        return None
    if not str(value).strip():
        raise ValueError(f"{flag} is empty; name a folder (an empty path would mean the current "
                         "folder)")
    return Path(value).expanduser().absolute()


def run(args: argparse.Namespace) -> int:
    if args.executor == "dask" and not args.scheduler:
        print("topotta-lite reproduce: --executor dask needs --scheduler ADDRESS", file=sys.stderr)
        return 2
    build = Path(args.build_dir).absolute() if args.build_dir is not None else None
    notebooks = getattr(args, "notebooks_dir", None)
    notebooks = Path(notebooks).absolute() if notebooks is not None else None
    raw = {name: value for name, value in args.parameter}
    overrides = {name: parse_value(value) for name, value in args.parameter}
    started = time.perf_counter()
    try:
        figures = _folder(args.figures_dir, "--figures-dir")
        data = data_overrides(args.dataset, args.data_root, args.maps_dir)
        results = reproduce(args.profile, args.only, overrides, build,
                            progress=not args.no_progress, figures_dir=figures, raw=raw,
                            notebooks=notebooks, data=data, jobs=args.jobs,
                            executor=args.executor, scheduler=args.scheduler)
    except ValueError as exc:
        print(f"topotta-lite reproduce: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("topotta-lite reproduce: interrupted; the notebooks that were running published "
              "nothing, those finished before are published", file=sys.stderr)
        return 130
    failed = [r.notebook for r in results if not r.ok]
    print(f"{len(results) - len(failed)} notebook(s) ran and published, {len(failed)} failed"
          + (f": {', '.join(failed)}" if failed else "")
          + f" ({time.perf_counter() - started:.0f} s)")
    return 1 if failed else 0
